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

/// One captured frame inside a buffer that holds several: `buffer[start ..< start + count]`,
/// captured at `time`. Readers hand the engine frames in batches of these, so it can decode a
/// batch first and have the flow table's memory on its way into the cache before it is used.
///
/// `number` is the record's place in its capture file, from 1, counting every record read as
/// tshark's `frame.number` does (filtered-out and undecoded ones too), so an alert can name the
/// packet that completed its login (`pcap_cnt`); 0 where there is no file (live capture).
public struct FrameRecord: Sendable {
    public var start: Int
    public var count: Int
    public var time: Timestamp
    public var number: UInt64
    public init(start: Int, count: Int, time: Timestamp, number: UInt64 = 0) {
        self.start = start; self.count = count; self.time = time; self.number = number
    }
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
    // Computed and inlinable rather than `static let`: a stored static in another module is read
    // through an addressor call with a once-check, four of them per packet in the flow table.
    @inlinable public static var fin: TCPFlags { TCPFlags(rawValue: 0x01) }
    @inlinable public static var syn: TCPFlags { TCPFlags(rawValue: 0x02) }
    @inlinable public static var rst: TCPFlags { TCPFlags(rawValue: 0x04) }
    @inlinable public static var psh: TCPFlags { TCPFlags(rawValue: 0x08) }
    @inlinable public static var ack: TCPFlags { TCPFlags(rawValue: 0x10) }
    @inlinable public static var urg: TCPFlags { TCPFlags(rawValue: 0x20) }
    @inlinable public static var ece: TCPFlags { TCPFlags(rawValue: 0x40) }
    @inlinable public static var cwr: TCPFlags { TCPFlags(rawValue: 0x80) }
}

/// VLAN tags (802.1Q, 802.1ad and 0x9100, outer first): the first two identifiers inline, and how
/// many tags the frame carried in all (at most `VLANTags.maxTags`; carrier taps stack three or
/// more, and tunnels carry their own inside).
public struct VLANTags: Hashable, Sendable {
    /// More tags than this on one packet (at every layer together) is refused as hostile.
    public static let maxTags = 8
    public var count: UInt8 = 0
    public var outer: UInt16 = 0
    public var inner: UInt16 = 0
    public init() {}
    /// The identifiers kept: the outermost two.
    public var ids: [UInt16] {
        switch count {
        case 0: return []
        case 1: return [outer]
        default: return [outer, inner]
        }
    }
}

/// What a `DecodedPacket` written by the batch decoder holds: bits, so that one test of the whole
/// value (`!= .segment`) tells the engine that a packet needs more than the flow table.
public struct PacketKind: RawRepresentable, Equatable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    // Computed and inlinable rather than stored: the engine tests a packet's kind against these
    // on every segment, and a stored static of another module is read through an accessor call.
    /// A TCP segment.
    @inlinable public static var segment: PacketKind { PacketKind(rawValue: 0) }
    /// An IP fragment: the batch's `fragments` entry at the same index locates it; only `kind`
    /// and `tunnel` of the packet mean anything.
    @inlinable public static var fragment: PacketKind { PacketKind(rawValue: 1) }
    /// A segment or a fragment that came through an encapsulation: the batch's `tunnels` entry at
    /// the same index holds the path.
    @inlinable public static var tunnelledSegment: PacketKind { PacketKind(rawValue: 2) }
    @inlinable public static var tunnelledFragment: PacketKind { PacketKind(rawValue: 3) }
    /// Added to a segment whose TCP checksum is wrong (`ChecksumChecks.tcp` asked).
    @inlinable public static var badTCPChecksum: UInt8 { 4 }
    /// Added to a segment or a fragment whose IPv4 header checksum is wrong
    /// (`ChecksumChecks.ipv4` asked).
    @inlinable public static var badIPv4Checksum: UInt8 { 8 }

    @inlinable public var isFragment: Bool { rawValue & 1 != 0 }
    @inlinable public var isTunnelled: Bool { rawValue & 2 != 0 }
    @inlinable public var hasBadTCPChecksum: Bool { rawValue & Self.badTCPChecksum != 0 }
    @inlinable public var hasBadIPv4Checksum: Bool { rawValue & Self.badIPv4Checksum != 0 }
    /// Without the checksum verdicts.
    @inlinable public var withoutChecksums: PacketKind { PacketKind(rawValue: rawValue & 3) }
}

