import Alerts
import Engine
import Reassembly
import TestSupport
import Testing

/// `auth.overlap_conflict` end to end: a POP3 login whose USER line was sent twice with different
/// bytes (the first copy buffered out of order, then an in-order copy that disagrees) is reported
/// with the first copy's username and the flag set; the same login sent once is not flagged.
@Suite struct OverlapConflictAlertTests {
    static func frame(fromClient: Bool, seq: UInt32, ack: UInt32, flags: UInt8, _ payload: String) -> [UInt8] {
        let body = Array(payload.utf8)
        let client: [UInt8] = [198, 51, 100, 7], server: [UInt8] = [192, 0, 2, 10]
        let (src, dst) = fromClient ? (client, server) : (server, client)
        let (sp, dp): (UInt16, UInt16) = fromClient ? (40000, 110) : (110, 40000)
        let total = 40 + body.count
        var f: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]
        f += [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, 6, 0, 0] + src + dst
        f += [UInt8(sp >> 8), UInt8(sp & 0xFF), UInt8(dp >> 8), UInt8(dp & 0xFF)]
        f += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: seq >> UInt32($0)) }
        f += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: ack >> UInt32($0)) }
        f += [0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]
        return f + body
    }

    static func capture(conflicting: Bool, resentDifferently: Bool = false) -> [UInt8] {
        let c = 1001 as UInt32, s = 5001 as UInt32
        var frames: [[UInt8]] = [
            frame(fromClient: true, seq: c - 1, ack: 0, flags: 0x02, ""),
            frame(fromClient: false, seq: s - 1, ack: c, flags: 0x12, ""),
            frame(fromClient: true, seq: c, ack: s, flags: 0x10, ""),
            frame(fromClient: false, seq: s, ack: c, flags: 0x18, "+OK ready\r\n"),
        ]
        let afterGreeting = s + 11
        if conflicting {
            // "alice\r\n" arrives first, ahead of a hole; then the whole line with other bytes there.
            frames.append(frame(fromClient: true, seq: c + 5, ack: afterGreeting, flags: 0x18, "alice\r\n"))
            frames.append(frame(fromClient: true, seq: c, ack: afterGreeting, flags: 0x18, "USER bobby\r\n"))
        } else {
            frames.append(frame(fromClient: true, seq: c, ack: afterGreeting, flags: 0x18, "USER alice\r\n"))
        }
        if resentDifferently {
            // The USER line resent over the same range with other bytes, after it was delivered.
            frames.append(frame(fromClient: true, seq: c, ack: afterGreeting, flags: 0x18, "USER bobby\r\n"))
        }
        frames += [
            frame(fromClient: false, seq: afterGreeting, ack: c + 12, flags: 0x18, "+OK\r\n"),
            frame(fromClient: true, seq: c + 12, ack: afterGreeting + 5, flags: 0x18, "PASS fake-pw\r\n"),
            frame(fromClient: false, seq: afterGreeting + 5, ack: c + 26, flags: 0x18, "+OK logged in\r\n"),
        ]
        var pcap = ClassicPcap(linkType: 1)
        pcap.records = frames.enumerated().map { i, f in
            (ClassicPcap.recordHeader(seconds: 1_767_520_800, micros: UInt32(i), caplen: UInt32(f.count),
                                      length: UInt32(f.count)), f)
        }
        return pcap.bytes
    }

    static func configuration(_ policy: StreamPolicy) -> EngineConfiguration {
        var configuration = smallEngineConfiguration()
        configuration.reassembly.streamPolicy = policy
        return configuration
    }

    /// Under `first` the first copy is parsed; under `ack` neither copy was acknowledged when the
    /// second arrived, so the later one wins (docs/tcp-integrity.md). Flagged either way.
    @Test(arguments: [StreamPolicy.first, .ack])
    func conflictingCopiesFlagTheAlert(policy: StreamPolicy) throws {
        let r = replayInProcess(Self.capture(conflicting: true), configuration: Self.configuration(policy))
        let alert = try #require(r.alerts.first)
        #expect(r.alerts.count == 1)
        #expect(alert.finding.username == Array((policy == .first ? "alice" : "bobby").utf8))
        #expect(alert.overlapConflict)
        #expect(r.stats?.reassembly.overlapConflictBytes == 5)
        #expect(r.stats?.reassembly.retransmissionConflicts == 1)
        #expect(r.stats?.reassembly.events.unackedDataReplaced == (policy == .ack ? 1 : 0))
        #expect(r.stats?.reassembly.events.overlapConflict == (policy == .first ? 1 : 0))
        let json = AlertRenderer(userPolicy: .full).json(alert)
        #expect(json.contains(#""overlap_conflict":true"#))
    }

    /// A conflicting copy that arrives after the first was delivered (`first`) or before the
    /// server acknowledged it (`ack`, the later copy wins): flagged, counted once.
    @Test(arguments: [StreamPolicy.first, .ack])
    func aConflictingResendFlagsTheAlert(policy: StreamPolicy) throws {
        let r = replayInProcess(Self.capture(conflicting: false, resentDifferently: true),
                                configuration: Self.configuration(policy))
        let alert = try #require(r.alerts.first)
        #expect(r.alerts.count == 1)
        #expect(alert.finding.username == Array((policy == .first ? "alice" : "bobby").utf8))
        #expect(alert.overlapConflict)
        #expect(r.stats?.reassembly.retransmissionConflicts == 1)
    }

    @Test func aCleanLoginIsNotFlagged() throws {
        let r = replayInProcess(Self.capture(conflicting: false))
        let alert = try #require(r.alerts.first)
        #expect(alert.finding.username == Array("alice".utf8))
        #expect(!alert.overlapConflict)
        #expect(AlertRenderer(userPolicy: .full).json(alert).contains(#""overlap_conflict":false"#))
    }
}
