@testable import MailAuth
import Testing

// What each session reports about its server (ServerFacts), fed whole, byte by byte and split at
// every point like the login transcripts: the facts must not depend on how TCP cut the bytes.

struct FactsCase: CustomTestStringConvertible, @unchecked Sendable {
    let name: String
    let proto: MailProtocol
    let steps: [Step]
    var greeting: String?
    var capabilitiesSeen = false
    var starttlsOffered = false
    var loginDisabled = false
    var mechanisms: [String] = []
    var user = false
    var requested = false
    var accepted = false
    var refused = false
    var testDescription: String { name }
}

func facts(_ c: FactsCase, split: (Int, [UInt8]) -> [[UInt8]]) -> ServerFacts {
    let parser = ProtocolRegistry.makeParser(for: c.proto)
    for (i, step) in c.steps.enumerated() {
        for chunk in split(i, step.bytes) where !chunk.isEmpty {
            parser.receive(chunk.span, from: step.side, time: Int64(i))
        }
    }
    parser.finish(time: Int64(c.steps.count))
    return parser.facts
}

let factsCases: [FactsCase] = [
    FactsCase(name: "POP3 dovecot CAPA with STLS, USER and SASL, then STLS accepted", proto: .pop3, steps: [
        S("+OK Dovecot (Debian) ready. <1859.21.6b06e222.SgSTlx@mail.example.net>"),
        C("CAPA"), S("+OK"), S("TOP"), S("UIDL"), S("STLS"), S("USER"), S("SASL PLAIN LOGIN CRAM-MD5"), S("."),
        C("STLS"), S("+OK Begin TLS negotiation now."), Sraw("\u{16}\u{03}\u{03}\u{00}z binary"),
    ], greeting: "+OK Dovecot (Debian) ready. <1859.21.6b06e222.SgSTlx@mail.example.net>",
       capabilitiesSeen: true, starttlsOffered: true, mechanisms: ["PLAIN", "LOGIN", "CRAM-MD5"],
       user: true, requested: true, accepted: true),
    FactsCase(name: "POP3 TLS-only server: CAPA without USER, SASL CRAM-MD5", proto: .pop3, steps: [
        S("+OK Dovecot (Debian) ready."), C("CAPA"), S("+OK"), S("STLS"), S("SASL CRAM-MD5"), S("."), C("QUIT"), S("+OK"),
    ], greeting: "+OK Dovecot (Debian) ready.", capabilitiesSeen: true, starttlsOffered: true,
       mechanisms: ["CRAM-MD5"]),
    FactsCase(name: "POP3 STLS refused, then USER/PASS; CAPA after login is not a pre-login offer", proto: .pop3, steps: [
        S("+OK ready"), C("STLS"), S("-ERR TLS support isn't enabled."), C("USER dave"), S("+OK"), C("PASS x-pw-1"),
        S("+OK Logged in."), C("CAPA"), S("+OK"), S("TOP"), S("."),
    ], greeting: "+OK ready", requested: true, refused: true),
    FactsCase(name: "IMAP greeting capabilities with STARTTLS and plaintext", proto: .imap, steps: [
        S("* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5] Dovecot (Debian) ready."),
        C("a1 LOGIN alice pw-imap-1"), S("a1 OK [CAPABILITY IMAP4rev1 SORT THREAD=REFS] Logged in"),
    ], greeting: "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5] Dovecot (Debian) ready.",
       capabilitiesSeen: true, starttlsOffered: true, mechanisms: ["PLAIN", "LOGIN", "CRAM-MD5"]),
    FactsCase(name: "IMAP LOGINDISABLED: no plaintext way in before TLS", proto: .imap, steps: [
        S("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=CRAM-MD5] Dovecot (Debian) ready."),
        C("a1 CAPABILITY"), S("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=CRAM-MD5"), S("a1 OK done"),
        C("a2 STARTTLS"), S("a2 OK Begin TLS negotiation now."),
    ], greeting: "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=CRAM-MD5] Dovecot (Debian) ready.",
       capabilitiesSeen: true, starttlsOffered: true, loginDisabled: true, mechanisms: ["CRAM-MD5"],
       requested: true, accepted: true),
    FactsCase(name: "IMAP STARTTLS refused by a server that never offered it", proto: .imap, steps: [
        S("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Cyrus IMAP v2.4.17-Invoca server ready"), C("a1 STARTTLS"),
        S("a1 BAD TLS support isn't enabled."),
    ], greeting: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Cyrus IMAP v2.4.17-Invoca server ready",
       capabilitiesSeen: true, mechanisms: ["PLAIN"], requested: true, refused: true),
    FactsCase(name: "IMAP PREAUTH: logged in from the start, nothing offered", proto: .imap, steps: [
        S("* PREAUTH [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready"),
    ], greeting: "* PREAUTH [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready"),
    FactsCase(name: "SMTP exim EHLO with AUTH and STARTTLS, STARTTLS refused", proto: .smtp, steps: [
        S("220 mail.example.net ESMTP Exim 4.96 Wed, 25 Nov 2026 13:26:58 +0000"), C("EHLO client.example.org"),
        S("250-mail.example.net Hello client.example.org [192.0.2.1]"), S("250-SIZE 52428800"),
        S("250-AUTH PLAIN LOGIN CRAM-MD5"), S("250-STARTTLS"), S("250 HELP"),
        C("STARTTLS"), S("454 TLS currently unavailable"),
    ], greeting: "220 mail.example.net ESMTP Exim 4.96 Wed, 25 Nov 2026 13:26:58 +0000",
       capabilitiesSeen: true, starttlsOffered: true, mechanisms: ["PLAIN", "LOGIN", "CRAM-MD5"],
       requested: true, refused: true),
    FactsCase(name: "SMTP old AUTH= syntax, Postfix, no STARTTLS", proto: .smtp, steps: [
        S("220 mx.example.com ESMTP Postfix (Debian/GNU)"), C("EHLO x"), S("250-mx.example.com"),
        S("250-AUTH=LOGIN PLAIN"), S("250-AUTH LOGIN PLAIN"), S("250 8BITMIME"),
    ], greeting: "220 mx.example.com ESMTP Postfix (Debian/GNU)", capabilitiesSeen: true,
       mechanisms: ["LOGIN", "PLAIN"]),
    FactsCase(name: "SMTP picked up mid-stream: a reply that is no greeting", proto: .smtp, steps: [
        S("250 OK"), C("EHLO x"), S("250-mx"), S("250 STARTTLS"),
    ], capabilitiesSeen: true, starttlsOffered: true),
    FactsCase(name: "a greeting longer than 200 bytes is cut", proto: .smtp, steps: [
        S("220 " + String(repeating: "x", count: 300)),
    ], greeting: "220 " + String(repeating: "x", count: 196)),
]

