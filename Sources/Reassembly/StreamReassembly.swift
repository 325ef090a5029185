import Wire

// Per-direction stream reassembly: sequence offsets, in-order delivery from the frame, the
// out-of-order store (sorted, merged runs: one run per hole), gaps and FIN.
extension FlowTable {
    // MARK: - Segments

    /// Handles `length` payload bytes at stream offset `start` of half `h`.
    mutating func segment<H: StreamHandler>(slot: Int, half h: Int, start: Int64, frame: Span<UInt8>,
                                            range: Range<Int>, time: Timestamp, handler: inout H) {
        var s = start
        var e = start + Int64(range.count)
        var frameStart = range.lowerBound
        let origin = range.lowerBound - Int(truncatingIfNeeded: start)  // frame index of offset 0
        if halves[h].hasFin && e > halves[h].finOffset {
            e = max(s, halves[h].finOffset)  // data past the FIN is ignored
        }
        if e <= s { return }
        var countedOutOfOrder = false
        // One conflict per segment, however many copies it disagrees with (`conflict`).
        var conflicted = false
        let policy = configuration.streamPolicy

        while true {
            let next = halves[h].next
            if unsafe s < next && s == halves[h].lastDeliveredStart && min(e, next) == halves.address(h).pointee.lastDeliveredEnd {
                if unsafe Self.compareRetransmission(halves.address(h), frame: frame,
                                         range: frameStart..<(frameStart + Int(halves.address(h).pointee.lastDeliveredEnd - s))) {
                    conflict(slot: slot, counted: &conflicted)
                    stats.events.retransmissionConflict += 1
                }
            }
            if e <= next {
                stats.retransmittedSegments += 1
                stats.retransmittedBytes &+= UInt64(e - s)
                return
            }
            if s < next {
                stats.retransmittedSegments += 1
                stats.retransmittedBytes &+= UInt64(next - s)
                s = next
                frameStart = origin + Int(truncatingIfNeeded: s)
            }
            // Policy `ack`: in order, but only up to what the peer acknowledged; the rest is held.
            let limit = unsafe HalfStream.holdLimit(halves.address(h), policy)
            if s == next && s < limit {
                let end = min(e, limit)
                deliverInOrder(slot: slot, half: h, start: s, end: end, frameStart: frameStart, frame: frame,
                               time: time, conflicted: &conflicted, handler: &handler)
                if end == e { return }
                s = end
                frameStart = origin + Int(truncatingIfNeeded: s)
                continue
            }

            // Held for an ACK (`s == next`), or ahead of a hole.
            let ahead = s > next
            if ahead && !countedOutOfOrder { stats.outOfOrderSegments += 1; countedOutOfOrder = true }
            let firstRun = halves[h].runs.first?.start ?? s
            if ahead, let ack = unsafe halves.address(h).pointee.peerAckOffset, ack > next {
                declareGap(slot: slot, half: h, upTo: min(ack, s, firstRun), time: time, handler: &handler)
                deliverContiguous(slot: slot, half: h, time: time, handler: &handler)
                continue
            }
            if e - next > Int64(configuration.windowBytes) {
                stats.windowOverflows += 1
            } else {
                let plan = unsafe Self.planInsert(halves.address(h), start: s, end: e)
                if plan.runsAfter > configuration.maxHoles {
                    stats.holeLimitHits += 1
                } else if plan.newBytes + plan.newRuns * configuration.runOverheadBytes
                            > configuration.memoryBudget - stats.bufferedBytes
                                - stats.bufferedRuns * configuration.runOverheadBytes {
                    stats.memoryBudgetHits += 1
                } else {
                    insert(slot: slot, half: h, plan: plan, start: s, end: e, frameStart: frameStart, frame: frame,
                           time: time, conflicted: &conflicted)
                    return
                }
            }
            // A cap was hit. Held data goes first, unacknowledged; else the earliest hole becomes
            // a gap and delivery goes on from there.
            if let run = halves[h].runs.first, run.start == next {
                stats.events.unackedDataFlushed += 1
                deliverFirstRun(slot: slot, half: h, info: flows[slot].info, time: run.time, handler: &handler)
                continue
            }
            if !ahead {
                // Nothing held before it: this segment goes through unacknowledged.
                stats.events.unackedDataFlushed += 1
                deliverInOrder(slot: slot, half: h, start: s, end: e, frameStart: frameStart, frame: frame,
                               time: time, conflicted: &conflicted, handler: &handler)
                return
            }
            declareGap(slot: slot, half: h, upTo: min(s, firstRun), time: time, handler: &handler)
            deliverContiguous(slot: slot, half: h, time: time, handler: &handler)
        }
    }

