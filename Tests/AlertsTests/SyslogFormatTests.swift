@testable import Alerts
import Foundation
import MailAuth
import Testing
import Wire

@Suite("Syslog targets and message format")
struct SyslogFormatTests {
    // MARK: targets

    @Test("target syntax", arguments: [
        ("/dev/log", SyslogTarget.local(path: "/dev/log")),
        ("unix:///run/rsyslog/plainsight.sock", .unix(path: "/run/rsyslog/plainsight.sock")),
        ("udp://192.0.2.5:514", .udp(host: "192.0.2.5", port: 514)),
        ("tcp://collector.example:6514", .tcp(host: "collector.example", port: 6514)),
        ("tcp://[2001:db8::5]:601", .tcp(host: "2001:db8::5", port: 601)),
        ("udp://localhost:65535", .udp(host: "localhost", port: 65535)),
        ("tls://collector.example:6514", .tls(host: "collector.example", port: 6514)),
        ("tls://[2001:db8::5]:6514", .tls(host: "2001:db8::5", port: 6514)),
    ])
    func parses(_ text: String, _ expected: SyslogTarget) throws {
        #expect(try SyslogTarget(parsing: text) == expected)
        #expect(try SyslogTarget(parsing: text).description == text)
    }

    @Test("bad targets are refused with a reason", arguments: [
        ("udp://nohost:99999", "port '99999' is not a number from 1 to 65535"),
        ("udp://nohost:0", "port '0'"),
        ("udp://nohost", "expected HOST:PORT"),
        ("tcp://:514", "no host name"),
        ("tcp://2001:db8::5:514", "brackets"),
        ("tcp://[2001:db8::5:514", "missing ']'"),
        ("tls://collector.example", "expected HOST:PORT"),
        ("unix://relative.sock", "absolute path"),
        ("ftp://192.0.2.5:21", "unknown kind of target"),
        ("syslog.example", "unknown kind of target"),
        ("udp://a b:514", "name or an address"),
        ("/" + String(repeating: "x", count: 120), "at most 107 bytes"),
    ])
    func refuses(_ text: String, _ reason: String) {
        #expect {
            try SyslogTarget(parsing: text)
        } throws: { error in
            (error as? SyslogTargetError)?.message.contains(reason) == true
        }
    }

    @Test func wordsAfterABareSyslogFlag() {
        for target in ["/dev/log", "unix:///x", "udp://h:1", "tcp://h:1", "tls://h:6514", "udp:/typo"] {
            #expect(SyslogTarget.looksLikeTarget(target), "\(target)")
        }
        for word in ["host", "192.0.2.10", "fe80::1", "ether", "aa:bb:cc:dd:ee:ff", "port", "-r", ""] {
            #expect(!SyslogTarget.looksLikeTarget(word), "\(word)")
        }
    }

    // MARK: severity

    @Test func severityRanksAWorkingCleartextPasswordHighest() {
        func severity(_ exposure: Exposure, _ outcome: Outcome) -> SyslogSeverity {
            .of(makeFinding(exposure: exposure, outcome: outcome))
        }
        #expect(severity(.cleartext, .success) == .critical)
        #expect(severity(.cleartext, .unknown) == .error)
        #expect(severity(.cleartext, .failure) == .warning)
        #expect(severity(.hashed, .success) == .warning)
        #expect(severity(.hashed, .unknown) == .notice)
        #expect(severity(.hashed, .failure) == .notice)
        for exposure in [Exposure.cleartext, .hashed] {
            for outcome in [Outcome.unknown, .failure] {
                #expect(severity(.cleartext, .success) < severity(exposure, outcome))
            }
        }
    }

    // MARK: RFC 5424

    private let formatter = SyslogFormatter(facility: .authpriv, userPolicy: .full, hostname: "sensor-1", procID: 4242)

    @Test func rfc5424Layout() throws {
        let alert = makeAlert(vlans: [100, 200])
        var out: [UInt8] = []
        formatter.appendRFC5424(alert, time: sampleTime, to: &out)
        let text = String(decoding: out, as: UTF8.self)
        // authpriv (10) * 8 + critical (2) = 82; then the header fields, the SD element in JSON
        // order, and the human line.
        #expect(text.hasPrefix(#"<82>1 2026-01-04T10:00:00.123456Z sensor-1 plainsight 4242 cleartext_auth "#
            + #"[plainsight@32473 timestamp="2026-01-04T10:00:00.123456Z" event_type="cleartext_auth" flow_id="7" "#
            + #"src_ip="198.51.100.7" src_port="51234" dest_ip="192.0.2.10" dest_port="143" vlan="100,200" proto="TCP" "#
            + #"app_proto="imap" auth.method="LOGIN" auth.exposure="cleartext" auth.username="alice" auth.secret="redacted" "#))
        #expect(text.hasSuffix("] " + AlertRenderer(userPolicy: .full).text(alert)))
        // Every JSON field is a parameter, and nothing else is.
        let parameters = try #require(parseStructuredData(text))
        #expect(parameters == (try flattenedJSON(AlertRenderer(userPolicy: .full, sensor: "sensor-1").json(alert))))
        #expect(parameters["auth.after_gap"] == "false" && parameters["auth.midstream"] == "false")
        // The sensor name is the HOSTNAME field and the last parameter, as `host` is the last JSON key.
        #expect(parameters["host"] == "sensor-1")
        #expect(text.contains(#" auth.overlap_conflict="false" host="sensor-1"] "#))
    }

    @Test func omittedUsernameLeavesTheParameterOut() {
        let omitting = SyslogFormatter(facility: .local3, userPolicy: .omit, hostname: "h", procID: 1)
        var out: [UInt8] = []
        omitting.appendRFC5424(makeAlert(finding: makeFinding(exposure: .hashed, outcome: .failure)), time: sampleTime, to: &out)
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.hasPrefix("<157>1 "))                 // local3 (19) * 8 + notice (5)
        #expect(!text.contains("username"))
        #expect(text.contains(#"auth.secret="redacted""#))
    }

    @Test("PARAM-VALUE escaping: \", \\ and ] get a backslash; controls and bad UTF-8 become text")
    func structuredDataEscaping() throws {
        let hostile: [UInt8] = Array(#"a"b\c]d"#.utf8) + [0x01, 0x0A, 0xFF] + Array("é]".utf8) + [0xE2, 0x80, 0xAE]
        var out: [UInt8] = []
        formatter.appendRFC5424(makeAlert(finding: makeFinding(username: hostile)), time: sampleTime, to: &out)
        #expect(!out.contains(0x0A) && !out.contains(0x01) && !out.contains(0xFF))
        let text = String(decoding: out, as: UTF8.self)
        let value = #"a\"b\\c\]d\u0001\u000a\\xffé\]\u202e"#
        #expect(text.contains(#"auth.username=""# + value + #"""#))
        // A strict RFC 5424 SD parser reads the element back whole, with the value decoded.
        let parameters = try #require(parseStructuredData(text))
        #expect(parameters["auth.username"] == #"a"b\c]d\u0001\u000a\xffé]\u202e"#)
        #expect(parameters.count == (try flattenedJSON(AlertRenderer(sensor: "sensor-1").json(makeAlert()))).count)
    }

    @Test func statsMessageCarriesTopLevelCountersAndTheJSON() {
        var out: [UInt8] = []
        let fields = [StatField("packets", 82), StatField("alerts", 4),
                      StatField("outputs", .object([StatField("queue", .object([StatField("dropped", 0)]))]))]
        formatter.appendRFC5424Stats(fields, eventTime: sampleTime, dropped: false, time: sampleTime, to: &out)
        let text = String(decoding: out, as: UTF8.self)
        #expect(text == #"<86>1 2026-01-04T10:00:00.123456Z sensor-1 plainsight 4242 stats [plainsight@32473 "#
            + #"timestamp="2026-01-04T10:00:00.123456Z" event_type="stats" packets="82" alerts="4"] "#
            + AlertRenderer.statsJSON(fields, time: sampleTime, sensor: "sensor-1"))
        #expect(text.hasSuffix(#"}},"host":"sensor-1"}"#))
    }

    @Test func hostnameIsPrintableASCII() {
        #expect(SyslogFormatter(facility: .user, userPolicy: .mask, hostname: "a b\u{1}c", procID: 1).hostname == "abc")
        #expect(SyslogFormatter(facility: .user, userPolicy: .mask, hostname: "", procID: 1).hostname == "-")
    }

    // MARK: BSD (local socket)

    @Test func bsdFormatIsWhatSyslog3Sends() throws {
        var out: [UInt8] = []
        formatter.appendBSD(makeAlert(), time: sampleTime, to: &out)
        let text = String(decoding: out, as: UTF8.self)
        // <PRI>Mmm dd hh:mm:ss plainsight[PID]: LINE  (local time, day padded with a space)
        let pattern = #/^<82>[A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] plainsight\[4242\]: (.*)$/#
        let match = try #require(text.wholeMatch(of: pattern))
        #expect(String(match.1) == AlertRenderer(userPolicy: .full).text(makeAlert()))
    }
}

