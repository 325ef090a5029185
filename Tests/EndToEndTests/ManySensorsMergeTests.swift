import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 20 end to end: two sensors capturing live in network namespaces of the test's own, one
/// on the servers' side of a link (it sees every session), one on the clients' side with a filter
/// (it sees the sessions of one server), both sending RFC 5424 over TCP to one real rsyslogd; then
/// `plainsight report` over the collector's file must give the inventory of a single run over all
/// the traffic (sensor a's own report): every server once, the same verdicts and counts, the
/// sessions both saw counted once, both sensors named.
@Suite("many sensors, one inventory (network namespaces, rsyslogd)",
       .enabled(if: RsyslogCollector.isAvailable, "needs /usr/sbin/rsyslogd (apt-get install rsyslog)"))
struct ManySensorsMergeTests {
    /// Root, and `ip netns add` works here (a container may forbid it).
    static let canUseNamespaces: Bool = {
        guard getuid() == 0 else { return false }
        let probe = "psm-probe-\(getpid())"
        guard (try? runProgram("/usr/bin/env", ["ip", "netns", "add", probe], timeout: 10))?.status == 0 else { return false }
        _ = try? runProgram("/usr/bin/env", ["ip", "netns", "del", probe], timeout: 10)
        return true
    }()

    @Test(.enabled(if: canUseNamespaces, "needs root and network namespaces (CI runs the tests as root)"),
          .timeLimit(.minutes(4)))
    func collectorFileMergesToOneRun() throws {
        let bin = try #require(plainsightBinary())
        let tag = "\(getpid() % 100_000)"
        let servers = "psm-srv-\(tag)", clients = "psm-cli-\(tag)"
        func ip(_ args: [String]) throws {
            let r = try runProgram("/usr/bin/env", ["ip"] + args, timeout: 10)
            try #require(r.status == 0, "ip \(args.joined(separator: " ")): \(r.stderrText)")
        }
        for ns in [servers, clients] {
            _ = try? runProgram("/usr/bin/env", ["ip", "netns", "del", ns], timeout: 10)
            try ip(["netns", "add", ns])
            try ip(["-n", ns, "link", "set", "lo", "up"])
        }
        defer { for ns in [servers, clients] { _ = try? runProgram("/usr/bin/env", ["ip", "netns", "del", ns], timeout: 10) } }
        // One link: the servers (192.0.2.10, .11) and the collector (192.0.2.20) on s0, the
        // client (198.51.100.7) on c0.
        try ip(["-n", servers, "link", "add", "s0", "type", "veth", "peer", "name", "c0", "netns", clients])
        for address in ["192.0.2.10/24", "192.0.2.11/24", "192.0.2.20/24"] { try ip(["-n", servers, "addr", "add", address, "dev", "s0"]) }
        try ip(["-n", clients, "addr", "add", "198.51.100.7/24", "dev", "c0"])
        try ip(["-n", servers, "link", "set", "s0", "up"])
        try ip(["-n", clients, "link", "set", "c0", "up"])
        try ip(["-n", servers, "route", "add", "198.51.100.0/24", "dev", "s0"])
        try ip(["-n", clients, "route", "add", "192.0.2.0/24", "dev", "c0"])

        let collector = try RsyslogCollector(namespace: servers)
        try collector.start()
        defer { collector.stop() }
        let dir = try scratchDirectory("many-sensors-merge")
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("users.key")
        try Data(repeating: 0x42, count: 32).write(to: key)
        let common = ["--json", "--session-events", "--user-policy", "hash", "--user-hash-key-file", key.path, "-Z", "root"]
        let reportA = dir.appendingPathComponent("a.json").path, reportB = dir.appendingPathComponent("b.json").path
        let a = try Sensor(servers, [bin, "-i", "s0", "--sensor", "a", "-o", dir.appendingPathComponent("a.jsonl").path,
                                     "--report", reportA, "--syslog", "tcp://127.0.0.1:\(collector.tcpPort)"] + common, dir: dir, tag: "a")
        defer { a.stop() }
        let b = try Sensor(clients, [bin, "-i", "c0", "--sensor", "b", "-o", dir.appendingPathComponent("b.jsonl").path,
                                     "--report", reportB, "--syslog", "tcp://192.0.2.20:\(collector.tcpPort)"] + common
                                     + ["host", "192.0.2.10"], dir: dir, tag: "b")
        defer { b.stop() }
        try #require(waitFor(20) { a.stderr.contains("listening on s0") && b.stderr.contains("listening on c0") },
                     "sensors did not start: \(a.stderr) \(b.stderr)")

