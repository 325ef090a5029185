// Randomised checks with a fixed-seed generator (deterministic): the reassembled stream against a
// reference model, and the flow index against a dictionary.

import Testing
import Wire
@testable import Reassembly

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Collects one flow's client-to-server stream: bytes, and gaps as nil runs.
struct StreamCollector: StreamHandler {
    var bytes: [UInt8?] = []
    var ended = false
    var closed: [CloseReason] = []
    mutating func flowStarted(slot: Int, info: FlowInfo) {}
    mutating func streamData(slot: Int, info: FlowInfo, direction: Direction, bytes: Span<UInt8>, time: Timestamp) {
        guard direction == .clientToServer else { return }
        for i in 0..<bytes.count { self.bytes.append(bytes[i]) }
    }
    mutating func streamGap(slot: Int, info: FlowInfo, direction: Direction, length: UInt64, time: Timestamp) {
        guard direction == .clientToServer else { return }
        bytes.append(contentsOf: repeatElement(nil, count: Int(length)))
    }
    mutating func streamEnded(slot: Int, info: FlowInfo, direction: Direction, time: Timestamp) {
        if direction == .clientToServer { ended = true }
    }
    mutating func flowClosed(slot: Int, info: FlowInfo, reason: CloseReason, time: Timestamp) { closed.append(reason) }
}

/// Random segments over a stream of `length` bytes, in a locally shuffled order, with duplicates
/// and some copies whose bytes differ (overlap conflicts). Every offset is covered at least once.
/// `locality`: nil shuffles globally; otherwise segments, in offset order, move at most about that
/// many places (a stream that progresses with small reorders, as on a real link).
func randomSegments(length: Int, locality: Int? = nil, rng: inout SplitMix64)
    -> (original: [UInt8], segments: [(Int, [UInt8])]) {
    let original = (0..<length).map { _ in UInt8.random(in: 0x21...0x7E, using: &rng) }
    var segments: [(Int, [UInt8])] = []
    var offset = 0
    while offset < length {  // a covering
        let n = min(length - offset, Int.random(in: 1...40, using: &rng))
        segments.append((offset, Array(original[offset..<offset + n])))
        offset += n
    }
    for _ in 0..<(length / 20) {  // extra overlapping copies, a third of them altered
        let a = Int.random(in: 0..<length, using: &rng)
        let n = min(length - a, Int.random(in: 1...60, using: &rng))
        var bytes = Array(original[a..<a + n])
        if Int.random(in: 0..<3, using: &rng) == 0 {
            for i in bytes.indices where Bool.random(using: &rng) { bytes[i] = UInt8.random(in: 0x21...0x7E, using: &rng) }
        }
        segments.append((a, bytes))
    }
    if let locality {
        segments.sort { $0.0 < $1.0 }
        for i in segments.indices {
            let j = min(segments.count - 1, i + Int.random(in: 0...locality, using: &rng))
            segments.swapAt(i, j)
        }
    } else {
        segments.shuffle(using: &rng)
    }
    return (original, segments)
}

@Suite("Reassembly properties")
struct PropertyTests {
    /// With caps large enough never to trigger, each offset delivers the first copy that arrived.
    @Test(arguments: 0..<40)
    func firstCopyWinsWithoutLoss(seed: Int) {
        var rng = SplitMix64(state: UInt64(seed) &* 7919)
        let length = Int.random(in: 1...3000, using: &rng)
        let (_, segments) = randomSegments(length: length, rng: &rng)
        let isn = UInt32.random(in: 0...UInt32.max, using: &rng)  // often near a wrap after scaling
        var expected = [UInt8?](repeating: nil, count: length)
        for (offset, bytes) in segments {
            for (i, b) in bytes.enumerated() where expected[offset + i] == nil { expected[offset + i] = b }
        }

        var configuration = ReassemblyConfiguration()
        configuration.streamPolicy = .first
        configuration.windowBytes = 1 << 20
        configuration.maxHoles = 10_000
        var table = FlowTable(configuration: configuration)
        var collector = StreamCollector()
        var t = baseTime
        func feed(_ seg: Seg) {
            t += 1_000
            let (packet, frame) = seg.packet()
            table.process(packet, frame: frame.span, time: Timestamp(nanoseconds: t), handler: &collector)
        }
        feed(c(isn, "", [.syn], ack: 0))
        for (offset, bytes) in segments {
            var seg = c(isn &+ 1 &+ UInt32(offset))
            seg.payload = bytes
            feed(seg)
        }
        #expect(collector.bytes == expected)
        #expect(table.stats.gaps == 0)
        #expect(table.stats.bufferedBytes == 0)
        #expect(table.stats.bufferedRuns == 0)
        table.flushAll(time: Timestamp(nanoseconds: t + 1), handler: &collector)
        #expect(collector.bytes.count == length)
        #expect(collector.closed == [.shutdown])
        #expect(table.stats.bufferedBytes == 0)
        #expect(table.stats.bufferedRuns == 0)
    }

