import Alerts
import Capture
import Engine
import Wire

/// One capture thread's whole life: read packets from its own handle into its own engine, sweep
/// on quiet read timeouts, hand a statistics snapshot over when asked, and at the end flush every
/// flow. With `--workers N` there are N of these, one per handle of the fan-out group; the main
/// thread (`LiveSupervisor`) merges what they report.
///
/// `@unchecked Sendable` because it is handed to its capture thread whole: the main thread creates
/// it, starts the thread and afterwards touches only `control`, `breaker`, and `exitStatus` and
/// `finalSnapshot` once the thread has been joined.
final class LiveWorker: @unchecked Sendable {
    /// 0-based; shown 1-based.
    let index: Int
    let control = LiveControl()
    let breaker: CaptureBreaker
    /// What the stats event says before this worker's first report.
    let initialSnapshot: WorkerSnapshot
    private let capture: LiveCapture
    private let outputs: AlertPipeline
    private let engine: Engine
    private let rendezvous: StatsRendezvous
    /// The newest packet time, so the clock handed to the engine never runs backwards.
    private var lastPacketTime: Timestamp?
    /// Set by the capture thread before it finishes.
    private(set) var exitStatus: Int32 = 0
    private(set) var finalSnapshot: WorkerSnapshot?

    /// Packets handed over per `read` call: the batch after which requests are looked at, so a
    /// stop is honoured within this many packets on a busy link.
    private static let batch = 64

    init(index: Int, of count: Int, capture: LiveCapture, outputs: AlertPipeline, inventory: InventoryRun,
         configuration: EngineConfiguration, communityIDSeed: UInt16, rendezvous: StatsRendezvous) {
        self.index = index
        self.capture = capture
        self.outputs = outputs
        self.rendezvous = rendezvous
        breaker = capture.breaker
        // Each engine draws its own flow-id key (`EngineConfiguration.uniqueFlowIDs`), so the
        // workers' ids differ without being interleaved.
        engine = Engine(configuration: configuration) { found in
            outputs.submit(Alert(found, communityIDSeed: communityIDSeed))
        }
        inventory.attachShared(to: engine, events: outputs)
        engine.onNotice = { reportProblem($0) }
        initialSnapshot = WorkerSnapshot(stats: engine.stats, capture: nil,
                                         time: Timestamp(nanoseconds: wallClockNow().nanoseconds))
    }

    func run() {
        defer { control.markFinished() }
        let link = capture.linkType
        var newest = lastPacketTime
        reading: while true {
            let result = capture.read(limit: Self.batch) { frame, time in
                engine.process(frame: frame, time: time, link: link)
                newest = time
            }
            lastPacketTime = newest
            switch result {
            case .packets, .interrupted:
                break
            case .timeout:
                // A quiet link: time still passes for the flows (kernel timestamps are wall-clock
                // time, so the two clocks agree).
                engine.tick(time: now())
            case .failed(let message):
                reportProblem("\(capture.interface): capture failed: \(message)")
                exitStatus = 1
                break reading
            }
            // (Alerts go out as they are found: the writer flushes whenever its queue runs empty.)
            let requests = control.take()
            // Waits until the main thread has written the stats event, so no alert of a later
            // packet gets ahead of it and the event's `outputs` counters add up to its `alerts`.
            if requests.contains(.statistics) { rendezvous.arrive(index, snapshot(time: now())) }
            if requests.contains(.stop) { break reading }
            if !outputs.isUsable {
                // Nowhere to put alerts (the writer has said why): stop, as a replay does.
                exitStatus = 1
                break reading
            }
        }
        // Flush every flow: logins still waiting for a reply are reported with outcome unknown.
        let time = now()
        engine.finish(time: time)
        let final = snapshot(time: time)
        finalSnapshot = final
        rendezvous.finished(index, final)
    }

    private func snapshot(time: Timestamp) -> WorkerSnapshot {
        WorkerSnapshot(stats: engine.stats, capture: capture.statistics(), time: time)
    }

    /// The capture clock: wall-clock time, but never before the newest packet.
    private func now() -> Timestamp {
        let wall = Timestamp(nanoseconds: wallClockNow().nanoseconds)
        guard let lastPacketTime, lastPacketTime.nanoseconds > wall.nanoseconds else { return wall }
        return lastPacketTime
    }
}
