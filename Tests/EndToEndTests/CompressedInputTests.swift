import Foundation
import Testing

/// Issue 19, inputs: compressed captures (gzip, zstd, xz, recognised by content), `-r DIR`, and
/// the usage errors around -r, filters and repeated options, through the binary.
@Suite("Compressed and directory inputs, input usage errors")
struct CompressedInputTests {
    /// A scratch directory, removed at the end.
    final class Scratch {
        let url: URL
        var path: String { url.path }
        init() throws {
            url = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-inputs-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        func file(_ name: String) -> String { url.appendingPathComponent(name).path }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    /// `tool args... < source > destination`, through the shell; the tools are bootstrap's.
    private func compress(_ tool: String, _ source: String, to destination: String) throws {
        let r = try runProgram("/bin/sh", ["-c", "\(tool) -c < '\(source)' > '\(destination)'"])
        try #require(r.status == 0, "\(tool): \(r.stderrText)")
    }

    private func copyFixture(_ name: String, to path: String) throws {
        try FileManager.default.copyItem(atPath: packageRoot.appendingPathComponent("fixtures/\(name)").path, toPath: path)
    }

    private func events(_ r: RunResult) -> [String] {
        // pcap_filename names the file read, which differs between the copies by design.
        r.stdoutText.split(separator: "\n").map(String.init).filter { !$0.contains(#""event_type":"stats""#) }
            .map { $0.replacing(/,"pcap_filename":"[^"]*"/, with: "") }
    }

    private func read(_ inputs: [String], _ extra: [String] = ["--quiet"]) throws -> RunResult {
        let bin = try #require(plainsightBinary())
        return try runProgram(bin, inputs.flatMap { ["-r", $0] } + ["--json", "--user-policy", "full", "--sensor", "t"] + extra)
    }

    @Test("the same capture read plain, as .gz, .zst and .xz, and renamed, gives the same events",
          arguments: ["demo.pcap", "smtp-auth-login-ir-ng.pcapng"])
    func compressedLikePlain(_ fixture: String) throws {
        let dir = try Scratch()
        let plain = dir.file(fixture)
        try copyFixture(fixture, to: plain)
        let expected = try read([plain])
        #expect(expected.status == 0)
        #expect(events(expected).contains { $0.contains(#""event_type":"cleartext_auth""#) })
        for (tool, suffix) in [("gzip", ".gz"), ("zstd -q", ".zst"), ("xz", ".xz"), ("gzip", ".renamed")] {
            let path = plain + suffix
            try compress(tool, plain, to: path)
            let r = try read([path])
            #expect(r.status == 0, "\(suffix): \(r.stderrText)")
            #expect(r.stderrText.isEmpty, "\(suffix): \(r.stderrText)")
            #expect(events(r) == events(expected), "\(suffix) differs from the plain file")
        }
    }

    @Test("-r DIR reads its capture files in name order, skips others with one counted line, leaves hidden ones out")
    func directoryInNameOrder() throws {
        let dir = try Scratch()
        let captures = dir.file("captures")
        try FileManager.default.createDirectory(atPath: captures, withIntermediateDirectories: true)
        let a = dir.file("a.pcap"), b = dir.file("b.pcap")
        try copyFixture("pop3-user-pass.pcap", to: a)
        try copyFixture("imap-login-atoms.pcap", to: b)
        try compress("zstd -q", a, to: captures + "/eth0.1.pcap.zst")
        try compress("xz", b, to: captures + "/eth0.2.pcap.xz")
        try copyFixture("smtp-auth-login.pcap", to: captures + "/.partial.pcap")
        try Data("not a capture\n".utf8).write(to: URL(fileURLWithPath: captures + "/README"))
        try FileManager.default.createDirectory(atPath: captures + "/old", withIntermediateDirectories: true)
        let expected = try read([a, b])
        let r = try read([captures], [])       // not --quiet: the skipped entries' note is shown
        #expect(r.status == 0, "\(r.stderrText)")
        #expect(events(r) == events(expected))
        let lines = r.stderrText.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("skipped 2 entries that are not capture files"), "\(r.stderrText)")
        #expect(r.stdoutText.contains(#""files":2"#))
        // --jobs reads the same list.
        let jobs = try read([captures], ["--jobs", "2", "--quiet"])
        #expect(jobs.status == 0)
        #expect(events(jobs).filter { $0.contains("cleartext_auth") }.count == events(expected).filter { $0.contains("cleartext_auth") }.count)
    }

    @Test("a directory without captures is an input error (exit 1)")
    func emptyDirectory() throws {
        let dir = try Scratch()
        let r = try read([dir.path])
        #expect(r.status == 1)
        #expect(r.stderrText.contains("no capture files in this directory"))
    }

    @Test("a truncated .gz keeps the alerts before the damage and ends with a read error (exit 1)")
    func truncatedGzip() throws {
        let dir = try Scratch()
        let capture = try SyntheticCapture(fixture: "pop3-user-pass.pcap")
        let plain = dir.file("many.pcap"), packed = dir.file("many.pcap.gz"), cut = dir.file("cut.pcap.gz")
        try (Data(capture.header) + capture.copies(0..<200, clientPort: 40610)).write(to: URL(fileURLWithPath: plain))
        try compress("gzip", plain, to: packed)
        let whole = try Data(contentsOf: URL(fileURLWithPath: packed))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: cut))
        let full = try read([packed])
        let r = try read([cut])
        let alerts = { (r: RunResult) in events(r).filter { $0.contains(#""event_type":"cleartext_auth""#) }.count }
        #expect(full.status == 0)
        #expect(alerts(full) == 200)
        #expect(r.status == 1)
        #expect(r.stderrText.contains("gzip data ends early (the file is truncated)"), "\(r.stderrText)")
        // The synthetic copies carry no valid checksums: one more line says verification stopped.
        #expect(r.stderrText.split(separator: "\n").filter { !$0.contains("checksum validation:") }.count == 1,
                "\(r.stderrText)")
        #expect(alerts(r) > 50 && alerts(r) < 200, "\(alerts(r)) alerts")
        #expect(r.stdoutText.contains(#""read_errors":1"#))
    }

    @Test("a corrupt .xz is a read error naming the damage")
    func corruptXz() throws {
        let dir = try Scratch()
        let plain = dir.file("demo.pcap"), packed = dir.file("demo.pcap.xz")
        try copyFixture("demo.pcap", to: plain)
        try compress("xz", plain, to: packed)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: packed)))
        for index in (bytes.count / 2)..<(bytes.count / 2 + 16) { bytes[index] ^= 0x5A }
        try Data(bytes).write(to: URL(fileURLWithPath: packed))
        let r = try read([packed])
        #expect(r.status == 1)
        #expect(r.stderrText.contains("xz data is damaged"), "\(r.stderrText)")
    }