/// A strict parser for one SD-ELEMENT `[plainsight@32473 name="value" ...]` inside an RFC 5424
/// message (RFC 5424 section 6.3): returns the parameters with `\"`, `\\` and `\]` decoded, or nil
/// if the element is malformed (an unescaped `"` or `]` inside a value, a bad name).
func parseStructuredData(_ message: String) -> [String: String]? {
    guard let start = message.range(of: "[plainsight@32473") else { return nil }
    let chars = Array(message[start.upperBound...].unicodeScalars)
    var index = 0
    var result: [String: String] = [:]
    while index < chars.count {
        if chars[index] == "]" { return result }
        guard chars[index] == " " else { return nil }
        index += 1
        var name = ""
        while index < chars.count, chars[index] != "=" {
            let c = chars[index]
            guard c.value > 0x20, c.value < 0x7F, c != "]", c != "\"", c != " " else { return nil }
            name.unicodeScalars.append(c)
            index += 1
        }
        guard !name.isEmpty, name.count <= 32, index + 1 < chars.count, chars[index + 1] == "\"" else { return nil }
        index += 2
        var value = ""
        while true {
            guard index < chars.count else { return nil }
            let c = chars[index]
            if c == "\\", index + 1 < chars.count, ["\"", "\\", "]"].contains(chars[index + 1]) {
                value.unicodeScalars.append(chars[index + 1])
                index += 2
            } else if c == "\"" {
                index += 1
                break
            } else if c == "]" {
                return nil
            } else {
                value.unicodeScalars.append(c)
                index += 1
            }
        }
        result[name] = value
    }
    return nil
}

