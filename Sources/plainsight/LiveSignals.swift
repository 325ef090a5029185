import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Signals during live capture, without signal handlers. The four signals plainsight acts on are
// blocked in every thread before any thread is started, and the main thread takes them one at a time
// with `sigtimedwait`: nothing runs in signal context, so there is nothing to keep
// async-signal-safe. The main thread (`LiveSupervisor`) only records a request and wakes the capture
// threads (`pcap_breakloop`), which act on it between packets; a reopen it queues for the output
// writer itself.

/// What the capture thread has been asked to do. Bits, so requests that arrive together are all
/// honoured.
struct LiveRequests: OptionSet, Sendable {
    let rawValue: UInt32
    /// SIGINT, SIGTERM: stop, flush every flow, drain outputs, final statistics.
    static let stop = LiveRequests(rawValue: 1 << 0)
    /// SIGHUP: reopen output files, rewrite the --report files.
    static let reopen = LiveRequests(rawValue: 1 << 1)
    /// SIGUSR1: statistics now.
    static let statistics = LiveRequests(rawValue: 1 << 2)

    init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The request a signal stands for.
    init?(signal: Int32) {
        switch signal {
        case SIGINT, SIGTERM: self = .stop
        case SIGHUP: self = .reopen
        case SIGUSR1: self = .statistics
        default: return nil
        }
    }
}

/// Shared between the main thread (which posts requests) and one capture thread (which takes them
/// and says when it is done). Atomics only: neither side ever waits on a lock.
final class LiveControl: Sendable {
    private let pending = Atomic<UInt32>(0)
    private let done = Atomic<Bool>(false)

    func post(_ requests: LiveRequests) {
        pending.bitwiseOr(requests.rawValue, ordering: .releasing)
    }

    /// Everything posted since the last call.
    func take() -> LiveRequests {
        LiveRequests(rawValue: pending.exchange(0, ordering: .acquiring))
    }

    var finished: Bool { done.load(ordering: .acquiring) }
    func markFinished() { done.store(true, ordering: .releasing) }
}

/// The blocked signal set and the synchronous wait on it.
struct LiveSignals {
    static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGUSR1]
    private var set = sigset_t()

    /// Blocks the handled signals in the calling thread; threads started afterwards inherit the
    /// mask. Call before starting any thread.
    static func block() -> LiveSignals {
        var signals = LiveSignals()
        sigemptyset(&signals.set)
        for signal in handled { sigaddset(&signals.set, signal) }
        pthread_sigmask(SIG_BLOCK, &signals.set, nil)
        return signals
    }

    /// The next handled signal, or nil after `milliseconds` without one.
    func wait(milliseconds: Int) -> Int32? {
        var set = self.set
        var timeout = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        let signal = sigtimedwait(&set, nil, &timeout)
        return signal > 0 ? signal : nil
    }
}
