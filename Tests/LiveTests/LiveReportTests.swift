import Foundation
import Testing

/// `--report` during live capture (issue 19): two plainsight instances on `lo` of a namespace of
/// the test's own, root giving way to nobody: A rewrites its reports every second
/// (`--report-interval 1`), B only on SIGHUP. A POP3 login crosses between two documentation
/// addresses; each report is read back from disk while its plainsight still runs, polled with a
/// bounded wait, and every read must be a whole document (the report is replaced by rename,
/// never written in place).
@Suite("live report refresh")
struct LiveReportTests {
    @Test(.enabled(if: canUseNamespaces, "needs root and network namespaces (CI runs it as root)"),
          .timeLimit(.minutes(3)))
    func reportsAreRefreshedWhileCapturing() throws {
        let bin = try #require(plainsightBinary())
        let ns = try ScratchNamespace("report")
        defer { ns.close() }
        for address in ["192.0.2.10/32", "198.51.100.7/32"] {
            let added = try run("/usr/bin/env", ["ip", "-n", ns.name, "addr", "add", address, "dev", "lo"], timeout: 10)
            try #require(added.status == 0, "\(added.stderr)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-live-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // nobody writes every report after the first packet: the directory must be its.
        let nobody = try #require(getpwnam("nobody")?.pointee)
        try #require(chown(dir.path, nobody.pw_uid, nobody.pw_gid) == 0)

        let timedPage = dir.appendingPathComponent("timed.html"), timedJSON = dir.appendingPathComponent("timed.json")
        let hupPage = dir.appendingPathComponent("hup.html")
        let a = try Background(ns, [bin, "-i", "lo", "-Z", "nobody", "--json", "-o", dir.appendingPathComponent("a.jsonl").path,
                                    "--report", timedPage.path, "--report", timedJSON.path, "--report-interval", "1"], in: dir, tag: "a")
        defer { a.stop() }
        let b = try Background(ns, [bin, "-i", "lo", "-Z", "nobody", "--json", "-o", dir.appendingPathComponent("b.jsonl").path,
                                    "--report", hupPage.path], in: dir, tag: "b")
        defer { b.stop() }

        // The first reports, written by nobody once capture is set up.
        var reads = ReadCount()
        let firstA = try #require(poll(timedPage, &reads) { $0.contains("No mail server was seen") }, "A: \(a.stderr)")
        #expect(firstA.contains("<meta http-equiv=\"refresh\" content=\"1\">"))
        #expect(try #require(poll(hupPage, &reads) { $0.contains("No mail server was seen") }, "B: \(b.stderr)")
            .contains("No mail server was seen"))
        let owner = try FileManager.default.attributesOfItem(atPath: timedPage.path)[.ownerAccountID] as? NSNumber
        #expect(owner?.uint32Value == nobody.pw_uid, "the report was not written by the -Z user")
        // Both listen (their "listening on" line comes just before the first read).
        #expect(pollText({ a.stderr + b.stderr }) { $0.components(separatedBy: "listening on lo").count == 3 })

        let client = try ns.run(["python3", "-c", pop3Login], timeout: 30)
        #expect(client.status == 0, "client: \(client.stderr)")

        // A: rewritten on its own while it runs, the login's server in it, names masked.
        let page = try #require(poll(timedPage, &reads) { $0.contains(">192.0.2.10</td>") },
                                "A never showed the server: \(a.stderr)")
        #expect(a.isRunning)
        #expect(page.contains(">exposed</span>"))
        #expect(page.contains("<li>198.51.100.7 (1 login)</li>"))
        #expect(page.contains("users: <code>a***l</code>"))
        #expect(!page.contains("alice") && !page.contains("fake-password"))
        let json = try #require(poll(timedJSON, &reads, json: true) { $0.contains("\"dest_ip\":\"192.0.2.10\"") })
        let doc = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect((doc?["servers"] as? [[String: Any]])?.first?["verdict"] as? String == "exposed")

