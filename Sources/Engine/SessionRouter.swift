#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CPrefetch
import MailAuth
import Reassembly
import Wire

/// Receives reassembled streams from the flow table, decides which protocol each flow speaks,
/// feeds its parser and reports its findings, placed in their flows.
struct SessionRouter: StreamHandler {
    let mailPorts: PortSet
    /// What the decoder selects segments by: the mail ports plus the implicit-TLS ports, or nil
    /// (every port) with --any-port.
    let selectedPorts: PortSet?
    var observer: (any SessionObserver)?
    let maxAlertsPerFlow: Int
    let sessionLimits: SessionLimits
    /// Shared by every parser of this engine, and charged for held greetings too.
    let memory: SessionMemory
    let onFinding: (consuming FlowFinding) -> Void
    let flowIDs: FlowIDs
    var sessions: [FlowSession]
    var stats = EngineStats()
    /// Sessions by `MailProtocol.index`, merged into `stats.sessions` when the statistics are
    /// read rather than a dictionary update per session.
    var sessionCounts = [UInt64](repeating: 0, count: MailProtocol.count)
    /// Slots whose parser is done; the engine tells the flow table after the packet.
    var stops: [Int] = []
    /// Slots whose login succeeded: nothing later can change a finding, so the flow table stops
    /// holding their data for ACKs (`FlowTable.settle`); the engine tells it after the packet.
    var settles: [Int] = []
    /// `StreamPolicy.ack`: only then does the flow table hold data that a settle releases.
    let holdsForAck: Bool
    /// The encapsulations flows arrived in, by the id their packets and flows carry.
    var tunnels = TunnelRegistry()
    var lastTime = Timestamp.zero
    /// The packet being handled, as a `PacketReference` (0 while none is: timeouts, the end);
    /// set by the engine before each segment, one store a packet.
    var packet: UInt64 = 0

    /// Buffered bytes name the packet that carried them (`pcap_cnt`), not the one whose ACK or
    /// hole-filling released them.
    mutating func bufferedBytes(fromPacket number: UInt64) { packet = number }
    /// The current capture file's part of a `PacketReference`.
    private(set) var fileBits: UInt64 = 0
    /// The names of the capture files read so far, in order (`beginCaptureFile`).
    private var captureFiles: [String?] = []
    /// Set while a held greeting is delivered, so it is classified rather than held again.
    private var classifyAsIs = false
    /// Parsers of closed flows, reset, for the next flows of their protocol (by `MailProtocol.index`),
    /// since building a parser per flow and destroying it at close costs more than resetting one.
    /// A few per protocol cover the flows open at once in a scan of short connections; beyond,
    /// parsers are freed.
    /// Flat, `maxSpareParsers` slots a protocol, so a take or a keep mutates one array rather than
    /// an array inside an array.
    private var spareParsers = [SessionParser?](repeating: nil, count: MailProtocol.count * SessionRouter.maxSpareParsers)
    /// Spare parsers held, by protocol index.
    /// A vector, not an array: no uniqueness check at each change (the registry holds at most
    /// eight protocols, see `ServerKey.packed`).
    private var spareCounts = SIMD8<UInt8>()
    static let maxSpareParsers = 64

    init(configuration: EngineConfiguration, slots: Int, onFinding: @escaping (consuming FlowFinding) -> Void) {
        mailPorts = PortSet(configuration.mailPorts)
        selectedPorts = configuration.anyPort
            ? nil : PortSet(configuration.mailPorts.union(EngineConfiguration.implicitTLSPorts))
        maxAlertsPerFlow = configuration.maxAlertsPerFlow
        holdsForAck = configuration.reassembly.streamPolicy == .ack
        sessionLimits = configuration.sessionLimits
        memory = SessionMemory(limitBytes: configuration.parserMemoryBytes)
        self.onFinding = onFinding
        flowIDs = FlowIDs(unique: configuration.uniqueFlowIDs)
        // Grown as the flow table hands out new slots (in order, from 0): reserved, not filled.
        sessions = []
        sessions.reserveCapacity(slots)
        let reservedBytes = sessions.capacity * MemoryLayout<FlowSession>.stride
        unsafe sessions.withUnsafeMutableBufferPointer { reserved in
            if let base = reserved.baseAddress { unsafe HugePages.advise(UnsafeMutableRawPointer(base), bytes: reservedBytes) }
        }
    }

