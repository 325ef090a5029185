// Tunnels, label stacks and IP fragments: everything past the fast path's Ethernet/IP/TCP.
//
// The fast path (`PacketDecoder.network`) decodes the link and the first IP header inline and
// calls here only when what it found is not TCP: a frame of plain mail traffic never enters this
// file. From here decoding re-enters the link and IP decoders at the inner header, as often as
// the packet nests (bounded by `Encapsulation.maxLayers`), recording each layer in the packet's
// `Encapsulation`. A new encapsulation is one more case in `Decapsulation.follow`: find where its
// payload starts and what the payload is (an EtherType, an Ethernet header, an IP header), push
// its kind, and continue.
//
// Every header is checked against the bytes the enclosing layer declares before it is read:
// `view` is the frame cut at the end the innermost enclosing IP, UDP or PPPoE length declares, so
// an inner header that claims more than its tunnel carries fails here and never reaches TCP.

/// Where decoding goes on.
enum Resume {
    /// An EtherType the fast path does not take, whose payload starts at `offset`.
    case etherType(UInt16, offset: Int)
    /// An Ethernet header.
    case ethernet(offset: Int)
    case ipv4(offset: Int)
    case ipv6(offset: Int)
    /// The payload of an unfragmented IP packet of protocol `protocol`.
    case ipPayload(IPHeader, protocol: UInt8)
    case mpls(offset: Int)
    case pppoe(offset: Int)
}

