/*
 * floor.c: the throughput floor for `scripts/bench`: the minimal libpcap loop a C programmer would
 * write. Reads every packet with pcap_next_ex, decodes Ethernet (up to two VLAN tags) / IPv4 /
 * IPv6 / TCP headers with bounds checks, and sums TCP payload bytes so the work is not optimised
 * away. No flow table, no reassembly, no parsing: nothing a real sniffer could go below.
 *
 *   floor FILE.pcap   ->   packets=N tcp_packets=N payload_bytes=N
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

static inline uint16_t rd16(const u_char *p) { return (uint16_t)(p[0] << 8 | p[1]); }

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: floor FILE.pcap\n");
        return 2;
    }
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(argv[1], err);
    if (!pc) {
        fprintf(stderr, "floor: %s\n", err);
        return 1;
    }
    if (pcap_datalink(pc) != DLT_EN10MB) {
        fprintf(stderr, "floor: not an Ethernet capture\n");
        return 1;
    }
    uint64_t packets = 0, tcp_packets = 0, payload = 0, ports = 0;
    struct pcap_pkthdr *h;
    const u_char *d;
    int rc;
    while ((rc = pcap_next_ex(pc, &h, &d)) == 1) {
        packets++;
        uint32_t len = h->caplen, off = 14;
        if (len < 14) continue;
        uint16_t et = rd16(d + 12);
        for (int tags = 0; tags < 2 && (et == 0x8100 || et == 0x88a8 || et == 0x9100); tags++) {
            if (len < off + 4) goto next;
            et = rd16(d + off + 2);
            off += 4;
        }
        uint32_t l4, l4len;
        if (et == 0x0800) {
            if (len < off + 20) continue;
            const u_char *ip = d + off;
            uint32_t ihl = (ip[0] & 0x0f) * 4u, tot = rd16(ip + 2);
            if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || ip[9] != 6) continue;
            if ((rd16(ip + 6) & 0x1fff) != 0) continue;   /* not a first fragment */
            if (off + tot > len) tot = len - off;
            if (tot < ihl) continue;
            l4 = off + ihl;
            l4len = tot - ihl;
        } else if (et == 0x86dd) {
            if (len < off + 40) continue;
            const u_char *ip = d + off;
            uint32_t plen = rd16(ip + 4);
            if ((ip[0] >> 4) != 6 || ip[6] != 6) continue;     /* no extension headers */
            if (off + 40 + plen > len) plen = len - off - 40;
            l4 = off + 40;
            l4len = plen;
        } else {
            continue;
        }
        if (l4len < 20) continue;
        const u_char *tcp = d + l4;
        uint32_t doff = (tcp[12] >> 4) * 4u;
        if (doff < 20 || doff > l4len) continue;
        tcp_packets++;
        payload += l4len - doff;
        ports += rd16(tcp) ^ rd16(tcp + 2);
    next:;
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "floor: %s\n", pcap_geterr(pc));
        return 1;
    }
    pcap_close(pc);
    printf("packets=%llu tcp_packets=%llu payload_bytes=%llu port_mix=%llu\n",
           (unsigned long long)packets, (unsigned long long)tcp_packets,
           (unsigned long long)payload, (unsigned long long)ports);
    return 0;
}
