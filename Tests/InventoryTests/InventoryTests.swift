import Alerts
import Engine
import Foundation
@testable import Inventory
import MailAuth
import Reassembly
import Testing
import Wire

// The inventory fed synthetic sessions and logins: verdicts in issue 7's order, the evidence, the
// STARTTLS-stripping flags, user counting and the three renderings.

let server = IPAddress(ipv4: 0xC000_020A)        // 192.0.2.10
let client = IPAddress(ipv4: 0xC000_0201)

func flow(_ port: UInt16, at second: Int64 = 100, midstream: Bool = false) -> FlowInfo {
    FlowInfo(id: 1, client: client, clientPort: 40000, server: server, serverPort: port, vlans: VLANTags(),
             midstream: midstream, firstSeen: Timestamp(nanoseconds: second * 1_000_000_000),
             lastSeen: Timestamp(nanoseconds: (second + 1) * 1_000_000_000))
}

func facts(_ proto: MailProtocol, caps: Bool = true, starttls: Bool = false, loginDisabled: Bool = false,
           mechanisms: [String] = [], user: Bool = false, requested: Bool = false, accepted: Bool = false,
           refused: Bool = false) -> ServerFacts {
    var f = ServerFacts(proto: proto)
    f.capabilitiesSeen = caps
    f.starttlsOffered = starttls
    f.loginDisabled = loginDisabled
    f.authMechanisms = mechanisms
    f.userCommandOffered = user
    f.starttlsRequested = requested
    f.starttlsAccepted = accepted
    f.starttlsRefused = refused
    return f
}

func session(_ inv: ServerInventory, _ proto: MailProtocol, port: UInt16, _ f: ServerFacts, at second: Int64 = 100) {
    inv.sessionEnded(EndedSession(flow: flow(port, at: second), proto: proto, kind: .parsed(f),
                                  closedAt: Timestamp(nanoseconds: second * 1_000_000_000)))
}

func login(_ inv: ServerInventory, _ proto: MailProtocol, port: UInt16, user: String?, exposure: Exposure = .cleartext,
           outcome: Outcome = .success, method: String = "LOGIN", at second: Int64 = 100) {
    inv.login(Finding(proto: proto, method: method, exposure: exposure, username: user.map { Array($0.utf8) },
                      outcome: outcome, starttls: .offered, afterGap: false,
                      timeNanoseconds: second * 1_000_000_000), flow: flow(port, at: second))
}

func only(_ inv: ServerInventory) throws -> AssessedServer {
    let all = inv.assessed()
    try #require(all.count == 1)
    return all[0]
}

@Test func cleartextLoginMakesExposed() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    session(inv, .imap, port: 143, facts(.imap, starttls: true, mechanisms: ["PLAIN"]))
    login(inv, .imap, port: 143, user: "alice")
    login(inv, .imap, port: 143, user: "alice", outcome: .failure)
    login(inv, .imap, port: 143, user: "bob", outcome: .unknown)
    let s = try only(inv)
    #expect(s.assessment.verdict == .exposed)
    #expect(s.record.cleartextLogins == LoginCounts(success: 1, failure: 1, unknown: 1))
    #expect(s.record.distinctUsers == 2)
    // Names are kept only as the run shows them (mask here), never as captured.
    #expect(s.record.listedUsers == [Array("a***e".utf8), Array("b***b".utf8)])
    #expect(s.assessment.evidence.first == "3 cleartext logins (1 accepted, 1 refused, 1 without reply) by 2 distinct users: LOGIN")
    #expect(s.assessment.evidence.contains("STARTTLS advertised in 1 of 1 session with a capability list, not used before these logins"))
}

@Test func exposedBeatsEveryOtherVerdict() throws {
    // STARTTLS advertised and refused (tls_broken) and LOGINDISABLED (tls_required), but a password
    // crossed anyway: exposed, with the refusal and LOGINDISABLED in the evidence.
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    session(inv, .imap, port: 143, facts(.imap, starttls: true, loginDisabled: true, requested: true, refused: true))
    login(inv, .imap, port: 143, user: "alice", outcome: .failure)
    let s = try only(inv)
    #expect(s.assessment.verdict == .exposed)
    #expect(s.assessment.evidence.contains("the server advertises LOGINDISABLED, yet clients sent passwords before TLS"))
    #expect(s.assessment.evidence.contains("STARTTLS refused in 1 of 1 request"))
}