    // MARK: usage errors: exit 2, the problem named on the first line, once

    private func usageError(_ args: [String], names problem: String) throws {
        let bin = try #require(plainsightBinary())
        let r = try runProgram(bin, args)
        #expect(r.status == 2, "\(args): \(r.stderrText)")
        let first = r.stderrText.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.contains(problem), "\(args): \(r.stderrText)")
        #expect(r.stderrText.components(separatedBy: problem).count == 2, "named more than once: \(r.stderrText)")
        #expect(r.stdout.isEmpty)
    }

    @Test("-r a.pcap b.pcap (a shell glob) says to repeat -r")
    func globAfterRead() throws {
        try usageError(["-r", "fixtures/demo.pcap", "fixtures/pop3-user-pass.pcap", "fixtures/imap-login-atoms.pcap"],
                       names: "repeat -r for each file")
        // A filter word that happens to be a file name nearby stays a filter when the others are not files.
        let bin = try #require(plainsightBinary())
        let r = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--quiet", "fixtures", "or", "tcp"])
        #expect(r.status == 2)
        #expect(r.stderrText.contains("bad filter"))
    }

    @Test("a bad filter over several files is one usage error, before any output is created")
    func badFilterOnce() throws {
        let dir = try Scratch()
        let out = dir.file("alerts.jsonl")
        try usageError(["-r", "fixtures/demo.pcap", "-r", "fixtures/pop3-user-pass.pcap", "-r", "fixtures/imap-login-atoms.pcap",
                        "-o", out, "tcp", "prt", "25"], names: "bad filter 'tcp prt 25'")
        #expect(!FileManager.default.fileExists(atPath: out))
        try usageError(["--jobs", "2", "-r", "fixtures/demo.pcap", "-r", "fixtures/pop3-user-pass.pcap", "host", "and"],
                       names: "bad filter")
    }

