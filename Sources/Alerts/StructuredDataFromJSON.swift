// RFC 5424 structured-data parameters made from plainsight's own compact JSON (AlertRenderer's
// output, never outside input): the JSON schema is the contract, and deriving the syslog
// parameters from it keeps every field, in order, as fields are added.
//
// String values in that JSON are already escaped by `OutputEscaping`: no control character, no
// bad UTF-8, `"` and `\` with a backslash, exactly what a PARAM-VALUE needs (RFC 5424 section
// 6.3.3) except for `]`, which gets its backslash here. `OutputEscaping` never writes a `]` of
// its own, so each one came from the input.

/// Walks one JSON object and appends ` name="value"` per leaf.
struct JSONFieldReader {
    private let bytes: [UInt8]
    private var index = 0

    init(_ json: [UInt8]) { bytes = json }

    /// Appends the parameters of the object at the reader's position; nested objects give names
    /// joined with `.`, arrays a comma-separated value. Stops at the first byte it does not
    /// expect (which our renderer never writes), so it cannot loop or trap.
    mutating func appendParameters(prefix: [UInt8], to out: inout [UInt8]) {
        guard take(0x7B) else { return }                              // {
        while index < bytes.count {
            if take(0x7D) { return }                                  // }
            _ = take(0x2C)                                            // ,
            guard take(0x22) else { return }
            var name = prefix
            while index < bytes.count && bytes[index] != 0x22 { name.append(bytes[index]); index += 1 }
            guard take(0x22), take(0x3A) else { return }              // ":
            guard index < bytes.count else { return }
            if bytes[index] == 0x7B {
                appendParameters(prefix: name + [0x2E], to: &out)
                continue
            }
            // An array of objects or arrays (a mail_session's `logins`) has no flat form: it is
            // left to the JSON message, read past here.
            if bytes[index] == 0x5B, index + 1 < bytes.count, bytes[index + 1] == 0x7B || bytes[index + 1] == 0x5B {
                guard skipValue() else { return }
                continue
            }
            // A name RFC 5424 does not allow (over 32 characters) is read past, not written.
            var scratch: [UInt8] = []
            let valid = Self.isSDName(name)
            if valid {
                out.append(0x20)
                out.append(contentsOf: name)
                out.append(contentsOf: [0x3D, 0x22])                 // ="
            }
            if take(0x5B) {                                           // [
                var first = true
                while index < bytes.count && !take(0x5D) {
                    if take(0x2C) { continue }
                    if !first { valid ? out.append(0x2C) : scratch.append(0x2C) }
                    first = false
                    let before = index
                    if valid { appendScalar(to: &out) } else { appendScalar(to: &scratch) }
                    if index == before { return }                     // not ours: stop
                }
            } else if valid {
                appendScalar(to: &out)
            } else {
                appendScalar(to: &scratch)
            }
            if valid { out.append(0x22) }
        }
    }

    /// SD-NAME: 1 to 32 printable US-ASCII characters except `=`, space, `]` and `"`.
    static func isSDName<Name: Collection<UInt8>>(_ name: Name) -> Bool {
        !name.isEmpty && name.count <= 32
            && name.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != 0x3D && $0 != 0x5D && $0 != 0x22 }
    }

    /// The value of the top-level `event_type` string, if the object has one.
    static func eventType(in json: [UInt8]) -> String? {
        let key = Array(#""event_type":""#.utf8)
        guard json.count > key.count else { return nil }
        for start in 0...(json.count - key.count) where json[start..<(start + key.count)].elementsEqual(key) {
            let valueStart = start + key.count
            guard let end = json[valueStart...].firstIndex(of: 0x22) else { return nil }
            let value = json[valueStart..<end]
            return isSDName(value) ? String(decoding: value, as: UTF8.self) : nil
        }
        return nil
    }

    /// A string's escaped content, or a number, `true`, `false`, `null` as written.
    private mutating func appendScalar(to out: inout [UInt8]) {
        if take(0x22) {
            while index < bytes.count && bytes[index] != 0x22 {
                let byte = bytes[index]
                if byte == 0x5C && index + 1 < bytes.count {          // keep \x pairs whole
                    out.append(byte)
                    out.append(bytes[index + 1])
                    index += 2
                    continue
                }
                if byte == 0x5D { out.append(0x5C) }                  // \]
                out.append(byte)
                index += 1
            }
            _ = take(0x22)
            return
        }
        while index < bytes.count, ![0x2C, 0x7D, 0x5D].contains(bytes[index]) {
            out.append(bytes[index])
            index += 1
        }
    }

    /// Reads past the object or array at the reader's position, strings and all; false if it does
    /// not end.
    private mutating func skipValue() -> Bool {
        var depth = 0
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if inString {
                if byte == 0x5C { index += 1 } else if byte == 0x22 { inString = false }
            } else if byte == 0x22 {
                inString = true
            } else if byte == 0x7B || byte == 0x5B {
                depth += 1
            } else if byte == 0x7D || byte == 0x5D {
                depth -= 1
                if depth == 0 { return true }
            }
        }
        return false
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }
}