    /// A segment disagrees with an earlier copy: counted once per segment, and the flow flagged
    /// (alerts carry `overlap_conflict`).
    @inline(__always) mutating func conflict(slot: Int, counted: inout Bool) {
        flows[slot].info.overlapConflict = true
        if counted { return }
        counted = true
        stats.retransmissionConflicts += 1
    }

    /// Delivers `[start, end)` (with `start == next`) from the frame, except where buffered runs
    /// already hold those offsets: there the buffered copy wins under policy `first` (differing
    /// bytes counted), the frame's under `ack` (buffered bytes are never acknowledged ones).
    mutating func deliverInOrder<H: StreamHandler>(slot: Int, half h: Int, start: Int64, end: Int64,
                                                   frameStart: Int, frame: Span<UInt8>, time: Timestamp,
                                                   conflicted: inout Bool, handler: inout H) {
        let direction: Direction = h & 1 == 0 ? .clientToServer : .serverToClient
        // Nothing buffered (nearly every segment): the frame's bytes go straight through, and
        // no run can have become contiguous, so the general path below is skipped.
        if halves[h].runs.isEmpty {
            let range = frameStart..<(frameStart + Int(end - start))
            halves[h].next = end
            handler.streamData(slot: slot, info: flows[slot].info, direction: direction,
                               bytes: frame.extracting(range), time: time)
            halves[h].noteDelivered(start: start, end: end, digest: Self.digest(frame, range))
            return
        }
        deliverOverRuns(slot: slot, half: h, start: start, end: end, frameStart: frameStart, frame: frame,
                        time: time, conflicted: &conflicted, handler: &handler)
    }

    /// `deliverInOrder` when runs are buffered: the frame's bytes are delivered around and over
    /// them. Out of line, so the common path above stays small.
    @inline(never)
    mutating func deliverOverRuns<H: StreamHandler>(slot: Int, half h: Int, start: Int64, end: Int64,
                                                    frameStart: Int, frame: Span<UInt8>, time: Timestamp,
                                                    conflicted: inout Bool, handler: inout H) {
        let direction: Direction = h & 1 == 0 ? .clientToServer : .serverToClient
        let replace = configuration.streamPolicy == .ack
        var current = start
        var countedOverlap = false
        @inline(__always) func frameIndex(_ offset: Int64) -> Int { frameStart + Int(offset - start) }

        while let run = halves[h].runs.first, run.start < end {
            if run.start > current {
                halves[h].next = run.start
                handler.streamData(slot: slot, info: flows[slot].info, direction: direction,
                                   bytes: frame.extracting(frameIndex(current)..<frameIndex(run.start)), time: time)
                current = run.start
            }
            let overlapEnd = min(end, run.end)
            if !countedOverlap { stats.retransmittedSegments += 1; countedOverlap = true }
            stats.retransmittedBytes &+= UInt64(overlapEnd - run.start)
            var differing: UInt64 = 0
            var offset = run.start
            while offset < overlapEnd {
                if run.bytes[Int(offset - run.start)] != frame[frameIndex(offset)] { differing &+= 1 }
                offset += 1
            }
            stats.overlapConflictBytes &+= differing
            if differing > 0 {
                if replace { stats.events.unackedDataReplaced += 1 } else { stats.events.overlapConflict += 1 }
                conflict(slot: slot, counted: &conflicted)
            }
            if replace {
                // The frame's copy is delivered; the run keeps only what lies beyond it.
                halves[h].next = overlapEnd
                handler.streamData(slot: slot, info: flows[slot].info, direction: direction,
                                   bytes: frame.extracting(frameIndex(run.start)..<frameIndex(overlapEnd)), time: time)
                dropFirstRunPrefix(half: h, upTo: overlapEnd)
                current = overlapEnd
            } else {
                deliverFirstRun(slot: slot, half: h, info: flows[slot].info, time: time, handler: &handler)
                current = run.end
            }
        }
        if current < end {
            halves[h].next = end
            handler.streamData(slot: slot, info: flows[slot].info, direction: direction,
                               bytes: frame.extracting(frameIndex(current)..<frameIndex(end)), time: time)
        }
        halves[h].noteDelivered(start: start, end: end, digest: Self.digest(frame, frameStart..<frameIndex(end)))
        deliverContiguous(slot: slot, half: h, time: time, handler: &handler)
    }