@Test func advertisedButRefusedIsBroken() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    session(inv, .smtp, port: 587, facts(.smtp, starttls: true, mechanisms: ["PLAIN", "LOGIN"], requested: true, refused: true))
    let s = try only(inv)
    #expect(s.assessment.verdict == .tlsBroken)
    #expect(s.assessment.evidence.first == "STARTTLS advertised in 1 of 1 session with a capability list, refused in 1 of 1 request")
    #expect(!s.assessment.strippingSuspected)
}

@Test func refusedWithoutAdvertisingIsNotBroken() throws {
    // dovecot ssl=no: STARTTLS is not advertised; a client that asks anyway is refused. The server
    // still takes plaintext logins: accepts_cleartext.
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    session(inv, .imap, port: 143, facts(.imap, mechanisms: ["PLAIN"], requested: true, refused: true))
    let s = try only(inv)
    #expect(s.assessment.verdict == .acceptsCleartext)
    #expect(s.record.plaintextOffered == ["AUTH PLAIN", "LOGIN"])
    #expect(s.assessment.evidence.contains("STARTTLS requested but refused in 1 session (not advertised)"))
}

@Test func plaintextOfferedWithoutLoginsAcceptsCleartext() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    session(inv, .pop3, port: 110, facts(.pop3, starttls: true, mechanisms: ["PLAIN", "CRAM-MD5"], user: true))
    let s = try only(inv)
    #expect(s.assessment.verdict == .acceptsCleartext)
    #expect(s.assessment.evidence.first == "plaintext login offered before TLS in 1 of 1 session with a capability list: AUTH PLAIN, USER")
}

@Test func upgradedSessionsMakeTLSOptional() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    session(inv, .smtp, port: 587, facts(.smtp, starttls: true, mechanisms: ["PLAIN"], requested: true, accepted: true))
    session(inv, .smtp, port: 587, facts(.smtp, starttls: true, mechanisms: ["PLAIN"]))
    let s = try only(inv)
    #expect(s.assessment.verdict == .tlsOptional)
    #expect(s.record.tlsSessions == 1)
    #expect(s.assessment.evidence.first == "1 of 2 sessions moved to TLS with STARTTLS; no cleartext login seen")
}

@Test func loginDisabledIsTLSRequired() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    session(inv, .imap, port: 143, facts(.imap, starttls: true, loginDisabled: true, mechanisms: ["CRAM-MD5"],
                                         requested: true, accepted: true))
    let s = try only(inv)
    #expect(s.assessment.verdict == .tlsRequired)
    #expect(s.assessment.evidence == [
        "LOGINDISABLED advertised in 1 of 1 session with a capability list",
        "no plaintext login offered before TLS (SASL mechanisms offered: CRAM-MD5)",
        "STARTTLS advertised in 1 of 1 session with a capability list; 1 session upgraded",
    ])
}

@Test func handshakeOnlyIsImplicitTLS() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    for _ in 0..<3 {
        inv.sessionEnded(EndedSession(flow: flow(993), proto: .imap, kind: .implicitTLS, closedAt: Timestamp(nanoseconds: 0)))
    }
    let s = try only(inv)
    #expect(s.assessment.verdict == .implicitTLS)
    #expect(s.record.tlsSessions == 3)
    #expect(s.assessment.evidence == ["3 sessions in TLS from the first byte (TLS handshake on port 993)"])
}

@Test func noCapabilitiesIsUnknown() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    session(inv, .pop3, port: 110, facts(.pop3, caps: false))
    let s = try only(inv)
    #expect(s.assessment.verdict == .unknown)
    #expect(s.assessment.evidence == ["no capability list seen before TLS in 1 session"])
}

/// What was `unknown` with challenge-response logins: its own verdict, the same evidence.
@Test func onlyHashedLoginsIsHashedOnly() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    session(inv, .pop3, port: 110, facts(.pop3, caps: false))
    login(inv, .pop3, port: 110, user: "carol", exposure: .hashed, method: "APOP")
    let s = try only(inv)
    #expect(s.assessment.verdict == .hashedOnly)
    #expect(s.assessment.evidence == ["no capability list seen before TLS in 1 session",
                                      "1 challenge-response login (offline-crackable digest): APOP"])
    // A capability list without STARTTLS or a plaintext login, and CRAM-MD5 logins: hashed_only too.
    let b = ServerInventory(userHashKey: nil, listUsers: false)
    session(b, .smtp, port: 25, facts(.smtp, mechanisms: ["CRAM-MD5"]))
    login(b, .smtp, port: 25, user: "dave", exposure: .hashed, method: "AUTH CRAM-MD5")
    #expect(try only(b).assessment.verdict == .hashedOnly)
    // A cleartext login still makes it exposed, and STARTTLS offered still tls_required.
    login(b, .smtp, port: 25, user: "dave", method: "AUTH PLAIN")
    #expect(try only(b).assessment.verdict == .exposed)
    let c = ServerInventory(userHashKey: nil, listUsers: false)
    session(c, .smtp, port: 587, facts(.smtp, starttls: true, mechanisms: ["CRAM-MD5"]))
    login(c, .smtp, port: 587, user: "dave", exposure: .hashed, method: "AUTH CRAM-MD5")
    #expect(try only(c).assessment.verdict == .tlsRequired)
}

