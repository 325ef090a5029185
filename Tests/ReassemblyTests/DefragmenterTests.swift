// IP fragment reassembly: orders, duplicates and overlaps under each policy, the completed headers,
// time, and every bound. Fragment packets are built here byte by byte, as a decoder would see them.

import Testing
import Wire
@testable import Reassembly

// MARK: - Building fragments

/// Payload byte `k` of datagram `seed`: where it sits and which datagram it belongs to.
private func payload(_ count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8 &+ seed &* 13) }
}

/// One fragment: `length` bytes of the datagram from `offset`, or `fill` bytes instead of the
/// datagram's own (a conflicting copy).
private struct Piece: Sendable, CustomTestStringConvertible {
    var offset: Int
    var length: Int
    var more: Bool
    var fill: UInt8? = nil
    var testDescription: String { "[\(offset),\(offset + length))\(more ? "+" : "")" }
}

private struct Frame {
    var bytes: [UInt8]
    var fragment: IPFragment
}

private let v4Source = IPAddress(ipv4: 0xC633_6407), v4Destination = IPAddress(ipv4: 0xC000_020A)
private let v6Source = IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 7)
private let v6Destination = IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 10)

private func be16(_ v: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }

private func ipv4Checksum(_ header: ArraySlice<UInt8>) -> UInt16 {
    var sum: UInt32 = 0
    var k = header.startIndex
    while k + 1 < header.endIndex {
        sum += UInt32(header[k]) << 8 | UInt32(header[k + 1])
        k += 2
    }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(sum)
}

/// An IPv4 fragment with `optionWords` 4-byte option words (NOPs) and DF when `dontFragment`.
private func v4(_ data: [UInt8], _ p: Piece, id: UInt16 = 0x1234, proto: UInt8 = 6, optionWords: Int = 0,
                dontFragment: Bool = false, context: UInt64 = 0, source: IPAddress = v4Source) -> Frame {
    let headerLength = 20 + 4 * optionWords
    let body = p.fill.map { [UInt8](repeating: $0, count: p.length) } ?? Array(data[p.offset..<(p.offset + p.length)])
    var flags = p.offset / 8
    if p.more { flags |= 0x2000 }
    if dontFragment { flags |= 0x4000 }
    var h: [UInt8] = [UInt8(0x40 | headerLength / 4), 0] + be16(headerLength + body.count) + be16(Int(id)) + be16(flags)
    h += [64, proto, 0, 0]
    h += be16(Int(source.low >> 16)) + be16(Int(source.low & 0xFFFF))
    h += be16(Int(v4Destination.low >> 16)) + be16(Int(v4Destination.low & 0xFFFF))
    h += [UInt8](repeating: 1, count: 4 * optionWords)
    let sum = ipv4Checksum(h[...])
    h[10] = UInt8(sum >> 8); h[11] = UInt8(sum & 0xFF)
    let f = IPFragment(isIPv6: false, source: source, destination: v4Destination, identification: UInt32(id),
                       nextProtocol: proto, offset: p.offset, moreFragments: p.more, headerLength: headerLength,
                       nextHeaderFieldOffset: 0, dataStart: headerLength, dataEnd: headerLength + body.count,
                       context: context)
    return Frame(bytes: h + body, fragment: f)
}

