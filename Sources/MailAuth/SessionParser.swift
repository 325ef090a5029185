// The engine's view of a mail session: bytes in, findings out. Each protocol is a line-fed state
// machine (`LineMachine`) that can be tested by feeding it lines; `LineSessionState` owns the two
// framers and drives the machine with lines lent from the capture buffer.

public protocol SessionParser: AnyObject {
    var proto: MailProtocol { get }
    /// Bytes of one direction, in stream order. Lent for the call only. Returns
    /// `hasFindings || isDone`, so after most deliveries the engine makes no further call through
    /// the protocol.
    ///
    /// `packet` names the packet whose processing delivered the bytes (the engine's reference,
    /// see `Finding.packet`); a login they complete carries it. 0: none.
    @discardableResult
    func receive(_ bytes: Span<UInt8>, from side: Side, time: Int64, packet: UInt64) -> Bool
    /// `receive` of server bytes that `ProtocolRegistry.classify` has found to begin with a
    /// greeting of this parser's protocol:
    /// if that line is the session's first server line, it is kept as the greeting without being
    /// classified again: the engine has classified every flow by its greeting already.
    @discardableResult
    func receive(greeting bytes: Span<UInt8>, time: Int64, packet: UInt64) -> Bool
    /// `length` bytes of one direction were lost from the capture.
    func gap(_ length: UInt64, from side: Side, time: Int64)
    /// The flow is over: logins still waiting for a reply are reported with outcome `unknown`.
    func finish(time: Int64)
    /// Findings produced since the last call.
    func takeFindings() -> [Finding]
    /// `takeFindings` would return some. Asked after every delivery, so that an empty list is not
    /// taken through the protocol.
    var hasFindings: Bool { get }
    /// Makes the parser as `makeParser` gave it, for a new flow of the same protocol: nothing of
    /// the old flow stays (pending logins, names, findings, capabilities, TLS state, anomalies),
    /// and what it held is wiped and given back to its budget. Pending logins are dropped, not
    /// reported: call `finish` first.
    func reset()
    /// TLS started (or the parser gave up): nothing more will be parsed for this flow.
    var isDone: Bool { get }
    /// Overlong lines and the other named anomalies seen so far, in all (`anomalyCounts.total`).
    var anomalies: Int { get }
    /// The named anomalies seen so far, by kind.
    var anomalyCounts: AnomalyCounts { get }
    /// What the session showed about its server so far (banner, capabilities before TLS, STARTTLS);
    /// the engine reads it when the flow ends, for the inventory.
    var facts: ServerFacts { get }
    /// The end of a flow in one call: `finish`, then `body` with the findings not taken yet and
    /// the facts (lent, so the 300-byte value is not copied and released on its way to the
    /// inventory at every session's end; `body` must not call back into the parser), then
    /// `reset`. `anomalies` gains `anomalyCounts` as they were before the reset (added in place,
    /// since most sessions have none and a returned set of counts would be copied out of every
    /// one). One call rather than seven, each through the protocol's witness table, since every
    /// session ends.
    func close(time: Int64, anomalies: inout AnomalyTotals,
               _ body: (_ findings: [Finding], _ facts: borrowing ServerFacts) -> Void)
}

extension SessionParser {
    /// `receive` without a packet reference (tests, fuzzing).
    @discardableResult
    public func receive(_ bytes: Span<UInt8>, from side: Side, time: Int64) -> Bool {
        receive(bytes, from: side, time: time, packet: 0)
    }

    @discardableResult
    public func receive(greeting bytes: Span<UInt8>, time: Int64) -> Bool {
        receive(greeting: bytes, time: time, packet: 0)
    }
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
    /// A mutating getter: read through a plain one, the IMAP machine would be copied out whole
    /// after every delivery.
    var heldBytes: Int { mutating get }
    /// The parser memory budget is exhausted: report what is pending with outcome `unknown` and
    /// give the storage back. The session goes on.
    mutating func shed(core: inout SessionCore)
    /// Back to `init(limits:)` with the same limits, in place: most fields are already as new, and
    /// assigning a new machine would destroy the old one through its outlined value witness.
    mutating func reset()
}

