// ManageSieve (RFC 5804): managing Sieve filter scripts, with the mail account's password. The
// server answers each command in order with `OK`, `NO` or `BYE` (optionally a response code and
// a string), so commands queue like POP3's. Arguments and SASL responses are strings: quoted
// (`"..."`) or literals (`{n+}` CRLF and n bytes; `{n}` from the server); literals in both
// directions are skipped by the framer, so a script's text never reads as protocol.

struct ManageSieveMachine: LineMachine {
    enum Command { case authenticate, starttls, capability, other }

    /// What the client literal being read is.
    private enum ClientLiteral { case skipped, saslResponse }

    private var queue: PendingQueue<Command>
    var queueOverflows: Int { queue.overflows }
    private var sasl: SASLExchange?
    /// A SASL response sent as a literal, gathered until it ends: base64 of the secret, so
    /// bounded, charged to the budget, and wiped.
    private var saslLiteral: [UInt8] = []
    /// What `saslLiteral` is charged: the literal's declared length, not the allocator's capacity,
    /// so that the charge is the same from run to run.
    private var saslLiteralCharge = 0
    private var clientLiteral = ClientLiteral.skipped
    /// The line after a client literal continues the command the literal was part of.
    private var clientContinues = false
    /// The line after a server literal continues the response it was part of.
    private var serverContinues = false
    /// The greeting (a capability list ending in `OK`) is still coming; nil until the first
    /// server line tells whether the flow began with it.
    private var inGreeting: Bool?
    /// A capability line named a capability this parser knows: the response is a capability list.
    private var listNamedCapability = false

    /// Base64 of a SASL response longer than this is not one of a login (8 KiB decoded).
    static let maxSASLLiteral = (Base64.maxDecoded / 3 + 1) * 4

    init(limits: SessionLimits) {
        queue = PendingQueue(capacity: limits.maxPending)
    }

    var heldBytes: Int {
        mutating get { queue.heldBytes + saslLiteralCharge + (sasl?.heldBytes ?? 0) }
    }

    mutating func reset() {
        queue.reset()
        if sasl != nil { sasl = nil }
        dropSASLLiteral()
        clientLiteral = .skipped
        clientContinues = false
        serverContinues = false
        inGreeting = nil
        listNamedCapability = false
    }

    mutating func shed(core: inout SessionCore) {
        reportPending(core: &core)
        queue.releaseStorage()
        if clientLiteral == .saslResponse { clientLiteral = .skipped }
        dropSASLLiteral()
    }

    /// Wipes the gathered response and gives its storage back.
    private mutating func dropSASLLiteral() {
        saslLiteral.wipe()
        if saslLiteral.capacity != 0 { saslLiteral = [] }
        saslLiteralCharge = 0
    }

    private mutating func push(_ command: Command, core: inout SessionCore) {
        if case .authenticate? = queue.push(command) { sasl.abandon(core: &core) }
    }

    // MARK: client

    mutating func clientLine(_ line: Span<UInt8>, core: inout SessionCore) {
        let end = line.withoutCR
        if clientContinues {
            clientContinues = false
            expectClientLiteral(line, end: end, core: &core)
            return
        }
        let s = line.skipSpaces(from: 0, end: end)
        guard s < end else { return }
        if line[s] == ASCII.quote || line[s] == ASCII.openBrace {
            // A string where a command is due: a SASL response (RFC 5804 section 2.1). A client
            // may send it before the server's challenge, so any string while the exchange's
            // reply has not come answers it.
            if sasl != nil {
                saslResponse(line, from: s, end: end, core: &core)
            } else {
                expectClientLiteral(line, end: end, core: &core)
            }
            return
        }
        let command = line.word(from: s, end: end)
        if line.equalsUpper(command, "AUTHENTICATE") {
            authenticate(line, from: command.end, end: end, core: &core)
        } else if line.equalsUpper(command, "STARTTLS") {
            core.requestedTLS()
            push(.starttls, core: &core)
        } else if line.equalsUpper(command, "CAPABILITY") {
            push(.capability, core: &core)
        } else {
            push(.other, core: &core)
            expectClientLiteral(line, end: end, core: &core)
        }
    }

