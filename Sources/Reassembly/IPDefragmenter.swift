import Wire

// IPv4 and IPv6 fragment reassembly, by packet time, in bounded memory.
//
// Overlaps, by `DefragmentPolicy`. Under every policy a fragment that overlaps held data counts in
// `overlaps`, and one whose overlapping bytes differ from the held ones also in `overlapConflicts`.
// - rfc5722 (default): a fragment whose range equals one already held is a duplicate and is ignored
//   (the held copy stays; Linux compares only offset and end, so a same-range fragment with other
//   bytes is ignored too, and counted as a conflict). Any other overlap discards the whole datagram,
//   as RFC 5722 requires for IPv6 and Linux has done for IPv4 since 4.19 ("ip: discard IPv4
//   datagrams with overlapping segments").
//   So do a second "last" fragment with another end and data past the end (Linux kills the queue).
//   This is the default because the server behind the sensor runs such a stack: it never delivers
//   an overlapping datagram, and a sensor that reassembled one anyway would report a login the
//   server never saw.
// - first: the bytes that arrived first win (the BSD "first" and Windows policies in Suricata).
// - last: the bytes that arrived last win (they overwrite what is held).
// Under first and last an inconsistent end refuses only that fragment.
//
// The header of the completed datagram is the first-arrived offset-0 fragment's, under every
// policy: for IPv6 its unfragmentable part and its Fragment header's Next Header, even when later
// fragments carry other ones (RFC 8200 section 4.5 says to take them from the first fragment).
//
// An atomic fragment (offset 0, no more fragments; RFC 6946) completes at once, on its own, and
// never joins or disturbs a datagram being reassembled under the same identification.
//
// Time is the packet clock given to `add` and `expire`, never the wall clock. The clock only moves
// forward (a packet stamped earlier than one already seen is treated as arriving at the latest
// time), so datagrams sit in the age list in creation order and expiry walks it from its head.
//
// Memory: what is charged is the fragment data held (each byte once, however many fragments carried
// it), the first fragment's header, and `fragmentOverhead` per held fragment, so a flood of tiny
// fragments is charged for its bookkeeping too. A struct, not a class: the engine owns one and
// nothing else refers to it.

/// What the decoder found out about one fragment. Offsets are into the `packet` span handed to `add`,
/// which starts at the IP header of the fragment.
public struct IPFragment: Sendable {
    public var isIPv6: Bool
    public var source: IPAddress
    public var destination: IPAddress
    /// IPv4: the 16-bit Identification; IPv6: the Fragment header's 32-bit Identification.
    public var identification: UInt32
    /// IPv4: the Protocol field; IPv6: the Fragment header's Next Header.
    public var nextProtocol: UInt8
    /// Fragment offset in bytes (the wire field times 8).
    public var offset: Int
    public var moreFragments: Bool
    /// IPv4: the IP header length (IHL*4). IPv6: the offset of the Fragment header (40 plus the
    /// extension headers before it): the unfragmentable part is packet[0..<headerLength].
    public var headerLength: Int
    /// IPv6 only: offset of the byte that holds the Next Header value pointing at the Fragment header
    /// (6 when the Fragment header follows the fixed header, else byte 0 of the preceding extension
    /// header). Ignored for IPv4.
    public var nextHeaderFieldOffset: Int
    /// Where this fragment's data lies in `packet` (IPv4: headerLength..<totalLength; IPv6:
    /// headerLength+8 ..< 40+payloadLength). The decoder has checked both against the captured bytes.
    public var dataStart: Int
    public var dataEnd: Int
    /// Opaque to the defragmenter: what else keys the datagram (tunnel and VLAN context). Fragments
    /// with different contexts never combine.
    public var context: UInt64

