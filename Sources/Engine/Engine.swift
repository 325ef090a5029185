import Alerts
import MailAuth
import Reassembly
import Wire

/// Counters reported in the `stats` event and the summary, in a fixed order.
public struct EngineStats: Sendable {
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public var tcpPackets: UInt64 = 0
    public var notMailPort: UInt64 = 0
    public var skipped: [SkipReason: UInt64] = [:]
    public var truncated: [DecodeLayer: UInt64] = [:]
    public var invalid: [DecodeLayer: UInt64] = [:]
    public var sessions: [MailProtocol: UInt64] = [:]
    public var sessionsEncrypted: UInt64 = 0
    public var flowsIgnored: UInt64 = 0
    public var parserAnomalies: UInt64 = 0
    /// Sessions that shed what they held because the parser memory budget was exhausted.
    public var parserMemoryBudgetHits: UInt64 = 0
    /// The most the parsers held at once, in bytes (as charged to the budget).
    public var parserMemoryPeak: UInt64 = 0
    public var alerts: UInt64 = 0
    public var alertsSuppressed: UInt64 = 0
    public var reassembly = ReassemblyStats()
    public var activeFlows = 0

    public var decodeErrors: UInt64 { truncated.values.reduce(0, +) + invalid.values.reduce(0, +) }

    /// Ordered counters for the `stats` event.
    public func fields() -> [StatField] {
        let layers = DecodeLayer.allCases
        let r = reassembly
        return [
            StatField("packets", packets),
            StatField("bytes", bytes),
            StatField("tcp_packets", tcpPackets),
            StatField("not_mail_port", notMailPort),
            StatField("skipped", .object(SkipReason.allCases.map { StatField($0.rawValue, skipped[$0, default: 0]) })),
            StatField("decode_errors", .object([
                StatField("truncated", .object(layers.map { StatField($0.rawValue, truncated[$0, default: 0]) })),
                StatField("invalid", .object(layers.map { StatField($0.rawValue, invalid[$0, default: 0]) })),
            ])),
            StatField("flows", .object([
                StatField("created", UInt64(r.flowsCreated)),
                StatField("midstream", UInt64(r.flowsMidstream)),
                StatField("ignored", flowsIgnored),
                StatField("closed", .object(CloseReason.allCases.map {
                    StatField($0.rawValue, UInt64(r.flowsClosedByReason[$0]))
                })),
                StatField("packets_without_flow", UInt64(r.packetsWithoutFlow)),
                StatField("evicted_with_data", UInt64(r.evictedWithData)),
            ])),
            StatField("reassembly", .object([
                StatField("retransmitted_segments", UInt64(r.retransmittedSegments)),
                StatField("retransmitted_bytes", UInt64(r.retransmittedBytes)),
                StatField("out_of_order_segments", UInt64(r.outOfOrderSegments)),
                StatField("overlap_conflict_bytes", UInt64(r.overlapConflictBytes)),
                StatField("gaps", UInt64(r.gaps)),
                StatField("gap_bytes", UInt64(r.gapBytes)),
                StatField("window_overflows", UInt64(r.windowOverflows)),
                StatField("hole_limit_hits", UInt64(r.holeLimitHits)),
                StatField("memory_budget_hits", UInt64(r.memoryBudgetHits)),
                StatField("peak_buffered_bytes", UInt64(r.peakBufferedBytes)),
                StatField("retransmission_conflicts", r.retransmissionConflicts),
            ])),
            StatField("sessions", .object(MailProtocol.allCases.map { StatField($0.rawValue, sessions[$0, default: 0]) }
                + [StatField("starttls_upgraded", sessionsEncrypted)])),
            StatField("parser_anomalies", parserAnomalies),
            StatField("parser_memory", .object([
                StatField("budget_hits", parserMemoryBudgetHits),
                StatField("peak_bytes", parserMemoryPeak),
            ])),
            StatField("alerts", alerts),
            StatField("alerts_suppressed", alertsSuppressed),
        ]
    }
}

/// decode -> flows -> parsers -> alerts. One instance per capture thread; not thread-safe.
public final class Engine {
    // All per-packet state sits in one struct, unchecked: a dynamic exclusivity check costs about
    // 80 instructions (callgrind) and was made five times per packet. Safe because the engine is
    // never re-entered: callbacks (`onAlert`, the observer) must not call back into it.
    @exclusivity(unchecked) private var core: EngineCore

    /// Hears about every login and every ended mail session (the exposure inventory). Set it
    /// before the first packet.
    public var observer: (any SessionObserver)? {
        get { core.router.observer }
        set { core.router.observer = newValue }
    }

