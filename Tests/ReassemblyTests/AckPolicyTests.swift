// Policy `ack` (docs/tcp-integrity.md): the parser sees what the receiver acknowledged. Each case
// of issue 17 is run with its copies in every order the evidence allows and split at every byte,
// and the RST window check with spoofed and genuine RSTs.

import Testing
import Wire
@testable import Reassembly

private let start = Event.started(clientPort: 40000, serverPort: 143, midstream: false)
private let shutdown: [Event] = [.ended(C), .ended(S), .closed(.shutdown)]

private func ackConfiguration(_ rst: ResetPolicy = .window) -> ReassemblyConfiguration {
    var configuration = ReassemblyConfiguration()
    configuration.streamPolicy = .ack
    configuration.resetPolicy = rst
    return configuration
}

/// `text` sent as two segments cut at `cut` (one segment when `cut` is 0 or the length), in order
/// or second part first.
private func split(_ from: (UInt32, String) -> Seg, seq: UInt32, _ text: String, cut: Int, reversed: Bool) -> [Step] {
    let bytes = Array(text.utf8)
    guard cut > 0 && cut < bytes.count else { return [.seg(from(seq, text))] }
    let a = from(seq, String(decoding: bytes[..<cut], as: UTF8.self))
    let b = from(seq &+ UInt32(cut), String(decoding: bytes[cut...], as: UTF8.self))
    return reversed ? [.seg(b), .seg(a)] : [.seg(a), .seg(b)]
}

/// Every (cut, order) of a text: the one-segment form and each two-segment split both ways.
private func splits(_ text: String) -> [(cut: Int, reversed: Bool)] {
    [(0, false)] + (1..<text.utf8.count).flatMap { [($0, false), ($0, true)] }
}

private func check(_ table: FlowTable, _ recorder: Recorder, want: [Event], _ label: String,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(recorder.events == want, "\(label)\n got: \(recorder.events.map(\.description).joined(separator: "\n      "))",
            sourceLocation: sourceLocation)
    #expect(recorder.violations == [], sourceLocation: sourceLocation)
    #expect(table.activeFlows == 0 && table.stats.bufferedBytes == 0 && table.stats.bufferedRuns == 0,
            sourceLocation: sourceLocation)
}

@Suite("Policy ack: what the receiver acknowledged")
struct AckPolicyTests {
    // Case 1: the server's first segment carries junk past its greeting; the client acknowledges
    // only the greeting; the real replies follow at the junk's sequence numbers.
    static let greeting = "* OK ready\r\n"          // 12 bytes: 5001..<5013
    static let junk = "JUNK junk junk\r\n"          // unacknowledged
    static let login = "a1 LOGIN u p\r\n"           // 14 bytes: 1001..<1015
    static let reply = "a1 OK done\r\n"             // 12 bytes: 5013..<5025

    @Test func junkPastTheGreetingIsReplacedByTheAcknowledgedReplies() {
        for (cut, reversed) in splits(Self.reply) {
            let steps: [Step] = handshake + [
                .seg(s(5001, Self.greeting + Self.junk, ack: 1001)),
                .seg(c(1001, "", [.ack], ack: 5013)),
                .seg(c(1001, Self.login, ack: 5013)),
            ] + split({ s($0, $1, ack: 1015) }, seq: 5013, Self.reply, cut: cut, reversed: reversed) + [
                .seg(c(1015, "a2 LOGOUT\r\n", ack: 5025)),
                // Over the junk's last 4 bytes, which were never acknowledged either.
                .seg(s(5025, "* BYE\r\n", ack: 1026)),
                .seg(c(1026, "", [.ack], ack: 5032)),
                .flush,
            ]
            let (table, r) = run(steps, configuration: ackConfiguration())
            check(table, r, want: [start, .data(S, Self.greeting), .data(C, Self.login), .data(S, Self.reply),
                                   .data(C, "a2 LOGOUT\r\n"), .data(S, "* BYE\r\n")]
                  + shutdown, "cut \(cut) reversed \(reversed)")
            #expect(table.stats.events.unackedDataReplaced >= 1)
            #expect(table.stats.retransmissionConflicts >= 1)
            #expect(table.stats.events.unackedDataFlushed == 0)
            #expect(r.infos[1]?.overlapConflict == true)
        }
    }