        // The site's traffic: servers in one namespace, the client in the other.
        let server = try Sensor(servers, ["python3", "-c", mailServers], dir: dir, tag: "servers")
        defer { server.stop() }
        try #require(waitFor(10) { server.stderr.contains("ready") }, "servers: \(server.stderr)")
        let client = try runProgram("/usr/bin/env", ["ip", "netns", "exec", clients, "python3", "-c", mailClients], timeout: 60)
        #expect(client.status == 0, "client: \(client.stderrText)")
        Thread.sleep(forTimeInterval: 1.5)          // the last FINs, and a periodic stats event
        #expect(a.terminate() == 0, "a: \(a.stderr)")
        #expect(b.terminate() == 0, "b: \(b.stderr)")
        // Both final stats events reached the collector: everything before them did too.
        try #require(waitFor(20) {
            Set(collector.records().filter { $0.msgID == "stats" && $0.appName == "plainsight" }.map(\.hostname)) == ["a", "b"]
        }, "the collector did not receive both sensors' events")
        let sessionsB = try String(contentsOfFile: dir.appendingPathComponent("b.jsonl").path, encoding: .utf8)
            .components(separatedBy: "\"event_type\":\"mail_session\"").count - 1
        #expect(sessionsB == 3, "b sees the three sessions of 192.0.2.10")

        for (name, file) in [("raw RFC 5424 lines", collector.rawPath), ("rsyslog's JSON template", collector.parsedPath)] {
            let merged = dir.appendingPathComponent("merged.json").path, page = dir.appendingPathComponent("merged.html").path
            let m = try runProgram(bin, ["report", file, "--report", merged, "--report", page])
            #expect(m.status == 0, "\(name): \(m.stderrText)")
            #expect(m.stderrText.contains("plainsight report: 3 servers from 1 file: 8 session events (3 seen by another sensor too, counted once)"),
                    "\(name): \(m.stderrText)")
            let single = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reportA))) as? [String: Any])
            let got = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: merged))) as? [String: Any])
            #expect(got["summary"] as? NSDictionary == single["summary"] as? NSDictionary, "\(name)")
            var expected: [String: [String: Any]] = [:]
            for s in single["servers"] as? [[String: Any]] ?? [] { expected[serverName(s)] = s }
            let servers = got["servers"] as? [[String: Any]] ?? []
            #expect(servers.count == 3 && Set(servers.map(serverName)).count == 3, "every server once")
            for var s in servers {
                let sensors = s.removeValue(forKey: "sensors") as? [[String: Any]] ?? []
                let names = Set(sensors.compactMap { $0["name"] as? String })
                var want = try #require(expected[serverName(s)], "\(serverName(s)) is not in a's report")
                want.removeValue(forKey: "sensors")
                // A session both saw is counted from the copy that reached the collector first: its
                // times are that sensor's, microseconds from the other's.
                for field in ["first_seen", "last_seen"] {
                    let x = (s.removeValue(forKey: field) as? String).flatMap(parseTime)
                    let y = (want.removeValue(forKey: field) as? String).flatMap(parseTime)
                    #expect(x != nil && y != nil && abs(x! - y!) < 0.5, "\(serverName(s)) \(field)")
                }
                #expect(s as NSDictionary == want as NSDictionary, "\(name) \(serverName(s))")
                #expect(names == (s["dest_ip"] as? String == "192.0.2.10" ? ["a", "b"] : ["a"]), "\(serverName(s)): \(names)")
                // Each sensor's own view: b's sessions are the same sessions as a's, counted once above.
                for sensor in sensors { #expect(sensor["sessions"] as? Int == s["sessions"] as? Int, "\(serverName(s))") }
            }
            let verdicts = Dictionary(uniqueKeysWithValues: servers.map { (serverName($0), $0["verdict"] as? String ?? "") })
            #expect(verdicts == ["192.0.2.10:110 pop3": "exposed", "192.0.2.10:143 imap": "exposed", "192.0.2.11:587 smtp": "tls_broken"])
            let html = try String(contentsOfFile: page, encoding: .utf8)
            #expect(html.contains(#"<th data-col="sensors""#) && html.contains("<b>a</b>: ") && html.contains("<b>b</b>: "))
            #expect(!html.contains("fake-password") && !html.contains("alice"))
        }
    }
}

/// A program in a namespace in the background, its output in files; the pid is the program's own
/// (`ip netns exec` execs it in place).
private final class Sensor {
    let process = Process()
    let errFile: URL
    private var handles: [FileHandle] = []

    init(_ namespace: String, _ argv: [String], dir: URL, tag: String) throws {
        errFile = dir.appendingPathComponent("\(tag).stderr")
        let out = dir.appendingPathComponent("\(tag).stdout")
        for file in [errFile, out] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", namespace] + argv
        process.currentDirectoryURL = packageRoot
        process.standardInput = FileHandle.nullDevice
        let o = try FileHandle(forWritingTo: out), e = try FileHandle(forWritingTo: errFile)
        handles = [o, e]
        process.standardOutput = o
        process.standardError = e
        try launchSerially(process)
    }

