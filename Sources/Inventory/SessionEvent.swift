import Alerts
import Engine
import MailAuth
import Reassembly
import Wire

// The `mail_session` event (`--session-events`, issue 20): one per ended mail session, with what
// the session told the inventory (its server facts and its logins), so that `plainsight report`
// can rebuild the inventory of many sensors and count a session two of them saw once (by
// `community_id` and time). `server_exposure` events are totals and cannot tell that.

/// Renders `mail_session` events. Value type, made once per run.
public struct SessionEventWriter: Sendable {
    /// Logins listed per session at most; beyond, counted by outcome (`logins_unlisted`).
    public static let maxListedLogins = 64

    public let userPolicy: UserPolicy
    let keyID: String?
    let communityID: CommunityID

    public init(userPolicy: UserPolicy, communityIDSeed: UInt16) {
        self.userPolicy = userPolicy
        if case .hash(let key) = userPolicy { keyID = UserPolicy.keyID(key) } else { keyID = nil }
        communityID = CommunityID(seed: communityIDSeed)
    }

    /// One compact JSON object, no newline (the sink adds `host`). `facts` nil: an implicit-TLS
    /// session. `logins`: the session's logins in order (at most `maxListedLogins` are listed).
    public func event(flow: FlowInfo, proto: MailProtocol, facts: ServerFacts?, closedAt: Timestamp,
                      logins: [Finding], unlisted: (cleartext: LoginCounts, hashed: LoginCounts)?) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        w.open("{")
        w.key("timestamp"); w.time(closedAt)
        w.field("event_type", "mail_session")
        w.field("flow_id", flow.id)
        w.key("src_ip"); w.address(flow.client)
        w.field("src_port", UInt64(flow.clientPort))
        w.key("dest_ip"); w.address(flow.server)
        w.field("dest_port", UInt64(flow.serverPort))
        w.field("proto", "TCP")
        w.field("app_proto", proto.rawValue)
        w.key("mail_session")
        w.open("{")
        w.key("first_seen"); w.time(flow.firstSeen)
        w.key("last_seen"); w.time(flow.lastSeen)
        w.field("midstream", flow.midstream)
        if let facts {
            w.field("implicit_tls", false)
            if let greeting = facts.greeting { w.key("greeting"); w.string(greeting) }
            w.field("capabilities_seen", facts.capabilitiesSeen)
            w.field("starttls_offered", facts.starttlsOffered)
            w.field("logindisabled", facts.loginDisabled)
            w.field("auth_mechanisms", facts.authMechanisms)
            w.field("user_offered", facts.userCommandOffered)
            w.field("plaintext_offered", PlaintextOffer(facts).names)
            w.field("starttls_requested", facts.starttlsRequested)
            w.field("starttls_accepted", facts.starttlsAccepted)
            w.field("starttls_refused", facts.starttlsRefused)
        } else {
            w.field("implicit_tls", true)
        }
        w.key("logins")
        w.open("[")
        for login in logins.prefix(Self.maxListedLogins) {
            w.openElement()
            w.key("timestamp"); w.time(Timestamp(nanoseconds: login.timeNanoseconds))
            w.field("method", login.method)
            w.field("exposure", login.exposure.rawValue)
            w.field("outcome", login.outcome.rawValue)
            if let name = login.username, let shown = userPolicy.apply(to: name) { w.key("username"); w.string(shown) }
            w.close("}")
        }
        w.close("]")
        if let unlisted {
            w.key("logins_unlisted")
            w.open("{")
            w.key("cleartext"); appendOutcomes(unlisted.cleartext, to: &w)
            w.key("hashed"); appendOutcomes(unlisted.hashed, to: &w)
            w.close("}")
        }
        w.field("user_policy", userPolicy.label)
        if let keyID { w.field("user_key_id", keyID) }
        w.close("}")
        if let id = communityID.string(source: flow.client, sourcePort: flow.clientPort,
                                       destination: flow.server, destinationPort: flow.serverPort) {
            w.field("community_id", id)
        }
        w.close("}")
        return w.bytes()
    }

}

/// An engine observer in front of another (the inventory): passes every call on, and writes one
/// `mail_session` event per ended session through `write`, with the logins the flow had. Holds
/// the logins of open flows only (by flow id; the engine's flow cap bounds them).
public final class SessionEventObserver: SessionObserver {
    private let next: SessionObserver
    private let writer: SessionEventWriter
    private let write: ([UInt8]) -> Void
    private var pending: [UInt64: PendingLogins] = [:]

    public init(next: SessionObserver, writer: SessionEventWriter, write: @escaping ([UInt8]) -> Void) {
        self.next = next; self.writer = writer; self.write = write
    }

    public func login(_ finding: Finding, flow: FlowInfo) {
        next.login(finding, flow: flow)
        var entry = pending[flow.id] ?? PendingLogins()
        if entry.listed.count < SessionEventWriter.maxListedLogins {
            entry.listed.append(finding)
        } else if finding.exposure == .cleartext {
            entry.unlistedCleartext.add(finding.outcome)
        } else {
            entry.unlistedHashed.add(finding.outcome)
        }
        pending[flow.id] = entry
    }

    public func sessionEnded(_ session: EndedSession) {
        next.sessionEnded(session)
        let entry = pending.removeValue(forKey: session.flow.id) ?? PendingLogins()
        switch session.kind {
        case .implicitTLS:
            write(writer.event(flow: session.flow, proto: session.proto, facts: nil, closedAt: session.closedAt,
                               logins: entry.listed, unlisted: entry.unlisted))
        case .parsed(let facts):
            write(writer.event(flow: session.flow, proto: session.proto, facts: facts, closedAt: session.closedAt,
                               logins: entry.listed, unlisted: entry.unlisted))
        }
    }

    public func sessionEnded(flow: FlowInfo, proto: MailProtocol, facts: borrowing ServerFacts, closedAt: Timestamp) {
        next.sessionEnded(flow: flow, proto: proto, facts: facts, closedAt: closedAt)
        let entry = pending.removeValue(forKey: flow.id) ?? PendingLogins()
        write(writer.event(flow: flow, proto: proto, facts: copy facts, closedAt: closedAt, logins: entry.listed, unlisted: entry.unlisted))
    }
}

private struct PendingLogins {
    var listed: [Finding] = []
    var unlistedCleartext = LoginCounts()
    var unlistedHashed = LoginCounts()
    var unlisted: (cleartext: LoginCounts, hashed: LoginCounts)? {
        unlistedCleartext.total + unlistedHashed.total > 0 ? (unlistedCleartext, unlistedHashed) : nil
    }
}