enum Decapsulation {
    /// Follows `start` to the innermost TCP header, or to why there is none. Never returns
    /// `.other`: a protocol that carries no tunnel is skipped as not TCP.
    @inline(never)
    static func follow(_ frame: Span<UInt8>, from start: Resume, vlans: inout VLANTags, path: inout Encapsulation,
                       tunnels: TunnelPorts) throws(DecodeError) -> IPResult {
        guard tunnels.enabled else {
            if case .ipPayload = start { return .skipped(.notTCP) }
            return .skipped(.notIP)
        }
        var view = frame
        // The end the innermost enclosing header declares (none yet); `view` is cut there or
        // shorter, where the capture ends first. Past `declared` is the sender's lie (invalid),
        // past the view only a snaplen cut (truncated).
        var declared = Int.max
        var next = start
        // Each step either returns or moves inwards; a layer is at most four steps (EtherType,
        // Ethernet, IP, payload), so this bounds a loop the layer limit already bounds.
        for _ in 0 ..< 4 * (Encapsulation.maxLayers + 2) {
            switch next {
            case .etherType(let type, let offset):
                switch type {
                case 0x8847, 0x8848: next = .mpls(offset: offset)
                case 0x8864: next = .pppoe(offset: offset)
                default: return .skipped(.notIP)
                }

            case .ethernet(let offset):
                guard view.count - offset >= 14 else { throw .truncated(.link) }
                // Safe: the 14-byte header was just checked against the view.
                let header = try LinkLayer.etherType(view, type: unsafe view.u16(unchecked: offset &+ 12),
                                                     offset: offset &+ 14, vlans: &vlans)
                switch header.network {
                case .skipped(let reason): return .skipped(reason)
                case .ipv4: next = .ipv4(offset: header.networkOffset)
                case .ipv6: next = .ipv6(offset: header.networkOffset)
                case .notIP: next = .etherType(header.etherType, offset: header.networkOffset)
                }

            case .ipv4(let offset):
                let result = try IPv4.decode(view, at: offset)
                guard case .other(let header, let proto) = result else { return try inside(result, declared: declared) }
                next = .ipPayload(header, protocol: proto)

            case .ipv6(let offset):
                let result = try IPv6.decode(view, at: offset)
                guard case .other(let header, let proto) = result else { return try inside(result, declared: declared) }
                next = .ipPayload(header, protocol: proto)

            case .ipPayload(let ip, let proto):
                // What the IP header declares bounds everything inside it.
                let end = min(ip.end, declared)
                let isIPv6 = ip.layer == .ipv6
                switch proto {
                case 4, 41:
                    let kind: EncapsulationKind = proto == 4 ? (isIPv6 ? .fourInSix : .ipip)
                                                             : (isIPv6 ? .sixInSix : .sixInFour)
                    guard enter(kind, &path, view, ip: ip) else { return .skipped(.tooManyLayers) }
                    cut(&view, &declared, to: end)
                    next = proto == 4 ? .ipv4(offset: ip.transportOffset) : .ipv6(offset: ip.transportOffset)
                case 47:
                    let gre = try GRE.decode(view, at: ip.transportOffset, end: end)
                    guard let inner = gre.inner else { return .skipped(gre.skip) }
                    // Plain GRE's identifier is its key; ERSPAN's is its session id, the key aside.
                    guard enter(gre.kind, &path, view, ip: ip, identifier: gre.identifier,
                                greKey: gre.kind == .gre ? nil : gre.key) else {
                        return .skipped(.tooManyLayers)
                    }
                    cut(&view, &declared, to: end)
                    next = inner
                case 17:
                    let udpHeader = ip.transportOffset
                    try requireHeader(end: udpHeader + 8, declaredEnd: end, captured: view.count, layer: .udp)
                    // Safe: the 8-byte UDP header was just checked against the view.
                    let destination = unsafe view.u16(unchecked: udpHeader &+ 2)
                    if tunnels.vxlan.contains(destination) {
                        // VXLAN, the commonest mirror feed, decoded here rather than through
                        // `UDPTunnel` and its returned step.
                        let length = Int(unsafe view.u16(unchecked: udpHeader &+ 4))
                        guard length >= 8, udpHeader + length <= end else { throw .invalid(.udp) }
                        let vxlan = udpHeader &+ 8
                        try requireHeader(end: vxlan + 8, declaredEnd: udpHeader + length, captured: view.count,
                                          layer: .vxlan)
                        // Safe: the 8-byte VXLAN header was just checked against the view. The I
                        // flag says the VNI is valid (RFC 7348 5); other flags are ignored.
                        guard unsafe view.u8(unchecked: vxlan) & 0x08 != 0 else { return .skipped(.unsupportedTunnel) }
                        guard enter(.vxlan, &path, view, ip: ip, identifier: unsafe view.u32(unchecked: vxlan &+ 4) >> 8)
                        else { return .skipped(.tooManyLayers) }
                        cut(&view, &declared, to: udpHeader + length)
                        let inner = vxlan &+ 8
                        // An untagged IPv4 frame inside, nearly every one of a feed: straight to
                        // its IP header rather than round the loop twice. Safe: the 14-byte
                        // Ethernet header is checked against the view first.
                        if view.count - inner >= 14, unsafe view.u16(unchecked: inner &+ 12) == 0x0800 {
                            let result = try IPv4.decode(view, at: inner &+ 14)
                            guard case .other(let header, let proto) = result else {
                                return try inside(result, declared: declared)
                            }
                            next = .ipPayload(header, protocol: proto)
                            continue
                        }
                        next = .ethernet(offset: inner)
                        continue
                    }
                    guard let udp = try UDPTunnel.decode(view, at: udpHeader, end: end, ports: tunnels) else {
                        return .skipped(.notTCP)
                    }
                    guard let inner = udp.inner else { return .skipped(udp.skip) }
                    guard enter(udp.kind, &path, view, ip: ip, identifier: udp.identifier) else {
                        return .skipped(.tooManyLayers)
                    }
                    cut(&view, &declared, to: udp.end)
                    next = inner
                default:
                    return .skipped(.notTCP)
                }

            case .mpls(let offset):
                guard enter(.mpls, &path, view, ip: nil) else { return .skipped(.tooManyLayers) }
                let outermost = path.isOutermost
                var cursor = offset
                var labels = 0
                while true {
                    guard view.count - cursor >= 4 else { throw .truncated(.mpls) }
                    let entry = view.u32(cursor)
                    if outermost { path.appendLabel(entry >> 12) }
                    cursor += 4
                    labels += 1
                    if entry & 0x100 != 0 { break }       // bottom of stack
                    // RFC 3032 sets no limit; real stacks hold a handful.
                    guard labels < 16 else { throw .invalid(.mpls) }
                }
                guard view.count - cursor >= 1 else { throw .truncated(.mpls) }
                // No field names the payload: the first nibble tells IP apart, and 0 is a
                // pseudowire control word (RFC 4385) before an Ethernet frame. An Ethernet
                // pseudowire without one begins with a MAC address and cannot be told apart.
                switch view.u8(cursor) >> 4 {
                case 4: next = .ipv4(offset: cursor)
                case 6: next = .ipv6(offset: cursor)
                case 0:
                    guard view.count - cursor >= 4 else { throw .truncated(.mpls) }
                    next = .ethernet(offset: cursor + 4)
                default: return .skipped(.notIP)
                }

            case .pppoe(let offset):
                guard view.count - offset >= 8 else { throw .truncated(.pppoe) }
                // Version 1, type 1, code 0: session data (RFC 2516). Discovery uses 0x8863.
                guard view.u8(offset) == 0x11, view.u8(offset + 1) == 0 else { throw .invalid(.pppoe) }
                let session = UInt32(view.u16(offset + 2))
                let length = Int(view.u16(offset + 4))
                guard length >= 2 else { throw .invalid(.pppoe) }
                guard enter(.pppoe, &path, view, ip: nil, identifier: session) else { return .skipped(.tooManyLayers) }
                cut(&view, &declared, to: offset + 6 + length)
                // Protocol-field compression (RFC 1661 6.5) sends odd values in one byte.
                let first = view.u8(offset + 6)
                let proto = first & 1 == 1 ? UInt16(first) : view.u16(offset + 6)
                let payload = offset + (first & 1 == 1 ? 7 : 8)
                switch proto {
                case 0x0021: next = .ipv4(offset: payload)
                case 0x0057: next = .ipv6(offset: payload)
                default: return .skipped(.notIP)
                }
            }
        }
        return .skipped(.tooManyLayers)
    }

