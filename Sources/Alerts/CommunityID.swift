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
        var bytes: [UInt8] = []
        guard append(source: source, sourcePort: sourcePort, destination: destination,
                     destinationPort: destinationPort, proto: proto, to: &bytes) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the id's characters to `out` (the alert renderer writes it straight into the
    /// line); false, appending nothing, when the addresses are not of one family.
    @discardableResult
    public func append(source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16,
                       proto: UInt8 = CommunityID.tcp, to out: inout [UInt8]) -> Bool {
        guard source.isIPv6 == destination.isIPv6 else { return false }
        // The spec's order: the smaller address first (as big-endian bytes, which the words'
        // numeric order is), and for equal addresses the smaller port.
        let sourceFirst = (source.high, source.low, sourcePort) < (destination.high, destination.low, destinationPort)
        let (a, portA, b, portB) = sourceFirst ? (source, sourcePort, destination, destinationPort)
                                               : (destination, destinationPort, source, sourcePort)
        // At most 2 + 16 + 16 + 6 = 40 bytes, on the stack. Every store below ends at or before
        // byte 40 of the 40-byte tuple.
        var input: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &input) { raw in
            raw.storeBytes(of: seed.bigEndian, toByteOffset: 0, as: UInt16.self)
            var n = Self.store(a, in: raw, at: 2)
            n = Self.store(b, in: raw, at: n)
            raw[n] = proto
            raw[n + 1] = 0
            raw.storeBytes(of: portA.bigEndian, toByteOffset: n + 2, as: UInt16.self)
            raw.storeBytes(of: portB.bigEndian, toByteOffset: n + 4, as: UInt16.self)
            SHA1Block.withDigest(of: UnsafeRawBufferPointer(rebasing: raw[0 ..< n + 6])) {
                Self.appendBase64(prefix: "1:", $0, to: &out)
            }
        }
        return true
    }

    /// `address` as 4 or 16 big-endian bytes at `offset`; the offset past them.
    private static func store(_ address: IPAddress, in raw: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        if address.isIPv6 {
            raw.storeBytes(of: address.high.bigEndian, toByteOffset: offset, as: UInt64.self)
            raw.storeBytes(of: address.low.bigEndian, toByteOffset: offset + 8, as: UInt64.self)
            return offset + 16
        }
        raw.storeBytes(of: UInt32(truncatingIfNeeded: address.low).bigEndian, toByteOffset: offset, as: UInt32.self)
        return offset + 4
    }

    /// `prefix` then standard base64 with padding (RFC 4648 section 4), appended to `out`.
    static func appendBase64(prefix: StaticString, _ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let alphabet = Self.alphabet.utf8Start
        let start = out.count
        let length = prefix.utf8CodeUnitCount + (bytes.count + 2) / 3 * 4
        out.append(contentsOf: repeatElement(0, count: length))
        out.withUnsafeMutableBufferPointer { buffer in
            var o = start
            for k in 0 ..< prefix.utf8CodeUnitCount { buffer[o] = prefix.utf8Start[k]; o += 1 }
            var i = 0
            while i < bytes.count {
                let n = min(3, bytes.count - i)
                let b0 = bytes[i], b1 = n > 1 ? bytes[i + 1] : 0, b2 = n > 2 ? bytes[i + 2] : 0
                // Each index is masked to 6 bits: inside the 64-character alphabet.
                buffer[o] = alphabet[Int(b0 >> 2)]
                buffer[o + 1] = alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)]
                buffer[o + 2] = n > 1 ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : 0x3D
                buffer[o + 3] = n > 2 ? alphabet[Int(b2 & 0x3F)] : 0x3D
                o += 4
                i += 3
            }
        }
    }

    /// Standard base64 with padding (RFC 4648 section 4).
    static func base64(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        bytes.withUnsafeBytes { appendBase64(prefix: "", $0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

}

extension Alert {
    /// `communityID`, or the one `communityIDSeed` gives, appended to `out`; false for none.
    func appendCommunityID(to out: inout [UInt8]) -> Bool {
        if let communityID {
            out.append(contentsOf: communityID.utf8)
            return true
        }
        guard let seed = communityIDSeed else { return false }
        return CommunityID(seed: seed).append(source: client, sourcePort: clientPort, destination: server,
                                              destinationPort: serverPort, to: &out)
    }
}
