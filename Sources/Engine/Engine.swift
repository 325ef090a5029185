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

/// What a frame decoded to, before the engine has counted or handled it.
enum FrameKind {
    /// A TCP segment for the flow table (the packet and its flow hash are beside it).
    case flow
    /// TCP on no selected port.
    case notMailPort
    case skipped(SkipReason)
    case failed(DecodeError)
}

/// Frames decoded ahead of handling, reused for every batch: kept as separate arrays so a
/// 100-byte packet is written once by decoding and read in place when it is handled.
struct DecodedBatch {
    let capacity: Int
    let kinds: UnsafeMutablePointer<FrameKind>
    let packets: UnsafeMutablePointer<DecodedPacket>
    let hashes: UnsafeMutablePointer<UInt64>
    /// Each frame's bytes in the batch's buffer, checked once when it is decoded (empty for a
    /// record outside the buffer).
    let frames: UnsafeMutablePointer<Range<Int>>
    /// Whether each frame is a segment for the flow table (`FrameKind.flow`), for `hashBatch`.
    let selected: UnsafeMutablePointer<Bool>

    init(capacity: Int) {
        self.capacity = capacity
        kinds = .allocate(capacity: capacity)
        kinds.initialize(repeating: .notMailPort, count: capacity)
        packets = .allocate(capacity: capacity)
        hashes = .allocate(capacity: capacity)
        hashes.initialize(repeating: 0, count: capacity)
        frames = .allocate(capacity: capacity)
        frames.initialize(repeating: 0..<0, count: capacity)
        selected = .allocate(capacity: capacity)
        selected.initialize(repeating: false, count: capacity)
    }

    /// `packets` holds only trivial values, so it is never deinitialized.
    func deallocate() {
        kinds.deallocate()
        packets.deallocate()
        hashes.deallocate()
        frames.deallocate()
        selected.deallocate()
    }
}

struct EngineCore {
    var table: FlowTable
    var router: SessionRouter
    /// `EngineConfiguration.prefetchAboveFlows`.
    let prefetchAboveFlows: Int

    /// See `Engine.process(frames:records:link:)`. A mutating method, so `self` is never copied
    /// (a call on the engine's stored struct from outside one copied it, with its arrays).
    mutating func process(frames: Span<UInt8>, records: UnsafeBufferPointer<FrameRecord>, link: LinkType,
                          scratch: DecodedBatch) {
        var done = 0
        while done < records.count {
            let n = min(records.count - done, scratch.capacity)
            // With few flows their state stays in the cache and the hints are only overhead
            // (about 3% of a capture of a few dozen concurrent mail sessions).
            let prefetching = table.activeFlows > prefetchAboveFlows
            for i in 0..<n {
                // A record outside the buffer (not one a reader makes) is counted as a cut frame.
                let kind: FrameKind
                if let range = Self.range(of: records[done + i], in: frames.count) {
                    scratch.frames[i] = range
                    kind = decode(unsafe frames.extracting(unchecked: range), link: link, into: scratch.packets + i)
                } else {
                    scratch.frames[i] = 0..<0
                    kind = .failed(.truncated(.link))
                }
                if case .flow = kind { scratch.selected[i] = true } else { scratch.selected[i] = false }
                scratch.kinds[i] = kind
            }
            table.hashBatch(scratch.packets, selected: scratch.selected, count: n, into: scratch.hashes,
                            prefetch: prefetching)
            // The flow state of a packet a few places ahead is requested while this one is handled:
            // early enough to arrive in time, late enough not to flood the cache's few
            // outstanding-miss slots (requesting a whole batch at once stalled on them).
            if prefetching { for i in 0..<min(n, Self.prefetchDistance) { prefetchFlow(scratch, i) } }
            for i in 0..<n {
                if prefetching && i &+ Self.prefetchDistance < n { prefetchFlow(scratch, i &+ Self.prefetchDistance) }
                // The range was checked against the buffer above: checking it again for every
                // frame was about 20 instructions a packet (callgrind, many-flows).
                handle(scratch.kinds[i], packet: scratch.packets + i, hash: scratch.hashes[i],
                       frame: unsafe frames.extracting(unchecked: scratch.frames[i]), time: records[done + i].time)
            }
            done += n
        }
    }

    static let prefetchDistance = 6

    /// Where `record` lies in a buffer of `count` bytes, or nil when it does not lie inside.
    @inline(__always) static func range(of record: FrameRecord, in count: Int) -> Range<Int>? {
        // As unsigned values a negative start or length is huge and fails the same two tests,
        // which then leave no overflow for the range to check (about 12 instructions a packet).
        let start = UInt(bitPattern: record.start), length = UInt(bitPattern: record.count)
        let total = UInt(bitPattern: count)
        guard start <= total && length <= total &- start else { return nil }
        return Range(uncheckedBounds: (record.start, record.start &+ record.count))
    }

    @inline(__always) private mutating func prefetchFlow(_ scratch: DecodedBatch, _ i: Int) {
        if case .flow = scratch.kinds[i] {
            router.prefetchSession(slot: table.prefetchFlow(hash: scratch.hashes[i]))
        }
    }

    /// One frame, through the first slot of `scratch`.
    mutating func process(frame: Span<UInt8>, time: Timestamp, link: LinkType, scratch: DecodedBatch) {
        let kind = decode(frame, link: link, into: scratch.packets)
        let hash: UInt64
        if case .flow = kind { hash = table.hash(ofPacketAt: scratch.packets) } else { hash = 0 }
        handle(kind, packet: scratch.packets, hash: hash, frame: frame, time: time)
    }

    /// Decodes `frame`; for a segment of a selected flow, stores the packet (its flow hash is
    /// the caller's to compute). Changes nothing else: the counting is done by `handle`, in frame
    /// order.
    @inline(__always)
    mutating func decode(_ frame: Span<UInt8>, link: LinkType, into packet: UnsafeMutablePointer<DecodedPacket>) -> FrameKind {
        do {
            switch try PacketDecoder.decode(frame, link: link, into: packet, selecting: router.selectedPorts) {
            case .tcp: return .flow
            case .unselected: return .notMailPort
            case .skipped(let reason): return .skipped(reason)
            }
        } catch {
            return .failed(error)
        }
    }

    @inline(__always)
    mutating func handle(_ kind: FrameKind, packet: UnsafeMutablePointer<DecodedPacket>, hash: UInt64,
                         frame: Span<UInt8>, time: Timestamp) {
        router.stats.packets &+= 1
        router.stats.bytes &+= UInt64(frame.count)
        switch kind {
        case .flow:
            router.stats.tcpPackets &+= 1
            table.process(packetAt: packet, hash: hash, frame: frame, time: time, handler: &router)
            applyStops()
        case .notMailPort:
            router.stats.tcpPackets &+= 1
            router.stats.notMailPort &+= 1
        case .skipped(let reason):
            router.stats.skipped[reason, default: 0] += 1
        case .failed(.truncated(let layer)):
            router.stats.truncated[layer, default: 0] += 1
        case .failed(.invalid(let layer)):
            router.stats.invalid[layer, default: 0] += 1
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
