@testable import MailAuth
import Testing

// PendingQueue holds its oldest entry inline; these cases hold it to the plain array queue it
// replaced, including the bytes it charges (`heldBytes`, which shows in `parser_memory`).

/// The array queue it replaced, as the reference.
private struct ArrayQueue {
    let capacity: Int
    var items: [Int] = []
    var head = 0
    var overflows = 0

    var isEmpty: Bool { head >= items.count }
    var first: Int? { isEmpty ? nil : items[head] }
    var live: [Int] { Array(items[head...]) }
    var heldBytes: Int { items.count * MemoryLayout<Int>.stride }

    mutating func push(_ e: Int) -> Int? {
        var dropped: Int?
        if items.count - head >= capacity { dropped = items[head]; head += 1; overflows += 1 }
        if head > 0 && head == items.count { items.removeAll(keepingCapacity: true); head = 0 }
        else if head >= 64 { items.removeFirst(head); head = 0 }
        items.append(e)
        return dropped
    }

    mutating func popFirst() -> Int? {
        guard !isEmpty else { return nil }
        let e = items[head]
        head += 1
        if head == items.count { items.removeAll(); head = 0 }
        return e
    }
}

/// Operation scripts: a digit d pushes d entries, "p" pops one, "d" drains, "r" releases storage.
@Test("pending queue against the array queue", arguments: [
    (1, "1p1p1p"), (4, "1111pppp"), (32, "2p2p2p2p"), (3, "9ppp1pp"), (1, "5p5d"), (2, "3pr3p"),
    (32, String(repeating: "9p", count: 40) + "d"), (100, String(repeating: "3pp", count: 80) + "pp"),
    (5, String(repeating: "2p", count: 200)), (32, "99999999" + String(repeating: "p", count: 80)),
    (70, String(repeating: "9", count: 8) + String(repeating: "p1", count: 100) + "d"),
] as [(Int, String)])
func pendingQueueMatchesArrayQueue(_ capacity: Int, _ script: String) {
    var q = PendingQueue<Int>(capacity: capacity)
    var ref = ArrayQueue(capacity: capacity)
    var next = 0
    func check() {
        #expect(q.isEmpty == ref.isEmpty)
        #expect(q.first == ref.first)
        #expect(q.heldBytes == ref.heldBytes)
        #expect(q.overflows == ref.overflows)
        var seen: [Int] = []
        q.forEach { seen.append($0) }
        #expect(seen == ref.live)
    }
    for op in script {
        switch op {
        case "p":
            #expect(q.popFirst() == ref.popFirst())
        case "d":
            var got: [Int] = []
            q.drain { got.append($0) }
            #expect(got == ref.live)
            while ref.popFirst() != nil {}
        case "r":
            q.releaseStorage()
            ref.items = []
            ref.head = 0
        default:
            for _ in 0..<(op.wholeNumberValue ?? 0) {
                #expect(q.push(next) == ref.push(next))
                next += 1
            }
        }
        check()
    }
}
