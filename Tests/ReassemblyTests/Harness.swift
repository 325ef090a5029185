// A compact DSL for reassembly tests, after gopacket's `testSequence{in, want}`: a case is a list
// of steps (segments from the client `c(...)` or server `s(...)`, plus table actions), and the
// expected handler events with consecutive data of one flow and direction joined into one string.

import Testing
import Wire
@testable import Reassembly

let clientAddress = IPAddress(ipv4: 0x0A00_0001)  // 10.0.0.1
let serverAddress = IPAddress(ipv4: 0x0A00_0002)  // 10.0.0.2
let baseTime: Int64 = 1_700_000_000 * 1_000_000_000

/// One TCP segment, from the client (`fromClient`) or the server of a connection between
/// 10.0.0.1:`clientPort` and 10.0.0.2:`serverPort`.
struct Seg: Sendable {
    var fromClient: Bool
    var seq: UInt32
    var payload: [UInt8]
    var flags: TCPFlags
    var ack: UInt32
    var clientPort: UInt16 = 40000
    var serverPort: UInt16 = 143
    var vlans = VLANTags()
    /// Packet time in milliseconds after `baseTime`; nil: 1 ms after the previous step.
    var ms: Int64?

    func packet(headerLength: Int = 54) -> (DecodedPacket, [UInt8]) {
        let src = fromClient ? clientAddress : serverAddress
        let dst = fromClient ? serverAddress : clientAddress
        let sp = fromClient ? clientPort : serverPort
        let dp = fromClient ? serverPort : clientPort
        var frame = [UInt8](repeating: 0xEE, count: headerLength)
        frame += payload
        frame += [0xEE, 0xEE, 0xEE, 0xEE]  // trailer (Ethernet padding/FCS): must not be delivered
        let packet = DecodedPacket(source: src, destination: dst, sourcePort: sp, destinationPort: dp,
                                   sequence: seq, acknowledgment: ack, flags: flags, window: 65535,
                                   payloadStart: headerLength, payloadEnd: headerLength + payload.count,
                                   vlans: vlans)
        return (packet, frame)
    }

    /// The same segment on another connection (client port).
    func port(_ p: UInt16) -> Seg { var s = self; s.clientPort = p; return s }
    func at(ms: Int64) -> Seg { var s = self; s.ms = ms; return s }
}

/// Data segment from the client (ACK and PSH set unless `flags` says otherwise).
func c(_ seq: UInt32, _ data: String = "", _ flags: TCPFlags = [.ack, .psh], ack: UInt32 = 5001) -> Seg {
    Seg(fromClient: true, seq: seq, payload: Array(data.utf8), flags: flags, ack: ack)
}

/// Data segment from the server.
func s(_ seq: UInt32, _ data: String = "", _ flags: TCPFlags = [.ack, .psh], ack: UInt32 = 1001) -> Seg {
    Seg(fromClient: false, seq: seq, payload: Array(data.utf8), flags: flags, ack: ack)
}

/// Client ISN 1000 (data from 1001), server ISN 5000 (data from 5001).
let handshake: [Step] = [
    .seg(c(1000, "", [.syn], ack: 0)),
    .seg(s(5000, "", [.syn, .ack], ack: 1001)),
    .seg(c(1001, "", [.ack], ack: 5001)),
]

enum Step: Sendable {
    case seg(Seg)
    /// `stopBuffering` for the flow with this id.
    case stop(UInt64)
    /// `flushAll` (at the time of the next step's rule).
    case flush
}

/// A handler event, flattened. Data is joined per flow and direction while consecutive.
enum Event: Equatable, CustomStringConvertible {
    case started(clientPort: UInt16, serverPort: UInt16, midstream: Bool, flow: UInt64 = 1)
    case data(Direction, String, flow: UInt64 = 1)
    case gap(Direction, UInt64, flow: UInt64 = 1)
    case ended(Direction, flow: UInt64 = 1)
    case closed(CloseReason, flow: UInt64 = 1)

    var description: String {
        switch self {
        case let .started(cp, sp, m, f): return "#\(f) started \(cp)->\(sp)\(m ? " midstream" : "")"
        case let .data(d, s, f): return "#\(f) \(d == .clientToServer ? "C" : "S") data \(s.debugDescription)"
        case let .gap(d, n, f): return "#\(f) \(d == .clientToServer ? "C" : "S") gap \(n)"
        case let .ended(d, f): return "#\(f) \(d == .clientToServer ? "C" : "S") ended"
        case let .closed(r, f): return "#\(f) closed \(r)"
        }
    }
}

let C = Direction.clientToServer
let S = Direction.serverToClient

/// Records every callback and checks the slot discipline: a slot holds one flow between
/// `flowStarted` and `flowClosed`, and every callback names the flow that holds its slot.
struct Recorder: StreamHandler {
    var events: [Event] = []
    var slotOwner: [Int: UInt64] = [:]
    var slotOf: [UInt64: Int] = [:]
    var infos: [UInt64: FlowInfo] = [:]
    var violations: [String] = []
    var lastTime: [UInt64: Timestamp] = [:]
    /// `info.overlapConflict` as each data callback saw it.
    var flagOnData: [Bool] = []

