#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Wire

/// Alerts to one syslog collector.
///
/// Each alert is rendered at once into a frame (an RFC 5424 message, octet-counted for TCP, or
/// the BSD form for the local socket) and put in a bounded backlog; the backlog is sent as far as
/// the socket takes it without waiting. While the collector is unreachable the backlog holds up to
/// `backlogLimit` alerts; later ones are dropped and counted. A lost connection is made again with
/// exponential back-off, and the backlog then goes out in order. A frame that TCP took only in
/// part is sent again whole on the new connection (the collector drops the incomplete one).
/// A tls:// target does the same inside TLS, with a new handshake on every connection.
public final class SyslogSink: AlertSink {
    public let target: SyslogTarget
    public let isOptional: Bool
    public let backlogLimit: Int
    public private(set) var alertsWritten: UInt64 = 0
    public private(set) var counters = SinkCounters()
    /// Failed connection attempts and lost connections.
    public private(set) var connectionFailures: UInt64 = 0
    /// The most alerts held at once.
    public private(set) var peakHeld = 0
    public var failure: OutputError? { nil }          // a collector can always come back
    public var outputName: String { target.description }
    public var outputGroup: String? { "syslog" }

    private let formatter: SyslogFormatter
    private let report: (String) -> Void
    /// For tls:// targets: the CA, client certificate and key, read when the sink is made.
    private let tlsContext: TLSContext?
    /// The last TLS failure said during this outage, so that a repeated one is said once.
    private var reportedTLSFailure: String?
    private var addresses: [SyslogAddress] = []
    private var state = State.idle(retryAt: 0)
    private var backlog = FrameQueue()
    /// Bytes of the first frame already written to the current TCP connection.
    private var headOffset = 0
    private var backoff = SyslogSink.initialBackoff
    /// When the socket was full: try again then.
    private var blockedUntil: UInt64?
    /// Whether the user has been told the collector is unreachable (said once per outage).
    private var outageReported = false
    private var overflowReported = false
    private var droppedThisOutage: UInt64 = 0

    static let initialBackoff: UInt64 = 200_000_000
    static let maximumBackoff: UInt64 = 5_000_000_000
    static let connectTimeout: UInt64 = 3_000_000_000
    static let blockedRetry: UInt64 = 20_000_000
    public static let defaultBacklogLimit = 10_000

    private enum State {
        case idle(retryAt: UInt64)
        case connecting(fd: Int32, addressIndex: Int, deadline: UInt64)
        case handshaking(fd: Int32, session: TLSSession, addressIndex: Int, deadline: UInt64)
        case connected(fd: Int32, session: TLSSession?)
    }

    private var isStream: Bool {
        switch target {
        case .tcp, .tls: true
        case .local, .unix, .udp: false
        }
    }

    /// Resolves the target and connects. A target that cannot be reached is an error, unless
    /// `optional`: then the problem is reported and the sink keeps trying in the background.
    /// For tls:// a TLS set-up that cannot work (unreadable CA, certificate or key; a collector
    /// whose certificate does not verify, or that refuses ours) is an error even when optional.
    /// `report` receives one-line notices (outage, recovery, drops) without a prefix.
    public init(target: SyslogTarget, formatter: SyslogFormatter, tls: SyslogTLSSettings = SyslogTLSSettings(),
                backlogLimit: Int = SyslogSink.defaultBacklogLimit,
                optional: Bool, report: @escaping (String) -> Void) throws(SyslogTargetError) {
        self.target = target
        self.formatter = formatter
        self.backlogLimit = max(1, backlogLimit)
        self.isOptional = optional
        self.report = report
        do throws(SyslogTargetError) {
            tlsContext = target.isTLS ? try TLSContext(tls) : nil
        } catch {
            throw SyslogTargetError("syslog \(target): \(error.message)")
        }
        let problem: String
        switch SyslogSocket.resolve(target) {
        case .failure(let error):
            problem = error.message
        case .success(let found):
            addresses = found
            switch connectNow(waitUpTo: Self.connectTimeout) {
            case .success: return
            case .failure(let failure) where failure.isConfiguration:
                throw SyslogTargetError("syslog \(target): \(failure)")
            case .failure(let failure): problem = "cannot connect: \(failure)"
            }
        }
        guard optional else {
            throw SyslogTargetError("syslog \(target): \(problem) (--syslog-optional starts anyway and keeps retrying)")
        }
        report("syslog \(target): \(problem); holding up to \(self.backlogLimit) alerts and retrying (--syslog-optional)")
        outageReported = true
        connectionFailures &+= 1
        state = .idle(retryAt: monotonicNow() &+ backoff)
    }

