import Alerts

// Escaping for the HTML report, in one place: text plainsight wrote itself is escaped for HTML
// only; bytes from the wire go through `OutputEscaping` (no controls, valid UTF-8) and then HTML,
// and that pair escapes each byte exactly once.

/// Text for HTML element content and attribute values.
func htmlEscape(_ text: String) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count)
    for byte in text.utf8 { appendHTML(byte, to: &out) }
    return String(decoding: out, as: UTF8.self)
}

/// Bytes from the wire. `OutputEscaping` writes JSON string escapes: `\"` and `\\`, `\u00XX` for
/// controls and scalars that rewrite text, `\\xNN` for a byte that is not UTF-8. The page shows
/// what a JSON reader of the same field decodes (`"`, `\`, `\xNN`), except that `\u00XX` stays
/// visible as text: decoding it would put the control back. HTML-escaping the JSON form as it
/// was showed `\"quoted\"` and `\\xFF`: escaped twice.
func htmlEscape(bytes: [UInt8]) -> String {
    var escaped: [UInt8] = []
    escaped.reserveCapacity(bytes.count + 8)
    OutputEscaping.append(bytes, to: &escaped)
    var out: [UInt8] = []
    out.reserveCapacity(escaped.count + 16)
    var i = 0
    while i < escaped.count {
        let byte = escaped[i]
        if byte == 0x5C, i + 1 < escaped.count, escaped[i + 1] == 0x22 || escaped[i + 1] == 0x5C {
            appendHTML(escaped[i + 1], to: &out)
            i += 2
            continue
        }
        appendHTML(byte, to: &out)
        i += 1
    }
    return String(decoding: out, as: UTF8.self)
}

/// Text from the wire held as a String (evidence lines naming mechanisms, products).
func htmlEscape(wire text: String) -> String { htmlEscape(bytes: Array(text.utf8)) }

private func appendHTML(_ byte: UInt8, to out: inout [UInt8]) {
    switch byte {
    case 0x26: out.append(contentsOf: "&amp;".utf8)
    case 0x3C: out.append(contentsOf: "&lt;".utf8)
    case 0x3E: out.append(contentsOf: "&gt;".utf8)
    case 0x22: out.append(contentsOf: "&quot;".utf8)
    case 0x27: out.append(contentsOf: "&#39;".utf8)
    default: out.append(byte)
    }
}

/// Advice text with `code` spans between backticks, as HTML.
func htmlWithCode(_ text: String) -> String {
    var html = ""
    for (i, part) in text.split(separator: "`", omittingEmptySubsequences: false).enumerated() {
        html += i % 2 == 1 ? "<code>\(htmlEscape(String(part)))</code>" : htmlEscape(String(part))
    }
    return html
}
