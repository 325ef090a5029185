import Crypto

/// How the login name appears in alerts. The secret never appears under any policy.
public enum UserPolicy: Sendable, Equatable {
    /// First and last character kept, `***` between (`alice` -> `a***e`); names of one or two
    /// characters become `***`. A `user@domain` name is masked as a whole: the domain alone can
    /// identify a person. The number of stars is fixed so the length does not leak.
    case mask
    /// The name as captured (escaped for output like every other field).
    case full
    /// HMAC-SHA256 of the raw name bytes under `key`, lowercase hex, first 32 digits (128 bits):
    /// the same user gives the same value across runs with one key, without revealing the name.
    case hash(key: [UInt8])
    /// No `username` field at all.
    case omit

    public static let maskStars: [UInt8] = Array("***".utf8)

    /// The bytes to print for `username` (still to be escaped), or nil when the field is left out.
    public func apply(to username: [UInt8]) -> [UInt8]? {
        switch self {
        case .mask: return Self.masked(username)
        case .full: return username
        case .hash(let key): return Self.keyedHash(username, key: key)
        case .omit: return nil
        }
    }

    /// Masking works on characters (grapheme clusters) when the name is valid UTF-8, so `élodie`
    /// keeps a whole `é`; on raw bytes otherwise (the kept bytes are then escaped as `\xNN`).
    static func masked(_ username: [UInt8]) -> [UInt8] {
        // Printable ASCII (no CR, so no CR LF pair) is one character a byte: the same result
        // without building a String and walking its grapheme clusters, which is run for every
        // login by the inventory and the alerts.
        if username.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
            guard username.count > 2, let first = username.first, let last = username.last else { return maskStars }
            return [first] + maskStars + [last]
        }
        if let text = String(validating: username, as: UTF8.self) {
            guard text.count > 2, let first = text.first, let last = text.last else { return maskStars }
            return Array(String(first).utf8) + maskStars + Array(String(last).utf8)
        }
        guard username.count > 2, let first = username.first, let last = username.last else { return maskStars }
        return [first] + maskStars + [last]
    }

    static func keyedHash(_ username: [UInt8], key: [UInt8]) -> [UInt8] {
        let mac = HMAC<SHA256>.authenticationCode(for: username, using: SymmetricKey(data: key))
        var hex: [UInt8] = []
        hex.reserveCapacity(32)
        for byte in mac.prefix(16) {
            hex.append(OutputEscaping.hexDigit(byte >> 4))
            hex.append(OutputEscaping.hexDigit(byte & 0x0F))
        }
        return hex
    }
}
