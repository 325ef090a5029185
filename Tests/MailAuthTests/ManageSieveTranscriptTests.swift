@testable import MailAuth
import Testing

// ManageSieve (RFC 5804) as dovecot's Pigeonhole and the clients in fixtures/ speak it: the
// greeting is a capability list, SASL responses are quoted strings or `{n+}` literals.

let sieveGreeting: [Step] = [
    S(#""IMPLEMENTATION" "Dovecot (Debian) Pigeonhole""#),
    S(#""SIEVE" "fileinto reject envelope""#),
    S(#""SASL" "PLAIN LOGIN CRAM-MD5""#),
    S(#""STARTTLS""#),
    S(#""VERSION" "1.0""#),
    S(#"OK "Dovecot (Debian) ready.""#),
]
let sieveGreetingNoTLS: [Step] = [
    S(#""IMPLEMENTATION" "Dovecot (Debian) Pigeonhole""#), S(#""SASL" "PLAIN LOGIN""#), S(#"OK "ready.""#),
]

let sieveTranscripts: [Transcript] = [
    Transcript(name: "PLAIN, initial response as a literal (sieve-connect)", proto: .managesieve,
               steps: sieveGreetingNoTLS + [
        C(#"AUTHENTICATE "PLAIN" {"# + "\(b64("\0alice\0Fx-sieve-S3cret-plain").utf8.count)+}"),
        C(b64("\0alice\0Fx-sieve-S3cret-plain")), S(#"OK "Logged in.""#),
    ], expected: [Expected(method: "AUTHENTICATE PLAIN", username: "alice", outcome: .success, starttls: .notOffered)],
       secrets: ["Fx-sieve-S3cret-plain"]),
    Transcript(name: "PLAIN, initial response quoted", proto: .managesieve, steps: sieveGreeting + [
        C(#"AUTHENTICATE "PLAIN" ""# + b64("\0bob\0Fx-q") + #"""#), S(#"NO "Authentication failed.""#),
    ], expected: [Expected(method: "AUTHENTICATE PLAIN", username: "bob", outcome: .failure, starttls: .offered)]),
    Transcript(name: "PLAIN, empty challenge then quoted response (RFC 5804 example)", proto: .managesieve,
               steps: sieveGreeting + [
        C(#"authenticate "plain""#), S(#""""#), C("\"" + b64("\0carol\0Fx-c") + "\""), S("OK"),
    ], expected: [Expected(method: "AUTHENTICATE PLAIN", username: "carol", outcome: .success, starttls: .offered)]),
    Transcript(name: "LOGIN, literal responses after each challenge", proto: .managesieve, steps: sieveGreetingNoTLS + [
        C(#"AUTHENTICATE "LOGIN""#), S(#""VXNlcm5hbWU6""#), C("{\(b64("dave").utf8.count)+}"), C(b64("dave")),
        S(#""UGFzc3dvcmQ6""#), C("{\(b64("Fx-l-S3crt").utf8.count)+}"), C(b64("Fx-l-S3crt")), S(#"OK "Logged in.""#),
    ], expected: [Expected(method: "AUTHENTICATE LOGIN", username: "dave", outcome: .success, starttls: .notOffered)],
       secrets: ["Fx-l-S3crt"]),
    Transcript(name: "LOGIN, password sent before the challenge (PyPI managesieve)", proto: .managesieve,
               steps: sieveGreeting + [
        C(#"AUTHENTICATE "LOGIN" ""# + b64("erin") + #"""#), C("\"" + b64("Fx-early") + "\""),
        S(#""UGFzc3dvcmQ6""#), S(#"OK "Logged in.""#),
    ], expected: [Expected(method: "AUTHENTICATE LOGIN", username: "erin", outcome: .success, starttls: .offered)]),
    Transcript(name: "CRAM-MD5 is hashed", proto: .managesieve, steps: sieveGreeting + [
        C(#"AUTHENTICATE "CRAM-MD5""#), S("\"" + b64("<1.2@example.net>") + "\""),
        C("\"" + b64("frank 0123456789abcdef0123456789abcdef") + "\""), S("OK"),
    ], expected: [Expected(method: "AUTHENTICATE CRAM-MD5", exposure: .hashed, username: "frank", outcome: .success,
                           starttls: .offered)]),
    Transcript(name: "cancelled with \"*\": nothing", proto: .managesieve, steps: sieveGreeting + [
        C(#"AUTHENTICATE "PLAIN""#), S(#""""#), C(#""*""#), S(#"NO "Cancelled""#),
    ], expected: []),
    Transcript(name: "STARTTLS accepted: nothing after it", proto: .managesieve, steps: sieveGreeting + [
        C("STARTTLS"), S(#"OK "Begin TLS negotiation now.""#),
        C(#"AUTHENTICATE "PLAIN" ""# + b64("\0gina\0Fx-tls") + #"""#), S("OK"),
    ], expected: []),
    Transcript(name: "STARTTLS refused: the login is in cleartext", proto: .managesieve, steps: sieveGreeting + [
        C("STARTTLS"), S(#"NO "TLS support isn't enabled.""#),
        C(#"AUTHENTICATE "PLAIN" {"# + "\(b64("\0hank\0Fx-ref").utf8.count)+}"), C(b64("\0hank\0Fx-ref")), S("OK"),
    ], expected: [Expected(method: "AUTHENTICATE PLAIN", username: "hank", outcome: .success, starttls: .refused)]),
    Transcript(name: "PUTSCRIPT literal holding AUTHENTICATE text is skipped", proto: .managesieve,
               steps: sieveGreeting + [
        C(#"AUTHENTICATE "PLAIN" ""# + b64("\0ivy\0Fx-i") + #"""#), S("OK"),
        Craw("PUTSCRIPT \"s\" {40+}\r\nAUTHENTICATE \"PLAIN\" \"AGpvZQBzZWNyZXQ=\"\r\n\r\n"), S("OK"),
        Craw("GETSCRIPT \"s\"\r\n"), Sraw("{40}\r\nAUTHENTICATE \"PLAIN\" \"AGpvZQBzZWNyZXQ=\"\r\n\r\nOK\r\n"),
    ], expected: [Expected(method: "AUTHENTICATE PLAIN", username: "ivy", outcome: .success, starttls: .offered)]),
    Transcript(name: "BYE ends the exchange as a failure", proto: .managesieve, steps: sieveGreeting + [
        C(#"AUTHENTICATE "PLAIN" ""# + b64("\0jack\0Fx-j") + #"""#), S(#"BYE "Too many failures""#),
    ], expected: [Expected(method: "AUTHENTICATE PLAIN", username: "jack", outcome: .failure, starttls: .offered)]),
    Transcript(name: "no reply: unknown", proto: .managesieve, steps: sieveGreeting + [
        C(#"AUTHENTICATE "PLAIN" ""# + b64("\0kim\0Fx-k") + #"""#),
    ], expected: [Expected(method: "AUTHENTICATE PLAIN", username: "kim", outcome: .unknown, starttls: .offered)]),
    Transcript(name: "picked up mid-stream: no capability list, STARTTLS unknown", proto: .managesieve, steps: [
        C(#"AUTHENTICATE "PLAIN" ""# + b64("\0lee\0Fx-m") + #"""#), S("OK"),
    ], expected: [Expected(method: "AUTHENTICATE PLAIN", username: "lee", outcome: .success, starttls: .unknown)]),
]

@Test("ManageSieve transcripts", arguments: sieveTranscripts)
func manageSieve(_ t: Transcript) { check(t) }

@Test("the ManageSieve greeting is recognised, and only it", arguments: [
    (#""IMPLEMENTATION" "Dovecot Pigeonhole"\#r\#n"#, ProtocolRegistry.Greeting.greeting(.managesieve)),
    (#""SASL" "PLAIN"\#r\#n"#, .greeting(.managesieve)),
    (#""STARTTLS"\#r\#n"#, .greeting(.managesieve)),
    // An extension first: the probe reads on to the closing OK.
    (#""X-FOO" "1"\#r\#n"#, .needMore),
    (#""X-FOO" "1"\#r\#n"SASL" "PLAIN"\#r\#nOK "hi"\#r\#n"#, .greeting(.managesieve)),
    (#""X-FOO" "1"\#r\#nhello\#r\#n"#, .notGreeting),
    (#""IMPLEMENTATION"#, .needMore),
    (#""just a quoted line"\#r\#n"#, .notGreeting),
    (#""IMPLEMENTATION" junk\#r\#n"#, .notGreeting),
] as [(String, ProtocolRegistry.Greeting)])
func manageSieveGreeting(_ text: String, _ want: ProtocolRegistry.Greeting) {
    #expect(ProtocolRegistry.classify(Array(text.utf8).span) == want, "\(text)")
}

@Test("the greeting's capabilities are the server's facts")
func manageSieveFacts() {
    let parser = ProtocolRegistry.makeParser(for: .managesieve)
    for step in sieveGreeting { parser.receive(step.bytes.span, from: step.side, time: 0) }
    let facts = parser.facts
    #expect(facts.capabilitiesSeen && facts.starttlsOffered)
    #expect(facts.authMechanisms == ["PLAIN", "LOGIN", "CRAM-MD5"])
    #expect(!facts.userCommandOffered && !facts.loginDisabled)
    #expect(facts.greeting.map { String(decoding: $0, as: UTF8.self) } == #""IMPLEMENTATION" "Dovecot (Debian) Pigeonhole""#)
}
