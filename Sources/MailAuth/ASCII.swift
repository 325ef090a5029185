// Byte-level helpers for text protocols. Lines arrive as spans lent from the capture buffer; nothing
// here allocates or builds a String.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum ASCII {
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
    static let plus: UInt8 = 0x2B
    static let minus: UInt8 = 0x2D
    static let star: UInt8 = 0x2A
    static let dot: UInt8 = 0x2E
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D
    static let openBracket: UInt8 = 0x5B
    static let closeBracket: UInt8 = 0x5D
    static let openParen: UInt8 = 0x28
    static let closeParen: UInt8 = 0x29
    static let equals: UInt8 = 0x3D

    @inline(__always)
    static func upper(_ b: UInt8) -> UInt8 { (b >= 0x61 && b <= 0x7A) ? b - 0x20 : b }

    @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// `upper` of eight bytes at once: the 0x20 bit cleared in the bytes that are a-z.
    @inline(__always)
    static func upper8(_ x: UInt64) -> UInt64 {
        let high: UInt64 = 0x8080_8080_8080_8080
        let low7 = x & ~high                            // no carry out of a byte below
        let fromA = low7 &+ 0x1F1F_1F1F_1F1F_1F1F        // high bit: byte >= 0x61
        let pastZ = low7 &+ 0x0505_0505_0505_0505        // high bit: byte >= 0x7B
        let lower = fromA & ~pastZ & ~x & high
        return x & ~(lower >> 2)
    }

    /// Index of the first space or tab in `b[from...]`, or `b.count`. Sixteen bytes a compare, not
    /// a byte loop: `word` and the walk over IMAP capability lists run to the end of every word.
    /// The last block is the buffer's last 16 bytes, lanes before `from` masked off, so no load
    /// leaves the buffer.
    @inline(__always)
    static func blankOrEnd(_ b: UnsafeBufferPointer<UInt8>, from: Int) -> Int {
        let n = b.count
        guard from < n else { return n }
        guard n >= 16, let base = b.baseAddress else { return unsafe blankOrEndShort(b, from: from) }
        // Safe: called with at + 16 <= n only (the loop's test, and n - 16 with n >= 16).
        @inline(__always) func blanks(_ at: Int) -> SIMD2<UInt64> {
            let v = unsafe UnsafeRawPointer(base + at).loadUnaligned(as: SIMD16<UInt8>.self)
            let m = (v .== SIMD16<UInt8>(repeating: space)) .| (v .== SIMD16<UInt8>(repeating: tab))
            return unsafe unsafeBitCast(m, to: SIMD2<UInt64>.self)
        }
        var j = from
        while j + 16 <= n {
            let m = blanks(j)
            if m[0] != 0 { return j + m[0].trailingZeroBitCount / 8 }
            if m[1] != 0 { return j + 8 + m[1].trailingZeroBitCount / 8 }
            j += 16
        }
        guard j < n else { return n }
        let at = n - 16
        let skip = j - at   // 1...15 lanes already looked at
        var m = blanks(at)
        if skip >= 8 {
            m[0] = 0
            m[1] &= ~0 &<< UInt64(8 * (skip - 8))
        } else {
            m[0] &= ~0 &<< UInt64(8 * skip)
        }
        if m[0] != 0 { return at + m[0].trailingZeroBitCount / 8 }
        if m[1] != 0 { return at + 8 + m[1].trailingZeroBitCount / 8 }
        return n
    }

    /// `blankOrEnd` of fewer than 16 bytes: eight bytes a step when there are eight, the last
    /// step the last eight bytes (no load leaves the buffer): most words are in short lines (SMTP
    /// keywords, IMAP tags, POP3 replies).
    @inline(__always)
    static func blankOrEndShort(_ b: UnsafeBufferPointer<UInt8>, from: Int) -> Int {
        let n = b.count
        guard n >= 8, let base = b.baseAddress else {
            var j = from
            while unsafe j < n && b[j] != space && b[j] != tab { j += 1 }
            return j
        }
        // 0x80 in exactly the blank bytes of the eight at `at` (no carry crosses a byte, so lanes
        // masked off below cannot flag the ones above).
        // Safe: called with at + 8 <= n only (the test before it, and n - 8 with n >= 8).
        @inline(__always) func blanks(_ at: Int) -> UInt64 {
            let w = unsafe UnsafeRawPointer(base + at).loadUnaligned(as: UInt64.self)
            let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
            @inline(__always) func zeros(_ x: UInt64) -> UInt64 { ~(((x & low7) &+ low7) | x) & ~low7 }
            return zeros(w ^ 0x2020_2020_2020_2020) | zeros(w ^ 0x0909_0909_0909_0909)
        }
        var j = from
        if j + 8 <= n {
            let m = blanks(j)
            if m != 0 { return j + m.trailingZeroBitCount / 8 }
            j += 8
        }
        guard j < n else { return n }
        let at = n - 8
        // Lanes before `j` were looked at already (or are before `from`).
        let m = blanks(at) & (~0 &<< UInt64(8 * (j - at)))
        return m != 0 ? at + m.trailingZeroBitCount / 8 : n
    }

    /// The first and the last four of `n` (4...8) bytes at `p`, as one word. The caller vouches
    /// that `p` holds `n` bytes: both loads lie within them.
    @inline(__always)
    static func pair32(_ p: UnsafeRawPointer, _ n: Int) -> UInt64 {
        unsafe UInt64(p.loadUnaligned(as: UInt32.self)) | UInt64(p.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)) << 32
    }
}

