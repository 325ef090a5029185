import Wire

enum DecoderTarget {
    // Appended, never reordered: a seed's first byte is its link's index here (SeedMaker).
    static let links: [LinkType] = [.ethernet, .null, .loop, .raw, .ipv4, .ipv6, .linuxSLL, .linuxSLL2, .ieee80211, .radiotap]

    static func run(_ data: Span<UInt8>) {
        guard data.count >= 1 else { return }
        let link = links[Int(data[0]) % links.count]
        let frame = data.extracting(1...)
        guard case .tcp(let p) = try? PacketDecoder.decode(frame, link: link) else { return }
        // The offsets are used to slice the frame further up: they must lie inside it.
        precondition(p.payloadStart >= 0 && p.payloadStart <= p.payloadEnd && p.payloadEnd <= frame.count,
                     "payload range outside the frame")
        precondition(p.vlans.count <= 2, "more than two VLAN tags")
    }
}
