import MailAuth

/// A server's verdict: the first of these that applies (issue 7's order, worst first).
public enum Verdict: String, CaseIterable, Sendable, Comparable {
    /// Logins crossed the wire in cleartext.
    case exposed
    /// STARTTLS was advertised, and refused when a client asked for it.
    case tlsBroken = "tls_broken"
    /// The server offers a plaintext login before TLS (AUTH PLAIN/LOGIN, POP3 USER, IMAP LOGIN
    /// without LOGINDISABLED) and no login was seen yet: neither in cleartext nor a session that
    /// moved to TLS.
    case acceptsCleartext = "accepts_cleartext"
    /// STARTTLS is offered and clients use it (sessions upgraded), although a plaintext login is
    /// still offered before TLS.
    case tlsOptional = "tls_optional"
    /// No plaintext login before TLS: LOGINDISABLED, or no plaintext mechanism, with STARTTLS.
    case tlsRequired = "tls_required"
    /// Only TLS from the first byte (993, 995, 465).
    case implicitTLS = "implicit_tls"
    /// What would be `unknown` (no capability list, or neither a plaintext login nor STARTTLS
    /// offered), but challenge-response logins (APOP, CRAM-MD5, DIGEST-MD5, NTLM) crossed outside
    /// TLS: no password, but a digest that can be cracked offline. The JSON keeps `unknown` as the
    /// verdict (its values are a contract) and adds `"hashed_only": true`; see `contractName`.
    case hashedOnly = "hashed_only"
    /// Not enough seen to say (no capability list before TLS, e.g. sessions picked up mid-stream,
    /// or a server that offers neither a plaintext login nor STARTTLS).
    case unknown

    public static func < (a: Verdict, b: Verdict) -> Bool { a.rank < b.rank }

    /// Position in `allCases` (declaration order), without building that array per comparison:
    /// sorting the servers at exit compared verdicts that way millions of times.
    var rank: Int {
        switch self {
        case .exposed: return 0
        case .tlsBroken: return 1
        case .acceptsCleartext: return 2
        case .tlsOptional: return 3
        case .tlsRequired: return 4
        case .implicitTLS: return 5
        // After the TLS verdicts, as an `unknown` refined: the evidence is as thin, but a digest
        // crossed. Ranked next to `unknown` so the JSON, which calls both `unknown`, stays in
        // verdict order.
        case .hashedOnly: return 6
        case .unknown: return 7
        }
    }

    /// The verdict as the JSON schema names it: every value but `hashed_only`, which was reported
    /// as `unknown` before it existed and still is there (with `"hashed_only": true` beside it).
    public var contractName: String { self == .hashedOnly ? Verdict.unknown.rawValue : rawValue }

    /// The verdicts the JSON schema knows, in rank order.
    public static let contractCases: [Verdict] = allCases.filter { $0 != .hashedOnly }
}

extension Verdict {
    /// The first verdict that applies to `r`, worst first (see the cases); `Assessment` gives the
    /// evidence for it.
    init(_ r: ServerRecord) {
        let plaintext = !r.plaintextOffered.isEmpty
        if r.cleartextLogins.total > 0 {
            self = .exposed
        } else if r.starttlsRefusedAfterOffer > 0 || (r.starttlsOffered && r.starttlsRefused > 0) {
            self = .tlsBroken
        } else if plaintext && r.starttlsUpgraded == 0 {
            self = .acceptsCleartext
        } else if plaintext {
            self = .tlsOptional
        } else if r.sessionsWithCapabilities > 0 && (r.loginDisabled || r.starttlsOffered) {
            self = .tlsRequired
        } else if r.implicitTLSSessions > 0 && r.cleartextSessions == 0 {
            self = .implicitTLS
        } else if r.hashedLogins.total > 0 {
            self = .hashedOnly
        } else {
            self = .unknown
        }
    }
}

/// A verdict with the evidence behind it, and any sign of STARTTLS stripping.
public struct Assessment: Sendable, Equatable {
    public var verdict: Verdict
    /// Human-readable reasons, most important first.
    public var evidence: [String]
    /// Why STARTTLS stripping is suspected (empty: not suspected).
    public var strippingEvidence: [String]
    public var strippingSuspected: Bool { !strippingEvidence.isEmpty }

    public init(_ r: ServerRecord) { self.init(r, verdict: Verdict(r)) }

