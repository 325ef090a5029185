import Alerts
import Engine
import Foundation
import Testing

// Issue 19, items 1 and 2: an -o file keeps what earlier runs wrote and marks each start; an
// output never overwrites an input; alerts carry community_id, pcap_filename and pcap_cnt, checked
// against tshark when it is installed.

private func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-linkage-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

private func jsonLines(_ text: String) throws -> [[String: Any]] {
    try text.split(separator: "\n").map { line in
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
    }
}

private func events(_ lines: [[String: Any]], _ type: String) -> [[String: Any]] {
    lines.filter { $0["event_type"] as? String == type }
}

/// tshark's path, or nil (the tests that need it say so and pass).
private func tshark() -> String? {
    ["/usr/bin/tshark", "/usr/local/bin/tshark"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

@Suite("output files: append, start markers, inputs protected")
struct OutputFileTests {
    @Test("a restart appends: both runs' alerts and both start events are in the file")
    func restartKeepsAlerts() throws {
        let bin = try #require(plainsightBinary())
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("eve.jsonl").path
        let args = ["-r", "fixtures/demo.pcap", "--json", "--quiet", "-o", out, "--sensor", "s1",
                    "--user-policy=full"]
        for _ in 0..<2 {
            let r = try runProgram(bin, args)
            #expect(r.status == 0, "\(r.stderrText)")
        }
        let lines = try jsonLines(String(decoding: try Data(contentsOf: URL(fileURLWithPath: out)), as: UTF8.self))
        let starts = events(lines, "start")
        #expect(starts.count == 2)
        // Each run begins with its start event.
        #expect(lines.first?["event_type"] as? String == "start")
        let alerts = events(lines, "cleartext_auth")
        let single = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--json", "--quiet"])
        let perRun = events(try jsonLines(single.stdoutText), "cleartext_auth").count
        #expect(perRun > 0 && alerts.count == 2 * perRun)
        #expect(events(lines, "stats").count == 2)
        for start in starts {
            let body = try #require(start["start"] as? [String: Any])
            #expect(body["version"] as? String != nil)
            #expect(body["mode"] as? String == "replay")
            #expect(body["inputs"] as? [String] == ["fixtures/demo.pcap"])
            #expect(body["output_mode"] as? String == "append")
            // Option names only: no values (a syslog target can hold credentials).
            let options = try #require(body["options"] as? [String])
            #expect(options.contains("-o") && options.contains("--user-policy") && options.contains("--sensor"))
            #expect(!options.contains { $0.contains("full") || $0.contains("s1") || $0.contains(out) })
            #expect(start["host"] as? String == "s1")
        }
        // The second start event follows the first run's stats event.
        let types = lines.compactMap { $0["event_type"] as? String }
        let second = try #require(types.indices.filter { types[$0] == "start" }.last)
        #expect(types[second - 1] == "stats")
    }

    @Test("--truncate-output starts the file afresh")
    func truncate() throws {
        let bin = try #require(plainsightBinary())
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("eve.jsonl").path
        for _ in 0..<2 {
            let r = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--json", "--quiet", "-o", out, "--truncate-output"])
            #expect(r.status == 0, "\(r.stderrText)")
        }
        let lines = try jsonLines(String(decoding: try Data(contentsOf: URL(fileURLWithPath: out)), as: UTF8.self))
        #expect(events(lines, "start").count == 1)
        #expect(events(lines, "stats").count == 1)
        let body = events(lines, "start").first?["start"] as? [String: Any]
        #expect(body?["output_mode"] as? String == "truncate")
    }

    @Test("the text output marks each start with a '#' line")
    func textMarker() throws {
        let bin = try #require(plainsightBinary())
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("alerts.txt").path
        for _ in 0..<2 {
            let r = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--quiet", "-o", out])
            #expect(r.status == 0, "\(r.stderrText)")
        }
        let lines = String(decoding: try Data(contentsOf: URL(fileURLWithPath: out)), as: UTF8.self).split(separator: "\n")
        let markers = lines.filter { $0.hasPrefix("# ") }
        #expect(markers.count == 2)
        #expect(markers.allSatisfy { $0.contains(" plainsight ") && $0.contains(" started on ") })
        #expect(lines.count > 2)
    }

    @Test("an output that is one of the inputs is a usage error, and the input is untouched")
    func inputAsOutput() throws {
        let bin = try #require(plainsightBinary())
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("copy.pcap")
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("fixtures/demo.pcap"), to: copy)
        let original = try Data(contentsOf: copy)
        let link = dir.appendingPathComponent("link.pcap")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: copy)
        let hard = dir.appendingPathComponent("hard.pcap")
        try FileManager.default.linkItem(at: copy, to: hard)
        let same: [(String, String)] = [
            (copy.path, copy.path),
            (copy.path, dir.path + "/./copy.pcap"),
            (copy.path, link.path),
            (link.path, copy.path),
            (copy.path, hard.path),
        ]
        for (input, output) in same {
            for json in [true, false] {
                let r = try runProgram(bin, ["-r", input, "-o", output, "--quiet"] + (json ? ["--json"] : []))
                #expect(r.status == 2, "-r \(input) -o \(output): \(r.stderrText)")
                #expect(r.stderrText.contains("-r") && r.stderrText.contains("choose another output"))
            }
        }
        // Among several inputs, the second.
        let r = try runProgram(bin, ["-r", "fixtures/demo.pcap", "-r", copy.path, "-o", copy.path])
        #expect(r.status == 2)
        #expect(try Data(contentsOf: copy) == original)
        // A report file named like an input.
        let asJSON = dir.appendingPathComponent("capture.json")
        try FileManager.default.copyItem(at: copy, to: asJSON)
        let report = try runProgram(bin, ["-r", asJSON.path, "--report", asJSON.path])
        #expect(report.status == 2, "\(report.stderrText)")
        #expect(try Data(contentsOf: asJSON) == original)
        // Not there yet: compared by path.
        let missing = dir.appendingPathComponent("missing.pcap").path
        let absent = try runProgram(bin, ["-r", missing, "-o", dir.path + "/../" + dir.lastPathComponent + "/missing.pcap"])
        #expect(absent.status == 2, "\(absent.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: missing))
        // A different file is fine.
        let fine = try runProgram(bin, ["-r", copy.path, "-o", dir.appendingPathComponent("out.txt").path, "--quiet"])
        #expect(fine.status == 0, "\(fine.stderrText)")
    }
}

