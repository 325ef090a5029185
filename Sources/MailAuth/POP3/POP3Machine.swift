// POP3 (RFC 1939), CAPA (RFC 2449), STLS (RFC 2595), AUTH (RFC 5034). Replies carry no command
// name, so commands queue in order and each `+OK`/`-ERR` answers the oldest one; multi-line
// replies (CAPA, LIST, RETR, ...) are skipped to their "." so message text never reads as replies.

struct POP3Machine: LineMachine {
    enum Command {
        case user
        case login(PendingLogin)   // PASS after USER, or APOP
        case auth                  // the SASL exchange lives in `sasl`
        case stls
        case capa
        case multiLine             // a command whose +OK opens a dot-terminated listing
        case other
    }

    private var queue: PendingQueue<Command>
    var queueOverflows: Int { queue.overflows }
    private var user: (bytes: [UInt8], truncated: Bool)?
    private var sasl: SASLExchange?
    private var greetingSeen = false
    /// Reading the CAPA listing (other listings are skipped by the framer).
    private var inListing = false

    init(limits: SessionLimits) {
        queue = PendingQueue(capacity: limits.maxPending)
    }

    /// Asked after every delivery; between commands nothing is held, a case inlined.
    @inline(__always)
    var heldBytes: Int {
        mutating get {
            if queue.isEmpty && user == nil && sasl == nil { return queue.heldBytes }
            return heldBytesInUse
        }
    }

    private var heldBytesInUse: Int {
        var n = queue.heldBytes + (user?.bytes.count ?? 0) + (sasl?.heldBytes ?? 0)
        queue.forEach { if case .login(let p) = $0 { n += p.heldBytes } }
        return n
    }

    mutating func reset() {
        queue.reset()
        if user != nil { user = nil }
        if sasl != nil { sasl = nil }
        greetingSeen = false
        inListing = false
    }

    mutating func shed(core: inout SessionCore) {
        reportPending(core: &core)
        queue.releaseStorage()
    }

    /// A full queue gave up its oldest command: a login in it is reported now.
    private mutating func push(_ command: Command, core: inout SessionCore) {
        switch queue.push(command) {
        case .login(let p)?: core.report(p, outcome: .unknown)
        case .auth?: sasl.abandon(core: &core)
        default: break
        }
    }

    mutating func clientLine(_ line: Span<UInt8>, core: inout SessionCore) {
        let end = line.withoutCR
        if sasl?.awaitingResponse == true {
            sasl?.answer(line, end: end, core: &core)
            return
        }
        let verb = line.word(from: 0, end: end)
        guard !verb.isEmpty else { return }
        let argStart = line.skipSpaces(from: verb.end, end: end)
        let rest = Token(start: argStart, end: end)
        if line.equalsUpper(verb, "USER") {
            let c = line.copy(rest)
            user = (c.bytes, c.truncated)
            push(.user, core: &core)
        } else if line.equalsUpper(verb, "PASS") {
            let p = core.pending(method: "USER", exposure: .cleartext, username: user?.bytes,
                                 truncated: user?.truncated ?? false)
            push(.login(p), core: &core)
        } else if line.equalsUpper(verb, "APOP") {
            let name = line.word(from: argStart, end: end)
            let c = line.copy(name)
            push(.login(core.pending(method: "APOP", exposure: .hashed, username: c.bytes,
                                           truncated: c.truncated)), core: &core)
        } else if line.equalsUpper(verb, "AUTH") {
            let mech = line.word(from: argStart, end: end)
            if mech.isEmpty {
                push(.multiLine, core: &core)
            } else {
                sasl.abandon(core: &core)
                sasl = SASLExchange.begin("AUTH", mechanism: mech, in: line, end: end, core: &core)
                push(.auth, core: &core)
            }
        } else if line.equalsUpper(verb, "STLS") {
            core.requestedTLS()
            push(.stls, core: &core)
        } else if line.equalsUpper(verb, "CAPA") {
            push(.capa, core: &core)
        } else if line.equalsUpper(verb, "RETR") || line.equalsUpper(verb, "TOP") {
            push(.multiLine, core: &core)
        } else if line.equalsUpper(verb, "LIST") || line.equalsUpper(verb, "UIDL") {
            push(rest.isEmpty ? .multiLine : .other, core: &core)
        } else {
            push(.other, core: &core)
        }
    }

