// SMTP (RFC 5321), AUTH (RFC 4954), STARTTLS (RFC 3207), PIPELINING (RFC 2920), CHUNKING
// (RFC 3030). Following Zeek's observation, state moves on <command, reply> pairs rather than a
// strict dialogue: commands queue in order, each final reply answers the oldest. DATA bodies and
// BDAT chunks are skipped by the framer, so a message quoting "AUTH PLAIN ..." is never a login.

struct SMTPMachine: LineMachine {
    enum Command { case ehlo, helo, auth, starttls, data, dataBody, bdat, other }

    private var queue: PendingQueue<Command>
    var queueOverflows: Int { queue.overflows }
    private var sasl: SASLExchange?
    private var greetingSeen = false
    /// The client is sending a DATA body (set optimistically on DATA, undone if DATA is refused).
    private var clientInBody = false

    init(limits: SessionLimits) {
        queue = PendingQueue(capacity: limits.maxPending)
    }

    /// Asked after every delivery, so the usual case, no AUTH in flight, is inlined.
    @inline(__always)
    var heldBytes: Int {
        mutating get {
            guard let sasl else { return queue.heldBytes }
            return queue.heldBytes + sasl.heldBytes
        }
    }

    mutating func reset() {
        queue.reset()
        if sasl != nil { sasl = nil }
        greetingSeen = false
        clientInBody = false
    }

    mutating func shed(core: inout SessionCore) {
        reportPending(core: &core)
        queue.releaseStorage()
    }

    /// A full queue gave up its oldest command: the login of a dropped AUTH is reported now.
    private mutating func push(_ command: Command, core: inout SessionCore) {
        if case .auth? = queue.push(command) { sasl.abandon(core: &core) }
    }

    mutating func clientLine(_ line: Span<UInt8>, core: inout SessionCore) {
        let end = line.withoutCR
        if sasl?.awaitingResponse == true {
            sasl?.answer(line, end: end, core: &core)
            return
        }
        let verb = line.word(from: 0, end: end)
        guard !verb.isEmpty else { return }
        if line.equalsUpper(verb, "EHLO") || line.equalsUpper(verb, "LHLO") {
            push(.ehlo, core: &core)
        } else if line.equalsUpper(verb, "HELO") {
            push(.helo, core: &core)
        } else if line.equalsUpper(verb, "AUTH") {
            let mech = line.word(from: verb.end, end: end)
            sasl.abandon(core: &core)
            sasl = SASLExchange.begin("AUTH", mechanism: mech, in: line, end: end, core: &core)
            push(.auth, core: &core)
        } else if line.equalsUpper(verb, "STARTTLS") {
            core.requestedTLS()
            push(.starttls, core: &core)
        } else if line.equalsUpper(verb, "DATA") {
            push(.data, core: &core)
            clientInBody = true
            core.clientMode = .dotBody
        } else if line.equalsUpper(verb, "BDAT") {
            push(.bdat, core: &core)
            let size = line.word(from: verb.end, end: end)
            if let n = line.decimal(size) { core.clientMode = .literal(n) } else { core.anomalies.count(.bdatSizeInvalid) }
        } else {
            push(.other, core: &core)
        }
    }

    mutating func serverLine(_ line: Span<UInt8>, core: inout SessionCore) {
        let end = line.withoutCR
        guard let reply = SMTPReplyLine(line, end: end) else { return }
        guard let command = queue.first else {
            if !greetingSeen && reply.isFinal { greetingSeen = true }
            return
        }
        if case .ehlo = command, reply.code == 250 {
            core.sawCapabilities()
            extension_(line, from: reply.textStart, end: end, core: &core)
        }
        guard reply.isFinal else { return }
        if reply.code == 334 {
            if case .auth = command { sasl?.awaitingResponse = true }
            return
        }
        _ = queue.popFirst()
        greetingSeen = true
        switch command {
        case .auth:
            if let p = sasl?.login {
                // A 334 challenge returned above: any other positive final reply ends the exchange.
                core.report(p, outcome: reply.isPositive ? .success : .failure)
            }
            sasl = nil
        case .starttls:
            if reply.code == 220 {
                if !queue.isEmpty { core.anomalies.count(.pipeliningAfterSTARTTLS) }
                reportPending(core: &core)
                core.startedTLS()
            } else {
                core.refusedTLS()
            }
        case .data:
            if reply.code != 354 && clientInBody {
                // DATA refused: the client will not send a body.
                clientInBody = false
                core.clientMode = .line
            }
        case .ehlo, .helo, .dataBody, .bdat, .other:
            break
        }
    }

    /// An EHLO keyword line: STARTTLS, AUTH mechanisms. The two-byte test is inlined into
    /// `serverLine` and the keyword handling kept out of line, so a keyword line passed over does
    /// not pay for the function's entry and exit, which are sized for the word scans.
    @inline(__always)
    private mutating func extension_(_ line: Span<UInt8>, from: Int, end: Int, core: inout SessionCore) {
        // Most keyword lines (the host name, PIPELINING, SIZE, SMTPUTF8, 8BITMIME, ...) start
        // with neither "ST" nor "AU": they are passed over on their first two bytes, without
        // scanning their first word or comparing it with keywords.
        guard from < end else { return }
        let first = line[from]
        if first != ASCII.space && first != ASCII.tab {
            guard from + 1 < end else { return }
            let pair = (first | 0x20, line[from + 1] | 0x20)
            guard pair == (UInt8(ascii: "s"), UInt8(ascii: "t")) || pair == (UInt8(ascii: "a"), UInt8(ascii: "u")) else {
                return
            }
        }
        keywordLine(line, from: from, end: end, core: &core)
    }

    /// `extension_` of a line that may name STARTTLS or AUTH.
    private mutating func keywordLine(_ line: Span<UInt8>, from: Int, end: Int, core: inout SessionCore) {
        let keyword = line.word(from: from, end: end)
        if line.equalsUpper(keyword, "STARTTLS") {
            core.sawStartTLSOffer()
        } else if keyword.count >= 4, line[keyword.start] | 0x20 == UInt8(ascii: "a"), line.hasPrefixUpper(keyword, "AUTH"),
                  keyword.count == 4 || line[keyword.start + 4] == ASCII.equals {
            // "AUTH PLAIN LOGIN" (RFC 4954), or the pre-standard "AUTH=PLAIN LOGIN" some servers
            // still send: the mechanisms follow the keyword.
            if keyword.count > 5 { core.sawMechanism(line, Token(start: keyword.start + 5, end: keyword.end)) }
            var at = keyword.end
            while at < end {
                let mech = line.word(from: at, end: end)
                if mech.isEmpty { break }
                core.sawMechanism(line, mech)
                at = mech.end
            }
        }
    }

    mutating func literal(_ bytes: Span<UInt8>, from side: Side, core: inout SessionCore) {}

    mutating func modeEnded(from side: Side, core: inout SessionCore) {
        guard side == .client, clientInBody else { return }
        clientInBody = false
        push(.dataBody, core: &core)
    }

    private mutating func reportPending(core: inout SessionCore) {
        // Usually nothing is pending (every session ends through here, twice): then there is
        // nothing to drain, and the exchange's login is not copied out.
        guard !queue.isEmpty || sasl != nil else { return }
        let saslLogin = sasl?.login
        queue.drain { command in
            if case .auth = command, let p = saslLogin { core.report(p, outcome: .unknown) }
        }
        sasl = nil
    }

    mutating func gap(from side: Side, core: inout SessionCore) {
        reportPending(core: &core)
    }

    mutating func finish(core: inout SessionCore) {
        reportPending(core: &core)
    }
}
