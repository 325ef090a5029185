// Which product a server's banner names, for the inventory's table and advice. Identified when
// the inventory asks (once per server), not per session: every session has a greeting.
import MailAuth

extension ServerFacts {
    /// The product the banner names (`Exim`, `Dovecot`, ...) and the version after it (`4.96`), or
    /// the product set by hand.
    public func identifiedProduct() -> (product: String, version: String?)? {
        if let product { return (product, version) }
        return withGreeting { BannerProducts.identify($0) } ?? nil
    }
}

/// Mail server products that name themselves in their banners. A product matches as a whole word
/// (case-insensitive); the version is the next word that starts with a digit, after at most two
/// filler words (`Cyrus IMAP v2.4.17`, `Microsoft ESMTP MAIL Service, Version: 10.0`).
public enum BannerProducts {
    /// (upper-case needle, display name), most specific first.
    static let table: [(needle: [UInt8], name: String)] = [
        ("MICROSOFT EXCHANGE", "Microsoft Exchange"), ("MICROSOFT ESMTP MAIL SERVICE", "Microsoft Exchange"),
        ("DOVECOT", "Dovecot"), ("POSTFIX", "Postfix"), ("EXIM", "Exim"), ("SENDMAIL", "Sendmail"),
        ("COURIER", "Courier"), ("CYRUS", "Cyrus"), ("QMAIL", "qmail"), ("ZIMBRA", "Zimbra"),
        ("HMAILSERVER", "hMailServer"), ("MDAEMON", "MDaemon"), ("OPENSMTPD", "OpenSMTPD"),
        ("HARAKA", "Haraka"), ("KERIO", "Kerio Connect"), ("COMMUNIGATE", "CommuniGate Pro"),
        ("ICEWARP", "IceWarp"), ("AXIGEN", "Axigen"), ("QPOPPER", "Qpopper"), ("STALWART", "Stalwart"),
        ("UW IMAP", "UW IMAP"), ("GIMAP", "Gmail"), ("GSMTP", "Gmail"), ("EXCHANGE", "Microsoft Exchange"),
    ].map { (Array($0.0.utf8), $0.1) }

    /// Words allowed between the product name and its version.
    static let filler: [[UInt8]] = ["IMAP", "IMAP4", "IMAP4REV1", "IMAPD", "POP3", "POP3D", "SMTP", "ESMTP",
                                    "SERVER", "MAIL", "SERVICE", "VERSION", "CONNECT", "PRO"].map { Array($0.utf8) }
    static let maxVersionBytes = 32

    /// Table indices by the needle's first letter (A = 0), in table order.
    static let byFirstLetter: [[Int]] = {
        var lists = [[Int]](repeating: [], count: 26)
        for (i, entry) in table.enumerated() { lists[Int(entry.needle[0] &- 0x41)].append(i) }
        return lists
    }()

    /// The first table entry (most specific first) that occurs anywhere as a whole word, at its
    /// first occurrence. One pass over the word starts, trying only the needles that begin with
    /// the word's first letter, since a scan of mail servers identifies a banner per server.
    public static func identify(_ text: Span<UInt8>) -> (product: String, version: String?)? {
        let table = self.table, byFirstLetter = self.byFirstLetter   // one lazy-global check each
        var best = table.count
        var bestEnd = 0
        var previousIsLetter = false
        for start in 0..<text.count {
            let b = text[start]
            let letter = isLetter(b)
            defer { previousIsLetter = letter }
            guard letter && !previousIsLetter else { continue }
            for index in byFirstLetter[Int((b | 0x20) &- 0x61)] {
                guard index < best else { break }
                if let end = match(table[index].needle, in: text, at: start) {
                    best = index
                    bestEnd = end
                    break
                }
            }
        }
        guard best < table.count else { return nil }
        return (table[best].name, version(in: text, from: bestEnd))
    }

    /// End index of a whole-word, case-insensitive match of `needle` at `start` (a word start).
    private static func match(_ needle: [UInt8], in text: Span<UInt8>, at start: Int) -> Int? {
        let n = needle.count
        guard text.count - start >= n else { return nil }
        for k in 0..<n where upper(text[start + k]) != needle[k] { return nil }
        if start + n < text.count && isLetter(text[start + n]) { return nil }
        return start + n
    }

    private static func upper(_ b: UInt8) -> UInt8 { b >= 0x61 && b <= 0x7A ? b - 0x20 : b }
    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    private static func isLetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }

    private static func version(in text: Span<UInt8>, from: Int) -> String? {
        var at = from
        var fillers = 0
        while at < text.count {
            // Separators between the name and the version: blanks, ',', ':', '/', '(' and '-'.
            while at < text.count, [0x20, 0x09, 0x2C, 0x3A, 0x2F, 0x28, 0x2D].contains(text[at]) { at += 1 }
            guard at < text.count else { return nil }
            var start = at
            if (text[start] == 0x76 || text[start] == 0x56), start + 1 < text.count, isDigit(text[start + 1]) {
                start += 1   // "v2.4.17"
            }
            if isDigit(text[start]) {
                var bytes: [UInt8] = []
                var i = start
                while i < text.count, bytes.count < maxVersionBytes {
                    let b = text[i]
                    guard isDigit(b) || isLetter(b) || b == 0x2E || b == 0x2D || b == 0x5F else { break }
                    bytes.append(b)
                    i += 1
                }
                while let last = bytes.last, last == 0x2E || last == 0x2D { bytes.removeLast() }
                return String(decoding: bytes, as: UTF8.self)
            }
            // Not a version: skip one filler word, at most two.
            var word: [UInt8] = []
            var i = at
            while i < text.count, isLetter(text[i]) || isDigit(text[i]) { word.append(upper(text[i])); i += 1 }
            guard fillers < 2, !word.isEmpty, filler.contains(word) else { return nil }
            fillers += 1
            at = i
        }
        return nil
    }
}
