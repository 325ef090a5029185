import Testing
@testable import MailAuth

/// The engine keeps the parsers of closed flows and resets them for new flows (SessionRouter's
/// spare parsers). A reset parser must behave exactly as a new one: nothing of the old flow may
/// leak into the next (pending logins, SASL exchanges, user names, mechanisms, STARTTLS state,
/// framer modes and partial lines, findings, anomalies), and it must hold nothing charged.
@Suite struct ParserReuseTests {
    /// Snapshot of what a session showed, compared between a reused parser and a new one.
    struct Seen: Equatable {
        var findings: [Finding]
        var facts: ServerFacts
        var anomalies: Int
        var done: Bool
    }

    static func drive(_ parser: SessionParser, _ steps: [Step], finish: Bool = true) -> Seen {
        var findings: [Finding] = []
        for (i, step) in steps.enumerated() {
            parser.receive(step.bytes.span, from: step.side, time: Int64(i))
            findings += parser.takeFindings()
        }
        if finish {
            parser.finish(time: 99)
            findings += parser.takeFindings()
        }
        return Seen(findings: findings, facts: parser.facts, anomalies: parser.anomalies, done: parser.isDone)
    }

    struct ReuseCase: CustomTestStringConvertible, Sendable {
        var name: String
        var proto: MailProtocol
        /// What the first flow left behind, cut off at an awkward place.
        var dirty: [Step]
        /// Finished before the reset (as the engine does), or reset as it is.
        var finishFirst: Bool
        var testDescription: String { name }
    }

