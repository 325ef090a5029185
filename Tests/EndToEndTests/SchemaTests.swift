import Foundation
import Testing

/// docs/schema against what plainsight writes: the golden files, every fixture replayed (one
/// engine, and --jobs), the inventory report, and the validator's own ability to say no.
/// (Every other run of the binary through `runProgram` is kept in .build/schema-lines and checked
/// by scripts/test after the suite.)
@Suite("JSON schema")
struct SchemaTests {
    /// scripts/validate-json, with the system's python3 and its python3-jsonschema.
    func validate(_ files: [String], report: Bool = false) throws -> RunResult {
        try runProgram("/usr/bin/env", ["python3", packageRoot.appendingPathComponent("scripts/validate-json").path]
                       + (report ? ["--report"] : []) + files)
    }

    func requireValidator() throws {
        let probe = try runProgram("/usr/bin/env", ["python3", "-c", "import jsonschema"])
        try #require(probe.status == 0, "python3-jsonschema is missing: run scripts/bootstrap")
    }

    @Test func everyGoldenLineIsValid() throws {
        try requireValidator()
        let goldens = try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("fixtures").path)
            .filter { $0.hasSuffix(".expected.jsonl") }.sorted().map { "fixtures/" + $0 }
        #expect(goldens.count >= 100)
        let lines = try goldens.reduce(0) { n, path in
            n + (try String(contentsOf: packageRoot.appendingPathComponent(path), encoding: .utf8)).split(separator: "\n").count
        }
        let r = try validate(goldens)
        #expect(r.status == 0, "\(r.stdoutText)\(r.stderrText)")
        // Every line was read, each of the three event types among them.
        #expect(r.stdoutText.contains("validate-json: \(lines) checked ("), "\(r.stdoutText)")
        for type in ["cleartext_auth", "server_exposure", "stats"] { #expect(r.stdoutText.contains(" \(type)")) }
    }

    /// Every fixture through one engine and through --jobs (summed stats), with the names listed
    /// (--user-policy full) and the sensor name left to its default; the inventory report too.
    @Test func everyFixtureReplayedIsValid() throws {
        try requireValidator()
        let bin = try #require(plainsightBinary(), "build plainsight first (scripts/test does)")
        let fixtures = loadManifest()
        try #require(fixtures.count >= 100)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs = fixtures.flatMap { ["-r", "fixtures/\($0.pcap)"] }
        var outputs: [String] = []
        for (name, extra) in [("one-engine", ["--any-port", "--user-policy", "full"]),
                              ("jobs", ["--jobs", "3", "--any-port", "--user-policy", "full"]),
                              ("mask", ["--user-policy", "mask"])] {
            let out = dir.appendingPathComponent("\(name).jsonl").path, report = dir.appendingPathComponent("\(name).json").path
            let r = try runProgram(bin, inputs + ["--json", "--quiet", "-o", out, "--report", report] + extra)
            #expect(r.status == 0, "\(name): \(r.stderrText)")
            outputs.append(out)
            let reportCheck = try validate([report], report: true)
            #expect(reportCheck.status == 0, "\(name) report: \(reportCheck.stdoutText)\(reportCheck.stderrText)")
        }
        let r = try validate(outputs)
        #expect(r.status == 0, "\(r.stdoutText)\(r.stderrText)")
        for type in [" cleartext_auth", " server_exposure", " stats"] { #expect(r.stdoutText.contains(type), "\(r.stdoutText)") }
    }

    /// The schema rejects what it must (the secret, a port, an address, a negative counter, a
    /// missing field) and lets through what the contract allows to be added (new fields, new
    /// event types).
    @Test func validatorRejectsBrokenEventsAndAcceptsAdditions() throws {
        try requireValidator()
        let golden = try String(contentsOf: packageRoot.appendingPathComponent("fixtures/demo.expected.jsonl"), encoding: .utf8)
        let alert = try #require(golden.split(separator: "\n").first { $0.contains(#""event_type":"cleartext_auth""#) }.map(String.init))
        let stats = try #require(golden.split(separator: "\n").first { $0.contains(#""event_type":"stats""#) }.map(String.init))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func check(_ line: String) throws -> Int32 {
            let file = dir.appendingPathComponent("\(UUID().uuidString).jsonl")
            try Data((line + "\n").utf8).write(to: file)
            return try validate([file.path]).status
        }
        #expect(try check(alert) == 0)
        #expect(try check(stats) == 0)
        let broken = [
            alert.replacingOccurrences(of: #""secret":"redacted""#, with: #""secret":"hunter2""#),
            alert.replacingOccurrences(of: #""dest_port":110"#, with: #""dest_port":70000"#),
            alert.replacingOccurrences(of: #""src_ip":"192.0.2.1""#, with: #""src_ip":"192.0.2.999""#),
            alert.replacingOccurrences(of: #""outcome":"success","#, with: ""),
            alert.replacingOccurrences(of: #""after_gap":false"#, with: #""after_gap":"no""#),
            stats.replacingOccurrences(of: #""alerts":4,"#, with: #""alerts":-4,"#),
            #"{"event_type":"stats","stats":{"packets":1,"alerts":0}}"#,
        ]
        for line in broken {
            #expect(line != alert && line != stats)
            #expect(try check(line) == 1, "accepted: \(line)")
        }
        let additions = [
            alert.replacingOccurrences(of: #","host":"#, with: #","community_id":"1:LQU9qZlK+B5F3KDmev6m5PMibrg=","pcap_filename":"a.pcap","pcap_cnt":7,"host":"#),
            #"{"timestamp":"2026-11-25T13:26:58.000000Z","event_type":"start","host":"s"}"#,
            stats.replacingOccurrences(of: #""reassembly":{"#, with: #""reassembly":{"events":{"x":1},"#),
        ]
        for line in additions { #expect(try check(line) == 0, "refused: \(line)") }
    }
}
