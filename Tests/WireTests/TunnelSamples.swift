import Testing
import Wire

// Tunnel headers for the sample frames, built as each RFC lays them out, and the tunnelled samples
// themselves. The inner packet is always Samples' TCP segment, so the expected offsets are the
// sum of the layer sizes in each comment.

extension Frame {
    static let outerSource: [UInt8] = [203, 0, 113, 1]
    static let outerDestination: [UInt8] = [203, 0, 113, 2]
    // 2001:db8:ffff::1 and ::2
    static let outerSource6: [UInt8] = [0x20, 0x01, 0x0D, 0xB8, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 9) + [1]
    static let outerDestination6: [UInt8] = [0x20, 0x01, 0x0D, 0xB8, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 9) + [2]

    /// An outer IPv4 header between the tunnel endpoints.
    static func outer4(_ proto: UInt8, _ payload: [UInt8]) -> [UInt8] {
        ipv4(source: outerSource, destination: outerDestination, protocol: proto, payload)
    }

    static func outer6(_ next: UInt8, _ payload: [UInt8]) -> [UInt8] {
        ipv6(source: outerSource6, destination: outerDestination6, next: next, payload)
    }

    static func udp(sourcePort: UInt16 = 51000, destinationPort: UInt16, length: UInt16? = nil,
                    _ payload: [UInt8]) -> [UInt8] {
        be16(sourcePort) + be16(destinationPort) + be16(length ?? UInt16(8 + payload.count)) + [0, 0] + payload
    }

    /// RFC 7348: flags (I = 0x08), reserved, VNI, reserved.
    static func vxlan(vni: UInt32, flags: UInt8 = 0x08, _ innerFrame: [UInt8]) -> [UInt8] {
        [flags, 0, 0, 0] + be32(vni << 8) + innerFrame
    }

    /// RFC 8926: version and option length, flags, protocol type, VNI, options.
    static func geneve(vni: UInt32, protocolType: UInt16, options: [UInt8] = [], control: Bool = false,
                       version: UInt8 = 0, _ payload: [UInt8]) -> [UInt8] {
        [version << 6 | UInt8(options.count / 4), control ? 0x80 : 0] + be16(protocolType) + be32(vni << 8)
            + options + payload
    }

    /// RFC 2784/2890: C, K and S fields in that order when present.
    static func gre(protocolType: UInt16, checksum: Bool = false, key: UInt32? = nil, sequence: UInt32? = nil,
                    version: UInt16 = 0, _ payload: [UInt8]) -> [UInt8] {
        var flags: UInt16 = version
        if checksum { flags |= 0x8000 }
        if key != nil { flags |= 0x2000 }
        if sequence != nil { flags |= 0x1000 }
        var header = be16(flags) + be16(protocolType)
        if checksum { header += [0xBE, 0xEF, 0, 0] }
        if let key { header += be32(key) }
        if let sequence { header += be32(sequence) }
        return header + payload
    }

    /// ERSPAN type II: version 1, VLAN, COS/En/T, session id, index.
    static func erspan2(session: UInt16, _ innerFrame: [UInt8]) -> [UInt8] {
        be16(0x1000 | 7) + be16(session & 0x03FF) + be32(0x0000_0042) + innerFrame
    }

    /// ERSPAN type III: version 2, session id, timestamp, SGT, P/FT/HW/D/Gra/O, and the 8-byte
    /// platform-specific sub-header when O is set.
    static func erspan3(session: UInt16, frameType: UInt16 = 0, platform: Bool = false,
                        _ payload: [UInt8]) -> [UInt8] {
        be16(0x2000 | 7) + be16(session & 0x03FF) + be32(0x1234_5678) + be16(0)
            + be16(frameType << 10 | (platform ? 1 : 0))
            + (platform ? [0x0C, 0, 0, 0, 0, 0, 0, 0] : []) + payload
    }

    /// RFC 3032 label stack entries, bottom of stack on the last.
    static func mpls(_ labels: [UInt32], _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for (i, label) in labels.enumerated() {
            out += be32(label << 12 | (i == labels.count - 1 ? 0x100 : 0) | 64)
        }
        return out + payload
    }

