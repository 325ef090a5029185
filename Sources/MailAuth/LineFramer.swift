#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Cuts one direction of a TCP stream into lines without copying them. Pull-style: the session asks
// for the next unit and gets offsets into the lent bytes; only a line that straddles two
// deliveries is copied, and only up to `maxLine` bytes (Suricata's SMTP line limit, 4 KiB by
// default, `--max-line`). Modes cover
// the places where a text protocol carries raw bytes: IMAP `{n}` literals and SMTP BDAT chunks
// (counted), and SMTP DATA bodies (dot-terminated), so message content never reaches a parser as
// commands.

public enum FramerMode: Equatable, Sendable {
    case line
    /// The next `n` bytes are opaque.
    case literal(Int)
    /// Everything up to a line holding a single `.` is message content.
    case dotBody
}

struct LineFramer {
    /// Longest line assembled; a longer one is skipped to its LF and counted.
    let maxLine: Int

    init(maxLine: Int = SessionLimits.defaultMaxLine) {
        self.maxLine = max(1, maxLine)
    }

    enum Unit {
        /// A complete line at `range` of the delivered bytes, LF removed.
        case line(Range<Int>)
        /// A complete line assembled in `partial` (it straddled deliveries).
        case bufferedLine
        /// Raw literal bytes at `range`.
        case literal(Range<Int>)
        /// The end of a literal or of a dot-terminated body was reached.
        case modeEnded
        /// The rest of the delivery was consumed (kept as a partial line or skipped).
        case needMore
    }

    private(set) var mode: FramerMode = .line
    /// The start of a line that has not ended yet (bounded by `maxLine`).
    var partial: [UInt8] = []
    /// An overlong line is being skipped up to its LF.
    private var discarding = false
    /// Dot-body scanning state carried across deliveries: 0 at line start, 1 after ".",
    /// 2 after ".\r", 3 inside a line.
    private var bodyState: UInt8 = 0
    private(set) var overlongLines = 0

    mutating func setMode(_ m: FramerMode) {
        mode = m
        bodyState = 0
        if case .literal(let n) = m, n <= 0 { mode = .line }
    }

    /// A hole in the stream: literals and bodies consume the lost bytes and a partial line is
    /// dropped. The bytes after a gap are framed as lines again at once: a lost segment usually
    /// ends at a command boundary, and a fragment that starts mid-line parses as no command.
    mutating func gap(_ length: UInt64) {
        partial.wipe()
        discarding = false
        switch mode {
        case .literal(let n):
            mode = UInt64(n) > length ? .literal(n - Int(length)) : .line
        case .dotBody:
            bodyState = 3
        case .line:
            break
        }
    }

    /// A partial line may be half a `PASS` command: wipe it, don't just drop it. Its storage is
    /// given back too: the flow is over.
    mutating func clearPartial() {
        // Nothing was ever held (storage is only made by `grow`, which sets `reserved`): the usual
        // case at the end of a session, with nothing to wipe or give back.
        guard reserved > 0 || !partial.isEmpty else { return }
        partial.wipe()
        partial = []
        reserved = 0
    }

    /// Back to `LineFramer(maxLine:)` for a new flow (see `SessionParser.reset`), the partial line
    /// wiped.
    mutating func reset() {
        clearPartial()
        mode = .line
        discarding = false
        bodyState = 0
        overlongLines = 0
    }

    /// Heap bytes held between deliveries (charged to `SessionMemory`): what `grow` asked for.
    /// Not `partial.capacity`, which the allocator rounds differently from run to run: the
    /// charge, and the statistics built on it, must be the same for the same input.
    var heldBytes: Int { reserved }
    private var reserved = 0

    /// The parser memory budget is exhausted: drop the partial line (wiped, storage freed) and
    /// skip the rest of it up to its LF, as for an overlong line. True if a line was lost.
    mutating func shed() -> Bool {
        let lost = !partial.isEmpty
        clearPartial()
        if lost && mode == .line { discarding = true }
        return lost
    }

    /// The usual unit, a whole line inside the delivered bytes, is found inline in the session's
    /// loop, so a short line does not pay for a call; everything else (partial and overlong lines,
    /// literals, bodies) out of line.
    @inline(__always)
    mutating func next(_ bytes: Span<UInt8>, _ cursor: inout Int) -> Unit {
        let end = bytes.count
        guard cursor < end else { return .needMore }
        if case .line = mode, !discarding, partial.isEmpty,
           let lf = bytes.firstIndex(of: ASCII.lf, from: cursor, end: end), lf - cursor <= maxLine {
            let start = cursor
            cursor = lf + 1
            return .line(start..<lf)
        }
        return nextOutOfLine(bytes, &cursor)
    }

    private mutating func nextOutOfLine(_ bytes: Span<UInt8>, _ cursor: inout Int) -> Unit {
        let end = bytes.count
        switch mode {
        case .literal(let remaining):
            let n = min(remaining, end - cursor)
            let r = cursor..<(cursor + n)
            cursor += n
            if n == remaining { mode = .line } else { mode = .literal(remaining - n) }
            return .literal(r)
        case .dotBody:
            return scanBody(bytes, &cursor)
        case .line:
            return scanLine(bytes, &cursor)
        }
    }

