import Alerts
import Capture
import Foundation
import TestSupport
import Testing
import Wire

// plainsight reads pcapng records itself (PcapngRecords), each packet with its own interface's
// link type and timestamp resolution, where libpcap 1.10 refuses a file whose interfaces differ.
// On every file libpcap can read, these tests hold the two readers to the same records and the
// same errors (as ClassicPcapReaderTests does for classic pcap); on the files only ours reads,
// to the records of each interface read alone by libpcap, and to the logins found.

/// Every fixture's name and the arguments its scenario is replayed with.
private let fixtureRuns: [(name: String, args: [String])] = {
    let manifest = Dictionary(loadManifest().map { ($0.pcap, $0.args) }, uniquingKeysWith: { a, _ in a })
    let dir = packageRoot.appendingPathComponent("fixtures")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    return names.filter { $0.hasSuffix(".pcap") }.sorted().map { ($0, manifest[$0] ?? []) }
}()

/// A record's time in nanoseconds, as the classic capture holds it.
private func nanoseconds(_ classic: ClassicPcap, _ record: (header: [UInt8], data: [UInt8])) -> Int64 {
    let nano = classic.header[0] == 0x4D
    return Int64(ClassicPcap.u32(record.header, 0)) * 1_000_000_000
        + Int64(ClassicPcap.u32(record.header, 4)) * (nano ? 1 : 1000)
}

private func runBinary(_ bin: String, _ bytes: [UInt8], name: String, _ args: [String]) throws -> RunResult {
    let path = try writeTemp(name, bytes)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try runProgram(bin, ["-r", path] + args)
}

@Suite("pcapng record reader")
struct PcapngReaderTests {
    /// Every fixture written as pcapng (little- and big-endian, with name-resolution, statistics,
    /// decryption-secrets and custom blocks, comments and obsolete Packet Blocks in between): the
    /// same records as libpcap gives, and the same records as the classic file.
    @Test func everyFixtureReadsAsLibpcapReadsIt() throws {
        var converted = 0
        for (name, _) in fixtureRuns {
            guard let classic = ClassicPcap(try fixtureBytes(name)) else { continue }
            converted += 1
            let reference = readWithBoth(classic.bytes).libpcap
            for bigEndian in [false, true] {
                for extras in [false, true] {
                    let label = "\(name) \(bigEndian ? "big" : "little")-endian\(extras ? " with other blocks" : "")"
                    let (ours, libpcap) = readWithBoth(Pcapng.from(classic, bigEndian: bigEndian, extras: extras).bytes)
                    #expect(ours == libpcap, "\(label)")
                    #expect(ours == reference, "\(label): not the classic file's records")
                }
            }
            let (ours, libpcap) = readWithBoth(Pcapng.from(classic).bytes, filter: "tcp port 25 or tcp port 110")
            #expect(ours == libpcap, "\(name) filtered")
        }
        #expect(converted > 40)
    }

    /// Every fixture converted to pcapng gives plainsight's output byte for byte as the classic
    /// file does (alerts, inventory, stats), through the binary; converted by our writer and, when
    /// Wireshark's editcap is installed, by editcap.
    @Test func everyFixtureGivesTheSameOutput() throws {
        let bin = try #require(plainsightBinary())
        let editcap = ["/usr/bin/editcap", "/usr/local/bin/editcap"].first { FileManager.default.isExecutableFile(atPath: $0) }
        var compared = 0
        for (name, args) in fixtureRuns {
            let bytes = try fixtureBytes(name)
            guard let classic = ClassicPcap(bytes) else { continue }
            let options = ["--json", "--quiet", "--user-policy", "full", "--sensor", "s"] + args
            let expected = try runProgram(bin, ["-r", "fixtures/\(name)"] + options)
            var variants = [("ours", Pcapng.from(classic, extras: true).bytes)]
            if let editcap {
                let out = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-editcap-\(UUID().uuidString).pcapng")
                defer { try? FileManager.default.removeItem(at: out) }
                let r = try runProgram(editcap, ["-F", "pcapng", "fixtures/\(name)", out.path])
                #expect(r.status == 0, "editcap \(name): \(r.stderrText)")
                variants.append(("editcap", [UInt8](try Data(contentsOf: out))))
            }
            for (label, variant) in variants {
                let got = try runBinary(bin, variant, name: "\(name)ng", options)
                #expect(got.status == expected.status, "\(name) \(label)")
                // pcap_filename names the file read, which differs by design; pcap_cnt must not.
                #expect(withoutFileName(got.stdout) == withoutFileName(expected.stdout),
                        "\(name) \(label): output differs from the classic file's")
                #expect(got.stderrText == expected.stderrText, "\(name) \(label)")
                compared += 1
            }
        }
        #expect(compared > 40)
    }
}

