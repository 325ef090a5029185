// What one session showed about its server, for the exposure inventory (issue 7): the banner, the
// capabilities advertised before TLS and what happened to STARTTLS. Parsers record these as they
// see them; the engine reads them when the flow ends. Nothing here is about a user or a secret.

public struct ServerFacts: Sendable, Equatable {
    /// Banners are kept for display; 200 bytes holds every real one seen so far (dovecot's IMAP
    /// greeting with its capability list is about 150) and bounds memory per flow.
    public static let maxGreetingBytes = 200
    /// A capability list naming more mechanisms than this is not a real server's.
    public static let maxMechanisms = 16

    public let proto: MailProtocol
    /// The server's first line, CR LF removed, at most `maxGreetingBytes` bytes (raw: may hold any
    /// byte, escape before printing). nil when the session was picked up after the greeting.
    /// Built when read (the inventory reads it once per server); a longer one set by hand is kept
    /// whole, as before.
    public var greeting: [UInt8]? {
        get { longGreeting ?? greetingBytes.array }
        set {
            if let newValue, newValue.count > GreetingBytes.capacity {
                longGreeting = newValue
                greetingBytes = GreetingBytes()
            } else {
                longGreeting = nil
                if let newValue { greetingBytes = GreetingBytes(newValue.span) } else { greetingBytes = GreetingBytes() }
            }
        }
    }
    /// `greeting` in place: every session has one, and an array for each was an allocation and a
    /// free per session, plus a retain and a release for every copy of the facts (callgrind,
    /// many-flows).
    private var greetingBytes = GreetingBytes()
    /// Only a greeting set by hand can be longer than `GreetingBytes.capacity`.
    private var longGreeting: [UInt8]?
    /// A product and version set by hand (tests, tools); parsing leaves them nil and
    /// `identifiedProduct()` reads them from the greeting when asked.
    public var product: String?
    public var version: String?

    /// The product the banner names (`Exim`, `Dovecot`, ...) and the version after it (`4.96`).
    /// Worked out on demand: the inventory asks once per server, while every session has a
    /// greeting (identifying each was 4% of a scan of a million connections).
    public func identifiedProduct() -> (product: String, version: String?)? {
        if let product { return (product, version) }
        if let longGreeting { return BannerProducts.identify(longGreeting.span) }
        return greetingBytes.withBytes { BannerProducts.identify($0.span) } ?? nil
    }
    /// A capability list (POP3 CAPA, IMAP CAPABILITY or its response code, SMTP EHLO) arrived before
    /// TLS and before any successful login.
    public var capabilitiesSeen = false
    /// STARTTLS (STLS) was in such a list.
    public var starttlsOffered = false
    /// IMAP LOGINDISABLED was in such a list.
    public var loginDisabled = false
    /// SASL mechanisms in such lists, upper case, in order of first mention, at most `maxMechanisms`.
    /// Built from `mechanisms` when read (the inventory reads it once per session).
    public var authMechanisms: [String] {
        get { mechanisms.names }
        set { mechanisms = MechanismList(newValue) }
    }
    /// `authMechanisms` without a String or an array per name (see MechanismList).
    var mechanisms = MechanismList()
    /// `authMechanisms` as one word when it names only well-known mechanisms, nil otherwise:
    /// equal words, equal lists. The inventory compares it with the list it merged last instead
    /// of building the list for every ended session (~90 instructions a session, callgrind,
    /// many-flows).
    public var knownMechanismsWord: UInt64? { mechanisms.knownWord }
    /// POP3 `USER` capability (USER/PASS accepted).
    public var userCommandOffered = false
    /// The client sent STARTTLS/STLS.
    public var starttlsRequested = false
    /// The server accepted it (the rest of the flow is TLS).
    public var starttlsAccepted = false
    /// The server refused it (the session went on in cleartext).
    public var starttlsRefused = false
    /// A login succeeded (or the IMAP greeting was PREAUTH): capability lists after this describe the
    /// logged-in state, not what an unauthenticated client is offered, so they are not recorded.
    public var authenticated = false
    /// The first server line has been looked at (whether or not it was a greeting).
    var firstServerLineSeen = false

