import Alerts
import Capture
import Engine
import Wire

// Live statistics: what a worker reports, the hand-over between the workers and the main thread,
// and the `stats` fields and stderr lines made from the reports. With one worker they are exactly
// what a single capture thread wrote before `--workers` existed; with several, the existing fields
// hold the totals and a `workers` array the per-worker counters.

/// One worker's counters at one moment.
struct WorkerSnapshot: Sendable {
    var stats: EngineStats
    /// `pcap_stats`; nil if libpcap could not tell.
    var capture: CaptureStatistics?
    /// The worker's capture clock when it was taken.
    var time: Timestamp
}

/// Where workers hand their snapshots to the main thread, one round per statistics report: the
/// main thread opens a round and wakes every worker; each worker leaves its snapshot and waits
/// until the main thread has written the stats event (or a time limit passes), so no alert found
/// after its snapshot reaches the outputs before the event. A finished worker's final snapshot
/// stands in for it.
final class StatsRendezvous: @unchecked Sendable {
    private let lock = ConditionLock()
    private var open = false
    private var round: UInt64 = 0
    private var snapshots: [WorkerSnapshot?]
    private var finals: [WorkerSnapshot?]
    /// The longest a worker stays parked: a bound, not an expected wait (the main thread releases
    /// it within a few milliseconds).
    private static let maximumPark: UInt64 = 5_000_000_000

    init(workers: Int) {
        snapshots = Array(repeating: nil, count: workers)
        finals = Array(repeating: nil, count: workers)
    }

    /// Main thread: starts a round (then ask every worker for its snapshot).
    func begin() {
        lock.withLock {
            open = true
            round &+= 1
            for index in snapshots.indices { snapshots[index] = nil }
        }
    }

    /// Main thread: every worker's snapshot of this round (a finished worker's final one), waiting
    /// at most `timeout` nanoseconds; nil for a worker that did not answer in time.
    func collect(timeout: UInt64) -> [WorkerSnapshot?] {
        let deadline = monotonicNow() &+ timeout
        return lock.withLock {
            while snapshots.indices.contains(where: { snapshots[$0] == nil && finals[$0] == nil }),
                  monotonicNow() < deadline {
                lock.wait(untilMonotonic: deadline)
            }
            return snapshots.indices.map { snapshots[$0] ?? finals[$0] }
        }
    }

    /// Main thread: the stats event is written; parked workers go on.
    func release() {
        lock.withLock { open = false }
        lock.broadcast()
    }

    /// Worker: leaves its snapshot and waits for `release` (returns at once outside a round).
    func arrive(_ worker: Int, _ snapshot: WorkerSnapshot) {
        let deadline = monotonicNow() &+ Self.maximumPark
        lock.withLock {
            guard open else { return }
            snapshots[worker] = snapshot
            lock.broadcast()
            let current = round
            while open && round == current && monotonicNow() < deadline {
                lock.wait(untilMonotonic: deadline)
            }
        }
    }

    /// Worker: it has stopped; `snapshot` is final.
    func finished(_ worker: Int, _ snapshot: WorkerSnapshot) {
        lock.withLock { finals[worker] = snapshot }
        lock.broadcast()
    }
}

/// The `stats` fields for a set of worker snapshots (one per worker, in worker order).
func liveStatFields(_ snapshots: [WorkerSnapshot]) -> [StatField] {
    guard snapshots.count > 1, let first = snapshots.first else {
        return (snapshots.first?.stats.fields() ?? []) + [captureStatField(snapshots.first?.capture)]
    }
    // Summed like `--jobs` sums files; `peak_*` counters take the largest worker's, since every
    // cap (flows, reassembly memory) applies to each worker's engine on its own.
    let engine = snapshots.dropFirst().reduce(first.stats.fields()) { sumStatFields($0, $1.stats.fields()) }
    let workers = snapshots.enumerated().map { index, snapshot in
        StatValue.object([
            StatField("worker", UInt64(index + 1)),
            StatField("packets", snapshot.stats.packets),
            StatField("flows", UInt64(snapshot.stats.reassembly.flowsCreated)),
            StatField("alerts", snapshot.stats.alerts),
            captureStatField(snapshot.capture),
        ])
    }
    return engine + [captureStatField(totalCapture(snapshots)), StatField("workers", .array(workers))]
}

/// The kernel counters of every worker's handle added up; nil if no handle could tell.
func totalCapture(_ snapshots: [WorkerSnapshot]) -> CaptureStatistics? {
    let known = snapshots.compactMap(\.capture)
    guard !known.isEmpty else { return nil }
    return CaptureStatistics(received: known.reduce(0) { $0 &+ $1.received },
                             droppedByKernel: known.reduce(0) { $0 &+ $1.droppedByKernel },
                             droppedByInterface: known.reduce(0) { $0 &+ $1.droppedByInterface })
}

/// `capture` in the stats event: the kernel's counters (`pcap_stats`).
func captureStatField(_ counters: CaptureStatistics?) -> StatField {
    StatField("capture", .object([
        StatField("received", counters?.received ?? 0),
        StatField("dropped_kernel", counters?.droppedByKernel ?? 0),
        StatField("dropped_interface", counters?.droppedByInterface ?? 0),
    ]))
}

/// The stderr lines for a statistics report: the totals, then with several workers one line each
/// (`eth1 worker 2: final statistics: ...`).
func liveStatisticsLines(interface: String, _ snapshots: [WorkerSnapshot], final: Bool) -> [String] {
    let total = statisticsLine(label: escaped(interface), totalCapture(snapshots),
                               packets: snapshots.reduce(0) { $0 &+ $1.stats.packets },
                               flows: snapshots.reduce(0) { $0 &+ UInt64($1.stats.reassembly.flowsCreated) },
                               alerts: snapshots.reduce(0) { $0 &+ $1.stats.alerts }, final: final)
    guard snapshots.count > 1 else { return [total] }
    return [total] + snapshots.enumerated().map { index, snapshot in
        statisticsLine(label: escaped(interface) + " worker \(index + 1)", snapshot.capture,
                       packets: snapshot.stats.packets, flows: UInt64(snapshot.stats.reassembly.flowsCreated),
                       alerts: snapshot.stats.alerts, final: final)
    }
}

/// `eth1: 1042 packets received by filter, 0 dropped by kernel, 0 dropped by interface; 1042
/// processed, 17 flows, 3 alerts` (tcpdump's words for the kernel counters).
func statisticsLine(label: String, _ counters: CaptureStatistics?, packets: UInt64, flows: UInt64, alerts: UInt64,
                    final: Bool) -> String {
    var line = label + (final ? ": final statistics: " : ": statistics: ")
    if let counters {
        line += "\(counters.received) packets received by filter, \(counters.droppedByKernel) dropped by kernel, "
            + "\(counters.droppedByInterface) dropped by interface; "
    } else {
        line += "kernel counters unavailable; "
    }
    line += "\(packets) processed, \(flows) flows, \(alerts) alerts"
    return line
}
