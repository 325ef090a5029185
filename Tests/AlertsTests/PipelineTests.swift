@testable import Alerts
import Foundation
import Testing
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
        #expect(current.last?.hasSuffix(#""outputs":{"queue":{"capacity":16384,"dropped":0},"file":{"delivered":2,"dropped":0}}}}"#) == true)
    }

    @Test("a stalled output fills the queue: drops are counted, never waited for, and add up")
    func queueOverflowIsCounted() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let sink = TextSink(output: FileOutput(descriptor: fds[1], name: "pipe", ownsDescriptor: true), userPolicy: .mask)
        let pipeline = AlertPipeline(sinks: [sink], capacity: 4, report: { _ in })
        // Nobody reads the pipe yet: once its 64 KiB are full the writer thread blocks in write(2),
        // and submit must still return at once.
        let started = Date()
        for flow in 1...3000 { pipeline.submit(makeAlert(flowID: UInt64(flow))) }
        #expect(Date().timeIntervalSince(started) < 5)
        let reader = LineCounter(fd: fds[0])
        reader.start()
        let summary = pipeline.finish(stats: nil, time: sampleTime, timeout: 5)
        let received = reader.wait()
        close(fds[0])
        let counters = try #require(summary.sinks.first?.counters)
        #expect(summary.complete)
        #expect(summary.alerts == 3000)
        #expect(summary.queueDropped > 0 && summary.lostAlerts)
        #expect(counters.delivered + counters.dropped + summary.queueDropped == 3000)
        #expect(counters.dropped == 0 && UInt64(received) == counters.delivered)
    }

    @Test("reading files (.wait): a slow consumer slows submit down and no alert is lost")
    func waitPolicyLosesNothing() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let sink = TextSink(output: FileOutput(descriptor: fds[1], name: "pipe", ownsDescriptor: true), userPolicy: .mask)
        let pipeline = AlertPipeline(sinks: [sink], capacity: 4, overflow: .wait, report: { _ in })
        let reader = LineCounter(fd: fds[0])
        // The reader starts late, so the pipe fills, the writer blocks and submit has to wait.
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { reader.start() }
        for flow in 1...3000 { pipeline.submit(makeAlert(flowID: UInt64(flow))) }
        let summary = pipeline.finish(stats: nil, time: sampleTime, timeout: 5)
        let received = reader.wait()
        close(fds[0])
        #expect(summary.complete && !summary.lostAlerts)
        #expect(summary.queueDropped == 0 && summary.sinks.first?.counters == SinkCounters(delivered: 3000, dropped: 0))
        #expect(received == 3000)
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

/// Reads a pipe to its end on a thread of its own, counting lines.
final class LineCounter: @unchecked Sendable {
    private let fd: Int32
    private let done = DispatchSemaphore(value: 0)
    private var count = 0
    init(fd: Int32) { self.fd = fd }
    func start() {
        Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(self.fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                self.count += buffer[0..<n].filter { $0 == 0x0A }.count
            }
            self.done.signal()
        }.start()
    }
    func wait() -> Int {
        _ = done.wait(timeout: .now() + 30)
        return count
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
