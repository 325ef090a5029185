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
