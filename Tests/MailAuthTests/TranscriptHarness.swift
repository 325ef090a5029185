import Foundation
@testable import MailAuth
import Testing

/// One delivery in a transcript: bytes from one side, exactly as they cross the wire.
struct Step {
    let side: Side
    let bytes: [UInt8]
}

/// A client line (CRLF appended).
func C(_ s: String) -> Step { Step(side: .client, bytes: Array((s + "\r\n").utf8)) }
/// A server line (CRLF appended).
func S(_ s: String) -> Step { Step(side: .server, bytes: Array((s + "\r\n").utf8)) }
/// Raw client bytes, no CRLF added.
func Craw(_ s: String) -> Step { Step(side: .client, bytes: Array(s.utf8)) }
func Sraw(_ s: String) -> Step { Step(side: .server, bytes: Array(s.utf8)) }

func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

struct Expected: CustomStringConvertible, Equatable {
    var method: String
    var exposure: Exposure = .cleartext
    var username: String?
    var outcome: Outcome
    var starttls: StartTLSContext
    var afterGap = false
    var description: String { "\(method) \(exposure) \(username ?? "-") \(outcome) \(starttls) gap=\(afterGap)" }
}

struct Transcript: CustomTestStringConvertible, Sendable {
    let name: String
    let proto: MailProtocol
    let steps: [Step]
    let expected: [Expected]
    /// Secrets that must never reach a finding.
    var secrets: [String] = []
    var testDescription: String { name }
}

extension Step: @unchecked Sendable {}
extension Expected: @unchecked Sendable {}

enum Chunking: CaseIterable { case whole, byteByByte, splitEverywhere }

func expectation(_ f: Finding) -> Expected {
    Expected(method: f.method, exposure: f.exposure,
             username: f.username.map { String(decoding: $0, as: UTF8.self) },
             outcome: f.outcome, starttls: f.starttls, afterGap: f.afterGap)
}

/// Feeds the transcript with each step delivered as given by `split`, then finishes the session.
func run(_ t: Transcript, split: (Int, [UInt8]) -> [[UInt8]]) -> [Finding] {
    let parser = ProtocolRegistry.makeParser(for: t.proto)
    var findings: [Finding] = []
    for (i, step) in t.steps.enumerated() {
        for chunk in split(i, step.bytes) where !chunk.isEmpty {
            parser.receive(chunk.span, from: step.side, time: Int64(i))
            findings += parser.takeFindings()
        }
    }
    parser.finish(time: Int64(t.steps.count))
    findings += parser.takeFindings()
    return findings
}

func check(_ t: Transcript) {
    var runs: [(String, [Finding])] = [("whole", run(t) { _, b in [b] })]
    runs.append(("byte-by-byte", run(t) { _, b in b.map { [$0] } }))
    // Split each step at every point in turn (one step split per run keeps this quadratic).
    for (si, step) in t.steps.enumerated() where step.bytes.count > 1 {
        for k in 1..<step.bytes.count {
            runs.append(("step \(si) split at \(k)", run(t) { i, b in
                i == si ? [Array(b[..<k]), Array(b[k...])] : [b]
            }))
        }
    }
    for (label, findings) in runs {
        let got = findings.map(expectation)
        #expect(got == t.expected, "\(t.name) [\(label)]")
        if got != t.expected { break }
        for f in findings {
            let user = f.username.map { String(decoding: $0, as: UTF8.self) } ?? ""
            for s in t.secrets { #expect(!user.contains(s), "\(t.name): secret in username") }
        }
    }
}
