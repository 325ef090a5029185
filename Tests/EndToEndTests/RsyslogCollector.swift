import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A private rsyslogd for one test: Debian's daemon in the foreground (`-n`) with its own config
/// in a temporary directory, never the system's. Inputs: the local-socket form on `devlog` (the
/// parser rsyslog uses on /dev/log), RFC 5424 on the unix socket `rfc5424.sock`, UDP and TCP on
/// 127.0.0.1 ports chosen free at creation (kept across restarts). Every message is written as one
/// JSON object per line with rsyslog's own parse of it (severity, facility, app-name, msgid,
/// structured data as `mmpstrucdata` decodes it, msg), and raw to a second file. Given a `TestPKI`,
/// also two TLS inputs (RFC 5425, rsyslog's OpenSSL driver) with the PKI's server certificate:
/// `tlsPort` takes any client (input name `imtcp-tls`), `tlsClientAuthPort` only one with a
/// certificate from the PKI's CA (`imtcp-tls-client`). One main-queue worker keeps each
/// sender's messages in the order they came (`waitForEndOfStream`).
final class RsyslogCollector {
    static let binary = "/usr/sbin/rsyslogd"
    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    let directory: URL
    let udpPort: UInt16
    let tcpPort: UInt16
    let tlsPort: UInt16
    let tlsClientAuthPort: UInt16
    private let hasTLS: Bool
    /// The network namespace rsyslogd runs in (nil: the test's own), for sensors in namespaces.
    let namespace: String?
    private var process: Process?
    private var probeCount = 0

    var devLogPath: String { directory.appendingPathComponent("devlog").path }
    var unixPath: String { directory.appendingPathComponent("rfc5424.sock").path }
    var parsedPath: String { directory.appendingPathComponent("parsed.jsonl").path }
    var rawPath: String { directory.appendingPathComponent("raw.log").path }
    var configPath: String { directory.appendingPathComponent("rsyslog.conf").path }
    var pid: Int32? { process.map { $0.processIdentifier } }

    /// What rsyslog made of one message.
    struct Record {
        var input: String
        var severity: Int
        var facility: Int
        var hostname: String
        var appName: String
        var procID: String
        var msgID: String
        var structuredData: String
        var msg: String
        /// `mmpstrucdata`'s decoding: SD-ID -> parameter -> value; empty when there was none.
        var parameters: [String: [String: String]]
    }

