import Alerts
import Foundation
import MailAuth
import Wire

// Fake test data only: documentation addresses (RFC 5737, RFC 3849) and made-up names.

let clientV4 = IPAddress(ipv4: 0xC633_6407)               // 198.51.100.7
let serverV4 = IPAddress(ipv4: 0xC000_020A)               // 192.0.2.10
let clientV6 = IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 0x7)          // 2001:db8::7
let serverV6 = IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 0x10)         // 2001:db8::10
/// 2026-01-04T10:00:00.123456789Z
let sampleTime = Timestamp(nanoseconds: 1_767_520_800_123_456_789)

func makeFinding(proto: MailProtocol = .imap, method: String = "LOGIN", exposure: Exposure = .cleartext,
                 username: [UInt8]? = Array("alice".utf8), outcome: Outcome = .success,
                 starttls: StartTLSContext = .notOffered, afterGap: Bool = false) -> Finding {
    Finding(proto: proto, method: method, exposure: exposure, username: username, outcome: outcome,
            starttls: starttls, afterGap: afterGap, timeNanoseconds: sampleTime.nanoseconds)
}

func makeAlert(finding: Finding = makeFinding(), v6: Bool = false, vlans: [UInt16] = [],
               midstream: Bool = false, flowID: UInt64 = 7) -> Alert {
    var tags = VLANTags()
    tags.count = UInt8(vlans.count)
    if let outer = vlans.first { tags.outer = outer }
    if vlans.count > 1 { tags.inner = vlans[1] }
    return Alert(timestamp: sampleTime, flowID: flowID,
                 client: v6 ? clientV6 : clientV4, clientPort: 51234,
                 server: v6 ? serverV6 : serverV4, serverPort: finding.proto == .imap ? 143 : 110,
                 vlans: tags, finding: finding, midstream: midstream)
}

/// Parses one rendered JSON line with Foundation (which rejects invalid JSON and invalid UTF-8).
func parseJSON(_ line: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
    guard let dictionary = object as? [String: Any] else { throw ParseFailure() }
    return dictionary
}

struct ParseFailure: Error {}

/// A fake 30-byte key for the hash policy.
let testKey = Array("0123456789abcdef-fake-test-key".utf8)
