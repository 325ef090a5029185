import CPrefetch
import Wire

/// Per-slot flow state (the half-streams live in `FlowTable.halves`, two per slot).
///
/// The flags sit right after `info`, in its tail, and the 4-byte fields after the hash: 96 bytes,
/// so an entry spans two cache lines of the 64-aligned storage where the 112 of declaration
/// order spanned three half of the time (many-flows: every packet reads its entry).
struct FlowEntry {
    var info: FlowInfo
    var inUse = false
    var hasClientISN = false
    /// Some segment carried payload (selects idle versus handshake timeout; allows reuse).
    var carriedData = false
    /// `stopBuffering` was called: deliver nothing more, keep tracking until the end.
    var stopped = false
    var hash: UInt64 = 0
    /// Position in `FlowTable.active`.
    var activePosition: Int32 = -1
    var clientISN: UInt32 = 0

    init(info: FlowInfo, hash: UInt64 = 0, activePosition: Int32 = -1, inUse: Bool = false) {
        self.info = info
        self.hash = hash
        self.activePosition = activePosition
        self.inUse = inUse
    }
}

/// The bounded flow table and TCP stream reassembler.
///
/// Flows live in `maxFlows` preallocated slots; an open-addressing index (linear probing,
/// backward-shift deletion, load at most 1/2, grown by doubling) maps the canonical bidirectional
/// key to a slot with a seeded multiply-fold hash of the inline fields (`flowHash`). In-order payload is handed to the handler
/// straight from the caller's frame; only data ahead of a hole is copied, into a per-direction
/// list of runs bounded by `windowBytes`, `maxHoles` and the global `memoryBudget`. A hole
/// becomes a gap when the peer ACKs past it (Suricata `CheckGap`), when a cap is hit (gopacket
/// flushes the smallest sequence), or when the flow closes. All time is packet time.
public struct FlowTable {
    public let configuration: ReassemblyConfiguration
    public internal(set) var stats = ReassemblyStats()
    /// The capture's number for the packet being processed (0: none, or not kept), set by the
    /// caller before `process`; bytes buffered from it carry it to their delivery.
    public var packetNumber: UInt64 = 0

    /// Grown one slot at a time up to `maxFlows` (the capacity is reserved at once but not
    /// touched): filling 65,536 entries and their half-streams up front was 19 MiB of page faults
    /// before the first packet, 8 ms of every run.
    var flows: SlotArray<FlowEntry>
    /// Two per slot: `2 * slot` client to server, `2 * slot + 1` server to client.
    var halves: SlotArray<HalfStream>
    /// Maps a flow's hash to its slot (`FlowIndex`). It starts small and doubles whenever the
    /// flows would fill more than half of it, up to twice `maxFlows` (rounded to a power of two):
    /// sized for 65,536 flows from the start it would be 512 KiB, and with a few hundred flows
    /// every lookup's bucket would sit on a line of its own, evicted between two packets of a
    /// flow by the payload streaming through the cache.
    let index: FlowIndex
    static let initialBuckets = 1024
    /// Slots freed by closed flows, reused last-freed first; slots never used are taken from
    /// `flows.count` upwards once none is free.
    var freeSlots: SlotArray<Int32>
    /// Slots in use, dense, for eviction probes and `flushAll`.
    var active: SlotArray<Int32>
    var nextFlowID: UInt64 = 1
    var nextSweep: Int64 = .min
    var evictionCursor = 0
    /// The sweep's list of expired flows, kept for its capacity.
    var scratchExpired: [(id: UInt64, slot: Int32)] = []
    /// Emptied buffers of delivered runs and released run lists, kept for the next ones: under
    /// policy `ack` every mail flow buffers its login exchange, and allocating a run's bytes and
    /// a direction's run list for each flow was two allocations a flow more than before.
    var spareBytes: [[UInt8]] = []
    var spareRuns: [[BufferedRun]] = []
    static let maxSpares = 64
    /// A spare buffer larger than this is freed rather than kept.
    static let maxSpareCapacity = 4096
    /// Random per table (`flowHash`).
    let hashSeed: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    static let sweepInterval: Int64 = 1_000_000_000

