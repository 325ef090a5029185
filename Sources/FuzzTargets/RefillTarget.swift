import Capture
import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A classic pcap file read twice through the shipped batch loop (`readBatches`): once from
/// memory, where every record is in the buffer from the start, and once from a file through the
/// buffered window, each read cut short to 1 ... N bytes so that refills split record headers and
/// data at every place. Both must give the same records, bytes, times and numbers, and end the
/// same way; the memory read is the reference the file read is held to.
///
/// Input: byte 0 the largest read (1 to 256 bytes), byte 1 the seed of the read sizes, byte 2
/// the tick interval (1 to 256 records: a tick ends a batch), the rest the capture file.
enum RefillTarget {
    static let parameterBytes = 3

    struct Record: Equatable {
        var number: UInt64
        var time: Timestamp
        var bytes: [UInt8]
    }

    struct Outcome: Equatable {
        var records: [Record] = []
        var end: ReadEnd?
        var consumed: Int64?
    }

    static func run(_ data: Span<UInt8>) {
        guard data.count > parameterBytes else { return }
        let largest = Int(data[0]) + 1, seed = UInt64(data[1]), tick = UInt64(data[2]) + 1
        var file: [UInt8] = []
        file.reserveCapacity(data.count - parameterBytes)
        for i in parameterBytes..<data.count { file.append(data[i]) }

        // libpcap checks the file header either way; a header it refuses in memory leaves nothing to
        // compare (from a path, compressed-looking bytes would go to a decompressor first).
        guard let fromMemory = try? PcapFileReader(bytes: file, name: "fuzz") else { return }
        let path = "/tmp/plainsight-fuzz-refill-\(getpid()).pcap"
        guard writeFile(file, to: path) else { fatalError("refill target: cannot write \(path)") }
        defer { unlink(path) }
        guard let fromFile = try? PcapFileReader(path: path) else {
            fatalError("refill target: libpcap accepted the header in memory but not from a file")
        }
        guard fromMemory.linkType != nil, fromMemory.linkType == fromFile.linkType else { return }
        // Only a classic pcap file of a supported link type is read by ClassicPcapRecords.
        guard fromFile.cutReads(ShortReads(largest: largest, seed: seed)) else { return }

        let expected = outcome(fromMemory, tick: tick)
        let got = outcome(fromFile, tick: tick)
        if got != expected {
            let common = min(got.records.count, expected.records.count)
            let first = (0..<common).first { got.records[$0] != expected.records[$0] } ?? common
            fatalError("refill target: reads of at most \(largest) bytes differ from memory at record \(first + 1): "
                       + "\(got.records.count) records, end \(String(describing: got.end)), "
                       + "consumed \(String(describing: got.consumed)) against \(expected.records.count), "
                       + "\(String(describing: expected.end)), \(String(describing: expected.consumed))")
        }
    }

    static func outcome(_ reader: PcapFileReader, tick: UInt64) -> Outcome {
        var out = Outcome()
        out.end = reader.readBatches(tickInterval: tick) { frames, batch in
            for record in batch {
                let frame = frames.extracting(record.start..<(record.start + record.count))
                var bytes: [UInt8] = []
                bytes.reserveCapacity(frame.count)
                for i in frame.indices { bytes.append(frame[i]) }
                out.records.append(Record(number: record.number, time: record.time, bytes: bytes))
            }
        }
        out.consumed = reader.bytesConsumed
        return out
    }

    static func writeFile(_ bytes: [UInt8], to path: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { all in
                all.baseAddress.map { write(descriptor, $0 + done, all.count - done) } ?? -1
            }
            if n <= 0 { return false }
            done += n
        }
        return true
    }
}