// MARK: - Interfaces of different link types

/// Three login sessions recorded on Ethernet, written as one pcapng file the way
/// `dumpcap -i eth0 -i tun0 -i any` writes: the first as Ethernet on interface 0 (microseconds),
/// the second as raw IPv4 on interface 1 (nanoseconds, with an `if_tsoffset`), the third as Linux
/// cooked on interface 2 (2^-24 s units), their packets interleaved in time order.
struct MixedCapture {
    static let sources = ["imap-login-literal.pcap", "pop3-user-pass.pcap", "smtp-auth-plain-ir.pcap"]
    static let linktypes: [UInt16] = [1, 101, 113]
    static let base: Int64 = 1_800_000_000 * 1_000_000_000
    static let offsetSeconds: Int64 = 1_000

    var file = Pcapng()
    /// Per interface: the single-interface file of the same packets (libpcap reads those).
    var alone: [Pcapng] = []
    /// Per source: how much its times moved.
    var shift: [Int64] = []
    var classics: [ClassicPcap] = []

    /// The time a packet of interface `i` is read back with (the 2^-24 units lose a little).
    static func readBack(_ ns: Int64, interface i: Int) -> Int64 {
        guard i == 2 else { return ns }
        let seconds = ns / 1_000_000_000, fraction = ns % 1_000_000_000
        let units = (fraction << 24) / 1_000_000_000
        return seconds * 1_000_000_000 + (units * 1_000_000_000) >> 24
    }

    /// The stamp interface `i` stores for `ns`.
    static func stamp(_ ns: Int64, interface i: Int) -> UInt64 {
        switch i {
        case 0: return UInt64(ns / 1000)
        case 1: return UInt64(ns - offsetSeconds * 1_000_000_000)
        default:
            let seconds = ns / 1_000_000_000, fraction = ns % 1_000_000_000
            return UInt64(seconds) << 24 + UInt64((fraction << 24) / 1_000_000_000)
        }
    }

    static func describe(_ file: inout Pcapng, interface i: Int, linktype: UInt16? = nil) {
        switch i {
        case 0: file.interface(linktype: linktype ?? linktypes[0], tsresol: 6)
        case 1: file.interface(linktype: linktype ?? linktypes[1], tsresol: 9, tsoffset: offsetSeconds)
        default: file.interface(linktype: linktype ?? linktypes[2], tsresol: 0x80 | 24)
        }
    }

    /// `unsupported`: interface 1's link type is this instead (its packets stay raw IPv4).
    init(unsupported: UInt16? = nil) throws {
        var packets: [(ns: Int64, interface: Int, data: [UInt8])] = []
        for (i, name) in Self.sources.enumerated() {
            let classic = try #require(ClassicPcap(try fixtureBytes(name)))
            classics.append(classic)
            let first = try #require(classic.records.first.map { nanoseconds(classic, $0) })
            // 1 ms apart: the three sessions overlap, so their packets interleave.
            let moved = Self.base + Int64(i) * 1_000_000 - first
            shift.append(moved)
            for record in classic.records {
                let frame = i == 0 ? record.data : i == 1 ? Relink.raw(record.data) : Relink.sll(record.data)
                packets.append((nanoseconds(classic, record) + moved, i, frame))
            }
        }
        packets.sort { $0.ns < $1.ns }
        file.section()
        for i in 0..<3 { Self.describe(&file, interface: i, linktype: i == 1 ? unsupported : nil) }
        alone = (0..<3).map { i in
            var one = Pcapng()
            one.section()
            Self.describe(&one, interface: i)
            return one
        }
        for packet in packets {
            file.enhanced(interface: UInt32(packet.interface), stamp: Self.stamp(packet.ns, interface: packet.interface),
                          data: packet.data)
            alone[packet.interface].enhanced(interface: 0, stamp: Self.stamp(packet.ns, interface: packet.interface),
                                             data: packet.data)
        }
    }