    /// A result of an inner IP decoder: a TCP header must end where its tunnel says.
    private static func inside(_ result: IPResult, declared: Int) throws(DecodeError) -> IPResult {
        switch result {
        case .tcp(let header), .fragment(let header, _):
            if header.end > declared { throw .invalid(header.layer) }
        case .skipped, .other:
            break
        }
        return result
    }

    /// Cuts the view at `end` (a length the enclosing header declared).
    @inline(__always)
    private static func cut(_ view: inout Span<UInt8>, _ declared: inout Int, to end: Int) {
        declared = min(declared, end)
        if declared < view.count { view = view.extracting(0 ..< max(0, declared)) }
    }

    /// Records a layer, with its outer addresses and identifiers when it is the outermost. Every
    /// detail is written then, present or not, so a path is reset by its layer count alone
    /// (`Encapsulation.reset`).
    @inline(__always)
    private static func enter(_ kind: EncapsulationKind, _ path: inout Encapsulation, _ frame: Span<UInt8>,
                              ip: IPHeader?, identifier: UInt32? = nil, greKey: UInt32? = nil) -> Bool {
        guard path.push(kind) else { return false }
        guard path.isOutermost else { return true }
        if let ip {
            (path.outerSource, path.outerDestination) = ip.addresses(frame)
        } else {
            path.outerSource = IPAddress(ipv4: 0)
            path.outerDestination = IPAddress(ipv4: 0)
        }
        path.hasOuterAddresses = ip != nil
        path.identifier = identifier ?? 0
        path.hasIdentifier = identifier != nil
        path.greKey = greKey ?? 0
        path.hasGREKey = greKey != nil
        path.labels = (0, 0, 0, 0)
        path.labelCount = 0
        return true
    }

    /// The fragment the IP layer found at `header`, for the defragmenter; nil when it cannot be
    /// reassembled (cut by the snaplen) or carries nothing plainsight reads.
    static func fragment(_ frame: Span<UInt8>, header: IPHeader, nextHeaderField: Int) -> FragmentHeader? {
        // A fragment cut by the snaplen can never complete its datagram.
        guard header.end <= frame.count, header.end > header.offset else { return nil }
        let base = header.offset
        let (source, destination) = header.addresses(frame)
        if header.layer == .ipv4 {
            let flags = frame.u16(base + 6)
            let proto = frame.u8(base + 9)
            guard carriesTraffic(proto) else { return nil }
            return FragmentHeader(ipOffset: base, ipEnd: header.end, isIPv6: false, source: source,
                                  destination: destination, identification: UInt32(frame.u16(base + 4)),
                                  nextProtocol: proto, fragmentOffset: Int(flags & 0x1FFF) * 8,
                                  moreFragments: flags & 0x2000 != 0, headerLength: header.transportOffset - base,
                                  nextHeaderFieldOffset: 0, dataStart: header.transportOffset - base,
                                  dataEnd: header.end - base)
        }
        // The IPv6 decoder checked the 8-byte Fragment header at `transportOffset`.
        let at = header.transportOffset
        let proto = frame.u8(at)
        guard carriesTraffic(proto), at + 8 <= header.end else { return nil }
        let field = frame.u16(at + 2)
        return FragmentHeader(ipOffset: base, ipEnd: header.end, isIPv6: true, source: source,
                              destination: destination, identification: frame.u32(at + 4), nextProtocol: proto,
                              fragmentOffset: Int(field & 0xFFF8), moreFragments: field & 1 != 0,
                              headerLength: at - base, nextHeaderFieldOffset: nextHeaderField - base,
                              dataStart: at + 8 - base, dataEnd: header.end - base)
    }