    /// What a slot not holding a flow carries.
    static let unusedInfo = FlowInfo(id: 0, client: IPAddress(ipv4: 0), clientPort: 0, server: IPAddress(ipv4: 0),
                                     serverPort: 0, vlans: VLANTags(), midstream: false,
                                     firstSeen: .zero, lastSeen: .zero)

    public init(configuration: ReassemblyConfiguration) {
        var configuration = configuration
        // The index's tags hold 32 bits of home index (`FlowIndex`): far above any real table.
        configuration.maxFlows = min(max(1, configuration.maxFlows), 1 << 30)
        configuration.windowBytes = max(0, configuration.windowBytes)
        configuration.maxHoles = max(0, configuration.maxHoles)
        configuration.memoryBudget = max(0, configuration.memoryBudget)
        configuration.evictionProbe = max(1, configuration.evictionProbe)
        self.configuration = configuration
        var random = SystemRandomNumberGenerator()
        hashSeed = (random.next(), random.next(), random.next(), random.next(), random.next(), random.next())
        let n = configuration.maxFlows
        flows = SlotArray(capacity: n)
        halves = SlotArray(capacity: 2 * n)
        var size = 16
        while size < 2 * n { size <<= 1 }
        index = FlowIndex(initialSize: min(size, FlowTable.initialBuckets), maxSize: size)
        // Fixed stacks, not arrays: each push and pop on an array asks the runtime whether its
        // buffer is shared, a call on every flow opened and closed.
        freeSlots = SlotArray(capacity: n)
        active = SlotArray(capacity: n)
    }

    /// Flows currently tracked.
    public var activeFlows: Int { active.count }

    /// Where the entry of `slot` is, checked once against the count: the entry and its two
    /// half-streams are then addressed through it and `halves.baseAddress + 2 * slot` (the storage
    /// never moves, and `2 * slot + 1` is below the half-streams' count whenever `slot` is below
    /// the flows').
    @inline(__always) func entryAddress(_ slot: Int) -> UnsafeMutablePointer<FlowEntry> {
        precondition(UInt(bitPattern: slot) < UInt(bitPattern: flows.count), "flow slot out of range")
        return unsafe flows.baseAddress + slot
    }

    /// The flow in `slot`, if one is tracked there.
    public func flowInfo(slot: Int) -> FlowInfo? {
        guard slot >= 0 && slot < flows.count && flows[slot].inUse else { return nil }
        return flows[slot].info
    }

    // MARK: - Packet path

    /// Feeds one decoded TCP segment. `frame` is the whole frame the packet was decoded from; the
    /// payload is `frame[packet.payloadStart..<packet.payloadEnd]`.
    /// Standalone, the table keeps its own idle clock: the sweep runs here as `tick` runs it.
    public mutating func process<H: StreamHandler>(_ packet: DecodedPacket, frame: Span<UInt8>, time: Timestamp,
                                                   handler: inout H) {
        tick(time: time, handler: &handler)
        let hash = flowHash(packet)
        // The pointer is to the argument and lives for the call only.
        unsafe withUnsafePointer(to: packet) { unsafe process(packetAt: $0, hash: hash, frame: frame, time: time, handler: &handler) }
    }