/// A JSON object's leaves as `name` / `outer.inner` -> text (arrays comma-separated, booleans
/// `true`/`false`), parsed with JSONDecoder, which keeps booleans apart from numbers.
func flattenedJSON(_ line: String) throws -> [String: String] {
    func flatten(_ value: JSONValue, _ name: String, into result: inout [String: String]) {
        switch value {
        case .object(let members): for (key, member) in members { flatten(member, name.isEmpty ? key : name + "." + key, into: &result) }
        case .array(let items): result[name] = items.map(\.text).joined(separator: ",")
        default: result[name] = value.text
        }
    }
    var result: [String: String] = [:]
    flatten(try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)), "", into: &result)
    return result
}

indirect enum JSONValue: Decodable {
    case string(String), bool(Bool), integer(Int64), null
    case array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        if var list = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !list.isAtEnd { items.append(try list.decode(JSONValue.self)) }
            self = .array(items)
        } else if let keyed = try? decoder.container(keyedBy: AnyKey.self) {
            var members: [String: JSONValue] = [:]
            for key in keyed.allKeys { members[key.stringValue] = try keyed.decode(JSONValue.self, forKey: key) }
            self = .object(members)
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() { self = .null }
            else if let value = try? single.decode(Bool.self) { self = .bool(value) }
            else if let value = try? single.decode(Int64.self) { self = .integer(value) }
            else { self = .string(try single.decode(String.self)) }
        }
    }

    var text: String {
        switch self {
        case .string(let value): return value
        case .bool(let value): return value ? "true" : "false"
        case .integer(let value): return String(value)
        case .null: return "null"
        case .array, .object: return ""
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

@Suite("Syslog: other JSON events")
struct SyslogEventTests {
    @Test func otherEventsBecomeMessagesWithTheirOwnMsgid() throws {
        let formatter = SyslogFormatter(facility: .authpriv, userPolicy: .mask, hostname: "h", procID: 9)
        let json = Array(#"{"timestamp":"2026-01-04T10:00:00.123456Z","event_type":"server_exposure","dest_port":25,"#.utf8)
            + Array(#""server_exposure":{"verdict":"exposed","evidence":["a, b","c]d \"e\""],"#.utf8)
            + Array(#""a_name_that_is_much_longer_than_thirty_two":1,"ok":true}}"#.utf8)
        var out: [UInt8] = []
        #expect(formatter.appendRFC5424Event(json, time: sampleTime, to: &out))
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.hasPrefix("<85>1 2026-01-04T10:00:00.123456Z h plainsight 9 server_exposure [plainsight@32473 "))
        // The event's JSON gains `host` (the sensor) as its last top-level key.
        #expect(text.hasSuffix("] " + String(decoding: json.dropLast(), as: UTF8.self) + #","host":"h"}"#))
        let parameters = try #require(parseStructuredData(text))
        #expect(parameters == ["timestamp": "2026-01-04T10:00:00.123456Z", "event_type": "server_exposure", "dest_port": "25",
                               "server_exposure.verdict": "exposed", "server_exposure.evidence": "a, b,c]d \"e\"",
                               "server_exposure.ok": "true", "host": "h"])
        var none: [UInt8] = []
        #expect(!formatter.appendRFC5424Event(Array(#"{"x":1}"#.utf8), time: sampleTime, to: &none) && none.isEmpty)
    }

    /// A mail_session's `logins` (issue 20) is a list of objects: no flat form, so it is left to the
    /// JSON message, and the fields around it stay well-formed parameters (it once wrote its
    /// objects' quotes unescaped into the structured data).
    @Test func arraysOfObjectsAreLeftToTheMessage() throws {
        let formatter = SyslogFormatter(facility: .authpriv, userPolicy: .mask, hostname: "h", procID: 9)
        let json = Array(#"{"timestamp":"2026-01-04T10:00:00.123456Z","event_type":"mail_session","#.utf8)
            + Array(#""mail_session":{"midstream":false,"logins":[{"method":"USER","username":"a]\"{b"},{"method":"LOGIN"}],"#.utf8)
            + Array(#""nested":[[1,2],[3]],"user_policy":"mask"},"community_id":"1:x"}"#.utf8)
        var out: [UInt8] = []
        #expect(formatter.appendRFC5424Event(json, time: sampleTime, to: &out))
        let text = String(decoding: out, as: UTF8.self)
        let parameters = try #require(parseStructuredData(text))
        #expect(parameters == ["timestamp": "2026-01-04T10:00:00.123456Z", "event_type": "mail_session",
                               "mail_session.midstream": "false", "mail_session.user_policy": "mask",
                               "community_id": "1:x", "host": "h"])
        #expect(text.hasSuffix("] " + String(decoding: json.dropLast(), as: UTF8.self) + #","host":"h"}"#))
    }
}