    @Test func underPolicyFirstTheJunkStays() {
        let steps: [Step] = handshake + [
            .seg(s(5001, Self.greeting + Self.junk, ack: 1001)), .seg(c(1001, "", [.ack], ack: 5013)),
            .seg(c(1001, Self.login, ack: 5013)), .seg(s(5013, Self.reply, ack: 1015)),
            .seg(c(1015, "", [.ack], ack: 5025)), .flush,
        ]
        var configuration = ackConfiguration()
        configuration.streamPolicy = .first
        let (_, r) = run(steps, configuration: configuration)
        #expect(r.events.contains(.data(S, Self.greeting + Self.junk)))
        #expect(!r.events.contains(.data(S, Self.reply)))
    }

    // Case 2: a short decoy at the login's sequence number that dies on the way, then the real
    // command; the server acknowledges past the real one.
    static let decoy = "a1 LOGIN x y\r\n"
    static let real = "a1 LOGIN realuser realpw\r\n"   // 26 bytes: 1001..<1027

    @Test func aDecoyThatDiesIsReplacedByTheRealCommand() {
        // (A decoy sent between two parts of the real command, both unacknowledged, is a case the
        // evidence does not decide: docs/tcp-integrity.md.)
        for (cut, reversed) in splits(Self.real) {
            let steps: [Step] = handshake + [
                .seg(s(5001, "* OK\r\n", ack: 1001)), .seg(c(1001, "", [.ack], ack: 5007)),
                .seg(c(1001, Self.decoy, ack: 5007)),
            ] + split({ c($0, $1, ack: 5007) }, seq: 1001, Self.real, cut: cut, reversed: reversed) + [
                .seg(s(5007, "a1 OK\r\n", ack: 1027)), .seg(c(1027, "", [.ack], ack: 5014)), .flush,
            ]
            let (table, r) = run(steps, configuration: ackConfiguration())
            check(table, r, want: [start, .data(S, "* OK\r\n"), .data(C, Self.real), .data(S, "a1 OK\r\n")]
                  + shutdown, "cut \(cut) reversed \(reversed)")
            #expect(r.infos[1]?.overlapConflict == true)
            #expect(table.stats.events.unackedDataReplaced >= 1)
        }
    }

    @Test func aDecoyAfterTheAcknowledgedCommandIsARetransmissionConflict() {
        let steps: [Step] = handshake + [
            .seg(s(5001, "* OK\r\n", ack: 1001)), .seg(c(1001, "", [.ack], ack: 5007)),
            .seg(c(1001, Self.real, ack: 5007)), .seg(s(5007, "a1 OK\r\n", ack: 1027)),
            .seg(c(1001, "a1 LOGIN fakeuser fakepw\r\n", ack: 5007)),
            .seg(c(1027, "", [.ack], ack: 5014)), .flush,
        ]
        let (table, r) = run(steps, configuration: ackConfiguration())
        check(table, r, want: [start, .data(S, "* OK\r\n"), .data(C, Self.real), .data(S, "a1 OK\r\n")] + shutdown,
              "decoy after ACK")
        #expect(table.stats.events.retransmissionConflict == 1)
        #expect(table.stats.retransmissionConflicts == 1)
        #expect(r.infos[1]?.overlapConflict == true)
    }

    // Case 3: a server `OK Begin TLS` the client never acknowledged, then the real refusal.
    static let fakeTLS = "s1 OK Begin TLS\r\n"
    static let refusal = "s1 BAD TLS not available\r\n"   // 26 bytes: 5007..<5033