    /// With tiny caps the stream still adds up: data plus gaps cover every offset exactly once, and
    /// every delivered byte is one of the copies sent for its offset.
    @Test(arguments: 0..<40)
    func capsNeverLoseAccounting(seed: Int) {
        var rng = SplitMix64(state: UInt64(seed) &* 104_729 &+ 1)
        let length = Int.random(in: 1...2000, using: &rng)
        let (_, segments) = randomSegments(length: length, locality: 8, rng: &rng)
        var copies = [Set<UInt8>](repeating: [], count: length)
        for (offset, bytes) in segments { for (i, b) in bytes.enumerated() { copies[offset + i].insert(b) } }

        var configuration = ReassemblyConfiguration()
        configuration.windowBytes = Int.random(in: 20...400, using: &rng)
        configuration.maxHoles = Int.random(in: 0...4, using: &rng)
        configuration.memoryBudget = Int.random(in: 0...300, using: &rng)
        var table = FlowTable(configuration: configuration)
        var collector = StreamCollector()
        var t = baseTime
        let isn = UInt32.max &- UInt32(length / 2)  // the stream crosses the wrap
        func feed(_ seg: Seg) {
            t += 1_000
            let (packet, frame) = seg.packet()
            table.process(packet, frame: frame.span, time: Timestamp(nanoseconds: t), handler: &collector)
            #expect(table.stats.bufferedBytes <= configuration.memoryBudget)
        }
        feed(c(isn, "", [.syn], ack: 0))
        for (offset, bytes) in segments {
            var seg = c(isn &+ 1 &+ UInt32(offset))
            seg.payload = bytes
            feed(seg)
        }
        var fin = c(isn &+ 1 &+ UInt32(length), "", [.ack, .fin])
        fin.ms = nil
        feed(fin)
        table.flushAll(time: Timestamp(nanoseconds: t + 1), handler: &collector)
        #expect(collector.bytes.count == length)
        #expect(collector.ended)
        for (i, b) in collector.bytes.enumerated() {
            if let b { #expect(copies[i].contains(b), "offset \(i)") }
        }
        #expect(table.stats.bufferedBytes == 0)
        #expect(table.stats.bufferedRuns == 0)
        #expect(table.activeFlows == 0)
    }
}

/// Counts flows by id for the index test.
struct FlowIDRecorder: StreamHandler {
    var lastDataFlow: UInt64 = 0
    var lastStarted: UInt64 = 0
    var closed: [UInt64] = []
    var violations = 0
    var owner: [Int: UInt64] = [:]
    mutating func flowStarted(slot: Int, info: FlowInfo) {
        if owner[slot] != nil { violations += 1 }
        owner[slot] = info.id
        lastStarted = info.id
    }
    mutating func streamData(slot: Int, info: FlowInfo, direction: Direction, bytes: Span<UInt8>, time: Timestamp) {
        if owner[slot] != info.id { violations += 1 }
        lastDataFlow = info.id
    }
    mutating func streamGap(slot: Int, info: FlowInfo, direction: Direction, length: UInt64, time: Timestamp) {}
    mutating func streamEnded(slot: Int, info: FlowInfo, direction: Direction, time: Timestamp) {}
    mutating func flowClosed(slot: Int, info: FlowInfo, reason: CloseReason, time: Timestamp) {
        if owner[slot] != info.id { violations += 1 }
        owner[slot] = nil
        closed.append(info.id)
    }
}

@Suite("Flow index")
struct FlowIndexTests {
    struct Endpoint: Hashable { var address: IPAddress; var port: UInt16; var vlan: UInt16 }

    /// Random opens (mid-stream data), data in either orientation and RST closes, against a
    /// dictionary model, with IPv4 and IPv6 keys sharing one small index (many collisions and
    /// backward shifts).
    @Test(arguments: [8, 64, 300])
    func indexMatchesModel(maxFlows: Int) {
        var rng = SplitMix64(state: UInt64(maxFlows))
        var configuration = ReassemblyConfiguration()
        configuration.maxFlows = maxFlows
        var table = FlowTable(configuration: configuration)
        var recorder = FlowIDRecorder()
        // 2 * maxFlows possible client endpoints; the server side is fixed per family.
        let clients: [Endpoint] = (0..<(2 * maxFlows)).map { i in
            let address = i % 2 == 0 ? IPAddress(ipv4: 0xC000_0200 | UInt32(i % 7))
                                     : IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: UInt64(i % 5))
            return Endpoint(address: address, port: UInt16(1024 + i), vlan: UInt16(i % 3))
        }
        var model: [Endpoint: UInt64] = [:]  // open flows by client endpoint
        var nextSeq: [Endpoint: UInt32] = [:]
        var nextID: UInt64 = 1
        var t = baseTime
        var byte: [UInt8] = [UInt8](repeating: 0, count: 54) + [0x41]

