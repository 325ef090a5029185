import Foundation
import Testing

/// The public corpus next to the checkout (../shared), scored by its own tool.
private let shared = packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
private let scorer = shared.appendingPathComponent("tools/score").path
private let truth = shared.appendingPathComponent("corpus/truth.json").path
private let pcaps = shared.appendingPathComponent("corpus/pcaps").path

/// What keeps the corpus test from running here, or nil: CI has ../shared, a bare checkout does not,
/// and the test is then reported as skipped with this reason rather than passing without scoring.
private let corpusMissing: String? = {
    var isDirectory: ObjCBool = false
    if !FileManager.default.isExecutableFile(atPath: scorer) { return "the scorer \(scorer) is not here (it comes with ../shared)" }
    if !FileManager.default.fileExists(atPath: truth) { return "the corpus ground truth \(truth) is not here" }
    if !FileManager.default.fileExists(atPath: pcaps, isDirectory: &isDirectory) || !isDirectory.boolValue {
        return "the corpus captures \(pcaps) are not here"
    }
    return nil
}()

@Test("public corpus: every login found, no false alarm, no leak",
      .enabled(if: corpusMissing == nil, Comment(rawValue: corpusMissing ?? "")))
func corpusScore() throws {
    let bin = try #require(plainsightBinary(preferRelease: true))
    let r = try runProgram("/usr/bin/env", ["python3", scorer, "--truth", truth, "--pcaps", pcaps,
        "--cmd", "\(bin) -r {pcap} --any-port --json --user-policy full"], timeout: 600)
    let last = r.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
    print("score: \(last)")
    #expect(r.status == 0, "score failed:\n\(r.stdoutText)\n\(r.stderrText)")
}
