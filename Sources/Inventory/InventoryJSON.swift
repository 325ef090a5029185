import Alerts
import MailAuth
import Wire

// The inventory as JSON: `server_exposure` events for the JSON-lines output, and the `--report
// FILE.json` document. Keys are written in a fixed order, like the alert schema, and the schema
// is a contract in the same way: fields are added, never renamed or dropped. Every byte taken
// from the wire (banners, login names) goes through `OutputEscaping`.

/// Appends JSON to a byte buffer; keys in the order they are written.
struct JSONWriter: ~Copyable {
    var out: ByteSink
    private var needsComma = false
    /// For `OutputEscaping`, which appends to an array.
    private var scratch: [UInt8] = []

    init(capacity: Int = 256) { out = ByteSink(capacity: capacity) }

    /// The document written.
    consuming func bytes() -> [UInt8] { out.array() }

    /// The document written so far; the writer is emptied for the next one (its buffer kept).
    mutating func take() -> [UInt8] {
        defer { out.removeAll(); needsComma = false }
        return out.array()
    }

    /// Through the contiguous UTF-8 of the string, without the generic sequence path (about 300
    /// instructions a key) or a mutable copy of the string (callgrind).
    mutating func raw(_ text: String) {
        if text.utf8.withContiguousStorageIfAvailable({ out.append($0) }) == nil {
            out.append(Array(text.utf8))
        }
    }

    mutating func open(_ brace: Unicode.Scalar) { out.append(UInt8(ascii: brace)); needsComma = false }
    mutating func close(_ brace: Unicode.Scalar) { out.append(UInt8(ascii: brace)); needsComma = true }

    /// Keys are static text: copied from the binary as they are (a key through a String was about
    /// 240 instructions, a third of writing a server event; callgrind).
    mutating func key(_ name: StaticString) {
        let n = name.utf8CodeUnitCount
        var p = out.reserveTail(n + 4)
        if needsComma { p[0] = 0x2C; p += 1 }
        p[0] = 0x22
        (p + 1).update(from: name.utf8Start, count: n)
        p[n + 1] = 0x22
        p[n + 2] = 0x3A
        out.commit(n + 3 + (needsComma ? 1 : 0))
        needsComma = false
    }

    /// A key that is not static text (the report's verdict names).
    mutating func key(text name: String) {
        if needsComma { out.append(0x2C) }
        out.append(0x22); raw(name); out.append(0x22); out.append(0x3A)
        needsComma = false
    }

    mutating func string(_ text: String) {
        if text.utf8.withContiguousStorageIfAvailable({ string(bytes: $0) }) == nil {
            Array(text.utf8).withUnsafeBufferPointer { string(bytes: $0) }
        }
    }
    mutating func string(_ bytes: [UInt8]) { bytes.withUnsafeBufferPointer { string(bytes: $0) } }

    /// Bytes that `OutputEscaping` passes through unchanged (printable ASCII other than `"` and
    /// `\`) are copied as they are; anything else takes the escaping path. Same output: the generic
    /// escaper, called from here unspecialized, cost about 150 instructions a byte, most of the
    /// exposure events' time at exit on a capture with many servers (callgrind).
    private mutating func string(bytes: UnsafeBufferPointer<UInt8>) {
        if needsComma { out.append(0x2C) }
        out.append(0x22)
        if Self.isPlain(bytes) {
            out.append(bytes)
        } else {
            scratch.removeAll(keepingCapacity: true)
            OutputEscaping.append(bytes, to: &scratch)
            out.append(scratch)
        }
        out.append(0x22)
        needsComma = true
    }

    /// True when every byte is one that `OutputEscaping` passes through unchanged: printable ASCII
    /// other than `"` and `\`. Eight bytes a step (the classic SWAR tests for a byte below a bound
    /// or equal to a value, which never miss one; a false alarm would only send plain bytes
    /// through the escaper, which writes them unchanged): byte by byte it was about 5
    /// instructions a byte of evidence and banners (callgrind).
    static func isPlain(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZeroByte(_ v: UInt64) -> Bool { (v &- ones) & ~v & highs != 0 }
        let n = bytes.count
        var i = 0
        while i + 8 <= n {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            // 0x80 and above; below 0x20 (the high bit clear, as just checked); 0x7F, `"`, `\`.
            if w & highs != 0 || (w &- ones &* 0x20) & ~w & highs != 0
                || hasZeroByte(w ^ (ones &* 0x7F)) || hasZeroByte(w ^ (ones &* 0x22)) || hasZeroByte(w ^ (ones &* 0x5C)) {
                return false
            }
            i += 8
        }
        while i < n {
            let b = base[i]
            if b < 0x20 || b > 0x7E || b == 0x22 || b == 0x5C { return false }
            i += 1
        }
        return true
    }

