import Alerts
import Engine
import Foundation
@testable import Inventory
import MailAuth
import Reassembly
import Testing
import Wire

// `plainsight report`'s reader and merge rules (issue 20), without the binary: the JSON reader on
// hostile input, RFC 3339 back to the nanosecond, and when two session events are one session.

@Suite("merge: JSON reader and session identity")
struct MergeTests {
    @Test func readerDecodesWhatTheWritersWrite() throws {
        let value = try #require(JSONValue.parse(Array(#" {"a":[1,-2,true,null,"x\"y\\z\u00e9\ud83d\ude00"],"b":{"c":1.5e3}} "#.utf8)))
        #expect(value["a"] == .array([.int(1), .int(-2), .bool(true), .null, .string("x\"y\\zé😀")]))
        #expect(value["b"]?["c"] == .other)
        #expect(value["b"]?["c"]?.count == nil)
        #expect(value["a"]?.array?.first?.count == 1)
    }

    @Test(arguments: [
        #"{"a":}"#, #"{"a":1,}"#, #"{"a" 1}"#, #"[1,2"#, #"{"a":"\ud800"}"#, #"{"a":"\udc00x"}"#,
        "{\"a\":\"tab\there\"}", #"{"a":"\q"}"#, #"{"a":01x}"#, #"{"a":1} x"#, #"{"a":-}"#, #""unterminated"#, "",
    ])
    func readerRefusesMalformedInput(_ text: String) {
        #expect(JSONValue.parse(Array(text.utf8)) == nil, "\(text)")
    }

