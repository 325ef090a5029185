import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Syslog output checked against a real collector: Debian's rsyslogd, started per test with its
/// own config (RsyslogCollector), parses what plainsight sends over each transport, and its parse
/// is compared with the JSON alerts of the same run.
@Suite("syslog delivery to a real rsyslogd", .serialized,
       .enabled(if: RsyslogCollector.isAvailable, "rsyslogd is not installed (scripts/bootstrap installs the rsyslog package)"))
struct SyslogDeliveryTests {
    static let sdID = "plainsight@32473"

    // MARK: every fixture, every transport

    @Test("each fixture's alerts arrive over the local socket, unix, UDP and TCP with the JSON alert's fields")
    func fixturesThroughEveryTransport() throws {
        let bin = try #require(plainsightBinary())
        let collector = try RsyslogCollector()
        try collector.start()
        defer { collector.stop() }
        let fixtures = loadManifest()
        try #require(!fixtures.isEmpty)
        var runs: [(fixture: FixtureEntry, pid: Int32, json: [[String: Any]], lines: [Data], text: [String], others: [Data])] = []
        var expectedRecords = 0
        for fixture in fixtures {
            let out = try TemporaryFile("alerts.jsonl")
            let r = try runPlainsight(bin, ["-r", "fixtures/\(fixture.pcap)", "--quiet", "--user-policy", "full", "--json",
                                            "-o", out.path] + fixture.args + syslogTargets(collector))
            #expect(r.status == 0, "\(fixture.pcap): \(r.stderr)")
            // Which alerts a fixture gives is FixtureReplayTests' business; here they must match.
            let json = try alertObjects(in: out.contents()), lines = try alertLines(in: out.contents())
            let others = try otherEventLines(in: out.contents())     // server_exposure and later kinds
            let text = try runPlainsight(bin, ["-r", "fixtures/\(fixture.pcap)", "--quiet", "--user-policy", "full"] + fixture.args)
            runs.append((fixture, r.pid, json, lines, text.stdout.split(separator: "\n").map(String.init), others))
            expectedRecords += 4 * (json.count + others.count + 1)   // four transports; alerts, events, stats
        }
        let pids = Set(runs.map { String($0.pid) })
        // Each run's stats event comes last on each of the four transports: once all are written,
        // so is everything else, and the counts below are final.
        for run in runs { try collector.waitForEndOfStream(procID: String(run.pid), transports: 4) }
        let records = collector.records()
        #expect(records.filter { pids.contains($0.procID) }.count == expectedRecords, "every message once")
        let host = localHostName()
        for run in runs {
            let mine = records.filter { $0.procID == String(run.pid) && $0.appName == "plainsight" }
            // The local socket (BSD form: no msgid, no structured data) and the three RFC 5424 ones.
            let local = mine.filter { $0.input == "imuxsock" && $0.msgID == "-" }
            let byInput = ["unix": mine.filter { $0.input == "imuxsock" && $0.msgID != "-" },
                           "udp": mine.filter { $0.input == "imudp" }, "tcp": mine.filter { $0.input == "imtcp" }]
            // Alerts are human lines; other events and stats are JSON objects.
            let localAlerts = local.filter { !$0.msg.trimmingCharacters(in: .whitespaces).hasPrefix("{") }
            #expect(localAlerts.count == run.json.count, "\(run.fixture.pcap) local")
            for (record, (object, line)) in zip(localAlerts, zip(run.json, run.text)) {
                #expect(record.severity == expectedSeverity(object) && record.facility == 10, "\(run.fixture.pcap) local")
                #expect(record.msg.dropFirst(record.msg.hasPrefix(" ") ? 1 : 0) == line, "\(run.fixture.pcap) local msg")
            }
            #expect(local.count == run.json.count + run.others.count + 1, "\(run.fixture.pcap): local events and stats")
            for (transport, received) in byInput {
                let alerts = received.filter { $0.msgID == "cleartext_auth" }
                #expect(alerts.count == run.json.count, "\(run.fixture.pcap) \(transport)")
                for (record, (object, (json, line))) in zip(alerts, zip(run.json, zip(run.lines, run.text))) {
                    #expect(record.severity == expectedSeverity(object), "\(run.fixture.pcap) \(transport)")
                    #expect(record.facility == 10 && record.hostname == host, "\(run.fixture.pcap) \(transport)")
                    #expect(record.parameters[Self.sdID] == (try expectedParameters(json)), "\(run.fixture.pcap) \(transport)")
                    #expect(record.msg == line, "\(run.fixture.pcap) \(transport) msg")
                }
                for line in run.others {
                    let type = try #require((try JSONSerialization.jsonObject(with: line) as? [String: Any])?["event_type"] as? String)
                    let expected = try expectedParameters(line).filter { $0.key.utf8.count <= 32 }
                    #expect(received.contains { $0.msgID == type && $0.parameters[Self.sdID] == expected },
                            "\(run.fixture.pcap) \(transport): \(type) event")
                }
                let stats = received.filter { $0.msgID == "stats" }
                #expect(stats.count == 1 && stats.first?.parameters[Self.sdID]?["alerts"] == String(run.json.count),
                        "\(run.fixture.pcap) \(transport) stats")
            }
        }
        // Nothing the collector stored holds a secret, in any encoding.
        let everything = String(decoding: collector.allOutput(), as: UTF8.self)
        for fixture in fixtures {
            for secret in fixture.secrets {
                for form in secretForms(secret, usernames: fixture.expected.compactMap(\.username)) {
                    #expect(!everything.contains(form), "\(fixture.pcap): a form of a secret reached rsyslog")
                }
            }
        }
    }

    // MARK: hostile usernames

    @Test("control characters, bad UTF-8, quotes, backslashes and brackets are escaped on every transport")
    func injectionIsEscaped() throws {
        let bin = try #require(plainsightBinary())
        let collector = try RsyslogCollector()
        try collector.start()
        defer { collector.stop() }
        // `alice` becomes `]"\`, U+0001 and the byte 0xFF: same length, so the capture stays valid.
        let capture = try SyntheticCapture(fixture: "pop3-user-pass.pcap")
        let hostile: [UInt8] = [0x5D, 0x22, 0x5C, 0x01, 0xFF]
        let file = try TemporaryFile("hostile.pcap")
        try (Data(capture.header) + capture.copies(0..<1, clientPort: 40610,
                                                     replacing: (Array("USER alice".utf8), Array("USER ".utf8) + hostile)))
            .write(to: file.url)
        let out = try TemporaryFile("alerts.jsonl")
        let r = try runPlainsight(bin, ["-r", file.path, "--quiet", "--user-policy", "full", "--json", "-o", out.path,
                                        "--syslog-facility", "local5"] + syslogTargets(collector))
        #expect(r.status == 0, "\(r.stderr)")
        let jsonText = String(decoding: try out.contents(), as: UTF8.self)
        #expect(jsonText.contains(#""username":"]\"\\\u0001\\xff""#))
        // The alert on each transport: msgid cleartext_auth, or on the local socket the human line
        // (other events and stats travel as JSON).
        func alertRecords() -> [RsyslogCollector.Record] {
            collector.records().filter {
                $0.procID == String(r.pid) && ($0.msgID == "cleartext_auth"
                    || ($0.msgID == "-" && !$0.msg.trimmingCharacters(in: .whitespaces).hasPrefix("{")))
            }
        }
        // The stats event comes last on each transport: once all four are written, so is every
        // alert sent before them, a duplicate included.
        try collector.waitForEndOfStream(procID: String(r.pid), transports: 4, seconds: 10)
        let mine = alertRecords()
        #expect(mine.count == 4)
        for record in mine {
            #expect(record.facility == 21)
            // The human line, escaped as in the text output: no raw control byte reached rsyslog
            // (which would have shown it as #001) and no raw 0xFF.
            #expect(record.msg.contains(#"user=]\"\\\u0001\\xff "#), "\(record.input): \(record.msg)")
            if record.msgID == "cleartext_auth" {
                // RFC 5424 section 6.3.3: `"`, `\` and `]` get a backslash inside a PARAM-VALUE.
                #expect(record.structuredData.contains(#"auth.username="\]\"\\\u0001\\xff""#), "\(record.structuredData)")
                #expect(record.parameters[Self.sdID]?["auth.username"] == #"]"\\u0001\xff"#)
            }
        }
        let raw = collector.allOutput()
        #expect(!raw.contains(0xFF) && !raw.contains(0x01))
        #expect(!String(decoding: raw, as: UTF8.self).contains("#001"))
        #expect(!String(decoding: raw, as: UTF8.self).contains("Fx-pop3user-S3cret"))

        // An absolute path after --syslog is the target; the filter expression still follows.
        let filtered = try runPlainsight(bin, ["-r", "fixtures/imap-login-atoms.pcap", "--quiet", "--json",
                                               "--syslog", collector.devLogPath, "host", "192.0.2.10"])
        #expect(filtered.status == 0, "\(filtered.stderr)")
        #expect(filtered.stdout.components(separatedBy: "\"cleartext_auth\"").count == 2)
    }

    // MARK: the collector goes away mid-run

    @Test("rsyslogd stopped and restarted mid-run: held alerts and later ones arrive; delivered + dropped == produced")
    func outageIsBridged() throws {
        let collector = try RsyslogCollector()
        try collector.start()
        defer { collector.stop() }
        try bridgeOutage(collector, target: "tcp://127.0.0.1:\(collector.tcpPort)")
    }

    // MARK: targets that cannot be used

    @Test("a bad or unreachable target is one clear message and exit 2; --syslog-optional runs and counts the loss")
    func badTargets() throws {
        let bin = try #require(plainsightBinary())
        let sample = ["-r", "fixtures/imap-login-atoms.pcap", "--quiet", "--json"]
        let badPort = try runPlainsight(bin, sample + ["--syslog", "udp://nohost:99999"])
        #expect(badPort.status == 2)
        #expect(badPort.stderr.split(separator: "\n").first?.contains("port '99999' is not a number from 1 to 65535") == true)

        // (A name that does not resolve is not tried here: the lookup would leave the machine.)

        let closedPort = try freeLoopbackPort(type: SOCK_STREAM)       // nobody listens there
        let refused = try runPlainsight(bin, sample + ["--syslog", "tcp://127.0.0.1:\(closedPort)"])
        #expect(refused.status == 2)
        #expect(refused.stdout.isEmpty)
        #expect(refused.stderr.split(separator: "\n").count == 1)
        #expect(refused.stderr.contains("syslog tcp://127.0.0.1:\(closedPort): cannot connect: Connection refused"))

        let optional = try runPlainsight(bin, sample + ["--syslog", "tcp://127.0.0.1:\(closedPort)", "--syslog-optional"])
        #expect(optional.status == 0, "\(optional.stderr)")
        #expect(optional.stderr.contains("retrying"))
        let stats = try #require(optional.stdout.split(separator: "\n").last.flatMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        })
        let sink = ((stats["stats"] as? [String: Any])?["outputs"] as? [String: Any])?["syslog"] as? [String: Any]
        let counters = sink?["tcp://127.0.0.1:\(closedPort)"] as? [String: Any]
        #expect(counters?["delivered"] as? Int == 0 && counters?["dropped"] as? Int == 1)
        #expect((counters?["connection_failures"] as? Int ?? 0) >= 2, "retried in the background")

        for args in [["--syslog-facility", "local9", "--syslog", "udp://127.0.0.1:514"], ["--syslog-optional"],
                     ["--syslog", "unix://relative/path"], ["--syslog", "udp://127.0.0.1:514", "--syslog", "udp://127.0.0.1:514"],
                     ["--syslog", "udp://127.0.0.1:514", "--syslog-backlog", "0"]] {
            let r = try runPlainsight(bin, sample + args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
        }
    }

    // MARK: helpers

    private func syslogTargets(_ collector: RsyslogCollector) -> [String] {
        ["--syslog", collector.devLogPath, "--syslog", "unix://" + collector.unixPath,
         "--syslog", "udp://127.0.0.1:\(collector.udpPort)", "--syslog", "tcp://127.0.0.1:\(collector.tcpPort)"]
    }
}

