import Alerts
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Standard error goes through file descriptor 2 (referencing `stderr` is a Swift 6 concurrency
// error). Standard output carries alerts and stats only.

/// Writes `text` to standard error, retrying partial writes; errors are ignored (there is nowhere
/// left to report them).
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let count = bytes.withUnsafeMutableBytes { buffer -> Int in
            guard let base = buffer.baseAddress else { return 0 }
            return write(2, base + offset, buffer.count - offset)
        }
        if count > 0 { offset += count } else if count < 0 && errno == EINTR { continue } else { return }
    }
}

/// One diagnostic line: `plainsight: <message>`. The message is escaped like alert fields, since it
/// can quote file names and libpcap text.
func reportProblem(_ message: String) {
    writeStandardError("plainsight: " + escaped(message) + "\n")
}

/// `plainsight: FILE: <problem>`.
func reportProblem(file: String, _ problem: String) {
    reportProblem(file + ": " + problem)
}

func escaped(_ text: String) -> String { OutputEscaping.escape(text.utf8) }

func systemError(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

