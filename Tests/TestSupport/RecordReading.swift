import Capture

// What a record reader delivered, for holding plainsight's readers (ClassicPcapRecords,
// PcapngRecords) to libpcap's, record for record and error for error.

/// Everything a reader delivered: each record's time and bytes, how the read ended.
public struct RecordsRead: Equatable {
    public var records: [String] = []
    public var end: ReadEnd?
    public var openFailed = false

    public init(records: [String] = [], end: ReadEnd? = nil, openFailed: Bool = false) {
        self.records = records
        self.end = end
        self.openFailed = openFailed
    }
}

public func readAll(_ reader: PcapFileReader, filter: String? = nil) -> RecordsRead {
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

/// `bytes` read by plainsight's record reader and by libpcap's.
public func readWithBoth(_ bytes: [UInt8], filter: String? = nil) -> (ours: RecordsRead, libpcap: RecordsRead) {
    func open(_ libpcap: Bool) -> RecordsRead {
        guard let reader = try? PcapFileReader(bytes: bytes, name: "records", libpcapRecords: libpcap) else {
            return RecordsRead(openFailed: true)
        }
        return readAll(reader, filter: filter)
    }
    return (open(false), open(true))
}

/// What `readBatches` reported as it went: a line per tick (records read, bytes consumed) and one
/// at the end, for holding a reader's progress to libpcap's.
public struct TickedRead {
    public var log: [String] = []
    /// Records delivered to the batch body in all.
    public var delivered: UInt64 = 0
    /// Ticks at which fewer records had been delivered than read (libpcap hands a record over
    /// after the tick it counts toward; plainsight's readers before it).
    public var ticksBehind = 0
}

/// Reads `reader` with `readBatches`, ticking every `interval` records and stopping at the
/// `stopAt`th tick.
public func tickedRead(_ reader: PcapFileReader, interval: UInt64, stopAt: Int?) -> TickedRead {
    var result = TickedRead()
    var ticks = 0
    let end = reader.readBatches(tickInterval: interval, onTick: {
        ticks += 1
        result.log.append("tick \(reader.recordsRead) \(reader.bytesConsumed ?? -1)")
        if result.delivered != reader.recordsRead { result.ticksBehind += 1 }
        if ticks == stopAt { reader.stop() }
    }) { _, batch in result.delivered += UInt64(batch.count) }
    result.log.append("end \(end) \(reader.recordsRead) \(reader.bytesConsumed ?? -1) \(reader.lastRecordTime?.nanoseconds ?? -1)")
    return result
}
