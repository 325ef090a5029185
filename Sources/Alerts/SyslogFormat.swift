#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MailAuth
import Wire

// Syslog message text: RFC 5424 for unix://, udp:// and tcp:// targets, and the BSD form that
// syslog(3) writes for the local socket. Only bytes go out; no field taken from the wire reaches
// a message unescaped.

/// Syslog facilities by their usual names (those `logger(1)` accepts).
public enum SyslogFacility: String, Sendable, CaseIterable {
    case kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp
    case local0, local1, local2, local3, local4, local5, local6, local7

    public var code: UInt8 {
        switch self {
        case .kern: 0
        case .user: 1
        case .mail: 2
        case .daemon: 3
        case .auth: 4
        case .syslog: 5
        case .lpr: 6
        case .news: 7
        case .uucp: 8
        case .cron: 9
        case .authpriv: 10
        case .ftp: 11
        case .local0: 16
        case .local1: 17
        case .local2: 18
        case .local3: 19
        case .local4: 20
        case .local5: 21
        case .local6: 22
        case .local7: 23
        }
    }
}

/// RFC 5424 severities.
public enum SyslogSeverity: UInt8, Sendable, Comparable {
    case emergency = 0, alert, critical, error, warning, notice, informational, debug

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// How urgent a finding is: a password in the clear that the server accepted is a working
    /// credential in anyone's hands, so it ranks highest; a digest (offline-crackable) or a
    /// refused login ranks lower.
    ///
    /// | exposure  | success  | unknown | failure |
    /// |-----------|----------|---------|---------|
    /// | cleartext | critical | error   | warning |
    /// | hashed    | warning  | notice  | notice  |
    public static func of(_ finding: Finding) -> SyslogSeverity {
        switch (finding.exposure, finding.outcome) {
        case (.cleartext, .success): return .critical
        case (.cleartext, .unknown): return .error
        case (.cleartext, .failure): return .warning
        case (.hashed, .success): return .warning
        case (.hashed, .unknown), (.hashed, .failure): return .notice
        }
    }
}

/// Renders alerts and the stats event as syslog messages. Value type, made once per sink.
public struct SyslogFormatter: Sendable {
    public static let appName = "plainsight"
    /// SD-ID of our structured data: a name plus an IANA Private Enterprise Number, as RFC 5424
    /// section 7.2.2 requires for non-IANA ids.
    public static let sdID = "plainsight@32473"

    public var facility: SyslogFacility
    /// HOSTNAME field: the sensor name (`--sensor`, default the host name); printable US-ASCII
    /// only, at most 255 bytes, `-` when unknown.
    public let hostname: String
    public let procID: String
    let renderer: AlertRenderer

    public init(facility: SyslogFacility, userPolicy: UserPolicy, hostname: String = localHostName(),
                procID: Int32 = getpid()) {
        self.facility = facility
        self.procID = String(procID)
        let printable = hostname.utf8.filter { $0 > 0x20 && $0 < 0x7F }.prefix(255)
        self.hostname = printable.isEmpty ? "-" : String(decoding: printable, as: UTF8.self)
        // The sensor name (`--sensor`, default the host name) is also the `host` parameter and
        // the `host` key of the JSON carried in stats and other events, as in the JSON lines.
        self.renderer = AlertRenderer(userPolicy: userPolicy, sensor: printable.isEmpty ? nil : self.hostname)
    }

    // MARK: RFC 5424

    /// `<PRI>1 TIMESTAMP HOSTNAME plainsight PROCID cleartext_auth [plainsight@32473 ...] LINE`.
    /// `time` is when the message is made; the packet time travels as the `timestamp` parameter.
    public func appendRFC5424(_ alert: Alert, time: Timestamp, to out: inout [UInt8]) {
        appendHeader5424(severity: .of(alert.finding), msgID: "cleartext_auth", time: time, to: &out)
        appendStructuredData(alert, to: &out)
        out.append(0x20)
        renderer.appendText(alert, to: &out)
    }

    /// The stats event: msgid `stats`; the structured data holds its top-level counters, the
    /// message the whole event as JSON. Severity `warning` when any alert was dropped.
    public func appendRFC5424Stats(_ fields: [StatField], eventTime: Timestamp, dropped: Bool, time: Timestamp,
                                   to out: inout [UInt8]) {
        appendHeader5424(severity: dropped ? .warning : .informational, msgID: "stats", time: time, to: &out)
        out.append(contentsOf: "[\(Self.sdID)".utf8)
        appendParam("timestamp", to: &out) { eventTime.appendRFC3339(to: &$0) }
        appendParam("event_type", to: &out) { $0.append(contentsOf: "stats".utf8) }
        for field in fields {
            guard case .count(let value) = field.value, Self.isSDName(field.name) else { continue }
            appendParam(field.name, to: &out) { appendDecimal(value, to: &$0) }
        }
        out.append(0x5D)
        out.append(0x20)
        AlertRenderer.appendStatsJSON(fields, time: eventTime, sensor: renderer.sensor, to: &out)
    }

