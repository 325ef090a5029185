@testable import MailAuth
import Testing

// Each named anomaly, provoked through the parser that counts it; every other kind stays 0.

struct AnomalyCase: CustomTestStringConvertible, Sendable {
    let kind: ParserAnomaly
    let proto: MailProtocol
    let steps: [Step]
    var limits = SessionLimits()
    var testDescription: String { "\(kind.name) (\(proto.rawValue))" }
}


let anomalyCases: [AnomalyCase] = [
    AnomalyCase(kind: .lineTooLong, proto: .pop3, steps: [S("+OK"), C("NOOP " + String(repeating: "x", count: 300))],
                limits: SessionLimits(maxLine: 128, maxPending: 32)),
    AnomalyCase(kind: .replyWithoutCommand, proto: .pop3, steps: [S("+OK ready"), S("+OK again")]),
    AnomalyCase(kind: .replyWithoutCommand, proto: .managesieve, steps: sieveGreeting + [S("OK")]),
    AnomalyCase(kind: .pendingQueueOverflow, proto: .smtp, steps: [S("220 mx"), C("NOOP"), C("NOOP"), C("NOOP")],
                limits: SessionLimits(maxLine: 4096, maxPending: 2)),
    AnomalyCase(kind: .malformedSASL, proto: .imap, steps: [S("* OK"), C("a AUTHENTICATE PLAIN !!notbase64!!")]),
    AnomalyCase(kind: .unknownMechanism, proto: .smtp, steps: [S("220 mx"), C("AUTH X-MADE-UP")]),
    AnomalyCase(kind: .unknownMechanism, proto: .managesieve, steps: sieveGreeting + [C(#"AUTHENTICATE "X-MADE-UP""#)]),
    AnomalyCase(kind: .pipeliningAfterSTARTTLS, proto: .smtp, steps: [
        S("220 mx"), C("EHLO c"), S("250 STARTTLS"), Craw("STARTTLS\r\nAUTH PLAIN " + b64("\0u\0p") + "\r\n"), S("220 go"),
    ]),
    AnomalyCase(kind: .pipeliningAfterSTARTTLS, proto: .pop3, steps: [S("+OK"), Craw("STLS\r\nUSER u\r\n"), S("+OK go")]),
    AnomalyCase(kind: .bdatSizeInvalid, proto: .smtp, steps: [S("220 mx"), C("BDAT lots LAST")]),
    AnomalyCase(kind: .malformedLogin, proto: .imap, steps: [S("* OK"), C("a LOGIN")]),
]

@Test("each anomaly is counted under its own name", arguments: anomalyCases)
func anomalyIsNamed(_ c: AnomalyCase) {
    let parser = ProtocolRegistry.makeParser(for: c.proto, limits: c.limits)
    for (i, step) in c.steps.enumerated() { parser.receive(step.bytes.span, from: step.side, time: Int64(i)) }
    let counts = parser.anomalyCounts
    #expect(counts[c.kind] >= 1)
    for other in ParserAnomaly.allCases where other != c.kind { #expect(counts[other] == 0, "\(other.name)") }
    #expect(parser.anomalies == counts.total)
    var totals = AnomalyTotals()
    parser.close(time: 99, anomalies: &totals) { _, _ in }
    for kind in ParserAnomaly.allCases { #expect(totals[c.proto, kind] == UInt64(counts[kind])) }
    #expect(totals.total == UInt64(counts.total))
    #expect(parser.anomalies == 0, "reset after close")
}

@Test("GSSAPI, EXTERNAL and ANONYMOUS are known mechanisms, not anomalies")
func knownMechanismsWithoutSecrets() {
    for mech in ["GSSAPI", "EXTERNAL", "ANONYMOUS"] {
        let parser = ProtocolRegistry.makeParser(for: .smtp)
        for step in [S("220 mx"), C("AUTH " + mech), S("235 ok")] { parser.receive(step.bytes.span, from: step.side, time: 0) }
        #expect(parser.anomalies == 0 && !parser.hasFindings, "\(mech)")
    }
}
