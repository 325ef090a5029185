// A batch of frames decoded in one call: what a replay hands the engine.

extension PacketDecoder {
    /// A frame of a batch that is not a selected segment and not a segment of another port.
    public enum Refusal: Sendable, Equatable {
        case skipped(SkipReason)
        case failed(DecodeError)
    }

    /// What `decode(_:records:link:selecting:into:recordIndices:refusals:)` made of a batch.
    public struct BatchCounts: Sendable, Equatable {
        /// Segments written to `packets` (and their records' positions to `recordIndices`).
        public var selected = 0
        /// TCP segments on no selected port.
        public var unselected = 0
        /// Entries written to `refusals`.
        public var refused = 0
        /// The length of every frame that lies in the buffer.
        public var bytes: UInt64 = 0
        public init() {}
    }

    /// Decodes the frames that `records` locates in `frames`, as `decode(_:link:into:selecting:)`
    /// decodes each: the selected segments are written densely to `packets`, with the position in
    /// `records` of each one's record at the same index of `recordIndices`; every other frame is
    /// only counted, except that a skipped or failed frame has its reason appended to `refusals`.
    /// A record that does not lie inside `frames` fails as a frame cut at the link layer. Each
    /// buffer must hold `records.count` entries.
    ///
    /// One call a batch rather than one a frame: the link type is fixed for the batch, so the
    /// common one (Ethernet) gets a loop of its own without the per-frame jump on it, the
    /// registers are saved once a batch, and the caller then iterates the selected segments only,
    /// without a kind per frame to store and read back.
    public static func decode(_ frames: Span<UInt8>, records: UnsafeBufferPointer<FrameRecord>, link: LinkType,
                              selecting ports: PortSet?, into packets: UnsafeMutablePointer<DecodedPacket>,
                              recordIndices: UnsafeMutablePointer<Int>,
                              refusals: UnsafeMutablePointer<Refusal>) -> BatchCounts {
        // Each frame is viewed through the buffer's pointer: a span extracted from `frames`
        // recomputed the frame's length from its range with an overflow check (callgrind,
        // many-flows: 665.4 M -> 660.9 M instructions with the two loops below).
        unsafe frames.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else {
                // Nothing lies in a buffer without an address but empty frames, which every link
                // type finds cut at the link layer, as a record outside the buffer is.
                var counts = BatchCounts()
                for _ in 0..<records.count {
                    (refusals + counts.refused).initialize(to: .failed(.truncated(.link)))
                    counts.refused &+= 1
                }
                return counts
            }
            let buffer = Frames(base: base, count: buffer.count)
            switch link {
            case .ethernet:
                return decodeEthernet(buffer, records: records, selecting: ports, into: packets,
                                      recordIndices: recordIndices, refusals: refusals)
            default:
                return decodeAny(buffer, records: records, link: link, selecting: ports, into: packets,
                                 recordIndices: recordIndices, refusals: refusals)
            }
        }
    }

    /// The buffer of a batch's frames.
    struct Frames {
        let base: UnsafePointer<UInt8>
        let count: Int
    }

    // The two loops are functions of their own: inlined into the closure above, the link decoder
    // was no longer inlined into them (17 M instructions of calls on the many-flows sample).
    @inline(never)
    private static func decodeEthernet(_ frames: Frames, records: UnsafeBufferPointer<FrameRecord>,
                                       selecting ports: PortSet?, into packets: UnsafeMutablePointer<DecodedPacket>,
                                       recordIndices: UnsafeMutablePointer<Int>,
                                       refusals: UnsafeMutablePointer<Refusal>) -> BatchCounts {
        decodeEach(frames, records: records, link: .ethernet, untaggedIPv4First: true, selecting: ports,
                   into: packets, recordIndices: recordIndices, refusals: refusals)
    }

    @inline(never)
    private static func decodeAny(_ frames: Frames, records: UnsafeBufferPointer<FrameRecord>, link: LinkType,
                                  selecting ports: PortSet?, into packets: UnsafeMutablePointer<DecodedPacket>,
                                  recordIndices: UnsafeMutablePointer<Int>,
                                  refusals: UnsafeMutablePointer<Refusal>) -> BatchCounts {
        decodeEach(frames, records: records, link: link, untaggedIPv4First: false, selecting: ports,
                   into: packets, recordIndices: recordIndices, refusals: refusals)
    }

    @inline(__always)
    private static func decodeEach(_ frames: Frames, records: UnsafeBufferPointer<FrameRecord>,
                                   link: LinkType, untaggedIPv4First: Bool, selecting ports: PortSet?,
                                   into packets: UnsafeMutablePointer<DecodedPacket>,
                                   recordIndices: UnsafeMutablePointer<Int>,
                                   refusals: UnsafeMutablePointer<Refusal>) -> BatchCounts {
        var counts = BatchCounts()
        for i in 0..<records.count {
            let record = records[i]
            guard isInside(record, count: frames.count) else {
                (refusals + counts.refused).initialize(to: .failed(.truncated(.link)))
                counts.refused &+= 1
                continue
            }
            counts.bytes &+= UInt64(truncatingIfNeeded: record.count)
            let frame = unsafe Span(_unsafeElements: UnsafeBufferPointer(start: frames.base + record.start,
                                                                         count: record.count))
            do throws(DecodeError) {
                let selected: Selected
                // Untagged IPv4 on Ethernet, nearly every frame of a capture, gets a copy of the
                // decoder of its own: the compiler knows the link header's type and length and
                // that no VLAN tag was read, and keeps fewer values from the link layer to the
                // packet's stores (they were spilled to the stack and back: callgrind, many-flows,
                // 660.1 M -> 645.5 M instructions, 22 a frame). The other frames of an Ethernet
                // capture take the single-frame entry point: with a second copy inlined here, the
                // compiler no longer inlined either.
                if !untaggedIPv4First {
                    selected = try select(frame, link: link, into: packets + counts.selected, selecting: ports)
                } else if frame.count >= 14 && (unsafe frame.u16(unchecked: 12)) == 0x0800 {
                    selected = try select(frame, link: .ethernet, into: packets + counts.selected, selecting: ports)
                } else {
                    selected = try decode(frame, link: link, into: packets + counts.selected, selecting: ports)
                }
                switch selected {
                case .tcp:
                    recordIndices[counts.selected] = i
                    counts.selected &+= 1
                case .unselected:
                    break
                case .skipped(let reason):
                    (refusals + counts.refused).initialize(to: .skipped(reason))
                    counts.refused &+= 1
                }
            } catch {
                (refusals + counts.refused).initialize(to: .failed(error))
                counts.refused &+= 1
            }
        }
        // Every other frame is a segment on no selected port: one counter less in the loop.
        counts.unselected = records.count &- counts.selected &- counts.refused
        return counts
    }

    /// Whether `record` lies inside a buffer of `count` bytes.
    @inline(__always)
    static func isInside(_ record: FrameRecord, count: Int) -> Bool {
        // As unsigned values a negative start or length is huge and fails the same two tests,
        // which then leave no overflow for the range to check (about 12 instructions a packet).
        let start = UInt(bitPattern: record.start), length = UInt(bitPattern: record.count)
        let total = UInt(bitPattern: count)
        return start <= total && length <= total &- start
    }
}
