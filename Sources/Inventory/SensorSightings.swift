import Alerts
import Wire

// Which sensors saw a server (issue 20): the `sensors` key of each server in the --report JSON and
// the "Sensors" column of the HTML page. A capture run names itself (`--sensor`); a merge
// (`plainsight report`) names every sensor whose events or reports held the server, each with
// what it saw itself, before sessions seen by several sensors were counted once.

/// One sensor's view of one server.
public struct SensorSighting: Sendable, Equatable {
    public var name: String
    public var firstSeen: Timestamp?
    public var lastSeen: Timestamp?
    public var sessions: UInt64 = 0
    public var cleartextLogins: UInt64 = 0
    public var hashedLogins: UInt64 = 0

    public init(name: String) { self.name = name }

    /// What `record` says one sensor saw of its server.
    init(name: String, record: borrowing ServerRecord) {
        self.name = name
        firstSeen = record.firstSeen
        lastSeen = record.lastSeen
        sessions = record.sessions
        cleartextLogins = record.cleartextLogins.total
        hashedLogins = record.hashedLogins.total
    }

    /// Adds what another sighting by the same sensor saw.
    public mutating func add(_ other: SensorSighting) {
        if let f = other.firstSeen, firstSeen.map({ f < $0 }) ?? true { firstSeen = f }
        if let l = other.lastSeen, lastSeen.map({ l > $0 }) ?? true { lastSeen = l }
        sessions &+= other.sessions
        cleartextLogins &+= other.cleartextLogins
        hashedLogins &+= other.hashedLogins
    }
}

/// Where a rendering takes each server's sensors from.
public enum SensorAttribution: Sendable {
    /// No `sensors` key (renderings that predate it, tests).
    case none
    /// One sensor saw everything: the record's own counts under this name.
    case single(String)
    /// A merge: the sightings of each server, in the order the sensors first showed it.
    case table([ServerKey: [SensorSighting]])
}

extension ServerInventory {
    /// Sensors per server at most in a merge: beyond, sightings are not kept (counted in
    /// `MergeCounters.sensorsDropped` by the merger).
    public static let maxSensorsPerServer = 256

    func sightings(of record: borrowing ServerRecord) -> [SensorSighting]? {
        switch sensors {
        case .none: return nil
        case .single(let name):
            return [SensorSighting(name: name, record: record)]
        case .table(let table): return table[record.key] ?? []
        }
    }

    /// `"sensors":[{"name":..,"first_seen":..,"last_seen":..,"sessions":..,"cleartext_logins":..,
    /// "hashed_logins":..}]`, last in a report's server object.
    func appendSensors(_ record: borrowing ServerRecord, to w: inout JSONWriter) {
        guard let list = sightings(of: record) else { return }
        w.key("sensors")
        w.open("[")
        for s in list {
            w.openElement()
            w.field("name", s.name)
            if let f = s.firstSeen { w.key("first_seen"); w.time(f) }
            if let l = s.lastSeen { w.key("last_seen"); w.time(l) }
            w.field("sessions", s.sessions)
            w.field("cleartext_logins", s.cleartextLogins)
            w.field("hashed_logins", s.hashedLogins)
            w.close("}")
        }
        w.close("]")
    }

    /// What every server's body says about users: listed in JSON under `full` and (added with
    /// issue 20, so hashed names can be merged) `hash`; the policy and the hash key's id.
    var bodyContext: BodyContext {
        BodyContext(listUsers: listUsersInJSON, policy: policyLabel, keyID: userKeyID)
    }
}

/// How `ServerRecord.appendBody` writes the users of a server.
struct BodyContext {
    var listUsers: Bool
    var policy: String?
    var keyID: String?
}
