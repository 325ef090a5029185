import Foundation
import Testing

/// The resource caps on the command line (issue 5): each is validated, and each reaches the
/// engine (the stats event shows what it did).
@Suite("cap options through the binary")
struct LimitOptionsTests {
    @Test("a cap out of range is a usage error naming the option", arguments: [
        ["--max-flows", "0"], ["--reorder-window", "-1"], ["--max-holes", "5000"], ["--reassembly-memory", "70000"],
        ["--max-line", "100"], ["--max-line", "2000000"], ["--max-pending", "0"], ["--max-pending", "5000"],
        ["--parser-memory", "0"], ["--max-alerts-per-flow", "0"], ["--output-queue", "0"], ["--idle-timeout", "0"], ["--handshake-timeout", "90000"],
    ])
    func outOfRange(_ option: [String]) throws {
        let bin = try #require(plainsightBinary())
        let r = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--quiet"] + option)
        #expect(r.status == 2)
        #expect(r.stderrText.contains(option[0]), "\(r.stderrText)")
        #expect(r.stdoutText.isEmpty)
    }

    private func stats(_ output: String) throws -> [String: Any] {
        let line = try #require(output.split(separator: "\n").last { $0.contains("\"event_type\":\"stats\"") })
        let event = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return try #require(event["stats"] as? [String: Any])
    }

    /// The smallest parser budget and line limit still find every login of the demo capture, and
    /// the stats event reports the budget's high-water mark.
    @Test func smallestCapsStillFindEveryLogin() throws {
        let bin = try #require(plainsightBinary())
        let normal = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--json", "--quiet"])
        let tight = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--json", "--quiet",
                                         "--parser-memory", "1", "--max-line", "512", "--max-pending", "1"])
        #expect(normal.status == 0 && tight.status == 0, "\(tight.stderrText)")
        let count = { (r: RunResult) in r.stdoutText.split(separator: "\n").filter { $0.contains("\"cleartext_auth\"") }.count }
        #expect(count(normal) == 4)
        #expect(count(tight) == count(normal))
        let memory = try #require(try stats(tight.stdoutText)["parser_memory"] as? [String: Any])
        #expect(memory["budget_hits"] as? Int == 0)
        #expect((memory["peak_bytes"] as? Int ?? 0) > 0)
    }

    /// Reading files, a one-alert output queue slows the reading instead of losing alerts, and the
    /// stats event reports the capacity given.
    @Test func smallOutputQueueLosesNothingReadingFiles() throws {
        let bin = try #require(plainsightBinary())
        let r = try runProgram(bin, ["-r", "fixtures/demo.pcap", "-r", "fixtures/smtp-pipelining.pcap", "--json", "--quiet",
                                     "--output-queue", "1"])
        #expect(r.status == 0, "\(r.stderrText)")
        #expect(r.stdoutText.split(separator: "\n").filter { $0.contains("\"cleartext_auth\"") }.count == 5)
        let outputs = try #require(try stats(r.stdoutText)["outputs"] as? [String: Any])
        let queue = try #require(outputs["queue"] as? [String: Any])
        #expect(queue["capacity"] as? Int == 1)
        #expect(queue["dropped"] as? Int == 0)
    }
}