    deinit { closeSocket() }

    // MARK: AlertSink

    public func write(_ alert: Alert) {
        alertsWritten &+= 1
        var frame: [UInt8] = []
        frame.reserveCapacity(768)
        let now = wallClockNow()
        switch target {
        case .local: formatter.appendBSD(alert, time: now, to: &frame)
        case .unix, .udp, .tcp, .tls: formatter.appendRFC5424(alert, time: now, to: &frame)
        }
        enqueue(frame, isAlert: true)
    }

    public func writeStats(_ fields: [StatField], time: Timestamp) {
        let dropped = Self.anyDropped(fields.filter { $0.name == "outputs" })
        var frame: [UInt8] = []
        switch target {
        case .local: formatter.appendBSDStats(fields, eventTime: time, dropped: dropped, time: wallClockNow(), to: &frame)
        case .unix, .udp, .tcp, .tls:
            formatter.appendRFC5424Stats(fields, eventTime: time, dropped: dropped, time: wallClockNow(), to: &frame)
        }
        enqueue(frame, isAlert: false)
    }

    public func writeEvent(_ json: [UInt8]) {
        var frame: [UInt8] = []
        switch target {
        case .local: formatter.appendBSDEvent(json, time: wallClockNow(), to: &frame)
        case .unix, .udp, .tcp, .tls: guard formatter.appendRFC5424Event(json, time: wallClockNow(), to: &frame) else { return }
        }
        enqueue(frame, isAlert: false)
    }

    public func flush() -> Bool {
        _ = service(now: monotonicNow())
        return true
    }

    public func close() -> Bool {
        abandonHeld()
        closeSocket()
        state = .idle(retryAt: UInt64.max)
        return true
    }

    public var heldAlerts: Int { backlog.alertCount }
    public var hasPendingOutput: Bool { !backlog.isEmpty }
    public var statDetails: [StatField] {
        [StatField("held", UInt64(backlog.alertCount)), StatField("connection_failures", connectionFailures)]
    }

    public func reopen() -> OutputError? {
        // A new connection (the collector may have moved or restarted); held frames stay.
        closeSocket()
        headOffset = 0
        backoff = Self.initialBackoff
        if addresses.isEmpty, case .success(let found) = SyslogSocket.resolve(target) { addresses = found }
        state = .idle(retryAt: 0)
        _ = service(now: monotonicNow())
        return nil
    }

    public func expedite() {
        if case .idle = state { state = .idle(retryAt: 0) }
        blockedUntil = nil
    }

    public func abandonHeld() {
        let lost = backlog.alertCount
        guard lost > 0 || !backlog.isEmpty else { return }
        counters.dropped &+= UInt64(lost)
        backlog.removeAll()
        headOffset = 0
    }

    public func service(now: UInt64) -> UInt64? {
        advanceConnection(now: now)
        if case .connected = state { pump(now: now) }
        switch state {
        case .idle(let retryAt): return retryAt == UInt64.max ? nil : retryAt
        case .connecting, .handshaking: return now &+ Self.blockedRetry
        case .connected:
            guard !backlog.isEmpty else { return nil }
            return blockedUntil ?? now &+ Self.blockedRetry
        }
    }

    /// Whether any `dropped` counter in the tree is non-zero.
    private static func anyDropped(_ fields: [StatField]) -> Bool {
        fields.contains { anyDropped(named: $0.name, $0.value) }
    }

    private static func anyDropped(named name: String, _ value: StatValue) -> Bool {
        switch value {
        case .count(let count): return name == "dropped" && count > 0
        case .object(let inner): return anyDropped(inner)
        case .array(let elements): return elements.contains { anyDropped(named: name, $0) }
        case .word: return false
        }
    }

