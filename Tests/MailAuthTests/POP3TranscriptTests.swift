@testable import MailAuth
import Testing

let pop3Greeting = S("+OK Dovecot ready. <1896.697170952@dbc.mtview.ca.us>")
let pop3Capa: [Step] = [C("CAPA"), S("+OK"), S("CAPA"), S("TOP"), S("STLS"), S("SASL PLAIN LOGIN CRAM-MD5"), S("USER"), S(".")]

let pop3Transcripts: [Transcript] = [
    Transcript(name: "USER/PASS success, no CAPA", proto: .pop3, steps: [
        pop3Greeting, C("USER alice"), S("+OK"), C("PASS Fx-pop3-S3cret"), S("+OK Logged in."), C("QUIT"), S("+OK Bye"),
    ], expected: [Expected(method: "USER", username: "alice", outcome: .success, starttls: .unknown)],
       secrets: ["Fx-pop3-S3cret"]),
    Transcript(name: "CAPA offers STLS, USER/PASS failure", proto: .pop3, steps: [pop3Greeting] + pop3Capa + [
        C("USER bob"), S("+OK"), C("PASS wrong-pass-1"), S("-ERR [AUTH] Authentication failed."),
    ], expected: [Expected(method: "USER", username: "bob", outcome: .failure, starttls: .offered)]),
    Transcript(name: "CAPA without STLS", proto: .pop3, steps: [pop3Greeting, C("CAPA"), S("+OK"), S("USER"), S("."),
        C("USER bob"), S("+OK"), C("PASS pw-123456"), S("+OK"),
    ], expected: [Expected(method: "USER", username: "bob", outcome: .success, starttls: .notOffered)]),
    Transcript(name: "APOP is hashed", proto: .pop3, steps: [
        pop3Greeting, C("APOP mrose c4c9334bac560ecc979e58001b3e22fb"), S("+OK maildrop has 1 message"),
    ], expected: [Expected(method: "APOP", exposure: .hashed, username: "mrose", outcome: .success, starttls: .unknown)]),
    Transcript(name: "AUTH PLAIN initial response", proto: .pop3, steps: [
        pop3Greeting, C("AUTH PLAIN " + b64("\0carol\0Fx-plain-ir-S3cret")), S("+OK Logged in."),
    ], expected: [Expected(method: "AUTH PLAIN", username: "carol", outcome: .success, starttls: .unknown)],
       secrets: ["Fx-plain-ir-S3cret"]),
    Transcript(name: "AUTH PLAIN continuation", proto: .pop3, steps: [
        pop3Greeting, C("AUTH PLAIN"), S("+ "), C(b64("carol\0carol\0Fx-plain-S3cret")), S("-ERR Authentication failed"),
    ], expected: [Expected(method: "AUTH PLAIN", username: "carol", outcome: .failure, starttls: .unknown)]),
    Transcript(name: "AUTH LOGIN two prompts", proto: .pop3, steps: [
        pop3Greeting, C("AUTH LOGIN"), S("+ VXNlcm5hbWU6"), C(b64("dave")), S("+ UGFzc3dvcmQ6"),
        C(b64("Fx-login-S3cret")), S("+OK Logged in."),
    ], expected: [Expected(method: "AUTH LOGIN", username: "dave", outcome: .success, starttls: .unknown)]),
    Transcript(name: "AUTH CRAM-MD5 is hashed", proto: .pop3, steps: [
        pop3Greeting, C("AUTH CRAM-MD5"), S("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"),
        C(b64("tim b913a602c7eda7a495b4e6e7334d3890")), S("+OK"),
    ], expected: [Expected(method: "AUTH CRAM-MD5", exposure: .hashed, username: "tim", outcome: .success, starttls: .unknown)]),
    Transcript(name: "AUTH cancelled with *", proto: .pop3, steps: [
        pop3Greeting, C("AUTH LOGIN"), S("+ VXNlcm5hbWU6"), C("*"), S("-ERR cancelled"),
    ], expected: []),
    Transcript(name: "STLS accepted: nothing after is parsed", proto: .pop3, steps: [pop3Greeting] + pop3Capa + [
        C("STLS"), S("+OK Begin TLS negotiation now."), Craw("\u{16}\u{03}\u{01}USER x\r\nPASS y\r\n"), S("+OK"),
    ], expected: []),
    Transcript(name: "STLS refused, then USER/PASS", proto: .pop3, steps: [pop3Greeting] + pop3Capa + [
        C("STLS"), S("-ERR TLS support isn't enabled."), C("USER erin"), S("+OK"), C("PASS Fx-refused-S3cret"), S("+OK"),
    ], expected: [Expected(method: "USER", username: "erin", outcome: .success, starttls: .refused)]),
    Transcript(name: "commands pipelined behind STLS are cleartext", proto: .pop3, steps: [pop3Greeting,
        Craw("STLS\r\nUSER erin\r\nPASS Fx-inject-S3cret\r\n"), S("+OK Begin TLS"),
    ], expected: [Expected(method: "USER", username: "erin", outcome: .unknown, starttls: .unknown)]),
    Transcript(name: "RETR body lines are not replies", proto: .pop3, steps: [pop3Greeting,
        C("USER alice"), S("+OK"), C("PASS pw-abcdefg"), S("+OK"), C("RETR 1"),
        Sraw("+OK 40 octets\r\n+OK not a reply\r\nPASS nothing\r\n..stuffed\r\n.\r\n"), C("USER again"), S("+OK"),
        C("PASS pw-second"), S("-ERR no"),
    ], expected: [Expected(method: "USER", username: "alice", outcome: .success, starttls: .unknown),
                  Expected(method: "USER", username: "again", outcome: .failure, starttls: .unknown)]),
    Transcript(name: "no reply seen: outcome unknown", proto: .pop3, steps: [
        pop3Greeting, C("USER alice"), S("+OK"), C("PASS pw-nothing"),
    ], expected: [Expected(method: "USER", username: "alice", outcome: .unknown, starttls: .unknown)]),
    Transcript(name: "PASS without USER (mid-stream)", proto: .pop3, steps: [C("PASS pw-midstream"), S("+OK")],
               expected: [Expected(method: "USER", username: nil, outcome: .success, starttls: .unknown)]),
    Transcript(name: "AUTH XOAUTH2 bearer token", proto: .pop3, steps: [pop3Greeting,
        C("AUTH XOAUTH2"), S("+ "), C(b64("user=joe\u{1}auth=Bearer tok-abcdef\u{1}\u{1}")), S("+OK"),
    ], expected: [Expected(method: "AUTH XOAUTH2", username: "joe", outcome: .success, starttls: .unknown)]),
]

@Test("POP3 transcripts", arguments: pop3Transcripts)
func pop3(_ t: Transcript) { check(t) }
