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

/// `--report FILE.json|FILE.html`, repeatable, and `--report-interval` for live capture.
struct ReportOptions: ParsableArguments {
    @Option(name: .customLong("report"),
            help: ArgumentHelp("Write the mail-server exposure inventory to this file: FILE.json (an object with a 'servers' list: verdict, evidence, STARTTLS and login counts per server) or FILE.html (a self-contained page: summary, a legend with advice per verdict and the server settings that fix it, charts, and a sortable table with the clients and users of each server). Written at the start and at the end of the run, and during live capture every --report-interval seconds and on SIGHUP; always replaced whole (a temporary file renamed over it). Repeat for both.",
                               valueName: "file"))
    var report: [String] = []

    @Option(name: .customLong("report-interval"),
            help: ArgumentHelp("With -i and --report: rewrite the report files every this many seconds (1 to 86400) while capturing; the HTML page reloads itself as often.",
                               valueName: "seconds"))
    var reportIntervalValues: [UInt32] = []
    var reportInterval: UInt32? { reportIntervalValues.last }

    @Flag(name: .customLong("session-events"),
          help: "Also write one mail_session event per ended mail session (its server's capabilities, STARTTLS, and its logins, names under --user-policy) to the JSON outputs and syslog, so that 'plainsight report' can merge the events of sensors whose traffic overlaps, counting a session two sensors saw once (docs/report.md).")
    var sessionEvents = false

    func validate() throws {
        if let error = repeatedOptionError([("--report-interval", reportIntervalValues.count)]) { throw error }
        for path in report where ReportFormat(path: path) == nil {
            throw ValidationError("--report \(escaped(path)): the name must end in .json or .html (the format follows it)")
        }
        if let reportInterval {
            guard !report.isEmpty else { throw ValidationError("--report-interval needs a report file (--report FILE.html or FILE.json)") }
            guard (1...86_400).contains(reportInterval) else {
                throw ValidationError("--report-interval \(reportInterval): give 1 to 86400 seconds")
            }
        }
    }

    /// Distinct users are counted through the run's hash key (`--user-policy hash`) or a random one;
    /// login names are shown through the policy, as in the alerts.
    func settings(policy: UserPolicy) -> InventorySettings {
        var s = InventorySettings()
        s.reports = report.compactMap { path in ReportFormat(path: path).map { ReportTarget(path: path, format: $0) } }
        if case .hash(let key) = policy { s.userHashKey = key }
        s.userPolicy = policy
        s.refreshSeconds = reportInterval
        s.sessionEvents = sessionEvents
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
    var userPolicy: UserPolicy = .mask
    /// --report-interval (live capture only).
    var refreshSeconds: UInt32?
    /// Live capture: the reports say when they were written and are rewritten as capture goes on
    /// (a replay's report is the same on every run).
    var live = false
    /// `--community-id-seed`, for the exposure events' `community_id`.
    var communityIDSeed: UInt16 = 0
    /// `--session-events`: a `mail_session` event per ended session (issue 20).
    var sessionEvents = false
    /// `--sensor` (or the host name): the reports' `sensors` of every server.
    var sensor = "-"
}

/// One run's inventory: fed by the engine, written out at the start, at the end and, during live
/// capture, whenever asked (`refreshReports`). Every write replaces the file whole (`AtomicFile`):
/// a reader never sees half a report. The first write checks the path before any packet is read:
/// a replay writes it when the inventory opens, live capture once it has given up root
/// (`writeInitialReports`), since that user writes every later refresh into the directory.
///
/// Live capture feeds it from every worker's thread and writes from the main thread, so there
/// every use goes through `lock` (`attachShared`); a replay has one thread and attaches the
/// inventory directly. `@unchecked Sendable` for the live case, where the lock is what makes it so.
final class InventoryRun: @unchecked Sendable {
    let inventory: ServerInventory
    private let reports: [ReportTarget]
    private let settings: InventorySettings
    private let lock = Mutex(())
    private let communityID: CommunityID

