// Packet bytes are read without a per-field bounds check, and only inside a header whose whole
// length was checked once, at the decoder's edge, a few lines above the read. A checked read costs
// about seven instructions (overflow, underflow and length tests) on top of the load, a header has
// up to ten fields, and every packet of a capture pays for them, mail or not. The asserts keep
// debug builds (tests, golden regeneration) as strict as checked reads would be, and the fuzz
// build runs under AddressSanitizer, so a decoder bug still stops the process instead of reading
// past the frame. The reads are `@unsafe`: this module is compiled with strict memory safety, so
// each call site is marked `unsafe` and says why its offset is inside the checked header.

extension Span where Element == UInt8 {
    // One load per field rather than one per byte.
    @unsafe @inline(__always)
    func u8(unchecked offset: Int) -> UInt8 {
        assert(offset >= 0 && offset < count, "unchecked read outside the frame")
        return unsafe self[unchecked: offset]
    }

    @unsafe @inline(__always)
    func u16(unchecked offset: Int) -> UInt16 {
        assert(offset >= 0 && offset <= count - 2, "unchecked read outside the frame")
        return UInt16(bigEndian: unsafe bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: offset, as: UInt16.self))
    }

    @unsafe @inline(__always)
    func u32(unchecked offset: Int) -> UInt32 {
        assert(offset >= 0 && offset <= count - 4, "unchecked read outside the frame")
        return UInt32(bigEndian: unsafe bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: offset, as: UInt32.self))
    }

    @unsafe @inline(__always)
    func u64(unchecked offset: Int) -> UInt64 {
        assert(offset >= 0 && offset <= count - 8, "unchecked read outside the frame")
        return UInt64(bigEndian: unsafe bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: offset, as: UInt64.self))
    }
}

/// Checks that a header ending at `end` fits. Two limits apply: the length the enclosing header
/// declares and the bytes actually captured. Running past the declared length is the sender's lie
/// (invalid); running past only the capture is a snaplen cut (truncated).
@inline(__always)
func requireHeader(end: Int, declaredEnd: Int, captured: Int, layer: DecodeLayer) throws(DecodeError) {
    // One comparison on the common path: the lower limit is shared by a layer's checks, so it is
    // computed once, and which limit was crossed matters only when one was.
    guard end > min(declaredEnd, captured) else { return }
    throw end > declaredEnd ? .invalid(layer) : .truncated(layer)
}
