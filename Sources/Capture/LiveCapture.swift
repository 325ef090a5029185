import CPcap
import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The libpcap adapter for network interfaces. Like `PcapFileReader`, nothing outside `Capture` sees a
// C type: callers get a `LinkType`, Strings for messages and each frame as a `Span<UInt8>` lent from
// libpcap's ring buffer.

/// How an interface is opened (DESIGN.md defaults: whole frames, promiscuous, 32 MiB, immediate).
public struct LiveCaptureOptions: Sendable, Equatable {
    /// The most libpcap captures of one frame (its own maximum, 256 KiB).
    public static let maxSnapshotLength: Int32 = 262_144

    public var snapshotLength: Int32 = LiveCaptureOptions.maxSnapshotLength
    public var promiscuous = true
    /// The kernel ring buffer, in bytes: what absorbs a burst while the capture thread is busy.
    public var bufferBytes: Int32 = 32 << 20
    /// How long a read waits on a quiet link before it returns, so the caller can sweep idle flows,
    /// emit periodic statistics and notice a stop request.
    public var readTimeoutMilliseconds: Int32 = 250

    public init() {}
}

/// `pcap_stats` for the run so far. On Linux `received` counts the packets that passed the filter.
public struct CaptureStatistics: Sendable, Equatable {
    public var received: UInt64
    public var droppedByKernel: UInt64
    public var droppedByInterface: UInt64

    public init(received: UInt64, droppedByKernel: UInt64, droppedByInterface: UInt64) {
        self.received = received
        self.droppedByKernel = droppedByKernel
        self.droppedByInterface = droppedByInterface
    }
}

/// Why an interface could not be captured on. `message` is one diagnostic line without the program
/// name.
public enum LiveCaptureError: Error, Sendable, Equatable, CustomStringConvertible {
    case noSuchInterface(String)
    case permissionDenied(interface: String, reason: String)
    case interfaceDown(String)
    case cannotOpen(interface: String, reason: String)
    case unsupportedLinkType(interface: String, dlt: Int32, name: String)
    case badFilter(expression: String, reason: String)
    case cannotList(reason: String)
    /// `--workers`: the handles could not be joined into one fan-out group.
    case fanoutUnavailable(interface: String, reason: String)

    public var message: String {
        switch self {
        case .noSuchInterface(let name):
            return "\(name): no such capture interface (plainsight -D lists them)"
        case .permissionDenied(let name, let reason):
            return "\(name): no permission to capture (\(reason)); run as root, or give the binary "
                + "cap_net_raw,cap_net_admin with setcap"
        case .interfaceDown(let name):
            return "\(name): the interface is not up"
        case .cannotOpen(let name, let reason):
            return "\(name): cannot capture: \(reason)"
        case .unsupportedLinkType(let name, let dlt, let linkName):
            return "\(name): unsupported link type \(dlt) (\(linkName))"
        case .badFilter(let expression, let reason):
            return "bad filter '\(expression)': \(reason)"
        case .cannotList(let reason):
            return "cannot list capture interfaces: \(reason)"
        case .fanoutUnavailable(let name, let reason):
            return "\(name): cannot share the capture between workers (PACKET_FANOUT: \(reason)); use --workers 1"
        }
    }

    public var description: String { message }
}

/// How one `read` call ended.
public enum LiveRead: Sendable, Equatable {
    /// `count` packets were delivered (the limit was reached, or the buffer ran dry after some).
    case packets(Int)
    /// The read timeout expired with no packet: the link is quiet.
    case timeout
    /// `CaptureBreaker.breakLoop()` was called (a signal arrived).
    case interrupted
    /// The capture failed (interface gone, socket error); libpcap's message.
    case failed(String)
}

/// Wakes a capture thread blocked in `LiveCapture.read`. `pcap_breakloop` is documented as safe to
/// call from another thread than the one reading (and from a signal handler); on Linux it also
/// wakes the poll through an eventfd, so the reader returns `.interrupted` at once.
///
/// The breaker holds its `LiveCapture`, so the handle stays open while any breaker exists.
@safe public struct CaptureBreaker: @unchecked Sendable {
    fileprivate let capture: LiveCapture
    public func breakLoop() {
        // Safe: `capture` keeps the handle open (closed only in its deinit); pcap_breakloop only
        // sets a flag and writes the handle's eventfd, which libpcap allows from another thread.
        unsafe pcap_breakloop(capture.handle)
    }
}

/// An opened, activated interface (`pcap_create` ... `pcap_activate`), ready to read.
/// Safe to use: the pcap handle and filter program live exactly as long as the object.
@safe public final class LiveCapture {
    public let interface: String
    /// The link-layer header type (`pcap_datalink`).
    public let dlt: Int32
    public let linkType: LinkType
    /// What libpcap warned about at activation (e.g. promiscuous mode not supported on `any`).
    public let warnings: [String]
    /// Internal, not private: the fan-out extension (LiveCapture+Fanout.swift) needs the socket.
    let handle: OpaquePointer
    /// Timestamps arrive in nanoseconds when the kernel can give them, else microseconds.
    private let nanosecondTimestamps: Bool
    private var program: bpf_program?

