import Alerts
import Capture
import Engine
import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The capture thread's whole life: read packets into the engine, sweep on quiet read timeouts, act
/// on requests from signals, and at the end flush every flow and write the final statistics.
///
/// `@unchecked Sendable` because it is handed to the capture thread whole: the main thread creates
/// it, starts the thread and touches nothing in it but `exitStatus`, read after `join`.
final class LiveRun: @unchecked Sendable {
    private let capture: LiveCapture
    /// Every alert output behind one writer thread: the capture thread never waits for a disk or a
    /// collector.
    private let outputs: AlertPipeline
    private let inventory: InventoryRun
    private let engine: Engine
    private let control: LiveControl
    private let json: Bool
    private let quiet: Bool
    /// Nanoseconds between periodic statistics; nil for none.
    private let statsInterval: UInt64?
    /// The newest packet time, so the clock handed to the engine never runs backwards.
    private var lastPacketTime: Timestamp?
    /// Set by the capture thread before it finishes.
    private(set) var exitStatus: Int32 = 0

    /// Packets handed over per `read` call: the batch after which requests and timers are looked
    /// at, so a stop is honoured within this many packets on a busy link.
    private static let batch = 64

    init(capture: LiveCapture, outputs: AlertPipeline, inventory: InventoryRun, configuration: EngineConfiguration,
         control: LiveControl, json: Bool, quiet: Bool, statsInterval: UInt64?) {
        self.capture = capture
        self.outputs = outputs
        self.inventory = inventory
        self.control = control
        self.json = json
        self.quiet = quiet
        self.statsInterval = statsInterval
        engine = Engine(configuration: configuration) { alert in outputs.submit(alert) }
        inventory.attach(to: engine)
    }

    func run() {
        defer { control.markFinished() }
        let link = capture.linkType
        var nextStats = statsInterval.map { monotonicNanoseconds() &+ $0 }
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
            if requests.contains(.stop) { break reading }
            // Problems reopening are reported by the writer thread, which keeps the old file then.
            if requests.contains(.reopen) { _ = outputs.reopen() }
            if requests.contains(.statistics) { reportStatistics() }
            if let due = nextStats, let interval = statsInterval, monotonicNanoseconds() >= due {
                reportStatistics()
                nextStats = monotonicNanoseconds() &+ interval
            }
            if !outputs.isUsable {
                // Nowhere to put alerts (the writer has said why): stop, as a replay does.
                exitStatus = 1
                break reading
            }
        }
        finish()
    }

    /// Capture has stopped: flush every flow (logins still waiting for a reply are reported with
    /// outcome unknown), write the final statistics, drain and close the output.
    private func finish() {
        let time = now()
        engine.finish(time: time)
        inventory.writeEvents(to: outputs, time: time)
        // The stats event goes last, after held syslog alerts were delivered or given up, so its
        // `outputs` counters are final.
        let counters = capture.statistics()
        let summary = outputs.finish(stats: statFields(counters), time: time, timeout: outputDrainSeconds)
        if !summary.complete { reportProblem("the outputs did not finish in time; some alerts may be lost") }
        if summary.lostAlerts || !summary.complete || !inventory.writeReports() { exitStatus = 1 }
        if !quiet {
            writeStandardError("plainsight: " + statisticsLine(interface: capture.interface, counters, engine.stats, final: true) + "\n")
            if isatty(2) == 1 { writeStandardError(inventory.terminalTable()) }
        }
    }

    private func statFields(_ counters: CaptureStatistics?) -> [StatField] {
        engine.stats.fields() + [captureStatField(counters)]
    }

    /// The capture clock: wall-clock time, but never before the newest packet.
    private func now() -> Timestamp {
        let wall = Timestamp(nanoseconds: wallClockNanoseconds())
        guard let lastPacketTime, lastPacketTime.nanoseconds > wall.nanoseconds else { return wall }
        return lastPacketTime
    }

    /// Statistics now (SIGUSR1, --stats-interval): a `stats` event for the outputs that have one
    /// (JSON lines, syslog), and with text output, which has none, a line on standard error.
    private func reportStatistics() {
        let counters = capture.statistics()
        // The inventory so far (sessions that have ended, logins seen), before the stats event.
        inventory.writeEvents(to: outputs, time: now())
        outputs.submitStats(statFields(counters), time: now())
        if !json {
            writeStandardError("plainsight: " + statisticsLine(interface: capture.interface, counters, engine.stats, final: false) + "\n")
        }
    }
}

/// `capture` in the stats event: the kernel's counters (`pcap_stats`).
func captureStatField(_ counters: CaptureStatistics?) -> StatField {
    StatField("capture", .object([
        StatField("received", counters?.received ?? 0),
        StatField("dropped_kernel", counters?.droppedByKernel ?? 0),
        StatField("dropped_interface", counters?.droppedByInterface ?? 0),
    ]))
}

/// `eth1: 1042 packets received by filter, 0 dropped by kernel, 0 dropped by interface; 1042
/// decoded, 17 flows, 3 alerts` (tcpdump's words for the kernel counters).
func statisticsLine(interface: String, _ counters: CaptureStatistics?, _ stats: EngineStats, final: Bool) -> String {
    var line = escaped(interface) + (final ? ": final statistics: " : ": statistics: ")
    if let counters {
        line += "\(counters.received) packets received by filter, \(counters.droppedByKernel) dropped by kernel, "
            + "\(counters.droppedByInterface) dropped by interface; "
    } else {
        line += "kernel counters unavailable; "
    }
    line += "\(stats.packets) processed, \(stats.reassembly.flowsCreated) flows, \(stats.alerts) alerts"
    return line
}
