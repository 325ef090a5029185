import Alerts
import Capture
import Engine
import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The main thread's part of a live capture once the workers run: turn signals and the statistics
/// timer into requests for the workers, write the statistics they report, stop them all when one
/// stops, join them, and end the run (inventory events, the final stats event, the outputs).
/// Nothing here reads packets.
final class LiveSupervisor {
    private let workers: [LiveWorker]
    private let outputs: AlertPipeline
    private let inventory: InventoryRun
    private let rendezvous: StatsRendezvous
    private let interface: String
    private let json: Bool
    private let quiet: Bool
    /// Nanoseconds between periodic statistics; nil for none.
    private let statsInterval: UInt64?
    /// Each worker's latest snapshot, standing in for one that misses a round.
    private var latest: [WorkerSnapshot]
    private var stopping = false

    /// How long a statistics round waits for the workers (each answers within one read batch).
    private static let collectTimeout: UInt64 = 2_000_000_000

    init(workers: [LiveWorker], outputs: AlertPipeline, inventory: InventoryRun, rendezvous: StatsRendezvous,
         interface: String, json: Bool, quiet: Bool, statsInterval: UInt64?) {
        self.workers = workers
        self.outputs = outputs
        self.inventory = inventory
        self.rendezvous = rendezvous
        self.interface = interface
        self.json = json
        self.quiet = quiet
        self.statsInterval = statsInterval
        latest = workers.map(\.initialSnapshot)
    }

    /// Runs until every worker has finished (joined through `threads`); returns the exit status.
    func run(signals: LiveSignals, threads: [CaptureThread]) -> Int32 {
        var nextStats = statsInterval.map { monotonicNow() &+ $0 }
        let reportInterval = inventory.refreshNanoseconds
        var nextReport = reportInterval.map { monotonicNow() &+ $0 }
        while !workers.allSatisfy({ $0.control.finished }) {
            // One worker ending (capture failed, outputs gone) ends the run for all.
            if workers.contains(where: { $0.control.finished }) { stopAll() }
            var wait = 200
            if !stopping {
                for due in [nextStats, nextReport].compactMap({ $0 }) {
                    let left = due > monotonicNow() ? (due - monotonicNow()) / 1_000_000 : 0
                    wait = min(wait, Int(max(1, left)))
                }
            }
            if let signal = signals.wait(milliseconds: wait), let request = LiveRequests(signal: signal) {
                if request.contains(.stop) { stopAll() }
                // Problems reopening are reported by the writer thread, which keeps the old file then.
                if request.contains(.reopen) {
                    _ = outputs.reopen()
                    // After log rotation, or when an operator wants the report now.
                    if !stopping { inventory.refreshReports() }
                }
                if request.contains(.statistics) { reportStatistics() }
            }
            if let due = nextStats, let interval = statsInterval, monotonicNow() >= due {
                reportStatistics()
                nextStats = monotonicNow() &+ interval
            }
            if !stopping, let due = nextReport, let interval = reportInterval, monotonicNow() >= due {
                inventory.refreshReports()
                nextReport = monotonicNow() &+ interval
            }
        }
        for thread in threads { thread.join() }
        return finish()
    }

    private func stopAll() {
        guard !stopping else { return }
        stopping = true
        for worker in workers {
            worker.control.post(.stop)
            worker.breaker.breakLoop()
        }
    }

    /// Statistics now (SIGUSR1, --stats-interval): a `stats` event for the outputs that have one
    /// (JSON lines, syslog), and with text output, which has none, lines on standard error.
    private func reportStatistics() {
        guard !stopping else { return }     // the final statistics follow shortly
        rendezvous.begin()
        defer { rendezvous.release() }
        for worker in workers {
            worker.control.post(.statistics)
            worker.breaker.breakLoop()
        }
        for (index, snapshot) in rendezvous.collect(timeout: Self.collectTimeout).enumerated() {
            if let snapshot { latest[index] = snapshot }
        }
        let time = latest.map(\.time).max { $0.nanoseconds < $1.nanoseconds } ?? Timestamp(nanoseconds: wallClockNow().nanoseconds)
        // The inventory so far (sessions that have ended, logins seen), before the stats event.
        inventory.writeEvents(to: outputs, time: time)
        outputs.submitStats(liveStatFields(latest), time: time)
        if !json {
            for line in liveStatisticsLines(interface: interface, latest, final: false) {
                writeStandardError("plainsight: " + line + "\n")
            }
        }
    }

    /// Every worker has stopped and flushed its flows: write the inventory events and the final
    /// statistics, drain and close the outputs.
    private func finish() -> Int32 {
        var status = workers.map(\.exitStatus).max() ?? 0
        let finals = workers.indices.map { workers[$0].finalSnapshot ?? latest[$0] }
        let time = finals.map(\.time).max { $0.nanoseconds < $1.nanoseconds } ?? Timestamp(nanoseconds: wallClockNow().nanoseconds)
        inventory.writeEvents(to: outputs, time: time)
        // The stats event goes last, after held syslog alerts were delivered or given up, so its
        // `outputs` counters are final.
        let summary = outputs.finish(stats: liveStatFields(finals), time: time, timeout: outputDrainSeconds)
        if !summary.complete { reportProblem("the outputs did not finish in time; some alerts may be lost") }
        if summary.lostAlerts || !summary.complete || !inventory.writeReports() { status = 1 }
        if !quiet {
            for line in liveStatisticsLines(interface: interface, finals, final: true) {
                writeStandardError("plainsight: " + line + "\n")
            }
            if let note = skippedNote(stats: liveStatFields(finals)) { writeStandardError("plainsight: " + note + "\n") }
            if isatty(2) == 1 { writeStandardError(inventory.terminalTable()) }
        }
        return status
    }
}
