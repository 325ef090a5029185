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
    /// --sensor: the `host` key of every JSON event and the syslog HOSTNAME.
    var sensor: String = "-"
    /// --jobs: read the files as independent captures, this many at a time (ParallelReplay.swift);
    /// nil reads them in order through one engine, as one capture.
    var jobs: Int?
    /// --syslog targets and settings (none by default).
    var syslog = SyslogSettings()
    /// The exposure inventory: --report files, how users are counted (ReportOptions.swift).
    var inventory = InventorySettings()
    /// --output-queue: alerts the output queue holds.
    var outputQueue = AlertPipeline.defaultCapacity
    /// -r arguments that gave no file (a directory without captures), reported already.
    var inputFailures: UInt64 = 0
    /// --community-id-seed: the seed of every alert's `community_id` (0, the spec's default).
    var communityIDSeed: UInt16 = 0
    /// --truncate-output: empty the -o file at start; by default it is appended to.
    var truncateOutput = false
    /// The command's words, for the start marker (which keeps only the option names).
    var commandWords: [String] = []
    /// The -i interface, for the start marker; nil when reading files.
    var interface: String?
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
    /// Packets of pcapng interfaces whose link type plainsight does not decode (read, not decoded).
    var undecodedPackets: UInt64 = 0
}

/// Reads every input in order through one `Engine` (like Zeek with several `-r` files), writes
/// alerts as they come, then the stats event. Returns the exit status: 0 all input read, 1 some
/// input (or the output) failed, 2 the output could not be created.
func replay(_ options: ReplayOptions, configuration: EngineConfiguration) -> Int32 {
    // A filter that does not compile is one usage error, before any output is created, rather
    // than the same error for every file.
    if let expression = options.filterExpression, let problem = filterProblem(expression, inputs: options.inputs) {
        reportProblem(problem)
        return 2
    }
    guard let inventory = InventoryRun.open(options.inventory) else { return 2 }
    let sink: AlertPipeline
    switch openAlertSink(options) {
    case .success(let opened): sink = opened
    case .failure(let error):
        reportProblem(error.message)
        return 2
    }
    let interactive = !options.quiet && isatty(2) == 1
    let started = monotonicNow()
    var totals = ReplayTotals()
    let engineFields: [StatField]
    let progress = ProgressMeter(enabled: interactive, paths: options.inputs)

    if let jobs = options.jobs {
        // Independent files, `jobs` at a time, output in file order.
        (engineFields, totals) = readFilesInParallel(options.inputs, jobs: jobs, options: options,
                                                     configuration: configuration, sink: sink,
                                                     inventory: inventory.observer(inventory.inventory, events: sink), progress: progress)
        progress.clear()
    } else {
        let seed = options.communityIDSeed
        let engine = Engine(configuration: configuration) { found in sink.submit(Alert(found, communityIDSeed: seed)) }
        engine.onNotice = { reportProblem($0) }
        inventory.attach(to: engine, events: sink)
        for (index, path) in options.inputs.enumerated() {
            if sink.failure != nil { break }            // nowhere to put alerts: stop reading
            totals.files += 1
            if !readCaptureFile(path, index: index, options: options, configuration: configuration, engine: engine,
                                sink: sink, progress: progress, totals: &totals) {
                totals.readErrors += 1
            }
        }
        engine.finish(time: totals.lastPacketTime)
        progress.clear()
        engineFields = engine.stats.fields()
    }

    totals.readErrors += options.inputFailures
    inventory.writeEvents(to: sink, time: totals.lastPacketTime ?? Timestamp(nanoseconds: wallClockNow().nanoseconds))
    let fields = engineFields + [
        StatField("files", totals.files),
        StatField("read_errors", totals.readErrors),
    ] + undecodedStatFields(totals)
    // Every sink gets the stats event (JSON lines and syslog write it, text has none), after held
    // syslog alerts were delivered or given up, so its `outputs` counters are final. Write errors
    // and drops are reported by the pipeline.
    let outputs = sink.finish(stats: fields, time: totals.lastPacketTime ?? Timestamp(nanoseconds: wallClockNow().nanoseconds),
                              timeout: outputDrainSeconds)
    if !outputs.complete { reportProblem("the outputs did not finish in time; some alerts may be lost") }
    let reportsWritten = inventory.writeReports()
    let status: Int32 = totals.readErrors > 0 || outputs.lostAlerts || !outputs.complete || !reportsWritten ? 1 : 0
    if !options.quiet, let note = skippedNote(stats: engineFields) { writeStandardError("plainsight: " + note + "\n") }
    if interactive {
        writeStandardError(summaryTable(stats: engineFields, totals: totals, filtered: options.filterExpression != nil,
                                        elapsedNanoseconds: monotonicNow() &- started))
        writeStandardError(inventory.terminalTable())
    }
    return status
}

/// The alert outputs the options ask for, opened now (live capture opens them before dropping
/// privileges), behind one writer thread (AlertOutputs.swift). Shared by replay and live capture.
func openAlertSink(_ options: ReplayOptions) -> Result<AlertPipeline, OutputError> {
    openAlertPipeline(options)
}

