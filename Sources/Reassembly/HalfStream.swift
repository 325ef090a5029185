import Wire

/// One contiguous run of out-of-order bytes, copied out of the frames that carried it.
/// Runs in a half-stream are sorted, disjoint and never adjacent (adjacent runs are merged), so
/// every run is preceded by exactly one hole: the run count is the hole count (smoltcp's contigs).
struct BufferedRun {
    var start: Int64
    var bytes: [UInt8]
    /// When the run's latest bytes arrived: bytes held for an ACK are delivered with it, so a
    /// finding keeps the time of the packet that carried it rather than of the ACK.
    var time: Timestamp
    /// The capture's number for the packet that carried the run's latest bytes
    /// (`FlowTable.packetNumber` then), handed to the handler with the bytes.
    var packet: UInt64
    var end: Int64 { start + Int64(bytes.count) }
}

/// One direction of a TCP connection: where the in-order stream stands, the out-of-order runs
/// waiting for a hole to fill, the FIN position, and the highest ACK the peer sent for it.
///
/// Sequence numbers are used only to find a segment's 64-bit stream offset (Suricata's
/// `STREAM_BASE_OFFSET`): the signed 32-bit wrapping difference from the next expected sequence
/// number (smoltcp `SeqNumber`) is added to the next expected offset, so a stream survives any
/// number of wraps past 2^32 as long as segments land within 2^31 bytes of `next`.
struct HalfStream {
    // Stored 8-byte fields first, then 4-byte ones, then flags: 64 bytes, one cache line (the
    // table aligns its storage to 64). Declared in wire order it was 80 bytes, so the two halves
    // of a flow straddled four lines instead of filling two: on a capture of many concurrent
    // flows each of those lines is a miss.

    /// Next expected stream offset: everything before it was delivered or declared a gap.
    var next: Int64 = 0
    /// Stream offset of the FIN (the byte after the last data byte).
    var finOffset: Int64 = 0
    /// The last segment delivered in order from a frame, as its start, length and a digest of its
    /// bytes (the bytes themselves are gone with the frame): a retransmission of exactly that
    /// range with other bytes is a conflict the two ends may have seen differently.
    private(set) var lastDeliveredStart: Int64 = -1
    private(set) var lastDeliveredDigest: UInt64 = 0
    /// Out-of-order runs beyond `next`, sorted; at most `maxHoles`.
    var runs: [BufferedRun] = []
    /// Bytes held in `runs`, charged to the global memory budget (at most `windowBytes` plus a
    /// segment, far below 2^31: 32 bits leave room for `peerWindow` and `settled` in the line).
    var buffered: Int32 = 0
    /// Sequence number of stream offset 0 (ISN + 1 for a SYN).
    var baseSequence: UInt32 = 0
    /// Highest acknowledgment number the peer sent (in this direction's sequence space).
    var peerAck: UInt32 = 0
    /// Length of the last segment delivered (a frame's payload: at most 256 KiB).
    private var lastDeliveredLength: UInt32 = 0
    /// The window the peer advertised with its latest ACK, unscaled (the scale is not tracked):
    /// bounds the sequence numbers of RSTs the peer would accept (`FlowTable.resetAcceptable`).
    var peerWindow: UInt16 = 0
    /// Policy `ack` holds nothing more for this direction: the parser has seen a successful login
    /// or stopped (`FlowTable.settle`).
    var settled = false
    /// The sequence number of stream offset 0 is known (from a SYN, a SYN-ACK's ACK, or the first
    /// segment seen mid-stream).
    var baseKnown = false
    var hasFin = false
    /// `streamEnded` was reported.
    var ended = false
    var hasPeerAck = false

    /// End of the last segment delivered in order (-1 before any).
    var lastDeliveredEnd: Int64 { lastDeliveredStart + Int64(lastDeliveredLength) }

    mutating func noteDelivered(start: Int64, end: Int64, digest: UInt64) {
        lastDeliveredStart = start
        // A frame's payload is far below 4 GiB; clamped anyway, a longer one is never matched.
        lastDeliveredLength = UInt32(clamping: end - start)
        lastDeliveredDigest = digest
    }

    @inline(__always) var nextSequence: UInt32 { baseSequence &+ UInt32(truncatingIfNeeded: next) }

    @inline(__always) mutating func setBase(_ sequence: UInt32) {
        baseKnown = true
        baseSequence = sequence
        next = 0
    }

    /// Stream offset of a sequence number, by the signed wrapping distance from `next`.
    @inline(__always) func offset(of sequence: UInt32) -> Int64 {
        next + Int64(Int32(bitPattern: sequence &- nextSequence))
    }

    @inline(__always) mutating func notePeerAck(_ ack: UInt32) {
        if !hasPeerAck || Int32(bitPattern: ack &- peerAck) > 0 {
            peerAck = ack
            hasPeerAck = true
        }
    }

    /// The peer acknowledged bytes beyond `next` (what `FlowTable.checkAckGap` acts on). Tested
    /// inline first: nearly every ACK acknowledges exactly what was delivered, and should not pay
    /// for a call to find that out.
    @inline(__always) var ackedPastNext: Bool {
        !ended && baseKnown && hasPeerAck && offset(of: peerAck) > next
    }

    /// The stream was delivered (or declared a gap) up to its FIN: the direction may end.
    @inline(__always) var reachedFin: Bool { hasFin && next >= finOffset }

    /// Where data may be delivered up to under policy `ack`: the peer's highest ACK while this
    /// direction holds (the peer has acknowledged something, so evidence will come), else no
    /// limit. A one-sided capture, whose receiver is never seen acknowledging, is not held.
    /// Static, reading the fields through the pointer: called as a method on the stored element
    /// it copied the whole half-stream (a retain and a release of `runs`) for every segment.
    @inline(__always) static func holdLimit(_ half: UnsafePointer<HalfStream>, _ policy: StreamPolicy) -> Int64 {
        // Safe: callers pass `halves.address(h)`, checked against the count.
        guard unsafe policy == .ack && !half.pointee.settled && half.pointee.baseKnown && half.pointee.hasPeerAck else {
            return .max
        }
        let next = unsafe half.pointee.next
        let nextSequence = unsafe half.pointee.baseSequence &+ UInt32(truncatingIfNeeded: next)
        return unsafe max(next, next + Int64(Int32(bitPattern: half.pointee.peerAck &- nextSequence)))
    }

    /// The end of the highest byte seen of this direction (delivered or buffered).
    var highestSeen: Int64 { max(next, runs.last?.end ?? next) }

    /// The peer's highest ACK as a stream offset, when both it and the base are known.
    @inline(__always) var peerAckOffset: Int64? {
        guard baseKnown && hasPeerAck else { return nil }
        return offset(of: peerAck)
    }
}

/// Copies `frame[range]` onto the end of `bytes`. The range was validated by the caller and
/// `extracting` checks it again, so no unchecked load touches packet bytes.
@inline(__always)
func appendBytes(_ bytes: inout [UInt8], from frame: Span<UInt8>, _ range: Range<Int>) {
    guard !range.isEmpty else { return }
    unsafe frame.extracting(range).withUnsafeBufferPointer { unsafe bytes.append(contentsOf: $0) }
}
