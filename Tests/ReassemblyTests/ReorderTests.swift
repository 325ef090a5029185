// Table-driven reassembly cases in the manner of gopacket's TestReorder: segments in, handler
// events and counters out. Every case ends with flushAll, after which no flow and no buffered byte
// may remain, and the recorder checks slot discipline on every callback.

import Testing
import Wire
@testable import Reassembly

struct ReassemblyCase: Sendable, CustomTestStringConvertible {
    var name: String
    var configure: @Sendable (inout ReassemblyConfiguration) -> Void = { _ in }
    var steps: [Step]
    var want: [Event]
    var stats: [String: Int] = [:]

    var testDescription: String { name }
}

extension Event: @unchecked Sendable {}

private func config(_ f: @escaping @Sendable (inout ReassemblyConfiguration) -> Void) -> @Sendable (inout ReassemblyConfiguration) -> Void { f }

private let start = Event.started(clientPort: 40000, serverPort: 143, midstream: false)
private let shutdown: [Event] = [.ended(C), .ended(S), .closed(.shutdown)]

/// Client ISN 0xF000_0000; five 1e9-byte gaps declared by the server's ACKs carry the stream
/// offset past 2^32 twice.
private func gigabyteGaps() -> ReassemblyCase {
    let base: UInt32 = 0xF000_0001
    var steps: [Step] = [
        .seg(c(base &- 1, "", [.syn], ack: 0)),
        .seg(s(5000, "", [.syn, .ack], ack: base)),
        .seg(c(base, "a")),
    ]
    var want: [Event] = [start, .data(C, "a")]
    for k in 1...5 {
        let seq = base &+ UInt32(truncatingIfNeeded: k * 1_000_000_000)
        steps.append(.seg(s(5001, "", [.ack], ack: seq)))
        steps.append(.seg(c(seq, "\(k)")))
        want.append(.gap(C, 999_999_999))
        want.append(.data(C, "\(k)"))
    }
    steps.append(.seg(c(base &+ UInt32(truncatingIfNeeded: 5_000_000_001), "z")))
    want[want.count - 1] = .data(C, "5z")
    return ReassemblyCase(name: "offsets survive two wraps past 2^32 (gaps by ACK)", steps: steps + [.flush],
                          want: want + shutdown, stats: ["gaps": 5, "gapBytes": 4_999_999_995])
}

