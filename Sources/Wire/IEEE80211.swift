// 802.11 data frames of open networks, bare (LINKTYPE_IEEE802_11, 105) or behind radiotap
// (LINKTYPE_IEEE802_11_RADIOTAP, 127): a monitor-mode capture carries every frame of the channel,
// so most frames are skipped, each for a reason of its own, and only unprotected data frames with
// an LLC/SNAP header reach the IP layer.
//
// Radiotap: https://www.radiotap.org (header, alignment, Flags). 802.11 header: IEEE 802.11-2020
// 9.2.4 (Frame Control), 9.3.2.1 (data frame), 9.2.4.5 (QoS Control), 9.2.4.7 (HT Control).

/// What an 802.11 frame holds for the layers above.
enum WifiResult: Equatable {
    /// An LLC/SNAP payload: `etherType` and where its payload starts. `end` is one past the last
    /// byte of the frame's payload: the capture's end, less the FCS when radiotap says one is there.
    case network(offset: Int, etherType: UInt16, end: Int)
    case skipped(SkipReason)
}

enum IEEE80211 {
    // Radiotap Flags (present bit 1).
    private static let flagFCSAtEnd: UInt8 = 0x10
    private static let flagDataPad: UInt8 = 0x20
    private static let flagBadFCS: UInt8 = 0x40

    // Frame Control, second byte.
    private static let toDS: UInt8 = 0x01
    private static let fromDS: UInt8 = 0x02
    private static let moreFragments: UInt8 = 0x04
    private static let protected: UInt8 = 0x40
    private static let order: UInt8 = 0x80

    /// The link-layer decoder's view of `decode`. Kept out of line: inlined into
    /// `LinkLayer.decode`, which is inlined into every decoding loop, it would grow the loop of
    /// every other link type for a rare one.
    @inline(never)
    static func linkHeader(_ frame: Span<UInt8>, radiotap: Bool,
                           vlans: inout VLANTags) throws(DecodeError) -> LinkHeader {
        switch try decode(frame, radiotap: radiotap) {
        case .skipped(let reason):
            return LinkHeader(networkOffset: 0, network: .skipped(reason))
        case .network(var offset, var etherType, let end):
            // A bridged VLAN keeps its tags inside SNAP; the same two-tag limit as on Ethernet.
            while etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100 {
                guard vlans.count < 2 else { throw .invalid(.vlan) }
                guard end - offset >= 4 else { throw .truncated(.vlan) }
                // Inside the 4 bytes just checked.
                let id = unsafe frame.u16(unchecked: offset) & 0x0FFF
                if vlans.count == 0 { vlans.outer = id } else { vlans.inner = id }
                vlans.count &+= 1
                etherType = unsafe frame.u16(unchecked: offset &+ 2)
                offset += 4
            }
            let network: NetworkProtocol
            switch etherType {
            case 0x0800: network = .ipv4
            case 0x86DD: network = .ipv6
            default: return LinkHeader(networkOffset: offset, network: .notIP)
            }
            if end < frame.count { try checkIPEnd(frame, at: offset, end: end, network: network) }
            return LinkHeader(networkOffset: offset, network: network)
        }
    }

    /// The IP and TCP layers bound what they read by the IP length fields and by the captured
    /// frame, which here still holds the FCS: an IP packet declaring up to four bytes more than it
    /// has would take the FCS as its last bytes. Such a packet was cut (or lies), so it is refused
    /// as the IP layer refuses a packet that runs past the capture. A declared end beyond the
    /// whole capture is left to the IP layer, which already refuses it.
    private static func checkIPEnd(_ frame: Span<UInt8>, at offset: Int, end: Int,
                                   network: NetworkProtocol) throws(DecodeError) {
        if case .ipv4 = network {
            guard end - offset >= 20 else { throw .truncated(.ipv4) }
            // Inside the 20 bytes just checked.
            let declared = offset &+ Int(unsafe frame.u16(unchecked: offset &+ 2))
            if declared > end && declared <= frame.count { throw .truncated(.ipv4) }
        } else {
            guard end - offset >= 40 else { throw .truncated(.ipv6) }
            // Inside the 40 bytes just checked.
            let declared = offset &+ 40 &+ Int(unsafe frame.u16(unchecked: offset &+ 4))
            if declared > end && declared <= frame.count { throw .truncated(.ipv6) }
        }
    }

