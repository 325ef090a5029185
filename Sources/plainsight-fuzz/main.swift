import CFuzzerDriver
import FuzzTargets
#if canImport(Glibc)
import Glibc
#endif

// `plainsight-fuzz TARGET [libFuzzer flags and corpus directories]`. Built by scripts/fuzz with
// libFuzzer and AddressSanitizer; a plain build replays the files given instead (see
// FuzzerDriver.h). The target is chosen before libFuzzer sees argv, then removed from it.

nonisolated(unsafe) var selected = FuzzTarget.decoder

/// A free function: libFuzzer needs a C function pointer, and a closure formed in top-level code
/// would be MainActor-isolated.
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let buffer = UnsafeBufferPointer(start: size > 0 ? data : nil, count: size)
    selected.run(buffer.span)
    return 0
}

let arguments = CommandLine.arguments

// `plainsight-fuzz list`: the target names, one a line (scripts/fuzz reads them).
if arguments.count == 2 && arguments[1] == "list" {
    for target in FuzzTarget.allCases { print(target.rawValue) }
    exit(0)
}

// `plainsight-fuzz seed TARGET DIR CAPTURE...`: write seed inputs made from captures (scripts/fuzz seed).
if arguments.count >= 4 && arguments[1] == "seed", let target = FuzzTarget(rawValue: arguments[2]) {
    var failed = false
    for (name, bytes) in SeedMaker.seeds(for: target, captures: Array(arguments.dropFirst(4))) {
        let path = arguments[3] + "/seed-" + name
        guard let f = fopen(path, "wb") else { failed = true; continue }
        if bytes.withUnsafeBytes({ fwrite($0.baseAddress, 1, $0.count, f) }) != bytes.count { failed = true }
        fclose(f)
    }
    exit(failed ? 1 : 0)
}
guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
    let usage = "usage: plainsight-fuzz \(names) [libFuzzer options] [corpus directories or files]\n"
    _ = usage.withCString { write(2, $0, strlen($0)) }
    exit(2)
}
selected = target

// argv without the target name, NULL-terminated, as libFuzzer expects.
var cArguments: [UnsafeMutablePointer<CChar>?] = ([arguments[0]] + arguments.dropFirst(2)).map { strdup($0) }
cArguments.append(nil)
var argc = Int32(cArguments.count - 1)
let status = cArguments.withUnsafeMutableBufferPointer { buffer -> Int32 in
    var argv = buffer.baseAddress
    return plainsight_fuzz_run(&argc, &argv, testOneInput)
}
exit(status)
