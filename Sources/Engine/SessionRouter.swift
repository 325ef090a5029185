import Alerts
import MailAuth
import Reassembly
import Wire

/// Receives reassembled streams from the flow table, decides which protocol each flow speaks,
/// feeds its parser and turns findings into alerts.
struct SessionRouter: StreamHandler {
    let anyPort: Bool
    let mailPorts: PortSet
    let maxAlertsPerFlow: Int
    let onAlert: (Alert) -> Void
    var sessions: [FlowSession]
    var stats = EngineStats()
    /// Slots whose parser is done; the engine tells the flow table after the packet.
    var stops: [Int] = []
    var lastTime = Timestamp.zero

    init(configuration: EngineConfiguration, slots: Int, onAlert: @escaping (Alert) -> Void) {
        anyPort = configuration.anyPort
        mailPorts = PortSet(configuration.mailPorts)
        maxAlertsPerFlow = configuration.maxAlertsPerFlow
        self.onAlert = onAlert
        sessions = [FlowSession](repeating: FlowSession(), count: slots)
    }

    mutating func flowStarted(slot: Int, info: FlowInfo) {
        sessions[slot] = FlowSession()
    }

    mutating func streamData(slot: Int, info: FlowInfo, direction: Direction, bytes: Span<UInt8>, time: Timestamp) {
        lastTime = time
        let side: Side = direction == .clientToServer ? .client : .server
        switch sessions[slot].state {
        case .ignored:
            return
        case .undetermined:
            guard let proto = classify(info: info, side: side, bytes: bytes) else {
                sessions[slot].state = .ignored
                stats.flowsIgnored += 1
                stops.append(slot)
                return
            }
            sessions[slot].state = .parsing
            sessions[slot].parser = ProtocolRegistry.makeParser(for: proto)
            stats.sessions[proto, default: 0] += 1
        case .parsing:
            break
        }
        guard let parser = sessions[slot].parser else { return }
        parser.receive(bytes, from: side, time: time.nanoseconds)
        collect(slot: slot, info: info, parser: parser)
        if parser.isDone {
            stats.sessionsEncrypted += 1
            sessions[slot].state = .ignored
            stops.append(slot)
        }
    }

    /// The greeting decides; without one (picked up mid-stream, greeting lost, or the client
    /// spoke first) only a well-known mail port does. Client-first traffic on any other port
    /// (Redis `AUTH`, a TLS ClientHello) never gets a parser.
    private func classify(info: FlowInfo, side: Side, bytes: Span<UInt8>) -> MailProtocol? {
        if side == .server, let proto = ProtocolRegistry.protocolForGreeting(bytes) { return proto }
        guard mailPorts.contains(info.serverPort) else { return nil }
        return ProtocolRegistry.protocolForPort(info.serverPort)
    }

    mutating func streamGap(slot: Int, info: FlowInfo, direction: Direction, length: UInt64, time: Timestamp) {
        lastTime = time
        guard sessions[slot].state == .parsing, let parser = sessions[slot].parser else { return }
        parser.gap(length, from: direction == .clientToServer ? .client : .server, time: time.nanoseconds)
        collect(slot: slot, info: info, parser: parser)
    }

    mutating func streamEnded(slot: Int, info: FlowInfo, direction: Direction, time: Timestamp) {
        lastTime = time
    }

    mutating func flowClosed(slot: Int, info: FlowInfo, reason: CloseReason, time: Timestamp) {
        if let parser = sessions[slot].parser {
            parser.finish(time: time.nanoseconds)
            collect(slot: slot, info: info, parser: parser)
            stats.parserAnomalies += UInt64(parser.anomalies)
        }
        sessions[slot] = FlowSession()
    }

    private mutating func collect(slot: Int, info: FlowInfo, parser: SessionParser) {
        for finding in parser.takeFindings() {
            guard sessions[slot].alerts < maxAlertsPerFlow else {
                stats.alertsSuppressed += 1
                continue
            }
            sessions[slot].alerts += 1
            stats.alerts += 1
            onAlert(Alert(timestamp: Timestamp(nanoseconds: finding.timeNanoseconds), flowID: info.id,
                          client: info.client, clientPort: info.clientPort,
                          server: info.server, serverPort: info.serverPort,
                          vlans: info.vlans, finding: finding, midstream: info.midstream))
        }
    }
}
