import MailAuth
import Wire

/// A direct-mapped cache in front of the inventory's dictionary of servers: ServerKey -> position
/// of its record. Every ended session and every login looks its server up: the dictionary costs
/// SipHash over the key, the probe and the key compare, where a hit here is a multiply-shift
/// hash, one load and a compare of three words.
///
/// Only a cache: a miss (or two servers that share a slot, however chosen) costs one dictionary
/// lookup more, never a wrong answer, so a cheap hash is safe here where the dictionary needs a
/// keyed one: addresses crafted to collide slow the inventory by no more than that (the hash is
/// mixed with a per-run random seed all the same). It keeps at least twice as many slots as there
/// are servers, doubling as they come.
struct RecentServers: ~Copyable {
    private struct Slot {
        var high: UInt64
        var low: UInt64
        /// `ServerKey.packed`, 0 for an empty slot (a packed key is never 0: bit 20 is set).
        var packed: UInt32
        var position: Int32
    }

    private var slots: UnsafeMutablePointer<Slot>
    private var shift: UInt64
    private var count: Int
    private let seed: UInt64

    init() {
        var random = SystemRandomNumberGenerator()
        seed = random.next() | 1
        (slots, shift, count) = Self.allocate(bits: 10)
    }

    deinit { slots.deallocate() }

    private static func allocate(bits: UInt64) -> (UnsafeMutablePointer<Slot>, UInt64, Int) {
        let count = 1 << Int(bits)
        let slots = UnsafeMutablePointer<Slot>.allocate(capacity: count)
        slots.initialize(repeating: Slot(high: 0, low: 0, packed: 0, position: 0), count: count)
        return (slots, 64 - bits, count)
    }

    @inline(__always)
    private func slot(_ key: ServerKey, packed: UInt32) -> Int {
        var h = key.address.high &* 0x9E37_79B9_7F4A_7C15
        h ^= key.address.low
        h ^= UInt64(packed) << 40
        h = (h ^ seed) &* 0xBF58_476D_1CE4_E5B9
        return Int(truncatingIfNeeded: (h ^ (h >> 31)) >> shift)
    }

    /// The position cached for `key`, if any.
    @inline(__always)
    func position(of key: ServerKey) -> Int? {
        let packed = key.packed
        let s = slots[slot(key, packed: packed)]
        guard s.packed == packed && s.low == key.address.low && s.high == key.address.high else { return nil }
        return Int(s.position)
    }

    /// Remembers `key` at `position`; `servers` is how many the inventory holds (the table grows
    /// to keep twice as many slots, refilled from `keys`).
    mutating func remember(_ key: ServerKey, at position: Int, servers: Int, keys: (Int) -> ServerKey) {
        if servers * 2 > count {
            slots.deallocate()
            (slots, shift, count) = Self.allocate(bits: 64 - shift + 1)
            for p in 0..<servers { store(keys(p), at: p) }
        }
        store(key, at: position)
    }

    @inline(__always)
    private mutating func store(_ key: ServerKey, at position: Int) {
        let packed = key.packed
        slots[slot(key, packed: packed)] = Slot(high: key.address.high, low: key.address.low, packed: packed,
                                                position: Int32(truncatingIfNeeded: position))
    }
}

extension ServerKey {
    /// The port, the address family and the protocol in one word, never 0.
    var packed: UInt32 {
        // Bits 17 to 19 hold the protocol's index: room for eight protocols.
        let protoIndex = UInt32(truncatingIfNeeded: proto.index) & 7
        return UInt32(port) | (address.isIPv6 ? 1 << 16 : 0) | protoIndex << 17 | 1 << 20
    }
}
