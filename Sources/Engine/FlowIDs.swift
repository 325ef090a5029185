import Reassembly

// The `flow_id` of an alert. A replay numbers flows 1, 2, 3... in the order they appear, so its
// output is the same every run (and the fixtures' goldens keep their ids). A live capture's flows
// are numbered the same way inside the engine, but the number in the alert must not repeat after
// a restart, on another sensor or in another worker, or a SIEM joins alerts of different
// connections: there the engine's number is mixed with a random key drawn at start.

struct FlowIDs {
    /// nil: the engine's own numbering (replay).
    let key: UInt64?

    init(key: UInt64?) { self.key = key }

    /// `unique`: a key of its own, drawn now (one per engine, so live workers differ too).
    init(unique: Bool) {
        var random = SystemRandomNumberGenerator()
        key = unique ? random.next() : nil
    }

    /// JSON numbers above 2^53 lose precision in JavaScript-based tools: ids stay below.
    static let mask: UInt64 = (1 << 53) - 1

    func id(of info: FlowInfo) -> UInt64 {
        guard let key else { return info.id }
        // SplitMix64's finaliser: a bijection of 64 bits, so the ids of one run differ before the
        // mask; after it two of one run coincide with probability about n^2 / 2^54.
        var z = info.id &+ key
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let id = z & Self.mask
        return id == 0 ? 1 : id
    }
}
