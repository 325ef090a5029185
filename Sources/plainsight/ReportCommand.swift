import Alerts
import ArgumentParser
import Inventory
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// `plainsight report FILE... --report OUT.json|OUT.html` (issue 20): the exposure inventory built
// from recorded events instead of packets, for an organisation with many sensors. The merge rules
// are in InventoryMerge.swift and docs/report.md; here: the command line, reading the files and
// telling what could not be used.

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plainsight report",
        abstract: "Build the mail-server exposure inventory from recorded events: plainsight's JSON lines (-o), a syslog collector's files, other runs' --report FILE.json.",
        usage: """
            plainsight report <file|-> [<file> ...] --report <file.json|file.html> [--report ...] [--quiet]
            """,
        discussion: """
            Reads every file in order (plain, or compressed with gzip, zstd or xz; '-' is standard \
            input, uncompressed) and writes the inventory of every mail server any of them saw, \
            with verdicts recomputed from all the evidence and, per server, the sensors that saw it \
            (sensors). Lines may be plainsight's JSON events, a collector's lines holding them \
            (RFC 5424 or BSD syslog with the event's JSON as the message, or rsyslog's JSON \
            templates with it in 'msg'), or the lines of --report FILE.json documents.

            mail_session events (sensors run with --session-events) are merged session by session: \
            a session two sensors saw (same community_id, overlapping times) counts once. \
            server_exposure events and reports are totals per server and are summed: exact for \
            sensors that saw different traffic, not for overlapping ones. A sensor's \
            server_exposure events are not used when it also sent mail_session events. Login names \
            merge under one --user-policy (and one hash key) only; other inputs are refused.

            Lines that cannot be used (malformed, another tool's, a file cut short) are counted and \
            reported in one line per file and kind. Exit status: 0 every file read, 1 a file could \
            not be read (or a report not written), 2 a usage error or inputs that cannot be merged. \
            See docs/report.md.
            """)

    @Argument(help: ArgumentHelp("Files of events or reports ('-' for standard input).", valueName: "file"))
    var files: [String] = []

    @Option(name: .customLong("report"),
            help: ArgumentHelp("Write the merged inventory to this file: FILE.json or FILE.html, as plainsight -r/-i --report writes them. Repeat for both.",
                               valueName: "file"))
    var report: [String] = []

    @Flag(name: [.customShort("q"), .customLong("quiet")],
          help: "No progress line and no summary on standard error (problems are still reported).")
    var quiet = false

    /// Parses `arguments` (after `report`) and runs; the exit status. Usage errors exit 2, as
    /// `Plainsight.main` does for the capture's options; --help prints this command's help.
    static func run(_ arguments: [String]) -> Int32 {
        do {
            let command = try parse(arguments)
            return command.execute()
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            writeStandardError(fullMessage(for: error) + "\n")
            return 2
        }
    }

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("no input: give files of events or reports (or - for standard input)") }
        guard !report.isEmpty else { throw ValidationError("no output: give --report FILE.json or --report FILE.html") }
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("- (standard input) is given more than once") }
        for path in report {
            if path == "-" { throw ValidationError("--report -: give a file name") }
            if ReportFormat(path: path) == nil {
                throw ValidationError("--report \(escaped(path)): the name must end in .json or .html (the format follows it)")
            }
        }
        try checkOutputsAreNotInputs(inputs: files, outputs: report.map { ("--report", $0) })
    }

    func execute() -> Int32 {
        let merger = InventoryMerger()
        let interactive = !quiet && isatty(2) == 1
        var unreadable = 0
        var totals = FileTally()
        for path in files {
            let input: EventInput
            do {
                input = try EventInput(path: path)
            } catch {
                reportProblem(file: path, error.message)
                unreadable += 1
                continue
            }
            var tally = FileTally()
            let progress = MergeProgress(enabled: interactive, path: path, size: input.size)
            var fatal: MergeError?
            var overlong: UInt64 = 0
            let failure = input.forEachLine(overlong: &overlong, tick: { progress.update(input.bytesConsumed, lines: tally.lines) }) { line, unterminated in
                guard fatal == nil else { return }
                do throws(MergeError) {
                    try tally.take(line, unterminated: unterminated, into: merger, source: path)
                } catch {
                    fatal = error
                }
            }
            progress.clear()
            if let fatal {
                reportProblem(fatal.message)
                return 2
            }
            tally.overlong = overlong
            tally.report(path)
            totals.add(tally)
            if let failure {
                reportProblem(file: path, "read error after \(tally.lines) lines: \(failure)")
                unreadable += 1
            }
        }
        merger.finish()
        let generator = "plainsight " + plainsightVersion
        var written = true
        for path in report {
            let document: [UInt8]
            switch ReportFormat(path: path) {
            case .json: document = merger.inventory.reportJSON(generator: generator)
            case .html: document = Array(merger.inventory.reportHTML(ReportPage(generator: generator)).utf8)
            case nil: continue
            }
            do {
                try AtomicFile.write(document, to: path)
            } catch {
                reportProblem(error.message)
                written = false
            }
        }
        if !quiet {
            let c = merger.counters
            var text = "plainsight report: \(merger.inventory.serverCount) servers from \(files.count) file\(files.count == 1 ? "" : "s")"
            text += ": \(c.sessionEvents) session events (\(c.duplicateSessions) seen by another sensor too, counted once)"
            text += ", \(c.exposureEvents) server_exposure events (\(c.exposureSuperseded) left to session events)"
            text += ", \(c.reportServers) report servers, \(c.ignoredEvents) alerts and stats not needed"
            if c.unchecked > 0 { text += "; \(c.unchecked) sessions counted without the duplicate check (too many to remember)" }
            if c.sensorsDropped > 0 { text += "; \(c.sensorsDropped) sightings beyond \(ServerInventory.maxSensorsPerServer) sensors a server not listed" }
            writeStandardError(text + "\n")
        }
        return unreadable > 0 || !written ? 1 : 0
    }
}

