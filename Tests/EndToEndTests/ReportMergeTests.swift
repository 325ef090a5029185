import Foundation
import Testing

// `plainsight report` (issue 20): the inventory of many sensors, built from what they recorded.
// Each recorded fixture is read by a sensor of its own; merging their reports, their JSON lines
// (server_exposure totals) or their session events must give the report of one run over all of
// them, apart from the sensors; the same sessions from two sensors must count once.

/// A report document with its servers' `sensors` taken out (and returned, by server).
private func withoutSensors(_ data: Data) throws -> (document: NSDictionary, sensors: [String: [[String: Any]]]) {
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    var document = object
    var sensors: [String: [[String: Any]]] = [:]
    var servers: [[String: Any]] = []
    for var server in object["servers"] as? [[String: Any]] ?? [] {
        sensors[serverName(server)] = server.removeValue(forKey: "sensors") as? [[String: Any]]
        servers.append(server)
    }
    document["servers"] = servers
    return (document as NSDictionary, sensors)
}

/// The server lines that differ between two documents, for a readable failure.
private func difference(_ a: NSDictionary, _ b: NSDictionary) -> String {
    let x = (a["servers"] as? [[String: Any]] ?? []).map { ($0 as NSDictionary).description }
    let y = (b["servers"] as? [[String: Any]] ?? []).map { ($0 as NSDictionary).description }
    let onlyA = x.filter { !y.contains($0) }.prefix(2), onlyB = y.filter { !x.contains($0) }.prefix(2)
    return "summary \(a["summary"] ?? "-") vs \(b["summary"] ?? "-")\nonly in one run: \(onlyA)\nonly in the merge: \(onlyB)"
}

@Suite("plainsight report: merging sensors")
struct ReportMergeTests {
    enum Policy: String, CaseIterable { case full, hash, mask }

