// Link-layer headers: find where the IP header starts and which IP version the link says it is.

enum NetworkProtocol {
    case ipv4, ipv6, notIP
    case skipped(SkipReason)   // the link layer's own reason (802.11)
}

struct LinkHeader {
    var networkOffset: Int
    var network: NetworkProtocol
    /// For `.notIP` behind an EtherType: its value (MPLS and PPPoE are decapsulated out of line);
    /// 0 where the link has none.
    var etherType: UInt16 = 0
}

enum LinkLayer {
    // Each case checks the frame against its fixed header length first; the reads after the
    // check lie inside it.
    @inline(__always) // into PacketDecoder.decode, which says why
    static func decode(_ frame: Span<UInt8>, link: LinkType,
                       vlans: inout VLANTags) throws(DecodeError) -> LinkHeader {
        switch link {
        case .ethernet:
            guard frame.count >= 14 else { throw .truncated(.link) }
            return try etherType(frame, type: unsafe frame.u16(unchecked: 12), offset: 14, vlans: &vlans)
        case .linuxSLL:
            guard frame.count >= 16 else { throw .truncated(.link) }
            return try etherType(frame, type: unsafe frame.u16(unchecked: 14), offset: 16, vlans: &vlans)
        case .linuxSLL2:
            guard frame.count >= 20 else { throw .truncated(.link) }
            return try etherType(frame, type: unsafe frame.u16(unchecked: 0), offset: 20, vlans: &vlans)
        case .null:
            guard frame.count >= 4 else { throw .truncated(.link) }
            // Host byte order of the machine that captured, which we cannot know. Families are
            // small numbers, so a big-endian read with high bits set means it was little-endian.
            let raw = unsafe frame.u32(unchecked: 0)
            return LinkHeader(networkOffset: 4, network: addressFamily(raw <= 0xFFFF ? raw : raw.byteSwapped))
        case .loop:
            guard frame.count >= 4 else { throw .truncated(.link) }
            return LinkHeader(networkOffset: 4, network: addressFamily(unsafe frame.u32(unchecked: 0)))
        case .raw:
            guard frame.count >= 1 else { throw .truncated(.link) }
            switch unsafe frame.u8(unchecked: 0) &>> 4 {
            case 4: return LinkHeader(networkOffset: 0, network: .ipv4)
            case 6: return LinkHeader(networkOffset: 0, network: .ipv6)
            default: throw .invalid(.link)
            }
        case .ipv4:
            guard frame.count >= 1 else { throw .truncated(.link) }
            guard unsafe frame.u8(unchecked: 0) &>> 4 == 4 else { throw .invalid(.link) }
            return LinkHeader(networkOffset: 0, network: .ipv4)
        case .ipv6:
            guard frame.count >= 1 else { throw .truncated(.link) }
            guard unsafe frame.u8(unchecked: 0) &>> 4 == 6 else { throw .invalid(.link) }
            return LinkHeader(networkOffset: 0, network: .ipv6)
        case .ieee80211: return try IEEE80211.linkHeader(frame, radiotap: false, vlans: &vlans)
        case .radiotap: return try IEEE80211.linkHeader(frame, radiotap: true, vlans: &vlans)
        }
    }

    /// Follows VLAN tags (any of the three tag types, in any order: carrier taps stack three or
    /// more) from an EtherType field whose payload starts at `offset`. The tags of every layer of
    /// a packet count together against `VLANTags.maxTags`; more is treated as hostile rather than
    /// looped over. The outermost two identifiers are kept.
    @inline(__always)
    static func etherType(_ frame: Span<UInt8>, type: UInt16, offset: Int,
                          vlans: inout VLANTags) throws(DecodeError) -> LinkHeader {
        var type = type
        var offset = offset
        while type == 0x8100 || type == 0x88A8 || type == 0x9100 {
            guard vlans.count < VLANTags.maxTags else { throw .invalid(.vlan) }
            guard frame.count - offset >= 4 else { throw .truncated(.vlan) }
            let id = unsafe frame.u16(unchecked: offset) & 0x0FFF
            if vlans.count == 0 { vlans.outer = id } else if vlans.count == 1 { vlans.inner = id }
            vlans.count &+= 1
            type = unsafe frame.u16(unchecked: offset &+ 2)
            offset += 4
        }
        switch type {
        case 0x0800: return LinkHeader(networkOffset: offset, network: .ipv4)
        case 0x86DD: return LinkHeader(networkOffset: offset, network: .ipv6)
        // Values below 0x0600 are 802.3 lengths (LLC/SNAP follows), never IP for us; MPLS and
        // PPPoE are looked at by `Decapsulation`.
        default: return LinkHeader(networkOffset: offset, network: .notIP, etherType: type)
        }
    }

    /// AF_INET is 2 everywhere; AF_INET6 differs per BSD (NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30).
    private static func addressFamily(_ family: UInt32) -> NetworkProtocol {
        switch family {
        case 2: return .ipv4
        case 24, 28, 30: return .ipv6
        default: return .notIP
        }
    }
}
