import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The packet records of a pcapng file, read with `pread` into one buffer and lent in place, each
/// with the interface it was captured on: that interface's link type, snapshot length and
/// timestamp resolution and offset.
///
/// libpcap (1.10) reads pcapng only while every interface has the link type and snapshot length
/// of the first; a file written by `dumpcap -i eth0 -i any -i tun0` ends with "an interface has a
/// type ... different from the type of the first interface" before its first packet. Here each
/// interface keeps its own, so that file reads whole.
///
/// Everything else is libpcap's (sf-pcapng.c, `read_block` and `pcap_ng_next_packet`): the same
/// checks in the same order with the same messages, the same timestamp arithmetic (including its
/// wrap-arounds), so a file libpcap can read gives the same records and a damaged one ends at the
/// same block with the same error; the reader's tests compare the two. Two deliberate
/// differences, both on files libpcap refuses: interfaces may differ (link type, snapshot), and a
/// later section may switch byte order (the pcapng specification allows it; libpcap stops).
///
/// libpcap has opened the file before this reader starts (PcapFileReader), so the first section
/// header and the blocks up to the first interface have passed its checks already.
/// Safe to use: it owns its window, and every block it hands out was checked to lie inside it.
@safe struct PcapngRecords {
    /// One interface of the current section.
    struct Interface {
        /// libpcap's DLT_ value (LINKTYPE_RAW 101 becomes DLT_RAW 12, as `pcap_datalink` says).
        var dlt: Int32
        /// nil: the decoder does not read this link type.
        var link: LinkType?
        /// The IDB's snapshot length, adjusted as libpcap does (0 or too large: the maximum).
        var snapshot: UInt32
        /// Timestamp units per second (`if_tsresol`), and how a fraction becomes nanoseconds.
        var resolution: UInt64
        var scale: Scale
        /// Seconds added to every timestamp (`if_tsoffset`).
        var offset: Int64
        /// Set by the owner: the index of this link type's compiled filter (-1 not yet), and of
        /// this interface's count of records not decoded (-1 none yet).
        var filterSlot = -1
        var undecodedSlot = -1
    }

    /// libpcap's `tstamp_scale_type_t` for a caller asking for nanoseconds.
    enum Scale {
        case passThrough
        case upDecimal(UInt64)
        case downDecimal(UInt64)
        case binary
    }

    /// One packet: the captured bytes are `buffer[dataStart ..< dataStart + capturedLength]`.
    struct Record {
        var interface: Int
        var capturedLength: UInt32
        var wireLength: UInt32
        var dataStart: Int
        var time: Timestamp
    }

    enum Next {
        case record(Record)
        case endOfFile
        case error(String)
        /// `next(refill: false)`: the next block is not wholly in the buffer.
        case notBuffered
    }

    static let sectionHeaderType: UInt32 = 0x0A0D_0D0A
    static let byteOrderMagic: UInt32 = 0x1A2B_3C4D
    /// libpcap's INITIAL_MAX_BLOCKSIZE: larger blocks are refused. For every link type it knows
    /// but three, a block holding a packet of the maximum snapshot is smaller, so the limit stays.
    static let maximumBlock: UInt32 = 16 * 1024 * 1024
    /// Holds any block a capture of ordinary packets has; a larger one grows it (up to the maximum).
    static let bufferBytes = 512 * 1024

