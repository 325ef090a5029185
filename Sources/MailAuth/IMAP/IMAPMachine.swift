// IMAP4rev1/rev2 (RFC 3501, 9051), STARTTLS (RFC 2595), SASL-IR (RFC 4959), LITERAL+ (RFC 7888).
// Replies are matched to commands by tag, so no queue order is assumed. Literals in both
// directions are skipped by the framer, so an APPENDed or FETCHed message never reads as protocol.

struct IMAPMachine: LineMachine {
    enum Kind { case login(PendingLogin), authenticate, starttls }

    private struct Tagged {
        var tag: IMAPTag
        var kind: Kind
    }

    /// A LOGIN being assembled across literal segments.
    private struct LoginInProgress {
        var tag: IMAPTag
        var argument = 0
        var username: [UInt8]?
        var truncated = false
        var time: Int64
    }

    private var tagged: [Tagged] = []
    private var login: LoginInProgress?
    /// The current client command continues after a literal (the next line is not a new command).
    private var clientContinues = false
    private var clientLiteralIsUsername = false
    /// The tag of the command waiting for a synchronising literal's go-ahead.
    private var waitingLiteralTag: IMAPTag?
    private var serverContinues = false
    private var sasl: SASLExchange?
    private var saslTag = IMAPTag()
    /// Tagged commands awaiting their reply. Only those whose outcome matters (LOGIN,
    /// AUTHENTICATE, STARTTLS) are kept: a reply to any other tag changes nothing.
    private let maxTagged: Int
    private(set) var queueOverflows = 0

    init(limits: SessionLimits) {
        maxTagged = limits.maxPending
    }

    /// Asked after every delivery. Between commands nothing is held: that case is inlined, so the
    /// machine is not copied for the call.
    @inline(__always)
    var heldBytes: Int {
        mutating get {
            if tagged.isEmpty && login == nil && sasl == nil { return 0 }
            return heldBytesInUse
        }
    }

    private var heldBytesInUse: Int {
        var n = tagged.count * MemoryLayout<Tagged>.stride + (login?.username?.count ?? 0)
            + (sasl?.heldBytes ?? 0)
        for entry in tagged { if case .login(let p) = entry.kind { n += p.heldBytes } }
        return n
    }

    mutating func reset() {
        if tagged.capacity != 0 { tagged = [] }
        if login != nil { login = nil }
        clientContinues = false
        clientLiteralIsUsername = false
        if waitingLiteralTag != nil { waitingLiteralTag = nil }
        serverContinues = false
        if sasl != nil { sasl = nil }
        saslTag = IMAPTag()
        queueOverflows = 0
    }

    mutating func shed(core: inout SessionCore) {
        reportPending(core: &core)
        // Every session ends through here: an array never grown is kept (see PendingQueue).
        if tagged.capacity != 0 { tagged = [] }
    }

    // MARK: client

    mutating func clientLine(_ line: Span<UInt8>, core: inout SessionCore) {
        let end = line.withoutCR
        if sasl?.awaitingResponse == true {
            sasl?.answer(line, end: end, core: &core)
            return
        }
        if clientContinues {
            clientContinues = false
            if login != nil {
                loginArguments(line, from: 0, end: end, core: &core)
            } else if let n = IMAPSyntax.trailingLiteral(line, end: end) {
                expectClientLiteral(n, username: false, core: &core)
            }
            return
        }
        let tagToken = line.word(from: 0, end: end)
        guard !tagToken.isEmpty else { return }
        let command = line.word(from: tagToken.end, end: end)
        let tag = IMAPTag(line, tagToken)
        if line.equalsUpper(command, "LOGIN") {
            login = LoginInProgress(tag: tag, time: core.now)
            loginArguments(line, from: command.end, end: end, core: &core)
        } else if line.equalsUpper(command, "AUTHENTICATE") {
            let mech = line.word(from: command.end, end: end)
            // A new exchange replaces one whose reply never came.
            sasl.abandon(core: &core)
            sasl = SASLExchange.begin("AUTHENTICATE", mechanism: mech, in: line, end: end, core: &core)
            saslTag = tag
            remember(tag, .authenticate, core: &core)
        } else if line.equalsUpper(command, "STARTTLS") {
            core.requestedTLS()
            remember(tag, .starttls, core: &core)
        } else {
            if let n = IMAPSyntax.trailingLiteral(line, end: end) {
                expectClientLiteral(n, username: false, core: &core)
                waitingLiteralTag = isSynchronising(line, end) ? tag : nil
            }
        }
    }

    private func isSynchronising(_ line: Span<UInt8>, _ end: Int) -> Bool {
        end >= 2 && line[end - 2] != ASCII.plus
    }

