import Wire

// The time axis of the report's "logins over time" chart, in units a reader uses (seconds,
// minutes, hours, days), UTC: tick marks at round times and the width of one bar in words.

enum TimeAxis {
    /// A duration in words: `1 s`, `10 min`, `6 h`, `1 day`, `7 days`; mixed units for odd ones
    /// (`1 h 30 min`).
    static func duration(seconds: Int64) -> String {
        if seconds <= 0 { return "0 s" }
        let units: [(Int64, String, String)] = [(86_400, "day", "days"), (3_600, "h", "h"), (60, "min", "min"), (1, "s", "s")]
        var parts: [String] = []
        var rest = seconds
        for (size, one, many) in units where rest >= size {
            let n = rest / size
            rest -= n * size
            parts.append("\(n) \(n == 1 ? one : many)")
            if parts.count == 2 { break }
        }
        return parts.joined(separator: " ")
    }

    /// Round tick steps in seconds, smallest first.
    static let tickSteps: [Int64] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800,
                                     21_600, 43_200, 86_400, 172_800, 604_800, 1_209_600, 2_419_200, 7_257_600,
                                     31_536_000]

    /// Ticks for the span [start, end] (nanoseconds): at most about `maxTicks`, at multiples of a
    /// round step (UTC), each with its label. A label names the date when the step is a day or
    /// more, else the time of day, with the date on the first tick and where the day changes.
    static func ticks(start: Int64, end: Int64, maxTicks: Int = 6) -> [(time: Int64, label: String)] {
        let span = max(1, (end - start) / 1_000_000_000)
        let step = tickSteps.first { span / $0 < Int64(maxTicks) } ?? max(1, span / Int64(maxTicks))
        let stepNanos = step * 1_000_000_000
        var t = TimeHistogram.floorDiv(start, stepNanos) * stepNanos
        if t < start { t += stepNanos }
        var ticks: [(Int64, String)] = []
        var lastDay = ""
        while t <= end && ticks.count <= maxTicks * 2 {
            let text = Timestamp(nanoseconds: t).rfc3339       // 2026-11-25T13:26:06.192643Z
            let day = String(text.prefix(10))
            let label: String
            if step >= 86_400 {
                label = day
            } else {
                let clock = String(text.dropFirst(11).prefix(step < 60 ? 8 : 5))
                label = day == lastDay ? clock : "\(day) \(clock)"
            }
            lastDay = day
            ticks.append((t, label))
            t += stepNanos
        }
        return ticks
    }

    /// `2026-11-25 13:26:06 UTC`, for the axis caption.
    static func moment(_ t: Timestamp) -> String {
        let text = t.rfc3339
        return String(text.prefix(10)) + " " + String(text.dropFirst(11).prefix(8)) + " UTC"
    }
}
