import Wire

/// Where alerts go. A sink is used from one thread only: the `AlertPipeline` writer thread (or a
/// test). Sinks buffer; `flush`/`close` report the first write error.
public protocol AlertSink: AnyObject {
    /// Writes one alert. Never blocks on the network and never traps; after a write error output
    /// is dropped (and counted) and `failure` is set.
    func write(_ alert: Alert)
    /// Writes a `stats` event, for sinks whose format has one (JSON lines, syslog).
    func writeStats(_ fields: [StatField], time: Timestamp)
    /// Writes out buffered output. False once any write has failed.
    @discardableResult func flush() -> Bool
    /// Flushes and releases the output; alerts still held are counted as dropped. False once any
    /// write has failed.
    @discardableResult func close() -> Bool
    /// The first write error that ends this sink's output for good, if any.
    var failure: OutputError? { get }
    /// Alerts handed to `write` so far (including any later dropped).
    var alertsWritten: UInt64 { get }
    /// Alerts that reached their destination, and alerts lost on the way.
    var counters: SinkCounters { get }
    /// How the sink is named in messages and in the stats event (`stdout`, `file`, or a syslog
    /// target such as `tcp://192.0.2.5:6514`), and the `outputs` group it is listed under, if any.
    var outputName: String { get }
    var outputGroup: String? { get }
    /// Lost alerts do not make the run fail (`--syslog-optional`).
    var isOptional: Bool { get }
    /// Starts over on the same destination (SIGHUP after log rotation): a file is opened again,
    /// a syslog connection is made again. Returns a problem worth one stderr line, if any.
    func reopen() -> OutputError?
    /// Does pending work (resend held alerts, finish or retry a connection) and returns when it
    /// next needs a call, on the monotonic clock in nanoseconds; nil when it has nothing pending.
    func service(now: UInt64) -> UInt64?
    /// Alerts accepted but not yet delivered (held for an unreachable collector).
    var heldAlerts: Int { get }
    /// Anything at all (an alert or a stats message) still waiting to be sent.
    var hasPendingOutput: Bool { get }
    /// Counters beyond delivered and dropped, for the stats event's `outputs` object.
    var statDetails: [StatField] { get }
    /// Retries at once rather than at the end of the current back-off (draining at exit).
    func expedite()
    /// Gives up on held alerts, counting them as dropped (the drain timed out).
    func abandonHeld()
    /// Writes another JSON event rendered by its owner (`server_exposure`, issue 7): one compact
    /// object, no newline. JSON-lines and syslog sinks write it (syslog: msgid the event type,
    /// its fields as structured data); text sinks ignore it.
    func writeEvent(_ json: [UInt8])
}

/// Delivered and dropped alerts of one sink. For every sink, delivered + dropped + held alerts +
/// alerts dropped before reaching it (queue overflow) equals the alerts produced.
public struct SinkCounters: Sendable, Equatable {
    public var delivered: UInt64 = 0
    public var dropped: UInt64 = 0
    public init(delivered: UInt64 = 0, dropped: UInt64 = 0) { self.delivered = delivered; self.dropped = dropped }
}

extension AlertSink {
    public var outputGroup: String? { nil }
    public var isOptional: Bool { false }
    public func reopen() -> OutputError? { nil }
    public func service(now: UInt64) -> UInt64? { nil }
    public var heldAlerts: Int { 0 }
    public var hasPendingOutput: Bool { false }
    public var statDetails: [StatField] { [] }
    public func expedite() {}
    public func abandonHeld() {}
    public func writeEvent(_ json: [UInt8]) {}
}

/// Shared by the two line-oriented sinks: a `FileOutput` and its counters.
public class LineSink {
    let output: FileOutput
    let renderer: AlertRenderer
    public private(set) var alertsWritten: UInt64 = 0

    init(output: FileOutput, userPolicy: UserPolicy, sensor: String? = nil) {
        self.output = output
        self.renderer = AlertRenderer(userPolicy: userPolicy, sensor: sensor)
    }

    func writeAlertLine(_ render: (inout [UInt8]) -> Void) {
        alertsWritten &+= 1
        output.writeLine(counted: true, render)
    }

    public func flush() -> Bool { output.flush() }
    public func close() -> Bool { output.close() }
    public var failure: OutputError? { output.failure }
    public var counters: SinkCounters { SinkCounters(delivered: output.recordsDelivered, dropped: output.recordsLost) }
    public var outputName: String { output.name == "standard output" ? "stdout" : "file" }
    public func reopen() -> OutputError? { output.reopen() }
}

/// Human-readable lines (`AlertRenderer.appendText`). Has no stats event: the command line prints
/// its summary on stderr instead.
public final class TextSink: LineSink, AlertSink {
    public init(output: FileOutput, userPolicy: UserPolicy) { super.init(output: output, userPolicy: userPolicy) }

    public func write(_ alert: Alert) { writeAlertLine { renderer.appendText(alert, to: &$0) } }
    public func writeStats(_ fields: [StatField], time: Timestamp) {}
}

/// JSON lines per the DESIGN.md schema: one `cleartext_auth` object per alert, then one `stats`
/// object at the end of the run.
public final class JSONLinesSink: LineSink, AlertSink {
    /// `sensor` (`--sensor`) becomes the `host` key, last in every event; nil leaves it out.
    public override init(output: FileOutput, userPolicy: UserPolicy, sensor: String? = nil) {
        super.init(output: output, userPolicy: userPolicy, sensor: sensor)
    }

    public func write(_ alert: Alert) { writeAlertLine { renderer.appendJSON(alert, to: &$0) } }

    public func writeStats(_ fields: [StatField], time: Timestamp) {
        output.writeLine(counted: false) { AlertRenderer.appendStatsJSON(fields, time: time, sensor: renderer.sensor, to: &$0) }
    }

    public func writeEvent(_ json: [UInt8]) {
        output.writeLine(counted: false) { AlertRenderer.appendEvent(json, sensor: renderer.sensor, to: &$0) }
    }
}
