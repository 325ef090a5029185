import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Certificates for the syslog-over-TLS tests, made with the `openssl` command in a temporary
/// directory (removed with this object): a CA; a collector certificate from it for the name
/// `collector.test` and the address 127.0.0.1; a client certificate from it; an expired collector
/// certificate; and a second CA that signed nothing the collector shows. EC P-256 keys, quick to make.
final class TestPKI {
    static let binary = "/usr/bin/openssl"
    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: binary) }
    static let serverName = "collector.test"

    let directory: URL
    var caPath: String { path("ca.pem") }
    var otherCAPath: String { path("other-ca.pem") }
    var serverCertificatePath: String { path("server.pem") }
    var serverKeyPath: String { path("server.key") }
    var expiredCertificatePath: String { path("expired.pem") }
    var clientCertificatePath: String { path("client.pem") }
    var clientKeyPath: String { path("client.key") }
    /// A client certificate from the other CA: a collector that checks clients refuses it.
    var strangerCertificatePath: String { path("stranger.pem") }
    var strangerKeyPath: String { path("stranger.key") }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-pki-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try makeCA("ca", "plainsight test CA")
        try makeCA("other-ca", "some other CA")
        let serverExtensions = "subjectAltName=DNS:\(Self.serverName),IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        try serverExtensions.write(toFile: path("server.ext"), atomically: true, encoding: .utf8)
        try "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n".write(toFile: path("client.ext"), atomically: true, encoding: .utf8)
        try makeLeaf("server", subject: Self.serverName, ca: "ca", extensions: "server.ext", days: "2")
        // Same key and names as the server's, but valid until yesterday.
        try openssl(["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                     "-CAcreateserial", "-out", path("expired.pem"), "-days", "-1", "-extfile", path("server.ext")])
        try makeLeaf("client", subject: "sensor.test", ca: "ca", extensions: "client.ext", days: "2")
        try makeLeaf("stranger", subject: "stranger.test", ca: "other-ca", extensions: "client.ext", days: "2")
        // rsyslogd reads the key after it is started; tests run as root, but keep it private anyway.
        chmod(serverKeyPath, 0o600)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func makeCA(_ name: String, _ subject: String) throws {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-days", "2", "-subj", "/CN=\(subject)"])
    }

    private func makeLeaf(_ name: String, subject: String, ca: String, extensions: String, days: String) throws {
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(subject)"])
        try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                     "-CAcreateserial", "-out", path("\(name).pem"), "-days", days, "-extfile", path(extensions)])
    }

    private func openssl(_ args: [String]) throws {
        let result = try runProgram(Self.binary, args, timeout: 30)
        guard result.status == 0 else {
            throw CollectorError("openssl \(args.joined(separator: " ")) failed: \(result.stderrText)")
        }
    }
}
