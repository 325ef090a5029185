import Foundation
import Testing
@testable import Wire

// 802.11 and radiotap frames of an open network: offsets are worked out by hand from the layer
// sizes in each comment, as in Samples.swift.

extension Frame {
    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }

    /// Radiotap version 0: the present words, then `fields` as the caller laid them out (with
    /// their alignment padding), the length computed.
    static func radiotap(present: [UInt32], fields: [UInt8]) -> [UInt8] {
        let body = present.flatMap { le32($0) } + fields
        return [0, 0] + le16(UInt16(4 + body.count)) + body
    }

    /// Radiotap without TSFT: Flags, Rate, Channel (2412 MHz, 2-aligned), antenna signal: 15 bytes.
    static func radiotapShort(flags: UInt8) -> [UInt8] {
        radiotap(present: [0x0000_002E], fields: [flags, 0x02] + le16(2412) + le16(0x00A0) + [0xC4])
    }

    /// Radiotap with TSFT, Flags, Rate, Channel, antenna signal: TSFT at 8, Flags at 16; 23 bytes.
    static func radiotapTSFT(flags: UInt8) -> [UInt8] {
        radiotap(present: [0x0000_002F], fields: [1, 2, 3, 4, 5, 6, 7, 8] + [flags, 0x6C]
            + le16(5180) + le16(0x0140) + [0xB5])
    }

    static let bssid: [UInt8] = [0x02, 0, 0, 0, 0, 0xAA]
    static let station: [UInt8] = [0x02, 0, 0, 0, 0, 0x5A]

    /// An 802.11 MAC header. `flags` is Frame Control's second byte (0x01 ToDS, 0x02 FromDS,
    /// 0x04 More Fragments, 0x40 Protected, 0x80 Order). QoS subtypes (8 to 15) get QoS Control,
    /// and HT Control when Order is set.
    static func wifi(type: UInt8 = 2, subtype: UInt8 = 0, flags: UInt8 = 0, version: UInt8 = 0,
                     sequence: UInt16 = 0x4D20, qosControl: UInt16 = 0x0005) -> [UInt8] {
        var header = [subtype << 4 | type << 2 | version, flags, 0x2C, 0x00]
        header += bssid + station + bssid + le16(sequence)
        if flags & 0x03 == 0x03 { header += station }
        if type == 2 && subtype & 0x08 != 0 {
            header += le16(qosControl)
            if flags & 0x80 != 0 { header += [0x0C, 0x00, 0x00, 0xC0] }
        }
        return header
    }

    static func snap(_ type: UInt16, oui: [UInt8] = [0, 0, 0]) -> [UInt8] { [0xAA, 0xAA, 0x03] + oui + be16(type) }

    static let fcs: [UInt8] = [0x1E, 0x2D, 0x3C, 0x4B]
}

/// A frame that must decode; `complete` is the shortest prefix that does (a frame with an FCS
/// needs all of it, since the last 4 bytes captured are taken as the FCS).
struct WifiAccepted: Sendable, CustomTestStringConvertible {
    var name: String
    var link: LinkType
    var frame: [UInt8]
    var expected: Expected
    var complete: Int
    var testDescription: String { name }

    init(_ name: String, _ link: LinkType, _ frame: [UInt8], _ expected: Expected, fcs: Bool = false) {
        self.name = name; self.link = link; self.frame = frame; self.expected = expected
        complete = fcs ? frame.count : expected.payloadEnd
    }
}

enum WifiSamples {
    typealias F = Frame

    static let v4 = Samples.ipv4TCP           // 20 + 20 + 12
    static let v6 = Samples.ipv6TCP           // 40 + 20 + 12
    static let snapV4 = F.snap(0x0800) + v4
    static let snapV6 = F.snap(0x86DD) + v6

