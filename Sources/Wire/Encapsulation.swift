// What a packet was wrapped in on its way to the sensor: the tunnels and label stacks the decoder
// went through to reach the innermost IP header. A mirror feed (cloud traffic mirroring, remote
// SPAN) delivers every packet inside one; the flow is the innermost TCP connection and this record
// says how it arrived.

/// One kind of encapsulation, by the name alerts and statistics use.
public enum EncapsulationKind: UInt8, CaseIterable, Sendable {
    case vxlan = 1, geneve, gre, erspan2, erspan3, mpls, pppoe, ipip, sixInFour, fourInSix, sixInSix, gtpu

    /// The name in the alert's `tunnel.type` and `tunnel.layers`, and in the stats.
    public var name: String {
        switch self {
        case .vxlan: return "vxlan"
        case .geneve: return "geneve"
        case .gre: return "gre"
        case .erspan2: return "erspan2"
        case .erspan3: return "erspan3"
        case .mpls: return "mpls"
        case .pppoe: return "pppoe"
        case .ipip: return "ipip"
        case .sixInFour: return "6in4"
        case .fourInSix: return "4in6"
        case .sixInSix: return "6in6"
        case .gtpu: return "gtpu"
        }
    }

    /// Whether an IP header carries this encapsulation (so it has outer addresses).
    var isCarriedByIP: Bool { self != .mpls && self != .pppoe }
}

/// The encapsulations one packet went through, outermost first, with the details of the outermost
/// one: what an operator needs to find the mirror session (its endpoints and identifier). Inline
/// and fixed-size, so the decoder fills it without allocating.
public struct Encapsulation: Hashable, Sendable {
    /// Most encapsulations followed for one packet; past it the packet is skipped
    /// (`SkipReason.tooManyLayers`). Real feeds nest two or three (VXLAN in GRE, MPLS over
    /// PPPoE); an attacker nests until a decoder's stack or time runs out.
    public static let maxLayers = 8
    /// Labels kept of the outermost MPLS stack.
    public static let maxLabels = 4

    /// One `EncapsulationKind` raw value per byte, outermost in the lowest byte.
    public private(set) var layerCodes: UInt64 = 0
    public private(set) var count: UInt8 = 0
    /// The addresses of the IP header that carried the outermost encapsulation.
    public var outerSource = IPAddress(ipv4: 0)
    public var outerDestination = IPAddress(ipv4: 0)
    public var hasOuterAddresses = false
    /// VNI (VXLAN, Geneve), session id (ERSPAN, PPPoE), TEID (GTP-U) or key (plain GRE) of the
    /// outermost encapsulation.
    public var identifier: UInt32 = 0
    public var hasIdentifier = false
    /// The GRE key of an outermost ERSPAN carried in GRE with the K bit.
    public var greKey: UInt32 = 0
    public var hasGREKey = false
    /// The outermost MPLS label stack, outermost first (at most `maxLabels`).
    public var labels: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    public var labelCount: UInt8 = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    /// The outermost encapsulation.
    public var outermost: EncapsulationKind? { count == 0 ? nil : EncapsulationKind(rawValue: UInt8(truncatingIfNeeded: layerCodes)) }

    /// Every encapsulation passed, outermost first.
    public var layers: [EncapsulationKind] {
        (0..<Int(count)).compactMap { EncapsulationKind(rawValue: UInt8(truncatingIfNeeded: layerCodes >> (8 * UInt64($0)))) }
    }

    /// The MPLS labels kept, outermost first.
    public var labelStack: [UInt32] {
        let all = [labels.0, labels.1, labels.2, labels.3]
        return Array(all.prefix(Int(labelCount)))
    }

    /// The same layers without addresses or identifiers.
    public var kindsOnly: Encapsulation {
        var kinds = Encapsulation()
        kinds.layerCodes = layerCodes
        kinds.count = count
        return kinds
    }

    /// Empty again. Only the layers are cleared: the details are rewritten whenever an outermost
    /// layer is recorded (`Decapsulation.enter`), and mean nothing without one.
    @inline(__always)
    mutating func reset() {
        layerCodes = 0
        count = 0
    }

    /// Records one more layer; false when the packet is nested deeper than `maxLayers`.
    @discardableResult
    mutating func push(_ kind: EncapsulationKind) -> Bool {
        guard Int(count) < Self.maxLayers else { return false }
        layerCodes |= UInt64(kind.rawValue) << (8 * UInt64(count))
        count &+= 1
        return true
    }

    /// Whether the layer just pushed is the outermost, whose details are kept.
    var isOutermost: Bool { count == 1 }

    mutating func appendLabel(_ label: UInt32) {
        switch labelCount {
        case 0: labels.0 = label
        case 1: labels.1 = label
        case 2: labels.2 = label
        case 3: labels.3 = label
        default: return
        }
        labelCount &+= 1
    }

    public static func == (a: Encapsulation, b: Encapsulation) -> Bool {
        a.layerCodes == b.layerCodes && a.count == b.count && a.outerSource == b.outerSource
            && a.outerDestination == b.outerDestination && a.hasOuterAddresses == b.hasOuterAddresses
            && a.identifier == b.identifier && a.hasIdentifier == b.hasIdentifier && a.greKey == b.greKey
            && a.hasGREKey == b.hasGREKey && a.labelCount == b.labelCount && a.labels.0 == b.labels.0
            && a.labels.1 == b.labels.1 && a.labels.2 == b.labels.2 && a.labels.3 == b.labels.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(layerCodes); hasher.combine(outerSource); hasher.combine(outerDestination)
        hasher.combine(identifier); hasher.combine(greKey); hasher.combine(labelCount)
        hasher.combine(labels.0); hasher.combine(labels.1)
    }
}