    /// `verdict` must be `Verdict(r)`.
    init(_ r: ServerRecord, verdict: Verdict) {
        self.verdict = verdict
        var evidence: [String] = []
        // Every verdict has a reason or more: one allocation rather than growing to them.
        evidence.reserveCapacity(5)
        Self.evidence(r, verdict: verdict) { evidence.append(String(decoding: $0.bytes, as: UTF8.self)) }
        self.evidence = evidence
        var stripping: [String] = []
        Self.strippingEvidence(r) { stripping.append(String(decoding: $0.bytes, as: UTF8.self)) }
        strippingEvidence = stripping
    }

    /// The reasons for `verdict` (which must be `Verdict(r)`), most important first, one line at a
    /// time: the JSON writes them as they come, without a String each.
    static func evidence(_ r: ServerRecord, verdict: Verdict, _ line: (EvidenceLine) -> Void) {
        let plaintext = !r.plaintextOffered.isEmpty
        let capabilities = r.sessionsWithCapabilities
        switch verdict {
        case .exposed:
            let c = r.cleartextLogins
            line("\(c.total) cleartext login\(plural: c.total) (\(c.success) accepted, \(c.failure) refused, \(c.unknown) without reply) by \(UInt64(r.distinctUsers))\(r.usersOverflow ? "+" : "" as StaticString) distinct user\(plural: UInt64(r.distinctUsers)): \(list: r.cleartextMethods)")
            if r.loginDisabled { line("the server advertises LOGINDISABLED, yet clients sent passwords before TLS") }
            if r.starttlsRefused > 0 {
                line("STARTTLS refused in \(r.starttlsRefused) of \(r.starttlsRequested) request\(plural: r.starttlsRequested)")
            } else if r.starttlsOffered {
                line("STARTTLS advertised in \(r.starttlsOfferedSessions) of \(capabilities: capabilities), not used before these logins")
            } else if r.sessionsWithCapabilities > 0 {
                line("STARTTLS not advertised in any of \(capabilities: capabilities)")
            }
            if plaintext { line("plaintext login offered before TLS: \(list: r.plaintextOffered)") }
        case .tlsBroken:
            line("STARTTLS advertised in \(r.starttlsOfferedSessions) of \(capabilities: capabilities), refused in \(r.starttlsRefused) of \(r.starttlsRequested) request\(plural: r.starttlsRequested)")
            if plaintext { line("plaintext login offered before TLS: \(list: r.plaintextOffered)") }
        case .acceptsCleartext:
            line("plaintext login offered before TLS in \(r.plaintextOfferedSessions) of \(capabilities: capabilities): \(list: r.plaintextOffered)")
            line("no cleartext login seen, and no session moved to TLS")
            if r.starttlsRefused > 0 {
                line("STARTTLS requested but refused in \(r.starttlsRefused) session\(plural: r.starttlsRefused) (not advertised)")
            } else if r.starttlsOffered {
                line("STARTTLS advertised in \(r.starttlsOfferedSessions) of \(capabilities: capabilities)")
            } else {
                line("STARTTLS not advertised")
            }
        case .tlsOptional:
            line("\(r.starttlsUpgraded) of \(r.cleartextSessions) session\(plural: r.cleartextSessions) moved to TLS with STARTTLS; no cleartext login seen")
            line("plaintext login still offered before TLS: \(list: r.plaintextOffered)")
        case .tlsRequired:
            if r.loginDisabled { line("LOGINDISABLED advertised in \(r.loginDisabledSessions) of \(capabilities: capabilities)") }
            line("no plaintext login offered before TLS (SASL mechanisms offered: \(list: r.authMechanisms, ifEmpty: "none"))")
            line("STARTTLS advertised in \(r.starttlsOfferedSessions) of \(capabilities: capabilities); \(r.starttlsUpgraded) session\(plural: r.starttlsUpgraded) upgraded")
        case .implicitTLS:
            line("\(r.implicitTLSSessions) session\(plural: r.implicitTLSSessions) in TLS from the first byte (TLS handshake on port \(UInt64(r.key.port)))")
        // The same lines as `unknown` (the JSON evidence of these servers predates the verdict);
        // the challenge-response line below says what sets it apart.
        case .unknown, .hashedOnly:
            if r.sessionsWithCapabilities == 0 {
                var text: EvidenceLine = "no capability list seen before TLS in \(r.cleartextSessions) session\(plural: r.cleartextSessions)"
                if r.midstreamSessions > 0 { text.append(" (\(r.midstreamSessions) picked up mid-stream)") }
                line(text)
            } else {
                line("neither a plaintext login nor STARTTLS offered in \(capabilities: capabilities)")
            }
            if r.implicitTLSSessions > 0 { line("\(r.implicitTLSSessions) implicit TLS session\(plural: r.implicitTLSSessions)") }
        }
        if r.hashedLogins.total > 0 {
            let h = r.hashedLogins
            line("\(h.total) challenge-response login\(plural: h.total) (offline-crackable digest): \(list: r.hashedMethods)")
        }
    }

