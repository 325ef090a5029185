import Foundation
import Testing

/// `--jobs N` (issue 8): files read as independent captures in parallel, output in file order.
@Suite("--jobs through the binary")
struct ParallelJobsTests {
    private let files = ["demo.pcap", "pop3-user-pass.pcap", "imap-login-literal.pcap", "smtp-auth-login.pcap",
                         "pop3-auth-login-stress.pcap", "imap-login-ipv6.pcap", "smtp-pipelining.pcap",
                         "imap-login-atoms-vlan.pcap"]

    private func run(_ extra: [String], files: [String]) throws -> RunResult {
        let bin = try #require(plainsightBinary())
        return try runProgram(bin, files.flatMap { ["-r", "fixtures/\($0)"] }
            + ["--json", "--quiet", "--user-policy", "full", "--sensor", "jobs-test"] + extra)
    }

    private func lines(_ r: RunResult, _ type: String) -> [String] {
        r.stdoutText.split(separator: "\n").map(String.init).filter { $0.contains(#""event_type":"\#(type)""#) }
    }

    @Test("--jobs 2 and 4 write exactly what --jobs 1 writes, byte for byte")
    func sameOutputForAnyN() throws {
        let one = try run(["--jobs", "1"], files: files)
        #expect(one.status == 0, "\(one.stderrText)")
        #expect(lines(one, "cleartext_auth").count >= 10)
        for n in ["2", "4"] {
            for _ in 0..<3 {             // a race would show up as a different order now and then
                let many = try run(["--jobs", n], files: files)
                #expect(many.status == 0)
                #expect(many.stdout == one.stdout, "--jobs \(n) differs from --jobs 1")
            }
        }
    }

    @Test("each file is its own capture: alerts are each file's own run, in file order; stats are summed")
    func filesAreIndependent() throws {
        let together = try run(["--jobs", "3"], files: files)
        var alerts: [String] = []
        var packets = 0
        for file in files {
            let alone = try run([], files: [file])
            alerts += lines(alone, "cleartext_auth")
            let stats = try #require(lines(alone, "stats").first)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [String: Any])
            packets += (object["stats"] as? [String: Any])?["packets"] as? Int ?? -1_000_000
        }
        // Flow ids included: they start at 1 in every file.
        #expect(lines(together, "cleartext_auth") == alerts)
        let stats = try #require(lines(together, "stats").first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [String: Any])
        let counters = try #require(object["stats"] as? [String: Any])
        #expect(counters["packets"] as? Int == packets)
        #expect(counters["files"] as? Int == files.count)
        #expect(counters["alerts"] as? Int == alerts.count)
    }

    @Test("a file that cannot be read fails the run; the others are still reported, in order")
    func missingFile() throws {
        let listed = [files[0], "no-such-file.pcap", files[1]]
        let r = try run(["--jobs", "2"], files: listed)
        #expect(r.status == 1)
        #expect(r.stderrText.contains("no-such-file.pcap"))
        let expected = try lines(run([], files: [files[0]]), "cleartext_auth") + lines(run([], files: [files[1]]), "cleartext_auth")
        #expect(lines(r, "cleartext_auth") == expected)
    }

    @Test("--jobs is for capture files only, 1 to 256", arguments: [["--jobs", "0"], ["--jobs", "257"], ["--jobs", "2", "-i", "lo"]])
    func usage(_ args: [String]) throws {
        let bin = try #require(plainsightBinary())
        let r = try runProgram(bin, args + (args.contains("-i") ? [] : ["-r", "fixtures/demo.pcap"]))
        #expect(r.status == 2)
        #expect(r.stderrText.contains("--jobs"))
    }
}
