import Testing
import Wire

// What the decoder records of a tunnelled packet's path, through the batch decoder (the single
// frame entry points do not return it), and the options that turn decapsulation off or add ports.
// Decoding itself, every prefix and byte flips are covered with the other samples (Samples.swift
// includes TunnelSamples).

/// The one packet of a one-frame batch and its encapsulation, or what the batch refused.
func decodeWithPath(_ frame: [UInt8], link: LinkType, tunnels: TunnelPorts = .standard)
    -> (packet: DecodedPacket?, path: Encapsulation?, counts: PacketDecoder.BatchCounts) {
    let buffers = BatchBuffers(1)
    defer { buffers.deallocate() }
    let records = [FrameRecord(start: 0, count: frame.count, time: .zero)]
    let counts = records.withUnsafeBufferPointer { r in
        PacketDecoder.decode(frame.span, records: r, link: link, options: .init(ports: nil, tunnels: tunnels),
                             into: buffers.output)
    }
    guard counts.selected == 1 else { return (nil, nil, counts) }
    let packet = buffers.packets[0]
    return (packet, packet.tunnel != 0 ? buffers.tunnels[0] : nil, counts)
}

@Suite struct TunnelTests {
    @Test(arguments: TunnelSamples.all)
    func pathIsRecorded(_ sample: TunnelSample) {
        let (packet, path, counts) = decodeWithPath(sample.accepted.frame, link: sample.accepted.link)
        guard let packet, let path else {
            Issue.record("no tunnelled segment: \(counts)")
            return
        }
        expectMatches(packet, sample.accepted.expected, frame: sample.accepted.frame)
        let expected = sample.path
        #expect(path.layers == expected.layers)
        #expect(path.outermost == expected.layers.first)
        for kind in EncapsulationKind.allCases {
            #expect(counts.encapsulations[kind] == UInt64(expected.layers.filter { $0 == kind }.count), "\(kind)")
        }
        switch expected.outerIPv4 {
        case nil:
            #expect(!path.hasOuterAddresses)
        case true?:
            #expect(path.hasOuterAddresses && !path.outerSource.isIPv6)
            if expected.layers.first != .gre || expected.layers.count == 1 {
                #expect(path.outerSource == IPAddress(ipv4: 0xCB00_7101) && path.outerDestination == IPAddress(ipv4: 0xCB00_7102))
            }
        case false?:
            #expect(path.hasOuterAddresses && path.outerSource.isIPv6)
            #expect(path.outerSource == IPAddress(ipv6High: 0x2001_0DB8_FFFF_0000, low: 1))
        }
        #expect(path.hasIdentifier == (expected.identifier != nil))
        if let identifier = expected.identifier { #expect(path.identifier == identifier) }
        #expect(path.hasGREKey == (expected.greKey != nil))
        if let key = expected.greKey { #expect(path.greKey == key) }
        #expect(path.labelStack == expected.labels)
    }

    /// The same frames with decapsulation off: skipped, never decoded as something else.
    @Test(arguments: TunnelSamples.all)
    func decapsulationOff(_ sample: TunnelSample) {
        let off = TunnelPorts(enabled: false)
        let (packet, _, counts) = decodeWithPath(sample.accepted.frame, link: sample.accepted.link, tunnels: off)
        #expect(packet == nil && counts.refused == 1)
        #expect(counts.encapsulations == EncapsulationCounts())
    }

    /// A VXLAN port given by option is followed; without it, the datagram is only UDP.
    @Test func extraVXLANPort() {
        let frame = Frame.ethernet(type: 0x0800, Frame.outer4(17, Frame.udp(destinationPort: 9999,
            Frame.vxlan(vni: 12, TunnelSamples.innerEthernet))))
        #expect(decodeWithPath(frame, link: .ethernet).packet == nil)
        let ports = TunnelPorts(vxlan: TunnelPorts.defaultVXLAN.union([9999]))
        let (packet, path, _) = decodeWithPath(frame, link: .ethernet, tunnels: ports)
        #expect(packet?.payloadStart == 104 && path?.identifier == 12)
    }

    /// A fragment inside a tunnel is handed on with the path it came through.
    @Test func fragmentInsideATunnel() {
        let fragment = Frame.ipv4(flagsAndOffset: 0x2000, Samples.tcpUser)
        let frame = Frame.ethernet(type: 0x0800, Frame.outer4(17, Frame.udp(destinationPort: 4789,
            Frame.vxlan(vni: 5, Frame.ethernet(type: 0x0800, fragment)))))
        let buffers = BatchBuffers(1)
        defer { buffers.deallocate() }
        let records = [FrameRecord(start: 0, count: frame.count, time: .zero)]
        let counts = records.withUnsafeBufferPointer { r in
            PacketDecoder.decode(frame.span, records: r, link: .ethernet, options: .init(ports: nil), into: buffers.output)
        }
        #expect(counts.selected == 1 && buffers.packets[0].kind == .tunnelledFragment && buffers.packets[0].tunnel == 1)
        #expect(buffers.tunnels[0].layers == [.vxlan] && buffers.tunnels[0].identifier == 5)
        let header = buffers.fragments[0]
        // Eth 14 | IPv4 20 | UDP 8 | VXLAN 8 | Eth 14 | the fragment's IPv4 header at 64
        #expect(header.ipOffset == 64 && header.ipEnd == 64 + fragment.count && header.moreFragments)
        #expect(header.dataStart == 20 && header.dataEnd == fragment.count && header.fragmentOffset == 0)
    }

    /// The IPv6 Fragment header's fields and the byte that names it.
    @Test func ipv6FragmentHeader() throws {
        let frame = Frame.ipv6(extensions: [.hopByHop(), .fragment(offset: 3, more: true)], Samples.tcpUser)
        guard case .fragment(let header) = try PacketDecoder.decode(frame.span, link: .raw) else {
            Issue.record("not a fragment")
            return
        }
        // IPv6 40 | hop-by-hop 8 | Fragment 8 | data
        #expect(header.isIPv6 && header.headerLength == 48 && header.nextHeaderFieldOffset == 40)
        #expect(header.dataStart == 56 && header.fragmentOffset == 24 && header.moreFragments)
        #expect(header.identification == 0xDEAD_BEEF && header.nextProtocol == 6)
    }
}