        // B: nothing new until SIGHUP, then the server.
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try String(contentsOf: hupPage, encoding: .utf8).contains("No mail server was seen"))
        let hup = try #require(b.pid())
        #expect(kill(hup, SIGHUP) == 0)
        let hupped = try #require(poll(hupPage, &reads) { $0.contains(">192.0.2.10</td>") }, "B after SIGHUP: \(b.stderr)")
        #expect(b.isRunning)
        #expect(!hupped.contains("http-equiv=\"refresh\""), "B has no --report-interval")
        // A keeps rewriting its report every second: read it for 2.5 s (at least two rewrites),
        // every read whole. How many reads the polls above took depends on the machine's speed.
        _ = poll(timedPage, &reads, until: Date().addingTimeInterval(2.5)) { _ in false }
        #expect(reads.whole > 10 && reads.partial == 0, "\(reads)")

        // Stopped: the final reports, without the reload, and no temporary file left behind.
        #expect(a.terminate() == 0, "A: \(a.stderr)")
        #expect(b.terminate() == 0, "B: \(b.stderr)")
        let final = try String(contentsOf: timedPage, encoding: .utf8)
        #expect(final.contains(">192.0.2.10</td>") && !final.contains("http-equiv"))
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "temporary files left: \(left)")
        print("live report: \(reads.whole) whole reads, \(reads.partial) partial")
    }
}

/// A POP3 server on 192.0.2.10:110 and a client from 198.51.100.7 that logs in with fake
/// credentials (USER/PASS) and quits, all in one bounded script.
private let pop3Login = """
    import socket, threading
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("192.0.2.10", 110)); srv.listen(1); srv.settimeout(10)
    def serve():
        c, _ = srv.accept(); c.settimeout(10); f = c.makefile("rb")
        c.sendall(b"+OK POP3 server ready\\r\\n")
        for reply in [b"+OK\\r\\n", b"+OK logged in\\r\\n", b"+OK bye\\r\\n"]:
            f.readline(); c.sendall(reply)
        c.close()
    t = threading.Thread(target=serve); t.start()
    cl = socket.create_connection(("192.0.2.10", 110), timeout=10, source_address=("198.51.100.7", 0))
    f = cl.makefile("rb"); f.readline()
    for line in [b"USER alice.liddell\\r\\n", b"PASS fake-password-1\\r\\n", b"QUIT\\r\\n"]:
        cl.sendall(line); f.readline()
    cl.close(); t.join(10)
    """

struct ReadCount: CustomStringConvertible {
    var whole = 0
    var partial = 0
    var description: String { "\(whole) whole reads, \(partial) partial" }
}

/// Reads `file` every 20 ms for up to 20 s until `done` holds; every read that finds the file must
/// be a whole document (counted in `reads`). Returns the text that satisfied `done`.
private func poll(_ file: URL, _ reads: inout ReadCount, json: Bool = false,
                  until deadline: Date = Date().addingTimeInterval(20), _ done: (String) -> Bool) -> String? {
    while Date() < deadline {
        // Absent before the first write; never empty or cut short after it.
        if let data = FileManager.default.contents(atPath: file.path) {
            let text = String(decoding: data, as: UTF8.self)
            let whole = json ? (text.hasPrefix("{") && text.hasSuffix("}\n"))
                : (text.hasPrefix("<!DOCTYPE html>") && text.hasSuffix("</html>\n"))
            if whole { reads.whole += 1 } else { reads.partial += 1 }
            if whole && done(text) { return text }
        }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return nil
}

private func pollText(_ text: () -> String, _ done: (String) -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
        if done(text()) { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return false
}

/// A program running in the namespace in the background, its pid written by the shell that execs
/// it (so signals reach plainsight itself), its output in files.
private final class Background {
    let process = Process()
    let pidFile: URL
    let errFile: URL
    private var handles: [FileHandle] = []

    init(_ ns: ScratchNamespace, _ argv: [String], in dir: URL, tag: String) throws {
        pidFile = dir.appendingPathComponent("\(tag).pid-file")
        errFile = dir.appendingPathComponent("\(tag).stderr")
        let out = dir.appendingPathComponent("\(tag).stdout")
        for file in [errFile, out] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", ns.name, "sh", "-c", "echo $$ > \"$0\"; exec \"$@\"", pidFile.path] + argv
        process.currentDirectoryURL = packageRoot
        process.standardInput = FileHandle.nullDevice
        let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: errFile)
        handles = [outHandle, errHandle]
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var stderr: String { (try? String(contentsOf: errFile, encoding: .utf8)) ?? "" }

    func pid() -> pid_t? {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// SIGTERM, then waits up to 20 s; the exit status (-1 if it had to be killed).
    @discardableResult
    func terminate() -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        if let pid = pid() { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            if let pid = pid() { kill(pid, SIGKILL) }
            process.waitUntilExit()
            return -1
        }
        return process.terminationStatus
    }

    func stop() {
        terminate()
        for handle in handles { try? handle.close() }
    }
}
