import Alerts
import Capture
import Engine
import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Reading capture files through one engine. These are free functions on purpose: a closure formed
// inside `@main` code is MainActor-isolated and measurably slower on the per-packet path.

/// What the command line asked for, minus the engine's own configuration.
struct ReplayOptions: Sendable {
    var inputs: [String]
    /// A user BPF expression; nil means the default mail-port (or all-TCP) filter.
    var filterExpression: String?
    var json: Bool
    /// nil or `-`: standard output.
    var outputPath: String?
    var userPolicy: UserPolicy
    var quiet: Bool
}

/// Run-wide counters kept outside the engine.
struct ReplayTotals {
    var files: UInt64 = 0
    /// Files that could not be read completely (missing, unreadable, damaged, unsupported link
    /// type, bad filter).
    var readErrors: UInt64 = 0
    /// Records read from capture files, before filtering.
    var records: UInt64 = 0
    /// Bytes of capture files consumed (regular files only).
    var fileBytes: UInt64 = 0
    var lastPacketTime: Timestamp?
}

/// Reads every input in order through one `Engine` (like Zeek with several `-r` files), writes
/// alerts as they come, then the stats event. Returns the exit status: 0 all input read, 1 some
/// input (or the output) failed, 2 the output could not be created.
func replay(_ options: ReplayOptions, configuration: EngineConfiguration) -> Int32 {
    let output: FileOutput
    do {
        output = try FileOutput.create(path: options.outputPath ?? "-")
    } catch {
        reportProblem(error.message)
        return 2
    }
    let sink: any AlertSink = options.json
        ? JSONLinesSink(output: output, userPolicy: options.userPolicy)
        : TextSink(output: output, userPolicy: options.userPolicy)
    let engine = Engine(configuration: configuration) { alert in sink.write(alert) }
    let interactive = !options.quiet && isatty(2) == 1
    let progress = ProgressMeter(enabled: interactive)
    let started = monotonicNanoseconds()
    var totals = ReplayTotals()

    for path in options.inputs {
        if sink.failure != nil { break }            // nowhere to put alerts: stop reading
        totals.files += 1
        if !readCaptureFile(path, options: options, configuration: configuration, engine: engine,
                            sink: sink, progress: progress, totals: &totals) {
            totals.readErrors += 1
        }
    }

    engine.finish(time: totals.lastPacketTime)
    progress.clear()
    if options.json {
        let fields = engine.stats.fields() + [
            StatField("files", totals.files),
            StatField("read_errors", totals.readErrors),
        ]
        sink.writeStats(fields, time: totals.lastPacketTime ?? Timestamp(nanoseconds: wallClockNanoseconds()))
    }
    var status: Int32 = totals.readErrors > 0 ? 1 : 0
    if !sink.close(), let failure = sink.failure {
        reportProblem(failure.message)
        status = 1
    }
    if interactive {
        writeStandardError(summaryTable(stats: engine.stats.fields(), totals: totals,
                                        elapsedNanoseconds: monotonicNanoseconds() &- started))
    }
    return status
}

/// One file: open, check the link type, install the filter, feed every frame to the engine.
/// Problems are reported as one stderr line naming the file. Returns true if the file was read to
/// its end.
func readCaptureFile(_ path: String, options: ReplayOptions, configuration: EngineConfiguration,
                     engine: Engine, sink: any AlertSink, progress: ProgressMeter,
                     totals: inout ReplayTotals) -> Bool {
    let reader: PcapFileReader
    let link: LinkType
    do {
        reader = try PcapFileReader(path: path)
        link = try reader.supportedLinkType()
        if let expression = options.filterExpression {
            try reader.setFilter(expression)
        } else {
            // The default filter is an optimisation only (the engine selects flows itself), so a
            // link type it does not compile for just reads everything.
            try? reader.setFilter(CaptureFilter.defaultExpression(
                anyPort: configuration.anyPort, ports: configuration.mailPorts, dlt: reader.dlt))
        }
    } catch {
        reportProblem(file: path, error.problem)
        return false
    }

    progress.begin(file: path, size: path == "-" ? nil : reader.fileSize)
    var lastTime = totals.lastPacketTime
    let end = reader.read(onTick: {
        if sink.failure != nil { reader.stop() }         // nowhere to put alerts: stop reading
        progress.update(records: reader.recordsRead, consumed: reader.bytesConsumed, alerts: sink.alertsWritten)
    }) { frame, time in
        engine.process(frame: frame, time: time, link: link)
        lastTime = time
    }
    progress.clear()
    totals.lastPacketTime = reader.lastRecordTime ?? lastTime
    totals.records &+= reader.recordsRead
    if let consumed = reader.bytesConsumed, consumed > 0 { totals.fileBytes &+= UInt64(consumed) }
    switch end {
    case .endOfFile, .stopped:
        return true
    case .error(let message):
        reportProblem(file: path, "read error after \(reader.recordsRead) packets: \(message)")
        return false
    }
}