    /// Finds the LLC/SNAP payload of a data frame, or says why there is none. Errors are blamed
    /// on the link layer, as for the other link headers. Offsets refer to `frame`.
    static func decode(_ frame: Span<UInt8>, radiotap: Bool) throws(DecodeError) -> WifiResult {
        var start = 0
        var end = frame.count
        var flags: UInt8 = 0
        if radiotap {
            (start, flags) = try radiotapHeader(frame)
            // Skipped before the 802.11 header is read: a frame the radio could not receive
            // correctly may hold anything.
            if flags & flagBadFCS != 0 { return .skipped(.wifiBadFCS) }
            if flags & flagFCSAtEnd != 0 {
                end = frame.count - 4
                guard end >= start else { throw .truncated(.link) }
            }
        }

        guard end - start >= 2 else { throw .truncated(.link) }
        // Inside the 2 bytes just checked.
        let control = unsafe frame.u8(unchecked: start)
        let controlFlags = unsafe frame.u8(unchecked: start &+ 1)
        guard control & 0x03 == 0 else { throw .invalid(.link) }   // protocol version 0 only
        switch (control &>> 2) & 0x03 {
        case 0: return .skipped(.wifiManagement)
        case 1: return .skipped(.wifiControl)
        // Extension frames (DMG and S1G beacons) announce networks, as management frames do.
        case 3: return .skipped(.wifiManagement)
        default: break
        }
        let subtype = control &>> 4
        // Null, CF-Ack, CF-Poll and their QoS forms: subtype bit 2 means "no data".
        if subtype & 0x04 != 0 { return .skipped(.wifiNoData) }
        // WEP, TKIP, CCMP, GCMP: the payload is ciphertext. Known before the header is whole.
        if controlFlags & protected != 0 { return .skipped(.wifiProtected) }

        let isQoS = subtype & 0x08 != 0
        let addressesEnd = controlFlags & (toDS | fromDS) == toDS | fromDS ? 30 : 24
        // HT Control follows QoS Control when Order is set on a QoS frame; on a non-QoS data
        // frame, Order asks for strictly ordered delivery and adds nothing.
        var headerLength = addressesEnd
        if isQoS { headerLength += controlFlags & order != 0 ? 6 : 2 }
        guard end - start >= headerLength else { throw .truncated(.link) }
        // Reads below lie inside the header just checked.

        // A fragment's payload is part of an MSDU: later fragments do not begin with LLC, and the
        // first holds only the start of the IP packet. Sequence Control is bytes 22 and 23,
        // the fragment number its low four bits.
        let fragmentNumber = unsafe frame.u8(unchecked: start &+ 22) & 0x0F
        if controlFlags & moreFragments != 0 || fragmentNumber != 0 {
            return .skipped(.wifiFragment)
        }
        // A-MSDU present (QoS Control bit 7): the payload is a list of subframes with their own
        // headers, not LLC.
        if isQoS, unsafe frame.u8(unchecked: start &+ addressesEnd) & 0x80 != 0 {
            return .skipped(.wifiAMSDU)
        }

        // Some drivers pad the 802.11 header to a 4-byte boundary and say so in radiotap.
        let llc = start + (flags & flagDataPad != 0 ? (headerLength + 3) & ~3 : headerLength)
        let available = end - llc
        guard available >= 8 else {
            guard available >= 0 else { throw .truncated(.link) }
            // LLC XID and TEST frames are 3 to 6 bytes: one that is not SNAP is skipped, not cut.
            if available >= 3, !isSNAPPrefix(frame, at: llc) { return .skipped(.wifiNotSNAP) }
            throw .truncated(.link)
        }
        // Inside the 8 bytes just checked: AA AA 03, OUI, EtherType, read as one word.
        let snap = unsafe frame.u64(unchecked: llc)
        let oui = UInt8(truncatingIfNeeded: snap &>> 16)
        // RFC 1042 (OUI 0) for IP; 802.1H bridge tunnel (00 00 F8) for the same EtherTypes.
        guard snap &>> 24 == 0xAA_AA03_0000, oui == 0x00 || oui == 0xF8 else { return .skipped(.wifiNotSNAP) }
        return .network(offset: llc + 8, etherType: UInt16(truncatingIfNeeded: snap), end: end)
    }

    /// Whether the 3 bytes at `offset` (the caller checked they lie in the frame) are SNAP's LLC.
    private static func isSNAPPrefix(_ frame: Span<UInt8>, at offset: Int) -> Bool {
        unsafe (frame.u16(unchecked: offset) == 0xAAAA && frame.u8(unchecked: offset &+ 2) == 0x03)
    }

    /// The radiotap header's length and its Flags field (0 when absent). Radiotap is
    /// little-endian, and each field is aligned to its own size from the header's start.
    private static func radiotapHeader(_ frame: Span<UInt8>) throws(DecodeError) -> (length: Int, flags: UInt8) {
        guard frame.count >= 8 else { throw .truncated(.link) }
        // Version, pad, length, first present word: inside the 8 bytes just checked.
        guard unsafe frame.u8(unchecked: 0) == 0 else { throw .invalid(.link) }
        let length = Int(unsafe frame.u16(littleEndianUnchecked: 2))
        guard length >= 8 else { throw .invalid(.link) }
        guard length <= frame.count else { throw .truncated(.link) }
        // Every read below is checked against `length`, which lies inside the frame.
        let present = unsafe frame.u32(littleEndianUnchecked: 4)
        // Bit 31 chains another present word; all words precede the fields, and the first
        // word's fields (TSFT, Flags) come first. The chain is bounded by the header length.
        var cursor = 8
        var word = present
        while word & 0x8000_0000 != 0 {
            guard length - cursor >= 4 else { throw .invalid(.link) }
            word = unsafe frame.u32(littleEndianUnchecked: cursor)
            cursor += 4
        }
        guard present & 0x02 != 0 else { return (length, 0) }
        // TSFT, bit 0: 8 bytes aligned to 8.
        if present & 0x01 != 0 { cursor = ((cursor + 7) & ~7) + 8 }
        guard cursor < length else { throw .invalid(.link) }
        return (length, unsafe frame.u8(unchecked: cursor))
    }
}

extension Span where Element == UInt8 {
    // Radiotap's fields are little-endian; the reader of ByteReading.swift is big-endian. Same
    // contract: the caller checked the bytes lie in the frame.
    @unsafe @inline(__always)
    fileprivate func u16(littleEndianUnchecked offset: Int) -> UInt16 {
        assert(offset >= 0 && offset <= count - 2, "unchecked read outside the frame")
        return UInt16(littleEndian: unsafe bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: offset, as: UInt16.self))
    }

    @unsafe @inline(__always)
    fileprivate func u32(littleEndianUnchecked offset: Int) -> UInt32 {
        assert(offset >= 0 && offset <= count - 4, "unchecked read outside the frame")
        return UInt32(littleEndian: unsafe bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: offset, as: UInt32.self))
    }
}
