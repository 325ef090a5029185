// SASL responses are base64. Decoding happens only to read a login name out of a blob; the buffer
// it decodes into is zeroed by the caller right after, so the password half of a PLAIN blob never
// outlives the call.

enum Base64 {
    static let maxDecoded = 8192

    /// 0xFF marks a byte outside the alphabet; 0xFE is padding.
    private static let table: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        t[Int(ASCII.equals)] = 0xFE
        return t
    }()

    /// Decodes `line[token]` into `out` (cleared first, capacity kept). Accepts missing padding,
    /// rejects anything outside the alphabet. Returns false on malformed input; `out` then holds
    /// whatever was decoded and must still be wiped by the caller.
    static func decode(_ line: Span<UInt8>, _ t: Token, into out: inout [UInt8], limit: Int = Base64.maxDecoded) -> Bool {
        out.removeAll(keepingCapacity: true)
        var acc: UInt32 = 0
        var bits = 0
        var sawPad = false
        var i = t.start
        while i < t.end {
            let v = table[Int(line[i])]
            i += 1
            if v == 0xFE { sawPad = true; continue }
            if v == 0xFF || sawPad { return false }
            acc = (acc << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                if out.count >= limit { return false }
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
                acc &= (1 << UInt32(bits)) - 1
            }
        }
        return true
    }
}

extension Array where Element == UInt8 {
    /// Overwrites the bytes in place before the storage is reused or freed.
    mutating func wipe() {
        // Empty: no byte to overwrite (and removing none changes nothing).
        guard !isEmpty else { return }
        for i in indices { self[i] = 0 }
        removeAll(keepingCapacity: true)
    }
}
