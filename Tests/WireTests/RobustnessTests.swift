import Testing
import Wire

// Hostile and snaplen-cut input must end in an outcome or a DecodeError, never a trap. A trap here
// would kill the test process, which is itself the failure.

/// Deterministic so that a failure can be replayed from the sample name and iteration alone.
struct XorShift64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Properties any TCP result must have, whatever the input.
func expectSane(_ decoded: Decoded, frameCount: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    guard case .tcp(let packet) = decoded else { return }
    // The smallest header stack is bare IPv4 (20) plus TCP (20).
    #expect(packet.payloadStart >= 40, sourceLocation: sourceLocation)
    #expect(packet.payloadStart <= packet.payloadEnd, sourceLocation: sourceLocation)
    #expect(packet.payloadEnd <= frameCount, sourceLocation: sourceLocation)
    #expect(Int(packet.vlans.count) <= VLANTags.maxTags, sourceLocation: sourceLocation)
}

@Suite struct RobustnessTests {
    /// A cut anywhere before the end of the payload is a truncation (at whatever layer the cut
    /// fell), never "invalid" and never a partial segment; a longer capture only adds trailer.
    @Test(arguments: Samples.accepted)
    func everyPrefixOfAGoodFrameIsTruncatedUntilThePayloadEnds(_ sample: Accepted) {
        for length in 0...sample.frame.count {
            let prefix = Array(sample.frame.prefix(length))
            let decoded = decode(prefix, link: sample.link)
            if length < sample.expected.payloadEnd {
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

    @Test(arguments: Samples.all)
    func everyPrefixDecodesWithoutTrapping(_ sample: Sample) {
        for length in 0...sample.frame.count {
            let prefix = Array(sample.frame.prefix(length))
            expectSane(decode(prefix, link: sample.link), frameCount: length)
        }
    }

    @Test(arguments: Samples.all)
    func byteFlipsDecodeWithoutTrapping(_ sample: Sample) {
        guard !sample.frame.isEmpty else { return }
        var random = XorShift64(state: 0x9E37_79B9_7F4A_7C15)
        var accepted = 0, refused = 0
        for _ in 0..<3000 {
            var mutant = sample.frame
            for _ in 0...random.below(3) {
                mutant[random.below(mutant.count)] ^= UInt8(truncatingIfNeeded: random.below(255) + 1)
            }
            if random.below(4) == 0 { mutant.removeLast(random.below(mutant.count + 1)) }
            let decoded = decode(mutant, link: sample.link)
            expectSane(decoded, frameCount: mutant.count)
            if case .tcp = decoded { accepted += 1 } else { refused += 1 }
        }
        // The loop must both reach the TCP layer and hit the error paths, or it tests little.
        #expect(refused > 0)
        if Samples.accepted.contains(where: { $0.name == sample.name }) {
            #expect(accepted > 0)
        }
    }

    /// The same mutations applied to every link type, so each link decoder sees the other
    /// layouts' bytes too.
    @Test(arguments: [LinkType.ethernet, .null, .loop, .raw, .ipv4, .ipv6, .linuxSLL, .linuxSLL2])
    func foreignFramesDecodeWithoutTrapping(_ link: LinkType) {
        var random = XorShift64(state: 0xD1B5_4A32_D192_ED03)
        for sample in Samples.all {
            for _ in 0..<200 {
                var mutant = sample.frame
                if !mutant.isEmpty { mutant[random.below(mutant.count)] ^= UInt8(truncatingIfNeeded: random.next() | 1) }
                expectSane(decode(mutant, link: link), frameCount: mutant.count)
            }
        }
    }
}
