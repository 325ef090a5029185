@testable import MailAuth
import Testing

// ServerFacts keeps mechanisms as packed codes (MechanismList); these cases hold it to the list of
// Strings it replaced: every mention upper-cased by `mechanismName`, first mentions only, at most
// `maxMechanisms`.

/// The representation it replaced, as the reference.
private func referenceList(_ mentions: [String]) -> [String] {
    var out: [String] = []
    for m in mentions {
        let bytes = Array(m.utf8)
        let name = bytes.span.mechanismName(Token(start: 0, end: bytes.count))
        if !name.isEmpty, !out.contains(name), out.count < ServerFacts.maxMechanisms { out.append(name) }
    }
    return out
}

private func recorded(_ mentions: [String]) -> ServerFacts {
    var f = ServerFacts(proto: .smtp)
    for m in mentions {
        let bytes = Array(m.utf8)
        f.addMechanism(bytes.span, Token(start: 0, end: bytes.count))
    }
    return f
}

@Test("mechanisms recorded from line bytes", arguments: [
    [], ["PLAIN"], ["plain", "Login"], ["PLAIN", "LOGIN", "PLAIN", "login"],
    ["CRAM-MD5", "DIGEST-MD5", "NTLM", "GSSAPI", "XOAUTH2", "OAUTHBEARER"],
    ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "scram-sha-256-plus", "ANONYMOUS", "EXTERNAL"],
    ["X-UNKNOWN", "PLAIN", "x-unknown", "SRP", "LOGIN", "SRP"],
    ["PLA\u{7F}N", "PLAIN", "pl@in", "PL?N"],                 // unsafe bytes become "?", never a known name
    ["PLAINX", "PLAI", "LOGINS", "NTLMv2", "SCRAM-SHA-2"],   // near misses of known names
    [String(repeating: "A", count: 40), String(repeating: "a", count: 33)],   // cut to 32 bytes
    (1...20).map { "MECH\($0)" },                             // more than maxMechanisms
    ["PLAIN", "LOGIN"] + (1...20).map { "M\($0)" } + ["CRAM-MD5"],
    ["ÉLAN", "Plain"],
] as [[String]])
func mechanismsFromBytes(_ mentions: [String]) {
    let f = recorded(mentions)
    let want = referenceList(mentions)
    #expect(f.authMechanisms == want)
    #expect(f.mechanisms.count == want.count)
    for known in MechanismList.Known.allCases {
        #expect(f.mechanisms.contains(known) == want.contains(known.name), "\(known)")
        #expect(f.mechanisms.contains(known.name) == want.contains(known.name), "\(known)")
    }
    for name in want { #expect(f.mechanisms.contains(name), "\(name)") }
    // The same list by name gives the same facts (equality compares the representation).
    var g = ServerFacts(proto: .smtp)
    for name in want { g.addMechanism(name) }
    #expect(g == f)
    var h = ServerFacts(proto: .smtp)
    h.authMechanisms = want
    #expect(h == f)
}

@Test("mechanism lists set by hand are kept as given", arguments: [
    [], ["PLAIN"], ["plain", "PLAIN"], ["LOGIN", "LOGIN", "X", "X"],
    (1...17).map { "M\($0)" }, ["PLAIN"] + (1...30).map { _ in "LOGIN" }, Array(repeating: "PLAIN", count: 16),
] as [[String]])
func mechanismsSetByHand(_ names: [String]) {
    var f = ServerFacts(proto: .imap)
    f.authMechanisms = names
    #expect(f.authMechanisms == names)
    #expect(f.mechanisms.contains(.plain) == names.contains("PLAIN"))
    #expect(f.mechanisms.contains(.login) == names.contains("LOGIN"))
    // Appending past the packed capacity keeps every name, in order.
    var list = MechanismList(names)
    list.append("CRAM-MD5")
    list.append("Y")
    #expect(list.names == names + ["CRAM-MD5", "Y"])
}

@Test func knownMechanismCodesNameTheirStrings() {
    for (i, name) in MechanismList.known.enumerated() {
        let bytes = Array(name.lowercased().utf8)
        let code = bytes.span.knownMechanismCode(Token(start: 0, end: bytes.count))
        #expect(code == i + 1)
        #expect(MechanismList.code(of: name) == i + 1)
    }
    #expect(MechanismList.Known.allCases.map(\.name) == MechanismList.known)
    #expect(MechanismList.known.count < Int(MechanismList.otherCode))
}

@Test func everyListOfOneOrTwoKnownNamesReadsBack() {
    let known = MechanismList.known
    for a in known {
        #expect(MechanismList([a]).names == [a])
        for b in known {
            #expect(MechanismList([a, b]).names == [a, b])
            #expect(MechanismList([a, b, "X-\(a)"]).names == [a, b, "X-\(a)"])
            #expect(MechanismList(["X", a]).names == ["X", a])
        }
    }
}

@Test("equal lists compare equal, and only they", arguments: [
    ([], []), (["PLAIN"], ["PLAIN"]), (["PLAIN", "LOGIN"], ["LOGIN", "PLAIN"]), (["PLAIN"], ["PLAIN", "LOGIN"]),
    (["X-A", "PLAIN"], ["X-A", "PLAIN"]), (["X-A", "PLAIN"], ["X-B", "PLAIN"]), (["X-A"], ["PLAIN"]),
    ((1...17).map { "M\($0)" }, (1...17).map { "M\($0)" }), ((1...17).map { "M\($0)" }, (1...16).map { "M\($0)" }),
] as [([String], [String])])
func mechanismListEquality(_ a: [String], _ b: [String]) {
    #expect((MechanismList(a) == MechanismList(b)) == (a == b))
}
