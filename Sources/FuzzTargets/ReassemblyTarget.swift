import Reassembly
import Wire

/// Segments over four flows into a table of three slots, with small windows, hole and memory caps
/// and short timeouts, so eviction, cap-driven gaps, idle sweeps, reuse and wraparound are all
/// reachable from a few dozen bytes. Each segment is six bytes:
/// 0: flow (bits 0-1), from the client (bit 2), SYN (3), ACK (4), FIN (5), RST (6), +3 s (7);
/// 1-2: sequence, big-endian, relative to the direction's ISN minus 256;
/// 3: acknowledgment, the peer's ISN plus 32 times this;
/// 4: payload length; 5: time step in ms (bits 1-7) and conflicting payload bytes (bit 0).
/// The advertised window is byte 3 times 64 (so RSTs land inside and outside it). A segment with
/// SYN, FIN and RST all set is instead `settle` of slot byte 1 mod 3 (policy `ack` stops holding).
/// Conflicting payloads under policy `ack` exercise the replacement of unacknowledged copies.
/// Trailing bytes (the script's length mod 6) choose the policies: bit 0 of the last one `first`
/// (else `ack`), bits 1-2 the RST policy (window, exact, any).
enum ReassemblyTarget {
    static func configuration(policyByte: UInt8 = 0) -> ReassemblyConfiguration {
        var c = ReassemblyConfiguration()
        c.streamPolicy = policyByte & 1 == 0 ? .ack : .first
        c.resetPolicy = [ResetPolicy.window, .exact, .any, .window][Int(policyByte >> 1 & 3)]
        c.maxFlows = 3
        c.windowBytes = 512
        c.maxHoles = 4
        c.memoryBudget = 1500
        c.handshakeTimeout = 2_000_000_000
        c.idleTimeout = 5_000_000_000
        c.evictionProbe = 2
        c.isServicePort = { $0 == 143 }
        return c
    }

    static func run(_ data: Span<UInt8>) {
        let configuration = configuration(policyByte: data.count % 6 == 0 ? 0 : data[data.count - 1])
        var table = FlowTable(configuration: configuration)
        var checker = Checker(slots: configuration.maxFlows)
        var time: Int64 = 1_700_000_000_000_000_000
        var frame = [UInt8](repeating: 0xEE, count: 54 + 255 + 4)
        var i = 0
        while i + 6 <= data.count {
            let b0 = data[i], b3 = data[i + 3], b4 = data[i + 4], b5 = data[i + 5]
            let relative = UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
            i += 6
            if b0 & 0x68 == 0x68 {
                table.settle(slot: Int(data[i - 5] % 3), time: Timestamp(nanoseconds: time), handler: &checker)
                checkBounds(table, configuration)
                continue
            }
            let flow = UInt16(b0 & 3)
            let fromClient = b0 & 4 != 0
            var flags = TCPFlags()
            if b0 & 0x08 != 0 { flags.insert(.syn) }
            if b0 & 0x10 != 0 { flags.insert(.ack) }
            if b0 & 0x20 != 0 { flags.insert(.fin) }
            if b0 & 0x40 != 0 { flags.insert(.rst) }
            time += Int64(b5 >> 1) * 1_000_000 + (b0 & 0x80 != 0 ? 3_000_000_000 : 0)
            // The client's ISN sits just below 2^32 so streams wrap early.
            let clientISN: UInt32 = 0xFFFF_FF00 &+ UInt32(flow)
            let serverISN: UInt32 = 1000 &* UInt32(flow + 1)
            let isn = fromClient ? clientISN : serverISN
            let peerISN = fromClient ? serverISN : clientISN
            let sequence = isn &+ relative &- 256
            let length = Int(b4)
            for k in 0..<length {
                let offset = relative &+ UInt32(k)
                frame[54 + k] = UInt8(truncatingIfNeeded: offset &* 31 &+ 7) ^ (b5 & 1 == 0 ? 0 : 0x5A)
            }
            let client = IPAddress(ipv4: 0x0A00_0001), server = IPAddress(ipv4: 0x0A00_0002)
            let packet = DecodedPacket(
                source: fromClient ? client : server, destination: fromClient ? server : client,
                sourcePort: fromClient ? 40000 + flow : 143, destinationPort: fromClient ? 143 : 40000 + flow,
                sequence: sequence, acknowledgment: peerISN &+ UInt32(b3) &* 32, flags: flags, window: UInt16(b3) &* 64,
                payloadStart: 54, payloadEnd: 54 + length, vlans: VLANTags())
            frame.withUnsafeBufferPointer { buffer in
                table.process(packet, frame: buffer.span.extracting(0..<(54 + length + 4)),
                              time: Timestamp(nanoseconds: time), handler: &checker)
            }
            checkBounds(table, configuration)
        }
        table.flushAll(time: Timestamp(nanoseconds: time), handler: &checker)
        checkBounds(table, configuration)
        precondition(table.activeFlows == 0, "flows left after flushAll")
        precondition(table.stats.bufferedBytes == 0, "buffered bytes left after flushAll")
        precondition(!checker.open.contains(true), "a flow never reported closed")
    }

