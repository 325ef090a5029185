import Wire

enum DecoderTarget {
    // Appended, never reordered: a seed's first byte is its link's index here (SeedMaker).
    static let links: [LinkType] = [.ethernet, .null, .loop, .raw, .ipv4, .ipv6, .linuxSLL, .linuxSLL2, .ieee80211, .radiotap]

    static func run(_ data: Span<UInt8>) {
        guard data.count >= 1 else { return }
        let link = links[Int(data[0]) % links.count]
        let frame = data.extracting(1...)
        checkBatchOfOne(frame, link: link)
        guard case .tcp(let p) = try? PacketDecoder.decode(frame, link: link) else { return }
        // The offsets are used to slice the frame further up: they must lie inside it.
        precondition(p.payloadStart >= 0 && p.payloadStart <= p.payloadEnd && p.payloadEnd <= frame.count,
                     "payload range outside the frame")
        precondition(Int(p.vlans.count) <= VLANTags.maxTags, "more VLAN tags than the limit")
    }

    /// `frame` through the engine's batch decoder as a batch of one; `body` gets the counts and
    /// where the decoder wrote the packet, its tunnel path and its fragment header (each written
    /// only when the counts and the packet's kind say so).
    private static func decodeAsBatchOfOne(
        _ frame: Span<UInt8>, link: LinkType, options: PacketDecoder.BatchOptions,
        _ body: (PacketDecoder.BatchCounts, UnsafePointer<DecodedPacket>, UnsafePointer<Encapsulation>,
                 UnsafePointer<FragmentHeader>) -> Void
    ) {
        let packet = UnsafeMutablePointer<DecodedPacket>.allocate(capacity: 1)
        let index = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        let fragment = UnsafeMutablePointer<FragmentHeader>.allocate(capacity: 1)
        let tunnel = UnsafeMutablePointer<Encapsulation>.allocate(capacity: 1)
        let refusal = UnsafeMutablePointer<PacketDecoder.Refusal>.allocate(capacity: 1)
        defer {
            packet.deallocate(); index.deallocate(); fragment.deallocate(); tunnel.deallocate(); refusal.deallocate()
        }
        var record = FrameRecord(start: 0, count: frame.count, time: .zero)
        let counts = withUnsafePointer(to: &record) { r in
            PacketDecoder.decode(frame, records: UnsafeBufferPointer(start: r, count: 1), link: link,
                                 options: options,
                                 into: .init(packets: packet, recordIndices: index, fragments: fragment,
                                             tunnels: tunnel, refusals: refusal))
        }
        body(counts, packet, tunnel, fragment)
    }

    /// The same frame with every checksum verified: the sums (over the payload, the pseudo-header,
    /// the IPv4 header) read only what the decode checked, and add nothing but their two bits.
    private static func checkChecksumsOnlyMark(_ frame: Span<UInt8>, link: LinkType, unchecked: DecodedPacket) {
        decodeAsBatchOfOne(frame, link: link, options: .init(ports: nil, checksums: .all)) { counts, packet, _, _ in
            precondition(counts.selected == 1, "verifying checksums changed what was selected")
            let p = packet.pointee
            precondition(p.kind.withoutChecksums == unchecked.kind, "verifying checksums changed the packet's kind")
            precondition(p.payloadStart == unchecked.payloadStart && p.payloadEnd == unchecked.payloadEnd
                             && p.sequence == unchecked.sequence && p.source == unchecked.source,
                         "verifying checksums changed the packet")
            precondition(!p.kind.hasBadTCPChecksum || !p.kind.isFragment, "a TCP verdict on a fragment")
        }
    }

    /// The frame as the engine decodes it, a batch of one: what it writes for a segment, a
    /// fragment or a tunnel must describe bytes inside the frame, within the layer limit.
    private static func checkBatchOfOne(_ frame: Span<UInt8>, link: LinkType) {
        decodeAsBatchOfOne(frame, link: link, options: .init(ports: nil)) { counts, packet, tunnel, fragment in
            precondition(counts.selected + counts.refused + counts.unselected == 1, "a frame counted other than once")
            guard counts.selected == 1 else { return }
            let p = packet.pointee
            checkChecksumsOnlyMark(frame, link: link, unchecked: p)
            if p.tunnel != 0 {
                let path = tunnel.pointee
                precondition(path.count > 0 && Int(path.count) <= Encapsulation.maxLayers, "layers beyond the limit")
                precondition(Int(path.labelCount) <= Encapsulation.maxLabels, "labels beyond the limit")
            }
            if p.kind.isFragment {
                let f = fragment.pointee
                precondition(f.ipOffset >= 0 && f.ipOffset < f.ipEnd && f.ipEnd <= frame.count, "fragment outside the frame")
                precondition(0 < f.headerLength && f.headerLength <= f.dataStart && f.dataStart <= f.dataEnd
                                 && f.dataEnd == f.ipEnd - f.ipOffset, "fragment data outside its packet")
                precondition(!f.isIPv6 || f.nextHeaderFieldOffset < f.headerLength, "next-header byte outside the header")
            } else {
                precondition(p.payloadStart >= 0 && p.payloadStart <= p.payloadEnd && p.payloadEnd <= frame.count,
                             "payload range outside the frame")
            }
        }
    }
}