    mutating func beginCaptureFile(name: String?) {
        captureFiles.append(name)
        fileBits = captureFiles.count <= PacketReference.maxFiles ? UInt64(captureFiles.count) << PacketReference.numberBits : 0
    }

    /// Starts loading the state of `slot`'s session (a hint, see `FlowTable.prefetchFlow`).
    @inline(__always) func prefetchSession(slot: Int) {
        unsafe sessions.withUnsafeBufferPointer { s in
            guard slot >= 0 && slot < s.count, let base = s.baseAddress else { return }
            unsafe plainsight_prefetch(base + slot)
        }
    }

    mutating func flowStarted(slot: Int, info: FlowInfo) {
        while sessions.count <= slot { sessions.append(FlowSession()) }
        // flowClosed leaves the slots it closes fresh, so a new flow's slot normally is: checked
        // with reads alone, rather than storing a fresh session anyway (a uniqueness check and
        // the old one's fields released, every flow).
        if sessions[slot].isFresh { return }
        if !sessions[slot].heldGreeting.isEmpty { _ = releaseGreeting(slot: slot) }
        sessions[slot] = FlowSession()
    }

    mutating func streamData(slot: Int, info: FlowInfo, direction: Direction, bytes: Span<UInt8>, time: Timestamp) {
        lastTime = time
        let side: Side = direction == .clientToServer ? .client : .server
        // Most deliveries go to a parser already chosen: that path stays small and the choice is
        // made out of line, so that every delivery does not pay an entry and exit sized for it.
        if sessions[slot].state == .parsing {
            guard let parser = sessions[slot].parser else { return }
            if parser.receive(bytes, from: side, time: time.nanoseconds, packet: packet) {
                afterDelivery(slot: slot, info: info, parser: parser)
            }
            return
        }
        firstData(slot: slot, info: info, side: side, bytes: bytes, time: time)
    }

    /// `streamData` of a flow whose parser is not chosen yet (or that is ignored).
    @inline(never)
    private mutating func firstData(slot: Int, info: FlowInfo, side: Side, bytes: Span<UInt8>, time: Timestamp) {
        switch sessions[slot].state {
        case .ignored:
            return
        case .undetermined:
            if side == .server && !classifyAsIs && !sessions[slot].heldGreeting.isEmpty {
                holdGreeting(slot: slot, info: info, bytes: bytes, time: time)
                return
            }
            let proto: MailProtocol
            var byGreeting = false
            switch Self.classify(info: info, side: side, bytes: bytes, mailPorts: mailPorts, final: classifyAsIs) {
            case .needMore:
                holdGreeting(slot: slot, info: info, bytes: bytes, time: time)
                return
            case .greeting(let p):
                proto = p
                byGreeting = true
            case .mail(let p):
                proto = p
            case .implicitTLS(let p):
                // Counted as ignored like any flow without a parser (the stats schema is unchanged);
                // the observer hears about it when the flow ends.
                sessions[slot].implicitTLS = p
                fallthrough
            case .notMail:
                sessions[slot].state = .ignored
                stats.flowsIgnored += 1
                stops.append(slot)
                return
            }
            sessions[slot].state = .parsing
            // Kept in a local for the first delivery and then moved into the slot: read back from
            // the slot for the call, it would be copied (a retain and a release). Nothing on the
            // way reads the slot's parser.
            let parser = takeParser(for: proto)
            sessionCounts[proto.index] &+= 1
            if !sessions[slot].heldGreeting.isEmpty {
                // The client spoke while a partial greeting was held: the greeting came first.
                let held = releaseGreeting(slot: slot)
                parser.receive(held.span, from: .server, time: time.nanoseconds, packet: packet)
            }
            let more = byGreeting
                ? parser.receive(greeting: bytes, time: time.nanoseconds, packet: packet)
                : parser.receive(bytes, from: side, time: time.nanoseconds, packet: packet)
            if more { afterDelivery(slot: slot, info: info, parser: parser) }
            sessions[slot].parser = consume parser
            return
        case .parsing:
            break
        }
        guard let parser = sessions[slot].parser else { return }
        if parser.receive(bytes, from: side, time: time.nanoseconds, packet: packet) {
            afterDelivery(slot: slot, info: info, parser: parser)
        }
    }

