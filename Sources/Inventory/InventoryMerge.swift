import Alerts
import Engine
import MailAuth
import Reassembly
import Wire

// `plainsight report` (issue 20): the inventory built from recorded events instead of packets.
// Two kinds of evidence, merged by different rules (docs/report.md, "Merging"):
//
// - `mail_session` events (`--session-events`): one per ended session, with its logins. They are
//   fed to a `ServerInventory` through the very calls the engine makes (`login`, `sessionEnded`),
//   so counts, verdicts and evidence are computed by the live code. A session that two sensors saw
//   (two taps on one path) is counted once: same Community ID (else the same 5-tuple), another
//   sensor, and times that overlap.
// - aggregates: `server_exposure` events and the servers of `--report FILE.json` documents, each
//   one sensor's totals for one server. They carry no session identities, so they are summed: exact
//   for sensors that saw different traffic (sites, periods, files), not for taps that overlap
//   (send those sessions as events). A sensor's periodic `server_exposure` snapshots are
//   cumulative: the last of each run counts.

/// What a merge read and did with it, for the summary lines and the tests.
public struct MergeCounters: Sendable, Equatable {
    public var sessionEvents: UInt64 = 0
    /// `mail_session` events of a session another sensor's event had already given.
    public var duplicateSessions: UInt64 = 0
    public var exposureEvents: UInt64 = 0
    /// `server_exposure` events of sensors that also sent `mail_session` events (which count).
    public var exposureSuperseded: UInt64 = 0
    /// `server_exposure` snapshots replaced by a later one of the same run.
    public var exposureSnapshotsReplaced: UInt64 = 0
    public var reportServers: UInt64 = 0
    /// plainsight's alerts, stats and start events: nothing the inventory needs.
    public var ignoredEvents: UInt64 = 0
    /// Sessions whose identity could not be remembered (the table was full): counted without the
    /// check for another sensor's copy.
    public var unchecked: UInt64 = 0
    public var sensorsDropped: UInt64 = 0

    public init() {}
}

/// Inputs that cannot be merged into one inventory.
public struct MergeError: Error, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// Why one line or object was not used.
public enum MergeRejection: Sendable, Equatable {
    /// Not an event plainsight writes (another tool's, or a type it does not know).
    case foreign
    /// plainsight's, but a field is missing or wrong.
    case malformed(String)
}

public final class InventoryMerger {
    public let inventory: ServerInventory
    public private(set) var counters = MergeCounters()
    /// Sessions remembered for the duplicate check, at most.
    public static let maxRememberedSessions = 2_000_000
    /// Two sightings of one connection are one session when their times overlap, give or take
    /// this (clocks of two sensors disagree a little).
    public static let overlapSlackNanoseconds: Int64 = 2_000_000_000

    /// The user policy of the inputs (the first that states one) and where it came from.
    private var policy: (label: String, keyID: String?, source: String)?
    private var remembered: [SessionIdentity: [Sighting]] = [:]
    private var newestTime: Int64 = .min
    private var hostsWithSessions: Set<String> = []
    /// Sensor names as small numbers, for the remembered sessions (a String each would be most
    /// of their memory).
    private var sensorNumbers: [String: Int32] = [:]
    /// The last `server_exposure` of each (sensor, server) in its current run, in arrival order.
    private var snapshots: [SnapshotKey: Int] = [:]
    private var snapshotList: [(key: SnapshotKey, record: ServerRecord, users: AggregateUsers)?] = []
    private var sightings: [ServerKey: [SensorSighting]] = [:]
    /// Each server's login methods with the time of their first login: session events arrive in
    /// the order sessions ended, and a live run lists methods in the order logins were seen.
    private var methodTimes: [ServerKey: [String: Int64]] = [:]
    private let communityID = CommunityID()

    public init() {
        // Names arrive as the policy showed them; the policy itself is set by the first input
        // that states one (`adopt`).
        inventory = ServerInventory(userHashKey: nil, userPolicy: .mask)
        inventory.namesShown = true
        inventory.policyLabel = nil
    }

    // MARK: - Events

