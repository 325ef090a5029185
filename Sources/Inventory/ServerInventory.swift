import Alerts
import Crypto
import Engine
import MailAuth
import Reassembly
import Wire

// The mail-server exposure inventory (issue 7): one record per server (address, port, protocol),
// fed by the engine's observer calls: every login as it is seen, every session as it ends. Plain
// aggregation, no Foundation; rendering lives in the other files of this module.

/// A server as the inventory counts it: the same address and port speaking another protocol (or a
/// cleartext greeting on an implicit-TLS port) is another entry.
public struct ServerKey: Hashable, Sendable {
    public var address: IPAddress
    public var port: UInt16
    public var proto: MailProtocol

    public init(address: IPAddress, port: UInt16, proto: MailProtocol) {
        self.address = address; self.port = port; self.proto = proto
    }

    /// Three words instead of the five fields one by one: the record of every ended session is
    /// looked up by its key, and hashing is most of that lookup.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(address.high)
        hasher.combine(address.low)
        // Bits 17 to 19 hold the protocol's index: room for eight protocols.
        let protoIndex = UInt32(truncatingIfNeeded: proto.index) & 7
        hasher.combine(UInt32(port) | (address.isIPv6 ? 1 << 16 : 0) | protoIndex << 17)
    }
}

public struct LoginCounts: Sendable, Equatable {
    public var success: UInt64 = 0
    public var failure: UInt64 = 0
    public var unknown: UInt64 = 0
    public var total: UInt64 { success &+ failure &+ unknown }

    public init(success: UInt64 = 0, failure: UInt64 = 0, unknown: UInt64 = 0) {
        self.success = success; self.failure = failure; self.unknown = unknown
    }

    mutating func add(_ other: LoginCounts) {
        success &+= other.success; failure &+= other.failure; unknown &+= other.unknown
    }

    mutating func add(_ outcome: Outcome) {
        switch outcome {
        case .success: success &+= 1
        case .failure: failure &+= 1
        case .unknown: unknown &+= 1
        }
    }
}

/// Everything seen about one server. Sessions are counted when their flow ends; logins when they
/// are seen.
public struct ServerRecord: Sendable {
    /// Bounds on per-server sets, so a scan or a flood cannot grow memory without limit; a set that
    /// reached its bound is flagged and its count becomes a lower bound.
    public static let maxDistinctUsers = 100_000
    public static let maxListedUsers = 1_000
    public static let maxListedClients = 1_000
    public static let maxNames = 32

    public let key: ServerKey
    /// The first banner seen, and the product/version it names.
    public var greeting: [UInt8]?
    public var product: String?
    public var version: String?

    /// Every ended session: parsed ones plus implicit-TLS ones.
    public var sessions: UInt64 = 0
    /// Sessions parsed in cleartext (at least until a STARTTLS upgrade).
    public var cleartextSessions: UInt64 = 0
    public var midstreamSessions: UInt64 = 0
    /// Parsed sessions in which a capability list was seen before TLS and login.
    public var sessionsWithCapabilities: UInt64 = 0
    /// Of those, sessions whose list advertised STARTTLS / LOGINDISABLED / a plaintext login.
    public var starttlsOfferedSessions: UInt64 = 0
    public var loginDisabledSessions: UInt64 = 0
    public var plaintextOfferedSessions: UInt64 = 0
    /// Union over sessions, in `PlaintextOffer.order` / order of first mention.
    public var plaintextOffered: [String] = []
    /// `plaintextOffered` as bits.
    var plaintextOffer = PlaintextOffer()
    public var authMechanisms: [String] = []
    /// The list last merged into `authMechanisms`: every name of it is there (or the list is
    /// full), and `authMechanisms` only grows, so a session listing the same is skipped.
    var lastMechanisms = MechanismList()

    public var starttlsRequested: UInt64 = 0
    /// Sessions upgraded with STARTTLS (the server accepted).
    public var starttlsUpgraded: UInt64 = 0
    public var starttlsRefused: UInt64 = 0
    /// Refusals in sessions whose capability list had advertised STARTTLS.
    public var starttlsRefusedAfterOffer: UInt64 = 0
    /// Sessions that opened with a TLS handshake on an implicit-TLS port.
    public var implicitTLSSessions: UInt64 = 0

