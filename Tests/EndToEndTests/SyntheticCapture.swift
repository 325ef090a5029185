import Foundation

/// Captures made from a recorded fixture (classic little-endian microsecond pcap, Ethernet, IPv4):
/// the same session copied many times, each copy a new flow (client port changed) later in time,
/// optionally with bytes of the payload replaced by others of the same length (so sequence
/// numbers stay right; plainsight does not check TCP checksums).
struct SyntheticCapture {
    struct Record {
        var seconds: UInt32
        var microseconds: UInt32
        var frame: [UInt8]
    }

    let header: [UInt8]
    let records: [Record]

    init(fixture: String) throws {
        let bytes = [UInt8](try Data(contentsOf: packageRoot.appendingPathComponent("fixtures/\(fixture)")))
        guard bytes.count >= 24, bytes[0..<4] == [0xD4, 0xC3, 0xB2, 0xA1], bytes[20] == 1 else {
            throw CollectorError("\(fixture): not a little-endian microsecond Ethernet pcap")
        }
        header = Array(bytes[0..<24])
        var records: [Record] = []
        var offset = 24
        while offset + 16 <= bytes.count && records.count < 100_000 {
            let seconds = Self.le32(bytes, offset), micros = Self.le32(bytes, offset + 4)
            let length = Int(Self.le32(bytes, offset + 8))
            guard offset + 16 + length <= bytes.count else { throw CollectorError("\(fixture): truncated record") }
            records.append(Record(seconds: seconds, microseconds: micros, frame: Array(bytes[(offset + 16)..<(offset + 16 + length)])))
            offset += 16 + length
        }
        self.records = records
    }

    /// `copies` back-to-back copies of the session, copy `k` on client port `firstPort + k` and
    /// `k * spacing` seconds later; `clientPort` is the port the fixture's client used. Without the
    /// file header (see `header`), so a test can feed a reader in parts.
    func copies(_ range: Range<Int>, clientPort: UInt16, firstPort: UInt16 = 20000, spacing: UInt32 = 1,
                replacing: (old: [UInt8], new: [UInt8])? = nil) -> Data {
        var out = [UInt8]()
        out.reserveCapacity(range.count * records.reduce(0) { $0 + 16 + $1.frame.count })
        for k in range {
            let port = firstPort &+ UInt16(truncatingIfNeeded: k)
            for record in records {
                var frame = record.frame
                Self.rewritePort(&frame, from: clientPort, to: port)
                if let (old, new) = replacing { Self.replace(&frame, old, new) }
                Self.append32(record.seconds &+ UInt32(k) &* spacing, to: &out)
                Self.append32(record.microseconds, to: &out)
                Self.append32(UInt32(frame.count), to: &out)
                Self.append32(UInt32(frame.count), to: &out)
                out += frame
            }
        }
        return Data(out)
    }

    /// The source or destination TCP port of an Ethernet/IPv4 frame, wherever it equals `old`.
    private static func rewritePort(_ frame: inout [UInt8], from old: UInt16, to new: UInt16) {
        guard frame.count >= 34, frame[12] == 0x08, frame[13] == 0x00, frame[23] == 6 else { return }
        let tcp = 14 + Int(frame[14] & 0x0F) * 4
        guard frame.count >= tcp + 4 else { return }
        for at in [tcp, tcp + 2] where UInt16(frame[at]) << 8 | UInt16(frame[at + 1]) == old {
            frame[at] = UInt8(new >> 8)
            frame[at + 1] = UInt8(new & 0xFF)
        }
    }

    private static func replace(_ frame: inout [UInt8], _ old: [UInt8], _ new: [UInt8]) {
        precondition(old.count == new.count && !old.isEmpty)
        var index = 0
        while index + old.count <= frame.count {
            if Array(frame[index..<(index + old.count)]) == old {
                frame.replaceSubrange(index..<(index + old.count), with: new)
                index += old.count
            } else {
                index += 1
            }
        }
    }

    private static func le32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    private static func append32(_ value: UInt32, to out: inout [UInt8]) {
        out += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)]
    }
}