    private func appendHeader5424(severity: SyslogSeverity, msgID: String, time: Timestamp, to out: inout [UInt8]) {
        appendPriority(severity, to: &out)
        out.append(contentsOf: "1 ".utf8)
        time.appendRFC3339(to: &out)
        out.append(0x20)
        out.append(contentsOf: hostname.utf8)
        out.append(0x20)
        out.append(contentsOf: Self.appName.utf8)
        out.append(0x20)
        out.append(contentsOf: procID.utf8)
        out.append(0x20)
        out.append(contentsOf: msgID.utf8)
        out.append(0x20)
    }

    /// One SD element with every field of the JSON alert, in the JSON order: it is made from the
    /// alert's JSON rendering, so the two cannot drift apart as the schema grows. Members of
    /// nested objects are named `auth.method` and so on; an array (`vlan`) is comma-separated.
    func appendStructuredData(_ alert: Alert, to out: inout [UInt8]) {
        var json: [UInt8] = []
        json.reserveCapacity(512)
        renderer.appendJSON(alert, to: &json)
        out.append(contentsOf: "[\(Self.sdID)".utf8)
        var reader = JSONFieldReader(json)
        reader.appendParameters(prefix: [], to: &out)
        out.append(0x5D)
    }

    /// ` name="value"`; `value` appends text that is safe inside a PARAM-VALUE (digits, our own
    /// words).
    private func appendParam(_ name: String, to out: inout [UInt8], value: (inout [UInt8]) -> Void) {
        out.append(0x20)
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: "=\"".utf8)
        value(&out)
        out.append(0x22)
    }

    static func isSDName(_ name: String) -> Bool { JSONFieldReader.isSDName(name.utf8) }

    /// Another JSON event (`server_exposure`): msgid its `event_type`, severity `notice`, its
    /// fields as structured data like an alert's, the JSON itself as the message. Nil (nothing
    /// appended) when the object names no usable event type.
    public func appendRFC5424Event(_ json: [UInt8], time: Timestamp, to out: inout [UInt8]) -> Bool {
        guard let type = JSONFieldReader.eventType(in: json) else { return false }
        var tagged: [UInt8] = []
        tagged.reserveCapacity(json.count + 64)
        AlertRenderer.appendEvent(json, sensor: renderer.sensor, to: &tagged)
        appendHeader5424(severity: .notice, msgID: type, time: time, to: &out)
        out.append(contentsOf: "[\(Self.sdID)".utf8)
        var reader = JSONFieldReader(tagged)
        reader.appendParameters(prefix: [], to: &out)
        out.append(0x5D)
        out.append(0x20)
        out.append(contentsOf: tagged)
        return true
    }

    // MARK: BSD (what syslog(3) sends to the local socket)

    /// `<PRI>Mmm dd hh:mm:ss plainsight[PID]: LINE`, local time, as glibc's `syslog()` writes it.
    /// The daemon adds the host name; this format has no msgid or structured data.
    public func appendBSD(_ alert: Alert, time: Timestamp, to out: inout [UInt8]) {
        appendHeaderBSD(severity: .of(alert.finding), time: time, to: &out)
        renderer.appendText(alert, to: &out)
    }

    public func appendBSDStats(_ fields: [StatField], eventTime: Timestamp, dropped: Bool, time: Timestamp,
                               to out: inout [UInt8]) {
        appendHeaderBSD(severity: dropped ? .warning : .informational, time: time, to: &out)
        AlertRenderer.appendStatsJSON(fields, time: eventTime, sensor: renderer.sensor, to: &out)
    }

    /// Another JSON event on the local socket: the JSON as the message, severity `notice`.
    public func appendBSDEvent(_ json: [UInt8], time: Timestamp, to out: inout [UInt8]) {
        appendHeaderBSD(severity: .notice, time: time, to: &out)
        AlertRenderer.appendEvent(json, sensor: renderer.sensor, to: &out)
    }

    private func appendHeaderBSD(severity: SyslogSeverity, time: Timestamp, to out: inout [UInt8]) {
        appendPriority(severity, to: &out)
        var seconds = time_t(time.nanoseconds / 1_000_000_000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        out.append(contentsOf: months[Int(max(0, min(11, parts.tm_mon)))].utf8)
        out.append(0x20)
        if parts.tm_mday < 10 { out.append(0x20) }          // `%e`: day padded with a space
        appendDecimal(UInt64(max(0, parts.tm_mday)), to: &out)
        out.append(0x20)
        appendDigits(Int64(parts.tm_hour), width: 2, to: &out)
        out.append(0x3A)
        appendDigits(Int64(parts.tm_min), width: 2, to: &out)
        out.append(0x3A)
        appendDigits(Int64(parts.tm_sec), width: 2, to: &out)
        out.append(0x20)
        out.append(contentsOf: "\(Self.appName)[\(procID)]: ".utf8)
    }

    private func appendPriority(_ severity: SyslogSeverity, to out: inout [UInt8]) {
        out.append(0x3C)
        appendDecimal(UInt64(facility.code) * 8 + UInt64(severity.rawValue), to: &out)
        out.append(0x3E)
    }
}

/// `gethostname(2)`, or empty.
public func localHostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
