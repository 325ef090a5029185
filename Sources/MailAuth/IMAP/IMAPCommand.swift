// IMAP command syntax (RFC 9051 section 4): astrings are atoms, quoted strings with `\"` and `\\`
// escapes, or literals `{n}` / `{n+}` whose bytes follow the line's CRLF. A command can therefore
// span several lines; `IMAPArgumentReader` walks one line segment at a time.

struct IMAPArgument {
    enum Kind { case atom, quoted, literal(Int), missing }
    var kind: Kind
    /// The bytes of an atom or quoted string (quoted: without the quotes, escapes not yet undone).
    var token: Token
}

enum IMAPSyntax {
    /// Reads one astring at `from`. A literal marker `{n}` or `{n+}` must end the segment.
    static func argument(_ line: Span<UInt8>, from: Int, end: Int) -> (IMAPArgument, next: Int) {
        let s = line.skipSpaces(from: from, end: end)
        guard s < end else { return (IMAPArgument(kind: .missing, token: Token(start: s, end: s)), s) }
        switch line[s] {
        case ASCII.quote:
            var i = s + 1
            while i < end {
                if line[i] == ASCII.backslash { i += 2; continue }
                if line[i] == ASCII.quote { break }
                i += 1
            }
            let close = min(i, end)
            return (IMAPArgument(kind: .quoted, token: Token(start: s + 1, end: close)), min(close + 1, end))
        case ASCII.openBrace:
            if let n = literalLength(line, from: s, end: end) {
                return (IMAPArgument(kind: .literal(n), token: Token(start: s, end: end)), end)
            }
            fallthrough
        default:
            let w = line.word(from: s, end: end)
            return (IMAPArgument(kind: .atom, token: w), w.end)
        }
    }

    /// `{123}` or `{123+}` (LITERAL+) exactly at the end of the segment.
    static func literalLength(_ line: Span<UInt8>, from: Int, end: Int) -> Int? {
        guard end - from >= 3, line[from] == ASCII.openBrace, line[end - 1] == ASCII.closeBrace else { return nil }
        var digitsEnd = end - 1
        if line[digitsEnd - 1] == ASCII.plus { digitsEnd -= 1 }
        return line.decimal(Token(start: from + 1, end: digitsEnd))
    }

    /// A literal marker at the very end of a line, wherever it is (APPEND, FETCH responses).
    static func trailingLiteral(_ line: Span<UInt8>, end: Int) -> Int? {
        guard end >= 3, line[end - 1] == ASCII.closeBrace else { return nil }
        var i = end - 2
        while i > 0, line[i] != ASCII.openBrace {
            if end - i > 24 { return nil }
            i -= 1
        }
        return literalLength(line, from: i, end: end)
    }

    /// Copies an argument as the login name: quoted strings unescaped, at most the username bound.
    static func copyName(_ line: Span<UInt8>, _ a: IMAPArgument) -> (bytes: [UInt8], truncated: Bool) {
        guard case .quoted = a.kind else { return line.copy(a.token) }
        var out: [UInt8] = []
        var i = a.token.start
        var truncated = false
        while i < a.token.end {
            var b = line[i]
            if b == ASCII.backslash, i + 1 < a.token.end { i += 1; b = line[i] }
            if out.count < Finding.maxUsernameBytes { out.append(b) } else { truncated = true }
            i += 1
        }
        return (out, truncated)
    }
}
