import Alerts
import Capture
import Engine
import Inventory
import MailAuth
import Reassembly
import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// `--jobs N` (issue 8): capture files read as independent captures, N at a time. Each file gets
// an engine of its own on a worker thread; its alerts and what the inventory was told are kept
// until every earlier file has been handed on, so the output is in file order and identical
// whatever N is. Flow ids, like flows, belong to one file: each file's start at 1.

/// What one file produced, held until its turn.
private struct FileResult {
    var alerts: [Alert] = []
    var observations: [Observation] = []
    var stats: [StatField] = []
    var totals = ReplayTotals()
    var readError = false
}

private enum Observation {
    case login(Finding, FlowInfo)
    case ended(EndedSession)
}

/// Keeps what the engine tells the inventory, for replay into the one shared inventory in file
/// order (the inventory is not thread-safe, and its order should not depend on timing).
private final class RecordingObserver: SessionObserver {
    var observations: [Observation] = []
    func login(_ finding: Finding, flow: FlowInfo) { observations.append(.login(finding, flow)) }
    func sessionEnded(_ session: EndedSession) { observations.append(.ended(session)) }
}

/// The work list and the finished results, behind one mutex and condition.
private final class JobBoard: @unchecked Sendable {
    private let lock = ConditionLock()
    private var next = 0
    private var stopped = false
    private var results: [FileResult?]
    let paths: [String]
    let options: ReplayOptions
    let configuration: EngineConfiguration
    let sink: AlertPipeline
    /// The progress line, summed over the files being read (a slot per worker thread).
    let progress: ProgressMeter

    init(paths: [String], options: ReplayOptions, configuration: EngineConfiguration, sink: AlertPipeline,
         progress: ProgressMeter) {
        self.progress = progress
        self.paths = paths
        self.options = options
        self.configuration = configuration
        self.sink = sink
        results = Array(repeating: nil, count: paths.count)
    }

    private func locked<T>(_ body: () -> T) -> T { lock.withLock(body) }

    /// The next file to read, or nil when there is none (or the output failed).
    func take() -> Int? {
        locked {
            guard !stopped, next < paths.count else { return nil }
            next += 1
            return next - 1
        }
    }

    func finished(_ index: Int, _ result: FileResult) {
        locked { results[index] = result }
        lock.broadcast()
    }

    /// No more files are handed out (the output failed); files not yet started stay unread.
    func stop() {
        locked { stopped = true }
        lock.broadcast()
    }

    /// Waits for file `index`; nil if it will never be read (stopped before it was taken).
    func wait(for index: Int) -> FileResult? {
        locked {
            while true {
                if let result = results[index] {
                    results[index] = nil
                    return result
                }
                if stopped && index >= next { return nil }
                lock.wait(untilMonotonic: nil)
            }
        }
    }

    /// Reads one file through an engine of its own (runs on a worker thread).
    func read(_ index: Int, slot: Int) -> FileResult {
        var result = FileResult()
        let recorder = RecordingObserver()
        var alerts: [Alert] = []
        let seed = options.communityIDSeed
        let engine = Engine(configuration: configuration) { alerts.append(Alert($0, communityIDSeed: seed)) }
        let path = paths[index]
        engine.onNotice = { reportProblem(file: path, $0) }
        engine.observer = recorder
        result.totals.files = 1
        result.readError = !readCaptureFile(paths[index], index: index, slot: slot, options: options, configuration: configuration,
                                            engine: engine, sink: sink, progress: progress,
                                            totals: &result.totals)
        engine.finish(time: result.totals.lastPacketTime)
        result.alerts = alerts
        result.observations = recorder.observations
        result.stats = engine.stats.fields()
        return result
    }
}

/// Reads `paths` with `jobs` worker threads, handing each file's alerts to `sink` and its
/// observations to `inventory` in file order. Returns the summed stats fields and totals.
func readFilesInParallel(_ paths: [String], jobs: Int, options: ReplayOptions, configuration: EngineConfiguration,
                         sink: AlertPipeline, inventory: SessionObserver,
                         progress: ProgressMeter) -> (stats: [StatField], totals: ReplayTotals) {
    let board = JobBoard(paths: paths, options: options, configuration: configuration, sink: sink, progress: progress)
    var workers: [CaptureThread] = []
    for slot in 0..<max(1, min(jobs, paths.count)) {
        do {
            workers.append(try CaptureThread {
                while let index = board.take() { board.finished(index, board.read(index, slot: slot)) }
            })
        } catch {
            reportProblem("--jobs: could not start a reader thread (\(error)); continuing with \(workers.count)")
            break
        }
    }
    var stats: [StatField]? = nil
    var totals = ReplayTotals()
    if workers.isEmpty { board.stop() }
    for index in paths.indices {
        guard let result = board.wait(for: index) else { break }
        for alert in result.alerts { sink.submit(alert) }
        for observation in result.observations {
            switch observation {
            case .login(let finding, let flow): inventory.login(finding, flow: flow)
            case .ended(let session): inventory.sessionEnded(session)
            }
        }
        stats = stats.map { sumStatFields($0, result.stats) } ?? result.stats
        totals.files += result.totals.files
        totals.records &+= result.totals.records
        totals.fileBytes &+= result.totals.fileBytes
        totals.undecodedPackets &+= result.totals.undecodedPackets
        if result.readError { totals.readErrors += 1 }
        if let last = result.totals.lastPacketTime { totals.lastPacketTime = last }
        if sink.failure != nil { board.stop() }        // nowhere to put alerts: stop reading
    }
    board.stop()
    for worker in workers { worker.join() }
    return (stats ?? Engine(configuration: configuration) { _ in }.stats.fields(), totals)
}

/// Adds two stats trees of the same shape, field by field; `peak_*` counters take the larger.
func sumStatFields(_ a: [StatField], _ b: [StatField]) -> [StatField] {
    a.map { field in
        guard let other = b.first(where: { $0.name == field.name }) else { return field }
        switch (field.value, other.value) {
        case (.count(let x), .count(let y)):
            return StatField(field.name, field.name.hasPrefix("peak_") ? max(x, y) : x &+ y)
        case (.object(let x), .object(let y)):
            return StatField(field.name, .object(sumStatFields(x, y)))
        default:
            return field
        }
    }
}
