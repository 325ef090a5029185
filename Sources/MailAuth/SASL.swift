// One SASL exchange (RFC 4422) as POP3 AUTH, IMAP AUTHENTICATE and SMTP AUTH carry it: the client
// names a mechanism, then sends base64 responses (an initial response on the command line, or one
// line per server challenge). This type decides which response carries the secret and reads the
// login name out of the blobs; the secret itself is never copied out of the scratch buffer, which
// is wiped after each response.

enum SASLMechanism: Equatable {
    case plain, login, cramMD5, digestMD5, ntlm, scram, xoauth2, oauthBearer
    /// Known, and never carrying a reusable secret or a digest of one (GSSAPI's Kerberos ticket,
    /// EXTERNAL's TLS certificate, ANONYMOUS).
    case noSecret
    case unsupported

    init(_ name: String) {
        switch name {
        case "PLAIN": self = .plain
        case "LOGIN": self = .login
        case "CRAM-MD5": self = .cramMD5
        case "DIGEST-MD5": self = .digestMD5
        case "NTLM": self = .ntlm
        case "XOAUTH2": self = .xoauth2
        case "OAUTHBEARER": self = .oauthBearer
        case "GSSAPI", "GS2-KRB5", "EXTERNAL", "ANONYMOUS": self = .noSecret
        default: self = name.hasPrefix("SCRAM-") ? .scram : .unsupported
        }
    }

    /// Challenge-response mechanisms expose only an offline-crackable digest; bearer tokens and
    /// PLAIN/LOGIN expose the secret itself.
    var exposure: Exposure? {
        switch self {
        case .plain, .login, .xoauth2, .oauthBearer: return .cleartext
        case .cramMD5, .digestMD5, .ntlm, .scram: return .hashed
        case .noSecret, .unsupported: return nil
        }
    }
}

/// A class, not a struct: a session holds one only while an AUTH is in flight, and an optional
/// struct of some 90 bytes would be copied by every `heldBytes` after a delivery and destroyed
/// through an outlined value witness at every reset and flow close, where a nil reference costs
/// nothing to copy or destroy. Only its machine holds it.
final class SASLExchange {
    let method: String
    let mechanism: SASLMechanism
    private(set) var responses = 0
    private var username: [UInt8]?
    private var truncated = false
    /// Set once the response carrying the secret (or digest) has been sent.
    private(set) var login: PendingLogin?
    /// The server sent a challenge (`+ ` or `334`): the next client line is a response.
    var awaitingResponse = false

    /// Heap bytes held between deliveries (charged to `SessionMemory`).
    var heldBytes: Int { (username?.count ?? 0) + (login?.heldBytes ?? 0) }

    init(method: String, mechanismName: String) {
        self.method = method
        self.mechanism = SASLMechanism(mechanismName)
    }

    /// An exchange of mechanism `name` named by a `prefix` command, a mechanism plainsight does not
    /// know counted as an anomaly.
    static func start(_ prefix: String, mechanismName name: String, core: inout SessionCore) -> SASLExchange {
        let exchange = SASLExchange(method: prefix + " " + name, mechanismName: name)
        if exchange.mechanism == .unsupported && !name.isEmpty { core.anomalies.count(.unknownMechanism) }
        return exchange
    }

    /// `MECH [initial-response]` starting at `mechanism` in a command line (`prefix` is `AUTH` or
    /// `AUTHENTICATE`): the exchange, with any initial response (RFC 4959, RFC 4954) already read.
    static func begin(_ prefix: String, mechanism mech: Token, in line: Span<UInt8>, end: Int,
                      core: inout SessionCore) -> SASLExchange {
        let exchange = start(prefix, mechanismName: line.mechanismName(mech), core: &core)
        let ir = line.word(from: mech.end, end: end)
        if !ir.isEmpty { exchange.respond(line, ir, core: &core) }
        return exchange
    }

    /// The client line after a challenge: a response, or a lone `*` cancelling the exchange
    /// (RFC 4422 section 3.5), which carries no credential.
    func answer(_ line: Span<UInt8>, end: Int, core: inout SessionCore) {
        awaitingResponse = false
        let t = Token(start: line.skipSpaces(from: 0, end: end), end: end)
        if t.count == 1 && line[t.start] == ASCII.star { return }
        respond(line, t, core: &core)
    }