    /// `process` for a packet the caller keeps in memory of its own, its `hash(ofPacketAt:)`
    /// already known: passed by value across the module boundary, the 88-byte packet would be
    /// copied into a temporary at every call.
    ///
    /// No idle sweep runs here: the caller's clock runs it (`expire(time:handler:)`), so that
    /// every stage with timeouts ages by the same packet clock.
    package mutating func process<H: StreamHandler>(packetAt pointer: UnsafePointer<DecodedPacket>, hash: UInt64,
                                                    frame: Span<UInt8>, time: Timestamp, handler: inout H) {

        // The fields used on every packet, read in place (the packet is only copied to create a
        // flow).
        // Safe: the caller lends an initialized packet for the whole call.
        var payloadStart = unsafe pointer.pointee.payloadStart
        var payloadEnd = unsafe pointer.pointee.payloadEnd
        if payloadStart < 0 || payloadEnd > frame.count || payloadStart > payloadEnd {
            payloadStart = 0; payloadEnd = 0  // inconsistent offsets: use the header only
        }
        let hasPayload = payloadEnd > payloadStart
        let flags = unsafe pointer.pointee.flags
        let sequenceNumber = unsafe pointer.pointee.sequence, acknowledgment = unsafe pointer.pointee.acknowledgment
        let syn = flags.contains(.syn), ack = flags.contains(.ack)
        let rst = flags.contains(.rst), fin = flags.contains(.fin)

        let found = unsafe lookup(pointer, hash: hash)
        var slot = found >> 1
        var direction: Direction = found & 1 == 0 ? .clientToServer : .serverToClient
        var justCreated = false

        if found < 0 {
            if rst {
                stats.packetsWithoutFlow += 1
                return
            }
            let packet = unsafe pointer.pointee
            if syn {
                slot = createFromSYN(packet, ack: ack, hash: hash, time: time, handler: &handler)
            } else if hasPayload && configuration.midstream {
                let server = midstreamServerIsDestination(packet)
                slot = createFlow(client: server ? packet.source : packet.destination,
                                  clientPort: server ? packet.sourcePort : packet.destinationPort,
                                  server: server ? packet.destination : packet.source,
                                  serverPort: server ? packet.destinationPort : packet.sourcePort,
                                  vlans: packet.vlans, tunnel: packet.tunnel, midstream: true, hash: hash, time: time,
                                  handler: &handler)
            } else {
                stats.packetsWithoutFlow += 1
                return
            }
            justCreated = true
            direction = unsafe match(pointer, slot: slot) == 0 ? .clientToServer : .serverToClient
        }

        // One check here (`entryAddress`), then the entry and both half-streams are addressed
        // through pointers, rather than checking the slot again at each of the eight or so
        // accesses of a segment.
        var entry = unsafe entryAddress(slot)
        if unsafe time > entry.pointee.info.lastSeen { unsafe entry.pointee.info.lastSeen = time }  // captures may be unsorted

        if syn && !justCreated {
            // Safe: `entryAddress` checked the slot, and its two half-streams are at 2 * slot and 2 * slot + 1.
            let c2s = unsafe halves.baseAddress + 2 * slot, s2c = unsafe c2s + 1
            if !ack {
                if unsafe entry.pointee.carriedData || c2s.pointee.ended || s2c.pointee.ended {
                    let sameConnection = unsafe direction == .clientToServer
                        && (entry.pointee.hasClientISN ? entry.pointee.clientISN == sequenceNumber
                            : (c2s.pointee.baseKnown && c2s.pointee.baseSequence == sequenceNumber &+ 1))
                    if !sameConnection {
                        closeFlow(slot: slot, reason: .reused, time: time, handler: &handler)
                        slot = unsafe createFromSYN(pointer.pointee, ack: false, hash: hash, time: time, handler: &handler)
                        unsafe entry = entryAddress(slot)
                        unsafe entry.pointee.info.lastSeen = time
                        direction = .clientToServer
                    }
                } else if unsafe direction == .clientToServer
                            && (!entry.pointee.hasClientISN || entry.pointee.clientISN != sequenceNumber) {
                    // A new ISN before any data (or the SYN after its SYN-ACK): re-base.
                    unsafe entry.pointee.hasClientISN = true
                    unsafe entry.pointee.clientISN = sequenceNumber
                    unsafe c2s.pointee.setBase(sequenceNumber &+ 1)
                }
            } else if unsafe direction == .serverToClient && !entry.pointee.carriedData {
                if unsafe !s2c.pointee.baseKnown || s2c.pointee.baseSequence != sequenceNumber &+ 1 {
                    unsafe s2c.pointee.setBase(sequenceNumber &+ 1)
                }
                if unsafe !c2s.pointee.baseKnown { unsafe c2s.pointee.setBase(acknowledgment) }
            }
        }

        if rst {
            // Judged in the sender's sequence space: `h` of the direction the RST travelled.
            // A stopped flow no longer tracks its ACKs: nothing to judge by, and nothing to lose.
            if unsafe !entry.pointee.stopped
                && !Self.resetAcceptable(halves.address(2 * slot + direction.index), sequence: sequenceNumber,
                                         policy: configuration.resetPolicy) {
                stats.events.rstOutOfWindow += 1
                return
            }
            stats.events.rstAccepted += 1
            closeFlow(slot: slot, reason: .reset, time: time, handler: &handler)
            return
        }

        let stopped = unsafe entry.pointee.stopped
        let h = 2 * slot + direction.index
        let peer = 2 * slot + direction.reversed.index
        // Safe: `h` and `peer` are the two half-streams of a slot `entryAddress` checked.
        let own = unsafe halves.baseAddress + h, other = unsafe halves.baseAddress + peer

        // The ACK first: it acknowledges data the peer sent before this segment's payload.
        if ack && !stopped {
            unsafe other.pointee.notePeerAck(acknowledgment)
            unsafe other.pointee.peerWindow = pointer.pointee.window
            let answering = payloadEnd > payloadStart
            if unsafe other.pointee.ackedPastNext
                && checkAckGap(slot: slot, half: peer, time: time, answering: answering, handler: &handler) { return }
        }

        if !hasPayload && !fin { return }
        if hasPayload { unsafe entry.pointee.carriedData = true }

        if stopped {
            if unsafe fin && !own.pointee.ended {
                unsafe own.pointee.ended = true
                let info = unsafe entry.pointee.info
                handler.streamEnded(slot: slot, info: info, direction: direction, time: time)
                if unsafe other.pointee.ended { closeFlow(slot: slot, reason: .finished, time: time, handler: &handler) }
            }
            return
        }

        if unsafe own.pointee.ended { return }
        let sequence = syn ? sequenceNumber &+ 1 : sequenceNumber
        if unsafe !own.pointee.baseKnown { unsafe own.pointee.setBase(sequence) }
        let start = unsafe own.pointee.offset(of: sequence)
        let length = Int64(payloadEnd - payloadStart)

        if unsafe fin && !own.pointee.hasFin {
            unsafe own.pointee.hasFin = true
            unsafe own.pointee.finOffset = max(own.pointee.next, start + length)
        }
        if hasPayload {
            segment(slot: slot, half: h, start: start, frame: frame, range: payloadStart..<payloadEnd,
                    time: time, handler: &handler)
        }
        if unsafe fin && own.pointee.ackedPastNext && checkAckGap(slot: slot, half: h, time: time, handler: &handler) { return }
        // `checkEnd` acts only on a direction that reached its FIN (or already ended): tested
        // inline, so that the segments in between do not pay for a call.
        if unsafe own.pointee.ended || own.pointee.reachedFin {
            _ = checkEnd(slot: slot, half: h, time: time, handler: &handler)
        }
    }

