import Testing
import Wire
@testable import Reassembly

/// The per-flow conflicting-overlap flag that alerts carry (`auth.overlap_conflict`): set by the
/// first overlap whose bytes differ, whether the overlap is found when buffering or when in-order
/// data meets a buffered run, and never by an identical retransmission.
@Suite struct OverlapFlagTests {
    /// These cases are policy `first`'s (the buffered copy kept); AckPolicyTests covers `ack`.
    func run(_ steps: [Step]) -> (FlowTable, Recorder) {
        var configuration = ReassemblyConfiguration()
        configuration.streamPolicy = .first
        return ReassemblyTests.run(steps, configuration: configuration)
    }

    @Test func identicalRetransmissionsDoNotSetIt() {
        let (_, r) = run(handshake + [.seg(c(1004, "def")), .seg(c(1004, "def")), .seg(c(1001, "abcd")), .flush])
        #expect(r.infos[1]?.overlapConflict == false)
    }

    @Test func conflictAmongBufferedSegmentsSetsIt() {
        let (_, r) = run(handshake + [.seg(c(1004, "def")), .seg(c(1005, "XY")), .seg(c(1001, "abc")), .flush])
        #expect(r.infos[1]?.overlapConflict == true)
    }

    @Test func inOrderDataDifferingFromABufferedRunSetsItBeforeDelivery() {
        let (_, r) = run(handshake + [.seg(c(1004, "def")), .seg(c(1001, "abcDE")), .flush])
        #expect(r.infos[1]?.overlapConflict == true)
        // The buffered run ("def") is delivered with the flag already set.
        #expect(r.flagOnData.last == true)
    }

    @Test func itIsPerFlow() {
        let other: [Step] = [.seg(c(1000, "", [.syn], ack: 0).port(40001)), .seg(c(1001, "zz").port(40001))]
        let (_, r) = run(handshake + other + [.seg(c(1004, "def")), .seg(c(1001, "abcDE")), .flush])
        #expect(r.infos[1]?.overlapConflict == true)
        #expect(r.infos[2]?.overlapConflict == false)
    }
}
