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
 * TCP and IPv4 header checksums are real (the peer tools drop bad TCP checksums).
 *
 * Two output filters rewrite the bulk workload's frames as they are written, without touching the
 * random stream or the planting schedule (which follows the unwrapped size), so the same seed gives
 * the same sessions and the same planted logins:
 *   bulk-vxlan  every frame wrapped: outer Ethernet / IPv4 203.0.113.1 -> 203.0.113.2 (real header
 *               checksum) / UDP to 4789 (source port from a hash of the inner flow, checksum 0) /
 *               VXLAN VNI 4242 / the original frame.
 *   bulk-frag   about 10% of the IPv4 segments that carry a planted login's client command (the
 *               command lines from the login itself to the server's verdict) go out as two or three
 *               IPv4 fragments whose boundaries fall inside the command line; every other such
 *               segment sends its last fragment first. Fragments clear DF, carry the segment's IP
 *               id, real offsets, MF bits, lengths and header checksums, and the segment's pcap
 *               timestamp. Segments chosen without regard to the random stream (a running count).
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
static uint64_t plain_bytes;     /* what the file would hold unwrapped: drives size and planting */
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

/* Login variants, in rotation order (the first six are the original bulk rotation). Several
 * variants share a reported (protocol, method), e.g. IMAP LOGIN with atoms, quoted strings and
 * literals; planted.json counts per reported pair. `hashed`: challenge-response (APOP, CRAM-MD5). */
enum {
    V_POP3_USER, V_POP3_PLAIN, V_IMAP_LOGIN, V_IMAP_PLAIN, V_SMTP_PLAIN, V_SMTP_LOGIN,
    V_POP3_APOP, V_POP3_LOGIN, V_POP3_CRAM, V_IMAP_QUOTED, V_IMAP_LITERAL, V_IMAP_AUTH_LOGIN,
    V_IMAP_CRAM, V_SMTP_CRAM, V_COUNT
};
static const char *const variant_proto[V_COUNT] = {
    "pop3", "pop3", "imap", "imap", "smtp", "smtp",
    "pop3", "pop3", "pop3", "imap", "imap", "imap", "imap", "smtp" };
static const char *const variant_method[V_COUNT] = {
    "USER", "AUTH PLAIN", "LOGIN", "AUTHENTICATE PLAIN", "AUTH PLAIN", "AUTH LOGIN",
    "APOP", "AUTH LOGIN", "AUTH CRAM-MD5", "LOGIN", "LOGIN", "AUTHENTICATE LOGIN",
    "AUTHENTICATE CRAM-MD5", "AUTH CRAM-MD5" };
static const uint16_t variant_port[V_COUNT] = {
    110, 110, 143, 143, 587, 25, 110, 110, 110, 143, 143, 143, 143, 587 };
static uint32_t variant_count[V_COUNT];

/* a scripted message: text from flow_t.text, or `blob` bytes of mail body text, or (MK_NOOPS)
 * `blob` IMAP NOOP rounds generated on the fly (the allocation benchmark's steady state) */
enum { MK_TEXT, MK_BODY, MK_NOOPS };
#define MAX_MSGS 32
typedef struct { uint8_t from_server, kind, login; uint16_t off, len; uint32_t blob; } msg_t;

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
    /* mail and short connections */
    int shape;                /* SH_FULL, SH_SYN_RST, SH_SYN_ONLY */
    int nmsgs, msg;
    uint32_t msg_sent;        /* bytes of the current message already sent */
    uint32_t round, round_side, round_len;   /* MK_NOOPS progress */
    char round_text[160];
    msg_t msgs[MAX_MSGS];
    uint16_t textlen;
    char text[3072];
} flow_t;

static const uint8_t mac_client[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01 };
static const uint8_t mac_server[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x02 };

static uint32_t tsval(const flow_t *f, int from_server) {
    return (uint32_t)(clock_us / 1000) + (from_server ? f->sts : f->cts);
}

/* Real TCP checksums: the peers (libnids in dsniff, ettercap) drop segments whose checksum is wrong. */
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum) {
    for (; n >= 2; p += 2, n -= 2) sum += (uint32_t)(p[0] << 8 | p[1]);
    if (n) sum += (uint32_t)p[0] << 8;
    return sum;
}
static void tcp_checksum(uint8_t *tcp, uint32_t len, const uint8_t *src, const uint8_t *dst, int v6) {
    uint8_t ph[8] = { 0, 0, 0, 6 };
    uint32_t sum = sum16(src, v6 ? 16 : 4, 0);
    sum = sum16(dst, v6 ? 16 : 4, sum);
    put32(ph + 4, len);
    sum = sum16(ph + 4, 4, sum);
    sum += 6;
    sum = sum16(tcp, len, sum);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    put16(tcp + 16, (uint16_t)~sum);
}

/* ---------------------------------------------------------------------------------------------- */
/* output filters (bulk-vxlan, bulk-frag)                                                          */

enum { WRAP_NONE, WRAP_VXLAN, WRAP_FRAG };
static int wrap_mode = WRAP_NONE;
#define VXLAN_OVERHEAD 50u            /* outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 */
#define VXLAN_VNI 4242u
static const uint8_t mac_vtep[6] = { 0x02, 0x00, 0x5e, 0x20, 0x00, 0x01 };
static const uint8_t mac_collector[6] = { 0x02, 0x00, 0x5e, 0x20, 0x00, 0x02 };
static const uint8_t ip_vtep[4] = { 203, 0, 113, 1 }, ip_collector[4] = { 203, 0, 113, 2 };
static uint16_t outer_ipid;
static uint64_t vxlan_frames;
static int emit_login;               /* the segment being emitted carries a login command line */
static uint64_t login_segments, login_segments_v4, frag_segments, frag_three, frag_last_first, frag_packets;

