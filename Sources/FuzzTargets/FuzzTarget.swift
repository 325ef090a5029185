import MailAuth

// The fuzz targets, one per layer that reads attacker-shaped bytes. They live in a library so that
// the libFuzzer executable (`plainsight-fuzz`, built by scripts/fuzz) and the regression tests
// (every committed seed and every crash ever found, replayed by `swift test`) run the same code.
// A target traps when the code under test breaks one of its promises; that is the failure signal.

public enum FuzzTarget: Hashable, CaseIterable, Sendable, CustomStringConvertible {
    /// One frame: first byte picks the link type, the rest is the frame.
    case decoder
    /// A script of TCP segments over a few flows, into a small flow table.
    case reassembly
    /// A script of deliveries, gaps and mode changes into one line framer.
    case framer
    /// A script of client/server chunks and gaps into one session parser, one target per
    /// registered protocol, named after it (`pop3`, `imap`, ...).
    case session(MailProtocol)
    /// A whole capture file (pcap or pcapng bytes) through libpcap and the engine.
    case engine
    /// A script of IPv4 and IPv6 fragments into a small defragmenter.
    case defrag
    /// A classic pcap file read from a file in short reads, against the same bytes from memory.
    case refill

    public static var allCases: [FuzzTarget] {
        [.decoder, .reassembly, .framer] + MailProtocol.allCases.map { .session($0) } + [.engine, .defrag, .refill]
    }

    /// The name scripts/fuzz and the seed folders (fixtures/fuzz/NAME) use.
    public var rawValue: String {
        switch self {
        case .decoder: return "decoder"
        case .reassembly: return "reassembly"
        case .framer: return "framer"
        case .session(let proto): return proto.rawValue
        case .engine: return "engine"
        case .defrag: return "defrag"
        case .refill: return "refill"
        }
    }

    public init?(rawValue: String) {
        guard let target = FuzzTarget.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = target
    }

    public var description: String { rawValue }

    public func run(_ data: Span<UInt8>) {
        switch self {
        case .decoder: DecoderTarget.run(data)
        case .reassembly: ReassemblyTarget.run(data)
        case .framer: FramerExerciseTarget.run(data)
        case .session(let proto): SessionTarget.run(data, proto: proto)
        case .engine: EngineTarget.run(data)
        case .defrag: DefragmentTarget.run(data)
        case .refill: RefillTarget.run(data)
        }
    }
}