    /// Decimal digits written in place rather than through `String(n)`.
    mutating func number(_ n: UInt64) {
        if needsComma { out.append(0x2C) }
        var digits = InlineArray<20, UInt8>(repeating: 0)     // UInt64.max has 20 digits
        var count = 0
        var rest = n
        repeat {
            digits[count] = 0x30 + UInt8(rest % 10)
            rest /= 10
            count += 1
        } while rest > 0
        while count > 0 { count -= 1; out.append(digits[count]) }
        needsComma = true
    }

    mutating func bool(_ b: Bool) {
        if needsComma { out.append(0x2C) }
        out.append(b ? "true" : "false")
        needsComma = true
    }

    /// `t` in RFC 3339, as `Timestamp.rfc3339` prints it.
    mutating func time(_ t: Timestamp) {
        if needsComma { out.append(0x2C) }
        out.append(0x22)
        t.withRFC3339Text { out.append($0) }
        out.append(0x22)
        needsComma = true
    }

    /// An address as a string, as `IPAddress.description` prints it (see `ByteSink.append(address:)`).
    mutating func address(_ a: IPAddress) {
        if needsComma { out.append(0x2C) }
        out.append(0x22)
        out.append(address: a)
        out.append(0x22)
        needsComma = true
    }

    mutating func strings(_ list: [String]) {
        if needsComma { out.append(0x2C) }
        open("[")
        for item in list { string(item) }
        close("]")
    }

    mutating func field(_ name: StaticString, _ n: UInt64) { key(name); number(n) }
    mutating func field(_ name: StaticString, _ b: Bool) { key(name); bool(b) }
    mutating func field(_ name: StaticString, _ text: String) { key(name); string(text) }
    mutating func field(_ name: StaticString, _ list: [String]) { key(name); strings(list) }
}

extension AssessedServer {
    /// The server's fields after its identity (`dest_ip`, `dest_port`, `app_proto`), shared by the
    /// event and the report.
    func appendBody(to w: inout JSONWriter) {
        let r = record
        w.field("verdict", assessment.verdict.rawValue)
        w.field("evidence", assessment.evidence)
        w.field("starttls_stripping_suspected", assessment.strippingSuspected)
        w.field("stripping_evidence", assessment.strippingEvidence)
        if let greeting = r.greeting { w.key("greeting"); w.string(greeting) }
        if let product = r.product { w.field("product", product) }
        if let version = r.version { w.field("version", version) }
        w.field("sessions", r.sessions)
        w.field("cleartext_sessions", r.cleartextSessions)
        w.field("midstream_sessions", r.midstreamSessions)
        w.field("sessions_with_capabilities", r.sessionsWithCapabilities)
        w.field("starttls_offered", r.starttlsOffered)
        w.field("starttls_offered_sessions", r.starttlsOfferedSessions)
        w.field("logindisabled", r.loginDisabled)
        w.field("plaintext_offered", r.plaintextOffered)
        w.field("auth_mechanisms", r.authMechanisms)
        w.field("starttls_requested", r.starttlsRequested)
        w.field("starttls_upgraded", r.starttlsUpgraded)
        w.field("starttls_refused", r.starttlsRefused)
        w.field("implicit_tls_sessions", r.implicitTLSSessions)
        w.field("tls_sessions", r.tlsSessions)
        w.field("cleartext_logins", r.cleartextLogins.total)
        w.key("cleartext_outcomes"); appendOutcomes(r.cleartextLogins, to: &w)
        w.field("cleartext_methods", r.cleartextMethods)
        w.field("hashed_logins", r.hashedLogins.total)
        w.key("hashed_outcomes"); appendOutcomes(r.hashedLogins, to: &w)
        w.field("hashed_methods", r.hashedMethods)
        w.field("distinct_users", UInt64(r.distinctUsers))
        w.field("distinct_users_capped", r.usersOverflow)
        if let users = listedUsers {
            w.key("users")
            w.open("[")
            for name in users { w.string(name) }
            w.close("]")
        }
        if let first = r.firstSeen { w.key("first_seen"); w.time(first) }
        if let last = r.lastSeen { w.key("last_seen"); w.time(last) }
    }