    /// Walks LOGIN's two astrings; a literal ends the segment and the rest follows the literal.
    private mutating func loginArguments(_ line: Span<UInt8>, from: Int, end: Int, core: inout SessionCore) {
        guard var l = login else { return }
        var at = from
        while l.argument < 2 {
            let (arg, next) = IMAPSyntax.argument(line, from: at, end: end)
            at = next
            switch arg.kind {
            case .missing:
                // The command ended early: a malformed LOGIN carries no password.
                login = nil
                core.anomalies.count(.malformedLogin)
                return
            case .literal(let n):
                login = l
                expectClientLiteral(n, username: l.argument == 0, core: &core)
                waitingLiteralTag = isSynchronising(line, end) ? l.tag : nil
                return
            case .atom, .quoted:
                if l.argument == 0 {
                    let c = IMAPSyntax.copyName(line, arg)
                    l.username = c.bytes
                    l.truncated = c.truncated
                }
                l.argument += 1
            }
        }
        login = nil
        completeLogin(l, core: &core)
    }

    private mutating func completeLogin(_ l: LoginInProgress, core: inout SessionCore) {
        var p = core.pending(method: "LOGIN", exposure: .cleartext, username: l.username, truncated: l.truncated)
        p.time = l.time
        remember(l.tag, .login(p), core: &core)
    }

    private mutating func expectClientLiteral(_ n: Int, username: Bool, core: inout SessionCore) {
        clientLiteralIsUsername = username
        core.clientMode = .literal(n)
        if n == 0 { modeEnded(from: .client, core: &core) }
    }

    mutating func literal(_ bytes: Span<UInt8>, from side: Side, core: inout SessionCore) {
        guard side == .client, clientLiteralIsUsername, var l = login else { return }
        // Only the login name is ever copied out of a literal; a password literal is skipped.
        var name = l.username ?? []
        for i in 0..<bytes.count {
            if name.count < Finding.maxUsernameBytes { name.append(bytes[i]) } else { l.truncated = true }
        }
        l.username = name
        login = l
    }

    mutating func modeEnded(from side: Side, core: inout SessionCore) {
        if side == .server {
            serverContinues = true
            return
        }
        waitingLiteralTag = nil
        if var l = login {
            l.argument += 1
            login = l
            clientLiteralIsUsername = false
        }
        clientContinues = true
    }

    // MARK: server

    mutating func serverLine(_ line: Span<UInt8>, core: inout SessionCore) {
        let end = line.withoutCR
        if serverContinues {
            serverContinues = false
            if let n = IMAPSyntax.trailingLiteral(line, end: end) { core.serverMode = .literal(n) }
            return
        }
        let first = line.word(from: 0, end: end)
        guard !first.isEmpty else { return }
        if first.count == 1 && line[first.start] == ASCII.plus {
            sasl?.awaitingResponse = true
        } else if first.count == 1 && line[first.start] == ASCII.star {
            untagged(line, after: first.end, end: end, core: &core)
        } else {
            let status = line.word(from: first.end, end: end)
            let ok = line.equalsUpper(status, "OK")
            // The command completes first: a login's OK carries the logged-in capability list,
            // which must not count as what the server offers before login (ServerFacts).
            if ok || line.equalsUpper(status, "NO") || line.equalsUpper(status, "BAD") {
                completed(tag: line, first, ok: ok, core: &core)
            }
            if !core.encrypted { capabilities(in: line, from: status.end, end: end, core: &core) }
        }
        if let n = IMAPSyntax.trailingLiteral(line, end: end) { core.serverMode = .literal(n) }
    }

    private mutating func untagged(_ line: Span<UInt8>, after: Int, end: Int, core: inout SessionCore) {
        let word = line.word(from: after, end: end)
        if line.equalsUpper(word, "CAPABILITY") {
            capabilityList(line, from: word.end, end: end, core: &core)
        } else if line.equalsUpper(word, "OK") || line.equalsUpper(word, "PREAUTH") {
            // PREAUTH: the connection is logged in from the start, so nothing it lists is offered
            // to an unauthenticated client.
            if line.equalsUpper(word, "PREAUTH") { core.facts.authenticated = true }
            capabilities(in: line, from: word.end, end: end, core: &core)
        }
    }

    /// `[CAPABILITY ...]` response code in a greeting or tagged reply.
    private mutating func capabilities(in line: Span<UInt8>, from: Int, end: Int, core: inout SessionCore) {
        let s = line.skipSpaces(from: from, end: end)
        guard s < end, line[s] == ASCII.openBracket else { return }
        let code = line.word(from: s + 1, end: end)
        guard line.equalsUpper(code, "CAPABILITY") else { return }
        let close = line.firstIndex(of: ASCII.closeBracket, from: code.end, end: end) ?? end
        capabilityList(line, from: code.end, end: close, core: &core)
    }