    public init(proto: MailProtocol) { self.proto = proto }

    /// Ways to send a reusable secret in cleartext that the server offered before TLS, in a fixed
    /// order: `AUTH PLAIN`, `AUTH LOGIN`, `AUTH XOAUTH2`, `AUTH OAUTHBEARER` (SASL; the same
    /// mechanisms plainsight reports as exposure `cleartext`), `USER` (POP3 USER/PASS) and `LOGIN`
    /// (IMAP: a capability list without LOGINDISABLED means the LOGIN command is accepted).
    public var plaintextOffered: [String] { ServerFacts.plaintextNames(plaintextOfferedBits) }

    /// `plaintextOffered` as bits: bit i stands for `plaintextOrder[i]`. The inventory merges these
    /// for every ended session; building the list of strings for each was most of its cost on a
    /// scan of mail banners (callgrind).
    public var plaintextOfferedBits: UInt8 {
        // The cleartext mechanisms have the codes 1 to 4 (MechanismList.known).
        var bits = UInt8(truncatingIfNeeded: mechanisms.knownBits & 0xF)
        if userCommandOffered { bits |= 16 }
        if capabilitiesSeen && !loginDisabled && proto.descriptor.loginCommandUnlessDisabled { bits |= 32 }
        return bits
    }

    /// The names of `plaintextOfferedBits`, in the order of `plaintextOrder`.
    public static func plaintextNames(_ bits: UInt8) -> [String] {
        var out: [String] = []
        for (i, name) in plaintextOrder.enumerated() where bits & (1 << i) != 0 { out.append(name) }
        return out
    }

    /// SASL mechanisms whose exchange carries the secret itself (see `SASLMechanism.exposure`).
    /// `plaintextOfferedBits` tests them in this order (bits 0 to 3).
    public static let cleartextMechanisms = ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"]
    /// Everything `plaintextOffered` can name, in its fixed order: `"AUTH " + name` for each of
    /// `cleartextMechanisms`, then `USER` and `LOGIN`.
    public static let plaintextOrder = cleartextMechanisms.map { "AUTH " + $0 } + ["USER", "LOGIN"]

    /// Back to `ServerFacts(proto:)` (see `SessionParser.reset`); every field, in place.
    mutating func reset() {
        greetingBytes.clear()
        if longGreeting != nil { longGreeting = nil }
        if product != nil { product = nil }
        if version != nil { version = nil }
        capabilitiesSeen = false
        starttlsOffered = false
        loginDisabled = false
        mechanisms.reset()
        userCommandOffered = false
        starttlsRequested = false
        starttlsAccepted = false
        starttlsRefused = false
        authenticated = false
        firstServerLineSeen = false
    }

    /// Capabilities are facts about the server only while the client is not logged in.
    var recording: Bool { !authenticated }

    mutating func addMechanism(_ name: String) {
        guard recording, !name.isEmpty, !mechanisms.contains(name),
              mechanisms.count < ServerFacts.maxMechanisms else { return }
        mechanisms.append(name)
    }

    /// `addMechanism(line.mechanismName(t))`, without building the String for a known name.
    mutating func addMechanism(_ line: Span<UInt8>, _ t: Token) {
        guard recording, !t.isEmpty, mechanisms.count < ServerFacts.maxMechanisms else { return }
        if let c = line.knownMechanismCode(t) {
            if mechanisms.knownBits & (1 << (c - 1)) == 0 { mechanisms.appendKnown(c) }
        } else {
            let name = line.mechanismName(t)
            if !mechanisms.contains(name) { mechanisms.appendOther(name) }
        }
    }

