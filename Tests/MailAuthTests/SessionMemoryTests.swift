import Testing
@testable import MailAuth

/// The parser memory budget (`--parser-memory`) and the per-session limits (`--max-line`,
/// `--max-pending`): what a session holds is charged, the total stays bounded, a login is never
/// lost to a cap (only its outcome), and every byte charged is given back.
@Suite struct SessionMemoryTests {
    func feed(_ parser: SessionParser, _ text: String, _ side: Side) {
        Array(text.utf8).withUnsafeBufferPointer { parser.receive($0.span, from: side, time: 1) }
    }

    struct PendingCase: CustomTestStringConvertible, Sendable {
        var name: String
        var proto: MailProtocol
        var greeting: String
        /// Sent by the client before any reply: the login, then what makes the session grow.
        var login: String
        var growth: String
        var user: String
        var testDescription: String { name }
    }

    static let pendingCases = [
        PendingCase(name: "POP3 PASS awaiting +OK", proto: .pop3, greeting: "+OK ready\r\n",
                    login: "USER carol\r\nPASS fake-carol-pw\r\n", growth: "RETR " + String(repeating: "9", count: 900),
                    user: "carol"),
        PendingCase(name: "IMAP LOGIN awaiting its tag", proto: .imap, greeting: "* OK ready\r\n",
                    login: "a1 LOGIN dave fake-dave-pw\r\n", growth: "a2 SELECT " + String(repeating: "x", count: 900),
                    user: "dave"),
        PendingCase(name: "SMTP AUTH PLAIN awaiting 235", proto: .smtp, greeting: "220 mx ESMTP\r\n",
                    login: "AUTH PLAIN AGVyaW4AZmFrZS1lcmluLXB3\r\n", growth: "MAIL FROM:<" + String(repeating: "e", count: 900),
                    user: "erin"),
    ]

    /// Over the budget, the session that grows reports its pending login at once (outcome
    /// unknown, flagged after a gap) and drops its partial line; the budget is charged no more.
    @Test(arguments: pendingCases)
    func budgetExhaustedShedsAndReports(_ c: PendingCase) {
        let memory = SessionMemory(limitBytes: 600)
        let parser = ProtocolRegistry.makeParser(for: c.proto, memory: memory)
        feed(parser, c.greeting, .server)
        feed(parser, c.login, .client)
        #expect(parser.takeFindings().isEmpty, "the login waits for its reply while there is room")
        #expect(memory.used > 0 && memory.used <= memory.limit)
        feed(parser, c.growth, .client)       // a partial line over the budget
        let findings = parser.takeFindings()
        #expect(findings.count == 1)
        #expect(findings.first?.username == Array(c.user.utf8))
        #expect(findings.first?.outcome == .unknown)
        #expect(memory.budgetHits == 1)
        #expect(memory.used <= memory.limit)
        #expect(parser.anomalies >= 1)
        // The rest of the dropped line is skipped; the session goes on.
        feed(parser, "tail of the dropped line\r\n", .client)
        feed(parser, "QUIT\r\n", .client)
        #expect(parser.takeFindings().isEmpty)
        parser.finish(time: 2)
        #expect(memory.used == 0)
    }

    /// A login after the shed is still found, and flagged: replies may answer commands the session
    /// no longer knows.
    @Test func laterLoginIsFlaggedAfterGap() {
        let memory = SessionMemory(limitBytes: 300)
        let parser = ProtocolRegistry.makeParser(for: .pop3, memory: memory)
        feed(parser, "+OK ready\r\n", .server)
        feed(parser, "RETR " + String(repeating: "9", count: 400), .client)
        #expect(memory.budgetHits == 1)
        feed(parser, "\r\nUSER frank\r\nPASS fake-frank-pw\r\n", .client)
        feed(parser, "+OK\r\n+OK\r\n", .server)
        let findings = parser.takeFindings()
        #expect(findings.count == 1)
        #expect(findings.first?.username == Array("frank".utf8))
        #expect(findings.first?.afterGap == true)
    }