/// Sends alerts to `target` on a running `collector`, stops the collector (by PID) mid-run and
/// starts it again: every alert found before the outage, the first `--syslog-backlog` during it
/// and every one after must arrive once, and delivered + dropped must equal what was produced.
/// `extraArgs`: more options for plainsight (the TLS ones); `duringOutage` runs while the
/// collector is down.
func bridgeOutage(_ collector: RsyslogCollector, target: String, extraArgs: [String] = [],
                  duringOutage: () throws -> Void = {}) throws {
    let sdID = SyslogDeliveryTests.sdID
    let bin = try #require(plainsightBinary())
    let capture = try SyntheticCapture(fixture: "pop3-user-pass.pcap")
    let (before, during, after, backlog) = (300, 400, 300, 150)
    let out = try TemporaryFile("alerts.jsonl")
    let err = try TemporaryFile("stderr")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: bin)
    p.arguments = ["-r", "-", "--quiet", "--json", "-o", out.path, "--syslog", target, "--syslog-backlog", String(backlog)] + extraArgs
    let input = Pipe()
    p.standardInput = input
    p.standardOutput = FileHandle.nullDevice
    let errHandle = try FileHandle(forWritingTo: err.url)
    defer { try? errHandle.close() }
    p.standardError = errHandle
    try launchSerially(p)
    defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
    let pid = String(p.processIdentifier)
    func delivered() -> [Int] {
        collector.records().filter { $0.procID == pid && $0.msgID == "cleartext_auth" }
            .compactMap { $0.parameters[sdID]?["flow_id"].flatMap { Int($0) } }
    }
    func produced() throws -> Int { try alertObjects(in: out.contents()).count }

    // Phase 1: the collector takes everything.
    input.fileHandleForWriting.write(Data(capture.header) + capture.copies(0..<before, clientPort: 40610))
    try waitUntil(seconds: 30, "the first \(before) alerts at rsyslog") { delivered().count >= before }

    // Phase 2: the collector is stopped (by PID); plainsight holds `backlog` alerts, drops the rest.
    collector.stop()
    try duringOutage()
    input.fileHandleForWriting.write(capture.copies(before..<(before + during), clientPort: 40610))
    try waitUntil(seconds: 30, "plainsight to find \(before + during) alerts") { try produced() >= before + during }

    // Phase 3: the collector is back on the same port; the held alerts arrive after reconnection,
    // then the capture goes on.
    try collector.start()
    try waitUntil(seconds: 30, "the held alerts at the restarted rsyslog") { delivered().count >= before + backlog }
    input.fileHandleForWriting.write(capture.copies((before + during)..<(before + during + after), clientPort: 40610))
    try input.fileHandleForWriting.close()
    let deadline = Date().addingTimeInterval(60)
    while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    try #require(!p.isRunning, "plainsight did not finish")
    let stderr = String(decoding: try err.contents(), as: UTF8.self)
    #expect(p.terminationStatus == 1, "alerts were lost, so the run fails: \(stderr)")

    let total = before + during + after
    let lines = try out.contents().split(separator: UInt8(ascii: "\n"))
    let alerts = try alertObjects(in: try out.contents())
    #expect(alerts.count == total)
    let stats = try #require(lines.last.flatMap { try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] })
    let outputs = try #require((stats["stats"] as? [String: Any])?["outputs"] as? [String: Any])
    let queue = try #require(outputs["queue"] as? [String: Any])
    let sink = try #require((outputs["syslog"] as? [String: Any])?[target] as? [String: Any])
    let sent = try #require(sink["delivered"] as? Int), dropped = try #require(sink["dropped"] as? Int)
    let queueDropped = try #require(queue["dropped"] as? Int)
    print("outage test: produced \(alerts.count), delivered \(sent), dropped \(dropped), queue dropped \(queueDropped), held \(sink["held"] ?? "?")")
    #expect(sent + dropped + queueDropped == alerts.count)
    #expect(sink["held"] as? Int == 0)
    // The stats event follows every alert and every resend: once it is written, nothing more
    // of this run can arrive.
    try collector.waitForEndOfStream(procID: pid, seconds: 10)
    let received = delivered()
    // What plainsight counts as delivered is exactly what rsyslog wrote: no duplicates, none
    // lost in a connection the collector had already closed.
    #expect(received.count == sent)
    #expect(Set(received).count == received.count)
    // Every alert before the outage, the first `backlog` found during it, and every one after.
    let expected = Set(1...before).union((before + 1)...(before + backlog)).union((before + during + 1)...total)
    #expect(Set(received) == expected)
    #expect(dropped == during - backlog)
    #expect(stderr.contains("connection lost") && stderr.contains("connected again"))
    #expect(stderr.contains("\(during - backlog) of \(total) alerts dropped"))
}