    static let accepted: [WifiAccepted] = [
        // 802.11 24 | SNAP 8 | IPv4 20 | TCP 20 | payload 12
        WifiAccepted("data ToDS (station to AP)", .ieee80211, F.wifi(flags: 0x01) + snapV4, .v4(72, 84)),
        WifiAccepted("data FromDS (AP to station)", .ieee80211, F.wifi(flags: 0x02) + snapV4, .v4(72, 84)),
        WifiAccepted("data no DS bits (ad hoc)", .ieee80211, F.wifi(flags: 0x00) + snapV4, .v4(72, 84)),
        // 802.11 30 (4 addresses) | SNAP 8 | IPv4 40 | payload 12
        WifiAccepted("data ToDS+FromDS (WDS, 4 addresses)", .ieee80211, F.wifi(flags: 0x03) + snapV4, .v4(78, 90)),
        // Order set on a non-QoS data frame adds no HT Control: 24 | 8 | 40 | 12
        WifiAccepted("data with Order, no HT Control", .ieee80211, F.wifi(flags: 0x81) + snapV4, .v4(72, 84)),
        // 802.11 24 + QoS 2 | SNAP 8 | IPv4 40 | payload 12
        WifiAccepted("QoS data FromDS", .ieee80211, F.wifi(subtype: 8, flags: 0x02) + snapV4, .v4(74, 86)),
        // 802.11 24 + QoS 2 + HTC 4 | SNAP 8 | IPv4 40 | payload 12
        WifiAccepted("QoS data +HTC", .ieee80211, F.wifi(subtype: 8, flags: 0x82) + snapV4, .v4(78, 90)),
        // 802.11 30 + QoS 2 + HTC 4 | SNAP 8 | IPv4 40 | payload 12
        WifiAccepted("QoS data 4 addresses +HTC", .ieee80211, F.wifi(subtype: 8, flags: 0x83) + snapV4, .v4(84, 96)),
        // 802.11 26 | SNAP 8 | IPv6 40 | TCP 20 | payload 12
        WifiAccepted("QoS data ipv6", .ieee80211, F.wifi(subtype: 8, flags: 0x01) + snapV6, .v6(94, 106)),
        // 802.1H bridge tunnel OUI: 24 | 8 | 40 | 12
        WifiAccepted("bridge-tunnel SNAP", .ieee80211, F.wifi(flags: 0x01) + F.snap(0x0800, oui: [0, 0, 0xF8]) + v4,
                     .v4(72, 84)),
        // DLT 105 does not say whether an FCS follows: the IP length trims it. 24 | 8 | 40 | 12 | FCS 4
        WifiAccepted("bare 802.11 with an unannounced FCS", .ieee80211, F.wifi(flags: 0x02) + snapV4 + F.fcs,
                     .v4(72, 84)),

        // 802.11 24 | SNAP 8 (802.1Q) | tag 4 (id 100) | IPv4 40 | payload 12
        WifiAccepted("SNAP 802.1Q", .ieee80211, F.wifi(flags: 0x01) + F.snap(0x8100) + F.be16(100) + F.be16(0x0800) + v4,
                     .v4(76, 88, vlans: [100])),
        // Radiotap 15 (FCS) | 802.11 26 | SNAP 8 (802.1ad) | tag 4 (id 200) | tag 4 (id 10) | IPv6 40 |
        // TCP 20 | payload 12 | FCS 4
        WifiAccepted("radiotap FCS, SNAP QinQ, ipv6", .radiotap,
                     F.radiotapShort(flags: 0x10) + F.wifi(subtype: 8, flags: 0x02) + F.snap(0x88A8) + F.be16(200)
                        + F.be16(0x8100) + F.be16(10) + F.be16(0x86DD) + v6 + F.fcs,
                     .v6(117, 129, vlans: [200, 10]), fcs: true),
        // Radiotap 15 | 802.11 26 | SNAP 8 | IPv4 40 | payload 12
        WifiAccepted("radiotap without TSFT, QoS FromDS", .radiotap,
                     F.radiotapShort(flags: 0) + F.wifi(subtype: 8, flags: 0x02) + snapV4, .v4(89, 101)),
        // Radiotap 23 (TSFT, Flags at 16) | 802.11 24 | SNAP 8 | IPv4 40 | payload 12
        WifiAccepted("radiotap with TSFT, data ToDS", .radiotap,
                     F.radiotapTSFT(flags: 0) + F.wifi(flags: 0x01) + snapV4, .v4(95, 107)),
        // Radiotap: 2 present words (to 12), TSFT aligned to 16..24, Flags 24, signal 25: 26 |
        // 802.11 26 | SNAP 8 | IPv4 40 | payload 12
        WifiAccepted("radiotap 2 present words, TSFT realigned", .radiotap,
                     F.radiotap(present: [0xA000_0003, 0x0000_0020],
                                fields: [0, 0, 0, 0] + [1, 2, 3, 4, 5, 6, 7, 8] + [0x00, 0xB0])
                        + F.wifi(subtype: 8, flags: 0x02) + snapV4, .v4(100, 112)),
        // Radiotap: 3 present words (iwlwifi-like, to 16), TSFT 16..24, Flags 24, 4 more: 29 |
        // 802.11 26 | SNAP 8 | IPv6 40 | TCP 20 | payload 12
        WifiAccepted("radiotap 3 present words, ipv6", .radiotap,
                     F.radiotap(present: [0xA000_0003, 0xA000_0820, 0x0000_0820],
                                fields: [1, 2, 3, 4, 5, 6, 7, 8] + [0x00, 0xB0, 0x00, 0xB2, 0x01])
                        + F.wifi(subtype: 8, flags: 0x01) + snapV6, .v6(123, 135)),
        // Radiotap 15 (FCS at end) | 802.11 26 | SNAP 8 | IPv4 40 | payload 12 | FCS 4
        WifiAccepted("radiotap FCS at end", .radiotap,
                     F.radiotapShort(flags: 0x10) + F.wifi(subtype: 8, flags: 0x02) + snapV4 + F.fcs,
                     .v4(89, 101), fcs: true),
        // Radiotap 15 (data pad) | 802.11 26 + 2 pad | SNAP 8 | IPv4 40 | payload 12
        WifiAccepted("radiotap data pad, QoS", .radiotap,
                     F.radiotapShort(flags: 0x20) + F.wifi(subtype: 8, flags: 0x02) + [0, 0] + snapV4, .v4(91, 103)),
        // Data pad on a 24-byte header pads nothing: 15 | 24 | 8 | 40 | 12
        WifiAccepted("radiotap data pad, aligned header", .radiotap,
                     F.radiotapShort(flags: 0x20) + F.wifi(flags: 0x01) + snapV4, .v4(87, 99)),
        // Radiotap 23 (TSFT, FCS, pad) | 802.11 30 + 2 pad | SNAP 8 | IPv6 40 | TCP 20 | payload 12 | FCS 4
        WifiAccepted("radiotap TSFT, FCS and pad, 4 addresses, ipv6", .radiotap,
                     F.radiotapTSFT(flags: 0x30) + F.wifi(flags: 0x03) + [0, 0] + snapV6 + F.fcs,
                     .v6(123, 135), fcs: true),
        // Radiotap 23 (FCS) | 802.11 36 (QoS 4 addresses +HTC) | SNAP 8 | IPv4 40 | payload 12 | FCS 4
        WifiAccepted("radiotap FCS, QoS 4 addresses +HTC", .radiotap,
                     F.radiotapTSFT(flags: 0x10) + F.wifi(subtype: 8, flags: 0x83) + snapV4 + F.fcs,
                     .v4(107, 119), fcs: true),
        // Radiotap 8, no fields | 802.11 24 | SNAP 8 | IPv4 40 | payload 12
        WifiAccepted("radiotap without Flags", .radiotap,
                     F.radiotap(present: [0], fields: []) + F.wifi(flags: 0x02) + snapV4, .v4(80, 92)),
    ]