@Test("server facts per session", arguments: factsCases)
func serverFacts(_ c: FactsCase) {
    var runs: [(String, ServerFacts)] = [("whole", facts(c) { _, b in [b] }), ("byte-by-byte", facts(c) { _, b in b.map { [$0] } })]
    for (si, step) in c.steps.enumerated() where step.bytes.count > 1 {
        for k in 1..<step.bytes.count {
            runs.append(("step \(si) split at \(k)", facts(c) { i, b in i == si ? [Array(b[..<k]), Array(b[k...])] : [b] }))
        }
    }
    let want = FactsSummary(greeting: c.greeting,
                            capabilitiesSeen: c.capabilitiesSeen, starttlsOffered: c.starttlsOffered,
                            loginDisabled: c.loginDisabled, mechanisms: c.mechanisms, user: c.user,
                            requested: c.requested, accepted: c.accepted, refused: c.refused)
    for (label, f) in runs {
        let got = FactsSummary(greeting: f.greeting.map { String(decoding: $0, as: UTF8.self) },
                               capabilitiesSeen: f.capabilitiesSeen,
                               starttlsOffered: f.starttlsOffered, loginDisabled: f.loginDisabled,
                               mechanisms: f.authMechanisms, user: f.userCommandOffered,
                               requested: f.starttlsRequested, accepted: f.starttlsAccepted, refused: f.starttlsRefused)
        #expect(got == want, "\(c.name) [\(label)]")
        if got != want { break }
    }
}

struct FactsSummary: Equatable {
    var greeting: String?
    var capabilitiesSeen, starttlsOffered, loginDisabled: Bool
    var mechanisms: [String]
    var user: Bool
    var requested, accepted, refused: Bool
}

@Test("logins still reported as before: the facts are a side record")
func factsDoNotChangeFindings() {
    let parser = ProtocolRegistry.makeParser(for: .imap)
    for step in [S("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready"), C("a1 LOGIN bob pw-1"),
                 S("a1 OK [CAPABILITY IMAP4rev1] Logged in")] {
        parser.receive(step.bytes.span, from: step.side, time: 1)
    }
    let found = parser.takeFindings()
    #expect(found.count == 1)
    #expect(found.first?.starttls == .offered)
    #expect(found.first?.outcome == .success)
    // The logged-in capability list (no STARTTLS) did not erase the pre-login offer.
    #expect(parser.facts.starttlsOffered)
    #expect(parser.facts.authenticated)
}

@Test("a login's STARTTLS context is what the facts say was offered before any login succeeded")
func loginContextComesFromTheFacts() {
    let parser = ProtocolRegistry.makeParser(for: .imap)
    // No capability list before the first login; the one in its OK describes the logged-in state,
    // so a later login (BAD in that state, but its password crossed) still knows nothing more.
    for step in [S("* OK ready"), C("a1 LOGIN bob x-pw-1"), S("a1 OK [CAPABILITY IMAP4rev1 STARTTLS] Logged in"),
                 C("a2 LOGIN carol x-pw-2"), S("a2 BAD already logged in")] {
        parser.receive(step.bytes.span, from: step.side, time: 1)
    }
    #expect(parser.takeFindings().map(\.starttls) == [.unknown, .unknown])
    #expect(!parser.facts.capabilitiesSeen && !parser.facts.starttlsOffered)
}