    /// `AUTHENTICATE mechanism [initial-response]`, each a string.
    private mutating func authenticate(_ line: Span<UInt8>, from: Int, end: Int, core: inout SessionCore) {
        let (mech, next) = IMAPSyntax.argument(line, from: from, end: end)
        let name: String
        switch mech.kind {
        case .quoted, .atom: name = line.mechanismName(mech.token)
        case .literal, .missing: name = ""
        }
        // A new exchange replaces one whose reply never came.
        sasl.abandon(core: &core)
        sasl = SASLExchange.start("AUTHENTICATE", mechanismName: name, core: &core)
        push(.authenticate, core: &core)
        if case .literal = mech.kind { return }
        let s = line.skipSpaces(from: next, end: end)
        if s < end { saslResponse(line, from: s, end: end, core: &core) }
    }

    /// One SASL response at `line[from...]`: a quoted string, or a literal whose bytes follow.
    private mutating func saslResponse(_ line: Span<UInt8>, from: Int, end: Int, core: inout SessionCore) {
        guard let exchange = sasl else { return }
        exchange.awaitingResponse = false
        let (arg, _) = IMAPSyntax.argument(line, from: from, end: end)
        switch arg.kind {
        case .quoted:
            // `"*"` cancels the exchange (RFC 5804 section 2.1); it carries no credential.
            if arg.token.count == 1 && line[arg.token.start] == ASCII.star { return }
            exchange.respond(line, arg.token, core: &core)
        case .literal(let n):
            guard n <= Self.maxSASLLiteral else {
                core.anomalies.count(.malformedSASL)
                clientLiteral = .skipped
                setClientLiteral(n, core: &core)
                return
            }
            clientLiteral = .saslResponse
            saslLiteral.reserveCapacity(n)
            saslLiteralCharge = n
            setClientLiteral(n, core: &core)
        case .atom, .missing:
            exchange.respond(line, arg.token, core: &core)
        }
    }

    /// A literal at the end of the line is skipped; the line after it continues the command.
    private mutating func expectClientLiteral(_ line: Span<UInt8>, end: Int, core: inout SessionCore) {
        guard let n = IMAPSyntax.trailingLiteral(line, end: end) else { return }
        clientLiteral = .skipped
        setClientLiteral(n, core: &core)
    }

    private mutating func setClientLiteral(_ n: Int, core: inout SessionCore) {
        core.clientMode = .literal(n)
        if n == 0 { modeEnded(from: .client, core: &core) }
    }

    mutating func literal(_ bytes: Span<UInt8>, from side: Side, core: inout SessionCore) {
        guard side == .client, clientLiteral == .saslResponse else { return }
        // Never grows past what was reserved for the literal's declared length, so no copy of
        // the response is left behind in a freed buffer.
        let room = min(saslLiteral.capacity, saslLiteralCharge) - saslLiteral.count
        for i in 0..<min(bytes.count, max(room, 0)) { saslLiteral.append(bytes[i]) }
    }

