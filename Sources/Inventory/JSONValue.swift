import Wire

// A small JSON reader for `plainsight report`, which reads back what plainsight wrote (events,
// reports) from files of any origin: no Foundation, bounded depth, every malformed byte a nil
// rather than a trap. Strings keep the text as it decodes, so a value plainsight escaped on output
// (`\xff`, `\u0001`) comes back as that text and is escaped the same way when written again.

public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// Integers only: plainsight writes no fractions. A number with a fraction or an exponent, or
    /// out of range, is kept as `other` (a reader asking for a count gets nil).
    case int(Int64)
    case other
    case string(String)
    case array([JSONValue])
    /// Members in document order (a duplicate key: the first wins on lookup).
    case object([JSONMember])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null), (.other, .other): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// A count: a non-negative integer.
    public var count: UInt64? { if case .int(let n) = self, n >= 0 { return UInt64(n) } else { return nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var strings: [String]? {
        guard let items = array else { return nil }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for item in items { guard let s = item.string else { return nil }; out.append(s) }
        return out
    }
    public var timestamp: Timestamp? { string.flatMap(Timestamp.init(rfc3339:)) }
    public var address: IPAddress? { string.flatMap(IPAddress.init(parsing:)) }

    /// Parses one JSON value that fills `bytes` (whitespace around it allowed); nil if it does not.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> JSONValue? {
        var parser = JSONParser(bytes)
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipSpace()
        return parser.atEnd ? value : nil
    }

    public static func parse(_ bytes: [UInt8]) -> JSONValue? { bytes.withUnsafeBufferPointer { parse($0) } }
}

/// One member of an object. A struct rather than a tuple: an array of tuples has its type metadata
/// looked up at run time for every object read.
public struct JSONMember: Sendable {
    public var key: String
    public var value: JSONValue
    public init(key: String, value: JSONValue) { self.key = key; self.value = value }
}

