// Packet bytes are read only through Span's checked subscript: a decoder bug then stops the process
// in tests instead of reading past the frame. Each layer checks its lengths once, at its edge, so in
// correct code these reads never fail.

extension Span where Element == UInt8 {
    @inline(__always)
    func u16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) &<< 8 | UInt16(self[offset &+ 1])
    }

    @inline(__always)
    func u32(at offset: Int) -> UInt32 {
        UInt32(u16(at: offset)) &<< 16 | UInt32(u16(at: offset &+ 2))
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
