import Alerts
import ArgumentParser
import Engine
import Inventory
import MailAuth
import Reassembly
import Synchronization
import Wire

// The mail-server exposure inventory on the command line (issue 7): the `--report` option, the
// settings it becomes, and the object a run (replay or live) keeps the inventory in and writes it
// out from. Kept apart from Plainsight.swift and Replay.swift so the hooks there stay one line each.

/// `--report FILE.json|FILE.html`, repeatable.
struct ReportOptions: ParsableArguments {
    @Option(name: .customLong("report"),
            help: ArgumentHelp("At the end of the run, write the mail-server exposure inventory to this file: FILE.json (an object with a 'servers' list: verdict, evidence, STARTTLS and login counts per server) or FILE.html (a self-contained page with a summary, charts and a sortable table). Repeat for both.",
                               valueName: "file"))
    var report: [String] = []

    func validate() throws {
        for path in report where ReportFormat(path: path) == nil {
            throw ValidationError("--report \(escaped(path)): the name must end in .json or .html (the format follows it)")
        }
    }

    /// Distinct users are counted through the run's hash key (`--user-policy hash`) or a random one,
    /// and named only under `--user-policy full`.
    func settings(policy: UserPolicy) -> InventorySettings {
        var s = InventorySettings()
        s.reports = report.compactMap { path in ReportFormat(path: path).map { ReportTarget(path: path, format: $0) } }
        if case .hash(let key) = policy { s.userHashKey = key }
        s.listUsers = policy == .full
        return s
    }
}

enum ReportFormat: Sendable {
    case json, html

    init?(path: String) {
        let lower = path.lowercased()
        if lower.hasSuffix(".json") { self = .json } else if lower.hasSuffix(".html") || lower.hasSuffix(".htm") { self = .html } else { return nil }
    }
}

struct ReportTarget: Sendable {
    var path: String
    var format: ReportFormat
}

/// What a run needs to keep an inventory (part of `ReplayOptions`).
struct InventorySettings: Sendable {
    var reports: [ReportTarget] = []
    var userHashKey: [UInt8]?
    var listUsers = false
    /// `--community-id-seed`, for the exposure events' `community_id`.
    var communityIDSeed: UInt16 = 0
}

/// One run's inventory: fed by the engine, written out at the end. The report files are created
/// (truncated) when the run starts, like `-o`, so a bad path fails before any packet is read and
/// before privileges are dropped.
///
/// Live capture feeds it from every worker's thread and writes events from the main thread, so
/// there every use goes through `lock` (`attachShared`); a replay has one thread and attaches the
/// inventory directly. `@unchecked Sendable` for the live case, where the lock is what makes it so.
final class InventoryRun: @unchecked Sendable {
    let inventory: ServerInventory
    private let reports: [(target: ReportTarget, output: FileOutput)]
    private let lock = Mutex(())
    private let communityID: CommunityID

    init(_ settings: InventorySettings) throws(OutputError) {
        communityID = CommunityID(seed: settings.communityIDSeed)
        inventory = ServerInventory(userHashKey: settings.userHashKey, listUsers: settings.listUsers)
        var opened: [(ReportTarget, FileOutput)] = []
        for target in settings.reports {
            guard target.path != "-" else { throw OutputError("--report -: standard output carries the alerts; give a file name") }
            do {
                opened.append((target, try FileOutput.create(path: target.path)))
            } catch {
                for (_, output) in opened { output.close() }
                throw error
            }
        }
        reports = opened
    }

    /// Opens the run's inventory, or reports why not (one stderr line) and returns nil.
    static func open(_ settings: InventorySettings) -> InventoryRun? {
        do {
            return try InventoryRun(settings)
        } catch {
            reportProblem(error.message)
            return nil
        }
    }

    func attach(to engine: Engine) { engine.observer = inventory }

    /// For engines on other threads than the one writing the events (live capture): each call from
    /// the engine takes the lock.
    func attachShared(to engine: Engine) { engine.observer = LockedObserver(run: self) }

    fileprivate func locked<T>(_ body: () -> T) -> T { lock.withLock { _ in body() } }

    /// The `server_exposure` events, one per server; sinks without JSON events (text, syslog)
    /// ignore them. Call after `engine.finish`, before the stats event.
    func writeEvents(to sink: any AlertSink, time: Timestamp) {
        let lines = locked { inventory.exposureEvents(time: time, communityID: communityID) }
        for line in lines { sink.writeEvent(line) }
    }

    /// Writes and closes every `--report` file; a failure is reported on stderr and returns false.
    func writeReports() -> Bool {
        locked { writeReportsLocked() }
    }

    private func writeReportsLocked() -> Bool {
        var ok = true
        let generator = "plainsight " + plainsightVersion
        for (target, output) in reports {
            var document: [UInt8]
            switch target.format {
            case .json: document = inventory.reportJSON(generator: generator)
            case .html: document = Array(inventory.reportHTML(generator: generator).utf8)
            }
            // `writeLine` adds the final newline.
            if document.last == 0x0A { document.removeLast() }
            output.writeLine(counted: false) { $0.append(contentsOf: document) }
            if !output.close(), let failure = output.failure {
                reportProblem(failure.message)
                ok = false
            }
        }
        return ok
    }

    /// The end-of-run table for a terminal's standard error.
    func terminalTable() -> String { locked { inventory.terminalTable() } }
}

/// Hands the engine's calls to the shared inventory under its lock.
private final class LockedObserver: SessionObserver {
    private let run: InventoryRun
    init(run: InventoryRun) { self.run = run }
    func login(_ finding: Finding, flow: FlowInfo) { run.locked { run.inventory.login(finding, flow: flow) } }
    func sessionEnded(_ session: EndedSession) { run.locked { run.inventory.sessionEnded(session) } }
}