    mutating func check(_ slot: Int, _ info: FlowInfo, _ what: String) {
        if slotOwner[slot] != info.id { violations.append("\(what) for #\(info.id) in slot \(slot) owned by \(String(describing: slotOwner[slot]))") }
        infos[info.id] = info
    }

    mutating func flowStarted(slot: Int, info: FlowInfo) {
        if let other = slotOwner[slot] { violations.append("slot \(slot) reused by #\(info.id) while #\(other) open") }
        slotOwner[slot] = info.id
        slotOf[info.id] = slot
        infos[info.id] = info
        events.append(.started(clientPort: info.clientPort, serverPort: info.serverPort, midstream: info.midstream,
                               flow: info.id))
    }

    mutating func streamData(slot: Int, info: FlowInfo, direction: Direction, bytes: Span<UInt8>, time: Timestamp) {
        check(slot, info, "data")
        flagOnData.append(info.overlapConflict)
        if bytes.count == 0 { violations.append("empty data for #\(info.id)") }
        let text = bytes.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }
        if case let .data(d, previous, f)? = events.last, d == direction, f == info.id {
            events[events.count - 1] = .data(d, previous + text, flow: f)
        } else {
            events.append(.data(direction, text, flow: info.id))
        }
    }

    mutating func streamGap(slot: Int, info: FlowInfo, direction: Direction, length: UInt64, time: Timestamp) {
        check(slot, info, "gap")
        if length == 0 { violations.append("zero gap for #\(info.id)") }
        events.append(.gap(direction, length, flow: info.id))
    }

    mutating func streamEnded(slot: Int, info: FlowInfo, direction: Direction, time: Timestamp) {
        check(slot, info, "ended")
        if events.contains(.ended(direction, flow: info.id)) { violations.append("ended twice #\(info.id)") }
        events.append(.ended(direction, flow: info.id))
    }

    mutating func flowClosed(slot: Int, info: FlowInfo, reason: CloseReason, time: Timestamp) {
        check(slot, info, "closed")
        for d in [C, S] where !events.contains(.ended(d, flow: info.id)) {
            violations.append("#\(info.id) closed before \(d) ended")
        }
        slotOwner[slot] = nil
        events.append(.closed(reason, flow: info.id))
    }
}

/// Runs steps through a table; returns the table and the recorder.
func run(_ steps: [Step], configuration: ReassemblyConfiguration = ReassemblyConfiguration())
    -> (FlowTable, Recorder) {
    var table = FlowTable(configuration: configuration)
    var recorder = Recorder()
    var now = baseTime
    for step in steps {
        switch step {
        case .seg(let seg):
            now = seg.ms.map { baseTime + $0 * 1_000_000 } ?? now + 1_000_000
            let (packet, frame) = seg.packet()
            table.process(packet, frame: frame.span, time: Timestamp(nanoseconds: now), handler: &recorder)
        case .stop(let id):
            if let slot = recorder.slotOf[id] { table.stopBuffering(slot: slot) }
        case .flush:
            now += 1_000_000
            table.flushAll(time: Timestamp(nanoseconds: now), handler: &recorder)
        }
    }
    return (table, recorder)
}

/// Stats a case checks, by name (only the named ones are compared).
func stat(_ s: ReassemblyStats, _ name: String) -> Int {
    switch name {
    case "flowsCreated": return s.flowsCreated
    case "flowsMidstream": return s.flowsMidstream
    case "finished": return s.flowsClosedByReason.finished
    case "reset": return s.flowsClosedByReason.reset
    case "idle": return s.flowsClosedByReason.idle
    case "evicted": return s.flowsClosedByReason.evicted
    case "reused": return s.flowsClosedByReason.reused
    case "shutdown": return s.flowsClosedByReason.shutdown
    case "packetsWithoutFlow": return s.packetsWithoutFlow
    case "retransmittedSegments": return s.retransmittedSegments
    case "retransmittedBytes": return Int(s.retransmittedBytes)
    case "overlapConflictBytes": return Int(s.overlapConflictBytes)
    case "outOfOrderSegments": return s.outOfOrderSegments
    case "gaps": return s.gaps
    case "gapBytes": return Int(s.gapBytes)
    case "windowOverflows": return s.windowOverflows
    case "holeLimitHits": return s.holeLimitHits
    case "retransmissionConflicts": return Int(s.retransmissionConflicts)
    case "memoryBudgetHits": return s.memoryBudgetHits
    case "peakBufferedBytes": return s.peakBufferedBytes
    case "bufferedBytes": return s.bufferedBytes
    default:
        Issue.record("unknown stat \(name)")
        return -1
    }
}