    public var cleartextLogins = LoginCounts()
    public var hashedLogins = LoginCounts()
    /// Login methods seen (`USER`, `LOGIN`, `AUTH PLAIN`, ...), by exposure.
    public var cleartextMethods: [String] = []
    public var hashedMethods: [String] = []
    /// Keyed hashes (SipHash-2-4) of the login names: counts without names.
    var userDigests: Set<UInt64> = []
    public var usersOverflow = false
    /// The login names as the run's policy shows them (`ServerInventory.userPolicy`, the alerts'
    /// `UserPolicy.apply`): masked, hashed, or as captured only under `full`; none under `omit`.
    /// Kept in that form, so a name as captured is never held where no output may show it.
    public var listedUsers: Set<[UInt8]> = []
    public var listedUsersOverflow = false
    /// Client addresses that sent a login to this server, with their logins (cleartext and
    /// hashed); at most `maxListedClients`, then `clientsOverflow`.
    public var clients: [IPAddress: UInt64] = [:]
    public var clientsOverflow = false

    public var firstSeen: Timestamp?
    public var lastSeen: Timestamp?
    /// The client end of the connection the exposure event's `community_id` names: the first with
    /// a cleartext login, else the first with a hashed one, else the first session that ended.
    public var evidenceClient: IPAddress?
    public var evidenceClientPort: UInt16 = 0
    /// What `evidenceClient` was chosen for: 2 a cleartext login, 1 a hashed one, 0 a session.
    var evidenceRank = 0

    public init(key: ServerKey) { self.key = key }

    /// Keeps `flow` as the evidence if it is better evidence (`rank`) than the one kept.
    mutating func evidence(_ flow: FlowInfo, rank: Int) {
        guard evidenceClient == nil || rank > evidenceRank else { return }
        evidenceClient = flow.client
        evidenceClientPort = flow.clientPort
        evidenceRank = rank
    }

    /// Distinct users known only as a count (a merged report or event without the names): the
    /// count is at least this (`ServerInventory.add(aggregate:)`).
    public var distinctUsersFloor = 0
    public var distinctUsers: Int { Swift.max(userDigests.count, distinctUsersFloor) }
    /// STARTTLS upgrades and implicit TLS.
    public var tlsSessions: UInt64 { starttlsUpgraded &+ implicitTLSSessions }
    public var starttlsOffered: Bool { starttlsOfferedSessions > 0 }
    public var loginDisabled: Bool { loginDisabledSessions > 0 }

    mutating func seen(_ time: Timestamp) {
        if firstSeen.map({ time < $0 }) ?? true { firstSeen = time }
        if lastSeen.map({ time > $0 }) ?? true { lastSeen = time }
    }

    /// Adds another input's totals for the same server (`ServerInventory.add(aggregate:)`).
    mutating func add(_ a: ServerRecord) {
        if greeting == nil, let g = a.greeting { greeting = g; product = a.product; version = a.version }
        sessions &+= a.sessions
        cleartextSessions &+= a.cleartextSessions
        midstreamSessions &+= a.midstreamSessions
        sessionsWithCapabilities &+= a.sessionsWithCapabilities
        starttlsOfferedSessions &+= a.starttlsOfferedSessions
        loginDisabledSessions &+= a.loginDisabledSessions
        plaintextOfferedSessions &+= a.plaintextOfferedSessions
        let offer = plaintextOffer.union(PlaintextOffer(names: a.plaintextOffered))
        if offer != plaintextOffer {
            plaintextOffer = offer
            plaintextOffered = offer.names
        }
        Self.merge(a.authMechanisms, into: &authMechanisms)
        starttlsRequested &+= a.starttlsRequested
        starttlsUpgraded &+= a.starttlsUpgraded
        starttlsRefused &+= a.starttlsRefused
        starttlsRefusedAfterOffer &+= a.starttlsRefusedAfterOffer
        implicitTLSSessions &+= a.implicitTLSSessions
        cleartextLogins.add(a.cleartextLogins)
        hashedLogins.add(a.hashedLogins)
        Self.merge(a.cleartextMethods, into: &cleartextMethods)
        Self.merge(a.hashedMethods, into: &hashedMethods)
        if let f = a.firstSeen { seen(f) }
        if let l = a.lastSeen { seen(l) }
    }

