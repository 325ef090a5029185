import Alerts
import Foundation
@testable import Inventory
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

    @Test func policiesAndKeysAreNotMixed() throws {
        let merger = InventoryMerger()
        #expect(try merger.add(event: session(host: "a", start: 100), source: "one.jsonl") == nil)
        var masked = try session(host: "b", start: 500)
        if case .object(var members) = masked, let i = members.firstIndex(where: { $0.0 == "mail_session" }),
           case .object(var body) = members[i].1, let j = body.firstIndex(where: { $0.0 == "user_policy" }) {
            body[j].1 = .string("mask")
            members[i].1 = .object(body)
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
        #expect(try merger.add(event: .object([("event_type", .string("alert"))]), source: "t") == .foreign)
        #expect(try merger.add(event: .object([("x", .int(1))]), source: "t") == .foreign)
        let broken = try #require(JSONValue.parse(Array(#"{"event_type":"mail_session","src_ip":"x"}"#.utf8)))
        #expect(try merger.add(event: broken, source: "t") == .malformed("mail_session without its flow"))
        let exposure = try #require(JSONValue.parse(Array(#"{"event_type":"server_exposure","dest_ip":"192.0.2.1","dest_port":25,"app_proto":"smtp","server_exposure":{"sessions":1}}"#.utf8)))
        #expect(try merger.add(event: exposure, source: "t") == .malformed("no count 'cleartext_sessions'"))
    }
}
