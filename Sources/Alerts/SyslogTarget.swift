/// Where a syslog sink sends, as given on the command line.
///
/// - an absolute path (`/dev/log`): the local syslog socket, spoken to in the format `syslog(3)`
///   uses, because that is the only format the daemons behind `/dev/log` parse there (rsyslog's
///   and journald's local socket parsers take the BSD form and would mangle RFC 5424);
/// - `unix:///PATH`: RFC 5424 datagrams on a unix socket (rsyslog: `imuxsock` with
///   `UseSpecialParser="off"`);
/// - `udp://HOST:PORT`: RFC 5424, one datagram per message (RFC 5426);
/// - `tcp://HOST:PORT`: RFC 5424 with octet counting (RFC 6587 section 3.4.1);
/// - `tls://HOST:PORT`: the same octet-counted stream inside TLS (RFC 5425; port 6514).
public enum SyslogTarget: Sendable, Equatable, CustomStringConvertible {
    case local(path: String)
    case unix(path: String)
    case udp(host: String, port: UInt16)
    case tcp(host: String, port: UInt16)
    case tls(host: String, port: UInt16)

    public static let defaultLocalPath = "/dev/log"
    /// `sockaddr_un.sun_path` holds 108 bytes including the terminating NUL.
    static let maxSocketPathBytes = 107

    /// Parses one target; the error says what was expected.
    public init(parsing text: String) throws(SyslogTargetError) {
        let usage = "use /dev/log (or another absolute path), unix:///PATH, udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT"
        if text.hasPrefix("/") {
            self = .local(path: try Self.socketPath(text))
        } else if let rest = text.dropPrefix("unix://") {
            guard rest.hasPrefix("/") else {
                throw SyslogTargetError("unix:// needs an absolute path (unix:///run/syslog.sock)")
            }
            self = .unix(path: try Self.socketPath(String(rest)))
        } else if let rest = text.dropPrefix("udp://") {
            let (host, port) = try Self.hostAndPort(rest)
            self = .udp(host: host, port: port)
        } else if let rest = text.dropPrefix("tcp://") {
            let (host, port) = try Self.hostAndPort(rest)
            self = .tcp(host: host, port: port)
        } else if let rest = text.dropPrefix("tls://") {
            let (host, port) = try Self.hostAndPort(rest)
            self = .tls(host: host, port: port)
        } else {
            throw SyslogTargetError("unknown kind of target: \(usage)")
        }
    }

    public var description: String {
        switch self {
        case .local(let path): return path
        case .unix(let path): return "unix://" + path
        case .udp(let host, let port): return "udp://" + Self.bracketed(host) + ":\(port)"
        case .tcp(let host, let port): return "tcp://" + Self.bracketed(host) + ":\(port)"
        case .tls(let host, let port): return "tls://" + Self.bracketed(host) + ":\(port)"
        }
    }

    /// Whether a command-line word is meant as a target (an absolute path or `scheme:/...`), as
    /// opposed to the first word of a filter expression after a bare `--syslog`. BPF words never
    /// look like that: IPv6 and MAC addresses have a colon but no slash after it.
    /// Whether alerts go inside TLS.
    public var isTLS: Bool { if case .tls = self { true } else { false } }

    public static func looksLikeTarget(_ word: String) -> Bool {
        if word.hasPrefix("/") { return true }
        guard let colon = word.firstIndex(of: ":"), colon != word.startIndex else { return false }
        let scheme = word[..<colon]
        guard let first = scheme.unicodeScalars.first, ("a"..."z").contains(first) || ("A"..."Z").contains(first),
              scheme.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("A"..."Z").contains($0)
                  || ("0"..."9").contains($0) || $0 == "+" || $0 == "-" || $0 == "." })
        else { return false }
        return word[word.index(after: colon)...].hasPrefix("/")
    }

    private static func socketPath(_ path: String) throws(SyslogTargetError) -> String {
        guard path.utf8.count <= maxSocketPathBytes else {
            throw SyslogTargetError("a socket path is at most \(maxSocketPathBytes) bytes")
        }
        guard !path.utf8.contains(0) else { throw SyslogTargetError("NUL in path") }
        return path
    }

    /// `HOST:PORT` or `[IPV6]:PORT`.
    private static func hostAndPort(_ text: Substring) throws(SyslogTargetError) -> (String, UInt16) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw SyslogTargetError("missing ']' after an IPv6 address")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            guard after.hasPrefix(":") else { throw SyslogTargetError("expected :PORT after ']'") }
            portText = after.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw SyslogTargetError("expected HOST:PORT (e.g. udp://192.0.2.5:514)")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                throw SyslogTargetError("write an IPv6 address in brackets ([2001:db8::5]:514)")
            }
        }
        guard !host.isEmpty else { throw SyslogTargetError("no host name") }
        guard host.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && $0 != "/" && $0 != "@" }) else {
            throw SyslogTargetError("the host must be a name or an address")
        }
        guard !portText.isEmpty, portText.count <= 5, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let port = Int(portText), port >= 1, port <= 65535 else {
            throw SyslogTargetError("port '\(OutputEscaping.escape(portText.utf8))' is not a number from 1 to 65535")
        }
        return (String(host), UInt16(port))
    }

    private static func bracketed(_ host: String) -> String { host.contains(":") ? "[" + host + "]" : host }
}

/// A target that cannot be used, worded for one stderr line.
public struct SyslogTargetError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? self[index(startIndex, offsetBy: prefix.count)...] : nil
    }
}