    @Test func anUnacknowledgedAcceptanceIsReplacedByTheRefusal() {
        for (cut, reversed) in splits(Self.refusal) {
            let steps: [Step] = handshake + [
                .seg(s(5001, "* OK\r\n", ack: 1001)), .seg(c(1001, "s1 STARTTLS\r\n", ack: 5007)),
                .seg(s(5007, Self.fakeTLS, ack: 1014)),
            ] + split({ s($0, $1, ack: 1014) }, seq: 5007, Self.refusal, cut: cut, reversed: reversed) + [
                .seg(c(1014, "a2 LOGIN u p\r\n", ack: 5033)), .flush,
            ]
            let (table, r) = run(steps, configuration: ackConfiguration())
            check(table, r, want: [start, .data(S, "* OK\r\n"), .data(C, "s1 STARTTLS\r\n"), .data(S, Self.refusal),
                                   .data(C, "a2 LOGIN u p\r\n")] + shutdown, "cut \(cut) reversed \(reversed)")
            #expect(r.infos[1]?.overlapConflict == true)
        }
    }

    @Test func dataTheReceiverAcknowledgedIsNotHeldAgain() {
        // The ACK seen before the data (a span port reordering): delivered from the frame at once.
        let steps: [Step] = handshake + [
            .seg(s(5001, "", [.ack], ack: 1007)), .seg(c(1001, "hello\n", ack: 5001)),
        ]
        let (table, r) = run(steps, configuration: ackConfiguration())
        #expect(r.events == [start, .data(C, "hello\n")])
        #expect(table.stats.peakBufferedBytes == 0)
    }

    @Test func heldDataIsDeliveredWithItsArrivalTime() {
        struct Times: StreamHandler {
            var times: [Int64] = []
            mutating func flowStarted(slot: Int, info: FlowInfo) {}
            mutating func streamData(slot: Int, info: FlowInfo, direction: Direction, bytes: Span<UInt8>, time: Timestamp) {
                times.append(time.nanoseconds)
            }
            mutating func streamGap(slot: Int, info: FlowInfo, direction: Direction, length: UInt64, time: Timestamp) {}
            mutating func streamEnded(slot: Int, info: FlowInfo, direction: Direction, time: Timestamp) {}
            mutating func flowClosed(slot: Int, info: FlowInfo, reason: CloseReason, time: Timestamp) {}
        }
        var table = FlowTable(configuration: ackConfiguration())
        var h = Times()
        var now = baseTime
        for seg in [c(1000, "", [.syn], ack: 0), s(5000, "", [.syn, .ack], ack: 1001), c(1001, "abc", ack: 5001),
                    s(5001, "", [.ack], ack: 1004)] {
            now += 1_000_000
            let (packet, frame) = seg.packet()
            table.process(packet, frame: frame.span, time: Timestamp(nanoseconds: now), handler: &h)
        }
        #expect(h.times == [baseTime + 3_000_000])
    }

