import CPcap
import Wire

/// An interface of a pcapng file whose link type the decoder does not read, and how many of
/// its packets were therefore not decoded.
public struct UndecodedInterface: Sendable, Equatable {
    /// The section (1 for the first) and the interface's id within it, as in the file.
    public var section: Int
    public var interface: Int
    public var dlt: Int32
    /// libpcap's name for the link type (`USB_LINUX`, ...), or `unknown`.
    public var name: String
    public var packets: UInt64
}

extension PcapFileReader {
    /// Whether each record has its own link type (a pcapng file read natively), so
    /// `readLinkBatches` must be used rather than `readBatches` with `supportedLinkType()`.
    public var linkTypePerRecord: Bool { pcapng != nil }

    /// Interfaces of a natively read pcapng file whose link type the decoder reads, so far.
    public var decodableInterfaceCount: Int { pcapng?.decodableInterfaces ?? 0 }

    /// Sections of a natively read pcapng file so far.
    public var sectionCount: Int { pcapng?.section ?? 1 }

    /// `readBatches` with the link type of each batch: a batch is a run of consecutive records
    /// of one link type. For a pcapng file read natively, records of an interface whose link type
    /// the decoder does not read are counted in `undecodedInterfaces` and not delivered (nor
    /// filtered); any other file has one link type, which must be supported (check it first with
    /// `supportedLinkType()`; otherwise the read ends at once with an error).
    package func readLinkBatches(tickInterval: UInt64 = 4096, onTick: () -> Void = {},
                                 _ body: (Span<UInt8>, UnsafeBufferPointer<FrameRecord>, LinkType) -> Void) -> ReadEnd {
        if pcapng != nil {
            // Safe: the frames and batch are lent to `body` for this call only, as they were lent here.
            return unsafe readPcapng(tickInterval: tickInterval, onTick: onTick, decodableOnly: true) { frames, batch, link in
                if let link { unsafe body(frames, batch, link) }
            }
        }
        guard let link = linkType else { return .error(CaptureError.unsupportedLinkType(path: path, dlt: dlt, name: linkTypeName).problem) }
        // Safe: the frames and batch are lent to `body` for this call only, as they were lent here.
        return unsafe readBatches(tickInterval: tickInterval, onTick: onTick) { frames, batch in unsafe body(frames, batch, link) }
    }

    /// libpcap's name for a DLT_ value, or `unknown`.
    static func linkTypeName(_ dlt: Int32) -> String {
        // Safe: libpcap returns a static string or NULL, copied at once.
        guard let name = unsafe pcap_datalink_val_to_name(dlt) else { return "unknown" }
        return unsafe String(cString: name)
    }

    /// `setFilter` for a pcapng file read natively: compiled now for the file's first link type
    /// (the one libpcap reports) and every other one described before the first packet, so a
    /// filter that cannot apply to one of them is refused before anything is read. Link types
    /// the decoder does not read are left out: their packets are never filtered.
    func setInterfaceFilter(_ expression: String) throws(CaptureError) {
        // Safe: each program is freed once, here or in deinit, and none is in use: setFilter refuses during a read.
        for index in unsafe programs.indices { unsafe pcap_freecode(&programs[index]) }
        unsafe programs.removeAll()
        programLinkTypes.removeAll()
        filterExpression = expression
        var linkTypes = [dlt]
        if let reader = pcapng {
            for other in reader.leadingLinkTypes() where !linkTypes.contains(other) { linkTypes.append(other) }
        }
        for linkType in linkTypes where LinkType(dlt: linkType) != nil {
            if case .failure(let failure) = filterSlot(dlt: linkType) {
                filterExpression = nil
                // The first link type's message is libpcap's alone, as for any other file.
                let reason = linkType == dlt ? failure.description
                    : "for link type \(linkType) (\(Self.linkTypeName(linkType))) of another interface: \(failure)"
                throw .badFilter(path: path, expression: expression, reason: reason)
            }
        }
    }

    /// The index in `programs` of the filter compiled for `dlt` (compiling it the first time),
    /// or why it does not compile. libpcap compiles for a link type without a capture through
    /// `pcap_open_dead`; the snapshot only sets the accepting return value, which nobody reads.
    func filterSlot(dlt: Int32) -> Result<Int, CompileFailure> {
        if let known = programLinkTypes.firstIndex(of: dlt) { return .success(known) }
        guard let expression = filterExpression else { return .failure(CompileFailure("no filter")) }
        // Safe: `dead` is ours and closed once by the defer; a compiled program is kept in `programs` until freed.
        guard let dead = unsafe pcap_open_dead(dlt, 262_144) else { return .failure(CompileFailure("out of memory")) }
        defer { unsafe pcap_close(dead) }
        var compiled = unsafe bpf_program()
        guard unsafe pcap_compile(dead, &compiled, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            return unsafe .failure(CompileFailure(pcap_geterr(dead).map { unsafe String(cString: $0) } ?? "unknown libpcap error"))
        }
        unsafe programs.append(compiled)
        programLinkTypes.append(dlt)
        return unsafe .success(programs.count - 1)
    }

