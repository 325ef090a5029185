import Testing
@testable import Reassembly

/// `FlowIndex` on its own against a dictionary (`FlowIndexTests` checks it through the table): inserts, removals (the backward shift) and doublings in a
/// random order, with hashes chosen to collide in their home bucket and in their whole tag, must
/// leave every slot findable by probing from its home and nothing else in the index.
@Suite struct FlowIndexBucketTests {
    /// What a lookup sees: the slots whose bucket carries `hash`'s tag, probing from its home to
    /// the first empty bucket.
    func probe(_ index: FlowIndex, _ hash: UInt64) -> [Int] {
        var found: [Int] = []
        var i = index.home(hash)
        for _ in 0..<index.size {
            let bucket = index.bucket(i)
            if bucket == 0 { break }
            if FlowIndex.tag(bucket) == FlowIndex.tag(hash) { found.append(FlowIndex.slot(bucket)) }
            i = index.next(i)
        }
        return found
    }

    func occupied(_ index: FlowIndex) -> Int {
        (0..<index.size).filter { index.bucket($0) != 0 }.count
    }

    @Test(arguments: [
        // (seed, hash shapes): 0 spread, 1 few homes (clusters that wrap), 2 equal tags
        (UInt64(1), 0), (UInt64(2), 1), (UInt64(3), 2), (UInt64(4), 1),
    ])
    func randomOperationsKeepEverySlotFindable(seed: UInt64, shape: Int) {
        var rng = SplitMix64(state: seed)
        let index = FlowIndex(initialSize: 16, maxSize: 1024)
        var live: [Int: UInt64] = [:]   // slot -> hash
        var freeSlots = Array((0..<400).reversed())
        for step in 0..<6_000 {
            let insert = live.isEmpty || (live.count < 400 && rng.next() % 3 != 0)
            if insert, let slot = freeSlots.popLast() {
                var hash = rng.next()
                switch shape {
                case 1: hash = (hash & ~0xFFFF_FFFF) | UInt64(rng.next() % 4) << 2 | 0x1_0000   // 4 homes at most
                case 2: hash = (hash & ~0xFFFF_FFFF) | 0xABCD_0007                                 // one tag
                default: break
                }
                if 2 * (live.count + 1) > index.size { index.grow() }
                index.insert(slot: slot, hash: hash)
                live[slot] = hash
            } else if let (slot, hash) = live.randomElement(using: &rng) {
                index.remove(slot: slot, hash: hash)
                live[slot] = nil
                freeSlots.append(slot)
            }
            if step % 97 == 0 || step > 5_990 {
                #expect(occupied(index) == live.count)
                for (slot, hash) in live { #expect(probe(index, hash).contains(slot), "slot \(slot) lost at step \(step)") }
            }
        }
        #expect(index.size <= index.maxSize && 2 * live.count <= index.size)
    }

    @Test func growingKeepsTheSlotsAndStopsAtTheMaximum() {
        let index = FlowIndex(initialSize: 4, maxSize: 16)
        let hashes: [UInt64] = [0x10, 0x20, 0x1_0000_0013, 0xFFFF_FFFF_FFFF_FFF3]
        for (slot, hash) in hashes.enumerated() {
            if 2 * (slot + 1) > index.size { index.grow() }
            index.insert(slot: slot, hash: hash)
        }
        index.grow(); index.grow(); index.grow()
        #expect(index.size == 16)
        for (slot, hash) in hashes.enumerated() { #expect(probe(index, hash) == [slot]) }
    }
}

/// The resend digest (`FlowTable.digest`) tells apart two segments that differ in any one byte
/// of a segment of up to 256 bytes, and in the first or last 128 of a longer one, at every
/// length: the last 1 to 8 bytes are read as one overlapping load.
@Suite struct ResendDigestTests {
    @Test func everyByteOfAShortSegmentCounts() {
        var rng = SplitMix64(state: 9)
        for length in 1...300 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let base = bytes.withUnsafeBufferPointer { FlowTable.digest($0.span, 0..<length) }
            let covered = length <= 256 ? Array(0..<length) : Array(0..<128) + Array((length - 128)..<length)
            for position in covered {
                var changed = bytes
                changed[position] ^= 0x20
                let other = changed.withUnsafeBufferPointer { FlowTable.digest($0.span, 0..<length) }
                #expect(other != base, "length \(length), byte \(position)")
            }
        }
    }

    @Test func theLengthCounts() {
        let zeros = [UInt8](repeating: 0, count: 64)
        let digests = Set((1...64).map { n in zeros.withUnsafeBufferPointer { FlowTable.digest($0.span, 0..<n) } })
        #expect(digests.count == 64)
    }
}