let reorderCases: [ReassemblyCase] = [
    ReassemblyCase(
        name: "in order",
        steps: handshake + [
            .seg(c(1001, "USER a\r\n")), .seg(s(5001, "+OK\r\n", ack: 1009)), .seg(c(1009, "PASS b\r\n", ack: 5006)),
            .flush,
        ],
        want: [start, .data(C, "USER a\r\n"), .data(S, "+OK\r\n"), .data(C, "PASS b\r\n")] + shutdown,
        stats: ["flowsCreated": 1, "shutdown": 1, "gaps": 0, "outOfOrderSegments": 0, "retransmittedSegments": 0,
                "peakBufferedBytes": 0, "packetsWithoutFlow": 0]),

    ReassemblyCase(
        name: "reorder: later segments first",
        steps: handshake + [.seg(c(1004, "def")), .seg(c(1007, "ghi")), .seg(c(1001, "abc")), .flush],
        want: [start, .data(C, "abcdefghi")] + shutdown,
        stats: ["outOfOrderSegments": 2, "peakBufferedBytes": 6, "gaps": 0]),

    ReassemblyCase(
        name: "reorder: reverse order, two holes",
        steps: handshake + [.seg(c(1007, "ghi")), .seg(c(1004, "def")), .seg(c(1001, "abc")), .flush],
        want: [start, .data(C, "abcdefghi")] + shutdown,
        stats: ["outOfOrderSegments": 2, "peakBufferedBytes": 6]),

    ReassemblyCase(
        name: "reorder: hole in the middle filled last",
        steps: handshake + [.seg(c(1001, "ab")), .seg(c(1005, "ef")), .seg(c(1009, "ij")),
                            .seg(c(1007, "gh")), .seg(c(1003, "cd")), .flush],
        want: [start, .data(C, "abcdefghij")] + shutdown,
        stats: ["outOfOrderSegments": 3, "peakBufferedBytes": 6]),

    ReassemblyCase(
        name: "duplicate: whole retransmissions are dropped",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1001, "abc")), .seg(c(1004, "def")),
                            .seg(c(1001, "abcdef")), .flush],
        want: [start, .data(C, "abcdef")] + shutdown,
        stats: ["retransmittedSegments": 2, "retransmittedBytes": 9, "overlapConflictBytes": 0]),

    ReassemblyCase(
        name: "the last delivered segment resent with other bytes is a conflict (first copy kept)",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1001, "aXc")), .seg(c(1004, "def")), .flush],
        want: [start, .data(C, "abcdef")] + shutdown,
        stats: ["retransmissionConflicts": 1, "retransmittedSegments": 1, "overlapConflictBytes": 0]),

    ReassemblyCase(
        name: "the last segment resent with other bytes and new data after it",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1001, "abXdef")), .flush],
        want: [start, .data(C, "abcdef")] + shutdown,
        stats: ["retransmissionConflicts": 1, "retransmittedSegments": 1, "retransmittedBytes": 3]),

    ReassemblyCase(
        name: "an identical resend is no conflict; an older range is not compared",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1004, "def")), .seg(c(1004, "def")),
                            .seg(c(1001, "aXc")), .seg(c(1002, "b")), .flush],
        want: [start, .data(C, "abcdef")] + shutdown,
        stats: ["retransmissionConflicts": 0, "retransmittedSegments": 3]),

    ReassemblyCase(
        name: "partial overlap: only the new tail is delivered",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1002, "bcdef")), .seg(c(1006, "fgh")), .flush],
        want: [start, .data(C, "abcdefgh")] + shutdown,
        stats: ["retransmittedSegments": 2, "retransmittedBytes": 3]),

    ReassemblyCase(
        name: "conflicting overlap among buffered segments keeps the first copy",
        steps: handshake + [.seg(c(1004, "def")), .seg(c(1004, "XYZ")), .seg(c(1005, "EFgh")),
                            .seg(c(1001, "abc")), .flush],
        want: [start, .data(C, "abcdefgh")] + shutdown,
        stats: ["overlapConflictBytes": 5, "retransmittedSegments": 2, "retransmittedBytes": 5,
                "outOfOrderSegments": 3, "peakBufferedBytes": 5]),

    ReassemblyCase(
        name: "in-order segment overlapping buffered data: the buffered copy wins",
        steps: handshake + [.seg(c(1004, "def")), .seg(c(1001, "abcDE")), .flush],
        want: [start, .data(C, "abcdef")] + shutdown,
        stats: ["overlapConflictBytes": 2, "retransmittedSegments": 1, "retransmittedBytes": 2]),

    ReassemblyCase(
        name: "in-order segment spanning two buffered runs",
        steps: handshake + [.seg(c(1003, "cd")), .seg(c(1007, "gh")), .seg(c(1001, "abXXefYYij")), .flush],
        want: [start, .data(C, "abcdefghij")] + shutdown,
        stats: ["overlapConflictBytes": 4, "retransmittedBytes": 4]),

    ReassemblyCase(
        name: "sequence wraparound: ISN near 2^32-1, out of order across the wrap, FIN both ways",
        steps: [
            .seg(c(0xFFFF_FFF0, "", [.syn], ack: 0)), .seg(s(5000, "", [.syn, .ack], ack: 0xFFFF_FFF1)),
            .seg(c(0xFFFF_FFF1, "", [.ack])),
            .seg(c(0xFFFF_FFF1, "0123456789")), .seg(c(5, "WXYZ")), .seg(c(0xFFFF_FFFB, "klmnopqrst")),
            .seg(c(9, "!", [.ack, .fin])),
            .seg(s(5001, "", [.ack, .fin], ack: 11)), .seg(c(11, "", [.ack], ack: 5002)),
        ],
        want: [start, .data(C, "0123456789klmnopqrstWXYZ!"), .ended(C), .ended(S), .closed(.finished)],
        stats: ["finished": 1, "packetsWithoutFlow": 1, "outOfOrderSegments": 1, "gaps": 0]),

    gigabyteGaps(),

    ReassemblyCase(
        name: "gap declared by peer ACK, buffered data beyond the hole",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1007, "ghi")), .seg(s(5001, "", [.ack], ack: 1010)),
                            .seg(c(1010, "jkl")), .flush],
        want: [start, .data(C, "abc"), .gap(C, 3), .data(C, "ghijkl")] + shutdown,
        stats: ["gaps": 1, "gapBytes": 3, "outOfOrderSegments": 1]),

    ReassemblyCase(
        name: "gap declared by peer ACK when new data arrives beyond the hole",
        steps: handshake + [.seg(c(1001, "abc")), .seg(s(5001, "", [.ack], ack: 1007)), .seg(c(1007, "ghi")), .flush],
        want: [start, .data(C, "abc"), .gap(C, 3), .data(C, "ghi")] + shutdown,
        stats: ["gaps": 1, "gapBytes": 3, "peakBufferedBytes": 0]),

    ReassemblyCase(
        name: "peer ACK stops inside the hole: only the acknowledged part is a gap",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1010, "jkl")), .seg(s(5001, "", [.ack], ack: 1006)),
                            .seg(c(1006, "fghi")), .flush],
        want: [start, .data(C, "abc"), .gap(C, 2), .data(C, "fghijkl")] + shutdown,
        stats: ["gaps": 1, "gapBytes": 2]),

    ReassemblyCase(
        name: "gap from the ACK on a data segment comes before that segment's data",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1007, "ghi")), .seg(s(5001, "+OK", ack: 1010)), .flush],
        want: [start, .data(C, "abc"), .gap(C, 3), .data(C, "ghi"), .data(S, "+OK")] + shutdown,
        stats: ["gaps": 1]),

    ReassemblyCase(
        name: "gap forced by the window cap",
        configure: config { $0.windowBytes = 8 },
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1006, "fg")), .seg(c(1010, "jklm")), .flush],
        want: [start, .data(C, "abc"), .gap(C, 2), .data(C, "fg"), .gap(C, 2), .data(C, "jklm")] + shutdown,
        stats: ["windowOverflows": 1, "gaps": 2, "gapBytes": 4]),

    ReassemblyCase(
        name: "a single segment beyond the window becomes in order after a gap",
        configure: config { $0.windowBytes = 4 },
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1010, "jklmnop")), .seg(c(1004, "def")), .flush],
        want: [start, .data(C, "abc"), .gap(C, 6), .data(C, "jklmnop")] + shutdown,
        stats: ["windowOverflows": 1, "retransmittedSegments": 1, "peakBufferedBytes": 0]),

    ReassemblyCase(
        name: "gap forced by the hole limit",
        configure: config { $0.maxHoles = 2 },
        steps: handshake + [.seg(c(1001, "a")), .seg(c(1003, "c")), .seg(c(1005, "e")), .seg(c(1007, "g")), .flush],
        want: [start, .data(C, "a"), .gap(C, 1), .data(C, "c"), .gap(C, 1), .data(C, "e"), .gap(C, 1),
               .data(C, "g")] + shutdown,
        stats: ["holeLimitHits": 1, "gaps": 3, "gapBytes": 3]),

    ReassemblyCase(
        name: "gap forced by the memory budget",
        configure: config { $0.memoryBudget = 4 + 64 },
        steps: handshake + [.seg(c(1001, "a")), .seg(c(1003, "cde")), .seg(c(1007, "ghi")), .flush],
        want: [start, .data(C, "a"), .gap(C, 1), .data(C, "cde"), .gap(C, 1), .data(C, "ghi")] + shutdown,
        stats: ["memoryBudgetHits": 1, "peakBufferedBytes": 3, "gaps": 2]),

    ReassemblyCase(
        name: "each buffered run is charged its overhead: a budget below it buffers nothing",
        configure: config { $0.memoryBudget = 64 },
        steps: handshake + [.seg(c(1001, "a")), .seg(c(1003, "c")), .flush],
        want: [start, .data(C, "a"), .gap(C, 1), .data(C, "c")] + shutdown,
        stats: ["memoryBudgetHits": 1, "peakBufferedBytes": 0, "gaps": 1]),

    ReassemblyCase(
        name: "memory budget is global: another flow's data is skipped to, not buffered",
        configure: config { $0.memoryBudget = 4 + 64 },
        steps: [.seg(c(1001, "a")), .seg(c(1003, "cde")),
                .seg(c(2001, "x").port(40001)), .seg(c(2003, "yz").port(40001)), .flush],
        want: [.started(clientPort: 40000, serverPort: 143, midstream: true), .data(C, "a"),
               .started(clientPort: 40001, serverPort: 143, midstream: true, flow: 2), .data(C, "x", flow: 2),
               .gap(C, 1, flow: 2), .data(C, "yz", flow: 2),
               .gap(C, 1), .data(C, "cde"), .ended(C), .ended(S), .closed(.shutdown),
               .ended(C, flow: 2), .ended(S, flow: 2), .closed(.shutdown, flow: 2)],
        stats: ["memoryBudgetHits": 1, "peakBufferedBytes": 3, "flowsMidstream": 2]),

    ReassemblyCase(
        name: "gap at flushAll, including a FIN beyond the hole",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1007, "ghi")), .seg(s(5001, "ok")),
                            .seg(s(5007, "", [.ack, .fin])), .flush],
        want: [start, .data(C, "abc"), .data(S, "ok"), .gap(C, 3), .data(C, "ghi"), .ended(C),
               .gap(S, 4), .ended(S), .closed(.shutdown)],
        stats: ["gaps": 2, "gapBytes": 7]),

    ReassemblyCase(
        name: "midstream: role by service port",
        configure: config { $0.isServicePort = { $0 == 2525 } },
        steps: [.seg(Seg(fromClient: false, seq: 7000, payload: Array("220 hi\r\n".utf8), flags: [.ack, .psh],
                         ack: 300, clientPort: 1024, serverPort: 2525)),
                .seg(Seg(fromClient: true, seq: 300, payload: Array("EHLO x\r\n".utf8), flags: [.ack, .psh],
                         ack: 7008, clientPort: 1024, serverPort: 2525)),
                .flush],
        want: [.started(clientPort: 1024, serverPort: 2525, midstream: true), .data(S, "220 hi\r\n"),
               .data(C, "EHLO x\r\n")] + shutdown,
        stats: ["flowsMidstream": 1, "flowsCreated": 1]),

    ReassemblyCase(
        name: "midstream: role by lower port when no service port matches",
        steps: [.seg(Seg(fromClient: false, seq: 7000, payload: Array("220 hi\r\n".utf8), flags: [.ack, .psh],
                         ack: 300, clientPort: 1024, serverPort: 2525)),
                .seg(Seg(fromClient: true, seq: 300, payload: Array("EHLO x\r\n".utf8), flags: [.ack, .psh],
                         ack: 7008, clientPort: 1024, serverPort: 2525)),
                .flush],
        want: [.started(clientPort: 2525, serverPort: 1024, midstream: true), .data(C, "220 hi\r\n"),
               .data(S, "EHLO x\r\n")] + shutdown,
        stats: ["flowsMidstream": 1]),

    ReassemblyCase(
        name: "midstream: role by lower port when both are service ports",
        configure: config { $0.isServicePort = { _ in true } },
        steps: [.seg(c(300, "a1 LOGIN u p\r\n")), .flush],
        want: [.started(clientPort: 40000, serverPort: 143, midstream: true), .data(C, "a1 LOGIN u p\r\n")]
            + shutdown),

    ReassemblyCase(
        name: "pure ACK, FIN and RST without a flow create nothing",
        steps: [.seg(c(1001, "", [.ack])), .seg(c(1001, "", [.fin, .ack])), .seg(s(5001, "", [.rst])), .flush],
        want: [],
        stats: ["packetsWithoutFlow": 3, "flowsCreated": 0]),

    ReassemblyCase(
        name: "midstream off: data without a SYN is ignored, SYN flows still work",
        configure: config { $0.midstream = false },
        steps: [.seg(c(1001, "x").port(40001))] + handshake + [.seg(c(1001, "abc")), .flush],
        want: [start, .data(C, "abc")] + shutdown,
        stats: ["packetsWithoutFlow": 1, "flowsCreated": 1, "flowsMidstream": 0]),

    ReassemblyCase(
        name: "SYN-ACK seen before the SYN: its sender is the server",
        steps: [.seg(s(5000, "", [.syn, .ack], ack: 1001)), .seg(c(1000, "", [.syn], ack: 0)),
                .seg(c(1001, "", [.ack])), .seg(c(1001, "abc")), .seg(s(5001, "xyz", ack: 1004)), .flush],
        want: [start, .data(C, "abc"), .data(S, "xyz")] + shutdown,
        stats: ["flowsCreated": 1, "reused": 0, "flowsMidstream": 0]),

    ReassemblyCase(
        name: "SYN-ACK only: the client's stream starts at its ACK",
        steps: [.seg(s(5000, "", [.syn, .ack], ack: 1001)), .seg(c(1004, "def")), .seg(c(1001, "abc")),
                .seg(s(5001, "xyz", ack: 1007)), .flush],
        want: [start, .data(C, "abcdef"), .data(S, "xyz")] + shutdown,
        stats: ["outOfOrderSegments": 1]),

    ReassemblyCase(
        name: "FIN both ways: finished, and the trailing ACK makes no zombie",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1004, "", [.fin, .ack])),
                            .seg(s(5001, "", [.fin, .ack], ack: 1005)), .seg(c(1005, "", [.ack], ack: 5002)), .flush],
        want: [start, .data(C, "abc"), .ended(C), .ended(S), .closed(.finished)],
        stats: ["finished": 1, "packetsWithoutFlow": 1, "shutdown": 0]),

    ReassemblyCase(
        name: "FIN on an out-of-order segment ends the stream once the hole fills",
        steps: handshake + [.seg(c(1004, "def", [.ack, .fin, .psh])), .seg(c(1001, "abc")),
                            .seg(s(5001, "bye", [.ack, .fin], ack: 1008)), .flush],
        want: [start, .data(C, "abcdef"), .ended(C), .data(S, "bye"), .ended(S), .closed(.finished)],
        stats: ["finished": 1]),

    ReassemblyCase(
        name: "FIN after a hole, ACKed by the peer: gap then end",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1007, "", [.ack, .fin])),
                            .seg(s(5001, "", [.ack], ack: 1008)), .flush],
        want: [start, .data(C, "abc"), .gap(C, 3), .ended(C), .ended(S), .closed(.shutdown)],
        stats: ["gaps": 1, "gapBytes": 3]),

    ReassemblyCase(
        name: "data past the FIN is ignored",
        steps: handshake + [.seg(c(1001, "abc", [.ack, .fin])), .seg(c(1004, "zzz")), .flush],
        want: [start, .data(C, "abc"), .ended(C), .ended(S), .closed(.shutdown)]),

    ReassemblyCase(
        name: "RST: buffered data flushed with gaps, both directions end, reset",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1007, "ghi")), .seg(s(5001, "", [.rst, .ack], ack: 1004)),
                            .seg(c(1010, "jkl")), .flush],
        want: [start, .data(C, "abc"), .gap(C, 3), .data(C, "ghi"), .ended(C), .ended(S), .closed(.reset),
               .started(clientPort: 40000, serverPort: 143, midstream: true, flow: 2), .data(C, "jkl", flow: 2),
               .ended(C, flow: 2), .ended(S, flow: 2), .closed(.shutdown, flow: 2)],
        stats: ["reset": 1, "flowsMidstream": 1]),

    ReassemblyCase(
        name: "port reuse: a new SYN with another ISN after data closes the old flow",
        steps: handshake + [.seg(c(1001, "abc")),
                            .seg(c(9000, "", [.syn], ack: 0)), .seg(s(7000, "", [.syn, .ack], ack: 9001)),
                            .seg(c(9001, "xyz", ack: 7001)), .seg(s(7001, "ok", ack: 9004)), .flush],
        want: [start, .data(C, "abc"), .ended(C), .ended(S), .closed(.reused),
               .started(clientPort: 40000, serverPort: 143, midstream: false, flow: 2), .data(C, "xyz", flow: 2),
               .data(S, "ok", flow: 2), .ended(C, flow: 2), .ended(S, flow: 2), .closed(.shutdown, flow: 2)],
        stats: ["reused": 1, "flowsCreated": 2]),

    ReassemblyCase(
        name: "port reuse after one direction ended",
        steps: handshake + [.seg(s(5001, "", [.ack, .fin])), .seg(c(9000, "", [.syn], ack: 0)), .flush],
        want: [start, .ended(S), .ended(C), .closed(.reused),
               .started(clientPort: 40000, serverPort: 143, midstream: false, flow: 2),
               .ended(C, flow: 2), .ended(S, flow: 2), .closed(.shutdown, flow: 2)],
        stats: ["reused": 1]),

    ReassemblyCase(
        name: "a retransmitted SYN is not reuse; a new ISN before any data re-bases",
        steps: [.seg(c(1000, "", [.syn], ack: 0)), .seg(c(1000, "", [.syn], ack: 0)), .seg(c(3000, "", [.syn], ack: 0)),
                .seg(s(5000, "", [.syn, .ack], ack: 3001)), .seg(c(3001, "abc")), .seg(c(3000, "", [.syn], ack: 0)),
                .flush],
        want: [start, .data(C, "abc")] + shutdown,
        stats: ["flowsCreated": 1, "reused": 0]),

    ReassemblyCase(
        name: "idle and handshake timeouts by packet time",
        steps: handshake + [
            .seg(c(1001, "abc").at(ms: 3)), .seg(c(1007, "ghi").at(ms: 4)),
            .seg(c(2000, "", [.syn], ack: 0).port(40001).at(ms: 10)),
            .seg(c(3001, "x").port(40002).at(ms: 31_000)),
            .seg(c(3002, "y").port(40002).at(ms: 302_000)),
            .flush,
        ],
        want: [start, .data(C, "abc"),
               .started(clientPort: 40001, serverPort: 143, midstream: false, flow: 2),
               .ended(C, flow: 2), .ended(S, flow: 2), .closed(.idle, flow: 2),
               .started(clientPort: 40002, serverPort: 143, midstream: true, flow: 3), .data(C, "x", flow: 3),
               .gap(C, 3), .data(C, "ghi"), .ended(C), .ended(S), .closed(.idle),
               .data(C, "y", flow: 3), .ended(C, flow: 3), .ended(S, flow: 3), .closed(.shutdown, flow: 3)],
        stats: ["idle": 2, "shutdown": 1, "gaps": 1]),

    ReassemblyCase(
        name: "eviction when the table is full: least recently seen",
        configure: config { $0.maxFlows = 2 },
        steps: [.seg(c(1001, "a")), .seg(c(2001, "b").port(40001)), .seg(c(1002, "a")),
                .seg(c(3001, "c").port(40002)), .flush],
        want: [.started(clientPort: 40000, serverPort: 143, midstream: true), .data(C, "a"),
               .started(clientPort: 40001, serverPort: 143, midstream: true, flow: 2), .data(C, "b", flow: 2),
               .data(C, "a"),
               .ended(C, flow: 2), .ended(S, flow: 2), .closed(.evicted, flow: 2),
               .started(clientPort: 40002, serverPort: 143, midstream: true, flow: 3), .data(C, "c", flow: 3),
               .ended(C), .ended(S), .closed(.shutdown),
               .ended(C, flow: 3), .ended(S, flow: 3), .closed(.shutdown, flow: 3)],
        stats: ["evicted": 1, "flowsCreated": 3]),

    ReassemblyCase(
        name: "eviction prefers a flow that stopped buffering",
        configure: config { $0.maxFlows = 2 },
        steps: [.seg(c(1001, "a")), .seg(c(2001, "b").port(40001)), .seg(c(1002, "a")), .stop(1),
                .seg(c(3001, "c").port(40002)), .flush],
        want: [.started(clientPort: 40000, serverPort: 143, midstream: true), .data(C, "a"),
               .started(clientPort: 40001, serverPort: 143, midstream: true, flow: 2), .data(C, "b", flow: 2),
               .data(C, "a"),
               .ended(C), .ended(S), .closed(.evicted),
               .started(clientPort: 40002, serverPort: 143, midstream: true, flow: 3), .data(C, "c", flow: 3),
               .ended(C, flow: 2), .ended(S, flow: 2), .closed(.shutdown, flow: 2),
               .ended(C, flow: 3), .ended(S, flow: 3), .closed(.shutdown, flow: 3)],
        stats: ["evicted": 1]),

    ReassemblyCase(
        name: "eviction flushes the victim's holes as gaps",
        configure: config { $0.maxFlows = 1 },
        steps: [.seg(c(1001, "a")), .seg(c(1003, "c")), .seg(c(2001, "b").port(40001)), .flush],
        want: [.started(clientPort: 40000, serverPort: 143, midstream: true), .data(C, "a"),
               .gap(C, 1), .data(C, "c"), .ended(C), .ended(S), .closed(.evicted),
               .started(clientPort: 40001, serverPort: 143, midstream: true, flow: 2), .data(C, "b", flow: 2),
               .ended(C, flow: 2), .ended(S, flow: 2), .closed(.shutdown, flow: 2)],
        stats: ["evicted": 1, "gaps": 1]),

    ReassemblyCase(
        name: "stopBuffering: buffers freed, nothing more delivered, the flow still ends by FIN",
        steps: handshake + [.seg(c(1001, "abc")), .seg(c(1007, "ghi")), .stop(1), .seg(c(1004, "def")),
                            .seg(s(5001, "+OK")), .seg(c(1010, "", [.fin, .ack])), .seg(s(5004, "", [.fin, .ack])),
                            .seg(c(1011, "", [.ack], ack: 5005)), .flush],
        want: [start, .data(C, "abc"), .ended(C), .ended(S), .closed(.finished)],
        stats: ["peakBufferedBytes": 3, "finished": 1, "packetsWithoutFlow": 1, "flowsMidstream": 0]),

    ReassemblyCase(
        name: "stopBuffering: the flow is not picked up again mid-stream",
        steps: handshake + [.seg(c(1001, "abc")), .stop(1), .seg(c(1004, "tls")), .seg(s(5001, "tls")), .flush],
        want: [start, .data(C, "abc")] + shutdown,
        stats: ["flowsCreated": 1, "flowsMidstream": 0]),

    ReassemblyCase(
        name: "memory budget returns to zero after all flows close",
        steps: handshake + [.seg(c(1004, "def")), .seg(c(1004, "def").port(40001)), .seg(c(1010, "jkl").port(40001)),
                            .seg(c(1004, "def").port(40002)),
                            .seg(s(5001, "", [.rst]).port(40001)),
                            .seg(c(1001, "abc")), .seg(c(1007, "", [.ack, .fin])),
                            .seg(s(5001, "", [.ack, .fin], ack: 1008)), .flush],
        want: [start,
               .started(clientPort: 40001, serverPort: 143, midstream: true, flow: 2), .data(C, "def", flow: 2),
               .started(clientPort: 40002, serverPort: 143, midstream: true, flow: 3), .data(C, "def", flow: 3),
               .gap(C, 3, flow: 2), .data(C, "jkl", flow: 2), .ended(C, flow: 2), .ended(S, flow: 2),
               .closed(.reset, flow: 2),
               .data(C, "abcdef"), .ended(C), .ended(S), .closed(.finished),
               .ended(C, flow: 3), .ended(S, flow: 3), .closed(.shutdown, flow: 3)],
        stats: ["peakBufferedBytes": 6, "bufferedBytes": 0]),
]

