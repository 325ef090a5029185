import MailAuth

/// Chunks of one conversation: a control byte `c`, then
/// - `c < 0x80`: `c & 0x3F` bytes (0x3F: length in the next two bytes, big-endian) from the client
///   (`c & 0x40 == 0`) or the server;
/// - `c >= 0x80`: a gap of `c & 0x3F` bytes on the client (`c & 0x40 == 0`) or server side.
/// The end of the script finishes the session. The input's length picks the parser memory budget
/// (none, 600 bytes, 4 KiB) and the line limit, so the paths that shed under the budget are fuzzed
/// too; every byte charged must be given back when the session is gone.
enum SessionTarget {
    static func run(_ data: Span<UInt8>, proto: MailProtocol) {
        let limit = [Int.max, 600, 4096][data.count % 3]
        let memory = SessionMemory(limitBytes: limit)
        let limits = SessionLimits(maxLine: data.count % 2 == 0 ? 4096 : 512, maxPending: 1 + data.count % 40)
        drive(data, proto: proto, limits: limits, memory: memory)
        precondition(memory.used == 0, "parser memory not given back: \(memory.used) bytes")
    }

    private static func drive(_ data: Span<UInt8>, proto: MailProtocol, limits: SessionLimits, memory: SessionMemory) {
        let parser = ProtocolRegistry.makeParser(for: proto, limits: limits, memory: memory)
        // What stays held after a shed is at most an unfinished login name (POP3 USER, IMAP LOGIN).
        let slack = 2 * Finding.maxUsernameBytes
        var i = 0
        var time: Int64 = 1
        func collect() {
            for f in parser.takeFindings() {
                precondition(f.proto == proto, "finding of another protocol")
                precondition((f.username?.count ?? 0) <= Finding.maxUsernameBytes, "username copy unbounded")
            }
        }
        while i < data.count {
            let c = data[i]
            i += 1
            time += 1
            let side: Side = c & 0x40 == 0 ? .client : .server
            if c >= 0x80 {
                parser.gap(UInt64(c & 0x3F), from: side, time: time)
                collect()
                precondition(memory.used <= max(memory.limit, memory.limit &+ slack), "parser memory over its budget")
                continue
            }
            var length = Int(c & 0x3F)
            if length == 0x3F {
                guard i + 1 < data.count else { break }
                length = Int(data[i]) << 8 | Int(data[i + 1])
                i += 2
            }
            let end = min(data.count, i + length)
            let wasDone = parser.isDone
            parser.receive(data.extracting(i..<end), from: side, time: time)
            collect()
            if wasDone { precondition(parser.isDone, "a session left TLS") }
            precondition(memory.used <= max(memory.limit, memory.limit &+ slack), "parser memory over its budget")
            i = end
        }
        parser.finish(time: time + 1)
        collect()
        precondition(parser.takeFindings().isEmpty, "findings reported twice")
    }
}