    public init(isIPv6: Bool, source: IPAddress, destination: IPAddress, identification: UInt32,
                nextProtocol: UInt8, offset: Int, moreFragments: Bool, headerLength: Int,
                nextHeaderFieldOffset: Int, dataStart: Int, dataEnd: Int, context: UInt64) {
        self.isIPv6 = isIPv6; self.source = source; self.destination = destination
        self.identification = identification; self.nextProtocol = nextProtocol
        self.offset = offset; self.moreFragments = moreFragments; self.headerLength = headerLength
        self.nextHeaderFieldOffset = nextHeaderFieldOffset
        self.dataStart = dataStart; self.dataEnd = dataEnd; self.context = context
    }
}

public enum DefragmentPolicy: String, Sendable, CaseIterable {
    /// Default. What current Linux does for IPv4 and RFC 5722 requires for IPv6: an exact duplicate
    /// is ignored, any other overlap discards the whole datagram (the receiver never delivers it).
    case rfc5722
    /// The bytes that arrived first win (as the BSD "first" / Windows policies of Suricata).
    case first
    /// The bytes that arrived last win.
    case last
}

public struct DefragmentConfiguration: Sendable {
    /// Bytes held across all incomplete datagrams (fragment data, first-fragment headers, plus
    /// `fragmentOverhead` per held fragment, so a flood of tiny fragments cannot exceed it).
    public var memoryBudget = 16 * 1024 * 1024
    /// Nanoseconds of packet time an incomplete datagram is kept after its first fragment (Linux ipfrag_time: 30 s).
    public var timeout: Int64 = 30 * 1_000_000_000
    /// Incomplete datagrams tracked at once.
    public var maxDatagrams = 4096
    /// Fragments per datagram (an evasion trick uses thousands of tiny ones).
    public var maxFragmentsPerDatagram = 256
    public var policy: DefragmentPolicy = .rfc5722
    /// Bytes charged per held fragment for its bookkeeping.
    public var fragmentOverhead = 64
    public init() {}
}

public struct DefragmentStats: Sendable, Equatable {
    /// Fragments handed to `add`.
    public var fragments: UInt64 = 0
    /// Datagrams completed (atomic fragments included).
    public var reassembled: UInt64 = 0
    /// Incomplete datagrams dropped by the timeout (or by `flush`).
    public var timedOut: UInt64 = 0
    /// Fragments that overlapped data already held (duplicates included).
    public var overlaps: UInt64 = 0
    /// Overlaps whose bytes differed from what was held.
    public var overlapConflicts: UInt64 = 0
    /// Datagrams dropped by the policy (rfc5722 overlap or inconsistent end) or as invalid (over
    /// 65,535 bytes once the first fragment's header is known).
    public var discarded: UInt64 = 0
    /// Fragments refused: datagram over 65,535 bytes, data not a multiple of 8 before the last
    /// fragment, a second "last" fragment with another end, data past the end, offsets that do not
    /// fit the packet.
    public var invalid: UInt64 = 0
    /// Times the budget forced the oldest datagram out, or refused a fragment larger than the
    /// whole budget.
    public var memoryBudgetHits: UInt64 = 0
    /// Datagrams dropped to make room (budget or maxDatagrams or maxFragmentsPerDatagram).
    public var evicted: UInt64 = 0
    /// Most bytes held at once.
    public var peakBytes: UInt64 = 0
    /// Bytes held now.
    public var heldBytes: UInt64 = 0
    /// Incomplete datagrams now.
    public var pending: Int = 0

    public init() {}
}

public enum DefragmentResult: Sendable, Equatable {
    /// Held: the datagram is not complete yet (or the fragment was a duplicate).
    case held
    /// The datagram is complete: read it with `withCompleted` before the next call.
    case completed
    /// The fragment was refused (zero-length ones included: counted only in `fragments`) or caused
    /// the datagram to be dropped (counted in the stats).
    case dropped
}

/// Reassembles IP datagrams from fragments, by packet time, in bounded memory.
public struct IPDefragmenter {
    struct Key: Hashable {
        var source: IPAddress
        var destination: IPAddress
        var identification: UInt32
        /// IPv4 only (RFC 791 keys on it); 0 for IPv6, which RFC 8200 keys without it.
        var proto: UInt8
        var isIPv6: Bool
        var context: UInt64
    }