    mutating func serverLine(_ line: Span<UInt8>, core: inout SessionCore) {
        let end = line.withoutCR
        if inListing {
            if end == 1 && line[0] == ASCII.dot {
                inListing = false
            } else {
                capability(line, end, core: &core)
            }
            return
        }
        let status = line.word(from: 0, end: end)
        let ok = line.equalsUpper(status, "+OK")
        let err = line.equalsUpper(status, "-ERR")
        if !ok && !err {
            // "+ challenge": the server wants the next SASL response.
            if end >= 1 && line[0] == ASCII.plus && (end == 1 || line[1] == ASCII.space) {
                sasl?.awaitingResponse = true
            }
            return
        }
        guard let command = queue.popFirst() else {
            if !greetingSeen { greetingSeen = true } else { core.anomalies.count(.replyWithoutCommand) }
            return
        }
        greetingSeen = true
        switch command {
        case .user:
            break
        case .login(let p):
            core.report(p, outcome: ok ? .success : .failure)
            user = nil
        case .auth:
            if let p = sasl?.login { core.report(p, outcome: ok ? .success : .failure) }
            sasl = nil
        case .stls:
            if ok {
                startTLS(core: &core)
            } else {
                core.refusedTLS()
            }
        case .capa:
            if ok {
                core.sawCapabilities()
                inListing = true
            }
        case .multiLine:
            // A message or a listing: the framer skips it to its "." line without handing over
            // its lines (RETR bodies are most of a mailbox session's bytes).
            if ok { core.serverMode = .dotBody }
        case .other:
            break
        }
    }

    private mutating func capability(_ line: Span<UInt8>, _ end: Int, core: inout SessionCore) {
        let name = line.word(from: 0, end: end)
        if line.equalsUpper(name, "STLS") {
            core.sawStartTLSOffer()
        } else if line.equalsUpper(name, "USER") {
            core.sawUserCommandOffer()
        } else if line.equalsUpper(name, "SASL") {
            // "SASL PLAIN LOGIN CRAM-MD5" (RFC 2449 section 6.3)
            var at = name.end
            while at < end {
                let mech = line.word(from: at, end: end)
                if mech.isEmpty { break }
                core.sawMechanism(line, mech)
                at = mech.end
            }
        }
    }

    /// Commands pipelined behind STLS crossed in cleartext; their replies will be encrypted.
    private mutating func startTLS(core: inout SessionCore) {
        if !queue.isEmpty { core.anomalies.count(.pipeliningAfterSTARTTLS) }
        reportPending(core: &core)
        core.startedTLS()
    }

    private mutating func reportPending(core: inout SessionCore) {
        // Usually nothing is pending (every session ends through here, twice): then there is
        // nothing to drain, and the exchange's login is not copied out.
        guard !queue.isEmpty || sasl != nil else { return }
        let saslLogin = sasl?.login
        queue.drain { command in
            switch command {
            case .login(let p): core.report(p, outcome: .unknown)
            case .auth: if let p = saslLogin { core.report(p, outcome: .unknown) }
            default: break
            }
        }
        sasl = nil
    }

    mutating func literal(_ bytes: Span<UInt8>, from side: Side, core: inout SessionCore) {}
    mutating func modeEnded(from side: Side, core: inout SessionCore) {}

    mutating func gap(from side: Side, core: inout SessionCore) {
        reportPending(core: &core)
        inListing = false
        // The listing's "." may have been lost: read replies again rather than skip to a "." that
        // may never come.
        if side == .server { core.serverMode = .line }
        // A lost server reply leaves the client's USER standing; only a client-side gap can
        // have swallowed a newer USER or the PASS itself.
        if side == .client { user = nil }
    }

    mutating func finish(core: inout SessionCore) {
        reportPending(core: &core)
        user = nil
    }
}
