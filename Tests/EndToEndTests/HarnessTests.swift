import Foundation
import Testing

/// The end-to-end tests start the binary thousands of times from one process: a descriptor kept
/// per run piled up to over 4,000, and Foundation's `Process.run()` then crashed the test process
/// (SIGSEGV copying the list of open descriptors), failing CI at random.
@Suite struct HarnessTests {
    @Test func runningTheBinaryKeepsNoDescriptorOpen() throws {
        let bin = try #require(plainsightBinary())
        let runs = 40
        _ = try runProgram(bin, ["--version"])  // Foundation's own descriptors, opened once
        let before = try #require(openDescriptorCount(), "no /proc/self/fd")
        for _ in 0..<runs { _ = try runProgram(bin, ["--version"]) }
        let after = try #require(openDescriptorCount())
        // Two leaked a run before; other suites are not running alongside (`--no-parallel`), and
        // a little slack covers a descriptor some library opens lazily.
        #expect(after - before < runs / 2, "\(after - before) descriptors more after \(runs) runs")
    }
}
