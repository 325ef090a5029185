import Foundation
import TestSupport

/// pcapng files written block by block, in either byte order, so tests can build captures with
/// several interfaces and sections and damage them precisely. `blocks` keeps where each block
/// starts.
struct Pcapng {
    var bigEndian = false
    var bytes: [UInt8] = []
    var blocks: [Int] = []

    init(bigEndian: Bool = false) { self.bigEndian = bigEndian }

    func u16(_ v: UInt16) -> [UInt8] {
        let le = [UInt8(v & 0xFF), UInt8(v >> 8)]
        return bigEndian ? le.reversed() : le
    }
    func u32(_ v: UInt32) -> [UInt8] {
        let le = [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
        return bigEndian ? le.reversed() : le
    }
    func u64(_ v: UInt64) -> [UInt8] {
        let le = (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }
        return bigEndian ? le.reversed() : le
    }

    /// One option, its value padded to 4 bytes.
    func option(_ code: UInt16, _ value: [UInt8]) -> [UInt8] {
        u16(code) + u16(UInt16(value.count)) + value + [UInt8](repeating: 0, count: (4 - value.count % 4) % 4)
    }
    var endOfOptions: [UInt8] { u16(0) + u16(0) }

    /// A block: header, body padded to 4 bytes, trailer.
    mutating func block(_ type: UInt32, _ body: [UInt8]) {
        let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
        blocks.append(bytes.count)
        bytes += u32(type) + u32(UInt32(padded.count + 12)) + padded + u32(UInt32(padded.count + 12))
    }

    mutating func section(major: UInt16 = 1, minor: UInt16 = 0, options: [UInt8] = []) {
        block(0x0A0D_0D0A, u32(0x1A2B_3C4D) + u16(major) + u16(minor) + u64(UInt64.max) + options)
    }

    /// An Interface Description Block; `tsresol` nil leaves libpcap's default (microseconds).
    mutating func interface(linktype: UInt16, snaplen: UInt32 = 262_144, tsresol: UInt8? = nil,
                            tsoffset: Int64? = nil, options extra: [UInt8] = []) {
        var options = option(2, Array("if\(blocks.count)".utf8)) + extra
        if let tsresol { options += option(9, [tsresol]) }
        if let tsoffset { options += option(14, u64(UInt64(bitPattern: tsoffset))) }
        block(1, u16(linktype) + u16(0) + u32(snaplen) + options + endOfOptions)
    }

    mutating func enhanced(interface: UInt32, stamp: UInt64, data: [UInt8], wireLength: UInt32? = nil,
                           options: [UInt8] = []) {
        let padded = data + [UInt8](repeating: 0, count: (4 - data.count % 4) % 4)
        block(6, u32(interface) + u32(UInt32(stamp >> 32)) + u32(UInt32(truncatingIfNeeded: stamp))
                 + u32(UInt32(data.count)) + u32(wireLength ?? UInt32(data.count)) + padded + options)
    }

    mutating func simple(data: [UInt8], wireLength: UInt32? = nil) {
        block(3, u32(wireLength ?? UInt32(data.count)) + data)
    }

    /// The obsolete Packet Block.
    mutating func packet(interface: UInt16, stamp: UInt64, data: [UInt8]) {
        let padded = data + [UInt8](repeating: 0, count: (4 - data.count % 4) % 4)
        block(2, u16(interface) + u16(0) + u32(UInt32(stamp >> 32)) + u32(UInt32(truncatingIfNeeded: stamp))
                 + u32(UInt32(data.count)) + u32(UInt32(data.count)) + padded)
    }

    /// Blocks readers skip: name resolution, interface statistics, decryption secrets, custom.
    mutating func otherBlocks() {
        block(4, u16(1) + u16(8) + [192, 0, 2, 10] + Array("mx\0\0".utf8) + u16(0) + u16(0))
        block(5, u32(0) + u32(0) + u32(1) + endOfOptions)
        block(0x0A, u32(0x544C_534B) + u32(4) + [1, 2, 3, 4])
        block(0xBAD, u32(32473) + [9, 9, 9, 9])
    }

    /// A classic capture as one section with one interface: microsecond records keep the default
    /// resolution, nanosecond ones say `if_tsresol` 9.
    static func from(_ classic: ClassicPcap, bigEndian: Bool = false, extras: Bool = false) -> Pcapng {
        var out = Pcapng(bigEndian: bigEndian)
        let nano = classic.header[0] == 0x4D
        out.section()
        if extras { out.otherBlocks() }
        out.interface(linktype: UInt16(ClassicPcap.u32(classic.header, 20)), snaplen: classic.snaplen,
                      tsresol: nano ? 9 : nil)
        for (i, record) in classic.records.enumerated() {
            let seconds = UInt64(ClassicPcap.u32(record.header, 0)), fraction = UInt64(ClassicPcap.u32(record.header, 4))
            let stamp = seconds * (nano ? 1_000_000_000 : 1_000_000) + fraction
            let wire = ClassicPcap.u32(record.header, 12)
            if extras && i % 7 == 3 { out.otherBlocks() }
            if extras && i % 5 == 2 {
                out.packet(interface: 0, stamp: stamp, data: record.data)
            } else {
                out.enhanced(interface: 0, stamp: stamp, data: record.data, wireLength: wire,
                             options: extras && i % 3 == 1 ? out.option(1, Array("comment \(i)".utf8)) + out.endOfOptions : [])
            }
        }
        return out
    }
}

/// Frames of a classic Ethernet capture turned into other link types, for mixed-link files.
enum Relink {
    /// The IP packet behind a 14-byte untagged Ethernet header (LINKTYPE_RAW).
    static func raw(_ ethernet: [UInt8]) -> [UInt8] { Array(ethernet.dropFirst(14)) }

    /// The same packet behind a Linux cooked (SLL) header: received, Ethernet ARPHRD, the source
    /// MAC, the Ethernet type.
    static func sll(_ ethernet: [UInt8]) -> [UInt8] {
        guard ethernet.count >= 14 else { return ethernet }
        return [0, 0, 0, 1, 0, 6] + Array(ethernet[6..<12]) + [0, 0] + Array(ethernet[12..<14]) + Array(ethernet.dropFirst(14))
    }
}
