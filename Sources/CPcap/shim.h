#ifndef PLAINSIGHT_CPCAP_SHIM_H
#define PLAINSIGHT_CPCAP_SHIM_H
#include <pcap/pcap.h>
#ifdef __linux__
/* PACKET_FANOUT and its modes, for --workers (several handles sharing one interface). */
#include <linux/if_packet.h>
#endif
#endif