    /// Login names in byte order, when the run lists them (`--user-policy full`).
    var listedUsers: [[UInt8]]? {
        guard !record.listedUsers.isEmpty else { return nil }
        return record.listedUsers.sorted { $0.lexicographicallyPrecedes($1) }
    }

    func appendIdentity(to w: inout JSONWriter) {
        w.key("dest_ip"); w.address(record.key.address)
        w.field("dest_port", UInt64(record.key.port))
    }
}

private func appendOutcomes(_ c: LoginCounts, to w: inout JSONWriter) {
    w.open("{")
    w.field("success", c.success)
    w.field("failure", c.failure)
    w.field("unknown", c.unknown)
    w.close("}")
}

extension ServerInventory {
    /// One `server_exposure` event per server (compact, no newline), in `assessed()` order, in the
    /// EVE layout of the alert schema: identity at the top level, the rest under `server_exposure`.
    public func exposureEvents(time: Timestamp) -> [[UInt8]] {
        let servers = assessed()
        var events: [[UInt8]] = []
        events.reserveCapacity(servers.count)
        // An event is about a kilobyte and a half: one buffer for all of them, grown at most once.
        var w = JSONWriter(capacity: 2048)
        for server in servers {
            w.open("{")
            w.key("timestamp"); w.time(time)
            w.field("event_type", "server_exposure")
            server.appendIdentity(to: &w)
            w.field("proto", "TCP")
            w.field("app_proto", server.record.key.proto.rawValue)
            w.key("server_exposure")
            w.open("{")
            server.appendBody(to: &w)
            w.close("}")
            w.close("}")
            events.append(w.take())
        }
        return events
    }

    /// The `--report FILE.json` document: a summary, then `servers`, one object per line.
    public func reportJSON(generator: String) -> [UInt8] {
        let servers = assessed()
        let summary = InventorySummary(servers)
        var w = JSONWriter(capacity: 1024 + 2048 * servers.count)
        w.open("{")
        w.field("generator", generator)
        if let first = summary.firstSeen { w.key("first_seen"); w.time(first) }
        if let last = summary.lastSeen { w.key("last_seen"); w.time(last) }
        w.key("summary")
        w.open("{")
        w.field("servers", UInt64(servers.count))
        w.key("verdicts")
        w.open("{")
        for verdict in Verdict.allCases { w.key(text: verdict.rawValue); w.number(summary.servers[verdict, default: 0]) }
        w.close("}")
        w.field("cleartext_logins", summary.cleartextLogins)
        w.field("hashed_logins", summary.hashedLogins)
        w.field("tls_sessions", summary.tlsSessions)
        w.field("starttls_stripping_suspected", summary.strippingSuspected)
        w.field("untracked_events", untrackedEvents)
        w.close("}")
        w.key("servers")
        w.open("[")
        for (i, server) in servers.enumerated() {
            w.raw(i == 0 ? "\n" : ",\n")
            w.open("{")
            server.appendIdentity(to: &w)
            w.field("app_proto", server.record.key.proto.rawValue)
            server.appendBody(to: &w)
            w.close("}")
        }
        w.raw(servers.isEmpty ? "" : "\n")
        w.close("]")
        w.close("}")
        w.raw("\n")
        return w.bytes()
    }
}

/// Totals over all servers, for the report's summary, the HTML page and the terminal table.
public struct InventorySummary: Sendable {
    public var servers: [Verdict: UInt64] = [:]
    public var cleartextLogins: UInt64 = 0
    public var hashedLogins: UInt64 = 0
    public var tlsSessions: UInt64 = 0
    public var sessions: UInt64 = 0
    public var strippingSuspected: UInt64 = 0
    public var firstSeen: Timestamp?
    public var lastSeen: Timestamp?

    public init(_ assessed: [AssessedServer]) {
        for s in assessed {
            servers[s.assessment.verdict, default: 0] += 1
            cleartextLogins &+= s.record.cleartextLogins.total
            hashedLogins &+= s.record.hashedLogins.total
            tlsSessions &+= s.record.tlsSessions
            sessions &+= s.record.sessions
            if s.assessment.strippingSuspected { strippingSuspected += 1 }
            if let f = s.record.firstSeen, firstSeen.map({ f < $0 }) ?? true { firstSeen = f }
            if let l = s.record.lastSeen, lastSeen.map({ l > $0 }) ?? true { lastSeen = l }
        }
    }
}
