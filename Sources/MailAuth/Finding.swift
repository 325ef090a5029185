// What a session parser reports: a credential exchange seen outside TLS. No field can hold the
// secret; the username is a bounded copy.

/// Which end of the TCP connection sent some bytes.
public enum Side: Sendable, Equatable {
    case client, server
}

public enum Exposure: String, Sendable {
    /// The password itself is recoverable from the wire.
    case cleartext
    /// Only a challenge-response digest crossed the wire (offline-crackable).
    case hashed
}

public enum Outcome: String, Sendable {
    case success, failure, unknown
}

/// What the server did about TLS before the login.
public enum StartTLSContext: String, Sendable {
    case notOffered = "not_offered"
    case offered
    case refused
    case unknown
}

public struct Finding: Sendable, Equatable {
    public static let maxUsernameBytes = 256

    public var proto: MailProtocol
    /// Schema method name: `USER`, `APOP`, `LOGIN`, `AUTH PLAIN`, `AUTHENTICATE LOGIN`, ...
    public var method: String
    public var exposure: Exposure
    /// At most `maxUsernameBytes` bytes of the login name, raw (may be non-UTF-8); nil when the
    /// exchange named none (a malformed blob, an aborted exchange).
    public var username: [UInt8]?
    public var usernameTruncated: Bool
    public var outcome: Outcome
    public var starttls: StartTLSContext
    /// A capture gap came before this login in the stream.
    public var afterGap: Bool
    /// Capture time of the packet carrying the credential, in nanoseconds since the epoch.
    public var timeNanoseconds: Int64
    /// The packet whose bytes completed the credentials (the last line or literal of the
    /// exchange), as the engine refers to it: its capture file and record number (see
    /// `PacketReference`); 0 when unknown (live capture, bytes handed over at a flow's end).
    public var packet: UInt64

    public init(proto: MailProtocol, method: String, exposure: Exposure, username: [UInt8]?,
                usernameTruncated: Bool = false, outcome: Outcome, starttls: StartTLSContext,
                afterGap: Bool, timeNanoseconds: Int64, packet: UInt64 = 0) {
        self.packet = packet
        self.proto = proto; self.method = method; self.exposure = exposure
        self.username = username; self.usernameTruncated = usernameTruncated
        self.outcome = outcome; self.starttls = starttls; self.afterGap = afterGap
        self.timeNanoseconds = timeNanoseconds
    }
}
