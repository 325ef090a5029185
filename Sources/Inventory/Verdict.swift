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
    /// Not enough seen to say (no capability list before TLS, e.g. sessions picked up mid-stream,
    /// or a server that offers neither a plaintext login nor STARTTLS).
    case unknown

    public static func < (a: Verdict, b: Verdict) -> Bool { a.rank < b.rank }

    /// Position in `allCases` (declaration order), without building that array per comparison:
    /// sorting the servers at exit compared verdicts that way millions of times.
    private var rank: Int {
        switch self {
        case .exposed: return 0
        case .tlsBroken: return 1
        case .acceptsCleartext: return 2
        case .tlsOptional: return 3
        case .tlsRequired: return 4
        case .implicitTLS: return 5
        case .unknown: return 6
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

    public init(_ r: ServerRecord) {
        var evidence: [String] = []
        // Every verdict has a reason or more: one allocation rather than growing to them.
        evidence.reserveCapacity(5)
        let plaintext = !r.plaintextOffered.isEmpty
        // Lazy: a server without capabilities or plaintext offers (a verdict of `unknown`, a
        // quarter of a scan's servers) uses neither; building them anyway was wasted at exit.
        lazy var offered = r.plaintextOffered.joined(separator: ", ")
        lazy var capabilities = "\(r.sessionsWithCapabilities) session\(s(r.sessionsWithCapabilities)) with a capability list"
        if r.cleartextLogins.total > 0 {
            verdict = .exposed
            let c = r.cleartextLogins
            evidence.append("\(c.total) cleartext login\(s(c.total)) (\(c.success) accepted, \(c.failure) refused, \(c.unknown) without reply) by \(r.distinctUsers)\(r.usersOverflow ? "+" : "") distinct user\(s(UInt64(r.distinctUsers))): \(r.cleartextMethods.joined(separator: ", "))")
            if r.loginDisabled { evidence.append("the server advertises LOGINDISABLED, yet clients sent passwords before TLS") }
            if r.starttlsRefused > 0 {
                evidence.append("STARTTLS refused in \(r.starttlsRefused) of \(r.starttlsRequested) request\(s(r.starttlsRequested))")
            } else if r.starttlsOffered {
                evidence.append("STARTTLS advertised in \(r.starttlsOfferedSessions) of \(capabilities), not used before these logins")
            } else if r.sessionsWithCapabilities > 0 {
                evidence.append("STARTTLS not advertised in any of \(capabilities)")
            }
            if plaintext { evidence.append("plaintext login offered before TLS: \(offered)") }
        } else if r.starttlsRefusedAfterOffer > 0 || (r.starttlsOffered && r.starttlsRefused > 0) {
            verdict = .tlsBroken
            evidence.append("STARTTLS advertised in \(r.starttlsOfferedSessions) of \(capabilities), refused in \(r.starttlsRefused) of \(r.starttlsRequested) request\(s(r.starttlsRequested))")
            if plaintext { evidence.append("plaintext login offered before TLS: \(offered)") }
        } else if plaintext && r.starttlsUpgraded == 0 {
            verdict = .acceptsCleartext
            evidence.append("plaintext login offered before TLS in \(r.plaintextOfferedSessions) of \(capabilities): \(offered)")
            evidence.append("no cleartext login seen, and no session moved to TLS")
            if r.starttlsRefused > 0 {
                evidence.append("STARTTLS requested but refused in \(r.starttlsRefused) session\(s(r.starttlsRefused)) (not advertised)")
            } else {
                evidence.append(r.starttlsOffered ? "STARTTLS advertised in \(r.starttlsOfferedSessions) of \(capabilities)" : "STARTTLS not advertised")
            }
        } else if plaintext {
            verdict = .tlsOptional
            evidence.append("\(r.starttlsUpgraded) of \(r.cleartextSessions) session\(s(r.cleartextSessions)) moved to TLS with STARTTLS; no cleartext login seen")
            evidence.append("plaintext login still offered before TLS: \(offered)")
        } else if r.sessionsWithCapabilities > 0 && (r.loginDisabled || r.starttlsOffered) {
            verdict = .tlsRequired
            if r.loginDisabled { evidence.append("LOGINDISABLED advertised in \(r.loginDisabledSessions) of \(capabilities)") }
            let mechanisms = r.authMechanisms.isEmpty ? "none" : r.authMechanisms.joined(separator: ", ")
            evidence.append("no plaintext login offered before TLS (SASL mechanisms offered: \(mechanisms))")
            evidence.append("STARTTLS advertised in \(r.starttlsOfferedSessions) of \(capabilities); \(r.starttlsUpgraded) session\(s(r.starttlsUpgraded)) upgraded")
        } else if r.implicitTLSSessions > 0 && r.cleartextSessions == 0 {
            verdict = .implicitTLS
            evidence.append("\(r.implicitTLSSessions) session\(s(r.implicitTLSSessions)) in TLS from the first byte (TLS handshake on port \(r.key.port))")
        } else {
            verdict = .unknown
            if r.sessionsWithCapabilities == 0 {
                evidence.append("no capability list seen before TLS in \(r.cleartextSessions) session\(s(r.cleartextSessions))\(r.midstreamSessions > 0 ? " (\(r.midstreamSessions) picked up mid-stream)" : "")")
            } else {
                evidence.append("neither a plaintext login nor STARTTLS offered in \(capabilities)")
            }
            if r.implicitTLSSessions > 0 { evidence.append("\(r.implicitTLSSessions) implicit TLS session\(s(r.implicitTLSSessions))") }
        }
        if r.hashedLogins.total > 0 {
            let h = r.hashedLogins
            evidence.append("\(h.total) challenge-response login\(s(h.total)) (offline-crackable digest): \(r.hashedMethods.joined(separator: ", "))")
        }
        self.evidence = evidence

        var stripping: [String] = []
        if r.starttlsOfferedSessions > 0 && r.starttlsOfferedSessions < r.sessionsWithCapabilities {
            stripping.append("STARTTLS advertised in only \(r.starttlsOfferedSessions) of \(capabilities)")
        }
        if r.starttlsRefused > 0 && r.starttlsUpgraded >= r.starttlsRefused {
            stripping.append("STARTTLS refused in \(r.starttlsRefused) session\(s(r.starttlsRefused)) but accepted in \(r.starttlsUpgraded)")
        }
        strippingEvidence = stripping
    }
}

private func s(_ n: UInt64) -> String { n == 1 ? "" : "s" }
