// A batch of frames decoded in one call: what a reader hands the engine. A single frame is a
// batch of one; there is no other decode loop.

extension PacketDecoder {
    /// A frame of a batch that is not a selected segment, a fragment or a segment of another port.
    public enum Refusal: Sendable, Equatable {
        case skipped(SkipReason)
        case failed(DecodeError)
    }

    /// What `decode(_:records:link:options:into:)` made of a batch.
    public struct BatchCounts: Sendable, Equatable {
        /// Entries written to `packets` (and their records' positions to `recordIndices`):
        /// selected segments and fragments.
        public var selected = 0
        /// The fragments among them.
        public var fragments = 0
        /// TCP segments on no selected port.
        public var unselected = 0
        /// Entries written to `refusals`.
        public var refused = 0
        /// The length of every frame that lies in the buffer.
        public var bytes: UInt64 = 0
        /// Frames per encapsulation kind they went through, whatever became of them.
        public var encapsulations = EncapsulationCounts()
        /// Frames that went through at least one encapsulation.
        public var encapsulated = 0
        public init() {}
    }

    /// How a batch is decoded.
    public struct BatchOptions: Sendable {
        /// TCP segments with neither port in the set are only counted; nil selects every segment.
        public var ports: PortSet?
        public var tunnels: TunnelPorts
        /// The checksums verified on selected segments; a failure is marked in the packet's
        /// `kind`, not refused.
        public var checksums: ChecksumChecks
        public init(ports: PortSet?, tunnels: TunnelPorts = .standard, checksums: ChecksumChecks = []) {
            self.ports = ports; self.tunnels = tunnels; self.checksums = checksums
        }
    }

    /// Where a batch's results go. Each buffer holds at least as many entries as the batch has
    /// records.
    /// Bare pointers: the caller vouches for each buffer's capacity and lifetime.
    @unsafe @usableFromInline package struct BatchOutput {
        /// The selected segments and the fragments, densely, in frame order.
        @usableFromInline package var packets: UnsafeMutablePointer<DecodedPacket>
        /// The position in `records` of each entry of `packets`, at the same index.
        @usableFromInline package var recordIndices: UnsafeMutablePointer<Int>
        /// At the index of each packet of kind `.fragment`: where the fragment lies.
        @usableFromInline package var fragments: UnsafeMutablePointer<FragmentHeader>
        /// At the index of each packet whose `tunnel` is 1: the encapsulations it went through.
        @usableFromInline package var tunnels: UnsafeMutablePointer<Encapsulation>
        /// Why each refused frame was dropped, in frame order.
        @usableFromInline package var refusals: UnsafeMutablePointer<Refusal>

        // Inlinable (with the type and its fields usable from inline): the engine makes one per
        // batch, and cross-module optimization inlines only `public` declarations by itself.
        @inlinable
        package init(packets: UnsafeMutablePointer<DecodedPacket>, recordIndices: UnsafeMutablePointer<Int>,
                     fragments: UnsafeMutablePointer<FragmentHeader>, tunnels: UnsafeMutablePointer<Encapsulation>,
                     refusals: UnsafeMutablePointer<Refusal>) {
            unsafe self.packets = packets; unsafe self.recordIndices = recordIndices
            unsafe self.fragments = fragments; unsafe self.tunnels = tunnels; unsafe self.refusals = refusals
        }
    }

