import Alerts
import Testing

@Suite("User policies")
struct UserPolicyTests {
    @Test(arguments: [
        ("alice", "a***e"),
        ("bob", "b***b"),
        ("al", "***"),
        ("a", "***"),
        ("", "***"),
        ("alice@example.com", "a***m"),           // the domain is masked with the rest
        ("élodie", "é***e"),                       // whole characters, not bytes
        ("z\u{301}oe\u{301}", "z\u{301}***e\u{301}"), // grapheme clusters
    ])
    func mask(name: String, expected: String) {
        #expect(UserPolicy.mask.apply(to: Array(name.utf8)) == Array(expected.utf8))
    }

    /// The printable-ASCII shortcut gives what the character path gives, for every length and
    /// every byte at the ends (CR and the other controls take the character path).
    @Test func asciiShortcutMatchesTheCharacterPath() {
        func characterPath(_ name: [UInt8]) -> [UInt8] {
            let text = String(decoding: name, as: UTF8.self)
            guard text.count > 2, let first = text.first, let last = text.last else { return Array("***".utf8) }
            return Array(String(first).utf8) + Array("***".utf8) + Array(String(last).utf8)
        }
        var names: [[UInt8]] = [[], [0x61], [0x61, 0x62], Array("a\r\nb".utf8), Array("\r\nab".utf8), Array("ab\r\n".utf8)]
        for a in UInt8(0)...0x7F { for b in [UInt8(0x20), 0x41, 0x7E, 0x0D, 0x0A] { names.append([a, 0x78, b]); names.append([b, a]) } }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            names.append((0..<Int.random(in: 0...12, using: &random)).map { _ in UInt8.random(in: 0...0x7F, using: &random) })
        }
        for name in names {
            #expect(UserPolicy.mask.apply(to: name) == characterPath(name), "\(name)")
        }
    }

    @Test func maskNonUTF8WorksOnBytes() {
        #expect(UserPolicy.mask.apply(to: [0xFF, 0x61, 0x62]) == [0xFF] + Array("***b".utf8))
        #expect(UserPolicy.mask.apply(to: [0xFF, 0xFE]) == Array("***".utf8))
    }

    @Test func fullAndOmit() {
        #expect(UserPolicy.full.apply(to: [0x61, 0xFF]) == [0x61, 0xFF])
        #expect(UserPolicy.omit.apply(to: Array("alice".utf8)) == nil)
    }

    /// RFC 4231 test case 2 (key "Jefe"), truncated to 128 bits.
    @Test func hmacKnownAnswer() {
        let policy = UserPolicy.hash(key: Array("Jefe".utf8))
        let digest = policy.apply(to: Array("what do ya want for nothing?".utf8))
        #expect(digest == Array("5bdcc146bf60754e6a042426089575c7".utf8))
    }

    @Test func hashDependsOnKeyAndIsStable() {
        let name = Array("alice".utf8)
        let a = UserPolicy.hash(key: testKey).apply(to: name)
        #expect(a == UserPolicy.hash(key: testKey).apply(to: name))
        #expect(a != UserPolicy.hash(key: testKey + [0x21]).apply(to: name))
        #expect(a?.count == 32)
    }
}
