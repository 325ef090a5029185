import Alerts
import Engine
import Foundation
@testable import Inventory
import MailAuth
import Reassembly
import Testing
import Wire

// The inventory's own writers of addresses and times must print exactly what `IPAddress.description`
// and `Timestamp.rfc3339` print (the JSON schema is a contract), and its cache of recent servers
// must never change which record an event lands in.

private func written(_ body: (inout JSONWriter) -> Void) -> String {
    var w = JSONWriter()
    body(&w)
    return String(decoding: w.bytes(), as: UTF8.self)
}

@Test func addressesAreWrittenAsDescriptionPrintsThem() {
    var addresses: [IPAddress] = [
        IPAddress(ipv4: 0), IPAddress(ipv4: 0xFFFF_FFFF), IPAddress(ipv4: 0xC000_020A), IPAddress(ipv4: 0x0A00_6401),
        IPAddress(ipv6High: 0, low: 0), IPAddress(ipv6High: 0, low: 1), IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 1),
        IPAddress(ipv6High: 0, low: 0xFFFF_C000_020A), IPAddress(ipv6High: 0, low: 0x1_C000_020A),
        IPAddress(ipv6High: 0x2001_0DB8_0000_0001, low: 0x0000_0000_0001_0000),
        IPAddress(ipv6High: 0x2001_0000_0000_0001, low: 0x0000_0001_0000_0000),
        IPAddress(ipv6High: 0xFE80_0000_0000_0000, low: 0x0200_5EFF_FE00_5301),
        IPAddress(ipv6High: 0xFFFF_FFFF_FFFF_FFFF, low: 0xFFFF_FFFF_FFFF_FFFF),
        IPAddress(ipv6High: 0x0001_0000_0001_0000, low: 0x0001_0000_0001_0000),
    ]
    var random = SystemRandomNumberGenerator()
    for _ in 0..<2_000 {
        addresses.append(IPAddress(ipv4: random.next()))
        // Groups drawn from a few values, so zero runs of every length and place come up.
        var words: (UInt64, UInt64) = (0, 0)
        for i in 0..<8 {
            let group: UInt64 = [0, 0, 0, 1, 0xABCD, 0x0F00][Int.random(in: 0..<6, using: &random)]
            if i < 4 { words.0 = words.0 << 16 | group } else { words.1 = words.1 << 16 | group }
        }
        addresses.append(IPAddress(ipv6High: words.0, low: words.1))
    }
    for a in addresses {
        #expect(written { $0.address(a) } == "\"\(a.description)\"")
    }
}

@Test func timesAreWrittenAsRFC3339PrintsThem() {
    var times: [Int64] = [0, -1, 1, 999, 1_000, 86_399_999_999_999, 86_400_000_000_000, -86_400_000_000_000,
                          -86_400_000_000_001, 1_767_520_800_123_456_789, 951_782_400_000_000_000, .max, .min]
    var random = SystemRandomNumberGenerator()
    for _ in 0..<2_000 { times.append(Int64(truncatingIfNeeded: random.next() as UInt64)) }
    // Many times in a few days, as a capture has them, through one writer.
    for _ in 0..<2_000 { times.append(1_767_520_800_000_000_000 + Int64.random(in: -200_000_000_000_000...200_000_000_000_000)) }
    // Runs of times in the same minute and across minute boundaries, after and before 1970: the
    // writer patches the seconds and fraction of the minute it formatted last.
    for base in [1_767_520_800_000_000_000 as Int64, -1_767_520_800_000_000_000, 0] {
        for _ in 0..<500 { times.append(base + Int64.random(in: -150_000_000_000...150_000_000_000)) }
        for step in stride(from: -61_000_000_000 as Int64, through: 61_000_000_000, by: 999_999_999) { times.append(base + step) }
    }
    var w = JSONWriter()
    for t in times {
        w.time(Timestamp(nanoseconds: t))
        #expect(String(decoding: w.take(), as: UTF8.self) == "\"\(Timestamp(nanoseconds: t).rfc3339)\"")
    }
}

@Test func escapedAndPlainStringsAreWrittenAsTheEscaperWritesThem() {
    let samples: [[UInt8]] = [[], Array("plain text 123".utf8), [0x22], [0x5C], [0x7F], [0x1F], [0xC3, 0xA9],
                              [0xFF, 0x41], Array("220 mail.example.net ESMTP \"quoted\" \\ and\ttab".utf8)]
    for bytes in samples {
        var escaped: [UInt8] = []
        OutputEscaping.append(bytes, to: &escaped)
        #expect(written { $0.string(bytes) } == "\"" + String(decoding: escaped, as: UTF8.self) + "\"")
    }
}

@Test func recentServerCacheKeepsEveryServerApart() throws {
    // More servers than the cache starts with, IPv4 and IPv6 with the same low word, on two ports
    // and protocols, visited in several orders: every session must land in its own server's record.
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    var expected: [ServerKey: UInt64] = [:]
    var random = SystemRandomNumberGenerator()
    for round in 0..<3 {
        for i in 0..<3_000 {
            let n = round == 1 ? 2_999 - i : (i * 7) % 3_000
            let address = n % 2 == 0 ? IPAddress(ipv4: UInt32(0x0A00_0000 + n / 2))
                                     : IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: UInt64(0x0A00_0000 + n / 2))
            let proto: MailProtocol = n % 3 == 0 ? .imap : .smtp
            let port: UInt16 = proto == .imap ? 143 : (n % 5 == 0 ? 587 : 25)
            let repeats = Int.random(in: 1...2, using: &random)
            for _ in 0..<repeats {
                let f = FlowInfo(id: 1, client: client, clientPort: 40000, server: address, serverPort: port,
                                 vlans: VLANTags(), midstream: false, firstSeen: Timestamp(nanoseconds: 0),
                                 lastSeen: Timestamp(nanoseconds: 1))
                inv.sessionEnded(EndedSession(flow: f, proto: proto, kind: .implicitTLS, closedAt: Timestamp(nanoseconds: 1)))
                expected[ServerKey(address: address, port: port, proto: proto), default: 0] += 1
            }
        }
    }
    let records = inv.records
    #expect(records.count == expected.count)
    #expect(inv.serverCount == expected.count)
    for (key, sessions) in expected {
        #expect(records[key]?.sessions == sessions)
        #expect(records[key]?.implicitTLSSessions == sessions)
    }
}

