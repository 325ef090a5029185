import CPcap
import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The one libpcap adapter for capture files. Nothing outside `Capture` sees a C type: callers get a
// `LinkType`, Strings for messages, and each frame as a `Span<UInt8>` lent from libpcap's buffer.

/// Reads a pcap or pcapng file (or standard input, `-`) through libpcap, nanosecond timestamps.
/// Safe to use: the pcap handle and its buffers live exactly as long as the object.
@safe public final class PcapFileReader {
    /// Records claiming more captured bytes than this are treated as damage. libpcap already
    /// refuses records above its own maximum snapshot length (256 KiB, 16 MiB for some link types);
    /// this is a second, independent bound on what we lend to the decoder.
    public static let maxCaptureLength = 16 * 1024 * 1024

    public let path: String
    /// The link-layer header type (`pcap_datalink`): a pcapng file's first interface's.
    public let dlt: Int32
    /// nil when the decoder does not support this link type.
    public let linkType: LinkType?
    private let handle: OpaquePointer
    var stopRequested = false
    /// Set while a read runs, so that `setFilter` called from its `body` cannot free the program
    /// the read loop is running.
    var reading = false
    /// The compiled filter, freed in deinit.
    private var program: bpf_program?
    /// Records read from the file so far, whether or not they passed the filter.
    public internal(set) var recordsRead: UInt64 = 0