    private mutating func afterDelivery(slot: Int, info: FlowInfo, parser: SessionParser) {
        if parser.hasFindings { collect(slot: slot, info: info, parser: parser) }
        if parser.isDone {
            stats.sessionsEncrypted += 1
            sessions[slot].state = .ignored
            stops.append(slot)
        }
    }

    /// The greeting is the evidence for the protocol, so a first server chunk that the registry
    /// cannot classify yet (a greeting split across segments: `* `, `+O`, `22`; a multi-line
    /// greeting not yet whole) is held, up to `maxHeldGreeting` bytes, until it can.
    static let maxHeldGreeting = ProtocolRegistry.maxGreetingProbe

    private mutating func holdGreeting(slot: Int, info: FlowInfo, bytes: Span<UInt8>, time: Timestamp) {
        var held = releaseGreeting(slot: slot)
        // What is held never reaches the bound and never holds an LF, so there is room.
        let take = min(bytes.count, Self.maxHeldGreeting - held.count)
        if held.isEmpty { held.reserveCapacity(Self.maxHeldGreeting) }
        for i in 0..<take { held.append(bytes[i]) }
        if held.isEmpty { return }
        if held.count < Self.maxHeldGreeting, case .needMore = ProtocolRegistry.classify(held.span) {
            // Held across packets, so charged to the parser memory budget; at the cap the partial
            // greeting is classified as it is (a mail port still decides).
            if memory.recharge(from: 0, to: Self.maxHeldGreeting) {
                swap(&held, &sessions[slot].heldGreeting)
                return
            }
            memory.countHit()
            _ = memory.recharge(from: Self.maxHeldGreeting, to: 0)
        }
        // The greeting line is complete (or the bound is reached, or the budget): classify and
        // parse it as one delivery, then whatever of this chunk did not fit in the hold.
        classifyAsIs = true
        streamData(slot: slot, info: info, direction: .serverToClient, bytes: held.span, time: time)
        classifyAsIs = false
        if take < bytes.count {
            streamData(slot: slot, info: info, direction: .serverToClient,
                       bytes: bytes.extracting(take..<bytes.count), time: time)
        }
    }

    /// Takes the held greeting out of the slot and off the budget.
    private mutating func releaseGreeting(slot: Int) -> [UInt8] {
        var held: [UInt8] = []
        swap(&held, &sessions[slot].heldGreeting)
        // What was reserved (`maxHeldGreeting`) is what was charged, whatever the allocator gave.
        if !held.isEmpty { _ = memory.recharge(from: Self.maxHeldGreeting, to: 0) }
        return held
    }

    /// `greeting`: the server's first bytes are that protocol's greeting (the parser is told, see
    /// `SessionParser.receive(greeting:time:)`); `mail`: decided by the port; `needMore`: server
    /// bytes that may be the start of a greeting.
    enum Route { case greeting(MailProtocol), mail(MailProtocol), implicitTLS(MailProtocol), notMail, needMore }

    /// The greeting decides; without one (picked up mid-stream, greeting lost, or the client
    /// spoke first) only a well-known mail port does. Client-first traffic on any other port
    /// (Redis `AUTH`, a TLS ClientHello) never gets a parser. A client that opens with a TLS
    /// handshake on an implicit-TLS port is recorded as such (`ImplicitTLS`), and never parsed.
    ///
    /// Static, given the mail ports, so that the router is not handed to it by copy.
    private static func classify(info: FlowInfo, side: Side, bytes: Span<UInt8>, mailPorts: PortSet,
                                 final: Bool) -> Route {
        if side == .server {
            switch ProtocolRegistry.classify(bytes, final: final) {
            case .greeting(let proto): return .greeting(proto)
            case .needMore: return .needMore
            case .notGreeting: break
            }
        } else if let proto = ImplicitTLS.protocolOf(clientBytes: bytes, serverPort: info.serverPort) {
            return .implicitTLS(proto)
        }
        guard mailPorts.contains(info.serverPort), let proto = ProtocolRegistry.protocolForPort(info.serverPort) else {
            return .notMail
        }
        return .mail(proto)
    }

