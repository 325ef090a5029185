// The mail protocols plainsight follows, in one place. Each protocol's folder declares a
// `ProtocolDescriptor` (ports, greeting probe, parser, what the inventory needs); the engine, the
// inventory, the fuzz targets and the command line read them from here. Adding a protocol is a
// case below, its descriptor in `all`, and its folder.

/// A mail protocol. The raw value is the JSON `app_proto`.
public enum MailProtocol: String, Sendable, CaseIterable {
    case pop3, imap, smtp, managesieve

    /// Position in `allCases` and `ProtocolRegistry.all`: per-protocol counters and parser pools are
    /// small arrays indexed by it.
    @inlinable public var index: Int {
        switch self {
        case .pop3: return 0
        case .imap: return 1
        case .smtp: return 2
        case .managesieve: return 3
        }
    }

    public static let count = allCases.count

    public var descriptor: ProtocolDescriptor { ProtocolRegistry.all[index] }
}

/// Tells a protocol's greeting from the first server bytes. A type, not a closure: the registry
/// calls it through a metatype, which is neither retained nor reabstracted per call.
public protocol GreetingProbe: SendableMetatype {
    /// Whether `bytes` (the first server bytes, at most `ProtocolRegistry.maxGreetingProbe`) is a
    /// greeting of this protocol. `lineEnd`: the end of the first line (its LF, or the bound).
    /// `final`: no more bytes will come for this decision, so `needMore` is not an answer.
    static func probe(_ bytes: Span<UInt8>, lineEnd: Int, final: Bool) -> GreetingMatch
}

/// What a greeting probe concluded from the first server bytes.
public enum GreetingMatch: Sendable, Equatable {
    case greeting
    case notGreeting
    /// More of the greeting is needed to tell (the probe may read past the first line).
    case needMore
}

public struct ProtocolDescriptor: Sendable {
    public let proto: MailProtocol
    /// As people write it: "POP3", "ManageSieve".
    public let displayName: String
    /// Well-known cleartext ports: read by default, and the protocol assumed there when no
    /// greeting was seen (a flow picked up mid-stream).
    public let ports: [UInt16]
    /// Ports where the protocol runs inside TLS from the first byte (RFC 8314): recognised from the
    /// TLS handshake for the inventory, never parsed.
    public let implicitTLSPorts: [UInt16]
    /// The bytes a greeting of this protocol can start with; no two protocols share one, so a
    /// greeting is offered to one probe only.
    let greetingStarts: [UInt8]
    /// Recognises the protocol's greeting.
    let probe: any GreetingProbe.Type
    let makeParser: @Sendable (SessionLimits, SessionMemory) -> SessionParser
    /// The protocol has a plaintext login command that a capability list can withdraw (IMAP
    /// LOGIN and LOGINDISABLED): a list without the withdrawal offers it.
    public let loginCommandUnlessDisabled: Bool

    init(proto: MailProtocol, displayName: String, ports: [UInt16], implicitTLSPorts: [UInt16],
         greetingStarts: [UInt8], loginCommandUnlessDisabled: Bool = false,
         probe: any GreetingProbe.Type,
         makeParser: @escaping @Sendable (SessionLimits, SessionMemory) -> SessionParser) {
        self.proto = proto
        self.displayName = displayName
        self.ports = ports
        self.implicitTLSPorts = implicitTLSPorts
        self.greetingStarts = greetingStarts
        self.loginCommandUnlessDisabled = loginCommandUnlessDisabled
        self.probe = probe
        self.makeParser = makeParser
    }
}

public enum ProtocolRegistry {
    /// Every protocol, in `MailProtocol.index` order.
    public static let all: [ProtocolDescriptor] = {
        let list: [ProtocolDescriptor] = [.pop3, .imap, .smtp, .managesieve]
        for (i, d) in list.enumerated() { precondition(d.proto.index == i, "registry out of index order") }
        return list
    }()

    /// Each protocol's ports of one kind, as a map from port to protocol.
    private static func portMap(_ ports: (ProtocolDescriptor) -> [UInt16]) -> [UInt16: MailProtocol] {
        var map: [UInt16: MailProtocol] = [:]
        for d in all { for p in ports(d) { map[p] = d.proto } }
        return map
    }

    /// The cleartext ports, by port.
    private static let cleartextPorts = portMap(\.ports)

