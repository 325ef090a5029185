@testable import Inventory
@testable import MailAuth
import Testing

// `plaintext_offered` derived from what sessions recorded: sessions parsed from their server
// lines, the fixed order the JSON shows, and the mechanisms it names held to the exposure the
// parsers report for their logins.

/// The facts a parser records from `serverLines` (a client line `>`-prefixed).
private func parsed(_ proto: MailProtocol, _ lines: [String]) -> ServerFacts {
    let parser = ProtocolRegistry.makeParser(for: proto)
    for line in lines {
        let client = line.hasPrefix(">")
        let bytes = Array(((client ? String(line.dropFirst()) : line) + "\r\n").utf8)
        parser.receive(bytes.span, from: client ? .client : .server, time: 0)
    }
    return parser.facts
}

@Test("plaintext ways offered, from parsed sessions", arguments: [
    (MailProtocol.pop3, ["+OK Dovecot ready.", ">CAPA", "+OK", "STLS", "USER", "SASL PLAIN LOGIN CRAM-MD5", "."],
     ["AUTH PLAIN", "AUTH LOGIN", "USER"]),
    (.pop3, ["+OK ready", ">CAPA", "+OK", "TOP", "."], []),
    (.pop3, ["+OK ready"], []),
    (.imap, ["* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5] ready"],
     ["AUTH PLAIN", "AUTH LOGIN", "LOGIN"]),
    (.imap, ["* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=CRAM-MD5] ready"], []),
    (.imap, ["* OK [CAPABILITY IMAP4rev1] ready"], ["LOGIN"]),
    (.imap, ["* OK ready"], []),
    (.imap, ["* PREAUTH [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready"], []),
    // A list sent after a successful login describes the logged-in state.
    (.imap, ["* OK ready", ">a1 LOGIN alice x-pw-1", "a1 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Logged in"], []),
    (.smtp, ["220 mx.example.com ESMTP", ">EHLO x", "250-mx.example.com", "250-AUTH=LOGIN PLAIN", "250 8BITMIME"],
     ["AUTH PLAIN", "AUTH LOGIN"]),
    (.smtp, ["220 mx.example.com ESMTP", ">EHLO x", "250-mx.example.com", "250-AUTH OAUTHBEARER XOAUTH2 CRAM-MD5",
             "250 STARTTLS"], ["AUTH XOAUTH2", "AUTH OAUTHBEARER"]),
    (.managesieve, [#""IMPLEMENTATION" "Dovecot Pigeonhole""#, #""SASL" "PLAIN LOGIN""#, #""STARTTLS""#, #"OK "ready""#],
     ["AUTH PLAIN", "AUTH LOGIN"]),
] as [(MailProtocol, [String], [String])])
func plaintextOffered(_ proto: MailProtocol, _ lines: [String], _ want: [String]) {
    #expect(PlaintextOffer(parsed(proto, lines)).names == want, "\(lines)")
}

@Test func plaintextOrderIsTheReportedOne() {
    #expect(PlaintextOffer.order == ["AUTH PLAIN", "AUTH LOGIN", "AUTH XOAUTH2", "AUTH OAUTHBEARER", "USER", "LOGIN"])
    #expect(PlaintextOffer.order.count <= 8)
}

@Test func plaintextMechanismsAreTheCleartextOnes() {
    let cleartext = MechanismList.Known.allCases.filter { SASLMechanism($0.name).exposure == .cleartext }
    #expect(Set(PlaintextOffer.saslMechanisms) == Set(cleartext))
    // Each sets its own bit (the derivation spells the four out).
    for (i, mechanism) in PlaintextOffer.saslMechanisms.enumerated() {
        var facts = ServerFacts(proto: .smtp)
        facts.mechanisms = MechanismList([mechanism.name, "CRAM-MD5"])
        #expect(PlaintextOffer(facts) == PlaintextOffer(rawValue: 1 << UInt8(i)), "\(mechanism)")
    }
}

@Test func plaintextNamesReadBack() {
    for bits in 0..<(1 << PlaintextOffer.order.count) {
        let offer = PlaintextOffer(rawValue: UInt8(bits))
        #expect(PlaintextOffer(names: offer.names) == offer)
        #expect(offer.names == PlaintextOffer.order.enumerated().filter { bits & (1 << $0.offset) != 0 }.map(\.element))
    }
    #expect(PlaintextOffer(names: ["AUTH CRAM-MD5", "PLAIN", "LOGIN"]) == .loginCommand)
}