    @Test func readerBoundsItsDepth() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(JSONValue.parse(Array(deep.utf8)) == nil)
        let fine = String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
        #expect(JSONValue.parse(Array(fine.utf8)) != nil)
    }

    @Test func timestampsReadBackToTheMicrosecond() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let micros = Int64.random(in: -2_000_000_000_000_000...9_000_000_000_000_000, using: &random)
            let t = Timestamp(nanoseconds: micros * 1_000)
            #expect(Timestamp(rfc3339: t.rfc3339) == t, "\(t.rfc3339)")
        }
        #expect(Timestamp(rfc3339: "2026-11-25T13:26:06Z")?.nanoseconds == 1_795_613_166_000_000_000)
        #expect(Timestamp(rfc3339: "2026-11-25T13:26:06.5Z")?.nanoseconds == 1_795_613_166_500_000_000)
        for bad in ["2026-11-25 13:26:06Z", "2026-13-25T13:26:06Z", "2026-11-25T13:26:06.Z", "2026-11-25T13:26:06+01:00", "x"] {
            #expect(Timestamp(rfc3339: bad) == nil, "\(bad)")
        }
    }

    /// A mail_session event as plainsight writes it, for one POP3 session with one login.
    private func session(host: String, port: UInt16 = 51_000, start: Int64, seconds: Int64 = 1, user: String = "alice") throws -> JSONValue {
        let first = Timestamp(nanoseconds: start * 1_000_000_000), last = Timestamp(nanoseconds: (start + seconds) * 1_000_000_000)
        let id = CommunityID().string(source: IPAddress(ipv4: 0xC633_6407), sourcePort: port,
                                      destination: IPAddress(ipv4: 0xC000_020A), destinationPort: 110) ?? ""
        let text = """
            {"timestamp":"\(last.rfc3339)","event_type":"mail_session","flow_id":1,"src_ip":"198.51.100.7","src_port":\(port),\
            "dest_ip":"192.0.2.10","dest_port":110,"proto":"TCP","app_proto":"pop3","mail_session":{"first_seen":"\(first.rfc3339)",\
            "last_seen":"\(last.rfc3339)","midstream":false,"implicit_tls":false,"capabilities_seen":true,"starttls_offered":true,\
            "logindisabled":false,"auth_mechanisms":["PLAIN"],"user_offered":true,"starttls_requested":false,\
            "starttls_accepted":false,"starttls_refused":false,"logins":[{"timestamp":"\(first.rfc3339)","method":"USER",\
            "exposure":"cleartext","outcome":"success","username":"\(user)"}],"user_policy":"full"},"community_id":"\(id)","host":"\(host)"}
            """
        return try #require(JSONValue.parse(Array(text.utf8)))
    }

    @Test func aSessionIsOneWhenAnotherSensorsCopyOverlapsIt() throws {
        let merger = InventoryMerger()
        // a and b saw the same session; a a later one on the same ports (port reuse: not a copy of
        // it, the times are apart); b one more, of which a's copy comes last: three sessions.
        #expect(try merger.add(event: session(host: "a", start: 100), source: "t") == nil)
        #expect(try merger.add(event: session(host: "b", start: 100), source: "t") == nil)
        #expect(try merger.add(event: session(host: "a", start: 900, user: "bob"), source: "t") == nil)
        #expect(try merger.add(event: session(host: "b", start: 2_000, user: "carol"), source: "t") == nil)
        #expect(try merger.add(event: session(host: "a", start: 2_000, user: "carol"), source: "t") == nil)
        merger.finish()
        #expect(merger.counters.sessionEvents == 5)
        #expect(merger.counters.duplicateSessions == 2)
        let record = try #require(merger.inventory.records.values.first)
        #expect(record.sessions == 3 && record.cleartextLogins.total == 3 && record.distinctUsers == 3)
        guard case .table(let table) = merger.inventory.sensors else { Issue.record("no sensors"); return }
        let sightings = try #require(table.values.first)
        #expect(sightings.map(\.name) == ["a", "b"])
        #expect(sightings.map(\.sessions) == [3, 2])
    }

    /// What a live inventory counts and what its session events rebuild are the same record:
    /// every kind of session (STARTTLS refused after an offer, upgraded, LOGINDISABLED, implicit
    /// TLS, mid-stream), and one session of 70 logins, 6 past the event's list.
    @Test func sessionEventsRebuildTheLiveRecord() throws {
        let live = ServerInventory(userHashKey: nil, userPolicy: .full)
        var events: [[UInt8]] = []
        let observer = SessionEventObserver(next: live, writer: SessionEventWriter(userPolicy: .full, communityIDSeed: 0)) {
            events.append($0)
        }
        func run(_ id: UInt64, port: UInt16, _ f: ServerFacts?, logins: Int = 0, midstream: Bool = false, proto: MailProtocol = .imap) {
            var info = flow(port, at: Int64(id) * 10, midstream: midstream)
            info.id = id
            info.clientPort = UInt16(40_000 + id)
            for i in 0..<logins {
                observer.login(Finding(proto: proto, method: i % 3 == 0 ? "AUTHENTICATE CRAM-MD5" : "LOGIN",
                                       exposure: i % 3 == 0 ? .hashed : .cleartext, username: Array("user\(i % 7)".utf8),
                                       outcome: i % 2 == 0 ? .success : .failure, starttls: .offered, afterGap: false,
                                       timeNanoseconds: info.firstSeen.nanoseconds + Int64(i)), flow: info)
            }
            if let f {
                observer.sessionEnded(flow: info, proto: proto, facts: f, closedAt: info.lastSeen)
            } else {
                observer.sessionEnded(EndedSession(flow: info, proto: proto, kind: .implicitTLS, closedAt: info.lastSeen))
            }
        }
        var greeted = facts(.imap, starttls: true, mechanisms: ["PLAIN", "CRAM-MD5"], requested: true, refused: true)
        greeted.greeting = Array("* OK [CAPABILITY IMAP4rev1] Dovecot ready.".utf8)
        run(1, port: 143, greeted, logins: 2)
        run(2, port: 143, facts(.imap, starttls: true, mechanisms: ["PLAIN"], requested: true, accepted: true))
        run(3, port: 143, facts(.imap, loginDisabled: true), logins: 70)
        run(4, port: 143, facts(.imap, caps: false), midstream: true)
        run(5, port: 993, nil)
        run(6, port: 110, facts(.pop3, starttls: true, user: true), logins: 1, proto: .pop3)
        #expect(events.count == 6)
        let merger = InventoryMerger()
        for event in events {
            let value = try #require(JSONValue.parse(event))
            #expect(try merger.add(event: value, source: "t") == nil)
        }
        merger.finish()
        let rebuilt = merger.inventory.records
        for (key, want) in live.records {
            let got = try #require(rebuilt[key], "\(key)")
            // The same verdict and evidence, but for the floor's "+" after the users.
            let a = Assessment(got), b = Assessment(want)
            #expect(a.verdict == b.verdict && a.strippingEvidence == b.strippingEvidence, "\(key)")
            #expect(a.evidence.map { $0.replacingOccurrences(of: "+ distinct", with: " distinct") } == b.evidence, "\(key)")
            #expect(got.sessions == want.sessions, "\(key)")
            #expect(got.cleartextLogins == want.cleartextLogins, "\(key)")
            #expect(got.hashedLogins == want.hashedLogins, "\(key)")
            #expect(got.cleartextMethods == want.cleartextMethods, "\(key)")
            #expect(got.authMechanisms == want.authMechanisms, "\(key)")
            #expect(got.plaintextOffered == want.plaintextOffered, "\(key)")
            #expect(got.greeting == want.greeting, "\(key)")
            #expect(got.product == want.product, "\(key)")
            #expect(got.firstSeen == want.firstSeen, "\(key)")
            #expect(got.lastSeen == want.lastSeen, "\(key)")
            #expect(got.listedUsers == want.listedUsers, "\(key)")
            // The 70-login session's users past the list are unknown: a floor, said so.
            #expect(got.distinctUsers == want.distinctUsers)
            #expect(got.usersOverflow == (key.port == 143), "\(key)")
        }
        #expect(rebuilt.count == live.records.count)
        // The timeline has the listed logins (the 4 cleartext ones past the list have no time).
        let merged = merger.inventory.timeline.series.map(\.cleartext).reduce(0, +)
        let counted = live.timeline.series.map(\.cleartext).reduce(0, +)
        #expect(merged == counted - 4)
    }

    @Test func policiesAndKeysAreNotMixed() throws {
        let merger = InventoryMerger()
        #expect(try merger.add(event: session(host: "a", start: 100), source: "one.jsonl") == nil)
        var masked = try session(host: "b", start: 500)
        if case .object(var members) = masked, let i = members.firstIndex(where: { $0.key == "mail_session" }),
           case .object(var body) = members[i].value, let j = body.firstIndex(where: { $0.key == "user_policy" }) {
            body[j].value = .string("mask")
            members[i].value = .object(body)
            masked = .object(members)
        }
        #expect(throws: MergeError.self) { try merger.add(event: masked, source: "two.jsonl") }
        do {
            _ = try merger.add(event: masked, source: "two.jsonl")
        } catch {
            #expect(error.message.contains("two.jsonl: login names under --user-policy mask cannot be merged with those under full from one.jsonl"))
        }
    }

    @Test func otherEventsAreForeignAndBrokenOnesMalformed() throws {
        let merger = InventoryMerger()
        #expect(try merger.add(event: .object([JSONMember(key: "event_type", value: .string("alert"))]), source: "t") == .foreign)
        #expect(try merger.add(event: .object([JSONMember(key: "x", value: .int(1))]), source: "t") == .foreign)
        let broken = try #require(JSONValue.parse(Array(#"{"event_type":"mail_session","src_ip":"x"}"#.utf8)))
        #expect(try merger.add(event: broken, source: "t") == .malformed("mail_session without its flow"))
        let exposure = try #require(JSONValue.parse(Array(#"{"event_type":"server_exposure","dest_ip":"192.0.2.1","dest_port":25,"app_proto":"smtp","server_exposure":{"sessions":1}}"#.utf8)))
        #expect(try merger.add(event: exposure, source: "t") == .malformed("no count 'cleartext_sessions'"))
    }
}