    // MARK: Backlog

    private func enqueue(_ frame: [UInt8], isAlert: Bool) {
        if isAlert && backlog.alertCount >= backlogLimit {
            counters.dropped &+= 1
            droppedThisOutage &+= 1
            if !overflowReported {
                overflowReported = true
                report("syslog \(target): \(backlogLimit) alerts held for an unreachable collector; dropping new alerts until it is back")
            }
            return
        }
        var bytes: [UInt8]
        if isStream {
            // RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG, so no byte of the message can end it.
            bytes = Array(String(frame.count).utf8)
            bytes.append(0x20)
            bytes.append(contentsOf: frame)
        } else {
            bytes = frame
        }
        backlog.append(Frame(bytes: bytes, isAlert: isAlert))
        peakHeld = max(peakHeld, backlog.alertCount)
        let now = monotonicNow()
        if blockedUntil.map({ now >= $0 }) ?? true { _ = service(now: now) }
    }

    /// Sends held frames until the socket would block or the backlog is empty.
    private func pump(now: UInt64) {
        guard case .connected(let fd, let session) = state, !backlog.isEmpty else { return }
        if let until = blockedUntil, now < until { return }
        blockedUntil = nil
        if let session {
            if let reason = session.pollInput() {
                lose(reason, now: now)
                return
            }
        } else if isStream, let closed = SyslogSocket.peerClosed(fd) {
            lose(closed.description, now: now)
            return
        }
        // Bounded: each turn removes a frame, advances into one, or returns.
        while let frame = backlog.first {
            let unsent = frame.bytes[headOffset...]
            switch session.map({ $0.write(unsent) }) ?? SyslogSocket.send(fd, unsent) {
            case .sent(let count):
                headOffset += count
                guard headOffset >= frame.bytes.count else { continue }
                backlog.removeFirst()
                headOffset = 0
                if frame.isAlert { counters.delivered &+= 1 }
            case .wouldBlock:
                blockedUntil = now &+ Self.blockedRetry
                return
            case .tooLarge:
                backlog.removeFirst()
                headOffset = 0
                if frame.isAlert { counters.dropped &+= 1 }
                report("syslog \(target): a \(frame.bytes.count)-byte message is too large for this transport; dropped")
            case .broken(let code):
                lose(Errno(code).description, now: now)
                return
            case .tlsFailed(let reason):
                lose(reason, now: now)
                return
            }
        }
    }

    // MARK: Connection

    /// At start: connect (and for TLS, shake hands), waiting at most `waitUpTo` per address,
    /// trying each address in turn. A TLS failure that retrying cannot mend ends the search.
    private func connectNow(waitUpTo timeout: UInt64) -> Result<Void, ConnectionFailure> {
        var lastError = ConnectionFailure(description: Errno(ECONNREFUSED).description, isConfiguration: false)
        for address in addresses {
            let deadline = monotonicNow() &+ timeout
            switch SyslogSocket.connect(address) {
            case .failure(let error):
                lastError = ConnectionFailure(description: error.description, isConfiguration: false)
            case .success(let (fd, inProgress)):
                var outcome: Result<Void, Errno> = .success(())
                if inProgress {
                    switch SyslogSocket.connectResult(fd, waitMilliseconds: Int32(timeout / 1_000_000)) {
                    case .success?: break
                    case .failure(let error)?: outcome = .failure(error)
                    case nil: outcome = .failure(Errno(ETIMEDOUT))
                    }
                }
                if case .failure(let error) = outcome {
                    lastError = ConnectionFailure(description: error.description, isConfiguration: false)
                    SyslogSocket.close(fd)
                    continue
                }
                guard let tlsContext else {
                    state = .connected(fd: fd, session: nil)
                    return .success(())
                }
                switch Self.handshakeNow(fd: fd, context: tlsContext, host: targetHost, deadline: deadline) {
                case .success(let session):
                    state = .connected(fd: fd, session: session)
                    return .success(())
                case .failure(let failure):
                    SyslogSocket.close(fd)
                    if failure.isConfiguration { return .failure(failure) }
                    lastError = failure
                }
            }
        }
        return .failure(lastError)
    }