/// One TCP segment decoded from a frame. The payload is not copied: `payloadStart..<payloadEnd` are
/// offsets into the frame the packet was decoded from (or into a reassembled datagram's storage).
public struct DecodedPacket: Sendable {
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequence: UInt32
    public var acknowledgment: UInt32
    public var flags: TCPFlags
    public var window: UInt16
    /// The encapsulation the segment arrived in: 0 for none. The batch decoder writes 1 and the
    /// path to its `tunnels` entry at the same index; the engine replaces it with the id it keeps
    /// the path under. (Declared here, it fills the padding before `payloadStart`: the packet
    /// stays 88 bytes.)
    public var tunnel: UInt32 = 0
    public var payloadStart: Int
    public var payloadEnd: Int
    public var vlans: VLANTags
    public var kind: PacketKind = .segment

    public init(source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16,
                sequence: UInt32, acknowledgment: UInt32, flags: TCPFlags, window: UInt16,
                payloadStart: Int, payloadEnd: Int, vlans: VLANTags, tunnel: UInt32 = 0) {
        self.source = source; self.destination = destination
        self.sourcePort = sourcePort; self.destinationPort = destinationPort
        self.sequence = sequence; self.acknowledgment = acknowledgment
        self.flags = flags; self.window = window
        self.payloadStart = payloadStart; self.payloadEnd = payloadEnd
        self.vlans = vlans
        self.tunnel = tunnel
    }

    public var payloadLength: Int { payloadEnd - payloadStart }
}

/// The layer at which decoding stopped, for per-layer error counters.
public enum DecodeLayer: String, CaseIterable, Sendable {
    case link, vlan, ipv4, ipv6, tcp
    case udp, gre, vxlan, geneve, erspan, mpls, pppoe, gtpu
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
    /// A link or tunnel payload that is not IP (ARP, LLDP, an unknown EtherType or GRE protocol).
    case notIP = "not_ip"
    /// IP carrying another transport: UDP on no tunnel port, ICMP, ESP, ...
    case notTCP = "not_tcp"
    /// An IP fragment not reassembled (defragmentation off, or a protocol plainsight never reads).
    case fragment = "ip_fragment"
    /// Nested deeper than `Encapsulation.maxLayers` encapsulations.
    case tooManyLayers = "too_many_layers"
    /// A tunnel header of a version or form plainsight does not decode (GRE version 1, an ERSPAN
    /// version other than II or III, a GTP-U message other than a G-PDU, PPPoE discovery).
    case unsupportedTunnel = "unsupported_tunnel"
    // 802.11 (IEEE80211.swift): frames of a monitor-mode capture that carry no IP for us.
    case wifiManagement = "wifi_management"
    case wifiControl = "wifi_control"
    case wifiNoData = "wifi_no_data"
    case wifiProtected = "wifi_protected"
    case wifiFragment = "wifi_fragment"
    case wifiAMSDU = "wifi_amsdu"
    case wifiBadFCS = "wifi_bad_fcs"
    case wifiNotSNAP = "wifi_not_snap"
}

public enum DecodeOutcome: Sendable {
    case tcp(DecodedPacket)
    case skipped(SkipReason)
    /// An IP fragment, for the defragmenter.
    case fragment(FragmentHeader)
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
    case ieee80211     // DLT_IEEE802_11 105: 802.11 frames, FCS unknown
    case radiotap      // DLT_IEEE802_11_RADIO 127: radiotap header, then 802.11

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
        case 105: self = .ieee80211
        case 127: self = .radiotap
        default: return nil
        }
    }
}