/// A session's state and the code that drives its machine, generic over the machine. It is held
/// by one concrete class per protocol (below) rather than by a generic class: the methods of a
/// generic class run unspecialized (class methods and witness tables are not specialized per
/// machine), so every machine call would go through a witness table and every read of a machine
/// property would copy the machine, retaining its arrays.
struct LineSessionState<Machine: LineMachine> {
    var core: SessionCore
    var machine: Machine
    var clientFramer: LineFramer
    var serverFramer: LineFramer
    /// What this session is charged in its `SessionMemory` now.
    private(set) var charged = 0
    /// Times this session shed its holdings for the budget (counted as anomalies too).
    private var sheds = 0
    private let limits: SessionLimits

    init(proto: MailProtocol, limits: SessionLimits) {
        self.limits = limits
        core = SessionCore(proto: proto)
        machine = Machine(limits: limits)
        clientFramer = LineFramer(maxLine: limits.maxLine)
        serverFramer = LineFramer(maxLine: limits.maxLine)
    }

    private var heldBytes: Int {
        @inline(__always) mutating get { clientFramer.heldBytes + serverFramer.heldBytes + machine.heldBytes }
    }

    /// Charges what the session holds after a delivery; over the budget, a session that grew gives
    /// it up (SessionMemory). Inlined, since it runs after every delivery: up to the usual
    /// outcome, nothing changed since the last delivery, and through the charge that fits, as a
    /// short session's commands change what it holds (a queued command) twice each.
    @inline(__always)
    private mutating func account(_ memory: SessionMemory) {
        let held = heldBytes
        guard held != charged else { return }
        let fits = memory.recharge(from: charged, to: held)
        charged = held
        if !fits { shedForBudget(memory) }
    }

