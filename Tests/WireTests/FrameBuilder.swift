// Builds test frames header by header, so that each sample reads as its stack of layers and the
// expected offsets can be worked out by hand. Lengths and next-header fields are filled in unless a
// test overrides them to build a broken frame.

enum Frame {
    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    static func be32(_ value: UInt32) -> [UInt8] { be16(UInt16(value >> 16)) + be16(UInt16(value & 0xFFFF)) }
    static func le32(_ value: UInt32) -> [UInt8] { be32(value).reversed() }

    static let ipv4Source: [UInt8] = [192, 0, 2, 1]
    static let ipv4Destination: [UInt8] = [198, 51, 100, 7]
    // 2001:db8::1 and 2001:db8:0:1::25
    static let ipv6Source: [UInt8] = [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]
    static let ipv6Destination: [UInt8] = [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x25]

    // MARK: TCP

    /// `options` must be a multiple of 4 bytes; `dataOffset` overrides the computed value.
    static func tcp(sourcePort: UInt16 = 49152, destinationPort: UInt16 = 110,
                    sequence: UInt32 = 0x0102_0304, acknowledgment: UInt32 = 0xA0B0_C0D0,
                    flags: UInt8 = 0x18, window: UInt16 = 0xFAF0, options: [UInt8] = [],
                    dataOffset: UInt8? = nil, payload: [UInt8] = []) -> [UInt8] {
        precondition(options.count % 4 == 0)
        let offset = dataOffset ?? UInt8(5 + options.count / 4)
        return be16(sourcePort) + be16(destinationPort) + be32(sequence) + be32(acknowledgment)
            + [offset << 4, flags] + be16(window) + [0xAB, 0xCD, 0, 0] + options + payload
    }

    // MARK: IP

    /// `options` must be a multiple of 4 bytes. 0x4000 is Don't Fragment.
    static func ipv4(source: [UInt8] = ipv4Source, destination: [UInt8] = ipv4Destination,
                     protocol proto: UInt8 = 6, options: [UInt8] = [], flagsAndOffset: UInt16 = 0x4000,
                     version: UInt8 = 4, headerWords: UInt8? = nil, totalLength: UInt16? = nil,
                     _ payload: [UInt8]) -> [UInt8] {
        precondition(options.count % 4 == 0)
        let words = headerWords ?? UInt8(5 + options.count / 4)
        let total = totalLength ?? UInt16(20 + options.count + payload.count)
        return [version << 4 | words, 0] + be16(total) + [0x12, 0x34] + be16(flagsAndOffset)
            + [64, proto, 0, 0] + source + destination + options + payload
    }

    /// An IPv6 extension header, linked to whatever follows it when the packet is built.
    struct Extension {
        var type: UInt8
        var body: (UInt8) -> [UInt8]

        /// Hop-by-hop, routing, destination options and friends: (units + 1) * 8 bytes.
        static func generic(_ type: UInt8, units: UInt8 = 0) -> Extension {
            Extension(type: type) { next in
                // PadN option filling the rest, so the option area is well formed.
                [next, units, 1, 4 + units * 8] + [UInt8](repeating: 0, count: 4 + Int(units) * 8)
            }
        }
        static func hopByHop(units: UInt8 = 0) -> Extension { generic(0, units: units) }
        static func destinationOptions(units: UInt8 = 0) -> Extension { generic(60, units: units) }
        static func routing(units: UInt8 = 0) -> Extension {
            Extension(type: 43) { next in
                [next, units, 4, 0] + [UInt8](repeating: 0, count: 4 + Int(units) * 8)
            }
        }
        static func fragment(offset: UInt16 = 0, more: Bool = false) -> Extension {
            Extension(type: 44) { next in
                [next, 0] + be16(offset << 3 | (more ? 1 : 0)) + [0xDE, 0xAD, 0xBE, 0xEF]
            }
        }
        /// Authentication header: (words + 2) * 4 bytes.
        static func authentication(words: UInt8 = 4) -> Extension {
            Extension(type: 51) { next in
                [next, words, 0, 0] + be32(0x100) + be32(1)
                    + [UInt8](repeating: 0x5A, count: (Int(words) + 2) * 4 - 12)
            }
        }
    }

    static func ipv6(source: [UInt8] = ipv6Source, destination: [UInt8] = ipv6Destination,
                     extensions: [Extension] = [], next: UInt8 = 6, version: UInt8 = 6,
                     payloadLength: UInt16? = nil, _ payload: [UInt8]) -> [UInt8] {
        var chain: [UInt8] = []
        var following = next
        for ext in extensions.reversed() {
            chain = ext.body(following) + chain
            following = ext.type
        }
        let length = payloadLength ?? UInt16(chain.count + payload.count)
        return [version << 4, 0, 0, 0] + be16(length) + [following, 64] + source + destination
            + chain + payload
    }

    // MARK: Link

    static let destinationMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
    static let sourceMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]

    /// Tags are written outer first: (TPID, TCI).
    static func ethernet(type: UInt16, tags: [(UInt16, UInt16)] = [], _ payload: [UInt8]) -> [UInt8] {
        var frame = destinationMAC + sourceMAC
        for (tpid, tci) in tags { frame += be16(tpid) + be16(tci) }
        return frame + be16(type) + payload
    }

    /// Pads to the 60-byte Ethernet minimum, as a NIC does, with a nonzero filler.
    static func padded(_ frame: [UInt8], to size: Int = 60) -> [UInt8] {
        frame + [UInt8](repeating: 0xEE, count: max(0, size - frame.count))
    }

    /// Linux cooked v1: packet type, ARPHRD, address length, 8 address bytes, protocol.
    static func sll(protocol proto: UInt16, _ payload: [UInt8]) -> [UInt8] {
        be16(0) + be16(1) + be16(6) + sourceMAC + [0, 0] + be16(proto) + payload
    }

    /// Linux cooked v2: protocol, reserved, ifindex, ARPHRD, packet type, address length, address.
    static func sll2(protocol proto: UInt16, _ payload: [UInt8]) -> [UInt8] {
        be16(proto) + be16(0) + be32(3) + be16(1) + [0, 6] + sourceMAC + [0, 0] + payload
    }

    static func null(family: UInt32, littleEndian: Bool, _ payload: [UInt8]) -> [UInt8] {
        (littleEndian ? le32(family) : be32(family)) + payload
    }

    static func loop(family: UInt32, _ payload: [UInt8]) -> [UInt8] { be32(family) + payload }

    // MARK: Payloads

    static let userCommand: [UInt8] = Array("USER alice\r\n".utf8)
    /// MSS 1460, NOP, NOP, SACK permitted, NOP, window scale 7: 12 bytes.
    static let synOptions: [UInt8] = [2, 4, 0x05, 0xB4, 1, 1, 4, 2, 1, 3, 3, 7]
    /// Four NOPs, then Router Alert (RFC 2113): 8 bytes.
    static let ipv4Options: [UInt8] = [1, 1, 1, 1, 0x94, 4, 0, 0]
}