    /// One JSON event (a line of `-o`, or the JSON of a collector's message). `source` names the
    /// file for error messages.
    public func add(event: JSONValue, source: String) throws(MergeError) -> MergeRejection? {
        guard let type = event["event_type"]?.string else { return .foreign }
        switch type {
        case "mail_session": return try addSession(event, source: source)
        case "server_exposure": return try addExposure(event, source: source)
        case "start":
            // A new run of that sensor: its snapshots so far are final.
            if let host = event["host"]?.string { bankSnapshots(host: host) }
            counters.ignoredEvents &+= 1
            return nil
        case "stats":
            // A replay's stats event (it counts `files`) ends its run: that run's snapshots are
            // final, and the same sensor's next replay (standard output, no `start` event) is
            // another run. Live capture's stats, periodic or final, cannot be told apart: its
            // snapshots stay cumulative until a `start` or lower counts.
            if event["stats"]?["files"] != nil, let host = event["host"]?.string { bankSnapshots(host: host) }
            counters.ignoredEvents &+= 1
            return nil
        case "cleartext_auth":
            counters.ignoredEvents &+= 1
            return nil
        default:
            return .foreign
        }
    }

    /// One server object of a `--report FILE.json` document.
    public func add(reportServer server: JSONValue, source: String) throws(MergeError) -> MergeRejection? {
        guard let key = Self.serverKey(server) else { return .malformed("no dest_ip, dest_port or app_proto") }
        let decoded: (record: ServerRecord, users: AggregateUsers)
        switch Self.aggregate(server, key: key) {
        case .success(let d): decoded = d
        case .failure(let error): return .malformed(error.reason)
        }
        try adopt(server, source: source)
        counters.reportServers &+= 1
        var named: [SensorSighting] = []
        for entry in server["sensors"]?.array ?? [] {
            guard let name = entry["name"]?.string else { continue }
            var s = SensorSighting(name: name)
            s.firstSeen = entry["first_seen"]?.timestamp
            s.lastSeen = entry["last_seen"]?.timestamp
            s.sessions = entry["sessions"]?.count ?? 0
            s.cleartextLogins = entry["cleartext_logins"]?.count ?? 0
            s.hashedLogins = entry["hashed_logins"]?.count ?? 0
            named.append(s)
        }
        if named.isEmpty { named = [Self.sighting(of: decoded.record, sensor: "-")] }
        for s in named { addSighting(s, key: key) }
        inventory.add(aggregate: decoded.record, users: decoded.users)
        return nil
    }

    /// A report's `summary.untracked_events`: what its run could not track stays counted.
    public func addUntracked(_ count: UInt64) { inventory.addUntracked(count) }

    /// A plainsight message the inventory does not need (a syslog alert's text line).
    public func countIgnored() { counters.ignoredEvents &+= 1 }

    /// Everything read: the last snapshot of every run is added, and the sensors attributed.
    public func finish() {
        for entry in snapshotList {
            guard let entry else { continue }
            // A snapshot sent before the sensor's first session event (a periodic one, of a
            // server whose first session was still open): the session events count instead.
            if hostsWithSessions.contains(entry.key.host) { counters.exposureSuperseded &+= 1; continue }
            inventory.add(aggregate: entry.record, users: entry.users)
            addSighting(Self.sighting(of: entry.record, sensor: entry.key.host), key: entry.key.server)
        }
        snapshotList.removeAll()
        snapshots.removeAll()
        for (key, times) in methodTimes { inventory.orderMethods(key: key, first: times) }
        methodTimes.removeAll()
        inventory.sensors = .table(sightings)
    }

    private func addExposure(_ event: JSONValue, source: String) throws(MergeError) -> MergeRejection? {
        guard let body = event["server_exposure"], let key = Self.serverKey(event) else {
            return .malformed("server_exposure without its server")
        }
        let host = event["host"]?.string ?? "-"
        counters.exposureEvents &+= 1
        if hostsWithSessions.contains(host) {
            counters.exposureSuperseded &+= 1
            return nil
        }
        let decoded: (record: ServerRecord, users: AggregateUsers)
        switch Self.aggregate(body, key: key) {
        case .success(let d): decoded = d
        case .failure(let error): return .malformed(error.reason)
        }
        try adopt(body, source: source)
        let snapshotKey = SnapshotKey(host: host, server: key)
        if let index = snapshots[snapshotKey], let previous = snapshotList[index] {
            // Cumulative within a run: a later snapshot holds the earlier one. Fewer sessions or
            // logins than before, or a later first session (a run's first_seen only moves back,
            // as longer sessions end): the sensor restarted, its `start` event lost or not
            // collected, and the earlier run is final.
            let r = decoded.record, p = previous.record
            let laterStart: Bool
            if let now = r.firstSeen, let before = p.firstSeen { laterStart = now > before } else { laterStart = false }
            if !laterStart && r.sessions >= p.sessions && r.cleartextLogins.total >= p.cleartextLogins.total
                && r.hashedLogins.total >= p.hashedLogins.total {
                counters.exposureSnapshotsReplaced &+= 1
            } else {
                inventory.add(aggregate: p, users: previous.users)
                addSighting(Self.sighting(of: p, sensor: host), key: key)
            }
            snapshotList[index] = (snapshotKey, decoded.record, decoded.users)
        } else if snapshots.count < ServerInventory.maxServers {
            snapshots[snapshotKey] = snapshotList.count
            snapshotList.append((snapshotKey, decoded.record, decoded.users))
        } else {
            // No room to wait for a later snapshot: this one counts now.
            inventory.add(aggregate: decoded.record, users: decoded.users)
            addSighting(Self.sighting(of: decoded.record, sensor: host), key: key)
        }
        return nil
    }

