import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Syslog over TLS (RFC 5425) against Debian's rsyslogd with its OpenSSL driver (rsyslog-openssl),
/// with certificates made per test by the `openssl` command (TestPKI), on 127.0.0.1 like the other
/// syslog tests.
@Suite("syslog over TLS to a real rsyslogd", .serialized,
       .enabled(if: RsyslogCollector.isAvailable && RsyslogCollector.hasTLSDriver && TestPKI.isAvailable,
                "rsyslogd with its OpenSSL driver and openssl are needed (scripts/bootstrap installs rsyslog-openssl and openssl)"))
struct SyslogTLSTests {
    static let sdID = SyslogDeliveryTests.sdID

    @Test("each fixture's alerts arrive over TLS with the JSON alert's fields, checked by address and by name; no secret reaches rsyslog")
    func fixturesOverTLS() throws {
        let bin = try #require(plainsightBinary())
        let pki = try TestPKI()
        let collector = try RsyslogCollector(tls: pki)
        try collector.start()
        defer { collector.stop() }
        let fixtures = loadManifest()
        try #require(!fixtures.isEmpty)
        // By address (the certificate's IP SAN); every fifth fixture also by the name given with
        // --syslog-tls-name.
        let byAddress = ["--syslog", "tls://127.0.0.1:\(collector.tlsPort)", "--syslog-tls-ca", pki.caPath]
        var runs: [(fixture: FixtureEntry, pid: Int32, lines: [Data], json: [[String: Any]], others: [Data])] = []
        for (index, fixture) in fixtures.enumerated() {
            let ways = index % 5 == 0 ? [byAddress, byAddress + ["--syslog-tls-name", TestPKI.serverName]] : [byAddress]
            for way in ways {
                let out = try TemporaryFile("alerts.jsonl")
                let r = try runPlainsight(bin, ["-r", "fixtures/\(fixture.pcap)", "--quiet", "--user-policy", "full", "--json",
                                                "-o", out.path] + fixture.args + way)
                #expect(r.status == 0 && r.stderr.isEmpty, "\(fixture.pcap) \(way): \(r.stderr)")
                runs.append((fixture, r.pid, try alertLines(in: out.contents()), try alertObjects(in: out.contents()),
                             try otherEventLines(in: out.contents())))
            }
        }
        let expectedRecords = runs.reduce(0) { $0 + $1.lines.count + $1.others.count + 1 }
        let pids = Set(runs.map { String($0.pid) })
        try waitUntil(seconds: 30, "rsyslog to write \(expectedRecords) messages") {
            collector.records().filter { pids.contains($0.procID) }.count >= expectedRecords
        }
        let records = collector.records()
        for run in runs {
            let received = records.filter { $0.procID == String(run.pid) }
            #expect(received.allSatisfy { $0.input == "imtcp-tls" }, "\(run.fixture.pcap)")
            let alerts = received.filter { $0.msgID == "cleartext_auth" }
            #expect(alerts.count == run.lines.count, "\(run.fixture.pcap)")
            for (record, (line, object)) in zip(alerts, zip(run.lines, run.json)) {
                #expect(record.severity == expectedSeverity(object) && record.facility == 10, "\(run.fixture.pcap)")
                #expect(record.parameters[Self.sdID] == (try expectedParameters(line)), "\(run.fixture.pcap)")
            }
            #expect(received.count == run.lines.count + run.others.count + 1, "\(run.fixture.pcap): events and stats")
            let stats = received.filter { $0.msgID == "stats" }
            #expect(stats.count == 1 && stats.first?.parameters[Self.sdID]?["alerts"] == String(run.lines.count))
        }
        let everything = String(decoding: collector.allOutput(), as: UTF8.self)
        for fixture in fixtures {
            for secret in fixture.secrets {
                for form in secretForms(secret, usernames: fixture.expected.compactMap(\.username)) {
                    #expect(!everything.contains(form), "\(fixture.pcap): a form of a secret reached rsyslog")
                }
            }
        }
    }