    /// What each source alone gives, as keys with its alerts' times moved as its packets were.
    func expectedAlerts(skipping: Int? = nil) -> [String] {
        var keys: [String] = []
        for (i, classic) in classics.enumerated() where i != skipping {
            for alert in replayInProcess(classic.bytes).alerts {
                keys.append(Self.key(alert, time: Self.readBack(alert.timestamp.nanoseconds + shift[i], interface: i)))
            }
        }
        return keys.sorted()
    }

    static func key(_ alert: Alert, time: Int64? = nil) -> String {
        "\(time ?? alert.timestamp.nanoseconds) \(alert.finding.method) "
            + "\(alert.finding.username.map { String(decoding: $0, as: UTF8.self) } ?? "-") \(alert.finding.outcome)"
    }
}

extension PcapngReaderTests {
    @Test func interfacesOfDifferentLinkTypesAndResolutions() throws {
        let mixed = try MixedCapture()
        // libpcap refuses the file at its second interface, before any packet.
        let (ours, libpcap) = readWithBoth(mixed.file.bytes)
        guard case .error(let message)? = libpcap.end else { Issue.record("libpcap read the mixed file"); return }
        #expect(message.contains("different from the type of the first interface"))
        #expect(libpcap.records.isEmpty)
        // Ours: every packet, as libpcap reads each interface's packets in a file of their own.
        #expect(ours.end == .endOfFile)
        let each = mixed.alone.map { readWithBoth($0.bytes).libpcap }
        for one in each { #expect(one.end == .endOfFile && !one.records.isEmpty) }
        #expect(ours.records.count == each.reduce(0) { $0 + $1.records.count })
        #expect(ours.records.sorted() == each.flatMap(\.records).sorted())
        // The power-of-2 interface's times are within one unit (60 ns) of the recorded ones.
        let sll = each[2].records.compactMap { Int64($0.split(separator: " ")[0]) }
        let recorded = mixed.classics[2].records.map { nanoseconds(mixed.classics[2], $0) + mixed.shift[2] }
        #expect(sll.count == recorded.count)
        for (got, want) in zip(sll.sorted(), recorded.sorted()) { #expect(want - got >= 0 && want - got <= 60) }

        // Every login of the three sessions, each at its own interface's time.
        let replayed = replayInProcess(mixed.file.bytes)
        #expect(replayed.end == .endOfFile)
        #expect(replayed.alerts.map { MixedCapture.key($0) }.sorted() == mixed.expectedAlerts())
        #expect(replayed.alerts.count >= 3)
        let stats = try #require(replayed.stats)
        #expect(stats.packets == UInt64(mixed.classics.reduce(0) { $0 + $1.records.count }))
        #expect(stats.decodeErrors == 0)
    }

    /// The same through the binary, with a user filter compiled for each link type, and a
    /// filter one of the link types cannot take.
    @Test func mixedFileThroughTheBinaryWithFilters() throws {
        let bin = try #require(plainsightBinary())
        let mixed = try MixedCapture()
        let all = try runBinary(bin, mixed.file.bytes, name: "mixed.pcapng", ["--json", "--quiet"])
        #expect(all.status == 0, "\(all.stderrText)")
        #expect(all.stderrText.isEmpty)
        #expect(all.stdoutText.components(separatedBy: "\"cleartext_auth\"").count - 1 == mixed.expectedAlerts().count)
        for app in ["imap", "pop3", "smtp"] { #expect(all.stdoutText.contains("\"app_proto\":\"\(app)\"")) }

        // Only POP3 (raw IPv4, interface 1) passes.
        let pop3 = try runBinary(bin, mixed.file.bytes, name: "mixed.pcapng", ["--json", "--quiet", "tcp", "port", "110"])
        #expect(pop3.status == 0, "\(pop3.stderrText)")
        #expect(pop3.stdoutText.contains("\"app_proto\":\"pop3\""))
        #expect(!pop3.stdoutText.contains("\"app_proto\":\"imap\"") && !pop3.stdoutText.contains("\"app_proto\":\"smtp\""))
        // Only SMTP (Linux cooked, interface 2).
        let smtp = try runBinary(bin, mixed.file.bytes, name: "mixed.pcapng", ["--json", "--quiet", "tcp port 25 or tcp port 587"])
        #expect(smtp.stdoutText.contains("\"app_proto\":\"smtp\"") && !smtp.stdoutText.contains("\"app_proto\":\"pop3\""))

        // `vlan` compiles for Ethernet but not for raw IP: refused before reading, one line naming
        // it; a usage error (exit 2, issue 19), as it is the first file's.
        let vlan = try runBinary(bin, mixed.file.bytes, name: "mixed.pcapng", ["--json", "--quiet", "vlan"])
        #expect(vlan.status == 2)
        let lines = vlan.stderrText.split(separator: "\n")
        #expect(lines.count == 1, "\(vlan.stderrText)")
        #expect(vlan.stderrText.contains("bad filter 'vlan'") && vlan.stderrText.contains("RAW"), "\(vlan.stderrText)")
        #expect(!vlan.stdoutText.contains("cleartext_auth"))
    }

    /// An interface of a link type plainsight does not decode: the others are read, its packets
    /// are counted, named on stderr and in the stats event, and the file is not a read error.
    @Test func unsupportedLinkTypeOnOneInterface() throws {
        let mixed = try MixedCapture(unsupported: 189)       // USB_LINUX
        let replayed = replayInProcess(mixed.file.bytes)
        #expect(replayed.end == .endOfFile)
        #expect(replayed.alerts.map { MixedCapture.key($0) }.sorted() == mixed.expectedAlerts(skipping: 1))
        let reader = try PcapFileReader(bytes: mixed.file.bytes, name: "x")
        #expect(reader.linkTypePerRecord)
        _ = reader.readLinkBatches { _, _, link in #expect(link != .raw) }
        let undecoded = reader.undecodedInterfaces
        #expect(undecoded.count == 1)
        #expect(undecoded.first.map { [$0.section, $0.interface, Int($0.dlt), Int($0.packets)] }
                == [1, 1, 189, mixed.classics[1].records.count])
        #expect(undecoded.first?.name == "USB_LINUX")

        let bin = try #require(plainsightBinary())
        let r = try runBinary(bin, mixed.file.bytes, name: "usb.pcapng", ["--json", "--quiet"])
        #expect(r.status == 0)
        let lines = r.stderrText.split(separator: "\n")
        #expect(lines.count == 1, "\(r.stderrText)")
        #expect(r.stderrText.contains("interface 1: unsupported link type 189 (USB_LINUX), \(mixed.classics[1].records.count) packets not decoded"),
                "\(r.stderrText)")
        #expect(r.stdoutText.contains("\"unsupported_link_packets\":\(mixed.classics[1].records.count)"))
        #expect(r.stdoutText.contains("\"app_proto\":\"imap\"") && r.stdoutText.contains("\"app_proto\":\"smtp\""))
        #expect(!r.stdoutText.contains("\"app_proto\":\"pop3\""))

        // No interface plainsight decodes: refused as a classic file of that link type is.
        var none = Pcapng()
        none.section()
        none.interface(linktype: 147)
        none.interface(linktype: 189)
        none.enhanced(interface: 0, stamp: 1, data: [1, 2, 3, 4])
        none.enhanced(interface: 1, stamp: 2, data: [1, 2, 3, 4])
        let refused = try runBinary(bin, none.bytes, name: "none.pcapng", ["-r", "fixtures/imap-login-literal.pcap", "--json", "--quiet"])
        #expect(refused.status == 1)
        let refusal = refused.stderrText.split(separator: "\n")
        #expect(refusal.count == 1 && refusal[0].contains("unsupported link type 147"), "\(refused.stderrText)")
        #expect(refused.stdoutText.contains("cleartext_auth"))
        #expect(refused.stdoutText.contains("\"read_errors\":1"))
    }

    /// Several sections, the second in the other byte order (libpcap stops there), each with
    /// its own interfaces; Simple Packet Blocks belong to interface 0 of their section.
    @Test func sectionsResetInterfacesAndMayChangeByteOrder() throws {
        let classic = try #require(ClassicPcap(try fixtureBytes("pop3-user-pass.pcap")))
        let second = try #require(ClassicPcap(try fixtureBytes("imap-login-literal.pcap")))
        let first = Pcapng.from(classic)
        let other = Pcapng.from(second, bigEndian: true, extras: true)
        let (ours, libpcap) = readWithBoth(first.bytes + other.bytes)
        // libpcap reads the second section header's length in the first one's byte order.
        guard case .error? = libpcap.end else { Issue.record("libpcap read both byte orders"); return }
        #expect(ours.end == .endOfFile)
        #expect(ours.records == readWithBoth(first.bytes).libpcap.records + readWithBoth(other.bytes).libpcap.records)
        // Same byte order: libpcap reads it too, identically.
        let same = readWithBoth(first.bytes + Pcapng.from(second, extras: true).bytes)
        #expect(same.ours == same.libpcap)
        #expect(same.ours.end == .endOfFile)
        let replayed = replayInProcess(first.bytes + other.bytes)
        #expect(replayed.end == .endOfFile)
        #expect(Set(replayed.alerts.map { $0.finding.method }).count == 2)

        // A second section whose interface 0 is raw IP, read by Simple Packet Blocks (no time).
        var spb = Pcapng(bigEndian: true)
        spb.section()
        spb.interface(linktype: 101, snaplen: 64)
        for record in classic.records { spb.simple(data: Relink.raw(record.data)) }
        let both = readWithBoth(first.bytes + spb.bytes)
        guard case .error? = both.libpcap.end else { Issue.record("libpcap read both byte orders"); return }
        #expect(both.ours.end == .endOfFile)
        #expect(both.ours.records.count == 2 * classic.records.count)
        let alone = readWithBoth(spb.bytes)
        #expect(alone.ours == alone.libpcap)
        #expect(Array(both.ours.records.suffix(classic.records.count)) == alone.libpcap.records)
    }
}

// MARK: - Damaged files

extension PcapngReaderTests {
    /// A capture with every block kind, little-endian, small enough to cut at every byte.
    static func sample() throws -> (file: Pcapng, classic: ClassicPcap) {
        let classic = try #require(ClassicPcap(try fixtureBytes("pop3-user-pass.pcap")))
        return (Pcapng.from(classic, extras: true), classic)
    }

    /// Cut at every byte: the same records and the same error as libpcap (or both refuse to open).
    @Test func everyPrefixMatchesLibpcap() throws {
        let (file, _) = try Self.sample()
        for length in 0...file.bytes.count {
            let (ours, libpcap) = readWithBoth(Array(file.bytes.prefix(length)))
            #expect(ours == libpcap, "prefix \(length): \(ours.end as Any) vs \(libpcap.end as Any)")
        }
        // Big-endian, at block boundaries and one byte either side.
        let big = Pcapng.from(try #require(ClassicPcap(try fixtureBytes("pop3-user-pass.pcap"))), bigEndian: true, extras: true)
        for start in big.blocks {
            for length in [start - 1, start, start + 1, start + 9] where length > 0 && length <= big.bytes.count {
                let (ours, libpcap) = readWithBoth(Array(big.bytes.prefix(length)))
                #expect(ours == libpcap, "big-endian prefix \(length)")
            }
        }
    }

    /// Damage libpcap names: each gives the same records and the same message.
    @Test func damagedBlocksEndAsInLibpcap() throws {
        let (file, classic) = try Self.sample()
        let bytes = file.bytes
        let epbs = file.blocks.filter { bytes[$0] == 6 && bytes[$0 + 1] == 0 }
        let target = epbs[epbs.count / 2]
        func patched(_ at: Int, _ value: [UInt8]) -> [UInt8] {
            var copy = bytes
            copy.replaceSubrange(at..<(at + value.count), with: value)
            return copy
        }
        let length = Int(ClassicPcap.u32(bytes, target + 4))
        var cases: [(String, [UInt8], String?)] = [
            ("trailer disagrees", patched(target + length - 4, file.u32(UInt32(length + 4))),
             "block total length in header and trailer don't match"),
            ("no IDB for interface 3", patched(target + 8, file.u32(3)),
             "a packet arrived on interface 3, but there's no Interface Description Block for that interface"),
            ("captured length beyond the block", patched(target + 20, file.u32(UInt32(length))),
             "block of type 6 in pcapng dump file is too short"),
            ("captured length beyond the snapshot", patched(target + 20, file.u32(300_000)),
             "invalid packet capture length 300000, bigger than snaplen of \(classic.snaplen == 0 || classic.snaplen > 262_144 ? 262_144 : classic.snaplen)"),
            ("length not a multiple of 4", patched(target + 4, file.u32(UInt32(length + 2))), nil),
            ("length below 12", patched(target + 4, file.u32(8)), nil),
            ("block above 16 MiB", patched(target + 4, file.u32(0x0100_0004)), nil),
            ("EPB too short", patched(target + 4, file.u32(28)), nil),
        ]
        // Interface options: each fault in an interface described after the first packet.
        for (label, options) in [("tsresol length 2", file.option(9, [6, 6])),
                                 ("two tsresol", file.option(9, [6]) + file.option(9, [9])),
                                 ("tsresol 10^-20", file.option(9, [20])),
                                 ("tsresol 2^-64", file.option(9, [0x80 | 64])),
                                 ("tsoffset length 4", file.option(14, [0, 0, 0, 0])),
                                 ("option beyond the block", file.u16(2) + file.u16(200))] {
            var broken = Pcapng.from(classic)
            broken.block(1, broken.u16(1) + broken.u16(0) + broken.u32(0) + options)
            broken.enhanced(interface: 1, stamp: 5, data: [1, 2, 3])
            cases.append((label, broken.bytes, nil))
        }
        var versions = Pcapng.from(classic)
        versions.section(major: 2)
        cases.append(("second section version 2", versions.bytes, "unknown pcapng savefile major version number 2"))
        var magic = Pcapng.from(classic)
        magic.block(0x0A0D_0D0A, [1, 2, 3, 4] + magic.u16(1) + magic.u16(0) + magic.u64(0))
        cases.append(("second section with a bad magic", magic.bytes, "the file has a section with a bad byte order magic field"))
        for (label, damaged, message) in cases {
            let (ours, libpcap) = readWithBoth(damaged)
            #expect(ours == libpcap, "\(label): \(ours.end as Any) vs \(libpcap.end as Any)")
            guard case .error(let text)? = ours.end else { Issue.record("\(label): read cleanly"); continue }
            if let message { #expect(text == message, "\(label)") }
        }
    }

    /// Seeded bit flips in block headers, fixed fields and options: libpcap's records and errors.
    @Test func seededFlipsMatchLibpcap() throws {
        let (file, _) = try Self.sample()
        var random = SplitMix(seed: 0x9C4E)
        let offsets = file.blocks.flatMap { start in (0..<32).map { start + $0 } }.filter { $0 < file.bytes.count }
        for round in 0..<600 {
            var damaged = file.bytes
            for _ in 0...random.below(2) {
                damaged[offsets[random.below(offsets.count)]] ^= UInt8(1 << random.below(8))
            }
            let (ours, libpcap) = readWithBoth(damaged)
            // A flip that gives an interface another link type or snapshot length ends libpcap's
            // read; ours reads on, with the same records up to there.
            if case .error(let message)? = libpcap.end, message.contains("different from the") {
                #expect(Array(ours.records.prefix(libpcap.records.count)) == libpcap.records, "round \(round)")
                continue
            }
            #expect(ours == libpcap, "round \(round): \(ours.end as Any) vs \(libpcap.end as Any)")
        }
    }

    /// A file of several MiB from disk, so blocks straddle the 512 KiB buffer's refills, with a
    /// block larger than the buffer (a packet with 600 KiB of options), and cut inside the last
    /// blocks: libpcap's records and errors, progress to the last byte.
    @Test func largeFileFromDiskMatchesLibpcap() throws {
        var file = Pcapng()
        file.section()
        file.interface(linktype: 1, tsresol: 9)
        var s: UInt64 = 11
        for i in 0..<2500 {
            s = s &* 6364136223846793005 &+ 1
            let size = i % 400 == 9 ? 262_144 : i % 89 == 5 ? 100_000 + Int(s >> 48) : Int(s >> 53)
            let options = i == 1234 ? file.option(1, [UInt8](repeating: 0x41, count: 60_000)) + Array(repeating: file.option(1, [UInt8](repeating: 0x42, count: 60_000)), count: 9).flatMap { $0 } + file.endOfOptions : []
            file.enhanced(interface: 0, stamp: 1_700_000_000_000_000_000 + UInt64(i) * 7_777,
                          data: (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ i) }, options: options)
        }
        #expect(file.bytes.count > 4 * 512 * 1024)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-ng-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for cut in [file.bytes.count, file.bytes.count - 1, file.bytes.count - 100_000] {
            let path = dir.appendingPathComponent("cut-\(cut).pcapng")
            try Data(file.bytes.prefix(cut)).write(to: path)
            let reader = try PcapFileReader(path: path.path)
            #expect(reader.linkTypePerRecord)
            let ours = readAll(reader)
            let libpcap = readWithBoth(Array(file.bytes.prefix(cut))).libpcap
            #expect(ours == libpcap, "cut \(cut): \(ours.end as Any) vs \(libpcap.end as Any)")
            if cut == file.bytes.count {
                #expect(ours.end == .endOfFile && ours.records.count == 2500)
                #expect(reader.bytesConsumed == Int64(cut))
            }
        }
    }

    /// Through the binary: a file cut inside a block is one stderr line naming the file, exit 1,
    /// and the logins before the cut are reported, as for a classic file.
    @Test func truncatedFileThroughTheBinary() throws {
        let bin = try #require(plainsightBinary())
        let classic = try #require(ClassicPcap(try fixtureBytes("imap-login-literal.pcap")))
        var file = Pcapng.from(classic)
        file.enhanced(interface: 0, stamp: 1, data: [UInt8](repeating: 0xAB, count: 64))
        let cut = Array(file.bytes.dropLast(10))
        let r = try runBinary(bin, cut, name: "cut.pcapng", ["--json", "--quiet"])
        #expect(r.status == 1)
        let lines = r.stderrText.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("cut.pcapng") && lines[0].contains("truncated pcapng dump file"), "\(r.stderrText)")
        #expect(r.stdoutText.components(separatedBy: "\"cleartext_auth\"").count - 1 == 1)
        #expect(r.stdoutText.contains("\"read_errors\":1"))
    }
}

extension PcapngReaderTests {
    /// Progress sees the same counts and bytes at every tick as with libpcap, and a stop at a
    /// tick ends the read at the same record and time; from memory and from a file several
    /// buffers long (refills end batches), with other blocks between the packets.
    @Test func ticksAndStopsMatchLibpcap() throws {
        var file = Pcapng()
        file.section()
        file.interface(linktype: 1, snaplen: 1000, tsresol: 9)
        for i in 0..<2500 {
            if i % 300 == 7 { file.otherBlocks() }
            let size = (i &* 7919) % 1000
            file.enhanced(interface: 0, stamp: 1_700_000_000_000_000_000 + UInt64(i) * 13_000,
                          data: (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ i) })
        }
        let bytes = file.bytes
        #expect(bytes.count > 2 * 512 * 1024)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-ngticks-\(getpid()).pcapng")
        try Data(bytes).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        func run(_ source: String, interval: UInt64, stopAt: Int?) throws -> [String] {
            let reader = source == "file" ? try PcapFileReader(path: path.path)
                : try PcapFileReader(bytes: bytes, name: "records", libpcapRecords: source == "libpcap")
            #expect(reader.linkTypePerRecord == (source != "libpcap"))
            let read = tickedRead(reader, interval: interval, stopAt: stopAt)
            if source != "libpcap" { #expect(read.ticksBehind == 0) }
            #expect(read.delivered == reader.recordsRead)
            return read.log
        }
        for interval: UInt64 in [1, 3, 32, 33, 4096] {
            for stopAt in [nil, 1, 2] {
                let libpcap = try run("libpcap", interval: interval, stopAt: stopAt)
                for source in ["memory", "file"] {
                    #expect(try run(source, interval: interval, stopAt: stopAt) == libpcap,
                            "\(source) interval \(interval) stop at \(stopAt as Any)")
                }
            }
        }
    }

