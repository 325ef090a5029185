import Foundation

// Every JSON line plainsight writes in these tests is kept for one check against docs/schema:
// `runProgram` hands each run of the binary here, which appends the JSON lines of its standard
// output and of its -o file to .build/schema-lines/, and copies each --report FILE.json. scripts/test
// runs scripts/validate-json over them after `swift test` (SchemaTests checks the fixtures' own
// outputs itself).

/// Where the lines go: one file per test process, so two runs never interleave.
let schemaLinesDirectory = packageRoot.appendingPathComponent(".build/schema-lines")
private let schemaLinesLock = NSLock()

/// Keeps the JSON output of one run of plainsight (`args` as it was run, `stdout` as read).
/// A run refused as a usage error (status 2) wrote nothing: a file named as its -o or --report is
/// someone else's, e.g. the capture a test names as both input and report to see it refused.
func keepJSONForSchemaCheck(args: [String], status: Int32, stdout: Data) {
    guard status != 2 else { return }
    var lines = jsonLines(stdout)
    var reports: [Data] = []
    var index = args.startIndex
    while index < args.endIndex {
        let option = args[index], value = index + 1 < args.endIndex ? args[index + 1] : nil
        if let value, option == "-o" || option == "--output", let written = regularFileContents(value) {
            lines.append(contentsOf: jsonLines(written))
        }
        if let value, option == "--report", value.hasSuffix(".json"), let report = regularFileContents(value) {
            reports.append(report)
        }
        index += 1
    }
    guard !lines.isEmpty || !reports.isEmpty else { return }
    schemaLinesLock.lock()
    defer { schemaLinesLock.unlock() }
    try? FileManager.default.createDirectory(at: schemaLinesDirectory, withIntermediateDirectories: true)
    if !lines.isEmpty {
        let file = schemaLinesDirectory.appendingPathComponent("EndToEndTests-\(getpid()).jsonl")
        if !FileManager.default.fileExists(atPath: file.path) { FileManager.default.createFile(atPath: file.path, contents: nil) }
        if let handle = try? FileHandle(forWritingTo: file) {
            defer { try? handle.close() }
            _ = try? handle.seekToEnd()
            try? handle.write(contentsOf: lines.reduce(into: Data()) { $0.append($1); $0.append(0x0A) })
        }
    }
    for report in reports {
        try? report.write(to: schemaLinesDirectory.appendingPathComponent("report-\(UUID().uuidString).json"))
    }
}

/// The lines that are plainsight's events (each starts with its timestamp); text alerts, progress
/// and whatever else a test wrote there (a capture given as -o on purpose) are not.
private func jsonLines(_ data: Data) -> [Data] {
    let start = Data(#"{"timestamp":"#.utf8)
    return data.split(separator: 0x0A).filter { $0.starts(with: start) }.map { Data($0) }
}

/// Only a regular file: a test may write to /dev/full or a FIFO, which must not be read here.
private func regularFileContents(_ path: String) -> Data? {
    let full = path.hasPrefix("/") ? path : packageRoot.appendingPathComponent(path).path
    guard let type = try? FileManager.default.attributesOfItem(atPath: full)[.type] as? FileAttributeType,
          type == .typeRegular else { return nil }
    return FileManager.default.contents(atPath: full)
}