/// The alerts of one fixture, run as the golden is (plus any extra arguments).
private func fixtureAlerts(_ bin: String, _ fixture: FixtureEntry, extra: [String] = []) throws -> [[String: Any]] {
    let r = try runProgram(bin, ["-r", "fixtures/\(fixture.pcap)", "--json", "--quiet"] + fixture.args + extra)
    #expect(r.status == 0, "\(fixture.pcap): \(r.stderrText)")
    return events(try jsonLines(r.stdoutText), "cleartext_auth")
}

/// tshark's fields of some frames, by frame number.
private func tsharkFrames(_ tshark: String, file: String, frames: [Int], fields: [String],
                          options: [String] = []) throws -> [Int: [String]] {
    // tshark 4.0 wants the set's members separated by commas.
    let filter = "frame.number in {" + frames.map(String.init).joined(separator: ",") + "}"
    let r = try runProgram(tshark, ["-r", file, "-n", "-Y", filter, "-T", "fields", "-E", "occurrence=a",
                                    "-E", "aggregator=,", "-e", "frame.number"] + fields.flatMap { ["-e", $0] } + options)
    var rows: [Int: [String]] = [:]
    for line in r.stdoutText.split(separator: "\n") {
        let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        if let number = Int(columns[0]) { rows[number] = Array(columns.dropFirst()) }
    }
    return rows
}

@Suite("alerts link to packets and other tools")
struct AlertLinkageTests {
    @Test("pcap_cnt opens the client's packet that completed the login, whose community_id is tshark's",
          arguments: loadManifest())
    func packetAndCommunityID(_ fixture: FixtureEntry) throws {
        let bin = try #require(plainsightBinary())
        let file = packageRoot.appendingPathComponent("fixtures/\(fixture.pcap)").path
        // Where tshark does not guess a tunnel (VXLAN on 8472, an MPLS pseudowire), told as
        // TunnelFixtureTests tells it.
        let decodeAs = mirrorFeedCases.first { $0.pcap == fixture.pcap }?.decodeAs ?? []
        for seed in [0, 1] {
            let alerts = try fixtureAlerts(bin, fixture, extra: seed == 0 ? [] : ["--community-id-seed", "1"])
            for alert in alerts {
                #expect(alert["pcap_filename"] as? String == "fixtures/\(fixture.pcap)")
                #expect((alert["pcap_cnt"] as? Int ?? 0) > 0, "\(fixture.pcap): an alert without pcap_cnt")
                #expect((alert["community_id"] as? String)?.hasPrefix("1:") == true)
            }
            guard let tshark = tshark() else {
                print("tshark not installed: pcap_cnt and community_id not checked against it for \(fixture.pcap)")
                return
            }
            let numbers = alerts.compactMap { $0["pcap_cnt"] as? Int }
            guard !numbers.isEmpty else { continue }
            // tshark computes the Community ID from the innermost IP and TCP headers of a frame, as
            // plainsight does; of a fragmented segment in the frame of the last fragment, the one named.
            let rows = try tsharkFrames(tshark, file: file, frames: numbers,
                                        fields: ["tcp.srcport", "tcp.dstport", "tcp.len", "ip.src", "ipv6.src", "communityid"],
                                        options: decodeAs + ["--enable-protocol", "communityid", "-o", "communityid.seed:\(seed)"])
            for alert in alerts {
                guard let n = alert["pcap_cnt"] as? Int else { continue }
                let row = try #require(rows[n], "\(fixture.pcap): tshark has no frame \(n)")
                // Tunnels give several values per field: the inner connection is among them.
                let values = row.map { Set($0.split(separator: ",").map(String.init)) }
                try #require(values.count == 6)
                #expect(values[0].contains(String(alert["src_port"] as? Int ?? -1)), "\(fixture.pcap) frame \(n): \(row)")
                #expect(values[1].contains(String(alert["dest_port"] as? Int ?? -1)), "\(fixture.pcap) frame \(n): \(row)")
                #expect(values[2].contains { (Int($0) ?? 0) > 0 }, "\(fixture.pcap) frame \(n) carries no client data")
                let source = alert["src_ip"] as? String ?? ""
                #expect(values[3].contains(source) || values[4].contains(source), "\(fixture.pcap) frame \(n): \(row)")
                let id = alert["community_id"] as? String ?? ""
                #expect(values[5].contains(id), "\(fixture.pcap) frame \(n) seed \(seed): ours \(id), tshark's \(values[5])")
            }
        }
    }

