// How the engine names a packet inside a `Finding` (`Finding.packet`): one integer, carried from
// the packet that completed a login to its report, which the router turns into the
// `FlowFinding`'s capture file and record number (an alert's `pcap_filename` and `pcap_cnt`). One integer rather than a name and a number so the per-packet cost is one store.

/// The capture file's place in the run (1, 2, 3... as `Engine.beginCaptureFile` was called; 0
/// for none) in the high bits, the record's number in that file (`FrameRecord.number`, 0 for
/// none) in the low `numberBits`.
enum PacketReference {
    static let numberBits = 40
    /// Files past this many get no file part (their alerts give `pcap_cnt` without a name).
    static let maxFiles = (1 << (64 - numberBits)) - 1

    static func number(_ reference: UInt64) -> UInt64 { reference & ((1 << UInt64(numberBits)) - 1) }
    static func file(_ reference: UInt64) -> Int { Int(reference >> UInt64(numberBits)) }
}
