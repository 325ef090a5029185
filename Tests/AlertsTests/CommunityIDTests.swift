@testable import Alerts
import Foundation
import Testing
import Wire

// Community ID v1 against the specification's published baseline
// (corelight/community-id-spec, baseline/baseline_deflt.json and baseline_seed1.json).

private func v4(_ text: String) -> IPAddress {
    let parts = text.split(separator: ".").compactMap { UInt32($0) }
    return IPAddress(ipv4: parts.reduce(0) { $0 << 8 | $1 })
}

/// Parses a full or `::`-compressed IPv6 address.
private func v6(_ text: String) -> IPAddress {
    let halves = text.components(separatedBy: "::")
    let head = halves[0].isEmpty ? [] : halves[0].split(separator: ":").compactMap { UInt16($0, radix: 16) }
    let tail = halves.count > 1 && !halves[1].isEmpty ? halves[1].split(separator: ":").compactMap { UInt16($0, radix: 16) } : []
    let groups = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
    let high = groups[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
    let low = groups[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
    return IPAddress(ipv6High: high, low: low)
}

private struct Vector: Sendable, CustomTestStringConvertible {
    var proto: UInt8, source: String, destination: String, sourcePort: UInt16, destinationPort: UInt16
    var seed: UInt16, expected: String
    var testDescription: String { "\(source):\(sourcePort) -> \(destination):\(destinationPort) proto \(proto) seed \(seed)" }
    var address: (IPAddress, IPAddress) {
        source.contains(":") ? (v6(source), v6(destination)) : (v4(source), v4(destination))
    }
}

private let vectors: [Vector] = [
    // TCP over IPv4, both directions.
    Vector(proto: 6, source: "128.232.110.120", destination: "66.35.250.204", sourcePort: 34855, destinationPort: 80,
           seed: 0, expected: "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    Vector(proto: 6, source: "66.35.250.204", destination: "128.232.110.120", sourcePort: 80, destinationPort: 34855,
           seed: 0, expected: "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    Vector(proto: 6, source: "128.232.110.120", destination: "66.35.250.204", sourcePort: 34855, destinationPort: 80,
           seed: 1, expected: "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
    Vector(proto: 6, source: "66.35.250.204", destination: "128.232.110.120", sourcePort: 80, destinationPort: 34855,
           seed: 1, expected: "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
    // TCP over IPv6 (SMTP), both directions.
    Vector(proto: 6, source: "2001:470:e5bf:dead:4957:2174:e82c:4887", destination: "2607:f8b0:400c:c03::1a",
           sourcePort: 63943, destinationPort: 25, seed: 0, expected: "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="),
    Vector(proto: 6, source: "2607:f8b0:400c:c03::1a", destination: "2001:470:e5bf:dead:4957:2174:e82c:4887",
           sourcePort: 25, destinationPort: 63943, seed: 0, expected: "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="),
    Vector(proto: 6, source: "2001:470:e5bf:dead:4957:2174:e82c:4887", destination: "2607:f8b0:400c:c03::1a",
           sourcePort: 63943, destinationPort: 25, seed: 1, expected: "1:eJYTW6AOzFLlSUoESovMjnu7rMw="),
    Vector(proto: 6, source: "2607:f8b0:400c:c03::1a", destination: "2001:470:e5bf:dead:4957:2174:e82c:4887",
           sourcePort: 25, destinationPort: 63943, seed: 1, expected: "1:eJYTW6AOzFLlSUoESovMjnu7rMw="),
    // UDP: the protocol byte is hashed too.
    Vector(proto: 17, source: "192.168.1.52", destination: "8.8.8.8", sourcePort: 54585, destinationPort: 53,
           seed: 0, expected: "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
    Vector(proto: 17, source: "8.8.8.8", destination: "192.168.1.52", sourcePort: 53, destinationPort: 54585,
           seed: 1, expected: "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="),
    // Equal addresses: the ports decide the order (SCTP echo, 7 -> 7, is in the baseline only with
    // different addresses; this is the IPv4 TCP vector's order rule applied to ports).
]

@Suite("Community ID v1")
struct CommunityIDTests {
    @Test("the specification's baseline vectors", arguments: vectors)
    fileprivate func baseline(_ vector: Vector) {
        let (source, destination) = vector.address
        let id = CommunityID(seed: vector.seed).string(source: source, sourcePort: vector.sourcePort,
                                                       destination: destination, destinationPort: vector.destinationPort,
                                                       proto: vector.proto)
        #expect(id == vector.expected)
    }

    @Test("equal addresses are ordered by port, so both directions agree")
    func equalAddresses() {
        let a = v4("192.0.2.1")
        let forward = CommunityID().string(source: a, sourcePort: 40000, destination: a, destinationPort: 143)
        let backward = CommunityID().string(source: a, sourcePort: 143, destination: a, destinationPort: 40000)
        #expect(forward != nil && forward == backward)
    }

    @Test("mixed address families have no Community ID")
    func mixedFamilies() {
        #expect(CommunityID().string(source: v4("192.0.2.1"), sourcePort: 1, destination: v6("2001:db8::1"),
                                     destinationPort: 2) == nil)
    }

    @Test("the alert carries it, and the file and packet number, after the existing keys and before host")
    func rendered() throws {
        var alert = makeAlert()
        alert.communityID = "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        alert.pcapFilename = "dir/a \"b\".pcap"
        alert.pcapCount = 42
        let line = AlertRenderer(sensor: "s1").json(alert)
        #expect(line.hasSuffix(#""overlap_conflict":false},"community_id":"1:LQU9qZlK+B5F3KDmev6m5PMibrg=","pcap_filename":"dir/a \"b\".pcap","pcap_cnt":42,"host":"s1"}"#))
        let object = try parseJSON(line)
        #expect(object["pcap_cnt"] as? Int == 42)
        // Live capture: neither file nor number.
        let live = AlertRenderer().json(makeAlert())
        #expect(!live.contains("pcap_") && !live.contains("community_id"))
    }
}

/// The one-block SHA-1 under the Community ID, against digests from another implementation
/// (Python's hashlib) at the lengths that matter: empty, short, IPv4 and IPv6 inputs, and the
/// longest message that fits one block.
@Suite("SHA-1 of one block")
struct SHA1BlockTests {
    static let cases: [(length: Int, hex: String)] = [
        (0, "da39a3ee5e6b4b0d3255bfef95601890afd80709"), (1, "067d5096f219c64b53bb1c7d5e3754285b565a47"),
        (3, "5e8b290f00d31c341d769e40255c757924864ef3"), (20, "c08c26f20f9b6e425705af5ccc0300325c4d619a"),
        (40, "b4cef9aebd96975376eca04e064acd5bd7b9bce7"), (55, "c4622048cfef59b72875839ee7ae1cbcf55e7658"),
    ]

    static func hex(_ message: [UInt8]) -> String {
        message.withUnsafeBytes { raw in
            SHA1Block.withDigest(of: raw) { digest in digest.map { String(format: "%02x", $0) }.joined() }
        }
    }

    @Test("FIPS 180 \"abc\"")
    func abc() {
        #expect(Self.hex(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
    }

    @Test("lengths 0 to 55", arguments: cases)
    func lengths(_ c: (length: Int, hex: String)) {
        let message = (0 ..< c.length).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
        #expect(Self.hex(message) == c.hex)
    }
}
