// What plainsight does about wrong IPv4 header and TCP checksums, and what it counted: the
// policy the engine applies (`ChecksumGate`) and the counters the `stats` event reports.

/// `--checksum-validation` (Suricata's `checksum-validation`): what a segment whose IPv4 header or
/// TCP checksum is wrong becomes.
public enum ChecksumValidation: String, CaseIterable, Sendable {
    /// Verify both; a segment with a wrong sum waits for the peer's acknowledgement (see
    /// `ChecksumGate`), and once the capture shows that wrong sums are the capture's doing
    /// (offload on the capturing host, or rewritten packets) verification stops.
    case auto
    /// Verify both and drop every segment with a wrong sum.
    case on
    /// Verify nothing.
    case off

    /// What the decoder sums.
    package var checks: ChecksumChecks { self == .off ? [] : .all }
}

/// Checksum counters, in the `stats` event as `checksums`.
public struct ChecksumStats: Sendable, Equatable {
    public var mode: ChecksumValidation = .auto
    /// Segments and fragments dropped for a wrong IPv4 header checksum (stream event
    /// `ipv4_checksum_invalid`).
    public var ipv4Invalid: UInt64 = 0
    /// Segments dropped for a wrong TCP checksum (stream event `tcp_checksum_invalid`).
    public var tcpInvalid: UInt64 = 0
    /// Segments with a wrong sum that the peer acknowledged, then processed.
    public var acceptedOnAck: UInt64 = 0
    /// Segments and fragments with a wrong sum processed because verification had stopped.
    public var acceptedUnverified: UInt64 = 0
    /// `auto` stopped verifying: the capture's wrong sums are its own (offload, rewriting).
    public var disabledByOffload = false
    public init() {}
}
