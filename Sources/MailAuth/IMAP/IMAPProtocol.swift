// IMAP's entry in the registry: ports, the `* OK` / `* PREAUTH` / `* BYE` greeting, and its
// session class.

extension ProtocolDescriptor {
    static let imap = ProtocolDescriptor(
        proto: .imap, displayName: "IMAP", ports: [143], implicitTLSPorts: [993],
        greetingStarts: [ASCII.star], loginCommandUnlessDisabled: true,
        probe: IMAPGreeting.self,
        makeParser: { IMAPSession(limits: $0, memory: $1) })
}

/// `* OK`, `* PREAUTH` or `* BYE`.
enum IMAPGreeting: GreetingProbe {
    static func probe(_ bytes: Span<UInt8>, lineEnd: Int, final: Bool) -> GreetingMatch {
        let first = bytes.word(from: 0, end: lineEnd)
        guard first.count == 1 && bytes[first.start] == ASCII.star else { return .notGreeting }
        let status = bytes.word(from: first.end, end: lineEnd)
        return bytes.equalsUpper(status, "OK") || bytes.equalsUpper(status, "PREAUTH")
            || bytes.equalsUpper(status, "BYE") ? .greeting : .notGreeting
    }
}

@safe final class IMAPSession: LineSession {
    // Safe: a session is driven by the engine one call at a time and never calls back out, so
    // the exclusivity check left out here could not fail.
    @safe @exclusivity(unchecked) var state: LineSessionState<IMAPMachine>
    let memory: SessionMemory

    init(limits: SessionLimits, memory: SessionMemory) {
        state = LineSessionState(proto: .imap, limits: limits)
        self.memory = memory
    }

    deinit { _ = memory.recharge(from: state.charged, to: 0) }
}
