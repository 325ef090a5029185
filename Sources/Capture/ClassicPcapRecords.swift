import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The record stream of a classic pcap file (version 2.4, microsecond or nanosecond magic, either
/// byte order), read with `pread` into one buffer and lent to the caller in place.
///
/// libpcap reads each record with two `fread` calls through stdio, which copies every byte twice
/// (kernel to stdio's buffer, stdio's buffer to libpcap's); here each byte is copied once, by the
/// kernel, and records are parsed where they landed. On a capture of short packets that halves
/// the time spent reading. Not `mmap`: a file truncated while it is read would kill the process
/// with SIGBUS, where `pread` just returns less.
///
/// The checks and messages are libpcap's (sf-pcap.c, `pcap_next_packet`), so a damaged file ends
/// at the same record with the same error either way; the reader's tests compare the two.
/// Safe to use: it owns its window, and every record it hands out was checked to lie inside it.
@safe struct ClassicPcapRecords {
    /// One record: the captured bytes are `buffer[dataStart ..< dataStart + capturedLength]`.
    struct Record {
        var seconds: Int32
        var fraction: Int32
        var capturedLength: UInt32
        var wireLength: UInt32
        var dataStart: Int
    }

    enum Next {
        case record(Record)
        case endOfFile
        case error(String)
        /// `next(refill: false)`: the next record is not wholly in the buffer.
        case notBuffered
    }

    /// libpcap's `max_snaplen_for_dlt` for every link type the decoder supports.
    static let maximumSnapshot: UInt32 = 262_144
    static let headerBytes = 24
    static let recordHeaderBytes = 16
    /// Large enough for the largest record libpcap accepts plus its header.
    static let bufferBytes = 512 * 1024

    /// Byte order and timestamp unit from the file header, or nil when libpcap must read the file
    /// (pcapng, a modified or an old pcap format).
    static func format(of header: UnsafeRawBufferPointer) -> (swapped: Bool, nanoseconds: Bool)? {
        guard header.count >= headerBytes else { return nil }
        // Safe: the 24-byte file header was checked to be there just above.
        let magic = unsafe header.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        let major = unsafe header.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
        let minor = unsafe header.loadUnaligned(fromByteOffset: 6, as: UInt16.self)
        let micro: UInt32 = 0xA1B2_C3D4, nano: UInt32 = 0xA1B2_3C4D
        let swapped: Bool, nanoseconds: Bool
        switch magic {
        case micro: (swapped, nanoseconds) = (false, false)
        case nano: (swapped, nanoseconds) = (false, true)
        case micro.byteSwapped: (swapped, nanoseconds) = (true, false)
        case nano.byteSwapped: (swapped, nanoseconds) = (true, true)
        default: return nil
        }
        // 2.3 and older may have the two lengths swapped; libpcap guesses, and keeps that path.
        let version = swapped ? (major.byteSwapped, minor.byteSwapped) : (major, minor)
        guard version == (2, 4) else { return nil }
        return (swapped, nanoseconds)
    }

    let swapped: Bool
    let nanoseconds: Bool
    /// libpcap's snapshot length for the file (`pcap_snapshot`): longer records are cut to it.
    let snapshot: UInt32
    /// A descriptor read with `pread`, or -1 when the whole capture is in `buffer` already.
    private let descriptor: Int32
    /// A compressed file's decompressor, read in place of the descriptor (DecompressedInput).
    private var decompressed: DecompressedInput?
    /// Owned: `bufferBytes` from malloc for a descriptor, the caller's memory otherwise.
    private(set) var buffer: UnsafeRawBufferPointer
    private let ownsBuffer: Bool
    /// Valid bytes in `buffer`, and where the next record header starts.
    private var filled = 0
    private var position = 0
    /// File offset of `buffer[0]`.
    private var bufferOffset: Int64 = 0
    private var endOfInput = false
    private var readError: Int32 = 0
    /// Cuts each read short (the refill fuzz target); by default a read asks for all the room left.
    var shortReads = ShortReads()

    /// Reads from `descriptor` (not closed here) starting at file offset `headerBytes`.
    init?(descriptor: Int32, swapped: Bool, nanoseconds: Bool, snapshot: Int32, decompressed: DecompressedInput? = nil) {
        // Safe: `bufferBytes` from malloc, owned by this reader and freed once, by `release` from the owner's deinit.
        guard let memory = unsafe malloc(Self.bufferBytes) else { return nil }
        self.descriptor = descriptor
        self.decompressed = decompressed
        unsafe buffer = UnsafeRawBufferPointer(start: memory, count: Self.bufferBytes)
        ownsBuffer = true
        bufferOffset = Int64(Self.headerBytes)
        self.swapped = swapped
        self.nanoseconds = nanoseconds
        self.snapshot = UInt32(clamping: max(snapshot, 0))
    }

    /// Reads a whole capture held in memory (which must outlive this reader).
    init(memory: UnsafeRawBufferPointer, swapped: Bool, nanoseconds: Bool, snapshot: Int32) {
        descriptor = -1
        // Safe: the caller's memory, which it frees only after `release`, so it outlives every record lent from it.
        unsafe buffer = memory
        ownsBuffer = false
        filled = memory.count
        position = min(Self.headerBytes, memory.count)
        endOfInput = true
        self.swapped = swapped
        self.nanoseconds = nanoseconds
        self.snapshot = UInt32(clamping: max(snapshot, 0))
    }

    func release() {
        // Safe: only the buffer this reader allocated, and only once: the owner calls `release` from its deinit.
        if ownsBuffer { unsafe free(UnsafeMutableRawPointer(mutating: buffer.baseAddress)) }
    }

    /// File bytes consumed: every record handed out, and the file header.
    var bytesConsumed: Int64 { bufferOffset + Int64(position) }

    /// Bytes of `buffer` holding data read from the file.
    var bufferedBytes: Int { filled }

    /// The next record. Its bytes stay valid until a call that refills the buffer: with
    /// `refill: false` none does, so the records of several calls can be used together.
    ///
    /// A record wholly in the buffer is taken here, inlined into the read loop; the rest (a
    /// refill, the end, a damaged header) in `nextSlowly`, so that the common record does not
    /// pay for a call.
    @inline(__always)
    mutating func next(refill: Bool = true) -> Next {
        let at = position
        // Safe: `buffer` is valid until `release`, with `position <= filled <= buffer.count`.
        if filled - at >= Self.recordHeaderBytes, let base = unsafe buffer.baseAddress {
            // Safe: the 16-byte record header at `at` is inside `filled`, checked just above; its data is checked next.
            var captured = unsafe base.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self)
            if swapped { captured = captured.byteSwapped }
            // Within the maximum, a record fits the buffer; the length checks stay with the slow path.
            if captured <= Self.maximumSnapshot && filled - at >= Self.recordHeaderBytes + Int(captured) {
                var seconds = unsafe base.loadUnaligned(fromByteOffset: at, as: UInt32.self)
                var fraction = unsafe base.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)
                var wire = unsafe base.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self)
                if swapped { seconds = seconds.byteSwapped; fraction = fraction.byteSwapped; wire = wire.byteSwapped }
                position = at + Self.recordHeaderBytes + Int(captured)
                return .record(Record(seconds: Int32(bitPattern: seconds), fraction: Int32(bitPattern: fraction),
                                      capturedLength: min(captured, snapshot), wireLength: wire,
                                      dataStart: at + Self.recordHeaderBytes))
            }
        }
        return nextSlowly(refill: refill)
    }

    /// Takes the records that follow, as long as each is wholly in the buffer and within
    /// libpcap's maximum, into `out[0 ..< limit]` as frames (data start, length cut to the
    /// snapshot, nanosecond time); returns how many. It stops before anything `next` would
    /// refill for or reject, so the caller continues with `next` and libpcap's checks and
    /// messages are unchanged. The wire length is not read: only the filter needs it.
    ///
    /// One tight loop per batch instead of `next` per record: the position and fill stay in
    /// registers, the byte order is fixed per loop, and no check can overflow (every offset is
    /// within the buffer), which makes it a fraction of the cost of `next` per record.
    /// `firstNumber` is the file's record number (`FrameRecord.number`) of the first one taken.
    mutating func takeBuffered(into out: UnsafeMutablePointer<FrameRecord>, limit: Int, firstNumber: UInt64) -> Int {
        // Safe: the caller gives `limit` writable slots at `out`, and `take` writes at most that many.
        unsafe swapped ? take(into: out, limit: limit, firstNumber: firstNumber, swapped: true)
            : take(into: out, limit: limit, firstNumber: firstNumber, swapped: false)
    }

    @inline(__always)
    private mutating func take(into out: UnsafeMutablePointer<FrameRecord>, limit: Int, firstNumber: UInt64,
                               swapped: Bool) -> Int {
        // Safe: `next` stays in `out ..< out + limit`, the caller's slots; each load is inside `filled` (loop condition).
        guard let base = unsafe buffer.baseAddress else { return 0 }
        // One multiply for the fraction, by a factor fixed for the file, instead of two and a select.
        let scale: Int64 = nanoseconds ? 1 : 1000
        let snapshot = self.snapshot, filled = self.filled
        var at = position, next = unsafe out
        var number = firstNumber
        let last = unsafe out + limit
        // `at <= filled <= buffer.count` throughout, so the wrapping operations below cannot wrap.
        while unsafe next < last && filled &- at >= Self.recordHeaderBytes {
            // Safe: the loop condition put the 16-byte header inside `filled`; the data is checked before it is taken.
            var captured = unsafe base.loadUnaligned(fromByteOffset: at &+ 8, as: UInt32.self)
            if swapped { captured = captured.byteSwapped }
            let start = at &+ Self.recordHeaderBytes
            let end = start &+ Int(captured)
            guard captured <= Self.maximumSnapshot && end <= filled else { break }
            var seconds = unsafe base.loadUnaligned(fromByteOffset: at, as: UInt32.self)
            var fraction = unsafe base.loadUnaligned(fromByteOffset: at &+ 4, as: UInt32.self)
            if swapped { seconds = seconds.byteSwapped; fraction = fraction.byteSwapped }
            let time = Int64(Int32(bitPattern: seconds)) &* 1_000_000_000 &+ Int64(Int32(bitPattern: fraction)) &* scale
            unsafe next.initialize(to: FrameRecord(start: start, count: Int(min(captured, snapshot)),
                                                   time: Timestamp(nanoseconds: time), number: number))
            number &+= 1
            unsafe next += 1
            at = end
        }
        position = at
        return unsafe next - out
    }

    @inline(never)
    private mutating func nextSlowly(refill: Bool) -> Next {
        let available = filled - position
        if available < Self.recordHeaderBytes {
            if !refill && !endOfInput { return .notBuffered }
            fill(atLeast: Self.recordHeaderBytes)
            let now = filled - position
            if now < Self.recordHeaderBytes {
                if let failure = failure() { return .error(failure) }
                if now == 0 { return .endOfFile }
                return .error("truncated dump file; tried to read \(Self.recordHeaderBytes) header bytes, only got \(now)")
            }
        }
        let at = position
        // Safe: at least 16 bytes from `at` are held, checked or filled just above.
        var seconds = unsafe buffer.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        var fraction = unsafe buffer.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)
        var captured = unsafe buffer.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self)
        var wire = unsafe buffer.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self)
        if swapped {
            seconds = seconds.byteSwapped; fraction = fraction.byteSwapped
            captured = captured.byteSwapped; wire = wire.byteSwapped
        }
        if captured > Self.maximumSnapshot {
            if captured > snapshot {
                return .error("invalid packet capture length \(captured), bigger than snaplen of \(snapshot)")
            }
            return .error("invalid packet capture length \(captured), bigger than maximum of \(Self.maximumSnapshot)")
        }
        // Within the maximum, both fit the buffer together.
        let recordBytes = Self.recordHeaderBytes + Int(captured)
        if filled - position < recordBytes {
            if !refill && !endOfInput { return .notBuffered }
            fill(atLeast: recordBytes)
            let got = filled - position - Self.recordHeaderBytes
            if got < Int(captured) {
                if let failure = failure() { return .error(failure) }
                // libpcap first reads up to the snapshot and names it if even that falls short.
                let tried = captured > snapshot && got < Int(snapshot) ? snapshot : captured
                return .error("truncated dump file; tried to read \(tried) captured bytes, only got \(got)")
            }
        }
        let start = position + Self.recordHeaderBytes
        position += recordBytes
        return .record(Record(seconds: Int32(bitPattern: seconds), fraction: Int32(bitPattern: fraction),
                              capturedLength: min(captured, snapshot), wireLength: wire, dataStart: start))
    }

    private func failure() -> String? {
        guard readError != 0 else { return nil }
        if let message = decompressed?.failure { return "error reading dump file: \(message)" }
        return "error reading dump file: \(systemErrorText(readError))"
    }

    /// Moves the unread tail to the front and reads until `count` bytes from `position` are held,
    /// or the file ends.
    private mutating func fill(atLeast count: Int) {
        // Safe: with a descriptor the buffer is the malloc'd one this reader owns, so writing to it is allowed.
        guard !endOfInput, descriptor >= 0, let base = unsafe buffer.baseAddress else { return }
        let target = unsafe UnsafeMutableRawPointer(mutating: base)
        let tail = filled - position
        if position > 0 {
            // Safe: the tail is `buffer[position ..< filled]`, moved to the front of the same buffer.
            if tail > 0 { unsafe target.copyMemory(from: base + position, byteCount: tail) }
            bufferOffset += Int64(position)
            position = 0
            filled = tail
        }
        while filled < count {
            let offset = bufferOffset + Int64(filled)
            let room = shortReads.size(room: unsafe buffer.count - filled)
            // Safe: `filled + room <= buffer.count`, so the read lands inside the buffer.
            let got = unsafe decompressed?.pread(into: target + filled, count: room, at: offset)
                ?? pread(descriptor, target + filled, room, off_t(offset))
            if got > 0 {
                filled += got
            } else if got == 0 {
                endOfInput = true
                return
            } else if decompressed != nil || errno != EINTR {
                readError = decompressed != nil ? EIO : errno
                endOfInput = true
                return
            }
        }
    }
}

/// Read sizes cut short at chosen places, as a pipe, a slow disk or a signal can cut them, so the
/// refill path can be driven through every split of a record header and its data.
package struct ShortReads {
    /// The largest read asked for; 0: no limit.
    var largest: Int
    /// Picks each read's size in `1 ... largest`.
    var state: UInt64

    /// No limit: every read asks for all the room there is.
    package init() { largest = 0; state = 0 }

    /// Reads of 1 to `largest` bytes, in an order that `seed` fixes.
    package init(largest: Int, seed: UInt64) {
        self.largest = max(largest, 1)
        state = seed | 1
    }

    mutating func size(room: Int) -> Int {
        guard largest > 0 else { return room }
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return min(room, 1 + Int(state % UInt64(largest)))
    }
}

