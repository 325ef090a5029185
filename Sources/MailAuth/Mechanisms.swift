// The SASL mechanisms a server listed (`ServerFacts.mechanisms`), kept without a String or an
// array per session for the usual names: a banner scan records two or three mechanisms in almost
// every SMTP and IMAP session.

/// SASL mechanism names in order of first mention, as a server listed them. The well-known names
/// are 4-bit codes packed in one word; any other name is kept as a String in `others`, which stays
/// empty (no heap object) for a usual list. Equal lists compare equal at the cost of a few words.
public struct MechanismList: Sendable, Equatable {
    /// The mechanisms a list holds as codes: `rawValue` is the code.
    public enum Known: Int, CaseIterable, Sendable {
        case plain = 1, login, xoauth2, oauthBearer, cramMD5, digestMD5, ntlm, gssapi,
             scramSHA1, scramSHA256, anonymous, external, scramSHA1Plus, scramSHA256Plus

        /// The name as servers list it (upper case).
        public var name: String { MechanismList.known[rawValue - 1] }
    }

    /// `Known` names, by code - 1.
    static let known: [String] = [
        "PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", "CRAM-MD5", "DIGEST-MD5", "NTLM", "GSSAPI",
        "SCRAM-SHA-1", "SCRAM-SHA-256", "ANONYMOUS", "EXTERNAL", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS",
    ]
    /// The code of an entry that is the next name of `others`.
    static let otherCode: UInt64 = 15
    /// Entries that fit in `codes`.
    static let packedCapacity = 16

    /// Entry i is bits 4i..<4i+4 (oldest in the low bits), when `count <= packedCapacity`.
    /// Usable from inlined code, as are `others` and `knownBits`: the inventory compares a list
    /// and tests its mechanisms at every ended session, and a call for each would cost more
    /// than the test.
    @usableFromInline private(set) var codes: UInt64 = 0
    /// Entries in the list.
    public private(set) var count = 0
    /// Names without a code, in order; the whole list when it is longer than `packedCapacity`
    /// (only a list set by hand can be).
    @usableFromInline private(set) var others: [String] = []
    /// Bit code-1 is set when the known name with that code is in the list.
    @usableFromInline private(set) var knownBits: UInt16 = 0

    public init() {}

    /// `names` as given, duplicates included (`ServerFacts.addMechanism` is what skips them).
    public init(_ names: [String]) {
        if names.count > MechanismList.packedCapacity {
            others = names
            count = names.count
            for name in names { if let c = MechanismList.code(of: name) { knownBits |= 1 << (c - 1) } }
            return
        }
        for name in names { append(name) }
    }

    public var isEmpty: Bool { count == 0 }

    /// The packed codes first: a list of known names only is equal to another when the words are,
    /// and `others` is then empty in both, which is told without the call comparing arrays.
    /// `knownBits` follows from the rest.
    @inlinable public static func == (a: MechanismList, b: MechanismList) -> Bool {
        guard a.codes == b.codes && a.count == b.count else { return false }
        return (a.others.isEmpty && b.others.isEmpty) || a.others == b.others
    }

    /// Empty again, as `MechanismList()`.
    mutating func reset() {
        codes = 0
        count = 0
        knownBits = 0
        if others.capacity != 0 { others = [] }
    }

    /// Lists of one or two known names, prebuilt and shared, at `codes & 0xFF` (the first code in
    /// the low four bits, then the second or 0): nearly every server lists one or two well-known
    /// mechanisms, and the inventory reads the names of every list new to a server: an array
    /// allocated and freed per read would cost what the packed codes save.
    private static let shortLists: [[String]] = (0..<256).map { i -> [String] in
        let first = i & 0xF, second = i >> 4
        guard first >= 1 && first <= known.count && second <= known.count else { return [] }
        return second == 0 ? [known[first - 1]] : [known[first - 1], known[second - 1]]
    }

