import Alerts
import Engine
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The `\r`-rewritten progress line on a terminal's stderr, over the whole run:
/// `file 2 of 88  eth0.pcap.2  1.2 GB / 9.8 GB (12%)  1.2 M pkt/s  elapsed 0:12  ETA 1:28  alerts: 3`.
/// Sizes and the ETA are in file bytes (compressed bytes for a compressed file), so they hold
/// only when every input is a regular file; standard input or a pipe shows packets read instead,
/// and no ETA. With --jobs several files are read at once, and the line shows the files done and
/// the sum over the files being read.
///
/// `update` is called every 4096 records read (from any reader thread) and redraws at most four
/// times a second; the packet rate counts every record read, including those the filter drops.
final class ProgressMeter: @unchecked Sendable {
    private let enabled: Bool
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let started = monotonicNow()
    private let fileCount: Int
    /// The sum of the inputs' sizes; nil if one has none (standard input, a pipe).
    private let totalBytes: Int64?
    /// Finished files: how many, their bytes and records.
    private var filesDone = 0
    private var bytesDone: Int64 = 0
    private var recordsDone: UInt64 = 0
    /// Files being read, by slot (one per reader thread): name, index, bytes and records so far.
    private var reading: [Int: (name: String, index: Int, consumed: Int64, records: UInt64)] = [:]
    private var alerts: UInt64 = 0
    private var lastDraw: UInt64 = 0
    private var recordsAtLastDraw: UInt64 = 0
    private var visible = false
    private static let interval: UInt64 = 250_000_000

    /// `paths`: every input, in order (their sizes are summed now for the ETA).
    init(enabled: Bool, paths: [String]) {
        self.enabled = enabled
        fileCount = paths.count
        var total: Int64? = 0
        if enabled {
            for path in paths {
                var info = stat()
                guard path != "-", stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { total = nil; break }
                total = total.map { $0 + Int64(info.st_size) }
            }
        }
        totalBytes = total
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        lastDraw = started
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    private func locked(_ body: () -> Void) {
        pthread_mutex_lock(mutex)
        body()
        pthread_mutex_unlock(mutex)
    }

    /// Reader `slot` starts the input at `index` (0 for the first of the run).
    func begin(file: String, index: Int, slot: Int = 0) {
        guard enabled else { return }
        let name = file == "-" ? "standard input" : Self.shortened(escaped(file))
        locked { reading[slot] = (name, index, 0, 0) }
    }

    /// Reader `slot` has read `records` records and `consumed` bytes of its file (nil: unknown),
    /// and `alerts` alerts have been written in all.
    func update(slot: Int = 0, records: UInt64, consumed: Int64?, alerts: UInt64) {
        guard enabled else { return }
        locked {
            reading[slot]?.records = records
            if let consumed { reading[slot]?.consumed = consumed }
            self.alerts = alerts
            let now = monotonicNow()
            guard now &- lastDraw >= Self.interval else { return }
            draw(now: now)
        }
    }

    /// Reader `slot` has finished its file.
    func end(slot: Int = 0) {
        guard enabled else { return }
        locked {
            if let file = reading.removeValue(forKey: slot) {
                filesDone += 1
                bytesDone += file.consumed
                recordsDone &+= file.records
            }
        }
    }

    private func draw(now: UInt64) {
        let records = reading.values.reduce(recordsDone) { $0 &+ $1.records }
        let consumed = reading.values.reduce(bytesDone) { $0 + $1.consumed }
        let rate = Double(records &- recordsAtLastDraw) * 1e9 / Double(now &- lastDraw)
        lastDraw = now
        recordsAtLastDraw = records
        let elapsed = now &- started
        var parts: [String] = []
        if reading.count == 1, let file = reading.values.first {
            parts.append("file \(file.index + 1) of \(fileCount)  \(file.name)")
        } else {
            parts.append("files \(filesDone) done of \(fileCount), \(reading.count) reading")
        }
        if let totalBytes, totalBytes > 0 {
            let percent = min(100, max(0, consumed) * 100 / totalBytes)
            parts.append("\(formatBytes(UInt64(max(0, consumed)))) / \(formatBytes(UInt64(totalBytes))) (\(percent)%)")
        } else {
            parts.append("\(records) packets")
        }
        parts.append("\(formatCount(rate)) pkt/s")
        parts.append("elapsed " + formatDuration(seconds: elapsed / 1_000_000_000))
        // The average byte rate so far: steadier than the last quarter second's.
        if let totalBytes, consumed > 0, elapsed >= 1_000_000_000 {
            let remaining = Double(max(0, totalBytes - consumed)) * Double(elapsed) / Double(consumed)
            parts.append("ETA " + formatDuration(seconds: UInt64(min(remaining / 1e9, 1e9))))
        }
        parts.append("alerts: \(alerts)")
        writeStandardError("\r\u{1B}[K" + parts.joined(separator: "  "))
        visible = true
    }

    /// Erases the line (before any other stderr output and at the end).
    func clear() {
        guard enabled else { return }
        locked {
            guard visible else { return }
            writeStandardError("\r\u{1B}[K")
            visible = false
        }
    }

    private static func shortened(_ name: String) -> String {
        name.count <= 40 ? name : "..." + name.suffix(37)
    }
}

/// `0:07`, `12:34`, `1:02:03`.
func formatDuration(seconds: UInt64) -> String {
    let hours = seconds / 3600, minutes = seconds / 60 % 60, rest = seconds % 60
    let two = { (value: UInt64) in value < 10 ? "0\(value)" : "\(value)" }
    return hours > 0 ? "\(hours):\(two(minutes)):\(two(rest))" : "\(minutes):\(two(rest))"
}

/// The end-of-run table on a terminal's stderr.
func summaryTable(stats: [StatField], totals: ReplayTotals, filtered: Bool, elapsedNanoseconds: UInt64) -> String {
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
        ("packets", packetsSummary(stats: stats, records: records, filtered: filtered)
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

/// The summary's packet line: what was read, what passed the user's filter (every record, without
/// one), and of those what was not mail (on no mail port, or not TCP/IP at all: the stats event's
/// `not_mail_port` and `skipped`) against what the engine looked at as mail.
func packetsSummary(stats: [StatField], records: UInt64, filtered: Bool) -> String {
    guard let packets = statCount(stats, "packets") else { return "\(records) read" }
    let notMail = (statCount(stats, "not_mail_port") ?? 0) &+ (statCount(stats, "skipped") ?? 0)
    var line = "\(records) read"
    line += filtered ? ", \(packets) passed the filter" : " (no filter)"
    line += ", \(notMail) not mail, \(packets >= notMail ? packets - notMail : 0) mail"
    return line
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