@Test func strippingFlags() throws {
    // STARTTLS advertised in some sessions and not others.
    let a = ServerInventory(userHashKey: nil, listUsers: false)
    session(a, .smtp, port: 25, facts(.smtp, starttls: true, requested: true, accepted: true))
    session(a, .smtp, port: 25, facts(.smtp, starttls: false, mechanisms: ["PLAIN"]))
    let sa = try only(a)
    #expect(sa.assessment.strippingEvidence == ["STARTTLS advertised in only 1 of 2 sessions with a capability list"])
    // Refused where it is otherwise accepted.
    let b = ServerInventory(userHashKey: nil, listUsers: false)
    session(b, .imap, port: 143, facts(.imap, starttls: true, loginDisabled: true, requested: true, accepted: true))
    session(b, .imap, port: 143, facts(.imap, starttls: true, loginDisabled: true, requested: true, accepted: true))
    session(b, .imap, port: 143, facts(.imap, starttls: true, loginDisabled: true, requested: true, refused: true))
    let sb = try only(b)
    #expect(sb.assessment.verdict == .tlsBroken)
    #expect(sb.assessment.strippingEvidence == ["STARTTLS refused in 1 session but accepted in 2"])
    // Consistent servers are not flagged.
    let c = ServerInventory(userHashKey: nil, listUsers: false)
    session(c, .imap, port: 143, facts(.imap, starttls: true, mechanisms: ["PLAIN"]))
    session(c, .imap, port: 143, facts(.imap, caps: false))
    #expect(try only(c).assessment.strippingEvidence.isEmpty)
}

@Test func distinctUsersAreKeyedAndListedOnlyOnRequest() throws {
    let key = Array("0123456789abcdef0123".utf8)
    let a = ServerInventory(userHashKey: key, listUsers: false)
    let b = ServerInventory(userHashKey: key, listUsers: true)
    for inv in [a, b] {
        for name in ["alice", "bob", "alice", "ALICE"] { login(inv, .pop3, port: 110, user: name, method: "USER") }
        login(inv, .pop3, port: 110, user: nil, method: "AUTH PLAIN")
    }
    #expect(try only(a).record.distinctUsers == 3)
    #expect(try only(a).listedUsers == nil)
    #expect(try only(b).listedUsers == [Array("ALICE".utf8), Array("alice".utf8), Array("bob".utf8)])
    // Same key, same digests: two runs with --user-hash-key-file count the same users.
    #expect(try only(a).record.userDigests == only(b).record.userDigests)
    let c = ServerInventory(userHashKey: nil, listUsers: false)
    login(c, .pop3, port: 110, user: "alice", method: "USER")
    #expect(try only(c).record.userDigests.count == 1)
}

/// Reference vectors of SipHash-2-4 (the paper, appendix A, and the authors' test vectors): key
/// 00 01 .. 0f, messages 00 01 .. (n-1).
@Test(arguments: [(0, 0x726F_DB47_DD0E_0E31 as UInt64), (1, 0x74F8_39C5_93DC_67FD), (7, 0xAB02_00F5_8B01_D137),
                  (8, 0x93F5_F579_9A93_2462), (15, 0xA129_CA61_49BE_45E5), (16, 0x3F2A_CC7F_57C2_9BDB)])
func sipHashMatchesTheReferenceVectors(length: Int, expected: UInt64) {
    let hasher = SipHash24(key: (0..<16).map { UInt8($0) })
    let message = (0..<length).map { UInt8($0) }
    #expect(message.withUnsafeBytes { hasher.hash($0) } == expected)
}

@Test func randomKeysDifferBetweenRuns() throws {
    let a = ServerInventory(userHashKey: nil, listUsers: false)
    let b = ServerInventory(userHashKey: nil, listUsers: false)
    login(a, .imap, port: 143, user: "alice")
    login(b, .imap, port: 143, user: "alice")
    #expect(try only(a).record.userDigests != only(b).record.userDigests)
}

