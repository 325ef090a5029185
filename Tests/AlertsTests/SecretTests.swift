import Alerts
import MailAuth
import Testing

/// Whatever the policy, protocol, method and flags, the only secret in any output is the word
/// `redacted`.
@Suite("Secret never rendered")
struct SecretTests {
    static let methods: [(MailProtocol, String, Exposure)] = [
        (.pop3, "USER", .cleartext), (.pop3, "APOP", .hashed), (.pop3, "AUTH PLAIN", .cleartext),
        (.pop3, "AUTH LOGIN", .cleartext), (.pop3, "AUTH CRAM-MD5", .hashed),
        (.imap, "LOGIN", .cleartext), (.imap, "AUTHENTICATE PLAIN", .cleartext),
        (.imap, "AUTHENTICATE LOGIN", .cleartext), (.imap, "AUTHENTICATE CRAM-MD5", .hashed),
        (.smtp, "AUTH PLAIN", .cleartext), (.smtp, "AUTH LOGIN", .cleartext), (.smtp, "AUTH CRAM-MD5", .hashed),
    ]

    @Test(arguments: [UserPolicy.mask, .full, .hash(key: testKey), .omit])
    func onlyRedacted(policy: UserPolicy) throws {
        let renderer = AlertRenderer(userPolicy: policy)
        for (proto, method, exposure) in Self.methods {
            for username in [Array("mallory".utf8), nil, [0xFF, 0x00]] as [[UInt8]?] {
                for outcome in [Outcome.success, .failure, .unknown] {
                    let finding = makeFinding(proto: proto, method: method, exposure: exposure,
                                              username: username, outcome: outcome, starttls: .unknown)
                    let alert = makeAlert(finding: finding, v6: outcome == .failure, vlans: [5])
                    let json = renderer.json(alert)
                    let auth = try #require(try parseJSON(json)["auth"] as? [String: Any])
                    #expect(auth["secret"] as? String == "redacted")
                    #expect(json.components(separatedBy: "secret").count == 2)
                    #expect(json.components(separatedBy: "redacted").count == 2)
                    let keys = Set(auth.keys)
                    #expect(keys.isSubset(of: ["method", "exposure", "username", "secret", "outcome",
                                               "starttls", "after_gap", "midstream", "overlap_conflict"]))
                    let text = renderer.text(alert)
                    #expect(!text.contains("secret") && !text.contains("pass"))
                }
            }
        }
    }
}