    /// Stops delivery for a flow whose parser is done (TLS started): its buffers are freed now,
    /// and it stays in the table until FIN, RST, idle or eviction so it is not picked up again.
    public mutating func stopBuffering(slot: Int) {
        guard slot >= 0 && slot < flows.count && flows[slot].inUse else { return }
        flows[slot].stopped = true
        release(half: 2 * slot)
        release(half: 2 * slot + 1)
    }

    /// The flow's parser needs no more protection from unacknowledged copies (a login succeeded,
    /// so nothing later can change a finding; or it stopped): policy `ack` stops holding its data
    /// and delivers what it held, so the rest of the session (message bodies, mailbox traffic)
    /// takes the zero-copy path.
    public mutating func settle<H: StreamHandler>(slot: Int, time: Timestamp, handler: inout H) {
        guard slot >= 0 && slot < flows.count && flows[slot].inUse else { return }
        for h in (2 * slot)...(2 * slot + 1) where !halves[h].settled {
            halves[h].settled = true
            if !flows[slot].stopped && !halves[h].ended {
                flushHeld(slot: slot, half: h, time: time, counted: false, handler: &handler)
            }
        }
    }

    /// Whether the receiver of `half` would accept a RST with this sequence number (the half's
    /// sequence space), as far as the sensor can tell: without its ACK the RST is accepted.
    /// Static: as a method it was handed a copy of the whole table.
    static func resetAcceptable(_ half: UnsafePointer<HalfStream>, sequence: UInt32, policy: ResetPolicy) -> Bool {
        guard policy != .any, let ack = unsafe half.pointee.peerAckOffset else { return true }
        let offset = unsafe half.pointee.offset(of: sequence)
        let sent = unsafe max(half.pointee.highestSeen, ack)
        switch policy {
        case .exact: return offset == ack || offset == sent
        case .window: return unsafe offset >= ack && offset <= sent + Int64(half.pointee.peerWindow)
        case .any: return true
        }
    }