    /// Whether a fragment of `proto` may hold what plainsight reads: TCP, or a tunnel around it.
    /// ICMP, ESP and the like are never reassembled, so a flood of them costs nothing.
    private static func carriesTraffic(_ proto: UInt8) -> Bool {
        switch proto {
        case 1, 50, 58, 59: return false
        default: return true
        }
    }
}

/// What a tunnel header decoded to.
struct TunnelStep {
    var kind: EncapsulationKind
    /// Where decoding goes on; nil when the tunnel carries nothing decodable (`skip` says why).
    var inner: Resume?
    var skip: SkipReason = .notIP
    var identifier: UInt32?
    var key: UInt32?
    /// One past the tunnel's payload.
    var end: Int
}

/// GRE (RFC 2784, with RFC 2890's key and sequence number) and the ERSPAN headers it carries.
enum GRE {
    static func decode(_ frame: Span<UInt8>, at offset: Int, end: Int) throws(DecodeError) -> TunnelStep {
        try requireHeader(end: offset + 4, declaredEnd: end, captured: frame.count, layer: .gre)
        let flags = frame.u16(offset)
        let proto = frame.u16(offset + 2)
        var step = TunnelStep(kind: .gre, end: end)
        // Version 1 is PPTP's enhanced GRE; the routing bit belongs to RFC 1701's obsolete
        // source routing. Neither carries a mirror feed.
        guard flags & 0x0007 == 0, flags & 0x4000 == 0 else { step.skip = .unsupportedTunnel; return step }
        var length = 4
        if flags & 0x8000 != 0 { length += 4 }                          // checksum and reserved
        var key: UInt32?
        if flags & 0x2000 != 0 {
            try requireHeader(end: offset + length + 4, declaredEnd: end, captured: frame.count, layer: .gre)
            key = frame.u32(offset + length)
            length += 4
        }
        let hasSequence = flags & 0x1000 != 0
        if hasSequence { length += 4 }
        let payload = offset + length
        try requireHeader(end: payload, declaredEnd: end, captured: frame.count, layer: .gre)
        step.key = key
        step.identifier = key
        switch proto {
        case 0x6558: step.inner = .ethernet(offset: payload)
        case 0x0800: step.inner = .ipv4(offset: payload)
        case 0x86DD: step.inner = .ipv6(offset: payload)
        case 0x8847, 0x8848: step.inner = .mpls(offset: payload)
        case 0x88BE:
            // ERSPAN type II has a sequence number and an 8-byte header; type I (no sequence
            // number, no header) is not decoded.
            guard hasSequence else { step.skip = .unsupportedTunnel; return step }
            try requireHeader(end: payload + 8, declaredEnd: end, captured: frame.count, layer: .erspan)
            guard frame.u8(payload) >> 4 == 1 else { step.skip = .unsupportedTunnel; return step }
            step.kind = .erspan2
            step.identifier = UInt32(frame.u16(payload + 2) & 0x03FF)
            step.inner = .ethernet(offset: payload + 8)
        case 0x22EB:
            // ERSPAN type III: a 12-byte header, then an 8-byte platform-specific sub-header when
            // its O bit is set; the frame type says Ethernet (0) or IP (2).
            try requireHeader(end: payload + 12, declaredEnd: end, captured: frame.count, layer: .erspan)
            guard frame.u8(payload) >> 4 == 2 else { step.skip = .unsupportedTunnel; return step }
            step.kind = .erspan3
            step.identifier = UInt32(frame.u16(payload + 2) & 0x03FF)
            let word = frame.u16(payload + 10)
            let inner = payload + 12 + (word & 1 != 0 ? 8 : 0)
            try requireHeader(end: inner, declaredEnd: end, captured: frame.count, layer: .erspan)
            switch (word >> 10) & 0x1F {
            case 0: step.inner = .ethernet(offset: inner)
            case 2:
                try requireHeader(end: inner + 1, declaredEnd: end, captured: frame.count, layer: .erspan)
                switch frame.u8(inner) >> 4 {
                case 4: step.inner = .ipv4(offset: inner)
                case 6: step.inner = .ipv6(offset: inner)
                default: step.skip = .notIP
                }
            default: step.skip = .unsupportedTunnel
            }
        default:
            step.skip = .notIP
        }
        return step
    }
}

