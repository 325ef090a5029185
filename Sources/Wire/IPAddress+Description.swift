// Text forms of addresses, for output and tests. Off the packet path, so Strings are fine here.

extension IPAddress: CustomStringConvertible {
    /// IPv4 as a dotted quad; IPv6 in the RFC 5952 canonical form, so that the same address always
    /// prints the same way in alerts and can be matched as text.
    public var description: String { unsafe withText { unsafe String(decoding: $0, as: UTF8.self) } }

    /// The longest text form: IPv4-mapped IPv6 (`::ffff:` and a dotted quad) is at most 22 bytes,
    /// eight full groups 39.
    public static let maxTextBytes = 39

    /// Calls `body` with the text `description` returns, written into a buffer on the stack: the
    /// alert and inventory writers append it to their output without a String or an array per
    /// address, which would cost an allocation for every address written.
    package func withText<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try unsafe withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.maxTextBytes) { buffer in
            var text = unsafe TextBuffer(buffer)
            if !isIPv6 {
                text.appendDotted(UInt32(truncatingIfNeeded: low))
            } else if high == 0 && low &>> 32 == 0xFFFF {
                // RFC 5952 section 5: IPv4-mapped addresses keep the dotted tail.
                for byte in "::ffff:".utf8 { text.append(byte) }
                text.appendDotted(UInt32(truncatingIfNeeded: low))
            } else {
                text.appendGroups(high: high, low: low)
            }
            return try unsafe body(UnsafeBufferPointer(rebasing: buffer[0..<text.count]))
        }
    }
}

/// Bytes appended to a fixed buffer that the caller sized for the longest text.
/// Safe to use: every store is checked against the buffer's count.
@safe private struct TextBuffer {
    let buffer: UnsafeMutableBufferPointer<UInt8>
    var count = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { unsafe self.buffer = unsafe buffer }

    mutating func append(_ byte: UInt8) {
        // No form is longer than `maxTextBytes`; checked anyway, since the buffer is unsafe.
        unsafe precondition(count < buffer.count, "address text longer than IPAddress.maxTextBytes")
        unsafe buffer[count] = byte
        count += 1
    }

    mutating func appendDotted(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) {
            if shift != 24 { append(0x2E) }
            let octet = UInt8(truncatingIfNeeded: value &>> UInt32(shift))
            if octet >= 100 { append(0x30 + octet / 100) }
            if octet >= 10 { append(0x30 + octet / 10 % 10) }
            append(0x30 + octet % 10)
        }
    }

    mutating func appendGroups(high: UInt64, low: UInt64) {
        @inline(__always) func group(_ index: Int) -> UInt16 {
            let word = index < 4 ? high : low
            return UInt16(truncatingIfNeeded: word &>> UInt64(48 - 16 * (index % 4)))
        }
        // The longest run of two or more zero groups becomes "::"; the first wins a tie.
        var bestStart = -1, bestLength = 1
        var index = 0
        while index < 8 {
            guard group(index) == 0 else { index += 1; continue }
            var runEnd = index
            while runEnd < 8 && group(runEnd) == 0 { runEnd += 1 }
            if runEnd - index > bestLength { bestStart = index; bestLength = runEnd - index }
            index = runEnd
        }
        index = 0
        while index < 8 {
            if index == bestStart {
                append(0x3A); append(0x3A)
                index += bestLength
                continue
            }
            if index != 0 && index != bestStart + bestLength { append(0x3A) }
            appendHex(group(index))
            index += 1
        }
    }

    mutating func appendHex(_ value: UInt16) {
        var started = false
        for shift in stride(from: 12, through: 0, by: -4) {
            let nibble = UInt8(truncatingIfNeeded: value &>> UInt16(shift)) & 0xF
            if nibble != 0 || started || shift == 0 {
                append(nibble < 10 ? 0x30 + nibble : 0x57 + nibble)  // 0x57 + 10 = "a"
                started = true
            }
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
