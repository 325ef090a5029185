import Alerts
import Capture
import Engine
import Foundation
import TestSupport
import Testing

// Damaged captures (issue 5): every prefix of a fixture, seeded byte flips, corrupt record headers,
// caplen beyond snaplen, zero-length and jumbo records, unknown link types and small-snaplen cuts.
// Never a crash or a hang (either kills or stalls the test process), a clear error for the file,
// and the alerts found before the damage kept.

/// One alert reduced to what identifies it in a replay.
func alertKeys(_ alerts: [Alert]) -> [String] {
    alerts.map { a in
        "\(a.flowID) \(a.finding.method) \(a.finding.username.map { String(decoding: $0, as: UTF8.self) } ?? "-") \(a.finding.outcome)"
    }
}

let damageFixtures = ["imap-login-literal.pcap", "pop3-user-pass.pcap", "smtp-auth-plain-ir.pcap",
                      "imap-authenticate-plain-ir.pcap", "smtp-auth-login-ipv6.pcap"]

@Suite("damaged captures")
struct DamagedCaptureTests {
    /// A cut at a record boundary reads cleanly and reports what those records hold; a cut inside
    /// a record is a read error after exactly the same alerts; a cut inside the file header cannot
    /// be opened. The number of alerts never falls as the prefix grows.
    @Test(arguments: damageFixtures.filter { FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent("fixtures/\($0)").path) })
    func everyPrefix(_ name: String) throws {
        let whole = try fixtureBytes(name)
        let parsed = try #require(ClassicPcap(whole), "\(name) is not a classic pcap")
        let full = replayInProcess(whole)
        #expect(full.end == .endOfFile)
        #expect(!full.alerts.isEmpty, "\(name) should hold a login")
        let fullKeys = alertKeys(full.alerts)
        let boundaries = Set(parsed.recordEnds + [24])
        var atBoundary: [String] = []
        var previousCount = 0
        for length in 0...whole.count {
            let r = replayInProcess(Array(whole.prefix(length)))
            if length < 24 {
                #expect(r.openError != nil, "prefix \(length) opened")
                continue
            }
            let keys = alertKeys(r.alerts)
            if boundaries.contains(length) {
                #expect(r.end == .endOfFile, "prefix \(length): \(String(describing: r.end))")
                #expect(keys.count >= previousCount, "prefix \(length): alerts fell")
                previousCount = keys.count
                atBoundary = keys
                // Logins whose reply was cut off are reported as unknown; the rest as in the whole file.
                for k in keys where !k.hasSuffix(" unknown") { #expect(fullKeys.contains(k), "prefix \(length): \(k)") }
            } else {
                guard case .error(let message)? = r.end else {
                    Issue.record("prefix \(length): cut inside a record but read \(String(describing: r.end))")
                    continue
                }
                #expect(!message.isEmpty)
                #expect(keys == atBoundary, "prefix \(length): alerts differ from the last whole record")
            }
        }
        #expect(atBoundary == fullKeys)
    }

    /// Thousands of captures with a few bytes changed anywhere (headers included), with a fixed
    /// seed so a failure names its case.
    @Test func seededByteFlips() throws {
        var random = SplitMix(seed: 0x5EED_F11B)
        var opened = 0, failedToOpen = 0, readErrors = 0, withAlerts = 0
        for name in damageFixtures {
            guard let whole = try? fixtureBytes(name) else { continue }
            for _ in 0..<700 {
                var mutant = whole
                for _ in 0...random.below(4) {
                    // Half the flips land in the file or first record header, where damage is worst.
                    let at = random.below(2) == 0 ? random.below(min(64, mutant.count)) : random.below(mutant.count)
                    mutant[at] ^= UInt8(truncatingIfNeeded: random.below(255) + 1)
                }
                let r = replayInProcess(mutant)
                if r.openError != nil { failedToOpen += 1; continue }
                opened += 1
                if case .error? = r.end { readErrors += 1 }
                if !r.alerts.isEmpty { withAlerts += 1 }
                for a in r.alerts { #expect((a.finding.username?.count ?? 0) <= 256) }
            }
        }
        // The mutations must reach every outcome, or they test little.
        #expect(opened > 0 && failedToOpen > 0 && readErrors > 0 && withAlerts > 0,
                "opened \(opened), unopened \(failedToOpen), read errors \(readErrors), with alerts \(withAlerts)")
    }

    /// Every record cut to a small snaplen, as `tcpdump -s N` would: counted as truncated frames or
    /// read as headers without payload, never a crash, and the file still reads to its end.
    @Test(arguments: [0, 1, 13, 14, 34, 54, 60, 68, 96, 128])
    func smallSnaplen(_ snap: Int) throws {
        for name in damageFixtures {
            guard let whole = try? fixtureBytes(name), let parsed = ClassicPcap(whole) else { continue }
            let r = replayInProcess(parsed.cut(to: snap).bytes)
            #expect(r.end == .endOfFile, "\(name) at snaplen \(snap)")
            let stats = try #require(r.stats)
            #expect(stats.packets == UInt64(parsed.records.count) || stats.packets > 0)
            if snap < 54 { #expect(stats.decodeErrors > 0, "\(name) at snaplen \(snap): no truncation counted") }
        }
    }

    /// A zero-length record in the middle is one truncated frame; everything else is as before.
    @Test func zeroLengthRecord() throws {
        let whole = try fixtureBytes("imap-login-literal.pcap")
        var parsed = try #require(ClassicPcap(whole))
        let middle = parsed.records.count / 2
        parsed.records.insert((ClassicPcap.recordHeader(seconds: 1_767_520_800, micros: 0, caplen: 0, length: 0), []),
                              at: middle)
        let r = replayInProcess(parsed.bytes)
        #expect(r.end == .endOfFile)
        #expect(alertKeys(r.alerts) == alertKeys(replayInProcess(whole).alerts))
        #expect(r.stats?.truncated[.link] == 1)
    }

    /// Jumbo records: a 64 KiB frame and one of 200 KiB (below libpcap's 256 KiB limit) are read
    /// and decoded without harm; the logins around them are found.
    @Test func jumboRecords() throws {
        let whole = try fixtureBytes("imap-login-literal.pcap")
        var parsed = try #require(ClassicPcap(whole))
        let template = parsed.records[0].data
        for size in [65_549, 204_800] {
            var frame = Array(template.prefix(14)) + [UInt8](repeating: 0x45, count: size - 14)
            frame[14] = 0x45
            parsed.records.insert((ClassicPcap.recordHeader(seconds: 1_767_520_800, micros: 1, caplen: UInt32(size),
                                                            length: UInt32(size)), frame), at: 1)
        }
        let r = replayInProcess(parsed.bytes)
        #expect(r.end == .endOfFile)
        #expect(alertKeys(r.alerts) == alertKeys(replayInProcess(whole).alerts))
    }

    /// Record headers that lie: a captured length above libpcap's maximum ends the file with a
    /// read error naming the file, after the alerts of the records before it.
    @Test func corruptRecordHeaderAfterTheLogin() throws {
        let bin = try #require(plainsightBinary())
        let whole = try fixtureBytes("imap-login-literal.pcap")
        for caplen: UInt32 in [0xFFFF_FFFF, 0x0100_0000, 300_000] {
            let damaged = whole + ClassicPcap.recordHeader(seconds: 1, micros: 0, caplen: caplen, length: 60)
                + [UInt8](repeating: 0xAB, count: 64)
            let path = try writeTemp("hdr-\(caplen).pcap", damaged)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let r = try runProgram(bin, ["-r", path, "--json", "--quiet"])
            #expect(r.status == 1, "caplen \(caplen)")
            let lines = r.stderrText.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains(path), "caplen \(caplen): \(r.stderrText)")
            #expect(r.stdoutText.components(separatedBy: "\"cleartext_auth\"").count - 1 == 1, "caplen \(caplen)")
            #expect(r.stdoutText.contains("\"event_type\":\"stats\""))
        }
    }

    /// caplen larger than the file's snaplen (but within libpcap's limit): libpcap reads the
    /// record and hands over the first snaplen bytes, so the file reads to its end and the cut
    /// frames count as truncated, exactly as a small-snaplen capture would.
    @Test func caplenBeyondSnaplen() throws {
        let whole = try fixtureBytes("pop3-user-pass.pcap")
        var parsed = try #require(ClassicPcap(whole))
        parsed.snaplen = 48
        let r = replayInProcess(parsed.bytes)
        #expect(r.end == .endOfFile)
        #expect(r.alerts.isEmpty)
        let stats = try #require(r.stats)
        #expect(stats.packets == UInt64(parsed.records.count))
        #expect(stats.truncated.values.reduce(0, +) == UInt64(parsed.records.count))
        #expect(r.stats?.bytes == UInt64(parsed.records.count * 48))
    }

    /// A wire length smaller than the captured length (impossible on a real link) is accepted as
    /// libpcap gives it: the captured bytes are decoded and the logins found.
    @Test func wireLengthBelowCaplen() throws {
        let whole = try fixtureBytes("pop3-user-pass.pcap")
        var parsed = try #require(ClassicPcap(whole))
        parsed.records = parsed.records.map { r in
            var h = r.header
            h.replaceSubrange(12..<16, with: ClassicPcap.le32(UInt32(min(r.data.count, 40))))
            return (h, r.data)
        }
        let r = replayInProcess(parsed.bytes)
        #expect(r.end == .endOfFile)
        #expect(alertKeys(r.alerts) == alertKeys(replayInProcess(whole).alerts))
    }

    /// Unknown link types, classic and pcapng: one line naming the file and the type, exit 1, the
    /// next file still read.
    @Test(arguments: [UInt32(0xBEEF), 147, 65_000])
    func unknownLinkType(_ dlt: UInt32) throws {
        let bin = try #require(plainsightBinary())
        var capture = ClassicPcap(linkType: dlt)
        capture.records = [(ClassicPcap.recordHeader(seconds: 1, micros: 0, caplen: 4, length: 4), [1, 2, 3, 4])]
        let path = try writeTemp("dlt-\(dlt).pcap", capture.bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try runProgram(bin, ["-r", path, "-r", "fixtures/imap-login-literal.pcap", "--json", "--quiet"])
        #expect(r.status == 1)
        let lines = r.stderrText.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains(path), "\(r.stderrText)")
        #expect(r.stdoutText.contains("cleartext_auth"))
    }
}

func writeTemp(_ name: String, _ bytes: [UInt8]) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-\(UUID().uuidString)-\(name)")
    try Data(bytes).write(to: url)
    return url.path
}

/// Deterministic generator (SplitMix64) so every case can be replayed from the seed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