    /// End of input: every flow is flushed (holes become gaps, buffered data is delivered), each
    /// direction ends, and the flow closes with `.shutdown`, in creation order.
    public mutating func flushAll<H: StreamHandler>(time: Timestamp, handler: inout H) {
        // Sorted with their ids beside them, as in `sweep`.
        var open = (0..<active.count).map { (id: flows[Int(active[$0])].info.id, slot: active[$0]) }
        open.sort { $0.id < $1.id }
        for flow in open {
            closeFlow(slot: Int(flow.slot), reason: .shutdown, time: time, handler: &handler)
        }
    }

    // MARK: - Flow life cycle

    /// Flushes both directions (holes become gaps, buffered data is delivered, unless stopped),
    /// ends them, reports `flowClosed` and frees the slot.
    mutating func closeFlow<H: StreamHandler>(slot: Int, reason: CloseReason, time: Timestamp, handler: inout H) {
        let entry = unsafe entryAddress(slot)
        let stopped = unsafe entry.pointee.stopped
        for h in (2 * slot)...(2 * slot + 1) {
            // Safe: `entryAddress` checked the slot, and `h` is one of its two half-streams.
            let half = unsafe halves.baseAddress + h
            if unsafe half.pointee.ended { continue }
            if unsafe !stopped && half.pointee.baseKnown {
                flushHeld(slot: slot, half: h, time: time, handler: &handler)
                while let run = unsafe half.pointee.runs.first {
                    declareGap(slot: slot, half: h, upTo: run.start, time: time, handler: &handler)
                    unsafe deliverFirstRun(slot: slot, half: h, info: entry.pointee.info, time: time, handler: &handler)
                }
                if unsafe half.pointee.hasFin {
                    unsafe declareGap(slot: slot, half: h, upTo: half.pointee.finOffset, time: time, handler: &handler)
                }
            }
            release(half: h)
            unsafe half.pointee.ended = true
            let direction: Direction = h & 1 == 0 ? .clientToServer : .serverToClient
            unsafe handler.streamEnded(slot: slot, info: entry.pointee.info, direction: direction, time: time)
        }
        stats.flowsClosedByReason[reason] += 1
        unsafe handler.flowClosed(slot: slot, info: entry.pointee.info, reason: reason, time: time)
        freeSlot(slot)
    }

    mutating func createFromSYN<H: StreamHandler>(_ packet: DecodedPacket, ack: Bool, hash: UInt64, time: Timestamp,
                                                  handler: inout H) -> Int {
        if !ack {
            let slot = createFlow(client: packet.source, clientPort: packet.sourcePort,
                                  server: packet.destination, serverPort: packet.destinationPort,
                                  vlans: packet.vlans, tunnel: packet.tunnel, midstream: false, hash: hash, time: time,
                                  handler: &handler)
            flows[slot].hasClientISN = true
            flows[slot].clientISN = packet.sequence
            halves[2 * slot].setBase(packet.sequence &+ 1)
            return slot
        }
        // The server's SYN-ACK seen first: its sender is the server, and its ACK is the client's ISN + 1.
        let slot = createFlow(client: packet.destination, clientPort: packet.destinationPort,
                              server: packet.source, serverPort: packet.sourcePort,
                              vlans: packet.vlans, tunnel: packet.tunnel, midstream: false, hash: hash, time: time,
                                  handler: &handler)
        halves[2 * slot + 1].setBase(packet.sequence &+ 1)
        halves[2 * slot].setBase(packet.acknowledgment)
        return slot
    }

    /// Mid-stream roles: the endpoint on a service port is the server; if both or neither, the
    /// lower port (the destination on a tie).
    func midstreamServerIsDestination(_ packet: DecodedPacket) -> Bool {
        let d = configuration.isServicePort(packet.destinationPort)
        let s = configuration.isServicePort(packet.sourcePort)
        if d != s { return d }
        return packet.destinationPort <= packet.sourcePort
    }

