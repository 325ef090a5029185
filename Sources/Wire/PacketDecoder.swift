// The decoder's entry point: link, then IP, then TCP, over a frame lent by the capture layer.
// Tunnels and fragments leave the inline path for `Decapsulation`.

/// Decodes one captured frame without allocating or copying. Offsets in the result refer to the
/// frame passed in.
public enum PacketDecoder {
    /// What `decode(_:link:into:selecting:)` made of a frame.
    public enum Selected: Sendable {
        /// A TCP segment on a selected port: the packet was written.
        case tcp
        /// A TCP segment whose header is valid, on no selected port: nothing was written.
        case unselected
        case skipped(SkipReason)
        /// An IP fragment: the fragment header was written.
        case fragment
    }

    /// One frame, decoded as the batch decoder decodes each: a convenience for tests, seed makers
    /// and tools. The encapsulation a segment arrived in is not returned.
    public static func decode(_ frame: Span<UInt8>, link: LinkType,
                              tunnels: TunnelPorts = .standard) throws(DecodeError) -> DecodeOutcome {
        var packet = DecodedPacket(source: IPAddress(ipv4: 0), destination: IPAddress(ipv4: 0), sourcePort: 0,
                                   destinationPort: 0, sequence: 0, acknowledgment: 0, flags: [], window: 0,
                                   payloadStart: 0, payloadEnd: 0, vlans: VLANTags())
        var fragment = FragmentHeader.empty
        var path = Encapsulation()
        // The pointers are to locals and do not outlive the closures.
        let selected = try unsafe withUnsafeMutablePointer(to: &packet) { packetPointer throws(DecodeError) in
            try unsafe withUnsafeMutablePointer(to: &fragment) { fragmentPointer throws(DecodeError) in
                try unsafe select(frame, link: link, into: packetPointer, selecting: nil, path: &path,
                                  fragment: fragmentPointer, tunnels: tunnels, checks: [])
            }
        }
        switch selected {
        case .tcp, .unselected: return .tcp(packet)
        case .skipped(let reason): return .skipped(reason)
        case .fragment: return .fragment(fragment)
        }
    }

    /// `decode(_:link:)` for a caller that keeps packets in memory of its own: a TCP segment with
    /// either port in `ports` (any port when nil) is written to `packet` (initialized; it holds
    /// only trivial values); anything else leaves `packet` alone. A segment is judged by its ports
    /// only once its header passed every check, so what counts as a decode error does not depend
    /// on the ports. The encapsulation is not returned (the batch decoder returns it).
    package static func decode(_ frame: Span<UInt8>, link: LinkType, into packet: UnsafeMutablePointer<DecodedPacket>,
                               selecting ports: PortSet?) throws(DecodeError) -> Selected {
        var path = Encapsulation()
        var fragment = FragmentHeader.empty
        return try unsafe withUnsafeMutablePointer(to: &fragment) { fragmentPointer throws(DecodeError) in
            try unsafe select(frame, link: link, into: packet, selecting: ports, path: &path, fragment: fragmentPointer,
                              tunnels: .standard, checks: [])
        }
    }

    /// The link and IP layers: where the TCP header is, or why the frame is skipped. The first IP
    /// header is decoded inline; anything inside another protocol (a tunnel), behind another
    /// EtherType (MPLS, PPPoE) is followed out of line.
    @inline(__always)
    static func network(_ frame: Span<UInt8>, link: LinkType, vlans: inout VLANTags, path: inout Encapsulation,
                        tunnels: TunnelPorts) throws(DecodeError) -> IPResult {
        let linkHeader = try LinkLayer.decode(frame, link: link, vlans: &vlans)
        let result: IPResult
        switch linkHeader.network {
        case .skipped(let reason): return .skipped(reason)
        case .notIP:
            guard linkHeader.etherType != 0 else { return .skipped(.notIP) }
            return try Decapsulation.follow(frame, from: .etherType(linkHeader.etherType, offset: linkHeader.networkOffset),
                                            vlans: &vlans, path: &path, tunnels: tunnels)
        case .ipv4: result = try IPv4.decode(frame, at: linkHeader.networkOffset)
        case .ipv6: result = try IPv6.decode(frame, at: linkHeader.networkOffset)
        }
        if case .other(let header, let proto) = result {
            return try Decapsulation.follow(frame, from: .ipPayload(header, protocol: proto), vlans: &vlans,
                                            path: &path, tunnels: tunnels)
        }
        return result
    }

    /// The one decoder of a frame, which the batch decoder runs on each: a selected segment is
    /// written to `packet`, a fragment to `fragment`, and the encapsulations passed to `path`
    /// (left alone, empty, for a frame without any).
    @inline(__always)
    static func select(_ frame: Span<UInt8>, link: LinkType, into packet: UnsafeMutablePointer<DecodedPacket>,
                       selecting ports: PortSet?, path: inout Encapsulation,
                       fragment: UnsafeMutablePointer<FragmentHeader>,
                       tunnels: TunnelPorts, checks: ChecksumChecks) throws(DecodeError) -> Selected {
        var vlans = VLANTags()
        let result = try network(frame, link: link, vlans: &vlans, path: &path, tunnels: tunnels)
        return try unsafe selected(result, frame: frame, vlans: vlans, into: packet, selecting: ports, fragment: fragment,
                                   checks: checks)
    }