        for _ in 0..<5000 {
            let client = clients.randomElement(using: &rng)!
            let server = client.address.isIPv6 ? IPAddress(ipv6High: 0x2001_0DB8_0000_0001, low: 1)
                                               : IPAddress(ipv4: 0xC000_02FE)
            var vlans = VLANTags()
            if client.vlan > 0 { vlans.count = 1; vlans.outer = client.vlan }
            let fromClient = Bool.random(using: &rng)
            let rst = model[client] != nil && Int.random(in: 0..<5, using: &rng) == 0
            let seq = nextSeq[client, default: 1000]
            let packet = DecodedPacket(
                source: fromClient ? client.address : server, destination: fromClient ? server : client.address,
                sourcePort: fromClient ? client.port : 143, destinationPort: fromClient ? 143 : client.port,
                sequence: fromClient ? seq : 9000, acknowledgment: 0, flags: rst ? [.rst] : [.psh],
                window: 0, payloadStart: 54, payloadEnd: 55, vlans: vlans)
            t += 1_000_000
            byte[54] &+= 1
            // When the table is full a new flow evicts one: `closed` says which.
            let closedBefore = recorder.closed.count
            table.process(packet, frame: byte.span, time: Timestamp(nanoseconds: t), handler: &recorder)
            for id in recorder.closed[closedBefore...] {
                if let key = model.first(where: { $0.value == id })?.key { model[key] = nil; nextSeq[key] = nil }
            }
            if rst {
                #expect(model[client] == nil)
                continue
            }
            if let id = model[client] {
                #expect(recorder.lastDataFlow == id || !fromClient)
            } else {
                #expect(recorder.lastStarted == nextID)
                model[client] = nextID
                nextID += 1
                if !fromClient { nextSeq[client] = 1000 }
            }
            if fromClient { nextSeq[client] = seq &+ 1 }
            #expect(table.activeFlows == model.count)
        }
        #expect(recorder.violations == 0)
        table.flushAll(time: Timestamp(nanoseconds: t + 1), handler: &recorder)
        #expect(table.activeFlows == 0)
        #expect(recorder.violations == 0)
        #expect(table.stats.flowsClosedByReason.total == table.stats.flowsCreated)
    }

    @Test func vlansSeparateFlowsUnlessConfiguredOff() {
        var tagged = c(1001, "a")
        tagged.vlans.count = 1
        tagged.vlans.outer = 100
        let untagged = c(1002, "b")

        let (onTable, onRecorder) = run([.seg(tagged), .seg(untagged), .flush])
        #expect(onTable.stats.flowsCreated == 2)
        #expect(onRecorder.infos[1]?.vlans.outer == 100)

        var configuration = ReassemblyConfiguration()
        configuration.vlansInFlowKey = false
        let (offTable, offRecorder) = run([.seg(tagged), .seg(untagged), .flush], configuration: configuration)
        #expect(offTable.stats.flowsCreated == 1)
        #expect(offRecorder.events.contains(.data(C, "ab")))
    }
}

/// In-order payload reaches the handler as a view of the caller's frame, not a copy.
struct PointerRecorder: StreamHandler {
    var addresses: [UnsafeRawPointer?] = []
    mutating func flowStarted(slot: Int, info: FlowInfo) {}
    mutating func streamData(slot: Int, info: FlowInfo, direction: Direction, bytes: Span<UInt8>, time: Timestamp) {
        addresses.append(bytes.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) })
    }
    mutating func streamGap(slot: Int, info: FlowInfo, direction: Direction, length: UInt64, time: Timestamp) {}
    mutating func streamEnded(slot: Int, info: FlowInfo, direction: Direction, time: Timestamp) {}
    mutating func flowClosed(slot: Int, info: FlowInfo, reason: CloseReason, time: Timestamp) {}
}

@Test func inOrderDataIsNotCopied() {
    var table = FlowTable(configuration: ReassemblyConfiguration())
    var recorder = PointerRecorder()
    let (packet, frame) = c(1001, "hello").packet()
    let base = frame.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!) }  // storage is stable: `frame` is a let
    table.process(packet, frame: frame.span, time: Timestamp(nanoseconds: baseTime), handler: &recorder)
    #expect(recorder.addresses == [base + 54])
}

@Test func inconsistentPayloadOffsetsAreTreatedAsNoPayload() {
    var table = FlowTable(configuration: ReassemblyConfiguration())
    var recorder = Recorder()
    var (packet, frame) = c(1001, "hello").packet()
    packet.payloadEnd = frame.count + 10
    table.process(packet, frame: frame.span, time: Timestamp(nanoseconds: baseTime), handler: &recorder)
    #expect(recorder.events.isEmpty)
    #expect(table.stats.packetsWithoutFlow == 1)
}