    public var stats: EngineStats {
        var s = core.router.stats
        let counts = core.router.sessionCounts
        for (proto, count) in [(MailProtocol.pop3, counts.pop3), (.imap, counts.imap), (.smtp, counts.smtp)] where count > 0 {
            s.sessions[proto] = count
        }
        s.reassembly = core.table.stats
        s.parserMemoryBudgetHits = core.router.memory.budgetHits
        s.parserMemoryPeak = UInt64(core.router.memory.peak)
        s.activeFlows = core.table.activeFlows
        return s
    }

    public init(configuration: EngineConfiguration, onAlert: @escaping (Alert) -> Void) {
        var reassembly = configuration.reassembly
        let servicePorts = PortSet(configuration.mailPorts.union(EngineConfiguration.implicitTLSPorts))
        reassembly.isServicePort = { servicePorts.contains($0) }
        core = EngineCore(table: FlowTable(configuration: reassembly),
                          router: SessionRouter(configuration: configuration, slots: reassembly.maxFlows,
                                                onAlert: onAlert),
                          prefetchAboveFlows: configuration.prefetchAboveFlows)
        batch = DecodedBatch(capacity: Self.batchCapacity)
    }

    deinit { batch.deallocate() }

    /// One captured frame, lent for the duration of the call only.
    public func process(frame: Span<UInt8>, time: Timestamp, link: LinkType) {
        core.process(frame: frame, time: time, link: link, scratch: batch)
    }

    /// Frames located by `records` in `frames`, lent for the duration of the call only; the same
    /// as `process(frame:time:link:)` on each in turn.
    ///
    /// Decoding them all first lets the flow table start loading every packet's bucket, then its
    /// flow entry and session, before the first is handled: on a capture of many concurrent flows
    /// those loads were cache misses, each waiting on the one before.
    public func process(frames: Span<UInt8>, records: UnsafeBufferPointer<FrameRecord>, link: LinkType) {
        core.process(frames: frames, records: records, link: link, scratch: batch)
    }

    /// Frames decoded ahead of handling, reused for every batch.
    private let batch: DecodedBatch
    static let batchCapacity = 32

    /// End of input: flush every flow; logins still waiting for a reply get outcome `unknown`.
    public func finish(time: Timestamp?) {
        core.finish(time: time)
    }

    /// No packet, but time has passed (a live capture's read timeout on a quiet link): flows idle
    /// past their timeout are closed as a packet at `time` would close them. Packets drive the same
    /// sweep, so a replay never needs this.
    public func tick(time: Timestamp) {
        core.tick(time: time)
    }
}

/// Frames decoded ahead of handling, reused for every batch: kept as separate arrays so a
/// 100-byte packet is written once by decoding and read in place when it is handled.
struct DecodedBatch {
    let capacity: Int
    /// The batch's segments for the flow table, densely (`PacketDecoder.decode(_:records:...)`).
    let packets: UnsafeMutablePointer<DecodedPacket>
    let hashes: UnsafeMutablePointer<UInt64>
    /// The position of each segment's record in the batch.
    let recordIndices: UnsafeMutablePointer<Int>
    /// Why the frames that are neither a selected segment nor one of another port were dropped.
    let refusals: UnsafeMutablePointer<PacketDecoder.Refusal>

    init(capacity: Int) {
        self.capacity = capacity
        packets = .allocate(capacity: capacity)
        hashes = .allocate(capacity: capacity)
        hashes.initialize(repeating: 0, count: capacity)
        recordIndices = .allocate(capacity: capacity)
        recordIndices.initialize(repeating: 0, count: capacity)
        refusals = .allocate(capacity: capacity)
    }

    /// `packets` and `refusals` hold only trivial values, so they are never deinitialized.
    func deallocate() {
        packets.deallocate()
        hashes.deallocate()
        recordIndices.deallocate()
        refusals.deallocate()
    }
}

struct EngineCore {
    var table: FlowTable
    var router: SessionRouter
    /// `EngineConfiguration.prefetchAboveFlows`.
    let prefetchAboveFlows: Int