    /// Datagram bytes `start..<end` live at `arena[at ..< at + (end - start)]`.
    struct Piece {
        var start: Int
        var end: Int
        var at: Int
    }

    struct Datagram {
        var key: Key
        var created: Int64
        /// False for a free slot.
        var live = true
        /// The age list, oldest first; -1 ends it.
        var older = -1
        var newer = -1
        /// Sorted by start, disjoint. Under rfc5722 each piece is exactly one held fragment.
        var pieces: [Piece] = []
        var arena: [UInt8] = []
        /// The first offset-0 fragment's header (IPv4) or unfragmentable part (IPv6); empty until then.
        var header: [UInt8] = []
        var nextHeaderFieldOffset = 0
        var nextProtocol: UInt8 = 0
        /// The end the "last" fragment declared, or -1.
        var lastEnd = -1
        var covered = 0
        var fragmentCount = 0
        var charged = 0
    }

    let configuration: DefragmentConfiguration
    public private(set) var stats = DefragmentStats()

    /// Datagrams by slot; `index` maps keys to slots. Not optionals: an optional would have to be
    /// unwrapped into a copy to write to, and the copy would share (so duplicate) its arrays.
    var slots: [Datagram] = []
    var freeSlots: [Int] = []
    var index: [Key: Int] = [:]
    var oldest = -1
    var newest = -1
    var clock = Int64.min

    var completed: [UInt8] = []
    var completedContext: UInt64 = 0
    /// Reused by each `add` to plan the pieces of the datagram range the fragment touches.
    var plan: [Piece] = []

    public init(configuration: DefragmentConfiguration) {
        self.configuration = configuration
    }

    /// The datagram the last `add` completed (empty if it completed none): a whole IP packet that
    /// decodes as an unfragmented one, and the context it was keyed with. The bytes live in the
    /// defragmenter's own storage, valid only inside the closure.
    public func withCompleted<R>(_ body: (Span<UInt8>, UInt64) throws -> R) rethrows -> R {
        try body(completed.span, completedContext)
    }

    // MARK: - Adding fragments

    /// Adds one fragment whose IP packet is `packet` (from its IP header to the end the IP length
    /// field declares, already checked against the capture). `time` is the packet clock.
    public mutating func add(_ fragment: IPFragment, packet: Span<UInt8>, time: Timestamp) -> DefragmentResult {
        stats.fragments &+= 1
        completed.removeAll(keepingCapacity: true)
        advanceClock(to: time.nanoseconds)
        expireOldest()

        guard shapeIsValid(fragment, packetCount: packet.count) else { return refuse() }
        let start = fragment.offset
        let length = fragment.dataEnd - fragment.dataStart
        let end = start + length  // both at most 65,535: no overflow
        if fragment.moreFragments && length % 8 != 0 { return refuse() }
        let unfragmentableExtra = fragment.isIPv6 ? fragment.headerLength - 40 : fragment.headerLength
        if unfragmentableExtra + end > 65535 { return refuse() }
        if start == 0 && !fragment.moreFragments { return completeAtomic(fragment, packet: packet) }
        if length == 0 { return .dropped }

        let key = Key(source: fragment.source, destination: fragment.destination,
                      identification: fragment.identification,
                      proto: fragment.isIPv6 ? 0 : fragment.nextProtocol,
                      isIPv6: fragment.isIPv6, context: fragment.context)
        // `expireOldest` above has dropped every datagram whose time is up, so one found is live.
        var slot = index[key] ?? -1
        let headerCharge = start == 0 ? fragment.headerLength : 0
        // A fragment alone over the budget can never be held: refuse it before evicting anyone.
        if length + headerCharge + configuration.fragmentOverhead > configuration.memoryBudget {
            stats.memoryBudgetHits &+= 1
            return .dropped
        }
        if slot < 0 {
            while stats.pending >= configuration.maxDatagrams && oldest >= 0 {
                stats.evicted &+= 1
                remove(slot: oldest)
            }
            if stats.pending >= configuration.maxDatagrams { return .dropped }
            slot = create(key)
        }
        return insert(fragment, packet: packet, slot: slot, start: start, end: end)
    }

