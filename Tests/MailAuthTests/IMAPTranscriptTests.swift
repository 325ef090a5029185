@testable import MailAuth
import Testing

let imapGreeting = S("* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN] Dovecot ready.")
let imapGreetingNoTLS = S("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready")

let imapTranscripts: [Transcript] = [
    Transcript(name: "LOGIN atoms", proto: .imap, steps: [
        imapGreeting, C("a1 LOGIN alice Fx-imap-S3cret"), S("a1 OK [CAPABILITY IMAP4rev1] Logged in"),
    ], expected: [Expected(method: "LOGIN", username: "alice", outcome: .success, starttls: .offered)],
       secrets: ["Fx-imap-S3cret"]),
    Transcript(name: "login lower case, no STARTTLS offered", proto: .imap, steps: [
        imapGreetingNoTLS, C("x login bob pw-lower"), S("x NO [AUTHENTICATIONFAILED] failed"),
    ], expected: [Expected(method: "LOGIN", username: "bob", outcome: .failure, starttls: .notOffered)]),
    Transcript(name: "LOGIN quoted with escapes", proto: .imap, steps: [
        imapGreeting, C(#"a1 LOGIN "al\"i\\ce" "p\"a\\ss word""#), S("a1 OK done"),
    ], expected: [Expected(method: "LOGIN", username: #"al"i\ce"#, outcome: .success, starttls: .offered)]),
    Transcript(name: "LOGIN synchronising literals", proto: .imap, steps: [
        imapGreeting, C("a1 LOGIN {5}"), S("+ Ready for literal"), Craw("alice {12}\r\n"), S("+ Ready"),
        Craw("Fx-lit-S3crt\r\n"), S("a1 OK Logged in"),
    ], expected: [Expected(method: "LOGIN", username: "alice", outcome: .success, starttls: .offered)],
       secrets: ["Fx-lit-S3crt"]),
    Transcript(name: "LOGIN non-synchronising literals", proto: .imap, steps: [
        imapGreeting, Craw("a1 LOGIN {5+}\r\ncarol {12+}\r\nFx-lit-S3crt\r\n"), S("a1 OK Logged in"),
    ], expected: [Expected(method: "LOGIN", username: "carol", outcome: .success, starttls: .offered)]),
    Transcript(name: "LOGIN atom user, literal password", proto: .imap, steps: [
        imapGreeting, Craw("a1 LOGIN dave {3+}\r\nx y\r\n"), S("a1 NO bad"),
    ], expected: [Expected(method: "LOGIN", username: "dave", outcome: .failure, starttls: .offered)]),
    Transcript(name: "AUTHENTICATE PLAIN with SASL-IR", proto: .imap, steps: [
        imapGreeting, C("a2 AUTHENTICATE PLAIN " + b64("\0erin\0Fx-ir-S3cret")), S("a2 OK Logged in"),
    ], expected: [Expected(method: "AUTHENTICATE PLAIN", username: "erin", outcome: .success, starttls: .offered)],
       secrets: ["Fx-ir-S3cret"]),
    Transcript(name: "AUTHENTICATE PLAIN with continuation", proto: .imap, steps: [
        imapGreeting, C("a2 authenticate plain"), S("+ "), C(b64("\0erin\0Fx-cont-S3cret")), S("a2 OK Logged in"),
    ], expected: [Expected(method: "AUTHENTICATE PLAIN", username: "erin", outcome: .success, starttls: .offered)]),
    Transcript(name: "AUTHENTICATE LOGIN", proto: .imap, steps: [
        imapGreeting, C("a3 AUTHENTICATE LOGIN"), S("+ VXNlcm5hbWU6"), C(b64("frank")), S("+ UGFzc3dvcmQ6"),
        C(b64("Fx-al-S3cret")), S("a3 NO [AUTHENTICATIONFAILED] Authentication failed."),
    ], expected: [Expected(method: "AUTHENTICATE LOGIN", username: "frank", outcome: .failure, starttls: .offered)]),
    Transcript(name: "AUTHENTICATE CRAM-MD5", proto: .imap, steps: [
        imapGreeting, C("a4 AUTHENTICATE CRAM-MD5"), S("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"),
        C(b64("grace b913a602c7eda7a495b4e6e7334d3890")), S("a4 OK"),
    ], expected: [Expected(method: "AUTHENTICATE CRAM-MD5", exposure: .hashed, username: "grace", outcome: .success, starttls: .offered)]),
    Transcript(name: "STARTTLS accepted (tag .)", proto: .imap, steps: [
        imapGreeting, C(". STARTTLS"), S(". OK Begin TLS negotiation now."), Craw("\u{16}\u{03}\u{01}a LOGIN x y\r\n"),
    ], expected: []),
    Transcript(name: "STARTTLS refused, then LOGIN", proto: .imap, steps: [
        imapGreeting, C("a1 STARTTLS"), S("a1 BAD TLS support isn't enabled."), C("a2 LOGIN heidi pw-after-refusal"),
        S("a2 OK"),
    ], expected: [Expected(method: "LOGIN", username: "heidi", outcome: .success, starttls: .refused)]),
    Transcript(name: "LOGINDISABLED server, client logs in anyway", proto: .imap, steps: [
        S("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready"), C("a1 LOGIN ivan pw-disabled"),
        S("a1 NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."),
    ], expected: [Expected(method: "LOGIN", username: "ivan", outcome: .failure, starttls: .offered)]),
    Transcript(name: "APPEND literal content is not a command", proto: .imap, steps: [
        imapGreeting, C("a1 LOGIN judy pw-one"), S("a1 OK"), C("a2 APPEND INBOX {32}"), S("+ Ready"),
        Craw("a9 LOGIN mallory pw-in-message\r\n\r\n"), S("a2 OK appended"),
    ], expected: [Expected(method: "LOGIN", username: "judy", outcome: .success, starttls: .offered)]),
    Transcript(name: "FETCH literal in a reply does not complete a tag", proto: .imap, steps: [
        imapGreeting, Craw("a1 FETCH 1 BODY[]\r\na2 LOGIN kim pw-two\r\n"),
        Sraw("* 1 FETCH (BODY[] {11}\r\na2 OK fake)\r\n"), S("a1 OK done"), S("a2 NO real"),
    ], expected: [Expected(method: "LOGIN", username: "kim", outcome: .failure, starttls: .offered)]),
    Transcript(name: "refused synchronising literal", proto: .imap, steps: [
        imapGreeting, C("a1 LOGIN {5}"), S("a1 NO [PRIVACYREQUIRED] no"), C("a2 LOGOUT"), S("a2 OK"),
    ], expected: []),
    Transcript(name: "tags sharing their first 64 bytes are different tags", proto: .imap, steps: [
        imapGreeting, C(String(repeating: "t", count: 64) + "B LOGIN mike pw-long-tag"),
        S(String(repeating: "t", count: 64) + "A OK not yours"), S(String(repeating: "t", count: 64) + "B NO real"),
    ], expected: [Expected(method: "LOGIN", username: "mike", outcome: .failure, starttls: .offered)]),
    Transcript(name: "no tagged reply: unknown", proto: .imap, steps: [imapGreeting, C("a1 LOGIN lee pw-x")],
               expected: [Expected(method: "LOGIN", username: "lee", outcome: .unknown, starttls: .offered)]),
]

@Test("IMAP transcripts", arguments: imapTranscripts)
func imap(_ t: Transcript) { check(t) }
