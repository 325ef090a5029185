/// SipHash-2-4 (Aumasson and Bernstein, 2012) with a 128-bit key: a keyed 64-bit hash for counting
/// distinct login names without keeping them.
///
/// Not HMAC-SHA256: four SHA-256 blocks, a copied HMAC state and a 16-byte array per login are
/// a heavy price on the engine's thread, and a count needs no more than a keyed hash whose
/// collisions are negligible: at the 100,000 names a server may hold, two colliding is a chance
/// of about 3 in 10^10.
struct SipHash24 {
    let k0: UInt64
    let k1: UInt64

    /// The first 16 bytes of `key`, little-endian; shorter keys are padded with zeros.
    init<Key: Collection>(key: Key) where Key.Element == UInt8 {
        var words: (UInt64, UInt64) = (0, 0)
        for (i, byte) in key.prefix(16).enumerated() {
            if i < 8 { words.0 |= UInt64(byte) << (8 * UInt64(i)) } else { words.1 |= UInt64(byte) << (8 * UInt64(i - 8)) }
        }
        (k0, k1) = words
    }

    func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var v0: UInt64 = 0x736F_6D65_7073_6575 ^ k0
        var v1: UInt64 = 0x646F_7261_6E64_6F6D ^ k1
        var v2: UInt64 = 0x6C79_6765_6E65_7261 ^ k0
        var v3: UInt64 = 0x7465_6462_7974_6573 ^ k1

        @inline(__always) func round() {
            v0 &+= v1; v1 = v1.rotatedLeft(13); v1 ^= v0; v0 = v0.rotatedLeft(32)
            v2 &+= v3; v3 = v3.rotatedLeft(16); v3 ^= v2
            v0 &+= v3; v3 = v3.rotatedLeft(21); v3 ^= v0
            v2 &+= v1; v1 = v1.rotatedLeft(17); v1 ^= v2; v2 = v2.rotatedLeft(32)
        }
        @inline(__always) func compress(_ m: UInt64) {
            v3 ^= m
            round(); round()
            v0 ^= m
        }

        let count = bytes.count
        var offset = 0
        while offset + 8 <= count {
            compress(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
            offset += 8
        }
        var last = UInt64(truncatingIfNeeded: count) << 56
        var shift: UInt64 = 0
        while offset < count {
            last |= UInt64(bytes[offset]) << shift
            shift += 8
            offset += 1
        }
        compress(last)
        v2 ^= 0xFF
        round(); round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}

extension UInt64 {
    @inline(__always) fileprivate func rotatedLeft(_ n: UInt64) -> UInt64 { (self << n) | (self >> (64 - n)) }
}
