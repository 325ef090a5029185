/// One line of an SMTP reply (RFC 5321 section 4.2): three digits, then `-` on every line but the
/// last of a multi-line reply.
struct SMTPReplyLine {
    var code: Int
    var isFinal: Bool
    /// Where the text after the code and separator starts.
    var textStart: Int

    /// Inlined: every server line goes through it.
    @inline(__always)
    init?(_ line: Span<UInt8>, end: Int) {
        guard end >= 3, ASCII.isDigit(line[0]), ASCII.isDigit(line[1]), ASCII.isDigit(line[2]) else { return nil }
        code = Int(line[0] - 0x30) * 100 + Int(line[1] - 0x30) * 10 + Int(line[2] - 0x30)
        isFinal = !(end > 3 && line[3] == ASCII.minus)
        textStart = min(4, end)
    }

    var isPositive: Bool { code >= 200 && code < 400 }
}