    /// Opens `path` (`-` for standard input). Both classic pcap (microsecond or nanosecond) and
    /// pcapng are accepted; timestamps are delivered in nanoseconds either way.
    public init(path: String) throws(CaptureError) {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard path != "-" else {
            // Safe: `path` is bridged for the call, errors fill at most PCAP_ERRBUF_SIZE bytes; the handle is closed only in deinit.
            guard let opened = unsafe pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO),
                                                                              &errorBuffer) else {
                throw .cannotOpen(path: path, reason: Self.withoutPathPrefix(errorBufferText(errorBuffer), path: path))
            }
            self.path = path
            unsafe handle = opened
            dlt = unsafe pcap_datalink(opened)
            linkType = LinkType(dlt: dlt)
            return
        }
        // The file is opened here rather than by pcap_open_offline: a classic pcap file's records
        // are read by `ClassicPcapRecords` from this descriptor, and libpcap (on a duplicate) only
        // checks the header, gives the link type and snapshot, and compiles the filter. Other
        // formats are read by libpcap through a stream with a 1 MiB buffer: it reads each record
        // with fread, and stdio's default 4 KiB buffer made a read system call every few records.
        // Safe: `path` is bridged for the call; the descriptor is closed on each failure below, or by deinit, or once unneeded.
        let descriptor = unsafe open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            throw .cannotOpen(path: path, reason: systemErrorText(code))
        }
        // Only a regular file is read with pread; a pipe or FIFO (`-r <(tcpdump -w - ...)`) goes
        // to libpcap from its first byte (a failed pread consumes nothing).
        var info = stat()
        // Safe: fstat fills the one `stat` it is given; pread writes at most `$0.count`, the header array's size.
        let regular = unsafe fstat(descriptor, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
        var header = [UInt8](repeating: 0, count: ClassicPcapRecords.headerBytes)
        let headerRead = unsafe regular ? header.withUnsafeMutableBytes { unsafe pread(descriptor, $0.baseAddress, $0.count, 0) } : -1
        if headerRead > 0,
           // Safe: `headerRead` is in 1 ... `header.count` (pread's result), so the slice is inside `header`, lent for the call.
           let compression = unsafe header.withUnsafeBytes({ unsafe CaptureCompression.detect(UnsafeRawBufferPointer(rebasing: $0.prefix(headerRead))) }) {
            let opened: (handle: OpaquePointer, memory: UnsafeMutableRawPointer, source: DecompressedInput)
            do {
                // Safe: the handle, its memory and the decoder come back owned, and are stored below for deinit to free.
                unsafe opened = try unsafe Self.openCompressed(descriptor: descriptor, compression: compression, path: path)
            } catch {
                close(descriptor)
                throw error
            }
            // Safe: stored, the handle, memory and descriptor are freed once by deinit, a throw below included.
            self.path = path
            unsafe handle = opened.handle
            unsafe memory = opened.memory
            dlt = unsafe pcap_datalink(opened.handle)
            linkType = LinkType(dlt: dlt)
            decompressed = unsafe opened.source
            compressedSize = Int64(info.st_size)
            recordDescriptor = descriptor
            // The records are read by our readers from the decompressed stream (libpcap has only
            // the first bytes); from here on, deinit releases everything.
            let prefix = unsafe opened.source.prefix
            if let format = unsafe ClassicPcapRecords.format(of: prefix) {
                // An unsupported link type is refused by the caller (supportedLinkType) as for any file.
                guard linkType != nil else { return }
                records = unsafe ClassicPcapRecords(descriptor: descriptor, swapped: format.swapped, nanoseconds: format.nanoseconds,
                                                    snapshot: pcap_snapshot(opened.handle), decompressed: opened.source)
                if records == nil { throw .cannotOpen(path: path, reason: "out of memory") }
            } else if unsafe PcapngRecords.isPcapng(prefix) {
                pcapng = unsafe PcapngRecords(descriptor: descriptor, decompressed: opened.source)
                if pcapng == nil { throw .cannotOpen(path: path, reason: "out of memory") }
            } else {
                throw .cannotOpen(path: path, reason: "\(compression.rawValue) compressed, in a pcap format plainsight reads only uncompressed (an old or modified pcap); decompress it first")
            }
            return
        }
        // Safe: `header` is lent for each call, and both readers check its count before any load.
        let format = unsafe headerRead == header.count ? header.withUnsafeBytes { unsafe ClassicPcapRecords.format(of: $0) } : nil
        let pcapngFile = unsafe format == nil && headerRead == header.count && header.withUnsafeBytes { unsafe PcapngRecords.isPcapng($0) }
        let duplicate = dup(descriptor)
        // Safe: the stream owns `duplicate` from here: fclose or pcap_close closes it, once.
        guard duplicate >= 0, let stream = unsafe fdopen(duplicate, "rb") else {
            let code = errno
            if duplicate >= 0 { close(duplicate) }
            close(descriptor)
            throw .cannotOpen(path: path, reason: systemErrorText(code))
        }
        var buffer: UnsafeMutableRawPointer? = nil
        if format == nil && !pcapngFile {
            // Safe: setvbuf gets the `streamBufferBytes` just allocated, freed after the stream is closed (below, or in deinit).
            unsafe buffer = malloc(Self.streamBufferBytes)
            if let buffer = unsafe buffer { unsafe setvbuf(stream, buffer.assumingMemoryBound(to: CChar.self), _IOFBF, Self.streamBufferBytes) }
        }
        // Safe: pcap_fopen_offline takes the stream over (closed by pcap_close), or it is closed here on failure.
        guard let opened = unsafe pcap_fopen_offline_with_tstamp_precision(stream, UInt32(PCAP_TSTAMP_PRECISION_NANO),
                                                                     &errorBuffer) else {
            unsafe fclose(stream)
            close(descriptor)
            unsafe free(buffer)
            throw .cannotOpen(path: path, reason: Self.withoutPathPrefix(errorBufferText(errorBuffer), path: path))
        }
        // Safe: stored, the handle is closed in deinit before the stdio buffer its stream uses is freed.
        self.path = path
        unsafe handle = opened
        unsafe memory = buffer
        dlt = unsafe pcap_datalink(opened)
        linkType = LinkType(dlt: dlt)
        // Only the link types the decoder reads: libpcap byte-swaps pseudo-headers of some others.
        if let format, linkType != nil,
           let reader = unsafe ClassicPcapRecords(descriptor: descriptor, swapped: format.swapped,
                                                  nanoseconds: format.nanoseconds, snapshot: pcap_snapshot(opened)) {
            records = reader
            recordDescriptor = descriptor
        } else if pcapngFile, let reader = PcapngRecords(descriptor: descriptor) {
            // Every pcapng file from a path: libpcap has checked its start (its open errors are
            // the messages users know); the records are ours, each with its interface's link type.
            pcapng = reader
            recordDescriptor = descriptor
        } else {
            close(descriptor)
        }
    }

    /// The reader of a pcapng file's records (PcapngRecords), for a regular file or bytes in
    /// memory; nil when libpcap or ClassicPcapRecords reads them.
    var pcapng: PcapngRecords?
    /// The user's filter for a pcapng file read natively, compiled once per link type met:
    /// `programs[i]` is for DLT `programLinkTypes[i]`. Freed in deinit.
    var filterExpression: String?
    // Safe: an empty array; each program appended is freed once, by setInterfaceFilter or deinit.
    var programs: [bpf_program] = unsafe []
    var programLinkTypes: [Int32] = []
    /// Interfaces whose link type the decoder does not read and that carried packets, with their
    /// counts (`readLinkBatches` only): the caller reports them.
    public internal(set) var undecodedInterfaces: [UndecodedInterface] = []

    /// The reader of a classic pcap file's records (nil: libpcap reads them), and the descriptor
    /// it reads, closed in deinit.
    private var records: ClassicPcapRecords?
    private var recordDescriptor: Int32 = -1

    /// A compressed file's decoder (DecompressedInput), and the compressed file's size.
    private var decompressed: DecompressedInput?
    private var compressedSize: Int64?

    /// The compression of the file read (detected from its first bytes), nil for a plain file.
    public var compression: CaptureCompression? { decompressed?.compression }

    /// A compressed file: its decoder, and a libpcap handle that checks the decompressed file
    /// header (and a pcapng file's first blocks) on a copy of the first decompressed bytes, held
    /// in `memory`, which must outlive the handle. The descriptor is not closed here.
    private static func openCompressed(descriptor: Int32, compression: CaptureCompression, path: String) throws(CaptureError)
        -> (handle: OpaquePointer, memory: UnsafeMutableRawPointer, source: DecompressedInput) {
        let source = try DecompressedInput(descriptor: descriptor, compression: compression, path: path)
        // Safe: `prefix` is the decoder's own memory, alive as long as `source`, which the caller keeps.
        let prefix = unsafe source.prefix
        // fmemopen refuses a zero-length buffer; one spare byte it never reads past `count`.
        // Safe: `copy` has room for `prefix.count` bytes (at least one), and the memory stream reads only those.
        guard let copy = unsafe malloc(max(prefix.count, 1)) else { throw .cannotOpen(path: path, reason: "out of memory") }
        if let base = prefix.baseAddress { unsafe copy.copyMemory(from: base, byteCount: prefix.count) }
        guard let stream = unsafe fmemopen(copy, prefix.count, "rb") else {
            unsafe free(copy)
            throw .cannotOpen(path: path, reason: "cannot open a memory stream")
        }
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let opened = unsafe pcap_fopen_offline_with_tstamp_precision(stream, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer) else {
            unsafe fclose(stream)
            unsafe free(copy)
            // A damaged stream that still gave a few bytes: its message says more than libpcap's.
            let reason = source.failure ?? errorBufferText(errorBuffer)
            throw .cannotOpen(path: path, reason: "\(compression.rawValue) compressed: \(reason)")
        }
        return unsafe (opened, copy, source)
    }

    /// The stdio buffer of a capture file's stream.
    static let streamBufferBytes = 1 << 20

    /// Capture bytes held in memory (`init(bytes:name:)`), which libpcap reads through
    /// `fmemopen`, or a file stream's stdio buffer: either must outlive the handle. Freed in
    /// deinit, after `pcap_close`.
    private var memory: UnsafeMutableRawPointer?

    /// Reads a capture held in memory, exactly as a file with the same bytes would be read. `name`
    /// stands for the path in diagnostics. For the engine fuzz target and damaged-capture tests,
    /// which run thousands of captures per second without touching the file system.
    /// `libpcapRecords` makes libpcap read the records even of a classic pcap file, so tests can
    /// compare the two readers.
    public init(bytes: [UInt8], name: String, libpcapRecords: Bool = false) throws(CaptureError) {
        // fmemopen refuses a zero-length buffer; one spare byte it never reads past `count`.
        // Safe: `copy` has room for `bytes.count` bytes (at least one), and the memory stream reads only those.
        guard let copy = unsafe malloc(max(bytes.count, 1)) else { throw .cannotOpen(path: name, reason: "out of memory") }
        unsafe bytes.withUnsafeBytes { source in
            if let base = source.baseAddress { unsafe copy.copyMemory(from: base, byteCount: source.count) }
        }
        guard let stream = unsafe fmemopen(copy, bytes.count, "rb") else {
            unsafe free(copy)
            throw .cannotOpen(path: name, reason: "cannot open a memory stream")
        }
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        // Safe: pcap_fopen_offline takes the stream over (closed by pcap_close), or it is closed here on failure.
        guard let opened = unsafe pcap_fopen_offline_with_tstamp_precision(stream, UInt32(PCAP_TSTAMP_PRECISION_NANO),
                                                                     &errorBuffer) else {
            unsafe fclose(stream)
            unsafe free(copy)
            throw .cannotOpen(path: name, reason: errorBufferText(errorBuffer))
        }
        // Safe: stored, the handle is closed in deinit before `copy`, which its stream and the readers read, is freed.
        path = name
        unsafe handle = opened
        unsafe memory = copy
        dlt = unsafe pcap_datalink(opened)
        linkType = LinkType(dlt: dlt)
        let whole = unsafe UnsafeRawBufferPointer(start: copy, count: bytes.count)
        if !libpcapRecords, linkType != nil, let format = unsafe ClassicPcapRecords.format(of: whole) {
            records = unsafe ClassicPcapRecords(memory: whole, swapped: format.swapped, nanoseconds: format.nanoseconds,
                                                snapshot: pcap_snapshot(opened))
        } else if !libpcapRecords, unsafe PcapngRecords.isPcapng(whole) {
            pcapng = unsafe PcapngRecords(memory: whole)
        }
    }

    deinit {
        // Safe: the one place each resource is freed, once: programs, reader buffers, descriptor,
        // then the handle before the memory its stream reads.
        if var compiled = unsafe program { unsafe pcap_freecode(&compiled) }
        for index in unsafe programs.indices { unsafe pcap_freecode(&programs[index]) }
        records?.release()
        pcapng?.release()
        if recordDescriptor >= 0 { close(recordDescriptor) }
        unsafe pcap_close(handle)
        unsafe free(memory)
    }

    /// libpcap's name for the link type (`EN10MB`, `LINUX_SLL2`, ...), or `unknown`.
    public var linkTypeName: String {
        // Safe: libpcap returns a static string or NULL, copied at once.
        guard let name = unsafe pcap_datalink_val_to_name(dlt) else { return "unknown" }
        return unsafe String(cString: name)
    }

    /// The link type, or `CaptureError.unsupportedLinkType`. For a pcapng file read natively
    /// (`linkTypePerRecord`) this is its first interface's; each record has its own.
    public func supportedLinkType() throws(CaptureError) -> LinkType {
        guard let linkType else { throw .unsupportedLinkType(path: path, dlt: dlt, name: linkTypeName) }
        return linkType
    }

    /// Compiles `expression` for this file's link type (optimised, netmask unknown) and uses it
    /// for the rest of the read.
    ///
    /// The program is run by `read` through `pcap_offline_filter` rather than installed with
    /// `pcap_setfilter`: it is the same work libpcap would do inside `pcap_next_ex`, but every
    /// record then comes back to our loop, so progress keeps moving through long stretches of
    /// traffic the filter drops (a capture that is mostly non-mail).
    ///
    /// A pcapng file read natively has a program per link type: those of the interfaces
    /// described before its first packet are compiled here, later ones when they appear.
    public func setFilter(_ expression: String) throws(CaptureError) {
        guard !reading else { throw .badFilter(path: path, expression: expression, reason: "the filter cannot change during a read") }
        if pcapng != nil { return try setInterfaceFilter(expression) }
        // Safe: `handle` is open until deinit; no read is running (checked above), so the old program can be freed.
        var compiled = unsafe bpf_program()
        guard unsafe pcap_compile(handle, &compiled, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw .badFilter(path: path, expression: expression, reason: lastError)
        }
        if var previous = unsafe program { unsafe pcap_freecode(&previous) }
        unsafe program = compiled
    }

    /// Size of the file in bytes (compressed, for a compressed file); nil for standard input, pipes and other non-regular files.
    public var fileSize: Int64? {
        if let compressedSize { return compressedSize }
        // Safe: `handle` is open until deinit; pcap_file gives its stream (NULL if none), only queried here.
        guard path != "-", let file = unsafe pcap_file(handle) else { return nil }
        var info = stat()
        guard unsafe fstat(fileno(file), &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int64(info.st_size)
    }

    /// Bytes of the file consumed so far, for progress; nil for standard input.
    public var bytesConsumed: Int64? {
        // A compressed file's progress is in its own (compressed) bytes, as its size is.
        if let decompressed { return decompressed.compressedBytesConsumed }
        if let records { return records.bytesConsumed }
        if let pcapng { return pcapng.bytesConsumed }
        // Safe: `handle` is open until deinit; pcap_file gives its stream (NULL if none), only queried here.
        guard path != "-", let file = unsafe pcap_file(handle) else { return nil }
        let offset = unsafe ftello(file)
        return offset >= 0 ? Int64(offset) : nil
    }

    /// Cuts the reads of a classic pcap file's records short (the refill fuzz target compares
    /// what comes out with the same file read from memory). False when nothing reads the
    /// records from a file: libpcap reads them, or the capture is in memory already.
    package func cutReads(_ reads: ShortReads) -> Bool {
        guard recordDescriptor >= 0, records != nil else { return false }
        records?.shortReads = reads
        return true
    }

    /// Makes `read` return `.stopped` after the current record (`readBatches`: batch).
    public func stop() { stopRequested = true }

    /// Capture time of the last record read, whether or not the filter kept it.
    public internal(set) var lastRecordTime: Timestamp?

    /// Delivers every record that passes the filter to `body`, until the end of the file, damage,
    /// or `stop()`. The span points into the reader's buffer and is valid only during the call.
    /// `onTick` runs after every `tickInterval` records read (filtered or not), for progress.
    public func read(tickInterval: UInt64 = 4096, onTick: () -> Void = {},
                     _ body: (Span<UInt8>, Timestamp) -> Void) -> ReadEnd {
        // Safe: `batch` is lent for the call; `extracting` checks each record's range against `frames`.
        unsafe readBatches(tickInterval: tickInterval, onTick: onTick) { frames, batch in
            for unsafe record in unsafe batch { body(frames.extracting(record.start..<(record.start + record.count)), record.time) }
        }
    }

    /// `read`, with the records handed over in batches: each `FrameRecord` locates one frame in
    /// the span, which is valid only during the call. A classic pcap file gives up to
    /// `batchCapacity` records a call (as many as its buffer holds); libpcap gives one.
    ///
    /// A pcapng file read natively delivers every record here, whatever its interface's link
    /// type; `readLinkBatches` says which link type each batch has.
    package func readBatches(tickInterval: UInt64 = 4096, onTick: () -> Void = {},
                             _ body: (Span<UInt8>, UnsafeBufferPointer<FrameRecord>) -> Void) -> ReadEnd {
        reading = true
        defer { reading = false }
        // Safe: each reader lends `body` its buffer and batch for the call only, and checks the records against the buffer.
        if records != nil { return unsafe readClassic(tickInterval: tickInterval, onTick: onTick, body) }
        if pcapng != nil {
            return unsafe readPcapng(tickInterval: tickInterval, onTick: onTick, decodableOnly: false) { frames, batch, _ in
                unsafe body(frames, batch)
            }
        }
        var header: UnsafeMutablePointer<pcap_pkthdr>? = nil
        var data: UnsafePointer<UInt8>? = nil
        // Safe: `filter` shares `program`'s instructions, which only deinit or setFilter frees, and setFilter refuses during a read.
        let filtering = unsafe program != nil
        var filter = unsafe program ?? bpf_program()
        let interval = max(tickInterval, 1)
        var untilTick = interval
        while !stopRequested {
            // Safe: `handle` is open until deinit; on 1, `header` and `data` point at a record lent until the next call.
            let result = unsafe pcap_next_ex(handle, &header, &data)
            switch result {
            case 1:
                guard let header = unsafe header, let bytes = unsafe data else { continue }
                recordsRead &+= 1
                untilTick -= 1
                if untilTick == 0 { untilTick = interval; onTick() }
                let record = unsafe header.pointee
                let length = Int(record.caplen)
                guard length <= Self.maxCaptureLength else {
                    return .error("record \(recordsRead): captured length \(length) is larger than \(Self.maxCaptureLength)")
                }
                // With PCAP_TSTAMP_PRECISION_NANO, tv_usec holds nanoseconds.
                let time = Timestamp(nanoseconds: Int64(record.ts.tv_sec) &* 1_000_000_000 &+ Int64(record.ts.tv_usec))
                // Kept for filtered-out records too: the capture's clock, not the wall clock, dates
                // the end of a replay, so its output is the same every run.
                lastRecordTime = time
                // Safe: BPF reads at most the header's `caplen` bytes, those pcap_next_ex lent at `bytes`.
                if unsafe filtering && pcap_offline_filter(&filter, header, bytes) == 0 { continue }
                var one = FrameRecord(start: 0, count: length, time: time, number: recordsRead)
                // Safe: libpcap lends `caplen` bytes at `bytes` until the next pcap_next_ex; `one` outlives the call.
                unsafe withUnsafePointer(to: &one) { unsafe body(UnsafeBufferPointer(start: bytes, count: length).span,
                                                                 UnsafeBufferPointer(start: $0, count: 1)) }
            case 0, PCAP_ERROR_BREAK:
                // 0 is a live-capture timeout; a file never returns it, so treat it as the end.
                return .endOfFile
            default:
                return .error(lastError)
            }
        }
        return .stopped
    }

    /// Records a batch holds at most.
    public static let batchCapacity = 32

    /// `readBatches` for a classic pcap file: records from `ClassicPcapRecords`, batched while
    /// they are all in its buffer (a refill moves the buffer's bytes, so it ends a batch).
    private func readClassic(tickInterval: UInt64, onTick: () -> Void,
                             _ body: (Span<UInt8>, UnsafeBufferPointer<FrameRecord>) -> Void) -> ReadEnd {
        // Safe: the classic reader's buffer is never moved or freed during a read (a refill copies within it), so `bytes` stays valid.
        guard var reader = records, let base = unsafe reader.buffer.baseAddress else { return .endOfFile }
        // The reader is advanced as a local and stored back before every tick (progress reads
        // `bytesConsumed`) and at the end.
        defer { records = reader }
        let bytes = unsafe base.assumingMemoryBound(to: UInt8.self)
        // Safe: `batch` holds `batchCapacity` records, freed once by the defer; `count` stays below it (full flushes).
        let batch = UnsafeMutablePointer<FrameRecord>.allocate(capacity: Self.batchCapacity)
        defer { unsafe batch.deallocate() }
        var count = 0
        func flush() {
            guard count > 0 else { return }
            // Safe: the buffer's filled bytes, lent for the call; the batch's records all lie inside them.
            unsafe body(UnsafeBufferPointer(start: bytes, count: reader.bufferedBytes).span,
                        UnsafeBufferPointer(start: batch, count: count))
            count = 0
        }
        // Safe: `filter` shares `program`'s instructions, which only deinit or setFilter frees, and setFilter refuses during a read.
        let filtering = unsafe program != nil
        var filter = unsafe program ?? bpf_program()
        var header = pcap_pkthdr()
        let interval = max(tickInterval, 1)
        var untilTick = interval
        while !stopRequested {
            // Without a filter every record is kept: the buffered ones are taken a batch at a
            // time, up to the batch's end or the next tick, and counted, timed and ticked once
            // for all of them. Only `body` and `onTick` can stop the read, and they run where
            // they did, so batches, ticks and counts are those of the loop below.
            if !filtering {
                let room = min(Self.batchCapacity &- count, Int(clamping: untilTick))
                // Safe: `room` is at most the `batchCapacity - count` slots left, and `taken > 0` below before the last is read.
                let taken = unsafe reader.takeBuffered(into: batch + count, limit: room, firstNumber: recordsRead &+ 1)
                if taken > 0 {
                    count &+= taken
                    recordsRead &+= UInt64(taken)
                    lastRecordTime = unsafe batch[count &- 1].time
                    if count == Self.batchCapacity { flush() }
                    untilTick -= UInt64(taken)
                    if untilTick == 0 {
                        untilTick = interval
                        flush()
                        records = reader
                        onTick()
                    }
                    continue
                }
            }
            switch reader.next(refill: count == 0) {
            case .record(let record):
                recordsRead &+= 1
                let fraction = reader.nanoseconds ? Int64(record.fraction) : Int64(record.fraction) &* 1000
                let time = Timestamp(nanoseconds: Int64(record.seconds) &* 1_000_000_000 &+ fraction)
                lastRecordTime = time
                var kept = true
                if filtering {
                    // BPF sees the lengths and the bytes, never the timestamp.
                    header.caplen = record.capturedLength
                    header.len = record.wireLength
                    // Safe: the reader handed out the record only once its data was inside the buffer.
                    kept = unsafe pcap_offline_filter(&filter, &header, bytes + record.dataStart) != 0
                }
                if kept {
                    // Safe: `count` is below `batchCapacity`: a full batch is flushed at once.
                    unsafe batch[count] = FrameRecord(start: record.dataStart, count: Int(record.capturedLength), time: time,
                                                      number: recordsRead)
                    count += 1
                    if count == Self.batchCapacity { flush() }
                }
                untilTick -= 1
                if untilTick == 0 {
                    untilTick = interval
                    flush()
                    records = reader
                    onTick()
                }
            case .notBuffered:
                flush()
            case .endOfFile:
                flush()
                return .endOfFile
            case .error(let message):
                flush()
                return .error(message)
            }
        }
        flush()
        return .stopped
    }

    private var lastError: String {
        // Safe: `handle` is open until deinit; pcap_geterr points into it and the text is copied at once.
        guard let message = unsafe pcap_geterr(handle) else { return "unknown libpcap error" }
        return unsafe String(cString: message)
    }

    /// libpcap often starts its open errors with the path (`x.pcap: No such file or directory`);
    /// the caller already names the file.
    private static func withoutPathPrefix(_ message: String, path: String) -> String {
        let prefix = path + ": "
        guard message.hasPrefix(prefix) else { return message }
        return String(message.dropFirst(prefix.count))
    }
}
