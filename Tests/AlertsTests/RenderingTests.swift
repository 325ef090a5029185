import Alerts
import Foundation
import MailAuth
import Testing
import Wire

@Suite("JSON rendering")
struct JSONRenderingTests {
    @Test func ipv4Mask() {
        let line = AlertRenderer().json(makeAlert())
        #expect(line == #"{"timestamp":"2026-01-04T10:00:00.123456Z","event_type":"cleartext_auth","flow_id":7,"src_ip":"198.51.100.7","src_port":51234,"dest_ip":"192.0.2.10","dest_port":143,"proto":"TCP","app_proto":"imap","auth":{"method":"LOGIN","exposure":"cleartext","username":"a***e","secret":"redacted","outcome":"success","starttls":"not_offered","after_gap":false,"midstream":false,"overlap_conflict":false}}"#)
    }

    @Test func ipv6Flags() {
        let finding = makeFinding(proto: .pop3, method: "APOP", exposure: .hashed, outcome: .unknown,
                                  starttls: .refused, afterGap: true)
        let line = AlertRenderer().json(makeAlert(finding: finding, v6: true, midstream: true, flowID: 123_456_789_012))
        #expect(line == #"{"timestamp":"2026-01-04T10:00:00.123456Z","event_type":"cleartext_auth","flow_id":123456789012,"src_ip":"2001:db8::7","src_port":51234,"dest_ip":"2001:db8::10","dest_port":110,"proto":"TCP","app_proto":"pop3","auth":{"method":"APOP","exposure":"hashed","username":"a***e","secret":"redacted","outcome":"unknown","starttls":"refused","after_gap":true,"midstream":true,"overlap_conflict":false}}"#)
    }

    @Test func vlanTags() {
        let one = AlertRenderer().json(makeAlert(vlans: [100]))
        #expect(one.contains(#""dest_port":143,"vlan":[100],"proto":"TCP""#))
        let two = AlertRenderer().json(makeAlert(vlans: [100, 4094]))
        #expect(two.contains(#""dest_port":143,"vlan":[100,4094],"proto":"TCP""#))
        let none = AlertRenderer().json(makeAlert())
        #expect(!none.contains("vlan"))
    }

    @Test func policies() throws {
        let full = AlertRenderer(userPolicy: .full).json(makeAlert())
        #expect(full.contains(#""exposure":"cleartext","username":"alice","secret":"redacted""#))
        let hashed = AlertRenderer(userPolicy: .hash(key: testKey)).json(makeAlert())
        #expect(hashed.contains(#""username":"0c251f7a63b39990a690f1a3e361bc56","secret""#))
        let omitted = AlertRenderer(userPolicy: .omit).json(makeAlert())
        #expect(omitted.contains(#""exposure":"cleartext","secret":"redacted""#))
        #expect(!omitted.contains("username"))
    }

    @Test(arguments: [UserPolicy.mask, .full, .hash(key: testKey), .omit])
    func noUsernameMeansNoField(policy: UserPolicy) {
        let line = AlertRenderer(userPolicy: policy).json(makeAlert(finding: makeFinding(username: nil)))
        #expect(!line.contains("username"))
        #expect(line.contains(#""exposure":"cleartext","secret":"redacted""#))
    }

    @Test func escaping() throws {
        // `"`, `\`, LF, SOH, a stray 0xFF, then a valid é.
        let name: [UInt8] = Array("a\"b\\c\n\u{1}".utf8) + [0xFF] + Array("é".utf8)
        let line = AlertRenderer(userPolicy: .full).json(makeAlert(finding: makeFinding(username: name)))
        #expect(line.contains(#""username":"a\"b\\c\u000a\u0001\\xffé","secret""#))
        let auth = try #require(try parseJSON(line)["auth"] as? [String: Any])
        #expect(auth["username"] as? String == "a\"b\\c\n\u{1}\\xffé")
    }

    @Test func methodIsEscapedToo() throws {
        let finding = makeFinding(method: "AUTH X\r\n{\"forged\":1}")
        let line = AlertRenderer().json(makeAlert(finding: finding))
        #expect(line.contains(#""method":"AUTH X\u000d\u000a{\"forged\":1}""#))
        #expect(!line.contains("\n"))
        _ = try parseJSON(line)
    }

