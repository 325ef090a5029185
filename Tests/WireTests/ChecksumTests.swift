import Testing
import Wire

// The Internet checksum against a byte-at-a-time reference (RFC 1071 as written), and the
// decoder's verdicts on frames whose sums are right, wrong or left as offload leaves them.

/// RFC 1071's definition: 16-bit big-endian words, an odd byte padded on its right, carries
/// folded back in.
func referenceSum(_ bytes: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    var i = 0
    while i < bytes.count {
        let high = UInt32(bytes[i]), low = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
        sum += high << 8 | low
        sum = (sum & 0xFFFF) + (sum >> 16)
        i += 2
    }
    return UInt16(sum)
}

/// An IPv4 packet (from `Frame.ipv4`) carrying TCP with both checksums filled in.
func withChecksums(ipv4 packet: [UInt8]) -> [UInt8] {
    var p = packet
    let header = Int(p[0] & 0x0F) * 4
    p[10] = 0; p[11] = 0
    let ip = ~referenceSum(Array(p[0 ..< header]))
    p[10] = UInt8(ip >> 8); p[11] = UInt8(ip & 0xFF)
    let segment = header
    p[segment + 16] = 0; p[segment + 17] = 0
    let length = p.count - segment
    let pseudo = Array(p[12 ..< 20]) + [0, 6] + Frame.be16(UInt16(length))
    let tcp = ~referenceSum(pseudo + Array(p[segment...]))
    p[segment + 16] = UInt8(tcp >> 8); p[segment + 17] = UInt8(tcp & 0xFF)
    return p
}

/// An IPv6 packet (from `Frame.ipv6`, TCP straight after the fixed header) with its TCP checksum
/// filled in.
func withChecksums(ipv6 packet: [UInt8]) -> [UInt8] {
    var p = packet
    p[40 + 16] = 0; p[40 + 17] = 0
    let length = p.count - 40
    let pseudo = Array(p[8 ..< 40]) + Frame.be32(UInt32(length)) + [0, 0, 0, 6]
    let tcp = ~referenceSum(pseudo + Array(p[40...]))
    p[40 + 16] = UInt8(tcp >> 8); p[40 + 17] = UInt8(tcp & 0xFF)
    return p
}

/// The kind the batch decoder gives the one frame `frame`, verifying `checks`.
func decodedKind(_ frame: [UInt8], link: LinkType = .ethernet, checks: ChecksumChecks = .all) -> PacketKind? {
    let buffers = BatchBuffers(1)
    defer { buffers.deallocate() }
    var record = FrameRecord(start: 0, count: frame.count, time: .zero)
    let counts = withUnsafePointer(to: &record) { r in
        PacketDecoder.decode(frame.span, records: UnsafeBufferPointer(start: r, count: 1), link: link,
                             options: .init(ports: nil, checksums: checks), into: buffers.output)
    }
    return counts.selected == 1 ? buffers.packets[0].kind : nil
}

@Suite struct ChecksumArithmeticTests {
    @Test func rfc1071Example() {
        // RFC 1071 3: the sum of 0001 f203 f4f5 f6f7 is ddf2.
        let bytes: [UInt8] = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]
        #expect(InternetChecksum.sum(bytes.span) == 0xDDF2)
        #expect(referenceSum(bytes) == 0xDDF2)
    }

    @Test func edgeValues() {
        #expect(InternetChecksum.sum([UInt8]().span) == 0)
        #expect(InternetChecksum.sum([UInt8](repeating: 0, count: 37).span) == 0)
        // All ones: every whole word is 0xFFFF, negative zero; an odd length adds 0xFF00, and
        // 0xFFFF + 0xFF00 folds back to 0xFF00.
        for n in 1 ... 40 {
            let expected: UInt16 = n % 2 == 1 ? 0xFF00 : 0xFFFF
            #expect(InternetChecksum.sum([UInt8](repeating: 0xFF, count: n).span) == expected)
        }
        // Carries out of every word: 0x8000 * 2 wraps to 1.
        #expect(InternetChecksum.sum([0x80, 0x00, 0x80, 0x00].span) == 0x0001)
        #expect(InternetChecksum.sum([0xFF, 0xFF, 0x00, 0x01].span) == 0x0001)
        // A lone byte is the high half of its word.
        #expect(InternetChecksum.sum([0x12].span) == 0x1200)
        #expect(InternetChecksum.sum([0x00, 0x01, 0x12].span) == 0x1201)
    }

    @Test func everyLengthAndAlignmentMatchesTheReference() {
        var generator = SplitMix(seed: 0x5EED)
        for length in 0 ... 200 {
            for shift in 0 ..< 8 {
                let bytes = (0 ..< length + shift).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                let body = Array(bytes[shift...])
                #expect(InternetChecksum.sum(body.span) == referenceSum(body), "length \(length) shift \(shift)")
            }
        }
        // Long runs of high bytes, where the 64-bit accumulators carry often.
        for length in [1499, 1500, 9000, 65535] {
            let bytes = (0 ..< length).map { i in UInt8(0xF0 | (i & 0x0F)) }
            #expect(InternetChecksum.sum(bytes.span) == referenceSum(bytes))
        }
    }
}