private struct JSONParser {
    /// Deeper than anything plainsight writes (4 levels), shallow enough that a hostile line
    /// cannot exhaust the stack.
    static let maxDepth = 32
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { i >= bytes.count }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
    }

    mutating func value(depth: Int) -> JSONValue? {
        guard depth < Self.maxDepth else { return nil }
        skipSpace()
        guard i < bytes.count else { return nil }
        switch bytes[i] {
        case 0x7B: return object(depth: depth)
        case 0x5B: return array(depth: depth)
        case 0x22: return string().map { .string($0) }
        case 0x74: return literal("true", .bool(true))
        case 0x66: return literal("false", .bool(false))
        case 0x6E: return literal("null", .null)
        default: return number()
        }
    }

    mutating func literal(_ text: StaticString, _ value: JSONValue) -> JSONValue? {
        let n = text.utf8CodeUnitCount
        guard bytes.count - i >= n else { return nil }
        for k in 0..<n where bytes[i + k] != text.utf8Start[k] { return nil }
        i += n
        return value
    }

    mutating func object(depth: Int) -> JSONValue? {
        i += 1
        var members: [JSONMember] = []
        skipSpace()
        if i < bytes.count, bytes[i] == 0x7D { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x22, let key = string() else { return nil }
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x3A else { return nil }
            i += 1
            guard let v = value(depth: depth + 1) else { return nil }
            members.append(JSONMember(key: key, value: v))
            skipSpace()
            guard i < bytes.count else { return nil }
            if bytes[i] == 0x2C { i += 1; continue }
            if bytes[i] == 0x7D { i += 1; return .object(members) }
            return nil
        }
    }

    mutating func array(depth: Int) -> JSONValue? {
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < bytes.count, bytes[i] == 0x5D { i += 1; return .array(items) }
        while true {
            guard let v = value(depth: depth + 1) else { return nil }
            items.append(v)
            skipSpace()
            guard i < bytes.count else { return nil }
            if bytes[i] == 0x2C { i += 1; continue }
            if bytes[i] == 0x5D { i += 1; return .array(items) }
            return nil
        }
    }

    mutating func number() -> JSONValue? {
        let start = i
        var negative = false
        if i < bytes.count, bytes[i] == 0x2D { negative = true; i += 1 }
        var value: Int64 = 0
        var digits = 0
        var overflow = false
        while i < bytes.count, bytes[i] >= 0x30 && bytes[i] <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(bytes[i] - 0x30))
            overflow = overflow || o1 || o2
            value = a
            digits += 1
            i += 1
        }
        guard digits > 0 else { i = start; return nil }
        var plain = !overflow
        if i < bytes.count, bytes[i] == 0x2E {
            plain = false
            i += 1
            let fractionStart = i
            while i < bytes.count, bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
            guard i > fractionStart else { return nil }
        }
        if i < bytes.count, bytes[i] == 0x65 || bytes[i] == 0x45 {
            plain = false
            i += 1
            if i < bytes.count, bytes[i] == 0x2B || bytes[i] == 0x2D { i += 1 }
            let exponentStart = i
            while i < bytes.count, bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
            guard i > exponentStart else { return nil }
        }
        return plain ? .int(negative ? -value : value) : .other
    }

    /// A string at `i` (on its opening quote), its escapes decoded; nil if malformed.
    mutating func string() -> String? {
        i += 1
        let start = i
        // The common case: no escape, copied as it is.
        while i < bytes.count, bytes[i] != 0x22, bytes[i] != 0x5C, bytes[i] >= 0x20 { i += 1 }
        guard i < bytes.count else { return nil }
        if bytes[i] == 0x22 {
            let text = Self.text(UnsafeBufferPointer(rebasing: bytes[start..<i]))
            i += 1
            return text
        }
        var out = Array(bytes[start..<i])
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x22 { i += 1; return out.withUnsafeBufferPointer { Self.text($0) } }
            if b < 0x20 { return nil }
            if b != 0x5C { out.append(b); i += 1; continue }
            i += 1
            guard i < bytes.count else { return nil }
            let e = bytes[i]
            i += 1
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                guard var scalar = hex4() else { return nil }
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by a low one.
                    guard bytes.count - i >= 6, bytes[i] == 0x5C, bytes[i + 1] == 0x75 else { return nil }
                    i += 2
                    guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    return nil
                }
                guard let u = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: String(Character(u)).utf8)
            default: return nil
            }
        }
        return nil
    }

    /// The string's bytes as text. Bytes that are not UTF-8 become U+FFFD, as any reader of the
    /// file would show them (plainsight writes none: it escapes them as `\xNN`). Not the generic
    /// validating initializer: it looks its encoding's metadata up at run time for every string.
    static func text(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    mutating func hex4() -> UInt32? {
        guard bytes.count - i >= 4 else { return nil }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            default: return nil
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}

extension Timestamp {
    /// `2026-01-04T10:00:00.123456Z` as plainsight writes it (UTC, `Z`; any number of fractional
    /// digits, nanoseconds kept); nil for anything else.
    public init?(rfc3339 text: String) {
        let b = Array(text.utf8)
        guard b.count >= 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54 || b[10] == 0x74, b[13] == 0x3A, b[16] == 0x3A,
              b.last == 0x5A || b.last == 0x7A else { return nil }
        func digits(_ range: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for k in range { guard b[k] >= 0x30 && b[k] <= 0x39 else { return nil }; v = v * 10 + Int64(b[k] - 0x30) }
            return v
        }
        guard let year = digits(0..<4), let month = digits(5..<7), let day = digits(8..<10),
              let hour = digits(11..<13), let minute = digits(14..<16), let second = digits(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var nanos: Int64 = 0
        if b.count > 20 {
            guard b[19] == 0x2E, b.count > 21 else { return nil }
            var scale: Int64 = 100_000_000
            for k in 20..<(b.count - 1) {
                guard b[k] >= 0x30 && b[k] <= 0x39 else { return nil }
                nanos += Int64(b[k] - 0x30) * scale
                scale /= 10
            }
        } else if b.count != 20 {
            return nil
        }
        // Howard Hinnant's days_from_civil, the inverse of the formatter's civil_from_days.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second
        self.init(nanoseconds: seconds &* 1_000_000_000 &+ nanos)
    }
}
