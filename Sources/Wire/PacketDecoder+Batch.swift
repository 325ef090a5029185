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
        switch link {
        case .ethernet:
            return decodeEach(frames, records: records, link: .ethernet, selecting: ports, into: packets,
                              recordIndices: recordIndices, refusals: refusals)
        default:
            return decodeEach(frames, records: records, link: link, selecting: ports, into: packets,
                              recordIndices: recordIndices, refusals: refusals)
        }
    }

    @inline(__always)
    private static func decodeEach(_ frames: Span<UInt8>, records: UnsafeBufferPointer<FrameRecord>,
                                   link: LinkType, selecting ports: PortSet?,
                                   into packets: UnsafeMutablePointer<DecodedPacket>,
                                   recordIndices: UnsafeMutablePointer<Int>,
                                   refusals: UnsafeMutablePointer<Refusal>) -> BatchCounts {
        var counts = BatchCounts()
        for i in 0..<records.count {
            guard let range = range(of: records[i], in: frames.count) else {
                (refusals + counts.refused).initialize(to: .failed(.truncated(.link)))
                counts.refused &+= 1
                continue
            }
            counts.bytes &+= UInt64(truncatingIfNeeded: range.count)
            do throws(DecodeError) {
                switch try select(unsafe frames.extracting(unchecked: range), link: link,
                                  into: packets + counts.selected, selecting: ports) {
                case .tcp:
                    recordIndices[counts.selected] = i
                    counts.selected &+= 1
                case .unselected:
                    counts.unselected &+= 1
                case .skipped(let reason):
                    (refusals + counts.refused).initialize(to: .skipped(reason))
                    counts.refused &+= 1
                }
            } catch {
                (refusals + counts.refused).initialize(to: .failed(error))
                counts.refused &+= 1
            }
        }
        return counts
    }

    /// Where `record` lies in a buffer of `count` bytes, or nil when it does not lie inside.
    @inline(__always)
    static func range(of record: FrameRecord, in count: Int) -> Range<Int>? {
        // As unsigned values a negative start or length is huge and fails the same two tests,
        // which then leave no overflow for the range to check (about 12 instructions a packet).
        let start = UInt(bitPattern: record.start), length = UInt(bitPattern: record.count)
        let total = UInt(bitPattern: count)
        guard start <= total && length <= total &- start else { return nil }
        return Range(uncheckedBounds: (record.start, record.start &+ record.count))
    }
}
