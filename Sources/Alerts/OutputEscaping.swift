// One escaping routine for every sink (JSON lines, text, and later syslog), so that no byte taken
// from the wire can end a line, forge a field or reorder text on a terminal. The output is always
// valid UTF-8 and always valid inside a JSON string.

/// Escapes untrusted bytes (usernames, SASL mechanism names) for output.
///
/// - `"` and `\` become `\"` and `\\`.
/// - C0 controls and DEL become `\u00XX`; so do C1 controls, the Unicode line and paragraph
///   separators and the bidirectional formatting characters (U+200E/F, U+202A-E, U+2066-9, U+061C,
///   U+FEFF), which can otherwise rewrite what a terminal or a log viewer shows.
/// - A byte that is not part of well-formed UTF-8 becomes the six characters `\\xNN` (a JSON-escaped
///   backslash, then `xNN`), so the JSON decodes to the text `\xNN` and the raw byte never reaches
///   the output. Ill-formed sequences are cut the way the Unicode standard's "maximal subpart"
///   rule does, so every byte is reported exactly once.
public enum OutputEscaping {
    /// Appends `bytes`, escaped, to `out`.
    public static func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes, to out: inout [UInt8]) {
        // Printable ASCII other than `"` and `\` (file names, most user names) is copied whole:
        // the validator below goes byte by byte through a generic sequence.
        let plain = bytes.withContiguousStorageIfAvailable { buffer -> Bool in
            for byte in buffer where byte < 0x20 || byte > 0x7E || byte == 0x22 || byte == 0x5C { return false }
            out.append(contentsOf: buffer)
            return true
        }
        if plain == true { return }
        // A streaming UTF-8 validator: the lead byte says how long the sequence is, the second
        // byte's allowed range rules out overlong forms, surrogates and values above U+10FFFF.
        var pending: (UInt8, UInt8, UInt8) = (0, 0, 0)
        var have = 0
        var need = 0
        var scalar: UInt32 = 0
        for byte in bytes {
            if need > 0 {
                let (low, high) = have == 1 ? secondByteRange(lead: pending.0) : (0x80, 0xBF)
                if byte >= low && byte <= high {
                    scalar = scalar << 6 | UInt32(byte & 0x3F)
                    switch have {
                    case 1: pending.1 = byte
                    case 2: pending.2 = byte
                    default: break                  // the fourth byte is passed as `last`
                    }
                    have += 1
                    if have == need {
                        appendScalar(scalar, pending: pending, last: byte, length: need, to: &out)
                        need = 0
                        have = 0
                    }
                    continue
                }
                appendInvalid(pending, count: have, to: &out)
                need = 0
                have = 0
            }
            switch byte {
            case 0x00..<0x80:
                appendASCII(byte, to: &out)
            case 0xC2...0xDF:
                pending.0 = byte; have = 1; need = 2; scalar = UInt32(byte & 0x1F)
            case 0xE0...0xEF:
                pending.0 = byte; have = 1; need = 3; scalar = UInt32(byte & 0x0F)
            case 0xF0...0xF4:
                pending.0 = byte; have = 1; need = 4; scalar = UInt32(byte & 0x07)
            default:
                appendInvalidByte(byte, to: &out)
            }
        }
        if need > 0 { appendInvalid(pending, count: have, to: &out) }
    }

    /// Escapes `bytes` into a new String.
    public static func escape<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount + 8)
        append(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    static func appendASCII(_ byte: UInt8, to out: inout [UInt8]) {
        switch byte {
        case 0x22: out.append(0x5C); out.append(0x22)            // \"
        case 0x5C: out.append(0x5C); out.append(0x5C)            // \\
        case 0x00..<0x20, 0x7F: appendUnicodeEscape(UInt32(byte), to: &out)
        default: out.append(byte)
        }
    }

    private static func secondByteRange(lead: UInt8) -> (UInt8, UInt8) {
        switch lead {
        case 0xE0: return (0xA0, 0xBF)   // no overlong 3-byte forms
        case 0xED: return (0x80, 0x9F)   // no UTF-16 surrogates
        case 0xF0: return (0x90, 0xBF)   // no overlong 4-byte forms
        case 0xF4: return (0x80, 0x8F)   // nothing above U+10FFFF
        default: return (0x80, 0xBF)
        }
    }

    private static func appendScalar(_ scalar: UInt32, pending: (UInt8, UInt8, UInt8), last: UInt8,
                                     length: Int, to out: inout [UInt8]) {
        if mustEscape(scalar) {
            appendUnicodeEscape(scalar, to: &out)
            return
        }
        out.append(pending.0)
        if length >= 3 { out.append(pending.1) }
        if length >= 4 { out.append(pending.2) }
        out.append(last)
    }

    /// Non-ASCII scalars that can hide or rewrite text: C1 controls, line/paragraph separators,
    /// bidirectional marks, embeddings, overrides and isolates, the byte order mark.
    private static func mustEscape(_ scalar: UInt32) -> Bool {
        switch scalar {
        case 0x80...0x9F, 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069, 0xFEFF: return true
        default: return false
        }
    }

    private static func appendInvalid(_ pending: (UInt8, UInt8, UInt8), count: Int, to out: inout [UInt8]) {
        if count >= 1 { appendInvalidByte(pending.0, to: &out) }
        if count >= 2 { appendInvalidByte(pending.1, to: &out) }
        if count >= 3 { appendInvalidByte(pending.2, to: &out) }
    }

    private static func appendInvalidByte(_ byte: UInt8, to out: inout [UInt8]) {
        out.append(0x5C); out.append(0x5C); out.append(0x78)     // \\x
        out.append(hexDigit(byte >> 4)); out.append(hexDigit(byte & 0x0F))
    }

    private static func appendUnicodeEscape(_ value: UInt32, to out: inout [UInt8]) {
        out.append(0x5C); out.append(0x75)                        // \u
        out.append(hexDigit(UInt8(truncatingIfNeeded: value >> 12)))
        out.append(hexDigit(UInt8(truncatingIfNeeded: value >> 8)))
        out.append(hexDigit(UInt8(truncatingIfNeeded: value >> 4)))
        out.append(hexDigit(UInt8(truncatingIfNeeded: value)))
    }

    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 {
        let n = nibble & 0x0F
        return n < 10 ? 0x30 + n : 0x61 + n - 10
    }
}
