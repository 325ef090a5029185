import Engine

/// The BPF programs plainsight installs when the user gives no expression of their own.
public enum CaptureFilter {
    /// Only traffic the engine could parse reaches user space (DESIGN.md: mail ports by default,
    /// all TCP with `--any-port`).
    ///
    /// Two libpcap details shape the expression:
    /// - `tcp` and `port` match IPv6 only when TCP is the first next header, so IPv6 packets with
    ///   extension headers (hop-by-hop, routing, destination options) would be dropped; they are let
    ///   through whole (`ip6 and not (tcp or udp or icmp6)`) and the decoder walks the chain.
    /// - Offsets move past 802.1Q/802.1ad tags only after a `vlan` primitive, so on Ethernet the
    ///   expression is repeated behind one and two `vlan`s (QinQ). Other link types have no tags
    ///   in the frame (and libpcap rejects `vlan` on some of them).
    public static func defaultExpression(anyPort: Bool, ports: Set<UInt16>, dlt: Int32) -> String {
        // The implicit-TLS ports (993, 995, 465) pass too: the engine counts their TLS sessions for
        // the exposure inventory (never parsing them).
        let ports = ports.union(EngineConfiguration.implicitTLSPorts)
        let tcp: String
        if anyPort || ports.isEmpty {
            tcp = "tcp"
        } else {
            tcp = "(tcp and (" + ports.sorted().map { "port \($0)" }.joined(separator: " or ") + "))"
        }
        let base = "(\(tcp) or (ip6 and not (tcp or udp or icmp6)))"
        guard dlt == 1 else { return base }                  // DLT_EN10MB
        return "\(base) or (vlan and (\(base) or (vlan and \(base))))"
    }
}