    /// The list as names (allocates for a list of more than two names or of other names).
    public var names: [String] {
        guard count > 0 else { return [] }
        if count <= 2 && others.isEmpty { return MechanismList.shortLists[Int(codes & 0xFF)] }
        if count > MechanismList.packedCapacity { return others }
        var out: [String] = []
        out.reserveCapacity(count)
        var other = 0
        var word = codes
        for _ in 0..<count {
            let c = Int(word & 0xF)
            word >>= 4
            if c == Int(MechanismList.otherCode) {
                out.append(others[other])
                other += 1
            } else {
                out.append(MechanismList.known[c - 1])
            }
        }
        return out
    }

    @inlinable public func contains(_ mechanism: Known) -> Bool { knownBits & (1 << (mechanism.rawValue - 1)) != 0 }

    public func contains(_ name: String) -> Bool {
        if let c = MechanismList.code(of: name) { return knownBits & (1 << (c - 1)) != 0 }
        return others.contains(name)
    }

    /// Appends `name` (duplicates allowed: `ServerFacts.addMechanism` checks first).
    mutating func append(_ name: String) {
        if let c = MechanismList.code(of: name) { appendKnown(c) } else { appendOther(name) }
    }

    /// Appends the known name with code `c` (1...14).
    mutating func appendKnown(_ c: Int) {
        knownBits |= 1 << (c - 1)
        // The packed case without the call that also handles names without a code (an optional
        // String argument and its release): most capability lists name two or three known
        // mechanisms.
        if count < MechanismList.packedCapacity {
            codes |= UInt64(c) << UInt64(4 * count)
            count += 1
            return
        }
        append(code: UInt64(c), other: nil)
    }

    mutating func appendOther(_ name: String) { append(code: MechanismList.otherCode, other: name) }

    private mutating func append(code c: UInt64, other: String?) {
        guard count >= MechanismList.packedCapacity else {
            if let other { others.append(other) }
            codes |= c << UInt64(4 * count)
            count += 1
            return
        }
        // Past 16 entries (only a list set by hand gets there): the whole list moves to `others`.
        var all = names
        all.append(other ?? MechanismList.known[Int(c) - 1])
        others = all
        codes = 0
        count = all.count
    }

    /// The code of a known name, nil for any other.
    static func code(of name: String) -> Int? {
        known.firstIndex(of: name).map { $0 + 1 }
    }
}

extension Span where Element == UInt8 {
    /// The `MechanismList` code of the mechanism named by `line[t]` (case-insensitive), nil when it
    /// is not one of the known names. `mechanismName(t)` of a matching token is exactly that name:
    /// known names are upper case and only hold safe characters.
    func knownMechanismCode(_ t: Token) -> Int? {
        guard t.count >= 4 && t.count <= 18 else { return nil }
        switch ASCII.upper(self[t.start]) {
        case UInt8(ascii: "P"): if equalsUpper(t, "PLAIN") { return 1 }
        case UInt8(ascii: "L"): if equalsUpper(t, "LOGIN") { return 2 }
        case UInt8(ascii: "X"): if equalsUpper(t, "XOAUTH2") { return 3 }
        case UInt8(ascii: "O"): if equalsUpper(t, "OAUTHBEARER") { return 4 }
        case UInt8(ascii: "C"): if equalsUpper(t, "CRAM-MD5") { return 5 }
        case UInt8(ascii: "D"): if equalsUpper(t, "DIGEST-MD5") { return 6 }
        case UInt8(ascii: "N"): if equalsUpper(t, "NTLM") { return 7 }
        case UInt8(ascii: "G"): if equalsUpper(t, "GSSAPI") { return 8 }
        case UInt8(ascii: "S"):
            if equalsUpper(t, "SCRAM-SHA-1") { return 9 }
            if equalsUpper(t, "SCRAM-SHA-256") { return 10 }
            if equalsUpper(t, "SCRAM-SHA-1-PLUS") { return 13 }
            if equalsUpper(t, "SCRAM-SHA-256-PLUS") { return 14 }
        case UInt8(ascii: "A"): if equalsUpper(t, "ANONYMOUS") { return 11 }
        case UInt8(ascii: "E"): if equalsUpper(t, "EXTERNAL") { return 12 }
        default: break
        }
        return nil
    }
}