/// Packets per encapsulation kind, counted by the decoder for every frame that went through one
/// (whatever became of it afterwards), and frames nested past the limit.
public struct EncapsulationCounts: Sendable, Equatable {
    /// Indexed by `EncapsulationKind.rawValue` (slot 0 unused); inline, so a batch's counts never
    /// allocate.
    var packets = InlineArray<16, UInt64>(repeating: 0)
    public init() {}

    public subscript(kind: EncapsulationKind) -> UInt64 { packets[Int(kind.rawValue)] }

    @inline(__always)
    mutating func add(_ path: Encapsulation) { add(path, from: 0) }

    /// Counts the layers of `path` from the `first`-th on (those a reassembled datagram added to
    /// what its fragments were counted with).
    public mutating func add(_ path: Encapsulation, from first: Int) {
        var codes = path.layerCodes >> (8 * UInt64(min(max(first, 0), 8)))
        for _ in min(max(first, 0), Int(path.count)) ..< Int(path.count) {
            packets[Int(codes & 0x0F)] &+= 1
            codes >>= 8
        }
    }

    public mutating func add(_ other: EncapsulationCounts) {
        for i in 0..<16 { packets[i] &+= other.packets[i] }
    }

    public static func == (a: EncapsulationCounts, b: EncapsulationCounts) -> Bool {
        for i in 0..<16 where a.packets[i] != b.packets[i] { return false }
        return true
    }
}

/// Which UDP ports carry which tunnel. Defaults are the IANA ports plus Linux's historical VXLAN
/// port (8472, still the kernel's and Open vSwitch's default on many systems).
public struct TunnelPorts: Sendable {
    public static let defaultVXLAN: Set<UInt16> = [4789, 8472]
    public static let defaultGeneve: Set<UInt16> = [6081]
    public static let defaultGTPU: Set<UInt16> = [2152]

    var vxlan: PortSet
    var geneve: PortSet
    var gtpu: PortSet
    /// Every port above, for a capture filter.
    public let udpPorts: Set<UInt16>
    /// False when decapsulation is off: every tunnel is then skipped as before.
    public let enabled: Bool

    public init(vxlan: Set<UInt16> = TunnelPorts.defaultVXLAN, geneve: Set<UInt16> = TunnelPorts.defaultGeneve,
                gtpu: Set<UInt16> = TunnelPorts.defaultGTPU, enabled: Bool = true) {
        self.vxlan = PortSet(vxlan); self.geneve = PortSet(geneve); self.gtpu = PortSet(gtpu)
        udpPorts = vxlan.union(geneve).union(gtpu)
        self.enabled = enabled
    }

    public static let standard = TunnelPorts()
}

/// Where an IP fragment lies and what reassembling it needs. Offsets other than `ipOffset` and
/// `ipEnd` are relative to the IP header.
public struct FragmentHeader: Sendable, Equatable {
    /// The IP header in the frame, and one past the IP packet (both checked against the capture).
    public var ipOffset: Int
    public var ipEnd: Int
    public var isIPv6: Bool
    public var source: IPAddress
    public var destination: IPAddress
    public var identification: UInt32
    /// IPv4's Protocol, or the Fragment header's Next Header.
    public var nextProtocol: UInt8
    /// In bytes.
    public var fragmentOffset: Int
    public var moreFragments: Bool
    /// IPv4: the header length; IPv6: where the Fragment header starts.
    public var headerLength: Int
    /// IPv6: the byte holding the Next Header value that names the Fragment header.
    public var nextHeaderFieldOffset: Int
    public var dataStart: Int
    public var dataEnd: Int

    /// A header that locates nothing, for a buffer the decoder writes into.
    public static let empty = FragmentHeader(ipOffset: 0, ipEnd: 0, isIPv6: false, source: IPAddress(ipv4: 0),
                                             destination: IPAddress(ipv4: 0), identification: 0, nextProtocol: 0,
                                             fragmentOffset: 0, moreFragments: false, headerLength: 0,
                                             nextHeaderFieldOffset: 0, dataStart: 0, dataEnd: 0)

    public init(ipOffset: Int, ipEnd: Int, isIPv6: Bool, source: IPAddress, destination: IPAddress,
                identification: UInt32, nextProtocol: UInt8, fragmentOffset: Int, moreFragments: Bool,
                headerLength: Int, nextHeaderFieldOffset: Int, dataStart: Int, dataEnd: Int) {
        self.ipOffset = ipOffset; self.ipEnd = ipEnd; self.isIPv6 = isIPv6
        self.source = source; self.destination = destination
        self.identification = identification; self.nextProtocol = nextProtocol
        self.fragmentOffset = fragmentOffset; self.moreFragments = moreFragments
        self.headerLength = headerLength; self.nextHeaderFieldOffset = nextHeaderFieldOffset
        self.dataStart = dataStart; self.dataEnd = dataEnd
    }
}