    mutating func createFlow<H: StreamHandler>(client: IPAddress, clientPort: UInt16, server: IPAddress,
                                               serverPort: UInt16, vlans: VLANTags, tunnel: UInt32 = 0,
                                               midstream: Bool, hash: UInt64,
                                               time: Timestamp, handler: inout H) -> Int {
        if freeSlots.isEmpty && flows.count < configuration.maxFlows {
            flows.append(FlowEntry(info: FlowTable.unusedInfo))
            halves.append(HalfStream())
            halves.append(HalfStream())
            freeSlots.append(Int32(flows.count - 1))
        }
        if freeSlots.isEmpty { evictOne(time: time, handler: &handler) }
        let slot = Int(freeSlots.removeLast())
        let info = FlowInfo(id: nextFlowID, client: client, clientPort: clientPort, server: server,
                            serverPort: serverPort, vlans: vlans, midstream: midstream,
                            firstSeen: time, lastSeen: time, tunnel: tunnel)
        nextFlowID += 1
        flows[slot] = FlowEntry(info: info, hash: hash, activePosition: Int32(active.count), inUse: true)
        // The half-streams are fresh: appended with the slot, or reset when it was freed.
        active.append(Int32(slot))
        if 2 * active.count > index.size && index.size < index.maxSize { index.grow() }
        index.insert(slot: slot, hash: hash)
        stats.flowsCreated += 1
        if midstream { stats.flowsMidstream += 1 }
        handler.flowStarted(slot: slot, info: info)
        return slot
    }

    mutating func freeSlot(_ slot: Int) {
        let entry = unsafe entryAddress(slot)
        unsafe index.remove(slot: slot, hash: entry.pointee.hash)

        let position = unsafe Int(entry.pointee.activePosition)
        let moved = active.removeLast()
        if Int(moved) != slot {
            active[position] = moved
            flows[Int(moved)].activePosition = Int32(position)
        }
        unsafe entry.pointee.inUse = false
        unsafe entry.pointee.activePosition = -1
        halves[2 * slot] = HalfStream()
        halves[2 * slot + 1] = HalfStream()
        freeSlots.append(Int32(slot))
    }

    /// The table is full: close one flow. A bounded probe of the active list ranks what it sees
    /// and takes the first flow of the best rank, the least recently seen within a rank:
    /// 0. flows that can no longer produce a finding: parser stopped (TLS, not mail), a direction
    ///    finished, or idle past its timeout (the sweep would close it anyway);
    /// 1. flows that never carried payload (a SYN flood's half-open flows);
    /// 2. flows carrying data, which may hold a login in progress.
    mutating func evictOne<H: StreamHandler>(time: Timestamp, handler: inout H) {
        guard !active.isEmpty else { return }
        let probe = min(configuration.evictionProbe, active.count)
        var victim = -1
        var best = (rank: Int.max, lastSeen: Int64.max)
        for k in 0..<probe {
            let slot = Int(active[(evictionCursor + k) % active.count])
            let entry = flows[slot]
            let timeout = entry.carriedData ? configuration.idleTimeout : configuration.handshakeTimeout
            let rank: Int
            if entry.stopped || halves[2 * slot].ended || halves[2 * slot + 1].ended
                || time.nanoseconds &- entry.info.lastSeen.nanoseconds > timeout {
                rank = 0
            } else {
                rank = entry.carriedData ? 2 : 1
            }
            let candidate = (rank: rank, lastSeen: entry.info.lastSeen.nanoseconds)
            if candidate < best {
                best = candidate
                victim = slot
                if rank == 0 { break }
            }
        }
        evictionCursor = (evictionCursor + probe) % max(1, active.count)
        if best.rank == 2 { stats.evictedWithData += 1 }
        closeFlow(slot: victim, reason: .evicted, time: time, handler: &handler)
    }

    /// The idle sweep without a packet, for a live capture whose link is quiet: at most once per
    /// sweep interval of `time`, exactly as `process` runs it.
    public mutating func tick<H: StreamHandler>(time: Timestamp, handler: inout H) {
        guard time.nanoseconds >= nextSweep else { return }
        nextSweep = time.nanoseconds &+ FlowTable.sweepInterval
        sweep(time: time, handler: &handler)
    }

    /// The idle sweep at `time`, now: for an owner whose clock decides when (the engine's, once a
    /// second of packet time).
    public mutating func expire<H: StreamHandler>(time: Timestamp, handler: inout H) {
        sweep(time: time, handler: &handler)
    }

