// Packet bytes are read only through Span's checked subscript or RawSpan's checked loads: a decoder
// bug then stops the process in tests instead of reading past the frame. Each layer checks its
// lengths once, at its edge, so in correct code these reads never fail.

extension Span where Element == UInt8 {
    // One bounds check and one load per field rather than one per byte: the decoder runs on every
    // packet of a capture, mail or not.
    @inline(__always)
    func u16(at offset: Int) -> UInt16 {
        UInt16(bigEndian: bytes.unsafeLoadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    func u32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: bytes.unsafeLoadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func u64(at offset: Int) -> UInt64 {
        UInt64(u32(at: offset)) &<< 32 | UInt64(u32(at: offset &+ 4))
    }
}

/// Checks that a header ending at `end` fits. Two limits apply: the length the enclosing header
/// declares and the bytes actually captured. Running past the declared length is the sender's lie
/// (invalid); running past only the capture is a snaplen cut (truncated).
@inline(__always)
func requireHeader(end: Int, declaredEnd: Int, captured: Int, layer: DecodeLayer) throws(DecodeError) {
    if end > declaredEnd { throw .invalid(layer) }
    if end > captured { throw .truncated(layer) }
}
