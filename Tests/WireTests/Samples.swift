import Testing
import Wire

// The sample frames every decoder test runs over. Each comment shows the layers with their sizes;
// expected offsets are worked out from those by hand, not computed by the test.

struct Expected: Sendable {
    var source: IPAddress
    var destination: IPAddress
    var sourcePort: UInt16 = 49152
    var destinationPort: UInt16 = 110
    var sequence: UInt32 = 0x0102_0304
    var acknowledgment: UInt32 = 0xA0B0_C0D0
    var flags: UInt8 = 0x18
    var window: UInt16 = 0xFAF0
    var payloadStart: Int
    var payloadEnd: Int
    var payload: [UInt8] = Frame.userCommand
    var vlans: [UInt16] = []

    static let v4Source = IPAddress(ipv4: 0xC000_0201)        // 192.0.2.1
    static let v4Destination = IPAddress(ipv4: 0xC633_6407)   // 198.51.100.7
    static let v6Source = IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 1)
    static let v6Destination = IPAddress(ipv6High: 0x2001_0DB8_0000_0001, low: 0x25)

    static func v4(_ start: Int, _ end: Int, vlans: [UInt16] = []) -> Expected {
        Expected(source: v4Source, destination: v4Destination, payloadStart: start, payloadEnd: end, vlans: vlans)
    }
    static func v6(_ start: Int, _ end: Int, vlans: [UInt16] = []) -> Expected {
        Expected(source: v6Source, destination: v6Destination, payloadStart: start, payloadEnd: end, vlans: vlans)
    }
}

/// A frame that must decode to a TCP segment.
struct Accepted: Sendable, CustomTestStringConvertible {
    var name: String
    var link: LinkType
    var frame: [UInt8]
    var expected: Expected
    var testDescription: String { name }
}

enum Verdict: Sendable, Equatable {
    case skipped(SkipReason)
    /// An IP fragment, handed to the defragmenter.
    case fragment
    case failed(DecodeError)
}

/// A frame that must be skipped or rejected, and how.
struct Refused: Sendable, CustomTestStringConvertible {
    var name: String
    var link: LinkType
    var frame: [UInt8]
    var verdict: Verdict
    var testDescription: String { name }
}

/// Any sample, for the robustness loops.
struct Sample: Sendable, CustomTestStringConvertible {
    var name: String
    var link: LinkType
    var frame: [UInt8]
    var testDescription: String { name }
}

enum Samples {
    typealias F = Frame

    static let tcpUser = F.tcp(payload: F.userCommand)
    static let tcpSYN = F.tcp(acknowledgment: 0, flags: 0x02)
    static let ipv4TCP = F.ipv4(tcpUser)
    static let ipv6TCP = F.ipv6(tcpUser)

    // Eth 14 | IPv4 20 | TCP 20 | "USER alice\r\n" 12
    static let ethernetIPv4 = F.ethernet(type: 0x0800, ipv4TCP)
    // Eth 14 | IPv4 20+8 options | TCP 20+12 options | payload 12
    static let ethernetIPv4Options = F.ethernet(type: 0x0800, F.ipv4(options: F.ipv4Options,
        F.tcp(options: F.synOptions, payload: F.userCommand)))
    // Eth 14 | IPv6 40 | TCP 20 | payload 12
    static let ethernetIPv6 = F.ethernet(type: 0x86DD, ipv6TCP)
    // Eth 14 | IPv6 40 | HBH 8 | routing 16 | atomic fragment 8 | dest opts 8 | TCP 20 | payload 12
    static let ethernetIPv6Chain = F.ethernet(type: 0x86DD, F.ipv6(extensions: [
        .hopByHop(), .routing(units: 1), .fragment(offset: 0, more: false), .destinationOptions(),
    ], tcpUser))

    /// Every accepted sample: these and the tunnelled ones (TunnelSamples.swift).
    static let accepted: [Accepted] = plainAccepted + TunnelSamples.all.map(\.accepted)
    static let refused: [Refused] = plainRefused + TunnelSamples.refused

