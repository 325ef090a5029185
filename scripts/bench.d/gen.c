/*
 * gen.c: deterministic capture generator for `scripts/bench` (workload "bulk").
 *
 * Writes a classic pcap (Ethernet, microsecond timestamps) that is mostly HTTP-like TCP downloads
 * (ports 80/8080: handshake, 1448-byte segments (1428 over IPv6), ACKs every two segments, FIN
 * close, a few out-of-order and retransmitted segments, ~10% of flows over IPv6, ~1% VLAN-tagged,
 * some of those 802.1ad double-tagged), with exactly N mail logins planted at evenly spaced points
 * of the file. Each planted login is a whole cleartext session (greeting, capabilities, login,
 * success reply, QUIT/LOGOUT, FIN close) rotating over six methods. Credentials are fake:
 * user `benchuserNNN`, password `bench-secret-NNN`.
 *
 * Everything derives from --seed through one splitmix64 stream: same arguments, same bytes.
 * TCP checksums are left 0 (plainsight does not validate them); IPv4 header checksums are real.
 *
 *   gen --out FILE.pcap --planted planted.json [--size-mb N] [--logins N] [--seed N]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>

/* ---------------------------------------------------------------------------------------------- */
/* deterministic randomness                                                                       */

static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd() % n); }

/* ---------------------------------------------------------------------------------------------- */
/* output: one big buffer, fwrite when full                                                       */

#define OUT_CAP (8u << 20)
static uint8_t *outbuf;
static size_t outlen;
static FILE *outf;
static uint64_t bytes_written;   /* whole file, including the global header */
static uint64_t packets_written;
static uint64_t vlan_frames;
static uint64_t clock_us;        /* capture time, microseconds since the epoch */

