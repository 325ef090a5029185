// IPv4 header: validated, options skipped, and the packet bounded by its total length so that
// Ethernet padding never reaches reassembly.

enum IPv4 {
    @inline(__always) // into PacketDecoder.decode, which says why
    static func decode(_ frame: Span<UInt8>, at offset: Int) throws(DecodeError) -> IPResult {
        guard frame.count - offset >= 20 else { throw .truncated(.ipv4) }
        // Every read below lies in the 20 fixed bytes just checked; options are never read.
        let versionAndLength = unsafe frame.u8(unchecked: offset)
        // Version 4 with a header of at least 20 bytes (five words) is 0x45 to 0x4F: one
        // comparison for both tests, which throw the same error, on a path every packet takes.
        guard versionAndLength &- 0x45 <= 0x0A else { throw .invalid(.ipv4) }
        let headerLength = Int(versionAndLength & 0x0F) &* 4
        // Covers a zero total length too: some TSO captures write 0, and we cannot guess the size.
        let totalLength = Int(unsafe frame.u16(unchecked: offset &+ 2))
        guard totalLength >= headerLength else { throw .invalid(.ipv4) }
        guard frame.count - offset >= headerLength else { throw .truncated(.ipv4) }

        // Hand over before judging the payload's length: a snaplen-cut fragment or UDP datagram
        // is something we skip, not a decode error worth counting (the tunnel decoders check
        // what they read themselves).
        // 0x2000 is More Fragments, 0x1FFF the fragment offset; DF (0x4000) is fine.
        let header = IPHeader(offset: offset, transportOffset: offset &+ headerLength, end: offset &+ totalLength,
                              layer: .ipv4)
        if unsafe frame.u16(unchecked: offset &+ 6) & 0x3FFF != 0 { return .fragment(header, nextHeaderField: 0) }
        let proto = unsafe frame.u8(unchecked: offset &+ 9)
        guard proto == 6 else { return .other(header, protocol: proto) }
        return .tcp(header)
    }

    /// The addresses of a header `decode` checked at `offset`.
    @inline(__always)
    static func addresses(_ frame: Span<UInt8>, at offset: Int) -> (source: IPAddress, destination: IPAddress) {
        // Safe: bytes 12 ..< 20 of the 20 fixed bytes `decode` checked at `offset`.
        (IPAddress(ipv4: unsafe frame.u32(unchecked: offset &+ 12)), IPAddress(ipv4: unsafe frame.u32(unchecked: offset &+ 16)))
    }
}