@Test func serversAreSeparatedByPortAndProtocolAndOrderedWorstFirst() {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    inv.sessionEnded(EndedSession(flow: flow(993), proto: .imap, kind: .implicitTLS, closedAt: Timestamp(nanoseconds: 0)))
    session(inv, .imap, port: 143, facts(.imap, starttls: true, mechanisms: ["PLAIN"]))
    login(inv, .pop3, port: 110, user: "x", method: "USER")
    let order = inv.assessed().map { "\($0.record.key.port) \($0.assessment.verdict.rawValue)" }
    #expect(order == ["110 exposed", "143 accepts_cleartext", "993 implicit_tls"])
}

@Test func serverCountIsBounded() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    for i in 0..<(ServerInventory.maxServers + 10) {
        var f = flow(UInt16(1 + i % 60_000))
        f.server = IPAddress(ipv4: 0x0A00_0000 + UInt32(i / 60_000))
        inv.sessionEnded(EndedSession(flow: f, proto: .imap, kind: .implicitTLS, closedAt: Timestamp(nanoseconds: 0)))
    }
    #expect(inv.records.count == ServerInventory.maxServers)
    #expect(inv.untrackedEvents == 10)
    let report = try JSONSerialization.jsonObject(with: Data(inv.reportJSON(generator: "t"))) as? [String: Any]
    #expect((report?["summary"] as? [String: Any])?["untracked_events"] as? Int == 10)
}

@Test func histogramStaysBoundedAndKeepsCounts() {
    var h = TimeHistogram()
    var total: UInt64 = 0
    for i in stride(from: Int64(0), to: 86_400 * 3, by: 7) {
        h.add(Timestamp(nanoseconds: 1_700_000_000_000_000_000 + i * 1_000_000_000), exposure: i % 2 == 0 ? .cleartext : .hashed)
        total += 1
    }
    #expect(h.buckets.count <= TimeHistogram.maxBuckets)
    #expect(h.series.count <= TimeHistogram.maxBuckets)
    #expect(h.series.reduce(0) { $0 + $1.cleartext + $1.hashed } == total)
    #expect(h.widthNanoseconds > 1_000_000_000)
}

@Test func jsonRenderingsParseAndCarryTheContractFields() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: true)
    var f = facts(.smtp, starttls: true, mechanisms: ["PLAIN"])
    f.greeting = Array("220 mail \"quoted\" \u{1}ESMTP Exim 4.96".utf8)
    f.product = "Exim"
    f.version = "4.96"
    session(inv, .smtp, port: 25, f)
    login(inv, .smtp, port: 25, user: "erin\u{7}", method: "AUTH PLAIN")
    let report = try JSONSerialization.jsonObject(with: Data(inv.reportJSON(generator: "plainsight test"))) as? [String: Any]
    let servers = try #require(report?["servers"] as? [[String: Any]])
    #expect(servers.count == 1)
    let s = servers[0]
    for key in ["dest_ip", "dest_port", "app_proto", "verdict", "evidence", "starttls_offered", "logindisabled",
                "cleartext_logins", "hashed_logins", "tls_sessions", "starttls_refused"] {
        #expect(s[key] != nil, "missing \(key)")
    }
    #expect(s["dest_ip"] as? String == "192.0.2.10")
    #expect(s["verdict"] as? String == "exposed")
    #expect(s["product"] as? String == "Exim")
    #expect(s["greeting"] as? String == "220 mail \"quoted\" \u{1}ESMTP Exim 4.96")
    #expect(s["users"] as? [String] == ["erin\u{7}"])
    let summary = try #require(report?["summary"] as? [String: Any])
    #expect((summary["verdicts"] as? [String: Int])?["exposed"] == 1)

    let events = inv.exposureEvents(time: Timestamp(nanoseconds: 0))
    #expect(events.count == 1)
    let line = try #require(events.first)
    #expect(!line.contains(0x0A), "one event per line")
    let event = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
    #expect(event?["event_type"] as? String == "server_exposure")
    #expect(event?["app_proto"] as? String == "smtp")
    #expect((event?["server_exposure"] as? [String: Any])?["cleartext_logins"] as? Int == 1)
    #expect(String(decoding: line, as: UTF8.self).hasPrefix(#"{"timestamp":"1970-01-01T00:00:00.000000Z","event_type":"server_exposure","dest_ip":"192.0.2.10","dest_port":25,"proto":"TCP","app_proto":"smtp","server_exposure":{"verdict":"exposed","#))
}