    /// The cleartext ports of every protocol (the default `--port` set).
    public static let defaultPorts: Set<UInt16> = Set(cleartextPorts.keys)

    /// The implicit-TLS ports of every protocol.
    public static let implicitTLSPorts = portMap(\.implicitTLSPorts)

    /// Well-known cleartext ports, used when no greeting was seen (mid-stream pickup): a lookup,
    /// not a walk over the descriptors that would copy each.
    public static func protocolForPort(_ port: UInt16) -> MailProtocol? { cleartextPorts[port] }

    /// The most of the first server bytes a probe is shown: the engine holds a greeting split
    /// across segments up to this many bytes.
    public static let maxGreetingProbe = 512

    /// What classifying a greeting and ending a session read, in one global (one lazy-init check
    /// a use) and without copying a descriptor (its strings, arrays and closures retained and
    /// released at every copy).
    struct HotTables: Sendable {
        /// By a greeting's first byte: 1 + the index of the protocol whose greetings start with
        /// it, or 0.
        let byFirstByte: [UInt8]
        /// The protocols, by index.
        let protocols: [MailProtocol]
        /// Each protocol's probe, by index.
        let probes: [any GreetingProbe.Type]
        /// Bit i: protocol i has a LOGIN command a capability list can withdraw.
        let loginCommandUnlessDisabled: UInt32

        init(_ all: [ProtocolDescriptor]) {
            var table = [UInt8](repeating: 0, count: 256)
            var mask: UInt32 = 0
            for d in all {
                for b in d.greetingStarts {
                    precondition(table[Int(b)] == 0, "two protocols' greetings start with the same byte")
                    table[Int(b)] = UInt8(d.proto.index + 1)
                }
                if d.loginCommandUnlessDisabled { mask |= 1 << UInt32(d.proto.index) }
            }
            byFirstByte = table
            protocols = all.map(\.proto)
            probes = all.map(\.probe)
            loginCommandUnlessDisabled = mask
        }
    }

    static let hot = HotTables(all)

    public enum Greeting: Sendable, Equatable {
        case greeting(MailProtocol)
        case notGreeting
        case needMore
    }

    /// Classifies the first server bytes. A greeting's first line must be whole (or reach
    /// `maxGreetingProbe`) before any probe is asked; `final`: no more bytes will come, so the
    /// answer is never `needMore`. Client-first traffic on other ports (Redis `AUTH`, a TLS
    /// ClientHello) never reaches here: only server bytes are greetings.
    public static func classify(_ bytes: Span<UInt8>, final: Bool = false) -> Greeting {
        guard !bytes.isEmpty else { return final ? .notGreeting : .needMore }
        let bound = min(bytes.count, maxGreetingProbe)
        // Leading blanks are skipped, as the probes' word scans skip them.
        var first = bytes[0]
        if first == ASCII.space || first == ASCII.tab {
            let at = bytes.skipSpaces(from: 0, end: bound)
            guard at < bound else { return final || bytes.count >= maxGreetingProbe ? .notGreeting : .needMore }
            first = bytes[at]
        }
        let slot = Int(hot.byFirstByte[Int(first)])
        guard slot != 0 else { return .notGreeting }
        let lf = bytes.firstIndex(of: ASCII.lf, from: 0, end: bound)
        let done = final || bytes.count >= maxGreetingProbe
        if lf == nil && !done { return .needMore }
        switch hot.probes[slot - 1].probe(bytes.extracting(0..<bound), lineEnd: lf ?? bound, final: done) {
        case .greeting: return .greeting(hot.protocols[slot - 1])
        case .notGreeting: return .notGreeting
        case .needMore: return done ? .notGreeting : .needMore
        }
    }

    /// The protocol whose greeting `bytes` is, looking no further than they go.
    public static func protocolForGreeting(_ bytes: Span<UInt8>) -> MailProtocol? {
        if case .greeting(let p) = classify(bytes, final: true) { return p }
        return nil
    }

    /// A parser for one flow. Its buffers are charged to `memory`, shared by the flows of one
    /// engine; the default is a budget of its own without a limit (tests, tools).
    public static func makeParser(for proto: MailProtocol, limits: SessionLimits = SessionLimits(),
                                  memory: SessionMemory = SessionMemory(limitBytes: .max)) -> SessionParser {
        proto.descriptor.makeParser(limits, memory)
    }
}