    /// `select` for the payload of an IPv4 header at offset 14 of an untagged Ethernet frame,
    /// whose protocol is not TCP: what the batch decoder's inline path hands on (a tunnel, most
    /// likely) without decoding the headers before it again.
    @inline(never)
    static func selectInsideIPv4(_ frame: Span<UInt8>, ip header: IPHeader, protocol proto: UInt8,
                                 into packet: UnsafeMutablePointer<DecodedPacket>, selecting ports: PortSet?,
                                 path: inout Encapsulation, fragment: UnsafeMutablePointer<FragmentHeader>,
                                 tunnels: TunnelPorts, checks: ChecksumChecks) throws(DecodeError) -> Selected {
        var vlans = VLANTags()
        let result = try Decapsulation.follow(frame, from: .ipPayload(header, protocol: proto), vlans: &vlans,
                                              path: &path, tunnels: tunnels)
        return try unsafe selected(result, frame: frame, vlans: vlans, into: packet, selecting: ports, fragment: fragment,
                                   checks: checks)
    }

    /// What `select` makes of the network layers' result.
    @inline(__always)
    private static func selected(_ result: IPResult, frame: Span<UInt8>, vlans: VLANTags,
                                 into packet: UnsafeMutablePointer<DecodedPacket>, selecting ports: PortSet?,
                                 fragment: UnsafeMutablePointer<FragmentHeader>,
                                 checks: ChecksumChecks) throws(DecodeError) -> Selected {
        switch result {
        case .skipped(let reason): return .skipped(reason)
        case .other: return .skipped(.notTCP)
        case .fragment(let header, let nextHeaderField):
            guard let found = Decapsulation.fragment(frame, header: header, nextHeaderField: nextHeaderField) else {
                return .skipped(.fragment)
            }
            unsafe fragment.pointee = found
            unsafe packet.initialize(to: DecodedPacket(source: found.source, destination: found.destination, sourcePort: 0,
                                                       destinationPort: 0, sequence: 0, acknowledgment: 0, flags: [],
                                                       window: 0, payloadStart: 0, payloadEnd: 0, vlans: vlans))
            unsafe packet.pointee.kind = .fragment
            // Each fragment's own IPv4 header: the datagram the defragmenter rebuilds has a
            // header of its making.
            if checks.contains(.ipv4) && header.layer == .ipv4 && !InternetChecksum.ipv4HeaderIsValid(frame, ip: header) {
                unsafe packet.pointee.kind.rawValue |= PacketKind.badIPv4Checksum
            }
            return .fragment
        case .tcp(let header):
            return try unsafe segment(frame, ip: header, vlans: vlans, into: packet, selecting: ports, checks: checks)
                ? .tcp : .unselected
        }
    }

    /// The TCP segment at `header`: checked, then written to `packet` when either port is selected
    /// (true), or only judged by its ports (false). What it throws, `select` throws for the frame.
    ///
    /// The packet is written in place: returned by value, the 88-byte packet was written field by
    /// field into a temporary and read back in 16-byte pieces to be copied, loads the CPU cannot
    /// forward from the narrower stores still in flight. The ports are tested before the packet
    /// is written, so a segment of another port is never written only to be dropped.
    @inline(__always)
    static func segment(_ frame: Span<UInt8>, ip header: IPHeader, vlans: VLANTags,
                        into packet: UnsafeMutablePointer<DecodedPacket>, selecting ports: PortSet?,
                        checks: ChecksumChecks) throws(DecodeError) -> Bool {
        let payloadStart = try TCP.payloadStart(frame, ip: header)
        if let ports {
            let (source, destination) = TCP.ports(frame, ip: header)
            if !ports.contains(source) && !ports.contains(destination) { return false }
        }
        unsafe packet.initialize(to: TCP.packet(frame, ip: header, payloadStart: payloadStart, vlans: vlans))
        // Only selected segments are summed: a segment of another port is dropped anyway, and the
        // sum is a pass over every payload byte. The verdict is only recorded: what a bad sum
        // means (drop, or wait for the peer's acknowledgement) is the engine's to decide.
        if !checks.isEmpty { unsafe markChecksums(frame, ip: header, packet: packet, checks: checks) }
        return true
    }

    /// Adds the checksum verdicts of `checks` to the kind of the segment at `header`.
    @inline(never)
    static func markChecksums(_ frame: Span<UInt8>, ip header: IPHeader, packet: UnsafeMutablePointer<DecodedPacket>,
                              checks: ChecksumChecks) {
        var bits: UInt8 = 0
        if checks.contains(.ipv4) && header.layer == .ipv4 && !InternetChecksum.ipv4HeaderIsValid(frame, ip: header) {
            bits |= PacketKind.badIPv4Checksum
        }
        if checks.contains(.tcp) && !InternetChecksum.tcpIsValid(frame, ip: header) {
            bits |= PacketKind.badTCPChecksum
        }
        unsafe packet.pointee.kind.rawValue |= bits
    }
}
