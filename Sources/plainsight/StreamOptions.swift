import ArgumentParser
import Engine
import Reassembly

/// Which TCP copies and RSTs plainsight believes (issue 17, docs/tcp-integrity.md). Pulled into
/// the command with `@OptionGroup`.
struct StreamOptions: ParsableArguments {
    @Option(name: .customLong("stream-policy"),
            help: ArgumentHelp("Which copy of resent TCP bytes the parsers see: ack (what the receiver acknowledged; data is held until its ACK while a login may still change, and an unacknowledged copy is replaced by a later one) or first (the default for now: the first copy of every byte; holding costs more than the project allows on mail-heavy traffic).",
                               valueName: "policy"))
    var streamPolicyValues: [String] = []
    var streamPolicy: String? { streamPolicyValues.last }

    @Option(name: .customLong("rst-policy"),
            help: ArgumentHelp("Which RSTs end a flow: window (default: sequence number in the receiver's window as the sensor infers it), exact (RFC 5961: exactly the receiver's last ACK or the sender's next byte) or any (every RST, as before). Others are counted (reassembly.events.rst_out_of_window) and ignored.",
                               valueName: "policy"))
    var rstPolicyValues: [String] = []
    var rstPolicy: String? { rstPolicyValues.last }

    func validate() throws {
        if let error = repeatedOptionError([("--stream-policy", streamPolicyValues.count),
                                            ("--rst-policy", rstPolicyValues.count)]) { throw error }
        if let streamPolicy, StreamPolicy(rawValue: streamPolicy) == nil {
            throw ValidationError("--stream-policy \(streamPolicy): give "
                + StreamPolicy.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if let rstPolicy, ResetPolicy(rawValue: rstPolicy) == nil {
            throw ValidationError("--rst-policy \(rstPolicy): give "
                + ResetPolicy.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    func apply(to configuration: inout EngineConfiguration) {
        if let policy = streamPolicy.flatMap(StreamPolicy.init(rawValue:)) {
            configuration.reassembly.streamPolicy = policy
        }
        if let policy = rstPolicy.flatMap(ResetPolicy.init(rawValue:)) { configuration.reassembly.resetPolicy = policy }
    }
}
