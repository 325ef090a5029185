import CPcap

/// libpcap's own description of itself (`pcap_lib_version()`), e.g. "libpcap version 1.10.5
/// (with TPACKET_V3)": the library the binary runs with, which may be newer than the one it was
/// built against.
// Safe: pcap_lib_version returns a static NUL-terminated string, never NULL.
public var libpcapVersion: String { unsafe String(cString: pcap_lib_version()) }
