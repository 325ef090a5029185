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
    ///
    /// Mirror feeds (issue 16) add what the kernel cannot judge by outer ports:
    /// - IPv4 fragments (`ip[6:2] & 0x3fff != 0`): a non-first fragment carries no ports, so every
    ///   fragment reaches the defragmenter, which drops what it does not complete. IPv6 fragments
    ///   already pass as IPv6 with an extension header.
    /// - tunnels: UDP to a VXLAN, Geneve or GTP-U port, GRE, IP-in-IP and IPv6-in-IPv4 (`ip proto
    ///   47, 4, 41`; over IPv6 they pass as above), and on Ethernet MPLS (0x8847, 0x8848) and PPPoE
    ///   sessions (0x8864). Their inner ports are selected by the decoder, not the kernel: a
    ///   feed's tunnel traffic reaches user space whole, while the bulk of plain traffic that is
    ///   neither mail nor a tunnel is still dropped in the kernel.
    public static func defaultExpression(anyPort: Bool, ports: Set<UInt16>, dlt: Int32,
                                         tunnelPorts: Set<UInt16> = [], fragments: Bool = false) -> String {
        // The implicit-TLS ports (993, 995, 465) pass too: the engine counts their TLS sessions for
        // the exposure inventory (never parsing them).
        let ports = ports.union(EngineConfiguration.implicitTLSPorts)
        let tcp: String
        if anyPort || ports.isEmpty {
            tcp = "tcp"
        } else {
            tcp = "(tcp and (" + ports.sorted().map { "port \($0)" }.joined(separator: " or ") + "))"
        }
        var terms = [tcp, "(ip6 and not (tcp or udp or icmp6))"]
        if fragments { terms.append("(ip and ip[6:2] & 0x3fff != 0)") }
        if !tunnelPorts.isEmpty {
            terms.append("(udp and (" + tunnelPorts.sorted().map { "dst port \($0)" }.joined(separator: " or ") + "))")
            terms.append("(ip and (ip proto 47 or ip proto 4 or ip proto 41))")
        }
        let base = "(" + terms.joined(separator: " or ") + ")"
        guard dlt == 1 else { return base }                  // DLT_EN10MB
        let carried = tunnelPorts.isEmpty ? "" : " or ether proto 0x8847 or ether proto 0x8848 or ether proto 0x8864"
        let tagged = "(\(base)\(carried))"
        return "\(base)\(carried) or (vlan and (\(tagged) or (vlan and \(tagged))))"
    }
}
