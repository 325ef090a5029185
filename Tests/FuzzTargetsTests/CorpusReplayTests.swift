import Foundation
import FuzzTargets
import Testing

// Every committed seed and every input that ever crashed a target (fixtures/fuzz/TARGET/crash-*)
// replayed through the plain build of the same target code the fuzzer runs. A regression traps,
// which kills the test process: that is the failure.

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func corpusFiles(_ target: FuzzTarget) -> [URL] {
    let dir = packageRoot.appendingPathComponent("fixtures/fuzz/\(target.rawValue)")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    return names.sorted().map { dir.appendingPathComponent($0) }
}

@Suite("fuzz corpora replayed")
struct CorpusReplayTests {
    @Test(arguments: FuzzTarget.allCases)
    func everySeedAndCrashRuns(_ target: FuzzTarget) throws {
        let files = corpusFiles(target)
        // A target without seeds would be fuzzed from nothing: the committed corpus must exist.
        #expect(files.contains { $0.lastPathComponent.hasPrefix("seed-") }, "no seeds for \(target)")
        for url in files {
            let bytes = [UInt8](try Data(contentsOf: url))
            bytes.withUnsafeBufferPointer { target.run($0.span) }
        }
    }
}