    /// How long the start waits after a TLS handshake for the collector to refuse it. In TLS 1.3
    /// the client's side of the handshake ends before the server has checked the client's
    /// certificate: a collector that requires one says no only afterwards, with an alert.
    static let refusalWait: Int32 = 300

    /// A whole TLS handshake on a connected socket, waiting until `deadline` at most, then a short
    /// wait for a refusal (a client certificate the collector does not accept).
    private static func handshakeNow(fd: Int32, context: TLSContext, host: String,
                                     deadline: UInt64) -> Result<TLSSession, ConnectionFailure> {
        let session: TLSSession
        do { session = try TLSSession(context: context, fd: fd, host: host) } catch { return .failure(error) }
        // Bounded by the deadline: each turn waits on the socket for the rest of the time.
        while true {
            switch session.handshake() {
            case .done:
                guard session.isTLS13 else { return .success(session) }
                // A collector that accepts us sends session tickets (or nothing); one that refuses
                // sends an alert instead. The first thing that arrives decides.
                let refusalDeadline = min(deadline, monotonicNow() &+ UInt64(refusalWait) * 1_000_000)
                if waitFor(fd, write: false, until: refusalDeadline), let reason = session.pollInput() {
                    return .failure(ConnectionFailure(
                        description: "the collector refused the connection after the TLS handshake: \(reason) "
                            + "(a collector that checks its clients needs --syslog-tls-cert with a certificate it trusts)",
                        isConfiguration: true))
                }
                return .success(session)
            case .pending(let wantsWrite):
                guard waitFor(fd, write: wantsWrite, until: deadline) else {
                    return .failure(ConnectionFailure(description: "TLS handshake timed out", isConfiguration: false))
                }
            case .failed(let failure):
                return .failure(failure)
            }
        }
    }

    /// Waits until the socket is readable (or writable), or `deadline` passes (false).
    private static func waitFor(_ fd: Int32, write: Bool, until deadline: UInt64) -> Bool {
        let now = monotonicNow()
        guard now < deadline else { return false }
        var entry = pollfd(fd: fd, events: Int16(write ? POLLOUT : POLLIN), revents: 0)
        let milliseconds = Int32(min((deadline - now) / 1_000_000 + 1, 60_000))
        return poll(&entry, 1, milliseconds) > 0
    }

    private var targetHost: String {
        switch target {
        case .tcp(let host, _), .tls(let host, _), .udp(let host, _): return host
        case .local(let path), .unix(let path): return path
        }
    }

    /// Moves a closed, connecting or handshaking socket along without waiting.
    private func advanceConnection(now: UInt64) {
        switch state {
        case .connected:
            return
        case .idle(let retryAt):
            guard now >= retryAt else { return }
            if addresses.isEmpty {
                switch SyslogSocket.resolve(target) {
                case .success(let found): addresses = found
                case .failure:
                    retry(now: now)
                    return
                }
            }
            startConnect(from: 0, now: now)
        case .connecting(let fd, let index, let deadline):
            switch SyslogSocket.connectResult(fd) {
            case nil:
                guard now >= deadline else { return }
                SyslogSocket.close(fd)
                startConnect(from: index + 1, now: now)
            case .success?:
                transportConnected(fd: fd, addressIndex: index, now: now)
            case .failure?:
                SyslogSocket.close(fd)
                startConnect(from: index + 1, now: now)
            }
        case .handshaking(let fd, let session, let index, let deadline):
            switch session.handshake() {
            case .done:
                connected(fd: fd, session: session)
            case .pending:
                guard now >= deadline else { return }
                abandonHandshake(fd: fd, ConnectionFailure(description: "TLS handshake timed out", isConfiguration: false))
                startConnect(from: index + 1, now: now)
            case .failed(let failure):
                abandonHandshake(fd: fd, failure)
                startConnect(from: index + 1, now: now)
            }
        }
    }

