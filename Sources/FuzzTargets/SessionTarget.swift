import MailAuth

/// Chunks of one conversation: a control byte `c`, then
/// - `c < 0x80`: `c & 0x3F` bytes (0x3F: length in the next two bytes, big-endian) from the client
///   (`c & 0x40 == 0`) or the server;
/// - `c >= 0x80`: a gap of `c & 0x3F` bytes on the client (`c & 0x40 == 0`) or server side.
/// The end of the script finishes the session.
enum SessionTarget {
    static func run(_ data: Span<UInt8>, proto: MailProtocol) {
        let parser = ProtocolRegistry.makeParser(for: proto)
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
            i = end
        }
        parser.finish(time: time + 1)
        collect()
        precondition(parser.takeFindings().isEmpty, "findings reported twice")
    }
}
