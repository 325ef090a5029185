import Foundation
import Testing

/// The package root, found from this file's path (Tests/EndToEndTests/Support.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The built command-line binary. `scripts/test` builds it before running the tests; the release
/// build is preferred because the corpus scorer is specified against it.
func plainsightBinary(preferRelease: Bool = false) -> String? {
    // A build under another --scratch-path names its binary here.
    // getenv, not ProcessInfo.environment: tests start processes from many threads at once.
    if let value = getenv("PLAINSIGHT_BINARY"), case let given = String(cString: value), !given.isEmpty {
        return FileManager.default.isExecutableFile(atPath: given) ? given : nil
    }
    let candidates = preferRelease
        ? [".build/release/plainsight", ".build/debug/plainsight"]
        : [".build/debug/plainsight", ".build/release/plainsight"]
    return candidates.map { packageRoot.appendingPathComponent($0).path }
        .first { FileManager.default.isExecutableFile(atPath: $0) }
}

struct RunResult {
    var status: Int32
    var stdout: Data
    var stderr: Data
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Foundation's `Process.run()` on Linux crashed (SIGSEGV inside `run()`) when parallel tests
/// launched children at the same moment; launches are serialised, the children still run in
/// parallel.
private let launchLock = NSLock()

func launchSerially(_ p: Process) throws {
    launchLock.lock()
    defer { launchLock.unlock() }
    try p.run()
}

/// Runs a program to completion with a time bound; output goes through files so a chatty child
/// cannot fill a pipe and hang.
func runProgram(_ path: String, _ args: [String], timeout: TimeInterval = 120) throws -> RunResult {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: err.path, contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    p.currentDirectoryURL = packageRoot
    p.standardInput = FileHandle.nullDevice
    // Closed here: the `Process` keeps its handles, so they were never released, two descriptors a
    // run; after a few thousand runs Foundation's `run()` crashed copying the list of open ones.
    let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
    defer { try? outHandle.close(); try? errHandle.close() }
    p.standardOutput = outHandle
    p.standardError = errHandle
    try launchSerially(p)
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    if p.isRunning { p.terminate(); p.waitUntilExit(); Issue.record("\(path) \(args) timed out") }
    let result = RunResult(status: p.terminationStatus, stdout: try Data(contentsOf: out), stderr: try Data(contentsOf: err))
    if URL(fileURLWithPath: path).lastPathComponent == "plainsight" { keepJSONForSchemaCheck(args: args, status: result.status, stdout: result.stdout) }
    return result
}

/// Every encoding of a secret that an output must never contain (the scorer's list, plus SASL
/// blobs with the usernames of the scenario).
func secretForms(_ secret: String, usernames: [String]) -> [String] {
    func b64(_ s: String) -> String {
        let d = Data(s.utf8).base64EncodedString()
        return String(d.prefix { $0 != "=" })
    }
    var forms = [secret, b64(secret), Data(secret.utf8).map { String(format: "%02x", $0) }.joined()]
    for u in usernames + [""] {
        forms += [b64("\0\(u)\0\(secret)"), b64("\(u)\0\(u)\0\(secret)"), b64("\(u)\0\(secret)")]
    }
    if let escaped = try? JSONEncoder().encode(secret), let s = String(data: escaped, encoding: .utf8) {
        forms.append(String(s.dropFirst().dropLast()))
    }
    return forms.filter { $0.count >= 4 }
}

/// Descriptors this process has open (Linux), for the tests that hold the harness to not leaking.
func openDescriptorCount() -> Int? {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count
}

/// SIGTERM to a process this test started, by its PID, then up to `grace` seconds; SIGKILL after.
/// Returns its exit status, or -1 if it had to be killed.
@discardableResult
func stopStarted(_ process: Process, grace: TimeInterval) -> Int32 {
    guard process.isRunning else { return process.terminationStatus }
    kill(process.processIdentifier, SIGTERM)
    let deadline = Date().addingTimeInterval(grace)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return -1
    }
    return process.terminationStatus
}