    /// Everything `add` checks about the fragment's own fields before looking it up.
    func shapeIsValid(_ f: IPFragment, packetCount: Int) -> Bool {
        guard f.offset >= 0, f.offset <= 65528, f.offset % 8 == 0,
              f.dataStart <= f.dataEnd, f.dataEnd <= packetCount, f.dataEnd - f.dataStart <= 65535 else { return false }
        if f.isIPv6 {
            return f.headerLength >= 40 && f.headerLength <= 65535 && f.headerLength + 8 <= f.dataStart
                && f.nextHeaderFieldOffset >= 0 && f.nextHeaderFieldOffset < f.headerLength
        }
        return f.headerLength >= 20 && f.headerLength <= 60 && f.headerLength <= f.dataStart
    }

    mutating func refuse() -> DefragmentResult {
        stats.invalid &+= 1
        return .dropped
    }

    mutating func insert(_ fragment: IPFragment, packet: Span<UInt8>, slot: Int, start: Int, end: Int) -> DefragmentResult {
        // The datagram is read and written in place through `slots[slot]`: a local copy would share
        // its arrays and make every write below copy them.
        let policy = configuration.policy
        let last = slots[slot].pieces.last?.end ?? 0
        let lastEnd = slots[slot].lastEnd
        // Ends: a second "last" fragment must agree, and nothing may lie past a known end.
        let inconsistentEnd = fragment.moreFragments
            ? (lastEnd >= 0 && end > lastEnd)
            : ((lastEnd >= 0 && end != lastEnd) || end < last)
        if inconsistentEnd {
            stats.invalid &+= 1
            if policy == .rfc5722 { return discard(slot: slot) }
            return .dropped
        }

        // Plan: the held pieces the range touches, with the holes it fills between them.
        plan.removeAll(keepingCapacity: true)
        let count = slots[slot].pieces.count
        var lo = 0, hi = count
        while lo < hi {  // the first piece ending after `start`
            let mid = (lo + hi) / 2
            if slots[slot].pieces[mid].end <= start { lo = mid + 1 } else { hi = mid }
        }
        var i = lo
        var cursor = start
        var newBytes = 0
        var overlapped = false, conflict = false, duplicate = false
        let base = fragment.dataStart - start  // the packet index of datagram offset 0
        while i < count && slots[slot].pieces[i].start < end {
            let p = slots[slot].pieces[i]
            overlapped = true
            if p.start == start && p.end == end { duplicate = true }
            if cursor < p.start {
                plan.append(Piece(start: cursor, end: p.start, at: -1))
                newBytes += p.start - cursor
            }
            if !conflict {
                for k in max(start, p.start)..<min(end, p.end)
                where slots[slot].arena[p.at + (k - p.start)] != packet[base + k] {
                    conflict = true
                    break
                }
            }
            plan.append(p)
            cursor = max(cursor, p.end)
            i += 1
        }
        if cursor < end {
            plan.append(Piece(start: cursor, end: end, at: -1))
            newBytes += end - cursor
        }
        if overlapped {
            stats.overlaps &+= 1
            if conflict { stats.overlapConflicts &+= 1 }
        }
        if policy == .rfc5722 && overlapped {
            // A duplicate is the one held piece with exactly this range (here pieces are fragments).
            guard duplicate && i - lo == 1 else { return discard(slot: slot) }
            if !fragment.moreFragments { slots[slot].lastEnd = end }
            return complete(slot: slot)
        }
        let takesHeader = start == 0 && slots[slot].header.isEmpty
        if newBytes == 0 && !takesHeader {
            if policy == .last && conflict { overwrite(slot: slot, lo: lo, upTo: i, packet: packet, base: base, start: start, end: end) }
            if !fragment.moreFragments { slots[slot].lastEnd = end }
            return complete(slot: slot)
        }

        if slots[slot].fragmentCount >= configuration.maxFragmentsPerDatagram {
            stats.evicted &+= 1
            remove(slot: slot)
            return .dropped
        }
        let charge = newBytes + configuration.fragmentOverhead + (takesHeader ? fragment.headerLength : 0)
        // Make room, oldest first, as Linux's frag evictor does; the datagram being added to goes
        // like any other if it is the oldest.
        while Int(stats.heldBytes) + charge > configuration.memoryBudget {
            let victim = oldest
            guard victim >= 0 else { return .dropped }
            stats.memoryBudgetHits &+= 1
            stats.evicted &+= 1
            remove(slot: victim)
            if victim == slot { return .dropped }
        }

        if policy == .last && conflict { overwrite(slot: slot, lo: lo, upTo: i, packet: packet, base: base, start: start, end: end) }
        for k in plan.indices where plan[k].at < 0 {
            plan[k].at = slots[slot].arena.count
            appendBytes(&slots[slot].arena, from: packet, (base + plan[k].start)..<(base + plan[k].end))
        }
        slots[slot].pieces.replaceSubrange(lo..<i, with: plan)
        if takesHeader {
            appendBytes(&slots[slot].header, from: packet, 0..<fragment.headerLength)
            slots[slot].nextHeaderFieldOffset = fragment.nextHeaderFieldOffset
            slots[slot].nextProtocol = fragment.nextProtocol
        }
        if !fragment.moreFragments { slots[slot].lastEnd = end }
        slots[slot].covered += newBytes
        slots[slot].fragmentCount += 1
        slots[slot].charged += charge
        hold(charge)
        return complete(slot: slot)
    }