    static func merge(_ names: [String], into list: inout [String]) {
        // A session's list is usually the server's list again, in the same order: then every name
        // is there already, found with compares that succeed on their first word, without
        // searching the list for each name.
        if names.count <= list.count {
            var same = true
            for i in names.indices where names[i] != list[i] { same = false; break }
            if same { return }
        }
        for name in names { merge(name, into: &list) }
    }

    static func merge(_ name: String, into list: inout [String]) {
        if list.count < maxNames && !list.contains(name) { list.append(name) }
    }
}

/// Logins over time in at most `maxBuckets` buckets: the bucket width starts at one second and
/// steps up a ladder of round durations (merging neighbours) whenever the span would need more, so
/// memory stays fixed for a capture of any length and a bar is "10 min" or "1 day", not 2^21 s.
public struct TimeHistogram: Sendable {
    public static let maxBuckets = 512
    public private(set) var widthNanoseconds: Int64 = 1_000_000_000
    /// Bucket index (time / width) -> (cleartext, hashed) logins.
    public private(set) var buckets: [Int64: (cleartext: UInt64, hashed: UInt64)] = [:]
    /// The lowest and highest bucket index used (meaningful when `buckets` is not empty), kept as
    /// buckets are added: finding them in the keys would take a pass over up to `maxBuckets` keys,
    /// twice, per login.
    private var low: Int64 = 0
    private var high: Int64 = 0

    public init() {}

    public mutating func add(_ time: Timestamp, exposure: Exposure) {
        var index = Self.floorDiv(time.nanoseconds, widthNanoseconds)
        if buckets.isEmpty {
            low = index; high = index
        } else {
            low = Swift.min(low, index); high = Swift.max(high, index)
        }
        var entry = buckets[index] ?? (0, 0)
        if exposure == .cleartext { entry.cleartext &+= 1 } else { entry.hashed &+= 1 }
        buckets[index] = entry
        while span > Self.maxBuckets {
            coarsen()
            index = Self.floorDiv(time.nanoseconds, widthNanoseconds)
        }
    }

    /// Buckets from the first to the last one used.
    var span: Int64 {
        buckets.isEmpty ? 0 : high - low + 1
    }

    /// Bucket widths in seconds, each a multiple of the one before (so buckets merge whole);
    /// past the last, the width doubles.
    static let widthLadder: [Int64] = [1, 2, 10, 30, 60, 120, 600, 1_800, 3_600, 7_200, 21_600, 43_200,
                                       86_400, 604_800, 2_419_200]

    /// How many buckets of the current width make one of the next.
    private var nextRatio: Int64 {
        let seconds = widthNanoseconds / 1_000_000_000
        if let i = Self.widthLadder.firstIndex(of: seconds), i + 1 < Self.widthLadder.count {
            return Self.widthLadder[i + 1] / seconds
        }
        return 2
    }

    private mutating func coarsen() {
        let ratio = nextRatio
        widthNanoseconds = widthNanoseconds &* ratio
        // floorDiv is monotonic: the extremes stay the extremes.
        low = Self.floorDiv(low, ratio)
        high = Self.floorDiv(high, ratio)
        var merged: [Int64: (cleartext: UInt64, hashed: UInt64)] = [:]
        for (index, counts) in buckets {
            let target = Self.floorDiv(index, ratio)
            var entry = merged[target] ?? (0, 0)
            entry.cleartext &+= counts.cleartext
            entry.hashed &+= counts.hashed
            merged[target] = entry
        }
        buckets = merged
    }

