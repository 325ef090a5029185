import Foundation
import Testing

/// Live capture refuses bad input with one line on standard error and a non-zero exit, before any
/// packet is read (there is no "listening on" line, which plainsight prints just before its first
/// read, and nothing on standard output).
@Suite("live bad input")
struct LiveBadInputTests {
    func expectOneLineBeforeCapture(_ r: RunResult, status: Int32, containing text: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == status, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderrLines.count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("plainsight: ") && r.stderr.contains(text), "stderr: \(r.stderr)",
                sourceLocation: sourceLocation)
        #expect(!r.stderr.contains("listening on"), sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, "stdout: \(r.stdout)", sourceLocation: sourceLocation)
        #expect(r.seconds < 10, sourceLocation: sourceLocation)
    }

    @Test(.enabled(if: canUseNamespaces, "needs root and network namespaces"))
    func missingInterface() throws {
        let bin = try #require(plainsightBinary())
        let ns = try ScratchNamespace("missing")
        defer { ns.close() }
        let r = try ns.run([bin, "-i", "nosuch0"])
        expectOneLineBeforeCapture(r, status: 1, containing: "nosuch0: no such capture interface")
        print("missing interface: \(r.stderr)", terminator: "")
    }

    @Test(.enabled(if: canUseNamespaces, "needs root and network namespaces"))
    func noPermission() throws {
        let bin = try #require(plainsightBinary())
        let ns = try ScratchNamespace("perm")
        defer { ns.close() }
        // As nobody, without capabilities (setpriv changes the uid; the kernel clears the rest).
        let r = try ns.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", bin, "-i", "lo"])
        expectOneLineBeforeCapture(r, status: 1, containing: "lo: no permission to capture")
        #expect(r.stderr.contains("setcap"))
        print("no permission: \(r.stderr)", terminator: "")
    }

    @Test(.enabled(if: canUseNamespaces, "needs root and network namespaces"))
    func badFilter() throws {
        let bin = try #require(plainsightBinary())
        let ns = try ScratchNamespace("filter")
        defer { ns.close() }
        let r = try ns.run([bin, "-i", "lo", "host", "and", "and"])
        expectOneLineBeforeCapture(r, status: 2, containing: "bad filter 'host and and'")
        print("bad filter: \(r.stderr)", terminator: "")
    }

    @Test(.enabled(if: canUseNamespaces, "needs root and network namespaces"))
    func unknownUser() throws {
        let bin = try #require(plainsightBinary())
        let ns = try ScratchNamespace("user")
        defer { ns.close() }
        let r = try ns.run([bin, "-i", "lo", "-Z", "no-such-user-plainsight"])
        expectOneLineBeforeCapture(r, status: 2, containing: "-Z no-such-user-plainsight: no such user")
        print("unknown -Z user: \(r.stderr)", terminator: "")
    }

    /// Live reports are written by the -Z user from the first one on: a directory that user cannot
    /// write to is one line and exit 2 before capture, not a failure at the first refresh.
    @Test(.enabled(if: canUseNamespaces, "needs root and network namespaces"))
    func reportDirectoryNotWritableByTheUser() throws {
        let bin = try #require(plainsightBinary())
        let ns = try ScratchNamespace("report-dir")
        defer { ns.close() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-root-only-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("live.html").path
        let r = try ns.run([bin, "-i", "lo", "-Z", "nobody", "--report", page])
        expectOneLineBeforeCapture(r, status: 2, containing: "cannot create \(page): Permission denied")
        #expect(r.stderr.contains("rewritten as nobody"))
        #expect(!FileManager.default.fileExists(atPath: page))
        print("report directory: \(r.stderr)", terminator: "")
    }

    @Test(.enabled(if: canUseNamespaces, "needs root and network namespaces"))
    func listInterfacesShowsTheNamespace() throws {
        let bin = try #require(plainsightBinary())
        let ns = try ScratchNamespace("list")
        defer { ns.close() }
        let r = try ns.run([bin, "-D"])
        #expect(r.status == 0)
        #expect(r.stdout.split(separator: "\n").contains { $0.hasPrefix("1.") || $0.contains(".lo [Up, Running, Loopback]") })
        #expect(r.stdout.contains(".lo [Up, Running, Loopback]"), "\(r.stdout)")
        #expect(!r.stdout.contains("eth0"), "only the namespace's own interfaces: \(r.stdout)")
    }

    /// Option mistakes are usage errors (exit 2) whoever runs them; nothing is opened.
    @Test(arguments: [
        (["-r", "fixtures/demo.pcap", "-i", "lo"], "not both"),
        (["-i", "lo", "--snaplen", "0"], "--snaplen 0"),
        (["-i", "lo", "--buffer-size", "4096"], "--buffer-size 4096"),
        (["-i", "lo", "--stats-interval", "0"], "--stats-interval 0"),
        (["-r", "fixtures/demo.pcap", "-Z", "nobody"], "-Z is used only with live capture"),
        (["-r", "fixtures/demo.pcap", "--no-promisc"], "--no-promisc is used only with live capture"),
        (["-i", "lo", "--workers", "0"], "--workers 0: give 1 to 64"),
        (["-i", "lo", "--workers", "65"], "--workers 65: give 1 to 64"),
        (["-r", "fixtures/demo.pcap", "--workers", "2"], "--workers is used only with live capture"),
        (["-D", "-i", "lo"], "-D lists interfaces"),
        (["-r", "fixtures/demo.pcap", "--report", "x.html", "--report-interval", "5"], "--report-interval is used only with live capture"),
        (["-i", "lo", "--report-interval", "5"], "--report-interval needs a report file"),
        (["-i", "lo", "--report", "x.html", "--report-interval", "0"], "--report-interval 0: give 1 to 86400"),
        ([], "no input"),
    ])
    func usageErrors(args: [String], message: String) throws {
        let bin = try #require(plainsightBinary())
        let r = try run(bin, args)
        #expect(r.status == 2)
        #expect(r.stderrLines.first?.contains(message) == true, "stderr: \(r.stderr)")
        #expect(r.stdout.isEmpty)
    }
}