    @Test func aOneSidedCaptureIsNotHeld() {
        // Mid-stream, only the client's packets: the server is never seen acknowledging.
        let (table, r) = run([.seg(c(1001, "a1 LOGIN u p\r\n")), .seg(c(1015, "a2 LOGOUT\r\n"))],
                             configuration: ackConfiguration())
        #expect(r.events == [.started(clientPort: 40000, serverPort: 143, midstream: true),
                             .data(C, "a1 LOGIN u p\r\na2 LOGOUT\r\n")])
        #expect(table.stats.peakBufferedBytes == 0)
    }

    @Test func heldDataIsFlushedAtTheEndAndCounted() {
        let (table, r) = run(handshake + [.seg(c(1001, "a1 LOGIN u p\r\n")), .flush], configuration: ackConfiguration())
        check(table, r, want: [start, .data(C, "a1 LOGIN u p\r\n")] + shutdown, "flush")
        #expect(table.stats.events.unackedDataFlushed == 1)
        #expect(r.infos[1]?.overlapConflict == false)
    }

    @Test func heldDataOverTheWindowIsFlushedInOrder() {
        var configuration = ackConfiguration()
        configuration.windowBytes = 8
        let (table, r) = run(handshake + [.seg(c(1001, "abcdef")), .seg(c(1007, "ghijkl")), .seg(c(1013, "mn")), .flush],
                             configuration: configuration)
        check(table, r, want: [start, .data(C, "abcdefghijklmn")] + shutdown, "window")
        #expect(table.stats.events.unackedDataFlushed >= 1)
        #expect(table.stats.gaps == 0)
    }

    @Test func settlingDeliversWhatIsHeldAndStopsHolding() {
        var table = FlowTable(configuration: ackConfiguration())
        var r = Recorder()
        var now = baseTime
        func feed(_ seg: Seg) {
            now += 1_000_000
            let (packet, frame) = seg.packet()
            table.process(packet, frame: frame.span, time: Timestamp(nanoseconds: now), handler: &r)
        }
        for step in handshake { if case .seg(let seg) = step { feed(seg) } }
        feed(c(1001, "abc"))
        #expect(r.events == [start])
        table.settle(slot: 0, time: Timestamp(nanoseconds: now), handler: &r)
        #expect(r.events == [start, .data(C, "abc")])
        feed(c(1004, "def"))
        #expect(r.events == [start, .data(C, "abcdef")])
        #expect(table.stats.events.unackedDataFlushed == 0)
    }

    // RSTs: only one the receiver would accept ends the flow.

    @Test func aSpoofedResetOutsideTheWindowIsIgnored() {
        for rst in ResetPolicy.allCases where rst != .any {
            let steps: [Step] = handshake + [
                .seg(c(1001, "a1 CAPABILITY\r\n", ack: 5001)), .seg(s(5001, "* OK\r\n", ack: 1016)),
                .seg(c(900_000, "", [.rst], ack: 0)),          // far outside
                .seg(c(1000, "", [.rst, .ack], ack: 5007)),     // just before what the server acknowledged
                .seg(c(1016, "a2 LOGIN u p\r\n", ack: 5007)), .seg(s(5007, "a2 OK\r\n", ack: 1030)),
                .seg(c(1030, "", [.rst], ack: 0)),              // genuine: the client's next byte
            ]
            let (table, r) = run(steps, configuration: ackConfiguration(rst))
            // The server's last reply was never acknowledged: delivered as the flow closes.
            #expect(r.events == [start, .data(C, "a1 CAPABILITY\r\n"), .data(S, "* OK\r\n"), .data(C, "a2 LOGIN u p\r\n"),
                                 .ended(C), .data(S, "a2 OK\r\n"), .ended(S), .closed(.reset)], "\(rst)")
            #expect(table.stats.events.rstOutOfWindow == 2)
            #expect(table.stats.events.rstAccepted == 1)
            #expect(table.stats.flowsCreated == 1 && table.stats.flowsMidstream == 0)
        }
    }

    @Test func theExactPolicyRefusesAResetInsideTheWindowButNotAtItsEdge() {
        let steps: [Step] = handshake + [
            .seg(c(1001, "abc", ack: 5001)), .seg(s(5001, "", [.ack], ack: 1004)),
            .seg(c(1010, "", [.rst], ack: 0)),
        ]
        let (exact, _) = run(steps, configuration: ackConfiguration(.exact))
        #expect(exact.stats.events.rstOutOfWindow == 1 && exact.activeFlows == 1)
        let (window, _) = run(steps, configuration: ackConfiguration(.window))
        #expect(window.stats.events.rstAccepted == 1 && window.activeFlows == 0)
        let (any, _) = run(handshake + [.seg(c(900_000, "", [.rst], ack: 0))], configuration: ackConfiguration(.any))
        #expect(any.stats.events.rstAccepted == 1 && any.activeFlows == 0)
    }

    @Test func aResetWithoutEvidenceIsAccepted() {
        // Refusing a SYN: nothing of the server's sequence space is known.
        let (table, r) = run([.seg(c(1000, "", [.syn], ack: 0)), .seg(s(0, "", [.rst, .ack], ack: 1001))],
                             configuration: ackConfiguration())
        #expect(r.events.last == .closed(.reset))
        #expect(table.stats.events.rstAccepted == 1)
    }
}
