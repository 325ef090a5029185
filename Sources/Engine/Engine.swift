import MailAuth
import Reassembly
import Wire

/// decode -> flows -> parsers -> findings (`FlowFinding`; Alerts makes the alerts). One instance
/// per capture thread; not thread-safe.
// Safe to use: it owns its batch buffers (`DecodedBatch`) and frees them in `deinit`, and every
// pointer it forms stays within a record the decoder checked against its frame.
@safe public final class Engine {
    // All per-packet state sits in one struct, unchecked, since a dynamic exclusivity check would
    // be made several times per packet. Safe because the engine is never re-entered: callbacks
    // (`onFinding`, the observer) must not call back into it.
    @exclusivity(unchecked) private var core: EngineCore

    /// Hears about every login and every ended mail session (the exposure inventory). Set it
    /// before the first packet.
    public var observer: (any SessionObserver)? {
        get { unsafe core.router.observer }
        set { unsafe core.router.observer = newValue }
    }

    public var stats: EngineStats {
        var s = unsafe core.router.stats
        for (proto, count) in unsafe zip(MailProtocol.allCases, core.router.sessionCounts) where count > 0 {
            s.sessions[proto] = count
        }
        s.reassembly = unsafe core.table.stats
        s.parserMemoryBudgetHits = unsafe core.router.memory.budgetHits
        s.parserMemoryPeak = unsafe UInt64(core.router.memory.peak)
        s.activeFlows = unsafe core.table.activeFlows
        s.encapsulations = unsafe core.encapsulations
        s.tunnelsTruncated = unsafe core.router.tunnels.truncated
        if let defragmenter = unsafe core.defragmenter { s.fragments = defragmenter.stats }
        s.checksums = unsafe core.checksums.stats
        return s
    }

    public init(configuration: EngineConfiguration, onFinding: @escaping (consuming FlowFinding) -> Void) {
        var reassembly = configuration.reassembly
        let servicePorts = PortSet(configuration.mailPorts.union(EngineConfiguration.implicitTLSPorts))
        reassembly.isServicePort = { servicePorts.contains($0) }
        let router = SessionRouter(configuration: configuration, slots: reassembly.maxFlows, onFinding: onFinding)
        unsafe core = EngineCore(table: FlowTable(configuration: reassembly), router: router,
                          prefetchAboveFlows: configuration.prefetchAboveFlows,
                          options: PacketDecoder.BatchOptions(ports: router.selectedPorts, tunnels: configuration.tunnels,
                                                              checksums: configuration.checksumValidation.checks),
                          defragmenter: configuration.defragment.map { IPDefragmenter(configuration: $0) },
                          checksums: ChecksumGate(mode: configuration.checksumValidation))
        unsafe batch = unsafe DecodedBatch(capacity: Self.batchCapacity)
    }

    deinit { unsafe batch.deallocate() }

    /// Hears, once, that `--checksum-validation auto` stopped verifying checksums (a line for
    /// standard error). Set it before the first packet.
    public var onNotice: ((String) -> Void)? {
        get { unsafe core.onNotice }
        set { unsafe core.onNotice = newValue }
    }

    /// The capture file whose records come next, by the name alerts give it (`pcap_filename`;
    /// nil: none, as for standard input): the record numbers of the frames that follow
    /// (`FrameRecord.number`) count within it. Call before each file's first frame.
    public func beginCaptureFile(name: String?) {
        unsafe core.router.beginCaptureFile(name: name)
    }

    /// One captured frame, lent for the duration of the call only: a batch of one. `number`: its
    /// record number in its capture file (`FrameRecord.number`), 0 for none.
    public func process(frame: Span<UInt8>, time: Timestamp, link: LinkType, number: UInt64 = 0) {
        var record = FrameRecord(start: 0, count: frame.count, time: time, number: number)
        unsafe withUnsafePointer(to: &record) { pointer in
            unsafe core.process(frames: frame, records: UnsafeBufferPointer(start: pointer, count: 1), link: link,
                         scratch: batch)
        }
    }

