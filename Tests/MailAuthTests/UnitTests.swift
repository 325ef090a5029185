@testable import MailAuth
import Testing

@Test("greeting classification", arguments: [
    ("+OK POP3 ready", MailProtocol.pop3), ("* OK [CAPABILITY IMAP4rev1] hi", .imap), ("* PREAUTH hi", .imap),
    ("220 mx ESMTP Postfix", .smtp), ("220-mx ESMTP\r\n220 ok", .smtp),
] as [(String, MailProtocol)])
func greeting(_ text: String, _ proto: MailProtocol) {
    let bytes = Array((text + "\r\n").utf8)
    #expect(ProtocolRegistry.protocolForGreeting(bytes.span) == proto)
}

@Test("not mail greetings", arguments: ["220 ProFTPD Server ready", "-ERR", "* BAD", "HTTP/1.1 200 OK", "+PONG", "", "22"])
func notMail(_ text: String) {
    let bytes = Array((text + "\r\n").utf8)
    #expect(ProtocolRegistry.protocolForGreeting(bytes.span) == nil)
}

@Test("base64 decode", arguments: [("YWxpY2U=", "alice"), ("YWxpY2U", "alice"), ("", ""), ("AGEAYg==", "\0a\0b")])
func base64(_ input: String, _ want: String) {
    let bytes = Array(input.utf8)
    var out: [UInt8] = []
    #expect(Base64.decode(bytes.span, Token(start: 0, end: bytes.count), into: &out))
    #expect(out == Array(want.utf8))
}

@Test("base64 rejects junk", arguments: ["QUIT!", "a=b", "####"])
func base64Junk(_ input: String) {
    let bytes = Array(input.utf8)
    var out: [UInt8] = []
    #expect(!Base64.decode(bytes.span, Token(start: 0, end: bytes.count), into: &out))
}

@Test func framerOverlongLineIsDiscardedToLF() {
    var f = LineFramer()
    let long = [UInt8](repeating: 0x41, count: SessionLimits.defaultMaxLine + 10) + Array("\r\nNEXT\r\n".utf8)
    var lines: [[UInt8]] = []
    var cursor = 0
    // Deliver in 100-byte pieces so the long line straddles deliveries.
    var offset = 0
    while offset < long.count {
        let piece = Array(long[offset..<min(offset + 100, long.count)])
        cursor = 0
        while cursor < piece.count {
            switch f.next(piece.span, &cursor) {
            case .line(let r): lines.append(Array(piece[r]))
            case .bufferedLine: lines.append(f.partial); f.clearPartial()
            default: break
            }
        }
        offset += 100
    }
    #expect(lines == [Array("NEXT\r".utf8)])
    #expect(f.overlongLines == 1)
}

@Test func framerGapInsideLiteralConsumesIt() {
    var f = LineFramer()
    f.setMode(.literal(10))
    f.gap(4)
    #expect(f.mode == .literal(6))
    f.gap(100)
    #expect(f.mode == .line)
}

@Test func gapMarksLaterLoginsAndResolvesPendingAsUnknown() {
    let p = ProtocolRegistry.makeParser(for: .pop3)
    for s in [S("+OK hi"), C("USER a"), S("+OK"), C("PASS pw-one")] { p.receive(s.bytes.span, from: s.side, time: 1) }
    p.gap(100, from: .server, time: 2)
    var found = p.takeFindings()
    #expect(found.map(\.outcome) == [.unknown])
    #expect(found.first?.afterGap == false)
    for s in [C("USER b"), S("+OK"), C("PASS pw-two"), S("+OK")] { p.receive(s.bytes.span, from: s.side, time: 3) }
    found = p.takeFindings()
    #expect(found.map(\.outcome) == [.success])
    #expect(found.first?.afterGap == true)
}

@Test func usernameIsBounded() {
    let long = String(repeating: "u", count: 1000)
    let p = ProtocolRegistry.makeParser(for: .imap)
    for s in [C("a LOGIN \(long) pw"), S("a OK")] { p.receive(s.bytes.span, from: s.side, time: 1) }
    let f = p.takeFindings()
    #expect(f.first?.username?.count == Finding.maxUsernameBytes)
    #expect(f.first?.usernameTruncated == true)
}