/// An IPv6 fragment, with a Hop-by-Hop header before the Fragment header when `hopByHop`.
private func v6(_ data: [UInt8], _ p: Piece, id: UInt32 = 0x1234, next: UInt8 = 6, hopByHop: Bool = false,
                hopLimit: UInt8 = 64, context: UInt64 = 0) -> Frame {
    let body = p.fill.map { [UInt8](repeating: $0, count: p.length) } ?? Array(data[p.offset..<(p.offset + p.length)])
    let headerLength = hopByHop ? 48 : 40
    var h: [UInt8] = [0x60, 0, 0, 0] + be16(headerLength - 40 + 8 + body.count) + [hopByHop ? 0 : 44, hopLimit]
    for a in [v6Source, v6Destination] {
        for shift in stride(from: 56, through: 0, by: -8) { h.append(UInt8(truncatingIfNeeded: a.high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { h.append(UInt8(truncatingIfNeeded: a.low >> UInt64(shift))) }
    }
    if hopByHop { h += [44, 0, 1, 4, 0, 0, 0, 0] }  // a PadN option fills the 8 bytes
    h += [next, 0] + be16(p.offset | (p.more ? 1 : 0))
    h += be16(Int(id >> 16)) + be16(Int(id & 0xFFFF))
    let f = IPFragment(isIPv6: true, source: v6Source, destination: v6Destination, identification: id,
                       nextProtocol: next, offset: p.offset, moreFragments: p.more, headerLength: headerLength,
                       nextHeaderFieldOffset: hopByHop ? 40 : 6, dataStart: headerLength + 8,
                       dataEnd: headerLength + 8 + body.count, context: context)
    return Frame(bytes: h + body, fragment: f)
}

/// `count` bytes cut into fragments of `size` (a multiple of 8), the last one shorter.
private func cut(_ count: Int, size: Int) -> [Piece] {
    stride(from: 0, to: count, by: size).map { Piece(offset: $0, length: min(size, count - $0), more: $0 + size < count) }
}

/// Deterministic shuffle (xorshift), so a failing order can be replayed.
private func shuffled<T>(_ items: [T], seed: UInt64) -> [T] {
    var a = items
    var s = seed | 1
    for i in stride(from: a.count - 1, to: 0, by: -1) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        a.swapAt(i, Int(s % UInt64(i + 1)))
    }
    return a
}

private func config(_ policy: DefragmentPolicy = .rfc5722, _ change: (inout DefragmentConfiguration) -> Void = { _ in })
    -> DefragmentConfiguration {
    var c = DefragmentConfiguration()
    c.policy = policy
    change(&c)
    return c
}

private let second: Int64 = 1_000_000_000

/// What the defragmenter gave back for one fragment: the result and, when complete, the datagram.
private struct Output {
    var result: DefragmentResult
    var datagram: [UInt8]
    var context: UInt64
}

private func feed(_ d: inout IPDefragmenter, _ frame: Frame, at ns: Int64 = 0) -> Output {
    let result = frame.bytes.withUnsafeBufferPointer {
        d.add(frame.fragment, packet: $0.span, time: Timestamp(nanoseconds: ns))
    }
    let (bytes, context) = d.withCompleted { span, context -> ([UInt8], UInt64) in
        var out: [UInt8] = []
        for i in span.indices { out.append(span[i]) }
        return (out, context)
    }
    if result != .completed { #expect(bytes.isEmpty, "bytes lent without a completed datagram") }
    return Output(result: result, datagram: bytes, context: context)
}

/// Feeds every frame and returns the datagrams completed, in order.
private func run(_ d: inout IPDefragmenter, _ frames: [Frame], at ns: Int64 = 0) -> [[UInt8]] {
    frames.compactMap { f in
        let o = feed(&d, f, at: ns)
        return o.result == .completed ? o.datagram : nil
    }
}

/// The payload of a completed IPv4 datagram, after checking its header reads as unfragmented.
private func checkedIPv4Payload(_ p: [UInt8], headerLength: Int = 20, sourceLocation: SourceLocation = #_sourceLocation)
    -> [UInt8] {
    #expect(p.count >= headerLength, sourceLocation: sourceLocation)
    guard p.count >= headerLength else { return [] }
    #expect(p[0] == UInt8(0x40 | headerLength / 4), "version and IHL", sourceLocation: sourceLocation)
    #expect(Int(p[2]) << 8 | Int(p[3]) == p.count, "total length", sourceLocation: sourceLocation)
    #expect(p[6] & 0x3F == 0 && p[7] == 0, "MF and offset cleared", sourceLocation: sourceLocation)
    #expect(ipv4Checksum(p[0..<headerLength]) == 0, "header checksum", sourceLocation: sourceLocation)
    return Array(p[headerLength...])
}

/// The payload of a completed IPv6 datagram whose unfragmentable part is `headerLength` bytes.
private func checkedIPv6Payload(_ p: [UInt8], headerLength: Int = 40, next: UInt8 = 6,
                                sourceLocation: SourceLocation = #_sourceLocation) -> [UInt8] {
    #expect(p.count >= headerLength, sourceLocation: sourceLocation)
    guard p.count >= headerLength else { return [] }
    #expect(p[0] >> 4 == 6, sourceLocation: sourceLocation)
    #expect(Int(p[4]) << 8 | Int(p[5]) == p.count - 40, "payload length", sourceLocation: sourceLocation)
    #expect(p[headerLength == 40 ? 6 : 40] == next, "next header", sourceLocation: sourceLocation)
    return Array(p[headerLength...])
}

// MARK: - Orders

struct OrderCase: Sendable, CustomTestStringConvertible {
    var name: String
    var order: @Sendable ([Int]) -> [Int]
    var testDescription: String { name }
}

private let orders: [OrderCase] = [
    OrderCase(name: "in order") { $0 },
    OrderCase(name: "reversed") { $0.reversed() },
    OrderCase(name: "shuffled 1") { shuffled($0, seed: 1) },
    OrderCase(name: "shuffled 2") { shuffled($0, seed: 0x9E37_79B9) },
    OrderCase(name: "shuffled 3") { shuffled($0, seed: 12345) },
    // Duplicates only before the completing fragment: one after it would start a new datagram.
    OrderCase(name: "every fragment twice but the completing one, shuffled") {
        let s = shuffled($0, seed: 77)
        return s.dropLast().flatMap { [$0, $0] } + s.suffix(1)
    },
    OrderCase(name: "last first, then the first twice") { [$0.count - 1, 0, 0] + $0.dropFirst().dropLast() },
]

@Suite struct DefragmenterOrderTests {
    @Test(arguments: orders, DefragmentPolicy.allCases)
    func ipv4CompletesOnceWithTheRightBytes(_ order: OrderCase, _ policy: DefragmentPolicy) {
        let data = payload(1000)
        let pieces = cut(data.count, size: 96)
        var d = IPDefragmenter(configuration: config(policy))
        let done = run(&d, order.order(Array(pieces.indices)).map { v4(data, pieces[$0]) })
        #expect(done.count == 1)
        if let first = done.first { #expect(checkedIPv4Payload(first) == data) }
        #expect(d.stats.reassembled == 1)
        #expect(d.stats.overlapConflicts == 0)
        #expect(d.stats.discarded == 0)
        #expect(d.stats.pending == 0 && d.stats.heldBytes == 0)
    }

    @Test(arguments: orders, [false, true])
    func ipv6CompletesOnceWithTheRightBytes(_ order: OrderCase, _ hopByHop: Bool) {
        let data = payload(1500, seed: 3)
        let pieces = cut(data.count, size: 200)
        var d = IPDefragmenter(configuration: config())
        let done = run(&d, order.order(Array(pieces.indices)).map { v6(data, pieces[$0], hopByHop: hopByHop) })
        #expect(done.count == 1)
        if let first = done.first {
            #expect(checkedIPv6Payload(first, headerLength: hopByHop ? 48 : 40) == data)
            if hopByHop { #expect(Array(first[40..<48]) == [6, 0, 1, 4, 0, 0, 0, 0]) }
        }
        #expect(d.stats.reassembled == 1 && d.stats.pending == 0 && d.stats.heldBytes == 0)
    }

    @Test func duplicatesAreCountedAsOverlapsNotConflicts() {
        let data = payload(64)
        let pieces = cut(64, size: 16)
        for policy in DefragmentPolicy.allCases {
            var d = IPDefragmenter(configuration: config(policy))
            let done = run(&d, [pieces[0], pieces[1], pieces[1], pieces[2], pieces[0], pieces[3]].map { v4(data, $0) })
            #expect(done.count == 1, "\(policy)")
            #expect(d.stats.overlaps == 2 && d.stats.overlapConflicts == 0 && d.stats.discarded == 0, "\(policy)")
        }
    }
}

// MARK: - Overlaps

struct OverlapCase: Sendable, CustomTestStringConvertible {
    var policy: DefragmentPolicy
    /// The payload expected, or nil when the datagram must not complete.
    var want: (@Sendable ([UInt8]) -> [UInt8])?
    var overlaps: UInt64
    var conflicts: UInt64
    var discarded: UInt64
    var testDescription: String { policy.rawValue }
}

// [0,16) the datagram's bytes, then [8,24) all 0xEE, then [16,32) the datagram's bytes, last.
private let overlapCases: [OverlapCase] = [
    // The conflicting fragment discards the datagram; the last fragment then starts a new one.
    OverlapCase(policy: .rfc5722, want: nil, overlaps: 1, conflicts: 1, discarded: 1),
    OverlapCase(policy: .first, want: { Array($0[0..<16]) + [UInt8](repeating: 0xEE, count: 8) + Array($0[24..<32]) },
                overlaps: 2, conflicts: 2, discarded: 0),
    OverlapCase(policy: .last, want: { Array($0[0..<8]) + [UInt8](repeating: 0xEE, count: 8) + Array($0[16..<32]) },
                overlaps: 2, conflicts: 2, discarded: 0),
]

@Suite struct DefragmenterOverlapTests {
    @Test(arguments: overlapCases)
    func whichBytesWin(_ c: OverlapCase) {
        let data = payload(32)
        let frames = [Piece(offset: 0, length: 16, more: true), Piece(offset: 8, length: 16, more: true, fill: 0xEE),
                      Piece(offset: 16, length: 16, more: false)]
        for ipv6 in [false, true] {
            var d = IPDefragmenter(configuration: config(c.policy))
            let done = run(&d, frames.map { ipv6 ? v6(data, $0) : v4(data, $0) })
            if let want = c.want {
                #expect(done.count == 1)
                if let first = done.first {
                    #expect((ipv6 ? checkedIPv6Payload(first) : checkedIPv4Payload(first)) == want(data))
                }
                #expect(d.stats.pending == 0)
            } else {
                #expect(done.isEmpty)
                #expect(d.stats.pending == 1, "the last fragment starts a datagram of its own")
            }
            #expect(d.stats.overlaps == c.overlaps)
            #expect(d.stats.overlapConflicts == c.conflicts)
            #expect(d.stats.discarded == c.discarded)
        }
    }

    @Test func rfc5722IgnoresASameRangeCopyWithOtherBytesAndKeepsTheFirst() {
        // Linux treats a fragment with the offset and end of a held one as a duplicate, whatever
        // its bytes: the server delivers the first copy, and so must the sensor.
        let data = payload(48)
        var d = IPDefragmenter(configuration: config(.rfc5722))
        let done = run(&d, [Piece(offset: 0, length: 16, more: true), Piece(offset: 16, length: 16, more: true),
                            Piece(offset: 16, length: 16, more: true, fill: 0x41),
                            Piece(offset: 32, length: 16, more: false)].map { v4(data, $0) })
        #expect(done.count == 1)
        if let first = done.first { #expect(checkedIPv4Payload(first) == data) }
        #expect(d.stats.overlaps == 1 && d.stats.overlapConflicts == 1 && d.stats.discarded == 0)
    }

    @Test func rfc5722DiscardsOnAFragmentContainedInAHeldOne() {
        let data = payload(48)
        var d = IPDefragmenter(configuration: config(.rfc5722))
        let out = [Piece(offset: 0, length: 32, more: true), Piece(offset: 8, length: 8, more: true)]
            .map { feed(&d, v6(data, $0)).result }
        #expect(out == [.held, .dropped])
        #expect(d.stats.overlaps == 1 && d.stats.overlapConflicts == 0 && d.stats.discarded == 1)
        #expect(d.stats.pending == 0 && d.stats.heldBytes == 0)
    }

    @Test func aFragmentSpanningSeveralHolesFillsThemUnderFirst() {
        let data = payload(64)
        var d = IPDefragmenter(configuration: config(.first))
        let done = run(&d, [Piece(offset: 8, length: 8, more: true), Piece(offset: 32, length: 8, more: true),
                            Piece(offset: 56, length: 8, more: false),
                            Piece(offset: 0, length: 64, more: true)].map { v4(data, $0) })
        #expect(done.count == 1)
        if let first = done.first { #expect(checkedIPv4Payload(first) == data) }
        #expect(d.stats.overlaps == 1 && d.stats.overlapConflicts == 0)
    }

    @Test func aSecondLastFragmentWithAnotherEnd() {
        let data = payload(64)
        let pieces = [Piece(offset: 0, length: 16, more: true), Piece(offset: 48, length: 16, more: false),
                      Piece(offset: 16, length: 16, more: false), Piece(offset: 16, length: 32, more: true)]
        var strict = IPDefragmenter(configuration: config(.rfc5722))
        #expect(run(&strict, pieces.map { v4(data, $0) }).isEmpty)
        #expect(strict.stats.invalid == 1 && strict.stats.discarded == 1)
        var lenient = IPDefragmenter(configuration: config(.first))
        #expect(run(&lenient, pieces.map { v4(data, $0) }).count == 1)
        #expect(lenient.stats.invalid == 1 && lenient.stats.discarded == 0)
    }
}

// MARK: - Completed headers

@Suite struct DefragmenterHeaderTests {
    @Test func ipv4KeepsOptionsAndDFClearsMFAndRecomputesTheChecksum() {
        let data = payload(300)
        var d = IPDefragmenter(configuration: config())
        let frames = cut(300, size: 104).reversed().map { v4(data, $0, optionWords: 2, dontFragment: true) }
        let done = run(&d, frames)
        #expect(done.count == 1)
        guard let p = done.first else { return }
        #expect(checkedIPv4Payload(p, headerLength: 28) == data)
        #expect(p.count == 328)
        #expect(p[6] == 0x40, "DF kept")
        #expect(Array(p[4..<6]) == [0x12, 0x34] && p[9] == 6)
        #expect(Array(p[20..<28]) == [UInt8](repeating: 1, count: 8), "options from the first fragment")
    }

    @Test func ipv6RemovesTheFragmentHeaderAndTakesTheFirstFragmentsUnfragmentablePart() {
        let data = payload(100)
        var d = IPDefragmenter(configuration: config())
        // The later fragments say hop limit 1 and next header 17: the first fragment's 64 and 6 win.
        let frames = [v6(data, Piece(offset: 48, length: 52, more: false), next: 17, hopByHop: true, hopLimit: 1),
                      v6(data, Piece(offset: 0, length: 48, more: true), hopByHop: true)]
        let done = run(&d, frames)
        #expect(done.count == 1)
        guard let p = done.first else { return }
        #expect(checkedIPv6Payload(p, headerLength: 48, next: 6) == data)
        #expect(p[7] == 64 && p[6] == 0)
        #expect(p.count == 148)
    }

    @Test func anAtomicFragmentCompletesAloneAndLeavesAPendingDatagramAlone() {
        let data = payload(40)
        var d = IPDefragmenter(configuration: config())
        #expect(feed(&d, v6(data, Piece(offset: 16, length: 24, more: false))).result == .held)
        let atomic = feed(&d, v6(data, Piece(offset: 0, length: 16, more: false)))
        #expect(atomic.result == .completed)
        #expect(checkedIPv6Payload(atomic.datagram) == Array(data[0..<16]))
        #expect(d.stats.pending == 1)
        #expect(feed(&d, v6(data, Piece(offset: 0, length: 16, more: true))).result == .completed)
    }
}

// MARK: - Time

@Suite struct DefragmenterTimeTests {
    @Test func aFragmentAfterTheTimeoutStartsANewDatagram() {
        let data = payload(48)
        let p = cut(48, size: 16)
        var d = IPDefragmenter(configuration: config())
        #expect(feed(&d, v4(data, p[0]), at: 0).result == .held)
        #expect(feed(&d, v4(data, p[1]), at: 29 * second).result == .held)
        // 30 s after the first fragment the datagram is gone: p[2] cannot complete it.
        #expect(feed(&d, v4(data, p[2]), at: 30 * second).result == .held)
        #expect(d.stats.timedOut == 1 && d.stats.pending == 1)
        #expect(feed(&d, v4(data, p[0]), at: 31 * second).result == .held)
        #expect(feed(&d, v4(data, p[1]), at: 32 * second).result == .completed)
    }

    @Test func expireDropsByPacketTimeOnly() {
        let data = payload(48)
        var d = IPDefragmenter(configuration: config { $0.timeout = 5 * second })
        _ = feed(&d, v4(data, Piece(offset: 0, length: 16, more: true), id: 1), at: 100 * second)
        _ = feed(&d, v4(data, Piece(offset: 0, length: 16, more: true), id: 2), at: 103 * second)
        d.expire(now: Timestamp(nanoseconds: 104 * second))
        #expect(d.stats.pending == 2 && d.stats.timedOut == 0)
        d.expire(now: Timestamp(nanoseconds: 105 * second))
        #expect(d.stats.pending == 1 && d.stats.timedOut == 1)
        // A clock that goes back does not revive anything or move the clock back.
        d.expire(now: Timestamp(nanoseconds: 1))
        #expect(d.stats.pending == 1)
        d.expire(now: Timestamp(nanoseconds: .max))
        #expect(d.stats.pending == 0 && d.stats.timedOut == 2 && d.stats.heldBytes == 0)
    }

    @Test func flushCountsIncompleteDatagramsAsTimedOut() {
        let data = payload(48)
        var d = IPDefragmenter(configuration: config())
        _ = feed(&d, v4(data, Piece(offset: 0, length: 16, more: true), id: 1))
        _ = feed(&d, v6(data, Piece(offset: 16, length: 16, more: true)))
        #expect(d.stats.pending == 2 && d.stats.heldBytes > 0)
        d.flush()
        #expect(d.stats.pending == 0 && d.stats.heldBytes == 0 && d.stats.timedOut == 2)
        let lent = d.withCompleted { span, _ in span.count }
        #expect(lent == 0)
    }
}

// MARK: - Bounds

@Suite struct DefragmenterBoundsTests {
    @Test func theBudgetEvictsTheOldestAndNewerDatagramsStillComplete() {
        let data = payload(512)
        // Each datagram's first fragment holds 256 + 64 (overhead) + 20 (header) = 340 bytes.
        var d = IPDefragmenter(configuration: config { $0.memoryBudget = 1200 })
        for id in 1...5 {
            _ = feed(&d, v4(data, Piece(offset: 0, length: 256, more: true), id: UInt16(id)))
            #expect(d.stats.heldBytes <= 1200)
        }
        #expect(d.stats.pending == 3 && d.stats.memoryBudgetHits == 2 && d.stats.evicted == 2)
        #expect(d.stats.peakBytes <= 1200)
        // The newest completes (the oldest of the others makes room); the evicted one cannot.
        #expect(feed(&d, v4(data, Piece(offset: 256, length: 256, more: false), id: 5)).result == .completed)
        #expect(feed(&d, v4(data, Piece(offset: 256, length: 256, more: false), id: 1)).result == .held)
    }

    @Test func aFragmentLargerThanTheWholeBudgetIsDroppedAlone() {
        let data = payload(2048)
        var d = IPDefragmenter(configuration: config { $0.memoryBudget = 1024 })
        _ = feed(&d, v4(data, Piece(offset: 0, length: 64, more: true), id: 1))
        #expect(feed(&d, v4(data, Piece(offset: 0, length: 1024, more: true), id: 2)).result == .dropped)
        #expect(d.stats.memoryBudgetHits == 1 && d.stats.evicted == 0 && d.stats.pending == 1)
    }

    @Test func aFloodOfTinyFragmentsStaysInTheBudgetAndALegitDatagramCompletes() {
        let budget = 64 * 1024
        var d = IPDefragmenter(configuration: config {
            $0.memoryBudget = budget
            $0.maxDatagrams = 1_000_000
        })
        let junk = payload(16)
        let data = payload(400, seed: 9)
        var completed: [[UInt8]] = []
        for i in 0..<100_000 {
            if i == 50_000 { completed += run(&d, [v4(data, Piece(offset: 200, length: 200, more: false), id: 7, proto: 17)]) }
            if i == 50_100 { completed += run(&d, [v4(data, Piece(offset: 0, length: 200, more: true), id: 7, proto: 17)]) }
            // Never complete: no last fragment; ids and sources vary so every one is a datagram.
            let source = IPAddress(ipv4: 0x0A00_0000 | UInt32(i >> 16))
            let frame = v4(junk, Piece(offset: 8, length: 8, more: true), id: UInt16(truncatingIfNeeded: i), source: source)
            // Plain checks: 100,000 #expect calls would dominate the test's time.
            if feed(&d, frame, at: Int64(i) * 1000).result != .held { Issue.record("not held at \(i)"); break }
            if d.stats.heldBytes > UInt64(budget) { Issue.record("over the budget at \(i)"); break }
        }
        #expect(completed.count == 1)
        if let first = completed.first { #expect(checkedIPv4Payload(first) == data) }
        #expect(d.stats.peakBytes <= UInt64(budget))
        #expect(d.stats.memoryBudgetHits > 90_000)
        #expect(d.stats.fragments == 100_002)
    }

    @Test func maxDatagramsEvictsTheOldest() {
        let data = payload(32)
        var d = IPDefragmenter(configuration: config { $0.maxDatagrams = 4 })
        for id in 1...5 { _ = feed(&d, v4(data, Piece(offset: 0, length: 16, more: true), id: UInt16(id))) }
        #expect(d.stats.pending == 4 && d.stats.evicted == 1)
        #expect(feed(&d, v4(data, Piece(offset: 16, length: 16, more: false), id: 5)).result == .completed)
        #expect(feed(&d, v4(data, Piece(offset: 16, length: 16, more: false), id: 1)).result == .held)
    }

    @Test func maxFragmentsPerDatagramDropsTheDatagram() {
        let data = payload(64)
        var d = IPDefragmenter(configuration: config { $0.maxFragmentsPerDatagram = 4 })
        let results = cut(64, size: 8).map { feed(&d, v6(data, $0)).result }
        #expect(results == [.held, .held, .held, .held, .dropped, .held, .held, .held])
        #expect(d.stats.evicted == 1 && d.stats.reassembled == 0)
    }

    @Test func aDatagramOver65535BytesIsRefused() {
        let data = payload(65544)
        var d = IPDefragmenter(configuration: config())
        // 20 + 65,528 + 16 = 65,564: the ping of death.
        #expect(feed(&d, v4(data, Piece(offset: 65528, length: 16, more: false))).result == .dropped)
        #expect(d.stats.invalid == 1 && d.stats.pending == 0)
        // 40 + 65,496 + 8 fits in IPv6 (payload length 65,504), 65,528 + 16 does not.
        #expect(feed(&d, v6(data, Piece(offset: 65496, length: 8, more: false))).result == .held)
        #expect(feed(&d, v6(data, Piece(offset: 65528, length: 16, more: false), id: 9)).result == .dropped)
        #expect(d.stats.invalid == 2)
    }

    @Test func aLongerFirstHeaderThatPushesTheDatagramOver65535DiscardsIt() {
        let data = payload(65515)
        var d = IPDefragmenter(configuration: config())
        // With a 20-byte header 65,515 bytes fit exactly, but the first fragment has 40 option bytes.
        #expect(feed(&d, v4(data, Piece(offset: 0, length: 8, more: true), optionWords: 10)).result == .held)
        #expect(feed(&d, v4(data, Piece(offset: 65512, length: 3, more: false))).result == .held)
        #expect(feed(&d, v4(data, Piece(offset: 8, length: 65504, more: true))).result == .dropped)
        #expect(d.stats.invalid == 1 && d.stats.discarded == 1 && d.stats.pending == 0 && d.stats.heldBytes == 0)
    }

    @Test func aMiddleFragmentNotAMultipleOf8IsRefusedAndTheDatagramLives() {
        let data = payload(48)
        var d = IPDefragmenter(configuration: config())
        #expect(feed(&d, v4(data, Piece(offset: 0, length: 16, more: true))).result == .held)
        #expect(feed(&d, v4(data, Piece(offset: 16, length: 12, more: true))).result == .dropped)
        #expect(d.stats.invalid == 1)
        #expect(run(&d, [Piece(offset: 16, length: 16, more: true), Piece(offset: 32, length: 16, more: false)]
            .map { v4(data, $0) }).count == 1)
    }

    @Test func zeroLengthFragmentsAreCountedAndIgnored() {
        let data = payload(32)
        var d = IPDefragmenter(configuration: config())
        #expect(feed(&d, v4(data, Piece(offset: 16, length: 0, more: true))).result == .dropped)
        #expect(feed(&d, v4(data, Piece(offset: 32, length: 0, more: false))).result == .dropped)
        #expect(d.stats.fragments == 2 && d.stats.invalid == 0 && d.stats.pending == 0)
        #expect(run(&d, cut(32, size: 16).map { v4(data, $0) }).count == 1)
    }

    @Test func offsetsOutsideThePacketAreRefused() {
        let data = payload(32)
        var d = IPDefragmenter(configuration: config())
        var frame = v4(data, Piece(offset: 0, length: 16, more: true))
        frame.fragment.dataEnd = frame.bytes.count + 1
        #expect(feed(&d, frame).result == .dropped)
        frame = v4(data, Piece(offset: 0, length: 16, more: true))
        frame.fragment.offset = 65536
        #expect(feed(&d, frame).result == .dropped)
        frame = v6(data, Piece(offset: 0, length: 16, more: true))
        frame.fragment.nextHeaderFieldOffset = 40
        #expect(feed(&d, frame).result == .dropped)
        #expect(d.stats.invalid == 3 && d.stats.pending == 0)
    }
}

// MARK: - Keys

@Suite struct DefragmenterKeyTests {
    @Test func contextsAreKeptApart() {
        let data = payload(32)
        let p = cut(32, size: 16)
        var d = IPDefragmenter(configuration: config())
        #expect(feed(&d, v4(data, p[0], context: 1)).result == .held)
        #expect(feed(&d, v4(data, p[1], context: 2)).result == .held)
        #expect(d.stats.pending == 2)
        let one = feed(&d, v4(data, p[1], context: 1))
        #expect(one.result == .completed && one.context == 1)
        let two = feed(&d, v4(data, p[0], context: 2))
        #expect(two.result == .completed && two.context == 2)
    }

    @Test func ipv4AndIPv6WithTheSameIdentificationAreKeptApart() {
        let data = payload(32)
        let p = cut(32, size: 16)
        var d = IPDefragmenter(configuration: config())
        #expect(feed(&d, v4(data, p[0], id: 5)).result == .held)
        #expect(feed(&d, v6(data, p[1], id: 5)).result == .held)
        #expect(feed(&d, v4(data, p[1], id: 5, proto: 17)).result == .held, "another IPv4 protocol, another datagram")
        #expect(d.stats.pending == 3)
        #expect(feed(&d, v4(data, p[1], id: 5)).result == .completed)
        #expect(feed(&d, v6(data, p[0], id: 5)).result == .completed)
    }
}

// MARK: - Against a model

/// Random overlapping fragments of one datagram, each with its own fill byte, against a byte
/// array that applies the policy directly: first keeps the first writer of each byte, last the
/// last. The ends are always consistent, so nothing is refused and the datagram completes at the
/// first fragment after which every byte is covered and the last fragment is held.
@Test(arguments: [DefragmentPolicy.first, .last], [false, true])
func defragmenterMatchesAModelOfFirstAndLast(_ policy: DefragmentPolicy, _ ipv6: Bool) {
    var rng = SplitMix64(state: 0xD1F7 ^ UInt64(ipv6 ? 1 : 0))
    var completions = 0
    for round in 0..<200 {
        let total = 16 + Int(rng.next() % 500)
        let data = payload(total)
        var model = [Int](repeating: -1, count: total)  // the fill byte that wins, or -1
        var d = IPDefragmenter(configuration: config(policy))
        var done: [UInt8]?
        var lastSeen = false
        for n in 0..<60 {
            let piece: Piece
            let fill = UInt8(n + 1)
            if rng.next() % 6 == 0 {
                // The last fragment: from a multiple of 8 above 0 to the end.
                let start = 8 * Int(1 + rng.next() % UInt64((total - 1) / 8))
                piece = Piece(offset: start, length: total - start, more: false, fill: fill)
            } else {
                let start = 8 * Int(rng.next() % UInt64(total / 8))
                let units = 1 + Int(rng.next() % UInt64(max(1, (total - start) / 8)))
                piece = Piece(offset: start, length: min(8 * units, (total - start) / 8 * 8), more: true, fill: fill)
            }
            if piece.length == 0 { continue }
            if !piece.more { lastSeen = true }
            for k in piece.offset..<(piece.offset + piece.length) where policy == .last || model[k] < 0 {
                model[k] = Int(fill)
            }
            let frame = ipv6 ? v6(data, piece) : v4(data, piece)
            let out = feed(&d, frame)
            if out.result == .completed { done = out.datagram; break }
            #expect(out.result == .held, "round \(round) fragment \(n)")
        }
        guard let datagram = done else {
            #expect(model.contains(-1) || !lastSeen, "round \(round): covered but never completed")
            continue
        }
        completions += 1
        #expect(!model.contains(-1), "round \(round): completed with a hole")
        let got = ipv6 ? checkedIPv6Payload(datagram) : checkedIPv4Payload(datagram)
        #expect(got == model.map { UInt8(truncatingIfNeeded: $0) }, "round \(round)")
        #expect(d.stats.pending == 0 && d.stats.heldBytes == 0 && d.stats.invalid == 0)
    }
    #expect(completions > 150, "too few rounds completed to test anything: \(completions)")
}