/// A half-open range of a line, `start..<end`, as plain integers so it can be kept while the span
/// it indexes cannot.
struct Token: Equatable {
    var start: Int
    var end: Int
    var count: Int { end - start }
    var isEmpty: Bool { start >= end }
}

extension Span where Element == UInt8 {
    /// The line without a trailing CR (the framer already removed the LF).
    var withoutCR: Int {
        var end = count
        if end > 0 && self[end - 1] == ASCII.cr { end -= 1 }
        return end
    }

    /// Index of the first byte at or after `from` that is not a space or tab.
    func skipSpaces(from: Int, end: Int) -> Int {
        guard from < end else { return from }
        // One range check for the whole scan instead of one per byte (`extracting` validates).
        return unsafe extracting(from..<end).withUnsafeBufferPointer { b -> Int in
            var i = 0
            while i < b.count, unsafe b[i] == ASCII.space || b[i] == ASCII.tab { i += 1 }
            return from + i
        }
    }

    /// The next space-delimited word starting at `from` (leading blanks skipped). Inlined: every
    /// command, reply and capability line is cut into words.
    @inline(__always)
    func word(from: Int, end: Int) -> Token {
        guard from < end else { return Token(start: from, end: from) }
        return unsafe extracting(from..<end).withUnsafeBufferPointer { b -> Token in
            var s = 0
            while s < b.count, unsafe b[s] == ASCII.space || b[s] == ASCII.tab { s += 1 }
            return unsafe Token(start: from + s, end: from + ASCII.blankOrEnd(b, from: s))
        }
    }

    /// Case-insensitive comparison of a token with an upper-case ASCII keyword.
    /// Inlined so the keyword's length and first byte are constants at each call: a command is
    /// tested against several keywords and most tests end at the length or first-byte compare.
    @inline(__always)
    func equalsUpper(_ t: Token, _ keyword: StaticString) -> Bool {
        let n = keyword.utf8CodeUnitCount
        guard t.count == n else { return false }
        guard n > 0 else { return true }
        guard unsafe ASCII.upper(self[t.start]) == keyword.utf8Start[0] else { return false }
        return matchesUpper(t.start, keyword)
    }