    mutating func streamGap(slot: Int, info: FlowInfo, direction: Direction, length: UInt64, time: Timestamp) {
        lastTime = time
        guard sessions[slot].state == .parsing, let parser = sessions[slot].parser else { return }
        parser.gap(length, from: direction == .clientToServer ? .client : .server, time: time.nanoseconds)
        if parser.hasFindings { collect(slot: slot, info: info, parser: parser) }
    }

    mutating func streamEnded(slot: Int, info: FlowInfo, direction: Direction, time: Timestamp) {
        lastTime = time
    }

    mutating func flowClosed(slot: Int, info: FlowInfo, reason: CloseReason, time: Timestamp) {
        // Taken out of the slot, not copied: a retain and a release a session (the slot is reset
        // below in any case).
        if let parser = sessions[slot].parser.take() {
            var proto = MailProtocol.pop3
            // Moved out for the call: the closure may change the rest of the statistics.
            var anomalies = AnomalyTotals()
            swap(&anomalies, &stats.parserAnomalyKinds)
            parser.close(time: time.nanoseconds, anomalies: &anomalies) { findings, facts in
                proto = facts.proto
                if !findings.isEmpty { collect(findings, slot: slot, info: info) }
                observer?.sessionEnded(flow: info, proto: facts.proto, facts: facts, closedAt: time)
            }
            swap(&anomalies, &stats.parserAnomalyKinds)
            keepSpare(parser, proto: proto)
        } else if let proto = sessions[slot].implicitTLS {
            observer?.sessionEnded(EndedSession(flow: info, proto: proto, kind: .implicitTLS, closedAt: time))
        }
        if !sessions[slot].heldGreeting.isEmpty { _ = releaseGreeting(slot: slot) }
        sessions[slot].reset()
    }

    /// A spare parser of `proto`, or a new one.
    private mutating func takeParser(for proto: MailProtocol) -> SessionParser {
        let i = proto.index
        let n = Int(spareCounts[i])
        if n > 0, let spare = spareParsers[i * Self.maxSpareParsers + n - 1].take() {
            spareCounts[i] = UInt8(n - 1)
            return spare
        }
        return ProtocolRegistry.makeParser(for: proto, limits: sessionLimits, memory: memory)
    }

    /// Keeps the parser of a closed flow (reset by `close`) for a later flow if there is room.
    private mutating func keepSpare(_ parser: consuming SessionParser, proto: MailProtocol) {
        let i = proto.index
        let n = Int(spareCounts[i])
        guard n < Self.maxSpareParsers else { return }
        spareParsers[i * Self.maxSpareParsers + n] = parser
        spareCounts[i] = UInt8(n + 1)
    }

    private mutating func collect(slot: Int, info: FlowInfo, parser: SessionParser) {
        collect(parser.takeFindings(), slot: slot, info: info)
    }

    private mutating func collect(_ findings: [Finding], slot: Int, info: FlowInfo) {
        for finding in findings {
            if holdsForAck && finding.outcome == .success { settles.append(slot) }
            observer?.login(finding, flow: info)
            guard sessions[slot].alerts < maxAlertsPerFlow else {
                stats.alertsSuppressed += 1
                continue
            }
            sessions[slot].alerts += 1
            stats.alerts += 1
            let number = PacketReference.number(finding.packet)
            let file = PacketReference.file(finding.packet)
            let captureFile = number != 0 && file > 0 && file <= captureFiles.count ? captureFiles[file - 1] : nil
            onFinding(FlowFinding(finding: finding, flow: info, flowID: flowIDs.id(of: info),
                                  tunnel: tunnels.path(info.tunnel), captureFile: captureFile,
                                  recordNumber: number != 0 ? number : nil))
        }
    }
}
