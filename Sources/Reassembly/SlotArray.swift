/// Per-slot state in one fixed allocation, grown by appending up to its capacity and indexed
/// without copy-on-write.
///
/// Not a Swift array: every store into an array's element (`flows[slot].info.lastSeen = time`)
/// first asks the runtime whether the buffer is uniquely referenced, a call, several per
/// packet. Here an element is addressed in place. The storage is a reference:
/// copies of a `SlotArray` share it, which is what its owners (the flow table, the session
/// router, each held once by its engine) need. Indices are checked against the count.
public struct SlotArray<Element> {
    // Owns the allocation; `SlotArray` checks every index against `count` before using it.
    @safe private final class Storage {
        let base: UnsafeMutablePointer<Element>
        let capacity: Int
        // Read on every access; never accessed re-entrantly (elements hold no reference back).
        @exclusivity(unchecked) var count = 0

        init(capacity: Int) {
            self.capacity = capacity
            // Reserved, not touched: pages are faulted in as slots are first used. Aligned to a
            // cache line, so an element of 64 bytes (a half-stream) fills exactly one.
            let stride = MemoryLayout<Element>.stride
            let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(capacity, 1) * stride,
                                                       alignment: Swift.max(64, MemoryLayout<Element>.alignment))
            // Safe: the range is the allocation just made.
            unsafe HugePages.advise(raw, bytes: Swift.max(capacity, 1) * stride)
            unsafe base = raw.bindMemory(to: Element.self, capacity: Swift.max(capacity, 1))
        }

        deinit {
            unsafe base.deinitialize(count: count)
            unsafe UnsafeMutableRawPointer(base).deallocate()
        }
    }

    private let storage: Storage

    public init(capacity: Int) { storage = Storage(capacity: capacity) }

    public var count: Int { unsafe storage.count }
    public var capacity: Int { storage.capacity }

    /// The first element's address, for prefetch hints.
    package var baseAddress: UnsafeMutablePointer<Element> { unsafe storage.base }

    /// Appends `element`; the caller keeps the count below the capacity.
    public func append(_ element: Element) {
        let storage = self.storage
        unsafe precondition(storage.count < storage.capacity, "SlotArray is full")
        unsafe (storage.base + storage.count).initialize(to: element)
        unsafe storage.count += 1
    }

    public var isEmpty: Bool { unsafe storage.count == 0 }

    /// Removes and returns the last element; the caller checks that there is one.
    @discardableResult
    public func removeLast() -> Element {
        let storage = self.storage
        unsafe precondition(storage.count > 0, "SlotArray is empty")
        unsafe storage.count -= 1
        return unsafe (storage.base + storage.count).move()
    }

    /// The element's address, checked like the subscript. A method or computed property of a
    /// non-trivial element called through the subscript works on a copy (a retain and a release
    /// of every reference it holds); through this address it reads in place.
    @inline(__always) package func address(_ index: Int) -> UnsafeMutablePointer<Element> {
        unsafe precondition(UInt(bitPattern: index) < UInt(bitPattern: storage.count), "slot out of range")
        return unsafe storage.base + index
    }

    public subscript(index: Int) -> Element {
        @inline(__always) unsafeAddress {
            unsafe precondition(UInt(bitPattern: index) < UInt(bitPattern: storage.count), "slot out of range")
            return unsafe UnsafePointer(storage.base + index)
        }
        @inline(__always) nonmutating unsafeMutableAddress {
            unsafe precondition(UInt(bitPattern: index) < UInt(bitPattern: storage.count), "slot out of range")
            return unsafe storage.base + index
        }
    }
}