    /// Many sessions share one budget: the total never passes limit plus one session's growth,
    /// and returns to zero when every session is gone.
    @Test func sharedBudgetBoundsManySessions() {
        let memory = SessionMemory(limitBytes: 50_000)
        var parsers: [SessionParser] = []
        var worstOvershoot = 0
        for i in 0..<400 {
            let parser = ProtocolRegistry.makeParser(for: i % 2 == 0 ? .pop3 : .imap, memory: memory)
            feed(parser, i % 2 == 0 ? "+OK ready\r\n" : "* OK ready\r\n", .server)
            feed(parser, String(repeating: "a\(i) NOOP\r\n", count: 40) + String(repeating: "z", count: 1000), .client)
            worstOvershoot = max(worstOvershoot, memory.used - memory.limit)
            parsers.append(parser)
        }
        #expect(memory.budgetHits > 0)
        #expect(worstOvershoot <= 0, "a session that grows past the budget sheds before the call returns")
        #expect(memory.peak <= memory.limit + 16384)
        parsers.removeAll()
        #expect(memory.used == 0)
    }

    /// The partial line grows by hand (old storage wiped) and only as far as needed.
    @Test func partialLineStartsSmall() {
        let memory = SessionMemory(limitBytes: .max)
        let parser = ProtocolRegistry.makeParser(for: .imap, memory: memory)
        feed(parser, "* OK ready\r\n", .server)
        feed(parser, "a1 NOOP", .client)
        #expect(memory.used > 0 && memory.used < 1024)
        feed(parser, "\r\n", .client)
        parser.finish(time: 2)
        #expect(memory.used == 0)
    }

    @Test(arguments: [512, 1000, 4096])
    func maxLineIsConfigurable(_ maxLine: Int) {
        let parser = ProtocolRegistry.makeParser(for: .pop3, limits: SessionLimits(maxLine: maxLine, maxPending: 32))
        feed(parser, "+OK ready\r\n", .server)
        // One line just at the limit, one just over it (its LF excluded from the count).
        feed(parser, "USER " + String(repeating: "u", count: maxLine - 5) + "\n", .client)
        #expect(parser.anomalies == 0)
        feed(parser, "USER " + String(repeating: "u", count: maxLine - 4) + "\n", .client)
        #expect(parser.anomalies == 1)
    }

    /// `--max-pending`: a full POP3 queue gives up its oldest command; a login among the dropped
    /// is reported at once with outcome unknown, not lost.
    @Test(arguments: [1, 2, 8])
    func droppedPendingLoginIsReported(_ maxPending: Int) {
        let parser = ProtocolRegistry.makeParser(for: .pop3, limits: SessionLimits(maxLine: 4096, maxPending: maxPending))
        feed(parser, "+OK ready\r\n", .server)
        feed(parser, "USER grace\r\nPASS fake-grace-pw\r\n" + String(repeating: "NOOP\r\n", count: maxPending + 1), .client)
        let findings = parser.takeFindings()
        #expect(findings.count == 1)
        #expect(findings.first?.outcome == .unknown)
        #expect(parser.anomalies == 3)   // USER, PASS and one NOOP gave way
    }

    /// IMAP keeps only the tags whose reply decides something: a flood of other commands before
    /// the LOGIN is neither kept nor counted, and the LOGIN's outcome is still read from its tag.
    @Test func imapKeepsOnlyTagsThatMatter() {
        let memory = SessionMemory(limitBytes: .max)
        let parser = ProtocolRegistry.makeParser(for: .imap, memory: memory)
        feed(parser, "* OK ready\r\n", .server)
        feed(parser, (0..<500).map { "n\($0) NOOP\r\n" }.joined() + "L1 LOGIN heidi fake-heidi-pw\r\n", .client)
        #expect(parser.anomalies == 0)
        #expect(memory.used < 1024)
        feed(parser, (0..<500).map { "n\($0) OK done\r\n" }.joined() + "L1 OK logged in\r\n", .server)
        let findings = parser.takeFindings()
        #expect(findings.count == 1)
        #expect(findings.first?.outcome == .success)
    }
}
