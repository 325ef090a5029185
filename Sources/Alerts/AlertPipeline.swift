#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Wire

/// The path from the engine to every output: a bounded queue and one writer thread that feeds
/// all sinks (standard output, the `-o` file, syslog targets) in order.
///
/// The capture side only appends to the queue under a mutex, so a slow disk or an unreachable
/// collector never stalls packet processing: when the queue is full the alert is dropped and
/// counted (or, reading files, `submit` waits for room: `OverflowPolicy`). Any number of threads
/// may submit at once (live capture with `--workers`: one engine per thread); alerts from one
/// thread keep their order, alerts from different threads interleave. The writer thread
/// renders into each sink, flushes whenever the queue runs empty, and wakes on its own to retry
/// collectors that are down.
///
/// Used from the run loop: `submit` per alert, `submitStats` for a stats event, `reopen` after
/// SIGHUP (not from the signal handler itself: it takes a lock), and `finish` (or
/// `drainAndClose`) once at the end, after every submitting thread has stopped; `outputSummary`
/// has the counters at any time.
public final class AlertPipeline: @unchecked Sendable {
    public static let defaultCapacity = 16_384
    /// Alerts the queue holds before dropping (or waiting).
    public let capacity: Int
    public let overflow: OverflowPolicy

    /// What `submit` does when the queue is full.
    public enum OverflowPolicy: Sendable {
        /// Drop the alert and count it: live capture must never wait for an output.
        case drop
        /// Wait for room, up to `maximumWait` per alert, then drop: reading files has no clock
        /// to keep up with, so a slow consumer (a pager, a slow disk) slows the reading instead.
        case wait
    }
    /// Bounds both a `.wait` submit and, with `.wait`, how long `finish` waits for the writer.
    static let maximumWait: UInt64 = 60_000_000_000

    // Shared with the writer thread, guarded by `lock`.
    private let lock = ConditionLock()
    private var queue: [Item] = []
    private var queuedAlerts = 0
    /// `mail_session` events queued (`submitSessionEvent`), bounded by `capacity` as the alerts are.
    private var queuedSessionEvents = 0
    private var submitted: UInt64 = 0
    private var queueDropped: UInt64 = 0
    private var sessionEventsDropped: UInt64 = 0
    private var closing = false
    private var finished = false
    private var published: OutputSummary
    private var summary: OutputSummary?

    // Writer thread only.
    private let sinks: [any AlertSink]
    private let report: @Sendable (String) -> Void
    private var reportedQueueDropped: UInt64 = 0
    private var reportedSessionEventDrops = false
    private var thread = pthread_t()
    private var threadStarted = false

    private enum Item {
        case alert(Alert)
        case stats([StatField], Timestamp)
        case event([UInt8])
        case reopen
        case finish(stats: [StatField]?, time: Timestamp, deadline: UInt64)
    }