    static let rt = F.radiotapShort(flags: 0)
    static let rtFCS = F.radiotapShort(flags: 0x10)

    static let refused: [Refused] = [
        Refused(name: "management beacon", link: .radiotap,
                frame: rt + F.wifi(type: 0, subtype: 8) + [UInt8](repeating: 0x11, count: 40),
                verdict: .skipped(.wifiManagement)),
        // A beacon's fixed fields are not needed to skip it.
        Refused(name: "management frame, header cut", link: .ieee80211, frame: [0x80, 0x00, 0x00],
                verdict: .skipped(.wifiManagement)),
        Refused(name: "extension frame (S1G beacon)", link: .ieee80211, frame: F.wifi(type: 3, subtype: 1),
                verdict: .skipped(.wifiManagement)),
        // ACK: Frame Control, duration, receiver address (10 bytes)
        Refused(name: "control ACK", link: .radiotap, frame: rtFCS + [0xD4, 0x00, 0x00, 0x00] + F.bssid + F.fcs,
                verdict: .skipped(.wifiControl)),
        Refused(name: "null data", link: .ieee80211, frame: F.wifi(subtype: 4, flags: 0x11),
                verdict: .skipped(.wifiNoData)),
        Refused(name: "QoS null", link: .radiotap, frame: rt + F.wifi(subtype: 12, flags: 0x01),
                verdict: .skipped(.wifiNoData)),
        Refused(name: "protected data (CCMP)", link: .radiotap,
                frame: rt + F.wifi(subtype: 8, flags: 0x41) + [0x01, 0x00, 0x00, 0x20, 0, 0, 0, 0]
                    + [UInt8](repeating: 0x9C, count: 60),
                verdict: .skipped(.wifiProtected)),
        Refused(name: "radiotap bad FCS", link: .radiotap,
                frame: F.radiotapShort(flags: 0x50) + F.wifi(flags: 0x02) + snapV4 + F.fcs,
                verdict: .skipped(.wifiBadFCS)),
        Refused(name: "A-MSDU", link: .ieee80211,
                frame: F.wifi(subtype: 8, flags: 0x02, qosControl: 0x0085) + F.bssid + F.station + F.be16(60) + snapV4,
                verdict: .skipped(.wifiAMSDU)),
        Refused(name: "first fragment", link: .ieee80211, frame: F.wifi(flags: 0x05) + snapV4,
                verdict: .skipped(.wifiFragment)),
        Refused(name: "second fragment", link: .ieee80211, frame: F.wifi(flags: 0x01, sequence: 0x4D21) + v4,
                verdict: .skipped(.wifiFragment)),
        // Spanning tree: LLC 42 42 03
        Refused(name: "non-SNAP LLC", link: .ieee80211, frame: F.wifi(flags: 0x01) + [0x42, 0x42, 0x03, 0, 0, 0, 0, 0, 0],
                verdict: .skipped(.wifiNotSNAP)),
        Refused(name: "LLC XID, 3 bytes", link: .ieee80211, frame: F.wifi(flags: 0x01) + [0x00, 0x01, 0xAF],
                verdict: .skipped(.wifiNotSNAP)),
        Refused(name: "SNAP with a vendor OUI", link: .ieee80211,
                frame: F.wifi(flags: 0x01) + F.snap(0x0800, oui: [0x00, 0x00, 0x0C]) + v4,
                verdict: .skipped(.wifiNotSNAP)),
        Refused(name: "SNAP ARP", link: .ieee80211, frame: F.wifi(flags: 0x01) + F.snap(0x0806) + [UInt8](repeating: 1, count: 28),
                verdict: .skipped(.notIP)),
        Refused(name: "SNAP EAPOL", link: .radiotap, frame: rt + F.wifi(subtype: 8, flags: 0x02) + F.snap(0x888E) + [2, 3, 0, 95],
                verdict: .skipped(.notIP)),
        Refused(name: "SNAP three VLAN tags", link: .ieee80211,
                frame: F.wifi(flags: 0x01) + F.snap(0x8100) + F.be16(1) + F.be16(0x8100) + F.be16(2) + F.be16(0x8100)
                    + F.be16(3) + F.be16(0x0800) + v4,
                verdict: .failed(.invalid(.vlan))),
        // The tag would end in the FCS.
        Refused(name: "SNAP VLAN tag cut", link: .radiotap,
                frame: rtFCS + F.wifi(flags: 0x01) + F.snap(0x8100) + F.be16(1) + F.fcs,
                verdict: .failed(.truncated(.vlan))),
        Refused(name: "SNAP cut", link: .ieee80211, frame: F.wifi(flags: 0x01) + [0xAA, 0xAA, 0x03, 0],
                verdict: .failed(.truncated(.link))),
        Refused(name: "802.11 protocol version 1", link: .ieee80211, frame: F.wifi(version: 1) + snapV4,
                verdict: .failed(.invalid(.link))),
        Refused(name: "802.11 header cut", link: .ieee80211, frame: Array(F.wifi(subtype: 8, flags: 0x03).prefix(31)),
                verdict: .failed(.truncated(.link))),
        Refused(name: "bare 802.11 empty", link: .ieee80211, frame: [], verdict: .failed(.truncated(.link))),
        Refused(name: "radiotap version 1", link: .radiotap, frame: [1] + Array(rt.dropFirst()) + F.wifi(flags: 2) + snapV4,
                verdict: .failed(.invalid(.link))),
        Refused(name: "radiotap length 7", link: .radiotap, frame: [0, 0, 7, 0, 0, 0, 0, 0] + F.wifi(flags: 2) + snapV4,
                verdict: .failed(.invalid(.link))),
        Refused(name: "radiotap length beyond the frame", link: .radiotap, frame: [0, 0, 0xFF, 0x00, 0, 0, 0, 0, 0, 0],
                verdict: .failed(.truncated(.link))),
        Refused(name: "radiotap header cut", link: .radiotap, frame: [0, 0, 8, 0, 0], verdict: .failed(.truncated(.link))),
        // Flags announced, 8-byte header
        Refused(name: "radiotap Flags beyond its length", link: .radiotap,
                frame: [0, 0, 8, 0, 0x02, 0, 0, 0] + F.wifi(flags: 2) + snapV4, verdict: .failed(.invalid(.link))),
        // TSFT and Flags announced, 16-byte header: TSFT fills it
        Refused(name: "radiotap TSFT fills the header", link: .radiotap,
                frame: [0, 0, 16, 0, 0x03, 0, 0, 0] + [UInt8](repeating: 0, count: 8) + F.wifi(flags: 2) + snapV4,
                verdict: .failed(.invalid(.link))),
        // Bit 31 in every word, 12-byte header
        Refused(name: "radiotap present chain beyond its length", link: .radiotap,
                frame: [0, 0, 12, 0] + F.le32(0x8000_0000) + F.le32(0x8000_0000) + F.wifi(flags: 2) + snapV4,
                verdict: .failed(.invalid(.link))),
        Refused(name: "radiotap FCS but no room for it", link: .radiotap, frame: rtFCS + [0xD4, 0x00],
                verdict: .failed(.truncated(.link))),
        // The IPv4 total length claims the 4 FCS bytes as its own: a cut, not payload.
        Refused(name: "ipv4 length reaching into the FCS", link: .radiotap,
                frame: rtFCS + F.wifi(flags: 0x02) + F.snap(0x0800) + F.ipv4(totalLength: 56, Samples.tcpUser) + F.fcs,
                verdict: .failed(.truncated(.ipv4))),
        Refused(name: "ipv6 length reaching into the FCS", link: .radiotap,
                frame: rtFCS + F.wifi(flags: 0x02) + F.snap(0x86DD) + F.ipv6(payloadLength: 34, Samples.tcpUser) + F.fcs,
                verdict: .failed(.truncated(.ipv6))),
        // 19 bytes of IPv4 header, then the FCS
        Refused(name: "ipv4 header ending in the FCS", link: .radiotap,
                frame: rtFCS + F.wifi(flags: 0x02) + F.snap(0x0800) + Array(v4.prefix(19)) + F.fcs,
                verdict: .failed(.truncated(.ipv4))),
    ]