    static let plainAccepted: [Accepted] = [
        Accepted(name: "ethernet ipv4 tcp", link: .ethernet, frame: ethernetIPv4, expected: .v4(54, 66)),
        Accepted(name: "ethernet ipv4 options, tcp options", link: .ethernet, frame: ethernetIPv4Options,
                 expected: .v4(74, 86)),
        // Eth 14 | IPv4 20 | TCP 20 SYN | 6 bytes of padding to the 60-byte minimum
        {
            var expected = Expected.v4(54, 54)
            expected.flags = 0x02; expected.acknowledgment = 0; expected.payload = []
            return Accepted(name: "ethernet ipv4 SYN with padding trimmed", link: .ethernet,
                            frame: F.padded(F.ethernet(type: 0x0800, F.ipv4(tcpSYN))), expected: expected)
        }(),
        // Eth 14 | IPv4 20 | TCP 20 | payload 12 | FCS 4 kept by the capture
        Accepted(name: "ethernet ipv4 with trailing FCS trimmed", link: .ethernet,
                 frame: ethernetIPv4 + [0xDE, 0xAD, 0xBE, 0xEF], expected: .v4(54, 66)),
        // Eth 14 | 802.1Q 4 (id 100) | IPv4 20 | TCP 20 | payload 12
        Accepted(name: "802.1Q", link: .ethernet,
                 frame: F.ethernet(type: 0x0800, tags: [(0x8100, 100)], ipv4TCP), expected: .v4(58, 70, vlans: [100])),
        // Eth 14 | 802.1ad 4 (id 200) | 802.1Q 4 (PCP 7, id 10) | IPv4 20 | TCP 20 | payload 12
        // Eth 14 | 802.1ad 4 | 802.1Q 4 | 0x9100 4 | IPv4 20 | TCP 20 | payload 12: the outer two ids kept
        Accepted(name: "three VLAN tags", link: .ethernet,
                 frame: F.ethernet(type: 0x0800, tags: [(0x88A8, 1), (0x8100, 2), (0x9100, 3)], ipv4TCP),
                 expected: .v4(66, 78, vlans: [1, 2])),
        // Eth 14 | 802.1Q VID 0 (priority tag) 4 | IPv4 20 | TCP 20 | payload 12
        Accepted(name: "priority tag", link: .ethernet,
                 frame: F.ethernet(type: 0x0800, tags: [(0x8100, 0)], ipv4TCP), expected: .v4(58, 70, vlans: [0])),
        Accepted(name: "QinQ", link: .ethernet,
                 frame: F.ethernet(type: 0x0800, tags: [(0x88A8, 200), (0x8100, 0xE00A)], ipv4TCP),
                 expected: .v4(62, 74, vlans: [200, 10])),
        // Eth 14 | 0x9100 tag 4 (DEI set, id 4095) | IPv6 40 | TCP 20 | payload 12
        Accepted(name: "old QinQ TPID 0x9100", link: .ethernet,
                 frame: F.ethernet(type: 0x86DD, tags: [(0x9100, 0x1FFF)], ipv6TCP),
                 expected: .v6(78, 90, vlans: [4095])),
        Accepted(name: "ethernet ipv6 tcp", link: .ethernet, frame: ethernetIPv6, expected: .v6(74, 86)),
        Accepted(name: "ipv6 hop-by-hop, routing, atomic fragment, dest options", link: .ethernet,
                 frame: ethernetIPv6Chain, expected: .v6(114, 126)),
        // Eth 14 | IPv6 40 | HBH 8 | 7 x dest opts 8 | TCP 20 | payload 12
        Accepted(name: "ipv6 eight extension headers", link: .ethernet,
                 frame: F.ethernet(type: 0x86DD, F.ipv6(extensions: [.hopByHop()]
                     + Array(repeating: .destinationOptions(), count: 7), tcpUser)),
                 expected: .v6(138, 150)),
        // Eth 14 | IPv6 40 | AH 24 | TCP 20 | payload 12
        Accepted(name: "ipv6 authentication header", link: .ethernet,
                 frame: F.ethernet(type: 0x86DD, F.ipv6(extensions: [.authentication(words: 4)], tcpUser)),
                 expected: .v6(98, 110)),
        // Eth 14 | IPv6 40 | mobility 8 | HIP 8 | shim6 16 | TCP 20 | payload 12
        Accepted(name: "ipv6 mobility, HIP, shim6", link: .ethernet,
                 frame: F.ethernet(type: 0x86DD, F.ipv6(extensions: [
                     .generic(135), .generic(139), .generic(140, units: 1)], tcpUser)),
                 expected: .v6(106, 118)),
        // Eth 14 | IPv6 40 | TCP 20 | payload 12 | 10 bytes of trailer
        Accepted(name: "ipv6 trailer trimmed", link: .ethernet,
                 frame: F.padded(ethernetIPv6, to: 96), expected: .v6(74, 86)),
        // SLL 16 | IPv4 20 | TCP 20 | payload 12
        Accepted(name: "linux sll ipv4", link: .linuxSLL,
                 frame: F.sll(protocol: 0x0800, ipv4TCP), expected: .v4(56, 68)),
        // SLL 16 | 802.1Q 4 (id 7) | IPv6 40 | TCP 20 | payload 12
        Accepted(name: "linux sll 802.1Q ipv6", link: .linuxSLL,
                 frame: F.sll(protocol: 0x8100, F.be16(7) + F.be16(0x86DD) + ipv6TCP),
                 expected: .v6(80, 92, vlans: [7])),
        // SLL2 20 | IPv6 40 | TCP 20 | payload 12
        Accepted(name: "linux sll2 ipv6", link: .linuxSLL2,
                 frame: F.sll2(protocol: 0x86DD, ipv6TCP), expected: .v6(80, 92)),
        // SLL2 20 | IPv4 20 | TCP 20 | payload 12
        Accepted(name: "linux sll2 ipv4", link: .linuxSLL2,
                 frame: F.sll2(protocol: 0x0800, ipv4TCP), expected: .v4(60, 72)),
        // NULL 4 | IPv4 20 | TCP 20 | payload 12
        Accepted(name: "null little-endian AF_INET", link: .null,
                 frame: F.null(family: 2, littleEndian: true, ipv4TCP), expected: .v4(44, 56)),
        Accepted(name: "null big-endian AF_INET", link: .null,
                 frame: F.null(family: 2, littleEndian: false, ipv4TCP), expected: .v4(44, 56)),
        // NULL 4 | IPv6 40 | TCP 20 | payload 12
        Accepted(name: "null little-endian 24 (NetBSD AF_INET6)", link: .null,
                 frame: F.null(family: 24, littleEndian: true, ipv6TCP), expected: .v6(64, 76)),
        Accepted(name: "null little-endian 28 (FreeBSD AF_INET6)", link: .null,
                 frame: F.null(family: 28, littleEndian: true, ipv6TCP), expected: .v6(64, 76)),
        Accepted(name: "null big-endian 30 (Darwin AF_INET6)", link: .null,
                 frame: F.null(family: 30, littleEndian: false, ipv6TCP), expected: .v6(64, 76)),
        Accepted(name: "loop AF_INET", link: .loop, frame: F.loop(family: 2, ipv4TCP), expected: .v4(44, 56)),
        Accepted(name: "loop 24 (OpenBSD AF_INET6)", link: .loop,
                 frame: F.loop(family: 24, ipv6TCP), expected: .v6(64, 76)),
        // IPv4 20 | TCP 20 | payload 12
        Accepted(name: "raw ipv4", link: .raw, frame: ipv4TCP, expected: .v4(40, 52)),
        // IPv6 40 | TCP 20 | payload 12
        Accepted(name: "raw ipv6", link: .raw, frame: ipv6TCP, expected: .v6(60, 72)),
        Accepted(name: "DLT_IPV4", link: .ipv4, frame: ipv4TCP, expected: .v4(40, 52)),
        Accepted(name: "DLT_IPV6", link: .ipv6, frame: ipv6TCP, expected: .v6(60, 72)),
        // IPv4 20 | TCP 20, every flag, extreme numbers | payload 3
        {
            var expected = Expected.v4(40, 43)
            expected.sourcePort = 993; expected.destinationPort = 65535
            expected.sequence = 0xFFFF_FFFF; expected.acknowledgment = 0
            expected.flags = 0xFF; expected.window = 0; expected.payload = [0, 0xFF, 0x0A]
            return Accepted(name: "raw ipv4, all flags and extreme fields", link: .raw,
                            frame: F.ipv4(F.tcp(sourcePort: 993, destinationPort: 65535, sequence: 0xFFFF_FFFF,
                                                acknowledgment: 0, flags: 0xFF, window: 0, payload: [0, 0xFF, 0x0A])),
                            expected: expected)
        }(),
    ]

