/// A counter tree for the `stats` event: keys keep the order they are given in.
public indirect enum StatValue: Sendable, Equatable {
    case count(UInt64)
    case object([StatField])
    /// A JSON array (per-worker counters under `--workers`).
    case array([StatValue])
    /// A word (a mode's name): printable ASCII other than `"` and `\\`, so it needs no escaping.
    case word(String)
}

public struct StatField: Sendable, Equatable {
    public var name: String
    public var value: StatValue
    public init(_ name: String, _ value: StatValue) { self.name = name; self.value = value }
    public init(_ name: String, _ count: UInt64) { self.name = name; self.value = .count(count) }
}
