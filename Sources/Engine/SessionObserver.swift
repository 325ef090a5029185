import MailAuth
import Reassembly
import Wire

/// Told what the engine sees about mail servers, for the exposure inventory: every login (before
/// the per-flow alert cap, so counts stay exact under a flood) and every mail session as its flow
/// ends. Called on the engine's thread, inside `process`/`finish`; keep it cheap.
public protocol SessionObserver: AnyObject {
    /// A login seen outside TLS, in the flow `flow`.
    func login(_ finding: Finding, flow: FlowInfo)
    /// A mail session is over (its flow closed, timed out or the input ended).
    func sessionEnded(_ session: EndedSession)
    /// `sessionEnded` of a parsed session, its facts lent for the call instead of copied into an
    /// `EndedSession` (what the engine calls; the default builds one).
    func sessionEnded(flow: FlowInfo, proto: MailProtocol, facts: borrowing ServerFacts, closedAt: Timestamp)
}

extension SessionObserver {
    public func sessionEnded(flow: FlowInfo, proto: MailProtocol, facts: borrowing ServerFacts, closedAt: Timestamp) {
        sessionEnded(EndedSession(flow: flow, proto: proto, kind: .parsed(copy facts), closedAt: closedAt))
    }
}

/// One mail session as the engine saw it.
public struct EndedSession: Sendable {
    public enum Kind: Sendable {
        /// Parsed in cleartext (possibly until a STARTTLS upgrade): what the parser saw.
        case parsed(ServerFacts)
        /// The client opened with a TLS handshake on an implicit-TLS port (993, 995, 465).
        case implicitTLS
    }

    public var flow: FlowInfo
    public var proto: MailProtocol
    public var kind: Kind
    /// When the flow was closed (its last packet, or the end of input).
    public var closedAt: Timestamp

    public init(flow: FlowInfo, proto: MailProtocol, kind: Kind, closedAt: Timestamp) {
        self.flow = flow; self.proto = proto; self.kind = kind; self.closedAt = closedAt
    }
}
