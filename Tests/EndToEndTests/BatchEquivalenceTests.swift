import Alerts
import Capture
import Engine
import Foundation
import TestSupport
import Testing
import Wire

// Replay hands the engine frames in batches (Engine.process(frames:records:link:)), which decodes
// a batch first and prefetches the flow table's memory before handling it. That must be the same
// as handling each frame in turn: these tests feed one capture both ways and compare every alert
// and every counter.

@Suite("batched frames")
struct BatchEquivalenceTests {
    /// Every Ethernet fixture's records, interleaved round-robin and repeated `rounds` times a
    /// minute apart, so many flows are open at once, some 5-tuples are reused, and the file is
    /// larger than the reader's 512 KiB buffer.
    static func interleavedCapture(rounds: Int) throws -> [UInt8] {
        let dir = packageRoot.appendingPathComponent("fixtures")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".pcap") }.sorted()
        var sources: [ClassicPcap] = []
        for name in names {
            guard let capture = ClassicPcap(try fixtureBytes(name)), ClassicPcap.u32(capture.header, 20) == 1,
                  capture.header[0] == 0xD4 else { continue }  // Ethernet, microseconds
            sources.append(capture)
        }
        var out = ClassicPcap(linkType: 1)
        var second: UInt32 = 1_700_000_000
        for _ in 0..<rounds {
            let longest = sources.map(\.records.count).max() ?? 0
            for i in 0..<longest {
                for source in sources where i < source.records.count {
                    let r = source.records[i]
                    let micros = UInt32(i * 1000 % 1_000_000)
                    let header = ClassicPcap.recordHeader(seconds: second + UInt32(i / 1000), micros: micros,
                                                          caplen: UInt32(r.data.count),
                                                          length: ClassicPcap.u32(r.header, 12))
                    out.records.append((header, r.data))
                }
            }
            second += 60
        }
        #expect(sources.count > 30)
        return out.bytes
    }

    struct Outcome: Equatable {
        var alerts: [String]
        var stats: String
        var end: ReadEnd?
    }

    /// The prefetch hints run from the first flow (by default only past 2,048).
    static func configuration() -> EngineConfiguration {
        var c = smallEngineConfiguration()
        c.prefetchAboveFlows = 0
        return c
    }

    static func replay(_ reader: PcapFileReader, batched: Bool) throws -> Outcome {
        let link = try reader.supportedLinkType()
        var alerts: [Alert] = []
        let engine = Engine(configuration: configuration()) { alerts.append(Alert($0, communityIDSeed: 0)) }
        // Batched: the loop `plainsight -r` runs; frame by frame: as live capture feeds the engine.
        let (end, last) = batched ? reader.feed(engine) : reader.feedFrameByFrame(engine, link: link)
        engine.finish(time: last)
        return Outcome(alerts: alertKeys(alerts), stats: "\(engine.stats.fields())", end: end)
    }

    @Test func batchesMatchFrameByFrame() throws {
        let bytes = try Self.interleavedCapture(rounds: 4)
        #expect(bytes.count > 600_000)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-batch-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("interleaved.pcap")
        try Data(bytes).write(to: file)

        let frameByFrame = try Self.replay(PcapFileReader(bytes: bytes, name: "x", libpcapRecords: true), batched: false)
        let batchedFromDisk = try Self.replay(PcapFileReader(path: file.path), batched: true)
        let batchedInMemory = try Self.replay(PcapFileReader(bytes: bytes, name: "x"), batched: true)
        #expect(frameByFrame.end == .endOfFile)
        #expect(frameByFrame.alerts.count > 100)
        #expect(batchedFromDisk == frameByFrame)
        #expect(batchedInMemory == frameByFrame)

        // A cut inside the last record: the same alerts and counters up to the damage.
        let cut = Array(bytes.prefix(bytes.count - 5))
        try Data(cut).write(to: file)
        let cutFrames = try Self.replay(PcapFileReader(bytes: cut, name: "x", libpcapRecords: true), batched: false)
        let cutBatches = try Self.replay(PcapFileReader(path: file.path), batched: true)
        #expect(cutBatches == cutFrames)
        guard case .error? = cutBatches.end else {
            Issue.record("a cut file read cleanly")
            return
        }
    }

    /// Batches of every size from 1 to past the engine's scratch capacity, cut from one capture.
    @Test func everyBatchSize() throws {
        let bytes = try Self.interleavedCapture(rounds: 1)
        let reference = try Self.replay(PcapFileReader(bytes: bytes, name: "x", libpcapRecords: true), batched: false)
        guard let parsed = ClassicPcap(bytes) else { Issue.record("not a capture"); return }
        var records: [FrameRecord] = []
        var offset = 24
        for r in parsed.records {
            let seconds = Int64(ClassicPcap.u32(r.header, 0)), micros = Int64(ClassicPcap.u32(r.header, 4))
            records.append(FrameRecord(start: offset + 16, count: r.data.count,
                                       time: Timestamp(seconds: seconds, microseconds: micros)))
            offset += 16 + r.data.count
        }
        for size in [1, 2, 7, 31, 32, 33, 64, 100, records.count] {
            var alerts: [Alert] = []
            var c = Self.configuration()
            if size == 7 { c.prefetchAboveFlows = 2048 }  // and once without
            let engine = Engine(configuration: c) { alerts.append(Alert($0, communityIDSeed: 0)) }
            bytes.withUnsafeBufferPointer { buffer in
                records.withUnsafeBufferPointer { all in
                    var at = 0
                    while at < all.count {
                        let n = min(size, all.count - at)
                        engine.process(frames: buffer.span, records: UnsafeBufferPointer(rebasing: all[at..<(at + n)]),
                                       link: .ethernet)
                        at += n
                    }
                }
            }
            engine.finish(time: records.last?.time)
            #expect(alertKeys(alerts) == reference.alerts, "batch size \(size)")
            #expect("\(engine.stats.fields())" == reference.stats, "batch size \(size)")
        }
    }

    /// Records that do not lie inside the buffer (no reader makes them) are counted as cut frames,
    /// not read out of bounds.
    @Test func recordsOutsideTheBufferAreCountedNotRead() {
        let buffer = [UInt8](repeating: 0, count: 100)
        let bad = [FrameRecord(start: 90, count: 20, time: .zero), FrameRecord(start: -1, count: 10, time: .zero),
                   FrameRecord(start: 0, count: -5, time: .zero), FrameRecord(start: Int.max, count: Int.max, time: .zero),
                   FrameRecord(start: 100, count: 0, time: .zero)]
        let engine = Engine(configuration: Self.configuration()) { _ in }
        buffer.withUnsafeBufferPointer { b in
            bad.withUnsafeBufferPointer { engine.process(frames: b.span, records: $0, link: .ethernet) }
        }
        engine.finish(time: nil)
        #expect(engine.stats.packets == 5)
        #expect(engine.stats.truncated[.link] == 5)
    }
}