    /// The first server line: kept as the greeting when it is one for this protocol (a flow picked
    /// up mid-stream starts with some other reply, which says nothing about the banner).
    /// `isGreeting`: the caller has classified the line already (`SessionParser.receive(greeting:)`).
    mutating func firstServerLine(_ line: Span<UInt8>, isGreeting: Bool = false) {
        firstServerLineSeen = true
        guard isGreeting || ProtocolRegistry.protocolForGreeting(line) == proto else { return }
        let n = Swift.min(line.withoutCR, ServerFacts.maxGreetingBytes)
        // One copy of the checked sub-span: appending byte by byte was most of the cost of every
        // session of a banner scan (callgrind).
        greetingBytes = GreetingBytes(line.extracting(0..<n))
    }
}

/// Up to `capacity` bytes held inline, or none (nil).
struct GreetingBytes: Sendable, Equatable {
    static let capacity = ServerFacts.maxGreetingBytes
    private var storage: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                          UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                          UInt64, UInt64, UInt64, UInt64, UInt64)
        = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    /// -1: none.
    private var count = -1

    init() {}

    /// The first `capacity` bytes of `bytes`.
    init(_ bytes: Span<UInt8>) {
        let n = Swift.min(bytes.count, GreetingBytes.capacity)
        count = n
        guard n > 0 else { return }
        bytes.extracting(0..<n).withUnsafeBytes { src in
            withUnsafeMutableBytes(of: &storage) { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                d.copyMemory(from: s, byteCount: n)
            }
        }
    }

    /// None again. The old bytes stay behind `count` (a banner, no secret) and are never read.
    mutating func clear() { count = -1 }

    var array: [UInt8]? { count < 0 ? nil : withBytes { Array($0) } }

    /// The bytes lent to `body`, nil when there are none.
    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard count >= 0 else { return nil }
        return withUnsafeBytes(of: storage) { raw in
            UnsafeRawBufferPointer(rebasing: raw[0..<count]).withMemoryRebound(to: UInt8.self) { body($0) }
        }
    }

    static func == (a: GreetingBytes, b: GreetingBytes) -> Bool {
        guard a.count == b.count else { return false }
        return a.withBytes { x in b.withBytes { y in x.elementsEqual(y) } ?? false } ?? true
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
    /// the word's first letter: matching every needle at every byte of every banner was a
    /// visible cost on scans of mail servers (callgrind).
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
        for k in 0..<n where ASCII.upper(text[start + k]) != needle[k] { return nil }
        if start + n < text.count && isLetter(text[start + n]) { return nil }
        return start + n
    }

    private static func isLetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }

    private static func version(in text: Span<UInt8>, from: Int) -> String? {
        var at = from
        var fillers = 0
        while at < text.count {
            // Separators between the name and the version: blanks, ',', ':', '/', '(' and '-'.
            while at < text.count, [0x20, 0x09, 0x2C, 0x3A, 0x2F, 0x28, 0x2D].contains(text[at]) { at += 1 }
            guard at < text.count else { return nil }
            var start = at
            if (text[start] == 0x76 || text[start] == 0x56), start + 1 < text.count, ASCII.isDigit(text[start + 1]) {
                start += 1   // "v2.4.17"
            }
            if ASCII.isDigit(text[start]) {
                var bytes: [UInt8] = []
                var i = start
                while i < text.count, bytes.count < maxVersionBytes {
                    let b = text[i]
                    guard ASCII.isDigit(b) || isLetter(b) || b == ASCII.dot || b == ASCII.minus || b == 0x5F else { break }
                    bytes.append(b)
                    i += 1
                }
                while let last = bytes.last, last == ASCII.dot || last == ASCII.minus { bytes.removeLast() }
                return String(decoding: bytes, as: UTF8.self)
            }
            // Not a version: skip one filler word, at most two.
            var word: [UInt8] = []
            var i = at
            while i < text.count, isLetter(text[i]) || ASCII.isDigit(text[i]) { word.append(ASCII.upper(text[i])); i += 1 }
            guard fillers < 2, !word.isEmpty, filler.contains(word) else { return nil }
            fillers += 1
            at = i
        }
        return nil
    }
}