    init(_ settings: InventorySettings) throws(OutputError) {
        communityID = CommunityID(seed: settings.communityIDSeed)
        inventory = ServerInventory(userHashKey: settings.userHashKey, userPolicy: settings.userPolicy)
        inventory.rendersPage = settings.reports.contains { $0.format == .html }
        inventory.sensors = .single(settings.sensor)
        for target in settings.reports where target.path == "-" {
            throw OutputError("--report -: standard output carries the alerts; give a file name")
        }
        reports = settings.reports
        self.settings = settings
        if !settings.live { try writeAll(final: false) }
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

    /// Live capture, as the user that will write every refresh: the first report of each file,
    /// before the first packet. Reports why not (one stderr line) and returns false.
    func writeInitialReports(user: String) -> Bool {
        do {
            try writeAll(final: false)
            return true
        } catch {
            reportProblem("\(error.message) (reports are rewritten as \(escaped(user)), who needs write permission on their directory)")
            return false
        }
    }

    /// How often live capture rewrites the reports (nil: only on SIGHUP and at the end).
    var refreshNanoseconds: UInt64? {
        reports.isEmpty ? nil : settings.refreshSeconds.map { UInt64($0) * 1_000_000_000 }
    }

    func attach(to engine: Engine, events sink: AlertPipeline) { engine.observer = observer(inventory, events: sink) }

    /// For engines on other threads than the one writing the events (live capture): each call from
    /// the engine takes the lock (the session events' pending logins are the engine's own).
    func attachShared(to engine: Engine, events sink: AlertPipeline) {
        engine.observer = observer(LockedObserver(run: self), events: sink)
    }

    /// `inner`, or with --session-events a `SessionEventObserver` in front of it writing to `sink`.
    func observer(_ inner: SessionObserver, events sink: AlertPipeline) -> SessionObserver {
        guard settings.sessionEvents else { return inner }
        let writer = SessionEventWriter(userPolicy: settings.userPolicy, communityIDSeed: settings.communityIDSeed)
        return SessionEventObserver(next: inner, writer: writer) { sink.submitSessionEvent($0) }
    }

    fileprivate func locked<T>(_ body: () -> T) -> T { lock.withLock { _ in body() } }

    /// The `server_exposure` events, one per server; sinks without JSON events (text, syslog)
    /// ignore them. Call after `engine.finish`, before the stats event.
    func writeEvents(to sink: any AlertSink, time: Timestamp) {
        let lines = locked { inventory.exposureEvents(time: time, communityID: communityID) }
        for line in lines { sink.writeEvent(line) }
    }

    /// The reports as they stand, during live capture (--report-interval, SIGHUP). A failure is
    /// reported on stderr, and the old file stays as it was; capture goes on.
    func refreshReports() {
        do {
            try writeAll(final: false)
        } catch {
            reportProblem(error.message)
        }
    }

    /// Writes every `--report` file for the end of the run; a failure is reported on stderr and
    /// returns false.
    func writeReports() -> Bool {
        do {
            try writeAll(final: true)
            return true
        } catch {
            reportProblem(error.message)
            return false
        }
    }

    /// Renders from a snapshot taken under the lock, so the engines wait only for the copy, not
    /// for the rendering and the disk. Every file is tried; the first failure is thrown.
    private func writeAll(final: Bool) throws(OutputError) {
        guard !reports.isEmpty else { return }
        let snapshot = locked { inventory.snapshot() }
        let generator = "plainsight " + plainsightVersion
        var page = ReportPage(generator: generator)
        if settings.live {
            page.writtenAt = Timestamp(nanoseconds: wallClockNow().nanoseconds)
            if !final { page.refreshSeconds = settings.refreshSeconds }
        }
        var firstFailure: OutputError?
        for target in reports {
            let document: [UInt8]
            switch target.format {
            case .json: document = snapshot.reportJSON(generator: generator)
            case .html: document = Array(snapshot.reportHTML(page).utf8)
            }
            do {
                try AtomicFile.write(document, to: target.path)
            } catch {
                if firstFailure == nil { firstFailure = error } else { reportProblem(error.message) }
            }
        }
        if let firstFailure { throw firstFailure }
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
