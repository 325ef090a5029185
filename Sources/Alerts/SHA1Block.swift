// SHA-1 (FIPS 180-4) of a message short enough to pad into one 64-byte block: the Community ID's
// hash input is at most 40 bytes. It is a flow label, not a security property; written here
// because the general-purpose implementation's set-up, finalisation and allocation cost more
// than the compression itself, once per alert.

enum SHA1Block {
    /// The largest message that fits one block with its padding (a 0x80 byte and a 64-bit length).
    static let maxMessageBytes = 55

    /// The 20-byte digest of `message` (at most `maxMessageBytes` bytes), in `body`.
    static func withDigest<R>(of message: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(message.count <= maxMessageBytes, "SHA1Block takes one block")
        // The padded block: the message, 0x80, zeros, and the length in bits in the last 8 bytes.
        var block: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        var state: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476,
                                                              0xC3D2_E1F0)
        withUnsafeMutableBytes(of: &block) { raw in
            // Safe: 55 bytes at most, then one, into the 64-byte block.
            if let source = message.baseAddress, let target = raw.baseAddress {
                target.copyMemory(from: source, byteCount: message.count)
            }
            raw[message.count] = 0x80
            raw.storeBytes(of: (UInt64(message.count) * 8).bigEndian, toByteOffset: 56, as: UInt64.self)
            // The message schedule, 16 words used in a ring (FIPS 180-4 6.1.3), over the block.
            let w = raw.bindMemory(to: UInt32.self)
            for i in 0 ..< 16 { w[i] = UInt32(bigEndian: w[i]) }
            var (a, b, c, d, e) = state
            // Word t of the schedule, kept in a ring of 16 (FIPS 180-4 6.1.3); the index is
            // masked to 15, inside the 16 words.
            @inline(__always) func word(_ t: Int) -> UInt32 {
                if t < 16 { return w[t] }
                let mixed = w[(t &- 3) & 15] ^ w[(t &- 8) & 15] ^ w[(t &- 14) & 15] ^ w[t & 15]
                let next = mixed << 1 | mixed >> 31
                w[t & 15] = next
                return next
            }
            for t in 0 ..< 20 {
                let temp = (a << 5 | a >> 27) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ word(t)
                e = d; d = c; c = b << 30 | b >> 2; b = a; a = temp
            }
            for t in 20 ..< 40 {
                let temp = (a << 5 | a >> 27) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ word(t)
                e = d; d = c; c = b << 30 | b >> 2; b = a; a = temp
            }
            for t in 40 ..< 60 {
                let temp = (a << 5 | a >> 27) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ word(t)
                e = d; d = c; c = b << 30 | b >> 2; b = a; a = temp
            }
            for t in 60 ..< 80 {
                let temp = (a << 5 | a >> 27) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ word(t)
                e = d; d = c; c = b << 30 | b >> 2; b = a; a = temp
            }
            state = ((state.0 &+ a).bigEndian, (state.1 &+ b).bigEndian, (state.2 &+ c).bigEndian,
                     (state.3 &+ d).bigEndian, (state.4 &+ e).bigEndian)
        }
        return withUnsafeBytes(of: &state) { body($0) }
    }
}