/// Policy `ack` against a model receiver (issue 17): the client's real segments (in a locally
/// shuffled order, with identical duplicates) reach the server, which keeps what it receives and
/// acknowledges cumulatively after each one; decoys with other bytes, each over offsets the
/// server has not received yet, die on the way; spoofed RSTs outside the server's window are
/// sent throughout. The sensor sees everything. What it delivers must be what the server
/// processed: the original stream, whole, on one flow that never closes early.
@Suite("Reassembly properties, policy ack")
struct AckModelTests {
    @Test(arguments: 0..<40)
    func deliversWhatTheReceiverProcessed(seed: Int) {
        var rng = SplitMix64(state: UInt64(seed) &* 15_485_863 &+ 3)
        let length = Int.random(in: 1...2500, using: &rng)
        let original = (0..<length).map { _ in UInt8.random(in: 0x21...0x7E, using: &rng) }
        var real: [(Int, Int)] = []
        var offset = 0
        while offset < length {
            let n = min(length - offset, Int.random(in: 1...40, using: &rng))
            real.append((offset, n))
            offset += n
        }
        for _ in 0..<(length / 25) { real.append(real[Int.random(in: 0..<real.count, using: &rng)]) }
        real.sort { $0.0 < $1.0 }
        for i in real.indices {
            real.swapAt(i, min(real.count - 1, i + Int.random(in: 0...6, using: &rng)))
        }
        let isn = UInt32.random(in: 0...UInt32.max, using: &rng)
        let serverISN: UInt32 = 77_000

        var configuration = ReassemblyConfiguration()
        configuration.streamPolicy = .ack
        configuration.windowBytes = 1 << 20
        configuration.maxHoles = 10_000
        var table = FlowTable(configuration: configuration)
        var collector = StreamCollector()
        var t = baseTime
        func feed(_ seg: Seg) {
            t += 1_000
            let (packet, frame) = seg.packet()
            table.process(packet, frame: frame.span, time: Timestamp(nanoseconds: t), handler: &collector)
        }
        func clientSegment(_ at: Int, _ bytes: [UInt8]) -> Seg {
            var seg = c(isn &+ 1 &+ UInt32(at), "", ack: serverISN &+ 1)
            seg.payload = bytes
            return seg
        }
        feed(c(isn, "", [.syn], ack: 0))
        feed(s(serverISN, "", [.syn, .ack], ack: isn &+ 1))
        feed(c(isn &+ 1, "", [.ack], ack: serverISN &+ 1))

        var received = [Bool](repeating: false, count: length)
        var rcvNext = 0
        var decoys = 0
        for (at, n) in real {
            // A decoy first, sometimes: over offsets the server has not received, other bytes.
            if Int.random(in: 0..<3, using: &rng) == 0 {
                let lo = Int.random(in: at..<(at + n), using: &rng)
                var hi = lo
                while hi < length && hi - lo < 50 && !received[hi] { hi += 1 }
                if hi > lo {
                    let bytes = (lo..<hi).map { original[$0] ^ 0x01 }
                    feed(clientSegment(lo, bytes))
                    decoys += 1
                }
            }
            if Int.random(in: 0..<8, using: &rng) == 0 {
                // Spoofed: at least a window's length beyond anything sent, or before the ACK.
                let bad = Bool.random(using: &rng)
                    ? isn &+ 1 &+ UInt32(length + 70_000 + Int.random(in: 0..<1_000_000, using: &rng))
                    : isn &+ 1 &+ UInt32(truncatingIfNeeded: rcvNext - 1 - Int.random(in: 0..<1000, using: &rng))
                if rcvNext > 0 || bad != isn { feed(c(bad, "", [.rst], ack: 0)) }
            }
            feed(clientSegment(at, Array(original[at..<(at + n)])))
            for i in at..<(at + n) { received[i] = true }
            while rcvNext < length && received[rcvNext] { rcvNext += 1 }
            feed(s(serverISN &+ 1, "", [.ack], ack: isn &+ 1 &+ UInt32(rcvNext)))
        }
        #expect(rcvNext == length)
        #expect(collector.bytes.count == length)
        #expect(collector.bytes == original.map { Optional($0) }, "seed \(seed), \(decoys) decoys")
        #expect(collector.closed == [], "a spoofed RST closed the flow")
        #expect(table.stats.gaps == 0)
        #expect(table.stats.bufferedBytes == 0)
        #expect(table.stats.flowsCreated == 1)
        table.flushAll(time: Timestamp(nanoseconds: t + 1), handler: &collector)
        #expect(collector.closed == [.shutdown])
        #expect(table.stats.events.unackedDataFlushed == 0)
    }
}