@Test func ntlmAuthenticateMessageNamesDomainAndUser() {
    // A minimal NTLM type 3 message: domain "DOM", user "jack", ASCII (no unicode flag).
    var m = [UInt8](repeating: 0, count: 64)
    m.replaceSubrange(0..<8, with: Array("NTLMSSP\0".utf8))
    m[8] = 3
    let domain = Array("DOM".utf8), user = Array("jack".utf8)
    func buffer(_ at: Int, _ len: Int, _ off: Int) { m[at] = UInt8(len); m[at + 2] = UInt8(len); m[at + 4] = UInt8(off) }
    buffer(28, domain.count, 64)
    buffer(36, user.count, 64 + domain.count)
    m += domain + user
    let blob = Array(b64(String(decoding: m, as: UTF8.self)).utf8)
    let p = ProtocolRegistry.makeParser(for: .smtp)
    let steps = [S("220 mx"), C("AUTH NTLM"), S("334 "), C("TlRMTVNTUAABAAAAB4IIAAAAAAAAAAAAAAAAAAAAAAA="),
                 S("334 TlRMTVNTUAACAAAA"), Step(side: .client, bytes: blob + [13, 10]), S("235 ok")]
    for s in steps { p.receive(s.bytes.span, from: s.side, time: 1) }
    let f = p.takeFindings()
    #expect(f.map(\.method) == ["AUTH NTLM"])
    #expect(f.first.flatMap { $0.username.map { String(decoding: $0, as: UTF8.self) } } == #"DOM\jack"#)
    #expect(f.first?.exposure == .hashed)
}

@Test func serverGapKeepsTheClientsUser() {
    // A lost server reply between USER and PASS must not lose the login name (the client side
    // is complete); only a client-side gap can have swallowed a newer USER.
    let p = ProtocolRegistry.makeParser(for: .pop3)
    for s in [S("+OK hi"), C("CAPA"), C("USER alice")] { p.receive(s.bytes.span, from: s.side, time: 1) }
    p.gap(104, from: .server, time: 2)
    for s in [S("+OK"), C("PASS pw-x"), S("+OK Logged in.")] { p.receive(s.bytes.span, from: s.side, time: 3) }
    let f = p.takeFindings()
    #expect(f.map(\.username) == [Array("alice".utf8)])
    #expect(f.first?.afterGap == true)
}

/// A RETR body is skipped by the framer to its "." line; if a server-side gap swallows that line,
/// replies are read again at once instead of skipping to a "." that never comes.
@Test func pop3GapInsideListingReadsRepliesAgain() {
    let p = ProtocolRegistry.makeParser(for: .pop3)
    func feed(_ s: String, _ side: Side) { Array(s.utf8).withUnsafeBufferPointer { p.receive($0.span, from: side, time: 1) } }
    feed("+OK ready\r\n", .server)
    feed("RETR 1\r\n", .client)
    feed("+OK 900 octets\r\nSubject: hello\r\n", .server)
    p.gap(700, from: .server, time: 2)
    feed("USER ivan\r\nPASS fake-ivan-pw\r\n", .client)
    feed("+OK\r\n+OK logged in\r\n", .server)
    let findings = p.takeFindings()
    #expect(findings.count == 1)
    #expect(findings.first?.username == Array("ivan".utf8))
    #expect(findings.first?.outcome == .success)
    #expect(findings.first?.afterGap == true)
}

/// The dot-body scan against a plain reference: random bodies (lines of every length around the
/// 32-byte blocks the scan skips by, dot-stuffed lines, lines starting with ".", CRLF and bare
/// LF), cut into random deliveries; the body must end just past the first line that is only "."
/// (before its CR or LF), exactly where the reference says, whatever the cuts.
@Test func dotBodyEndsWhereTheReferenceSays() {
    var seed: UInt64 = 0xD07B0D1
    func next(_ n: Int) -> Int {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        return Int(seed >> 33) % n
    }
    for round in 0..<3000 {
        var body: [UInt8] = []
        let lines = 1 + next(12)
        for _ in 0..<lines {
            switch next(10) {
            case 0: body += Array("..stuffed".utf8)
            case 1: body += Array(".x".utf8)
            case 2: body += Array(".".utf8) + Array(repeating: 0x2E, count: next(3))  // "..", "..."
            case 3: body += []  // empty line
            default: body += (0..<next(100)).map { _ in UInt8(0x41 + next(26)) }
            }
            body += next(3) == 0 ? [0x0A] : [0x0D, 0x0A]
        }
        let terminated = next(4) != 0
        if terminated { body += next(2) == 0 ? Array(".\r\n".utf8) : Array(".\n".utf8) }
        body += Array("NEXT\r\n".utf8)
        // Reference: the first line that is exactly "." or ".\r".
        var expected: Int? = nil
        var lineStart = 0
        for i in body.indices where body[i] == 0x0A {
            let line = body[lineStart..<i]
            if line.elementsEqual([0x2E]) || line.elementsEqual([0x2E, 0x0D]) { expected = i + 1; break }
            lineStart = i + 1
        }
        var framer = LineFramer()
        framer.setMode(.dotBody)
        var ended: Int? = nil
        var offset = 0
        while offset < body.count && ended == nil {
            let piece = Array(body[offset..<min(body.count, offset + 1 + next(round % 2 == 0 ? 8 : 200))])
            var cursor = 0
            while cursor < piece.count && ended == nil {
                if case .modeEnded = framer.next(piece.span, &cursor) { ended = offset + cursor }
            }
            offset += piece.count
        }
        #expect(ended == expected, "round \(round)")
        if ended != expected { return }
    }
}
