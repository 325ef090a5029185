@testable import MailAuth
import Testing

// Keyword compares fold case eight bytes at a time (ASCII.upper8); these hold them to the byte
// rule: only a-z fold, every other byte (digits, punctuation, @ [ ` {, bytes >= 0x80) must match.

@Test func upper8FoldsExactlyLowerCaseLetters() {
    for b in 0...255 {
        let byte = UInt8(b)
        let word = UInt64(byte) | UInt64(byte) << 24 | UInt64(0x61) << 40 | UInt64(0xFF) << 56
        let want = UInt64(ASCII.upper(byte)) | UInt64(ASCII.upper(byte)) << 24 | UInt64(0x41) << 40 | UInt64(0xFF) << 56
        #expect(ASCII.upper8(word) == want, "byte \(b)")
    }
}

/// The byte rule, as the reference.
private func reference(_ token: [UInt8], _ keyword: String) -> Bool {
    let k = Array(keyword.utf8)
    return token.count == k.count && zip(token, k).allSatisfy { ASCII.upper($0) == $1 }
}

@Test("keyword compares", arguments: [
    "OK", "ok", "Ok", "O", "OKK", "NO", "BAD", "bad", "BA", "+OK", "+ok", "-ERR", "-err", "-ERS",
    "STARTTLS", "starttls", "StartTLS", "STARTTL", "STARTTLSX", "STARTTLs", "START\u{80}LS", "sTARTTLS",
    "LOGINDISABLED", "logindisabled", "LOGINDISABLE", "LOGINDISABLEd", "LOGINDISABLEF", "CAPABILITY",
    "capability", "CAPABILITx", "AUTHENTICATE", "authenticate", "AUTHENTICATF", "PREAUTH", "preauth",
    "PREAUT{", "PREAUT[", "AUTH=", "auth=", "AUTH-", "EHLO", "ehlo", "EHL@", "EHL`", "EHLo",
] as [String])
func keywordCompares(_ text: String) {
    let bytes = Array(("  " + text + " x").utf8)
    let t = Token(start: 2, end: bytes.count - 2)
    let s = bytes.span
    #expect(s.equalsUpper(t, "OK") == reference(Array(bytes[2..<t.end]), "OK"))
    #expect(s.equalsUpper(t, "NO") == reference(Array(bytes[2..<t.end]), "NO"))
    #expect(s.equalsUpper(t, "BAD") == reference(Array(bytes[2..<t.end]), "BAD"))
    #expect(s.equalsUpper(t, "+OK") == reference(Array(bytes[2..<t.end]), "+OK"))
    #expect(s.equalsUpper(t, "-ERR") == reference(Array(bytes[2..<t.end]), "-ERR"))
    #expect(s.equalsUpper(t, "EHLO") == reference(Array(bytes[2..<t.end]), "EHLO"))
    #expect(s.equalsUpper(t, "PREAUTH") == reference(Array(bytes[2..<t.end]), "PREAUTH"))
    #expect(s.equalsUpper(t, "STARTTLS") == reference(Array(bytes[2..<t.end]), "STARTTLS"))
    #expect(s.equalsUpper(t, "CAPABILITY") == reference(Array(bytes[2..<t.end]), "CAPABILITY"))
    #expect(s.equalsUpper(t, "AUTHENTICATE") == reference(Array(bytes[2..<t.end]), "AUTHENTICATE"))
    #expect(s.equalsUpper(t, "LOGINDISABLED") == reference(Array(bytes[2..<t.end]), "LOGINDISABLED"))
    let prefix = t.count >= 5 && reference(Array(bytes[2..<7]), "AUTH=")
    #expect(s.hasPrefixUpper(t, "AUTH=") == prefix)
}

/// `word` finds the end of a word sixteen bytes at a time (ASCII.blankOrEnd); held here to a byte
/// loop at every start and length around the block edges.
@Test func wordsEndAtTheFirstBlankAtEveryOffset() {
    for length in [0, 1, 5, 15, 16, 17, 31, 32, 33, 47, 70] {
        for blankAt in Array(0..<length) + [length] {
            for blank: UInt8 in [ASCII.space, ASCII.tab] {
                // A blank just past `end` must not end the word.
                var bytes = [UInt8](repeating: 0x41, count: length) + [ASCII.space, 0x41, 0x41]
                if blankAt < length { bytes[blankAt] = blank }
                for from in [0, 1, 3, 9, 15, 16, 17] where from <= length {
                    let t = bytes.span.word(from: from, end: length)
                    var s = from
                    while s < length && (bytes[s] == ASCII.space || bytes[s] == ASCII.tab) { s += 1 }
                    var e = s
                    while e < length && bytes[e] != ASCII.space && bytes[e] != ASCII.tab { e += 1 }
                    #expect(t == Token(start: s, end: e), "length \(length) blank \(blankAt) from \(from)")
                }
            }
        }
    }
}

/// An SMTP-looking banner that mentions FTP anywhere (any case) is not mail; the search steps
/// sixteen places at a time, so the word is put at every place of banners around the block sizes.
@Test func ftpBannersAreFoundAtEveryPlace() {
    for length in [4, 7, 16, 17, 18, 19, 20, 33, 34, 35, 50, 120] {
        for word in ["FTP", "ftp", "fTp", "FT", "F P", "FTQ", "GTP", "FUP"] {
            for place in 4...max(4, length - 3) {
                var bytes = Array("220 ".utf8) + [UInt8](repeating: 0x78, count: max(0, length - 4))
                let w = Array(word.utf8)
                for (k, c) in w.enumerated() where place + k < bytes.count { bytes[place + k] = c }
                let text = String(decoding: bytes, as: UTF8.self).lowercased()
                let want: MailProtocol? = text.contains("ftp") ? nil : .smtp
                #expect(ProtocolRegistry.protocolForGreeting((bytes + [ASCII.cr, ASCII.lf]).span) == want,
                        "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }
}

@Test("greetings told apart on their first byte", arguments: [
    ("220 mx ESMTP", MailProtocol.smtp), ("220-mx", .smtp), ("220\r", .smtp), ("220", nil), ("22", nil),
    ("2200 mx", nil), ("221 bye", nil), ("250 ok", nil), (" 220 mx", nil), ("220 ftp.example", nil),
    ("  +OK ready", .pop3), ("+ok", .pop3), ("+OKAY", nil), ("* ok hi", .imap), (" * BYE", .imap), ("*OK", nil),
] as [(String, MailProtocol?)])
func greetingFirstByte(_ text: String, _ want: MailProtocol?) {
    let bytes = Array((text + "\n").utf8)
    #expect(ProtocolRegistry.protocolForGreeting(bytes.span) == want)
}