    mutating func modeEnded(from side: Side, core: inout SessionCore) {
        if side == .server {
            serverContinues = true
            return
        }
        if clientLiteral == .saslResponse {
            clientLiteral = .skipped
            if let exchange = sasl {
                exchange.respond(saslLiteral.span, Token(start: 0, end: saslLiteral.count), core: &core)
            }
            dropSASLLiteral()
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
        let s = line.skipSpaces(from: 0, end: end)
        guard s < end else { return }
        let firstLine = inGreeting == nil
        if firstLine { inGreeting = line[s] == ASCII.quote || line[s] == ASCII.openBrace }
        if line[s] == ASCII.quote || line[s] == ASCII.openBrace {
            stringLine(line, from: s, end: end, core: &core)
        } else {
            let word = line.word(from: s, end: end)
            let ok = line.equalsUpper(word, "OK")
            let bye = line.equalsUpper(word, "BYE")
            if ok || bye || line.equalsUpper(word, "NO") {
                completed(ok: ok, bye: bye, firstLine: firstLine, core: &core)
            }
        }
        if !core.encrypted, let n = IMAPSyntax.trailingLiteral(line, end: end) { core.serverMode = .literal(n) }
    }

    /// A line that starts with a string: a capability (in the greeting or a CAPABILITY reply), a
    /// SASL challenge, or data (a script's name in LISTSCRIPTS).
    private mutating func stringLine(_ line: Span<UInt8>, from s: Int, end: Int, core: inout SessionCore) {
        if inGreeting == true || answeringCapability {
            capability(line, from: s, end: end, core: &core)
        } else if case .authenticate? = queue.first, let exchange = sasl {
            exchange.awaitingResponse = true
        }
    }

    /// The oldest command waiting for its reply is CAPABILITY.
    private var answeringCapability: Bool {
        if case .capability? = queue.first { return true }
        return false
    }

    /// `"NAME"` [SP `"value"`]: STARTTLS, and the SASL mechanisms.
    private mutating func capability(_ line: Span<UInt8>, from s: Int, end: Int, core: inout SessionCore) {
        let (name, next) = IMAPSyntax.argument(line, from: s, end: end)
        guard case .quoted = name.kind else { return }
        if line.equalsUpper(name.token, "STARTTLS") {
            listNamedCapability = true
            core.sawStartTLSOffer()
        } else if line.equalsUpper(name.token, "SASL") {
            listNamedCapability = true
            let (value, _) = IMAPSyntax.argument(line, from: next, end: end)
            guard case .quoted = value.kind else { return }
            var at = value.token.start
            while at < value.token.end {
                let mech = line.word(from: at, end: value.token.end)
                if mech.isEmpty { break }
                core.sawMechanism(line, mech)
                at = mech.end
            }
        } else if line.equalsUpper(name.token, "IMPLEMENTATION") || line.equalsUpper(name.token, "SIEVE")
                    || line.equalsUpper(name.token, "VERSION") {
            listNamedCapability = true
        }
    }

    private mutating func completed(ok: Bool, bye: Bool, firstLine: Bool, core: inout SessionCore) {
        if inGreeting == true {
            inGreeting = false
            endCapabilityList(core: &core)
            return
        }
        guard let command = queue.popFirst() else {
            // A bare `OK` greeting lists no capabilities, and a server may say BYE at any time
            // (RFC 5804 section 1.3); any other reply answers nothing.
            if !(firstLine || bye) { core.anomalies.count(.replyWithoutCommand) }
            return
        }
        switch command {
        case .authenticate:
            if let p = sasl?.login { core.report(p, outcome: ok ? .success : .failure) }
            sasl = nil
        case .starttls:
            if ok {
                if !queue.isEmpty { core.anomalies.count(.pipeliningAfterSTARTTLS) }
                reportPending(core: &core)
                core.startedTLS()
            } else {
                core.refusedTLS()
            }
        case .capability:
            if ok { endCapabilityList(core: &core) }
        case .other:
            break
        }
    }

    /// The capability list ended: it counts as one if it named a capability this parser knows.
    private mutating func endCapabilityList(core: inout SessionCore) {
        if listNamedCapability { core.sawCapabilities() }
        listNamedCapability = false
    }

    private mutating func reportPending(core: inout SessionCore) {
        guard !queue.isEmpty || sasl != nil else { return }
        let saslLogin = sasl?.login
        queue.drain { command in
            if case .authenticate = command, let p = saslLogin { core.report(p, outcome: .unknown) }
        }
        sasl = nil
    }

    mutating func gap(from side: Side, core: inout SessionCore) {
        // Replies match commands by order only: after a loss neither side can be trusted.
        reportPending(core: &core)
        if side == .client {
            clientContinues = false
            if clientLiteral == .saslResponse {
                clientLiteral = .skipped
                dropSASLLiteral()
            }
        } else {
            serverContinues = false
            if inGreeting == true { inGreeting = false; listNamedCapability = false }
        }
    }

    mutating func finish(core: inout SessionCore) {
        reportPending(core: &core)
    }
}