    /// Adds the snapshots held for `host` (its run ended) and forgets them.
    private func bankSnapshots(host: String) {
        for (i, entry) in snapshotList.enumerated() {
            guard let entry, entry.key.host == host else { continue }
            snapshotList[i] = nil
            snapshots[entry.key] = nil
            if hostsWithSessions.contains(host) { counters.exposureSuperseded &+= 1; continue }
            inventory.add(aggregate: entry.record, users: entry.users)
            addSighting(Self.sighting(of: entry.record, sensor: host), key: entry.key.server)
        }
    }

    private func addSession(_ event: JSONValue, source: String) throws(MergeError) -> MergeRejection? {
        guard let body = event["mail_session"], let key = Self.serverKey(event),
              let client = event["src_ip"]?.address, let clientPortValue = event["src_port"]?.count,
              clientPortValue <= UInt64(UInt16.max),
              let first = body["first_seen"]?.timestamp, let last = body["last_seen"]?.timestamp else {
            return .malformed("mail_session without its flow")
        }
        let clientPort = UInt16(clientPortValue)
        let host = event["host"]?.string ?? "-"
        var logins: [Finding] = []
        for item in body["logins"]?.array ?? [] {
            guard let login = Self.finding(item, proto: key.proto) else { return .malformed("a login without its fields") }
            logins.append(login)
        }
        let unlisted = body["logins_unlisted"].map { (cleartext: Self.outcomes($0["cleartext"]), hashed: Self.outcomes($0["hashed"])) }
        try adopt(body, source: source)
        counters.sessionEvents &+= 1
        hostsWithSessions.insert(host)

        var own = SensorSighting(name: host)
        own.firstSeen = first
        own.lastSeen = last
        own.sessions = 1
        for login in logins {
            if login.exposure == .cleartext { own.cleartextLogins &+= 1 } else { own.hashedLogins &+= 1 }
        }
        if let unlisted { own.cleartextLogins &+= unlisted.cleartext.total; own.hashedLogins &+= unlisted.hashed.total }
        addSighting(own, key: key)

        let identity = SessionIdentity(event["community_id"]?.string, key: key, client: client, clientPort: clientPort)
        let sensorNumber: Int32
        if let n = sensorNumbers[host] {
            sensorNumber = n
        } else {
            sensorNumber = Int32(truncatingIfNeeded: sensorNumbers.count)
            sensorNumbers[host] = sensorNumber
        }
        guard isNewSession(identity, sensor: sensorNumber, first: first.nanoseconds, last: last.nanoseconds) else {
            counters.duplicateSessions &+= 1
            return nil
        }
        let flow = FlowInfo(id: 0, client: client, clientPort: clientPort, server: key.address, serverPort: key.port,
                            vlans: VLANTags(), midstream: body["midstream"]?.bool ?? false, firstSeen: first, lastSeen: last)
        for login in logins {
            inventory.login(login, flow: flow)
            var times = methodTimes[key] ?? [:]
            if times.count < 2 * ServerRecord.maxNames || times[login.method] != nil {
                times[login.method] = min(times[login.method] ?? .max, login.timeNanoseconds)
                methodTimes[key] = times
            }
        }
        if let unlisted {
            inventory.addLoginCounts(key: key, cleartext: unlisted.cleartext, hashed: unlisted.hashed)
        }
        let closedAt = event["timestamp"]?.timestamp ?? last
        if body["implicit_tls"]?.bool == true {
            inventory.sessionEnded(EndedSession(flow: flow, proto: key.proto, kind: .implicitTLS, closedAt: closedAt))
        } else {
            var facts = ServerFacts(proto: key.proto)
            if let greeting = body["greeting"]?.string { facts.greeting = Array(greeting.utf8) }
            facts.capabilitiesSeen = body["capabilities_seen"]?.bool ?? false
            facts.starttlsOffered = body["starttls_offered"]?.bool ?? false
            facts.loginDisabled = body["logindisabled"]?.bool ?? false
            facts.authMechanisms = body["auth_mechanisms"]?.strings ?? []
            facts.userCommandOffered = body["user_offered"]?.bool ?? false
            facts.starttlsRequested = body["starttls_requested"]?.bool ?? false
            facts.starttlsAccepted = body["starttls_accepted"]?.bool ?? false
            facts.starttlsRefused = body["starttls_refused"]?.bool ?? false
            inventory.sessionEnded(flow: flow, proto: key.proto, facts: facts, closedAt: closedAt)
        }
        // Masked names can stand for several users (a***e: alice and anne), and logins past the
        // event's list came without names: the count of users is then a floor.
        if (policy?.label == "mask" && logins.contains(where: { $0.username != nil })) || unlisted != nil {
            inventory.markUsersLowerBound(key: key)
        }
        return nil
    }

