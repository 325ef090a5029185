#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The POSIX socket calls behind a syslog sink, kept apart from its queueing logic. Every socket
// is non-blocking: the writer thread serves several outputs and must never wait on one collector.

/// A resolved destination: a socket address to connect to, with the socket type and family.
struct SyslogAddress {
    var family: Int32
    var type: Int32
    var storage: sockaddr_storage
    var length: socklen_t
}

/// What happened to one `send`.
enum SendOutcome {
    /// `count` bytes went into the kernel.
    case sent(Int)
    /// Try again later: the socket buffer (TCP) or the receiver's queue (unix datagram) is full.
    case wouldBlock
    /// This message can never be sent here (larger than a datagram may be).
    case tooLarge
    /// The connection or the collector is gone; the errno says why.
    case broken(Int32)
    /// The TLS layer failed (an alert from the collector, a protocol error); the text says why.
    case tlsFailed(String)
}

enum SyslogSocket {
    /// Addresses for a target: a unix socket path, or every address `getaddrinfo` gives for the
    /// host (IPv6 and IPv4 for `localhost`), tried in order.
    static func resolve(_ target: SyslogTarget) -> Result<[SyslogAddress], SyslogTargetError> {
        switch target {
        case .local(let path), .unix(let path):
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count <= SyslogTarget.maxSocketPathBytes else {
                return .failure(SyslogTargetError("socket path too long"))
            }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in bytes.enumerated() { raw[index] = byte }
                raw[bytes.count] = 0
            }
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: &address) { source in
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source.prefix(MemoryLayout<sockaddr_un>.size)))
                }
            }
            return .success([SyslogAddress(family: AF_UNIX, type: Int32(SOCK_DGRAM.rawValue), storage: storage,
                                           length: socklen_t(MemoryLayout<sockaddr_un>.size))])
        case .udp(let host, let port):
            return lookup(host: host, port: port, type: Int32(SOCK_DGRAM.rawValue))
        case .tcp(let host, let port), .tls(let host, let port):
            return lookup(host: host, port: port, type: Int32(SOCK_STREAM.rawValue))
        }
    }

    private static func lookup(host: String, port: UInt16, type: Int32) -> Result<[SyslogAddress], SyslogTargetError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = type
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            let reason = gai_strerror(status).map { String(cString: $0) } ?? "error \(status)"
            return .failure(SyslogTargetError("cannot resolve \(OutputEscaping.escape(host.utf8)): \(reason)"))
        }
        defer { freeaddrinfo(list) }
        var addresses: [SyslogAddress] = []
        var node = list
        while let entry = node, addresses.count < 16 {
            if let socketAddress = entry.pointee.ai_addr, entry.pointee.ai_addrlen <= MemoryLayout<sockaddr_storage>.size {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { target in
                    target.copyMemory(from: UnsafeRawBufferPointer(start: socketAddress, count: Int(entry.pointee.ai_addrlen)))
                }
                addresses.append(SyslogAddress(family: entry.pointee.ai_family, type: type, storage: storage,
                                               length: entry.pointee.ai_addrlen))
            }
            node = entry.pointee.ai_next
        }
        guard !addresses.isEmpty else {
            return .failure(SyslogTargetError("cannot resolve \(OutputEscaping.escape(host.utf8)): no usable address"))
        }
        return .success(addresses)
    }

    /// Starts connecting a non-blocking socket. Datagram sockets connect at once (a unix socket
    /// fails here when nobody listens); TCP usually returns `inProgress`.
    static func connect(_ address: SyslogAddress) -> Result<(fd: Int32, inProgress: Bool), Errno> {
        let fd = socket(address.family, address.type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        var storage = address.storage
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, address.length) }
        }
        if result == 0 { return .success((fd, false)) }
        let code = errno
        if code == EINPROGRESS && address.type == Int32(SOCK_STREAM.rawValue) { return .success((fd, true)) }
        Glibc.close(fd)
        return .failure(Errno(code))
    }

    /// For a connection in progress: nil while still pending, else the outcome.
    static func connectResult(_ fd: Int32, waitMilliseconds: Int32 = 0) -> Result<Void, Errno>? {
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = poll(&entry, 1, waitMilliseconds)
        if ready == 0 { return nil }
        if ready < 0 { return errno == EINTR ? nil : .failure(Errno(errno)) }
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return .failure(Errno(errno)) }
        return code == 0 ? .success(()) : .failure(Errno(code))
    }

    /// Sends without waiting and without SIGPIPE.
    static func send(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> SendOutcome {
        while true {
            let result = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.send(fd, base, raw.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
            }
            if result >= 0 { return .sent(result) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ENOBUFS: return .wouldBlock
            case EMSGSIZE: return .tooLarge
            case let code: return .broken(code)
            }
        }
    }

    /// Whether the peer of a TCP connection has closed it (a FIN or RST is waiting). Checked
    /// before each batch, as rsyslog's own forwarder does, so that messages are not written into
    /// a connection the collector has already left (they would be counted delivered and lost).
    static func peerClosed(_ fd: Int32) -> Errno? {
        var byte: UInt8 = 0
        let result = recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        if result == 0 { return Errno.closedByPeer }
        if result < 0 {
            let code = errno
            return code == EAGAIN || code == EWOULDBLOCK || code == EINTR ? nil : Errno(code)
        }
        // The collector sent something (syslog over TCP is one-way): read it away.
        var scratch = [UInt8](repeating: 0, count: 512)
        _ = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return nil
    }

    static func close(_ fd: Int32) { _ = Glibc.close(fd) }
}

/// An errno value with its text.
struct Errno: Error, CustomStringConvertible {
    var code: Int32
    init(_ code: Int32) { self.code = code }
    /// Not an errno: the collector ended the connection in an orderly way (FIN).
    static let closedByPeer = Errno(-1)
    var description: String { code == -1 ? "closed by the collector" : errorText(code) }
}