    private mutating func scanLine(_ bytes: Span<UInt8>, _ cursor: inout Int) -> Unit {
        let end = bytes.count
        let start = cursor
        guard let lf = bytes.firstIndex(of: ASCII.lf, from: start, end: end) else {
            cursor = end
            if discarding { return .needMore }
            if partial.count + (end - start) > maxLine {
                overlongLines += 1
                partial.wipe()
                discarding = true
            } else {
                append(bytes, start, end)
            }
            return .needMore
        }
        cursor = lf + 1
        if discarding {
            discarding = false
            partial.wipe()
            return .needMore
        }
        if partial.isEmpty {
            if lf - start > maxLine {
                overlongLines += 1
                return .needMore
            }
            return .line(start..<lf)
        }
        if partial.count + (lf - start) > maxLine {
            overlongLines += 1
            partial.wipe()
            return .needMore
        }
        append(bytes, start, lf)
        return .bufferedLine
    }

    private mutating func append(_ bytes: Span<UInt8>, _ from: Int, _ to: Int) {
        let needed = partial.count + (to - from)
        if needed > reserved { grow(to: needed) }
        for i in from..<to { partial.append(bytes[i]) }
    }

    /// Grows the partial-line storage by hand: a reallocation by `append` would free the old
    /// buffer unwiped, and it may hold the start of a `PASS` line. Storage starts small (most
    /// flows never hold a line across deliveries) and doubles up to `maxLine`.
    private mutating func grow(to needed: Int) {
        var larger: [UInt8] = []
        reserved = min(maxLine, max(needed, 2 * reserved, 128))
        larger.reserveCapacity(reserved)
        larger.append(contentsOf: partial)
        partial.wipe()
        swap(&larger, &partial)
    }

    /// Finds the line holding only "." (CRLF or bare LF) without copying the body.
    ///
    /// Works on one unchecked view of the rest of the delivery: message bodies are most of the
    /// bytes of a mailbox session, too many for a checked sub-span per line for the LF search and
    /// a state step for each line's first two bytes. Once a line is known not to be the
    /// terminator, the scan skips to the next line that starts with ".".
    private mutating func scanBody(_ bytes: Span<UInt8>, _ cursor: inout Int) -> Unit {
        let start = cursor
        let end = bytes.count
        guard start < end else { return .needMore }
        return unsafe bytes.extracting(start..<end).withUnsafeBufferPointer { b -> Unit in
            guard let base = b.baseAddress else { return .needMore }
            let n = b.count
            var i = 0
            while i < n {
                let c = unsafe b[i]
                i += 1
                // 0: line start; 1: after "."; 2: after ".\r"; 3: inside a line whose byte `c` (not
                // an LF when it got here from 1 or 2) has been read.
                switch bodyState {
                case 0:
                    if c == ASCII.dot { bodyState = 1; continue }
                    if c == ASCII.lf { continue }
                case 1:
                    if c == ASCII.lf { return endBody(&cursor, start + i) }
                    if c == ASCII.cr { bodyState = 2; continue }
                case 2:
                    if c == ASCII.lf { return endBody(&cursor, start + i) }
                default:
                    if c == ASCII.lf { bodyState = 0; continue }
                }
                // Inside a line that is not the terminator. Only a line starting with "." can end
                // the body, so skip to the next LF followed by ".", 32 bytes a step (two 16-byte
                // halves, their masks or-ed): a `memchr` to every LF would be a call per line of
                // every message, and one 16-byte step at a time spends as much on the loop as on
                // the compares.
                var j = i
                let lfs = SIMD16<UInt8>(repeating: ASCII.lf), dots = SIMD16<UInt8>(repeating: ASCII.dot)
                // Safe: called with at + 17 <= n only (both loops' tests), so both loads lie in `b`.
                @inline(__always) func hitWords(_ at: Int) -> SIMD2<UInt64> {
                    let here = unsafe UnsafeRawPointer(base + at).loadUnaligned(as: SIMD16<UInt8>.self)
                    let after = unsafe UnsafeRawPointer(base + at + 1).loadUnaligned(as: SIMD16<UInt8>.self)
                    // Lanes where an LF is followed by "." (all ones), tested as two words: `any`
                    // on a mask is an out-of-line call.
                    return unsafe unsafeBitCast((here .== lfs) .& (after .== dots), to: SIMD2<UInt64>.self)
                }
                while j + 33 <= n {
                    let w = hitWords(j) | hitWords(j + 16)
                    if w[0] | w[1] != 0 { break }
                    j += 32
                }
                while j + 17 <= n {
                    let w = hitWords(j)
                    if w[0] | w[1] != 0 { break }
                    j += 16
                }
                // Byte by byte from there: that LF, or the end of the delivery (at a line start
                // when its last byte is an LF).
                bodyState = 3
                i = n
                while j < n {
                    if unsafe b[j] == ASCII.lf {
                        if j + 1 == n { bodyState = 0; break }
                        if unsafe b[j + 1] == ASCII.dot { i = j + 1; bodyState = 0; break }
                    }
                    j += 1
                }
            }
            cursor = end
            return .needMore
        }
    }

    private mutating func endBody(_ cursor: inout Int, _ at: Int) -> Unit {
        cursor = at
        mode = .line
        bodyState = 0
        return .modeEnded
    }
}
