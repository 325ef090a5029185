import Capture

// What a record reader delivered, for comparing plainsight's readers with libpcap's
// (PcapngReaderTests). CaptureTests has the same helpers for the classic pcap reader's tests.

/// Everything a reader delivered: each record's time and bytes, how the read ended.
struct RecordsRead: Equatable {
    var records: [String] = []
    var end: ReadEnd?
    var openFailed = false
}

func readAll(_ reader: PcapFileReader, filter: String? = nil) -> RecordsRead {
    var result = RecordsRead()
    if let filter { try? reader.setFilter(filter) }
    result.end = reader.read { frame, time in
        // FNV-1a of the bytes: records of up to 256 KiB, thousands of them.
        var digest: UInt64 = 0xCBF2_9CE4_8422_2325
        for i in 0..<frame.count { digest = (digest ^ UInt64(frame[i])) &* 0x100_0000_01B3 }
        result.records.append("\(time.nanoseconds) \(frame.count) \(digest)")
    }
    return result
}

func readWithBoth(_ bytes: [UInt8], filter: String? = nil) -> (ours: RecordsRead, libpcap: RecordsRead) {
    func open(_ libpcap: Bool) -> RecordsRead {
        guard let reader = try? PcapFileReader(bytes: bytes, name: "records", libpcapRecords: libpcap) else {
            return RecordsRead(openFailed: true)
        }
        return readAll(reader, filter: filter)
    }
    return (open(false), open(true))
}