/// What one file's lines were, and the first line of each kind of problem.
struct FileTally {
    var lines: UInt64 = 0
    var used: UInt64 = 0
    var malformed: UInt64 = 0
    var firstMalformed: (line: UInt64, reason: String)?
    var foreign: UInt64 = 0
    var firstForeign: UInt64 = 0
    var unterminated = false
    var overlong: UInt64 = 0
    /// Inside a `--report FILE.json` document (after its first line).
    private var inReport = false

    private static let eventStart = Array("{\"timestamp\":\"".utf8)
    private static let reportStart = Array("{\"generator\":\"plainsight".utf8)
    private static let serverStart = Array("{\"dest_ip\":".utf8)
    private static let syslogMark = Array("plainsight@32473".utf8)
    private static let untrackedKey = Array("\"untracked_events\":".utf8)

    mutating func take(_ line: UnsafeBufferPointer<UInt8>, unterminated: Bool, into merger: InventoryMerger,
                       source: String) throws(MergeError) {
        lines += 1
        guard !line.isEmpty else { return }
        let rejection: MergeRejection?
        if inReport {
            rejection = try reportLine(line, merger: merger, source: source)
        } else if line.starts(with: Self.reportStart) {
            inReport = true
            if let at = Self.find(Self.untrackedKey, in: line) {
                var n: UInt64 = 0
                var i = at + Self.untrackedKey.count
                while i < line.count, line[i] >= 0x30 && line[i] <= 0x39, n < UInt64.max / 10 {
                    n = n * 10 + UInt64(line[i] - 0x30)
                    i += 1
                }
                merger.addUntracked(n)
            }
            // A report of no server is one line: `{"generator":...,"servers":[]}`.
            rejection = line.last == UInt8(ascii: "[") || JSONValue.parse(line) != nil ? nil : .malformed("a report's first line cut short")
            if line.last != UInt8(ascii: "[") { inReport = false }
        } else if let at = Self.find(Self.eventStart, in: line) {
            if let event = Self.event(in: line, from: at) {
                rejection = try merger.add(event: event, source: source)
            } else {
                rejection = .malformed("not valid JSON")
            }
        } else if line.first == UInt8(ascii: "{"), let object = JSONValue.parse(line) {
            // A collector's JSON template: the event is the message.
            if let message = object["msg"]?.string {
                let bytes = Array(message.utf8)
                if let at = Self.find(Self.eventStart, in: bytes), let event = JSONValue.parse(Array(bytes[at...])) {
                    rejection = try merger.add(event: event, source: source)
                } else {
                    rejection = Self.find(Self.syslogMark, in: line) != nil || message.contains("plainsight") ? nil : .foreign
                    if rejection == nil { merger.countIgnored() }
                }
            } else if object["event_type"] != nil {
                rejection = try merger.add(event: object, source: source)
            } else {
                rejection = .foreign
            }
        } else if line.first == UInt8(ascii: "{") || line.first == UInt8(ascii: "[") {
            rejection = .malformed("not valid JSON")
        } else if Self.find(Self.syslogMark, in: line) != nil {
            // A syslog alert: its message is the text line, and the inventory does not need it.
            merger.countIgnored()
            rejection = nil
        } else {
            rejection = .foreign
        }
        switch rejection {
        case nil: used += 1
        case .foreign:
            if foreign == 0 { firstForeign = lines }
            foreign += 1
        case .malformed(let reason):
            if unterminated { self.unterminated = true; return }
            if malformed == 0 { firstMalformed = (lines, reason) }
            malformed += 1
        }
    }

