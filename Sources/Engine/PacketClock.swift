import Wire

/// The one clock of the packet path: packet time, advanced by every packet that reaches a stage
/// with state (the flow table, the defragmenter) and by a live capture's read timeouts. Stages
/// with timeouts expire their state when it ticks, once a second of packet time, so a replay
/// always times out the same flows and datagrams at the same packets.
struct PacketClock {
    static let tickInterval: Int64 = 1_000_000_000
    private var nextTick: Int64 = .min

    /// Moves the clock to `time`; true when the stages must expire what timed out by `time`.
    /// A packet stamped earlier than the last tick (captures may be unsorted) expires nothing.
    @inline(__always)
    mutating func advance(to time: Timestamp) -> Bool {
        guard time.nanoseconds >= nextTick else { return false }
        nextTick = time.nanoseconds &+ Self.tickInterval
        return true
    }
}