    /// (bucket start, cleartext, hashed), every bucket from the first to the last used, in order.
    public var series: [(start: Timestamp, cleartext: UInt64, hashed: UInt64)] {
        guard let low = buckets.keys.min(), let high = buckets.keys.max() else { return [] }
        return (low...high).map { index in
            let counts = buckets[index] ?? (0, 0)
            return (Timestamp(nanoseconds: index &* widthNanoseconds), counts.cleartext, counts.hashed)
        }
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}

/// The inventory: an engine observer that keeps one `ServerRecord` per server. Used on the engine's
/// thread only.
public final class ServerInventory: SessionObserver {
    /// Servers tracked at most: a scan through thousands of hosts must not grow memory without
    /// bound (a record is about a kilobyte). Sessions and logins of servers beyond it are counted.
    public static let maxServers = 65_536
    /// Sessions and logins that belonged to servers past `maxServers`.
    public private(set) var untrackedEvents: UInt64 = 0
    /// The key for counting distinct users: the run's `--user-hash-key-file` key, or random bytes.
    private let userKey: SymmetricKey
    /// Hashes login names for the distinct-user count, keyed by HMAC-SHA256(`userKey`, a label)
    /// so the run's key decides it without being used directly.
    private let userHasher: SipHash24
    /// How login names appear in every rendering (as in the alerts).
    /// Set once more by a merge (`adopt`), from its inputs.
    public private(set) var userPolicy: UserPolicy
    /// An HTML page will be rendered, the one rendering that lists every server's clients and
    /// users under any policy. Without one, clients are not kept at all, and names only for the
    /// JSON renderings' `users` (`listUsersInJSON`): no output would show the rest.
    public var rendersPage = true
    /// Login names are kept for the renderings that show them.
    var keepsUsers: Bool { userPolicy != .omit && (rendersPage || listUsersInJSON) }
    /// The JSON renderings name users (`users`) only under `--user-policy full`, as they always
    /// did; the HTML page shows them under every policy but `omit`, through the policy.
    public var listUsers: Bool { userPolicy == .full }
    /// The JSON names users (`users`) under `full` and, since issue 20, `hash` (the keyed hashes
    /// the alerts show), so that `plainsight report` can merge them.
    var listUsersInJSON: Bool {
        switch userPolicy {
        case .full, .hash: return true
        case .mask, .omit: return false
        }
    }
    /// The policy as the JSON names it (`user_policy`); nil in a merge of inputs that stated none.
    public var policyLabel: String?
    /// Under `hash`: which key (`UserPolicy.keyID`), so hashes of different keys are not merged.
    public var userKeyID: String?
    /// Login names arrive as the policy shows them already (a merge of events): listed as they
    /// are, never through the policy again.
    public var namesShown = false
    /// Which sensors saw each server, for the reports.
    public var sensors = SensorAttribution.none
    // Unchecked: the inventory is used on the engine's thread only, and every ended session would
    // pay dynamic exclusivity checks on these.
    /// The records in the order their servers were first seen; `positions` finds them by key,
    /// behind the `recent` cache. Positions are stable (records are never removed), so the cache can
    /// hold them, as it could not a dictionary index.
    @exclusivity(unchecked) private var storage: [ServerRecord] = []
    @exclusivity(unchecked) private var positions: [ServerKey: Int] = [:]
    @exclusivity(unchecked) private var recent = RecentServers()
    /// Every record by its server (built when asked: the engine's path does not use it).
    public var records: [ServerKey: ServerRecord] {
        Dictionary(uniqueKeysWithValues: storage.lazy.map { ($0.key, $0) })
    }
    /// How many servers are tracked.
    public var serverCount: Int { storage.count }
    @exclusivity(unchecked) public private(set) var timeline = TimeHistogram()

    /// `userHashKey`: nil draws a random key for this run (distinct users are then comparable only
    /// within the run). `listUsers`: `full` when true, else `mask`.
    public convenience init(userHashKey: [UInt8]?, listUsers: Bool) {
        self.init(userHashKey: userHashKey, userPolicy: listUsers ? .full : .mask)
    }

    public init(userHashKey: [UInt8]?, userPolicy: UserPolicy) {
        if let userHashKey {
            userKey = SymmetricKey(data: userHashKey)
        } else {
            var random = SystemRandomNumberGenerator()
            userKey = SymmetricKey(data: (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })
        }
        userHasher = SipHash24(key: HMAC<SHA256>.authenticationCode(
            for: Array("plainsight distinct users".utf8), using: userKey).withUnsafeBytes { Array($0) })
        self.userPolicy = userPolicy
        policyLabel = userPolicy.label
        if case .hash(let key) = userPolicy { userKeyID = UserPolicy.keyID(key) }
    }

