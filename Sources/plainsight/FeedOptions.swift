import ArgumentParser
import Engine
import Reassembly
import Wire

/// How plainsight reads a mirror feed (issue 16): which UDP ports carry tunnels, and the IP
/// fragment reassembler's bounds and overlap policy. Pulled into the command with `@OptionGroup`.
struct FeedOptions: ParsableArguments {
    @Option(name: .customLong("vxlan-port"),
            help: ArgumentHelp("A UDP port that carries VXLAN, in addition to 4789 and 8472 (repeatable).",
                               valueName: "port"))
    var vxlanPorts: [UInt16] = []

    @Option(name: .customLong("geneve-port"),
            help: ArgumentHelp("A UDP port that carries Geneve, in addition to 6081 (repeatable).", valueName: "port"))
    var genevePorts: [UInt16] = []

    @Option(name: .customLong("gtpu-port"),
            help: ArgumentHelp("A UDP port that carries GTP-U, in addition to 2152 (repeatable).", valueName: "port"))
    var gtpuPorts: [UInt16] = []

    @Flag(name: .customLong("no-decapsulate"),
          help: "Do not look inside tunnels, MPLS or PPPoE (their packets are counted as skipped).")
    var noDecapsulate = false

    @Flag(name: .customLong("no-defrag"),
          help: "Do not reassemble IP fragments (they are counted as skipped.ip_fragment).")
    var noDefrag = false

    @Option(name: .customLong("defrag-memory"),
            help: ArgumentHelp("Memory for incomplete IP datagrams, in MiB (default 16); at the cap the oldest datagram is dropped (fragments.memory_budget_hits).",
                               valueName: "MiB"))
    var defragMemoryValues: [Int] = []
    var defragMemory: Int? { defragMemoryValues.last }

    @Option(name: .customLong("defrag-timeout"),
            help: ArgumentHelp("Seconds of capture time an incomplete IP datagram is kept after its first fragment (default 30, as Linux).",
                               valueName: "seconds"))
    var defragTimeoutValues: [Int] = []
    var defragTimeout: Int? { defragTimeoutValues.last }

    @Option(name: .customLong("defrag-policy"),
            help: ArgumentHelp("Which copy of overlapping fragment bytes wins: rfc5722 (default: an overlap discards the datagram, as current Linux and every RFC 5722 stack do), first or last.",
                               valueName: "policy"))
    var defragPolicyValues: [String] = []
    var defragPolicy: String? { defragPolicyValues.last }

    @Option(name: .customLong("checksum-validation"),
            help: ArgumentHelp("IPv4 header and TCP checksums: auto (a segment with a wrong checksum is processed only once its receiver acknowledges it, and verification stops when the capture shows checksum offload), on (drop every segment with a wrong checksum) or off (the default for now: verifying costs more than the project allows on mail-heavy traffic). See docs/tcp-integrity.md.",
                               valueName: "mode"))
    var checksumValidationValues: [String] = []
    var checksumValidation: String? { checksumValidationValues.last }

    @Flag(name: .customLong("no-vlan-in-flow-key"),
          help: "Track flows without their VLAN ids (Suricata's vlan.use-for-tracking: false): a connection seen on two mirrored VLANs (a routed span) is one flow and one alert.")
    var noVLANInFlowKey = false

    func validate() throws {
        if let error = repeatedOptionError([
            ("--defrag-memory", defragMemoryValues.count),
            ("--defrag-timeout", defragTimeoutValues.count),
            ("--defrag-policy", defragPolicyValues.count),
            ("--checksum-validation", checksumValidationValues.count),
        ]) { throw error }
        if let checksumValidation, ChecksumValidation(rawValue: checksumValidation) == nil {
            throw ValidationError("--checksum-validation \(checksumValidation): give "
                + ChecksumValidation.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if let defragMemory, !(1...4096).contains(defragMemory) {
            throw ValidationError("--defrag-memory \(defragMemory): give 1 to 4096")
        }
        if let defragTimeout, !(1...3600).contains(defragTimeout) {
            throw ValidationError("--defrag-timeout \(defragTimeout): give 1 to 3600")
        }
        if let defragPolicy, DefragmentPolicy(rawValue: defragPolicy) == nil {
            throw ValidationError("--defrag-policy \(defragPolicy): give "
                + DefragmentPolicy.allCases.map(\.rawValue).joined(separator: ", "))
        }
        for port in vxlanPorts + genevePorts + gtpuPorts where port == 0 {
            throw ValidationError("a tunnel port must be 1 to 65535")
        }
    }

    func apply(to configuration: inout EngineConfiguration) {
        configuration.tunnels = TunnelPorts(vxlan: TunnelPorts.defaultVXLAN.union(vxlanPorts),
                                            geneve: TunnelPorts.defaultGeneve.union(genevePorts),
                                            gtpu: TunnelPorts.defaultGTPU.union(gtpuPorts),
                                            enabled: !noDecapsulate)
        if let checksumValidation, let mode = ChecksumValidation(rawValue: checksumValidation) {
            configuration.checksumValidation = mode
        }
        configuration.reassembly.vlansInFlowKey = !noVLANInFlowKey
        if noDefrag {
            configuration.defragment = nil
            return
        }
        var defragment = DefragmentConfiguration()
        if let defragMemory { defragment.memoryBudget = defragMemory * 1024 * 1024 }
        if let defragTimeout { defragment.timeout = Int64(defragTimeout) * 1_000_000_000 }
        if let defragPolicy, let policy = DefragmentPolicy(rawValue: defragPolicy) { defragment.policy = policy }
        configuration.defragment = defragment
    }
}
