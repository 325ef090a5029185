// The decoder's entry point: link, then IP, then TCP, over a frame lent by the capture layer.

/// Decodes one captured frame without allocating or copying. Offsets in the result refer to the
/// frame passed in.
public enum PacketDecoder {
    // The link, IPv4 and TCP steps are @inline(__always) into this function: as separate calls
    // they handed IPResult, IPHeader and DecodedPacket to each other through memory, which cost
    // more than the decoding itself. IPv6 stays a call: it is rarer and its extension-header loop
    // would only bloat the common path.
    public static func decode(_ frame: Span<UInt8>, link: LinkType) throws(DecodeError) -> DecodeOutcome {
        var vlans = VLANTags()
        switch try network(frame, link: link, vlans: &vlans) {
        case .skipped(let reason): return .skipped(reason)
        case .tcp(let header): return .tcp(try TCP.decode(frame, ip: header, vlans: vlans))
        }
    }

    /// The link and IP layers, shared by both entry points: where the TCP header is, or why the
    /// frame is skipped.
    @inline(__always)
    private static func network(_ frame: Span<UInt8>, link: LinkType, vlans: inout VLANTags) throws(DecodeError) -> IPResult {
        let linkHeader = try LinkLayer.decode(frame, link: link, vlans: &vlans)
        switch linkHeader.network {
        case .notIP: return .skipped(.notIP)
        case .ipv4: return try IPv4.decode(frame, at: linkHeader.networkOffset)
        case .ipv6: return try IPv6.decode(frame, at: linkHeader.networkOffset)
        }
    }

    /// `decode(_:link:)` for a caller that keeps packets in memory of its own: a TCP segment is
    /// written to `packet` (initialized; it holds only trivial values) and nil returned; anything
    /// else returns why it was skipped and leaves `packet` alone.
    ///
    /// Returned by value, the 88-byte packet was written field by field into a temporary and read
    /// back in 16-byte pieces to be copied: loads spanning several narrower stores still in
    /// flight, which the CPU cannot forward (perf put a quarter of the engine's own time of a
    /// capture of short connections on two of them).
    public static func decode(_ frame: Span<UInt8>, link: LinkType,
                              into packet: UnsafeMutablePointer<DecodedPacket>) throws(DecodeError) -> SkipReason? {
        var vlans = VLANTags()
        switch try network(frame, link: link, vlans: &vlans) {
        case .skipped(let reason): return reason
        case .tcp(let header):
            packet.initialize(to: try TCP.decode(frame, ip: header, vlans: vlans))
            return nil
        }
    }
}
