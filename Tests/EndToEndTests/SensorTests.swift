import Foundation
import Testing

/// `--sensor NAME` (issue 8): the `host` key, last in every JSON event, and its default.
@Suite("--sensor through the binary")
struct SensorTests {
    private func events(_ output: String) throws -> [(keys: [String], object: [String: Any])] {
        try output.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            // JSONSerialization loses key order; the last top-level key is read from the text.
            let text = String(line)
            let keys = object.keys.sorted { text.range(of: "\"\($0)\":")!.lowerBound < text.range(of: "\"\($1)\":")!.lowerBound }
            return (keys, object)
        }
    }

    @Test("every alert, inventory and stats event names the sensor, as its last key")
    func everyEventIsTagged() throws {
        let bin = try #require(plainsightBinary())
        let r = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--json", "--quiet", "--sensor", "span-a.example"])
        #expect(r.status == 0, "\(r.stderrText)")
        let all = try events(r.stdoutText)
        let types = Set(all.compactMap { $0.object["event_type"] as? String })
        #expect(types == ["cleartext_auth", "server_exposure", "stats"])
        for event in all {
            #expect(event.object["host"] as? String == "span-a.example")
            #expect(event.keys.last == "host")
        }
    }

    @Test("the default is the host name")
    func defaultIsTheHostName() throws {
        let bin = try #require(plainsightBinary())
        let r = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--json", "--quiet"])
        #expect(r.status == 0)
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, 255)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let all = try events(r.stdoutText)
        #expect(!all.isEmpty)
        for event in all { #expect(event.object["host"] as? String == host) }
    }

    @Test("names that do not fit a syslog HOSTNAME are usage errors", arguments: ["", "two words", "tab\there", "é", String(repeating: "x", count: 256)])
    func badNames(_ name: String) throws {
        let bin = try #require(plainsightBinary())
        let r = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--sensor", name])
        #expect(r.status == 2)
        #expect(r.stderrText.contains("--sensor"))
        #expect(r.stdout.isEmpty)
    }
}
