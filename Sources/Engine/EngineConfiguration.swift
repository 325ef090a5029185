import MailAuth
import Reassembly
import Wire

/// Everything the engine needs to know, built by the command line. No libpcap, no Foundation.
public struct EngineConfiguration: Sendable {
    /// Ports whose flows are parsed in the default mode: every registered protocol's cleartext
    /// ports (DESIGN.md: 25, 110, 143, 587, 2525).
    public static let defaultMailPorts: Set<UInt16> = ProtocolRegistry.defaultPorts
    /// Implicit-TLS ports (993, 995, 465): read in every mode so the inventory counts TLS sessions,
    /// but never parsed (a flow there gets a parser only if the server greets in cleartext).
    public static let implicitTLSPorts = Set(ProtocolRegistry.implicitTLSPorts.keys)

    /// Parse every TCP flow, recognising the protocol from the server greeting.
    public var anyPort = false
    public var mailPorts: Set<UInt16> = EngineConfiguration.defaultMailPorts
    public var reassembly = ReassemblyConfiguration()
    /// Bounded output under attack: at most this many alerts per flow.
    public var maxAlertsPerFlow = 16
    /// Per-session bounds: longest line, pending commands.
    public var sessionLimits = SessionLimits()
    /// What the parsers of all flows may hold between deliveries (partial lines, logins awaiting a
    /// reply, held greetings), in bytes.
    public var parserMemoryBytes = 32 << 20
    /// Batches of frames prefetch each packet's flow state only while the table holds more flows
    /// than this (about 1 MiB of state, what an L2 cache holds); below it the hints are overhead.
    /// Not an option: tests set 0 so the hints run on small captures too.
    public var prefetchAboveFlows = 2048
    /// Which UDP ports carry VXLAN, Geneve and GTP-U, and whether tunnels are followed at all.
    public var tunnels = TunnelPorts.standard
    /// IP fragment reassembly; nil leaves fragments skipped (`skipped.ip_fragment`).
    public var defragment: DefragmentConfiguration? = DefragmentConfiguration()
    /// What a segment with a wrong IPv4 header or TCP checksum becomes (`ChecksumGate`). `off` by
    /// default until verifying costs under 5% on every benchmark workload.
    public var checksumValidation = ChecksumValidation.off
    /// Live capture: every alert's `flow_id` is mixed with a random key each engine draws at
    /// start, so ids do not repeat across restarts, sensors and workers (see `FlowIDs`). Off, for
    /// replays: flows numbered 1, 2, 3... in the order they appear, the same every run.
    public var uniqueFlowIDs = false

    public init() {}
}