    /// Opens and activates `interface` (`any` for every interface). Throws before any packet is
    /// read: a missing interface, no permission, an interface that is down, a link type the
    /// decoder does not know.
    public init(interface: String, options: LiveCaptureOptions) throws(LiveCaptureError) {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        // Safe: `interface` is bridged for the call; libpcap writes at most PCAP_ERRBUF_SIZE bytes into `errorBuffer`.
        guard let created = unsafe pcap_create(interface, &errorBuffer) else {
            throw .cannotOpen(interface: interface, reason: errorBufferText(errorBuffer))
        }
        // Settings fail only on an already activated handle, which this is not.
        // Safe: `created` is ours and open: closed only on the throws below, or by deinit once stored.
        _ = unsafe pcap_set_snaplen(created, options.snapshotLength)
        _ = unsafe pcap_set_promisc(created, options.promiscuous ? 1 : 0)
        _ = unsafe pcap_set_buffer_size(created, options.bufferBytes)
        _ = unsafe pcap_set_timeout(created, options.readTimeoutMilliseconds)
        // Immediate mode: each packet is handed over as it arrives, so a login on a quiet link is
        // reported at once and nothing waits in a half-filled block when capture stops.
        _ = unsafe pcap_set_immediate_mode(created, 1)
        _ = unsafe pcap_set_tstamp_precision(created, Int32(PCAP_TSTAMP_PRECISION_NANO))

        // Safe: `created` is open; on an error it is closed once, just below, after its message is copied.
        let status = unsafe pcap_activate(created)
        var warnings: [String] = []
        if status < 0 {
            let detail = unsafe Self.lastError(created)
            unsafe pcap_close(created)
            switch status {
            case PCAP_ERROR_NO_SUCH_DEVICE: throw .noSuchInterface(interface)
            case PCAP_ERROR_PERM_DENIED, PCAP_ERROR_PROMISC_PERM_DENIED:
                throw .permissionDenied(interface: interface, reason: Self.withoutPrefix(detail, interface))
            case PCAP_ERROR_IFACE_NOT_UP: throw .interfaceDown(interface)
            default:
                throw .cannotOpen(interface: interface, reason: Self.withoutPrefix(detail, interface))
            }
        } else if status > 0 {
            // Safe: `created` is still open (activated, with a warning); it is stored below.
            let detail = unsafe Self.lastError(created)
            switch status {
            case PCAP_WARNING_PROMISC_NOTSUP:
                warnings.append("promiscuous mode is not supported here" + (detail.isEmpty ? "" : " (\(detail))"))
            default:
                if !detail.isEmpty { warnings.append(detail) }
            }
        }

        // Safe: `created` is open and activated; closed once just below if its link type is refused, else stored.
        let dlt = unsafe pcap_datalink(created)
        guard let linkType = LinkType(dlt: dlt) else {
            let name = unsafe pcap_datalink_val_to_name(dlt).map { unsafe String(cString: $0) } ?? "unknown"
            unsafe pcap_close(created)
            throw .unsupportedLinkType(interface: interface, dlt: dlt, name: name)
        }
        self.interface = interface
        self.dlt = dlt
        self.linkType = linkType
        self.warnings = warnings
        unsafe handle = created
        nanosecondTimestamps = unsafe pcap_get_tstamp_precision(created) == Int32(PCAP_TSTAMP_PRECISION_NANO)
    }

    deinit {
        // Safe: deinit is the one place the handle and the stored program are freed, each once.
        if var compiled = unsafe program { unsafe pcap_freecode(&compiled) }
        unsafe pcap_close(handle)
    }

    /// libpcap's name for the link type (`EN10MB`, `LINUX_SLL`, ...).
    public var linkTypeName: String {
        // Safe: libpcap returns a static string or NULL, copied at once.
        unsafe pcap_datalink_val_to_name(dlt).map { unsafe String(cString: $0) } ?? "unknown"
    }

    /// Compiles `expression` for this interface and installs it in the kernel, so only matching
    /// packets are copied to user space.
    public func setFilter(_ expression: String) throws(LiveCaptureError) {
        // The netmask only matters for `broadcast` primitives; unknown is what tcpdump falls back to.
        var network: bpf_u_int32 = 0, netmask: bpf_u_int32 = 0
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        // Safe: `interface` is bridged for the call; errors go to `errorBuffer`, PCAP_ERRBUF_SIZE bytes.
        if unsafe pcap_lookupnet(interface, &network, &netmask, &errorBuffer) != 0 { netmask = PCAP_NETMASK_UNKNOWN }
        // Safe: `handle` is open until deinit; `compiled` is freed once: on failure here, else when replaced or in deinit.
        var compiled = unsafe bpf_program()
        guard unsafe pcap_compile(handle, &compiled, expression, 1, netmask) == 0 else {
            throw unsafe .badFilter(expression: expression, reason: Self.lastError(handle))
        }
        guard unsafe pcap_setfilter(handle, &compiled) == 0 else {
            let reason = unsafe Self.lastError(handle)
            unsafe pcap_freecode(&compiled)
            throw .badFilter(expression: expression, reason: reason)
        }
        if var previous = unsafe program { unsafe pcap_freecode(&previous) }
        unsafe program = compiled
    }

