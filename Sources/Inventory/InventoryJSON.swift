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
    /// The last time formatted by `time`, and its minute.
    private var timeText: [UInt8] = []
    private var timeMinute: Int64 = 0

    init(capacity: Int = 256) { out = ByteSink(capacity: capacity) }

    /// The document written.
    consuming func bytes() -> [UInt8] { out.array() }

    /// The document written so far; the writer is emptied for the next one (its buffer kept).
    mutating func take() -> [UInt8] {
        defer { out.removeAll(); needsComma = false }
        return out.array()
    }

    /// Through the contiguous UTF-8 of the string, without the generic sequence path or a mutable
    /// copy of the string.
    mutating func raw(_ text: String) {
        if text.utf8.withContiguousStorageIfAvailable({ out.append($0) }) == nil {
            out.append(Array(text.utf8))
        }
    }

    mutating func open(_ brace: Unicode.Scalar) { out.append(UInt8(ascii: brace)); needsComma = false }
    mutating func close(_ brace: Unicode.Scalar) { out.append(UInt8(ascii: brace)); needsComma = true }
    /// An object as an array's element: after a comma when one came before it.
    mutating func openElement() {
        if needsComma { out.append(0x2C) }
        open("{")
    }

    /// Keys are static text: copied from the binary as they are, not through a String.
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
    /// `\`) are copied as they are; anything else takes the escaping path. Same output, without
    /// calling the generic escaper, unspecialized from here, for every byte.
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
    /// through the escaper, which writes them unchanged): evidence and banners are mostly plain.
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

    /// `t` in RFC 3339, as `Timestamp.rfc3339` prints it. The text of the last time formatted is
    /// kept: a time in the same minute only needs its seconds and six fractional digits
    /// (microseconds, truncated) written over it: a server event writes two times, a server's
    /// first and last session are mostly in the same minute, and so are many servers' sessions.
    mutating func time(_ t: Timestamp) {
        if needsComma { out.append(0x2C) }
        out.append(0x22)
        // Floor division, as the formatter's: a time before 1970 has a non-negative fraction.
        var minute = t.nanoseconds / 60_000_000_000
        var nanos = t.nanoseconds % 60_000_000_000
        if nanos < 0 { minute -= 1; nanos += 60_000_000_000 }
        if timeText.count == Timestamp.rfc3339Bytes && minute == timeMinute {
            // ss.ffffff at 17..<26: the seconds, then the microseconds.
            var micros = nanos / 1_000
            timeText.withUnsafeMutableBufferPointer { text in
                for i in stride(from: 25, through: 20, by: -1) {
                    text[i] = 0x30 &+ UInt8(truncatingIfNeeded: micros % 10)
                    micros /= 10
                }
                text[18] = 0x30 &+ UInt8(truncatingIfNeeded: micros % 10)
                text[17] = 0x30 &+ UInt8(truncatingIfNeeded: micros / 10)
            }
        } else {
            timeText.removeAll(keepingCapacity: true)
            t.withRFC3339Text { timeText.append(contentsOf: $0) }
            timeMinute = minute
        }
        out.append(timeText)
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

extension ServerRecord {
    /// The server's fields after its identity (`dest_ip`, `dest_port`, `app_proto`), shared by the
    /// event and the report; `verdict` must be `Verdict(self)`. The evidence is written as it is
    /// worked out, without a String per line (see `EvidenceLine`). `listUsers`: write `users`
    /// (`--user-policy full` only).
    func appendBody(verdict: Verdict, context: BodyContext, to w: inout JSONWriter) {
        let listUsers = context.listUsers
        w.field("verdict", verdict.contractName)
        w.key("evidence")
        w.open("[")
        Assessment.evidence(self, verdict: verdict) { w.string($0.bytes) }
        w.close("]")
        w.field("starttls_stripping_suspected", Assessment.strippingSuspected(self))
        w.key("stripping_evidence")
        w.open("[")
        Assessment.strippingEvidence(self) { w.string($0.bytes) }
        w.close("]")
        if let greeting { w.key("greeting"); w.string(greeting) }
        if let product { w.field("product", product) }
        if let version { w.field("version", version) }
        w.field("sessions", sessions)
        w.field("cleartext_sessions", cleartextSessions)
        w.field("midstream_sessions", midstreamSessions)
        w.field("sessions_with_capabilities", sessionsWithCapabilities)
        w.field("starttls_offered", starttlsOffered)
        w.field("starttls_offered_sessions", starttlsOfferedSessions)
        w.field("logindisabled", loginDisabled)
        w.field("plaintext_offered", plaintextOffered)
        w.field("auth_mechanisms", authMechanisms)
        w.field("starttls_requested", starttlsRequested)
        w.field("starttls_upgraded", starttlsUpgraded)
        w.field("starttls_refused", starttlsRefused)
        w.field("implicit_tls_sessions", implicitTLSSessions)
        w.field("tls_sessions", tlsSessions)
        w.field("cleartext_logins", cleartextLogins.total)
        w.key("cleartext_outcomes"); appendOutcomes(cleartextLogins, to: &w)
        w.field("cleartext_methods", cleartextMethods)
        w.field("hashed_logins", hashedLogins.total)
        w.key("hashed_outcomes"); appendOutcomes(hashedLogins, to: &w)
        w.field("hashed_methods", hashedMethods)
        w.field("distinct_users", UInt64(distinctUsers))
        w.field("distinct_users_capped", usersOverflow)
        if listUsers, let users = sortedListedUsers {
            w.key("users")
            w.open("[")
            for name in users { w.string(name) }
            w.close("]")
        }
        if let firstSeen { w.key("first_seen"); w.time(firstSeen) }
        if let lastSeen { w.key("last_seen"); w.time(lastSeen) }
        // Added after the fields above (the schema only grows): the verdict says `unknown`.
        if verdict == .hashedOnly { w.field("hashed_only", true) }
        // Added for `plainsight report` (issue 20): the counts behind the evidence that the
        // fields above give only as booleans or not at all, so a merge recomputes the verdict
        // and its evidence from sums; and how `users` and `distinct_users` compare across inputs.
        w.field("plaintext_offered_sessions", plaintextOfferedSessions)
        w.field("logindisabled_sessions", loginDisabledSessions)
        w.field("starttls_refused_after_offer", starttlsRefusedAfterOffer)
        if let policy = context.policy { w.field("user_policy", policy) }
        if let keyID = context.keyID { w.field("user_key_id", keyID) }
    }

    /// Login names in byte order, when the run lists them (`--user-policy full`).
    var sortedListedUsers: [[UInt8]]? {
        guard !listedUsers.isEmpty else { return nil }
        return listedUsers.sorted { $0.lexicographicallyPrecedes($1) }
    }

    func appendIdentity(to w: inout JSONWriter) {
        w.key("dest_ip"); w.address(key.address)
        w.field("dest_port", UInt64(key.port))
    }
}

extension AssessedServer {
    /// Login names in byte order, when the run lists them (`--user-policy full`).
    var listedUsers: [[UInt8]]? { namesListed ? record.sortedListedUsers : nil }
}

/// `{"success":…,"failure":…,"unknown":…}`, as the exposure event, the report and the session
/// event write login counts.
func appendOutcomes(_ c: LoginCounts, to w: inout JSONWriter) {
    w.open("{")
    w.field("success", c.success)
    w.field("failure", c.failure)
    w.field("unknown", c.unknown)
    w.close("}")
}

extension ServerInventory {
    /// One `server_exposure` event per server (compact, no newline), in `assessed()` order, in the
    /// EVE layout of the alert schema: identity at the top level, the rest under `server_exposure`.
    /// `community_id` (last, after the `server_exposure` object) is the Community ID, by
    /// `communityID`'s seed, of one connection to the server: see `ServerRecord.evidenceClient`.
    public func exposureEvents(time: Timestamp, communityID: CommunityID = CommunityID()) -> [[UInt8]] {
        var events: [[UInt8]] = []
        events.reserveCapacity(serverCount)
        // An event is about a kilobyte and a half: one buffer for all of them, grown at most once.
        var w = JSONWriter(capacity: 2048)
        // The same in every event: formatted once (see `JSONWriter.time`).
        let timestamp = time.withRFC3339Text { Array($0) }
        forEachOrdered { record, verdict in
            w.open("{")
            w.key("timestamp"); w.string(timestamp)
            w.field("event_type", "server_exposure")
            record.appendIdentity(to: &w)
            w.field("proto", "TCP")
            w.field("app_proto", record.key.proto.rawValue)
            w.key("server_exposure")
            w.open("{")
            record.appendBody(verdict: verdict, context: bodyContext, to: &w)
            w.close("}")
            if let client = record.evidenceClient,
               let id = communityID.string(source: client, sourcePort: record.evidenceClientPort,
                                           destination: record.key.address, destinationPort: record.key.port) {
                w.field("community_id", id)
            }
            w.close("}")
            events.append(w.take())
        }
        return events
    }

    /// The `--report FILE.json` document: a summary, then `servers`, one object per line.
    public func reportJSON(generator: String) -> [UInt8] {
        let servers = assessed()
        let summary = InventorySummary(servers)
        let context = bodyContext
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
        for verdict in Verdict.contractCases { w.key(text: verdict.rawValue); w.number(summary.contractCount(verdict)) }
        w.close("}")
        w.field("cleartext_logins", summary.cleartextLogins)
        w.field("hashed_logins", summary.hashedLogins)
        w.field("tls_sessions", summary.tlsSessions)
        w.field("starttls_stripping_suspected", summary.strippingSuspected)
        w.field("untracked_events", untrackedEvents)
        // Added: the servers counted under `unknown` above that saw challenge-response logins only.
        w.field("hashed_only", summary.servers[.hashedOnly, default: 0])
        w.close("}")
        w.key("servers")
        w.open("[")
        for (i, server) in servers.enumerated() {
            w.raw(i == 0 ? "\n" : ",\n")
            w.open("{")
            server.record.appendIdentity(to: &w)
            w.field("app_proto", server.record.key.proto.rawValue)
            server.record.appendBody(verdict: server.assessment.verdict, context: context, to: &w)
            appendSensors(server.record, to: &w)
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

    /// Servers with this verdict as the JSON names them (`unknown` includes `hashed_only`).
    public func contractCount(_ verdict: Verdict) -> UInt64 {
        let count = servers[verdict, default: 0]
        return verdict == .unknown ? count &+ servers[.hashedOnly, default: 0] : count
    }

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
