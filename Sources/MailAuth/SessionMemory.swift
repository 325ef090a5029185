// What session parsers hold between deliveries is small per flow but multiplied by every flow the
// table keeps: a flood of flows each holding a partial line, a queue of logins awaiting replies or
// a held greeting would add up past any sensible total. So every such byte is charged to one
// budget per engine (`--parser-memory`), as the reassembler charges out-of-order bytes to its own.

/// Per-session bounds (`--max-line`, `--max-pending`).
public struct SessionLimits: Sendable, Equatable {
    public static let defaultMaxLine = 4096
    public static let defaultMaxPending = 32
    /// Longest line a framer assembles; longer ones are skipped to their LF and counted.
    public var maxLine = SessionLimits.defaultMaxLine
    /// Commands awaiting their reply per session (pipelined, or tagged in IMAP); beyond, the
    /// oldest is given up (a login among them is reported with outcome unknown) and counted.
    public var maxPending = SessionLimits.defaultMaxPending

    public init() {}

    public init(maxLine: Int, maxPending: Int) {
        self.maxLine = max(1, maxLine)
        self.maxPending = max(1, maxPending)
    }
}

/// The bytes held by the session parsers of one engine, across every flow. Not thread-safe: one
/// per engine, like the flow table.
///
/// A session is charged after each delivery with what it then holds (buffer capacities, not
/// counts: capacity is what the heap gave). When the total is over the limit, the session whose
/// holdings just grew sheds them: logins awaiting a reply are reported at once with outcome
/// `unknown` (a login is never lost to the cap, only its outcome), a partial line is dropped (its
/// rest skipped to the LF) and later logins of the flow are flagged as after a gap.
public final class SessionMemory {
    public let limit: Int
    // Unchecked: a session is charged after every delivery, and dynamic exclusivity checks would
    // add two per charge. One engine's thread owns the budget.
    @exclusivity(unchecked) public private(set) var used = 0
    @exclusivity(unchecked) public private(set) var peak = 0
    /// Times a session shed what it held because the budget was exhausted.
    public private(set) var budgetHits: UInt64 = 0

    public init(limitBytes: Int) {
        limit = max(0, limitBytes)
    }

    /// Replaces a holder's charge `old` with `new`. False if the budget is now exceeded and the
    /// holder grew: the caller must shed and charge again.
    @inline(__always)
    public func recharge(from old: Int, to new: Int) -> Bool {
        unsafe used += new - old
        if unsafe used > peak { unsafe peak = unsafe used }
        return unsafe used <= limit || new <= old
    }

    public func countHit() { budgetHits += 1 }
}
