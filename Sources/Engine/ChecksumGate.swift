import Wire

/// Decides what becomes of segments whose checksum failed, in `auto`.
///
/// A wrong sum in a capture has three causes: the packet was damaged or forged on the way (the
/// receiver dropped it: a decoy), the capturing host's NIC fills the sum in after the capture
/// sees the packet (offload: every packet that host sends), or the capture was edited without
/// fixing the sums (public captures with anonymised addresses or credentials). Only the first
/// must be dropped, and a passive sensor tells them apart by what the receiver did: a segment it
/// accepted is acknowledged, and not sent again. So a segment with a wrong sum that carries data
/// (or SYN or FIN) is held, copied, instead of being processed:
/// - when the peer acknowledges past its end, it was accepted: it is processed then, just before
///   the acknowledging packet;
/// - when a segment with a correct sum from the same sender overlaps it first, it was a decoy
///   (or corrupt, and resent): it is dropped;
/// - when neither happens within `maxAge` of packet time, or the capture ends, it is dropped.
/// A bare ACK or a RST with a wrong sum carries nothing an acknowledgement could confirm and is
/// dropped. After `confirmationsForOffload` acknowledged segments with wrong sums the capture is
/// taken to be offloaded (or rewritten): verification stops and is said once, so an offloaded
/// capture is not copied segment by segment to its end.
///
/// Bounded: at most `maxHeld` segments and `maxHeldBytes` bytes held; past either the oldest is
/// dropped.
struct ChecksumGate {
    static let maxHeld = 64
    static let maxHeldBytes = 256 * 1024
    static let maxAge: Int64 = 10 * 1_000_000_000
    static let confirmationsForOffload = 3
    /// A capture whose first this-many segments all have wrong sums is offloaded or rewritten
    /// throughout (nothing in it is right to confirm anything by).
    static let allWrongForOffload = 8

    struct Held {
        var packet: DecodedPacket
        var payload: [UInt8]
        var time: Timestamp
        /// The sequence number after the segment (payload, SYN and FIN counted).
        var end: UInt32
        var badIPv4: Bool
        var badTCP: Bool
    }

    let mode: ChecksumValidation
    var stats = ChecksumStats()
    var held: [Held] = []
    var heldBytes = 0
    var confirmations = 0
    /// Set when `auto` stops verifying; the engine says so once and clears it.
    var pendingNotice: String?
    /// Segments verified so far and those with wrong sums, until the first right one (or
    /// `allWrongForOffload` wrong ones) settles whether the whole capture is wrong.
    var verified = 0
    var wrong = 0
    var allWrongSettled: Bool
    /// The wrong ones in the batch being handled, and the position in it of the segment being
    /// judged (the engine sets it; `Int.max` for a reassembled datagram): the rule is settled
    /// as soon as it holds, not at the end of a batch (a batch of a short capture is all of it,
    /// and its first held segments would have aged out).
    var batchWrong = 0
    var position = Int.max

    init(mode: ChecksumValidation) {
        self.mode = mode
        stats.mode = mode
        allWrongSettled = mode != .auto
    }

    /// What the decoder should verify now.
    var checks: ChecksumChecks { stats.disabledByOffload ? [] : mode.checks }

    enum Verdict {
        /// Process it as if the sums were right.
        case accept
        /// Dropped, or held; not processed now.
        case consumed
    }

    /// A segment (`frame[payloadStart..<payloadEnd]` its payload) whose checksums failed.
    mutating func judge(_ packet: UnsafePointer<DecodedPacket>, frame: Span<UInt8>, time: Timestamp) -> Verdict {
        let kind = unsafe packet.pointee.kind
        wrong &+= 1
        batchWrong &+= 1
        if !allWrongSettled && wrong &- batchWrong == verified && batchWrong == position &+ 1
            && wrong >= Self.allWrongForOffload {
            stopAllWrong(count: wrong)
        }
        if mode == .auto && stats.disabledByOffload {
            stats.acceptedUnverified &+= 1
            return .accept
        }
        let flags = unsafe packet.pointee.flags
        let start = unsafe packet.pointee.payloadStart, end = unsafe packet.pointee.payloadEnd
        let length = start >= 0 && start <= end && end <= frame.count ? end - start : 0
        let confirmable = length > 0 || flags.contains(.syn) || flags.contains(.fin)
        guard mode == .auto && confirmable && !flags.contains(.rst) else {
            drop(badIPv4: kind.hasBadIPv4Checksum, badTCP: kind.hasBadTCPChecksum)
            return .consumed
        }
        var copy = unsafe packet.pointee
        copy.kind = .segment
        copy.payloadStart = 0
        copy.payloadEnd = length
        var payload = [UInt8](repeating: 0, count: length)
        for k in 0 ..< length { payload[k] = frame[start + k] }
        let sequenceEnd = copy.sequence &+ UInt32(truncatingIfNeeded: length)
            &+ (flags.contains(.syn) ? 1 : 0) &+ (flags.contains(.fin) ? 1 : 0)
        held.append(Held(packet: copy, payload: payload, time: time, end: sequenceEnd,
                         badIPv4: kind.hasBadIPv4Checksum, badTCP: kind.hasBadTCPChecksum))
        heldBytes += length
        while held.count > Self.maxHeld || heldBytes > Self.maxHeldBytes { dropHeld(at: 0) }
        return .consumed
    }

