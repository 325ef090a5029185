import Alerts
import Testing
import Wire

@Suite("RFC 3339 timestamps")
struct TimestampTests {
    @Test(arguments: [
        (0, "1970-01-01T00:00:00.000000Z"),
        (-1, "1969-12-31T23:59:59.999999Z"),                          // floor, not truncation toward 0
        (951_782_400_000_000_000, "2000-02-29T00:00:00.000000Z"),     // leap year divisible by 400
        (1_709_251_199_999_999_999, "2024-02-29T23:59:59.999999Z"),   // microseconds truncated
        (-2_203_891_200_000_000_000, "1900-03-01T00:00:00.000000Z"),  // 1900 is not a leap year
        (4_107_585_600_000_000_000, "2100-03-01T12:00:00.000000Z"),   // nor is 2100
        (1_767_520_800_123_456_789, "2026-01-04T10:00:00.123456Z"),
        (1_767_520_800_000_001_000, "2026-01-04T10:00:00.000001Z"),
        (Int64.max, "2262-04-11T23:47:16.854775Z"),
        (Int64.min, "1677-09-21T00:12:43.145224Z"),
    ] as [(Int64, String)])
    func format(nanoseconds: Int64, expected: String) {
        #expect(Timestamp(nanoseconds: nanoseconds).rfc3339 == expected)
    }
}
