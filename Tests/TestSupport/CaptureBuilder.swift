import Foundation

// Capture files for the reader and end-to-end tests (CaptureTests, EndToEndTests), built or
// taken apart here once.

/// The repository's `fixtures` folder, found from this file's path (Tests/TestSupport/...).
public let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures")

public func fixtureBytes(_ name: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: fixturesDirectory.appendingPathComponent(name)))
}

/// Classic pcap files taken apart and put together again, so tests can damage them precisely.
public struct ClassicPcap {
    public var header: [UInt8]            // 24 bytes, little-endian as every fixture is written
    public var records: [(header: [UInt8], data: [UInt8])]

    /// Splits a little-endian classic pcap (magic a1b2c3d4 or a1b23c4d) into records; nil otherwise.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count >= 24, bytes[0] == 0xD4 || bytes[0] == 0x4D, bytes[1] == 0xC3 || bytes[1] == 0x3C,
              bytes[2] == 0xB2, bytes[3] == 0xA1 else { return nil }
        header = Array(bytes[0..<24])
        records = []
        var i = 24
        while i + 16 <= bytes.count {
            let caplen = Int(ClassicPcap.u32(bytes, i + 8))
            guard i + 16 + caplen <= bytes.count else { return nil }
            records.append((Array(bytes[i..<(i + 16)]), Array(bytes[(i + 16)..<(i + 16 + caplen)])))
            i += 16 + caplen
        }
        guard i == bytes.count else { return nil }
    }

    public init(linkType: UInt32, snaplen: UInt32 = 262_144) {
        header = [0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            + ClassicPcap.le32(snaplen) + ClassicPcap.le32(linkType)
        records = []
    }

    public static func u32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }
    public static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }

    public static func recordHeader(seconds: UInt32, micros: UInt32, caplen: UInt32, length: UInt32) -> [UInt8] {
        le32(seconds) + le32(micros) + le32(caplen) + le32(length)
    }

    public var snaplen: UInt32 {
        get { ClassicPcap.u32(header, 16) }
        set { header.replaceSubrange(16..<20, with: ClassicPcap.le32(newValue)) }
    }

    /// Offsets just past each record: the prefix lengths at which the file ends cleanly.
    public var recordEnds: [Int] {
        var ends: [Int] = []
        var at = 24
        for r in records { at += 16 + r.data.count; ends.append(at) }
        return ends
    }

    public var bytes: [UInt8] { records.reduce(header) { $0 + $1.header + $1.data } }

    /// Every record cut to `snaplen` bytes, as tcpdump -s would have captured it.
    public func cut(to snap: Int) -> ClassicPcap {
        var copy = self
        copy.snaplen = UInt32(snap)
        copy.records = records.map { r in
            let keep = min(snap, r.data.count)
            var h = r.header
            h.replaceSubrange(8..<12, with: ClassicPcap.le32(UInt32(keep)))
            return (h, Array(r.data.prefix(keep)))
        }
        return copy
    }
}
