// What the IP layers hand to TCP: where the IP header, the transport header and the IP packet lie.

struct IPHeader {
    /// Offset of the IP header in the frame. The addresses are read from it only for a segment that
    /// is kept: carried from the IP layer through TCP's checks, their six values would be spilled
    /// to the stack and back, and an IPv6 header's returned through memory.
    var offset: Int
    /// Offset of the TCP header in the frame.
    var transportOffset: Int
    /// Offset one past the IP packet as its length field declares; may exceed the captured frame,
    /// which TCP decoding turns into a truncation only after its own header is accounted for.
    var end: Int
    /// The IP version, which lays out the addresses, and the layer blamed when the payload is cut
    /// by the snaplen.
    var layer: DecodeLayer
}

enum IPResult {
    case tcp(IPHeader)
    case skipped(SkipReason)
    /// Another protocol in an unfragmented packet: a tunnel may be inside (`Decapsulation`).
    case other(IPHeader, protocol: UInt8)
    /// A fragment. IPv4: `transportOffset` is the end of the header. IPv6: it is where the
    /// Fragment header starts, and `nextHeaderField` the byte that names it.
    case fragment(IPHeader, nextHeaderField: Int)
}

extension IPHeader {
    /// The addresses of the header `layer` checked.
    @inline(__always)
    func addresses(_ frame: Span<UInt8>) -> (source: IPAddress, destination: IPAddress) {
        layer == .ipv4 ? IPv4.addresses(frame, at: offset) : IPv6.addresses(frame, at: offset)
    }
}
