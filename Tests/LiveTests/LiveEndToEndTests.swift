import Foundation
import Testing

/// scripts/live-test: real dovecot and exim in namespaces, real clients, three plainsight instances
/// capturing live as root and dropping to nobody, stopped with SIGTERM. The script checks every
/// detail and prints a `LIVE-RESULT` summary, which is checked again here and printed for the log.
@Suite("live end to end")
struct LiveEndToEndTests {
    @Test(.enabled(if: canUseNamespaces, "needs root and network namespaces (CI runs it as root)"),
          .timeLimit(.minutes(10)))
    func realServersAndClients() throws {
        let bin = try #require(plainsightBinary())
        let r = try run(packageRoot.appendingPathComponent("scripts/live-test").path, ["--binary", bin], timeout: 420)
        let resultLine = r.stdout.split(separator: "\n").last { $0.hasPrefix("LIVE-RESULT ") }
        print(resultLine ?? "no LIVE-RESULT line")
        #expect(r.status == 0, "scripts/live-test exited \(r.status):\n\(r.stdout)\n\(r.stderr.suffix(6000))")
        let line = try #require(resultLine)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.dropFirst("LIVE-RESULT ".count).utf8)) as? [String: Any])
        #expect((json["failures"] as? [Any])?.isEmpty == true, "\(json["failures"] ?? "")")
        let expected = try #require(json["expected"] as? Int)
        #expect(expected >= 12)
        let instances = try #require(json["instances"] as? [String: [String: Any]])
        #expect(instances.keys.sorted() == ["A", "B", "C"])
        for (name, instance) in instances {
            #expect(instance["alerts_seen"] as? Int == expected, "\(name)")
            #expect(instance["dropped_kernel"] as? Int == 0, "\(name)")
            #expect(instance["exit"] as? Int == 0, "\(name)")
            let uid = try #require(instance["uid_after_start"] as? Int, "\(name)")
            #expect(uid != 0, "\(name)")
        }
    }
}