    /// The budget is exceeded and this session grew: it gives up what it holds.
    private mutating func shedForBudget(_ memory: SessionMemory) {
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

    /// Some anomaly was counted: the machine's, the framers', the queue's or the budget's.
    private var hasAnomalies: Bool {
        !core.anomalies.isEmpty || clientFramer.overlongLines != 0 || serverFramer.overlongLines != 0
            || machine.queueOverflows != 0 || sheds != 0
    }

    /// Every anomaly so far by kind: the machine's, plus what the framers, the pending queue and
    /// the budget counted.
    var anomalyCounts: AnomalyCounts {
        guard hasAnomalies else { return AnomalyCounts() }
        var counts = core.anomalies
        counts.count(.lineTooLong, clientFramer.overlongLines + serverFramer.overlongLines)
        counts.count(.pendingQueueOverflow, machine.queueOverflows)
        counts.count(.shedForMemoryBudget, sheds)
        return counts
    }

    /// See `SessionParser.reset`. Part by part, in place: a new object would destroy the state
    /// through the generic value witness of `LineSessionState`, and assigning new values to the
    /// core and framers would build each, copy it in and destroy the old one.
    mutating func reset(memory: SessionMemory) {
        // A partial line may be half a `PASS` command: wiped, not just dropped.
        clientFramer.reset()
        serverFramer.reset()
        core.reset()
        machine.reset()
        if charged != 0 { _ = memory.recharge(from: charged, to: 0) }
        charged = 0
        sheds = 0
    }

    /// See `SessionParser.close`.
    mutating func close(time: Int64, memory: SessionMemory,
                        anomalies: inout AnomalyTotals,
                        _ body: (_ findings: [Finding], _ facts: borrowing ServerFacts) -> Void) {
        finish(time: time, memory: memory)
        let findings = takeFindings()
        body(findings, core.facts)
        if hasAnomalies { anomalies.add(anomalyCounts, for: core.proto) }
        reset(memory: memory)
    }

    mutating func takeFindings() -> [Finding] {
        guard !core.findings.isEmpty else { return [] }
        defer { core.findings.removeAll() }
        return core.findings
    }

    /// `greeting`: see `SessionParser.receive(greeting:time:)`.
    mutating func receive(_ bytes: Span<UInt8>, from side: Side, time: Int64, packet: UInt64, memory: SessionMemory,
                          greeting: Bool = false) {
        guard !core.encrypted else { return }
        core.now = time
        core.packet = packet
        var cursor = 0
        while cursor < bytes.count && !core.encrypted {
            let unit = side == .client ? clientFramer.next(bytes, &cursor) : serverFramer.next(bytes, &cursor)
            switch unit {
            case .line(let r):
                // Only a line at offset 0 is the line before the bytes' first LF that was
                // classified (a line the framer assembled or skipped as overlong is another).
                deliverLine(bytes.extracting(r), side, classifiedGreeting: greeting && r.lowerBound == 0)
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
        account(memory)
    }

    private mutating func deliverLine(_ line: Span<UInt8>, _ side: Side, classifiedGreeting: Bool = false) {
        if side == .client {
            machine.clientLine(line, core: &core)
        } else {
            if !core.facts.firstServerLineSeen { core.facts.firstServerLine(line, isGreeting: classifiedGreeting) }
            machine.serverLine(line, core: &core)
        }
    }

    private mutating func applyModes() {
        if let m = core.clientMode { clientFramer.setMode(m); core.clientMode = nil }
        if let m = core.serverMode { serverFramer.setMode(m); core.serverMode = nil }
    }

    mutating func gap(_ length: UInt64, from side: Side, time: Int64, memory: SessionMemory) {
        guard !core.encrypted else { return }
        core.now = time
        core.sawGap = true
        if side == .client { clientFramer.gap(length) } else { serverFramer.gap(length) }
        machine.gap(from: side, core: &core)
        applyModes()
        account(memory)
    }

    mutating func finish(time: Int64, memory: SessionMemory) {
        guard !core.encrypted else { return }
        core.now = time
        machine.finish(core: &core)
        // Nothing is pending any more; the storage goes back to the budget now, not when the
        // session object is freed.
        machine.shed(core: &core)
        clientFramer.clearPartial()
        serverFramer.clearPartial()
        account(memory)
    }
}

/// The `SessionParser` of one protocol: a class holding a `LineSessionState` and the budget it is
/// charged to. The requirements are implemented once, here, for every such class.
protocol LineSession: SessionParser {
    associatedtype Machine: LineMachine
    var state: LineSessionState<Machine> { get set }
    var memory: SessionMemory { get }
}

extension LineSession {
    var proto: MailProtocol { state.core.proto }
    var isDone: Bool { state.core.encrypted }
    var facts: ServerFacts { state.core.facts }
    var anomalies: Int { state.anomalyCounts.total }
    var anomalyCounts: AnomalyCounts { state.anomalyCounts }

    func takeFindings() -> [Finding] { state.takeFindings() }
    var hasFindings: Bool { !state.core.findings.isEmpty }
    func reset() { state.reset(memory: memory) }

    func receive(_ bytes: Span<UInt8>, from side: Side, time: Int64, packet: UInt64) -> Bool {
        state.receive(bytes, from: side, time: time, packet: packet, memory: memory)
        return hasFindings || isDone
    }

    func receive(greeting bytes: Span<UInt8>, time: Int64, packet: UInt64) -> Bool {
        state.receive(bytes, from: .server, time: time, packet: packet, memory: memory, greeting: true)
        return hasFindings || isDone
    }

    func gap(_ length: UInt64, from side: Side, time: Int64) {
        state.gap(length, from: side, time: time, memory: memory)
    }

    func finish(time: Int64) { state.finish(time: time, memory: memory) }

    func close(time: Int64, anomalies: inout AnomalyTotals,
               _ body: (_ findings: [Finding], _ facts: borrowing ServerFacts) -> Void) {
        state.close(time: time, memory: memory, anomalies: &anomalies, body)
    }
}