/// Tunnels over UDP, by destination port: Geneve (RFC 8926) and GTP-U (3GPP TS 29.281). VXLAN,
/// the commonest, is decoded in `Decapsulation.follow` itself, before this is asked.
enum UDPTunnel {
    /// nil when the datagram is on neither a Geneve nor a GTP-U port.
    static func decode(_ frame: Span<UInt8>, at offset: Int, end: Int,
                       ports: TunnelPorts) throws(DecodeError) -> TunnelStep? {
        try requireHeader(end: offset + 8, declaredEnd: end, captured: frame.count, layer: .udp)
        let destination = frame.u16(offset + 2)
        let isGeneve = ports.geneve.contains(destination)
        guard isGeneve || ports.gtpu.contains(destination) else { return nil }
        let length = Int(frame.u16(offset + 4))
        // The UDP length bounds the tunnel; 0 is a UDP/IPv6 jumbogram, never ours.
        guard length >= 8, offset + length <= end else { throw .invalid(.udp) }
        let udpEnd = offset + length
        let header = offset + 8
        if isGeneve {
            var step = TunnelStep(kind: .geneve, end: udpEnd)
            try requireHeader(end: header + 8, declaredEnd: udpEnd, captured: frame.count, layer: .geneve)
            let first = frame.u8(header)
            guard first >> 6 == 0 else { step.skip = .unsupportedTunnel; return step }
            let payload = header + 8 + Int(first & 0x3F) * 4
            try requireHeader(end: payload, declaredEnd: udpEnd, captured: frame.count, layer: .geneve)
            step.identifier = frame.u32(header + 4) >> 8
            // The O bit marks a control message, whose payload is not a tenant's traffic.
            if frame.u8(header + 1) & 0x80 != 0 { step.skip = .notIP; return step }
            switch frame.u16(header + 2) {
            case 0x6558: step.inner = .ethernet(offset: payload)
            case 0x0800: step.inner = .ipv4(offset: payload)
            case 0x86DD: step.inner = .ipv6(offset: payload)
            default: step.skip = .notIP
            }
            return step
        }
        var step = TunnelStep(kind: .gtpu, end: udpEnd)
        try requireHeader(end: header + 8, declaredEnd: udpEnd, captured: frame.count, layer: .gtpu)
        let flags = frame.u8(header)
        // Version 1 with the protocol-type bit (GTP, not GTP'); only G-PDUs (255) carry user data.
        guard flags >> 5 == 1, flags & 0x10 != 0, frame.u8(header + 1) == 0xFF else {
            step.skip = .unsupportedTunnel
            return step
        }
        let gtpEnd = header + 8 + Int(frame.u16(header + 2))
        guard gtpEnd <= udpEnd else { throw .invalid(.gtpu) }
        step.end = gtpEnd
        step.identifier = frame.u32(header + 4)
        var cursor = header + 8
        if flags & 0x07 != 0 {
            // Sequence number, N-PDU number and next extension type, present if any flag is set.
            try requireHeader(end: cursor + 4, declaredEnd: gtpEnd, captured: frame.count, layer: .gtpu)
            var extensionType = frame.u8(cursor + 3)
            cursor += 4
            var extensions = 0
            while extensionType != 0 {
                extensions += 1
                guard extensions <= 8 else { throw .invalid(.gtpu) }
                try requireHeader(end: cursor + 1, declaredEnd: gtpEnd, captured: frame.count, layer: .gtpu)
                let units = Int(frame.u8(cursor))
                guard units > 0 else { throw .invalid(.gtpu) }
                try requireHeader(end: cursor + units * 4, declaredEnd: gtpEnd, captured: frame.count, layer: .gtpu)
                extensionType = frame.u8(cursor + units * 4 - 1)
                cursor += units * 4
            }
        }
        try requireHeader(end: cursor + 1, declaredEnd: gtpEnd, captured: frame.count, layer: .gtpu)
        switch frame.u8(cursor) >> 4 {
        case 4: step.inner = .ipv4(offset: cursor)
        case 6: step.inner = .ipv6(offset: cursor)
        default: step.skip = .notIP
        }
        return step
    }
}

// Checked reads for the tunnel decoders: they run only for tunnelled frames, so a bounds check on
// each field costs nothing that matters, and a header miscounted here traps instead of reading
// past the frame.
extension Span where Element == UInt8 {
    func u8(_ offset: Int) -> UInt8 { self[offset] }
    func u16(_ offset: Int) -> UInt16 { UInt16(self[offset]) << 8 | UInt16(self[offset + 1]) }
    func u32(_ offset: Int) -> UInt32 { UInt32(u16(offset)) << 16 | UInt32(u16(offset + 2)) }
}