    /// The link-layer types of the interfaces described before the first packet of `prefix` (the
    /// start of a pcapng file), as DLT_ values, in order. dumpcap and tshark write every interface
    /// there, so a filter can be compiled for them before any packet is read; interfaces that
    /// appear later are compiled for when they appear. Stops quietly at anything it cannot read:
    /// the reader reports damage where it finds it.
    static func leadingLinkTypes(of prefix: UnsafeRawBufferPointer) -> [Int32] {
        var found: [Int32] = []
        guard prefix.count >= 12 else { return found }
        // Safe: each load lies in the first 12 bytes of a block, which the checks put inside `prefix`.
        var swapped = unsafe prefix.loadUnaligned(fromByteOffset: 8, as: UInt32.self) != byteOrderMagic
        var at = 0
        while prefix.count - at >= 12 {
            var type = unsafe prefix.loadUnaligned(fromByteOffset: at, as: UInt32.self)
            if type == sectionHeaderType {
                let magic = unsafe prefix.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self)
                if magic == byteOrderMagic { swapped = false } else if magic == byteOrderMagic.byteSwapped { swapped = true }
            }
            var length = unsafe prefix.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)
            if swapped { type = type.byteSwapped; length = length.byteSwapped }
            guard length >= 12, length % 4 == 0, Int(length) <= prefix.count - at else { break }
            if type == 2 || type == 3 || type == 6 { break }
            if type == 1 && length >= 20 {
                var linktype = unsafe prefix.loadUnaligned(fromByteOffset: at + 8, as: UInt16.self)
                if swapped { linktype = linktype.byteSwapped }
                let dlt = dltForLinktype(Int32(linktype))
                if !found.contains(dlt) { found.append(dlt) }
            }
            at += Int(length)
        }
        return found
    }

    /// `leadingLinkTypes(of:)` for this reader's file, from its first 256 KiB.
    func leadingLinkTypes() -> [Int32] {
        // Safe: each is lent for the call: the whole capture, the decoder's prefix, or the `got` bytes pread wrote (at most `count`).
        if descriptor < 0 { return unsafe Self.leadingLinkTypes(of: buffer) }
        if let decompressed { return unsafe Self.leadingLinkTypes(of: decompressed.prefix) }
        let count = 256 * 1024
        guard let scratch = unsafe malloc(count) else { return [] }
        defer { unsafe free(scratch) }
        let got = unsafe pread(descriptor, scratch, count, 0)
        guard got > 0 else { return [] }
        return unsafe Self.leadingLinkTypes(of: UnsafeRawBufferPointer(start: scratch, count: got))
    }

    /// libpcap's `linktype_to_dlt` for the LINKTYPE_ values whose DLT_ differs on Linux.
    static func dltForLinktype(_ linktype: Int32) -> Int32 {
        switch linktype {
        case 100: return 11     // ATM_RFC1483
        case 101: return 12     // RAW
        case 102: return 15     // SLIP_BSDOS
        case 103: return 16     // PPP_BSDOS
        default: return linktype
        }
    }

    /// libpcap's `max_snaplen_for_dlt`.
    static func maximumSnapshot(dlt: Int32) -> UInt32 {
        switch dlt {
        case 231: return 128 * 1024 * 1024  // DBUS
        case 279: return 8 * 1024 * 1024    // EBHSCR
        case 249: return 1024 * 1024        // USBPCAP
        default: return 262_144
        }
    }

    private(set) var interfaces: [Interface] = []
    /// Interfaces described so far (all sections) whose link type the decoder reads.
    private(set) var decodableInterfaces = 0
    /// Sections started so far (the first is 1).
    private(set) var section = 0
    private var swapped: Bool
    /// The first block is the section header libpcap checked when it opened the file (it checks
    /// it differently: no trailer, a 1 MiB limit); it is skipped, not checked again.
    private var atFirstBlock = true
    /// A descriptor read with `pread`, or -1 when the whole capture is in `buffer` already.
    private let descriptor: Int32
    /// A compressed file's decompressor, read in place of the descriptor (DecompressedInput).
    private var decompressed: DecompressedInput?
    /// Owned: malloc'd for a descriptor (grown for a large block), the caller's memory otherwise.
    private(set) var buffer: UnsafeRawBufferPointer
    private let ownsBuffer: Bool
    /// Valid bytes in `buffer`, and where the next block starts.
    private var filled = 0
    private var position = 0
    /// File offset of `buffer[0]`.
    private var bufferOffset: Int64 = 0
    private var endOfInput = false
    private var readError: Int32 = 0

    /// Reads from `descriptor` (not closed here) from its first byte.
    init?(descriptor: Int32, decompressed: DecompressedInput? = nil) {
        // Safe: `bufferBytes` from malloc, owned by this reader and freed once, by `release` from the owner's deinit.
        guard let memory = unsafe malloc(Self.bufferBytes) else { return nil }
        self.descriptor = descriptor
        self.decompressed = decompressed
        unsafe buffer = UnsafeRawBufferPointer(start: memory, count: Self.bufferBytes)
        ownsBuffer = true
        swapped = false     // the first section header sets it
    }

    /// Reads a whole capture held in memory (which must outlive this reader).
    init(memory: UnsafeRawBufferPointer) {
        descriptor = -1
        // Safe: the caller's memory, which it frees only after `release`, so it outlives every record lent from it.
        unsafe buffer = memory
        ownsBuffer = false
        filled = memory.count
        endOfInput = true
        swapped = false
    }

    /// Whether `header` (the first bytes of a file) starts a pcapng section.
    static func isPcapng(_ header: UnsafeRawBufferPointer) -> Bool {
        // Safe: both loads lie in the first 12 bytes, whose presence is checked first.
        guard header.count >= 12,
              unsafe header.loadUnaligned(fromByteOffset: 0, as: UInt32.self) == sectionHeaderType else { return false }
        let magic = unsafe header.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        return magic == byteOrderMagic || magic == byteOrderMagic.byteSwapped
    }

    func release() {
        // Safe: only the buffer this reader allocated, and only once: the owner calls `release` from its deinit.
        if ownsBuffer { unsafe free(UnsafeMutableRawPointer(mutating: buffer.baseAddress)) }
    }

    /// File bytes consumed: every block handed out or skipped.
    var bytesConsumed: Int64 { bufferOffset + Int64(position) }

    /// Bytes of `buffer` holding data read from the file.
    var bufferedBytes: Int { filled }

    mutating func setFilterSlot(_ slot: Int, interface: Int) { interfaces[interface].filterSlot = slot }
    mutating func setUndecodedSlot(_ slot: Int, interface: Int) { interfaces[interface].undecodedSlot = slot }

    // Unchecked loads (UnsafeRawBufferPointer does not check bounds in -O): every caller reads
    // held bytes only, in a block header checked to be held or in a block held whole.
    @inline(__always)
    private func u32(_ at: Int) -> UInt32 {
        // Safe: callers pass `at` with `at + 4 <= filled` (a checked header or a held block).
        let value = unsafe buffer.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        return swapped ? value.byteSwapped : value
    }

    @inline(__always)
    private func u16(_ at: Int) -> UInt16 {
        // Safe: callers pass `at` with `at + 2 <= filled` (a held block's fields and options).
        let value = unsafe buffer.loadUnaligned(fromByteOffset: at, as: UInt16.self)
        return swapped ? value.byteSwapped : value
    }

    /// The next packet record; interface and section blocks on the way are taken in, others
    /// skipped. Its bytes stay valid until a call that refills the buffer: with `refill: false`
    /// none does, so the records of several calls can be used together.
    mutating func next(refill: Bool = true) -> Next {
        while true {
            // The block header: libpcap's `read_bytes(..., fail_on_eof: 0)`.
            if filled - position < 8 {
                if !refill && !endOfInput { return .notBuffered }
                fill(atLeast: 8)
                let now = filled - position
                if now < 8 {
                    if let failure = failure() { return .error(failure) }
                    if now == 0 { return .endOfFile }
                    return .error("truncated pcapng dump file; tried to read 8 bytes, only got \(now)")
                }
            }
            // A section header's type reads the same in both byte orders; its byte-order magic
            // says how to read its length. libpcap keeps the order of the first section.
            // Safe: 8 bytes from `position` are held (checked or filled above); 12 before the magic is read.
            if unsafe buffer.loadUnaligned(fromByteOffset: position, as: UInt32.self) == Self.sectionHeaderType {
                if filled - position < 12 && !endOfInput {
                    if !refill { return .notBuffered }
                    fill(atLeast: 12)
                }
                if filled - position >= 12 {
                    switch unsafe buffer.loadUnaligned(fromByteOffset: position + 8, as: UInt32.self) {
                    case Self.byteOrderMagic: swapped = false
                    case Self.byteOrderMagic.byteSwapped: swapped = true
                    default: break
                    }
                }
            }
            let type = u32(position)
            let length = u32(position + 4)
            if !atFirstBlock {
                if length < 12 {
                    return .error("block in pcapng dump file has a length of \(length) < 12")
                }
                if length % 4 != 0 {
                    return .error("block in pcapng dump file has a length of \(length) that is not a multiple of 4")
                }
                if length > Self.maximumBlock {
                    return .error("pcapng block size \(length) > maximum \(Self.maximumBlock)")
                }
            }
            // Within the maximum (or libpcap's 1 MiB for the first section header).
            let blockBytes = Int(length)
            if filled - position < blockBytes {
                if !refill && !endOfInput { return .notBuffered }
                // Safe: only the reader's own buffer (a descriptor's) grows; realloc keeps the filled bytes.
                if unsafe blockBytes > buffer.count && descriptor >= 0 && !grow(to: blockBytes) { return .error("out of memory") }
                fill(atLeast: blockBytes)
                if filled - position < blockBytes {
                    if let failure = failure() { return .error(failure) }
                    return .error("truncated pcapng dump file; tried to read \(blockBytes - 8) bytes, only got \(filled - position - 8)")
                }
            }
            let block = position
            position += blockBytes
            if atFirstBlock {
                atFirstBlock = false
                section = 1
                continue
            }
            let trailer = u32(block + blockBytes - 4)
            if trailer != length {
                // libpcap 1.10 names neither length (later versions name both).
                return .error("block total length in header and trailer don't match")
            }
            let body = block + 8
            let bodyBytes = blockBytes - 12
            switch type {
            case 6:     // Enhanced Packet Block
                guard bodyBytes >= 20 else { return .error(Self.tooShort(type)) }
                let stamp = UInt64(u32(body + 4)) << 32 | UInt64(u32(body + 8))
                return packet(interface: u32(body), captured: u32(body + 12), wire: u32(body + 16), stamp: stamp,
                              data: body + 20, room: bodyBytes - 20, type: type)
            case 3:     // Simple Packet Block: interface 0, no timestamp, captured length implied
                guard bodyBytes >= 4 else { return .error(Self.tooShort(type)) }
                let wire = u32(body)
                // libpcap cuts to the file's snapshot (the first interface's, as every one of
                // its interfaces must have the same); this is interface 0's.
                let captured = interfaces.isEmpty ? wire : min(wire, interfaces[0].snapshot)
                return packet(interface: 0, captured: captured, wire: wire, stamp: 0,
                              data: body + 4, room: bodyBytes - 4, type: type)
            case 2:     // Packet Block (obsolete): a 16-bit interface id and a drops count
                guard bodyBytes >= 20 else { return .error(Self.tooShort(type)) }
                let stamp = UInt64(u32(body + 4)) << 32 | UInt64(u32(body + 8))
                return packet(interface: UInt32(u16(body)), captured: u32(body + 12), wire: u32(body + 16), stamp: stamp,
                              data: body + 20, room: bodyBytes - 20, type: type)
            case 1:     // Interface Description Block
                guard bodyBytes >= 8 else { return .error(Self.tooShort(type)) }
                if let problem = addInterface(linktype: u16(body), snaplen: u32(body + 4),
                                              options: body + 8, optionBytes: bodyBytes - 8) {
                    return .error(problem)
                }
            case Self.sectionHeaderType:
                guard bodyBytes >= 16 else { return .error(Self.tooShort(type)) }
                // The byte order was taken from this magic above; anything else in it is damage.
                if u32(body) != Self.byteOrderMagic {
                    return .error("the file has a section with a bad byte order magic field")
                }
                let major = u16(body + 4)
                if major != 1 {
                    return .error("unknown pcapng savefile major version number \(major)")
                }
                // A section's interfaces are its own: ids start at 0 again.
                interfaces.removeAll(keepingCapacity: true)
                section += 1
            default:
                continue    // name resolution, statistics, decryption secrets, custom, ...
            }
        }
    }

    /// libpcap's checks after a packet block was found, in its order, and its timestamp.
    private func packet(interface id: UInt32, captured: UInt32, wire: UInt32, stamp: UInt64,
                        data: Int, room: Int, type: UInt32) -> Next {
        guard Int(id) < interfaces.count else {
            return .error("a packet arrived on interface \(id), but there's no Interface Description Block for that interface")
        }
        let interface = interfaces[Int(id)]
        if captured > interface.snapshot {
            return .error("invalid packet capture length \(captured), bigger than snaplen of \(interface.snapshot)")
        }
        guard Int(captured) <= room else { return .error(Self.tooShort(type)) }
        return .record(Record(interface: Int(id), capturedLength: captured, wireLength: wire, dataStart: data,
                              time: Self.time(stamp, interface)))
    }

    /// Built only on damage: a message formed for every block would allocate per packet.
    static func tooShort(_ type: UInt32) -> String { "block of type \(type) in pcapng dump file is too short" }

    /// libpcap's conversion, unsigned 64-bit and wrapping where it wraps, then as
    /// PcapFileReader reads a `pcap_pkthdr`: `tv_sec` whole, `tv_usec` through an `int`.
    @inline(__always)
    static func time(_ stamp: UInt64, _ interface: Interface) -> Timestamp {
        let seconds = stamp / interface.resolution &+ UInt64(bitPattern: interface.offset)
        var fraction = stamp % interface.resolution
        switch interface.scale {
        case .passThrough: break
        case .upDecimal(let factor): fraction = fraction &* factor
        case .downDecimal(let factor): fraction /= factor
        case .binary: fraction = (fraction &* 1_000_000_000) / interface.resolution
        }
        return Timestamp(nanoseconds: Int64(bitPattern: seconds) &* 1_000_000_000
                                      &+ Int64(Int32(truncatingIfNeeded: fraction)))
    }

    /// libpcap's `add_interface` and `process_idb_options`; returns its message on damage.
    private mutating func addInterface(linktype: UInt16, snaplen: UInt32, options: Int, optionBytes: Int) -> String? {
        var resolution: UInt64 = 1_000_000
        var binary = false
        var offset: Int64 = 0
        var sawResolution = false, sawOffset = false
        var at = options
        var remaining = optionBytes
        options: while remaining != 0 {
            guard remaining >= 4 else { return Self.tooShort(1) }
            let code = u16(at), length = Int(u16(at + 2))
            let padded = (length + 3) / 4 * 4
            guard remaining - 4 >= padded else { return Self.tooShort(1) }
            let value = at + 4
            at += 4 + padded
            remaining -= 4 + padded
            switch code {
            case 0:
                if length != 0 {
                    return "Interface Description Block has opt_endofopt option with length \(length) != 0"
                }
                break options
            case 9:
                if length != 1 { return "Interface Description Block has if_tsresol option with length \(length) != 1" }
                if sawResolution { return "Interface Description Block has more than one if_tsresol option" }
                sawResolution = true
                // Safe: the option's 1 byte at `value` is inside the options, checked against `remaining` above.
                let raw = unsafe buffer.load(fromByteOffset: value, as: UInt8.self)
                if raw & 0x80 != 0 {
                    let shift = raw & 0x7F
                    if shift > 63 {
                        return "Interface Description Block if_tsresol option resolution 2^-\(shift) is too high"
                    }
                    binary = true
                    resolution = 1 << UInt64(shift)
                } else {
                    if raw > 19 {
                        return "Interface Description Block if_tsresol option resolution 10^-\(raw) is too high"
                    }
                    binary = false
                    resolution = 1
                    for _ in 0..<raw { resolution = resolution &* 10 }
                }
            case 14:
                if length != 8 { return "Interface Description Block has if_tsoffset option with length \(length) != 8" }
                if sawOffset { return "Interface Description Block has more than one if_tsoffset option" }
                sawOffset = true
                // Safe: the option's 8 bytes at `value` are inside the options, checked against `remaining` above.
                let raw = unsafe buffer.loadUnaligned(fromByteOffset: value, as: Int64.self)
                offset = swapped ? raw.byteSwapped : raw
            default:
                break
            }
        }
        let nano: UInt64 = 1_000_000_000
        let scale: Scale
        if resolution == nano {
            scale = .passThrough
        } else if binary {
            scale = .binary
        } else if resolution > nano {
            scale = .downDecimal(resolution / nano)
        } else {
            scale = .upDecimal(nano / resolution)
        }
        let dlt = Self.dltForLinktype(Int32(linktype))
        let maximum = Self.maximumSnapshot(dlt: dlt)
        let link = LinkType(dlt: dlt)
        if link != nil { decodableInterfaces += 1 }
        interfaces.append(Interface(dlt: dlt, link: link,
                                    snapshot: snaplen == 0 || snaplen > maximum ? maximum : snaplen,
                                    resolution: resolution, scale: scale, offset: offset))
        return nil
    }

    private func failure() -> String? {
        guard readError != 0 else { return nil }
        if let message = decompressed?.failure { return "error reading dump file: \(message)" }
        return "error reading dump file: \(systemErrorText(readError))"
    }

    /// A buffer of at least `count` bytes (a block larger than any before; at most 16 MiB).
    private mutating func grow(to count: Int) -> Bool {
        // Safe: realloc keeps the filled bytes, or fails and leaves the old buffer as it was; callers index by offset.
        guard ownsBuffer, let old = unsafe buffer.baseAddress else { return false }
        guard let memory = unsafe realloc(UnsafeMutableRawPointer(mutating: old), count) else { return false }
        unsafe buffer = UnsafeRawBufferPointer(start: memory, count: count)
        return true
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
            // Safe: each read lands in `buffer[filled ..< buffer.count]`, the room after the held bytes.
            let got = unsafe decompressed?.pread(into: target + filled, count: buffer.count - filled, at: offset)
                ?? pread(descriptor, target + filled, buffer.count - filled, off_t(offset))
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
