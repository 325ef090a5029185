import Foundation
import Testing

/// The public corpus in ../shared, scored by its own tool. CI has it; a checkout without it skips.
@Test("public corpus: every login found, no false alarm, no leak")
func corpusScore() throws {
    let shared = packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    let score = shared.appendingPathComponent("tools/score").path
    guard FileManager.default.isExecutableFile(atPath: score) else {
        print("skipped: ../shared/tools/score is not here")
        return
    }
    let bin = try #require(plainsightBinary(preferRelease: true))
    let r = try runProgram("/usr/bin/env", ["python3", score,
        "--truth", shared.appendingPathComponent("corpus/truth.json").path,
        "--pcaps", shared.appendingPathComponent("corpus/pcaps").path,
        "--cmd", "\(bin) -r {pcap} --any-port --json --user-policy full"], timeout: 600)
    let last = r.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
    print("score: \(last)")
    #expect(r.status == 0, "score failed:\n\(r.stdoutText)\n\(r.stderrText)")
}
