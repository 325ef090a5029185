// Which parser a flow gets. The server's greeting is the evidence (POP3 "+OK", IMAP "* OK",
// SMTP "220"); the well-known port is only a fallback for flows picked up after the greeting.
// Client-first traffic on other ports (Redis `AUTH`, TLS ClientHello) never gets a parser.

public enum ProtocolRegistry {
    /// Well-known cleartext ports, used when no greeting was seen (mid-stream pickup).
    public static func protocolForPort(_ port: UInt16) -> MailProtocol? {
        switch port {
        case 110: return .pop3
        case 143: return .imap
        case 25, 587, 2525: return .smtp
        default: return nil
        }
    }

    /// Ports where the protocol runs inside TLS from the first byte (RFC 8314: IMAPS, POP3S,
    /// submissions). Flows there are recognised from the TLS handshake for the inventory and never
    /// parsed: their bytes are ciphertext.
    public static let implicitTLSPorts: [UInt16: MailProtocol] = [993: .imap, 995: .pop3, 465: .smtp]

    /// Classifies the first server line. nil: not a mail greeting (or FTP, whose `220` banner
    /// looks like SMTP's but whose USER/PASS must not be read as mail).
    public static func protocolForGreeting(_ bytes: Span<UInt8>) -> MailProtocol? {
        let end = bytes.firstIndex(of: ASCII.lf, from: 0, end: min(bytes.count, 512)) ?? min(bytes.count, 512)
        return protocolForGreeting(bytes, end: end)
    }

    /// `protocolForGreeting` of a framed line, which holds no LF: no search for one.
    static func protocolForGreeting(line: Span<UInt8>) -> MailProtocol? {
        protocolForGreeting(line, end: min(line.count, 512))
    }

    /// Classifies `bytes[0..<end]`, the first line up to 512 bytes, LF excluded.
    private static func protocolForGreeting(_ bytes: Span<UInt8>, end: Int) -> MailProtocol? {
        // A line starting with "2" can only be an SMTP greeting: its first word is not looked for
        // (every banner is classified twice, and the word scan was a third of it for SMTP).
        if end >= 4, bytes[0] == 0x32 {
            guard bytes[1] == 0x32, bytes[2] == 0x30,
                  bytes[3] == ASCII.space || bytes[3] == ASCII.minus || bytes[3] == ASCII.cr else { return nil }
            return mentionsFTP(bytes, end) ? nil : .smtp
        }
        let first = bytes.word(from: 0, end: end)
        if bytes.equalsUpper(first, "+OK") { return .pop3 }
        if first.count == 1 && bytes[first.start] == ASCII.star {
            let status = bytes.word(from: first.end, end: end)
            if bytes.equalsUpper(status, "OK") || bytes.equalsUpper(status, "PREAUTH") || bytes.equalsUpper(status, "BYE") {
                return .imap
            }
            return nil
        }
        return nil
    }

    private static func mentionsFTP(_ bytes: Span<UInt8>, _ end: Int) -> Bool {
        guard end >= 3 else { return false }
        return bytes.extracting(0..<end).withUnsafeBufferPointer { b -> Bool in
            guard let base = b.baseAddress else { return false }
            // `| 0x20` folds exactly F/f, T/t and P/p here.
            if end < 18 {
                for i in 0...(end - 3) where b[i] | 0x20 == 0x66 && b[i + 1] | 0x20 == 0x74 && b[i + 2] | 0x20 == 0x70 {
                    return true
                }
                return false
            }
            // Sixteen window places a step: the lanes where an f, a t and a p follow each other.
            // Every banner is searched twice (the engine's classification and the parser's
            // greeting), and Horspool's byte steps were ~180 instructions a banner (callgrind,
            // many-flows). The last step is the last 18 bytes, overlapping the one before.
            @inline(__always) func hit(_ at: Int) -> Bool {
                let fold = SIMD16<UInt8>(repeating: 0x20)
                let p = UnsafeRawPointer(base + at)
                let f = (p.loadUnaligned(as: SIMD16<UInt8>.self) | fold) .== SIMD16<UInt8>(repeating: 0x66)
                let t = (p.loadUnaligned(fromByteOffset: 1, as: SIMD16<UInt8>.self) | fold) .== SIMD16<UInt8>(repeating: 0x74)
                let q = (p.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self) | fold) .== SIMD16<UInt8>(repeating: 0x70)
                let w = unsafeBitCast(f .& t .& q, to: SIMD2<UInt64>.self)
                return w[0] | w[1] != 0
            }
            var i = 0
            while i + 18 <= end {
                if hit(i) { return true }
                i += 16
            }
            return i < end - 2 && hit(end - 18)
        }
    }

    /// A parser for one flow. Its buffers are charged to `memory`, shared by the flows of one
    /// engine; the default is a budget of its own without a limit (tests, tools).
    public static func makeParser(for proto: MailProtocol, limits: SessionLimits = SessionLimits(),
                                  memory: SessionMemory = SessionMemory(limitBytes: .max)) -> SessionParser {
        switch proto {
        case .pop3: return POP3Session(limits: limits, memory: memory)
        case .imap: return IMAPSession(limits: limits, memory: memory)
        case .smtp: return SMTPSession(limits: limits, memory: memory)
        }
    }
}