/// A small deterministic generator for test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct ChecksumVerdictTests {
    static let payload = Array("a1 LOGIN fake secret\r\n".utf8)

    static func ipv4Frame(payload: [UInt8] = payload) -> [UInt8] {
        Frame.ethernet(type: 0x0800, withChecksums(ipv4: Frame.ipv4(Frame.tcp(destinationPort: 143, payload: payload))))
    }

    @Test func correctSumsPass() {
        for n in 0 ... 9 {
            #expect(decodedKind(Self.ipv4Frame(payload: Array(Self.payload.prefix(n)))) == .segment)
        }
        let v6 = Frame.ethernet(type: 0x86DD, withChecksums(ipv6: Frame.ipv6(Frame.tcp(payload: Self.payload))))
        #expect(decodedKind(v6) == .segment)
        // Ethernet padding after a short packet is not summed.
        #expect(decodedKind(Frame.padded(Self.ipv4Frame(payload: [])), checks: .all) == .segment)
    }

    @Test func wrongTCPSumIsMarked() {
        var frame = Self.ipv4Frame()
        frame[frame.count - 3] ^= 0x01        // a payload byte
        #expect(decodedKind(frame)?.hasBadTCPChecksum == true)
        #expect(decodedKind(frame)?.hasBadIPv4Checksum == false)
        #expect(decodedKind(frame, checks: .ipv4) == .segment)
        #expect(decodedKind(frame, checks: []) == .segment)
        var v6 = Frame.ethernet(type: 0x86DD, withChecksums(ipv6: Frame.ipv6(Frame.tcp(payload: Self.payload))))
        v6[14 + 8] ^= 0x80                    // the source address, in the pseudo-header only
        #expect(decodedKind(v6)?.hasBadTCPChecksum == true)
    }

    @Test func wrongIPv4HeaderSumIsMarked() {
        var frame = Self.ipv4Frame()
        frame[14 + 8] = 1                     // TTL, covered by the header sum only
        #expect(decodedKind(frame)?.hasBadIPv4Checksum == true)
        #expect(decodedKind(frame)?.hasBadTCPChecksum == false)
        #expect(decodedKind(frame, checks: .tcp) == .segment)
    }

    @Test func offloadLeftoversFail() {
        // Linux leaves the pseudo-header sum in the field (CHECKSUM_PARTIAL); others leave 0.
        var frame = Self.ipv4Frame()
        frame[14 + 20 + 16] = 0; frame[14 + 20 + 17] = 0
        #expect(decodedKind(frame)?.hasBadTCPChecksum == true)
    }

    @Test func tunnelledSegmentKeepsBothMarks() {
        var inner = withChecksums(ipv4: Frame.ipv4(Frame.tcp(destinationPort: 143, payload: Self.payload)))
        inner[inner.count - 1] ^= 0xFF
        // IP in IP: the inner header carries the segment and is the one verified.
        let outer = Frame.ethernet(type: 0x0800, Frame.ipv4(protocol: 4, inner))
        let kind = decodedKind(outer)
        #expect(kind?.isTunnelled == true && kind?.hasBadTCPChecksum == true)
    }
}
