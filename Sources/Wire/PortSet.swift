/// TCP ports as a 65,536-bit set: one load per check on the packet path, where `Set<UInt16>`
/// would hash.
public struct PortSet: Sendable {
    private var words = [UInt64](repeating: 0, count: 1024)

    public init(_ ports: Set<UInt16>) { for p in ports { words[Int(p >> 6)] |= 1 << UInt64(p & 63) } }

    /// Read through the buffer: `p >> 6` is below 1,024, the array's fixed count, and the array's
    /// own bounds check loaded that count and tested it for every port (the decoder tests up to
    /// two a segment).
    @inline(__always)
    public func contains(_ p: UInt16) -> Bool {
        unsafe words.withUnsafeBufferPointer { unsafe $0[Int(p >> 6)] } & (1 << UInt64(p & 63)) != 0
    }
}