    /// A copy to render from while the engine goes on counting into this one (live refreshes):
    /// the arrays are shared until either side writes, so the copy costs nothing until then.
    private init(copying other: ServerInventory) {
        userKey = other.userKey
        userHasher = other.userHasher
        userPolicy = other.userPolicy
        rendersPage = other.rendersPage
        untrackedEvents = other.untrackedEvents
        storage = other.storage
        positions = other.positions
        timeline = other.timeline
        policyLabel = other.policyLabel
        userKeyID = other.userKeyID
        namesShown = other.namesShown
        sensors = other.sensors
    }

    public func snapshot() -> ServerInventory { ServerInventory(copying: self) }

    public func login(_ finding: Finding, flow: FlowInfo) {
        let key = ServerKey(address: flow.server, port: flow.serverPort, proto: finding.proto)
        guard let position = recordPosition(for: key) else { return }
        login(finding, client: flow.client, into: &storage[position])
        storage[position].evidence(flow, rank: finding.exposure == .cleartext ? 2 : 1)
    }

    private func login(_ finding: Finding, client: IPAddress, into record: inout ServerRecord) {
        let time = Timestamp(nanoseconds: finding.timeNanoseconds)
        record.seen(time)
        switch finding.exposure {
        case .cleartext:
            record.cleartextLogins.add(finding.outcome)
            ServerRecord.merge(finding.method, into: &record.cleartextMethods)
        case .hashed:
            record.hashedLogins.add(finding.outcome)
            ServerRecord.merge(finding.method, into: &record.hashedMethods)
        }
        if let name = finding.username {
            // A name this server saw before is listed already: the policy (a mask, or an HMAC
            // under `hash`) runs once per distinct name and server, not once per login.
            var newName = true
            if record.userDigests.count < ServerRecord.maxDistinctUsers {
                newName = record.userDigests.insert(name.withUnsafeBytes { userHasher.hash($0) }).inserted
            } else {
                record.usersOverflow = true
            }
            if newName, keepsUsers, let shown = namesShown ? name : userPolicy.apply(to: name) {
                if record.listedUsers.count < ServerRecord.maxListedUsers {
                    record.listedUsers.insert(shown)
                } else if !record.listedUsers.contains(shown) {
                    record.listedUsersOverflow = true
                }
            }
        }
        if rendersPage {
            if let index = record.clients.index(forKey: client) {
                record.clients.values[index] &+= 1
            } else if record.clients.count < ServerRecord.maxListedClients {
                record.clients[client] = 1
            } else {
                record.clientsOverflow = true
            }
        }
        timeline.add(time, exposure: finding.exposure)
    }

    public func sessionEnded(_ session: EndedSession) {
        switch session.kind {
        case .implicitTLS:
            let key = ServerKey(address: session.flow.server, port: session.flow.serverPort, proto: session.proto)
            guard let position = recordPosition(for: key) else { return }
            Self.sessionEnded(flow: session.flow, into: &storage[position])
            storage[position].implicitTLSSessions &+= 1
        case .parsed(let facts):
            sessionEnded(flow: session.flow, proto: session.proto, facts: facts, closedAt: session.closedAt)
        }
    }

    public func sessionEnded(flow: FlowInfo, proto: MailProtocol, facts: borrowing ServerFacts, closedAt: Timestamp) {
        let key = ServerKey(address: flow.server, port: flow.serverPort, proto: proto)
        guard let position = recordPosition(for: key) else { return }
        Self.sessionEnded(flow: flow, into: &storage[position])
        Self.parsedSessionEnded(facts: facts, into: &storage[position])
    }

    /// What every ended session adds to its server's record.
    private static func sessionEnded(flow: FlowInfo, into record: inout ServerRecord) {
        record.sessions &+= 1
        if record.evidenceClient == nil { record.evidence(flow, rank: 0) }
        record.seen(flow.firstSeen)
        record.seen(flow.lastSeen)
        if flow.midstream { record.midstreamSessions &+= 1 }
    }