    /// Under `last`, the fragment's bytes replace the held ones where they overlap.
    mutating func overwrite(slot: Int, lo: Int, upTo hi: Int, packet: Span<UInt8>, base: Int, start: Int, end: Int) {
        for j in lo..<hi {
            let p = slots[slot].pieces[j]
            for k in max(start, p.start)..<min(end, p.end) {
                slots[slot].arena[p.at + (k - p.start)] = packet[base + k]
            }
        }
    }

    /// Builds the datagram in `completed` if it is whole, and forgets it.
    mutating func complete(slot: Int) -> DefragmentResult {
        let d = slots[slot]
        guard d.live, d.lastEnd >= 0, d.covered == d.lastEnd, !d.header.isEmpty else { return .held }
        let isIPv6 = d.key.isIPv6
        let total = d.header.count + d.lastEnd
        // The first fragment's header may be longer than the ones the others were checked with.
        if total - (isIPv6 ? 40 : 0) > 65535 {
            stats.invalid &+= 1
            return discard(slot: slot)
        }
        completed.removeAll(keepingCapacity: true)
        completed.reserveCapacity(total)
        completed.append(contentsOf: d.header)
        for p in d.pieces {
            completed.append(contentsOf: d.arena[p.at ..< p.at + (p.end - p.start)])
        }
        finishHeader(isIPv6: isIPv6, headerLength: d.header.count,
                     nextHeaderFieldOffset: d.nextHeaderFieldOffset, nextProtocol: d.nextProtocol)
        completedContext = d.key.context
        stats.reassembled &+= 1
        remove(slot: slot)
        return .completed
    }

    /// An atomic fragment is its own datagram: its header and data, without the Fragment header.
    mutating func completeAtomic(_ fragment: IPFragment, packet: Span<UInt8>) -> DefragmentResult {
        appendBytes(&completed, from: packet, 0..<fragment.headerLength)
        appendBytes(&completed, from: packet, fragment.dataStart..<fragment.dataEnd)
        finishHeader(isIPv6: fragment.isIPv6, headerLength: fragment.headerLength,
                     nextHeaderFieldOffset: fragment.nextHeaderFieldOffset, nextProtocol: fragment.nextProtocol)
        completedContext = fragment.context
        stats.reassembled &+= 1
        return .completed
    }

