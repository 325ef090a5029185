// What a session parser can meet that a well-behaved client and server never send, counted by
// name (Zeek's "weirds", Suricata's app-layer events) rather than treated as fatal. The `stats`
// event reports them per protocol; `parser_anomalies` is their sum.

public enum ParserAnomaly: Int, CaseIterable, Sendable {
    /// A line longer than `--max-line`, skipped to its end.
    case lineTooLong
    /// A server reply while no command was waiting for one (a second POP3 greeting, a
    /// ManageSieve `OK` after every command was answered).
    case replyWithoutCommand
    /// More pipelined commands than `--max-pending`: the oldest was given up.
    case pendingQueueOverflow
    /// The parser memory budget ran out and the session gave up what it held.
    case shedForMemoryBudget
    /// A SASL response that is not base64, or too long to be one.
    case malformedSASL
    /// A SASL mechanism plainsight does not know: a login through it is not reported.
    case unknownMechanism
    /// Commands sent behind STARTTLS before its reply (RFC 3207 section 4.2, RFC 2595 section 3.1):
    /// they crossed in cleartext, and their replies come inside TLS.
    case pipeliningAfterSTARTTLS
    /// SMTP BDAT without a valid chunk size.
    case bdatSizeInvalid
    /// An IMAP LOGIN without its two arguments.
    case malformedLogin

    /// The name in the `stats` event.
    public var name: String {
        switch self {
        case .lineTooLong: return "line_too_long"
        case .replyWithoutCommand: return "reply_without_command"
        case .pendingQueueOverflow: return "pending_queue_overflow"
        case .shedForMemoryBudget: return "shed_for_memory_budget"
        case .malformedSASL: return "malformed_sasl"
        case .unknownMechanism: return "unknown_mechanism"
        case .pipeliningAfterSTARTTLS: return "pipelining_after_starttls"
        case .bdatSizeInvalid: return "bdat_size_invalid"
        case .malformedLogin: return "malformed_login"
        }
    }
}

/// One session's anomalies by kind, in one vector so counting costs a store and merging an add.
public struct AnomalyCounts: Sendable, Equatable {
    private var lanes = SIMD16<UInt32>()
    /// Some kind was counted: tested at every session's end, where comparing all lanes would cost
    /// more than the flag.
    public private(set) var isEmpty = true

    public init() {}

    public subscript(_ kind: ParserAnomaly) -> Int { Int(lanes[kind.rawValue]) }

    mutating func count(_ kind: ParserAnomaly, _ n: Int = 1) {
        guard n != 0 else { return }
        lanes[kind.rawValue] &+= UInt32(truncatingIfNeeded: n)
        isEmpty = false
    }

    public var total: Int { isEmpty ? 0 : Int(lanes.wrappedSum()) }

    /// The counts widened for a running total.
    public var wide: SIMD16<UInt64> { SIMD16<UInt64>(truncatingIfNeeded: lanes) }
}

/// Running totals of `AnomalyCounts` per protocol, for the `stats` event.
public struct AnomalyTotals: Sendable, Equatable {
    /// Empty (no storage) until the first anomaly.
    private var byProtocol: [SIMD16<UInt64>] = []
    /// Every kind of every protocol: `parser_anomalies`.
    public private(set) var total: UInt64 = 0

    public init() {}

    public mutating func add(_ counts: AnomalyCounts, for proto: MailProtocol) {
        if byProtocol.isEmpty { byProtocol = [SIMD16<UInt64>](repeating: SIMD16(), count: MailProtocol.count) }
        byProtocol[proto.index] &+= counts.wide
        total &+= UInt64(counts.total)
    }

    public subscript(_ proto: MailProtocol, _ kind: ParserAnomaly) -> UInt64 {
        byProtocol.isEmpty ? 0 : byProtocol[proto.index][kind.rawValue]
    }
}
