@testable import Alerts
import Foundation
import Testing
import Wire
#if canImport(Glibc)
import Glibc
#endif

@Suite("Alert pipeline (queue and writer thread)")
struct PipelineTests {
    private func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "plainsight-pipeline-\(getpid())-\(UUID().uuidString.prefix(8))-\(name)"
    }

    private func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test("SIGHUP reopen: after rotation later alerts go to a new file at the same path")
    func reopenAfterRotation() throws {
        let path = temporaryPath("alerts.jsonl"), rotated = path + ".1"
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: rotated) }
        let pipeline = AlertPipeline(sinks: [JSONLinesSink(output: try FileOutput.create(path: path), userPolicy: .mask)],
                                     report: { _ in })
        pipeline.submit(makeAlert(flowID: 1))
        // The writer flushes when its queue runs empty, so the first alert reaches the file alone.
        let deadline = Date().addingTimeInterval(10)
        while lines(path).count < 1 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        try FileManager.default.moveItem(atPath: path, toPath: rotated)
        #expect(pipeline.reopen() == nil)
        pipeline.submit(makeAlert(flowID: 2))
        let summary = pipeline.finish(stats: [StatField("alerts", 2)], time: sampleTime, timeout: 1)
        #expect(summary.complete && !summary.lostAlerts)
        #expect(lines(rotated) == [AlertRenderer().json(makeAlert(flowID: 1))])
        let current = lines(path)
        #expect(current.count == 2 && current.first == AlertRenderer().json(makeAlert(flowID: 2)))
        #expect(current.last?.hasSuffix(#""outputs":{"queue":{"capacity":16384,"dropped":0,"session_events_dropped":0},"file":{"delivered":2,"dropped":0}}}}"#) == true)
    }

    @Test("a blocked output fills the queue: later alerts are dropped and counted, submit never waits")
    func queueOverflowIsCounted() throws {
        let sink = GateSink()
        let pipeline = AlertPipeline(sinks: [sink], capacity: 4, report: { _ in })
        // The writer takes alert 1 and blocks in the sink until the test opens the gate: the queue
        // then takes alerts 2 to 5 and has no room for the rest.
        pipeline.submit(makeAlert(flowID: 1))
        try #require(sink.entered.wait(timeout: .now() + 30) == .success, "the writer never reached the sink")
        let submitted = DispatchSemaphore(value: 0)
        Thread {
            for flow in 2...3000 { pipeline.submit(makeAlert(flowID: UInt64(flow))) }
            submitted.signal()
        }.start()
        // The gate opens only after every submit has returned, so a submit that waited for room
        // would never return: the timeout only keeps such a failure from hanging the run.
        let returned = submitted.wait(timeout: .now() + 30) == .success
        sink.open()
        #expect(returned, "submit waited for a blocked output")
        let summary = pipeline.finish(stats: nil, time: sampleTime, timeout: 5)
        #expect(summary.complete)
        #expect(summary.alerts == 3000)
        #expect(summary.queueDropped == 2995 && summary.lostAlerts)
        #expect(summary.sinks.first?.counters == SinkCounters(delivered: 5, dropped: 0))
        #expect(sink.flows == [1, 2, 3, 4, 5])
    }

    @Test("mail_session events are bounded as alerts are: a blocked output drops and counts them")
    func sessionEventOverflowIsCounted() throws {
        let sink = GateSink()
        let notices = Notices()
        let pipeline = AlertPipeline(sinks: [sink], capacity: 4, report: { notices.add($0) })
        pipeline.submit(makeAlert(flowID: 1))
        try #require(sink.entered.wait(timeout: .now() + 30) == .success, "the writer never reached the sink")
        let submitted = DispatchSemaphore(value: 0)
        Thread {
            for _ in 0..<1000 { pipeline.submitSessionEvent(Array(#"{"event_type":"mail_session"}"#.utf8)) }
            // Alerts have a bound of their own: session events do not take their room.
            for flow in 2...3 { pipeline.submit(makeAlert(flowID: UInt64(flow))) }
            submitted.signal()
        }.start()
        let returned = submitted.wait(timeout: .now() + 30) == .success
        sink.open()
        #expect(returned, "submitSessionEvent waited for a blocked output")
        let summary = pipeline.finish(stats: nil, time: sampleTime, timeout: 5)
        #expect(summary.complete)
        #expect(summary.sessionEventsDropped == 996)
        #expect(sink.eventsWritten == 4)
        #expect(summary.queueDropped == 0 && !summary.lostAlerts && sink.flows == [1, 2, 3])
        #expect(notices.lines.contains { $0.hasPrefix("996 mail_session events dropped") }, "\(notices.lines)")
    }

    @Test("reading files (.wait): a blocked output makes submit wait for room, and no alert is lost")
    func waitPolicyLosesNothing() throws {
        let sink = GateSink()
        let capacity = 4
        let pipeline = AlertPipeline(sinks: [sink], capacity: capacity, overflow: .wait, report: { _ in })
        pipeline.submit(makeAlert(flowID: 1))
        try #require(sink.entered.wait(timeout: .now() + 30) == .success, "the writer never reached the sink")
        // With the writer held on alert 1, alerts 2 to 5 fill the queue; submitting alert 6 has to
        // wait until the writer takes them, which it can only do once the gate is open. So the
        // submit of alert 6 returns after the gate opened, never before.
        let progress = SubmitProgress()
        let finished = DispatchSemaphore(value: 0)
        Thread {
            for flow in 2...3000 {
                pipeline.submit(makeAlert(flowID: UInt64(flow)))
                progress.returned(flow: flow, gateOpen: sink.isOpen)
            }
            finished.signal()
        }.start()
        try #require(progress.waitUntilReturned(flow: 1 + capacity, timeout: 30), "submits into a queue with room did not return")
        sink.open()
        try #require(finished.wait(timeout: .now() + 60) == .success, "submit did not resume once the output was open")
        #expect(progress.firstReturnedWithGateOpen == 2 + capacity, "submit did not wait for room while the output was blocked")
        let summary = pipeline.finish(stats: nil, time: sampleTime, timeout: 5)
        #expect(summary.complete && !summary.lostAlerts)
        #expect(summary.queueDropped == 0 && summary.sinks.first?.counters == SinkCounters(delivered: 3000, dropped: 0))
        #expect(sink.flows.elementsEqual(1...3000), "every alert once, in order")
    }

    @Test("TCP: RFC 6587 octet counting, one frame per alert, the stats message last")
    func tcpOctetCounting() throws {
        let listener = try LoopbackListener()
        let sink = try SyslogSink(target: .tcp(host: "127.0.0.1", port: listener.port),
                                  formatter: SyslogFormatter(facility: .authpriv, userPolicy: .full, hostname: "h", procID: 7),
                                  optional: false, report: { _ in })
        let pipeline = AlertPipeline(sinks: [sink], report: { _ in })
        for flow in 1...50 { pipeline.submit(makeAlert(flowID: UInt64(flow))) }
        let summary = pipeline.finish(stats: [StatField("alerts", 50)], time: sampleTime, timeout: 5)
        #expect(summary.sinks.first?.counters == SinkCounters(delivered: 50, dropped: 0))
        let stream = try listener.receiveAll()
        var frames: [String] = []
        var rest = stream[...]
        while let space = rest.firstIndex(of: 0x20), frames.count < 1000 {
            let length = try #require(Int(String(decoding: rest[..<space], as: UTF8.self)))
            let start = rest.index(after: space)
            try #require(rest.distance(from: start, to: rest.endIndex) >= length)
            frames.append(String(decoding: rest[start..<(start + length)], as: UTF8.self))
            rest = rest[(start + length)...]
        }
        #expect(rest.isEmpty)
        #expect(frames.count == 51)
        for (index, frame) in frames.prefix(50).enumerated() {
            #expect(frame.hasPrefix("<82>1 ") && parseStructuredData(frame)?["flow_id"] == String(index + 1))
        }
        #expect(frames.last?.contains(" stats [plainsight@32473 ") == true)
    }
}

/// A sink whose first `write` blocks until the test calls `open`: an output that has stalled
/// (a full pipe, a hung disk), held and released at points the test chooses rather than after a
/// delay. Records the flow IDs it was given, in order.
final class GateSink: AlertSink, @unchecked Sendable {
    /// Signalled when the writer thread first enters `write`.
    let entered = DispatchSemaphore(value: 0)
    private let gate = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var opened = false
    private var received: [UInt64] = []
    private var events = 0

    var isOpen: Bool { lock.withLock { opened } }
    var flows: [UInt64] { lock.withLock { received } }

    func open() {
        let first = lock.withLock { () -> Bool in
            defer { opened = true }
            return !opened
        }
        if first { gate.signal() }
    }

    func write(_ alert: Alert) {
        let isFirst = lock.withLock { () -> Bool in
            received.append(alert.flowID)
            return received.count == 1
        }
        if isFirst {
            entered.signal()
            gate.wait()
        }
    }

    func writeStats(_ fields: [StatField], time: Timestamp) {}
    func writeEvent(_ json: [UInt8]) { lock.withLock { events += 1 } }
    var eventsWritten: Int { lock.withLock { events } }
    func flush() -> Bool { true }
    func close() -> Bool { true }
    var failure: OutputError? { nil }
    var alertsWritten: UInt64 { lock.withLock { UInt64(received.count) } }
    var counters: SinkCounters { SinkCounters(delivered: alertsWritten, dropped: 0) }
    var outputName: String { "gate" }
}

/// The pipeline's one-line notices, written by its writer thread.
final class Notices: @unchecked Sendable {
    private let lock = NSLock()
    private var all: [String] = []
    func add(_ line: String) { lock.withLock { all.append(line) } }
    var lines: [String] { lock.withLock { all } }
}

/// What a submitting thread has done, read by the test from another thread.
final class SubmitProgress: @unchecked Sendable {
    private let condition = NSCondition()
    private var lastReturned = 0
    private var firstOpen: Int?

    /// The first flow whose submit returned after the gate had opened.
    var firstReturnedWithGateOpen: Int? { condition.withLock { firstOpen } }

    func returned(flow: Int, gateOpen: Bool) {
        condition.withLock {
            lastReturned = flow
            if gateOpen && firstOpen == nil { firstOpen = flow }
            condition.broadcast()
        }
    }

    /// Waits until the submit of `flow` has returned; false after `timeout` seconds (a hang guard).
    func waitUntilReturned(flow: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        return condition.withLock {
            while lastReturned < flow { if !condition.wait(until: deadline) { break } }
            return lastReturned >= flow
        }
    }
}

/// A TCP listener on 127.0.0.1 that takes one connection and reads it to its end.
final class LoopbackListener {
    let fd: Int32
    let port: UInt16
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw ListenerError() }
        port = UInt16(bigEndian: address.sin_port)
    }
    deinit { close(fd) }

    /// Accepts one connection (waiting at most 10 s) and reads until the peer closes it or 10 s pass.
    func receiveAll() throws -> [UInt8] {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connection = accept(fd, nil, nil)
        guard connection >= 0 else { throw ListenerError() }
        defer { close(connection) }
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while received.count < 64 << 20 {
            let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        return received
    }
}

struct ListenerError: Error {}
