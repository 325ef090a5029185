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
    /// `greeting` in place: every session has one, and an array would cost an allocation and a
    /// free per session, plus a retain and a release for every copy of the facts.
    private var greetingBytes = GreetingBytes()
    /// Only a greeting set by hand can be longer than `GreetingBytes.capacity`.
    private var longGreeting: [UInt8]?
    /// A product and version set by hand (tests, tools, merged reports); parsing leaves them nil,
    /// and the inventory identifies the product from the greeting when it needs it.
    public var product: String?
    public var version: String?

    /// `greeting` lent to `body` without building an array; nil when there is none.
    public func withGreeting<R>(_ body: (Span<UInt8>) -> R) -> R? {
        if let longGreeting { return body(longGreeting.span) }
        return unsafe greetingBytes.withBytes { unsafe body($0.span) }
    }
    /// A capability list (POP3 CAPA, IMAP CAPABILITY or its response code, SMTP EHLO) arrived before
    /// TLS and before any successful login.
    public var capabilitiesSeen = false
    /// STARTTLS (STLS) was in such a list.
    public var starttlsOffered = false
    /// IMAP LOGINDISABLED was in such a list.
    public var loginDisabled = false
    /// SASL mechanisms in such lists, upper case, in order of first mention, at most `maxMechanisms`.
    public var mechanisms = MechanismList()
    /// `mechanisms` by name. Built when read.
    public var authMechanisms: [String] {
        get { mechanisms.names }
        set { mechanisms = MechanismList(newValue) }
    }
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
        // One copy of the checked sub-span rather than an append per byte: every session of a
        // banner scan stores its greeting.
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
        unsafe bytes.extracting(0..<n).withUnsafeBytes { src in
            unsafe withUnsafeMutableBytes(of: &storage) { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                // Safe: n <= capacity, the size of `storage`, and the source span holds n bytes.
                unsafe d.copyMemory(from: s, byteCount: n)
            }
        }
    }

    /// None again. The old bytes stay behind `count` (a banner, no secret) and are never read.
    mutating func clear() { count = -1 }

    var array: [UInt8]? { unsafe count < 0 ? nil : withBytes { unsafe Array($0) } }

    /// The bytes lent to `body`, nil when there are none.
    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard count >= 0 else { return nil }
        return unsafe withUnsafeBytes(of: storage) { raw in
            unsafe UnsafeRawBufferPointer(rebasing: raw[0..<count]).withMemoryRebound(to: UInt8.self) { unsafe body($0) }
        }
    }

    static func == (a: GreetingBytes, b: GreetingBytes) -> Bool {
        guard a.count == b.count else { return false }
        return unsafe a.withBytes { x in unsafe b.withBytes { y in unsafe x.elementsEqual(y) } ?? false } ?? true
    }
}
