import ArgumentParser
import Engine

/// The resource caps (issue 5), pulled into the command with `@OptionGroup`. Each bounds memory or
/// output that traffic anyone can shape would otherwise grow; hitting one is counted in the `stats`
/// event, never fatal. Defaults are DESIGN.md's ("Defaults worth knowing").
struct LimitOptions: ParsableArguments {
    @Option(name: .customLong("max-flows"),
            help: ArgumentHelp("Concurrent TCP flows tracked (default 65536). When full, a new flow evicts one that can no longer produce a login (encrypted, not mail, half closed) or else the least recently seen; counted as flows.closed.evicted.",
                               valueName: "flows"))
    var maxFlowsValues: [Int] = []
    var maxFlows: Int? { maxFlowsValues.last }

    @Option(name: .customLong("reorder-window"),
            help: ArgumentHelp("Out-of-order bytes buffered per direction ahead of a hole (default 65536); beyond it the hole becomes a gap (reassembly.window_overflows).",
                               valueName: "bytes"))
    var reorderWindowValues: [Int] = []
    var reorderWindow: Int? { reorderWindowValues.last }

    @Option(name: .customLong("max-holes"),
            help: ArgumentHelp("Holes per direction (default 16); one more turns the earliest into a gap (reassembly.hole_limit_hits).",
                               valueName: "holes"))
    var maxHolesValues: [Int] = []
    var maxHoles: Int? { maxHolesValues.last }

    @Option(name: .customLong("reassembly-memory"),
            help: ArgumentHelp("Memory for out-of-order data across all flows, in MiB: the bytes plus 64 per buffered run (default 64); at the cap holes become gaps (reassembly.memory_budget_hits).",
                               valueName: "MiB"))
    var reassemblyMemoryValues: [Int] = []
    var reassemblyMemory: Int? { reassemblyMemoryValues.last }

    @Option(name: .customLong("max-line"),
            help: ArgumentHelp("Longest protocol line assembled, in bytes (default 4096); a longer line is skipped to its end and counted in parser_anomalies.",
                               valueName: "bytes"))
    var maxLineValues: [Int] = []
    var maxLine: Int? { maxLineValues.last }

    @Option(name: .customLong("max-pending"),
            help: ArgumentHelp("Commands per session awaiting their reply (default 32); beyond, the oldest is given up (a login among them is reported with outcome unknown) and counted in parser_anomalies.",
                               valueName: "commands"))
    var maxPendingValues: [Int] = []
    var maxPending: Int? { maxPendingValues.last }

    @Option(name: .customLong("parser-memory"),
            help: ArgumentHelp("What the parsers of all flows hold between packets (partial lines, logins awaiting a reply, held greetings), in MiB (default 32); at the cap the session that grows reports its pending logins with outcome unknown and drops its partial line (parser_memory.budget_hits).",
                               valueName: "MiB"))
    var parserMemoryValues: [Int] = []
    var parserMemory: Int? { parserMemoryValues.last }

    @Option(name: .customLong("max-alerts-per-flow"),
            help: ArgumentHelp("Alerts reported per flow (default 16); later ones are counted as alerts_suppressed.",
                               valueName: "alerts"))
    var maxAlertsPerFlowValues: [Int] = []
    var maxAlertsPerFlow: Int? { maxAlertsPerFlowValues.last }

    @Option(name: .customLong("output-queue"),
            help: ArgumentHelp("Alerts queued for the outputs (default 16384), and as many mail_session events under --session-events. Live, a full queue drops the alert or event and counts it (outputs.queue.dropped, session_events_dropped), so capture never waits for a disk or a collector; reading files waits for room instead.",
                               valueName: "alerts"))
    var outputQueueValues: [Int] = []
    var outputQueue: Int? { outputQueueValues.last }

    @Option(name: .customLong("idle-timeout"),
            help: ArgumentHelp("Seconds of capture time without a packet before a flow that carried data is closed (default 300).",
                               valueName: "seconds"))
    var idleTimeoutValues: [Int] = []
    var idleTimeout: Int? { idleTimeoutValues.last }

    @Option(name: .customLong("handshake-timeout"),
            help: ArgumentHelp("Seconds before a flow that never carried data is closed (default 30): half-open floods leave quickly.",
                               valueName: "seconds"))
    var handshakeTimeoutValues: [Int] = []
    var handshakeTimeout: Int? { handshakeTimeoutValues.last }

    func validate() throws {
        if let error = repeatedOptionError([
            ("--max-flows", maxFlowsValues.count),
            ("--reorder-window", reorderWindowValues.count),
            ("--max-holes", maxHolesValues.count),
            ("--reassembly-memory", reassemblyMemoryValues.count),
            ("--max-line", maxLineValues.count),
            ("--max-pending", maxPendingValues.count),
            ("--parser-memory", parserMemoryValues.count),
            ("--max-alerts-per-flow", maxAlertsPerFlowValues.count),
            ("--output-queue", outputQueueValues.count),
            ("--idle-timeout", idleTimeoutValues.count),
            ("--handshake-timeout", handshakeTimeoutValues.count),
        ]) { throw error }
        // Upper bounds keep the preallocated tables and the arithmetic in range.
        let checks: [(String, Int?, ClosedRange<Int>)] = [
            ("--max-flows", maxFlows, 1...16_777_216),
            ("--reorder-window", reorderWindow, 0...16_777_216),
            ("--max-holes", maxHoles, 0...4096),
            ("--reassembly-memory", reassemblyMemory, 0...65_536),
            ("--max-line", maxLine, 512...1_048_576),
            ("--max-pending", maxPending, 1...4096),
            ("--parser-memory", parserMemory, 1...65_536),
            ("--max-alerts-per-flow", maxAlertsPerFlow, 1...1_000_000),
            ("--output-queue", outputQueue, 1...1_000_000),
            ("--idle-timeout", idleTimeout, 1...86_400),
            ("--handshake-timeout", handshakeTimeout, 1...86_400),
        ]
        for (name, value, range) in checks {
            if let value, !range.contains(value) {
                throw ValidationError("\(name) \(value): give \(range.lowerBound) to \(range.upperBound)")
            }
        }
    }

    /// The caps given on the command line, applied over `configuration`'s defaults.
    func apply(to configuration: inout EngineConfiguration) {
        if let maxFlows { configuration.reassembly.maxFlows = maxFlows }
        if let reorderWindow { configuration.reassembly.windowBytes = reorderWindow }
        if let maxHoles { configuration.reassembly.maxHoles = maxHoles }
        if let reassemblyMemory { configuration.reassembly.memoryBudget = reassemblyMemory * 1024 * 1024 }
        if let maxLine { configuration.sessionLimits.maxLine = maxLine }
        if let maxPending { configuration.sessionLimits.maxPending = maxPending }
        if let parserMemory { configuration.parserMemoryBytes = parserMemory * 1024 * 1024 }
        if let maxAlertsPerFlow { configuration.maxAlertsPerFlow = maxAlertsPerFlow }
        if let idleTimeout { configuration.reassembly.idleTimeout = Int64(idleTimeout) * 1_000_000_000 }
        if let handshakeTimeout { configuration.reassembly.handshakeTimeout = Int64(handshakeTimeout) * 1_000_000_000 }
    }
}