    static let cases: [ReuseCase] = [
        ReuseCase(name: "POP3 mid-AUTH with a user name, capabilities and a partial PASS", proto: .pop3, dirty: [
            S("+OK Dovecot ready."), C("CAPA"), S("+OK"), S("SASL PLAIN LOGIN"), S("STLS"), S("USER"), S("."),
            C("USER alice"), S("+OK"), C("AUTH LOGIN"), S("+ VXNlcm5hbWU6"), C(b64("alice")),
            Craw("PASS half-a-secr"),
        ], finishFirst: true),
        ReuseCase(name: "POP3 reset without finish: a login pending", proto: .pop3, dirty: [
            S("+OK ready"), C("USER bob"), S("+OK"), C("PASS fake-bob-pw"), C("RETR 1"),
        ], finishFirst: false),
        ReuseCase(name: "POP3 inside a RETR listing", proto: .pop3, dirty: [
            S("+OK ready"), C("RETR 1"), S("+OK 120 octets"), Sraw("Subject: x\r\n\r\nbody line\r\n"),
        ], finishFirst: true),
        ReuseCase(name: "IMAP LOGIN literal half sent, STARTTLS offered", proto: .imap, dirty: [
            S("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN AUTH=XOAUTH2] ready"),
            C("a1 LOGIN {5}"), S("+ go ahead"), Craw("car"),
        ], finishFirst: true),
        ReuseCase(name: "IMAP AUTHENTICATE awaiting its response, tagged login pending", proto: .imap, dirty: [
            S("* PREAUTH ready"), C("a1 LOGIN dave fake-dave-pw"), C("a2 AUTHENTICATE PLAIN"), S("+ "),
        ], finishFirst: false),
        ReuseCase(name: "IMAP after STARTTLS (done)", proto: .imap, dirty: [
            S("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready"), C("a1 STARTTLS"), S("a1 OK begin TLS"),
        ], finishFirst: true),
        ReuseCase(name: "SMTP mid AUTH LOGIN after EHLO", proto: .smtp, dirty: [
            S("220 mx.example.com ESMTP Postfix"), C("EHLO c"), S("250-mx.example.com"), S("250-AUTH PLAIN LOGIN CRAM-MD5"),
            S("250 STARTTLS"), C("AUTH LOGIN"), S("334 VXNlcm5hbWU6"), C(b64("erin")), S("334 UGFzc3dvcmQ6"),
        ], finishFirst: true),
        ReuseCase(name: "SMTP inside a DATA body, STARTTLS refused", proto: .smtp, dirty: [
            S("220 mx ESMTP"), C("STARTTLS"), S("454 TLS not available"), C("MAIL FROM:<a@b>"), S("250 ok"),
            C("DATA"), S("354 go"), Craw("AUTH PLAIN " + b64("\0frank\0fake-frank-pw") + "\r\nmore body"),
        ], finishFirst: false),
        ReuseCase(name: "SMTP pipelined AUTH PLAIN pending, overlong partial line", proto: .smtp, dirty: [
            S("220 mx ESMTP"), C("EHLO c"), C("AUTH PLAIN " + b64("\0gina\0fake-gina-pw")), C("NOOP"),
            Craw(String(repeating: "x", count: 5000)),
        ], finishFirst: false),
        ReuseCase(name: "ManageSieve mid SASL literal after a capability list", proto: .managesieve, dirty: [
            S(#""IMPLEMENTATION" "Pigeonhole""#), S(#""SASL" "PLAIN LOGIN""#), S(#""STARTTLS""#), S("OK"),
            C(#"AUTHENTICATE "LOGIN""#), S(#""VXNlcm5hbWU6""#), C("{8+}"), Craw("bm9"),
        ], finishFirst: false),
        ReuseCase(name: "ManageSieve after STARTTLS", proto: .managesieve, dirty: [
            S(#""IMPLEMENTATION" "Pigeonhole""#), S(#""STARTTLS""#), S("OK"), C("STARTTLS"), S("OK"),
        ], finishFirst: true),
    ]

    /// Sessions run on the reset parser: each would show left-over state (a PASS without USER, a
    /// reply with no greeting, a line continuing a partial one, a command inside an old body).
    static func followUps(_ proto: MailProtocol) -> [[Step]] {
        switch proto {
        case .pop3:
            return [
                [S("+OK hi"), C("PASS fake-pw"), S("+OK")],
                [C("cret"), S("+OK"), C("AUTH PLAIN " + b64("\0hank\0fake-hank-pw")), S("+OK")],
                [S("-ERR"), C("USER ivy"), S("+OK"), C("PASS fake-ivy-pw"), S("-ERR")],
                [],
            ]
        case .imap:
            return [
                [S("* OK ready"), C("ol fake-pw"), C("a1 LOGIN jo fake-jo-pw"), S("a1 OK")],
                [S("a1 OK done"), S("a2 OK done"), C("b1 AUTHENTICATE PLAIN " + b64("\0kim\0fake-kim-pw")), S("b1 NO")],
                [S("* CAPABILITY IMAP4rev1 AUTH=PLAIN"), C("c1 LOGIN lee fake-lee-pw")],
                [],
            ]
        case .smtp:
            return [
                [S("220 other ESMTP"), C(b64("fake-pw")), S("235 ok")],
                [S("250 ok"), C("AUTH PLAIN " + b64("\0max\0fake-max-pw")), S("235 ok"), C("QUIT")],
                [C("more body"), C("."), S("250 queued"), C("EHLO x"), S("250-x"), S("250 AUTH LOGIN")],
                [],
            ]
        case .managesieve:
            return [
                [S(#""SASL" "PLAIN""#), S("OK"), C("\"" + b64("fake-pw") + "\""), S("OK")],
                [C("ZQ==\r\n"), S("OK"), C(#"AUTHENTICATE "PLAIN" ""# + b64("\0nia\0fake-nia-pw") + #"""#), S("NO")],
                [S("OK"), C(#"AUTHENTICATE "PLAIN" {20+}"#), C(b64("\0oli\0fake-oli"))],
                [],
            ]
        }
    }

    @Test(arguments: cases)
    func resetParserBehavesAsNew(_ c: ReuseCase) {
        for next in Self.followUps(c.proto) {
            let memory = SessionMemory(limitBytes: .max)
            let reused = ProtocolRegistry.makeParser(for: c.proto, memory: memory)
            _ = Self.drive(reused, c.dirty, finish: c.finishFirst)
            _ = reused.takeFindings()
            reused.reset()
            #expect(memory.used == 0, "a reset parser holds nothing charged")
            #expect(!reused.hasFindings)
            #expect(reused.facts == ServerFacts(proto: c.proto))
            #expect(reused.anomalies == 0 && !reused.isDone)
            let fresh = ProtocolRegistry.makeParser(for: c.proto)
            let want = Self.drive(fresh, next)
            let got = Self.drive(reused, next)
            #expect(got == want)
            #expect(reused.proto == c.proto)
        }
    }

    /// The same parser reset again and again (as the engine reuses it) stays equal to new ones.
    @Test func resetManyTimes() {
        let memory = SessionMemory(limitBytes: .max)
        let parser = ProtocolRegistry.makeParser(for: .smtp, memory: memory)
        for c in Self.cases where c.proto == .smtp {
            for next in Self.followUps(.smtp) {
                _ = Self.drive(parser, c.dirty, finish: c.finishFirst)
                parser.reset()
                #expect(Self.drive(parser, next) == Self.drive(ProtocolRegistry.makeParser(for: .smtp), next))
                parser.reset()
                #expect(memory.used == 0)
            }
        }
    }
}