    static let all: [Sample] = accepted.map { Sample(name: $0.name, link: $0.link, frame: $0.frame) }
        + refused.map { Sample(name: $0.name, link: $0.link, frame: $0.frame) }
}

let tsharkPath = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first { FileManager.default.isExecutableFile(atPath: $0) }

@Suite struct IEEE80211Tests {
    @Test func linkTypesFromDLT() {
        #expect(LinkType(dlt: 105) == .ieee80211)
        #expect(LinkType(dlt: 127) == .radiotap)
    }

    @Test(arguments: WifiSamples.accepted)
    func acceptedFrameDecodes(_ sample: WifiAccepted) {
        let decoded = decode(sample.frame, link: sample.link)
        guard case .tcp(let packet) = decoded else {
            Issue.record("expected a TCP segment, got \(decoded)")
            return
        }
        expectMatches(packet, sample.expected, frame: sample.frame)
    }

    @Test(arguments: WifiSamples.refused)
    func refusedFrameIsSkippedOrRejected(_ sample: Refused) {
        #expect(decode(sample.frame, link: sample.link).verdict == sample.verdict)
    }

    /// The result hands on where the frame's payload ends: before the FCS radiotap announces,
    /// at the capture's end otherwise.
    @Test func frameEndLeavesTheFCSOut() throws {
        let frame = Frame.radiotapShort(flags: 0x10) + Frame.wifi(flags: 0x02) + WifiSamples.snapV4 + Frame.fcs
        #expect(try IEEE80211.decode(frame.span, radiotap: true)
            == .network(offset: 15 + 24 + 8, etherType: 0x0800, end: frame.count - 4))
        let bare = Frame.wifi(flags: 0x02) + WifiSamples.snapV4 + Frame.fcs
        #expect(try IEEE80211.decode(bare.span, radiotap: false)
            == .network(offset: 24 + 8, etherType: 0x0800, end: bare.count))
    }

    /// A cut anywhere before the frame is complete is a truncation, never a misparse.
    @Test(arguments: WifiSamples.accepted)
    func everyPrefixIsTruncatedUntilTheFrameIsComplete(_ sample: WifiAccepted) {
        for length in 0...sample.frame.count {
            let decoded = decode(Array(sample.frame.prefix(length)), link: sample.link)
            if length < sample.complete {
                guard case .failed(.truncated) = decoded else {
                    Issue.record("prefix \(length): expected truncated, got \(decoded)")
                    continue
                }
            } else {
                guard case .tcp(let packet) = decoded else {
                    Issue.record("prefix \(length): expected a TCP segment, got \(decoded)")
                    continue
                }
                expectMatches(packet, sample.expected, frame: sample.frame)
            }
        }
    }

    @Test(arguments: WifiSamples.all)
    func everyPrefixDecodesWithoutTrapping(_ sample: Sample) {
        for length in 0...sample.frame.count {
            expectSane(decode(Array(sample.frame.prefix(length)), link: sample.link), frameCount: length)
        }
    }

    @Test(arguments: WifiSamples.all)
    func byteFlipsDecodeWithoutTrapping(_ sample: Sample) {
        var random = XorShift64(state: 0x9E37_79B9_7F4A_7C15)
        var accepted = 0, refused = 0
        for _ in 0..<3000 {
            var mutant = sample.frame
            if !mutant.isEmpty {
                for _ in 0...random.below(3) {
                    mutant[random.below(mutant.count)] ^= UInt8(truncatingIfNeeded: random.below(255) + 1)
                }
            }
            if random.below(4) == 0 { mutant.removeLast(random.below(mutant.count + 1)) }
            let decoded = decode(mutant, link: sample.link)
            expectSane(decoded, frameCount: mutant.count)
            if case .tcp = decoded { accepted += 1 } else { refused += 1 }
        }
        #expect(refused > 0)
        if WifiSamples.accepted.contains(where: { $0.name == sample.name }) { #expect(accepted > 0) }
    }

    /// Every other link type's samples read as 802.11 and radiotap, and these read as every
    /// other link type.
    @Test func foreignFramesDecodeWithoutTrapping() {
        var random = XorShift64(state: 0xD1B5_4A32_D192_ED03)
        let links: [LinkType] = [.ethernet, .null, .loop, .raw, .ipv4, .ipv6, .linuxSLL, .linuxSLL2, .ieee80211, .radiotap]
        for link in links {
            for sample in Samples.all + WifiSamples.all {
                for _ in 0..<50 {
                    var mutant = sample.frame
                    if !mutant.isEmpty { mutant[random.below(mutant.count)] ^= UInt8(truncatingIfNeeded: random.next() | 1) }
                    expectSane(decode(mutant, link: link), frameCount: mutant.count)
                }
            }
        }
    }

    /// The batch decoder's loop for other link types gives what decoding each frame alone does.
    @Test func batchMatchesSingleFrames() {
        for link in [LinkType.ieee80211, .radiotap] {
            let frames = WifiSamples.all.filter { $0.link == link }.map(\.frame)
            expectBatchMatches(frames, link: link, ports: nil)
            expectBatchMatches(frames, link: link, ports: PortSet([110]))
        }
    }

    /// tshark's dissection of the radiotap samples agrees with ours: the same TCP segments, with
    /// the same addresses and ports, and no TCP where we skip.
    @Test(.enabled(if: tsharkPath != nil, "tshark is not installed (/usr/bin, /usr/local/bin): not compared"))
    func tsharkAgrees() throws {
        let tshark = try #require(tsharkPath)
        // Skipped frames tshark dissects the same way; not A-MSDU (it reads the subframes) or a bad
        // FCS (it dissects the frame anyway).
        let skips: [Verdict] = [.skipped(.wifiManagement), .skipped(.wifiControl), .skipped(.wifiNoData),
                                .skipped(.wifiProtected)]
        let samples = WifiSamples.accepted.filter { $0.link == .radiotap }.map(\.frame)
            + WifiSamples.refused.filter { $0.link == .radiotap && skips.contains($0.verdict) }.map(\.frame)
        var file = Frame.le32(0xA1B2_C3D4) + Frame.le16(2) + Frame.le16(4) + Frame.le32(0) + Frame.le32(0)
            + Frame.le32(262_144) + Frame.le32(127)
        for (i, frame) in samples.enumerated() {
            file += Frame.le32(1_700_000_000 + UInt32(i)) + Frame.le32(0)
                + Frame.le32(UInt32(frame.count)) + Frame.le32(UInt32(frame.count)) + frame
        }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("plainsight-wifi-\(ProcessInfo.processInfo.processIdentifier).pcap")
        try Data(file).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: tshark)
        process.arguments = ["-r", url.path, "-T", "fields", "-E", "separator=/t",
                             "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "tshark exited \(process.terminationStatus)")
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        try #require(lines.count >= samples.count, "tshark printed \(lines.count) lines for \(samples.count) frames")

        for (i, frame) in samples.enumerated() {
            let theirs = lines[i].split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let mine: [String]
            if case .tcp(let p) = decode(frame, link: .radiotap) {
                mine = [p.source.isIPv6 ? "" : "\(p.source)", p.source.isIPv6 ? "\(p.source)" : "",
                        "\(p.sourcePort)", "\(p.destinationPort)", "\(p.payloadLength)"]
            } else {
                mine = ["", "", "", "", ""]
            }
            #expect(theirs == mine, "frame \(i + 1)")
        }
    }
}