    /// Why STARTTLS stripping is suspected, one line at a time (none: not suspected).
    static func strippingEvidence(_ r: ServerRecord, _ line: (EvidenceLine) -> Void) {
        if r.starttlsOfferedToSome {
            line("STARTTLS advertised in only \(r.starttlsOfferedSessions) of \(capabilities: r.sessionsWithCapabilities)")
        }
        if r.starttlsRefusedWhereAccepted {
            line("STARTTLS refused in \(r.starttlsRefused) session\(plural: r.starttlsRefused) but accepted in \(r.starttlsUpgraded)")
        }
    }

    /// Whether `strippingEvidence(r)` has a line, without writing it.
    static func strippingSuspected(_ r: ServerRecord) -> Bool {
        r.starttlsOfferedToSome || r.starttlsRefusedWhereAccepted
    }
}

extension ServerRecord {
    /// STARTTLS in some capability lists but not all (a sign of stripping).
    var starttlsOfferedToSome: Bool { starttlsOfferedSessions > 0 && starttlsOfferedSessions < sessionsWithCapabilities }
    /// STARTTLS refused, though accepted at least as often (a sign of stripping).
    var starttlsRefusedWhereAccepted: Bool { starttlsRefused > 0 && starttlsUpgraded >= starttlsRefused }
}

/// One line of evidence as UTF-8 bytes, written with string interpolation: the literal parts are
/// copied from the binary and numbers written as digits, without building a String for each line
/// of every server assessed.
struct EvidenceLine: ExpressibleByStringInterpolation {
    var bytes: [UInt8]

    init(stringLiteral text: StaticString) {
        bytes = []
        bytes.reserveCapacity(text.utf8CodeUnitCount)
        bytes.append(text)
    }

    init(stringInterpolation: Interpolation) { bytes = stringInterpolation.bytes }

    mutating func append(_ more: EvidenceLine) { bytes.append(contentsOf: more.bytes) }

    struct Interpolation: StringInterpolationProtocol {
        var bytes: [UInt8] = []

        init(literalCapacity: Int, interpolationCount: Int) {
            bytes.reserveCapacity(literalCapacity + 16 * interpolationCount)
        }

        mutating func appendLiteral(_ text: StaticString) { bytes.append(text) }
        mutating func appendInterpolation(_ text: StaticString) { bytes.append(text) }

        /// Decimal, as `String(n)` writes it.
        mutating func appendInterpolation(_ n: UInt64) {
            var divisor: UInt64 = 1
            while n / divisor >= 10 { divisor &*= 10 }
            repeat {
                bytes.append(0x30 &+ UInt8(truncatingIfNeeded: n / divisor % 10))
                divisor /= 10
            } while divisor > 0
        }

        /// "s" unless `n` is 1.
        mutating func appendInterpolation(plural n: UInt64) { if n != 1 { bytes.append(0x73) } }

        /// "N session(s) with a capability list".
        mutating func appendInterpolation(capabilities n: UInt64) {
            appendInterpolation(n)
            appendLiteral(" session")
            appendInterpolation(plural: n)
            appendLiteral(" with a capability list")
        }

        /// The names joined with ", ", or `ifEmpty` for none.
        mutating func appendInterpolation(list: [String], ifEmpty: StaticString = "") {
            if list.isEmpty { bytes.append(ifEmpty); return }
            for (i, name) in list.enumerated() {
                if i > 0 { bytes.append(0x2C); bytes.append(0x20) }
                bytes.append(contentsOf: name.utf8)
            }
        }
    }
}

extension [UInt8] {
    fileprivate mutating func append(_ text: StaticString) {
        append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}
