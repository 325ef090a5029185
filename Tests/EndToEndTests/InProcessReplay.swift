import Alerts
import Capture
import Engine
import Wire

/// What reading one capture through the engine gave, without starting the binary: thousands of
/// damaged variants per test run need to be cheap.
struct InProcessResult {
    /// nil: the capture was read; else why it could not be opened or used.
    var openError: CaptureError?
    var end: ReadEnd?
    var alerts: [Alert]
    var stats: EngineStats?
}

/// Fixtures hold a handful of flows: a small table keeps thousands of replays cheap (the default
/// preallocates 65,536 slots per engine).
func smallEngineConfiguration() -> EngineConfiguration {
    var c = EngineConfiguration()
    c.reassembly.maxFlows = 256
    return c
}

/// Reads `bytes` as `plainsight -r` reads a file: opened and checked as Replay.swift's
/// `readCaptureFile` does, then the loop it runs (`PcapFileReader.feed`), and the engine finished
/// at the time the binary uses.
func replayInProcess(_ bytes: [UInt8], configuration: EngineConfiguration = smallEngineConfiguration()) -> InProcessResult {
    let reader: PcapFileReader
    do {
        reader = try PcapFileReader(bytes: bytes, name: "damaged")
        if !reader.linkTypePerRecord { _ = try reader.supportedLinkType() }
    } catch {
        return InProcessResult(openError: error, end: nil, alerts: [], stats: nil)
    }
    var alerts: [Alert] = []
    let engine = Engine(configuration: configuration) { alerts.append(Alert($0, communityIDSeed: 0)) }
    let (end, last) = reader.feed(engine)
    engine.finish(time: reader.lastRecordTime ?? last)
    return InProcessResult(openError: nil, end: end, alerts: alerts, stats: engine.stats)
}

/// The alerts of `bytes` handed to the engine frame by frame with no capture file, as live
/// capture hands them over.
func alertsFrameByFrame(_ bytes: [UInt8], configuration: EngineConfiguration = smallEngineConfiguration()) throws -> [Alert] {
    let reader = try PcapFileReader(bytes: bytes, name: "live")
    var alerts: [Alert] = []
    let engine = Engine(configuration: configuration) { alerts.append(Alert($0, communityIDSeed: 0)) }
    let (_, last) = reader.feedFrameByFrame(engine, link: try reader.supportedLinkType())
    engine.finish(time: last)
    return alerts
}