    @Test("rsyslogd (requiring a client certificate) stopped and restarted mid-run over TLS: a new handshake from the files read at start, held alerts and later ones arrive")
    func outageIsBridgedOverTLS() throws {
        let pki = try TestPKI()
        let collector = try RsyslogCollector(tls: pki)
        try collector.start()
        defer { collector.stop() }
        // plainsight's own copies of the CA, certificate and key, removed during the outage: the
        // reconnection (a new handshake with the client certificate) must not need to read them
        // again, as after -Z has dropped the privileges that could.
        let copies = try (0..<3).map { _ in try TemporaryFile("tls.pem") }
        for (copy, original) in zip(copies, [pki.caPath, pki.clientCertificatePath, pki.clientKeyPath]) {
            try Data(contentsOf: URL(fileURLWithPath: original)).write(to: copy.url)
        }
        try bridgeOutage(collector, target: "tls://127.0.0.1:\(collector.tlsClientAuthPort)",
                         extraArgs: ["--syslog-tls-ca", copies[0].path, "--syslog-tls-cert", copies[1].path,
                                     "--syslog-tls-key", copies[2].path],
                         duringOutage: { for copy in copies { try FileManager.default.removeItem(at: copy.url) } })
    }

    @Test("a collector that requires a client certificate takes ours; without one, or with a stranger's, it is a clear error at start")
    func clientCertificate() throws {
        let bin = try #require(plainsightBinary())
        let pki = try TestPKI()
        let collector = try RsyslogCollector(tls: pki)
        try collector.start()
        defer { collector.stop() }
        let target = "tls://127.0.0.1:\(collector.tlsClientAuthPort)"
        let sample = ["-r", "fixtures/imap-login-atoms.pcap", "--quiet", "--json", "--syslog", target, "--syslog-tls-ca", pki.caPath]
        let accepted = try runPlainsight(bin, sample + ["--syslog-tls-cert", pki.clientCertificatePath,
                                                        "--syslog-tls-key", pki.clientKeyPath])
        #expect(accepted.status == 0 && accepted.stderr.isEmpty, "\(accepted.stderr)")
        let alerts = try alertObjects(in: Data(accepted.stdout.utf8))
        #expect(!alerts.isEmpty)
        try waitUntil(seconds: 10, "the alerts at rsyslog's client-checking input") {
            collector.records().filter { $0.procID == String(accepted.pid) && $0.msgID == "cleartext_auth" }.count >= alerts.count
        }
        #expect(collector.records().filter { $0.procID == String(accepted.pid) }.allSatisfy { $0.input == "imtcp-tls-client" })

        for (what, extra) in [("no client certificate", [String]()),
                              ("a stranger's", ["--syslog-tls-cert", pki.strangerCertificatePath, "--syslog-tls-key", pki.strangerKeyPath])] {
            let refused = try runPlainsight(bin, sample + extra)
            #expect(refused.status == 2, "\(what): \(refused.stderr)")
            #expect(refused.stdout.isEmpty, "\(what)")
            #expect(refused.stderr.split(separator: "\n").count == 1, "\(what): \(refused.stderr)")
            #expect(refused.stderr.hasPrefix("plainsight: syslog \(target): the collector refused the connection after the TLS handshake: "),
                    "\(what): \(refused.stderr)")
            #expect(refused.stderr.contains("--syslog-tls-cert"), "\(what): \(refused.stderr)")
            print("client certificate refused (\(what)): \(refused.stderr)")
        }
    }

    @Test("a collector certificate that does not verify (wrong CA, wrong name, expired) is one clear message and exit 2, even with --syslog-optional")
    func certificatesThatDoNotVerify() throws {
        let bin = try #require(plainsightBinary())
        let pki = try TestPKI()
        let collector = try RsyslogCollector(tls: pki)
        try collector.start()
        defer { collector.stop() }
        let target = "tls://127.0.0.1:\(collector.tlsPort)"
        let sample = ["-r", "fixtures/imap-login-atoms.pcap", "--quiet", "--json"]
        func expectRefused(_ args: [String], _ reasons: [String], _ hint: String) throws {
            for optional in [[], ["--syslog-optional"]] {
                let r = try runPlainsight(bin, sample + args + optional)
                #expect(r.status == 2, "\(args + optional): \(r.stderr)")
                #expect(r.stdout.isEmpty)
                #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
                #expect(r.stderr.hasPrefix("plainsight: syslog "), "\(r.stderr)")
                #expect(reasons.contains { r.stderr.contains("the collector's certificate does not verify: \($0)") }, "\(r.stderr)")
                #expect(r.stderr.contains(hint), "\(r.stderr)")
            }
        }
        // rsyslog sends its CA certificate along with its own: OpenSSL then names the chain's root.
        let unknownCA = ["unable to get local issuer certificate", "self-signed certificate in certificate chain"]
        try expectRefused(["--syslog", target, "--syslog-tls-ca", pki.otherCAPath], unknownCA, "--syslog-tls-ca")
        // Without --syslog-tls-ca: the system's trust store, which does not know the test CA.
        try expectRefused(["--syslog", target], unknownCA, "--syslog-tls-ca")
        try expectRefused(["--syslog", target, "--syslog-tls-ca", pki.caPath, "--syslog-tls-name", "mail.example"],
                          ["hostname mismatch"], "expected 'mail.example'")
        try expectRefused(["--syslog", target, "--syslog-tls-ca", pki.caPath, "--syslog-tls-name", "127.0.0.2"],
                          ["IP address mismatch"], "expected '127.0.0.2'")

        // An expired certificate, shown by `openssl s_server` (rsyslog refuses to load one).
        let port = try freeLoopbackPort(type: SOCK_STREAM)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: TestPKI.binary)
        server.arguments = ["s_server", "-quiet", "-accept", "127.0.0.1:\(port)", "-cert", pki.expiredCertificatePath,
                            "-key", pki.serverKeyPath]
        let serverInput = Pipe()                // s_server closes connections when its input ends
        server.standardInput = serverInput
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try launchSerially(server)
        // SIGKILL: a child started from the test process inherits its blocked SIGTERM.
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit(); _ = serverInput }
        try waitUntil(seconds: 10, "openssl s_server to listen") { acceptsConnections(port: port) }
        try expectRefused(["--syslog", "tls://127.0.0.1:\(port)", "--syslog-tls-ca", pki.caPath],
                          ["certificate has expired"], "tls://127.0.0.1:\(port)")
    }

    @Test("unusable TLS options and files are one clear message and exit 2")
    func badOptions() throws {
        let bin = try #require(plainsightBinary())
        let pki = try TestPKI()
        let sample = ["-r", "fixtures/imap-login-atoms.pcap", "--quiet", "--json"]
        let closedPort = try freeLoopbackPort(type: SOCK_STREAM)
        let target = "tls://127.0.0.1:\(closedPort)"
        // Usage errors: exit 2, the reason first (ArgumentParser adds the usage after it).
        for (args, message) in [(["--syslog", "tcp://127.0.0.1:\(closedPort)", "--syslog-tls-ca", pki.caPath],
                                 "--syslog-tls-ca is used only with a tls:// syslog target"),
                                (["--syslog", target, "--syslog-tls-key", pki.clientKeyPath], "--syslog-tls-key needs --syslog-tls-cert"),
                                (["--syslog", target, "--syslog-tls-name", ""], "--syslog-tls-name: give a DNS name or an IP address")] {
            let r = try runPlainsight(bin, sample + args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").first?.contains(message) == true, "\(args): \(r.stderr)")
        }
        // Unusable files, and an unreachable collector: one line each.
        let cases: [([String], String)] = [
            (["--syslog", target, "--syslog-tls-ca", "/nonexistent/ca.pem"], "--syslog-tls-ca /nonexistent/ca.pem: No such file or directory"),
            (["--syslog", target, "--syslog-tls-ca", pki.clientKeyPath], "no PEM certificate could be read"),
            (["--syslog", target, "--syslog-tls-cert", pki.clientCertificatePath, "--syslog-tls-key", pki.serverKeyPath],
             "is not the key of the certificate"),
            (["--syslog", target, "--syslog-tls-cert", pki.clientCertificatePath], "no PEM private key could be read"),
            // Files are fine, nobody listens: as for tcp://, unreachable at start.
            (["--syslog", target, "--syslog-tls-ca", pki.caPath], "syslog \(target): cannot connect: Connection refused"),
        ]
        for (args, message) in cases {
            let r = try runPlainsight(bin, sample + args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        // Unreachable at start with --syslog-optional: retried in the background, as for tcp://.
        let optional = try runPlainsight(bin, sample + ["--syslog", target, "--syslog-tls-ca", pki.caPath, "--syslog-optional"])
        #expect(optional.status == 0 && optional.stderr.contains("retrying"), "\(optional.stderr)")
    }
}

extension RsyslogCollector {
    /// rsyslog's OpenSSL network stream driver (Debian: rsyslog-openssl).
    static var hasTLSDriver: Bool {
        ["/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so", "/usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_ossl.so",
         "/usr/lib/rsyslog/lmnsd_ossl.so"].contains { FileManager.default.fileExists(atPath: $0) }
    }
}
