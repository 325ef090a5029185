import Testing
import Wire
@testable import Reassembly

/// Under pressure the table gives up flows that cannot produce a finding before those that might:
/// a SYN flood must not push out a mail session that is carrying a login.
@Suite struct EvictionTests {
    func table(maxFlows: Int) -> ReassemblyConfiguration {
        var c = ReassemblyConfiguration()
        c.maxFlows = maxFlows
        return c
    }

    @Test func halfOpenFloodEvictsHalfOpenFlowsNotTheSessionCarryingData() {
        // The session is the least recently seen flow throughout, yet it survives 200 SYNs.
        var steps: [Step] = [.seg(c(1001, "USER alice\r\n"))]
        for i in 0..<200 {
            steps.append(.seg(Seg(fromClient: true, seq: UInt32(i) * 7919, payload: [], flags: [.syn], ack: 0,
                                  clientPort: UInt16(41000 + i))))
        }
        steps += [.seg(c(1013, "PASS x\r\n")), .flush]
        let (t, r) = run(steps, configuration: table(maxFlows: 4))
        #expect(r.violations.isEmpty)
        #expect(r.events.contains(.data(C, "USER alice\r\n")))
        #expect(r.events.contains(.data(C, "PASS x\r\n")))
        #expect(!r.events.contains(.closed(.evicted, flow: 1)))
        #expect(t.stats.flowsClosedByReason.evicted == 197)
        #expect(t.stats.evictedWithData == 0)
    }

    @Test func aFlowIdlePastItsTimeoutGoesBeforeAnOlderHalfOpenOne() {
        var configuration = table(maxFlows: 2)
        configuration.idleTimeout = 2_000_000_000
        let steps: [Step] = [
            // Flow 1: a SYN at 1 ms (handshake timeout 30 s). Flow 2: data at 2 ms, then silence.
            .seg(Seg(fromClient: true, seq: 7, payload: [], flags: [.syn], ack: 0, clientPort: 41000, ms: 1)),
            .seg(c(1001, "a").at(ms: 2)),
            // A stray ACK runs the once-a-second sweep at 1.5 s, when flow 2 is not idle yet.
            .seg(Seg(fromClient: true, seq: 9, payload: [], flags: [.ack], ack: 1, clientPort: 45000, ms: 1_500)),
            // At 2.4 s flow 2 is past its 2 s timeout but not swept: the least recently seen flow
            // is flow 1, yet flow 2 is the one that can no longer produce a finding.
            .seg(Seg(fromClient: true, seq: 11, payload: [], flags: [.syn], ack: 0, clientPort: 41001, ms: 2_400)),
        ]
        let (t, r) = run(steps, configuration: configuration)
        #expect(r.events.contains(.closed(.evicted, flow: 2)))
        #expect(!r.events.contains(.closed(.evicted, flow: 1)))
        #expect(t.stats.evictedWithData == 0)
    }

    @Test func onlyDataFlowsLeftIsCounted() {
        let steps: [Step] = [.seg(c(1001, "a")), .seg(c(2001, "b").port(40001)), .seg(c(3001, "c").port(40002))]
        let (t, _) = run(steps, configuration: table(maxFlows: 2))
        #expect(t.stats.flowsClosedByReason.evicted == 1)
        #expect(t.stats.evictedWithData == 1)
    }
}

/// The index starts small and doubles as flows arrive (FlowTable.swift, `growIndex`): every flow
/// must still be found after each doubling, and deletions must keep the probe chains whole.
@Test func theIndexGrowsWithoutLosingAFlow() {
    let flows = 5_000
    var steps: [Step] = []
    for i in 0..<flows {
        steps.append(.seg(Seg(fromClient: true, seq: 1000, payload: [], flags: [.syn], ack: 0,
                              clientPort: UInt16(10_000 + i))))
    }
    // Every other flow reset, so the rest are looked up across the holes that deletion left.
    for i in stride(from: 0, to: flows, by: 2) {
        steps.append(.seg(Seg(fromClient: false, seq: 0, payload: [], flags: [.rst, .ack], ack: 1001,
                              clientPort: UInt16(10_000 + i))))
    }
    for i in 0..<flows {
        steps.append(.seg(Seg(fromClient: true, seq: 1001, payload: Array("x\r\n".utf8), flags: [.ack, .psh],
                              ack: 0, clientPort: UInt16(10_000 + i))))
    }
    var configuration = ReassemblyConfiguration()
    configuration.maxFlows = 8_192
    let (t, r) = run(steps, configuration: configuration)
    #expect(r.violations.isEmpty)
    #expect(t.index.size >= 2 * flows && t.index.size <= t.index.maxSize)
    // The data of a reset flow is picked up mid-stream as a new flow; that of every other flow
    // finds its flow: a lost one would be picked up too, and counted here.
    #expect(t.stats.flowsCreated == flows + flows / 2)
    #expect(t.stats.flowsMidstream == flows / 2)
    #expect(t.stats.flowsClosedByReason.reset == flows / 2)
    let delivered = Set(r.events.compactMap { event -> UInt64? in
        if case let .data(_, text, flow) = event, text == "x\r\n" { return flow }
        return nil
    })
    #expect(delivered.isSuperset(of: Set(stride(from: 2, through: UInt64(flows), by: 2))))
}
