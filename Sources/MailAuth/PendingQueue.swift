/// A bounded FIFO matching pipelined commands to replies (POP3, SMTP). When it is full the oldest
/// entry is dropped and counted: a flood of pipelined commands cannot grow memory.
struct PendingQueue<Element> {
    static var capacity: Int { 32 }
    private var items: [Element] = []
    private var head = 0
    private(set) var overflows = 0

    var isEmpty: Bool { head >= items.count }
    var first: Element? { isEmpty ? nil : items[head] }

    mutating func push(_ e: Element) {
        if items.count - head >= Self.capacity {
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
    }

    mutating func popFirst() -> Element? {
        guard !isEmpty else { return nil }
        let e = items[head]
        head += 1
        if head == items.count { items.removeAll(keepingCapacity: true); head = 0 }
        return e
    }

    /// Removes every entry, handing each to `body` in order.
    mutating func drain(_ body: (Element) -> Void) {
        while let e = popFirst() { body(e) }
    }
}