/// One file: open, check the link type, install the filter, feed every frame to the engine.
/// Problems are reported as one stderr line naming the file. Returns true if the file was read to
/// its end.
func readCaptureFile(_ path: String, index: Int, slot: Int = 0, options: ReplayOptions, configuration: EngineConfiguration,
                     engine: Engine, sink: any AlertSink, progress: ProgressMeter,
                     totals: inout ReplayTotals) -> Bool {
    let reader: PcapFileReader
    do {
        reader = try PcapFileReader(path: path)
        // A pcapng file gives each packet its interface's link type; others have one, checked now.
        if !reader.linkTypePerRecord { _ = try reader.supportedLinkType() }
        // No default filter when reading files: the engine selects flows itself after decoding,
        // which costs less than running the default BPF program on every record
        // (pcap_offline_filter). Live capture keeps it in the kernel, where it saves the copy.
        if let expression = options.filterExpression {
            try reader.setFilter(expression)
        }
    } catch {
        reportProblem(file: path, error.problem)
        return false
    }
    // Alerts name the file as it was given (`pcap_filename`); standard input has no name.
    engine.beginCaptureFile(name: path == "-" ? nil : path)

    progress.begin(file: path, index: index, slot: slot)
    let (end, lastFed) = reader.feed(engine, onTick: {
        if sink.failure != nil { reader.stop() }         // nowhere to put alerts: stop reading
        progress.update(slot: slot, records: reader.recordsRead, consumed: reader.bytesConsumed, alerts: sink.alertsWritten)
    })
    progress.update(slot: slot, records: reader.recordsRead, consumed: reader.bytesConsumed ?? reader.fileSize,
                    alerts: sink.alertsWritten)
    progress.end(slot: slot)
    progress.clear()
    totals.lastPacketTime = reader.lastRecordTime ?? lastFed ?? totals.lastPacketTime
    totals.records &+= reader.recordsRead
    if let consumed = reader.bytesConsumed, consumed > 0 { totals.fileBytes &+= UInt64(consumed) }
    if reader.linkTypePerRecord && reader.decodableInterfaceCount == 0 {
        // Not one interface plainsight decodes: the file is refused as a classic pcap file of
        // that link type is, naming the first interface's type.
        reportProblem(file: path, CaptureError.unsupportedLinkType(path: path, dlt: reader.dlt, name: reader.linkTypeName).problem)
        return false
    }
    reportUndecoded(reader.undecodedInterfaces, file: path, sections: reader.sectionCount)
    totals.undecodedPackets &+= reader.undecodedInterfaces.reduce(0) { $0 &+ $1.packets }
    switch end {
    case .endOfFile, .stopped:
        return true
    case .error(let message):
        reportProblem(file: path, "read error after \(reader.recordsRead) packets: \(message)")
        return false
    }
}

/// One stderr line per pcapng interface whose packets were read but not decoded (its link type is
/// not one plainsight reads), with the count, as a tcpdump user would want to know that part of
/// the capture was not looked at. At most `limit` lines: a file can describe thousands.
func reportUndecoded(_ interfaces: [UndecodedInterface], file: String, sections: Int, limit: Int = 8) {
    for entry in interfaces.prefix(limit) {
        let place = sections > 1 ? "section \(entry.section) interface \(entry.interface)" : "interface \(entry.interface)"
        let packets = entry.packets == 1 ? "1 packet" : "\(entry.packets) packets"
        reportProblem(file: file, "\(place): unsupported link type \(entry.dlt) (\(entry.name)), \(packets) not decoded")
    }
    if interfaces.count > limit {
        let rest = interfaces.dropFirst(limit)
        let packets = rest.reduce(0) { $0 &+ $1.packets }
        reportProblem(file: file, "\(rest.count) more interfaces of unsupported link types, \(packets) packets not decoded")
    }
}

/// The stats event's count of packets not decoded for their interface's link type: present only
/// when there were some, so the event of every other run keeps its keys.
func undecodedStatFields(_ totals: ReplayTotals) -> [StatField] {
    totals.undecodedPackets > 0 ? [StatField("unsupported_link_packets", totals.undecodedPackets)] : []
}

/// Why `expression` does not compile, as one line, or nil. It is compiled for the first input's
/// link type(s) (PcapFileReader.setFilter), so a filter fit for that capture is not refused;
/// another file of a different link type can still refuse it, with its own error. Standard input,
/// a pipe or FIFO (`-r <(tcpdump -w - ...)`) is not opened twice, as that would consume it: its
/// filter is checked when it is read.
func filterProblem(_ expression: String, inputs: [String]) -> String? {
    guard let first = inputs.first, first != "-" else { return nil }
    var info = stat()
    guard stat(first, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
    do {
        let reader = try PcapFileReader(path: first)
        try reader.setFilter(expression)
    } catch {
        if case .badFilter(_, let expression, let reason) = error { return "bad filter '\(expression)': \(reason)" }
    }
    return nil
}
