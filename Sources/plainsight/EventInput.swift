import Capture
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The files `plainsight report` reads, line by line: plain, or compressed with gzip, zstd or xz
// (recognised by content, decompressed by the -r reader's `DecompressedInput`), from a file or
// standard input. Lines are handed out in place from one buffer: a collector file of millions of
// events is read at disk speed, never held whole.

final class EventInput {
    /// A longer line is not an event plainsight writes (a report's server line is a few KiB): it
    /// is skipped to its end and counted.
    static let maxLineBytes = 1 << 20
    private static let chunk = 1 << 20

    let path: String
    private let descriptor: Int32
    private let decompressed: DecompressedInput?
    private var offset: Int64 = 0
    /// Standard input's first bytes, read to recognise a compression, handed out first when it
    /// has none.
    private var pending: [UInt8] = []
    /// Compressed (or plain) bytes consumed, for the progress line.
    var bytesConsumed: Int64 { decompressed?.compressedBytesConsumed ?? offset }
    let size: Int64?

    /// Opens `path` (`-`: standard input); the problem as a sentence if it cannot be.
    init(path: String) throws(InputProblem) {
        self.path = path
        if path == "-" {
            descriptor = 0
            size = nil
            // A pipe cannot be read twice: the magic is read once, then given to the decoder or
            // handed out as the first bytes.
            var magic = [UInt8](repeating: 0, count: 8)
            var got = 0
            while got < magic.count {
                let n = magic.withUnsafeMutableBytes { room in
                    guard let base = room.baseAddress else { return 0 }
                    return Self.readRetrying(0, base + got, room.count - got)
                }
                guard n > 0 else { break }
                got += n
            }
            let leading = Array(magic.prefix(got))
            if let compression = leading.withUnsafeBytes({ CaptureCompression.detect($0) }) {
                do {
                    decompressed = try DecompressedInput(descriptor: 0, compression: compression, path: "standard input",
                                                         streaming: true, leading: leading)
                } catch {
                    throw InputProblem(error.problem)
                }
            } else {
                decompressed = nil
                pending = leading
            }
            return
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw InputProblem("cannot open: \(systemError(errno))") }
        var info = stat()
        if fstat(fd, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR {
            close(fd)
            throw InputProblem("is a directory: give its files")
        }
        descriptor = fd
        size = info.st_mode & S_IFMT == S_IFREG ? Int64(info.st_size) : nil
        var magic = [UInt8](repeating: 0, count: 8)
        let got = magic.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress, $0.count, 0) }
        let compression = got > 0 ? magic.withUnsafeBytes { CaptureCompression.detect(UnsafeRawBufferPointer(rebasing: $0.prefix(got))) } : nil
        if let compression, size != nil {
            do {
                decompressed = try DecompressedInput(descriptor: fd, compression: compression, path: path)
            } catch {
                close(fd)
                throw InputProblem(error.problem)
            }
        } else {
            decompressed = nil
        }
    }

    deinit { if descriptor != 0 { close(descriptor) } }

    /// Calls `line` with every line (without its LF or CR LF) and whether it ended the input
    /// without a newline (a file cut short). `tick` after every chunk. Returns nil at a clean end,
    /// else why reading stopped. Lines over `maxLineBytes` are counted in `overlong`, not handed out.
    func forEachLine(overlong: inout UInt64, tick: () -> Void,
                     _ line: (UnsafeBufferPointer<UInt8>, _ unterminated: Bool) -> Void) -> String? {
        let capacity = Self.maxLineBytes + Self.chunk
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var start = 0, end = 0
        var skipping = false
        while true {
            if start > 0 {
                if end > start { (buffer).update(from: buffer + start, count: end - start) }
                end -= start
                start = 0
            }
            let got = read(into: buffer + end, count: capacity - end)
            if got < 0 { return decompressed?.failure ?? "read error: \(systemError(errno))" }
            if got == 0 {
                if end > start && !skipping {
                    line(Self.trimmed(UnsafeBufferPointer(start: buffer + start, count: end - start)), true)
                }
                return nil
            }
            end += got
            tick()
            while start < end {
                guard let newline = memchr(buffer + start, 0x0A, end - start) else { break }
                let at = buffer.distance(to: newline.assumingMemoryBound(to: UInt8.self))
                if skipping {
                    skipping = false
                } else {
                    line(Self.trimmed(UnsafeBufferPointer(start: buffer + start, count: at - start)), false)
                }
                start = at + 1
            }
            if end - start >= Self.maxLineBytes {
                if !skipping { overlong += 1 }
                skipping = true
                start = end
            }
        }
    }

    private func read(into target: UnsafeMutablePointer<UInt8>, count: Int) -> Int {
        if let decompressed {
            let n = decompressed.pread(into: target, count: count, at: offset)
            if n > 0 { offset += Int64(n) }
            return n
        }
        if !pending.isEmpty {
            let n = min(count, pending.count)
            pending.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress { UnsafeMutableRawPointer(target).copyMemory(from: base, byteCount: n) }
            }
            pending.removeFirst(n)
            offset += Int64(n)
            return n
        }
        let n = Self.readRetrying(descriptor, target, count)
        if n > 0 { offset += Int64(n) }
        return n
    }

    /// read(2), again after a signal interrupted it: the count read, 0 at the end, -1 on error.
    private static func readRetrying(_ fd: Int32, _ target: UnsafeMutableRawPointer, _ count: Int) -> Int {
        while true {
            let n = Glibc.read(fd, target, count)
            if n >= 0 || errno != EINTR { return n }
        }
    }

    /// Without a trailing CR and spaces (a file copied through Windows, a template's padding).
    private static func trimmed(_ line: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var n = line.count
        while n > 0, line[n - 1] == 0x0D || line[n - 1] == 0x20 || line[n - 1] == 0x09 { n -= 1 }
        return UnsafeBufferPointer(rebasing: line[0..<n])
    }
}

struct InputProblem: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