    private mutating func capabilityList(_ line: Span<UInt8>, from: Int, end: Int, core: inout SessionCore) {
        core.sawCapabilities()
        guard from < end else { return }
        // One pass over the list in a single checked view: a server lists a dozen capabilities,
        // and a `word` call per capability would build a checked sub-span for each.
        unsafe line.extracting(from..<end).withUnsafeBufferPointer { b in
            let n = b.count
            var i = 0
            while true {
                while unsafe i < n && (b[i] == ASCII.space || b[i] == ASCII.tab) { i += 1 }
                guard i < n else { return }
                let s = i
                let letter = unsafe b[i] | 0x20
                i = unsafe ASCII.blankOrEnd(b, from: i + 1)
                let w = Token(start: from + s, end: from + i)
                // Dispatched on the first letter, so a capability is not tested against all
                // three keywords.
                switch letter {
                case UInt8(ascii: "s"):
                    if line.equalsUpper(w, "STARTTLS") { core.sawStartTLSOffer() }
                case UInt8(ascii: "l"):
                    if line.equalsUpper(w, "LOGINDISABLED") { core.sawLoginDisabled() }
                case UInt8(ascii: "a"):
                    if w.count > 5, line.hasPrefixUpper(w, "AUTH=") {
                        core.sawMechanism(line, Token(start: w.start + 5, end: w.end))
                    }
                default:
                    break
                }
            }
        }
    }

    private mutating func completed(tag line: Span<UInt8>, _ t: Token, ok: Bool, core: inout SessionCore) {
        let tag = IMAPTag(line, t)
        if let waiting = waitingLiteralTag, waiting == tag {
            // The server refused a synchronising literal: the client will not send its bytes.
            waitingLiteralTag = nil
            core.clientMode = .line
            clientContinues = false
            if login?.tag == tag { login = nil }
        }
        guard let i = tagged.firstIndex(where: { $0.tag == tag }) else { return }
        let entry = tagged.remove(at: i)
        // Storage a burst of pipelined commands grew is given back (the budget charges entries).
        if tagged.isEmpty && tagged.capacity > 4 { tagged = [] }
        switch entry.kind {
        case .login(let p):
            core.report(p, outcome: ok ? .success : .failure)
        case .authenticate:
            if saslTag == tag {
                if let p = sasl?.login { core.report(p, outcome: ok ? .success : .failure) }
                sasl = nil
            }
        case .starttls:
            if ok {
                if !tagged.isEmpty { core.anomalies.count(.pipeliningAfterSTARTTLS) }
                reportPending(core: &core)
                core.startedTLS()
            } else {
                core.refusedTLS()
            }
        }
    }

    private mutating func remember(_ tag: IMAPTag, _ kind: Kind, core: inout SessionCore) {
        if tagged.count >= maxTagged {
            let dropped = tagged.removeFirst()
            switch dropped.kind {
            case .login(let p): core.report(p, outcome: .unknown)
            case .authenticate:
                if dropped.tag == saslTag, sasl?.login != nil { sasl.abandon(core: &core) }
            case .starttls: break
            }
            queueOverflows += 1
        }
        tagged.append(Tagged(tag: tag, kind: kind))
    }

    private mutating func reportPending(core: inout SessionCore) {
        // Usually nothing is pending (every session ends through here, twice): then the empty
        // list is not walked and emptied, nor the exchange reset.
        guard !tagged.isEmpty || sasl != nil else { return }
        for entry in tagged {
            switch entry.kind {
            case .login(let p): core.report(p, outcome: .unknown)
            case .authenticate: if entry.tag == saslTag, let p = sasl?.login { core.report(p, outcome: .unknown) }
            default: break
            }
        }
        tagged.removeAll()
        sasl = nil
    }

    mutating func gap(from side: Side, core: inout SessionCore) {
        // Tags still match after a gap, so pending logins keep waiting for their reply; only a
        // half-assembled command or SASL exchange is abandoned.
        if side == .client {
            login = nil
            clientContinues = false
            sasl?.awaitingResponse = false
        } else {
            serverContinues = false
        }
    }

    mutating func finish(core: inout SessionCore) {
        reportPending(core: &core)
    }
}

/// A command tag held inline: matching replies to commands by tag allocates nothing per command
/// (scripts/bench alloc, `noop` variant). A tag longer than 64 bytes keeps its first 64, its full
/// length and a digest of the rest, so two long tags that share a prefix still differ (a client
/// or an attacker choosing such tags could otherwise have one reply complete the other command).
struct IMAPTag: Equatable {
    private var bytes = SIMD64<UInt8>()
    // 32 bits each, so the tag is no larger than when it held only its first 64 bytes (the
    // pending queue's memory is charged by size): a line, and so a tag, is far shorter than 2^32.
    private var count: UInt32 = 0
    /// FNV-1a of the bytes past the first 64 (0 for a shorter tag).
    private var rest: UInt32 = 0

    init() {}

    init(_ line: Span<UInt8>, _ t: Token) {
        count = UInt32(clamping: t.count)
        for i in 0..<min(t.count, 64) { bytes[i] = line[t.start + i] }
        guard t.count > 64 else { return }
        var h: UInt32 = 0x811C_9DC5
        for i in 64..<t.count { h = (h ^ UInt32(line[t.start + i])) &* 0x0100_0193 }
        rest = h
    }
}
