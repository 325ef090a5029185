import Alerts
import Foundation
import Testing
import Wire

@Suite("Sinks")
struct SinkTests {
    private func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "plainsight-alerts-\(getpid())-\(name)"
    }

    @Test func jsonLinesToFile() throws {
        let path = temporaryPath("out.jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = JSONLinesSink(output: try FileOutput.create(path: path), userPolicy: .mask)
        sink.write(makeAlert())
        sink.write(makeAlert(vlans: [3]))
        sink.writeStats([StatField("packets", 4)], time: sampleTime)
        #expect(sink.close())
        #expect(sink.alertsWritten == 2)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines[3].isEmpty)
        #expect(lines[0] == AlertRenderer().json(makeAlert()))
        #expect(lines[2] == #"{"timestamp":"2026-01-04T10:00:00.123456Z","event_type":"stats","stats":{"packets":4}}"#)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let mode = try #require(attributes[.posixPermissions] as? Int)
        #expect(mode & 0o137 == 0)              // at most rw-r----- (0640 before the umask)
    }

    @Test func textSinkHasNoStatsLine() throws {
        let path = temporaryPath("out.txt")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = TextSink(output: try FileOutput.create(path: path), userPolicy: .full)
        sink.write(makeAlert())
        sink.writeStats([StatField("packets", 4)], time: sampleTime)
        #expect(sink.close())
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == AlertRenderer(userPolicy: .full).text(makeAlert()) + "\n")
    }

    @Test func createTruncates() throws {
        let path = temporaryPath("trunc")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(repeating: 0x41, count: 1000).write(to: URL(fileURLWithPath: path))
        let output = try FileOutput.create(path: path)
        #expect(output.close())
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
    }

    @Test func unwritablePathThrows() {
        #expect(throws: OutputError.self) {
            _ = try FileOutput.create(path: "/nonexistent-dir-plainsight/out.jsonl")
        }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full"),
                   "/dev/full is missing (a container without it): no device to fail every write"))
    func writeErrorIsReportedNotFatal() throws {
        let sink = JSONLinesSink(output: try FileOutput.create(path: "/dev/full"), userPolicy: .mask)
        sink.write(makeAlert())
        #expect(!sink.flush())
        sink.write(makeAlert())                 // dropped, no crash
        #expect(!sink.close())
        #expect(sink.failure?.message.hasPrefix("cannot write to /dev/full: ") == true)
    }
}