    /// Frames located by `records` in `frames`, lent for the duration of the call only; the same
    /// as `process(frame:time:link:)` on each in turn.
    ///
    /// Decoding them all first lets the flow table start loading every packet's bucket, then its
    /// flow entry and session, before the first is handled: on a capture of many concurrent flows
    /// those loads were cache misses, each waiting on the one before.
    public func process(frames: Span<UInt8>, records: UnsafeBufferPointer<FrameRecord>, link: LinkType) {
        unsafe core.process(frames: frames, records: records, link: link, scratch: batch)
    }

    /// Frames decoded ahead of handling, reused for every batch.
    private let batch: DecodedBatch
    static let batchCapacity = 32

    /// End of input: flush every flow; logins still waiting for a reply get outcome `unknown`.
    public func finish(time: Timestamp?) {
        unsafe core.finish(time: time)
    }

    /// No packet, but time has passed (a live capture's read timeout on a quiet link): flows idle
    /// past their timeout are closed as a packet at `time` would close them. Packets drive the same
    /// sweep, so a replay never needs this.
    public func tick(time: Timestamp) {
        unsafe core.tick(time: time)
    }
}

/// Frames decoded ahead of handling, reused for every batch: kept as separate arrays so a
/// 100-byte packet is written once by decoding and read in place when it is handled. A bundle of
/// bare pointers, each `capacity` elements long: every use is `unsafe`, indexed below `capacity`.
@unsafe struct DecodedBatch {
    let capacity: Int
    /// The batch's segments and fragments for the flow table and the defragmenter, densely.
    let packets: UnsafeMutablePointer<DecodedPacket>
    let hashes: UnsafeMutablePointer<UInt64>
    /// The position of each segment's record in the batch.
    let recordIndices: UnsafeMutablePointer<Int>
    /// Why the frames that are neither a selected segment nor one of another port were dropped.
    let refusals: UnsafeMutablePointer<PacketDecoder.Refusal>
    /// Where each fragment lies, at its packet's index.
    let fragments: UnsafeMutablePointer<FragmentHeader>
    /// The encapsulations of each tunnelled packet, at its index.
    let tunnels: UnsafeMutablePointer<Encapsulation>
    /// One packet and fragment for a reassembled datagram.
    let datagramPacket: UnsafeMutablePointer<DecodedPacket>
    let datagramFragment: UnsafeMutablePointer<FragmentHeader>

    init(capacity: Int) {
        unsafe self.capacity = capacity
        unsafe packets = .allocate(capacity: capacity)
        unsafe hashes = .allocate(capacity: capacity)
        unsafe hashes.initialize(repeating: 0, count: capacity)
        unsafe recordIndices = .allocate(capacity: capacity)
        unsafe recordIndices.initialize(repeating: 0, count: capacity)
        unsafe refusals = .allocate(capacity: capacity)
        unsafe fragments = .allocate(capacity: capacity)
        unsafe tunnels = .allocate(capacity: capacity)
        unsafe datagramPacket = .allocate(capacity: 1)
        unsafe datagramFragment = .allocate(capacity: 1)
    }

    var output: PacketDecoder.BatchOutput {
        unsafe PacketDecoder.BatchOutput(packets: packets, recordIndices: recordIndices, fragments: fragments,
                                  tunnels: tunnels, refusals: refusals)
    }

    /// Every buffer holds only trivial values, so none is deinitialized.
    func deallocate() {
        unsafe packets.deallocate()
        unsafe hashes.deallocate()
        unsafe recordIndices.deallocate()
        unsafe refusals.deallocate()
        unsafe fragments.deallocate()
        unsafe tunnels.deallocate()
        unsafe datagramPacket.deallocate()
        unsafe datagramFragment.deallocate()
    }
}

