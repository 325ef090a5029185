import Foundation
import Testing

/// What an analyst sees when the input is wrong: one line naming the file, the other files still
/// read, and the exit status telling whether everything was read.
@Suite("bad input")
struct BadInputTests {
    let sample = "fixtures/imap-login-atoms.pcap"

    func temp(_ name: String, _ data: Data) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-\(UUID().uuidString)-\(name)")
        try data.write(to: url)
        return url.path
    }

    func alertCount(_ r: RunResult) -> Int {
        r.stdoutText.split(separator: "\n").filter { $0.contains("\"cleartext_auth\"") }.count
    }

    @Test func missingFileIsReportedAndOthersStillRead() throws {
        let bin = try #require(plainsightBinary())
        let r = try runProgram(bin, ["-r", "/nonexistent/x.pcap", "-r", sample, "--json", "--quiet"])
        #expect(r.status == 1)
        #expect(alertCount(r) == 1)
        let lines = r.stderrText.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("/nonexistent/x.pcap") == true)
    }

    @Test func truncatedFileKeepsAlertsBeforeTheDamage() throws {
        let bin = try #require(plainsightBinary())
        let whole = try Data(contentsOf: packageRoot.appendingPathComponent(sample))
        // Cut inside the last record: the login is earlier in the file.
        let path = try temp("cut.pcap", whole.prefix(whole.count - 30))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try runProgram(bin, ["-r", path, "--json", "--quiet"])
        #expect(r.status == 1)
        #expect(alertCount(r) == 1)
        #expect(r.stderrText.contains(path))
    }

    @Test func garbageFileIsOneLine() throws {
        let bin = try #require(plainsightBinary())
        let path = try temp("junk.pcap", Data("this is not a capture file at all\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try runProgram(bin, ["-r", path, "--quiet"])
        #expect(r.status == 1)
        #expect(r.stderrText.split(separator: "\n").count == 1)
        #expect(r.stdout.isEmpty)
    }

    @Test func unsupportedLinkTypeIsNamed() throws {
        let bin = try #require(plainsightBinary())
        // A classic pcap header with link type 147 (USER0) and one 4-byte record.
        var d = Data([0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 147, 0, 0, 0])
        d += Data([0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4])
        let path = try temp("user0.pcap", d)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try runProgram(bin, ["-r", path, "-r", sample, "--quiet", "--json"])
        #expect(r.status == 1)
        #expect(r.stderrText.contains("link type"))
        #expect(alertCount(r) == 1)
    }

    @Test func badFilterIsNamed() throws {
        let bin = try #require(plainsightBinary())
        let r = try runProgram(bin, ["-r", sample, "--quiet", "host", "and", "and"])
        #expect(r.status != 0)
        #expect(r.stderrText.contains("filter"))
        #expect(r.stderrText.split(separator: "\n").count == 1)
    }

    @Test func filterExpressionNarrowsTheCapture() throws {
        let bin = try #require(plainsightBinary())
        let kept = try runProgram(bin, ["-r", sample, "--quiet", "--json", "host", "192.0.2.10"])
        let dropped = try runProgram(bin, ["-r", sample, "--quiet", "--json", "host", "203.0.113.99"])
        #expect(kept.status == 0 && dropped.status == 0)
        #expect(alertCount(kept) == 1)
        #expect(alertCount(dropped) == 0)
    }

    @Test("usage errors exit 2", arguments: [[String](), ["-r"], ["-r", "x.pcap", "--user-policy", "nope"],
                                             ["-r", "x.pcap", "--user-policy", "hash"], ["--bogus"]])
    func usageErrors(_ args: [String]) throws {
        let bin = try #require(plainsightBinary())
        let r = try runProgram(bin, args)
        #expect(r.status == 2, "\(args): \(r.stderrText)")
    }

    @Test func standardInputIsReadLikeAFile() throws {
        let bin = try #require(plainsightBinary())
        let r = try runProgram("/bin/sh", ["-c", "\(bin) -r - --json --quiet < \(sample)"])
        #expect(r.status == 0)
        #expect(alertCount(r) == 1)
    }
}