    /// Removes the bytes of the first run before `offset` (its copy was superseded or delivered),
    /// the run itself when nothing of it is left.
    mutating func dropFirstRunPrefix(half h: Int, upTo offset: Int64) {
        guard let run = halves[h].runs.first, offset > run.start else { return }
        if offset >= run.end {
            var removed = halves[h].runs.removeFirst()
            recycle(&removed.bytes)
            halves[h].buffered -= Int32(run.bytes.count)
            stats.bufferedBytes -= run.bytes.count
            stats.bufferedRuns -= 1
            return
        }
        let k = Int(offset - run.start)
        halves[h].runs[0].bytes.removeFirst(k)
        halves[h].runs[0].start = offset
        halves[h].buffered -= Int32(k)
        stats.bufferedBytes -= k
    }

    /// A segment resent over exactly the range last delivered from a frame: if its bytes differ
    /// (by digest) the receiver may have kept either copy, so the flow is flagged as for an
    /// overlap with buffered data. Only the last segment is remembered, and of a segment over 256
    /// bytes only its ends are compared: an older range resent, or a long segment changed in its
    /// middle, is not seen (README, Limits).
    /// Static, as the table's other per-segment helpers: as a method it was handed a copy of the
    /// whole table.
    static func compareRetransmission(_ half: UnsafePointer<HalfStream>, frame: Span<UInt8>, range: Range<Int>) -> Bool {
        unsafe digest(frame, range) != half.pointee.lastDeliveredDigest
    }

