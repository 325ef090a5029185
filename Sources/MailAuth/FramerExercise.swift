// A public way to drive the internal `LineFramer` with hostile input and check what it promises,
// for the framer fuzz target and its regression tests (both outside this module). A broken promise
// traps: under libFuzzer a trap is a reported crash with the input saved.

public enum FramerExercise {
    /// Interprets `data` as a script of deliveries, gaps and mode changes for one framer:
    /// a control byte `c`, then
    /// - `c < 0x80`: deliver the next `c & 0x3F` bytes (0x3F: the length is the next two bytes,
    ///   big-endian, so lines longer than `maxLine` are reachable), split in two at byte `c >> 6`
    ///   of the chunk when that bit is set, so straddling lines are exercised;
    /// - `0x80...0xBF`: a gap of `c & 0x3F` bytes;
    /// - `0xC0...0xFF`: a mode change: literal of the next byte's count, dot body, or line.
    ///
    /// Checks, for every unit: progress (no unit leaves the cursor where it was, so the session's
    /// loop cannot hang), lines without LF and at most `maxLine` bytes, the buffered partial line
    /// bounded, and a literal never longer than what was announced.
    public static func run(_ data: Span<UInt8>) {
        var framer = LineFramer()
        var i = 0
        var literalLeft = 0
        while i < data.count {
            let c = data[i]
            i += 1
            if c >= 0xC0 {
                let n = i < data.count ? Int(data[i]) : 0
                i += 1
                let mode: FramerMode
                switch c & 3 {
                case 0: mode = .literal(n)
                case 1: mode = .literal(n &* 257)
                case 2: mode = .dotBody
                default: mode = .line
                }
                framer.setMode(mode)
                if case .literal(let k) = framer.mode { literalLeft = k } else { literalLeft = 0 }
                continue
            }
            if c >= 0x80 {
                framer.gap(UInt64(c & 0x3F))
                if case .literal(let k) = framer.mode { literalLeft = k } else { literalLeft = 0 }
                continue
            }
            var length = Int(c & 0x3F)
            if length == 0x3F {
                guard i + 1 < data.count else { return }
                length = Int(data[i]) << 8 | Int(data[i + 1])
                i += 2
            }
            let end = min(data.count, i + length)
            if c & 0x40 != 0 && end - i >= 2 {
                let middle = i + (end - i) / 2
                deliver(data.extracting(i..<middle), &framer, &literalLeft)
                deliver(data.extracting(middle..<end), &framer, &literalLeft)
            } else {
                deliver(data.extracting(i..<end), &framer, &literalLeft)
            }
            i = end
        }
        framer.clearPartial()
        precondition(framer.partial.isEmpty, "clearPartial left bytes behind")
    }

    private static func deliver(_ bytes: Span<UInt8>, _ framer: inout LineFramer, _ literalLeft: inout Int) {
        var cursor = 0
        while cursor < bytes.count {
            let before = cursor
            let unit = framer.next(bytes, &cursor)
            precondition(cursor > before && cursor <= bytes.count, "framer made no progress")
            switch unit {
            case .line(let r):
                precondition(r.lowerBound >= before && r.upperBound <= cursor, "line outside the delivery")
                precondition(r.count <= framer.maxLine, "line longer than maxLine")
                for k in r where bytes[k] == ASCII.lf { preconditionFailure("LF inside a line") }
            case .bufferedLine:
                precondition(framer.partial.count <= framer.maxLine, "buffered line longer than maxLine")
                precondition(!framer.partial.contains(ASCII.lf), "LF inside a buffered line")
                framer.partial.wipe()
            case .literal(let r):
                precondition(r.count <= literalLeft, "literal longer than announced")
                literalLeft -= r.count
            case .modeEnded, .needMore:
                break
            }
            precondition(framer.partial.count <= framer.maxLine, "partial line unbounded")
            if case .literal(let k) = framer.mode { literalLeft = k } else if case .literal = unit { literalLeft = 0 }
        }
    }
}