    private static func policyArgs(_ policy: Policy, dir: URL) throws -> [String] {
        guard policy == .hash else { return ["--user-policy", policy.rawValue] }
        let key = dir.appendingPathComponent("hash.key")
        try Data((0..<32).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }).write(to: key)
        return ["--user-policy", "hash", "--user-hash-key-file", key.path]
    }

    @Test("per-fixture reports, JSON lines and session events merge to one run's report (sensors apart)",
          arguments: Policy.allCases)
    func mergeEqualsOneRun(policy: Policy) throws {
        let bin = try #require(plainsightBinary())
        let dir = try scratchDirectory("merge-\(policy)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let pol = try Self.policyArgs(policy, dir: dir)
        var reports: [String] = [], lines: [String] = [], sessions: [String] = []
        for (i, name) in recordedFixtures.enumerated() {
            let base = dir.appendingPathComponent(name).path
            let a = try runProgram(bin, ["-r", "fixtures/\(name).pcap", "--any-port", "--quiet", "--sensor", "s\(i)",
                                         "--report", base + ".json", "--json", "-o", base + ".jsonl"] + pol)
            #expect(a.status == 0, "\(name): \(a.stderrText)")
            let b = try runProgram(bin, ["-r", "fixtures/\(name).pcap", "--any-port", "--quiet", "--sensor", "s\(i)",
                                         "--json", "-o", base + ".sessions.jsonl", "--session-events"] + pol)
            #expect(b.status == 0, "\(name): \(b.stderrText)")
            reports.append(base + ".json"); lines.append(base + ".jsonl"); sessions.append(base + ".sessions.jsonl")
        }
        let one = dir.appendingPathComponent("one.json").path
        let r = try runProgram(bin, readArgs(recordedFixtures) + ["--any-port", "--quiet", "--sensor", "all", "--report", one] + pol)
        #expect(r.status == 0, "\(r.stderrText)")
        let (expected, ownSensors) = try withoutSensors(try Data(contentsOf: URL(fileURLWithPath: one)))
        #expect((expected["servers"] as? [Any])?.count == expectedServers.count)
        // A run's report names its own sensor, with the server's own counts.
        for (_, list) in ownSensors { #expect(list.map { $0["name"] as? String } == ["all"]) }

        for (kind, inputs) in [("reports", reports), ("JSON lines", lines), ("session events", sessions)] {
            let out = dir.appendingPathComponent("merged-\(kind.replacingOccurrences(of: " ", with: "-")).json").path
            let m = try runProgram(bin, ["report"] + inputs + ["--report", out])
            #expect(m.status == 0, "\(kind): \(m.stderrText)")
            #expect(m.stderrText.hasPrefix("plainsight report: \(expectedServers.count) servers from \(inputs.count) files"),
                    "\(kind): \(m.stderrText)")
            let (merged, sensors) = try withoutSensors(try Data(contentsOf: URL(fileURLWithPath: out)))
            if policy == .mask && kind != "session events" {
                // Totals under mask carry a count, not names: a server several fixtures logged in
                // to gets the largest count, flagged as a floor. Everything else is the same.
                let a = expected["summary"] as? NSDictionary, b = merged["summary"] as? NSDictionary
                #expect(a == b, "\(kind)")
                for case let server as [String: Any] in merged["servers"] as? [Any] ?? [] where server["distinct_users_capped"] as? Bool == true {
                    #expect((server["distinct_users"] as? Int ?? 0) >= 1)
                }
                continue
            }
            if policy == .mask {
                // Session events list masked names: equal masks are one user, so the count is a floor.
                #expect(merged["summary"] as? NSDictionary == expected["summary"] as? NSDictionary, "\(kind)")
                continue
            }
            #expect(merged == expected, "\(kind): \(difference(expected, merged))")
            // Every server names the fixtures' sensors that saw it, and their sessions add up.
            for case let server as [String: Any] in merged["servers"] as? [Any] ?? [] {
                let list = try #require(sensors[serverName(server)], "\(serverName(server)) has no sensors")
                #expect(!list.isEmpty)
                let sum = list.compactMap { $0["sessions"] as? Int }.reduce(0, +)
                #expect(sum == server["sessions"] as? Int, "\(kind) \(serverName(server))")
                #expect(list.allSatisfy { ($0["name"] as? String)?.hasPrefix("s") == true })
            }
        }
    }

    @Test("the same sessions from two sensors count once, both named; their totals would count twice")
    func overlappingSensors() throws {
        let bin = try #require(plainsightBinary())
        let dir = try scratchDirectory("merge-overlap")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = ["demo", "imap-starttls", "smtp-starttls-refused", "imaps"]
        let one = dir.appendingPathComponent("one.json").path
        #expect(try runProgram(bin, readArgs(files) + ["--quiet", "--report", one, "--user-policy", "full"]).status == 0)
        // Sensor a sees everything, b a subset: the same captured packets, as two taps on one path.
        let a = dir.appendingPathComponent("a.jsonl").path, b = dir.appendingPathComponent("b.jsonl").path
        #expect(try runProgram(bin, readArgs(files) + ["--quiet", "--sensor", "a", "--json", "-o", a, "--session-events", "--user-policy", "full"]).status == 0)
        #expect(try runProgram(bin, readArgs(["demo", "imaps"]) + ["--quiet", "--sensor", "b", "--json", "-o", b, "--session-events", "--user-policy", "full"]).status == 0)
        let merged = dir.appendingPathComponent("merged.json").path
        let m = try runProgram(bin, ["report", a, b, "--report", merged])
        #expect(m.status == 0, "\(m.stderrText)")
        let bSessions = try String(contentsOfFile: b, encoding: .utf8).components(separatedBy: "\"event_type\":\"mail_session\"").count - 1
        #expect(bSessions > 3)
        #expect(m.stderrText.contains("(\(bSessions) seen by another sensor too, counted once)"), "\(m.stderrText)")
        let (expected, _) = try withoutSensors(try Data(contentsOf: URL(fileURLWithPath: one)))
        let (got, sensors) = try withoutSensors(try Data(contentsOf: URL(fileURLWithPath: merged)))
        #expect(got == expected, "\(difference(expected, got))")
        // demo's servers were seen by both, each sensor with its own full count.
        let demoServer = try #require(sensors["192.0.2.10:110 pop3"])
        #expect(demoServer.map { $0["name"] as? String } == ["a", "b"])
        #expect(demoServer[0]["sessions"] as? Int == demoServer[1]["sessions"] as? Int)
        #expect(sensors["192.0.2.11:25 smtp"]?.map { $0["name"] as? String } == ["a"])

        // Without session events only totals reach the merge, and totals are summed.
        let ta = dir.appendingPathComponent("ta.jsonl").path, tb = dir.appendingPathComponent("tb.jsonl").path
        #expect(try runProgram(bin, readArgs(["demo"]) + ["--quiet", "--sensor", "a", "--json", "-o", ta]).status == 0)
        #expect(try runProgram(bin, readArgs(["demo"]) + ["--quiet", "--sensor", "b", "--json", "-o", tb]).status == 0)
        let summed = dir.appendingPathComponent("summed.json").path
        #expect(try runProgram(bin, ["report", ta, tb, "--report", summed, "--quiet"]).status == 0)
        let single = dir.appendingPathComponent("single.json").path
        #expect(try runProgram(bin, ["-r", "fixtures/demo.pcap", "--quiet", "--report", single]).status == 0)
        let s1 = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: single))) as? [String: Any])
        let s2 = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: summed))) as? [String: Any])
        let c1 = (s1["summary"] as? [String: Any])?["cleartext_logins"] as? Int
        let c2 = (s2["summary"] as? [String: Any])?["cleartext_logins"] as? Int
        #expect(c1 != nil && c2 == c1.map { $0 * 2 })

        // Two replays by one sensor to standard output (no start event): two runs, summed too;
        // neither snapshot taken for a later one of the same run.
        let o1 = dir.appendingPathComponent("o1.jsonl").path, o2 = dir.appendingPathComponent("o2.jsonl").path
        for out in [o1, o2] {
            let r = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--quiet", "--sensor", "s", "--json"])
            #expect(r.status == 0)
            try r.stdout.write(to: URL(fileURLWithPath: out))
        }
        let twice = dir.appendingPathComponent("twice.json").path
        #expect(try runProgram(bin, ["report", o1, o2, "--report", twice, "--quiet"]).status == 0)
        let s3 = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: twice))) as? [String: Any])
        #expect((s3["summary"] as? [String: Any])?["cleartext_logins"] as? Int == c1.map { $0 * 2 })
    }

    @Test("collector lines, compressed files and standard input; bad lines counted, one line each")
    func inputsAndBadInput() throws {
        let bin = try #require(plainsightBinary())
        let dir = try scratchDirectory("merge-inputs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let events = dir.appendingPathComponent("demo.jsonl").path
        #expect(try runProgram(bin, ["-r", "fixtures/demo.pcap", "--quiet", "--sensor", "a", "--json", "-o", events, "--session-events",
                                     "--user-policy", "full"]).status == 0)
        let one = dir.appendingPathComponent("one.json").path
        #expect(try runProgram(bin, ["-r", "fixtures/demo.pcap", "--quiet", "--report", one, "--user-policy", "full"]).status == 0)
        let (expected, _) = try withoutSensors(try Data(contentsOf: URL(fileURLWithPath: one)))
        let text = try String(contentsOfFile: events, encoding: .utf8)
        let jsonLines = text.split(separator: "\n").filter { $0.hasPrefix("{\"timestamp\"") }
        // The same events as a collector writes them: RFC 5424 lines, BSD lines, a JSON template
        // with the event in "msg"; plus lines that are not plainsight's and broken ones.
        var collector = ""
        for (i, line) in jsonLines.enumerated() {
            switch i % 3 {
            case 0: collector += "<189>1 2026-12-07T10:00:00.000000Z a plainsight 42 event [plainsight@32473 x=\"1\"] \(line)\n"
            case 1: collector += "Dec  7 10:00:00 a plainsight[42]: \(line)\n"
            default:
                let wrapped = try JSONSerialization.data(withJSONObject: ["severity": "notice", "msg": String(line)])
                collector += String(decoding: wrapped, as: UTF8.self) + "\n"
            }
        }
        collector += "Dec  7 10:00:01 a sshd[7]: Accepted publickey for root\n"
        collector += "{\"timestamp\":\"2026-12-07T10:00:00.000000Z\",\"event_type\":\"alert\",\"src_ip\":\"192.0.2.9\"}\n"
        collector += "{\"timestamp\":\"2026-12-07T10:00:00.000000Z\",\"event_type\":\"mail_session\",\"src_ip\":\"x\"}\n"
        collector += "{\"timestamp\":\"2026-12-07T10:00:00.000000Z\",\"event_type\":\"server_exp"
        let collectorFile = dir.appendingPathComponent("collector.log")
        try collector.write(to: collectorFile, atomically: true, encoding: .utf8)
        let merged = dir.appendingPathComponent("merged.json").path
        let m = try runProgram(bin, ["report", collectorFile.path, "--report", merged])
        #expect(m.status == 0, "bad lines are not fatal: \(m.stderrText)")
        let problems = m.stderrText.split(separator: "\n").filter { $0.hasPrefix("plainsight: ") }
        #expect(problems.count == 3, "\(m.stderrText)")
        #expect(m.stderrText.contains("collector.log: 1 malformed line skipped (first: line \(jsonLines.count + 3), mail_session without its flow)"))
        #expect(m.stderrText.contains("collector.log: 2 lines not from plainsight skipped (first: line \(jsonLines.count + 1))"))
        #expect(m.stderrText.contains("collector.log: the last line is cut short"))
        #expect(try withoutSensors(try Data(contentsOf: URL(fileURLWithPath: merged))).document == expected)

        // Compressed (recognised by content) and standard input give the same.
        for (tool, suffix) in [("gzip", "gz"), ("zstd", "zst"), ("xz", "xz")] {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/\(tool)") else { continue }
            let packed = dir.appendingPathComponent("events.\(suffix)").path
            #expect(try runProgram("/bin/sh", ["-c", "\(tool) -c < '\(events)' > '\(packed)'"]).status == 0)
            let out = dir.appendingPathComponent("from-\(suffix).json").path
            let r = try runProgram(bin, ["report", packed, "--report", out, "--quiet"])
            #expect(r.status == 0 && r.stderrText.isEmpty, "\(tool): \(r.stderrText)")
            #expect(try withoutSensors(try Data(contentsOf: URL(fileURLWithPath: out))).document == expected, "\(tool)")
            // Through a pipe too: standard input is recognised by its first bytes, read once.
            let piped = dir.appendingPathComponent("piped-\(suffix).json").path
            let p = try runProgram("/bin/sh", ["-c", "cat '\(packed)' | '\(bin)' report - --report '\(piped)' --quiet"])
            #expect(p.status == 0 && p.stderrText.isEmpty, "\(tool) on standard input: \(p.stderrText)")
            #expect(try withoutSensors(try Data(contentsOf: URL(fileURLWithPath: piped))).document == expected, "\(tool) piped")
        }
        // Standard input cut inside the compressed stream: an error naming it, exit 1.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/gzip") {
            let cut = try runProgram("/bin/sh", ["-c", "gzip -c < '\(events)' | head -c 40 | '\(bin)' report - --report '\(dir.path)/cut.json' --quiet"])
            #expect(cut.status == 1 && cut.stderrText.contains("gzip data ends early"), "\(cut.stderrText)")
        }
        let fromStdin = dir.appendingPathComponent("stdin.json").path
        let s = try runProgram("/bin/sh", ["-c", "'\(bin)' report - --report '\(fromStdin)' --quiet < '\(events)'"])
        #expect(s.status == 0, "\(s.stderrText)")
        #expect(try withoutSensors(try Data(contentsOf: URL(fileURLWithPath: fromStdin))).document == expected)

        // A report's untracked_events (servers past its run's cap) stay counted, summed.
        let report = try String(contentsOfFile: one, encoding: .utf8)
        #expect(report.contains(#""untracked_events":0,"#))
        for (i, n) in [7, 5].enumerated() {
            try report.replacingOccurrences(of: #""untracked_events":0,"#, with: "\"untracked_events\":\(n),")
                .write(toFile: dir.appendingPathComponent("capped\(i).json").path, atomically: true, encoding: .utf8)
        }
        let capped = dir.appendingPathComponent("capped.json").path
        #expect(try runProgram(bin, ["report", dir.appendingPathComponent("capped0.json").path,
                                     dir.appendingPathComponent("capped1.json").path, "--report", capped, "--quiet"]).status == 0)
        #expect(try String(contentsOfFile: capped, encoding: .utf8).contains(#""untracked_events":12,"#))

        // A file that cannot be read: the others are merged, exit 1.
        let partial = dir.appendingPathComponent("partial.json").path
        let p = try runProgram(bin, ["report", events, dir.appendingPathComponent("missing.jsonl").path, "--report", partial, "--quiet"])
        #expect(p.status == 1)
        #expect(p.stderrText.contains("missing.jsonl: cannot open: No such file or directory"))
        #expect(try withoutSensors(try Data(contentsOf: URL(fileURLWithPath: partial))).document == expected)
    }

    @Test("names under different policies or hash keys are refused; usage errors exit 2")
    func refusals() throws {
        let bin = try #require(plainsightBinary())
        let dir = try scratchDirectory("merge-refusals")
        defer { try? FileManager.default.removeItem(at: dir) }
        var reports: [String] = []
        for (i, seed) in [UInt8(1), 2].enumerated() {
            let key = dir.appendingPathComponent("key\(i)")
            try Data(repeating: seed, count: 32).write(to: key)
            let out = dir.appendingPathComponent("hash\(i).json").path
            #expect(try runProgram(bin, ["-r", "fixtures/demo.pcap", "--quiet", "--report", out, "--user-policy", "hash",
                                         "--user-hash-key-file", key.path]).status == 0)
            reports.append(out)
        }
        let full = dir.appendingPathComponent("full.json").path
        #expect(try runProgram(bin, ["-r", "fixtures/demo.pcap", "--quiet", "--report", full, "--user-policy", "full"]).status == 0)
        let out = dir.appendingPathComponent("out.json").path
        let keys = try runProgram(bin, ["report", reports[0], reports[1], "--report", out])
        #expect(keys.status == 2)
        #expect(keys.stderrText.contains("hash1.json: login names under --user-policy hash (key "), "\(keys.stderrText)")
        #expect(keys.stderrText.contains("cannot be merged with those under hash (key "))
        #expect(!FileManager.default.fileExists(atPath: out), "no report from inputs that cannot be merged")
        let mixed = try runProgram(bin, ["report", full, reports[0], "--report", out])
        #expect(mixed.status == 2)
        #expect(mixed.stderrText.contains("cannot be merged with those under full from"), "\(mixed.stderrText)")

        #expect(try runProgram(bin, ["report", full]).status == 2)
        #expect(try runProgram(bin, ["report", "--report", out]).status == 2)
        let txt = try runProgram(bin, ["report", full, "--report", dir.appendingPathComponent("x.txt").path])
        #expect(txt.status == 2 && txt.stderrText.contains("must end in .json or .html"))
        let same = try runProgram(bin, ["report", full, "--report", full])
        #expect(same.status == 2, "\(same.stderrText)")
        let help = try runProgram(bin, ["report", "--help"])
        #expect(help.status == 0 && help.stdoutText.contains("mail_session events"), "\(help.stdoutText)")
    }

    @Test("the merged HTML report in headless Chromium: a Sensors column naming both sensors",
          .enabled(if: chromiumBinary() != nil, "chromium is not installed (scripts/bootstrap installs Debian's chromium)"))
    func mergedPageInChromium() throws {
        let bin = try #require(plainsightBinary())
        let chromium = try #require(chromiumBinary())
        let dir = try scratchDirectory("merge-html")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.jsonl").path, b = dir.appendingPathComponent("b.jsonl").path
        #expect(try runProgram(bin, readArgs(["demo", "pop3-stls-refused"]) + ["--quiet", "--sensor", "campus-a", "--json", "-o", a, "--session-events"]).status == 0)
        #expect(try runProgram(bin, readArgs(["demo"]) + ["--quiet", "--sensor", "campus-b", "--json", "-o", b, "--session-events"]).status == 0)
        let page = dir.appendingPathComponent("merged.html")
        let m = try runProgram(bin, ["report", a, b, "--report", page.path, "--quiet"])
        #expect(m.status == 0, "\(m.stderrText)")
        let profile = dir.appendingPathComponent("profile").path
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)"]
        let dump = try runProgram(chromium, common + ["--dump-dom", URL(fileURLWithPath: page.path).absoluteString + "#sort=sensors-desc"], timeout: 180)
        #expect(dump.status == 0, "\(dump.stderrText.suffix(2000))")
        let dom = dump.stdoutText
        #expect(dom.contains(#"<th data-col="sensors" data-type="text""#), "no Sensors column")
        let rows = tableRows(dom)
        #expect(rows.count >= 4)
        // Server, Port, Protocol, ..., Clients and users (15th), Sensors (16th).
        let pop3 = try #require(rows.first { $0.count >= 16 && $0[0] == "192.0.2.10" && $0[1] == "110" })
        #expect(pop3[15].contains("campus-a") && pop3[15].contains("campus-b") && pop3[15].contains("session"), "\(pop3[15])")
        let imap = try #require(rows.first { $0.count >= 16 && $0[0] == "192.0.2.10" && $0[1] == "143" })
        #expect(imap[15].contains("campus-a") && imap[15].contains("campus-b"))
        let starttls = rows.filter { $0.count >= 16 && !$0[15].contains("campus-b") }
        #expect(starttls.count == 1 && starttls.first?[0] == "192.0.2.11", "pop3-stls-refused's server was seen by campus-a only")
        let artefacts = packageRoot.appendingPathComponent(".build/test-artefacts")
        try FileManager.default.createDirectory(at: artefacts, withIntermediateDirectories: true)
        let shot = artefacts.appendingPathComponent("merged-report.png")
        try? FileManager.default.removeItem(at: shot)
        let snap = try runProgram(chromium, common + ["--hide-scrollbars", "--window-size=1600,2400",
                                                      "--screenshot=\(shot.path)", URL(fileURLWithPath: page.path).absoluteString], timeout: 180)
        #expect(snap.status == 0)
        #expect(try Data(contentsOf: shot).count > 20_000, "a blank page compresses to a few kB")
    }
}