    /// Starts the writer thread. `report` receives one-line notices (an outage, recovered
    /// connections, drops, write errors), from the writer thread.
    public init(sinks: [any AlertSink], capacity: Int = AlertPipeline.defaultCapacity, overflow: OverflowPolicy = .drop,
                report: @escaping @Sendable (String) -> Void) {
        self.sinks = sinks
        self.capacity = max(1, capacity)
        self.overflow = overflow
        self.report = report
        published = OutputSummary(alerts: 0, queueDropped: 0, sinks: [], complete: false)
        published = snapshot(complete: false)
        queue.reserveCapacity(256)
        let context = Unmanaged.passRetained(self).toOpaque()
        threadStarted = pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            Unmanaged<AlertPipeline>.fromOpaque(context).takeRetainedValue().run()
            return nil
        }, context) == 0
        if !threadStarted {
            // No thread (resource limits): release the reference meant for it; `finish` then
            // writes on the caller's thread.
            Unmanaged<AlertPipeline>.fromOpaque(context).release()
        }
    }

    // MARK: Capture side

    /// Queues one alert. With `.drop` it never waits for an output; with `.wait` it waits for
    /// room in the queue, at most `maximumWait`.
    public func submit(_ alert: Alert) {
        enqueueBounded(.alert(alert), sessionEvent: false)
    }

    /// Queues one `mail_session` event (`--session-events`): one per ended session, so as many
    /// as there are connections, and bounded like the alerts (their own `capacity`, the same
    /// overflow policy), counted in `outputs.queue.session_events_dropped` when dropped.
    public func submitSessionEvent(_ json: [UInt8]) {
        enqueueBounded(.event(json), sessionEvent: true)
    }

    private func enqueueBounded(_ item: Item, sessionEvent: Bool) {
        var wakeWriter = true
        lock.withLock {
            if !sessionEvent { submitted &+= 1 }
            var queued: Int { sessionEvent ? queuedSessionEvents : queuedAlerts }
            if overflow == .wait && threadStarted && queued >= capacity {
                let limit = monotonicNow() &+ Self.maximumWait
                while !closing && queued >= capacity && monotonicNow() < limit { lock.wait(untilMonotonic: limit) }
            }
            guard !closing, queued < capacity else {
                if sessionEvent { sessionEventsDropped &+= 1 } else { queueDropped &+= 1 }
                return
            }
            queue.append(item)
            if sessionEvent { queuedSessionEvents += 1 } else { queuedAlerts += 1 }
            // Reading files, the writer is woken once per batch, not per alert (it looks by
            // itself every `linger`): a wake-up, a context switch and a write per alert were
            // the largest cost of a capture full of logins. Live, every alert goes out at once.
            wakeWriter = overflow == .drop || queuedAlerts + queuedSessionEvents >= min(Self.batch, capacity)
        }
        if wakeWriter { lock.broadcast() }
    }

    /// Alerts queued before the writer is woken, reading files.
    static let batch = 64
    /// How long queued alerts wait for a batch to fill, reading files.
    static let linger: UInt64 = 20_000_000

    /// Queues a stats event; the writer adds an `outputs` object with every sink's counters at
    /// the time it is written.
    public func submitStats(_ fields: [StatField], time: Timestamp) {
        enqueueControl(.stats(fields, time))
    }

    /// Ends the run: writes out everything queued, gives held syslog alerts until `timeout`
    /// seconds to reach their collectors (counting the rest as dropped), then writes the stats
    /// event if given (with its `outputs` object final) and closes every sink. Waits at most
    /// `timeout` plus two seconds (plus `maximumWait` with `.wait`, for a slow file or pipe).
    /// Later calls return the same summary.
    @discardableResult
    public func finish(stats: [StatField]?, time: Timestamp, timeout: Double) -> OutputSummary {
        let deadline = monotonicNow() &+ UInt64(max(0, timeout) * 1e9)
        let alreadyClosing = lock.withLock { () -> Bool in
            defer { closing = true }
            if !closing { queue.append(.finish(stats: stats, time: time, deadline: deadline)) }
            return closing
        }
        lock.broadcast()
        guard threadStarted else {
            if !alreadyClosing { run() }
            return lock.withLock { summary ?? published }
        }
        let limit = deadline &+ (overflow == .wait ? Self.maximumWait : 2_000_000_000)
        let done = lock.withLock { () -> Bool in
            while !finished {
                if monotonicNow() >= limit { break }
                lock.wait(untilMonotonic: limit)
            }
            return finished
        }
        if done && !alreadyClosing { pthread_join(thread, nil) }
        return lock.withLock { summary ?? published }
    }

    /// `finish` without a stats event.
    @discardableResult
    public func drainAndClose(timeout: Double) -> OutputSummary {
        finish(stats: nil, time: .zero, timeout: timeout)
    }

    /// Counters as of the writer's last pass (final once `finish` has returned).
    public var outputSummary: OutputSummary { lock.withLock { summary ?? published } }

    /// False once every sink has failed for good (nowhere left to put alerts: stop reading).
    public var isUsable: Bool {
        lock.withLock { (summary ?? published).sinks.contains { $0.failure == nil } }
    }

    private func enqueueControl(_ item: Item) {
        lock.withLock { if !closing { queue.append(item) } }
        lock.broadcast()
    }

    // MARK: Writer thread

    private func run() {
        let lingering = overflow == .wait
        var batch: [Item] = []
        batch.reserveCapacity(256)
        var wake: UInt64?
        while true {
            lock.withLock {
                // Lingering only while the queue holds nothing but alerts and session events.
                while queue.isEmpty || (lingering && queue.count == queuedAlerts + queuedSessionEvents
                                        && queue.count < min(Self.batch, capacity)) {
                    let now = monotonicNow()
                    if let wake, now >= wake { break }
                    if lingering {
                        // Alerts below a batch are written at the end of the `linger` window in
                        // which they arrived.
                        let until = now &+ Self.linger
                        lock.wait(untilMonotonic: wake.map { min($0, until) } ?? until)
                        if !queue.isEmpty && monotonicNow() >= until { break }
                    } else {
                        lock.wait(untilMonotonic: wake)
                    }
                }
                swap(&batch, &queue)
                queuedAlerts = 0
                queuedSessionEvents = 0
            }
            if overflow == .wait { lock.broadcast() }              // room again for a waiting submit
            for item in batch {
                switch item {
                case .alert(let alert):
                    for sink in sinks { sink.write(alert) }
                case .stats(let fields, let time):
                    writeStatsOnWriter(fields, time: time)
                case .event(let json):
                    for sink in sinks { sink.writeEvent(json) }
                case .reopen:
                    for sink in sinks { if let problem = sink.reopen() { report(problem.message) } }
                case .finish(let stats, let time, let deadline):
                    finishOnWriter(stats: stats, time: time, deadline: deadline)
                    return
                }
            }
            batch.removeAll(keepingCapacity: true)
            // The queue ran empty: write out now, so a quiet live capture's alerts do not wait in
            // a buffer.
            for sink in sinks { sink.flush() }
            wake = serviceAll(now: monotonicNow())
            noteQueueDrops()
            let current = snapshot(complete: false)
            lock.withLock { published = current }
        }
    }

    /// Lets every sink do pending work; returns the earliest time one needs another call.
    private func serviceAll(now: UInt64) -> UInt64? {
        var earliest: UInt64?
        for sink in sinks {
            if let next = sink.service(now: now) { earliest = min(earliest ?? next, next) }
        }
        return earliest
    }

    private func writeStatsOnWriter(_ fields: [StatField], time: Timestamp) {
        for sink in sinks { sink.flush() }
        let all = fields + [outputsField()]
        for sink in sinks { sink.writeStats(all, time: time) }
    }

    private func finishOnWriter(stats: [StatField]?, time: Timestamp, deadline: UInt64) {
        for sink in sinks {
            sink.flush()
            sink.expedite()
        }
        waitForSinks(until: deadline) { $0.heldAlerts > 0 }
        for sink in sinks { sink.abandonHeld() }
        if let stats {
            writeStatsOnWriter(stats, time: time)
            // The stats message itself gets a moment to reach the collectors.
            waitForSinks(until: max(deadline, monotonicNow() &+ 500_000_000)) { $0.hasPendingOutput }
        }
        for sink in sinks { sink.close() }
        noteQueueDrops()
        let final = snapshot(complete: true)
        reportLosses(final)
        lock.withLock {
            summary = final
            published = final
            finished = true
        }
        lock.broadcast()
    }

    /// Services sinks until none matches `pending` or the deadline passes; bounded by the deadline.
    private func waitForSinks(until deadline: UInt64, pending: (any AlertSink) -> Bool) {
        while true {
            let now = monotonicNow()
            let next = serviceAll(now: now)
            guard sinks.contains(where: pending), now < deadline else { return }
            let wake = min(next ?? now &+ 20_000_000, deadline)
            lock.withLock { lock.wait(untilMonotonic: max(wake, now &+ 1_000_000)) }
        }
    }

    private func noteQueueDrops() {
        let (dropped, sessionEvents) = lock.withLock { (queueDropped, sessionEventsDropped) }
        if dropped > reportedQueueDropped {
            if reportedQueueDropped == 0 {
                report("output queue full (\(capacity) alerts): the outputs cannot keep up; dropping alerts (counted in the stats event)")
            }
            reportedQueueDropped = dropped
        }
        if sessionEvents > 0 && !reportedSessionEventDrops {
            report("output queue full (\(capacity) mail_session events): the outputs cannot keep up; dropping session events (counted in the stats event)")
            reportedSessionEventDrops = true
        }
    }

    private func reportLosses(_ final: OutputSummary) {
        if final.queueDropped > 0 {
            report("\(final.queueDropped) of \(final.alerts) alerts dropped: the output queue was full")
        }
        if final.sessionEventsDropped > 0 {
            report("\(final.sessionEventsDropped) mail_session events dropped: the output queue was full (a report merged from these events undercounts those sessions)")
        }
        for sink in final.sinks {
            if let failure = sink.failure {
                report(failure.message)
            } else if sink.counters.dropped > 0 {
                let label = sink.group.map { $0 + " " + sink.name } ?? sink.name
                report("\(label): \(sink.counters.dropped) of \(final.alerts) alerts dropped, \(sink.counters.delivered) delivered")
            }
        }
    }

    private func snapshot(complete: Bool) -> OutputSummary {
        let (alerts, dropped, sessionEvents) = lock.withLock { (submitted, queueDropped, sessionEventsDropped) }
        var summary = OutputSummary(
            alerts: alerts, queueDropped: dropped,
            sinks: sinks.map {
                OutputSummary.Sink(name: $0.outputName, group: $0.outputGroup, counters: $0.counters,
                                   held: $0.heldAlerts, optional: $0.isOptional, failure: $0.failure)
            },
            complete: complete)
        summary.sessionEventsDropped = sessionEvents
        return summary
    }

    /// `outputs` for the stats event: the queue, then each sink (syslog targets grouped).
    private func outputsField() -> StatField {
        let (dropped, sessionEvents) = lock.withLock { (queueDropped, sessionEventsDropped) }
        var fields = [StatField("queue", .object([StatField("capacity", UInt64(capacity)), StatField("dropped", dropped),
                                                  StatField("session_events_dropped", sessionEvents)]))]
        var grouped: [(String, [StatField])] = []
        for sink in sinks {
            var counters = [StatField("delivered", sink.counters.delivered), StatField("dropped", sink.counters.dropped)]
            counters += sink.statDetails
            let field = StatField(sink.outputName, .object(counters))
            if let group = sink.outputGroup {
                if let index = grouped.firstIndex(where: { $0.0 == group }) {
                    grouped[index].1.append(field)
                } else {
                    grouped.append((group, [field]))
                }
            } else {
                fields.append(field)
            }
        }
        fields += grouped.map { StatField($0.0, .object($0.1)) }
        return StatField("outputs", .object(fields))
    }
}

