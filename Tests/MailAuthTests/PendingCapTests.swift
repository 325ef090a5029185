import Testing
@testable import MailAuth

/// A flood of pipelined commands cannot grow the pending queue: the oldest are dropped, each drop
/// is counted as an anomaly (reported in `stats`), and a login after the flood is still found.
@Suite struct PendingCapTests {
    func feed(_ parser: SessionParser, _ text: String, _ side: Side) {
        Array(text.utf8).withUnsafeBufferPointer { parser.receive($0.span, from: side, time: 1) }
    }

    @Test(arguments: [MailProtocol.smtp, .pop3])
    func overflowIsCountedAndTheSessionGoesOn(_ proto: MailProtocol) {
        let parser = ProtocolRegistry.makeParser(for: proto)
        feed(parser, proto == .smtp ? "220 mail.example.test ESMTP\r\n" : "+OK ready\r\n", .server)
        feed(parser, String(repeating: "NOOP\r\n", count: 100), .client)
        let capacity = SessionLimits.defaultMaxPending
        #expect(parser.anomalies == 100 - capacity)
        feed(parser, String(repeating: proto == .smtp ? "250 OK\r\n" : "+OK\r\n", count: 100), .server)
        if proto == .smtp {
            feed(parser, "AUTH PLAIN AHBpcGVsaW5lZABmYWtlLXBpcGUtcHc=\r\n", .client)
            feed(parser, "235 2.7.0 ok\r\n", .server)
        } else {
            feed(parser, "USER pipelined\r\nPASS fake-pipe-pw\r\n", .client)
            feed(parser, "+OK\r\n+OK\r\n", .server)
        }
        let findings = parser.takeFindings()
        #expect(findings.count == 1)
        #expect(findings.first?.username == Array("pipelined".utf8))
        #expect(findings.first?.outcome == .success)
    }
}
