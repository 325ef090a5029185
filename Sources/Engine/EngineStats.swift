// The engine's plain counters. The `stats` event's JSON keys for them are written in Alerts
// (`EngineStats.fields()`), next to the pipeline's `outputs`: one schema, one module.
import MailAuth
import Reassembly
import Wire

/// Counters reported in the `stats` event and the summary, in a fixed order.
public struct EngineStats: Sendable {
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public var tcpPackets: UInt64 = 0
    public var notMailPort: UInt64 = 0
    public var skipped: [SkipReason: UInt64] = [:]
    public var truncated: [DecodeLayer: UInt64] = [:]
    public var invalid: [DecodeLayer: UInt64] = [:]
    public var sessions: [MailProtocol: UInt64] = [:]
    public var sessionsEncrypted: UInt64 = 0
    public var flowsIgnored: UInt64 = 0
    /// The sum of `parserAnomalyKinds`.
    public var parserAnomalies: UInt64 { parserAnomalyKinds.total }
    /// Anomalies by protocol and kind, from the sessions that ended.
    public var parserAnomalyKinds = AnomalyTotals()
    /// Sessions that shed what they held because the parser memory budget was exhausted.
    public var parserMemoryBudgetHits: UInt64 = 0
    /// The most the parsers held at once, in bytes (as charged to the budget).
    public var parserMemoryPeak: UInt64 = 0
    public var alerts: UInt64 = 0
    public var alertsSuppressed: UInt64 = 0
    public var reassembly = ReassemblyStats()
    public var activeFlows = 0
    /// Frames per encapsulation they went through.
    public var encapsulations = EncapsulationCounts()
    /// Paths kept without their details because the tunnel registry was full.
    public var tunnelsTruncated: UInt64 = 0
    public var fragments = DefragmentStats()
    public var checksums = ChecksumStats()

    public var decodeErrors: UInt64 { truncated.values.reduce(0, +) + invalid.values.reduce(0, +) }

    public init() {}
}

