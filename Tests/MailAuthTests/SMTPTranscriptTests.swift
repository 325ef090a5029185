@testable import MailAuth
import Testing

let smtpGreeting: [Step] = [S("220-mx.example ESMTP"), S("220 welcome")]
let smtpEhlo: [Step] = [C("EHLO client.example"), S("250-mx.example"), S("250-PIPELINING"), S("250-STARTTLS"),
                        S("250-AUTH PLAIN LOGIN CRAM-MD5"), S("250 CHUNKING")]
let smtpEhloNoTLS: [Step] = [C("EHLO client.example"), S("250-mx.example"), S("250 AUTH PLAIN LOGIN")]

let smtpTranscripts: [Transcript] = [
    Transcript(name: "AUTH PLAIN initial response", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        C("AUTH PLAIN " + b64("\0alice\0Fx-smtp-S3cret")), S("235 2.7.0 Authentication successful"),
    ], expected: [Expected(method: "AUTH PLAIN", username: "alice", outcome: .success, starttls: .offered)],
       secrets: ["Fx-smtp-S3cret"]),
    Transcript(name: "AUTH PLAIN after 334", proto: .smtp, steps: smtpGreeting + smtpEhloNoTLS + [
        C("AUTH PLAIN"), S("334 "), C(b64("\0bob\0Fx-334-S3cret")), S("535 5.7.8 failed"),
    ], expected: [Expected(method: "AUTH PLAIN", username: "bob", outcome: .failure, starttls: .notOffered)]),
    Transcript(name: "AUTH LOGIN with username on the AUTH line", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        C("AUTH LOGIN " + b64("carol")), S("334 UGFzc3dvcmQ6"), C(b64("Fx-ir-login")), S("235 ok"),
    ], expected: [Expected(method: "AUTH LOGIN", username: "carol", outcome: .success, starttls: .offered)]),
    Transcript(name: "AUTH LOGIN after prompts", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        C("auth login"), S("334 VXNlcm5hbWU6"), C(b64("dave")), S("334 UGFzc3dvcmQ6"), C(b64("Fx-prompt")),
        S("235 ok"),
    ], expected: [Expected(method: "AUTH LOGIN", username: "dave", outcome: .success, starttls: .offered)]),
    Transcript(name: "AUTH CRAM-MD5", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        C("AUTH CRAM-MD5"), S("334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"),
        C(b64("erin b913a602c7eda7a495b4e6e7334d3890")), S("235 ok"),
    ], expected: [Expected(method: "AUTH CRAM-MD5", exposure: .hashed, username: "erin", outcome: .success, starttls: .offered)]),
    Transcript(name: "pipelined AUTH, MAIL, RCPT", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        Craw("AUTH PLAIN " + b64("\0frank\0Fx-pipe") + "\r\nMAIL FROM:<f@x>\r\nRCPT TO:<g@y>\r\n"),
        Sraw("535 5.7.8 no\r\n530 auth first\r\n530 auth first\r\n"),
    ], expected: [Expected(method: "AUTH PLAIN", username: "frank", outcome: .failure, starttls: .offered)]),
    Transcript(name: "DATA body never reads as commands", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        C("MAIL FROM:<a@x>"), S("250 ok"), C("RCPT TO:<b@y>"), S("250 ok"), C("DATA"), S("354 go"),
        Craw("Subject: t\r\n\r\nAUTH PLAIN " + b64("\0mallory\0body-secret") + "\r\n.AUTH LOGIN\r\na1 LOGIN x y\r\n.\r\n"),
        S("250 queued"), C("AUTH PLAIN " + b64("\0grace\0Fx-after-body")), S("235 ok"),
    ], expected: [Expected(method: "AUTH PLAIN", username: "grace", outcome: .success, starttls: .offered)]),
    Transcript(name: "DATA refused: commands resume", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        C("DATA"), S("503 5.5.1 need RCPT"), C("AUTH PLAIN " + b64("\0heidi\0Fx-refused-data")), S("235 ok"),
    ], expected: [Expected(method: "AUTH PLAIN", username: "heidi", outcome: .success, starttls: .offered)]),
    Transcript(name: "BDAT chunk is skipped", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        C("MAIL FROM:<a@x>"), S("250 ok"), C("RCPT TO:<b@y>"), S("250 ok"),
        Craw("BDAT 35 LAST\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n\r\n"), S("250 ok"),
        C("AUTH LOGIN " + b64("ivan")), S("334 UGFzc3dvcmQ6"), C(b64("Fx-bdat")), S("235 ok"),
    ], expected: [Expected(method: "AUTH LOGIN", username: "ivan", outcome: .success, starttls: .offered)]),
    Transcript(name: "STARTTLS accepted", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        C("STARTTLS"), S("220 2.0.0 Ready to start TLS"), Craw("\u{16}\u{03}\u{01}AUTH PLAIN AGEAYg==\r\n"),
    ], expected: []),
    Transcript(name: "STARTTLS refused, then AUTH", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        C("STARTTLS"), S("454 TLS currently unavailable"), C("AUTH PLAIN " + b64("\0judy\0Fx-454")), S("235 ok"),
    ], expected: [Expected(method: "AUTH PLAIN", username: "judy", outcome: .success, starttls: .refused)]),
    Transcript(name: "AUTH LOGIN aborted before the password", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        C("AUTH LOGIN"), S("334 VXNlcm5hbWU6"), C("QUIT"), S("334 UGFzc3dvcmQ6"),
    ], expected: []),
    Transcript(name: "AUTH PLAIN with an empty authcid keeps the authzid", proto: .smtp, steps: smtpGreeting + smtpEhlo + [
        C("AUTH PLAIN " + b64("kim\0\0Fx-empty-authcid")), S("235 ok"),
    ], expected: [Expected(method: "AUTH PLAIN", username: "kim", outcome: .success, starttls: .offered)]),
    Transcript(name: "no EHLO: unknown context, unknown outcome", proto: .smtp, steps: [
        S("220 mx"), C("HELO x"), S("250 mx"), C("AUTH PLAIN " + b64("\0lee\0Fx-helo")),
    ], expected: [Expected(method: "AUTH PLAIN", username: "lee", outcome: .unknown, starttls: .unknown)]),
]

@Test("SMTP transcripts", arguments: smtpTranscripts)
func smtp(_ t: Transcript) { check(t) }
