import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The key for `--user-policy hash`, read from a file so it never shows in `ps` or shell history.
enum HashKey {
    static let minimumLength = 16
    private static let maximumLength = 1 << 20

    /// The file's bytes exactly as stored (a trailing newline is part of the key). Problems are
    /// usage errors (exit 2).
    static func load(path: String) throws(ValidationError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ValidationError("cannot read --user-hash-key-file \(escaped(path)): \(systemError(errno))")
        }
        defer { close(fd) }
        var key: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while key.count <= maximumLength {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                key.append(contentsOf: chunk[0..<count])
            } else if count == 0 {
                break
            } else if errno != EINTR {
                throw ValidationError("cannot read --user-hash-key-file \(escaped(path)): \(systemError(errno))")
            }
        }
        guard key.count >= minimumLength else {
            throw ValidationError("--user-hash-key-file \(escaped(path)) holds \(key.count) bytes; the key needs at least \(minimumLength) (e.g. head -c 32 /dev/urandom > \(escaped(path)))")
        }
        guard key.count <= maximumLength else {
            throw ValidationError("--user-hash-key-file \(escaped(path)) is larger than \(maximumLength) bytes; is it the right file?")
        }
        return key
    }
}
