import Foundation
import Testing

/// The package root, found from this file's path (Tests/LiveTests/Support.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The plainsight binary built with these tests: beside the test bundle in the same build folder
/// (whatever --scratch-path was), else the default build folders.
func plainsightBinary() -> String? {
    let bundleDirectory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    let candidates = [bundleDirectory.appendingPathComponent("plainsight").path]
        + [".build/debug/plainsight", ".build/release/plainsight"].map { packageRoot.appendingPathComponent($0).path }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

let isRoot = getuid() == 0

/// Root, and `ip netns add` works here (a container may forbid it).
let canUseNamespaces: Bool = {
    guard isRoot, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip")
        || FileManager.default.isExecutableFile(atPath: "/usr/bin/ip") else { return false }
    let name = "ps-live-probe-\(getpid())"
    guard (try? run("/usr/bin/env", ["ip", "netns", "add", name], timeout: 10))?.status == 0 else { return false }
    _ = try? run("/usr/bin/env", ["ip", "netns", "del", name], timeout: 10)
    return true
}()

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double
    var stderrLines: [Substring] { stderr.split(separator: "\n") }
}

/// Runs a program to completion, bounded by `timeout` (then SIGTERM, and the test fails); output
/// goes through files so a chatty child cannot fill a pipe and hang.
func run(_ path: String, _ args: [String], timeout: TimeInterval = 60) throws -> RunResult {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-live-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = args
    process.currentDirectoryURL = packageRoot
    process.standardInput = FileHandle.nullDevice
    // Closed here: the `Process` keeps its handles, two descriptors a run otherwise (see
    // EndToEndTests/Support.swift).
    let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
    defer { try? outHandle.close(); try? errHandle.close() }
    process.standardOutput = outHandle
    process.standardError = errHandle
    let started = Date()
    try process.run()
    let deadline = started.addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    if process.isRunning {
        process.terminate()
        process.waitUntilExit()
        Issue.record("\(path) \(args) did not finish within \(timeout) s")
    }
    return RunResult(status: process.terminationStatus,
                     stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                     stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self),
                     seconds: Date().timeIntervalSince(started))
}

/// A network namespace of the test's own with only `lo` up, deleted by `close()`.
final class ScratchNamespace {
    let name: String
    init(_ tag: String) throws {
        name = "ps-live-\(tag)-\(getpid())"
        _ = try LiveTests.run("/usr/bin/env", ["ip", "netns", "del", name], timeout: 10)
        let added = try LiveTests.run("/usr/bin/env", ["ip", "netns", "add", name], timeout: 10)
        try #require(added.status == 0, "ip netns add \(name): \(added.stderr)")
        _ = try LiveTests.run("/usr/bin/env", ["ip", "-n", name, "link", "set", "lo", "up"], timeout: 10)
    }

    /// Runs `argv` inside the namespace.
    func run(_ argv: [String], timeout: TimeInterval = 30) throws -> RunResult {
        try LiveTests.run("/usr/bin/env", ["ip", "netns", "exec", name] + argv, timeout: timeout)
    }

    func close() { _ = try? LiveTests.run("/usr/bin/env", ["ip", "netns", "del", name], timeout: 10) }
}