/// Where every alert went, per sink.
public struct OutputSummary: Sendable {
    public struct Sink: Sendable {
        public var name: String
        public var group: String?
        public var counters: SinkCounters
        /// Alerts waiting for a collector (zero once finished).
        public var held: Int
        public var optional: Bool
        public var failure: OutputError?
    }
    /// Alerts submitted by the engine.
    public var alerts: UInt64
    /// Alerts dropped because the queue was full: lost for every sink.
    public var queueDropped: UInt64
    /// `mail_session` events dropped because the queue was full (`submitSessionEvent`).
    public var sessionEventsDropped: UInt64 = 0
    public var sinks: [Sink]
    /// The writer finished within its time limit.
    public var complete: Bool

    /// Some output that is not optional lost alerts or failed.
    public var lostAlerts: Bool {
        queueDropped > 0 || sinks.contains { !$0.optional && ($0.failure != nil || $0.counters.dropped > 0) }
    }
}

/// The pipeline is itself a sink (for a run loop written against `AlertSink`): `write` queues,
/// `writeStats` queues a stats event, `close` drains with the default timeout. `failure` is set
/// only once every sink behind it has failed.
extension AlertPipeline: AlertSink {
    public static let defaultDrainSeconds = 5.0

    public func write(_ alert: Alert) { submit(alert) }
    public func writeStats(_ fields: [StatField], time: Timestamp) { submitStats(fields, time: time) }
    /// Queues another JSON event (`server_exposure`), in order with the alerts and stats.
    public func writeEvent(_ json: [UInt8]) { enqueueControl(.event(json)) }
    /// The writer flushes whenever its queue runs empty; nothing to do here.
    public func flush() -> Bool { failure == nil }
    public func close() -> Bool {
        let summary = drainAndClose(timeout: Self.defaultDrainSeconds)
        return summary.complete && !summary.lostAlerts
    }
    public var failure: OutputError? {
        let sinks = outputSummary.sinks
        guard !sinks.isEmpty, sinks.allSatisfy({ $0.failure != nil }) else { return nil }
        return sinks.first?.failure
    }
    public var alertsWritten: UInt64 { lock.withLock { submitted } }
    public var outputName: String { "outputs" }
    public var counters: SinkCounters {
        let summary = outputSummary
        return SinkCounters(delivered: summary.alerts &- summary.queueDropped, dropped: summary.queueDropped)
    }
    /// Asks every sink to reopen its destination (SIGHUP): files are opened again by path,
    /// syslog connections are made again; problems are reported by the writer. Call from the run
    /// loop, not from a signal handler (it takes a lock).
    public func reopen() -> OutputError? {
        enqueueControl(.reopen)
        return nil
    }
}
