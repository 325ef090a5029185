/// A bounded FIFO matching pipelined commands to replies (POP3, SMTP). When it is full the oldest
/// entry is dropped, counted and handed back (a login in it is reported, not lost): a flood of
/// pipelined commands cannot grow memory.
struct PendingQueue<Element> {
    let capacity: Int
    private var items: [Element] = []
    private var head = 0
    private(set) var overflows = 0

    init(capacity: Int = SessionLimits.defaultMaxPending) {
        self.capacity = max(1, capacity)
    }

    var isEmpty: Bool { head >= items.count }
    var first: Element? { isEmpty ? nil : items[head] }

    /// Heap bytes held (charged to `SessionMemory`), from the entry count: the capacity the
    /// allocator grants varies from run to run, and the charge must not.
    var heldBytes: Int { items.count * MemoryLayout<Element>.stride }

    /// Appends `e`; returns the entry dropped to make room, if any.
    @discardableResult
    mutating func push(_ e: Element) -> Element? {
        var dropped: Element?
        if items.count - head >= capacity {
            dropped = items[head]
            head += 1
            overflows += 1
        }
        if head > 0 && head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 {
            items.removeFirst(head)
            head = 0
        }
        items.append(e)
        return dropped
    }

    mutating func popFirst() -> Element? {
        guard !isEmpty else { return nil }
        let e = items[head]
        head += 1
        if head == items.count {
            // The storage of a normal dialogue (a command or two in flight) is kept for the next
            // command; what a pipelined burst grew is given back, since the budget charges
            // entries, not capacity.
            items.removeAll(keepingCapacity: items.count <= 4)
            head = 0
        }
        return e
    }

    /// Removes every entry, handing each to `body` in order.
    mutating func drain(_ body: (Element) -> Void) {
        while let e = popFirst() { body(e) }
    }

    /// Each entry, oldest first.
    func forEach(_ body: (Element) -> Void) {
        for i in head..<items.count { body(items[i]) }
    }

    /// Gives the storage back (after `drain`, under memory pressure).
    mutating func releaseStorage() {
        items = []
        head = 0
    }
}
