import Wire

/// Where alerts go. Sinks are used from one thread (the capture thread today, a writer thread once
/// alerts cross a channel); they buffer, and `flush`/`close` report the first write error.
public protocol AlertSink: AnyObject {
    /// Writes one alert. Never traps; after a write error output is dropped and `failure` is set.
    func write(_ alert: Alert)
    /// Writes the end-of-run `stats` event, for sinks whose format has one (JSON lines).
    func writeStats(_ fields: [StatField], time: Timestamp)
    /// Writes out buffered output. False once any write has failed.
    @discardableResult func flush() -> Bool
    /// Flushes and releases the output. False once any write has failed.
    @discardableResult func close() -> Bool
    /// The first write error, if any.
    var failure: OutputError? { get }
    /// Alerts handed to `write` so far (including any lost to a write error).
    var alertsWritten: UInt64 { get }
}

/// Human-readable lines (`AlertRenderer.appendText`). Has no stats event: the command line prints
/// its summary on stderr instead.
public final class TextSink: AlertSink {
    private let output: FileOutput
    private let renderer: AlertRenderer
    public private(set) var alertsWritten: UInt64 = 0

    public init(output: FileOutput, userPolicy: UserPolicy) {
        self.output = output
        self.renderer = AlertRenderer(userPolicy: userPolicy)
    }

    public func write(_ alert: Alert) {
        alertsWritten &+= 1
        output.writeLine { renderer.appendText(alert, to: &$0) }
    }

    public func writeStats(_ fields: [StatField], time: Timestamp) {}
    public func flush() -> Bool { output.flush() }
    public func close() -> Bool { output.close() }
    public var failure: OutputError? { output.failure }
}

/// JSON lines per the DESIGN.md schema: one `cleartext_auth` object per alert, then one `stats`
/// object at the end of the run.
public final class JSONLinesSink: AlertSink {
    private let output: FileOutput
    private let renderer: AlertRenderer
    public private(set) var alertsWritten: UInt64 = 0

    public init(output: FileOutput, userPolicy: UserPolicy) {
        self.output = output
        self.renderer = AlertRenderer(userPolicy: userPolicy)
    }

    public func write(_ alert: Alert) {
        alertsWritten &+= 1
        output.writeLine { renderer.appendJSON(alert, to: &$0) }
    }

    public func writeStats(_ fields: [StatField], time: Timestamp) {
        output.writeLine { AlertRenderer.appendStatsJSON(fields, time: time, to: &$0) }
    }

    public func flush() -> Bool { output.flush() }
    public func close() -> Bool { output.close() }
    public var failure: OutputError? { output.failure }
}