    var stderr: String { (try? String(contentsOf: errFile, encoding: .utf8)) ?? "" }

    /// SIGTERM, then up to 20 s; the exit status (-1 if it had to be killed).
    @discardableResult
    func terminate() -> Int32 { stopStarted(process, grace: 20) }

    func stop() {
        terminate()
        for handle in handles { try? handle.close() }
    }
}

/// Seconds since 1970 of an RFC 3339 time as plainsight writes it.
private func parseTime(_ text: String) -> Double? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)?.timeIntervalSince1970
}

private func waitFor(_ seconds: TimeInterval, _ done: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if done() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return false
}

/// POP3 and IMAP on 192.0.2.10 (STARTTLS advertised, logins accepted or refused), SMTP on
/// 192.0.2.11:587 (STARTTLS advertised, then refused with 454). Fake credentials; bounded: each
/// server takes a fixed number of sessions and every socket has a timeout.
private let mailServers = """
    import socket, threading, sys
    def serve(addr, port, sessions, greeting, replies):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port)); s.listen(4); s.settimeout(40)
        for _ in range(sessions):
            c, _ = s.accept(); c.settimeout(10); f = c.makefile("rb")
            c.sendall(greeting)
            while True:
                line = f.readline()
                if not line: break
                word = line.split(b" ")[1 if port == 143 else 0].strip().upper() if line.strip() else b""
                reply = replies(line, word)
                c.sendall(reply)
                if word in (b"QUIT", b"LOGOUT"): break
            c.close()
    def pop3(line, word):
        if word == b"CAPA": return b"+OK\\r\\nUSER\\r\\nSTLS\\r\\nSASL PLAIN\\r\\n.\\r\\n"
        if word == b"PASS": return b"-ERR denied\\r\\n" if b"wrong" in line else b"+OK logged in\\r\\n"
        return b"+OK\\r\\n"
    def imap(line, word):
        t = line.split(b" ")[0]
        if word == b"CAPABILITY": return b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\\r\\n" + t + b" OK done\\r\\n"
        if word == b"LOGOUT": return b"* BYE\\r\\n" + t + b" OK bye\\r\\n"
        return t + b" OK done\\r\\n"
    def smtp(line, word):
        if word == b"EHLO": return b"250-mail.example.net\\r\\n250-STARTTLS\\r\\n250 AUTH PLAIN LOGIN\\r\\n"
        if word == b"STARTTLS": return b"454 4.7.0 TLS not available\\r\\n"
        if word == b"QUIT": return b"221 bye\\r\\n"
        return b"250 ok\\r\\n"
    ts = [threading.Thread(target=serve, args=a) for a in [
        ("192.0.2.10", 110, 2, b"+OK POP3 ready\\r\\n", pop3),
        ("192.0.2.10", 143, 1, b"* OK IMAP4rev1 ready\\r\\n", imap),
        ("192.0.2.11", 587, 2, b"220 mail.example.net ESMTP\\r\\n", smtp)]]
    for t in ts: t.start()
    print("ready", file=sys.stderr, flush=True)
    for t in ts: t.join(60)
    """

/// The client side: two POP3 sessions (one refused), one IMAP login, two SMTP sessions that ask
/// for STARTTLS and are refused, each from 198.51.100.7, one after the other.
private let mailClients = """
    import socket
    def talk(addr, port, lines, greeting=True):
        c = socket.create_connection((addr, port), timeout=10, source_address=("198.51.100.7", 0)); f = c.makefile("rb")
        f.readline()
        for line, reply_lines in lines:
            c.sendall(line)
            for _ in range(reply_lines): f.readline()
        c.close()
    talk("192.0.2.10", 110, [(b"CAPA\\r\\n", 5), (b"USER alice\\r\\n", 1), (b"PASS fake-password-1\\r\\n", 1), (b"QUIT\\r\\n", 1)])
    talk("192.0.2.10", 110, [(b"CAPA\\r\\n", 5), (b"USER bob\\r\\n", 1), (b"PASS wrong-fake-2\\r\\n", 1), (b"QUIT\\r\\n", 1)])
    talk("192.0.2.10", 143, [(b"a1 CAPABILITY\\r\\n", 2), (b"a2 LOGIN carol fake-password-3\\r\\n", 1), (b"a3 LOGOUT\\r\\n", 2)])
    for _ in range(2):
        talk("192.0.2.11", 587, [(b"EHLO client.example\\r\\n", 3), (b"STARTTLS\\r\\n", 1), (b"QUIT\\r\\n", 1)])
    """