    /// A fragment whose IPv4 header checksum failed: nothing acknowledges a fragment, so it is
    /// dropped unless verification has stopped.
    mutating func judgeFragment() -> Verdict {
        if mode == .auto && stats.disabledByOffload {
            stats.acceptedUnverified &+= 1
            return .accept
        }
        drop(badIPv4: true, badTCP: false)
        return .consumed
    }

    /// A segment with correct sums (or one being processed anyway): held segments it confirms
    /// (its ACK covers them) are moved to `released`, in the order they were held; those it
    /// supersedes (the same sender's bytes again, over the same sequence numbers) are dropped.
    mutating func observe(_ packet: UnsafePointer<DecodedPacket>, released: inout [Held]) {
        var k = 0
        while k < held.count {
            let h = held[k].packet
            let p = unsafe packet.pointee
            guard p.tunnel == h.tunnel else { k += 1; continue }
            if p.source == h.destination && p.destination == h.source && p.sourcePort == h.destinationPort
                && p.destinationPort == h.sourcePort {
                // Acknowledged past its end, and not by a number from another epoch of the
                // sequence space.
                let beyond = Int32(bitPattern: p.acknowledgment &- held[k].end)
                let span = p.acknowledgment &- h.sequence
                if p.flags.contains(.ack) && beyond >= 0 && span <= 1 << 30 {
                    let confirmed = held.remove(at: k)
                    heldBytes -= confirmed.payload.count
                    stats.acceptedOnAck &+= 1
                    confirmations += 1
                    released.append(confirmed)
                    if mode == .auto && confirmations >= Self.confirmationsForOffload && !stats.disabledByOffload {
                        stats.disabledByOffload = true
                        allWrongSettled = true
                        pendingNotice = "checksum validation: \(confirmations) segments with wrong checksums were "
                            + "acknowledged by their receivers (checksum offload on the capturing host, or an "
                            + "edited capture); checksums are no longer verified (checksums.tcp_validation_disabled_by_offload)"
                    }
                    continue
                }
            } else if p.source == h.source && p.destination == h.destination && p.sourcePort == h.sourcePort
                        && p.destinationPort == h.destinationPort {
                let length = UInt32(truncatingIfNeeded: max(0, p.payloadEnd - p.payloadStart))
                let pEnd = p.sequence &+ length
                // Overlap in wrapping sequence space: each starts before the other ends.
                if length > 0 && Int32(bitPattern: p.sequence &- held[k].end) < 0
                    && Int32(bitPattern: h.sequence &- pEnd) < 0 {
                    dropHeld(at: k)
                    continue
                }
            }
            k += 1
        }
    }

    /// After a batch in which `segments` segments were verified: when every segment of the
    /// capture so far had a wrong sum and there are `allWrongForOffload` of them, verification
    /// stops and everything held is moved to `released`, in order (no acknowledgement can confirm
    /// them: the acknowledgements are wrong too). One right sum settles it the other way.
    mutating func afterBatch(segments: Int) {
        verified &+= segments
        batchWrong = 0
        if allWrongSettled { return }
        if wrong < verified {
            allWrongSettled = true
        } else if verified >= Self.allWrongForOffload {
            stopAllWrong(count: verified)
        }
    }

    /// Every segment so far had a wrong sum: verification stops, and what is held is released
    /// (`takeReleased`), in order.
    private mutating func stopAllWrong(count: Int) {
        allWrongSettled = true
        stats.disabledByOffload = true
        pendingNotice = "checksum validation: the first \(count) segments all have wrong checksums (checksum "
            + "offload on the capturing host, or an edited capture); checksums are no longer verified "
            + "(checksums.tcp_validation_disabled_by_offload)"
        stats.acceptedUnverified &+= UInt64(held.count)
        releasedByRule.append(contentsOf: held)
        held.removeAll()
        heldBytes = 0
    }

    /// Held segments released by `stopAllWrong`, for the engine to process.
    var releasedByRule: [Held] = []

    /// Drops held segments older than `maxAge` at `time`.
    mutating func expire(now time: Timestamp) {
        var k = 0
        while k < held.count {
            if time.nanoseconds &- held[k].time.nanoseconds > Self.maxAge { dropHeld(at: k) } else { k += 1 }
        }
    }

    /// End of the capture: nothing will acknowledge what is held.
    mutating func flush() {
        while !held.isEmpty { dropHeld(at: 0) }
    }

    private mutating func dropHeld(at k: Int) {
        let h = held.remove(at: k)
        heldBytes -= h.payload.count
        drop(badIPv4: h.badIPv4, badTCP: h.badTCP)
    }

    private mutating func drop(badIPv4: Bool, badTCP: Bool) {
        if badIPv4 { stats.ipv4Invalid &+= 1 }
        if badTCP { stats.tcpInvalid &+= 1 }
    }
}