    /// Seeded damage anywhere in the mixed-link file (libpcap cannot read it at all): never a
    /// crash or a hang, a read that ends cleanly or with a message, and usernames bounded.
    @Test func seededDamageToTheMixedFile() throws {
        let mixed = try MixedCapture()
        var random = SplitMix(seed: 0x3117)
        var errors = 0, clean = 0
        for _ in 0..<300 {
            var damaged = mixed.file.bytes
            for _ in 0...random.below(3) {
                let at = random.below(2) == 0 ? mixed.file.blocks[random.below(mixed.file.blocks.count)] + random.below(32)
                                              : random.below(damaged.count)
                if at < damaged.count { damaged[at] ^= UInt8(truncatingIfNeeded: random.below(255) + 1) }
            }
            let r = replayInProcess(damaged)
            guard r.openError == nil else { continue }
            switch r.end {
            case .error(let message)?: errors += 1; #expect(!message.isEmpty)
            case .endOfFile?: clean += 1
            default: Issue.record("read ended with \(r.end as Any)")
            }
            for a in r.alerts { #expect((a.finding.username?.count ?? 0) <= 256) }
        }
        #expect(errors > 0 && clean > 0, "errors \(errors), clean \(clean)")
    }
}

extension PcapngReaderTests {
    /// An interface described after the first packet: its link type's filter is compiled when it
    /// appears, and one that does not compile ends the read there with a message naming it,
    /// after the logins of the packets before. The first interface may be one plainsight does
    /// not decode: the file is still read.
    @Test func lateInterfacesAndAnUndecodedFirstInterface() throws {
        let bin = try #require(plainsightBinary())
        let classic = try #require(ClassicPcap(try fixtureBytes("imap-login-literal.pcap")))
        var file = Pcapng.from(classic)
        file.interface(linktype: 101, tsresol: 9)
        file.enhanced(interface: 1, stamp: 1, data: Relink.raw(classic.records[0].data))
        let late = try runBinary(bin, file.bytes, name: "late.pcapng", ["--json", "--quiet", "tcp or vlan"])
        #expect(late.status == 1)
        let lines = late.stderrText.split(separator: "\n")
        #expect(lines.count == 1, "\(late.stderrText)")
        #expect(late.stderrText.contains("filter 'tcp or vlan' does not compile for link type 12 (RAW) of interface 1"),
                "\(late.stderrText)")
        #expect(late.stdoutText.components(separatedBy: "\"cleartext_auth\"").count - 1 == 1)
        // Without the filter, the same file reads whole.
        let whole = try runBinary(bin, file.bytes, name: "late.pcapng", ["--json", "--quiet"])
        #expect(whole.status == 0 && whole.stderrText.isEmpty, "\(whole.stderrText)")

