import Testing
import Wire

// The batch decoder (PacketDecoder.decode(_:records:link:selecting:into:recordIndices:refusals:))
// has loops of its own per link type: every frame must come out of it exactly as decoding that
// frame alone does, with the same packet, the same skip reason and the same error.

func samePacket(_ a: DecodedPacket, _ b: DecodedPacket) -> Bool {
    a.source == b.source && a.destination == b.destination && a.sourcePort == b.sourcePort
        && a.destinationPort == b.destinationPort && a.sequence == b.sequence
        && a.acknowledgment == b.acknowledgment && a.flags == b.flags && a.window == b.window
        && a.payloadStart == b.payloadStart && a.payloadEnd == b.payloadEnd && a.vlans == b.vlans
}

/// What decoding each frame alone makes of it: a packet, on no selected port, or refused.
enum Alone {
    case tcp(DecodedPacket)
    case unselected
    case refused(PacketDecoder.Refusal)
    case fragment(FragmentHeader)
}

func decodeAlone(_ frame: Span<UInt8>, link: LinkType, ports: PortSet?) -> Alone {
    let packet = UnsafeMutablePointer<DecodedPacket>.allocate(capacity: 1)
    defer { packet.deallocate() }
    var fragment: FragmentHeader
    do throws(DecodeError) {
        let outcome = try PacketDecoder.decode(frame, link: link)
        if case .fragment(let header) = outcome { fragment = header } else { fragment = FragmentHeader.empty }
    } catch {
        fragment = FragmentHeader.empty
    }
    do throws(DecodeError) {
        switch try PacketDecoder.decode(frame, link: link, into: packet, selecting: ports) {
        case .tcp: return .tcp(packet.pointee)
        case .unselected: return .unselected
        case .skipped(let reason): return .refused(.skipped(reason))
        case .fragment: return .fragment(fragment)
        }
    } catch {
        return .refused(.failed(error))
    }
}

/// Batch output buffers of `n` entries each.
struct BatchBuffers {
    let packets: UnsafeMutablePointer<DecodedPacket>
    let indices: UnsafeMutablePointer<Int>
    let refusals: UnsafeMutablePointer<PacketDecoder.Refusal>
    let fragments: UnsafeMutablePointer<FragmentHeader>
    let tunnels: UnsafeMutablePointer<Encapsulation>
    init(_ n: Int) {
        packets = .allocate(capacity: max(n, 1)); indices = .allocate(capacity: max(n, 1))
        refusals = .allocate(capacity: max(n, 1)); fragments = .allocate(capacity: max(n, 1))
        tunnels = .allocate(capacity: max(n, 1))
    }
    var output: PacketDecoder.BatchOutput {
        PacketDecoder.BatchOutput(packets: packets, recordIndices: indices, fragments: fragments, tunnels: tunnels,
                                  refusals: refusals)
    }
    func deallocate() {
        packets.deallocate(); indices.deallocate(); refusals.deallocate(); fragments.deallocate(); tunnels.deallocate()
    }
}

