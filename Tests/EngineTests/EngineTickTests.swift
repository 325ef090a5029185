import Engine
import Reassembly
import Testing
import Wire

/// On a quiet link no packet arrives to move the flow table's clock; the capture loop's read
/// timeouts call `Engine.tick` instead, which must close idle flows just as a later packet would.
@Suite("engine tick")
struct EngineTickTests {
    /// Ethernet + IPv4 + TCP (no options, no payload) from 198.51.100.7:40000 to 192.0.2.10:143.
    static func segment(flags: UInt8, seq: UInt32) -> [UInt8] {
        var frame: [UInt8] = [0x02, 0, 0, 0, 0, 0x10, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]
        frame += [0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 7, 192, 0, 2, 10]
        frame += [0x9C, 0x40, 0, 143]
        frame += [UInt8(seq >> 24), UInt8(seq >> 16 & 0xFF), UInt8(seq >> 8 & 0xFF), UInt8(seq & 0xFF)]
        frame += [0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]
        return frame
    }

    static func engineWithOneFlow(at start: Int64) -> Engine {
        let engine = Engine(configuration: EngineConfiguration()) { _ in }
        let syn = segment(flags: 0x02, seq: 1000)
        syn.withUnsafeBufferPointer { engine.process(frame: $0.span, time: Timestamp(nanoseconds: start), link: .ethernet) }
        return engine
    }

    @Test func tickClosesAFlowPastItsHandshakeTimeout() {
        let start: Int64 = 1_700_000_000 * 1_000_000_000
        let engine = Self.engineWithOneFlow(at: start)
        #expect(engine.stats.activeFlows == 1)
        let timeout = ReassemblyConfiguration().handshakeTimeout
        engine.tick(time: Timestamp(nanoseconds: start + timeout - 1_000_000_000))
        #expect(engine.stats.activeFlows == 1, "still within the timeout")
        engine.tick(time: Timestamp(nanoseconds: start + timeout + 2_000_000_000))
        #expect(engine.stats.activeFlows == 0)
        #expect(engine.stats.reassembly.flowsClosedByReason[.idle] == 1)
    }

    @Test func tickSweepsAtMostOncePerSecondOfCaptureTime() {
        let start: Int64 = 1_700_000_000 * 1_000_000_000
        let engine = Self.engineWithOneFlow(at: start)
        let timeout = ReassemblyConfiguration().handshakeTimeout
        // A sweep just before the timeout schedules the next one a second later: a tick half a
        // second after the timeout finds the flow still there, one after that second closes it.
        engine.tick(time: Timestamp(nanoseconds: start + timeout - 100_000_000))
        engine.tick(time: Timestamp(nanoseconds: start + timeout + 500_000_000))
        #expect(engine.stats.activeFlows == 1)
        engine.tick(time: Timestamp(nanoseconds: start + timeout + 1_000_000_000))
        #expect(engine.stats.activeFlows == 0)
    }
}