    @Test("--sensor: host is appended as the last key; every other key keeps its place and value")
    func sensorIsTheLastKey() throws {
        let plain = AlertRenderer().json(makeAlert(vlans: [100]))
        let tagged = AlertRenderer(sensor: "span-a\"1").json(makeAlert(vlans: [100]))
        #expect(tagged == String(plain.dropLast()) + #","host":"span-a\"1"}"#)
        _ = try parseJSON(tagged)
        let fields = [StatField("packets", 10)]
        #expect(AlertRenderer.statsJSON(fields, time: sampleTime, sensor: "s1")
            == String(AlertRenderer.statsJSON(fields, time: sampleTime).dropLast()) + #","host":"s1"}"#)
        var event: [UInt8] = []
        AlertRenderer.appendEvent(Array(#"{"event_type":"server_exposure","x":{"y":1}}"#.utf8), sensor: "s1", to: &event)
        #expect(String(decoding: event, as: UTF8.self) == #"{"event_type":"server_exposure","x":{"y":1},"host":"s1"}"#)
        var untouched: [UInt8] = []
        AlertRenderer.appendEvent(Array(#"{"a":1}"#.utf8), sensor: nil, to: &untouched)
        #expect(String(decoding: untouched, as: UTF8.self) == #"{"a":1}"#)
    }

    @Test func statsEvent() throws {
        let fields = [StatField("packets", 10), StatField("decode_errors", .object([StatField("ipv4", 1), StatField("tcp", 0)])),
                      StatField("alerts", 2)]
        let line = AlertRenderer.statsJSON(fields, time: sampleTime)
        #expect(line == #"{"timestamp":"2026-01-04T10:00:00.123456Z","event_type":"stats","stats":{"packets":10,"decode_errors":{"ipv4":1,"tcp":0},"alerts":2}}"#)
        _ = try parseJSON(line)
    }

    /// `--workers`: per-worker counters as an array of objects (and an empty array stays valid JSON).
    @Test func statsEventWithArray() throws {
        let worker: (UInt64) -> StatValue = { .object([StatField("worker", $0), StatField("packets", 5 * $0)]) }
        let fields = [StatField("packets", 15), StatField("workers", .array([worker(1), worker(2)])),
                      StatField("none", .array([])), StatField("counts", .array([.count(1), .count(2)]))]
        let line = AlertRenderer.statsJSON(fields, time: sampleTime, sensor: "s1")
        #expect(line == #"{"timestamp":"2026-01-04T10:00:00.123456Z","event_type":"stats","stats":{"packets":15,"workers":[{"worker":1,"packets":5},{"worker":2,"packets":10}],"none":[],"counts":[1,2]},"host":"s1"}"#)
        _ = try parseJSON(line)
    }
}

@Suite("Text rendering")
struct TextRenderingTests {
    @Test func ipv4() {
        let line = AlertRenderer().text(makeAlert())
        #expect(line == "2026-01-04T10:00:00.123456Z imap LOGIN cleartext user=a***e 198.51.100.7:51234 -> 192.0.2.10:143 outcome=success starttls=not_offered")
    }

    @Test func ipv6VLANFlags() {
        let finding = makeFinding(proto: .pop3, method: "AUTH CRAM-MD5", exposure: .hashed, outcome: .failure,
                                  starttls: .offered, afterGap: true)
        let line = AlertRenderer(userPolicy: .omit).text(makeAlert(finding: finding, v6: true, vlans: [10, 20], midstream: true))
        #expect(line == "2026-01-04T10:00:00.123456Z pop3 AUTH CRAM-MD5 hashed [2001:db8::7]:51234 -> [2001:db8::10]:110 vlan=10,20 outcome=failure starttls=offered [after-gap] [midstream]")
    }

    @Test func controlCharactersEscaped() {
        let name: [UInt8] = Array("ev\u{1B}[2Jil\r\nfake line".utf8) + [0xC0]
        let line = AlertRenderer(userPolicy: .full).text(makeAlert(finding: makeFinding(username: name)))
        #expect(line.contains(#"user=ev\u001b[2Jil\u000d\u000afake line\\xc0 "#))
        #expect(!line.utf8.contains { $0 < 0x20 })
    }
}