    private func startConnect(from first: Int, now: UInt64) {
        var index = first
        while index < addresses.count {
            switch SyslogSocket.connect(addresses[index]) {
            case .success(let (fd, inProgress)):
                if inProgress {
                    state = .connecting(fd: fd, addressIndex: index, deadline: now &+ Self.connectTimeout)
                } else {
                    transportConnected(fd: fd, addressIndex: index, now: now)
                }
                return
            case .failure:
                index += 1
            }
        }
        retry(now: now)
    }

    /// The socket is connected: for TLS a handshake begins (a new one on every connection).
    private func transportConnected(fd: Int32, addressIndex: Int, now: UInt64) {
        guard let tlsContext else {
            connected(fd: fd, session: nil)
            return
        }
        do {
            let session = try TLSSession(context: tlsContext, fd: fd, host: targetHost)
            state = .handshaking(fd: fd, session: session, addressIndex: addressIndex, deadline: now &+ Self.connectTimeout)
            advanceConnection(now: now)
        } catch {
            abandonHandshake(fd: fd, error)
            startConnect(from: addressIndex + 1, now: now)
        }
    }

    /// A handshake that failed: the socket is closed and the reason said, once per outage (the
    /// collector's certificate may have been replaced by one that does not verify).
    private func abandonHandshake(fd: Int32, _ failure: ConnectionFailure) {
        SyslogSocket.close(fd)
        state = .idle(retryAt: 0)
        guard reportedTLSFailure != failure.description else { return }
        reportedTLSFailure = failure.description
        report("syslog \(target): \(failure); holding up to \(backlogLimit) alerts and retrying")
        outageReported = true
    }

    private func connected(fd: Int32, session: TLSSession?) {
        state = .connected(fd: fd, session: session)
        backoff = Self.initialBackoff
        if outageReported {
            var notice = "syslog \(target): connected again"
            if droppedThisOutage > 0 { notice += "; \(droppedThisOutage) alerts were dropped meanwhile" }
            if backlog.alertCount > 0 { notice += "; sending \(backlog.alertCount) held alerts" }
            report(notice)
        }
        outageReported = false
        overflowReported = false
        reportedTLSFailure = nil
        droppedThisOutage = 0
    }

    /// A connection attempt failed: try again after the back-off, which doubles up to its cap.
    private func retry(now: UInt64) {
        connectionFailures &+= 1
        state = .idle(retryAt: now &+ backoff)
        backoff = min(backoff &* 2, Self.maximumBackoff)
    }

    /// The collector went away: hold alerts and reconnect.
    private func lose(_ reason: String, now: UInt64) {
        closeSocket()
        headOffset = 0
        blockedUntil = nil
        if !outageReported {
            outageReported = true
            report("syslog \(target): connection lost (\(reason)); holding up to \(backlogLimit) alerts and reconnecting")
        }
        // The first attempt comes soon: a restarted collector is usually back within a second.
        retry(now: now)
    }

    private func closeSocket() {
        switch state {
        case .connected(let fd, let session):
            session?.shutdown()
            SyslogSocket.close(fd)
        case .connecting(let fd, _, _), .handshaking(let fd, _, _, _):
            SyslogSocket.close(fd)
        case .idle: break
        }
        state = .idle(retryAt: 0)
    }
}

/// A rendered message waiting to be sent.
struct Frame {
    var bytes: [UInt8]
    /// Stats messages travel too but are not alerts, so they are not counted.
    var isAlert: Bool
}

/// A FIFO of frames: an array with a moving head, compacted now and then.
struct FrameQueue {
    private var items: [Frame] = []
    private var head = 0
    private(set) var alertCount = 0

    var isEmpty: Bool { head == items.count }
    var first: Frame? { isEmpty ? nil : items[head] }

    mutating func append(_ frame: Frame) {
        items.append(frame)
        if frame.isAlert { alertCount += 1 }
    }

    mutating func removeFirst() {
        guard !isEmpty else { return }
        if items[head].isAlert { alertCount -= 1 }
        items[head] = Frame(bytes: [], isAlert: false)
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        items.removeAll()
        head = 0
        alertCount = 0
    }
}