/// Decodes `frames` (laid out in one buffer with a byte of filler between them, plus records that
/// lie outside it) as one batch and checks it against each frame decoded alone.
func expectBatchMatches(_ frames: [[UInt8]], link: LinkType, ports: PortSet?,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    var buffer: [UInt8] = []
    var records: [FrameRecord] = []
    for (i, frame) in frames.enumerated() {
        buffer.append(0xEE)
        records.append(FrameRecord(start: buffer.count, count: frame.count, time: Timestamp(nanoseconds: Int64(i))))
        buffer += frame
    }
    // Records a reader never makes: past the end, negative, overflowing.
    records.insert(FrameRecord(start: buffer.count, count: 1, time: .zero), at: records.count / 2)
    records.insert(FrameRecord(start: -1, count: 2, time: .zero), at: records.count / 3)
    records.insert(FrameRecord(start: 1, count: Int.max, time: .zero), at: 0)
    records.append(FrameRecord(start: buffer.count, count: 0, time: .zero))

    let n = records.count
    let buffers = BatchBuffers(n)
    defer { buffers.deallocate() }
    let packets = buffers.packets, indices = buffers.indices, refusals = buffers.refusals
    let counts = records.withUnsafeBufferPointer { r in
        PacketDecoder.decode(buffer.span, records: r, link: link, options: .init(ports: ports), into: buffers.output)
    }

    var expected = PacketDecoder.BatchCounts()
    var selected = 0, refused = 0
    for (i, record) in records.enumerated() {
        guard record.start >= 0, record.count >= 0, record.start <= buffer.count,
              record.count <= buffer.count - record.start else {
            #expect(refused < counts.refused && refusals[refused] == .failed(.truncated(.link)),
                    "record \(i) outside the buffer", sourceLocation: sourceLocation)
            refused += 1
            expected.refused += 1
            continue
        }
        expected.bytes += UInt64(record.count)
        let frame = buffer.span.extracting(record.start ..< record.start + record.count)
        switch decodeAlone(frame, link: link, ports: ports) {
        case .tcp(let packet):
            #expect(selected < counts.selected && indices[selected] == i
                        && samePacket(packets[selected], packet),
                    "record \(i): packet differs", sourceLocation: sourceLocation)
            selected += 1
            expected.selected += 1
        case .fragment(let header):
            #expect(selected < counts.selected && indices[selected] == i && packets[selected].kind.isFragment
                        && buffers.fragments[selected] == header,
                    "record \(i): fragment differs", sourceLocation: sourceLocation)
            selected += 1
            expected.selected += 1
            expected.fragments += 1
        case .unselected:
            expected.unselected += 1
        case .refused(let refusal):
            #expect(refused < counts.refused && refusals[refused] == refusal,
                    "record \(i): expected \(refusal)", sourceLocation: sourceLocation)
            refused += 1
            expected.refused += 1
        }
    }
    expected.encapsulations = counts.encapsulations
    expected.encapsulated = counts.encapsulated
    #expect(counts == expected, sourceLocation: sourceLocation)
}

@Suite struct BatchDecoderTests {
    static let links: [LinkType] = [.ethernet, .null, .loop, .raw, .ipv4, .ipv6, .linuxSLL, .linuxSLL2]
    static let mailPorts = PortSet([110, 143, 25])

    /// Every sample, its prefixes and byte-flipped mutants, under every link type (so each link
    /// loop also sees the other layouts), with and without a port selection.
    @Test(arguments: links)
    func batchDecodesEveryFrameAsAlone(_ link: LinkType) {
        var random = XorShift64(state: 0x2545_F491_4F6C_DD1D)
        var frames: [[UInt8]] = []
        for sample in Samples.all {
            frames.append(sample.frame)
            for length in stride(from: 0, to: sample.frame.count, by: 3) { frames.append(Array(sample.frame.prefix(length))) }
            for _ in 0..<100 where !sample.frame.isEmpty {
                var mutant = sample.frame
                for _ in 0...random.below(3) {
                    mutant[random.below(mutant.count)] ^= UInt8(truncatingIfNeeded: random.below(255) + 1)
                }
                frames.append(mutant)
            }
        }
        for ports in [nil, Self.mailPorts, PortSet([49152])] {
            // Batches of the engine's size and one of everything.
            var at = 0
            while at < frames.count {
                let end = min(at + 32, frames.count)
                expectBatchMatches(Array(frames[at..<end]), link: link, ports: ports)
                at = end
            }
            expectBatchMatches(frames, link: link, ports: ports)
        }
        expectBatchMatches([], link: link, ports: nil)
    }

    /// An empty buffer, with an address or without: only empty records lie inside it, and an empty
    /// frame is cut at the link layer.
    @Test func emptyBuffer() {
        let records = [FrameRecord(start: 0, count: 0, time: .zero), FrameRecord(start: 0, count: 1, time: .zero)]
        let buffers = BatchBuffers(2)
        defer { buffers.deallocate() }
        let refusals = buffers.refusals
        var expected = PacketDecoder.BatchCounts()
        expected.refused = 2
        let empty: [UInt8] = []
        for link in Self.links {
            let withAddress = records.withUnsafeBufferPointer { r in
                PacketDecoder.decode(empty.span, records: r, link: link, options: .init(ports: nil), into: buffers.output)
            }
            #expect(withAddress == expected)
            #expect(refusals[0] == .failed(.truncated(.link)) && refusals[1] == .failed(.truncated(.link)))
            refusals[0] = .skipped(.notIP)
            let withoutAddress = records.withUnsafeBufferPointer { r in
                PacketDecoder.decode(Span<UInt8>(), records: r, link: link, options: .init(ports: nil),
                                     into: buffers.output)
            }
            #expect(withoutAddress == expected)
            #expect(refusals[0] == .failed(.truncated(.link)) && refusals[1] == .failed(.truncated(.link)))
        }
    }
}