    /// See `Engine.process(frames:records:link:)`. A mutating method, so `self` is never copied
    /// (a call on the engine's stored struct from outside one copied it, with its arrays).
    ///
    /// Frames other than selected segments change only counters, so they are counted per batch
    /// and only the segments are handled one by one, in order.
    mutating func process(frames: Span<UInt8>, records: UnsafeBufferPointer<FrameRecord>, link: LinkType,
                          scratch: DecodedBatch) {
        var done = 0
        while done < records.count {
            let n = min(records.count &- done, scratch.capacity)
            let batch = UnsafeBufferPointer(rebasing: records[done ..< done &+ n])
            // With few flows their state stays in the cache and the hints are only overhead
            // (about 3% of a capture of a few dozen concurrent mail sessions).
            let prefetching = table.activeFlows > prefetchAboveFlows
            let counts = PacketDecoder.decode(frames, records: batch, link: link, selecting: router.selectedPorts,
                                              into: scratch.packets, recordIndices: scratch.recordIndices,
                                              refusals: scratch.refusals)
            count(counts, frames: n, refusals: scratch.refusals)
            let m = counts.selected
            table.hashBatch(scratch.packets, count: m, into: scratch.hashes, prefetch: prefetching)
            // The flow state of a packet a few places ahead is requested while this one is handled:
            // early enough to arrive in time, late enough not to flood the cache's few
            // outstanding-miss slots (requesting a whole batch at once stalled on them).
            if prefetching { for j in 0..<min(m, Self.prefetchDistance) { prefetchFlow(scratch, j) } }
            // The packets before this one request the flow state of the one `prefetchDistance`
            // ahead: one comparison a packet where the flag and the distance were tested apart.
            let prefetchBefore = prefetching ? m &- Self.prefetchDistance : 0
            // A segment lies in the buffer, which then has an address. Each is viewed through it:
            // a span extracted from `frames` recomputed its length with an overflow check.
            unsafe frames.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                for j in 0..<m {
                    if j < prefetchBefore { prefetchFlow(scratch, j &+ Self.prefetchDistance) }
                    // The decoder checked the record against the buffer: checking it again for
                    // every frame was about 20 instructions a packet (callgrind, many-flows).
                    let record = batch[scratch.recordIndices[j]]
                    let frame = unsafe Span(_unsafeElements: UnsafeBufferPointer(start: base + record.start,
                                                                                 count: record.count))
                    table.process(packetAt: scratch.packets + j, hash: scratch.hashes[j], frame: frame,
                                  time: record.time, handler: &router)
                    applyStops()
                }
            }
            done &+= n
        }
    }

    static let prefetchDistance = 6

    /// The counters of a batch of `frames` frames that decoded to `counts`: the same as
    /// `process(frame:time:link:scratch:)` makes for each of them.
    @inline(__always)
    private mutating func count(_ counts: PacketDecoder.BatchCounts, frames: Int,
                                refusals: UnsafeMutablePointer<PacketDecoder.Refusal>) {
        router.stats.packets &+= UInt64(truncatingIfNeeded: frames)
        router.stats.bytes &+= counts.bytes
        router.stats.tcpPackets &+= UInt64(truncatingIfNeeded: counts.selected &+ counts.unselected)
        router.stats.notMailPort &+= UInt64(truncatingIfNeeded: counts.unselected)
        for k in 0..<counts.refused { countRefusal(refusals[k]) }
    }

    private mutating func countRefusal(_ refusal: PacketDecoder.Refusal) {
        switch refusal {
        case .skipped(let reason):
            router.stats.skipped[reason, default: 0] += 1
        case .failed(.truncated(let layer)):
            router.stats.truncated[layer, default: 0] += 1
        case .failed(.invalid(let layer)):
            router.stats.invalid[layer, default: 0] += 1
        }
    }

    @inline(__always) private mutating func prefetchFlow(_ scratch: DecodedBatch, _ j: Int) {
        router.prefetchSession(slot: table.prefetchFlow(hash: scratch.hashes[j]))
    }

    /// One frame, through the first slot of `scratch`.
    mutating func process(frame: Span<UInt8>, time: Timestamp, link: LinkType, scratch: DecodedBatch) {
        router.stats.packets &+= 1
        router.stats.bytes &+= UInt64(frame.count)
        do throws(DecodeError) {
            switch try PacketDecoder.decode(frame, link: link, into: scratch.packets, selecting: router.selectedPorts) {
            case .tcp:
                router.stats.tcpPackets &+= 1
                let hash = table.hash(ofPacketAt: scratch.packets)
                table.process(packetAt: scratch.packets, hash: hash, frame: frame, time: time, handler: &router)
                applyStops()
            case .unselected:
                router.stats.tcpPackets &+= 1
                router.stats.notMailPort &+= 1
            case .skipped(let reason):
                countRefusal(.skipped(reason))
            }
        } catch {
            countRefusal(.failed(error))
        }
    }

    mutating func finish(time: Timestamp?) {
        table.flushAll(time: time ?? router.lastTime, handler: &router)
        applyStops()
    }

    mutating func tick(time: Timestamp) {
        table.tick(time: time, handler: &router)
        applyStops()
    }

    /// Parsers that are done (TLS started, or not a mail protocol) stop their flow's buffering.
    private mutating func applyStops() {
        guard !router.stops.isEmpty else { return }
        for slot in router.stops { table.stopBuffering(slot: slot) }
        router.stops.removeAll(keepingCapacity: true)
    }
}