    /// Decodes the frames that `records` locates in `frames`, as `decode(_:link:)` decodes each:
    /// the selected segments and the fragments are written densely to `output.packets`, with the
    /// position in `records` of each one's record at the same index of `output.recordIndices`;
    /// every other frame is only counted, except that a skipped or failed frame has its reason
    /// appended to `output.refusals`. A record that does not lie inside `frames` fails as a frame
    /// cut at the link layer.
    ///
    /// One call a batch rather than one a frame: the registers are saved once a batch, and the
    /// caller then iterates the selected segments only, without a kind per frame to store and
    /// read back.
    package static func decode(_ frames: Span<UInt8>, records: UnsafeBufferPointer<FrameRecord>, link: LinkType,
                               options: BatchOptions, into output: BatchOutput) -> BatchCounts {
        // Each frame is viewed through the buffer's pointer: a span extracted from `frames`
        // recomputes the frame's length from its range with an overflow check.
        unsafe frames.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else {
                // Nothing lies in a buffer without an address but empty frames, which every link
                // type finds cut at the link layer, as a record outside the buffer is.
                var counts = BatchCounts()
                for _ in 0..<records.count {
                    unsafe (output.refusals + counts.refused).initialize(to: .failed(.truncated(.link)))
                    counts.refused &+= 1
                }
                return counts
            }
            // Safe: the frames' buffer is borrowed for this call only, and records are checked against its count.
            let frames = unsafe Frames(base: base, count: buffer.count)
            switch link {
            case .ethernet: return unsafe decodeEthernet(frames, records: records, options: options, into: output)
            default: return unsafe decodeAny(frames, records: records, link: link, options: options, into: output)
            }
        }
    }

    // The same loop (`decodeEach`) twice, once with the link type a constant: the compiler then
    // specialises the one decoder for Ethernet, the link of nearly every capture, without a
    // per-frame dispatch on the link type. Not a second decoder to keep in step: both are
    // `select`.
    @inline(never)
    private static func decodeEthernet(_ frames: Frames, records: UnsafeBufferPointer<FrameRecord>,
                                       options: BatchOptions, into output: BatchOutput) -> BatchCounts {
        unsafe decodeEach(frames, records: records, link: .ethernet, untaggedIPv4First: true, options: options,
                          into: output)
    }

    @inline(never)
    private static func decodeAny(_ frames: Frames, records: UnsafeBufferPointer<FrameRecord>, link: LinkType,
                                  options: BatchOptions, into output: BatchOutput) -> BatchCounts {
        unsafe decodeEach(frames, records: records, link: link, untaggedIPv4First: false, options: options,
                          into: output)
    }

    /// The buffer of a batch's frames.
    /// A bare pointer and count: whoever makes one vouches that the bytes stay valid.
    @unsafe struct Frames {
        let base: UnsafePointer<UInt8>
        let count: Int
    }

    /// `select`, not inlined: the frames the Ethernet loop does not take inline.
    @inline(never)
    static func selectOutOfLine(_ frame: Span<UInt8>, link: LinkType, into packet: UnsafeMutablePointer<DecodedPacket>,
                                selecting ports: PortSet?, path: inout Encapsulation,
                                fragment: UnsafeMutablePointer<FragmentHeader>,
                                tunnels: TunnelPorts, checks: ChecksumChecks) throws(DecodeError) -> Selected {
        try unsafe select(frame, link: link, into: packet, selecting: ports, path: &path, fragment: fragment,
                          tunnels: tunnels, checks: checks)
    }

    @inline(__always)
    private static func decodeEach(_ frames: Frames, records: UnsafeBufferPointer<FrameRecord>, link: LinkType,
                                   untaggedIPv4First: Bool,
                                   options: BatchOptions, into output: BatchOutput) -> BatchCounts {
        var counts = BatchCounts()
        // Reset only after a frame that went through an encapsulation: a frame without one never
        // writes it.
        var path = Encapsulation()
        for i in 0..<records.count {
            // Safe: `i` is below `records.count`.
            let record = unsafe records[i]
            guard unsafe isInside(record, count: frames.count) else {
                unsafe (output.refusals + counts.refused).initialize(to: .failed(.truncated(.link)))
                counts.refused &+= 1
                continue
            }
            counts.bytes &+= UInt64(truncatingIfNeeded: record.count)
            // Safe: `isInside` just checked that the record lies in the buffer.
            let bytes = unsafe UnsafeBufferPointer(start: frames.base + record.start, count: record.count)
            let frame = unsafe bytes.span
            do throws(DecodeError) {
                // Untagged IPv4 on Ethernet, nearly every frame of a capture, is decoded inline by
                // the same steps as `select` (IPv4, then TCP) with no tag, tunnel or fragment state
                // in the way, so the compiler keeps the frame's values in registers. Another IP
                // protocol (a tunnel) goes on out of line from the IPv4 header already decoded; a
                // fragment, a skip and every other frame take `select` whole.
                let selected: Selected
                // Safe: the 14-byte Ethernet header is checked before its EtherType is read.
                if untaggedIPv4First && frame.count >= 14 && (unsafe frame.u16(unchecked: 12)) == 0x0800 {
                    switch try IPv4.decode(frame, at: 14) {
                    case .tcp(let header):
                        if try unsafe segment(frame, ip: header, vlans: VLANTags(), into: output.packets + counts.selected,
                                              selecting: options.ports, checks: options.checksums) {
                            unsafe output.recordIndices[counts.selected] = i
                            counts.selected &+= 1
                        }
                        continue
                    case .other(let header, let proto):
                        selected = try unsafe selectInsideIPv4(frame, ip: header, protocol: proto,
                                                               into: output.packets + counts.selected,
                                                               selecting: options.ports, path: &path,
                                                               fragment: output.fragments + counts.selected,
                                                               tunnels: options.tunnels, checks: options.checksums)
                    case .fragment, .skipped:
                        selected = try unsafe selectOutOfLine(frame, link: link, into: output.packets + counts.selected,
                                                              selecting: options.ports, path: &path,
                                                              fragment: output.fragments + counts.selected,
                                                              tunnels: options.tunnels, checks: options.checksums)
                    }
                } else if untaggedIPv4First {
                    selected = try unsafe selectOutOfLine(frame, link: link, into: output.packets + counts.selected,
                                                          selecting: options.ports, path: &path,
                                                          fragment: output.fragments + counts.selected,
                                                          tunnels: options.tunnels, checks: options.checksums)
                } else {
                    selected = try unsafe select(frame, link: link, into: output.packets + counts.selected,
                                                 selecting: options.ports, path: &path,
                                                 fragment: output.fragments + counts.selected, tunnels: options.tunnels,
                                                 checks: options.checksums)
                }
                switch selected {
                case .fragment:
                    counts.fragments &+= 1
                    fallthrough
                case .tcp:
                    if path.count != 0 {
                        // Safe: fewer selected than records, and each output buffer holds one per record.
                        let packet = unsafe output.packets + counts.selected
                        unsafe packet.pointee.tunnel = 1
                        unsafe packet.pointee.kind.rawValue |= PacketKind.tunnelledSegment.rawValue
                        unsafe (output.tunnels + counts.selected).initialize(to: path)
                    }
                    unsafe output.recordIndices[counts.selected] = i
                    counts.selected &+= 1
                case .unselected:
                    break
                case .skipped(let reason):
                    unsafe (output.refusals + counts.refused).initialize(to: .skipped(reason))
                    counts.refused &+= 1
                }
            } catch {
                unsafe (output.refusals + counts.refused).initialize(to: .failed(error))
                counts.refused &+= 1
            }
            if path.count != 0 {
                counts.encapsulations.add(path)
                counts.encapsulated &+= 1
                path.reset()
            }
        }
        // Every other frame is a segment on no selected port: one counter less in the loop.
        counts.unselected = records.count &- counts.selected &- counts.refused
        return counts
    }

    /// Whether `record` lies inside a buffer of `count` bytes.
    @inline(__always)
    static func isInside(_ record: FrameRecord, count: Int) -> Bool {
        // As unsigned values a negative start or length is huge and fails the same two tests,
        // which then leave no overflow for the range to check.
        let start = UInt(bitPattern: record.start), length = UInt(bitPattern: record.count)
        let total = UInt(bitPattern: count)
        return start <= total && length <= total &- start
    }
}

extension PacketDecoder {
    /// A reassembled IP datagram (`bytes` starts at its IP header), decoded as a frame of the raw
    /// IP link type whose encapsulations so far were `path`: it may hold a segment, a tunnel
    /// (a VXLAN packet fragmented on the underlay) or, inside that, another fragment.
    public static func decodeDatagram(_ bytes: Span<UInt8>, options: BatchOptions, path: inout Encapsulation,
                                      into packet: UnsafeMutablePointer<DecodedPacket>,
                                      fragment: UnsafeMutablePointer<FragmentHeader>) throws(DecodeError) -> Selected {
        // Its IPv4 header is the defragmenter's; each fragment's own was checked.
        try unsafe select(bytes, link: .raw, into: packet, selecting: options.ports, path: &path, fragment: fragment,
                          tunnels: options.tunnels, checks: options.checksums.subtracting(.ipv4))
    }
}
