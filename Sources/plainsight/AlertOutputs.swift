import Alerts

/// Seconds held syslog alerts get to reach their collectors at the end of a run.
let outputDrainSeconds = 5.0

/// Every output the options ask for, opened now (live capture opens them before dropping
/// privileges), behind one `AlertPipeline`: standard output or the -o file, then each syslog
/// target. A syslog target that cannot be reached is an error here unless --syslog-optional.
func openAlertPipeline(_ options: ReplayOptions) -> Result<AlertPipeline, OutputError> {
    // Syslog targets first: one that cannot be reached ends the run before the -o file is
    // created (or truncated, with --truncate-output).
    var syslogSinks: [any AlertSink] = []
    let syslog = options.syslog
    if !syslog.targets.isEmpty {
        let formatter = SyslogFormatter(facility: syslog.facility, userPolicy: options.userPolicy,
                                        hostname: options.sensor)
        for target in syslog.targets {
            do {
                syslogSinks.append(try SyslogSink(target: target, formatter: formatter, tls: syslog.tls,
                                                  backlogLimit: syslog.backlog,
                                                  optional: syslog.optional, report: { reportProblem($0) }))
            } catch {
                return .failure(OutputError(error.message))
            }
        }
    }
    let main: any AlertSink
    do {
        let path = options.outputPath ?? "-"
        let output = try FileOutput.create(path: path, append: !options.truncateOutput)
        // A file (not standard output) says where each run's output starts: after a restart an
        // appended file holds several runs.
        if path != "-" {
            let marker = startMarker(options, interface: options.interface)
            output.writeLine(counted: false) { $0.append(contentsOf: marker) }
        }
        main = options.json
            ? JSONLinesSink(output: output, userPolicy: options.userPolicy, sensor: options.sensor)
            : TextSink(output: output, userPolicy: options.userPolicy)
    } catch {
        return .failure(error)
    }
    let sinks = [main] + syslogSinks
    // Reading files waits for a slow consumer (a pager) instead of dropping alerts; live capture
    // (no -r) drops and counts, so capture never waits for an output.
    let overflow: AlertPipeline.OverflowPolicy = options.inputs.isEmpty ? .drop : .wait
    return .success(AlertPipeline(sinks: sinks, capacity: options.outputQueue, overflow: overflow,
                                  report: { reportProblem($0) }))
}