    /// One client response, `line[t]`. A lone `*` cancels the exchange (RFC 4422 section 3.5): the
    /// caller handles it before calling this.
    func respond(_ line: Span<UInt8>, _ t: Token, core: inout SessionCore) {
        responses += 1
        guard login == nil, let exposure = mechanism.exposure else { return }
        // "=" is an empty initial response (RFC 4954); an empty line likewise carries nothing.
        let empty = t.isEmpty || (t.count == 1 && line[t.start] == ASCII.equals)
        // The scratch is sized up front so appending never reallocates and leaves an unwiped copy
        // behind, and wiped before it is freed. It lives for this response only: kept per session,
        // 8 KiB in every flow that once sent AUTH would add up across a table of flows.
        var decoded: [UInt8] = []
        decoded.reserveCapacity(Base64.maxDecoded)
        defer { decoded.wipe() }
        let ok = !empty && Base64.decode(line, t, into: &decoded)
        switch mechanism {
        case .plain:
            guard !empty else { return }
            if ok { takePlainUsername(decoded) } else { core.anomalies.count(.malformedSASL) }
            login = core.pending(method: method, exposure: exposure, username: username, truncated: truncated)
        case .login:
            if responses == 1 {
                if ok { keep(decoded.span, 0, decoded.count) }
            } else if !empty {
                login = core.pending(method: method, exposure: exposure, username: username, truncated: truncated)
            }
        case .cramMD5:
            guard !empty else { return }
            if ok, let sp = decoded.lastIndex(of: ASCII.space) { keep(decoded.span, 0, sp) }
            login = core.pending(method: method, exposure: exposure, username: username, truncated: truncated)
        case .digestMD5:
            guard !empty, ok else { return }
            takeQuotedField(decoded, key: Array("username=".utf8))
            login = core.pending(method: method, exposure: exposure, username: username, truncated: truncated)
        case .ntlm:
            guard ok, takeNTLMUser(decoded) else { return }
            login = core.pending(method: method, exposure: exposure, username: username, truncated: truncated)
        case .scram:
            guard ok else { return }
            if username == nil, let user = field(decoded, prefix: [0x6E, ASCII.equals]) {  // n=
                keep(decoded.span, user.lowerBound, user.upperBound)
            } else if field(decoded, prefix: [0x70, ASCII.equals]) != nil {  // p= : the proof
                login = core.pending(method: method, exposure: exposure, username: username, truncated: truncated)
            }
        case .xoauth2:
            guard !empty else { return }
            if ok, let user = field(decoded, prefix: Array("user=".utf8), separator: 0x01) {
                keep(decoded.span, user.lowerBound, user.upperBound)
            }
            login = core.pending(method: method, exposure: exposure, username: username, truncated: truncated)
        case .oauthBearer:
            guard !empty else { return }
            if ok, let user = field(decoded, prefix: [0x61, ASCII.equals]) {  // a=
                keep(decoded.span, user.lowerBound, user.upperBound)
            }
            login = core.pending(method: method, exposure: exposure, username: username, truncated: truncated)
        case .noSecret, .unsupported:
            return
        }
    }

    /// PLAIN is `authzid NUL authcid NUL passwd`; the login name is authcid. When a client leaves
    /// authcid empty the authzid is the only name on offer.
    private func takePlainUsername(_ d: [UInt8]) {
        guard let first = d.firstIndex(of: 0) else { return }
        guard let second = d[(first + 1)...].firstIndex(of: 0) else { return }
        if second > first + 1 {
            keep(d.span, first + 1, second)
        } else if first > 0 {
            keep(d.span, 0, first)
        }
    }

    private func keep(_ s: Span<UInt8>, _ from: Int, _ to: Int) {
        let c = s.copy(Token(start: from, end: to))
        username = c.bytes
        truncated = c.truncated
    }


    /// `key=value` inside a comma- (or `separator`-) separated list, value range returned.
    private func field(_ d: [UInt8], prefix: [UInt8], separator: UInt8 = 0x2C) -> Range<Int>? {
        var start = 0
        while start <= d.count {
            let end = d[start...].firstIndex(of: separator) ?? d.count
            if end - start >= prefix.count, Array(d[start..<(start + prefix.count)]) == prefix {
                return (start + prefix.count)..<end
            }
            start = end + 1
        }
        return nil
    }

    /// DIGEST-MD5 `username="..."` (RFC 2831), quotes optional.
    private func takeQuotedField(_ d: [UInt8], key: [UInt8]) {
        guard d.count >= key.count else { return }
        for i in 0...(d.count - key.count) where Array(d[i..<(i + key.count)]).map(ASCII.lower) == key {
            var s = i + key.count
            var e: Int
            if s < d.count, d[s] == ASCII.quote {
                s += 1
                e = d[s...].firstIndex(of: ASCII.quote) ?? d.count
            } else {
                e = d[s...].firstIndex(of: 0x2C) ?? d.count
            }
            e = max(e, s)
            keep(d.span, s, e)
            return
        }
    }

    /// NTLM AUTHENTICATE (type 3) message: `DOMAIN\user` from its security buffers.
    private func takeNTLMUser(_ d: [UInt8]) -> Bool {
        let signature: [UInt8] = [0x4E, 0x54, 0x4C, 0x4D, 0x53, 0x53, 0x50, 0x00]
        guard d.count >= 64, Array(d[0..<8]) == signature, le32(d, 8) == 3 else { return false }
        let unicode = le32(d, 60) & 1 == 1
        var name: [UInt8] = []
        for (i, offsetOfBuffer) in [28, 36].enumerated() {
            let len = Int(le16(d, offsetOfBuffer)), off = Int(le32(d, offsetOfBuffer + 4))
            guard off >= 0, len >= 0, off + len <= d.count else { continue }
            if i == 1 && !name.isEmpty { name.append(ASCII.backslash) }
            if unicode {
                var j = off
                while j + 1 < off + len {
                    name.append(d[j + 1] == 0 ? d[j] : 0x3F)
                    j += 2
                }
            } else {
                name.append(contentsOf: d[off..<(off + len)])
            }
        }
        if !name.isEmpty { keep(name.span, 0, name.count) }
        return true
    }

    private func le16(_ d: [UInt8], _ o: Int) -> UInt16 { UInt16(d[o]) | UInt16(d[o + 1]) << 8 }
    private func le32(_ d: [UInt8], _ o: Int) -> UInt32 {
        UInt32(d[o]) | UInt32(d[o + 1]) << 8 | UInt32(d[o + 2]) << 16 | UInt32(d[o + 3]) << 24
    }
}

extension ASCII {
    static func lower(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b + 0x20 : b }
}

extension Optional where Wrapped == SASLExchange {
    /// Ends an exchange whose reply will not be matched (a new one replaced it, or its command was
    /// given up): a login it carried is reported now, with outcome unknown.
    mutating func abandon(core: inout SessionCore) {
        if let p = self?.login { core.report(p, outcome: .unknown) }
        self = nil
    }
}
