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

    /// What `decode(_:link:into:selecting:)` made of a frame.
    public enum Selected: Sendable {
        /// A TCP segment on a selected port: the packet was written.
        case tcp
        /// A TCP segment whose header is valid, on no selected port: nothing was written.
        case unselected
        case skipped(SkipReason)
    }

    /// `decode(_:link:)` for a caller that keeps packets in memory of its own: a TCP segment with
    /// either port in `ports` (any port when nil) is written to `packet` (initialized; it holds
    /// only trivial values); anything else leaves `packet` alone. A segment is judged by its ports
    /// only once its header passed every check, so what counts as a decode error does not depend
    /// on the ports.
    ///
    /// Returned by value, the 88-byte packet was written field by field into a temporary and read
    /// back in 16-byte pieces to be copied: loads spanning several narrower stores still in
    /// flight, which the CPU cannot forward (perf put a quarter of the engine's own time of a
    /// capture of short connections on two of them). The ports are tested before the packet is
    /// written: a segment of another port was written whole only to be dropped (callgrind,
    /// many-flows: about 30 instructions for each of its 2.3 million such segments).
    public static func decode(_ frame: Span<UInt8>, link: LinkType, into packet: UnsafeMutablePointer<DecodedPacket>,
                              selecting ports: PortSet?) throws(DecodeError) -> Selected {
        try select(frame, link: link, into: packet, selecting: ports)
    }

    /// The body of `decode(_:link:into:selecting:)`, shared with the batch decoder.
    @inline(__always)
    static func select(_ frame: Span<UInt8>, link: LinkType, into packet: UnsafeMutablePointer<DecodedPacket>,
                       selecting ports: PortSet?) throws(DecodeError) -> Selected {
        var vlans = VLANTags()
        switch try network(frame, link: link, vlans: &vlans) {
        case .skipped(let reason): return .skipped(reason)
        case .tcp(let header):
            let payloadStart = try TCP.payloadStart(frame, ip: header)
            if let ports {
                let (source, destination) = TCP.ports(frame, ip: header)
                if !ports.contains(source) && !ports.contains(destination) { return .unselected }
            }
            packet.initialize(to: TCP.packet(frame, ip: header, payloadStart: payloadStart, vlans: vlans))
            return .tcp
        }
    }
}
