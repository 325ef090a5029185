/// A growable byte buffer written through a pointer, for the inventory's JSON.
///
/// An `Array` append checks uniqueness and capacity and ends a mutation for every byte or run of
/// bytes, and the exposure events are written a few bytes at a time. Here a byte is a capacity
/// check and a store. Noncopyable: the storage has one owner and is freed with it.
struct ByteSink: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = Swift.max(capacity, 16)
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        if count == capacity { grow(toAtLeast: count + 1) }
        base[count] = byte
        count &+= 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress else { return }
        let n = bytes.count
        if capacity - count < n { grow(toAtLeast: count + n) }
        (base + count).update(from: source, count: n)
        count &+= n
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { append($0) }
    }

    /// Room for `n` more bytes, at the address returned, valid until the next call; `commit`
    /// says how many were written. One capacity check for a run of small writes (a JSON key is
    /// four of them around its name).
    @inline(__always)
    mutating func reserveTail(_ n: Int) -> UnsafeMutablePointer<UInt8> {
        if capacity - count < n { grow(toAtLeast: count + n) }
        return base + count
    }

    @inline(__always)
    mutating func commit(_ n: Int) { count &+= n }

    @inline(__always)
    mutating func append(_ text: StaticString) {
        append(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(never)
    private mutating func grow(toAtLeast needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.initialize(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// The bytes written, as an array (one copy).
    func array() -> [UInt8] {
        Array(UnsafeBufferPointer(start: base, count: count))
    }

    /// Empties the buffer, keeping its storage.
    mutating func removeAll() { count = 0 }
}