    /// Closes flows idle longer than their timeout, in creation order.
    mutating func sweep<H: StreamHandler>(time: Timestamp, handler: inout H) {
        var expired = scratchExpired
        scratchExpired = []
        expired.removeAll(keepingCapacity: true)
        // The entries are read in slot order, free ones included, not in the order of `active`:
        // with tens of thousands of flows every entry read in that order would be a cache miss;
        // read in address order the hardware prefetcher streams them.
        for slot in 0..<flows.count where flows[slot].inUse {
            let limit = flows[slot].carriedData ? configuration.idleTimeout : configuration.handshakeTimeout
            if time.nanoseconds &- flows[slot].info.lastSeen.nanoseconds > limit {
                expired.append((id: flows[slot].info.id, slot: Int32(truncatingIfNeeded: slot)))
            }
        }
        // Sorted with their ids beside them: a sort reading each id from its entry was another
        // cache miss per comparison.
        expired.sort { $0.id < $1.id }
        for flow in expired {
            closeFlow(slot: Int(flow.slot), reason: .idle, time: time, handler: &handler)
        }
        scratchExpired = expired
    }

    // MARK: - Prefetch

    // Hints only: nothing here changes the table or decides anything. On a capture of many
    // concurrent flows the bucket, the entry and the half-streams of a packet are each a cache
    // miss, one waiting on the other; the engine decodes a batch of packets first and calls
    // these for all of them, so that memory is loading while earlier packets are handled.
    // They are `mutating` only so that a call from another module passes the table in place:
    // as non-mutating methods each call copied the whole struct (360 bytes) first.

    /// The flow hash `process` uses, of a packet in the caller's memory (not copied for the call).
    package mutating func hash(ofPacketAt pointer: UnsafePointer<DecodedPacket>) -> UInt64 { unsafe flowHash(pointer) }

    /// The flow hashes of the `count` packets at `packets`, into `hashes`; with `prefetch`, each
    /// one's index bucket starts loading. One call a batch: the engine is another module, so
    /// called for each packet the hash and the hint would be two calls that are never inlined.
    package mutating func hashBatch(_ packets: UnsafePointer<DecodedPacket>, count: Int,
                                    into hashes: UnsafeMutablePointer<UInt64>, prefetch: Bool) {
        for i in 0..<count {
            // Safe: the caller gives `count` packets and room for `count` hashes.
            let hash = unsafe flowHash(packets + i)
            unsafe hashes[i] = hash
            if prefetch { prefetchBucket(hash: hash) }
        }
    }

    /// Starts loading the index bucket `hash` lands in.
    @inline(__always) package mutating func prefetchBucket(hash: UInt64) {
        // Safe: `home` masks the hash into the buckets (and a prefetch hint never faults).
        unsafe plainsight_prefetch(index.buckets + index.home(hash))
    }

    /// Reads the buckets from the one `hash` lands in (prefetched earlier) up to the first whose
    /// tag is the hash's, and starts loading the entry and the half-streams of the slot it names.
    /// Returns that slot, or -1 when the probe ends first; on a tag collision the packet's flow
    /// may still be another one further along.
    @inline(__always) package mutating func prefetchFlow(hash: UInt64) -> Int {
        let tag = FlowIndex.tag(hash)
        var i = index.home(hash)
        while true {
            let bucket = index.bucket(i)
            if bucket == 0 { return -1 }
            if FlowIndex.tag(bucket) == tag { break }
            i = index.next(i)
        }
        let slot = FlowIndex.slot(index.bucket(i))
        // A slot the index names is below the count (it was appended before it was indexed).
        unsafe Self.prefetch(UnsafeRawPointer(flows.baseAddress + slot), bytes: MemoryLayout<FlowEntry>.stride)
        unsafe Self.prefetch(UnsafeRawPointer(halves.baseAddress + 2 * slot), bytes: 2 * MemoryLayout<HalfStream>.stride)
        return slot
    }

    /// Every cache line of `bytes` bytes from `start`, where `start` is a multiple of 32 and
    /// `bytes` one of 32 (an entry: 96 bytes at an offset of 0 or 32 in its line; two
    /// half-streams: 128 bytes at 0): one hint a 64 bytes then reaches the last line too.
    @inline(__always) static func prefetch(_ start: UnsafeRawPointer, bytes: Int) {
        assert(Int(bitPattern: start) % 32 == 0 && bytes % 32 == 0, "prefetch span not 32-aligned")
        var offset = 0
        while offset < bytes {
            // A hint, not a load: it never faults, even past the allocation.
            unsafe plainsight_prefetch(start + offset)
            offset += 64
        }
    }

