import MailAuth

// "Plaintext login offered before TLS" (`plaintext_offered`): the ways to send a reusable secret
// in cleartext that a server's capability lists offered an unauthenticated client. Derived from
// what the session recorded (`ServerFacts`); the names and their order are the inventory's output.

/// The ways, one bit each in `order`: the inventory merges one per ended session without building
/// a list of strings for each.
struct PlaintextOffer: OptionSet, Sendable {
    let rawValue: UInt8

    init(rawValue: UInt8) { self.rawValue = rawValue }

    /// SASL mechanisms whose exchange carries the secret itself (the logins plainsight reports as
    /// exposure `cleartext`): bits 0 to 3.
    static let saslMechanisms: [MechanismList.Known] = [.plain, .login, .xoauth2, .oauthBearer]
    /// POP3 USER/PASS.
    static let user = PlaintextOffer(rawValue: 1 << 4)
    /// A LOGIN command that no LOGINDISABLED withdrew (IMAP).
    static let loginCommand = PlaintextOffer(rawValue: 1 << 5)

    /// Every name, bit i named by `order[i]`: `"AUTH " + name` for each of `saslMechanisms`, then
    /// `USER` and `LOGIN`.
    static let order: [String] = saslMechanisms.map { "AUTH " + $0.name } + ["USER", "LOGIN"]

    /// Bit i: protocol i has a LOGIN command that a capability list can withdraw. Which protocols
    /// do is the registry's knowledge; read from it once, not a descriptor copied per session.
    private static let loginCommandProtocols: UInt32 = ProtocolRegistry.all.reduce(0) {
        $1.loginCommandUnlessDisabled ? $0 | 1 << UInt32($1.proto.index) : $0
    }

    /// What one session's server offered before TLS and before any login succeeded. The four
    /// tests spelled out rather than a walk over `saslMechanisms` (a test holds them to it): every
    /// ended session is derived.
    init(_ facts: borrowing ServerFacts) {
        var bits: UInt8 = 0
        if facts.mechanisms.contains(.plain) { bits |= 1 }
        if facts.mechanisms.contains(.login) { bits |= 2 }
        if facts.mechanisms.contains(.xoauth2) { bits |= 4 }
        if facts.mechanisms.contains(.oauthBearer) { bits |= 8 }
        if facts.userCommandOffered { bits |= PlaintextOffer.user.rawValue }
        if facts.capabilitiesSeen && !facts.loginDisabled
            && PlaintextOffer.loginCommandProtocols & (1 << UInt32(facts.proto.index)) != 0 {
            bits |= PlaintextOffer.loginCommand.rawValue
        }
        rawValue = bits
    }

    /// The ways `names` lists (a merged report's `plaintext_offered`); names not in `order` are
    /// dropped.
    init(names: [String]) {
        var bits: UInt8 = 0
        for name in names {
            if let i = PlaintextOffer.order.firstIndex(of: name) { bits |= 1 << UInt8(i) }
        }
        rawValue = bits
    }

    /// The names, in `order`. From a table: a server's list is rebuilt whenever a session adds one.
    var names: [String] {
        let table = PlaintextOffer.lists
        return Int(rawValue) < table.count ? table[Int(rawValue)] : PlaintextOffer.names(rawValue)
    }

    private static func names(_ bits: UInt8) -> [String] {
        var out: [String] = []
        for (i, name) in order.enumerated() where bits & (1 << UInt8(i)) != 0 { out.append(name) }
        return out
    }

    private static let lists: [[String]] = (0..<(1 << order.count)).map { names(UInt8($0)) }
}