        var first = Pcapng()
        first.section()
        first.interface(linktype: 189)
        first.interface(linktype: 1)
        first.enhanced(interface: 0, stamp: 1, data: [1, 2, 3, 4])
        for record in classic.records {
            let stamp = UInt64(ClassicPcap.u32(record.header, 0)) * 1_000_000 + UInt64(ClassicPcap.u32(record.header, 4))
            first.enhanced(interface: 1, stamp: stamp, data: record.data)
        }
        let r = try runBinary(bin, first.bytes, name: "first.pcapng", ["--json", "--quiet", "tcp"])
        #expect(r.status == 0)
        #expect(r.stderrText.contains("interface 0: unsupported link type 189 (USB_LINUX), 1 packet not decoded"), "\(r.stderrText)")
        #expect(r.stdoutText.components(separatedBy: "\"cleartext_auth\"").count - 1 == 1)
        #expect(r.stdoutText.contains("\"unsupported_link_packets\":1"))
    }
}

extension PcapngReaderTests {
    /// tshark's dissection of the generated mixed file agrees with what plainsight reads of it:
    /// the same number of frames on each interface, each interface's link type, and the same TCP
    /// segments (ports and payload lengths) in the same order. Skipped without tshark.
    @Test func mixedFileAsTsharkDissectsIt() throws {
        guard let tshark = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else {
            print("skipped: tshark is not installed (apt-get install tshark)")
            return
        }
        let mixed = try MixedCapture()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-mixed-\(UUID().uuidString).pcapng")
        try Data(mixed.file.bytes).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let r = try runProgram(tshark, ["-n", "-r", path.path, "-T", "fields", "-E", "separator=,",
                                        "-e", "frame.interface_id", "-e", "frame.encap_type",
                                        "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len"])
        #expect(r.status == 0, "tshark: \(r.stderrText)")
        let rows = r.stdoutText.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        // Per interface: the frames of its source capture, in the file's order.
        for i in 0..<3 {
            let frames = rows.filter { $0.first == Substring(String(i)) }
            #expect(frames.count == mixed.classics[i].records.count, "interface \(i)")
            // Wireshark's encapsulation numbers: 1 Ethernet, 7 raw IP, 25 Linux cooked.
            let encap = ["1", "7", "25"][i]
            #expect(frames.allSatisfy { $0.count > 1 && $0[1] == Substring(encap) }, "interface \(i) encapsulation")
        }
        // Every frame is a TCP segment tshark dissected, matching the source capture's segments.
        let tsharkSegments = rows.map { $0.dropFirst(2).joined(separator: "/") }.sorted()
        var ours: [String] = []
        for classic in mixed.classics {
            for record in classic.records {
                guard case .tcp(let p)? = try? PacketDecoder.decode(record.data.span, link: .ethernet) else { continue }
                ours.append("\(p.sourcePort)/\(p.destinationPort)/\(p.payloadLength)")
            }
        }
        #expect(tsharkSegments == ours.sorted())
    }
}

/// Output with every alert's `pcap_filename` left out, for comparing runs over copies of a capture.
func withoutFileName(_ stdout: Data) -> String {
    String(decoding: stdout, as: UTF8.self).replacing(/,"pcap_filename":"[^"]*"/, with: "")
}