    /// True, and the session remembered, unless another sensor's copy of it was counted already.
    private func isNewSession(_ identity: SessionIdentity, sensor: Int32, first: Int64, last: Int64) -> Bool {
        newestTime = max(newestTime, last)
        var list = remembered[identity] ?? []
        for seen in list where seen.sensor != sensor
            && first <= seen.last &+ Self.overlapSlackNanoseconds && seen.first <= last &+ Self.overlapSlackNanoseconds {
            return false
        }
        if list.isEmpty && remembered.count >= Self.maxRememberedSessions {
            forgetOldSessions()
            if remembered.count >= Self.maxRememberedSessions {
                counters.unchecked &+= 1
                return true
            }
        }
        // A few sightings per connection (port reuse over a long capture), the newest kept.
        if list.count >= 8 { list.removeFirst() }
        list.append(Sighting(sensor: sensor, first: first, last: last))
        remembered[identity] = list
        return true
    }

    /// Forgets sessions that ended an hour before the newest one seen: a copy from another sensor
    /// arrives within the collector's delivery delay, not an hour later.
    private func forgetOldSessions() {
        let horizon = newestTime &- 3_600_000_000_000
        remembered = remembered.filter { $0.value.contains { $0.last >= horizon } }
    }

    private func addSighting(_ s: SensorSighting, key: ServerKey) {
        var list = sightings[key] ?? []
        if let i = list.firstIndex(where: { $0.name == s.name }) {
            list[i].add(s)
        } else if list.count < ServerInventory.maxSensorsPerServer {
            list.append(s)
        } else {
            counters.sensorsDropped &+= 1
            return
        }
        sightings[key] = list
    }

    /// Checks that `body`'s user policy (and hash key) can be merged with what came before.
    private func adopt(_ body: JSONValue, source: String) throws(MergeError) {
        guard let label = body["user_policy"]?.string else { return }
        let keyID = body["user_key_id"]?.string
        if let policy {
            guard policy.label == label && policy.keyID == keyID else {
                func describe(_ l: String, _ k: String?) -> String { k.map { "\(l) (key \($0))" } ?? l }
                throw MergeError("\(source): login names under --user-policy \(describe(label, keyID)) cannot be merged with those under \(describe(policy.label, policy.keyID)) from \(policy.source): the same user would not compare equal; merge each policy (and hash key) apart")
            }
            return
        }
        let adopted: UserPolicy
        switch label {
        case "full": adopted = .full
        case "hash": adopted = .hash(key: [])
        case "omit": adopted = .omit
        case "mask": adopted = .mask
        default: throw MergeError("\(source): unknown user_policy '\(OutputEscaping.escape(label.utf8))'")
        }
        policy = (label, keyID, source)
        inventory.adopt(policy: adopted, label: label, keyID: keyID)
    }

    // MARK: - Decoding

    static func serverKey(_ object: JSONValue) -> ServerKey? {
        guard let address = object["dest_ip"]?.address, let port = object["dest_port"]?.count, port <= UInt64(UInt16.max),
              let protoName = object["app_proto"]?.string, let proto = MailProtocol(rawValue: protoName) else { return nil }
        return ServerKey(address: address, port: UInt16(port), proto: proto)
    }

    static func finding(_ item: JSONValue, proto: MailProtocol) -> Finding? {
        guard let method = item["method"]?.string, let exposure = item["exposure"]?.string.flatMap(Exposure.init(rawValue:)),
              let outcome = item["outcome"]?.string.flatMap(Outcome.init(rawValue:)), let time = item["timestamp"]?.timestamp
        else { return nil }
        return Finding(proto: proto, method: method, exposure: exposure, username: item["username"]?.string.map { Array($0.utf8) },
                       outcome: outcome, starttls: .unknown, afterGap: false, timeNanoseconds: time.nanoseconds)
    }

