import Alerts
import ArgumentParser

/// `--syslog [TARGET]` and its companions, pulled into the command with `@OptionGroup`.
struct SyslogOptions: ParsableArguments {
    @Option(name: .customLong("syslog"), parsing: .singleValue,
            help: ArgumentHelp("""
                Also send each alert to syslog. Without a target (or with an absolute path): the local \
                socket /dev/log, in the format syslog(3) uses. unix:///PATH, udp://HOST:PORT, \
                tcp://HOST:PORT and tls://HOST:PORT (RFC 5425, port 6514) send RFC 5424 with \
                structured data (TCP and TLS with octet counting). Repeat for several targets.
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

    @Option(name: .customLong("syslog-tls-ca"),
            help: ArgumentHelp("For tls:// targets: PEM file of the CA certificates the collector's certificate must chain to (default: the system's trust store).",
                               valueName: "file"))
    var tlsCAValues: [String] = []
    var tlsCA: String? { tlsCAValues.last }

    @Option(name: .customLong("syslog-tls-cert"),
            help: ArgumentHelp("For tls:// targets: PEM client certificate (chain) to show a collector that asks for one.",
                               valueName: "file"))
    var tlsCertificateValues: [String] = []
    var tlsCertificate: String? { tlsCertificateValues.last }

    @Option(name: .customLong("syslog-tls-key"),
            help: ArgumentHelp("For tls:// targets: PEM private key of --syslog-tls-cert (default: read from that file).",
                               valueName: "file"))
    var tlsKeyValues: [String] = []
    var tlsKey: String? { tlsKeyValues.last }

    @Option(name: .customLong("syslog-tls-name"),
            help: ArgumentHelp("For tls:// targets: the DNS name or IP address the collector's certificate must hold (default: the host of the target).",
                               valueName: "name"))
    var tlsNameValues: [String] = []
    var tlsName: String? { tlsNameValues.last }

    func validate() throws {
        if let error = repeatedOptionError([
            ("--syslog-facility", facilityValues.count),
            ("--syslog-backlog", backlogValues.count),
            ("--syslog-tls-ca", tlsCAValues.count),
            ("--syslog-tls-cert", tlsCertificateValues.count),
            ("--syslog-tls-key", tlsKeyValues.count),
            ("--syslog-tls-name", tlsNameValues.count),
        ]) { throw error }
        if targets.isEmpty {
            let orphan = [("--syslog-facility", facility != nil), ("--syslog-optional", optional),
                          ("--syslog-backlog", backlog != nil)].first { $0.1 }
            if let (name, _) = orphan { throw ValidationError("\(name) is used only with --syslog") }
        }
        if !targets.contains(where: \.isTLS) {
            let orphan = [("--syslog-tls-ca", tlsCA != nil), ("--syslog-tls-cert", tlsCertificate != nil),
                          ("--syslog-tls-key", tlsKey != nil), ("--syslog-tls-name", tlsName != nil)].first { $0.1 }
            if let (name, _) = orphan { throw ValidationError("\(name) is used only with a tls:// syslog target") }
        }
        if tlsKey != nil && tlsCertificate == nil {
            throw ValidationError("--syslog-tls-key needs --syslog-tls-cert")
        }
        if let tlsName, tlsName.isEmpty || !tlsName.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            throw ValidationError("--syslog-tls-name: give a DNS name or an IP address")
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
                       backlog: backlog ?? SyslogSink.defaultBacklogLimit,
                       tls: SyslogTLSSettings(caFile: tlsCA, certificateFile: tlsCertificate, keyFile: tlsKey,
                                              serverName: tlsName))
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
    var tls = SyslogTLSSettings()
}

extension SyslogFacility: ExpressibleByArgument {}
