// POP3's entry in the registry: ports, the `+OK` greeting, and its session class.

extension ProtocolDescriptor {
    static let pop3 = ProtocolDescriptor(
        proto: .pop3, displayName: "POP3", ports: [110], implicitTLSPorts: [995],
        greetingStarts: [ASCII.plus],
        probe: POP3Greeting.self,
        makeParser: { POP3Session(limits: $0, memory: $1) })
}

/// `+OK` as the first word.
enum POP3Greeting: GreetingProbe {
    static func probe(_ bytes: Span<UInt8>, lineEnd: Int, final: Bool) -> GreetingMatch {
        bytes.equalsUpper(bytes.word(from: 0, end: lineEnd), "+OK") ? .greeting : .notGreeting
    }
}

// `@exclusivity(unchecked)`, here and in the other protocols' session classes: a session is only
// driven by the engine, one call at a time, and never calls back out, so the dynamic check a call
// would make on `state` cannot fail.
@safe final class POP3Session: LineSession {
    // Safe: a session is driven by the engine one call at a time and never calls back out, so
    // the exclusivity check left out here could not fail.
    @safe @exclusivity(unchecked) var state: LineSessionState<POP3Machine>
    let memory: SessionMemory

    init(limits: SessionLimits, memory: SessionMemory) {
        state = LineSessionState(proto: .pop3, limits: limits)
        self.memory = memory
    }

    deinit { _ = memory.recharge(from: state.charged, to: 0) }
}
