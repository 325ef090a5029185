import Capture
import Engine
import MailAuth
import Reassembly
import Wire

/// Turns recorded captures into seed inputs for every target, in each target's input format, so
/// the fuzzer starts from real POP3/IMAP/SMTP exchanges instead of random bytes.
public enum SeedMaker {
    /// Seeds for `target` from the capture files at `paths`, as (name, bytes) pairs. Unreadable
    /// captures contribute nothing.
    public static func seeds(for target: FuzzTarget, captures paths: [String]) -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        for path in paths {
            let stem = String(path.split(separator: "/").last ?? "capture")
            switch target {
            case .engine:
                if let bytes = readAll(path) { out.append((stem, bytes)) }
            case .decoder:
                for (k, frame) in frames(path).prefix(4).enumerated() { out.append(("\(stem)-\(k)", frame)) }
            case .reassembly:
                if let ops = reassemblyScript(path) { out.append((stem, ops)) }
            case .defrag:
                if let ops = defragScript(path) { out.append((stem, ops)) }
            case .refill:
                if path.hasSuffix(".pcap"), let bytes = readAll(path), bytes.count > 24 {
                    // Reads of at most 1 to 256 bytes, around the 16-byte record header and past a
                    // whole record, and ticks that cut the batches too, varied from file to file.
                    let n = out.count
                    let largest: [UInt8] = [0, 6, 14, 15, 16, 63, 200, 255]
                    out.append((stem, [largest[n % largest.count], UInt8(truncatingIfNeeded: n &* 37), UInt8(n % 5)]
                                      + bytes))
                }
            case .framer, .session:
                for (k, transcript) in transcripts(path).enumerated() {
                    if target == .framer {
                        out.append(("\(stem)-\(k)", framerScript(transcript.chunks)))
                    } else if transcript.proto.rawValue == target.rawValue {
                        out.append(("\(stem)-\(k)", sessionScript(transcript.chunks)))
                    }
                }
            }
        }
        return out
    }

    static func readAll(_ path: String) -> [UInt8]? {
        guard let reader = try? PcapFileReader(path: path), reader.linkType != nil else { return nil }
        return fopenRead(path)
    }

    /// The frames that carry TCP payload, each prefixed by the decoder target's link byte.
    static func frames(_ path: String) -> [[UInt8]] {
        guard let reader = try? PcapFileReader(path: path), let link = reader.linkType,
              let index = DecoderTarget.links.firstIndex(of: link) else { return [] }
        var out: [[UInt8]] = []
        _ = reader.read { frame, _ in
            guard case .tcp(let p)? = try? PacketDecoder.decode(frame, link: link), p.payloadLength > 0 else { return }
            var bytes = [UInt8(index)]
            for i in frame.indices { bytes.append(frame[i]) }
            out.append(bytes)
        }
        return out
    }

    struct Transcript {
        var proto: MailProtocol
        /// (from the server, bytes) or a gap (bytes empty, length in `gap`).
        var chunks: [(server: Bool, bytes: [UInt8], gap: Int)]
    }

    /// Each mail flow's reassembled conversation, in delivery order.
    static func transcripts(_ path: String) -> [Transcript] {
        guard let reader = try? PcapFileReader(path: path), let link = reader.linkType else { return [] }
        var configuration = ReassemblyConfiguration()
        configuration.maxFlows = 64
        var table = FlowTable(configuration: configuration)
        var recorder = Recorder()
        var last = Timestamp.zero
        _ = reader.read { frame, time in
            guard case .tcp(let p)? = try? PacketDecoder.decode(frame, link: link) else { return }
            table.process(p, frame: frame, time: time, handler: &recorder)
            last = time
        }
        table.flushAll(time: last, handler: &recorder)
        return recorder.done.compactMap { flow in
            guard let proto = flow.proto else { return nil }
            return Transcript(proto: proto, chunks: flow.chunks)
        }
    }

    struct Recorder: StreamHandler {
        struct Flow {
            var proto: MailProtocol?
            var chunks: [(server: Bool, bytes: [UInt8], gap: Int)] = []
        }
        var flows: [Int: Flow] = [:]
        var done: [Flow] = []

        mutating func flowStarted(slot: Int, info: FlowInfo) {
            flows[slot] = Flow(proto: ProtocolRegistry.protocolForPort(info.serverPort))
        }
        mutating func streamData(slot: Int, info: FlowInfo, direction: Direction, bytes: Span<UInt8>, time: Timestamp) {
            let server = direction == .serverToClient
            if server, flows[slot]?.chunks.isEmpty == true, let p = ProtocolRegistry.protocolForGreeting(bytes) {
                flows[slot]?.proto = p
            }
            var copy: [UInt8] = []
            for i in bytes.indices { copy.append(bytes[i]) }
            flows[slot]?.chunks.append((server, copy, 0))
        }
        mutating func streamGap(slot: Int, info: FlowInfo, direction: Direction, length: UInt64, time: Timestamp) {
            flows[slot]?.chunks.append((direction == .serverToClient, [], Int(min(length, 63))))
        }
        mutating func streamEnded(slot: Int, info: FlowInfo, direction: Direction, time: Timestamp) {}
        mutating func flowClosed(slot: Int, info: FlowInfo, reason: CloseReason, time: Timestamp) {
            if let flow = flows.removeValue(forKey: slot), !flow.chunks.isEmpty { done.append(flow) }
        }
    }

    /// `SessionTarget`'s format.
    static func sessionScript(_ chunks: [(server: Bool, bytes: [UInt8], gap: Int)]) -> [UInt8] {
        var out: [UInt8] = []
        for chunk in chunks {
            let side: UInt8 = chunk.server ? 0x40 : 0
            if chunk.bytes.isEmpty {
                out.append(0x80 | side | UInt8(chunk.gap & 0x3F))
                continue
            }
            appendChunk(&out, control: side, chunk.bytes)
        }
        return out
    }

    /// `FramerExercise`'s format: the client's side only (the framer is per direction).
    static func framerScript(_ chunks: [(server: Bool, bytes: [UInt8], gap: Int)]) -> [UInt8] {
        var out: [UInt8] = []
        for chunk in chunks where !chunk.server {
            if chunk.bytes.isEmpty { out.append(0x80 | UInt8(chunk.gap & 0x3F)) } else { appendChunk(&out, control: 0, chunk.bytes) }
        }
        return out
    }

    static func appendChunk(_ out: inout [UInt8], control: UInt8, _ bytes: [UInt8]) {
        if bytes.count < 0x3F {
            out.append(control | UInt8(bytes.count))
        } else {
            let n = min(bytes.count, 0xFFFF)
            out += [control | 0x3F, UInt8(n >> 8), UInt8(n & 0xFF)]
        }
        out += bytes.prefix(0xFFFF)
    }

    /// `DefragmentTarget`'s format: the first 16 TCP packets with payload, each as an IP datagram of
    /// its version and IP length (at most 744 bytes) cut into three or four fragments, in order,
    /// reversed or with a duplicate by turns; the policy from the capture's name.
    static func defragScript(_ path: String) -> [UInt8]? {
        guard let reader = try? PcapFileReader(path: path), let link = reader.linkType else { return nil }
        var out: [UInt8] = [UInt8(truncatingIfNeeded: path.utf8.count % 3)]
        var k = 0
        _ = reader.read { frame, _ in
            guard k < 16, case .tcp(let p)? = try? PacketDecoder.decode(frame, link: link), p.payloadLength > 0 else { return }
            let ipv6 = p.source.isIPv6
            let length = min(744, p.payloadLength + 20)
            let size = max(8, length / 3 / 8 * 8)
            var fragments: [[UInt8]] = []
            for start in stride(from: 0, to: length, by: size) {
                let more = start + size < length
                let b0 = UInt8(k & 3) | (ipv6 ? 4 : 0) | (more ? 8 : 0) | UInt8((k >> 2 & 3) << 5)
                // A 250 ms step between fragments, and the bytes' own copy.
                fragments.append([b0, UInt8(start / 8), UInt8(min(size, length - start)), 1 << 2])
            }
            switch k % 3 {
            case 1: fragments.reverse()
            case 2: fragments.insert(fragments[0], at: min(1, fragments.count))
            default: break
            }
            out += fragments.joined()
            k += 1
        }
        return k == 0 ? nil : out
    }

    /// `ReassemblyTarget`'s format, from the first flow's segments: sequence numbers relative to
    /// each direction's first one, flags and lengths as recorded (payload bytes are synthetic).
    static func reassemblyScript(_ path: String) -> [UInt8]? {
        guard let reader = try? PcapFileReader(path: path), let link = reader.linkType else { return nil }
        var out: [UInt8] = []
        var firstSeq: [Bool: UInt32] = [:]
        var clientPort: UInt16?
        var serverPort: UInt16 = 0
        _ = reader.read { frame, _ in
            guard out.count < 6 * 64, case .tcp(let p)? = try? PacketDecoder.decode(frame, link: link) else { return }
            if clientPort == nil { clientPort = p.sourcePort; serverPort = p.destinationPort }
            let fromClient = p.sourcePort == clientPort && p.destinationPort == serverPort
            guard fromClient || (p.sourcePort == serverPort && p.destinationPort == clientPort) else { return }
            let base = firstSeq[fromClient] ?? p.sequence
            firstSeq[fromClient] = base
            let peerBase = firstSeq[!fromClient] ?? p.acknowledgment
            let relative = min(UInt32(0xFFFF), (p.sequence &- base) &+ 256)
            var b0: UInt8 = fromClient ? 4 : 0
            if p.flags.contains(.syn) { b0 |= 0x08 }
            if p.flags.contains(.ack) { b0 |= 0x10 }
            if p.flags.contains(.fin) { b0 |= 0x20 }
            if p.flags.contains(.rst) { b0 |= 0x40 }
            out += [b0, UInt8(relative >> 8), UInt8(relative & 0xFF),
                    UInt8(min(255, ((p.acknowledgment &- peerBase) &+ 256) / 32)),
                    UInt8(min(255, p.payloadLength)), 2]
        }
        return out.isEmpty ? nil : out
    }
}
