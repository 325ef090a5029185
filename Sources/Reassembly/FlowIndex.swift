/// The flow table's open-addressing index: linear probing, backward-shift deletion, load at most
/// 1/2, grown by doubling up to `maxSize` buckets.
///
/// A bucket is 0 when empty; otherwise its high half is the slot plus one and its low half the
/// low 32 bits of the flow's hash (its tag). A probe compares tags, and the home bucket of an
/// occupant is its tag masked, so neither a lookup walking past other flows' buckets nor a
/// deletion shifting a cluster back reads those flows' entries: with only slot numbers here,
/// every step would, each a cache miss on a capture of many flows. The tag holds every bit a
/// home index can use: `maxSize` is at most 2^32.
///
/// The buckets are one allocation addressed in place, not a Swift array: a store into an array
/// asked the runtime whether its buffer was shared first. The class is owned by one flow table.
/// Safe to use: indices are masked into the allocation, which lives as long as the object.
@safe final class FlowIndex {
    private(set) var buckets: UnsafeMutablePointer<UInt64>
    /// Bucket count minus one (a power of two minus one).
    private(set) var mask: Int
    let maxSize: Int

    /// `initialSize` and `maxSize` are powers of two, `initialSize <= maxSize <= 2^32`.
    init(initialSize: Int, maxSize: Int) {
        precondition(initialSize > 0 && initialSize.nonzeroBitCount == 1 && maxSize.nonzeroBitCount == 1
                     && initialSize <= maxSize && maxSize <= 1 << 32, "index sizes")
        self.maxSize = maxSize
        mask = initialSize - 1
        unsafe buckets = .allocate(capacity: initialSize)
        unsafe buckets.initialize(repeating: 0, count: initialSize)
    }

    deinit { unsafe buckets.deallocate() }

    var size: Int { mask + 1 }

    @inline(__always) static func tag(_ hash: UInt64) -> UInt64 { hash & 0xFFFF_FFFF }

    /// The slot a non-empty bucket names.
    @inline(__always) static func slot(_ bucket: UInt64) -> Int { Int(truncatingIfNeeded: bucket >> 32) &- 1 }

    @inline(__always) func home(_ hash: UInt64) -> Int { Int(truncatingIfNeeded: hash) & mask }

    @inline(__always) func next(_ i: Int) -> Int { (i &+ 1) & mask }

    /// Bucket `i`, an index already masked.
    @inline(__always) func bucket(_ i: Int) -> UInt64 {
        assert(i >= 0 && i <= mask, "bucket index not masked")
        // Safe: `i` is masked, so below the bucket count (the assert checks it in debug builds).
        return unsafe buckets[i]
    }

    /// Puts `slot` in the first free bucket from its hash's home. The caller keeps the load
    /// below one (the table grows it at half), so a free bucket exists.
    func insert(slot: Int, hash: UInt64) {
        var i = home(hash)
        // Safe: `home` and `next` mask every index into the buckets; load at most 1/2 leaves an empty one.
        while unsafe buckets[i] != 0 { i = next(i) }
        unsafe buckets[i] = UInt64(truncatingIfNeeded: slot &+ 1) << 32 | Self.tag(hash)
    }

    /// Removes `slot`, indexed under `hash`, and shifts the rest of its cluster back so that no
    /// probe stops early at the hole.
    func remove(slot: Int, hash: UInt64) {
        let entry = UInt64(truncatingIfNeeded: slot &+ 1) << 32 | Self.tag(hash)
        var i = home(hash)
        while unsafe buckets[i] != entry {
            // An index that lost the slot is a table bug; stop rather than loop over the whole ring.
            unsafe precondition(buckets[i] != 0, "flow index lost a slot")
            i = next(i)
        }
        var j = i
        while true {
            j = next(j)
            let occupant = unsafe buckets[j]
            if occupant == 0 { break }
            let h = Int(truncatingIfNeeded: occupant) & mask
            // Move the occupant into the hole unless its home lies cyclically in (i, j].
            let inRange = i <= j ? (h > i && h <= j) : (h > i || h <= j)
            if !inRange {
                unsafe buckets[i] = occupant
                i = j
            }
        }
        unsafe buckets[i] = 0
    }

    /// Doubles the bucket count (up to `maxSize`) and re-homes every occupant from its tag.
    func grow() {
        let old = unsafe buckets, oldSize = size
        let newSize = min(maxSize, 2 * oldSize)
        guard newSize > oldSize else { return }
        unsafe buckets = .allocate(capacity: newSize)
        unsafe buckets.initialize(repeating: 0, count: newSize)
        mask = newSize - 1
        // Safe: `k` is below the old size, and every new index is masked into the new buckets.
        for k in 0..<oldSize where unsafe old[k] != 0 {
            var i = unsafe Int(truncatingIfNeeded: old[k]) & mask
            while unsafe buckets[i] != 0 { i = next(i) }
            unsafe buckets[i] = old[k]
        }
        unsafe old.deallocate()
    }
}
