// TCP header: the fields reassembly needs and the payload's place in the frame.

enum TCP {
    /// Checks the header (and that the payload was captured whole) and returns where the payload
    /// starts. After it, the 20 fixed bytes at `ip.transportOffset` may be read unchecked.
    @inline(__always)
    static func payloadStart(_ frame: Span<UInt8>, ip: IPHeader) throws(DecodeError) -> Int {
        let offset = ip.transportOffset
        // The IP layer left the transport offset inside the frame, so adding 20 cannot overflow.
        try requireHeader(end: offset &+ 20, declaredEnd: ip.end, captured: frame.count, layer: .tcp)
        // Every field read below lies in the 20 fixed bytes just checked; options are never read.
        let dataOffset = Int(unsafe frame.u8(unchecked: offset &+ 12) &>> 4)
        guard dataOffset >= 5 else { throw .invalid(.tcp) }
        let payloadStart = offset &+ dataOffset &* 4
        try requireHeader(end: payloadStart, declaredEnd: ip.end, captured: frame.count, layer: .tcp)
        // The header is whole but the payload was cut by the snaplen. A partial payload would show
        // reassembly a hole that the sender never made, so the whole segment is refused.
        guard ip.end <= frame.count else { throw .truncated(ip.layer) }
        return payloadStart
    }

    /// The source and destination ports of a header `payloadStart` checked.
    @inline(__always)
    static func ports(_ frame: Span<UInt8>, ip: IPHeader) -> (source: UInt16, destination: UInt16) {
        let offset = ip.transportOffset
        // Safe: the ports are the first 4 of the 20 bytes `payloadStart` checked at `offset`.
        return (unsafe frame.u16(unchecked: offset), unsafe frame.u16(unchecked: offset &+ 2))
    }

    /// The segment of a header `payloadStart` checked.
    @inline(__always)
    static func packet(_ frame: Span<UInt8>, ip: IPHeader, payloadStart: Int, vlans: VLANTags) -> DecodedPacket {
        let offset = ip.transportOffset
        let (sourcePort, destinationPort) = ports(frame, ip: ip)
        let (source, destination) = ip.addresses(frame)
        return DecodedPacket(
            source: source,
            destination: destination,
            sourcePort: sourcePort,
            destinationPort: destinationPort,
            // Safe: bytes 4 ..< 16 of the 20 `payloadStart` checked at `offset`.
            sequence: unsafe frame.u32(unchecked: offset &+ 4),
            acknowledgment: unsafe frame.u32(unchecked: offset &+ 8),
            flags: TCPFlags(rawValue: unsafe frame.u8(unchecked: offset &+ 13)),
            window: unsafe frame.u16(unchecked: offset &+ 14),
            payloadStart: payloadStart,
            payloadEnd: ip.end,
            vlans: vlans)
    }
}
