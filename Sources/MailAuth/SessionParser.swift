// The engine's view of a mail session: bytes in, findings out. Each protocol is a line-fed state
// machine (`LineMachine`) that can be tested by feeding it lines; `LineSession` owns the two
// framers and drives the machine with lines lent from the capture buffer.

public protocol SessionParser: AnyObject {
    var proto: MailProtocol { get }
    /// Bytes of one direction, in stream order. Lent for the call only.
    func receive(_ bytes: Span<UInt8>, from side: Side, time: Int64)
    /// `length` bytes of one direction were lost from the capture.
    func gap(_ length: UInt64, from side: Side, time: Int64)
    /// The flow is over: logins still waiting for a reply are reported with outcome `unknown`.
    func finish(time: Int64)
    /// Findings produced since the last call.
    func takeFindings() -> [Finding]
    /// TLS started (or the parser gave up): nothing more will be parsed for this flow.
    var isDone: Bool { get }
    /// Overlong lines and other named anomalies seen so far.
    var anomalies: Int { get }
    /// What the session showed about its server so far (banner, capabilities before TLS, STARTTLS);
    /// the engine reads it when the flow ends, for the inventory.
    var facts: ServerFacts { get }
}

protocol LineMachine {
    init(limits: SessionLimits)
    mutating func clientLine(_ line: Span<UInt8>, core: inout SessionCore)
    mutating func serverLine(_ line: Span<UInt8>, core: inout SessionCore)
    /// Raw bytes of a literal the machine asked for (IMAP `{n}`, SMTP BDAT).
    mutating func literal(_ bytes: Span<UInt8>, from side: Side, core: inout SessionCore)
    /// The literal or dot-terminated body the machine asked for has ended.
    mutating func modeEnded(from side: Side, core: inout SessionCore)
    /// Bytes were lost: pending command/reply matching can no longer be trusted.
    mutating func gap(from side: Side, core: inout SessionCore)
    /// End of the flow: report what is pending with outcome `unknown`.
    mutating func finish(core: inout SessionCore)
    /// Pipelined commands dropped because the pending queue was full (counted as anomalies).
    var queueOverflows: Int { get }
    /// Heap bytes held between deliveries: pending commands and the login names they carry.
    var heldBytes: Int { get }
    /// The parser memory budget is exhausted: report what is pending with outcome `unknown` and
    /// give the storage back. The session goes on.
    mutating func shed(core: inout SessionCore)
}

final class LineSession<Machine: LineMachine>: SessionParser {
    let proto: MailProtocol
    // Unchecked: dynamic exclusivity checks on these properties, one per line and property,
    // were a fifth of all instructions on mail-heavy traffic (callgrind). Safe because a session
    // is only driven by the engine, one call at a time, and never calls back out. (Moving them
    // into one generic struct instead cost a generic metadata lookup per delivery.)
    @exclusivity(unchecked) private var core: SessionCore
    @exclusivity(unchecked) private var machine: Machine
    @exclusivity(unchecked) private var clientFramer: LineFramer
    @exclusivity(unchecked) private var serverFramer: LineFramer
    private let memory: SessionMemory
    /// What this session is charged in `memory` now.
    private var charged = 0
    /// Times this session shed its holdings for the budget (counted as anomalies too).
    private var sheds = 0

    init(proto: MailProtocol, limits: SessionLimits, memory: SessionMemory) {
        self.proto = proto
        self.memory = memory
        core = SessionCore(proto: proto)
        machine = Machine(limits: limits)
        clientFramer = LineFramer(maxLine: limits.maxLine)
        serverFramer = LineFramer(maxLine: limits.maxLine)
    }

    deinit {
        _ = memory.recharge(from: charged, to: 0)
    }

    private var heldBytes: Int { clientFramer.heldBytes + serverFramer.heldBytes + machine.heldBytes }

    /// Charges what the session holds after a delivery; over the budget, a session that grew gives
    /// it up (SessionMemory).
    private func account() {
        let held = heldBytes
        guard held != charged else { return }
        let fits = memory.recharge(from: charged, to: held)
        charged = held
        guard !fits else { return }
        memory.countHit()
        sheds += 1
        machine.shed(core: &core)
        _ = clientFramer.shed()
        _ = serverFramer.shed()
        // Replies may now answer commands no longer known: later logins are flagged as such.
        core.sawGap = true
        let after = heldBytes
        _ = memory.recharge(from: charged, to: after)
        charged = after
    }

    var isDone: Bool { core.encrypted }
    var facts: ServerFacts { core.facts }
    var anomalies: Int {
        core.anomalies + clientFramer.overlongLines + serverFramer.overlongLines + machine.queueOverflows + sheds
    }

    func takeFindings() -> [Finding] {
        guard !core.findings.isEmpty else { return [] }
        defer { core.findings.removeAll() }
        return core.findings
    }

    func receive(_ bytes: Span<UInt8>, from side: Side, time: Int64) {
        guard !core.encrypted else { return }
        core.now = time
        var cursor = 0
        while cursor < bytes.count && !core.encrypted {
            let unit = side == .client ? clientFramer.next(bytes, &cursor) : serverFramer.next(bytes, &cursor)
            switch unit {
            case .line(let r):
                deliverLine(bytes.extracting(r), side)
            case .bufferedLine:
                // Move the assembled line out so the machine can mutate the session meanwhile.
                var line: [UInt8] = []
                if side == .client { swap(&line, &clientFramer.partial) } else { swap(&line, &serverFramer.partial) }
                deliverLine(line.span, side)
                line.wipe()
                if side == .client { swap(&line, &clientFramer.partial) } else { swap(&line, &serverFramer.partial) }
            case .literal(let r):
                machine.literal(bytes.extracting(r), from: side, core: &core)
                let framerMode = side == .client ? clientFramer.mode : serverFramer.mode
                if framerMode == .line { machine.modeEnded(from: side, core: &core) }
            case .modeEnded:
                machine.modeEnded(from: side, core: &core)
            case .needMore:
                break
            }
            applyModes()
        }
        if core.encrypted {
            // Nothing more is parsed: what the framers hold is of no use.
            clientFramer.clearPartial()
            serverFramer.clearPartial()
        }
        account()
    }

    private func deliverLine(_ line: Span<UInt8>, _ side: Side) {
        if side == .client {
            machine.clientLine(line, core: &core)
        } else {
            if !core.facts.firstServerLineSeen { core.facts.firstServerLine(line) }
            machine.serverLine(line, core: &core)
        }
    }

    private func applyModes() {
        if let m = core.clientMode { clientFramer.setMode(m); core.clientMode = nil }
        if let m = core.serverMode { serverFramer.setMode(m); core.serverMode = nil }
    }

    func gap(_ length: UInt64, from side: Side, time: Int64) {
        guard !core.encrypted else { return }
        core.now = time
        core.sawGap = true
        if side == .client { clientFramer.gap(length) } else { serverFramer.gap(length) }
        machine.gap(from: side, core: &core)
        applyModes()
        account()
    }

    func finish(time: Int64) {
        guard !core.encrypted else { return }
        core.now = time
        machine.finish(core: &core)
        // Nothing is pending any more; the storage goes back to the budget now, not when the
        // session object is freed.
        machine.shed(core: &core)
        clientFramer.clearPartial()
        serverFramer.clearPartial()
        account()
    }
}


