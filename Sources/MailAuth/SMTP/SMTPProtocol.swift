// SMTP's entry in the registry: submission and relay ports, the `220` greeting (not FTP's, which
// looks the same but whose USER/PASS must not be read as mail), and its session class.

extension ProtocolDescriptor {
    static let smtp = ProtocolDescriptor(
        proto: .smtp, displayName: "SMTP", ports: [25, 587, 2525], implicitTLSPorts: [465],
        greetingStarts: [UInt8(ascii: "2")],
        probe: SMTPGreeting.self,
        makeParser: { SMTPSession(limits: $0, memory: $1) })
}

enum SMTPGreeting: GreetingProbe {
    static func probe(_ bytes: Span<UInt8>, lineEnd: Int, final: Bool) -> GreetingMatch {
        matches(bytes, lineEnd) ? .greeting : .notGreeting
    }

    /// `220 `, `220-` or `220` CR, and no mention of FTP on the line.
    static func matches(_ bytes: Span<UInt8>, _ end: Int) -> Bool {
        guard end >= 4, bytes[0] == 0x32, bytes[1] == 0x32, bytes[2] == 0x30,
              bytes[3] == ASCII.space || bytes[3] == ASCII.minus || bytes[3] == ASCII.cr else { return false }
        return !mentionsFTP(bytes, end)
    }

    /// "ftp" anywhere in `bytes[0..<end]`, any case.
    static func mentionsFTP(_ bytes: Span<UInt8>, _ end: Int) -> Bool {
        guard end >= 3 else { return false }
        return unsafe bytes.extracting(0..<end).withUnsafeBufferPointer { b -> Bool in
            guard let base = b.baseAddress else { return false }
            // `| 0x20` folds exactly F/f, T/t and P/p here.
            if end < 18 {
                for i in 0...(end - 3) where unsafe b[i] | 0x20 == 0x66 && b[i + 1] | 0x20 == 0x74 && b[i + 2] | 0x20 == 0x70 {
                    return true
                }
                return false
            }
            // Sixteen window places a step, since every banner is searched: the lanes where an f,
            // a t and a p follow each other. The last step is the last 18 bytes, overlapping the
            // one before; every load lies within `b` (i + 18 <= end = b.count).
            @inline(__always) func hit(_ at: Int) -> Bool {
                let fold = SIMD16<UInt8>(repeating: 0x20)
                let p = unsafe UnsafeRawPointer(base + at)
                let f = unsafe (p.loadUnaligned(as: SIMD16<UInt8>.self) | fold) .== SIMD16<UInt8>(repeating: 0x66)
                let t = unsafe (p.loadUnaligned(fromByteOffset: 1, as: SIMD16<UInt8>.self) | fold) .== SIMD16<UInt8>(repeating: 0x74)
                let q = unsafe (p.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self) | fold) .== SIMD16<UInt8>(repeating: 0x70)
                let w = unsafe unsafeBitCast(f .& t .& q, to: SIMD2<UInt64>.self)
                return w[0] | w[1] != 0
            }
            var i = 0
            while i + 18 <= end {
                if hit(i) { return true }
                i += 16
            }
            return i < end - 2 && hit(end - 18)
        }
    }
}

@safe final class SMTPSession: LineSession {
    // Safe: a session is driven by the engine one call at a time and never calls back out, so
    // the exclusivity check left out here could not fail.
    @safe @exclusivity(unchecked) var state: LineSessionState<SMTPMachine>
    let memory: SessionMemory

    init(limits: SessionLimits, memory: SessionMemory) {
        state = LineSessionState(proto: .smtp, limits: limits)
        self.memory = memory
    }

    deinit { _ = memory.recharge(from: state.charged, to: 0) }
}