/// A sensor restarted without its `start` event reaching the collector: its new run's snapshot
/// can hold as many sessions as the old run's last one, and only its later first session tells
/// the runs apart.
@Suite("merge: server_exposure snapshots across a restart")
struct SnapshotRunTests {
    /// A server_exposure event as plainsight writes it (from a fixture's golden), for sensor `a`.
    private static func exposure(firstSeen: String, sessions: Int) throws -> JSONValue {
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/imap-login-quoted.expected.jsonl")
        let text = try String(contentsOf: golden, encoding: .utf8)
        var line = try #require(text.split(separator: "\n").first { $0.contains(#""event_type":"server_exposure""#) }.map(String.init))
        try #require(line.contains(#""first_seen":"2026-11-25T13:26:14.131383Z""#) && line.contains(#""sessions":1,"#))
        line = line.replacingOccurrences(of: #""first_seen":"2026-11-25T13:26:14.131383Z""#, with: "\"first_seen\":\"\(firstSeen)\"")
            .replacingOccurrences(of: #""sessions":1,"#, with: "\"sessions\":\(sessions),")
            .replacingOccurrences(of: #""host":"fixture-sensor""#, with: #""host":"a""#)
        return try #require(JSONValue.parse(Array(line.utf8)))
    }

    private static func sessions(_ snapshots: [(String, Int)]) throws -> UInt64 {
        let merger = InventoryMerger()
        for (firstSeen, sessions) in snapshots {
            #expect(try merger.add(event: exposure(firstSeen: firstSeen, sessions: sessions), source: "c.log") == nil)
        }
        merger.finish()
        return merger.inventory.records.values.map { UInt64($0.sessions) }.reduce(0, +)
    }

    @Test func aLaterFirstSessionIsANewRun() throws {
        // Same run: the later snapshot holds the earlier one.
        #expect(try Self.sessions([("2026-11-25T13:26:14.131383Z", 3), ("2026-11-25T13:26:14.131383Z", 5)]) == 5)
        // Same run, a longer session ended: first_seen moved back.
        #expect(try Self.sessions([("2026-11-25T13:26:14.131383Z", 3), ("2026-11-25T13:20:00.000000Z", 5)]) == 5)
        // Restarted: the new run starts later and has already seen as many sessions.
        #expect(try Self.sessions([("2026-11-25T13:26:14.131383Z", 3), ("2026-11-25T14:00:00.000000Z", 3)]) == 6)
        #expect(try Self.sessions([("2026-11-25T13:26:14.131383Z", 3), ("2026-11-25T14:00:00.000000Z", 4),
                                   ("2026-11-25T14:00:00.000000Z", 9)]) == 12)
    }
}
