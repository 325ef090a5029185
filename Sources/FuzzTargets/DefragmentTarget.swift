import Reassembly
import Wire

/// Fragments of sixteen datagrams (four identifications, IPv4 or IPv6, two contexts) into a
/// defragmenter of four datagrams, eight fragments each, a 2 KiB budget and a 5 s timeout, so
/// eviction, the budget, timeouts, overlaps and refusals are all reachable from a few dozen bytes.
/// Byte 0 picks the policy (modulo 3). Then each fragment is four bytes:
/// 0: identification (bits 0-1), IPv6 (2), more fragments (3), context (4), header shape (5-6:
///    IPv4 0, 1, 2 or 10 option words; IPv6 a Hop-by-Hop header before the Fragment header when
///    bit 5 is set), expire after adding (7);
/// 1: offset in 8-byte units; 2: data length;
/// 3: which copy of the bytes (bits 0-1: the datagram's own, or XORed with 0x5A, 0xA5, 0xFF),
///    time step in units of 250 ms (bits 2-7).
/// Promises checked: held bytes and the peak within the budget, pending within maxDatagrams, and
/// every completed datagram a consistent unfragmented packet of the same key, whose length is the
/// end some "last" fragment of that key declared and whose every byte some fragment of that key
/// carried at that offset.
enum DefragmentTarget {
    static let masks: [UInt8] = [0, 0x5A, 0xA5, 0xFF]
    static let maxEnd = 2040 + 255

    static func configuration(_ selector: UInt8) -> DefragmentConfiguration {
        var c = DefragmentConfiguration()
        c.policy = DefragmentPolicy.allCases[Int(selector) % DefragmentPolicy.allCases.count]
        c.memoryBudget = 2048
        c.timeout = 5_000_000_000
        c.maxDatagrams = 4
        c.maxFragmentsPerDatagram = 8
        return c
    }

    /// Byte `k` of datagram `key`'s own copy.
    static func pattern(_ key: Int, _ k: Int) -> UInt8 { UInt8(truncatingIfNeeded: k &* 29 &+ key &* 71 &+ 3) }

    static let source4 = IPAddress(ipv4: 0x0A00_0001), destination4 = IPAddress(ipv4: 0x0A00_0002)
    static let source6 = IPAddress(ipv6High: 0xFD00_0000_0000_0000, low: 1)
    static let destination6 = IPAddress(ipv6High: 0xFD00_0000_0000_0000, low: 2)

    static func run(_ data: Span<UInt8>) {
        guard data.count >= 1 else { return }
        let configuration = configuration(data[0])
        var defragmenter = IPDefragmenter(configuration: configuration)
        // Per key: which copies (bit per mask) some fragment carried at each offset, and which ends
        // a "last" fragment declared.
        var carried = [[UInt8]](repeating: [UInt8](repeating: 0, count: maxEnd), count: 16)
        var declaredEnds = [Set<Int>](repeating: [], count: 16)
        var time: Int64 = 1_700_000_000_000_000_000
        var packet: [UInt8] = []
        var completions: UInt64 = 0
        var i = 1
        while i + 4 <= data.count {
            let b0 = data[i], b1 = data[i + 1], b2 = data[i + 2], b3 = data[i + 3]
            i += 4
            let id = Int(b0 & 3), isIPv6 = b0 & 4 != 0, more = b0 & 8 != 0, context = UInt64(b0 >> 4 & 1)
            let shape = Int(b0 >> 5 & 3)
            let key = id + (isIPv6 ? 4 : 0) + Int(context) * 8
            let offset = Int(b1) * 8, length = Int(b2)
            let maskIndex = Int(b3 & 3)
            time += Int64(b3 >> 2) * 250_000_000

            let fragment = build(&packet, key: key, id: id, isIPv6: isIPv6, more: more, context: context,
                                 shape: shape, offset: offset, length: length, mask: masks[maskIndex])
            for k in offset..<(offset + length) { carried[key][k] |= 1 << maskIndex }
            if !more { declaredEnds[key].insert(offset + length) }

            let result = packet.withUnsafeBufferPointer {
                defragmenter.add(fragment, packet: $0.span, time: Timestamp(nanoseconds: time))
            }
            if result == .completed {
                completions += 1
                let atomic = offset == 0 && !more
                defragmenter.withCompleted { bytes, completedContext in
                    precondition(completedContext == context, "completed with another context")
                    let payloadStart = check(bytes, isIPv6: isIPv6, id: id)
                    let payloadLength = bytes.count - payloadStart
                    if atomic {
                        precondition(payloadLength == length, "an atomic fragment changed length")
                    } else {
                        precondition(declaredEnds[key].contains(payloadLength), "a length no last fragment declared")
                    }
                    for k in 0..<payloadLength {
                        let byte = bytes[payloadStart + k]
                        let fromSome = (0..<4).contains { m in
                            carried[key][k] & (1 << m) != 0 && byte == pattern(key, k) ^ masks[m]
                        }
                        precondition(fromSome, "a byte no fragment of this datagram carried")
                    }
                }
            } else {
                let lent = defragmenter.withCompleted { bytes, _ in bytes.count }
                precondition(lent == 0, "bytes lent without a completed datagram")
            }
            if b0 & 0x80 != 0 { defragmenter.expire(now: Timestamp(nanoseconds: time)) }
            checkBounds(defragmenter.stats, configuration)
            precondition(defragmenter.stats.reassembled == completions, "reassembled miscounted")
        }
        defragmenter.flush()
        let s = defragmenter.stats
        checkBounds(s, configuration)
        precondition(s.pending == 0 && s.heldBytes == 0, "datagrams left after flush")
    }

