import Alerts
import ArgumentParser
import BuildInfo
import Capture
import Engine
import MailAuth
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The command line: parse and validate options, turn them into an `EngineConfiguration` and a
/// `ReplayOptions` (plus `LiveOptions` for -i), and hand over to `replay` or `captureLive`.
/// Nothing here touches packets.
/// The registry's ports for the help texts: "25, 110, 143, 587, 2525".
private let mailPortList = EngineConfiguration.defaultMailPorts.sorted().map(String.init).joined(separator: ", ")
private let implicitTLSPortList = EngineConfiguration.implicitTLSPorts.sorted().map(String.init).joined(separator: ", ")

@main
struct Plainsight: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plainsight",
        abstract: "Find \(protocolNamesInProse) logins sent before TLS in packet captures or on a live interface, and report them with the secret redacted.",
        usage: """
            plainsight -r <file|dir> [-r <file|dir> ...] [--jobs <N>] [--any-port] [--json] [-o <file>]
                       [--user-policy <policy>] [--user-hash-key-file <path>] [--sensor <name>] [--quiet] [<expression> ...]
                       [--syslog [<target>] ...] [--syslog-facility <facility>] [--syslog-optional] [--syslog-backlog <alerts>]
                       [--syslog-tls-ca <file>] [--syslog-tls-cert <file>] [--syslog-tls-key <file>] [--syslog-tls-name <name>]
                       [--report <file.json|file.html> ...]
            plainsight -i <interface> [-Z <user>] [--snaplen <bytes>] [--no-promisc] [--buffer-size <MiB>]
                       [--stats-interval <seconds>] [--workers <N>] [--any-port] [--json] [-o <file>] [...] [<expression> ...]
                       [--report <file.json|file.html> ...] [--report-interval <seconds>]
            plainsight -D
            plainsight report <file|-> [<file> ...] --report <file.json|file.html> [--report ...]
            """,
        discussion: """
            Reads each capture file in order through one engine, as if the files were one capture, \
            and reports every login that crossed the wire outside TLS: cleartext passwords (USER/PASS, \
            LOGIN, AUTH PLAIN, AUTH LOGIN) and crackable challenge-response digests (APOP, CRAM-MD5). \
            The password is never printed, under any option.

            -r also takes a directory (its capture files, in byte order of their names; hidden files \
            left out, other files skipped and counted) and files compressed with gzip, zstd or xz \
            (recognised by content). File names after -r FILE (a shell glob) are refused: repeat -r. \
            An option that takes one value may be given once. See docs/inputs.md.

            Alerts go to standard output, or to the -o file, which is appended to (a restart keeps \
            earlier alerts; --truncate-output empties it) and gets a start event at each run. Every \
            alert carries community_id (Community ID v1, as Suricata, Zeek and Wireshark compute it) \
            and, read from a file, pcap_filename and pcap_cnt (tshark -r FILE -Y frame.number==N \
            shows the packet that completed the login); docs/alerts.md has the schema. Problems go \
            to standard error, one line each; on a terminal, so do a progress line and a closing \
            summary (not with --quiet).

            --syslog sends every alert to syslog as well, to any number of targets: the local /dev/log \
            (app-name plainsight, the human line as message), or unix:///PATH, udp://HOST:PORT, \
            tcp://HOST:PORT and tls://HOST:PORT (RFC 5425) in RFC 5424 (msgid cleartext_auth, the alert's fields as structured data \
            [plainsight@32473 ...], severity crit for a cleartext password the server accepted down to \
            notice for a refused digest). All outputs are written by one writer thread behind a \
            bounded queue, so capture never waits for them. A collector that goes away is reconnected \
            with back-off while up to --syslog-backlog alerts are held for it; alerts lost on the way \
            are counted in the stats event (outputs) and reported on standard error. A target that \
            cannot be reached at start is an error unless --syslog-optional. A tls:// collector's \
            certificate must chain to --syslog-tls-ca (default: the system's trust store) and hold \
            the target's host (or --syslog-tls-name); one that does not verify is an error at start \
            even with --syslog-optional.

            Without an expression only the mail ports (\(mailPortList)) are read, plus \
            \(portsInProse(EngineConfiguration.implicitTLSPorts)) whose TLS sessions the inventory counts (never parsed), or all TCP with --any-port. \
            An expression replaces that filter; flows are still parsed only on the mail ports unless \
            --any-port is given.

            Every run also keeps an inventory of the mail servers seen (address, port, protocol): \
            banner, STARTTLS and plaintext logins offered before TLS, STARTTLS refusals, implicit TLS, \
            cleartext and hashed logins, distinct users, and a verdict with its evidence: exposed, \
            tls_broken, accepts_cleartext, tls_optional, tls_required, implicit_tls, hashed_only \
            (challenge-response logins only; the JSON says unknown with "hashed_only": true) or unknown, \
            plus a flag for possible STARTTLS stripping. It is written as server_exposure events with \
            --json, to --report files (JSON, or a self-contained HTML page with advice per verdict and \
            the clients and users of each server, and the sensor that saw it), and as a table at the \
            end on a terminal. plainsight report FILE... --report OUT builds the inventory of many \
            sensors from their recorded events and reports (plainsight report --help); \
            --session-events makes sensors whose traffic overlaps mergeable session by session.

            With -i, plainsight captures on an interface (a span or mirror port; 'any' for all) on a \
            thread of its own, in immediate mode. Started as root, it opens the interface and every \
            output, then switches to the -Z user (default nobody) before the first packet is read; -Z \
            root keeps root, with a warning. Without root, give the binary the capabilities instead: \
            setcap cap_net_raw,cap_net_admin=ep plainsight. SIGINT or SIGTERM stops the capture, \
            reports logins still waiting for a reply with outcome unknown, writes the final \
            statistics (packets received, dropped by the kernel and by the interface) and exits 0. \
            SIGHUP reopens the -o file (log rotation) and rewrites the --report files; SIGUSR1 reports \
            statistics at once. --report-interval N rewrites the reports every N seconds. --workers N \
            captures with N threads, each with its own handle and engine, joined in one Linux \
            PACKET_FANOUT group that hashes both directions of a flow to the same thread; alerts go to \
            the same outputs, and the stats event holds the totals plus a workers array.

            Exit status: 0 every file was read completely, or the capture was stopped by a signal; 1 \
            some input could not be read completely (alerts found before the damage are still \
            reported), or the interface could not be captured on, or an output lost alerts (not \
            counting --syslog-optional targets); 2 usage error (including a bad filter, checked once before \
            reading, an option given twice, an unknown -Z user for -i, a syslog target that cannot be \
            reached at start, a TLS collector whose certificate does not verify, or an output file \
            that is one of the -r files).

            Examples:
              plainsight -r mail.pcap
              plainsight -r a.pcap -r b.pcapng --json -o alerts.jsonl 'host 192.0.2.10'
              plainsight --jobs 4 -r eth1.pcap.1 -r eth1.pcap.2 -r eth1.pcap.3 --json -o alerts.jsonl
              plainsight --jobs 4 -r /var/spool/captures/ --json -o alerts.jsonl
              tcpdump -i eth0 -w - port 143 | plainsight -r - --user-policy omit
              plainsight -i eth1 --json -o /var/log/plainsight/eth1.jsonl --stats-interval 300
              plainsight -i eth1 --workers 4 --any-port --json -o /var/log/plainsight/eth1.jsonl
              plainsight -r mail.pcap --json -o alerts.jsonl --syslog --syslog tcp://192.0.2.5:514
              plainsight -i eth1 --syslog tls://192.0.2.5:6514 --syslog-tls-ca ca.pem
            """,
        version: versionText
    )

    @Option(name: [.customShort("r"), .customLong("read")],
            help: ArgumentHelp("Read packets from a pcap or pcapng file, plain or compressed with gzip, zstd or xz (recognised by content), or from every capture file of a directory in name order; '-' for standard input (uncompressed). Repeat to read several, in order, as one capture.",
                               valueName: "file"))
    var read: [String] = []

    @Option(name: .customLong("jobs"),
            help: ArgumentHelp("With -r: read the files as independent captures (rotated files), this many at a time (1 to 256), each through an engine of its own. Output stays in file order and is the same for any N; flows do not continue from one file into the next, and flow ids start at 1 in each file. Without --jobs the files are read in order as one capture.",
                               valueName: "N"))
    var jobsValues: [Int] = []
    var jobs: Int? { jobsValues.last }

    @Option(name: [.customShort("i"), .customLong("interface")],
            help: ArgumentHelp("Capture live on this interface ('any' for every interface), by name or by its number in -D's list, as tcpdump does (a name that exists wins). Give it once: for several interfaces use 'any'.",
                               valueName: "interface"))
    var interfaceValues: [String] = []
    var interface: String? { interfaceValues.last }

    @Flag(name: [.customShort("D"), .customLong("list-interfaces")],
          help: "List the interfaces plainsight can capture on, and exit.")
    var listInterfaces = false

    @Option(name: [.customShort("Z"), .customLong("relinquish-privileges")],
            help: ArgumentHelp("With -i, started as root: the user to switch to once the interface and the outputs are open (default: nobody). 'root' keeps root, with a warning.",
                               valueName: "user"))
    var relinquishToValues: [String] = []
    var relinquishTo: String? { relinquishToValues.last }

    @Option(name: [.customShort("s"), .customLong("snaplen")],
            help: ArgumentHelp("With -i: bytes captured of each frame (1 to 262144, default 262144). A short snapshot cuts logins off.",
                               valueName: "bytes"))
    var snaplenValues: [Int32] = []
    var snaplen: Int32? { snaplenValues.last }

    @Flag(name: .customLong("no-promisc"),
          help: "With -i: do not put the interface into promiscuous mode (a span port normally needs it).")
    var noPromisc = false

    @Option(name: .customLong("buffer-size"),
            help: ArgumentHelp("With -i: the kernel capture buffer in MiB (1 to 2047, default 32); it absorbs bursts.",
                               valueName: "MiB"))
    var bufferSizeValues: [Int32] = []
    var bufferSize: Int32? { bufferSizeValues.last }

    @Option(name: .customLong("stats-interval"),
            help: ArgumentHelp("With -i: report statistics every this many seconds (a stats event with --json, a line on standard error otherwise).",
                               valueName: "seconds"))
    var statsIntervalValues: [UInt32] = []
    var statsInterval: UInt32? { statsIntervalValues.last }

    @Option(name: .customLong("workers"),
            help: ArgumentHelp("With -i: capture threads (1 to 64, default 1), each with its own handle on the interface and its own engine. The kernel spreads flows over them by a symmetric flow hash (Linux PACKET_FANOUT), so both directions of a connection reach the same thread. --buffer-size and the limits (--max-flows, --reassembly-memory, ...) apply to each.",
                               valueName: "N"))
    var workersValues: [Int] = []
    var workers: Int? { workersValues.last }

    @Flag(name: .customLong("any-port"),
          help: "Examine all TCP traffic and recognise \(protocolNamesInProse) from the server greeting and first commands, so servers on other ports (e.g. 10143) are found. Default: only ports \(portsInProse(EngineConfiguration.defaultMailPorts)) (and \(implicitTLSPortList), for the inventory's count of TLS sessions).")
    var anyPort = false

    @Flag(name: .customLong("json"),
          help: "Write JSON lines instead of text: one cleartext_auth event per login, then one stats event.")
    var json = false

    @Option(name: [.customShort("o"), .customLong("output")],
            help: ArgumentHelp("Write alerts to this file instead of standard output: created (mode 0640) or appended to (see --truncate-output), each run starting with a start event (--json) or a '#' line. It may not be one of the -r files.",
                               valueName: "file"))
    var outputValues: [String] = []
    var output: String? { outputValues.last }

    @Option(name: .customLong("user-policy"),
            help: ArgumentHelp("How usernames are shown: mask (first and last character, a***e), full, hash (HMAC-SHA256 with the key from --user-hash-key-file, 32 hex digits) or omit.",
                               valueName: "policy"))
    var userPolicyValues: [UserPolicyName] = []
    var userPolicy: UserPolicyName { userPolicyValues.last ?? .mask }

    @Option(name: .customLong("user-hash-key-file"),
            help: ArgumentHelp("Key for --user-policy hash: the file's bytes exactly as stored, at least 16 (e.g. head -c 32 /dev/urandom > key).",
                               valueName: "path"))
    var userHashKeyFileValues: [String] = []
    var userHashKeyFile: String? { userHashKeyFileValues.last }

    @Option(name: .customLong("sensor"),
            help: ArgumentHelp("Name this sensor in every alert and event: the JSON 'host' key (last in each event) and the syslog HOSTNAME. 1 to 255 printable ASCII characters, no spaces (default: the host name).",
                               valueName: "name"))
    var sensorValues: [String] = []
    var sensor: String? { sensorValues.last }

    @Flag(name: [.customShort("q"), .customLong("quiet")],
          help: "No progress line and no summary on standard error, and with -i no listening line and no final statistics line (problems are still reported).")
    var quiet = false

    @OptionGroup(title: "Output files and linking")
    var outputs: OutputOptions

    @OptionGroup(title: "Syslog")
    var syslog: SyslogOptions

    @OptionGroup(title: "Limits")
    var limits: LimitOptions

    @OptionGroup(title: "Exposure inventory") var inventory: ReportOptions

    @OptionGroup(title: "Mirror feeds (tunnels, fragments, checksums, VLANs)")
    var feed: FeedOptions

    @OptionGroup(title: "TCP integrity")
    var stream: StreamOptions

    @Argument(help: ArgumentHelp("BPF filter expression, as in tcpdump (e.g. 'host 192.0.2.10'); the words are joined with spaces.",
                                 valueName: "expression"))
    var expression: [String] = []

    mutating func validate() throws {
        if let error = repeatedOptionError([
            ("--jobs", jobsValues.count),
            ("-Z/--relinquish-privileges", relinquishToValues.count),
            ("-s/--snaplen", snaplenValues.count),
            ("--buffer-size", bufferSizeValues.count),
            ("--stats-interval", statsIntervalValues.count),
            ("--workers", workersValues.count),
            ("-o/--output", outputValues.count),
            ("--user-policy", userPolicyValues.count),
            ("--user-hash-key-file", userHashKeyFileValues.count),
            ("--sensor", sensorValues.count),
        ]) { throw error }
        if interfaceValues.count > 1 {
            throw ValidationError("-i is given \(interfaceValues.count) times: plainsight captures on one interface; use -i any for all of them, or run one plainsight per interface")
        }
        if listInterfaces {
            guard read.isEmpty, interface == nil else { throw ValidationError("-D lists interfaces; it takes no -r or -i") }
            return
        }
        if interface != nil && !read.isEmpty {
            throw ValidationError("give capture files with -r or an interface with -i, not both")
        }
        guard !read.isEmpty || interface != nil else {
            throw ValidationError("no input: give capture files with -r FILE, or an interface with -i INTERFACE (-D lists them)")
        }
        if !read.isEmpty, let files = filesGivenAsExpression(expression) {
            let shown = files.prefix(3).map(escaped).joined(separator: " ") + (files.count > 3 ? " ..." : "")
            throw ValidationError("\(shown): these words after -r FILE name files, not a filter: repeat -r for each file (-r a.pcap -r b.pcap) or give their directory (-r DIR)")
        }
        if interface == "" { throw ValidationError("-i needs an interface name (-D lists them)") }
        if let jobs {
            guard interface == nil else { throw ValidationError("--jobs is used only with capture files (-r)") }
            guard (1...256).contains(jobs) else { throw ValidationError("--jobs \(jobs): give 1 to 256") }
        }
        if interface == nil {
            let liveOnly: [(String, Bool)] = [
                ("-Z", relinquishTo != nil), ("--snaplen", snaplen != nil), ("--no-promisc", noPromisc),
                ("--buffer-size", bufferSize != nil), ("--stats-interval", statsInterval != nil),
                ("--workers", workers != nil), ("--report-interval", inventory.reportInterval != nil),
            ]
            if let (name, _) = liveOnly.first(where: { $0.1 }) {
                throw ValidationError("\(name) is used only with live capture (-i)")
            }
        }
        if let snaplen, !(1...LiveCaptureOptions.maxSnapshotLength).contains(snaplen) {
            throw ValidationError("--snaplen \(snaplen): give 1 to \(LiveCaptureOptions.maxSnapshotLength) bytes")
        }
        if let bufferSize, !(1...2047).contains(bufferSize) {
            throw ValidationError("--buffer-size \(bufferSize): give 1 to 2047 MiB")
        }
        if let workers, !(1...64).contains(workers) {
            throw ValidationError("--workers \(workers): give 1 to 64")
        }
        if let statsInterval, !(1...86_400).contains(statsInterval) {
            throw ValidationError("--stats-interval \(statsInterval): give 1 to 86400 seconds")
        }
        if relinquishTo == "" { throw ValidationError("-Z needs a user name") }
        if let sensor, !Self.isValidSensorName(sensor) {
            throw ValidationError("--sensor '\(sensor)': give 1 to 255 printable ASCII characters, no spaces")
        }
        try checkOutputsAreNotInputs(inputs: read, outputs: (output.map { [("-o", $0)] } ?? [])
                                     + inventory.report.map { ("--report", $0) })
        switch (userPolicy, userHashKeyFile) {
        case (.hash, nil):
            throw ValidationError("--user-policy hash needs --user-hash-key-file PATH (a file of at least \(HashKey.minimumLength) secret bytes)")
        case (.mask, .some), (.full, .some), (.omit, .some):
            throw ValidationError("--user-hash-key-file is used only with --user-policy hash")
        default:
            break
        }
    }

    /// Runs the command; returns the exit status.
    func execute() throws -> Int32 {
        if listInterfaces { return printInterfaces() }
        let policy: UserPolicy
        switch userPolicy {
        case .mask: policy = .mask
        case .full: policy = .full
        case .omit: policy = .omit
        case .hash: policy = .hash(key: try HashKey.load(path: userHashKeyFile ?? ""))
        }
        var engineConfiguration = EngineConfiguration()
        engineConfiguration.anyPort = anyPort
        limits.apply(to: &engineConfiguration)
        feed.apply(to: &engineConfiguration)
        stream.apply(to: &engineConfiguration)
        let inputs = expandInputs(read, quiet: quiet)
        var options = ReplayOptions(
            inputs: inputs.paths,
            filterExpression: expression.isEmpty ? nil : expression.joined(separator: " "),
            json: json, outputPath: output, userPolicy: policy, quiet: quiet)
        options.sensor = sensor ?? Self.defaultSensorName()
        options.jobs = jobs
        options.inputFailures = inputs.failures
        if let queue = limits.outputQueue { options.outputQueue = queue }
        options.syslog = syslog.settings
        options.inventory = inventory.settings(policy: policy)
        options.inventory.sensor = options.sensor
        outputs.apply(to: &options, configuration: &engineConfiguration)
        // Live flow ids must not repeat across restarts and sensors; a replay's stay 1, 2, 3...
        engineConfiguration.uniqueFlowIDs = interface != nil
        if let given = interface {
            let interface = try interfaceByNumber(given)
            options.interface = interface
            var capture = LiveCaptureOptions()
            if let snaplen { capture.snapshotLength = snaplen }
            capture.promiscuous = !noPromisc
            if let bufferSize { capture.bufferBytes = bufferSize << 20 }
            let live = LiveOptions(interface: interface, capture: capture, relinquishTo: relinquishTo,
                                   statsIntervalSeconds: statsInterval, workers: workers ?? 1)
            return captureLive(live, outputs: options, configuration: engineConfiguration)
        }
        return replay(options, configuration: engineConfiguration)
    }

    /// A sensor name fits the syslog HOSTNAME field as it is (RFC 5424: PRINTUSASCII, 1 to 255).
    static func isValidSensorName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    /// The host name, cut to what a sensor name may hold; `-` (RFC 5424's nil value) if none.
    static func defaultSensorName() -> String {
        let printable = localHostName().utf8.filter { $0 > 0x20 && $0 < 0x7F }.prefix(255)
        return printable.isEmpty ? "-" : String(decoding: printable, as: UTF8.self)
    }

    /// ArgumentParser exits 64 on usage errors; plainsight promises 2, like most Unix tools.
    static func main() {
        signal(SIGPIPE, SIG_IGN)      // a closed stdout becomes a reported EPIPE, not a silent death
        let status: Int32
        do {
            // A bare --syslog means /dev/log; ArgumentParser needs it spelled out (SyslogOptions).
            let arguments = Array(CommandLine.arguments.dropFirst())
            // The merge of recorded events (issue 20): a command of its own, not options of the
            // capture's (whose words after the options are a BPF filter).
            if arguments.first == "report" { Glibc.exit(ReportCommand.run(Array(arguments.dropFirst()))) }
            let command = try parse(SyslogOptions.normalize(arguments))
            status = try command.execute()
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            writeStandardError(fullMessage(for: error) + "\n")
            terminate(2)
        }
        terminate(status)
    }
}

enum UserPolicyName: String, CaseIterable, ExpressibleByArgument {
    case mask, full, hash, omit
}

let plainsightVersion = "0.1.0"

/// `--version`: plainsight's version and the commit it was built from, then the libpcap it runs
/// with, so a bug report names both.
let versionText = """
    plainsight \(plainsightVersion) (commit \(BuildInfo.commit))
    \(libpcapVersion)
    """

/// The C library's exit, under the name no `ParsableCommand` shadows (its static `exit(withError:)`
/// hides the free function inside the command's own methods).
private func terminate(_ status: Int32) -> Never { exit(status) }
