import Foundation
import Testing

/// One recorded scenario, as `scripts/record-fixtures` describes it in fixtures/manifest.json.
struct FixtureEntry: Decodable, CustomTestStringConvertible, Sendable {
    /// The alert's `tunnel` object (docs/mirror-feeds.md), stated by the mirror-feed fixtures.
    struct Tunnel: Decodable, Equatable, Sendable {
        var type: String
        var src_ip: String?
        var dest_ip: String?
        var vni: Int?
        var gre_key: Int?
        var erspan_id: Int?
        var mpls_labels: [Int]?
        var pppoe_session: Int?
        var teid: Int?
        var layers: [String]

        init?(_ object: [String: Any]?) {
            guard let object, let type = object["type"] as? String, let layers = object["layers"] as? [String] else {
                return nil
            }
            self.type = type; self.layers = layers
            src_ip = object["src_ip"] as? String; dest_ip = object["dest_ip"] as? String
            vni = object["vni"] as? Int; gre_key = object["gre_key"] as? Int; erspan_id = object["erspan_id"] as? Int
            mpls_labels = object["mpls_labels"] as? [Int]; pppoe_session = object["pppoe_session"] as? Int
            teid = object["teid"] as? Int
        }
    }

    struct Alert: Decodable, Equatable, Sendable {
        var app_proto: String
        var src_ip: String
        var src_port: Int
        var dest_ip: String
        var dest_port: Int
        var method: String
        var exposure: String
        var username: String?
        var outcome: String
        var starttls: String
        /// Stated by derived fixtures; absent in the manifest means no tags, no gap, not mid-stream.
        var vlan: [Int]?
        var after_gap: Bool?
        var midstream: Bool?
        /// Stated by the mirror-feed fixtures; absent means the flow came in no tunnel.
        var tunnel: Tunnel? = nil
        /// Stated by the TCP-integrity fixtures (docs/tcp-integrity.md); absent means false.
        var overlap_conflict: Bool? = nil

        /// Absent flags read as their defaults so both sides compare alike.
        var normalised: Alert {
            var a = self
            if a.vlan == [] { a.vlan = nil }
            a.after_gap = a.after_gap ?? false
            a.midstream = a.midstream ?? false
            a.overlap_conflict = a.overlap_conflict ?? false
            return a
        }
    }
    var pcap: String
    var args: [String]
    var description: String
    var secrets: [String]
    var expected: [Alert]
    var testDescription: String { pcap }

    var goldenPath: URL {
        packageRoot.appendingPathComponent("fixtures")
            .appendingPathComponent((pcap as NSString).deletingPathExtension + ".expected.jsonl")
    }
}

func loadManifest() -> [FixtureEntry] {
    let url = packageRoot.appendingPathComponent("fixtures/manifest.json")
    struct Manifest: Decodable { var fixtures: [FixtureEntry] }
    guard let data = try? Data(contentsOf: url) else { return [] }
    do {
        return try JSONDecoder().decode(Manifest.self, from: data).fixtures
    } catch {
        Issue.record("fixtures/manifest.json does not parse: \(error)")
        return []
    }
}

/// The alerts of a JSON-lines output reduced to the fields the manifest states.
func alerts(in output: String) throws -> [FixtureEntry.Alert] {
    try output.split(separator: "\n").compactMap { line in
        let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
        guard obj["event_type"] as? String == "cleartext_auth", let auth = obj["auth"] as? [String: Any] else { return nil }
        #expect(auth["secret"] as? String == "redacted")
        return FixtureEntry.Alert(
            app_proto: obj["app_proto"] as? String ?? "", src_ip: obj["src_ip"] as? String ?? "",
            src_port: obj["src_port"] as? Int ?? -1, dest_ip: obj["dest_ip"] as? String ?? "",
            dest_port: obj["dest_port"] as? Int ?? -1, method: auth["method"] as? String ?? "",
            exposure: auth["exposure"] as? String ?? "", username: auth["username"] as? String,
            outcome: auth["outcome"] as? String ?? "", starttls: auth["starttls"] as? String ?? "",
            vlan: obj["vlan"] as? [Int], after_gap: auth["after_gap"] as? Bool, midstream: auth["midstream"] as? Bool,
            tunnel: FixtureEntry.Tunnel(obj["tunnel"] as? [String: Any]),
            overlap_conflict: auth["overlap_conflict"] as? Bool)
            .normalised
    }
}

/// The sensor name the goldens are made with (scripts/update-expected passes the same).
let fixtureSensor = "fixture-sensor"

@Suite("fixtures replayed through the binary")
struct FixtureReplayTests {
    @Test("recorded captures give exactly the recorded logins, byte for byte", arguments: loadManifest())
    func replay(_ fixture: FixtureEntry) throws {
        let bin = try #require(plainsightBinary(), "build plainsight first (scripts/test does)")
        // An explicit --sensor: the default (the host name) differs from machine to machine.
        let r = try runProgram(bin, ["-r", "fixtures/\(fixture.pcap)", "--json", "--quiet", "--user-policy", "full",
                                     "--sensor", fixtureSensor] + fixture.args)
        #expect(r.status == 0, "\(r.stderrText)")
        // The ground truth written when the scenario was driven.
        #expect(try alerts(in: r.stdoutText) == fixture.expected.map(\.normalised))
        // The golden file pins the rest (flow ids, timestamps, flags, stats) byte for byte.
        let golden = try #require(try? Data(contentsOf: fixture.goldenPath), "missing \(fixture.goldenPath.lastPathComponent)")
        #expect(r.stdout == golden, "output differs from \(fixture.goldenPath.lastPathComponent)")
    }

    @Test("no secret in any output, any policy", arguments: loadManifest())
    func noSecrets(_ fixture: FixtureEntry) throws {
        let bin = try #require(plainsightBinary())
        let users = fixture.expected.compactMap(\.username)
        let key = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-key-\(UUID().uuidString)")
        try Data("0123456789abcdef-test-key".utf8).write(to: key)
        defer { try? FileManager.default.removeItem(at: key) }
        for extra in [["--json"], []] {
            for policy in [["--user-policy", "full"], ["--user-policy", "mask"], ["--user-policy", "omit"],
                           ["--user-policy", "hash", "--user-hash-key-file", key.path]] {
                let r = try runProgram(bin, ["-r", "fixtures/\(fixture.pcap)"] + extra + policy + fixture.args)
                let all = r.stdoutText + r.stderrText
                for secret in fixture.secrets {
                    for form in secretForms(secret, usernames: users) {
                        #expect(!all.contains(form), "a form of a secret leaked with \(extra + policy)")
                    }
                }
            }
        }
    }
}
