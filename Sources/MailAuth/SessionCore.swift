// State every mail protocol shares: what the server said about TLS, whether the stream is still
// cleartext, logins waiting for the server's verdict, and the findings ready for the engine.

/// A login whose credentials crossed the wire; it becomes a `Finding` when the server answers.
struct PendingLogin {
    var method: String
    var exposure: Exposure
    var username: [UInt8]?
    var usernameTruncated: Bool
    var afterGap: Bool
    var starttls: StartTLSContext
    var time: Int64
    /// `Finding.packet`: the packet whose bytes completed the credentials.
    var packet: UInt64

    /// Heap bytes it holds beyond its own size (the login name).
    var heldBytes: Int { username?.count ?? 0 }
}

public struct SessionCore {
    /// What the session showed about its server: for the inventory, and the STARTTLS context of
    /// each login (`tlsContext`).
    var facts: ServerFacts
    /// The server accepted STARTTLS: the rest of the flow is ciphertext.
    var encrypted = false
    /// A gap has been seen in either direction; later logins are flagged.
    var sawGap = false
    /// Capture time of the bytes being parsed.
    var now: Int64 = 0
    /// The engine's reference to the packet that delivered the bytes being parsed (0: none).
    var packet: UInt64 = 0
    var findings: [Finding] = []
    /// Mode changes a machine asks for; the session applies them to the framers.
    var clientMode: FramerMode?
    var serverMode: FramerMode?
    /// Named anomalies the machine counted (the framers and the session count theirs).
    var anomalies = AnomalyCounts()
    let proto: MailProtocol

    init(proto: MailProtocol) {
        self.proto = proto
        facts = ServerFacts(proto: proto)
    }

    /// Back to `SessionCore(proto:)` for a new flow (see `SessionParser.reset`); every field, in
    /// place, storage freed only where some was taken.
    mutating func reset() {
        facts.reset()
        encrypted = false
        sawGap = false
        now = 0
        packet = 0
        if findings.capacity != 0 { findings = [] }
        clientMode = nil
        serverMode = nil
        if !anomalies.isEmpty { anomalies = AnomalyCounts() }
    }

    func pending(method: String, exposure: Exposure, username: [UInt8]?, truncated: Bool = false) -> PendingLogin {
        PendingLogin(method: method, exposure: exposure, username: username, usernameTruncated: truncated,
                     afterGap: sawGap, starttls: tlsContext, time: now, packet: packet)
    }

    mutating func report(_ p: PendingLogin, outcome: Outcome) {
        findings.append(Finding(proto: proto, method: p.method, exposure: p.exposure, username: p.username,
                                usernameTruncated: p.usernameTruncated, outcome: outcome,
                                starttls: p.starttls, afterGap: p.afterGap, timeNanoseconds: p.time,
                                packet: p.packet))
        if outcome == .success { facts.authenticated = true }
    }

    /// The STARTTLS context of a login sent now: what the server offered an unauthenticated
    /// client. A capability list sent after a successful login describes the logged-in state (IMAP
    /// drops STARTTLS from it), so it leaves the context of a later login as it was.
    var tlsContext: StartTLSContext {
        if facts.starttlsRefused { return .refused }
        if facts.starttlsOffered { return .offered }
        return facts.capabilitiesSeen ? .notOffered : .unknown
    }

    // MARK: what the server said about TLS and logins

    /// A capability list arrived (POP3 CAPA, IMAP CAPABILITY, SMTP EHLO).
    mutating func sawCapabilities() {
        if facts.recording { facts.capabilitiesSeen = true }
    }

    mutating func sawStartTLSOffer() {
        if facts.recording { facts.starttlsOffered = true }
    }

    mutating func sawLoginDisabled() {
        if facts.recording { facts.loginDisabled = true }
    }

    /// The mechanism named by `line[t]` (upper-cased, see `mechanismName`).
    mutating func sawMechanism(_ line: Span<UInt8>, _ t: Token) { facts.addMechanism(line, t) }

    mutating func sawUserCommandOffer() {
        if facts.recording { facts.userCommandOffered = true }
    }

    /// The client sent STARTTLS/STLS.
    mutating func requestedTLS() { facts.starttlsRequested = true }

    /// The server accepted STARTTLS: the rest of the flow is ciphertext.
    mutating func startedTLS() {
        encrypted = true
        facts.starttlsAccepted = true
    }

    /// The server refused STARTTLS: the session goes on in cleartext.
    mutating func refusedTLS() {
        facts.starttlsRefused = true
    }
}
