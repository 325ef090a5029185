import Foundation
import Testing

/// scripts/live-test: real dovecot and exim in namespaces, real clients, five plainsight instances
/// capturing live as root and dropping to nobody (D and E with `--workers 2`: two handles in one
/// PACKET_FANOUT group, two engines; E on the `any` device), stopped with SIGTERM. The script checks every detail and
/// prints a `LIVE-RESULT` summary, which is checked again here and printed for the log.
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
        #expect(instances.keys.sorted() == ["A", "B", "C", "D", "E"])
        for (name, instance) in instances {
            #expect(instance["alerts_seen"] as? Int == expected, "\(name)")
            #expect(instance["duplicates"] as? Int == 0, "\(name)")
            #expect(instance["dropped_kernel"] as? Int == 0, "\(name)")
            #expect(instance["exit"] as? Int == 0, "\(name)")
            let uid = try #require(instance["uid_after_start"] as? Int, "\(name)")
            #expect(uid != 0, "\(name)")
        }
        // Every login exactly once across the two workers, and the workers add up to the totals.
        for name in ["D", "E"] {
            let workers = try #require(instances[name]?["workers"] as? [[String: Any]], "\(name)")
            #expect(workers.map { $0["worker"] as? Int } == [1, 2], "\(name)")
            let alerts = workers.compactMap { $0["alerts"] as? Int }
            #expect(alerts.count == 2 && alerts.reduce(0, +) == expected, "\(name): per-worker alerts \(alerts)")
            let received = workers.compactMap { $0["received"] as? Int }
            #expect(received.count == 2 && received.reduce(0, +) == instances[name]?["received"] as? Int,
                    "\(name): per-worker received \(received)")
        }
    }
}
