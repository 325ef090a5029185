import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 8: many sensors, one collector. Two plainsight processes with different `--sensor` names
/// send RFC 5424 over TCP to one rsyslogd at the same time, with the collector configuration the
/// README documents (one file per sensor, by HOSTNAME); every alert must arrive exactly once,
/// tagged with its own sensor.
@Suite("many sensors into one rsyslog collector", .enabled(if: RsyslogCollector.isAvailable, "needs /usr/sbin/rsyslogd (apt-get install rsyslog)"))
struct ManySensorsTests {
    /// The README's per-sensor lines (Deployment: many sensors), with the directory filled in.
    static func perSensorConfig(_ directory: String) -> String {
        """
        template(name="plainsight_per_sensor" type="string" string="\(directory)/sensors/%hostname:::secpath-replace%.log")
        if $app-name == "plainsight" then {
          action(type="omfile" dynaFile="plainsight_per_sensor" template="RSYSLOG_SyslogProtocol23Format")
        }
        """
    }

    @Test("two sensors at once: every alert arrives once, in its sensor's file, with HOSTNAME and host = the sensor")
    func twoSensors() throws {
        let bin = try #require(plainsightBinary())
        let collector = try RsyslogCollector(extraConfig: { Self.perSensorConfig($0) })
        try collector.start()
        defer { collector.stop() }
        let target = "tcp://127.0.0.1:\(collector.tcpPort)"
        // Each sensor reads different captures; some alerts of the two are alike but for the sensor.
        let sensors: [(name: String, files: [String])] = [
            ("sensor-a", ["demo.pcap", "pop3-auth-login-stress.pcap", "imap-login-literal.pcap"]),
            ("sensor-b.example", ["demo.pcap", "smtp-pipelining.pcap", "imap-login-ipv6.pcap"]),
        ]
        var running: [(name: String, process: Process, out: TemporaryFile)] = []
        for sensor in sensors {
            let out = try TemporaryFile("\(sensor.name).jsonl")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: bin)
            p.arguments = sensor.files.flatMap { ["-r", "fixtures/\($0)"] }
                + ["--quiet", "--json", "--user-policy", "full", "-o", out.path, "--sensor", sensor.name, "--syslog", target]
            p.currentDirectoryURL = packageRoot
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try launchSerially(p)
            running.append((sensor.name, p, out))
        }
        defer { for r in running where r.process.isRunning { kill(r.process.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        for r in running {
            while r.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            try #require(!r.process.isRunning, "\(r.name) did not finish in 60 s")
            #expect(r.process.terminationStatus == 0, "\(r.name)")
        }

        // What each sensor says it sent: its alerts as JSON (the -o file), each tagged.
        var expected: [String: [String]] = [:]
        for r in running {
            let alerts = try alertObjects(in: try r.out.contents())
            #expect(alerts.count >= 5)
            for alert in alerts { #expect(alert["host"] as? String == r.name) }
            expected[r.name] = alerts.map(Self.identity).sorted()
        }
        let pids = Dictionary(uniqueKeysWithValues: running.map { (String($0.process.processIdentifier), $0.name) })
        func alertRecords() -> [RsyslogCollector.Record] {
            collector.records().filter { pids[$0.procID] != nil && $0.msgID == "cleartext_auth" }
        }
        // Each sensor's stats event comes last on its connection: once both are written, so is
        // every alert they sent, a duplicate included, and the counts below are final.
        for r in running { try collector.waitForEndOfStream(procID: String(r.process.processIdentifier)) }
        var received: [String: [String]] = [:]
        for record in alertRecords() {
            let sensor = try #require(pids[record.procID])
            let sd = try #require(record.parameters["plainsight@32473"])
            #expect(record.hostname == sensor, "HOSTNAME")
            #expect(sd["host"] == sensor, "structured data host")
            received[sensor, default: []].append(Self.identity(sd))
        }
        for (sensor, alerts) in expected {
            #expect(received[sensor, default: []].sorted() == alerts, "\(sensor): every alert exactly once")
        }

        // The per-sensor files of the documented config: each holds its own sensor's messages only.
        for r in running {
            let path = collector.directory.appendingPathComponent("sensors/\(r.name).log").path
            let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
            let lines = text.split(separator: "\n")
            #expect(lines.filter { $0.contains(" cleartext_auth ") }.count == expected[r.name]?.count)
            #expect(lines.allSatisfy { $0.contains(" \(r.name) plainsight ") })
        }
    }

    /// What tells one alert from another, from either the JSON object or the SD parameters.
    static func identity(_ alert: [String: Any]) -> String {
        let auth = alert["auth"] as? [String: Any] ?? [:]
        return ["\(alert["timestamp"] ?? "")", "\(alert["flow_id"] ?? "")", "\(alert["src_ip"] ?? "")",
                "\(alert["src_port"] ?? "")", "\(alert["dest_port"] ?? "")", "\(auth["method"] ?? "")",
                "\(auth["username"] ?? "")", "\(auth["outcome"] ?? "")"].joined(separator: "|")
    }

    static func identity(_ sd: [String: String]) -> String {
        [sd["timestamp"], sd["flow_id"], sd["src_ip"], sd["src_port"], sd["dest_port"], sd["auth.method"],
         sd["auth.username"], sd["auth.outcome"]].map { $0 ?? "" }.joined(separator: "|")
    }
}
