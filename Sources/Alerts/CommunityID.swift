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
        var a = Self.bytes(source), b = Self.bytes(destination)
        var portA = sourcePort, portB = destinationPort
        if !Self.precedes(a, portA, b, portB) {
            swap(&a, &b)
            swap(&portA, &portB)
        }
        var input: [UInt8] = []
        input.reserveCapacity(2 + 32 + 6)
        input.append(UInt8(seed >> 8)); input.append(UInt8(seed & 0xFF))
        input.append(contentsOf: a)
        input.append(contentsOf: b)
        input.append(proto)
        input.append(0)
        input.append(UInt8(portA >> 8)); input.append(UInt8(portA & 0xFF))
        input.append(UInt8(portB >> 8)); input.append(UInt8(portB & 0xFF))
        let digest = Insecure.SHA1.hash(data: input)
        return "1:" + Self.base64(Array(digest))
    }

    /// The address in network byte order.
    static func bytes(_ address: IPAddress) -> [UInt8] {
        if !address.isIPv6 {
            let v = UInt32(truncatingIfNeeded: address.low)
            return [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
        }
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for word in [address.high, address.low] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((word >> UInt64(shift)) & 0xFF)) }
        }
        return out
    }

    /// The spec's order: the smaller address first, and for equal addresses the smaller port.
    static func precedes(_ a: [UInt8], _ portA: UInt16, _ b: [UInt8], _ portB: UInt16) -> Bool {
        for (x, y) in zip(a, b) where x != y { return x < y }
        return portA < portB
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 with padding (RFC 4648 section 4).
    static func base64(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let b0 = bytes[i], b1 = n > 1 ? bytes[i + 1] : 0, b2 = n > 2 ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(n > 1 ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : 0x3D)
            out.append(n > 2 ? alphabet[Int(b2 & 0x3F)] : 0x3D)
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
