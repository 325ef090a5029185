import Testing
import Wire

/// What a decode produced, flattened so tests can compare it.
enum Decoded {
    case tcp(DecodedPacket)
    case skipped(SkipReason)
    case fragment(FragmentHeader)
    case failed(DecodeError)

    var verdict: Verdict? {
        switch self {
        case .tcp: return nil
        case .skipped(let reason): return .skipped(reason)
        case .fragment: return .fragment
        case .failed(let error): return .failed(error)
        }
    }
}

func decode(_ frame: [UInt8], link: LinkType) -> Decoded {
    do throws(DecodeError) {
        switch try PacketDecoder.decode(frame.span, link: link) {
        case .tcp(let packet): return .tcp(packet)
        case .skipped(let reason): return .skipped(reason)
        case .fragment(let header): return .fragment(header)
        }
    } catch {
        return .failed(error)
    }
}

func expectMatches(_ packet: DecodedPacket, _ expected: Expected, frame: [UInt8],
                   sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(packet.source == expected.source, sourceLocation: sourceLocation)
    #expect(packet.destination == expected.destination, sourceLocation: sourceLocation)
    #expect(packet.sourcePort == expected.sourcePort, sourceLocation: sourceLocation)
    #expect(packet.destinationPort == expected.destinationPort, sourceLocation: sourceLocation)
    #expect(packet.sequence == expected.sequence, sourceLocation: sourceLocation)
    #expect(packet.acknowledgment == expected.acknowledgment, sourceLocation: sourceLocation)
    #expect(packet.flags.rawValue == expected.flags, sourceLocation: sourceLocation)
    #expect(packet.window == expected.window, sourceLocation: sourceLocation)
    #expect(packet.payloadStart == expected.payloadStart, sourceLocation: sourceLocation)
    #expect(packet.payloadEnd == expected.payloadEnd, sourceLocation: sourceLocation)
    #expect(packet.vlans.ids == expected.vlans, sourceLocation: sourceLocation)
    if 0 <= packet.payloadStart, packet.payloadStart <= packet.payloadEnd, packet.payloadEnd <= frame.count {
        #expect(Array(frame[packet.payloadStart..<packet.payloadEnd]) == expected.payload, sourceLocation: sourceLocation)
    } else {
        Issue.record("payload range \(packet.payloadStart)..<\(packet.payloadEnd) outside frame of \(frame.count)",
                     sourceLocation: sourceLocation)
    }
}

@Suite struct DecoderTests {
    @Test(arguments: Samples.accepted)
    func acceptedFrameDecodes(_ sample: Accepted) {
        guard case .tcp(let packet) = decode(sample.frame, link: sample.link) else {
            Issue.record("expected a TCP segment, got \(decode(sample.frame, link: sample.link))")
            return
        }
        expectMatches(packet, sample.expected, frame: sample.frame)
    }

    @Test(arguments: Samples.refused)
    func refusedFrameIsSkippedOrRejected(_ sample: Refused) {
        #expect(decode(sample.frame, link: sample.link).verdict == sample.verdict)
    }

    /// Offsets are relative to the span handed in, even when it is a slice of a larger buffer (as a
    /// libpcap ring is).
    @Test func offsetsAreRelativeToTheSpan() throws {
        let sample = Samples.accepted[0]
        let buffer = [UInt8](repeating: 0x55, count: 100) + sample.frame + [UInt8](repeating: 0x66, count: 100)
        let span = buffer.span.extracting(100..<(100 + sample.frame.count))
        let outcome = try PacketDecoder.decode(span, link: sample.link)
        guard case .tcp(let packet) = outcome else {
            Issue.record("expected a TCP segment, got \(outcome)")
            return
        }
        expectMatches(packet, sample.expected, frame: sample.frame)
    }

    @Test func tcpFlagsKeepTheirWireBits() {
        guard case .tcp(let packet) = decode(Frame.ipv4(Frame.tcp(flags: 0x12)), link: .raw) else {
            Issue.record("expected a TCP segment")
            return
        }
        #expect(packet.flags == [.syn, .ack])
        #expect(packet.payloadLength == 0)
    }
}