@Test func htmlIsSelfContainedAndEscaped() {
    let inv = ServerInventory(userHashKey: nil, listUsers: true)
    var f = facts(.imap, starttls: true, mechanisms: ["PLAIN"])
    f.greeting = Array("* OK <script>alert(1)</script> ready".utf8)
    session(inv, .imap, port: 143, f)
    login(inv, .imap, port: 143, user: "<img src=x onerror=alert(1)>")
    let html = inv.reportHTML(generator: "plainsight test")
    #expect(!html.contains("<script>alert"))
    #expect(!html.contains("<img"))
    #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
    // No external asset: no tag loads anything (the SVG namespace is a name, not a fetch), and the
    // style sheet imports nothing.
    let tags = (try? NSRegularExpression(pattern: "<[a-zA-Z][^>]*>"))?
        .matches(in: html, range: NSRange(html.startIndex..., in: html))
        .compactMap { Range($0.range, in: html).map { html[$0].lowercased() } } ?? []
    #expect(tags.count > 100)
    for tag in tags {
        #expect(!tag.contains(" src=") && !tag.contains(" href=") && !tag.hasPrefix("<link") && !tag.hasPrefix("<iframe"), "\(tag)")
    }
    #expect(!html.contains("url(") && !html.contains("@import"))
    #expect(html.contains("<svg id=\"chart-protocols\""))
    #expect(html.contains("<svg id=\"chart-timeline\""))
    #expect(html.contains("<table id=\"servers\">"))
}

@Test func terminalTableListsEveryServer() {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    login(inv, .pop3, port: 110, user: "x", method: "USER")
    inv.sessionEnded(EndedSession(flow: flow(993), proto: .imap, kind: .implicitTLS, closedAt: Timestamp(nanoseconds: 0)))
    let text = inv.terminalTable()
    #expect(text.contains("\n  192.0.2.10:110 pop3  exposed          1      0     1   0\n"))
    #expect(text.contains("\n  192.0.2.10:993 imap  implicit_tls     0      0     0   1\n"))
}

/// The client end of `flow(_:)` with another port, for the Community ID evidence.
private func flow(_ port: UInt16, clientPort: UInt16) -> FlowInfo {
    var f = flow(port)
    f.clientPort = clientPort
    return f
}

@Test func exposureEventNamesOneConnectionByCommunityID() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    // A session without a login first, then a hashed login, then a cleartext one: the cleartext
    // login's connection is the evidence named.
    inv.sessionEnded(EndedSession(flow: flow(143, clientPort: 40001), proto: .imap, kind: .parsed(facts(.imap)),
                                  closedAt: Timestamp(nanoseconds: 0)))
    inv.login(Finding(proto: .imap, method: "AUTHENTICATE CRAM-MD5", exposure: .hashed, username: nil, outcome: .success,
                      starttls: .offered, afterGap: false, timeNanoseconds: 0), flow: flow(143, clientPort: 40002))
    inv.login(Finding(proto: .imap, method: "LOGIN", exposure: .cleartext, username: nil, outcome: .success,
                      starttls: .offered, afterGap: false, timeNanoseconds: 0), flow: flow(143, clientPort: 40003))
    inv.login(Finding(proto: .imap, method: "LOGIN", exposure: .cleartext, username: nil, outcome: .success,
                      starttls: .offered, afterGap: false, timeNanoseconds: 0), flow: flow(143, clientPort: 40004))
    for seed: UInt16 in [0, 1] {
        let id = CommunityID(seed: seed)
        let line = try #require(inv.exposureEvents(time: Timestamp(nanoseconds: 0), communityID: id).first)
        let event = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        let expected = id.string(source: client, sourcePort: 40003, destination: server, destinationPort: 143)
        #expect(event["community_id"] as? String == expected)
        #expect(expected?.hasPrefix("1:") == true)
        // After every earlier key: the event ends with it.
        #expect(String(decoding: line, as: UTF8.self).hasSuffix(#","community_id":"\#(expected ?? "")"}"#))
    }
    // A server seen only in a session without a login: that session's connection.
    let quiet = ServerInventory(userHashKey: nil, listUsers: false)
    quiet.sessionEnded(EndedSession(flow: flow(110, clientPort: 40005), proto: .pop3, kind: .parsed(facts(.pop3)),
                                    closedAt: Timestamp(nanoseconds: 0)))
    let line = try #require(quiet.exposureEvents(time: Timestamp(nanoseconds: 0)).first)
    let event = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
    #expect(event["community_id"] as? String
            == CommunityID().string(source: client, sourcePort: 40005, destination: server, destinationPort: 110))
}
