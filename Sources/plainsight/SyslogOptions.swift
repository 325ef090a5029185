import Alerts
import ArgumentParser

/// `--syslog [TARGET]` and its companions, pulled into the command with `@OptionGroup`.
struct SyslogOptions: ParsableArguments {
    @Option(name: .customLong("syslog"), parsing: .singleValue,
            help: ArgumentHelp("""
                Also send each alert to syslog. Without a target (or with an absolute path): the local \
                socket /dev/log, in the format syslog(3) uses. unix:///PATH, udp://HOST:PORT and \
                tcp://HOST:PORT send RFC 5424 with structured data (TCP with octet counting). Repeat \
                for several targets.
                """, valueName: "target"),
            transform: { text in
                do { return try SyslogTarget(parsing: text) } catch { throw ValidationError(String(describing: error)) }
            })
    var targets: [SyslogTarget] = []

    @Option(name: .customLong("syslog-facility"),
            help: ArgumentHelp("Syslog facility (default authpriv): kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0 to local7.",
                               valueName: "facility"))
    var facilityValues: [SyslogFacility] = []
    var facility: SyslogFacility? { facilityValues.last }

    @Flag(name: .customLong("syslog-optional"),
          help: "Start even if a syslog target cannot be reached (or resolved); keep retrying, and do not fail the run for alerts it lost.")
    var optional = false

    @Option(name: .customLong("syslog-backlog"),
            help: ArgumentHelp("Alerts each syslog target holds while its collector is unreachable (1 to 1000000, default \(SyslogSink.defaultBacklogLimit)); later ones are dropped and counted.",
                               valueName: "alerts"))
    var backlogValues: [Int] = []
    var backlog: Int? { backlogValues.last }

    func validate() throws {
        if let error = repeatedOptionError([
            ("--syslog-facility", facilityValues.count),
            ("--syslog-backlog", backlogValues.count),
        ]) { throw error }
        if targets.isEmpty {
            let orphan = [("--syslog-facility", facility != nil), ("--syslog-optional", optional),
                          ("--syslog-backlog", backlog != nil)].first { $0.1 }
            if let (name, _) = orphan { throw ValidationError("\(name) is used only with --syslog") }
        }
        var seen: [SyslogTarget] = []
        for target in targets {
            if seen.contains(target) { throw ValidationError("syslog target \(target) is given twice") }
            seen.append(target)
        }
        if let backlog, !(1...1_000_000).contains(backlog) {
            throw ValidationError("--syslog-backlog \(backlog): give 1 to 1000000 alerts")
        }
    }

    var settings: SyslogSettings {
        SyslogSettings(targets: targets, facility: facility ?? .authpriv, optional: optional,
                       backlog: backlog ?? SyslogSink.defaultBacklogLimit)
    }

    /// ArgumentParser has no option with an optional value, so a bare `--syslog` (followed by
    /// nothing, by another option or by a filter word) becomes `--syslog=/dev/log` before parsing.
    /// A following word is taken as the target only if it looks like one (an absolute path or
    /// `scheme:/...`); filter expressions never do.
    static func normalize(_ arguments: [String]) -> [String] {
        var result: [String] = []
        result.reserveCapacity(arguments.count)
        for (index, argument) in arguments.enumerated() {
            if argument == "--" {
                result += arguments[index...]
                break
            }
            let next = index + 1 < arguments.count ? arguments[index + 1] : nil
            if argument == "--syslog" && !(next.map(SyslogTarget.looksLikeTarget) ?? false) {
                result.append("--syslog=" + SyslogTarget.defaultLocalPath)
            } else {
                result.append(argument)
            }
        }
        return result
    }
}

/// The syslog part of the outputs, as validated.
struct SyslogSettings: Sendable {
    var targets: [SyslogTarget] = []
    var facility: SyslogFacility = .authpriv
    var optional = false
    var backlog = SyslogSink.defaultBacklogLimit
}

extension SyslogFacility: ExpressibleByArgument {}
