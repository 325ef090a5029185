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

func replayInProcess(_ bytes: [UInt8], configuration: EngineConfiguration = smallEngineConfiguration()) -> InProcessResult {
    let reader: PcapFileReader
    let link: LinkType
    do {
        reader = try PcapFileReader(bytes: bytes, name: "damaged")
        link = try reader.supportedLinkType()
    } catch {
        return InProcessResult(openError: error, end: nil, alerts: [], stats: nil)
    }
    var alerts: [Alert] = []
    let engine = Engine(configuration: configuration) { alerts.append($0) }
    let (end, last) = reader.feed(engine, link: link, batched: false)
    engine.finish(time: last)
    return InProcessResult(openError: nil, end: end, alerts: alerts, stats: engine.stats)
}
