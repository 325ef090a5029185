import Wire

// RFC 3339 text for capture timestamps, built by hand: no Foundation date formatter (slow, locale
// and time-zone dependent), no allocation beyond the caller's buffer.

extension Timestamp {
    /// `2026-01-04T10:00:00.123456Z`: UTC, always six fractional digits (microseconds, truncated
    /// toward the past, as Suricata's EVE does).
    public var rfc3339: String { withRFC3339Text { String(decoding: $0, as: UTF8.self) } }

    /// Appends the RFC 3339 form to `out`.
    public func appendRFC3339(to out: inout [UInt8]) {
        withRFC3339Text { out.append(contentsOf: $0) }
    }

    /// Length of the RFC 3339 form: Int64 nanoseconds span the years 1677 to 2262, so the year
    /// always has four digits.
    public static let rfc3339Bytes = 27

    /// Calls `body` with the RFC 3339 form written into a buffer on the stack, each field at its
    /// fixed place, so that a time is formatted without growing an array: every event carries one
    /// and the inventory's server events several.
    public func withRFC3339Text<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        // Floor division, so that times before 1970 (possible in a forged capture) still print a
        // valid date with a non-negative fraction.
        let (seconds, nanos) = Self.floorDivMod(nanoseconds, 1_000_000_000)
        let (days, secondOfDay) = Self.floorDivMod(seconds, 86_400)
        let (year, month, day) = Self.civil(fromDays: days)
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.rfc3339Bytes) { text in
            /// `value` (non-negative, below 10^width) in `width` digits ending before `end`.
            func digits(_ value: Int64, width: Int, endingAt end: Int) {
                var rest = value
                for i in stride(from: end - 1, through: end - width, by: -1) {
                    text[i] = 0x30 + UInt8(truncatingIfNeeded: rest % 10)
                    rest /= 10
                }
            }
            digits(year, width: 4, endingAt: 4)
            text[4] = 0x2D                                        // -
            digits(month, width: 2, endingAt: 7)
            text[7] = 0x2D
            digits(day, width: 2, endingAt: 10)
            text[10] = 0x54                                       // T
            digits(secondOfDay / 3600, width: 2, endingAt: 13)
            text[13] = 0x3A                                       // :
            digits(secondOfDay / 60 % 60, width: 2, endingAt: 16)
            text[16] = 0x3A
            digits(secondOfDay % 60, width: 2, endingAt: 19)
            text[19] = 0x2E                                       // .
            digits(nanos / 1_000, width: 6, endingAt: 26)
            text[26] = 0x5A                                       // Z
            return try body(UnsafeBufferPointer(text))
        }
    }

    /// Proleptic Gregorian (year, month, day) for a count of days since 1970-01-01: Howard
    /// Hinnant's `civil_from_days` (eras of 400 years, March-based years so leap days come last).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097                                          // [0, 146096]
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // [0, 365]
        let monthIndex = (5 * dayOfYear + 2) / 153                                // March = 0
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var q = a / b
        var r = a % b
        if r < 0 { q -= 1; r += b }
        return (q, r)
    }
}

/// Appends `value` in decimal, zero-padded to at least `width` digits (a negative value gets a
/// leading `-`; it cannot occur for a year held in Int64 nanoseconds, 1677-2262).
func appendDigits(_ value: Int64, width: Int, to out: inout [UInt8]) {
    if value < 0 { out.append(0x2D) }
    appendUnsigned(value.magnitude, width: width, to: &out)
}

/// Appends an unsigned decimal number.
func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
    appendUnsigned(value, width: 1, to: &out)
}

private func appendUnsigned(_ value: UInt64, width: Int, to out: inout [UInt8]) {
    var magnitude = value
    var digits = InlineArray<20, UInt8>(repeating: 0)     // UInt64.max has 20 digits
    var count = 0
    repeat {
        digits[count] = 0x30 + UInt8(magnitude % 10)
        magnitude /= 10
        count += 1
    } while magnitude > 0
    var padding = width - count
    while padding > 0 { out.append(0x30); padding -= 1 }
    while count > 0 { count -= 1; out.append(digits[count]) }
}
