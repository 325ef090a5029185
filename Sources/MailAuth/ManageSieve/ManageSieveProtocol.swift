// ManageSieve's entry in the registry (RFC 5804): port 4190, a greeting that is a capability
// list (`"IMPLEMENTATION" "..."`, `"SASL" "PLAIN LOGIN"`, `"STARTTLS"`, ... then `OK`), and its
// session class.

extension ProtocolDescriptor {
    static let managesieve = ProtocolDescriptor(
        proto: .managesieve, displayName: "ManageSieve", ports: [4190], implicitTLSPorts: [],
        greetingStarts: [ASCII.quote],
        probe: ManageSieveGreeting.self,
        makeParser: { ManageSieveSession(limits: $0, memory: $1) })
}

enum ManageSieveGreeting: GreetingProbe {
    /// Capability names RFC 5804 section 1.7 defines, upper case; a greeting's first line names one.
    static let knownCapabilities: [StaticString] = [
        "IMPLEMENTATION", "SASL", "SIEVE", "STARTTLS", "NOTIFY", "MAXREDIRECTS", "LANGUAGE", "OWNER",
        "VERSION", "UNAUTHENTICATE",
    ]

    /// A first line `"NAME"` or `"NAME" "value"` naming a known capability is a greeting. One
    /// naming another (an extension) is, if every line up to the closing `OK` has that shape:
    /// the probe reads on, line by line, as far as it is shown.
    static func probe(_ bytes: Span<UInt8>, lineEnd: Int, final: Bool) -> GreetingMatch {
        var start = 0
        var end = lineEnd
        var lines = 0
        while true {
            let lineStop = end > start && bytes[end - 1] == ASCII.cr ? end - 1 : end
            let complete = end < bytes.count   // `end` is an LF
            if lines > 0, complete || final, isStatus(bytes, from: start, end: lineStop) {
                return .greeting
            }
            guard let name = capabilityName(bytes, from: start, end: lineStop) else {
                return complete || lines == 0 ? .notGreeting : (final ? .greeting : .needMore)
            }
            if lines == 0 && knownCapabilities.contains(where: { bytes.equalsUpper(name, $0) }) { return .greeting }
            lines += 1
            guard complete else { return final ? .greeting : .needMore }
            start = end + 1
            guard start < bytes.count else { return final ? .greeting : .needMore }
            end = bytes.firstIndex(of: ASCII.lf, from: start, end: bytes.count) ?? bytes.count
        }
    }

    /// The name inside the quoted string that starts a capability line, if the line has the shape
    /// `"NAME"` [SP `"value"`].
    static func capabilityName(_ bytes: Span<UInt8>, from: Int, end: Int) -> Token? {
        guard from < end, bytes[from] == ASCII.quote else { return nil }
        var i = from + 1
        while i < end, isNameByte(bytes[i]) { i += 1 }
        guard i < end, bytes[i] == ASCII.quote, i > from + 1 else { return nil }
        let name = Token(start: from + 1, end: i)
        i += 1
        guard i < end else { return name }
        guard bytes[i] == ASCII.space, i + 1 < end, bytes[i + 1] == ASCII.quote || bytes[i + 1] == ASCII.openBrace else {
            return nil
        }
        return name
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == ASCII.minus || b == 0x5F
    }

    /// `OK`, `NO` or `BYE` as the line's first word.
    static func isStatus(_ bytes: Span<UInt8>, from: Int, end: Int) -> Bool {
        let word = bytes.word(from: from, end: end)
        return bytes.equalsUpper(word, "OK") || bytes.equalsUpper(word, "NO") || bytes.equalsUpper(word, "BYE")
    }
}

@safe final class ManageSieveSession: LineSession {
    // Safe: a session is driven by the engine one call at a time and never calls back out, so
    // the exclusivity check left out here could not fail.
    @safe @exclusivity(unchecked) var state: LineSessionState<ManageSieveMachine>
    let memory: SessionMemory

    init(limits: SessionLimits, memory: SessionMemory) {
        state = LineSessionState(proto: .managesieve, limits: limits)
        self.memory = memory
    }

    deinit { _ = memory.recharge(from: state.charged, to: 0) }
}
