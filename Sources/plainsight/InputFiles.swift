import Capture
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// What -r names, turned into the list of capture files to read: a directory becomes its capture
// files in name order. A file named directly is read whatever it holds (a file that is not a
// capture gets libpcap's error, as before); in a directory, rotated captures sit next to logs and
// notes, so only files that start like a capture are taken and the others are counted.

/// The files to read, and how many -r arguments gave none (an unreadable or empty directory),
/// each reported already on standard error.
struct InputFiles {
    var paths: [String] = []
    var failures: UInt64 = 0
}

/// Expands every directory of `given` into its capture files: regular files (or links to them)
/// directly in it, not in subdirectories, hidden ones (`.name`, as an editor's or rsync's
/// temporary files) left out, sorted by name byte by byte (`eth0.pcap.10` before
/// `eth0.pcap.2`, as `ls` in the C locale). Other entries are skipped; one line counts them
/// unless `quiet`.
func expandInputs(_ given: [String], quiet: Bool) -> InputFiles {
    var result = InputFiles()
    for path in given {
        var info = stat()
        guard path != "-", stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            result.paths.append(path)
            continue
        }
        guard let directory = opendir(path) else {
            reportProblem(file: path, "cannot open: \(systemError(errno))")
            result.failures += 1
            continue
        }
        var names: [[UInt8]] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            if name.first == UInt8(ascii: ".") { continue }   // hidden, and . and ..
            names.append(name)
        }
        closedir(directory)
        names.sort { $0.lexicographicallyPrecedes($1) }
        let base = path.hasSuffix("/") ? path : path + "/"
        var taken = 0
        var skipped: [String] = []
        for name in names {
            let file = base + String(decoding: name, as: UTF8.self)
            if isCaptureFile(file) {
                result.paths.append(file)
                taken += 1
            } else {
                skipped.append(String(decoding: name, as: UTF8.self))
            }
        }
        if !skipped.isEmpty && !quiet {
            let what = skipped.count == 1 ? "1 entry" : "\(skipped.count) entries"
            reportProblem(file: path, "skipped \(what) that are not capture files (first: \(skipped[0]))")
        }
        if taken == 0 {
            reportProblem(file: path, "no capture files in this directory")
            result.failures += 1
        }
    }
    return result
}

/// A regular file whose first bytes are a capture's (PcapFileReader.looksLikeCapture).
private func isCaptureFile(_ path: String) -> Bool {
    var info = stat()
    guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return false }
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return true }   // unreadable: reading it reports why
    defer { close(descriptor) }
    var prefix = [UInt8](repeating: 0, count: 8)
    let got = prefix.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
    guard got > 0 else { return false }
    return prefix.withUnsafeBytes { PcapFileReader.looksLikeCapture(UnsafeRawBufferPointer(rebasing: $0.prefix(got))) }
}

/// Extra words after `-r FILE` that all name existing files: what `-r *.pcap` gives, which would
/// otherwise be compiled as a filter expression. nil when at least one word is not a file (a
/// filter such as `host mail` with a file named `host` nearby is still a filter).
func filesGivenAsExpression(_ words: [String]) -> [String]? {
    guard !words.isEmpty else { return nil }
    for word in words {
        var info = stat()
        guard stat(word, &info) == 0 else { return nil }
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFDIR else { return nil }
    }
    return words
}
