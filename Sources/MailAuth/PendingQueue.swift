/// A bounded FIFO matching pipelined commands to replies (POP3, SMTP). When it is full the oldest
/// entry is dropped, counted and handed back (a login in it is reported, not lost): a flood of
/// pipelined commands cannot grow memory.
///
/// The oldest entry is held inline and only the ones behind it go to an array: a dialogue without
/// pipelining never has more than one command in flight, so it allocates nothing.
struct PendingQueue<Element> {
    let capacity: Int
    private var oldest: Element?
    /// The entries after `oldest`, from `laterHead` on (empty while `oldest` is nil).
    private var later: [Element] = []
    private var laterHead = 0
    /// `heldBytes` charges what a plain array of the entries would hold: the entries pushed
    /// since it was last emptied or compacted (`slots`), of which `head` are already gone. Kept
    /// exactly so, since the charge shows in the statistics (`parser_memory`).
    private var slots = 0
    private var head = 0
    private(set) var overflows = 0

    init(capacity: Int = SessionLimits.defaultMaxPending) {
        self.capacity = max(1, capacity)
    }

    var isEmpty: Bool { oldest == nil }
    var first: Element? { oldest }

    /// Heap bytes held (charged to `SessionMemory`), from the entry count: the capacity the
    /// allocator grants varies from run to run, and the charge must not.
    var heldBytes: Int { slots * MemoryLayout<Element>.stride }

    /// Appends `e`; returns the entry dropped to make room, if any.
    @discardableResult
    mutating func push(_ e: Element) -> Element? {
        var dropped: Element?
        if slots - head >= capacity {
            dropped = removeOldest()
            head += 1
            overflows += 1
        }
        if head > 0 && head == slots {
            slots = 0
            head = 0
        } else if head >= 64 {
            slots -= head
            head = 0
        }
        if oldest == nil {
            oldest = e
        } else {
            if laterHead >= 64 {
                later.removeFirst(laterHead)
                laterHead = 0
            }
            later.append(e)
        }
        slots += 1
        return dropped
    }

    mutating func popFirst() -> Element? {
        guard let e = removeOldest() else { return nil }
        head += 1
        if head == slots {
            slots = 0
            head = 0
        }
        return e
    }

    /// Takes `oldest` and moves the next entry up.
    private mutating func removeOldest() -> Element? {
        guard let e = oldest else { return nil }
        if laterHead < later.count {
            oldest = later[laterHead]
            laterHead += 1
            if laterHead == later.count {
                // The storage of a short burst is kept for the next one; what a long pipelined
                // burst grew is given back, since the budget charges entries, not capacity.
                later.removeAll(keepingCapacity: later.count <= 4)
                laterHead = 0
            }
        } else {
            oldest = nil
        }
        return e
    }

    /// Removes every entry, handing each to `body` in order.
    mutating func drain(_ body: (Element) -> Void) {
        while let e = popFirst() { body(e) }
    }

    /// Each entry, oldest first.
    func forEach(_ body: (Element) -> Void) {
        guard let oldest else { return }
        body(oldest)
        for i in laterHead..<later.count { body(later[i]) }
    }

    /// As `init(capacity:)` made it (same capacity), in place: what is already as new is not
    /// written again.
    mutating func reset() {
        releaseStorage()
        overflows = 0
    }

    /// Gives the storage back (after `drain`, under memory pressure, and at every session's end).
    /// Storage that was never grown is not replaced, so most sessions release nothing here.
    mutating func releaseStorage() {
        if case .some = oldest { oldest = nil }
        if later.capacity != 0 { later = [] }
        laterHead = 0
        slots = 0
        head = 0
    }
}