    /// Makes `completed` (header then data) read as an unfragmented packet.
    mutating func finishHeader(isIPv6: Bool, headerLength: Int, nextHeaderFieldOffset: Int, nextProtocol: UInt8) {
        let total = completed.count
        if isIPv6 {
            let payload = total - 40
            completed[4] = UInt8(truncatingIfNeeded: payload >> 8)
            completed[5] = UInt8(truncatingIfNeeded: payload)
            completed[nextHeaderFieldOffset] = nextProtocol
            return
        }
        completed[2] = UInt8(truncatingIfNeeded: total >> 8)
        completed[3] = UInt8(truncatingIfNeeded: total)
        completed[6] &= 0xC0  // keeps DF and the reserved bit; clears MF and the offset
        completed[7] = 0
        completed[10] = 0
        completed[11] = 0
        var sum: UInt32 = 0
        var k = 0
        while k + 1 < headerLength {
            sum &+= UInt32(completed[k]) << 8 | UInt32(completed[k + 1])
            k += 2
        }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        let checksum = ~UInt16(truncatingIfNeeded: sum)
        completed[10] = UInt8(truncatingIfNeeded: checksum >> 8)
        completed[11] = UInt8(truncatingIfNeeded: checksum)
    }

    // MARK: - Time

    /// Drops datagrams whose timeout passed at `time` (the engine calls this from its shared packet
    /// clock, at most once a second of packet time, and at the end of input with a time far ahead).
    public mutating func expire(now time: Timestamp) {
        advanceClock(to: time.nanoseconds)
        expireOldest()
    }

    /// Drops everything held (end of input); counts the incomplete datagrams as timed out.
    public mutating func flush() {
        while oldest >= 0 {
            stats.timedOut &+= 1
            remove(slot: oldest)
        }
        completed.removeAll(keepingCapacity: true)
    }

    mutating func advanceClock(to t: Int64) {
        if t > clock { clock = t }
    }

    /// Only the head can have expired before the rest (the list is in clock order), so this costs
    /// one comparison when nothing did.
    mutating func expireOldest() {
        while oldest >= 0 && isExpired(created: slots[oldest].created, now: clock) {
            stats.timedOut &+= 1
            remove(slot: oldest)
        }
    }

    func isExpired(created: Int64, now: Int64) -> Bool {
        let (elapsed, overflow) = now.subtractingReportingOverflow(created)
        return overflow || elapsed >= configuration.timeout  // overflow: now is far past created
    }

    // MARK: - Slots and the age list

    mutating func create(_ key: Key) -> Int {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = slots.count
            slots.append(Datagram(key: key, created: clock))
        }
        slots[slot] = Datagram(key: key, created: clock)
        slots[slot].older = newest
        if newest >= 0 { slots[newest].newer = slot } else { oldest = slot }
        newest = slot
        index[key] = slot
        stats.pending += 1
        return slot
    }

    /// Drops a datagram for the policy or as invalid.
    mutating func discard(slot: Int) -> DefragmentResult {
        stats.discarded &+= 1
        remove(slot: slot)
        return .dropped
    }

    mutating func remove(slot: Int) {
        guard slot >= 0 && slot < slots.count && slots[slot].live else { return }
        let older = slots[slot].older, newer = slots[slot].newer
        if older >= 0 { slots[older].newer = newer } else { oldest = newer }
        if newer >= 0 { slots[newer].older = older } else { newest = older }
        index[slots[slot].key] = nil
        stats.heldBytes -= UInt64(slots[slot].charged)
        stats.pending -= 1
        // Drops the datagram's arrays now rather than when the slot is next used.
        slots[slot] = Datagram(key: slots[slot].key, created: 0, live: false)
        freeSlots.append(slot)
    }

    mutating func hold(_ bytes: Int) {
        stats.heldBytes += UInt64(bytes)
        if stats.heldBytes > stats.peakBytes { stats.peakBytes = stats.heldBytes }
    }
}