    /// RFC 2516 session header, then the PPP protocol.
    static func pppoe(session: UInt16, pppProtocol: UInt16, version: UInt8 = 0x11, _ payload: [UInt8]) -> [UInt8] {
        [version, 0] + be16(session) + be16(UInt16(2 + payload.count)) + be16(pppProtocol) + payload
    }

    /// GTP-U version 1 G-PDU; `extensions` are whole extension headers (their length byte first,
    /// their next-type byte last), announced by the optional fields.
    static func gtpu(teid: UInt32, messageType: UInt8 = 0xFF, sequence: UInt16? = nil,
                     extensions: [[UInt8]] = [], _ payload: [UInt8]) -> [UInt8] {
        var optional: [UInt8] = []
        var flags: UInt8 = 0x30
        if sequence != nil || !extensions.isEmpty {
            if sequence != nil { flags |= 0x02 }
            if !extensions.isEmpty { flags |= 0x04 }
            optional = be16(sequence ?? 0) + [0, extensions.isEmpty ? 0 : 0x85]
        }
        let body = optional + extensions.flatMap { $0 } + payload
        return [flags, messageType] + be16(UInt16(body.count)) + be32(teid) + body
    }

    /// A GTP-U extension header of one 4-byte unit, followed by none.
    static let gtpuExtension: [UInt8] = [1, 0x10, 0x20, 0]
}

/// What the decoder must record of a tunnelled sample's path.
struct ExpectedPath: Sendable {
    var layers: [EncapsulationKind]
    var outerIPv4: Bool? = true        // nil: no outer addresses
    var identifier: UInt32? = nil
    var greKey: UInt32? = nil
    var labels: [UInt32] = []
}

struct TunnelSample: Sendable, CustomTestStringConvertible {
    var accepted: Accepted
    var path: ExpectedPath
    var testDescription: String { accepted.name }
}

enum TunnelSamples {
    typealias F = Frame
    static let inner = Samples.ipv4TCP               // IPv4 20 | TCP 20 | payload 12
    static let innerEthernet = F.ethernet(type: 0x0800, inner)   // + 14
    static let inner6 = Samples.ipv6TCP              // IPv6 40 | TCP 20 | payload 12

    static func sample(_ name: String, link: LinkType = .ethernet, _ frame: [UInt8], _ expected: Expected,
                       _ path: ExpectedPath) -> TunnelSample {
        TunnelSample(accepted: Accepted(name: name, link: link, frame: frame, expected: expected), path: path)
    }

