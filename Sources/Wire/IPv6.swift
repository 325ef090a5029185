// IPv6 header and extension-header chain, bounded by the payload length so that link padding is
// trimmed.

enum IPv6 {
    /// Real traffic carries two or three; a long chain is a known evasion and DoS trick.
    static let maxExtensionHeaders = 8

    static func decode(_ frame: Span<UInt8>, at offset: Int) throws(DecodeError) -> IPResult {
        guard frame.count - offset >= 40 else { throw .truncated(.ipv6) }
        // Reads of the fixed header lie in the 40 bytes just checked; each extension header is
        // checked against the capture before its bytes are read.
        guard unsafe frame.u8(unchecked: offset) &>> 4 == 6 else { throw .invalid(.ipv6) }
        // Zero means a jumbogram (RFC 2675), whose real length hides in hop-by-hop; not on our links.
        let payloadLength = Int(unsafe frame.u16(unchecked: offset &+ 4))
        guard payloadLength != 0 else { throw .invalid(.ipv6) }
        let end = offset + 40 + payloadLength

        var next = unsafe frame.u8(unchecked: offset &+ 6)
        var cursor = offset + 40
        // The byte that holds `next`: a fragment's reassembly rewrites it.
        var nextField = offset &+ 6
        var seen = 0
        while true {
            switch next {
            case 6:
                return .tcp(IPHeader(offset: offset, transportOffset: cursor, end: end, layer: .ipv6))
            case 0, 43, 44, 51, 60, 135, 139, 140:
                // RFC 8200 4.1: hop-by-hop is only valid straight after the fixed header.
                if next == 0 && seen != 0 { throw .invalid(.ipv6) }
                seen += 1
                guard seen <= maxExtensionHeaders else { throw .invalid(.ipv6) }
                if next == 44 {
                    try requireHeader(end: cursor + 8, declaredEnd: end, captured: frame.count, layer: .ipv6)
                    // Offset in the top 13 bits, M flag in bit 0. An atomic fragment (RFC 6946)
                    // holds a whole packet and goes on.
                    if unsafe frame.u16(unchecked: cursor &+ 2) & 0xFFF9 != 0 {
                        return .fragment(IPHeader(offset: offset, transportOffset: cursor, end: end, layer: .ipv6),
                                         nextHeaderField: nextField)
                    }
                    next = unsafe frame.u8(unchecked: cursor)
                    nextField = cursor
                    cursor += 8
                } else {
                    try requireHeader(end: cursor + 2, declaredEnd: end, captured: frame.count, layer: .ipv6)
                    let units = Int(unsafe frame.u8(unchecked: cursor &+ 1))
                    // AH counts 4-byte words minus 2 (RFC 4302); the rest 8-byte units minus 1.
                    let length = next == 51 ? (units + 2) &* 4 : (units + 1) &* 8
                    try requireHeader(end: cursor + length, declaredEnd: end, captured: frame.count, layer: .ipv6)
                    next = unsafe frame.u8(unchecked: cursor)
                    nextField = cursor
                    cursor += length
                }
            case 50, 59:
                // ESP hides what follows; 59 ends the chain.
                return .skipped(.notTCP)
            default:
                // Another transport, or a tunnel (IPv4 or IPv6 inside, GRE, UDP).
                return .other(IPHeader(offset: offset, transportOffset: cursor, end: end, layer: .ipv6),
                              protocol: next)
            }
        }
    }

    /// The addresses of a header `decode` checked at `offset`.
    @inline(__always)
    static func addresses(_ frame: Span<UInt8>, at offset: Int) -> (source: IPAddress, destination: IPAddress) {
        // Safe: bytes 8 ..< 40 of the 40 fixed bytes `decode` checked at `offset`.
        (IPAddress(ipv6High: unsafe frame.u64(unchecked: offset &+ 8), low: unsafe frame.u64(unchecked: offset &+ 16)),
         IPAddress(ipv6High: unsafe frame.u64(unchecked: offset &+ 24), low: unsafe frame.u64(unchecked: offset &+ 32)))
    }
}