    /// What a session parsed in cleartext adds, from its facts (lent, not copied).
    private static func parsedSessionEnded(facts: borrowing ServerFacts, into record: inout ServerRecord) {
        record.cleartextSessions &+= 1
        if record.greeting == nil, let greeting = facts.greeting {
            record.greeting = greeting
            let identified = facts.identifiedProduct()
            record.product = identified?.product
            record.version = identified?.version
        }
        if facts.capabilitiesSeen {
            record.sessionsWithCapabilities &+= 1
            if facts.starttlsOffered { record.starttlsOfferedSessions &+= 1 }
            if facts.loginDisabled { record.loginDisabledSessions &+= 1 }
        }
        let plaintext = PlaintextOffer(facts)
        if !plaintext.isEmpty {
            record.plaintextOfferedSessions &+= 1
            // Keep the fixed order of `PlaintextOffer.order` across sessions. Rebuilt only when
            // this session names one not listed yet (usually the same list again).
            if !record.plaintextOffer.isSuperset(of: plaintext) {
                record.plaintextOffer.formUnion(plaintext)
                record.plaintextOffered = record.plaintextOffer.names
            }
        }
        // The same list as the session before it (the usual case): nothing new to merge, and the
        // lists are compared without building either as names.
        if !(facts.mechanisms == record.lastMechanisms) {
            ServerRecord.merge(facts.mechanisms.names, into: &record.authMechanisms)
            record.lastMechanisms = facts.mechanisms
        }
        if facts.starttlsRequested { record.starttlsRequested &+= 1 }
        if facts.starttlsAccepted { record.starttlsUpgraded &+= 1 }
        if facts.starttlsRefused {
            record.starttlsRefused &+= 1
            if facts.starttlsOffered { record.starttlsRefusedAfterOffer &+= 1 }
        }
    }

    /// Where the server's record is in `storage`, a new one made if needed; nil (the event counted
    /// as untracked) when `maxServers` are tracked already. Callers update the record in place: a
    /// record copied out and stored back would share its arrays and sets with the stored one, so
    /// every insert would copy them (a set of user digests per login). A position rather than a
    /// closure: the closure's context would copy the ended session, retaining everything in it.
    @inline(__always)
    private func recordPosition(for key: ServerKey) -> Int? {
        if let position = recent.position(of: key) { return position }
        return recordPositionMissed(key)
    }

    private func recordPositionMissed(_ key: ServerKey) -> Int? {
        let position: Int
        if let known = positions[key] {
            position = known
        } else {
            guard storage.count < Self.maxServers else {
                untrackedEvents &+= 1
                return nil
            }
            position = storage.count
            storage.append(ServerRecord(key: key))
            positions[key] = position
        }
        recent.remember(key, at: position, servers: storage.count, keys: { storage[$0].key })
        return position
    }

    // MARK: - Merging (issue 20, InventoryMerge.swift)

    /// The policy the merged inputs showed names under (the names arrive shown: `namesShown`).
    func adopt(policy: UserPolicy, label: String, keyID: String?) {
        userPolicy = policy
        policyLabel = label
        userKeyID = keyID
    }

    /// Adds one input's totals for a server (a report's server, a `server_exposure` body): counts
    /// summed, lists merged in order of first mention, the first banner kept. Distinct users are
    /// merged by name when the input lists every one; otherwise its count is a floor, and with
    /// users from more than one input the merged count is flagged as one (`usersOverflow`).
    func add(aggregate a: ServerRecord, users: AggregateUsers) {
        guard let position = recordPosition(for: a.key) else { return }
        storage[position].add(a)
        let names = users.names ?? []
        if !users.capped, users.count > 0, names.count == users.count {
            for name in names { addShownUser(Array(name.utf8), into: &storage[position]) }
        } else if users.count > 0 || users.capped {
            if storage[position].distinctUsers > 0 || users.capped { storage[position].usersOverflow = true }
            storage[position].distinctUsersFloor = Swift.max(storage[position].distinctUsers, users.count)
        }
    }

    /// Sessions and logins an input's inventory could not track (a report's `untracked_events`).
    func addUntracked(_ count: UInt64) { untrackedEvents &+= count }

    /// Logins a session event counted without listing them (past its cap).
    func addLoginCounts(key: ServerKey, cleartext: LoginCounts, hashed: LoginCounts) {
        guard let position = recordPosition(for: key) else { return }
        storage[position].cleartextLogins.add(cleartext)
        storage[position].hashedLogins.add(hashed)
    }