    static let all: [TunnelSample] = [
        // Eth 14 | IPv4 20 | UDP 8 | VXLAN 8 | Eth 14 | IPv4 20 | TCP 20 | 12
        sample("vxlan", F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 4789, F.vxlan(vni: 4242, innerEthernet)))),
               .v4(104, 116), ExpectedPath(layers: [.vxlan], identifier: 4242)),
        // The same on Linux's port 8472, tagged inside and out: 4 + 4 more
        sample("vxlan 8472 with VLANs", F.ethernet(type: 0x0800, tags: [(0x8100, 30)], F.outer4(17,
                    F.udp(destinationPort: 8472, F.vxlan(vni: 7, F.ethernet(type: 0x0800, tags: [(0x8100, 40)], inner))))),
               .v4(112, 124, vlans: [30, 40]), ExpectedPath(layers: [.vxlan], identifier: 7)),
        // Eth 14 | IPv6 40 | UDP 8 | VXLAN 8 | Eth 14 | IPv6 40 | TCP 20 | 12
        sample("vxlan over ipv6", F.ethernet(type: 0x86DD, F.outer6(17, F.udp(destinationPort: 4789,
                    F.vxlan(vni: 1, F.ethernet(type: 0x86DD, inner6))))),
               .v6(144, 156), ExpectedPath(layers: [.vxlan], outerIPv4: false, identifier: 1)),
        // Eth 14 | IPv4 20 | UDP 8 | Geneve 8 + option 8 | Eth 14 | IPv4 20 | TCP 20 | 12
        sample("geneve ethernet with option", F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 6081,
                    F.geneve(vni: 99, protocolType: 0x6558, options: [0x01, 0x02, 0x03, 0x01, 0xAA, 0xBB, 0xCC, 0xDD],
                             innerEthernet)))),
               .v4(112, 124), ExpectedPath(layers: [.geneve], identifier: 99)),
        // Eth 14 | IPv4 20 | UDP 8 | Geneve 8 | IPv4 20 | TCP 20 | 12
        sample("geneve ipv4", F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 6081,
                    F.geneve(vni: 5, protocolType: 0x0800, inner)))),
               .v4(90, 102), ExpectedPath(layers: [.geneve], identifier: 5)),
        // Eth 14 | IPv4 20 | GRE 16 (C, K, S) | Eth 14 | IPv4 20 | TCP 20 | 12
        sample("gretap with checksum key sequence", F.ethernet(type: 0x0800, F.outer4(47,
                    F.gre(protocolType: 0x6558, checksum: true, key: 77, sequence: 9, innerEthernet))),
               .v4(104, 116), ExpectedPath(layers: [.gre], identifier: 77)),
        // Eth 14 | IPv4 20 | GRE 4 | IPv4 20 | TCP 20 | 12
        sample("gre ipv4", F.ethernet(type: 0x0800, F.outer4(47, F.gre(protocolType: 0x0800, inner))),
               .v4(78, 90), ExpectedPath(layers: [.gre])),
        // Eth 14 | IPv6 40 | GRE 8 (K) | IPv6 40 | TCP 20 | 12
        sample("ip6gre ipv6", F.ethernet(type: 0x86DD, F.outer6(47, F.gre(protocolType: 0x86DD, key: 1, inner6))),
               .v6(122, 134), ExpectedPath(layers: [.gre], outerIPv4: false, identifier: 1)),
        // Eth 14 | IPv4 20 | GRE 8 (S) | ERSPAN II 8 | Eth 14 | IPv4 20 | TCP 20 | 12
        sample("erspan ii", F.ethernet(type: 0x0800, F.outer4(47, F.gre(protocolType: 0x88BE, sequence: 1,
                    F.erspan2(session: 300, innerEthernet)))),
               .v4(104, 116), ExpectedPath(layers: [.erspan2], identifier: 300)),
        // Eth 14 | IPv4 20 | GRE 12 (K, S) | ERSPAN III 12 | Eth 14 | IPv4 20 | TCP 20 | 12
        sample("erspan iii with gre key", F.ethernet(type: 0x0800, F.outer4(47, F.gre(protocolType: 0x22EB, key: 5,
                    sequence: 1, F.erspan3(session: 300, innerEthernet)))),
               .v4(112, 124), ExpectedPath(layers: [.erspan3], identifier: 300, greKey: 5)),
        // ... | GRE 8 (S) | ERSPAN III 12 + platform 8 | Eth 14 | IPv4 20 | TCP 20 | 12
        sample("erspan iii platform sub-header", F.ethernet(type: 0x0800, F.outer4(47, F.gre(protocolType: 0x22EB,
                    sequence: 1, F.erspan3(session: 1023, platform: true, innerEthernet)))),
               .v4(116, 128), ExpectedPath(layers: [.erspan3], identifier: 1023)),
        // ... | GRE 8 (S) | ERSPAN III 12, frame type IP | IPv4 20 | TCP 20 | 12
        sample("erspan iii ip frame", F.ethernet(type: 0x0800, F.outer4(47, F.gre(protocolType: 0x22EB,
                    sequence: 1, F.erspan3(session: 2, frameType: 2, inner)))),
               .v4(94, 106), ExpectedPath(layers: [.erspan3], identifier: 2)),
        // Eth 14 | MPLS 4 + 4 | IPv4 20 | TCP 20 | 12
        sample("mpls two labels", F.ethernet(type: 0x8847, F.mpls([1001, 1002], inner)),
               .v4(62, 74), ExpectedPath(layers: [.mpls], outerIPv4: nil, labels: [1001, 1002])),
        // Eth 14 | MPLS 4 | control word 4 | Eth 14 | IPv4 20 | TCP 20 | 12
        sample("mpls ethernet pseudowire", F.ethernet(type: 0x8847, F.mpls([16], [0, 0, 0, 1] + innerEthernet)),
               .v4(76, 88), ExpectedPath(layers: [.mpls], outerIPv4: nil, labels: [16])),
        // Eth 14 | MPLS 4 | IPv6 40 | TCP 20 | 12
        sample("mpls ipv6", F.ethernet(type: 0x8847, F.mpls([20], inner6)),
               .v6(78, 90), ExpectedPath(layers: [.mpls], outerIPv4: nil, labels: [20])),
        // Eth 14 | PPPoE 6 | PPP 2 | IPv4 20 | TCP 20 | 12
        sample("pppoe ipv4", F.ethernet(type: 0x8864, F.pppoe(session: 0x1234, pppProtocol: 0x0021, inner)),
               .v4(62, 74), ExpectedPath(layers: [.pppoe], outerIPv4: nil, identifier: 0x1234)),
        // Eth 14 | PPPoE 6 | PPP 2 | IPv6 40 | TCP 20 | 12
        sample("pppoe ipv6", F.ethernet(type: 0x8864, F.pppoe(session: 1, pppProtocol: 0x0057, inner6)),
               .v6(82, 94), ExpectedPath(layers: [.pppoe], outerIPv4: nil, identifier: 1)),
        // Eth 14 | IPv4 20 | IPv4 20 | TCP 20 | 12
        sample("ipip", F.ethernet(type: 0x0800, F.outer4(4, inner)), .v4(74, 86), ExpectedPath(layers: [.ipip])),
        // Eth 14 | IPv4 20 | IPv6 40 | TCP 20 | 12
        sample("6in4", F.ethernet(type: 0x0800, F.outer4(41, inner6)), .v6(94, 106), ExpectedPath(layers: [.sixInFour])),
        // Eth 14 | IPv6 40 | IPv4 20 | TCP 20 | 12
        sample("4in6", F.ethernet(type: 0x86DD, F.outer6(4, inner)), .v4(94, 106),
               ExpectedPath(layers: [.fourInSix], outerIPv4: false)),
        // raw IPv6 40 | IPv6 40 | TCP 20 | 12
        sample("6in6 on a raw link", link: .raw, F.outer6(41, inner6), .v6(100, 112),
               ExpectedPath(layers: [.sixInSix], outerIPv4: false)),
        // Eth 14 | IPv4 20 | UDP 8 | GTP-U 8 | IPv4 20 | TCP 20 | 12
        sample("gtp-u", F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 2152, F.gtpu(teid: 0xABCDEF, inner)))),
               .v4(90, 102), ExpectedPath(layers: [.gtpu], identifier: 0xABCDEF)),
        // ... | GTP-U 8 + optional 4 + extension 4 | IPv4 20 | TCP 20 | 12
        sample("gtp-u with sequence and extension", F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 2152,
                    F.gtpu(teid: 9, sequence: 3, extensions: [F.gtpuExtension], inner)))),
               .v4(98, 110), ExpectedPath(layers: [.gtpu], identifier: 9)),
        // Eth 14 | IPv4 20 | GRE 4 | IPv4 20 | UDP 8 | VXLAN 8 | Eth 14 | IPv4 20 | TCP 20 | 12
        sample("vxlan in gre", F.ethernet(type: 0x0800, F.outer4(47, F.gre(protocolType: 0x0800,
                    F.ipv4(source: [198, 51, 100, 1], destination: [198, 51, 100, 2], protocol: 17,
                           F.udp(destinationPort: 4789, F.vxlan(vni: 3, innerEthernet)))))),
               .v4(128, 140), ExpectedPath(layers: [.gre, .vxlan])),
        // Linux cooked capture of a VXLAN underlay: SLL 16 | IPv4 20 | UDP 8 | VXLAN 8 | Eth 14 | IPv4 20 | TCP 20
        sample("vxlan on linux sll", link: .linuxSLL, F.sll(protocol: 0x0800, F.outer4(17, F.udp(destinationPort: 4789,
                    F.vxlan(vni: 8, innerEthernet)))),
               .v4(106, 118), ExpectedPath(layers: [.vxlan], identifier: 8)),
        // Eight IP-in-IP layers: the most followed.
        sample("eight layers", link: .raw, nested(8), .v4(20 * 8 + 40, 20 * 8 + 52),
               ExpectedPath(layers: Array(repeating: .ipip, count: 8))),
    ]

    /// `depth` IPv4-in-IPv4 headers around the inner packet.
    static func nested(_ depth: Int) -> [UInt8] {
        var frame = inner
        for _ in 0..<depth { frame = F.outer4(4, frame) }
        return frame
    }

    /// Tunnelled frames that must be skipped or refused, and how.
    static let refused: [Refused] = [
        Refused(name: "nine layers", link: .raw, frame: nested(9), verdict: .skipped(.tooManyLayers)),
        Refused(name: "gre version 1", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(47, F.gre(protocolType: 0x880B, version: 1, inner))),
                verdict: .skipped(.unsupportedTunnel)),
        Refused(name: "gre unknown protocol", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(47, F.gre(protocolType: 0x0806, inner))),
                verdict: .skipped(.notIP)),
        Refused(name: "erspan type i", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(47, F.gre(protocolType: 0x88BE, innerEthernet))),
                verdict: .skipped(.unsupportedTunnel)),
        Refused(name: "vxlan without I flag", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 4789, F.vxlan(vni: 1, flags: 0, innerEthernet)))),
                verdict: .skipped(.unsupportedTunnel)),
        Refused(name: "vxlan carrying ARP", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 4789,
                    F.vxlan(vni: 1, F.ethernet(type: 0x0806, [UInt8](repeating: 1, count: 28)))))),
                verdict: .skipped(.notIP)),
        Refused(name: "udp on no tunnel port", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 4790, F.vxlan(vni: 1, innerEthernet)))),
                verdict: .skipped(.notTCP)),
        // The UDP length says 16: the inner frame lies outside the datagram.
        Refused(name: "vxlan inner beyond udp length", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 4789, length: 16,
                    F.vxlan(vni: 1, innerEthernet)))),
                verdict: .failed(.truncated(.link))),
        Refused(name: "udp length beyond ip", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 4789, length: 2000,
                    F.vxlan(vni: 1, innerEthernet)))),
                verdict: .failed(.invalid(.udp))),
        Refused(name: "geneve version 1", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 6081,
                    F.geneve(vni: 1, protocolType: 0x6558, version: 1, innerEthernet)))),
                verdict: .skipped(.unsupportedTunnel)),
        Refused(name: "geneve control message", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 6081,
                    F.geneve(vni: 1, protocolType: 0x6558, control: true, innerEthernet)))),
                verdict: .skipped(.notIP)),
        Refused(name: "gtp-u echo request", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 2152, F.gtpu(teid: 0, messageType: 1, [])))),
                verdict: .skipped(.unsupportedTunnel)),
        Refused(name: "gtp-u zero-length extension", link: .ethernet,
                frame: F.ethernet(type: 0x0800, F.outer4(17, F.udp(destinationPort: 2152,
                    F.gtpu(teid: 1, extensions: [[0, 0, 0, 0]], inner)))),
                verdict: .failed(.invalid(.gtpu))),
        Refused(name: "pppoe wrong version", link: .ethernet,
                frame: F.ethernet(type: 0x8864, F.pppoe(session: 1, pppProtocol: 0x0021, version: 0x21, inner)),
                verdict: .failed(.invalid(.pppoe))),
        Refused(name: "pppoe lcp", link: .ethernet,
                frame: F.ethernet(type: 0x8864, F.pppoe(session: 1, pppProtocol: 0xC021, [1, 1, 0, 4])),
                verdict: .skipped(.notIP)),
        Refused(name: "mpls seventeen labels", link: .ethernet,
                frame: F.ethernet(type: 0x8847, F.mpls(Array(1...17), inner)), verdict: .failed(.invalid(.mpls))),
        Refused(name: "mpls cut in its stack", link: .ethernet,
                frame: Array(F.ethernet(type: 0x8847, F.mpls([1, 2], inner)).prefix(20)), verdict: .failed(.truncated(.mpls))),
        // The inner IPv4 claims 100 bytes more than its outer packet carries.
        Refused(name: "ipip inner longer than outer", link: .raw,
                frame: F.outer4(4, F.ipv4(totalLength: 152, Samples.tcpUser)), verdict: .failed(.invalid(.ipv4))),
    ]
}
