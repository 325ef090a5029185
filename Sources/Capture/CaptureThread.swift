#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A plain POSIX thread for the blocking capture loop. Not a Swift concurrency task: the cooperative
/// pool has one thread per core (two here), and a thread parked in `poll` inside libpcap would take
/// one of them for the whole run.
public final class CaptureThread {
    private var thread: pthread_t
    private var joined = false

    /// Starts `body` on a new thread.
    public init(_ body: @escaping @Sendable () -> Void) throws(CaptureThreadError) {
        // Safe: the one retain goes to the new thread, which takes it back exactly once; it is released here only if no thread starts.
        let box = unsafe Unmanaged.passRetained(ThreadBody(body: body))
        var created = pthread_t()
        let status = unsafe pthread_create(&created, nil, { argument in
            // Safe: `argument` is the retained `box` passed below; taking the retained value balances passRetained, once per thread.
            guard let argument = unsafe argument else { return nil }
            let body = unsafe Unmanaged<ThreadBody>.fromOpaque(argument).takeRetainedValue()
            body.body()
            return nil
        }, unsafe box.toOpaque())
        guard status == 0 else {
            unsafe box.release()
            throw CaptureThreadError(code: status)
        }
        thread = created
    }

    /// Waits for the thread to finish. Call once.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }
}

public struct CaptureThreadError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var description: String {
        "cannot start the capture thread: " + systemErrorText(code)
    }
}

private final class ThreadBody {
    let body: @Sendable () -> Void
    init(body: @escaping @Sendable () -> Void) { self.body = body }
}