@Suite("Reassembly cases")
struct ReorderTests {
    /// The cases describe policy `first` (the first copy wins, in-order data goes through at
    /// once); AckPolicyTests holds policy `ack`'s own cases.
    @Test(arguments: reorderCases)
    func reassemble(_ testCase: ReassemblyCase) {
        var configuration = ReassemblyConfiguration()
        configuration.streamPolicy = .first
        testCase.configure(&configuration)
        let (table, recorder) = run(testCase.steps, configuration: configuration)
        #expect(recorder.events == testCase.want,
                "\n got: \(recorder.events.map(\.description).joined(separator: "\n      "))\nwant: \(testCase.want.map(\.description).joined(separator: "\n      "))")
        #expect(recorder.violations == [])
        #expect(table.activeFlows == 0)
        #expect(table.stats.bufferedBytes == 0)
        let created = table.stats.flowsCreated
        #expect(table.stats.flowsClosedByReason.total == created)
        for (name, value) in testCase.stats.sorted(by: { $0.key < $1.key }) {
            #expect(stat(table.stats, name) == value, "\(name)")
        }
    }
}

@Suite("Reassembly cases under policy ack")
struct ReorderAckPolicyTests {
    /// The same cases under policy `ack`: data may wait for ACKs and other copies may win, but
    /// the table's accounting holds: slots, closes, and nothing left buffered.
    @Test(arguments: reorderCases)
    func accountingHolds(_ testCase: ReassemblyCase) {
        var configuration = ReassemblyConfiguration()
        testCase.configure(&configuration)
        configuration.streamPolicy = .ack
        let (table, recorder) = run(testCase.steps, configuration: configuration)
        #expect(recorder.violations == [])
        #expect(table.activeFlows == 0)
        #expect(table.stats.bufferedBytes == 0)
        #expect(table.stats.bufferedRuns == 0)
        #expect(table.stats.flowsClosedByReason.total == table.stats.flowsCreated)
    }
}