    static func outcomes(_ value: JSONValue?) -> LoginCounts {
        LoginCounts(success: value?["success"]?.count ?? 0, failure: value?["failure"]?.count ?? 0,
                    unknown: value?["unknown"]?.count ?? 0)
    }

    static func sighting(of r: ServerRecord, sensor: String) -> SensorSighting {
        SensorSighting(name: sensor, record: r)
    }

    /// A server body (a report's server, a `server_exposure` event's body) as a record to add.
    static func aggregate(_ b: JSONValue, key: ServerKey) -> Result<(record: ServerRecord, users: AggregateUsers), AggregateError> {
        func count(_ name: String) throws(AggregateError) -> UInt64 {
            guard let n = b[name]?.count else { throw AggregateError("no count '\(name)'") }
            return n
        }
        do throws(AggregateError) {
            var r = ServerRecord(key: key)
            if let greeting = b["greeting"]?.string { r.greeting = Array(greeting.utf8) }
            r.product = b["product"]?.string
            r.version = b["version"]?.string
            r.sessions = try count("sessions")
            r.cleartextSessions = try count("cleartext_sessions")
            r.midstreamSessions = try count("midstream_sessions")
            r.sessionsWithCapabilities = try count("sessions_with_capabilities")
            r.starttlsOfferedSessions = try count("starttls_offered_sessions")
            r.loginDisabledSessions = b["logindisabled_sessions"]?.count ?? (b["logindisabled"]?.bool == true ? 1 : 0)
            r.plaintextOffered = b["plaintext_offered"]?.strings ?? []
            r.plaintextOfferedSessions = b["plaintext_offered_sessions"]?.count ?? (r.plaintextOffered.isEmpty ? 0 : 1)
            r.authMechanisms = b["auth_mechanisms"]?.strings ?? []
            r.starttlsRequested = try count("starttls_requested")
            r.starttlsUpgraded = try count("starttls_upgraded")
            r.starttlsRefused = try count("starttls_refused")
            r.starttlsRefusedAfterOffer = b["starttls_refused_after_offer"]?.count
                ?? (r.starttlsOfferedSessions > 0 ? r.starttlsRefused : 0)
            r.implicitTLSSessions = try count("implicit_tls_sessions")
            r.cleartextLogins = outcomes(b["cleartext_outcomes"])
            r.hashedLogins = outcomes(b["hashed_outcomes"])
            guard r.cleartextLogins.total == (try count("cleartext_logins")), r.hashedLogins.total == (try count("hashed_logins")) else {
                throw AggregateError("login outcomes do not add up to the logins")
            }
            r.cleartextMethods = b["cleartext_methods"]?.strings ?? []
            r.hashedMethods = b["hashed_methods"]?.strings ?? []
            r.firstSeen = b["first_seen"]?.timestamp
            r.lastSeen = b["last_seen"]?.timestamp
            let users = AggregateUsers(count: Int(clamping: try count("distinct_users")), names: b["users"]?.strings,
                                       capped: b["distinct_users_capped"]?.bool ?? false)
            return .success((r, users))
        } catch {
            return .failure(error)
        }
    }
}

struct AggregateError: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// The users an aggregate names: their count, and the names (as the policy showed them) when the
/// input lists them.
public struct AggregateUsers: Sendable {
    public var count: Int
    public var names: [String]?
    public var capped: Bool
}

/// One connection, by Community ID when the event has one (it always has since issue 19), else by
/// its 5-tuple; reduced to 128 bits.
struct SessionIdentity: Hashable {
    var high: UInt64
    var low: UInt64

    private static let hashers = (SipHash24(key: Array(repeating: 0x5A, count: 16)), SipHash24(key: Array(repeating: 0xA5, count: 16)))

    init(_ communityID: String?, key: ServerKey, client: IPAddress, clientPort: UInt16) {
        var text = communityID.map { Array($0.utf8) } ?? []
        if text.isEmpty {
            text = Array("\(client)|\(clientPort)|\(key.address)|\(key.port)".utf8)
        }
        high = text.withUnsafeBytes { Self.hashers.0.hash($0) }
        low = text.withUnsafeBytes { Self.hashers.1.hash($0) }
    }
}

private struct Sighting {
    var sensor: Int32
    var first: Int64
    var last: Int64
}

private struct SnapshotKey: Hashable {
    var host: String
    var server: ServerKey
}
