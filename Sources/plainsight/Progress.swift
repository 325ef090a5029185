import Alerts
import Engine

/// The `\r`-rewritten progress line on a terminal's stderr:
/// `FILE  123.4 MB / 1.0 GB  (12%)  1.2 M pkt/s  alerts: 3`.
/// `update` is called every 4096 records read and redraws at most four times a second; the rate
/// counts every record read, including those the filter drops.
final class ProgressMeter {
    private let enabled: Bool
    private var active = false
    private var file = ""
    private var size: Int64 = 0
    private var lastDraw: UInt64 = 0
    private var recordsAtLastDraw: UInt64 = 0
    private var visible = false
    private static let interval: UInt64 = 250_000_000

    init(enabled: Bool) { self.enabled = enabled }

    /// A new file; no line is shown for standard input or when the size is unknown.
    func begin(file: String, size: Int64?) {
        guard enabled, let size, size > 0 else { active = false; return }
        active = true
        self.file = Self.shortened(escaped(file))
        self.size = size
        lastDraw = monotonicNanoseconds()
        recordsAtLastDraw = 0
    }

    /// `records`: read so far from the current file.
    func update(records: UInt64, consumed: Int64?, alerts: UInt64) {
        guard active, let consumed else { return }
        let now = monotonicNanoseconds()
        let elapsed = now &- lastDraw
        guard elapsed >= Self.interval else { return }
        let rate = Double(records &- recordsAtLastDraw) * 1e9 / Double(elapsed)
        lastDraw = now
        recordsAtLastDraw = records
        let percent = min(100, consumed * 100 / size)
        let line = "\(file)  \(formatBytes(UInt64(max(0, consumed)))) / \(formatBytes(UInt64(size)))  (\(percent)%)  \(formatCount(rate)) pkt/s  alerts: \(alerts)"
        writeStandardError("\r\u{1B}[K" + line)
        visible = true
    }

    /// Erases the line (before any other stderr output and at the end).
    func clear() {
        guard visible else { return }
        writeStandardError("\r\u{1B}[K")
        visible = false
    }

    private static func shortened(_ name: String) -> String {
        name.count <= 40 ? name : "..." + name.suffix(37)
    }
}

/// The end-of-run table on a terminal's stderr.
func summaryTable(stats: [StatField], totals: ReplayTotals, elapsedNanoseconds: UInt64) -> String {
    let seconds = max(Double(elapsedNanoseconds) / 1e9, 1e-9)
    let packets = statCount(stats, "packets")
    let records = totals.records
    let bytes = statCount(stats, "bytes")
    let flows = statCount(stats, "flows").map(String.init) ?? "n/a"
    let decodeErrors = statCount(stats, "decode_errors").map(String.init) ?? "n/a"
    let files = totals.readErrors > 0 ? "\(totals.files) (\(totals.readErrors) not read completely)" : "\(totals.files)"
    var rate = "\(formatCount(Double(records) / seconds)) pkt/s"
    if totals.fileBytes > 0 { rate += ", \(formatBytes(UInt64(Double(totals.fileBytes) / seconds)))/s" }
    let rows: [(String, String)] = [
        ("files", files),
        ("packets", "\(records) read" + (packets.map { ", \($0) passed the filter" } ?? "")
            + (totals.undecodedPackets > 0 ? ", \(totals.undecodedPackets) of unsupported link types not decoded" : "")),
        ("bytes", bytes.map { formatBytes($0) } ?? "n/a"),
        ("flows", flows),
        ("alerts", statCount(stats, "alerts").map(String.init) ?? "n/a"),
        ("decode errors", decodeErrors),
        ("elapsed", formatFixed(seconds, decimals: 2) + " s"),
        ("rate", rate),
    ]
    var text = ""
    for (name, value) in rows {
        text += "  " + name + String(repeating: " ", count: max(1, 15 - name.count)) + value + "\n"
    }
    return text
}

/// A counter from the stats tree by top-level name: a plain count, or for an object its `total`
/// (or `created`, for flows) field if it has one, else the sum of every count below it (e.g. decode errors by layer).
func statCount(_ fields: [StatField], _ name: String) -> UInt64? {
    guard let field = fields.first(where: { $0.name == name }) else { return nil }
    switch field.value {
    case .count(let value): return value
    case .object(let inner):
        for preferred in ["total", "created"] {
            if let total = inner.first(where: { $0.name == preferred }), case .count(let value) = total.value {
                return value
            }
        }
        return sum(inner)
    case .array, .word:
        return nil      // per-worker breakdowns and names: not one counter
    }
}

private func sum(_ fields: [StatField]) -> UInt64 {
    fields.reduce(0) { partial, field in
        switch field.value {
        case .count(let value): return partial &+ value
        case .object(let inner): return partial &+ sum(inner)
        case .array, .word: return partial
        }
    }
}

/// `812 B`, `12.3 kB`, `123.4 MB`, `1.0 GB` (decimal units).
func formatBytes(_ bytes: UInt64) -> String {
    let value = Double(bytes)
    switch value {
    case ..<1e3: return "\(bytes) B"
    case ..<1e6: return formatFixed(value / 1e3, decimals: 1) + " kB"
    case ..<1e9: return formatFixed(value / 1e6, decimals: 1) + " MB"
    default: return formatFixed(value / 1e9, decimals: 1) + " GB"
    }
}

/// `950`, `12.3 k`, `1.2 M`.
func formatCount(_ value: Double) -> String {
    switch value {
    case ..<1e3: return "\(Int(value.rounded()))"
    case ..<1e6: return formatFixed(value / 1e3, decimals: 1) + " k"
    default: return formatFixed(value / 1e6, decimals: 1) + " M"
    }
}

/// A non-negative number with a fixed number of decimals, without Foundation.
func formatFixed(_ value: Double, decimals: Int) -> String {
    guard value.isFinite, value >= 0 else { return "0" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = UInt64(min((value * scale).rounded(), 1e18))
    let whole = scaled / UInt64(scale)
    guard decimals > 0 else { return "\(whole)" }
    let fraction = String(scaled % UInt64(scale))
    return "\(whole)." + String(repeating: "0", count: decimals - fraction.count) + fraction
}

/// One line for a run in which most packets carried nothing plainsight reads, with the counts and
/// what they usually mean, so a user learns why nothing was found; nil otherwise.
func skippedNote(stats: [StatField]) -> String? {
    guard let packets = statCount(stats, "packets"), packets > 0,
          let skippedField = stats.first(where: { $0.name == "skipped" }),
          case .object(let reasons) = skippedField.value else { return nil }
    var counts: [(String, UInt64)] = []
    for reason in reasons { if case .count(let n) = reason.value, n > 0 { counts.append((reason.name, n)) } }
    let skipped = counts.reduce(0) { $0 &+ $1.1 }
    guard skipped * 2 > packets else { return nil }
    counts.sort { $0.1 > $1.1 }
    let meaning: [String: String] = [
        "not_ip": "not IP: an EtherType or tunnel payload plainsight does not decode",
        "not_tcp": "IP but not TCP: UDP on no tunnel port (see --vxlan-port, --geneve-port), ICMP, ESP",
        "ip_fragment": "IP fragments not reassembled",
        "too_many_layers": "nested deeper than 8 encapsulations",
        "unsupported_tunnel": "a tunnel header form plainsight does not decode",
    ]
    let parts = counts.map { name, n in "\(name) \(n)" + (meaning[name].map { " (\($0))" } ?? "") }
    return "note: \(skipped) of \(packets) packets were skipped: " + parts.joined(separator: ", ")
}