    @Test("a single-value option given twice is refused, naming it",
          arguments: [(["-o", "a.jsonl", "-o", "b.jsonl"], "-o/--output is given 2 times"),
                      (["--output=a", "-o", "b"], "-o/--output is given 2 times"),
                      (["--max-flows", "10", "--max-flows", "20"], "--max-flows is given 2 times"),
                      (["--user-policy", "full", "--user-policy", "omit"], "--user-policy is given 2 times"),
                      (["--sensor", "a", "--sensor", "b"], "--sensor is given 2 times"),
                      (["--defrag-policy", "first", "--defrag-policy", "last"], "--defrag-policy is given 2 times"),
                      (["--syslog", "--syslog-facility", "mail", "--syslog-facility", "user"], "--syslog-facility is given 2 times"),
                      (["--jobs", "1", "--jobs", "2"], "--jobs is given 2 times")])
    func repeatedOption(_ extra: [String], _ problem: String) throws {
        try usageError(["-r", "fixtures/demo.pcap"] + extra, names: problem)
    }

    @Test("-i given twice points to -i any; -i with a number beyond -D's list is a usage error")
    func interfaceOptions() throws {
        try usageError(["-i", "lo", "-i", "eth0"], names: "use -i any")
        try usageError(["-i", "9999"], names: "-i 9999: there is no interface 9999")
    }

    // MARK: the terminal's summary and progress line

    /// Runs `command` under `script`, so plainsight's standard error is a terminal.
    private func onTerminal(_ command: String) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            Issue.record("script(1) is missing: run scripts/bootstrap")
            return ""
        }
        let r = try runProgram("/usr/bin/script", ["-qec", command, "/dev/null"])
        return r.stdoutText
    }

    @Test("the summary says what was read, what passed the filter and what was not mail")
    func summaryPacketsLine() throws {
        let bin = try #require(plainsightBinary())
        let unfiltered = try onTerminal("\(bin) -r fixtures/demo.pcap -o /dev/null")
        #expect(unfiltered.contains("82 read (no filter), 0 not mail, 82 mail"), "\(unfiltered)")
        let filtered = try onTerminal("\(bin) -r fixtures/demo.pcap -o /dev/null --any-port 'port 110 or port 143'")
        #expect(filtered.contains("82 read, "), "\(filtered)")
        #expect(filtered.contains(" passed the filter, 0 not mail, "), "\(filtered)")
    }

    @Test("on a terminal the progress line shows the file k of n, elapsed time and rate; for standard input the packets")
    func progressLine() throws {
        let bin = try #require(plainsightBinary())
        let dir = try Scratch()
        let capture = try SyntheticCapture(fixture: "pop3-user-pass.pcap")
        let small = dir.file("small.pcap"), head = dir.file("head"), tail = dir.file("tail"), big = dir.file("big.pcap")
        try copyFixture("demo.pcap", to: small)
        // Standard input fed in two parts with a pause between: the line is drawn at the first
        // tick (every 4096 records) at least a quarter second after the last, whatever the
        // build's speed.
        try (Data(capture.header) + capture.copies(0..<10, clientPort: 40610)).write(to: URL(fileURLWithPath: head))
        try capture.copies(10..<400, clientPort: 40610).write(to: URL(fileURLWithPath: tail))
        let input = try onTerminal("{ cat \(head); sleep 0.6; cat \(tail); } | \(bin) -r \(small) -r - -o /dev/null")
        #expect(input.contains("file 2 of 2  standard input  "), "\(input.suffix(400))")
        #expect(input.contains(" packets  ") && input.contains(" pkt/s  elapsed 0:0"), "\(input.suffix(400))")
        #expect(!input.contains("ETA"))
        // Regular files: sizes over all inputs. Large enough for a debug build to be still
        // reading after a quarter second; a release build may finish before any line.
        try (Data(capture.header) + capture.copies(0..<3000, clientPort: 40610)).write(to: URL(fileURLWithPath: big))
        try compress("zstd -q", big, to: big + ".zst")
        let files = try onTerminal("\(bin) -r \(big).zst -r \(big) -o /dev/null")
        if bin.contains("/debug/") {
            #expect(files.contains("file 1 of 2  ") || files.contains("file 2 of 2  "), "\(files.suffix(400))")
            #expect(files.contains(" MB ("), "\(files.suffix(400))")
        }
        let jobs = try onTerminal("{ cat \(head); sleep 0.6; cat \(tail); } | \(bin) --jobs 2 -r \(small) -r - -o /dev/null")
        #expect(jobs.contains(" of 2") && jobs.contains(" elapsed 0:0"), "\(jobs.suffix(400))")
    }
}