/// The structured-data parameters an alert must carry: every JSON field, however the schema
/// grows; members of nested objects as `auth.NAME`, arrays (`vlan`) comma-separated, all as the
/// JSON wrote them (booleans `true`/`false`).
func expectedParameters(_ line: Data) throws -> [String: String] {
    func flatten(_ value: JSONValue, _ name: String, into result: inout [String: String]) {
        switch value {
        case .object(let members): for (key, member) in members { flatten(member, name.isEmpty ? key : name + "." + key, into: &result) }
        case .array(let items): result[name] = items.map(\.text).joined(separator: ",")
        default: result[name] = value.text
        }
    }
    var result: [String: String] = [:]
    flatten(try JSONDecoder().decode(JSONValue.self, from: line), "", into: &result)
    return result
}

/// Any JSON value, keeping booleans apart from numbers.
indirect enum JSONValue: Decodable {
    case string(String), bool(Bool), integer(Int64), number(Double), null
    case array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        if var list = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !list.isAtEnd { items.append(try list.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        if let keyed = try? decoder.container(keyedBy: AnyKey.self) {
            var members: [String: JSONValue] = [:]
            for key in keyed.allKeys { members[key.stringValue] = try keyed.decode(JSONValue.self, forKey: key) }
            self = .object(members)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() { self = .null }
        else if let value = try? single.decode(Bool.self) { self = .bool(value) }
        else if let value = try? single.decode(Int64.self) { self = .integer(value) }
        else if let value = try? single.decode(Double.self) { self = .number(value) }
        else { self = .string(try single.decode(String.self)) }
    }

    var text: String {
        switch self {
        case .string(let value): return value
        case .bool(let value): return value ? "true" : "false"
        case .integer(let value): return String(value)
        case .number(let value): return String(value)
        case .null: return "null"
        case .array, .object: return ""
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// Severity by finding: cleartext success 2 (crit), cleartext unknown 3, cleartext failure and
/// hashed success 4, other hashed 5.
func expectedSeverity(_ alert: [String: Any]) -> Int {
    let auth = alert["auth"] as? [String: Any] ?? [:]
    switch (auth["exposure"] as? String, auth["outcome"] as? String) {
    case ("cleartext", "success"): return 2
    case ("cleartext", "unknown"): return 3
    case ("cleartext", _), ("hashed", "success"): return 4
    default: return 5
    }
}

/// The `cleartext_auth` objects of a JSON-lines output.
func alertObjects(in data: Data) throws -> [[String: Any]] {
    try alertLines(in: data).compactMap { try JSONSerialization.jsonObject(with: $0) as? [String: Any] }
}

/// Lines of other event types than `cleartext_auth` and `stats`, and than `start` (the -o file's
/// own marker of a run's start, never sent to syslog).
func otherEventLines(in data: Data) throws -> [Data] {
    try data.split(separator: UInt8(ascii: "\n")).map { Data($0) }.filter { line in
        let type = (try JSONSerialization.jsonObject(with: line) as? [String: Any])?["event_type"] as? String
        return type != "cleartext_auth" && type != "stats" && type != "start"
    }
}

/// The `cleartext_auth` lines of a JSON-lines output.
func alertLines(in data: Data) throws -> [Data] {
    try data.split(separator: UInt8(ascii: "\n")).map { Data($0) }.filter { line in
        (try JSONSerialization.jsonObject(with: line) as? [String: Any])?["event_type"] as? String == "cleartext_auth"
    }
}

struct PlainsightRun {
    var status: Int32
    var pid: Int32
    var stdout: String
    var stderr: String
}

/// Runs the binary to completion (at most 120 s), its output through files.
func runPlainsight(_ bin: String, _ args: [String]) throws -> PlainsightRun {
    let out = try TemporaryFile("stdout"), err = try TemporaryFile("stderr")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: bin)
    p.arguments = args
    p.currentDirectoryURL = packageRoot
    p.standardInput = FileHandle.nullDevice
    // Closed here, as in `runProgram` (the `Process` keeps them).
    let outHandle = try FileHandle(forWritingTo: out.url), errHandle = try FileHandle(forWritingTo: err.url)
    defer { try? outHandle.close(); try? errHandle.close() }
    p.standardOutput = outHandle
    p.standardError = errHandle
    try launchSerially(p)
    let deadline = Date().addingTimeInterval(120)
    while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    if p.isRunning {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        Issue.record("\(bin) \(args) timed out")
    }
    return PlainsightRun(status: p.terminationStatus, pid: p.processIdentifier,
                         stdout: String(decoding: try out.contents(), as: UTF8.self),
                         stderr: String(decoding: try err.contents(), as: UTF8.self))
}

/// Polls `condition` every 50 ms for at most `seconds`; throws naming what was awaited.
func waitUntil(seconds: Double, _ what: String, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        Thread.sleep(forTimeInterval: 0.05)
    }
    if try condition() { return }
    throw CollectorError("timed out after \(seconds) s waiting for \(what)")
}

/// An empty file in the temporary directory, removed when this goes away.
final class TemporaryFile {
    let url: URL
    var path: String { url.path }
    init(_ name: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-\(UUID().uuidString.prefix(8))-\(name)")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw CollectorError("cannot create \(url.path)") }
    }
    func contents() throws -> Data { try Data(contentsOf: url) }
    deinit { try? FileManager.default.removeItem(at: url) }
}

func localHostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
