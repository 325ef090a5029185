// Text forms of addresses, for output and tests. Off the packet path, so Strings are fine here.

extension IPAddress: CustomStringConvertible {
    /// IPv4 as a dotted quad; IPv6 in the RFC 5952 canonical form, so that the same address always
    /// prints the same way in alerts and can be matched as text.
    public var description: String {
        var text: [UInt8] = []
        text.reserveCapacity(45)
        if !isIPv6 {
            Self.appendDotted(UInt32(truncatingIfNeeded: low), to: &text)
        } else if high == 0 && low &>> 32 == 0xFFFF {
            // RFC 5952 section 5: IPv4-mapped addresses keep the dotted tail.
            text.append(contentsOf: Array("::ffff:".utf8))
            Self.appendDotted(UInt32(truncatingIfNeeded: low), to: &text)
        } else {
            Self.appendGroups(groups, to: &text)
        }
        return String(decoding: text, as: UTF8.self)
    }

    private var groups: [UInt16] {
        (0..<8).map { index in
            let word = index < 4 ? high : low
            return UInt16(truncatingIfNeeded: word &>> UInt64(48 - 16 * (index % 4)))
        }
    }

    private static func appendGroups(_ groups: [UInt16], to text: inout [UInt8]) {
        // The longest run of two or more zero groups becomes "::"; the first wins a tie.
        var bestStart = -1, bestLength = 1
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else { index += 1; continue }
            var runEnd = index
            while runEnd < 8 && groups[runEnd] == 0 { runEnd += 1 }
            if runEnd - index > bestLength { bestStart = index; bestLength = runEnd - index }
            index = runEnd
        }
        index = 0
        while index < 8 {
            if index == bestStart {
                text.append(contentsOf: [0x3A, 0x3A])
                index += bestLength
                continue
            }
            if index != 0 && index != bestStart + bestLength { text.append(0x3A) }
            appendHex(groups[index], to: &text)
            index += 1
        }
    }

    private static func appendHex(_ value: UInt16, to text: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        var started = false
        for shift in stride(from: 12, through: 0, by: -4) {
            let nibble = Int((value &>> UInt16(shift)) & 0xF)
            if nibble != 0 || started || shift == 0 {
                text.append(digits[nibble])
                started = true
            }
        }
    }

    private static func appendDotted(_ value: UInt32, to text: inout [UInt8]) {
        for shift in stride(from: 24, through: 0, by: -8) {
            if shift != 24 { text.append(0x2E) }
            text.append(contentsOf: Array(String(UInt8(truncatingIfNeeded: value &>> UInt32(shift))).utf8))
        }
    }
}

extension IPAddress {
    /// Parses a dotted IPv4 address or a textual IPv6 address (with "::" and an optional dotted
    /// tail). Returns nil on anything else, including zone ids and IPv4 octets with leading zeros,
    /// which some parsers read as octal.
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)[...]
        if let value = Self.parseIPv4(bytes) {
            self.init(ipv4: value)
        } else if let groups = Self.parseIPv6(bytes) {
            var high: UInt64 = 0, low: UInt64 = 0
            for index in 0..<4 {
                high = high &<< 16 | UInt64(groups[index])
                low = low &<< 16 | UInt64(groups[index + 4])
            }
            self.init(ipv6High: high, low: low)
        } else {
            return nil
        }
    }

    private static func parseIPv4(_ text: ArraySlice<UInt8>) -> UInt32? {
        let parts = text.split(separator: 0x2E, omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.count == 1 || part.first != 0x30 else { return nil }
            var octet: UInt32 = 0
            for byte in part {
                guard (0x30...0x39).contains(byte) else { return nil }
                octet = octet * 10 + UInt32(byte - 0x30)
            }
            guard octet <= 255 else { return nil }
            value = value &<< 8 | octet
        }
        return value
    }

    private static func parseIPv6(_ text: ArraySlice<UInt8>) -> [UInt16]? {
        var gap: Range<Int>? = nil
        var index = text.startIndex
        while index + 1 < text.endIndex {
            if text[index] == 0x3A && text[index + 1] == 0x3A {
                guard gap == nil else { return nil }
                gap = index..<(index + 2)
                index += 2
            } else {
                index += 1
            }
        }
        if let gap {
            guard let head = parseGroups(text[text.startIndex..<gap.lowerBound], dottedTail: false),
                  let tail = parseGroups(text[gap.upperBound...], dottedTail: true),
                  head.count + tail.count <= 7 else { return nil }
            return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard let groups = parseGroups(text, dottedTail: true), groups.count == 8 else { return nil }
        return groups
    }

    /// Colon-separated hex groups; the last may be a dotted IPv4 address worth two groups.
    private static func parseGroups(_ text: ArraySlice<UInt8>, dottedTail: Bool) -> [UInt16]? {
        if text.isEmpty { return [] }
        let parts = text.split(separator: 0x3A, omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (position, part) in parts.enumerated() {
            if dottedTail && position == parts.count - 1 && part.contains(0x2E) {
                guard let value = parseIPv4(part) else { return nil }
                groups.append(UInt16(truncatingIfNeeded: value &>> 16))
                groups.append(UInt16(truncatingIfNeeded: value))
                continue
            }
            guard (1...4).contains(part.count) else { return nil }
            var group: UInt16 = 0
            for byte in part {
                let nibble: UInt8
                switch byte {
                case 0x30...0x39: nibble = byte - 0x30
                case 0x41...0x46: nibble = byte - 0x41 + 10
                case 0x61...0x66: nibble = byte - 0x61 + 10
                default: return nil
                }
                group = group &<< 4 | UInt16(nibble)
            }
            groups.append(group)
        }
        guard groups.count <= 8 else { return nil }
        return groups
    }
}
