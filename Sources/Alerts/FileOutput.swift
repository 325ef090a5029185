#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A write failure, worded for one stderr line: `cannot write to out.jsonl: No space left on device`.
public struct OutputError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A buffered writer over a POSIX file descriptor (stdout, or a file opened with `create`).
///
/// Errors never trap: the first one is kept in `failure`, later output is dropped, and the caller
/// reports it once. Partial writes and EINTR are retried. SIGPIPE must be ignored by the process
/// for a closed pipe to show up here as EPIPE instead of killing it.
public final class FileOutput {
    /// How this output is named in messages: the path, or `standard output`.
    public let name: String
    public private(set) var failure: OutputError?
    /// Records (alerts) written out to the descriptor, and records lost to a write error.
    public private(set) var recordsDelivered: UInt64 = 0
    public private(set) var recordsLost: UInt64 = 0
    /// Counted records still in the buffer.
    private var recordsBuffered: UInt64 = 0
    private var descriptor: Int32
    private let ownsDescriptor: Bool
    /// The file this output opened, for `reopen`; nil for standard output.
    private let path: String?
    /// A terminal gets every line at once; files and pipes get 64 KiB blocks.
    private let flushEachLine: Bool
    private var buffer: [UInt8] = []
    private static let blockSize = 64 * 1024

    public init(descriptor: Int32, name: String, ownsDescriptor: Bool, path: String? = nil) {
        self.descriptor = descriptor
        self.name = name
        self.ownsDescriptor = ownsDescriptor
        self.path = path
        self.flushEachLine = isatty(descriptor) == 1
        buffer.reserveCapacity(Self.blockSize + 4096)
    }

    /// File descriptor 1.
    public static func standardOutput() -> FileOutput {
        FileOutput(descriptor: 1, name: "standard output", ownsDescriptor: false)
    }

    /// Creates `path` (mode 0640 before the umask), or truncates it, or with `append` writes after
    /// what it holds (as Suricata's eve.json: a restart keeps earlier alerts). `-` means standard
    /// output.
    public static func create(path: String, append: Bool = false) throws(OutputError) -> FileOutput {
        if path == "-" { return standardOutput() }
        let fd = open(path, O_CREAT | (append ? O_APPEND : O_TRUNC) | O_WRONLY | O_CLOEXEC, mode_t(0o640))
        guard fd >= 0 else {
            throw OutputError("cannot create \(OutputEscaping.escape(path.utf8)): \(errorText(errno))")
        }
        return FileOutput(descriptor: fd, name: path, ownsDescriptor: true, path: path)
    }

    /// Opens the path again (after log rotation moved the file away), appending to whatever is
    /// there now, and writes later records to it. Buffered records go to the old file first. If
    /// the path cannot be opened the old descriptor is kept, so nothing is lost, and the error is
    /// returned. Standard output is left as it is.
    public func reopen() -> OutputError? {
        guard let path, ownsDescriptor, descriptor >= 0, failure == nil else { return nil }
        flush()
        let fd = open(path, O_CREAT | O_APPEND | O_WRONLY | O_CLOEXEC, mode_t(0o640))
        guard fd >= 0 else {
            return OutputError("cannot reopen \(OutputEscaping.escape(path.utf8)): \(errorText(errno))")
        }
        if closeDescriptor(descriptor) != 0 && failure == nil {
            failure = OutputError("cannot write to \(OutputEscaping.escape(name.utf8)): \(errorText(errno))")
        }
        descriptor = fd
        return nil
    }

    /// Appends one record through `render`, then a newline; writes out when the block is full (or
    /// at once on a terminal). `counted` records (alerts) are tallied as delivered once written
    /// out, or as lost after a write error.
    public func writeLine(counted: Bool = true, _ render: (inout [UInt8]) -> Void) {
        guard failure == nil, descriptor >= 0 else {
            if counted { recordsLost &+= 1 }
            return
        }
        render(&buffer)
        buffer.append(0x0A)
        if counted { recordsBuffered &+= 1 }
        if flushEachLine || buffer.count >= Self.blockSize { _ = flush() }
    }

    /// Writes everything buffered. Returns false once any write has failed.
    @discardableResult
    public func flush() -> Bool {
        guard failure == nil else { discardBuffer(); return false }
        guard descriptor >= 0 else { return buffer.isEmpty }
        var written = 0
        let total = buffer.count
        while written < total {
            let result = buffer.withUnsafeBytes { bytes -> Int in
                guard let base = bytes.baseAddress else { return 0 }
                return write(descriptor, base + written, total - written)
            }
            if result > 0 {
                written += result
            } else if result < 0 && errno == EINTR {
                continue
            } else {
                let code = result < 0 ? errno : EIO
                failure = OutputError("cannot write to \(OutputEscaping.escape(name.utf8)): \(errorText(code))")
                break
            }
        }
        if failure == nil {
            recordsDelivered &+= recordsBuffered
            recordsBuffered = 0
        }
        discardBuffer()
        return failure == nil
    }

    /// Empties the buffer; counted records still in it are lost.
    private func discardBuffer() {
        recordsLost &+= recordsBuffered
        recordsBuffered = 0
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, then closes the descriptor if this object opened it. Returns false on any failure.
    @discardableResult
    public func close() -> Bool {
        flush()
        if ownsDescriptor && descriptor >= 0 {
            // A close error on a regular file can be a delayed write error (NFS, quota): report it.
            if closeDescriptor(descriptor) != 0 && failure == nil {
                failure = OutputError("cannot write to \(OutputEscaping.escape(name.utf8)): \(errorText(errno))")
            }
        }
        descriptor = -1
        return failure == nil
    }

    deinit { close() }
}

/// `close(2)`, named apart from `FileOutput.close()`.
private func closeDescriptor(_ fd: Int32) -> Int32 { close(fd) }

/// `strerror` text for an errno value.
func errorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}
