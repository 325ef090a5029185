import Capture
import Foundation
import Testing
import TestSupport
import Wire

// plainsight reads classic pcap records itself (ClassicPcapRecords) and leaves pcapng and older
// formats to libpcap. These tests hold the two readers to the same output, record for record and
// error for error, on every fixture, byte-swapped and microsecond variants, damaged files, and a
// file large enough that records straddle the reader's buffer refills.

/// The same capture written in the other byte order (as a big-endian machine writes it).
func byteSwapped(_ bytes: [UInt8]) -> [UInt8] {
    var out = bytes
    func swap(_ at: Int, _ width: Int) { out[at..<(at + width)].reverse() }
    swap(0, 4); swap(4, 2); swap(6, 2); swap(8, 4); swap(12, 4); swap(16, 4); swap(20, 4)
    var i = 24
    while i + 16 <= bytes.count {
        let caplen = Int(ClassicPcap.u32(bytes, i + 8))
        for field in 0..<4 { swap(i + 4 * field, 4) }
        i += 16 + caplen
    }
    return out
}

@Suite("classic pcap record reader")
struct ClassicPcapReaderTests {
    static let fixtures: [String] = {
        let dir = fixturesDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".pcap") }.sorted()
    }()

    /// The read loops hold the compiled filter while they run: a filter set from inside a read
    /// is refused, and the read goes on with the one it started with.
    @Test func theFilterCannotChangeDuringARead() throws {
        for (name, libpcap) in [("pop3-user-pass.pcap", false), ("pop3-user-pass.pcap", true),
                                ("smtp-auth-login-ir-ng.pcapng", false)] {
            let bytes = try fixtureBytes(name)
            let expected = readWithBoth(bytes, filter: "tcp").ours
            let reader = try PcapFileReader(bytes: bytes, name: name, libpcapRecords: libpcap)
            try reader.setFilter("tcp")
            var refused = 0, delivered = 0
            let end = reader.read { _, _ in
                delivered += 1
                do { try reader.setFilter("udp") } catch { refused += 1 }
            }
            #expect(end == expected.end, "\(name) libpcap \(libpcap)")
            #expect(delivered == expected.records.count && delivered > 0, "\(name) libpcap \(libpcap)")
            #expect(refused == delivered, "\(name) libpcap \(libpcap)")
            try reader.setFilter("udp")     // accepted again once the read is over
        }
    }

    @Test func everyFixtureAndItsByteSwappedTwin() throws {
        #expect(Self.fixtures.count > 40)
        var classic = 0
        for name in Self.fixtures {
            let bytes = try fixtureBytes(name)
            guard ClassicPcap(bytes) != nil else { continue }
            classic += 1
            for (label, variant) in [("native", bytes), ("swapped", byteSwapped(bytes))] {
                let (ours, libpcap) = readWithBoth(variant)
                #expect(!ours.records.isEmpty, "\(name) \(label)")
                #expect(ours == libpcap, "\(name) \(label)")
            }
            let (ours, libpcap) = readWithBoth(bytes, filter: "tcp port 25 or tcp port 110")
            #expect(ours == libpcap, "\(name) filtered")
        }
        #expect(classic > 40)
    }

    @Test func damagedFilesEndAtTheSameRecordWithTheSameMessage() throws {
        let whole = try fixtureBytes("pop3-user-pass.pcap")
        let parsed = try #require(ClassicPcap(whole))
        for length in 24...whole.count {
            let (ours, libpcap) = readWithBoth(Array(whole.prefix(length)))
            #expect(ours == libpcap, "prefix \(length)")
        }
        // Captured lengths around the snapshot (96 here) and libpcap's maximum, with and without
        // the bytes behind them.
        var small = parsed
        small.snaplen = 96
        let body = small.header + small.records.flatMap { $0.header + $0.data }
        let at = 24 + 16 + parsed.records[0].data.count  // the second record's header
        for caplen: UInt32 in [0, 95, 96, 97, 200, 4096, 262_144, 262_145, 0x7FFF_FFFF, 0xFFFF_FFFF] {
            for extra in [0, 50, 300_000] {
                var damaged = body
                damaged.replaceSubrange((at + 8)..<(at + 12), with: ClassicPcap.le32(caplen))
                damaged += [UInt8](repeating: 0x41, count: extra)
                let (ours, libpcap) = readWithBoth(damaged)
                #expect(ours == libpcap, "caplen \(caplen) extra \(extra): \(ours.end as Any) vs \(libpcap.end as Any)")
            }
            // The file ends inside that record: before, at and past the snapshot.
            var damaged = body
            damaged.replaceSubrange((at + 8)..<(at + 12), with: ClassicPcap.le32(caplen))
            for kept in [0, 10, 95, 96, 97, 150] where at + 16 + kept <= damaged.count {
                let (ours, libpcap) = readWithBoth(Array(damaged.prefix(at + 16 + kept)))
                #expect(ours.end == libpcap.end, "caplen \(caplen) cut after \(kept): \(ours.end as Any) vs \(libpcap.end as Any)")
                #expect(ours == libpcap, "caplen \(caplen) cut after \(kept)")
            }
        }
        // Seeded flips in the record headers and the file header's snaplen and version.
        var seed: UInt64 = 0x5EED
        func next() -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int(seed >> 33) }
        let headerOffsets = [16, 17, 18, 19, 4, 6] + parsed.recordEnds.dropLast().flatMap { end in (0..<16).map { end + $0 } }
        for _ in 0..<400 {
            var damaged = whole
            let offset = headerOffsets[next() % headerOffsets.count]
            damaged[offset] ^= UInt8(1 << (next() % 8))
            let (ours, libpcap) = readWithBoth(damaged)
            #expect(ours == libpcap, "flip at \(offset)")
        }
    }

    /// A file of a few MiB read from disk, so records straddle the 512 KiB buffer: records of
    /// every size up to libpcap's maximum, a snapshot shorter than some of them, microseconds,
    /// both byte orders, and the same file cut inside its last records.
    @Test func largeFileFromDiskMatchesLibpcap() throws {
        var capture = ClassicPcap(linkType: 1, snaplen: 200_000)
        var sizes: [Int] = []
        var s: UInt64 = 7
        for i in 0..<3000 {
            s = s &* 6364136223846793005 &+ 1
            let size = i % 500 == 7 ? 262_144 : i % 97 == 3 ? 150_000 + Int(s >> 50) : Int(s >> 53)
            sizes.append(size)
        }
        for (i, size) in sizes.enumerated() {
            let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ i) }
            capture.records.append((ClassicPcap.recordHeader(seconds: 1_700_000_000 + UInt32(i), micros: UInt32(i * 7 % 1_000_000),
                                                             caplen: UInt32(size), length: UInt32(size + 4)), data))
        }
        let bytes = capture.header + capture.records.flatMap { $0.header + $0.data }
        #expect(bytes.count > 4 * ClassicPcapRecordsBufferBytes)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-records-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (label, variant) in [("native", bytes), ("swapped", byteSwapped(bytes))] {
            for cut in [variant.count, variant.count - 1, variant.count - 150_000, variant.count - 262_150] {
                let file = dir.appendingPathComponent("\(label)-\(cut).pcap")
                try Data(variant.prefix(cut)).write(to: file)
                let reader = try PcapFileReader(path: file.path)
                let ours = readAll(reader)
                let libpcap = readWithBoth(Array(variant.prefix(cut))).libpcap
                #expect(ours.records.count == libpcap.records.count, "\(label) cut \(cut)")
                #expect(ours == libpcap, "\(label) cut \(cut): \(ours.end as Any) vs \(libpcap.end as Any)")
                if cut == variant.count {
                    #expect(ours.end == .endOfFile)
                    #expect(ours.records.count == sizes.count)
                    #expect(reader.bytesConsumed == Int64(cut))
                } else {
                    guard case .error? = ours.end else { Issue.record("\(label) cut \(cut) read cleanly"); continue }
                }
            }
        }
    }
}