static void die(const char *msg) {
    fprintf(stderr, "gen: %s%s%s\n", msg, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

static void out_flush(void) {
    if (outlen && fwrite(outbuf, 1, outlen, outf) != outlen) die("write failed");
    outlen = 0;
}

static uint8_t *out_reserve(size_t n) {
    if (outlen + n > OUT_CAP) out_flush();
    return outbuf + outlen;
}

static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void putle32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* ---------------------------------------------------------------------------------------------- */
/* flows                                                                                           */

enum { K_HTTP, K_MAIL };
enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10 };

/* methods, in rotation order */
enum { M_POP3_USER, M_POP3_PLAIN, M_IMAP_LOGIN, M_IMAP_PLAIN, M_SMTP_PLAIN, M_SMTP_LOGIN, M_COUNT };
static const char *const method_proto[M_COUNT] = { "pop3", "pop3", "imap", "imap", "smtp", "smtp" };
static const char *const method_name[M_COUNT] = {
    "USER", "AUTH PLAIN", "LOGIN", "AUTHENTICATE PLAIN", "AUTH PLAIN", "AUTH LOGIN" };
static const uint16_t method_port[M_COUNT] = { 110, 110, 143, 143, 587, 25 };
static uint32_t method_count[M_COUNT];

#define MAX_MSGS 24
typedef struct { uint8_t from_server; uint16_t off, len; } msg_t;

typedef struct {
    int kind;
    int v6;
    int vlan;                 /* 0 none, 1 802.1Q, 2 802.1ad + 802.1Q */
    uint16_t vid_outer, vid_inner;
    uint8_t cip[16], sip[16];
    uint16_t cport, sport;
    uint16_t cipid, sipid;
    uint32_t cisn, sisn;      /* initial sequence numbers */
    uint32_t cnext, snext;    /* next sequence number each side sends */
    uint32_t cts, sts;        /* TCP timestamp offsets */
    uint32_t mss;
    int phase;
    /* HTTP */
    uint64_t total, sent;     /* response stream (headers + body) */
    uint32_t bodyoff;
    uint16_t hdrlen, reqlen;
    char hdr[384];
    char req[256];
    /* mail */
    int nmsgs, msg;
    msg_t msgs[MAX_MSGS];
    uint16_t textlen;
    char text[3072];
} flow_t;

static const uint8_t mac_client[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01 };
static const uint8_t mac_server[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x02 };

static uint32_t tsval(const flow_t *f, int from_server) {
    return (uint32_t)(clock_us / 1000) + (from_server ? f->sts : f->cts);
}

/* Writes one frame: Ethernet [VLAN] IPv4|IPv6 TCP (with options) payload (two pieces). */
static void emit(flow_t *f, int from_server, uint8_t flags, uint32_t seq, uint32_t ack,
                 const void *pl1, uint32_t n1, const void *pl2, uint32_t n2) {
    uint32_t plen = n1 + n2;
    int syn = (flags & TCP_SYN) != 0;
    uint32_t tcplen = syn ? 40 : 32;
    uint32_t iphl = f->v6 ? 40 : 20;
    uint32_t l2 = 14 + (uint32_t)f->vlan * 4;
    uint32_t frame = l2 + iphl + tcplen + plen;

    uint8_t *rec = out_reserve(16 + frame);
    uint8_t *p = rec + 16;

    /* clock: ~1 Gbit/s pacing plus jitter */
    clock_us += 1 + (frame >> 7) + (rnd() & 3);
    putle32(rec + 0, (uint32_t)(clock_us / 1000000));
    putle32(rec + 4, (uint32_t)(clock_us % 1000000));
    putle32(rec + 8, frame);
    putle32(rec + 12, frame);

    /* Ethernet */
    memcpy(p, from_server ? mac_client : mac_server, 6);
    memcpy(p + 6, from_server ? mac_server : mac_client, 6);
    p += 12;
    if (f->vlan == 2) { put16(p, 0x88a8); put16(p + 2, f->vid_outer); p += 4; }
    if (f->vlan >= 1) { put16(p, 0x8100); put16(p + 2, f->vid_inner); p += 4; vlan_frames++; }
    put16(p, f->v6 ? 0x86dd : 0x0800);
    p += 2;

    const uint8_t *src = from_server ? f->sip : f->cip;
    const uint8_t *dst = from_server ? f->cip : f->sip;
    if (f->v6) {
        put32(p, 0x60000000u);
        put16(p + 4, (uint16_t)(tcplen + plen));
        p[6] = 6; p[7] = 64;
        memcpy(p + 8, src, 16);
        memcpy(p + 24, dst, 16);
    } else {
        uint16_t id = from_server ? f->sipid++ : f->cipid++;
        p[0] = 0x45; p[1] = 0;
        put16(p + 2, (uint16_t)(20 + tcplen + plen));
        put16(p + 4, id);
        put16(p + 6, 0x4000);         /* DF */
        p[8] = 64; p[9] = 6;
        p[10] = 0; p[11] = 0;
        memcpy(p + 12, src, 4);
        memcpy(p + 16, dst, 4);
        uint32_t sum = 0;
        for (int i = 0; i < 20; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
        while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
        put16(p + 10, (uint16_t)~sum);
    }
    p += iphl;

    /* TCP */
    put16(p, from_server ? f->sport : f->cport);
    put16(p + 2, from_server ? f->cport : f->sport);
    put32(p + 4, seq);
    put32(p + 8, (flags & TCP_ACK) ? ack : 0);
    p[12] = (uint8_t)((tcplen / 4) << 4);
    p[13] = flags;
    put16(p + 14, syn ? 64240 : (from_server ? 509 : 2048));
    put16(p + 16, 0);                 /* checksum: not computed */
    put16(p + 18, 0);
    uint8_t *o = p + 20;
    if (syn) {
        o[0] = 2; o[1] = 4; put16(o + 2, (uint16_t)(f->mss + 12));    /* MSS */
        o[4] = 4; o[5] = 2;                                          /* SACK permitted */
        o[6] = 8; o[7] = 10; put32(o + 8, tsval(f, from_server));     /* timestamps */
        put32(o + 12, (flags & TCP_ACK) ? tsval(f, !from_server) - 1 : 0);
        o[16] = 1; o[17] = 3; o[18] = 3; o[19] = 7;                  /* NOP, window scale 7 */
    } else {
        o[0] = 1; o[1] = 1; o[2] = 8; o[3] = 10;
        put32(o + 4, tsval(f, from_server));
        put32(o + 8, tsval(f, !from_server) - 1);
    }
    p += tcplen;
    if (n1) memcpy(p, pl1, n1);
    if (n2) memcpy(p + n1, pl2, n2);

    outlen += 16 + frame;
    bytes_written += 16 + frame;
    packets_written++;
}

/* ---------------------------------------------------------------------------------------------- */
/* addresses                                                                                       */

static uint32_t next_port = 33000;
static uint32_t client_ctr;

static void set_endpoints(flow_t *f, int mail, uint32_t idx) {
    uint32_t c = client_ctr++;
    if (f->v6) {
        static const uint8_t cnet[8] = { 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10, 0x00, 0x00 };
        static const uint8_t snet[8] = { 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x20, 0x00, 0x00 };
        memcpy(f->cip, cnet, 8); memset(f->cip + 8, 0, 8);
        memcpy(f->sip, snet, 8); memset(f->sip + 8, 0, 8);
        f->cip[13] = (uint8_t)(c >> 16); f->cip[14] = (uint8_t)(c >> 8); f->cip[15] = (uint8_t)(1 + c % 250);
        if (mail) { f->sip[14] = 0x00; f->sip[15] = 0x25; }
        else { f->sip[14] = (uint8_t)(idx % 7); f->sip[15] = (uint8_t)(0x80 + idx % 61); }
    } else {
        if (mail) {
            f->cip[0] = 198; f->cip[1] = 51; f->cip[2] = 100; f->cip[3] = (uint8_t)(1 + c % 250);
            f->sip[0] = 192; f->sip[1] = 0; f->sip[2] = 2; f->sip[3] = 25;
        } else {
            f->cip[0] = 10; f->cip[1] = (uint8_t)(c >> 16); f->cip[2] = (uint8_t)(c >> 8);
            f->cip[3] = (uint8_t)(1 + c % 250);
            f->sip[0] = 203; f->sip[1] = 0; f->sip[2] = 113; f->sip[3] = (uint8_t)(10 + idx % 40);
        }
    }
    f->cport = (uint16_t)next_port;
    next_port = next_port >= 60999 ? 32768 : next_port + 1;
    f->cisn = (uint32_t)rnd(); f->sisn = (uint32_t)rnd();
    f->cnext = f->cisn + 1; f->snext = f->sisn + 1;
    f->cipid = (uint16_t)rnd(); f->sipid = (uint16_t)rnd();
    f->cts = (uint32_t)rnd(); f->sts = (uint32_t)rnd();
    f->mss = f->v6 ? 1428 : 1448;
    f->phase = 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* HTTP downloads                                                                                  */

#define BODY_SZ (1u << 20)
static uint8_t *body;   /* BODY_SZ + 4096 bytes, tail repeats the head */
static uint32_t http_flows, v6_flows, vlan_flows;

static void http_init(flow_t *f) {
    memset(f, 0, offsetof(flow_t, hdr));
    f->kind = K_HTTP;
    uint32_t idx = http_flows++;
    f->v6 = rnd_below(10) == 0;
    uint32_t v = rnd_below(100);
    f->vlan = v == 0 ? (rnd_below(4) == 0 ? 2 : 1) : 0;
    f->vid_outer = 10; f->vid_inner = (uint16_t)(100 + rnd_below(4) * 100);
    if (f->v6) v6_flows++;
    if (f->vlan) vlan_flows++;
    set_endpoints(f, 0, idx);
    f->sport = rnd_below(5) == 0 ? 8080 : 80;

    uint32_t r = rnd_below(100), len;
    if (r < 60) len = 2048 + rnd_below(30 * 1024);
    else if (r < 90) len = 32 * 1024 + rnd_below(480 * 1024);
    else len = 512 * 1024 + rnd_below(7680 * 1024);
    f->bodyoff = rnd_below(BODY_SZ);
    uint32_t name = (uint32_t)rnd();
    f->reqlen = (uint16_t)snprintf(f->req, sizeof f->req,
        "GET /dl/%08x.bin HTTP/1.1\r\nHost: cdn%u.example.com%s\r\nUser-Agent: Wget/1.21.3\r\n"
        "Accept: */*\r\nAccept-Encoding: identity\r\nConnection: Keep-Alive\r\n\r\n",
        name, idx % 16, f->sport == 8080 ? ":8080" : "");
    f->hdrlen = (uint16_t)snprintf(f->hdr, sizeof f->hdr,
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 04 Jan 2026 10:00:%02u GMT\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: %u\r\n"
        "Last-Modified: Fri, 02 Jan 2026 08:%02u:17 GMT\r\nConnection: close\r\n"
        "ETag: \"%08x-%x\"\r\nAccept-Ranges: bytes\r\n\r\n",
        (unsigned)((clock_us / 1000000) % 60), len, idx % 60, name, len);
    f->total = f->hdrlen + (uint64_t)len;
    f->sent = 0;
}

static void http_seg(flow_t *f, uint64_t off, uint32_t n, int psh) {
    uint8_t flags = TCP_ACK | (psh ? TCP_PSH : 0);
    uint32_t seq = f->sisn + 1 + (uint32_t)off;
    uint32_t ack = f->cnext;
    if (off < f->hdrlen) {
        uint32_t h = f->hdrlen - (uint32_t)off;
        if (h > n) h = n;
        emit(f, 1, flags, seq, ack, f->hdr + off, h, body + f->bodyoff, n - h);
    } else {
        uint32_t b = (uint32_t)((f->bodyoff + off - f->hdrlen) % BODY_SZ);
        emit(f, 1, flags, seq, ack, body + b, n, NULL, 0);
    }
}

static void http_ack(flow_t *f, uint64_t upto) {
    emit(f, 0, TCP_ACK, f->cnext, f->sisn + 1 + (uint32_t)upto, NULL, 0, NULL, 0);
}

/* One scheduling step; returns 1 when the flow is finished. */
static int http_step(flow_t *f, int closing) {
    switch (f->phase) {
    case 0:
        emit(f, 0, TCP_SYN, f->cisn, 0, NULL, 0, NULL, 0);
        f->phase = 1; return 0;
    case 1:
        emit(f, 1, TCP_SYN | TCP_ACK, f->sisn, f->cisn + 1, NULL, 0, NULL, 0);
        f->phase = 2; return 0;
    case 2:
        emit(f, 0, TCP_ACK, f->cnext, f->snext, NULL, 0, NULL, 0);
        emit(f, 0, TCP_ACK | TCP_PSH, f->cnext, f->snext, f->req, f->reqlen, NULL, 0);
        f->cnext += f->reqlen;
        f->phase = 3; return 0;
    case 3: {
        uint64_t o = f->sent;
        uint32_t n1 = (uint32_t)(f->total - o < f->mss ? f->total - o : f->mss);
        uint64_t o2 = o + n1;
        uint32_t n2 = (uint32_t)(f->total - o2 < f->mss ? f->total - o2 : f->mss);
        uint32_t r = rnd_below(1000);
        if (n2 && r < 4) {                     /* reordered: k+1 arrives first, dup ACK, then k */
            http_seg(f, o2, n2, 1);
            http_ack(f, o);
            http_seg(f, o, n1, 0);
            http_ack(f, o2 + n2);
        } else if (n2 && r < 7) {              /* fast retransmit of k after a dup ACK */
            http_seg(f, o, n1, 0);
            http_seg(f, o2, n2, 1);
            http_ack(f, o);
            http_seg(f, o, n1, 0);
            http_ack(f, o2 + n2);
        } else {
            http_seg(f, o, n1, n2 == 0);
            if (n2) http_seg(f, o2, n2, 1);
            http_ack(f, o2 + n2);
        }
        f->sent = o2 + n2;
        if (f->sent >= f->total || closing) f->phase = 4;
        return 0;
    }
    case 4:
        f->snext = f->sisn + 1 + (uint32_t)f->sent;
        emit(f, 1, TCP_FIN | TCP_ACK, f->snext, f->cnext, NULL, 0, NULL, 0);
        f->snext++;
        f->phase = 5; return 0;
    case 5:
        emit(f, 0, TCP_FIN | TCP_ACK, f->cnext, f->snext, NULL, 0, NULL, 0);
        f->cnext++;
        f->phase = 6; return 0;
    default:
        emit(f, 1, TCP_ACK, f->snext, f->cnext, NULL, 0, NULL, 0);
        return 1;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* planted mail sessions                                                                           */

static uint32_t mail_v6, mail_vlan, decoys;

static void b64(const uint8_t *in, size_t n, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63]; *out++ = t[(v >> 6) & 63]; *out++ = t[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63]; *out++ = '='; *out++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63]; *out++ = t[(v >> 6) & 63]; *out++ = '=';
    }
    *out = 0;
}

static void say(flow_t *f, int from_server, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(flow_t *f, int from_server, const char *fmt, ...) {
    if (f->nmsgs >= MAX_MSGS) { errno = 0; die("internal: too many messages"); }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(f->text + f->textlen, sizeof f->text - f->textlen, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof f->text - f->textlen) { errno = 0; die("internal: script too long"); }
    f->msgs[f->nmsgs++] = (msg_t){ (uint8_t)from_server, f->textlen, (uint16_t)n };
    f->textlen += (uint16_t)n;
}

static void mail_init(flow_t *f, uint32_t i) {
    memset(f, 0, sizeof *f);
    f->kind = K_MAIL;
    int m = (int)(i % M_COUNT);
    method_count[m]++;
    f->v6 = rnd_below(10) == 0;
    f->vlan = (i % 64 == 32) ? 1 : 0;
    f->vid_inner = 300;
    if (f->v6) mail_v6++;
    if (f->vlan) mail_vlan++;
    set_endpoints(f, 1, i);
    f->sport = method_port[m];
    int tls_advertised = (i / M_COUNT) % 2;  /* half the servers advertise STARTTLS (unused) */

    char user[32], pass[40], plain[96], b_plain[160], b_user[64], b_pass[80];
    int ul = snprintf(user, sizeof user, "benchuser%03u", i);
    int pl = snprintf(pass, sizeof pass, "bench-secret-%03u", i);
    int n = 0;
    plain[n++] = 0; memcpy(plain + n, user, (size_t)ul); n += ul;
    plain[n++] = 0; memcpy(plain + n, pass, (size_t)pl); n += pl;
    b64((const uint8_t *)plain, (size_t)n, b_plain);
    b64((const uint8_t *)user, (size_t)ul, b_user);
    b64((const uint8_t *)pass, (size_t)pl, b_pass);

    switch (m) {
    case M_POP3_USER:
    case M_POP3_PLAIN:
        say(f, 1, "+OK Dovecot (Debian) ready.\r\n");
        say(f, 0, "CAPA\r\n");
        say(f, 1, "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n%s"
                  "USER\r\nSASL PLAIN LOGIN\r\n.\r\n", tls_advertised ? "STLS\r\n" : "");
        if (m == M_POP3_USER) {
            say(f, 0, "USER %s\r\n", user);
            say(f, 1, "+OK\r\n");
            say(f, 0, "PASS %s\r\n", pass);
        } else {
            say(f, 0, "AUTH PLAIN\r\n");
            say(f, 1, "+ \r\n");
            say(f, 0, "%s\r\n", b_plain);
        }
        say(f, 1, "+OK Logged in.\r\n");
        say(f, 0, "STAT\r\n");
        say(f, 1, "+OK %u %u\r\n", i % 5, (i % 5) * 2311);
        say(f, 0, "QUIT\r\n");
        say(f, 1, "+OK Logging out.\r\n");
        break;
    case M_IMAP_LOGIN:
    case M_IMAP_PLAIN: {
        const char *caps = tls_advertised
            ? "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN"
            : "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN";
        say(f, 1, "* OK [CAPABILITY %s] Dovecot (Debian) ready.\r\n", caps);
        say(f, 0, "a0 CAPABILITY\r\n");
        say(f, 1, "* CAPABILITY %s\r\na0 OK Pre-login capabilities listed, post-login capabilities have more.\r\n", caps);
        if (m == M_IMAP_LOGIN) say(f, 0, "a1 LOGIN %s %s\r\n", user, pass);
        else say(f, 0, "a1 AUTHENTICATE PLAIN %s\r\n", b_plain);
        say(f, 1, "a1 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY "
                  "THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE "
                  "UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH "
                  "ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY "
                  "PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE] Logged in\r\n");
        say(f, 0, "a2 SELECT INBOX\r\n");
        say(f, 1, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                  "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n"
                  "* %u EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1767520800] UIDs valid\r\n"
                  "* OK [UIDNEXT %u] Predicted next UID\r\na2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n",
                  i % 7, i % 7 + 1);
        say(f, 0, "a3 LOGOUT\r\n");
        say(f, 1, "* BYE Logging out\r\na3 OK Logout completed (0.001 + 0.000 secs).\r\n");
        break;
    }
    default: { /* SMTP */
        int sub = m == M_SMTP_PLAIN;
        say(f, 1, "220 mail.example.net ESMTP %s\r\n", sub ? "Dovecot (Debian) ready" : "Exim 4.96 Sun, 04 Jan 2026 10:00:00 +0000");
        say(f, 0, "EHLO client%u.example.org\r\n", i);
        say(f, 1, "250-mail.example.net Hello client%u.example.org\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
                  "250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n%s250-CHUNKING\r\n250 HELP\r\n",
                  i, tls_advertised ? "250-STARTTLS\r\n" : "");
        if (sub) {
            say(f, 0, "AUTH PLAIN %s\r\n", b_plain);
        } else {
            say(f, 0, "AUTH LOGIN\r\n");
            say(f, 1, "334 VXNlcm5hbWU6\r\n");
            say(f, 0, "%s\r\n", b_user);
            say(f, 1, "334 UGFzc3dvcmQ6\r\n");
            say(f, 0, "%s\r\n", b_pass);
        }
        say(f, 1, "235 2.7.0 Authentication successful\r\n");
        say(f, 0, "MAIL FROM:<%s@example.org>\r\n", user);
        say(f, 1, "250 2.1.0 OK\r\n");
        say(f, 0, "RCPT TO:<report@example.net>\r\n");
        say(f, 1, "250 2.1.5 OK\r\n");
        say(f, 0, "DATA\r\n");
        say(f, 1, "354 OK\r\n");
        say(f, 0, "From: <%s@example.org>\r\nTo: <report@example.net>\r\nSubject: bench %u\r\n"
                  "Message-ID: <bench.%u@example.org>\r\n\r\nBenchmark message %u.\r\n"
                  "AUTH PLAIN this-line-is-body-text-not-a-command\r\n.\r\n", user, i, i, i);
        decoys++;   /* a command-looking line inside DATA: must not be reported */
        say(f, 1, "250 2.0.0 OK id=bench%u\r\n", i);
        say(f, 0, "QUIT\r\n");
        say(f, 1, "221 2.0.0 Bye\r\n");
        break;
    }
    }
}

static int mail_step(flow_t *f) {
    switch (f->phase) {
    case 0:
        emit(f, 0, TCP_SYN, f->cisn, 0, NULL, 0, NULL, 0);
        f->phase = 1; return 0;
    case 1:
        emit(f, 1, TCP_SYN | TCP_ACK, f->sisn, f->cisn + 1, NULL, 0, NULL, 0);
        f->phase = 2; return 0;
    case 2:
        emit(f, 0, TCP_ACK, f->cnext, f->snext, NULL, 0, NULL, 0);
        f->phase = 3; return 0;
    case 3: {
        const msg_t *m = &f->msgs[f->msg++];
        if (m->from_server) {
            emit(f, 1, TCP_ACK | TCP_PSH, f->snext, f->cnext, f->text + m->off, m->len, NULL, 0);
            f->snext += m->len;
        } else {
            emit(f, 0, TCP_ACK | TCP_PSH, f->cnext, f->snext, f->text + m->off, m->len, NULL, 0);
            f->cnext += m->len;
        }
        if (f->msg == f->nmsgs) f->phase = 4;
        return 0;
    }
    case 4:   /* server closes after the goodbye */
        emit(f, 1, TCP_FIN | TCP_ACK, f->snext, f->cnext, NULL, 0, NULL, 0);
        f->snext++;
        f->phase = 5; return 0;
    case 5:
        emit(f, 0, TCP_FIN | TCP_ACK, f->cnext, f->snext, NULL, 0, NULL, 0);
        f->cnext++;
        f->phase = 6; return 0;
    default:
        emit(f, 1, TCP_ACK, f->snext, f->cnext, NULL, 0, NULL, 0);
        return 1;
    }
}

/* ---------------------------------------------------------------------------------------------- */

#define CONCURRENT 128

static void usage(void) {
    fprintf(stderr, "usage: gen --out FILE.pcap --planted FILE.json [--size-mb N] [--logins N] [--seed N]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *out = NULL, *planted = NULL;
    unsigned long long size_mb = 1024, logins = 300, seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        char *end;
        if (!strcmp(a, "--out")) out = argv[++i];
        else if (!strcmp(a, "--planted")) planted = argv[++i];
        else if (!strcmp(a, "--size-mb")) { size_mb = strtoull(argv[++i], &end, 10); if (*end) usage(); }
        else if (!strcmp(a, "--logins")) { logins = strtoull(argv[++i], &end, 10); if (*end) usage(); }
        else if (!strcmp(a, "--seed")) { seed = strtoull(argv[++i], &end, 10); if (*end) usage(); }
        else usage();
    }
    if (!out || !planted || size_mb == 0 || logins > 1000000) usage();
    rng_state = seed;

    outbuf = malloc(OUT_CAP);
    body = malloc(BODY_SZ + 4096);
    flow_t *flows = malloc(sizeof(flow_t) * (CONCURRENT + 4096));
    flow_t **active = malloc(sizeof(flow_t *) * (CONCURRENT + 4096));
    flow_t **freel = malloc(sizeof(flow_t *) * (CONCURRENT + 4096));
    if (!outbuf || !body || !flows || !active || !freel) die("out of memory");
    int nfree = 0;
    for (int i = CONCURRENT + 4096 - 1; i >= 0; i--) freel[nfree++] = &flows[i];

    /* body: compressible-ish binary, 1 MiB, tail mirrors head so reads never wrap */
    for (uint32_t i = 0; i < BODY_SZ; i += 8) {
        uint64_t v = rnd();
        if ((i >> 12) & 1) v &= 0x7f7f7f7f7f7f7f7fULL;   /* alternate 4 KiB of 7-bit data */
        memcpy(body + i, &v, 8);
    }
    memcpy(body + BODY_SZ, body, 4096);

    outf = fopen(out, "wb");
    if (!outf) die("cannot open output");
    uint8_t gh[24];
    putle32(gh, 0xa1b2c3d4);
    gh[4] = 2; gh[5] = 0; gh[6] = 4; gh[7] = 0;      /* version 2.4 (little-endian u16s) */
    memset(gh + 8, 0, 8);                            /* thiszone, sigfigs */
    putle32(gh + 16, 262144);                        /* snaplen */
    putle32(gh + 20, 1);                             /* LINKTYPE_ETHERNET */
    memcpy(out_reserve(24), gh, 24);
    outlen += 24; bytes_written += 24;

    clock_us = 1767520800ULL * 1000000ULL;           /* 2026-01-04T10:00:00Z */
    uint64_t target = size_mb << 20;
    uint32_t mail_started = 0;
    int nactive = 0, nhttp = 0;

    for (;;) {
        int closing = bytes_written >= target;
        /* plant the i-th login at (i + 1/2) / N of the target size */
        while (mail_started < logins &&
               bytes_written >= (target * (2 * (uint64_t)mail_started + 1)) / (2 * logins)) {
            if (nfree == 0) { errno = 0; die("internal: flow pool exhausted"); }
            flow_t *f = freel[--nfree];
            mail_init(f, mail_started++);
            active[nactive++] = f;
        }
        while (!closing && nhttp < CONCURRENT) {
            flow_t *f = freel[--nfree];
            http_init(f);
            active[nactive++] = f;
            nhttp++;
        }
        if (nactive == 0) {
            if (mail_started < logins) { errno = 0; die("internal: logins not planted"); }
            break;
        }
        int k = (int)rnd_below((uint32_t)nactive);
        flow_t *f = active[k];
        int done = f->kind == K_HTTP ? http_step(f, closing) : mail_step(f);
        if (done) {
            if (f->kind == K_HTTP) nhttp--;
            active[k] = active[--nactive];
            freel[nfree++] = f;
        }
    }
    out_flush();
    if (fclose(outf) != 0) die("close failed");

    FILE *pj = fopen(planted, "w");
    if (!pj) die("cannot open planted file");
    fprintf(pj, "{\n  \"generator\": \"plainsight-bench-gen 1\",\n  \"seed\": %llu,\n  \"size_mb\": %llu,\n"
                "  \"file_bytes\": %llu,\n  \"packets\": %llu,\n  \"http_flows\": %u,\n"
                "  \"http_flows_ipv6\": %u,\n  \"http_flows_vlan\": %u,\n  \"vlan_frames\": %llu,\n"
                "  \"logins\": %llu,\n  \"logins_ipv6\": %u,\n  \"logins_vlan\": %u,\n"
                "  \"decoy_auth_lines_in_smtp_data\": %u,\n  \"planted\": [\n",
            seed, size_mb, (unsigned long long)bytes_written, (unsigned long long)packets_written,
            http_flows, v6_flows, vlan_flows, (unsigned long long)vlan_frames, logins, mail_v6, mail_vlan, decoys);
    for (int m = 0; m < M_COUNT; m++)
        fprintf(pj, "    {\"app_proto\": \"%s\", \"method\": \"%s\", \"dest_port\": %u, \"count\": %u}%s\n",
                method_proto[m], method_name[m], method_port[m], method_count[m], m + 1 < M_COUNT ? "," : "");
    fprintf(pj, "  ]\n}\n");
    if (fclose(pj) != 0) die("close failed");
    return 0;
}