    /// `extraConfig` is given the directory and returns lines appended to the configuration (a
    /// test's own actions, such as the README's per-sensor files).
    /// `namespace`: run rsyslogd in that network namespace (`ip netns exec`), its UDP and TCP inputs
    /// on every address there; the unix-socket inputs work across namespaces, the others are
    /// reached from inside it.
    init(tls pki: TestPKI? = nil, namespace: String? = nil, extraConfig: (String) -> String = { _ in "" }) throws {
        self.namespace = namespace
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-rsyslog-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        udpPort = try freeLoopbackPort(type: SOCK_DGRAM)
        tcpPort = try freeLoopbackPort(type: SOCK_STREAM)
        tlsPort = pki == nil ? 0 : try freeLoopbackPort(type: SOCK_STREAM)
        tlsClientAuthPort = pki == nil ? 0 : try freeLoopbackPort(type: SOCK_STREAM)
        hasTLS = pki != nil
        var tlsInputs = ""
        if let pki {
            let files = #"streamDriver.CAFile="\#(pki.caPath)" streamDriver.CertFile="\#(pki.serverCertificatePath)" "#
                + #"streamDriver.KeyFile="\#(pki.serverKeyPath)""#
            tlsInputs = """
                input(type="imtcp" name="imtcp-tls" address="127.0.0.1" port="\(tlsPort)" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon" \(files))
                input(type="imtcp" name="imtcp-tls-client" address="127.0.0.1" port="\(tlsClientAuthPort)" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="x509/certvalid" \(files))
                """
        }
        let d = directory.path
        let config = """
            global(workDirectory="\(d)" maxMessageSize="64k")
            main_queue(queue.workerThreads="1")
            module(load="imuxsock" SysSock.Use="off")
            module(load="imudp")
            module(load="imtcp")
            module(load="mmpstrucdata")
            input(type="imuxsock" Socket="\(devLogPath)" RateLimit.Interval="0")
            input(type="imuxsock" Socket="\(unixPath)" UseSpecialParser="off" ParseHostname="on" RateLimit.Interval="0")
            input(type="imudp" address="\(namespace == nil ? "127.0.0.1" : "0.0.0.0")" port="\(udpPort)")
            input(type="imtcp" address="\(namespace == nil ? "127.0.0.1" : "0.0.0.0")" port="\(tcpPort)")
            \(tlsInputs)
            template(name="parsed" type="list" option.jsonf="on") {
              property(outname="input" name="inputname" format="jsonf")
              property(outname="severity" name="syslogseverity" format="jsonf")
              property(outname="facility" name="syslogfacility" format="jsonf")
              property(outname="hostname" name="hostname" format="jsonf")
              property(outname="app_name" name="app-name" format="jsonf")
              property(outname="procid" name="procid" format="jsonf")
              property(outname="msgid" name="msgid" format="jsonf")
              property(outname="sd" name="structured-data" format="jsonf")
              property(outname="msg" name="msg" format="jsonf")
              property(outname="parsed" name="$!rfc5424-sd" format="jsonf")
            }
            template(name="raw" type="string" string="%rawmsg%\\n")
            action(type="mmpstrucdata")
            action(type="omfile" file="\(parsedPath)" template="parsed")
            action(type="omfile" file="\(rawPath)" template="raw")
            \(extraConfig(d))

            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts rsyslogd and waits (at most 15 s) until a probe sent through each of the four
    /// inputs has been written out.
    func start() throws {
        let p = Process()
        let arguments = ["-n", "-f", configPath, "-i", directory.appendingPathComponent("rsyslogd.pid").path]
        if let namespace {
            // `ip netns exec` execs rsyslogd in place: the process is rsyslogd, signals reach it.
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["ip", "netns", "exec", namespace, Self.binary] + arguments
        } else {
            p.executableURL = URL(fileURLWithPath: Self.binary)
            p.arguments = arguments
        }
        p.standardInput = FileHandle.nullDevice
        let log = directory.appendingPathComponent("rsyslogd.out")
        if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        // rsyslogd has its own copy once launched; the `Process` would keep this one open.
        defer { try? handle.close() }
        try launchSerially(p)
        process = p
        probeCount += 1
        let tag = "probe\(probeCount)"
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            guard p.isRunning else { throw CollectorError("rsyslogd exited at start: \(startupLog())") }
            sendProbes(tag: tag)
            Thread.sleep(forTimeInterval: 0.25)
            let seen = Set(records().filter { $0.appName == tag }.map { $0.msg.trimmingCharacters(in: .whitespaces) })
            if let namespace {
                // Only the unix sockets reach into the namespace; TCP is checked from inside it.
                if seen.isSuperset(of: ["probe-local", "probe-unix"]),
                   let r = try? runProgram("/usr/bin/env", ["ip", "netns", "exec", namespace, "python3", "-c",
                                                            "import socket; socket.create_connection(('127.0.0.1', \(tcpPort)), 2).close()"], timeout: 10),
                   r.status == 0 { return }
                continue
            }
            // The TLS inputs are up once they accept connections (a probe would need a TLS client).
            if seen.isSuperset(of: ["probe-local", "probe-unix", "probe-udp", "probe-tcp"])
                && (!hasTLS || (acceptsConnections(port: tlsPort) && acceptsConnections(port: tlsClientAuthPort))) { return }
        }
        stop()
        throw CollectorError("rsyslogd did not take probes on every input within 15 s: \(startupLog())")
    }

    /// SIGTERM to our rsyslogd by its PID; SIGKILL if it has not exited after 10 s.
    func stop() {
        guard let p = process else { return }
        process = nil
        stopStarted(p, grace: 10)
    }

    /// Every message written so far, in order (probes included: filter on `appName`).
    func records() -> [Record] {
        guard let data = FileManager.default.contents(atPath: parsedPath) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                Issue.record("rsyslog wrote a line that is not JSON: \(String(decoding: line, as: UTF8.self))")
                return nil
            }
            var parameters: [String: [String: String]] = [:]
            if let parsed = object["parsed"] as? String, !parsed.isEmpty,
               let tree = try? JSONSerialization.jsonObject(with: Data(parsed.utf8)) as? [String: Any] {
                for (id, value) in tree {
                    parameters[id] = (value as? [String: Any])?.compactMapValues { $0 as? String } ?? [:]
                }
            }
            return Record(input: object["input"] as? String ?? "", severity: Int(object["severity"] as? String ?? "") ?? -1,
                          facility: Int(object["facility"] as? String ?? "") ?? -1,
                          hostname: object["hostname"] as? String ?? "", appName: object["app_name"] as? String ?? "",
                          procID: object["procid"] as? String ?? "", msgID: object["msgid"] as? String ?? "",
                          structuredData: object["sd"] as? String ?? "", msg: object["msg"] as? String ?? "",
                          parameters: parameters)
        }
    }

    /// The stats events of process `procID` written so far, one per transport that carried one
    /// (on the local socket the event is the JSON line, without a msgid).
    func statsRecords(procID: String) -> [Record] {
        records().filter {
            $0.procID == procID && ($0.msgID == "stats" || ($0.msgID == "-" && $0.msg.contains(#""event_type":"stats""#)))
        }
    }

    /// Waits until every one of `transports` has delivered the stats event of process `procID`.
    /// plainsight sends it last on each transport, after every alert and every resend, and this
    /// rsyslogd writes messages in the order it received them (one main-queue worker): once it is
    /// in the file, so is everything the process sent before it, duplicates included, and counting
    /// then is final without waiting for something that might still come.
    func waitForEndOfStream(procID: String, transports: Int = 1, seconds: Double = 20) throws {
        try waitUntil(seconds: seconds, "the stats event of process \(procID) on \(transports) transport(s)") {
            statsRecords(procID: procID).count >= transports
        }
    }

    /// Everything rsyslog wrote, both files, as bytes (for the secret search).
    func allOutput() -> Data {
        (FileManager.default.contents(atPath: parsedPath) ?? Data()) + (FileManager.default.contents(atPath: rawPath) ?? Data())
    }

    private func startupLog() -> String {
        String(decoding: FileManager.default.contents(atPath: directory.appendingPathComponent("rsyslogd.out").path) ?? Data(),
               as: UTF8.self)
    }

    /// One RFC 5424 probe through each input (UDP is repeated until it shows up).
    private func sendProbes(tag: String) {
        func rfc5424(_ text: String) -> String { "<14>1 2026-01-01T00:00:00Z probehost \(tag) - - - \(text)" }
        sendDatagram(Array("<14>Jan  1 00:00:00 \(tag): probe-local".utf8), unixPath: devLogPath)
        sendDatagram(Array(rfc5424("probe-unix").utf8), unixPath: unixPath)
        sendUDP(Array(rfc5424("probe-udp").utf8), port: udpPort)
        let tcp = rfc5424("probe-tcp")
        sendTCP(Array("\(tcp.utf8.count) \(tcp)".utf8), port: tcpPort)
    }
}

struct CollectorError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, released).
func freeLoopbackPort(type: __socket_type) throws -> UInt16 {
    let fd = socket(AF_INET, Int32(type.rawValue), 0)
    guard fd >= 0 else { throw CollectorError("socket: \(errno)") }
    defer { close(fd) }
    var address = loopback(port: 0)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw CollectorError("bind: \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}

func loopback(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return address
}

private func sendDatagram(_ bytes: [UInt8], unixPath: String) {
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in unixPath.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
    }
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
}

private func sendUDP(_ bytes: [UInt8], port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var address = loopback(port: port)
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
}

/// Whether something listens on 127.0.0.1:`port` (a connection is made and closed at once).
func acceptsConnections(port: UInt16) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = loopback(port: port)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

private func sendTCP(_ bytes: [UInt8], port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var address = loopback(port: port)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return }
    _ = send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL))
}