static uint16_t ipv4_checksum(const uint8_t *ip) {
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) if (i != 10) sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* VTEPs pick the UDP source port from a hash of the inner headers: the same for both directions
 * of an inner flow here, since the flow's fields are read the same way whichever side sends. */
static uint16_t vxlan_source_port(const uint8_t *cip, const uint8_t *sip, uint16_t cport, uint16_t sport, int v6) {
    uint32_t h = 2166136261u;
    int n = v6 ? 16 : 4;
    for (int i = 0; i < n; i++) { h = (h ^ cip[i]) * 16777619u; h = (h ^ sip[i]) * 16777619u; }
    h = (h ^ cport) * 16777619u; h = (h ^ sport) * 16777619u;
    h ^= h >> 16;
    return (uint16_t)(49152u + (h & 0x3fff));
}

/* Outer headers in front of an inner frame of `inner` bytes (at p + VXLAN_OVERHEAD). */
static void vxlan_wrap(uint8_t *p, uint32_t inner, uint16_t udp_sport) {
    memcpy(p, mac_collector, 6);
    memcpy(p + 6, mac_vtep, 6);
    put16(p + 12, 0x0800);
    uint8_t *ip = p + 14;
    ip[0] = 0x45; ip[1] = 0;
    put16(ip + 2, (uint16_t)(20 + 8 + 8 + inner));
    put16(ip + 4, outer_ipid++);
    put16(ip + 6, 0x4000);            /* DF, as VTEPs send */
    ip[8] = 64; ip[9] = 17;
    memcpy(ip + 12, ip_vtep, 4);
    memcpy(ip + 16, ip_collector, 4);
    put16(ip + 10, ipv4_checksum(ip));
    uint8_t *udp = ip + 20;
    put16(udp, udp_sport);
    put16(udp + 2, 4789);
    put16(udp + 4, (uint16_t)(8 + 8 + inner));
    put16(udp + 6, 0);                /* no UDP checksum (RFC 7348 allows it over IPv4) */
    uint8_t *vx = udp + 8;
    vx[0] = 0x08; vx[1] = vx[2] = vx[3] = 0;   /* I flag: the VNI is valid */
    vx[4] = (uint8_t)(VXLAN_VNI >> 16); vx[5] = (uint8_t)(VXLAN_VNI >> 8); vx[6] = (uint8_t)VXLAN_VNI;
    vx[7] = 0;
    vxlan_frames++;
}

/* Should this IPv4 login segment go out fragmented? About one in ten of all login segments (IPv6
 * ones cannot be: the next IPv4 one takes their turn). */
static int frag_choose(void) { return (frag_segments + 1) * 10 <= login_segments; }

/* Writes the record `rec` (16-byte pcap header + frame; Ethernet [VLAN] IPv4 with a 20-byte header)
 * as fragments cut inside the TCP payload, which starts `tcplen` bytes into the IP payload and is
 * `plen` bytes long. Returns 0 (nothing written) if the payload is too short to cut. */
