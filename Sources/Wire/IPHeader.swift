// What the IP layers hand to TCP: where the IP header, the transport header and the IP packet lie.

struct IPHeader {
    /// Offset of the IP header in the frame, whose fixed part the IP decoder has checked. The
    /// addresses are read from it only once TCP has accepted the segment, so that they are not
    /// carried through the TCP checks (on the stack, for want of registers).
    var networkOffset: Int
    /// Offset of the TCP header in the frame.
    var transportOffset: Int
    /// Offset one past the IP packet as its length field declares; may exceed the captured frame,
    /// which TCP decoding turns into a truncation only after its own header is accounted for.
    var end: Int
    /// The IP version, and the layer blamed when the payload is cut by the snaplen.
    var layer: DecodeLayer

    @inline(__always)
    func addresses(in frame: Span<UInt8>) -> (source: IPAddress, destination: IPAddress) {
        // Inside the fixed header (20 or 40 bytes) that IPv4.decode or IPv6.decode checked.
        if layer == .ipv4 {
            return (IPAddress(ipv4: unsafe frame.u32(unchecked: networkOffset &+ 12)),
                    IPAddress(ipv4: unsafe frame.u32(unchecked: networkOffset &+ 16)))
        }
        return (IPAddress(ipv6High: unsafe frame.u64(unchecked: networkOffset &+ 8),
                          low: unsafe frame.u64(unchecked: networkOffset &+ 16)),
                IPAddress(ipv6High: unsafe frame.u64(unchecked: networkOffset &+ 24),
                          low: unsafe frame.u64(unchecked: networkOffset &+ 32)))
    }
}

enum IPResult {
    case tcp(IPHeader)
    case skipped(SkipReason)
}
