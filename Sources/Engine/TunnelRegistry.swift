import Wire

/// The encapsulations flows arrived in, each kept once under a small id that a decoded packet and
/// its flow carry (`DecodedPacket.tunnel`, `FlowInfo.tunnel`), so the flow table's entries do not
/// grow by the size of a path. A feed has a few mirror sessions, not one per packet; an attacker
/// who varies identifiers per packet fills the registry, after which new paths keep only their
/// layer kinds (counted as `tunnels_truncated`), and past that none.
struct TunnelRegistry {
    static let capacity = 65_536
    private(set) var paths: [Encapsulation] = [Encapsulation()]   // id 0: none
    private var ids: [Encapsulation: UInt32] = [:]
    /// The last path looked up: a feed's packets mostly share one.
    private var lastPath = Encapsulation()
    private var lastID: UInt32 = 0
    private(set) var truncated: UInt64 = 0

    mutating func id(of path: Encapsulation) -> UInt32 {
        if lastID != 0 && path == lastPath { return lastID }
        var key = path
        if ids[key] == nil && paths.count >= Self.capacity {
            truncated &+= 1
            key = path.kindsOnly
        }
        if let known = ids[key] { remember(path, known); return known }
        guard paths.count < Self.capacity + EncapsulationKind.allCases.count * 8 else { return 0 }
        let id = UInt32(paths.count)
        paths.append(key)
        ids[key] = id
        remember(path, id)
        return id
    }

    private mutating func remember(_ path: Encapsulation, _ id: UInt32) {
        lastPath = path
        lastID = id
    }

    func path(_ id: UInt32) -> Encapsulation? {
        guard id != 0, Int(id) < paths.count else { return nil }
        return paths[Int(id)]
    }
}
