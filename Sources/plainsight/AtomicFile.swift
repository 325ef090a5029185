import Alerts
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Replaces a whole file so that a reader sees the old one or the new one, never a part of either:
/// the bytes go to a temporary file in the same directory (so on the same file system), are
/// synced, and the temporary file is renamed over the path (`rename` is atomic). The report is
/// rewritten this way while live capture runs, with a browser or a script reading it.
enum AtomicFile {
    /// The file's mode: 0640, as `-o` files get under the unit's UMask=0027.
    static let mode: mode_t = 0o640

    static func write(_ bytes: [UInt8], to path: String) throws(OutputError) {
        let name = OutputEscaping.escape(path.utf8)
        // `.NAME.XXXXXX` beside the target: hidden from `ls`, and never a name that ends in
        // .html or .json, so nothing takes it for the report.
        let slash = path.utf8.lastIndex(of: UInt8(ascii: "/"))
        let directory = slash.map { String(path[..<$0]) + "/" } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var template = Array((directory + "." + base + ".XXXXXX").utf8CString)
        // mkostemp (O_CLOEXEC at once) is a GNU extension Glibc's module does not export;
        // plainsight starts no programs, so setting it just after is as good.
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw OutputError("cannot create \(name): \(systemError(errno))") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let temporary = String(cString: template)
        var failure: Int32?
        if fchmod(fd, mode) != 0 { failure = errno }
        var written = 0
        while failure == nil && written < bytes.count {
            let result = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return writeDescriptor(fd, base + written, raw.count - written)
            }
            if result > 0 {
                written += result
            } else if result < 0 && errno == EINTR {
                continue
            } else {
                failure = result < 0 ? errno : EIO
            }
        }
        // Synced before the rename: after a crash the path holds the old report or the new one,
        // not an empty file.
        if failure == nil && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == nil { failure = errno }
        if let failure {
            unlink(temporary)
            throw OutputError("cannot write to \(name): \(systemError(failure))")
        }
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw OutputError("cannot replace \(name): \(systemError(code))")
        }
    }
}

/// `write(2)`, named apart from `AtomicFile.write`.
private func writeDescriptor(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