@Test func plainCheckFindsEveryByteTheEscaperChanges() {
    // Eight bytes a step: an odd byte at every place of runs of every length up to three words.
    let bytes: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x41, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F, 0x80, 0xC3, 0xFF]
    for length in 1...24 {
        for place in 0..<length {
            for b in bytes {
                var run = [UInt8](repeating: 0x61, count: length)
                run[place] = b
                let expected = b >= 0x20 && b <= 0x7E && b != 0x22 && b != 0x5C
                #expect(run.withUnsafeBufferPointer { JSONWriter.isPlain($0) } == expected)
            }
        }
    }
    #expect(JSONWriter.isPlain(UnsafeBufferPointer(start: nil, count: 0)))
}

// The events write the evidence as it is worked out, the HTML page and the table read it from
// `Assessment`: the same lines, for every verdict.
@Test func eventsCarryTheAssessmentsEvidence() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    session(inv, .smtp, port: 25, facts(.smtp, starttls: true, mechanisms: ["PLAIN", "LOGIN", "CRAM-MD5"]))
    login(inv, .smtp, port: 25, user: "erin", method: "AUTH PLAIN")
    login(inv, .smtp, port: 25, user: "erin", exposure: .hashed, method: "AUTH CRAM-MD5")
    session(inv, .imap, port: 143, facts(.imap, starttls: true, requested: true, refused: true))
    session(inv, .imap, port: 143, facts(.imap, starttls: true, requested: true, accepted: true))
    session(inv, .imap, port: 143, facts(.imap))
    session(inv, .pop3, port: 110, facts(.pop3, starttls: true, user: true, requested: true, accepted: true))
    session(inv, .pop3, port: 1110, facts(.pop3, user: true))
    session(inv, .imap, port: 1143, facts(.imap, starttls: true, loginDisabled: true, mechanisms: ["SCRAM-SHA-256", "X-OTHER"]))
    session(inv, .imap, port: 1144, facts(.imap, starttls: true, mechanisms: ["GSSAPI"], requested: true, accepted: true))
    session(inv, .imap, port: 1144, facts(.imap, caps: false))
    inv.sessionEnded(EndedSession(flow: flow(993), proto: .imap, kind: .implicitTLS, closedAt: Timestamp(nanoseconds: 0)))
    session(inv, .smtp, port: 2525, facts(.smtp, caps: false))
    inv.sessionEnded(EndedSession(flow: flow(2525, midstream: true), proto: .smtp, kind: .implicitTLS, closedAt: Timestamp(nanoseconds: 0)))
    session(inv, .smtp, port: 2526, facts(.smtp))
    session(inv, .pop3, port: 2110, facts(.pop3, caps: false))
    login(inv, .pop3, port: 2110, user: "carol", exposure: .hashed, method: "APOP")

    let assessed = inv.assessed()
    let events = inv.exposureEvents(time: Timestamp(nanoseconds: 0))
    try #require(events.count == assessed.count)
    #expect(Set(assessed.map(\.assessment.verdict)).count == Verdict.allCases.count)
    for (server, line) in zip(assessed, events) {
        let event = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
        let body = try #require(event?["server_exposure"] as? [String: Any])
        #expect(event?["dest_port"] as? Int == Int(server.record.key.port))
        // hashed_only is `unknown` in the JSON, with `hashed_only` beside it (the verdicts are a contract).
        #expect(body["verdict"] as? String == server.assessment.verdict.contractName)
        #expect(body["hashed_only"] as? Bool == (server.assessment.verdict == .hashedOnly ? true : nil))
        #expect(body["evidence"] as? [String] == server.assessment.evidence)
        #expect(body["stripping_evidence"] as? [String] == server.assessment.strippingEvidence)
        #expect(body["starttls_stripping_suspected"] as? Bool == server.assessment.strippingSuspected)
    }
}

// A session whose mechanism list is the one merged last skips the merge: lists that differ, in
// any order, still all reach the server's list, in order of first mention.
@Test func mechanismsMergeAcrossSessions() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    for mechanisms in [["PLAIN"], ["PLAIN"], ["PLAIN", "LOGIN"], ["PLAIN"], ["CRAM-MD5", "PLAIN", "X-ONE"],
                       ["CRAM-MD5", "PLAIN", "X-ONE"], [], ["X-TWO"], ["PLAIN", "LOGIN"]] {
        session(inv, .smtp, port: 25, facts(.smtp, mechanisms: mechanisms))
    }
    let record = try only(inv).record
    #expect(record.authMechanisms == ["PLAIN", "LOGIN", "CRAM-MD5", "X-ONE", "X-TWO"])
    #expect(record.plaintextOffered == ["AUTH PLAIN", "AUTH LOGIN"])
}
