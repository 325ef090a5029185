import Alerts
import ArgumentParser
import Engine
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The command line: parse and validate options, turn them into an `EngineConfiguration` and a
/// `ReplayOptions`, and hand over to `replay`. Nothing here touches packets.
@main
struct Plainsight: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plainsight",
        abstract: "Find POP3, IMAP and SMTP logins sent before TLS in packet captures, and report them with the secret redacted.",
        usage: """
            plainsight -r <file> [-r <file> ...] [--any-port] [--json] [-o <file>]
                       [--user-policy <policy>] [--user-hash-key-file <path>] [--quiet] [<expression> ...]
            """,
        discussion: """
            Reads each capture file in order through one engine, as if the files were one capture, \
            and reports every login that crossed the wire outside TLS: cleartext passwords (USER/PASS, \
            LOGIN, AUTH PLAIN, AUTH LOGIN) and crackable challenge-response digests (APOP, CRAM-MD5). \
            The password is never printed, under any option.

            Alerts go to standard output, or to the -o file. Problems go to standard error, one line \
            each; on a terminal, so do a progress line and a closing summary (not with --quiet).

            Without an expression only the mail ports (25, 110, 143, 587, 2525) are read, or all TCP \
            with --any-port. An expression replaces that filter; flows are still parsed only on the \
            mail ports unless --any-port is given.

            Live capture (-i) is not available yet.

            Exit status: 0 every file was read completely; 1 some input could not be read completely \
            (alerts found before the damage are still reported); 2 usage error.

            Examples:
              plainsight -r mail.pcap
              plainsight -r a.pcap -r b.pcapng --json -o alerts.jsonl 'host 192.0.2.10'
              tcpdump -i eth0 -w - port 143 | plainsight -r - --user-policy omit
            """,
        version: plainsightVersion
    )

    @Option(name: [.customShort("r"), .customLong("read")],
            help: ArgumentHelp("Read packets from a pcap or pcapng file ('-' for standard input). Repeat to read several files, in order, as one capture.",
                               valueName: "file"))
    var read: [String] = []

    @Flag(name: .customLong("any-port"),
          help: "Examine all TCP traffic and recognise POP3, IMAP and SMTP from the server greeting and first commands, so servers on other ports (e.g. 10143) are found. Default: only ports 25, 110, 143, 587 and 2525.")
    var anyPort = false

    @Flag(name: .customLong("json"),
          help: "Write JSON lines instead of text: one cleartext_auth event per login, then one stats event.")
    var json = false

    @Option(name: [.customShort("o"), .customLong("output")],
            help: ArgumentHelp("Write alerts to this file (created or truncated, mode 0640) instead of standard output.",
                               valueName: "file"))
    var output: String?

    @Option(name: .customLong("user-policy"),
            help: ArgumentHelp("How usernames are shown: mask (first and last character, a***e), full, hash (HMAC-SHA256 with the key from --user-hash-key-file, 32 hex digits) or omit.",
                               valueName: "policy"))
    var userPolicy: UserPolicyName = .mask

    @Option(name: .customLong("user-hash-key-file"),
            help: ArgumentHelp("Key for --user-policy hash: the file's bytes exactly as stored, at least 16 (e.g. head -c 32 /dev/urandom > key).",
                               valueName: "path"))
    var userHashKeyFile: String?

    @Flag(name: [.customShort("q"), .customLong("quiet")],
          help: "No progress line and no summary on standard error (problems are still reported).")
    var quiet = false

    @Argument(help: ArgumentHelp("BPF filter expression, as in tcpdump (e.g. 'host 192.0.2.10'); the words are joined with spaces.",
                                 valueName: "expression"))
    var expression: [String] = []

    mutating func validate() throws {
        guard !read.isEmpty else {
            throw ValidationError("no input: give one or more capture files with -r FILE (live capture with -i is not available yet)")
        }
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
        let policy: UserPolicy
        switch userPolicy {
        case .mask: policy = .mask
        case .full: policy = .full
        case .omit: policy = .omit
        case .hash: policy = .hash(key: try HashKey.load(path: userHashKeyFile ?? ""))
        }
        var engineConfiguration = EngineConfiguration()
        engineConfiguration.anyPort = anyPort
        let options = ReplayOptions(
            inputs: read,
            filterExpression: expression.isEmpty ? nil : expression.joined(separator: " "),
            json: json, outputPath: output, userPolicy: policy, quiet: quiet)
        return replay(options, configuration: engineConfiguration)
    }

    /// ArgumentParser exits 64 on usage errors; plainsight promises 2, like most Unix tools.
    static func main() {
        signal(SIGPIPE, SIG_IGN)      // a closed stdout becomes a reported EPIPE, not a silent death
        let status: Int32
        do {
            let command = try parse()
            status = try command.execute()
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            writeStandardError(fullMessage(for: error) + "\n")
            Glibc.exit(2)
        }
        Glibc.exit(status)
    }
}

enum UserPolicyName: String, CaseIterable, ExpressibleByArgument {
    case mask, full, hash, omit
}

let plainsightVersion = "0.1.0"
