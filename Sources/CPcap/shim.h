#ifndef PLAINSIGHT_CPCAP_SHIM_H
#define PLAINSIGHT_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