    /// A 64-bit digest of `frame[range]`, not meant to resist anyone (a collision only hides a
    /// conflict). A segment of up to 256 bytes (every command line that carries a login) is
    /// digested whole; of a longer one, its length and first and last 128 bytes, so that message
    /// bodies are not digested byte by byte.
    @inline(__always)
    static func digest(_ frame: Span<UInt8>, _ range: Range<Int>) -> UInt64 {
        unsafe frame.extracting(range).withUnsafeBytes { raw -> UInt64 in
            var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(raw.count)
            @inline(__always) func mix(_ from: Int, _ to: Int) {
                var i = from
                // Four independent lanes for whole 32-byte blocks: with one lane each multiply
                // waits for the one before, on a digest every data segment pays for.
                if i + 32 <= to {
                    var a = h, b = h ^ 0x6A09_E667_F3BC_C908, c = h ^ 0xBB67_AE85_84CA_A73B
                    var d = h ^ 0x3C6E_F372_FE94_F82B
                    // Safe: every load below ends at or before `to`, and `to <= raw.count` (the calls below).
                    while i + 32 <= to {
                        a = unsafe (a ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                        b = unsafe (b ^ raw.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                        c = unsafe (c ^ raw.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                        d = unsafe (d ^ raw.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                        a ^= a >> 32; b ^= b >> 29; c ^= c >> 31; d ^= d >> 27
                        i += 32
                    }
                    h = ((a &* 0xC4CE_B9FE_1A85_EC53 ^ b) &* 0xC4CE_B9FE_1A85_EC53 ^ c) &* 0xC4CE_B9FE_1A85_EC53 ^ d
                }
                while i + 8 < to {
                    h = unsafe (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                    h ^= h >> 32
                    i += 8
                }
                // The last 1 to 8 bytes: of a range of 8 or more, as one load of its last 8 (which
                // may overlap bytes already mixed; the length is in the seed), since a loop over
                // them one at a time weighs on every short segment delivered.
                var tail: UInt64 = 0
                if to - from >= 8 {
                    if i < to { tail = unsafe raw.loadUnaligned(fromByteOffset: to - 8, as: UInt64.self) }
                } else {
                    while i < to {
                        tail = unsafe tail << 8 | UInt64(raw[i])
                        i += 1
                    }
                }
                h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
                h ^= h >> 29
            }
            if raw.count <= 256 {
                mix(0, raw.count)
            } else {
                mix(0, 128)
                mix(raw.count - 128, raw.count)
            }
            return h
        }
    }

    /// Removes the first buffered run, returns its bytes to the budget and delivers it.
    mutating func deliverFirstRun<H: StreamHandler>(slot: Int, half h: Int, info: FlowInfo, time: Timestamp,
                                                    handler: inout H) {
        var run = halves[h].runs.removeFirst()
        halves[h].buffered -= Int32(run.bytes.count)
        stats.bufferedBytes -= run.bytes.count
        stats.bufferedRuns -= 1
        halves[h].next = run.end
        let direction: Direction = h & 1 == 0 ? .clientToServer : .serverToClient
        handler.bufferedBytes(fromPacket: run.packet)
        handler.streamData(slot: slot, info: info, direction: direction, bytes: run.bytes.span, time: time)
        handler.bufferedBytes(fromPacket: packetNumber)
        // Remembered as a frame's delivery is, so that a resend of exactly this range with other
        // bytes is a conflict (under `ack`, held data the receiver acknowledged).
        halves[h].noteDelivered(start: run.start, end: run.end, digest: Self.digest(run.bytes.span, 0..<run.bytes.count))
        var bytes: [UInt8] = []
        swap(&bytes, &run.bytes)
        recycle(&bytes)
    }

    /// Keeps an emptied buffer for the next run (`spareBytes`).
    mutating func recycle(_ bytes: inout [UInt8]) {
        guard spareBytes.count < Self.maxSpares && bytes.capacity <= Self.maxSpareCapacity else { return }
        bytes.removeAll(keepingCapacity: true)
        spareBytes.append(bytes)
        bytes = []
    }

    /// Delivers buffered runs that now start at `next`, up to what the peer acknowledged while
    /// the direction holds (policy `ack`). Bytes delivered on an ACK keep their arrival time.
    mutating func deliverContiguous<H: StreamHandler>(slot: Int, half h: Int, time: Timestamp, handler: inout H) {
        while let run = halves[h].runs.first, run.start <= halves[h].next {
            let limit = unsafe HalfStream.holdLimit(halves.address(h), configuration.streamPolicy)
            if limit == .max {
                deliverFirstRun(slot: slot, half: h, info: flows[slot].info, time: time, handler: &handler)
                continue
            }
            guard limit > run.start else { return }
            if limit >= run.end {
                deliverFirstRun(slot: slot, half: h, info: flows[slot].info, time: run.time, handler: &handler)
                continue
            }
            // The ACK stopped inside the run: its acknowledged part goes, the rest waits. The
            // bytes are moved out for the call so that trimming them after is done in place.
            var bytes: [UInt8] = []
            swap(&bytes, &halves[h].runs[0].bytes)
            let k = Int(limit - run.start)
            halves[h].next = limit
            let direction: Direction = h & 1 == 0 ? .clientToServer : .serverToClient
            handler.bufferedBytes(fromPacket: run.packet)
            handler.streamData(slot: slot, info: flows[slot].info, direction: direction,
                               bytes: bytes.span.extracting(0..<k), time: run.time)
            handler.bufferedBytes(fromPacket: packetNumber)
            halves[h].noteDelivered(start: run.start, end: limit, digest: Self.digest(bytes.span, 0..<k))
            bytes.removeFirst(k)
            swap(&bytes, &halves[h].runs[0].bytes)
            halves[h].runs[0].start = limit
            halves[h].buffered -= Int32(k)
            stats.bufferedBytes -= k
            return
        }
    }

    /// Releases what half `h` holds for an ACK (its parser needs no more protection, or the flow
    /// ends): counted as flushed unacknowledged when there was any.
    @inline(__always)
    mutating func flushHeld<H: StreamHandler>(slot: Int, half h: Int, time: Timestamp, counted: Bool = true,
                                              handler: inout H) {
        if !halves[h].runs.isEmpty { flushHeldRuns(slot: slot, half: h, time: time, counted: counted, handler: &handler) }
    }

    @inline(never)
    mutating func flushHeldRuns<H: StreamHandler>(slot: Int, half h: Int, time: Timestamp, counted: Bool,
                                                  handler: inout H) {
        guard let run = halves[h].runs.first, run.start <= halves[h].next else { return }
        if counted && configuration.streamPolicy == .ack { stats.events.unackedDataFlushed += 1 }
        while let run = halves[h].runs.first, run.start <= halves[h].next {
            deliverFirstRun(slot: slot, half: h, info: flows[slot].info, time: run.time, handler: &handler)
        }
    }

    /// Reports `[next, end)` as missing and moves `next` to `end`.
    mutating func declareGap<H: StreamHandler>(slot: Int, half h: Int, upTo end: Int64, time: Timestamp,
                                               handler: inout H) {
        let next = halves[h].next
        guard end > next else { return }
        let length = UInt64(end - next)
        halves[h].next = end
        stats.gaps += 1
        stats.gapBytes &+= length
        let direction: Direction = h & 1 == 0 ? .clientToServer : .serverToClient
        handler.streamGap(slot: slot, info: flows[slot].info, direction: direction, length: length, time: time)
    }

    /// Suricata's `CheckGap`: the peer acknowledged bytes of half `h` that were never seen, and
    /// something (buffered data or the FIN) waits beyond them, or the acknowledging packet carries
    /// the peer's own data (`answering`): a peer that answers has long received what it ACKs, so
    /// the loss is declared before the answer is parsed and later findings carry `after_gap`. A
    /// bare ACK with nothing beyond the hole is not enough: on a span port it can overtake the
    /// data it acknowledges. Returns true if the flow closed.
    mutating func checkAckGap<H: StreamHandler>(slot: Int, half h: Int, time: Timestamp, answering: Bool = false,
                                                handler: inout H) -> Bool {
        while unsafe halves.address(h).pointee.ackedPastNext, let ack = unsafe halves.address(h).pointee.peerAckOffset {
            let target: Int64
            if let run = halves[h].runs.first {
                target = min(ack, run.start)
            } else if halves[h].hasFin && halves[h].finOffset > halves[h].next {
                target = min(ack, halves[h].finOffset)
            } else if answering {
                target = ack
            } else {
                break
            }
            declareGap(slot: slot, half: h, upTo: target, time: time, handler: &handler)
            deliverContiguous(slot: slot, half: h, time: time, handler: &handler)
            if checkEnd(slot: slot, half: h, time: time, handler: &handler) { return true }
            // If the ACK stopped inside the hole, `next == ack` now and the loop ends: the rest
            // of the hole was not acknowledged and may still arrive.
        }
        return false
    }

    /// Ends half `h` if its stream reached the FIN; closes the flow when both halves ended.
    /// Returns true if the flow closed.
    mutating func checkEnd<H: StreamHandler>(slot: Int, half h: Int, time: Timestamp, handler: inout H) -> Bool {
        if unsafe !halves[h].ended && halves.address(h).pointee.reachedFin {
            halves[h].ended = true
            release(half: h)
            let direction: Direction = h & 1 == 0 ? .clientToServer : .serverToClient
            handler.streamEnded(slot: slot, info: flows[slot].info, direction: direction, time: time)
        }
        if halves[2 * slot].ended && halves[2 * slot + 1].ended {
            closeFlow(slot: slot, reason: .finished, time: time, handler: &handler)
            return true
        }
        return false
    }

    // MARK: - Out-of-order store

    struct InsertPlan {
        /// Runs `first...last` touch (overlap or abut) the new bytes; `first > last` if none.
        var first: Int
        var last: Int
        var newBytes: Int
        /// Bytes of the segment already buffered (retransmitted; the buffered copy is kept).
        var overlap: Int
        var runsAfter: Int
        /// Runs added by the insert: 1 for a run of its own, less when it merges runs.
        var newRuns: Int
    }

    static func planInsert(_ half: UnsafePointer<HalfStream>, start s: Int64, end e: Int64) -> InsertPlan {
        let runs = unsafe half.pointee.runs
        var first = runs.count
        for i in runs.indices where runs[i].end >= s { first = i; break }
        var last = first - 1
        var overlap: Int64 = 0
        var i = first
        while i < runs.count && runs[i].start <= e {
            overlap += max(0, min(e, runs[i].end) - max(s, runs[i].start))
            last = i
            i += 1
        }
        let touching = last >= first ? last - first + 1 : 0
        return InsertPlan(first: first, last: last, newBytes: Int(e - s - overlap), overlap: Int(overlap),
                          runsAfter: runs.count - touching + 1, newRuns: 1 - touching)
    }

    /// Copies the bytes of `[s, e)` not yet buffered and merges the touching runs into one. Where
    /// runs already held some of those offsets, the buffered copy is kept under policy `first`
    /// and replaced by the frame's under `ack` (buffered bytes were never acknowledged).
    mutating func insert(slot: Int, half h: Int, plan: InsertPlan, start s: Int64, end e: Int64, frameStart: Int,
                         frame: Span<UInt8>, time: Timestamp, conflicted: inout Bool) {
        @inline(__always) func frameIndex(_ offset: Int64) -> Int { frameStart + Int(offset - s) }
        if plan.first > plan.last {
            var bytes = spareBytes.popLast() ?? []
            bytes.reserveCapacity(Int(e - s))
            appendBytes(&bytes, from: frame, frameIndex(s)..<frameIndex(e))
            if halves[h].runs.capacity == 0, let runs = spareRuns.popLast() { halves[h].runs = runs }
            halves[h].runs.insert(BufferedRun(start: s, bytes: bytes, time: time, packet: packetNumber), at: plan.first)
        } else {
            var bytes: [UInt8] = []
            var runStart: Int64
            var current: Int64
            var k = plan.first
            var differing: UInt64 = 0
            let firstRun = halves[h].runs[plan.first]
            if s < firstRun.start {
                runStart = s
                current = s
            } else {
                swap(&bytes, &halves[h].runs[plan.first].bytes)  // extend the first run in place
                runStart = firstRun.start
                current = firstRun.end
                differing &+= Self.compare(frame: frame, frameStart: frameStart, start: s, end: e, with: bytes, at: runStart)
                k += 1
            }
            while k <= plan.last {
                let run = halves[h].runs[k]
                appendBytes(&bytes, from: frame, frameIndex(current)..<frameIndex(run.start))
                differing &+= Self.compare(frame: frame, frameStart: frameStart, start: s, end: e, with: run.bytes,
                                      at: run.start)
                bytes.append(contentsOf: run.bytes)
                current = run.end
                k += 1
            }
            if current < e { appendBytes(&bytes, from: frame, frameIndex(current)..<frameIndex(e)) }
            if differing > 0 {
                stats.overlapConflictBytes &+= differing
                if configuration.streamPolicy == .ack {
                    stats.events.unackedDataReplaced += 1
                    // The merged run covers `[s, e)`: the frame's copy overwrites the old one.
                    var offset = s
                    while offset < e {
                        bytes[Int(offset - runStart)] = frame[frameIndex(offset)]
                        offset += 1
                    }
                } else {
                    stats.events.overlapConflict += 1
                }
                conflict(slot: slot, counted: &conflicted)
            }
            halves[h].runs[plan.first] = BufferedRun(start: runStart, bytes: bytes, time: time, packet: packetNumber)
            if plan.last > plan.first { halves[h].runs.removeSubrange((plan.first + 1)...plan.last) }
        }
        if plan.overlap > 0 {
            stats.retransmittedSegments += 1
            stats.retransmittedBytes &+= UInt64(plan.overlap)
        }
        halves[h].buffered += Int32(plan.newBytes)
        stats.bufferedBytes += plan.newBytes
        stats.bufferedRuns += plan.newRuns
        stats.peakBufferedBytes = max(stats.peakBufferedBytes, stats.bufferedBytes)
    }

    /// How many bytes of the new `[start, end)` (in the frame) differ from a buffered run's.
    static func compare(frame: Span<UInt8>, frameStart: Int, start: Int64, end: Int64, with run: [UInt8],
                 at runStart: Int64) -> UInt64 {
        let lo = max(start, runStart), hi = min(end, runStart + Int64(run.count))
        guard hi > lo else { return 0 }
        var differing: UInt64 = 0
        var offset = lo
        while offset < hi {
            if run[Int(offset - runStart)] != frame[frameStart + Int(offset - start)] { differing &+= 1 }
            offset += 1
        }
        return differing
    }

    /// Frees half `h`'s buffered runs and returns their bytes to the budget.
    @inline(__always)
    mutating func release(half h: Int) {
        // Nearly always nothing was buffered: then there is nothing to give back, and storing an
        // empty array would still release the old one (a runtime call, twice for every flow).
        // The test is inline, the work out of line, so closing a flow pays for neither call.
        if halves[h].runs.capacity != 0 || halves[h].buffered != 0 { releaseBuffered(half: h) }
    }

    @inline(never)
    mutating func releaseBuffered(half h: Int) {
        stats.bufferedBytes -= Int(halves[h].buffered)
        stats.bufferedRuns -= halves[h].runs.count
        halves[h].buffered = 0
        var runs: [BufferedRun] = []
        swap(&runs, &halves[h].runs)
        for i in runs.indices { recycle(&runs[i].bytes) }
        if spareRuns.count < Self.maxSpares && runs.capacity <= 64 {
            runs.removeAll(keepingCapacity: true)
            spareRuns.append(runs)
        }
    }
}
