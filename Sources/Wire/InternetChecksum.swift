import CChecksum

// The Internet checksum (RFC 1071): the IPv4 header checksum and the TCP checksum over its IPv4
// or IPv6 pseudo-header. The TCP sum is a pass over every payload byte of every segment checked,
// so CChecksum adds its 16-bit words eight at a time with SSE2 (RFC 1071 2(B): the sum is
// independent of byte order, so it is taken in the host's order and swapped once at the end).

public enum InternetChecksum {
    /// The ones' complement sum of `bytes` (not complemented), as the big-endian 16-bit value the
    /// wire carries; an odd last byte is padded with a zero byte on its right (RFC 1071 4.1).
    public static func sum(_ bytes: Span<UInt8>) -> UInt16 {
        fold(UInt64(sum(bytes, from: 0, to: bytes.count)))
    }

    /// The ones' complement sum of `bytes[start ..< end]` in big-endian 16-bit words, folded to 16
    /// bits, `start` and `end` inside `bytes`.
    @inline(__always)
    static func sum(_ bytes: Span<UInt8>, from start: Int, to end: Int) -> UInt16 {
        precondition(start >= 0 && start <= end && end <= bytes.count, "checksum range outside the bytes")
        var i = start
        var a: UInt64 = 0
        let words = (end &- i) &>> 3
        if words > 0 {
            // Safe: the `words` eight-byte words end at or before `end`, which the precondition
            // put inside `bytes`; the pointer does not outlive the closure.
            a = unsafe bytes.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return 0 }
                return unsafe plainsight_sum_words(base + i, words)
            }
            i &+= words &<< 3
        }
        // The tail of at most 7 bytes, onto a folded to 33 bits, then 16, then 8.
        var tail: UInt64 = (a & 0xFFFF_FFFF) &+ (a >> 32)
        // Safe: each load of the tail ends at or before `end`, inside `bytes` by the precondition.
        if end &- i >= 4 {
            tail &+= UInt64(unsafe bytes.bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: i, as: UInt32.self))
            i &+= 4
        }
        if end &- i >= 2 {
            tail &+= UInt64(unsafe bytes.bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: i, as: UInt16.self))
            i &+= 2
        }
        if end &- i >= 1 {
            // The byte a 16-bit load of [byte, 0] would give in host order.
            tail &+= UInt64(UInt16(unsafe bytes.u8(unchecked: i)).littleEndian)
        }
        // Host order to wire order, once.
        return UInt16(bigEndian: fold(tail))
    }

    /// Folds a sum of 16-bit words to 16 bits with end-around carries.
    @inline(__always)
    static func fold(_ value: UInt64) -> UInt16 {
        var v = (value & 0xFFFF_FFFF) &+ (value >> 32)   // < 2^33
        v = (v & 0xFFFF) &+ (v >> 16)                    // < 2^17 + 2^16
        v = (v & 0xFFFF) &+ (v >> 16)                    // <= 0xFFFF + 2
        v = (v & 0xFFFF) &+ (v >> 16)
        return UInt16(truncatingIfNeeded: v)
    }

    /// Whether the IPv4 header `ip` (checked by `IPv4.decode`, so its bytes lie in the frame)
    /// sums to 0xFFFF with its checksum field, as RFC 791 requires.
    @inline(__always)
    static func ipv4HeaderIsValid(_ frame: Span<UInt8>, ip: IPHeader) -> Bool {
        sum(frame, from: ip.offset, to: ip.transportOffset) == 0xFFFF
    }

    /// The sum of the TCP pseudo-header of `ip` for a segment of `length` bytes (RFC 9293 3.1,
    /// RFC 8200 8.1), folded, not complemented.
    @inline(__always)
    static func pseudoHeaderSum(_ frame: Span<UInt8>, ip: IPHeader, length: Int) -> UInt16 {
        // Safe: the IP decoder checked the fixed header at `ip.offset`, addresses included.
        var s = UInt64(6) &+ UInt64(length)
        if ip.layer == .ipv4 {
            s &+= UInt64(unsafe frame.u32(unchecked: ip.offset &+ 12)) &+ UInt64(unsafe frame.u32(unchecked: ip.offset &+ 16))
        } else {
            for k in 0 ..< 8 { s &+= UInt64(unsafe frame.u32(unchecked: ip.offset &+ 8 &+ 4 &* k)) }
        }
        return fold(s)
    }

    /// Whether the TCP segment of `ip` (its header and payload checked by `TCP.payloadStart`, so
    /// `ip.transportOffset ..< ip.end` lies in the frame) carries a correct checksum.
    @inline(__always)
    static func tcpIsValid(_ frame: Span<UInt8>, ip: IPHeader) -> Bool {
        let pseudo = pseudoHeaderSum(frame, ip: ip, length: ip.end &- ip.transportOffset)
        let segment = sum(frame, from: ip.transportOffset, to: ip.end)
        return fold(UInt64(pseudo) &+ UInt64(segment)) == 0xFFFF
    }
}

/// Which checksums the decoder verifies on selected segments (and fragments' IPv4 headers).
public struct ChecksumChecks: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let ipv4 = ChecksumChecks(rawValue: 1)
    public static let tcp = ChecksumChecks(rawValue: 2)
    public static let all: ChecksumChecks = [.ipv4, .tcp]
}