    private mutating func reportLine(_ line: UnsafeBufferPointer<UInt8>, merger: InventoryMerger,
                                     source: String) throws(MergeError) -> MergeRejection? {
        if line.starts(with: Self.serverStart) {
            var body = line
            if body.last == UInt8(ascii: ",") { body = UnsafeBufferPointer(rebasing: body.dropLast()) }
            guard let server = JSONValue.parse(body) else { return .malformed("a report's server is not valid JSON") }
            return try merger.add(reportServer: server, source: source)
        }
        if line.elementsEqual("]}".utf8) {
            inReport = false
            return nil
        }
        return .malformed("not a server of the report")
    }

    /// The event that runs from one of the `{"timestamp":"` in `line` (the first at `first`) to the
    /// line's end: a collector's line may hold the text before it in its structured data.
    static func event(in line: UnsafeBufferPointer<UInt8>, from first: Int) -> JSONValue? {
        var at = first
        while true {
            if let event = JSONValue.parse(UnsafeBufferPointer(rebasing: line[at...])) { return event }
            guard at + 1 < line.count,
                  let next = find(eventStart, in: UnsafeBufferPointer(rebasing: line[(at + 1)...])) else { return nil }
            at += 1 + next
        }
    }

    static func find(_ needle: [UInt8], in line: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = line.baseAddress, line.count >= needle.count else { return nil }
        // memchr for the first byte, then a compare: memmem is a GNU extension Glibc's module
        // does not export.
        let last = line.count - needle.count
        var i = 0
        while i <= last {
            guard let hit = memchr(base + i, Int32(needle[0]), last - i + 1) else { return nil }
            let at = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(hit))
            if needle.withUnsafeBytes({ n in n.baseAddress.map { memcmp(base + at, $0, needle.count) } ?? 1 }) == 0 { return at }
            i = at + 1
        }
        return nil
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { find(needle, in: $0) }
    }

    /// One stderr line per kind of line that was not used.
    func report(_ path: String) {
        if malformed > 0, let first = firstMalformed {
            reportProblem(file: path, "\(malformed) malformed line\(malformed == 1 ? "" : "s") skipped (first: line \(first.line), \(first.reason))")
        }
        if foreign > 0 {
            reportProblem(file: path, "\(foreign) line\(foreign == 1 ? "" : "s") not from plainsight skipped (first: line \(firstForeign))")
        }
        if overlong > 0 {
            reportProblem(file: path, "\(overlong) line\(overlong == 1 ? "" : "s") longer than \(EventInput.maxLineBytes) bytes skipped")
        }
        if unterminated {
            reportProblem(file: path, "the last line is cut short (the file was truncated or is still being written): skipped")
        }
    }

    mutating func add(_ other: FileTally) {
        lines += other.lines; used += other.used; malformed += other.malformed; foreign += other.foreign
    }
}

/// `plainsight report: FILE  123 MiB / 456 MiB (27%)  1234567 lines` on a terminal, redrawn at
/// most four times a second.
final class MergeProgress {
    private let enabled: Bool
    private let path: String
    private let size: Int64?
    private var lastDraw: UInt64 = 0
    private var visible = false

    init(enabled: Bool, path: String, size: Int64?) {
        self.enabled = enabled; self.path = path; self.size = size
    }

    func update(_ consumed: Int64, lines: UInt64) {
        guard enabled else { return }
        let now = monotonicNow()
        guard now &- lastDraw >= 250_000_000 else { return }
        lastDraw = now
        var text = "\rplainsight report: \(escaped(path))  \(consumed >> 20) MiB"
        if let size, size > 0 { text += " / \(size >> 20) MiB (\(min(100, consumed * 100 / size))%)" }
        text += "  \(lines) lines\u{1B}[K"
        writeStandardError(text)
        visible = true
    }

    func clear() {
        if visible { writeStandardError("\r\u{1B}[K") }
        visible = false
    }
}