    /// Puts the server's login methods in the order of their first login (`first`: method ->
    /// earliest time), as a live run lists them; methods without a time keep their place after.
    func orderMethods(key: ServerKey, first: [String: Int64]) {
        guard let position = positions[key] else { return }
        func ordered(_ list: [String]) -> [String] {
            list.enumerated().sorted { a, b in
                let x = first[a.element] ?? .max, y = first[b.element] ?? .max
                return x != y ? x < y : a.offset < b.offset
            }.map(\.element)
        }
        storage[position].cleartextMethods = ordered(storage[position].cleartextMethods)
        storage[position].hashedMethods = ordered(storage[position].hashedMethods)
    }

    /// The server's distinct-user count can only be a floor (masked names).
    func markUsersLowerBound(key: ServerKey) {
        guard let position = positions[key] else { return }
        storage[position].usersOverflow = true
    }

    /// A name as the policy showed it, into the distinct count and the listed names.
    private func addShownUser(_ name: [UInt8], into record: inout ServerRecord) {
        guard record.userDigests.count < ServerRecord.maxDistinctUsers else { record.usersOverflow = true; return }
        guard record.userDigests.insert(name.withUnsafeBytes { userHasher.hash($0) }).inserted, keepsUsers else { return }
        if record.listedUsers.count < ServerRecord.maxListedUsers {
            record.listedUsers.insert(name)
        } else {
            record.listedUsersOverflow = true
        }
    }

    /// Every server with its assessment, worst verdict first, then by address, port and protocol.
    public func assessed() -> [AssessedServer] {
        ordered().map { AssessedServer(record: storage[$0.position], assessment: Assessment(storage[$0.position], verdict: $0.verdict),
                                       namesListed: listUsers) }
    }

    /// The servers in `assessed()` order: their positions in `storage`, with their verdicts. Sorts
    /// small entries rather than the servers: moving the large records through the sort would
    /// retain and release every array in them.
    func ordered() -> [(position: Int, verdict: Verdict)] {
        var entries = storage.indices.map { Ordered(position: $0, verdict: Verdict(storage[$0]), key: storage[$0].key) }
        entries.sort { a, b in
            if a.verdict != b.verdict { return a.verdict < b.verdict }
            return ServerKey.ordered(a.key, b.key)
        }
        return entries.map { ($0.position, $0.verdict) }
    }

    /// Calls `body` with each server in `assessed()` order and its verdict, the records borrowed
    /// from `storage` rather than copied (a copy retains and releases every array in a record).
    func forEachOrdered(_ body: (borrowing ServerRecord, Verdict) -> Void) {
        let order = ordered()
        storage.withUnsafeBufferPointer { records in
            for entry in order { body(records[entry.position], entry.verdict) }
        }
    }
}

extension UserPolicy {
    /// `mask`, `full`, `hash` or `omit`, as `--user-policy` and the JSON's `user_policy` name it.
    public var label: String {
        switch self {
        case .mask: return "mask"
        case .full: return "full"
        case .hash: return "hash"
        case .omit: return "omit"
        }
    }

    /// 16 hex digits naming a `--user-hash-key-file` key without revealing it: the start of
    /// HMAC-SHA256(key, a fixed label). Equal ids, the same key (to 2^-64).
    public static func keyID(_ key: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("plainsight user key id".utf8), using: SymmetricKey(data: key))
        var hex = ""
        for byte in mac.prefix(8) { hex += String(byte >> 4, radix: 16) + String(byte & 0x0F, radix: 16) }
        return hex
    }
}

private struct Ordered {
    var position: Int
    var verdict: Verdict
    var key: ServerKey
}

public struct AssessedServer: Sendable {
    public var record: ServerRecord
    public var assessment: Assessment
    /// The run shows login names as they are (`--user-policy full`): `listedUsers` is not nil.
    var namesListed = false
}

extension ServerKey {
    /// IPv4 before IPv6, then by address value, port and protocol name.
    static func ordered(_ a: ServerKey, _ b: ServerKey) -> Bool {
        if a.address.isIPv6 != b.address.isIPv6 { return !a.address.isIPv6 }
        if a.address.high != b.address.high { return a.address.high < b.address.high }
        if a.address.low != b.address.low { return a.address.low < b.address.low }
        if a.port != b.port { return a.port < b.port }
        return a.proto.rawValue < b.proto.rawValue
    }
}