static int write_fragments(const uint8_t *rec, uint32_t l2, uint32_t tcplen, uint32_t plen) {
    static uint8_t scratch[16 + 65536];
    uint32_t frame = l2 + 20 + tcplen + plen;
    /* cut points are multiples of 8 strictly inside the payload: (tcplen, tcplen + plen) */
    uint32_t first = tcplen / 8 + 1, last = (tcplen + plen - 1) / 8;
    if (plen < 2 || last < first) return 0;
    uint32_t ncuts = last - first + 1;
    uint32_t j = (uint32_t)frag_segments;
    uint32_t cuts[2], nc;
    if (j % 2 == 1 && ncuts >= 2) {
        cuts[0] = 8 * (first + (ncuts - 1) / 3);
        cuts[1] = 8 * (first + (2 * ncuts) / 3);
        nc = 2;
    } else {
        cuts[0] = 8 * (first + (ncuts - 1) / 2);
        nc = 1;
    }
    int last_first = (j / 2) % 2 == 1;
    memcpy(scratch, rec, 16 + frame);
    const uint8_t *ip = scratch + 16 + l2;
    uint32_t bounds[4] = { 0, cuts[0], nc == 2 ? cuts[1] : tcplen + plen, tcplen + plen };
    uint32_t nfrag = nc + 1;
    for (uint32_t k = 0; k < nfrag; k++) {
        uint32_t idx = last_first ? (k == 0 ? nfrag - 1 : k - 1) : k;
        uint32_t a = bounds[idx], b = bounds[idx + 1];
        uint32_t flen = l2 + 20 + (b - a);
        uint8_t *r = out_reserve(16 + flen);
        memcpy(r, scratch, 8);                     /* the segment's timestamp */
        putle32(r + 8, flen);
        putle32(r + 12, flen);
        memcpy(r + 16, scratch + 16, l2 + 20);
        uint8_t *fip = r + 16 + l2;
        put16(fip + 2, (uint16_t)(20 + (b - a)));
        put16(fip + 6, (uint16_t)((idx + 1 < nfrag ? 0x2000 : 0) | (a / 8)));   /* MF, offset; no DF */
        put16(fip + 10, ipv4_checksum(fip));
        memcpy(fip + 20, ip + 20 + a, b - a);
        outlen += 16 + flen;
        bytes_written += 16 + flen;
        packets_written++;
        frag_packets++;
    }
    frag_segments++;
    if (nfrag == 3) frag_three++;
    if (last_first) frag_last_first++;
    return 1;
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
    uint32_t wrap = wrap_mode == WRAP_VXLAN ? VXLAN_OVERHEAD : 0;

    uint8_t *rec = out_reserve(16 + wrap + frame);
    uint8_t *p = rec + 16 + wrap;

    /* clock: ~1 Gbit/s pacing plus jitter */
    clock_us += 1 + (frame >> 7) + (rnd() & 3);
    putle32(rec + 0, (uint32_t)(clock_us / 1000000));
    putle32(rec + 4, (uint32_t)(clock_us % 1000000));
    putle32(rec + 8, wrap + frame);
    putle32(rec + 12, wrap + frame);

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
    uint8_t *ipstart = p - iphl;

    /* TCP */
    put16(p, from_server ? f->sport : f->cport);
    put16(p + 2, from_server ? f->cport : f->sport);
    put32(p + 4, seq);
    put32(p + 8, (flags & TCP_ACK) ? ack : 0);
    p[12] = (uint8_t)((tcplen / 4) << 4);
    p[13] = flags;
    put16(p + 14, syn ? 64240 : (from_server ? 509 : 2048));
    put16(p + 16, 0);                 /* checksum: filled in below */
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
    tcp_checksum(p - tcplen, tcplen + plen, src, dst, f->v6);
    plain_bytes += 16 + frame;

    if (emit_login && !from_server && plen) {
        login_segments++;
        if (!f->v6) login_segments_v4++;
        if (wrap_mode == WRAP_FRAG && !f->v6 && frag_choose()) {
            put16(ipstart + 6, 0);         /* a fragmented datagram cannot say DF */
            put16(ipstart + 10, ipv4_checksum(ipstart));
            if (write_fragments(rec, l2, tcplen, plen)) return;
            put16(ipstart + 6, 0x4000);
            put16(ipstart + 10, ipv4_checksum(ipstart));
        }
    }
    if (wrap) vxlan_wrap(rec + 16, frame, vxlan_source_port(f->cip, f->sip, f->cport, f->sport, f->v6));
    outlen += 16 + wrap + frame;
    bytes_written += 16 + wrap + frame;
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
/* mail sessions and short connections                                                            */

enum { SH_FULL, SH_SYN_RST, SH_SYN_ONLY };
enum { W_BULK, W_MAIL_HEAVY, W_MANY_FLOWS, W_STEADY };
static int workload = W_BULK;
static uint32_t mail_v6, mail_vlan, decoys, logins_planted;
static uint32_t short_flows[4];   /* many-flows: syn-rst, syn-only, banner grabs, short http */
static uint64_t mail_body_bytes;

#define TEXT_SZ (1u << 20)
static char *mailtext;    /* TEXT_SZ + 70000 bytes of CRLF lines, none starting with '.' */

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

static int saying_login;   /* mail_init: the messages being added are the login exchange */
static void add_msg(flow_t *f, int from_server, int kind, uint16_t off, uint16_t len, uint32_t blob) {
    if (f->nmsgs >= MAX_MSGS) { errno = 0; die("internal: too many messages"); }
    f->msgs[f->nmsgs++] = (msg_t){ (uint8_t)from_server, (uint8_t)kind, (uint8_t)saying_login, off, len, blob };
}

static void say(flow_t *f, int from_server, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(flow_t *f, int from_server, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(f->text + f->textlen, sizeof f->text - f->textlen, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof f->text - f->textlen) { errno = 0; die("internal: script too long"); }
    add_msg(f, from_server, MK_TEXT, f->textlen, (uint16_t)n, 0);
    f->textlen += (uint16_t)n;
}

/* mail-heavy: the mailbox traffic after the login (POP3 RETR, IMAP FETCH literal, SMTP DATA) */
static uint32_t body_size(void) {
    if (workload != W_MAIL_HEAVY) return 0;
    uint32_t r = rnd_below(100);
    uint32_t n = r < 70 ? 1024 + rnd_below(15 * 1024) : 16 * 1024 + rnd_below(48 * 1024);
    mail_body_bytes += n;
    return n;
}
static void body_msg(flow_t *f, int from_server, uint32_t n) { add_msg(f, from_server, MK_BODY, 0, 0, n); }

static const char hex32[] = "3f2a9c1b7d5e4f60a8b9c0d1e2f30415";

/* A whole cleartext session with login `i` of variant `m`. */
static void mail_init(flow_t *f, uint32_t i, int m) {
    memset(f, 0, sizeof *f);
    f->kind = K_MAIL;
    f->shape = SH_FULL;
    variant_count[m]++;
    logins_planted++;
    f->v6 = rnd_below(10) == 0;
    f->vlan = (i % 64 == 32) ? 1 : 0;
    f->vid_inner = 300;
    if (f->v6) mail_v6++;
    if (f->vlan) mail_vlan++;
    set_endpoints(f, 1, i);
    if (workload == W_STEADY) f->mss = 61;     /* lines straddle segments: the framer's copy path */
    f->sport = variant_port[m];
    int tls_advertised = (i / V_COUNT) % 2;  /* half the servers advertise STARTTLS (unused) */

    char user[32], pass[40], plain[96], b_plain[160], b_user[64], b_pass[80], cram[96], b_cram[140];
    int ul = snprintf(user, sizeof user, "benchuser%03u", i);
    int pl = snprintf(pass, sizeof pass, "bench-secret-%03u", i);
    int n = 0;
    plain[n++] = 0; memcpy(plain + n, user, (size_t)ul); n += ul;
    plain[n++] = 0; memcpy(plain + n, pass, (size_t)pl); n += pl;
    b64((const uint8_t *)plain, (size_t)n, b_plain);
    b64((const uint8_t *)user, (size_t)ul, b_user);
    b64((const uint8_t *)pass, (size_t)pl, b_pass);
    int cl = snprintf(cram, sizeof cram, "%s %s", user, hex32);
    b64((const uint8_t *)cram, (size_t)cl, b_cram);
    const char *challenge = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+";
    uint32_t body = body_size();

    switch (m) {
    case V_POP3_USER: case V_POP3_PLAIN: case V_POP3_APOP: case V_POP3_LOGIN: case V_POP3_CRAM:
        say(f, 1, "+OK Dovecot (Debian) ready. <%u.1767520800@mail.example.net>\r\n", i);
        say(f, 0, "CAPA\r\n");
        say(f, 1, "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n%s"
                  "USER\r\nSASL PLAIN LOGIN CRAM-MD5\r\n.\r\n", tls_advertised ? "STLS\r\n" : "");
        saying_login = 1;
        if (m == V_POP3_USER) {
            say(f, 0, "USER %s\r\n", user);
            say(f, 1, "+OK\r\n");
            say(f, 0, "PASS %s\r\n", pass);
        } else if (m == V_POP3_PLAIN) {
            say(f, 0, "AUTH PLAIN\r\n");
            say(f, 1, "+ \r\n");
            say(f, 0, "%s\r\n", b_plain);
        } else if (m == V_POP3_APOP) {
            say(f, 0, "APOP %s %s\r\n", user, hex32);
        } else if (m == V_POP3_LOGIN) {
            say(f, 0, "AUTH LOGIN\r\n");
            say(f, 1, "+ VXNlcm5hbWU6\r\n");
            say(f, 0, "%s\r\n", b_user);
            say(f, 1, "+ UGFzc3dvcmQ6\r\n");
            say(f, 0, "%s\r\n", b_pass);
        } else {
            say(f, 0, "AUTH CRAM-MD5\r\n");
            say(f, 1, "+ %s\r\n", challenge);
            say(f, 0, "%s\r\n", b_cram);
        }
        saying_login = 0;
        say(f, 1, "+OK Logged in.\r\n");
        say(f, 0, "STAT\r\n");
        say(f, 1, "+OK %u %u\r\n", body ? 1 : i % 5, body ? body : (i % 5) * 2311);
        if (body) {
            say(f, 0, "RETR 1\r\n");
            say(f, 1, "+OK %u octets\r\n", body);
            body_msg(f, 1, body);
            say(f, 1, ".\r\n");
        }
        say(f, 0, "QUIT\r\n");
        say(f, 1, "+OK Logging out.\r\n");
        break;
    case V_IMAP_LOGIN: case V_IMAP_PLAIN: case V_IMAP_QUOTED: case V_IMAP_LITERAL:
    case V_IMAP_AUTH_LOGIN: case V_IMAP_CRAM: {
        const char *caps = tls_advertised
            ? "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5"
            : "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5";
        say(f, 1, "* OK [CAPABILITY %s] Dovecot (Debian) ready.\r\n", caps);
        say(f, 0, "a0 CAPABILITY\r\n");
        say(f, 1, "* CAPABILITY %s\r\na0 OK Pre-login capabilities listed, post-login capabilities have more.\r\n", caps);
        saying_login = 1;
        if (m == V_IMAP_LOGIN) say(f, 0, "a1 LOGIN %s %s\r\n", user, pass);
        else if (m == V_IMAP_QUOTED) say(f, 0, "a1 LOGIN \"%s\" \"%s\"\r\n", user, pass);
        else if (m == V_IMAP_LITERAL) {
            say(f, 0, "a1 LOGIN {%d}\r\n", ul);
            say(f, 1, "+ OK\r\n");
            say(f, 0, "%s {%d}\r\n", user, pl);
            say(f, 1, "+ OK\r\n");
            say(f, 0, "%s\r\n", pass);
        } else if (m == V_IMAP_PLAIN) say(f, 0, "a1 AUTHENTICATE PLAIN %s\r\n", b_plain);
        else if (m == V_IMAP_AUTH_LOGIN) {
            say(f, 0, "a1 AUTHENTICATE LOGIN\r\n");
            say(f, 1, "+ VXNlcm5hbWU6\r\n");
            say(f, 0, "%s\r\n", b_user);
            say(f, 1, "+ UGFzc3dvcmQ6\r\n");
            say(f, 0, "%s\r\n", b_pass);
        } else {
            say(f, 0, "a1 AUTHENTICATE CRAM-MD5\r\n");
            say(f, 1, "+ %s\r\n", challenge);
            say(f, 0, "%s\r\n", b_cram);
        }
        saying_login = 0;
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
                  i % 7 + 1, i % 7 + 2);
        if (body) {
            say(f, 0, "a3 FETCH 1 BODY.PEEK[]\r\n");
            say(f, 1, "* 1 FETCH (BODY[] {%u}\r\n", body);
            body_msg(f, 1, body);
            say(f, 1, ")\r\na3 OK Fetch completed (0.001 + 0.000 secs).\r\n");
        }
        if (workload == W_STEADY) add_msg(f, 0, MK_NOOPS, 0, 0, 1);   /* rounds: set by main */
        say(f, 0, "a4 LOGOUT\r\n");
        say(f, 1, "* BYE Logging out\r\na4 OK Logout completed (0.001 + 0.000 secs).\r\n");
        break;
    }
    default: { /* SMTP */
        int sub = m != V_SMTP_LOGIN;
        say(f, 1, "220 mail.example.net ESMTP %s\r\n", sub ? "Dovecot (Debian) ready" : "Exim 4.96 Sun, 04 Jan 2026 10:00:00 +0000");
        say(f, 0, "EHLO client%u.example.org\r\n", i);
        say(f, 1, "250-mail.example.net Hello client%u.example.org\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
                  "250-PIPELINING\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n%s250-CHUNKING\r\n250 HELP\r\n",
                  i, tls_advertised ? "250-STARTTLS\r\n" : "");
        saying_login = 1;
        if (m == V_SMTP_PLAIN) {
            say(f, 0, "AUTH PLAIN %s\r\n", b_plain);
        } else if (m == V_SMTP_LOGIN) {
            say(f, 0, "AUTH LOGIN\r\n");
            say(f, 1, "334 VXNlcm5hbWU6\r\n");
            say(f, 0, "%s\r\n", b_user);
            say(f, 1, "334 UGFzc3dvcmQ6\r\n");
            say(f, 0, "%s\r\n", b_pass);
        } else {
            say(f, 0, "AUTH CRAM-MD5\r\n");
            say(f, 1, "334 %s\r\n", challenge);
            say(f, 0, "%s\r\n", b_cram);
        }
        saying_login = 0;
        say(f, 1, "235 2.7.0 Authentication successful\r\n");
        say(f, 0, "MAIL FROM:<%s@example.org>\r\n", user);
        say(f, 1, "250 2.1.0 OK\r\n");
        say(f, 0, "RCPT TO:<report@example.net>\r\n");
        say(f, 1, "250 2.1.5 OK\r\n");
        say(f, 0, "DATA\r\n");
        say(f, 1, "354 OK\r\n");
        say(f, 0, "From: <%s@example.org>\r\nTo: <report@example.net>\r\nSubject: bench %u\r\n"
                  "Message-ID: <bench.%u@example.org>\r\n\r\nBenchmark message %u.\r\n"
                  "AUTH PLAIN this-line-is-body-text-not-a-command\r\n", user, i, i, i);
        decoys++;   /* a command-looking line inside DATA: must not be reported */
        if (body) body_msg(f, 0, body);
        say(f, 0, ".\r\n");
        say(f, 1, "250 2.0.0 OK id=bench%u\r\n", i);
        say(f, 0, "QUIT\r\n");
        say(f, 1, "221 2.0.0 Bye\r\n");
        break;
    }
    }
}

/* many-flows: a short connection that logs nothing in. */
static const uint16_t mail_ports[4] = { 25, 110, 143, 587 };
static void short_init(flow_t *f, uint32_t idx) {
    memset(f, 0, sizeof *f);
    f->kind = K_MAIL;
    uint32_t r = rnd_below(100);
    f->v6 = rnd_below(10) == 0;
    set_endpoints(f, 0, idx);
    f->sport = mail_ports[rnd_below(4)];
    if (r < 30) {                     /* port scan answered by RST */
        f->shape = SH_SYN_RST; short_flows[0]++;
    } else if (r < 40) {              /* SYN nobody answers, half of them to other ports */
        f->shape = SH_SYN_ONLY; short_flows[1]++;
        if (rnd_below(2)) f->sport = (uint16_t)(1024 + rnd_below(60000));
    } else if (r < 75) {              /* banner grab of a mail server */
        f->shape = SH_FULL; short_flows[2]++;
        if (f->sport == 110) { say(f, 1, "+OK Dovecot (Debian) ready.\r\n"); say(f, 0, "QUIT\r\n"); say(f, 1, "+OK Logging out\r\n"); }
        else if (f->sport == 143) { say(f, 1, "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot (Debian) ready.\r\n");
                                    say(f, 0, "a LOGOUT\r\n"); say(f, 1, "* BYE Logging out\r\na OK Logout completed.\r\n"); }
        else { say(f, 1, "220 mail.example.net ESMTP Exim 4.96 Sun, 04 Jan 2026 10:00:00 +0000\r\n");
               say(f, 0, "EHLO scanner.example.org\r\n");
               say(f, 1, "250-mail.example.net Hello scanner.example.org\r\n250-SIZE 52428800\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250 HELP\r\n");
               say(f, 0, "QUIT\r\n"); say(f, 1, "221 2.0.0 Bye\r\n"); }
    } else {                          /* a small web request */
        f->shape = SH_FULL; short_flows[3]++;
        f->sport = 80;
        say(f, 0, "GET /i/%08x.png HTTP/1.1\r\nHost: img%u.example.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
            (uint32_t)rnd(), idx % 16);
        uint32_t len = 200 + rnd_below(1000);
        say(f, 1, "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: image/png\r\nContent-Length: %u\r\n"
                  "Connection: close\r\n\r\n", len);
        body_msg(f, 1, len);
    }
}

/* One segment of the current message (at most one MSS). */
static void mail_send(flow_t *f, int from_server, const char *data, uint32_t n) {
    if (from_server) {
        emit(f, 1, TCP_ACK | TCP_PSH, f->snext, f->cnext, data, n, NULL, 0);
        f->snext += n;
    } else {
        emit(f, 0, TCP_ACK | TCP_PSH, f->cnext, f->snext, data, n, NULL, 0);
        f->cnext += n;
    }
}

static uint32_t noop_rounds;
static int untagged_only;   /* steady: the server streams untagged lines, the client says nothing */

static int mail_step(flow_t *f) {
    switch (f->phase) {
    case 0:
        emit(f, 0, TCP_SYN, f->cisn, 0, NULL, 0, NULL, 0);
        f->phase = f->shape == SH_SYN_ONLY ? 7 : 1; return f->shape == SH_SYN_ONLY;
    case 1:
        if (f->shape == SH_SYN_RST) {
            emit(f, 1, TCP_RST | TCP_ACK, 0, f->cisn + 1, NULL, 0, NULL, 0);
            return 1;
        }
        emit(f, 1, TCP_SYN | TCP_ACK, f->sisn, f->cisn + 1, NULL, 0, NULL, 0);
        f->phase = 2; return 0;
    case 2:
        emit(f, 0, TCP_ACK, f->cnext, f->snext, NULL, 0, NULL, 0);
        f->phase = f->nmsgs ? 3 : 4; return 0;
    case 3: {
        const msg_t *m = &f->msgs[f->msg];
        uint32_t done = 0;
        if (m->kind == MK_TEXT) {
            uint32_t n = m->len - f->msg_sent < f->mss ? m->len - f->msg_sent : f->mss;
            emit_login = m->login;
            mail_send(f, m->from_server, f->text + m->off + f->msg_sent, n);
            emit_login = 0;
            f->msg_sent += n;
            done = f->msg_sent >= m->len;
        } else if (m->kind == MK_BODY) {
            uint32_t n = m->blob - f->msg_sent < f->mss ? m->blob - f->msg_sent : f->mss;
            /* a fresh, deterministic place in the text per message; never starts mid-CRLF */
            if (f->msg_sent == 0) {
                /* the body ends with a CRLF, so a terminator that follows is a line of its own */
                uint32_t e = rnd_below(TEXT_SZ) + m->blob;
                while (mailtext[e - 1] != '\n') e++;
                f->bodyoff = e - m->blob;
            }
            mail_send(f, m->from_server, mailtext + f->bodyoff + f->msg_sent, n);
            f->msg_sent += n;
            done = f->msg_sent >= m->blob;
        } else {      /* MK_NOOPS: client NOOP, server reply, `noop_rounds` times */
            if (f->round >= noop_rounds) { done = 1; }
            else {
                if (f->msg_sent == 0 && untagged_only && f->round_side == 0) f->round_side = 1;
                if (f->msg_sent == 0) {
                    f->round_len = untagged_only
                        ? (uint32_t)snprintf(f->round_text, sizeof f->round_text,
                                             "* %u EXISTS\r\n* OK [UIDNEXT %u] Predicted next UID\r\n",
                                             f->round % 97 + 1, f->round % 97 + 2)
                        : f->round_side == 0
                        ? (uint32_t)snprintf(f->round_text, sizeof f->round_text, "n%u NOOP\r\n", f->round)
                        : (uint32_t)snprintf(f->round_text, sizeof f->round_text,
                                             "* %u EXISTS\r\n* OK [UIDNEXT %u] Predicted next UID\r\nn%u OK NOOP completed (0.001 + 0.000 secs).\r\n",
                                             f->round % 97 + 1, f->round % 97 + 2, f->round);
                }
                uint32_t n = f->round_len - f->msg_sent < f->mss ? f->round_len - f->msg_sent : f->mss;
                mail_send(f, f->round_side, f->round_text + f->msg_sent, n);
                f->msg_sent += n;
                if (f->msg_sent >= f->round_len) {
                    f->msg_sent = 0;
                    if (f->round_side) f->round++;
                    f->round_side ^= 1;
                }
                return 0;
            }
        }
        if (done) {
            f->msg++; f->msg_sent = 0;
            if (f->msg == f->nmsgs) f->phase = 4;
        }
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

#define POOL 8192

static void usage(void) {
    fprintf(stderr, "usage: gen --out FILE.pcap --planted FILE.json [--workload bulk|bulk-vxlan|bulk-frag|mail-heavy|many-flows|steady]\n"
                    "           [--size-mb N] [--logins N] [--flows N] [--rounds N [--untagged]] [--seed N]\n");
    exit(2);
}

static void make_text(void) {
    static const char *const words[] = {
        "the", "meeting", "report", "attached", "please", "review", "quarterly", "numbers", "before",
        "Friday", "regards", "invoice", "shipment", "delayed", "customs", "thanks", "schedule", "draft",
        "AUTH", "PLAIN", "LOGIN", "USER", "PASS", "a1", "OK", "+OK", "250", "dGVzdA==", "{12}", "\"quoted\"" };
    size_t n = 0;
    while (n < TEXT_SZ + 66000) {
        uint32_t target = 40 + rnd_below(38);
        size_t start = n;
        while (n - start < target) {
            const char *w = words[rnd_below(sizeof words / sizeof *words)];
            size_t l = strlen(w);
            memcpy(mailtext + n, w, l); n += l;
            mailtext[n++] = ' ';
        }
        mailtext[n - 1] = '\r'; mailtext[n++] = '\n';
    }
}

int main(int argc, char **argv) {
    const char *out = NULL, *planted = NULL;
    unsigned long long size_mb = 1024, logins = 300, seed = 1, nflows = 1000000, rounds = 1000;
    int size_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--untagged")) { untagged_only = 1; continue; }
        if (i + 1 >= argc) usage();
        char *end;
        if (!strcmp(a, "--out")) out = argv[++i];
        else if (!strcmp(a, "--planted")) planted = argv[++i];
        else if (!strcmp(a, "--workload")) {
            const char *w = argv[++i];
            if (!strcmp(w, "bulk")) workload = W_BULK;
            else if (!strcmp(w, "bulk-vxlan")) { workload = W_BULK; wrap_mode = WRAP_VXLAN; }
            else if (!strcmp(w, "bulk-frag")) { workload = W_BULK; wrap_mode = WRAP_FRAG; }
            else if (!strcmp(w, "mail-heavy")) workload = W_MAIL_HEAVY;
            else if (!strcmp(w, "many-flows")) workload = W_MANY_FLOWS;
            else if (!strcmp(w, "steady")) workload = W_STEADY;
            else usage();
        }
        else if (!strcmp(a, "--size-mb")) { size_mb = strtoull(argv[++i], &end, 10); size_given = 1; if (*end) usage(); }
        else if (!strcmp(a, "--logins")) { logins = strtoull(argv[++i], &end, 10); if (*end) usage(); }
        else if (!strcmp(a, "--flows")) { nflows = strtoull(argv[++i], &end, 10); if (*end) usage(); }
        else if (!strcmp(a, "--rounds")) { rounds = strtoull(argv[++i], &end, 10); if (*end) usage(); }
        else if (!strcmp(a, "--seed")) { seed = strtoull(argv[++i], &end, 10); if (*end) usage(); }
        else usage();
    }
    if (workload == W_MAIL_HEAVY && !size_given) size_mb = 200;
    if (!out || !planted || size_mb == 0 || logins > 1000000) usage();
    rng_state = seed;
    noop_rounds = (uint32_t)rounds;

    outbuf = malloc(OUT_CAP);
    body = malloc(BODY_SZ + 4096);
    mailtext = malloc(TEXT_SZ + 70000);
    flow_t *flows = malloc(sizeof(flow_t) * POOL);
    flow_t **active = malloc(sizeof(flow_t *) * POOL);
    flow_t **freel = malloc(sizeof(flow_t *) * POOL);
    if (!outbuf || !body || !mailtext || !flows || !active || !freel) die("out of memory");
    int nfree = 0;
    for (int i = POOL - 1; i >= 0; i--) freel[nfree++] = &flows[i];

    /* body: compressible-ish binary, 1 MiB, tail mirrors head so reads never wrap */
    for (uint32_t i = 0; i < BODY_SZ; i += 8) {
        uint64_t v = rnd();
        if ((i >> 12) & 1) v &= 0x7f7f7f7f7f7f7f7fULL;   /* alternate 4 KiB of 7-bit data */
        memcpy(body + i, &v, 8);
    }
    memcpy(body + BODY_SZ, body, 4096);
    make_text();

    outf = fopen(out, "wb");
    if (!outf) die("cannot open output");
    uint8_t gh[24];
    putle32(gh, 0xa1b2c3d4);
    gh[4] = 2; gh[5] = 0; gh[6] = 4; gh[7] = 0;      /* version 2.4 (little-endian u16s) */
    memset(gh + 8, 0, 8);                            /* thiszone, sigfigs */
    putle32(gh + 16, 262144);                        /* snaplen */
    putle32(gh + 20, 1);                             /* LINKTYPE_ETHERNET */
    memcpy(out_reserve(24), gh, 24);
    outlen += 24; bytes_written += 24; plain_bytes += 24;

    clock_us = 1767520800ULL * 1000000ULL;           /* 2026-01-04T10:00:00Z */
    uint64_t target = size_mb << 20;
    uint32_t mail_started = 0, shorts_started = 0;
    int nactive = 0, nfill = 0;
    /* filler flows running at once: HTTP downloads (bulk), mail sessions (mail-heavy), short
     * connections (many-flows: enough that SYN-only flows fill the flow table) */
    int concurrent = workload == W_MANY_FLOWS ? 4096 : workload == W_STEADY ? 0 : 128;
    if (workload == W_STEADY) { concurrent = 0; }
    uint32_t steady_sessions = (uint32_t)logins;

    for (;;) {
        int closing;
        uint64_t progress_num, progress_den;   /* where we are, for planting logins evenly */
        if (workload == W_MANY_FLOWS) {
            closing = shorts_started >= nflows;
            progress_num = shorts_started; progress_den = nflows;
        } else {
            closing = plain_bytes >= target;
            progress_num = plain_bytes; progress_den = target;
        }
        if (workload == W_STEADY) {
            closing = 1;
            while (mail_started < steady_sessions) {
                flow_t *f = freel[--nfree];
                mail_init(f, mail_started, V_IMAP_LOGIN);
                mail_started++;
                active[nactive++] = f;
            }
        } else if (workload != W_MAIL_HEAVY) {
            /* plant the i-th login at (i + 1/2) / N of the way */
            while (mail_started < logins &&
                   progress_num >= (progress_den * (2 * (uint64_t)mail_started + 1)) / (2 * logins)) {
                if (nfree == 0) { errno = 0; die("internal: flow pool exhausted"); }
                flow_t *f = freel[--nfree];
                mail_init(f, mail_started, (int)(mail_started % V_COUNT));
                mail_started++;
                active[nactive++] = f;
            }
        }
        while (!closing && nfill < concurrent) {
            if (nfree == 0) { errno = 0; die("internal: flow pool exhausted"); }
            flow_t *f = freel[--nfree];
            if (workload == W_BULK) http_init(f);
            else if (workload == W_MAIL_HEAVY) { mail_init(f, mail_started, (int)(mail_started % V_COUNT)); mail_started++; }
            else { short_init(f, shorts_started++); }
            f->phase |= 0x100;    /* marks a filler */
            active[nactive++] = f;
            nfill++;
            if (workload == W_MANY_FLOWS) break;   /* re-check the planting point per flow */
        }
        if (nactive == 0) {
            if (workload != W_MAIL_HEAVY && workload != W_STEADY && mail_started < logins) { errno = 0; die("internal: logins not planted"); }
            break;
        }
        int k = (int)rnd_below((uint32_t)nactive);
        flow_t *f = active[k];
        int filler = f->phase & 0x100;
        f->phase &= ~0x100;
        int done = f->kind == K_HTTP ? http_step(f, closing) : mail_step(f);
        f->phase |= filler;
        if (workload == W_MANY_FLOWS) clock_us += 4;   /* ~100k connections a second, not line rate */
        if (done) {
            if (filler) nfill--;
            active[k] = active[--nactive];
            freel[nfree++] = f;
        }
    }
    out_flush();
    if (fclose(outf) != 0) die("close failed");

    static const char *const wname[] = { "bulk", "mail-heavy", "many-flows", "steady" };
    static const char *const wrapname[] = { "", "-vxlan", "-frag" };
    FILE *pj = fopen(planted, "w");
    if (!pj) die("cannot open planted file");
    fprintf(pj, "{\n  \"generator\": \"plainsight-bench-gen 2\",\n  \"workload\": \"%s%s\",\n  \"seed\": %llu,\n  \"size_mb\": %llu,\n"
                "  \"file_bytes\": %llu,\n  \"packets\": %llu,\n  \"http_flows\": %u,\n"
                "  \"http_flows_ipv6\": %u,\n  \"http_flows_vlan\": %u,\n  \"vlan_frames\": %llu,\n"
                "  \"short_flows\": {\"syn_rst\": %u, \"syn_only\": %u, \"banner_grab\": %u, \"http\": %u},\n"
                "  \"mail_body_bytes\": %llu,\n"
                "  \"logins\": %u,\n  \"logins_ipv6\": %u,\n  \"logins_vlan\": %u,\n"
                "  \"decoy_auth_lines_in_smtp_data\": %u,\n",
            wname[workload], wrapname[wrap_mode], seed, size_mb, (unsigned long long)bytes_written, (unsigned long long)packets_written,
            http_flows, v6_flows, vlan_flows, (unsigned long long)vlan_frames,
            short_flows[0], short_flows[1], short_flows[2], short_flows[3], (unsigned long long)mail_body_bytes,
            logins_planted, mail_v6, mail_vlan, decoys);
    /* the output filter: what bulk-vxlan and bulk-frag changed (null: none) */
    fprintf(pj, "  \"unwrapped_bytes\": %llu,\n  \"login_command_segments\": %llu,\n"
                "  \"login_command_segments_ipv4\": %llu,\n  \"output_filter\": ",
            (unsigned long long)plain_bytes, (unsigned long long)login_segments, (unsigned long long)login_segments_v4);
    if (wrap_mode == WRAP_VXLAN)
        fprintf(pj, "{\"kind\": \"vxlan\", \"vni\": %u, \"outer_src\": \"203.0.113.1\", \"outer_dst\": \"203.0.113.2\", "
                    "\"udp_dst_port\": 4789, \"frames\": %llu},\n", VXLAN_VNI, (unsigned long long)vxlan_frames);
    else if (wrap_mode == WRAP_FRAG)
        fprintf(pj, "{\"kind\": \"ipv4-fragments\", \"segments_fragmented\": %llu, \"in_three\": %llu, "
                    "\"last_fragment_first\": %llu, \"fragments\": %llu},\n",
                (unsigned long long)frag_segments, (unsigned long long)frag_three,
                (unsigned long long)frag_last_first, (unsigned long long)frag_packets);
    else fprintf(pj, "null,\n");
    fprintf(pj, "  \"planted\": [\n");
    /* one entry per reported (protocol, method) */
    int first = 1;
    for (int m = 0; m < V_COUNT; m++) {
        int seen = 0;
        for (int k = 0; k < m; k++)
            if (!strcmp(variant_proto[k], variant_proto[m]) && !strcmp(variant_method[k], variant_method[m])) seen = 1;
        if (seen) continue;
        uint32_t count = 0;
        for (int k = m; k < V_COUNT; k++)
            if (!strcmp(variant_proto[k], variant_proto[m]) && !strcmp(variant_method[k], variant_method[m])) count += variant_count[k];
        if (!count) continue;
        fprintf(pj, "%s    {\"app_proto\": \"%s\", \"method\": \"%s\", \"dest_port\": %u, \"count\": %u}",
                first ? "" : ",\n", variant_proto[m], variant_method[m], variant_port[m], count);
        first = 0;
    }
    fprintf(pj, "\n  ]\n}\n");
    if (fclose(pj) != 0) die("close failed");
    return 0;
}