    // MARK: - Keys

    /// Whether the packet at `p` belongs to the flow in `slot`: 0 sent by its client, 1 by its
    /// server, -1 not its flow. Read in place, so neither the 88-byte packet nor the flow's
    /// 76-byte info is copied, once to match and again for the direction.
    @inline(__always) func match(_ p: UnsafePointer<DecodedPacket>, slot: Int) -> Int {
        // Safe: callers pass a slot the index names, and every such slot is below the flows' count.
        let e = unsafe UnsafePointer(flows.baseAddress + slot)
        if unsafe configuration.vlansInFlowKey && p.pointee.vlans != e.pointee.info.vlans { return -1 }
        if unsafe p.pointee.sourcePort == e.pointee.info.clientPort && p.pointee.destinationPort == e.pointee.info.serverPort
            && p.pointee.source == e.pointee.info.client && p.pointee.destination == e.pointee.info.server { return 0 }
        if unsafe p.pointee.sourcePort == e.pointee.info.serverPort && p.pointee.destinationPort == e.pointee.info.clientPort
            && p.pointee.source == e.pointee.info.server && p.pointee.destination == e.pointee.info.client { return 1 }
        return -1
    }

    /// The packet's flow and its direction, as `2 * slot + direction.index`, or -1 when none is
    /// tracked. Only a bucket whose tag is the hash's costs a read of its flow's entry.
    @inline(__always) func lookup(_ p: UnsafePointer<DecodedPacket>, hash: UInt64) -> Int {
        let tag = FlowIndex.tag(hash)
        var i = index.home(hash)
        while true {
            let bucket = index.bucket(i)
            if bucket == 0 { return -1 }
            if FlowIndex.tag(bucket) == tag {
                // Every slot the index names is below the flows' count.
                let slot = FlowIndex.slot(bucket)
                let side = unsafe match(p, slot: slot)
                if side >= 0 { return 2 * slot + side }
            }
            i = index.next(i)
        }
    }

    /// Symmetric keyed hash: the two endpoints in a canonical order, then their words folded by
    /// 64 x 64 -> 128-bit multiplies (wyhash's `mum`: the product's halves xor-ed) under the table's
    /// random seed. Two of the three multiplies are independent, so the chain is two deep.
    ///
    /// It replaced five dependent multiply-xor rounds with a fixed start: perf put 5% of a capture
    /// of short connections on that chain, and with a constant, public function a sender could
    /// pick addresses and ports that all land in one cluster of the index (every lookup then
    /// walks it). The index is internal, so no output depends on the seed.
    @inline(__always) func flowHash(_ packet: DecodedPacket) -> UInt64 {
        // The pointer is to the argument and lives for the call only.
        unsafe withUnsafePointer(to: packet) { unsafe flowHash($0) }
    }

    /// `flowHash` of a packet read in place: taking it by value would copy all 88 bytes first.
    @inline(__always) func flowHash(_ p: UnsafePointer<DecodedPacket>) -> UInt64 {
        // Safe: callers pass an initialized packet that outlives the call.
        let a = unsafe p.pointee.source, b = unsafe p.pointee.destination
        let ap = unsafe p.pointee.sourcePort, bp = unsafe p.pointee.destinationPort
        let aFirst = (a.high, a.low, ap) < (b.high, b.low, bp)
        let lo = aFirst ? a : b, hi = aFirst ? b : a
        let loPort = aFirst ? ap : bp, hiPort = aFirst ? bp : ap
        var vlanWord: UInt64 = 0
        if configuration.vlansInFlowKey {
            let vlans = unsafe p.pointee.vlans
            vlanWord = UInt64(vlans.count) << 32 | UInt64(vlans.outer) << 16 | UInt64(vlans.inner)
        }
        let portWord = UInt64(loPort) << 16 | UInt64(hiPort) | (lo.isIPv6 ? 1 << 32 : 0)
        let high = Self.fold(lo.high ^ hashSeed.0, hi.high ^ hashSeed.1)
        let low = Self.fold(lo.low ^ hashSeed.2, hi.low ^ hashSeed.3)
        return Self.fold(high ^ portWord ^ hashSeed.4, low ^ vlanWord ^ hashSeed.5)
    }

    @inline(__always) static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }
}
