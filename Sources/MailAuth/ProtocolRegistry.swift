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
        let first = bytes.word(from: 0, end: end)
        if bytes.equalsUpper(first, "+OK") { return .pop3 }
        if first.count == 1 && bytes[first.start] == ASCII.star {
            let status = bytes.word(from: first.end, end: end)
            if bytes.equalsUpper(status, "OK") || bytes.equalsUpper(status, "PREAUTH") || bytes.equalsUpper(status, "BYE") {
                return .imap
            }
            return nil
        }
        if end >= 4, bytes[0] == 0x32, bytes[1] == 0x32, bytes[2] == 0x30,
           bytes[3] == ASCII.space || bytes[3] == ASCII.minus || bytes[3] == ASCII.cr {
            return mentionsFTP(bytes, end) ? nil : .smtp
        }
        return nil
    }

    private static func mentionsFTP(_ bytes: Span<UInt8>, _ end: Int) -> Bool {
        guard end >= 3 else { return false }
        return bytes.extracting(0..<end).withUnsafeBufferPointer { b -> Bool in
            // Horspool's skip for the three distinct letters of "ftp": the byte under the window's
            // last place says how far the window may move (3 unless it is an f or a t), so most
            // banner bytes are never looked at. `| 0x20` folds exactly F/f, T/t and P/p here.
            // Reading every byte with three case-folds was a visible cost on scans of SMTP banners.
            var i = 0
            while i <= end - 3 {
                switch b[i + 2] | 0x20 {
                case 0x70:  // p
                    if b[i] | 0x20 == 0x66 && b[i + 1] | 0x20 == 0x74 { return true }
                    i += 3
                case 0x74: i += 1  // t: the window's middle place
                case 0x66: i += 2  // f: its first place
                default: i += 3
                }
            }
            return false
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
