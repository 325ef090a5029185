// Value types shared by every layer above the decoder. All are small, copyable and allocation-free
// so a decoded packet can be passed by value through the hot path.

/// Capture time, nanoseconds since the Unix epoch. Packet timestamps drive every clock in the
/// engine so that a replay is deterministic.
public struct Timestamp: Comparable, Hashable, Sendable {
    public var nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public init(seconds: Int64, microseconds: Int64) {
        nanoseconds = seconds &* 1_000_000_000 &+ microseconds &* 1_000
    }
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanoseconds < b.nanoseconds }
    public static let zero = Timestamp(nanoseconds: 0)
}

/// An IPv4 or IPv6 address held inline. IPv4 lives in the low 32 bits of `low`.
public struct IPAddress: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64
    public var isIPv6: Bool

    public init(ipv4 value: UInt32) { high = 0; low = UInt64(value); isIPv6 = false }
    public init(ipv6High: UInt64, low: UInt64) { high = ipv6High; self.low = low; isIPv6 = true }
}

/// TCP header flags, bit positions as on the wire (byte 13).
public struct TCPFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    // Inlinable constants rather than `static let`s: another module reaches a stored global
    // through an accessor call on every use, and reassembly tests four flags on every packet.
    @inlinable public static var fin: TCPFlags { TCPFlags(rawValue: 0x01) }
    @inlinable public static var syn: TCPFlags { TCPFlags(rawValue: 0x02) }
    @inlinable public static var rst: TCPFlags { TCPFlags(rawValue: 0x04) }
    @inlinable public static var psh: TCPFlags { TCPFlags(rawValue: 0x08) }
    @inlinable public static var ack: TCPFlags { TCPFlags(rawValue: 0x10) }
    @inlinable public static var urg: TCPFlags { TCPFlags(rawValue: 0x20) }
    @inlinable public static var ece: TCPFlags { TCPFlags(rawValue: 0x40) }
    @inlinable public static var cwr: TCPFlags { TCPFlags(rawValue: 0x80) }
}

/// Up to two VLAN identifiers (802.1Q, 802.1ad outer first), inline.
public struct VLANTags: Hashable, Sendable {
    public var count: UInt8 = 0
    public var outer: UInt16 = 0
    public var inner: UInt16 = 0
    public init() {}
    public var ids: [UInt16] {
        switch count {
        case 0: return []
        case 1: return [outer]
        default: return [outer, inner]
        }
    }
}

/// One TCP segment decoded from a frame. The payload is not copied: `payloadStart..<payloadEnd` are
/// offsets into the frame the packet was decoded from.
public struct DecodedPacket: Sendable {
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequence: UInt32
    public var acknowledgment: UInt32
    public var flags: TCPFlags
    public var window: UInt16
    public var payloadStart: Int
    public var payloadEnd: Int
    public var vlans: VLANTags

    public init(source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16,
                sequence: UInt32, acknowledgment: UInt32, flags: TCPFlags, window: UInt16,
                payloadStart: Int, payloadEnd: Int, vlans: VLANTags) {
        self.source = source; self.destination = destination
        self.sourcePort = sourcePort; self.destinationPort = destinationPort
        self.sequence = sequence; self.acknowledgment = acknowledgment
        self.flags = flags; self.window = window
        self.payloadStart = payloadStart; self.payloadEnd = payloadEnd
        self.vlans = vlans
    }

    public var payloadLength: Int { payloadEnd - payloadStart }
}

/// The layer at which decoding stopped, for per-layer error counters.
public enum DecodeLayer: String, CaseIterable, Sendable {
    case link, vlan, ipv4, ipv6, tcp
}

/// Truncated (the frame ends before the header says it should) and invalid (a field is impossible)
/// are kept apart, as tcpdump does, because they point at different causes: snaplen versus hostile
/// or broken senders.
public enum DecodeError: Error, Equatable, Sendable {
    case truncated(DecodeLayer)
    case invalid(DecodeLayer)

    public var layer: DecodeLayer {
        switch self { case .truncated(let l), .invalid(let l): return l }
    }
}

/// Frames that decode correctly but carry nothing for us.
public enum SkipReason: String, CaseIterable, Sendable {
    case notIP = "not_ip"
    case notTCP = "not_tcp"
    case fragment = "ip_fragment"
}

public enum DecodeOutcome: Sendable {
    case tcp(DecodedPacket)
    case skipped(SkipReason)
}

/// Link-layer header types, by libpcap DLT value (what `pcap_datalink` returns).
public enum LinkType: Sendable, Equatable {
    case ethernet      // DLT_EN10MB 1
    case null          // DLT_NULL 0: 4-byte address family in host byte order of the capturing machine
    case loop          // DLT_LOOP 108: 4-byte address family, network byte order
    case raw           // DLT_RAW 12 (14 on some BSDs; LINKTYPE_RAW 101): bare IPv4 or IPv6
    case ipv4          // DLT_IPV4 228
    case ipv6          // DLT_IPV6 229
    case linuxSLL      // DLT_LINUX_SLL 113
    case linuxSLL2     // DLT_LINUX_SLL2 276

    public init?(dlt: Int32) {
        switch dlt {
        case 1: self = .ethernet
        case 0: self = .null
        case 108: self = .loop
        case 12, 14, 101: self = .raw
        case 228: self = .ipv4
        case 229: self = .ipv6
        case 113: self = .linuxSLL
        case 276: self = .linuxSLL2
        default: return nil
        }
    }
}