    @Test("with several -r files and with --jobs, each alert names its own file and packet")
    func severalFiles() throws {
        let bin = try #require(plainsightBinary())
        let files = ["fixtures/demo.pcap", "fixtures/imap-authenticate-login.pcap", "fixtures/gre-imap-login.pcap"]
        // Each file alone gives the reference (file, number) pairs.
        var expected: [String] = []
        for file in files {
            let r = try runProgram(bin, ["-r", file, "--json", "--quiet"])
            for alert in events(try jsonLines(r.stdoutText), "cleartext_auth") {
                #expect(alert["pcap_filename"] as? String == file)
                expected.append("\(file)#\(alert["pcap_cnt"] as? Int ?? -1)#\(alert["community_id"] as? String ?? "")")
            }
        }
        #expect(expected.count >= 3)
        for extra in [[], ["--jobs", "2"], ["--jobs", "3"]] {
            let r = try runProgram(bin, files.flatMap { ["-r", $0] } + ["--json", "--quiet"] + extra)
            #expect(r.status == 0, "\(r.stderrText)")
            let got = events(try jsonLines(r.stdoutText), "cleartext_auth").map {
                "\($0["pcap_filename"] as? String ?? "")#\($0["pcap_cnt"] as? Int ?? -1)#\($0["community_id"] as? String ?? "")"
            }
            #expect(got == expected, "\(extra)")
        }
    }

    @Test("standard input: pcap_cnt without a file name")
    func standardInput() throws {
        let bin = try #require(plainsightBinary())
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["-r", "-", "--json", "--quiet"]
        p.currentDirectoryURL = packageRoot
        p.standardInput = try FileHandle(forReadingFrom: packageRoot.appendingPathComponent("fixtures/demo.pcap"))
        let pipe = Pipe()
        p.standardOutput = pipe
        try launchSerially(p)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let alerts = events(try jsonLines(String(decoding: data, as: UTF8.self)), "cleartext_auth")
        #expect(!alerts.isEmpty)
        for alert in alerts {
            #expect(alert["pcap_filename"] == nil)
            #expect((alert["pcap_cnt"] as? Int ?? 0) > 0)
        }
    }

    @Test("replays number flows 1, 2, 3...; live engines mix in a key of their own, below 2^53")
    func flowIDs() throws {
        let bytes = try [UInt8](Data(contentsOf: packageRoot.appendingPathComponent("fixtures/demo.pcap")))
        let replayed = replayInProcess(bytes).alerts.map(\.flowID)
        #expect(replayed == Array(1...UInt64(replayed.count)))
        var live = smallEngineConfiguration()
        live.uniqueFlowIDs = true
        let first = replayInProcess(bytes, configuration: live).alerts.map(\.flowID)
        let second = replayInProcess(bytes, configuration: live).alerts.map(\.flowID)
        #expect(first.count == replayed.count && second.count == replayed.count)
        #expect(Set(first).count == first.count)
        #expect(Set(first).isDisjoint(with: second))
        #expect((first + second).allSatisfy { $0 > 0 && $0 < (1 << 53) })
        // Engines fed frames one by one without a file (live capture) give no packet number.
        #expect(try alertsFrameByFrame(bytes).allSatisfy { $0.pcapCount == nil && $0.pcapFilename == nil })
    }
}