    /// Something another thread can use to wake `read`.
    public var breaker: CaptureBreaker { CaptureBreaker(capture: self) }

    /// Kernel and interface counters so far; nil if libpcap cannot tell.
    public func statistics() -> CaptureStatistics? {
        var counters = pcap_stat()
        // Safe: `handle` is open until deinit; pcap_stats fills the one `pcap_stat` it is given.
        guard unsafe pcap_stats(handle, &counters) == 0 else { return nil }
        return CaptureStatistics(received: UInt64(counters.ps_recv), droppedByKernel: UInt64(counters.ps_drop),
                                 droppedByInterface: UInt64(counters.ps_ifdrop))
    }

    /// Delivers up to `limit` packets to `body`, returning early on a read timeout, a break or an
    /// error. The span points into libpcap's buffer and is valid only during the call.
    public func read(limit: Int, _ body: (Span<UInt8>, Timestamp) -> Void) -> LiveRead {
        var header: UnsafeMutablePointer<pcap_pkthdr>? = nil
        var data: UnsafePointer<UInt8>? = nil
        let unit: Int64 = nanosecondTimestamps ? 1 : 1_000
        var delivered = 0
        while delivered < limit {
            // Safe: `handle` is open until deinit; on 1, `header` and `data` point at a record lent until the next call.
            switch unsafe pcap_next_ex(handle, &header, &data) {
            case 1:
                guard let header = unsafe header, let bytes = unsafe data else { continue }
                let record = unsafe header.pointee
                delivered += 1
                let time = Timestamp(nanoseconds: Int64(record.ts.tv_sec) &* 1_000_000_000
                                        &+ Int64(record.ts.tv_usec) &* unit)
                // Safe: libpcap lends `caplen` bytes at `bytes` until the next pcap_next_ex.
                unsafe body(UnsafeBufferPointer(start: bytes, count: Int(record.caplen)).span, time)
            case 0:
                return delivered > 0 ? .packets(delivered) : .timeout
            case PCAP_ERROR_BREAK:
                // libpcap clears the break request as it returns it, so the next read blocks again.
                return .interrupted
            default:
                // Safe: `handle` is open until deinit, and its error text is copied at once.
                return unsafe .failed(Self.lastError(handle))
            }
        }
        return .packets(delivered)
    }

    // MARK: - Interfaces

    /// Every interface libpcap can capture on (`pcap_findalldevs`), in its order.
    public static func interfaces() throws(LiveCaptureError) -> [CaptureInterface] {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        var first: UnsafeMutablePointer<pcap_if_t>? = nil
        // Safe: libpcap writes at most PCAP_ERRBUF_SIZE bytes to `errorBuffer`; the list is freed once, by the defer.
        guard unsafe pcap_findalldevs(&first, &errorBuffer) == 0 else { throw .cannotList(reason: errorBufferText(errorBuffer)) }
        defer { if let first = unsafe first { unsafe pcap_freealldevs(first) } }
        var found: [CaptureInterface] = []
        // Safe: each entry stays valid until the defer frees the list; its strings are copied before that.
        var next = unsafe first
        while let entry = unsafe next {
            let device = unsafe entry.pointee
            let flags = unsafe device.flags
            unsafe found.append(CaptureInterface(
                name: device.name.map { unsafe String(cString: $0) } ?? "",
                description: unsafe device.description.map { unsafe String(cString: $0) },
                isUp: flags & UInt32(PCAP_IF_UP) != 0,
                isRunning: flags & UInt32(PCAP_IF_RUNNING) != 0,
                isLoopback: flags & UInt32(PCAP_IF_LOOPBACK) != 0))
            unsafe next = device.next
        }
        return found
    }

    // MARK: - Messages

    private static func lastError(_ handle: OpaquePointer) -> String {
        // Safe: callers pass an open handle; pcap_geterr points into it and the text is copied at once.
        unsafe pcap_geterr(handle).map { unsafe String(cString: $0) } ?? ""
    }


    /// libpcap often starts its messages with the interface name, which our line already gives.
    private static func withoutPrefix(_ message: String, _ interface: String) -> String {
        let prefix = interface + ": "
        return message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message
    }
}

/// One entry of `plainsight -D`.
public struct CaptureInterface: Sendable, Equatable {
    public var name: String
    public var description: String?
    public var isUp: Bool
    public var isRunning: Bool
    public var isLoopback: Bool
}
