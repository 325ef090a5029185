import Capture
import Engine
import Wire

/// A whole capture file, read from memory (classic pcap by our reader, other formats by libpcap) and the engine in `--any-port` mode with
/// small caps, so eviction and cap-driven gaps happen within a fuzz input's few kilobytes.
enum EngineTarget {
    static func configuration() -> EngineConfiguration {
        var c = EngineConfiguration()
        c.anyPort = true
        c.reassembly.maxFlows = 8
        c.reassembly.windowBytes = 2048
        c.reassembly.maxHoles = 4
        c.reassembly.memoryBudget = 8192
        c.maxAlertsPerFlow = 4
        c.prefetchAboveFlows = 0  // the batch path's hints run from the first flow
        return c
    }

    static func run(_ data: Span<UInt8>) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.count)
        for i in data.indices { bytes.append(data[i]) }
        guard let reader = try? PcapFileReader(bytes: bytes, name: "fuzz"),
              let link = try? reader.supportedLinkType() else { return }
        var configuration = configuration()
        // The snaplen's second byte picks the checksum mode, so held segments, their release on
        // an acknowledgement and the switch-off by offload are all reached.
        if bytes.count > 17 {
            configuration.checksumValidation = ChecksumValidation.allCases[Int(bytes[17]) % ChecksumValidation.allCases.count]
        }
        var alerts = 0
        let engine = Engine(configuration: configuration) { found in
            alerts += 1
            precondition((found.finding.username?.count ?? 0) <= 256, "username copy unbounded")
        }
        // The snaplen's low bit picks the path: frame by frame (live capture, libpcap formats) or
        // in the batches a replay of a classic pcap file uses.
        let last = reader.feed(engine, link: link, batched: bytes.count > 16 && bytes[16] & 1 == 1).lastTime
        engine.finish(time: last)
        let stats = engine.stats
        precondition(stats.activeFlows == 0, "flows left after finish")
        precondition(stats.reassembly.bufferedBytes == 0, "buffered bytes left after finish")
        precondition(stats.reassembly.peakBufferedBytes <= configuration.reassembly.memoryBudget,
                     "memory budget exceeded")
        precondition(UInt64(alerts) == stats.alerts, "alerts miscounted")
        precondition(stats.checksums.mode == configuration.checksumValidation, "checksum mode not the one asked")
        precondition(configuration.checksumValidation != .off
                         || stats.checksums.ipv4Invalid + stats.checksums.tcpInvalid + stats.checksums.acceptedOnAck == 0,
                     "checksums judged with validation off")
    }
}