    static let plainRefused: [Refused] = [
        // Link
        Refused(name: "ethernet header cut", link: .ethernet, frame: Array(ethernetIPv4.prefix(13)),
                verdict: .failed(.truncated(.link))),
        Refused(name: "ARP", link: .ethernet, frame: F.ethernet(type: 0x0806, [UInt8](repeating: 1, count: 28)),
                verdict: .skipped(.notIP)),
        Refused(name: "802.3 length field", link: .ethernet,
                frame: F.ethernet(type: 0x002E, [0xAA, 0xAA, 0x03] + ipv4TCP), verdict: .skipped(.notIP)),
        Refused(name: "802.1Q then ARP", link: .ethernet,
                frame: F.ethernet(type: 0x0806, tags: [(0x8100, 5)], [UInt8](repeating: 1, count: 28)),
                verdict: .skipped(.notIP)),
        // Eth 14 | nine tags: one more than VLANTags.maxTags
        Refused(name: "nine VLAN tags", link: .ethernet,
                frame: F.ethernet(type: 0x0800, tags: (1...9).map { (UInt16(0x8100), UInt16($0)) }, ipv4TCP),
                verdict: .failed(.invalid(.vlan))),
        Refused(name: "VLAN tag cut", link: .ethernet,
                frame: Array(F.ethernet(type: 0x0800, tags: [(0x8100, 100)], ipv4TCP).prefix(16)),
                verdict: .failed(.truncated(.vlan))),
        Refused(name: "sll header cut", link: .linuxSLL, frame: Array(F.sll(protocol: 0x0800, ipv4TCP).prefix(15)),
                verdict: .failed(.truncated(.link))),
        Refused(name: "sll 802.2 LLC", link: .linuxSLL, frame: F.sll(protocol: 0x0004, [0x42, 0x42, 0x03]),
                verdict: .skipped(.notIP)),
        Refused(name: "sll2 header cut", link: .linuxSLL2, frame: Array(F.sll2(protocol: 0x0800, ipv4TCP).prefix(19)),
                verdict: .failed(.truncated(.link))),
        Refused(name: "null header cut", link: .null, frame: [2, 0, 0], verdict: .failed(.truncated(.link))),
        Refused(name: "null unknown family", link: .null, frame: F.null(family: 7, littleEndian: true, ipv4TCP),
                verdict: .skipped(.notIP)),
        // LOOP is network order by definition, so a little-endian 2 is some other family.
        Refused(name: "loop little-endian family", link: .loop, frame: F.null(family: 2, littleEndian: true, ipv4TCP),
                verdict: .skipped(.notIP)),
        Refused(name: "loop Linux AF_INET6 10", link: .loop, frame: F.loop(family: 10, ipv6TCP),
                verdict: .skipped(.notIP)),
        Refused(name: "raw empty", link: .raw, frame: [], verdict: .failed(.truncated(.link))),
        Refused(name: "raw version 5", link: .raw, frame: F.ipv4(version: 5, tcpUser), verdict: .failed(.invalid(.link))),
        Refused(name: "DLT_IPV4 carrying ipv6", link: .ipv4, frame: ipv6TCP, verdict: .failed(.invalid(.link))),
        Refused(name: "DLT_IPV6 carrying ipv4", link: .ipv6, frame: ipv4TCP, verdict: .failed(.invalid(.link))),

        // IPv4
        Refused(name: "ipv4 header cut", link: .raw, frame: Array(ipv4TCP.prefix(19)),
                verdict: .failed(.truncated(.ipv4))),
        Refused(name: "ethertype ipv4, version 6", link: .ethernet, frame: F.ethernet(type: 0x0800, ipv6TCP),
                verdict: .failed(.invalid(.ipv4))),
        Refused(name: "ipv4 IHL 4", link: .raw, frame: F.ipv4(headerWords: 4, tcpUser), verdict: .failed(.invalid(.ipv4))),
        Refused(name: "ipv4 total length 0", link: .raw, frame: F.ipv4(totalLength: 0, tcpUser),
                verdict: .failed(.invalid(.ipv4))),
        Refused(name: "ipv4 total length below header length", link: .raw,
                frame: F.ipv4(options: [1, 1, 1, 1], totalLength: 22, tcpUser), verdict: .failed(.invalid(.ipv4))),
        // IPv4 header of 60 claimed, 30 bytes captured
        Refused(name: "ipv4 options cut", link: .raw,
                frame: Array(F.ipv4(headerWords: 15, totalLength: 100, tcpUser).prefix(30)),
                verdict: .failed(.truncated(.ipv4))),
        // Eth 14 | IPv4 20 | TCP 20 | 6 of 12 payload bytes
        Refused(name: "ipv4 payload cut by snaplen", link: .ethernet, frame: Array(ethernetIPv4.prefix(60)),
                verdict: .failed(.truncated(.ipv4))),
        Refused(name: "ipv4 more fragments", link: .raw, frame: F.ipv4(flagsAndOffset: 0x2000, tcpUser),
                verdict: .fragment),
        Refused(name: "ipv4 fragment offset", link: .raw, frame: F.ipv4(flagsAndOffset: 185, tcpUser),
                verdict: .fragment),
        Refused(name: "ipv4 UDP", link: .raw, frame: F.ipv4(protocol: 17, [0, 53, 0, 53, 0, 8, 0, 0]),
                verdict: .skipped(.notTCP)),
        Refused(name: "ipv4 ICMP", link: .ethernet, frame: F.ethernet(type: 0x0800, F.ipv4(protocol: 1, [8, 0, 0, 0])),
                verdict: .skipped(.notTCP)),
        // A snaplen cut in a datagram we would ignore anyway is not counted as an error.
        Refused(name: "ipv4 UDP cut by snaplen", link: .raw,
                frame: Array(F.ipv4(protocol: 17, [UInt8](repeating: 0, count: 100)).prefix(40)),
                verdict: .skipped(.notTCP)),

        // IPv6
        Refused(name: "ipv6 header cut", link: .raw, frame: Array(ipv6TCP.prefix(39)), verdict: .failed(.truncated(.ipv6))),
        Refused(name: "ethertype ipv6, version 4", link: .ethernet, frame: F.ethernet(type: 0x86DD, F.ipv6(version: 4, tcpUser)),
                verdict: .failed(.invalid(.ipv6))),
        Refused(name: "ipv6 jumbogram", link: .raw, frame: F.ipv6(payloadLength: 0, tcpUser), verdict: .failed(.invalid(.ipv6))),
        // Eth 14 | IPv6 40 | TCP 20 | 6 of 12 payload bytes
        Refused(name: "ipv6 payload cut by snaplen", link: .ethernet, frame: Array(ethernetIPv6.prefix(80)),
                verdict: .failed(.truncated(.ipv6))),
        // IPv6 40 | HBH 8 | 8 x dest opts 8 | TCP
        Refused(name: "ipv6 nine extension headers", link: .raw,
                frame: F.ipv6(extensions: [.hopByHop()] + Array(repeating: .destinationOptions(), count: 8), tcpUser),
                verdict: .failed(.invalid(.ipv6))),
        Refused(name: "ipv6 hop-by-hop not first", link: .raw,
                frame: F.ipv6(extensions: [.destinationOptions(), .hopByHop()], tcpUser), verdict: .failed(.invalid(.ipv6))),
        Refused(name: "ipv6 fragment offset", link: .raw,
                frame: F.ipv6(extensions: [.fragment(offset: 100, more: false)], tcpUser), verdict: .fragment),
        Refused(name: "ipv6 first fragment", link: .raw,
                frame: F.ipv6(extensions: [.hopByHop(), .fragment(offset: 0, more: true)], tcpUser),
                verdict: .fragment),
        Refused(name: "ipv6 ESP", link: .raw, frame: F.ipv6(next: 50, [UInt8](repeating: 0x77, count: 32)),
                verdict: .skipped(.notTCP)),
        Refused(name: "ipv6 no next header", link: .raw,
                frame: F.ipv6(extensions: [.destinationOptions()], next: 59, [0, 0, 0, 0]), verdict: .skipped(.notTCP)),
        Refused(name: "ipv6 UDP", link: .raw, frame: F.ipv6(next: 17, [0, 53, 0, 53, 0, 8, 0, 0]),
                verdict: .skipped(.notTCP)),
        Refused(name: "ipv6 ICMPv6 after routing", link: .raw,
                frame: F.ipv6(extensions: [.routing()], next: 58, [128, 0, 0, 0]), verdict: .skipped(.notTCP)),
        // IPv6 says 16 bytes of payload; the destination options header claims 40.
        Refused(name: "ipv6 extension header beyond payload length", link: .raw,
                frame: F.ipv6(extensions: [.destinationOptions(units: 4)], payloadLength: 16, tcpUser),
                verdict: .failed(.invalid(.ipv6))),
        // Eth 14 | IPv6 40 | HBH 8 | 2 of 16 routing bytes
        Refused(name: "ipv6 extension header cut by snaplen", link: .ethernet,
                frame: Array(ethernetIPv6Chain.prefix(64)), verdict: .failed(.truncated(.ipv6))),
        // IPv6 40 | 5 of 8 fragment header bytes
        Refused(name: "ipv6 fragment header cut", link: .raw,
                frame: Array(F.ipv6(extensions: [.fragment()], tcpUser).prefix(45)), verdict: .failed(.truncated(.ipv6))),

        // TCP
        Refused(name: "tcp data offset 4", link: .raw, frame: F.ipv4(F.tcp(dataOffset: 4, payload: F.userCommand)),
                verdict: .failed(.invalid(.tcp))),
        Refused(name: "tcp data offset 0", link: .raw, frame: F.ipv6(F.tcp(dataOffset: 0)),
                verdict: .failed(.invalid(.tcp))),
        // Eth 14 | IPv4 20 | 10 of 20 TCP bytes
        Refused(name: "tcp header cut", link: .ethernet, frame: Array(ethernetIPv4.prefix(44)),
                verdict: .failed(.truncated(.tcp))),
        // Eth 14 | IPv4 28 | 25 of 32 TCP bytes
        Refused(name: "tcp options cut", link: .ethernet, frame: Array(ethernetIPv4Options.prefix(67)),
                verdict: .failed(.truncated(.tcp))),
        // IPv4 total length 32 leaves 12 bytes for a 20-byte TCP header.
        Refused(name: "tcp header beyond ipv4 total length", link: .raw, frame: F.ipv4(totalLength: 32, tcpUser),
                verdict: .failed(.invalid(.tcp))),
        // Data offset 15 (60 bytes) in a 32-byte IPv4 payload
        Refused(name: "tcp options beyond ipv4 total length", link: .raw,
                frame: F.ipv4(F.tcp(dataOffset: 15, payload: F.userCommand)), verdict: .failed(.invalid(.tcp))),
        Refused(name: "tcp header beyond ipv6 payload length", link: .raw, frame: F.ipv6(payloadLength: 10, tcpUser),
                verdict: .failed(.invalid(.tcp))),
    ]

    static let all: [Sample] = accepted.map { Sample(name: $0.name, link: $0.link, frame: $0.frame) }
        + refused.map { Sample(name: $0.name, link: $0.link, frame: $0.frame) }
}