extension ClassicPcapReaderTests {
    /// A FIFO (what `-r <(tcpdump -w - ...)` hands over) cannot be read with pread: libpcap reads
    /// it from its first byte, and the records are the same.
    @Test func fifoIsReadByLibpcap() throws {
        let bytes = try fixtureBytes("pop3-user-pass.pcap")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-fifo-\(getpid())").path
        unlink(path)
        try #require(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        let writer = Thread {
            guard let handle = FileHandle(forWritingAtPath: path) else { return }
            handle.write(Data(bytes))
            try? handle.close()
        }
        writer.start()
        let ours = readAll(try PcapFileReader(path: path))
        let libpcap = readWithBoth(bytes).libpcap
        #expect(ours == libpcap)
        #expect(ours.records.count > 10)
    }
}

extension ClassicPcapReaderTests {
    /// Progress sees the same counts and bytes at every tick from both readers, and a stop
    /// requested at a tick ends the read at the same record and time: our reader takes buffered
    /// records a batch at a time, libpcap's one at a time. Ours has delivered every record read by
    /// a tick (libpcap's ticks before delivering and timing the record). Read from memory and,
    /// so that refills end batches, from a file several buffers long.
    @Test func ticksAndStopsMatchLibpcap() throws {
        var capture = ClassicPcap(linkType: 1, snaplen: 1000)
        for i in 0..<2500 {
            let size = (i &* 7919) % 1500
            capture.records.append((ClassicPcap.recordHeader(seconds: 1_700_000_000 + UInt32(i / 100), micros: UInt32(i * 13),
                                                             caplen: UInt32(size), length: UInt32(size + 4)),
                                    (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ i) }))
        }
        let bytes = capture.header + capture.records.flatMap { $0.header + $0.data }
        #expect(bytes.count > 3 * ClassicPcapRecordsBufferBytes)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-ticks-\(getpid()).pcap")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        func run(_ source: String, interval: UInt64, stopAt: Int?) throws -> [String] {
            let reader = source == "file" ? try PcapFileReader(path: file.path)
                : try PcapFileReader(bytes: bytes, name: "records", libpcapRecords: source == "libpcap")
            let read = tickedRead(reader, interval: interval, stopAt: stopAt)
            if source != "libpcap" { #expect(read.ticksBehind == 0) }
            #expect(read.delivered == reader.recordsRead)
            return read.log
        }
        for interval: UInt64 in [1, 2, 3, 7, 31, 32, 33, 100, 4096] {
            for stopAt in [nil, 1, 2, 3] {
                let libpcap = try run("libpcap", interval: interval, stopAt: stopAt)
                #expect(libpcap.count == min(stopAt ?? .max, 2500 / Int(interval)) + 1)
                for source in ["memory", "file"] {
                    let ours = try run(source, interval: interval, stopAt: stopAt)
                    #expect(ours == libpcap, "\(source) interval \(interval) stop at \(stopAt as Any)")
                }
            }
        }
    }
}

/// ClassicPcapRecords.bufferBytes, which the test target cannot see.
let ClassicPcapRecordsBufferBytes = 512 * 1024