    static func checkBounds(_ s: DefragmentStats, _ c: DefragmentConfiguration) {
        precondition(s.heldBytes <= UInt64(c.memoryBudget), "memory budget exceeded")
        precondition(s.peakBytes <= UInt64(c.memoryBudget), "peak over the memory budget")
        precondition(s.pending >= 0 && s.pending <= c.maxDatagrams, "more datagrams than allowed")
    }

    /// Checks a completed datagram's header; returns where its payload starts.
    static func check(_ p: Span<UInt8>, isIPv6: Bool, id: Int) -> Int {
        if isIPv6 {
            precondition(p.count >= 40 && p[0] >> 4 == 6, "not an IPv6 packet")
            precondition(Int(p[4]) << 8 | Int(p[5]) == p.count - 40, "IPv6 payload length")
            if p[6] == 0 {
                precondition(p.count >= 48 && p[40] == 6, "Hop-by-Hop next header")
                return 48
            }
            precondition(p[6] == 6, "next header not the fragment's")
            return 40
        }
        precondition(p.count >= 20 && p[0] >> 4 == 4, "not an IPv4 packet")
        let headerLength = Int(p[0] & 0x0F) * 4
        precondition(headerLength >= 20 && p.count >= headerLength, "IPv4 header length")
        precondition(Int(p[2]) << 8 | Int(p[3]) == p.count, "IPv4 total length")
        precondition(p[6] & 0x3F == 0 && p[7] == 0, "MF or offset left set")
        precondition(Int(p[4]) << 8 | Int(p[5]) == id && p[9] == 6, "identification or protocol")
        var sum: UInt32 = 0
        for k in stride(from: 0, to: headerLength, by: 2) { sum += UInt32(p[k]) << 8 | UInt32(p[k + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        precondition(sum == 0xFFFF, "IPv4 header checksum")
        return headerLength
    }

    /// Writes the fragment's packet into `packet` and describes it as the decoder would.
    static func build(_ packet: inout [UInt8], key: Int, id: Int, isIPv6: Bool, more: Bool, context: UInt64,
                      shape: Int, offset: Int, length: Int, mask: UInt8) -> IPFragment {
        packet.removeAll(keepingCapacity: true)
        let headerLength: Int
        let dataStart: Int
        var nextHeaderFieldOffset = 0
        if isIPv6 {
            let hopByHop = shape & 1 != 0
            headerLength = hopByHop ? 48 : 40
            dataStart = headerLength + 8
            nextHeaderFieldOffset = hopByHop ? 40 : 6
            let payloadLength = dataStart - 40 + length
            packet += [0x60, 0, 0, 0, UInt8(payloadLength >> 8), UInt8(payloadLength & 0xFF), hopByHop ? 0 : 44, 64]
            for a in [source6, destination6] {
                for shift in stride(from: 56, through: 0, by: -8) { packet.append(UInt8(truncatingIfNeeded: a.high >> UInt64(shift))) }
                for shift in stride(from: 56, through: 0, by: -8) { packet.append(UInt8(truncatingIfNeeded: a.low >> UInt64(shift))) }
            }
            if hopByHop { packet += [44, 0, 1, 4, 0, 0, 0, 0] }
            let field = offset | (more ? 1 : 0)
            packet += [6, 0, UInt8(field >> 8), UInt8(field & 0xFF), 0, 0, 0, UInt8(id)]
        } else {
            headerLength = 20 + 4 * [0, 1, 2, 10][shape]
            dataStart = headerLength
            let total = headerLength + length
            let field = offset / 8 | (more ? 0x2000 : 0)
            packet += [UInt8(0x40 | headerLength / 4), 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, UInt8(id),
                       UInt8(field >> 8), UInt8(field & 0xFF), 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]
            packet += [UInt8](repeating: 1, count: headerLength - 20)
        }
        for k in offset..<(offset + length) { packet.append(pattern(key, k) ^ mask) }
        return IPFragment(isIPv6: isIPv6, source: isIPv6 ? source6 : source4,
                          destination: isIPv6 ? destination6 : destination4, identification: UInt32(id),
                          nextProtocol: 6, offset: offset, moreFragments: more, headerLength: headerLength,
                          nextHeaderFieldOffset: nextHeaderFieldOffset, dataStart: dataStart,
                          dataEnd: dataStart + length, context: context)
    }
}