    struct CompileFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// The read loop of a pcapng file read natively: records from `PcapngRecords`, batched while
    /// they are all in its buffer (a refill moves the buffer's bytes, so it ends a batch) and of
    /// one link type. `decodableOnly` leaves out (and counts) records the decoder cannot read.
    func readPcapng(tickInterval: UInt64, onTick: () -> Void, decodableOnly: Bool,
                    _ body: (Span<UInt8>, UnsafeBufferPointer<FrameRecord>, LinkType?) -> Void) -> ReadEnd {
        guard var reader = pcapng else { return .endOfFile }
        reading = true
        defer { reading = false }
        // Advanced as a local and stored back before every tick (progress reads
        // `bytesConsumed`) and at the end.
        defer { pcapng = reader }
        // Safe: `batch` holds `batchCapacity` records, freed once by the defer; `count` stays below it (full flushes).
        let batch = UnsafeMutablePointer<FrameRecord>.allocate(capacity: Self.batchCapacity)
        defer { unsafe batch.deallocate() }
        var count = 0
        var batchLink: LinkType? = nil
        func flush() {
            defer { count = 0 }
            // Safe: records are offsets and the base is read at each flush; a grow (realloc) keeps the filled bytes.
            guard count > 0, let base = unsafe reader.buffer.baseAddress else { return }
            // Safe: the buffer's filled bytes, lent for the call; the batch's records all lie inside them.
            unsafe body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: reader.bufferedBytes).span,
                        UnsafeBufferPointer(start: batch, count: count), batchLink)
        }
        let filtering = filterExpression != nil
        var header = pcap_pkthdr()
        let interval = max(tickInterval, 1)
        var untilTick = interval
        while !stopRequested {
            switch reader.next(refill: count == 0) {
            case .record(let record):
                recordsRead &+= 1
                lastRecordTime = record.time
                let interface = reader.interfaces[record.interface]
                var kept = true
                if decodableOnly && interface.link == nil {
                    kept = false
                    var slot = interface.undecodedSlot
                    if slot < 0 {
                        // Once per interface, never per packet.
                        slot = undecodedInterfaces.count
                        undecodedInterfaces.append(UndecodedInterface(section: reader.section, interface: record.interface,
                                                                      dlt: interface.dlt, name: Self.linkTypeName(interface.dlt),
                                                                      packets: 0))
                        reader.setUndecodedSlot(slot, interface: record.interface)
                    }
                    undecodedInterfaces[slot].packets &+= 1
                } else if filtering {
                    var slot = interface.filterSlot
                    if slot < 0 {
                        switch filterSlot(dlt: interface.dlt) {
                        case .success(let compiled):
                            slot = compiled
                            reader.setFilterSlot(compiled, interface: record.interface)
                        case .failure(let failure):
                            flush()
                            // Known only now: the interface was described after the first packet.
                            return .error("filter '\(filterExpression ?? "")' does not compile for link type \(interface.dlt) "
                                          + "(\(Self.linkTypeName(interface.dlt))) of interface \(record.interface): \(failure)")
                        }
                    }
                    // BPF sees the lengths and the bytes, never the timestamp.
                    header.caplen = record.capturedLength
                    header.len = record.wireLength
                    // Safe: `slot` indexes `programs` (checked), whose instructions are freed only by setFilter or deinit, never during a read.
                    var program = unsafe programs[slot]
                    if let base = unsafe reader.buffer.baseAddress {
                        // Safe: the reader handed out the record only once its data was inside the buffer.
                        kept = unsafe pcap_offline_filter(&program, &header, base.assumingMemoryBound(to: UInt8.self) + record.dataStart) != 0
                    }
                }
                if kept {
                    if count > 0 && interface.link != batchLink { flush() }
                    batchLink = interface.link
                    // Safe: `count` is below `batchCapacity`: a full batch is flushed at once.
                    unsafe batch[count] = FrameRecord(start: record.dataStart, count: Int(record.capturedLength), time: record.time,
                                                      number: recordsRead)
                    count += 1
                    if count == Self.batchCapacity { flush() }
                }
                untilTick -= 1
                if untilTick == 0 {
                    untilTick = interval
                    flush()
                    pcapng = reader
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
}

extension PcapFileReader {
    /// Whether `prefix` (a file's first bytes) starts a capture plainsight may read: classic pcap
    /// (micro- or nanosecond, and the modified format's magic, either byte order), pcapng, or a
    /// gzip, zstd or xz stream (what it holds is checked when it is read). For skipping the other
    /// files of a directory given to -r.
    package static func looksLikeCapture(_ prefix: UnsafeRawBufferPointer) -> Bool {
        // Safe: each check compares `prefix.count` before it loads; the caller lends `prefix` for the call.
        if unsafe CaptureCompression.detect(prefix) != nil || PcapngRecords.isPcapng(prefix) { return true }
        guard prefix.count >= 4 else { return false }
        let magic = unsafe prefix.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        let known: [UInt32] = [0xA1B2_C3D4, 0xA1B2_3C4D, 0xA1B2_CD34]
        return known.contains(magic) || known.contains(magic.byteSwapped)
    }
}