    /// The `keyword.utf8CodeUnitCount` bytes at `start` equal the upper-case keyword, ignoring case.
    /// Compared eight bytes at a time (fewer bytes: two overlapping loads), inlined so the length
    /// and the keyword's words are constants: every command, reply and capability is tested
    /// against a few keywords.
    @inline(__always)
    private func matchesUpper(_ start: Int, _ keyword: StaticString) -> Bool {
        let n = keyword.utf8CodeUnitCount
        let k = unsafe UnsafeRawPointer(keyword.utf8Start)
        return unsafe extracting(start..<(start + n)).withUnsafeBytes { b -> Bool in
            guard let p = b.baseAddress else { return n == 0 }
            // Safe: `b` and the keyword both hold n bytes (`extracting` checked the range), and
            // every load below reads 8 of them at an offset from 0 to n - 8.
            if n >= 8 {
                var i = 0
                while i + 8 < n {
                    if unsafe ASCII.upper8(p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                        != k.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
                    i += 8
                }
                return unsafe ASCII.upper8(p.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self))
                    == k.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            }
            if n >= 4 {
                return unsafe ASCII.upper8(ASCII.pair32(p, n)) == ASCII.pair32(k, n)
            }
            for i in 0..<n where unsafe ASCII.upper(b[i]) != k.load(fromByteOffset: i, as: UInt8.self) { return false }
            return true
        }
    }

    /// True when the token starts with the upper-case keyword (case-insensitive).
    @inline(__always)
    func hasPrefixUpper(_ t: Token, _ keyword: StaticString) -> Bool {
        guard t.count >= keyword.utf8CodeUnitCount else { return false }
        return matchesUpper(t.start, keyword)
    }

    /// Bounded copy of a token, at most `limit` bytes; the flag says whether it was cut.
    func copy(_ t: Token, limit: Int = Finding.maxUsernameBytes) -> (bytes: [UInt8], truncated: Bool) {
        let n = Swift.min(t.count, limit)
        var out = [UInt8]()
        out.reserveCapacity(n)
        for i in 0..<n { out.append(self[t.start + i]) }
        return (out, t.count > limit)
    }

    /// Upper-cased copy of a short token (mechanism names), keeping only safe characters.
    func mechanismName(_ t: Token) -> String {
        let n = Swift.min(t.count, 32)
        // Built on the stack, not in an array: a capability list names several mechanisms per
        // session. Names of up to 15 bytes become small strings, which allocate nothing either.
        return unsafe withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { bytes -> String in
            for i in 0..<n {
                let b = ASCII.upper(self[t.start + i])
                let safe = (b >= 0x41 && b <= 0x5A) || ASCII.isDigit(b) || b == ASCII.minus || b == 0x5F
                unsafe bytes[i] = safe ? b : 0x3F
            }
            return unsafe String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<n]), as: UTF8.self)
        }
    }

    /// Decimal value of a token, nil when it is not all digits or overflows the bound.
    func decimal(_ t: Token, max: Int = 1 << 40) -> Int? {
        guard !t.isEmpty else { return nil }
        var v = 0
        for i in t.start..<t.end {
            let b = self[i]
            guard ASCII.isDigit(b) else { return nil }
            v = v * 10 + Int(b - 0x30)
            if v > max { return nil }
        }
        return v
    }

    /// Index of the first occurrence of `byte` in `from..<end`, or nil. Inlined: the framer calls
    /// it for every line.
    @inline(__always)
    func firstIndex(of byte: UInt8, from: Int, end: Int) -> Int? {
        guard from < end else { return nil }
        // memchr on the checked sub-span (`extracting` validates the range, so the search never
        // leaves the lent bytes) rather than a checked byte loop: the framer looks for LF in every
        // line and message body.
        return unsafe extracting(from..<end).withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress, let hit = unsafe memchr(base, Int32(byte), buffer.count) else { return nil }
            return unsafe from + (UnsafeRawPointer(hit) - UnsafeRawPointer(base))
        }
    }
}