    static func checkBounds(_ table: FlowTable, _ c: ReassemblyConfiguration) {
        let s = table.stats
        precondition(s.bufferedBytes >= 0 && s.bufferedBytes <= c.memoryBudget, "memory budget exceeded")
        precondition(s.peakBufferedBytes <= c.memoryBudget, "peak over the memory budget")
        precondition(table.activeFlows <= c.maxFlows, "more flows than slots")
    }

    /// Checks the callback protocol: a slot is started before use and closed once, no direction
    /// delivers after it ended, and stream positions only move forward.
    struct Checker: StreamHandler {
        var open: [Bool]
        var ended: [Bool]
        var flowIDs: [UInt64]
        var lastID: UInt64 = 0

        init(slots: Int) {
            open = Array(repeating: false, count: slots)
            ended = Array(repeating: false, count: 2 * slots)
            flowIDs = Array(repeating: 0, count: slots)
        }

        func half(_ slot: Int, _ d: Direction) -> Int { 2 * slot + (d == .clientToServer ? 0 : 1) }

        mutating func flowStarted(slot: Int, info: FlowInfo) {
            precondition(!open[slot], "flowStarted on an open slot")
            precondition(info.id > lastID, "flow ids not increasing")
            lastID = info.id
            open[slot] = true
            flowIDs[slot] = info.id
            ended[2 * slot] = false
            ended[2 * slot + 1] = false
        }

        mutating func streamData(slot: Int, info: FlowInfo, direction: Direction, bytes: Span<UInt8>, time: Timestamp) {
            precondition(open[slot] && flowIDs[slot] == info.id, "data for a closed slot")
            precondition(!ended[half(slot, direction)], "data after the direction ended")
            precondition(bytes.count <= 512 + 255, "a delivery larger than any segment or window")
        }

        mutating func streamGap(slot: Int, info: FlowInfo, direction: Direction, length: UInt64, time: Timestamp) {
            precondition(open[slot] && flowIDs[slot] == info.id, "gap for a closed slot")
            precondition(!ended[half(slot, direction)], "gap after the direction ended")
            precondition(length > 0, "empty gap")
        }

        mutating func streamEnded(slot: Int, info: FlowInfo, direction: Direction, time: Timestamp) {
            precondition(open[slot] && flowIDs[slot] == info.id, "end for a closed slot")
            precondition(!ended[half(slot, direction)], "direction ended twice")
            ended[half(slot, direction)] = true
        }

        mutating func flowClosed(slot: Int, info: FlowInfo, reason: CloseReason, time: Timestamp) {
            precondition(open[slot] && flowIDs[slot] == info.id, "closing a closed slot")
            open[slot] = false
        }
    }
}
