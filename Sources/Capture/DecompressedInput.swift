import CLzma
import CZlib
import CZstd
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The compression a capture file's first bytes announce. Detected by content, whatever the
/// file's name: rotated captures are compressed by logrotate, tcpdump -z or by hand, and renamed.
public enum CaptureCompression: String, Sendable {
    case gzip, zstd, xz

    /// The format whose magic `prefix` starts with: gzip 1f 8b (RFC 1952), zstd 28 b5 2f fd
    /// (RFC 8878), xz fd 37 7a 58 5a 00.
    package static func detect(_ prefix: UnsafeRawBufferPointer) -> CaptureCompression? {
        // Safe: iteration stops at `prefix.count`; the caller lends `prefix` for the call.
        func starts(_ magic: [UInt8]) -> Bool { unsafe prefix.count >= magic.count && zip(prefix, magic).allSatisfy { $0 == $1 } }
        if starts([0x1F, 0x8B]) { return .gzip }
        if starts([0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        return nil
    }
}

/// A compressed capture file, decompressed as it is read (zlib, libzstd, liblzma), for the pcap
/// and pcapng record readers: they read it through `pread(into:count:at:)` exactly as they read a
/// plain file, into the same buffer, so records are still parsed where they land. Reads must go
/// forward (the readers' do), except that the first `prefix` bytes, kept from the start (libpcap
/// checks the file header on a copy of them), can be read again.
///
/// A stream that ends early or is damaged is a `failure` message; the reader reports it as it
/// reports a damaged pcap file, after the records before it.
/// Safe to use: it owns its buffers and decoder state, and frees them once, in deinit.
@safe public final class DecompressedInput {
    let compression: CaptureCompression
    /// The decompressed first bytes (up to `prefixCapacity`): the file header, and for pcapng
    /// the blocks before the first packet that libpcap and `leadingLinkTypes` read.
    private(set) var prefix: UnsafeRawBufferPointer
    /// Why decompression stopped early; nil while it goes well.
    public private(set) var failure: String?

    static let prefixCapacity = 256 * 1024
    static let inputCapacity = 256 * 1024

    private let descriptor: Int32
    /// Read with read(2) rather than pread(2): a pipe or standard input, which has no offsets.
    private let streaming: Bool
    private let input: UnsafeMutableRawPointer
    /// Unconsumed compressed bytes are `input[inputStart ..< inputEnd]`.
    private var inputStart = 0
    private var inputEnd = 0
    /// File offset of the next compressed byte to read, and whether the file has ended.
    private var inputOffset: Int64 = 0
    private var inputEnded = false
    /// Decompressed bytes produced so far, and whether the stream ended cleanly.
    private var produced: Int64 = 0
    private var ended = false
    /// The decoder last stopped at the end of a gzip member, zstd frame or xz stream.
    private var atStreamEnd = false
    private let codec: Codec

    // The decoder state, allocated and freed by this class alone.
    @unsafe private enum Codec {
        case gzip(UnsafeMutablePointer<z_stream>)
        case zstd(OpaquePointer)
        case xz(UnsafeMutablePointer<lzma_stream>)
    }

    /// Decompresses `descriptor` (a regular file, not closed here) from its first byte, and
    /// keeps the first `prefixCapacity` decompressed bytes. Throws the decoder's message if not
    /// even a capture file's header comes out.
    ///
    /// `streaming`: `descriptor` is a pipe (standard input), read in order with read(2);
    /// `leading` holds its first compressed bytes, already read to recognise the compression.
    public init(descriptor: Int32, compression: CaptureCompression, path: String,
                streaming: Bool = false, leading: [UInt8] = []) throws(CaptureError) {
        self.descriptor = descriptor
        self.compression = compression
        self.streaming = streaming
        // Safe: `input` and `kept` are owned: freed on each throw below, or once in deinit.
        guard let input = unsafe malloc(Self.inputCapacity) else { throw .cannotOpen(path: path, reason: "out of memory") }
        guard let kept = unsafe malloc(Self.prefixCapacity) else {
            unsafe free(input)
            throw .cannotOpen(path: path, reason: "out of memory")
        }
        unsafe self.input = input
        let lead = min(leading.count, Self.inputCapacity)
        // Safe: `lead <= inputCapacity`, the size of `input`, and `leading` holds `lead` bytes.
        unsafe leading.withUnsafeBytes { if let base = $0.baseAddress { unsafe input.copyMemory(from: base, byteCount: lead) } }
        inputEnd = lead
        inputOffset = Int64(lead)
        switch compression {
        case .gzip:
            // Safe: `stream` is ours: zeroed, set up with its own size, ended and freed once (below on failure, else in deinit).
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            unsafe stream.initialize(to: z_stream())
            // 15 + 16: a gzip wrapper, any window size.
            if unsafe inflateInit2_(stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) != Z_OK {
                unsafe stream.deallocate()
                unsafe free(input); unsafe free(kept)
                throw .cannotOpen(path: path, reason: "cannot start the gzip decoder")
            }
            unsafe codec = .gzip(stream)
        case .zstd:
            // Safe: the decoder is ours, freed once in deinit; on failure only the two buffers are freed.
            guard let stream = unsafe ZSTD_createDStream() else {
                unsafe free(input); unsafe free(kept)
                throw .cannotOpen(path: path, reason: "cannot start the zstd decoder")
            }
            unsafe codec = .zstd(stream)
        case .xz:
            // Safe: `stream` is ours: zeroed, ended and freed once (below on failure, else in deinit).
            let stream = UnsafeMutablePointer<lzma_stream>.allocate(capacity: 1)
            // LZMA_STREAM_INIT is all zeros.
            unsafe memset(stream, 0, MemoryLayout<lzma_stream>.size)
            // Concatenated: `cat a.xz b.xz` is one file, as xz -d reads it.
            if unsafe lzma_stream_decoder(stream, UInt64.max, 0x08 /* LZMA_CONCATENATED, a UINT32_C macro Swift does not import */) != LZMA_OK {
                unsafe stream.deallocate()
                unsafe free(input); unsafe free(kept)
                throw .cannotOpen(path: path, reason: "cannot start the xz decoder")
            }
            unsafe codec = .xz(stream)
        }
        // Safe: `kept` holds `prefixCapacity` bytes; each call writes at most the room left after `held`.
        unsafe prefix = UnsafeRawBufferPointer(start: kept, count: 0)
        var held = 0
        while held < Self.prefixCapacity {
            let got = unsafe decompress(into: kept + held, count: Self.prefixCapacity - held)
            if got <= 0 { break }
            held += got
        }
        unsafe prefix = UnsafeRawBufferPointer(start: kept, count: held)
        if held < ClassicPcapRecords.headerBytes, let failure {
            throw .cannotOpen(path: path, reason: failure)
        }
    }

    deinit {
        // Safe: deinit is the one place the decoder and both buffers are freed, each once.
        switch unsafe codec {
        case .gzip(let stream):
            unsafe inflateEnd(stream)
            unsafe stream.deallocate()
        case .zstd(let stream):
            unsafe ZSTD_freeDStream(stream)
        case .xz(let stream):
            unsafe lzma_end(stream)
            unsafe stream.deallocate()
        }
        unsafe free(input)
        unsafe free(UnsafeMutableRawPointer(mutating: prefix.baseAddress))
    }

    /// Compressed bytes consumed by the decoder so far: progress is the compressed file's.
    public var compressedBytesConsumed: Int64 { inputOffset - Int64(inputEnd - inputStart) }

    /// Decompressed bytes at `offset`, as `pread` gives a file's: the count read (0 at the end),
    /// or -1 after a failure (`failure` says why) or a read that does not continue the last.
    package func pread(into target: UnsafeMutableRawPointer, count: Int, at offset: Int64) -> Int {
        guard offset >= 0, count >= 0 else {
            if failure == nil { failure = "\(compression.rawValue): read of \(count) bytes at offset \(offset)" }
            return -1
        }
        // Safe: `0 <= start`, `start + taken <= prefix.count`, and the caller's target has room for `count >= taken`.
        if unsafe offset < Int64(prefix.count), let base = unsafe prefix.baseAddress {
            let start = Int(offset)
            let taken = unsafe min(count, prefix.count - start)
            unsafe target.copyMemory(from: base + start, byteCount: taken)
            return taken
        }
        guard offset == produced else {
            if failure == nil { failure = "\(compression.rawValue): read out of order at offset \(offset)" }
            return -1
        }
        // Safe: the caller's `target` has room for `count` bytes (pread's contract), and no more is written.
        return unsafe decompress(into: target, count: count)
    }

    /// Up to `count` next decompressed bytes: at least one, 0 at the clean end, -1 on failure.
    private func decompress(into target: UnsafeMutableRawPointer, count: Int) -> Int {
        if failure != nil { return -1 }
        if ended || count == 0 { return 0 }
        var stalls = 0
        while true {
            if inputStart == inputEnd && !inputEnded {
                refill()
                if failure != nil { return -1 }
            }
            let finishing = inputEnded && inputStart == inputEnd
            // Safe: `target` has room for `count` bytes (the caller's promise), and `step` writes no more.
            let step = unsafe self.step(into: target, count: count, finishing: finishing)
            inputStart += step.consumed
            if let message = step.failure {
                failure = "\(compression.rawValue) data is damaged: \(message)"
                return -1
            }
            if step.produced > 0 {
                produced += Int64(step.produced)
                return step.produced
            }
            if step.consumed > 0 { stalls = 0; continue }
            if inputStart == inputEnd && inputEnded {
                if atStreamEnd { ended = true; return 0 }
                failure = "\(compression.rawValue) data ends early (the file is truncated)"
                return -1
            }
            stalls += 1
            if stalls > 2 {
                failure = "\(compression.rawValue) decoder makes no progress"
                return -1
            }
        }
    }

    private struct Step {
        var consumed = 0
        var produced = 0
        var failure: String?
    }

    /// One call into the decoder with the buffered input.
    private func step(into target: UnsafeMutableRawPointer, count: Int, finishing: Bool) -> Step {
        // Safe: `inputStart <= inputEnd <= inputCapacity`, so `source` and `available` stay inside `input`.
        let source = unsafe input + inputStart
        let available = inputEnd - inputStart
        // The last member, frame or stream ended with the input: nothing more will come (zstd,
        // asked again, would start waiting for another frame).
        if available == 0 && atStreamEnd { return Step() }
        switch unsafe codec {
        case .gzip(let stream):
            if atStreamEnd {
                // Another member follows (`cat a.gz b.gz`, as gzip -d reads it).
                guard available > 0 else { return Step() }
                // Safe: `stream` is ours until deinit; inflateReset keeps its state's allocations.
                unsafe inflateReset(stream)
                atStreamEnd = false
            }
            // Safe: inflate reads at most `avail_in` bytes from `next_in` and writes at most `avail_out` to `next_out`.
            unsafe stream.pointee.next_in = source.assumingMemoryBound(to: Bytef.self)
            unsafe stream.pointee.avail_in = uInt(available)
            unsafe stream.pointee.next_out = target.assumingMemoryBound(to: Bytef.self)
            unsafe stream.pointee.avail_out = uInt(count)
            let result = unsafe inflate(stream, Z_NO_FLUSH)
            let step = unsafe Step(consumed: available - Int(stream.pointee.avail_in), produced: count - Int(stream.pointee.avail_out))
            switch result {
            case Z_OK, Z_BUF_ERROR:
                return step
            case Z_STREAM_END:
                atStreamEnd = true
                return step
            default:
                // Safe: zlib's `msg` is NULL or a static string, copied at once.
                let message = unsafe stream.pointee.msg.map { unsafe String(cString: $0) } ?? "zlib error \(result)"
                return Step(consumed: step.consumed, produced: 0, failure: message)
            }
        case .zstd(let stream):
            // Safe: zstd reads at most `size` from `src` and writes at most `size` to `dst`, keeping each `pos` within.
            var from = unsafe ZSTD_inBuffer(src: source, size: available, pos: 0)
            var to = unsafe ZSTD_outBuffer(dst: target, size: count, pos: 0)
            let result = unsafe ZSTD_decompressStream(stream, &to, &from)
            if ZSTD_isError(result) != 0 {
                // Safe: ZSTD_getErrorName returns a static string, never NULL.
                return unsafe Step(consumed: from.pos, produced: 0, failure: String(cString: ZSTD_getErrorName(result)))
            }
            // 0: a frame is complete and flushed; the next bytes, if any, start another.
            atStreamEnd = result == 0
            return unsafe Step(consumed: from.pos, produced: to.pos)
        case .xz(let stream):
            // Safe: lzma_code reads at most `avail_in` bytes from `next_in` and writes at most `avail_out` to `next_out`.
            unsafe stream.pointee.next_in = UnsafePointer(source.assumingMemoryBound(to: UInt8.self))
            unsafe stream.pointee.avail_in = available
            unsafe stream.pointee.next_out = target.assumingMemoryBound(to: UInt8.self)
            unsafe stream.pointee.avail_out = count
            let result = unsafe lzma_code(stream, finishing ? LZMA_FINISH : LZMA_RUN)
            let step = unsafe Step(consumed: available - stream.pointee.avail_in, produced: count - stream.pointee.avail_out)
            switch result {
            case LZMA_OK, LZMA_BUF_ERROR:
                return step
            case LZMA_STREAM_END:
                atStreamEnd = true
                return step
            case LZMA_MEM_ERROR:
                return Step(consumed: step.consumed, failure: "out of memory")
            case LZMA_FORMAT_ERROR:
                return Step(consumed: step.consumed, failure: "not in the xz format")
            case LZMA_OPTIONS_ERROR:
                return Step(consumed: step.consumed, failure: "unsupported compression options")
            case LZMA_DATA_ERROR:
                return Step(consumed: step.consumed, failure: "corrupt data")
            default:
                return Step(consumed: step.consumed, failure: "liblzma error \(result.rawValue)")
            }
        }
    }

    /// Reads the next compressed bytes into `input`, after what is left of it.
    private func refill() {
        if inputStart > 0 {
            let left = inputEnd - inputStart
            // Safe: `input[inputStart ..< inputEnd]` is inside the input buffer, moved to its front.
            if left > 0 { unsafe input.copyMemory(from: input + inputStart, byteCount: left) }
            inputStart = 0
            inputEnd = left
        }
        while inputEnd < Self.inputCapacity {
            // Safe: each read lands in `input[inputEnd ..< inputCapacity]`, the room after the held bytes.
            let got = unsafe streaming
                ? Glibc.read(descriptor, input + inputEnd, Self.inputCapacity - inputEnd)
                : Glibc.pread(descriptor, input + inputEnd, Self.inputCapacity - inputEnd, off_t(inputOffset))
            if got > 0 {
                inputEnd += got
                inputOffset += Int64(got)
                return
            } else if got == 0 {
                inputEnded = true
                return
            } else if errno != EINTR {
                failure = "error reading the compressed file: \(systemErrorText(errno))"
                return
            }
        }
    }
}
