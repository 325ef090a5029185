import Crypto
import Wire

// Community ID v1 (https://github.com/corelight/community-id-spec): the flow hash Suricata, Zeek,
// Arkime, Elastic and Security Onion share, so an alert can be joined with their records of the
// same connection. Computed per alert and per exposure event, never per packet.

/// The Community ID v1 of a TCP or UDP connection, `1:` and the base64 of a SHA-1 digest over
/// seed (2 bytes, big-endian), the two addresses (4 or 16 bytes each), the IP protocol, one zero
/// byte and the two ports (big-endian), the endpoint that sorts first (address, then port) first.
public struct CommunityID: Sendable {
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17

    public var seed: UInt16

    public init(seed: UInt16 = 0) { self.seed = seed }

    /// nil when the two addresses are not of one family (no such flow exists).
    public func string(source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16,
                       proto: UInt8 = CommunityID.tcp) -> String? {
        guard source.isIPv6 == destination.isIPv6 else { return nil }
        // The spec's order: the smaller address first (as big-endian bytes, which the words'
        // numeric order is), and for equal addresses the smaller port.
        let sourceFirst = (source.high, source.low, sourcePort) < (destination.high, destination.low, destinationPort)
        let (a, portA, b, portB) = sourceFirst ? (source, sourcePort, destination, destinationPort)
                                               : (destination, destinationPort, source, sourcePort)
        // At most 2 + 16 + 16 + 6 = 40 bytes, on the stack: an alert's id costs no allocation but
        // its String.
        var input: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
        let digest = withUnsafeMutableBytes(of: &input) { raw -> Insecure.SHA1.Digest in
            var n = 0
            func put(_ byte: UInt8) { raw[n] = byte; n += 1 }
            func put16(_ value: UInt16) { put(UInt8(value >> 8)); put(UInt8(value & 0xFF)) }
            func put(_ address: IPAddress) {
                if address.isIPv6 {
                    for shift in stride(from: 56, through: 0, by: -8) { put(UInt8(truncatingIfNeeded: address.high >> UInt64(shift))) }
                }
                let width = address.isIPv6 ? 56 : 24
                for shift in stride(from: width, through: 0, by: -8) { put(UInt8(truncatingIfNeeded: address.low >> UInt64(shift))) }
            }
            put16(seed)
            put(a)
            put(b)
            put(proto)
            put(0)
            put16(portA)
            put16(portB)
            var hasher = Insecure.SHA1()
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[0 ..< n]))
            return hasher.finalize()
        }
        return digest.withUnsafeBytes { Self.base64(prefix: "1:", $0) }
    }

    /// `prefix` then standard base64 with padding (RFC 4648 section 4), built in place.
    static func base64(prefix: StaticString, _ bytes: UnsafeRawBufferPointer) -> String {
        let length = prefix.utf8CodeUnitCount + (bytes.count + 2) / 3 * 4
        return String(unsafeUninitializedCapacity: length) { out in
            var o = 0
            for k in 0 ..< prefix.utf8CodeUnitCount { out[o] = prefix.utf8Start[k]; o += 1 }
            var i = 0
            while i < bytes.count {
                let n = min(3, bytes.count - i)
                let b0 = bytes[i], b1 = n > 1 ? bytes[i + 1] : 0, b2 = n > 2 ? bytes[i + 2] : 0
                out[o] = alphabet[Int(b0 >> 2)]
                out[o + 1] = alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)]
                out[o + 2] = n > 1 ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : 0x3D
                out[o + 3] = n > 2 ? alphabet[Int(b2 & 0x3F)] : 0x3D
                o += 4
                i += 3
            }
            return o
        }
    }

    /// Standard base64 with padding (RFC 4648 section 4).
    static func base64(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { base64(prefix: "", $0) }
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

}