@safe struct EngineCore {
    var table: FlowTable
    var router: SessionRouter
    /// `EngineConfiguration.prefetchAboveFlows`.
    let prefetchAboveFlows: Int
    /// Changes only when `auto` stops verifying checksums.
    var options: PacketDecoder.BatchOptions
    /// Holds IP fragments until their datagram is whole; nil when reassembly is off.
    var defragmenter: IPDefragmenter?
    var clock = PacketClock()
    var encapsulations = EncapsulationCounts()
    /// Segments whose checksums failed (`ChecksumGate`).
    var checksums: ChecksumGate
    /// Released segments, kept for the array's capacity.
    var released: [ChecksumGate.Held] = []
    /// The settles being applied (`applySettles`), kept for the array's capacity.
    var settling: [Int] = []
    var onNotice: ((String) -> Void)?

    init(table: FlowTable, router: SessionRouter, prefetchAboveFlows: Int, options: PacketDecoder.BatchOptions,
         defragmenter: IPDefragmenter?, checksums: ChecksumGate) {
        self.table = table; self.router = router; self.prefetchAboveFlows = prefetchAboveFlows
        self.options = options; self.defragmenter = defragmenter; self.checksums = checksums
    }

    /// See `Engine.process(frames:records:link:)`. A mutating method, so `self` is never copied
    /// (a call on the engine's stored struct from outside one copied it, with its arrays).
    ///
    /// Frames other than selected segments and fragments change only counters, so they are
    /// counted per batch and only the segments and fragments are handled one by one, in order.
    mutating func process(frames: Span<UInt8>, records: UnsafeBufferPointer<FrameRecord>, link: LinkType,
                          scratch: DecodedBatch) {
        var done = 0
        while done < records.count {
            // Safe: done + n <= records.count, and n fits the scratch buffers.
            let n = unsafe min(records.count &- done, scratch.capacity)
            let batch = unsafe UnsafeBufferPointer(rebasing: records[done ..< done &+ n])
            // With few flows their state stays in the cache and the hints are only overhead.
            let prefetching = table.activeFlows > prefetchAboveFlows
            let counts = unsafe PacketDecoder.decode(frames, records: batch, link: link, options: options,
                                              into: scratch.output)
            unsafe count(counts, frames: n, refusals: scratch.refusals)
            let m = counts.selected
            // Safe: the decoder wrote m <= n <= capacity packets and record indices below n, so
            // every scratch index below m, and every record it names, is in bounds.
            unsafe table.hashBatch(scratch.packets, count: m, into: scratch.hashes, prefetch: prefetching)
            // The flow state of a packet a few places ahead is requested while this one is handled:
            // early enough to arrive in time, late enough not to flood the cache's few
            // outstanding-miss slots (requesting a whole batch at once stalled on them).
            if prefetching { for j in 0..<min(m, Self.prefetchDistance) { unsafe prefetchFlow(scratch, j) } }
            let prefetchBefore = prefetching ? m &- Self.prefetchDistance : 0
            // A segment lies in the buffer, which then has an address. Each is viewed through it.
            unsafe frames.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                for j in 0..<m {
                    if j < prefetchBefore { unsafe prefetchFlow(scratch, j &+ Self.prefetchDistance) }
                    let record = unsafe batch[scratch.recordIndices[j]]
                    // Safe: the decoder checked the record against the buffer.
                    let frame = unsafe UnsafeBufferPointer(start: base + record.start, count: record.count).span
                    let packet = unsafe scratch.packets + j
                    // One test for a tunnelled packet or a fragment; the rest out of line.
                    if unsafe packet.pointee.kind != .segment
                        && handleSpecial(packet, j, frame: frame, time: record.time, number: record.number,
                                         scratch: scratch) { continue }
                    advanceClock(to: record.time)
                    // Segments held for a wrong checksum wait for this one's acknowledgement.
                    if !checksums.held.isEmpty { unsafe releaseHeld(confirmedBy: packet, time: record.time) }
                    router.packet = router.fileBits | record.number
                    table.packetNumber = router.packet
                    unsafe table.process(packetAt: packet, hash: scratch.hashes[j], frame: frame, time: record.time,
                                  handler: &router)
                    applyStops()
                }
            }
            if !checksums.allWrongSettled || checksums.batchWrong != 0 {
                checksums.afterBatch(segments: m &- counts.fragments)
                if checksums.pendingNotice != nil || !checksums.releasedByRule.isEmpty {
                    unsafe processReleased(time: batch[n &- 1].time)
                }
            }
            done &+= n
        }
    }

    static let prefetchDistance = 6

    /// A packet of the batch that is tunnelled or a fragment: its path is given its id (the
    /// packet becomes a plain segment or fragment), and a fragment goes to the defragmenter.
    /// True when the packet was consumed here (a fragment).
    @inline(never)
    private mutating func handleSpecial(_ packet: UnsafeMutablePointer<DecodedPacket>, _ j: Int, frame: Span<UInt8>,
                                        time: Timestamp, number: UInt64, scratch: DecodedBatch) -> Bool {
        var path = Encapsulation()
        if unsafe packet.pointee.kind.isTunnelled {
            path = unsafe scratch.tunnels[j]
            unsafe packet.pointee.tunnel = router.tunnels.id(of: path)
        }
        if unsafe packet.pointee.kind.rawValue & (PacketKind.badIPv4Checksum | PacketKind.badTCPChecksum) != 0 {
            checksums.position = j
            let verdict = unsafe packet.pointee.kind.isFragment ? checksums.judgeFragment()
                : judgeChecksums(packet, frame: frame, time: time)
            checksums.position = Int.max
            if case .consumed = verdict { return true }
            unsafe packet.pointee.kind = unsafe packet.pointee.kind.withoutChecksums
        }
        guard unsafe packet.pointee.kind.isFragment else {
            unsafe packet.pointee.kind = .segment
            return false
        }
        unsafe packet.pointee.kind = .fragment
        unsafe defragment(scratch.fragments[j], frame: frame, packet: packet.pointee, path: path, time: time, number: number,
                   scratch: scratch)
        return true
    }

    /// A segment whose checksums failed, to the gate; the clock is advanced first so a held
    /// segment is stamped and aged like the rest.
    private mutating func judgeChecksums(_ packet: UnsafeMutablePointer<DecodedPacket>, frame: Span<UInt8>,
                                         time: Timestamp) -> ChecksumGate.Verdict {
        advanceClock(to: time)
        let verdict = unsafe checksums.judge(packet, frame: frame, time: time)
        if checksums.pendingNotice != nil || !checksums.releasedByRule.isEmpty { processReleased(time: time) }
        if case .accept = verdict, !checksums.held.isEmpty { unsafe releaseHeld(confirmedBy: packet, time: time) }
        return verdict
    }

    /// Held segments that `packet` acknowledges are processed, in the order they were held,
    /// before it; those it supersedes are dropped.
    @inline(never)
    private mutating func releaseHeld(confirmedBy packet: UnsafePointer<DecodedPacket>, time: Timestamp) {
        unsafe checksums.observe(packet, released: &released)
        processReleased(time: time)
    }

    /// Says once that verification stopped, and processes the segments the gate released.
    private mutating func processReleased(time: Timestamp) {
        if let notice = checksums.pendingNotice {
            checksums.pendingNotice = nil
            options.checksums = checksums.checks
            onNotice?(notice)
        }
        if !checksums.releasedByRule.isEmpty {
            released.append(contentsOf: checksums.releasedByRule)
            checksums.releasedByRule.removeAll()
        }
        guard !released.isEmpty else { return }
        // Held bytes came in earlier packets: their alerts carry no pcap_cnt rather than a wrong one.
        router.packet = 0
        table.packetNumber = 0
        for k in 0 ..< released.count {
            var held = released[k].packet
            let payload = released[k].payload
            unsafe withUnsafePointer(to: &held) { held in
                let hash = unsafe table.hash(ofPacketAt: held)
                unsafe table.process(packetAt: held, hash: hash, frame: payload.span, time: time, handler: &router)
            }
            applyStops()
        }
        released.removeAll(keepingCapacity: true)
    }

    /// The counters of a batch of `frames` frames that decoded to `counts`.
    @inline(__always)
    private mutating func count(_ counts: PacketDecoder.BatchCounts, frames: Int,
                                refusals: UnsafeMutablePointer<PacketDecoder.Refusal>) {
        router.stats.packets &+= UInt64(truncatingIfNeeded: frames)
        router.stats.bytes &+= counts.bytes
        router.stats.tcpPackets &+= UInt64(truncatingIfNeeded: counts.selected &- counts.fragments &+ counts.unselected)
        router.stats.notMailPort &+= UInt64(truncatingIfNeeded: counts.unselected)
        for k in 0..<counts.refused { unsafe countRefusal(refusals[k]) }
        if counts.encapsulated != 0 { encapsulations.add(counts.encapsulations) }
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
        unsafe router.prefetchSession(slot: table.prefetchFlow(hash: scratch.hashes[j]))
    }

    /// Every stage's timeouts, by the one packet clock.
    @inline(__always)
    private mutating func advanceClock(to time: Timestamp) {
        if clock.advance(to: time) { expire(time: time) }
    }

    private mutating func expire(time: Timestamp) {
        // Bytes a timeout hands over came in earlier packets, not the one that moved the clock.
        router.packet = 0
        table.packetNumber = 0
        table.expire(time: time, handler: &router)
        applyStops()
        defragmenter?.expire(now: time)
        if !checksums.held.isEmpty { checksums.expire(now: time) }
    }

    /// A fragment (`header`, in `frame`) into the defragmenter; a datagram it completes is decoded
    /// from the defragmenter's storage and handled as a frame would be.
    private mutating func defragment(_ header: FragmentHeader, frame: Span<UInt8>, packet: DecodedPacket,
                                     path: Encapsulation, time: Timestamp, number: UInt64, scratch: DecodedBatch) {
        advanceClock(to: time)
        // Moved out while a datagram it completed is handled, which changes the rest of `self`.
        guard var defragmenter = defragmenter.take() else {
            router.stats.skipped[.fragment, default: 0] += 1
            return
        }
        defer { self.defragmenter = defragmenter }
        var path = path
        var vlans = packet.vlans
        var result = defragmenter.add(Self.fragment(header, tunnel: packet.tunnel, vlans: vlans),
                                      packet: frame.extracting(header.ipOffset ..< header.ipEnd), time: time)
        // A datagram may hold a tunnel whose inner packet is a fragment again (each round's
        // datagram is smaller than the last; the layer limit bounds the rounds anyway).
        var rounds = 0
        while result == .completed && rounds <= Encapsulation.maxLayers {
            rounds += 1
            let nested: (FragmentHeader, [UInt8], DecodedPacket)? = defragmenter.withCompleted { datagram, _ in
                guard case .fragment(let inner) = unsafe handleDatagram(datagram, vlans: vlans, path: &path, time: time,
                                                                 number: number, scratch: scratch) else { return nil }
                // It lies in storage the next `add` reuses: copied (nested fragments are rare).
                var bytes = [UInt8](repeating: 0, count: inner.ipEnd - inner.ipOffset)
                for k in 0 ..< bytes.count { bytes[k] = datagram[inner.ipOffset + k] }
                return unsafe (inner, bytes, scratch.datagramPacket.pointee)
            }
            guard let (inner, bytes, innerPacket) = nested else { return }
            vlans = innerPacket.vlans
            var rebased = inner
            rebased.ipEnd -= rebased.ipOffset
            rebased.ipOffset = 0
            result = defragmenter.add(Self.fragment(rebased, tunnel: innerPacket.tunnel, vlans: vlans),
                                      packet: bytes.span, time: time)
        }
    }

    /// The defragmenter's view of a fragment: keyed apart by the tunnel and VLANs it came through.
    private static func fragment(_ header: FragmentHeader, tunnel: UInt32, vlans: VLANTags) -> IPFragment {
        IPFragment(isIPv6: header.isIPv6, source: header.source, destination: header.destination,
                   identification: header.identification, nextProtocol: header.nextProtocol,
                   offset: header.fragmentOffset, moreFragments: header.moreFragments,
                   headerLength: header.headerLength, nextHeaderFieldOffset: header.nextHeaderFieldOffset,
                   dataStart: header.dataStart, dataEnd: header.dataEnd,
                   context: UInt64(tunnel) << 32 | vlanWord(vlans))
    }

    /// What `handleDatagram` made of a reassembled datagram.
    enum DatagramOutcome {
        case handled
        case fragment(FragmentHeader)
    }

    /// A reassembled datagram: decoded like a frame (with the encapsulations its fragments came
    /// through) and, if it is a selected segment, handed to the flow table.
    /// `number`: the record of the fragment that completed the datagram.
    private mutating func handleDatagram(_ datagram: Span<UInt8>, vlans: VLANTags, path: inout Encapsulation,
                                         time: Timestamp, number: UInt64, scratch: DecodedBatch) -> DatagramOutcome {
        let before = path
        do throws(DecodeError) {
            let selected = try unsafe PacketDecoder.decodeDatagram(datagram, options: options, path: &path,
                                                            into: scratch.datagramPacket,
                                                            fragment: scratch.datagramFragment)
            encapsulations.add(path, from: Int(before.count))
            switch selected {
            case .tcp:
                router.stats.tcpPackets &+= 1
                let packet = unsafe scratch.datagramPacket
                unsafe packet.pointee.vlans = vlans
                unsafe packet.pointee.tunnel = path.isEmpty ? 0 : router.tunnels.id(of: path)
                // The TCP checksum of a reassembled datagram covers the whole datagram.
                if !checksums.allWrongSettled && !options.checksums.isEmpty { checksums.verified &+= 1 }
                if unsafe packet.pointee.kind.rawValue & (PacketKind.badIPv4Checksum | PacketKind.badTCPChecksum) != 0 {
                    if case .consumed = unsafe judgeChecksums(packet, frame: datagram, time: time) { break }
                }
                unsafe packet.pointee.kind = .segment
                if !checksums.held.isEmpty { unsafe releaseHeld(confirmedBy: packet, time: time) }
                let hash = unsafe table.hash(ofPacketAt: packet)
                router.packet = router.fileBits | number
                table.packetNumber = router.packet
                unsafe table.process(packetAt: packet, hash: hash, frame: datagram, time: time, handler: &router)
                applyStops()
            case .unselected:
                router.stats.tcpPackets &+= 1
                router.stats.notMailPort &+= 1
            case .skipped(let reason):
                countRefusal(.skipped(reason))
            case .fragment:
                unsafe scratch.datagramPacket.pointee.vlans = vlans
                unsafe scratch.datagramPacket.pointee.tunnel = path.isEmpty ? 0 : router.tunnels.id(of: path)
                return unsafe .fragment(scratch.datagramFragment.pointee)
            }
        } catch {
            countRefusal(.failed(error))
        }
        return .handled
    }

    mutating func finish(time: Timestamp?) {
        checksums.flush()
        router.packet = 0
        table.packetNumber = 0
        table.flushAll(time: time ?? router.lastTime, handler: &router)
        applyStops()
        defragmenter?.flush()
    }

    mutating func tick(time: Timestamp) {
        advanceClock(to: time)
    }

    /// Parsers that are done (TLS started, or not a mail protocol) stop their flow's buffering.
    private mutating func applyStops() {
        if !router.settles.isEmpty { applySettles() }
        guard !router.stops.isEmpty else { return }
        for slot in router.stops { table.stopBuffering(slot: slot) }
        router.stops.removeAll(keepingCapacity: true)
    }

    /// Flows whose login succeeded stop holding data for ACKs; what they held is delivered now,
    /// which may settle or stop more flows.
    @inline(never)
    private mutating func applySettles() {
        // Swapped, not copied: a settle may add more, and emptying a shared array reallocates it.
        while !router.settles.isEmpty {
            swap(&settling, &router.settles)
            for slot in settling { table.settle(slot: slot, time: router.lastTime, handler: &router) }
            settling.removeAll(keepingCapacity: true)
        }
    }

    /// The VLAN tags as part of a fragment's key.
    private static func vlanWord(_ vlans: VLANTags) -> UInt64 {
        UInt64(vlans.count) << 24 | UInt64(vlans.outer & 0x0FFF) << 12 | UInt64(vlans.inner & 0x0FFF)
    }
}
