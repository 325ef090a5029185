import Foundation
import Testing

// The mirror-feed fixtures (tunnels and IP fragments: scripts/record-fixtures.d/tunnels.py records
// VXLAN and fragments from this machine's kernel, kernel_tunnels.py the other kernel tunnels in a
// QEMU guest, encapsulate.py generates what no kernel makes) checked against tshark's
// dissection, so the captures are known to be right before plainsight reads them: tshark must see
// the innermost TCP connection of every expected login, the outermost encapsulation with the
// identifiers the manifest's `tunnel` object states, and, for fragment captures, its own IP
// reassembly must give the login segment. plainsight's output on these captures is not checked
// here (FixtureReplayTests does that once the decoder knows tunnels and fragments).

/// The manifest as this test reads it: the expected alerts with their `tunnel` object and `vlan`.
struct MirrorFeedEntry: Decodable, Sendable {
    struct Tunnel: Decodable, Sendable, Equatable {
        var type: String
        var src_ip: String?
        var dest_ip: String?
        var vni: Int?
        var gre_key: Int?
        var erspan_id: Int?
        var mpls_labels: [Int]?
        var pppoe_session: Int?
        var teid: Int?
        var layers: [String]
    }
    struct Alert: Decodable, Sendable {
        var src_ip: String
        var src_port: Int
        var dest_ip: String
        var dest_port: Int
        var vlan: [Int]?
        var tunnel: Tunnel?
    }
    var pcap: String
    var client: String
    var expected: [Alert]
}

func loadMirrorFeedManifest() -> [String: MirrorFeedEntry] {
    let url = packageRoot.appendingPathComponent("fixtures/manifest.json")
    struct Manifest: Decodable { var fixtures: [MirrorFeedEntry] }
    guard let data = try? Data(contentsOf: url),
          let m = try? JSONDecoder().decode(Manifest.self, from: data) else { return [:] }
    return Dictionary(m.fixtures.map { ($0.pcap, $0) }, uniquingKeysWith: { a, _ in a })
}

/// One mirror-feed capture and what tshark must show beyond what the manifest states.
struct MirrorFeedCase: CustomTestStringConvertible, Sendable {
    enum Kind: Sendable { case tunnel, fragments, vlan, negative }
    var pcap: String
    var kind: Kind
    /// Extra tshark arguments (decode-as where tshark does not guess).
    var decodeAs: [String] = []
    /// For fragment captures: bytes of the login command tshark's reassembled segment must hold.
    var loginMarker: String? = nil
    /// Encapsulations counted in the login frame (tshark protocol name -> occurrences), for nestings.
    var protocolCounts: [String: Int] = [:]
    /// For a negative capture (no expected alert): the inner connection tshark must still see.
    var innerServerPort: Int? = nil
    var testDescription: String { pcap }
}

/// tshark 4.0 dissects VXLAN on UDP 4789 only; Linux and OVS default to 8472 (tcpdump calls it OTV).
let vxlan8472 = ["-d", "udp.port==8472,vxlan"]

let mirrorFeedCases: [MirrorFeedCase] = [
    // recorded from the kernel (tunnels.py)
    .init(pcap: "vxlan-imap-login.pcap", kind: .tunnel),
    .init(pcap: "vxlan-pop3-user-pass.pcap", kind: .tunnel),
    .init(pcap: "vxlan-smtp-auth-plain.pcap", kind: .tunnel),
    .init(pcap: "vxlan6-imap-login-ipv6.pcap", kind: .tunnel, decodeAs: vxlan8472),
    .init(pcap: "vxlan6-smtp-auth-plain.pcap", kind: .tunnel, decodeAs: vxlan8472),
    .init(pcap: "frag-router-imap-login.pcap", kind: .fragments, loginMarker: " LOGIN alice "),
    .init(pcap: "frag-router-pop3-user-pass.pcap", kind: .fragments, loginMarker: "PASS Fx-routerfragpop3-"),
    .init(pcap: "vxlan-frag-smtp-auth-plain.pcap", kind: .tunnel, loginMarker: "AUTH PLAIN "),
    .init(pcap: "vxlan-frag-imap-login.pcap", kind: .tunnel, loginMarker: " LOGIN dave "),
    .init(pcap: "vxlan6-frag-smtp-auth-plain.pcap", kind: .tunnel, decodeAs: vxlan8472, loginMarker: "AUTH PLAIN "),
    // recorded from Debian's kernel in a QEMU guest (kernel_tunnels.py, scripts/record-kernel-tunnels)
    .init(pcap: "kgretap-smtp-auth-plain.pcap", kind: .tunnel),
    .init(pcap: "kgre-imap-login.pcap", kind: .tunnel),
    .init(pcap: "kip6gre-imap-login-ipv6.pcap", kind: .tunnel),
    .init(pcap: "kerspan2-pop3-user-pass.pcap", kind: .tunnel),
    .init(pcap: "kerspan3-smtp-auth-plain.pcap", kind: .tunnel),
    .init(pcap: "kipip-pop3-user-pass.pcap", kind: .tunnel),
    .init(pcap: "k6in4-imap-login-ipv6.pcap", kind: .tunnel),
    .init(pcap: "k4in6-smtp-auth-plain.pcap", kind: .tunnel),
    .init(pcap: "k6in6-smtp-auth-login-ipv6.pcap", kind: .tunnel),
    .init(pcap: "kgeneve-imap-login.pcap", kind: .tunnel),
    .init(pcap: "kmpls-imap-login.pcap", kind: .tunnel),
    .init(pcap: "kpppoe-smtp-auth-plain.pcap", kind: .tunnel),
    // generated (encapsulate.py)
    .init(pcap: "geneve-imap-login.pcap", kind: .tunnel),
    .init(pcap: "geneve-ip-pop3-user-pass.pcap", kind: .tunnel),
    .init(pcap: "gretap-smtp-auth-plain.pcap", kind: .tunnel),
    .init(pcap: "gre-imap-login.pcap", kind: .tunnel),
    .init(pcap: "ip6gre-imap-login-ipv6.pcap", kind: .tunnel),
    .init(pcap: "erspan2-pop3-user-pass.pcap", kind: .tunnel),
    .init(pcap: "erspan3-smtp-auth-plain.pcap", kind: .tunnel),
    .init(pcap: "erspan3-platform-imap-login.pcap", kind: .tunnel),
    .init(pcap: "mpls-imap-login.pcap", kind: .tunnel),
    // tshark does not guess an Ethernet pseudowire behind a label: tell it
    .init(pcap: "mpls-pw-pop3-user-pass.pcap", kind: .tunnel, decodeAs: ["-d", "mpls.label==1002,pwethcw"]),
    .init(pcap: "pppoe-smtp-auth-plain.pcap", kind: .tunnel),
    .init(pcap: "pppoe-imap-login-ipv6.pcap", kind: .tunnel),
    .init(pcap: "ipip-pop3-user-pass.pcap", kind: .tunnel),
    .init(pcap: "6in4-imap-login-ipv6.pcap", kind: .tunnel),
    .init(pcap: "4in6-smtp-auth-plain.pcap", kind: .tunnel),
    .init(pcap: "6in6-smtp-auth-login-ipv6.pcap", kind: .tunnel),
    .init(pcap: "gtpu-imap-login.pcap", kind: .tunnel),
    .init(pcap: "gtpu-ext-pop3-user-pass.pcap", kind: .tunnel),
    .init(pcap: "vlan3-imap-login.pcap", kind: .vlan),
    .init(pcap: "vlan4-smtp-auth-plain.pcap", kind: .vlan),
    .init(pcap: "vlan-priority-pop3-user-pass.pcap", kind: .vlan),
    .init(pcap: "vxlan-in-gre-smtp-auth-plain.pcap", kind: .tunnel, protocolCounts: ["gre": 1, "vxlan": 1]),
    .init(pcap: "nest8-imap-login.pcap", kind: .tunnel, protocolCounts: ["gre": 4, "vxlan": 4]),
    .init(pcap: "nest9-imap-login.pcap", kind: .negative, protocolCounts: ["gre": 5, "vxlan": 4], innerServerPort: 143),
    .init(pcap: "frag4-ooo-dup-smtp-auth-plain.pcap", kind: .fragments, loginMarker: "AUTH PLAIN "),
    .init(pcap: "frag4-overlap-decoy-first-imap-login.pcap", kind: .fragments, loginMarker: " LOGIN bob \""),
    .init(pcap: "frag4-overlap-real-first-imap-login.pcap", kind: .fragments, loginMarker: " LOGIN bob \""),
    .init(pcap: "frag6-imap-login-ipv6.pcap", kind: .fragments, loginMarker: " LOGIN dave "),
]

let tsharkPath: String? = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// The tshark fields read per frame (every occurrence, comma-joined).
private let tsharkFields = [
    "frame.number", "frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
    "tcp.len", "tcp.payload", "vxlan.vni", "geneve.vni", "gre.key", "erspan.spanid", "erspan.version", "mpls.label",
    "pppoe.session_id", "gtp.teid", "ieee8021ad.id", "vlan.id", "ip.fragment.count", "ipv6.fragment.count",
]

/// One frame as tshark dissected it: field -> every value, outermost first.
private struct TsharkFrame {
    var values: [String: [String]]
    func all(_ f: String) -> [String] { values[f] ?? [] }
    func first(_ f: String) -> String? { all(f).first }
    func last(_ f: String) -> String? { all(f).last }
    /// IPv6 extension headers (tshark's ipv6.dstopts, ...) left out: the kernel's ip6gre and ip6tnl put a
    /// Destination Options header (encapsulation limit) between the outer IPv6 header and what it carries.
    var protocols: [String] {
        (first("frame.protocols") ?? "").split(separator: ":").map(String.init).filter { !$0.hasPrefix("ipv6.") }
    }
    /// The innermost IP addresses of the family of `like`.
    func innerAddresses(like addr: String) -> (String?, String?) {
        addr.contains(":") ? (last("ipv6.src"), last("ipv6.dst")) : (last("ip.src"), last("ip.dst"))
    }
}

/// "4242", "0x001092", "0x00abcdef" -> Int
private func tsharkInt(_ s: String?) -> Int? {
    guard let s else { return nil }
    if s.hasPrefix("0x") { return Int(s.dropFirst(2), radix: 16) }
    return Int(s)
}

private func dissect(_ c: MirrorFeedCase, tshark: String) throws -> [TsharkFrame] {
    var args = ["-r", "fixtures/\(c.pcap)", "-o", "tcp.desegment_tcp_streams:FALSE"] + c.decodeAs
    args += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    args += tsharkFields.flatMap { ["-e", $0] }
    let r = try runProgram(tshark, args)
    #expect(r.status == 0, "tshark failed: \(r.stderrText)")
    return r.stdoutText.split(separator: "\n").map { line in
        let cols = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        var v: [String: [String]] = [:]
        for (i, f) in tsharkFields.enumerated() where i < cols.count && !cols[i].isEmpty {
            v[f] = cols[i].split(separator: ",").map(String.init)
        }
        return TsharkFrame(values: v)
    }
}

/// The protocol names tshark shows right above the outermost encapsulation of each type.
private let encapsulationSignature: [String: [String]] = [
    "vxlan": ["udp", "vxlan", "eth"], "geneve": ["udp", "geneve"], "gre": ["gre"], "erspan2": ["gre", "erspan", "eth"],
    "erspan3": ["gre", "erspan", "eth"], "mpls": ["mpls"], "pppoe": ["pppoes", "ppp"], "ipip": ["ip", "ip"],
    "6in4": ["ip", "ipv6"], "4in6": ["ipv6", "ip"], "6in6": ["ipv6", "ipv6"], "gtpu": ["udp", "gtp"],
]

/// The first occurrence of `sub` in `list`, as an index.
private func indexOf(_ sub: [String], in list: [String]) -> Int? {
    guard sub.count <= list.count else { return nil }
    return (0...(list.count - sub.count)).first { Array(list[$0..<($0 + sub.count)]) == sub }
}

@Suite("mirror-feed fixtures (tunnels, fragments) against tshark's dissection")
struct TunnelFixtureTests {
    @Test("the table covers every mirror-feed capture of the manifest, and only those")
    func tableMatchesManifest() {
        let manifest = loadMirrorFeedManifest()
        let names = Set(mirrorFeedCases.map(\.pcap))
        for c in mirrorFeedCases {
            #expect(manifest[c.pcap] != nil, "\(c.pcap) is not in fixtures/manifest.json")
            #expect(FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent("fixtures/\(c.pcap)").path))
        }
        for (name, e) in manifest where e.expected.contains(where: { $0.tunnel != nil })
            || e.client.contains("encapsulate.py") || name.hasPrefix("frag") {
            #expect(names.contains(name), "\(name) has no row in TunnelFixtureTests' table")
        }
    }

    @Test("tshark sees the inner logins and the outer encapsulation", .enabled(if: tsharkPath != nil,
          "tshark is not installed (scripts/bootstrap installs it): tunnel fixture checks skipped"),
          arguments: mirrorFeedCases)
    func dissection(_ c: MirrorFeedCase) throws {
        let tshark = try #require(tsharkPath)
        let entry = try #require(loadMirrorFeedManifest()[c.pcap], "\(c.pcap) not in the manifest")
        let frames = try dissect(c, tshark: tshark)
        #expect(!frames.isEmpty, "tshark read no frame")

        if c.kind == .negative {
            #expect(entry.expected.isEmpty)
            let port = try #require(c.innerServerPort)
            let login = frames.first { tsharkInt($0.last("tcp.dstport")) == port && (tsharkInt($0.last("tcp.len")) ?? 0) > 0 }
            let frame = try #require(login, "tshark sees no data to port \(port) inside")
            for (proto, n) in c.protocolCounts {
                #expect(frame.protocols.filter { $0 == proto }.count == n, "\(proto) layers: \(frame.protocols)")
            }
            return
        }
        #expect(!entry.expected.isEmpty)
        for alert in entry.expected {
            // the client's data segments of the login's connection, innermost 5-tuple
            let segments = frames.filter { f in
                let (s, d) = f.innerAddresses(like: alert.src_ip)
                return s == alert.src_ip && d == alert.dest_ip && tsharkInt(f.last("tcp.srcport")) == alert.src_port
                    && tsharkInt(f.last("tcp.dstport")) == alert.dest_port && (tsharkInt(f.last("tcp.len")) ?? 0) > 0
            }
            #expect(!segments.isEmpty, "tshark sees no client data \(alert.src_ip):\(alert.src_port) -> \(alert.dest_ip):\(alert.dest_port)")
            guard let frame = segments.first else { continue }

            if let marker = c.loginMarker {
                // the login segment, as tshark's own IP reassembly put it together
                let hex = Data(marker.utf8).map { String(format: "%02x", $0) }.joined()
                let reassembled = segments.filter {
                    $0.first("ip.fragment.count") != nil || $0.first("ipv6.fragment.count") != nil
                }
                #expect(reassembled.contains { ($0.last("tcp.payload") ?? "").contains(hex) },
                        "no reassembled segment holds \(marker.debugDescription)")
            }

            if let tags = alert.vlan {
                // tshark names a 0x88a8 tag ieee8021ad (outermost in these captures), 0x8100/0x9100 vlan
                let seen = (frame.all("ieee8021ad.id") + frame.all("vlan.id")).compactMap(tsharkInt)
                // An alert lists the outer two ids of a deeper stack (README, alert schema).
                #expect(Array(seen.prefix(2)) == tags && seen.count >= tags.count, "VLAN ids \(seen)")
            }
            if c.kind == .fragments || c.kind == .vlan {
                #expect(alert.tunnel == nil, "fragments and VLAN tags are not tunnels")
                continue
            }
            let t = try #require(alert.tunnel, "tunnel object missing in the manifest")
            let protos = frame.protocols
            let sig = try #require(encapsulationSignature[t.type], "unknown tunnel type \(t.type)")
            // the outermost encapsulation is the first one in the frame
            let at = indexOf(sig, in: protos)
            #expect(at != nil, "\(t.type): \(sig) not in \(protos)")
            for other in encapsulationSignature.values where other != sig {
                if let o = indexOf(other, in: protos), let at, o < at {
                    Issue.record("an encapsulation \(other) before \(t.type) in \(protos)")
                }
            }
            if let src = t.src_ip, let dst = t.dest_ip {
                let (s, d) = src.contains(":") ? (frame.first("ipv6.src"), frame.first("ipv6.dst"))
                                                : (frame.first("ip.src"), frame.first("ip.dst"))
                #expect(s == src && d == dst, "outer addresses \(s ?? "-") -> \(d ?? "-")")
            } else if let outer = protos.firstIndex(of: sig[0]) {
                // MPLS and PPPoE sit right on Ethernet: no IP header before them
                #expect(!protos[..<outer].contains { $0 == "ip" || $0 == "ipv6" }, "\(t.type) is carried by IP: \(protos)")
            }
            if let vni = t.vni {
                let field = t.type == "geneve" ? "geneve.vni" : "vxlan.vni"
                #expect(tsharkInt(frame.first(field)) == vni, "\(field) \(frame.all(field))")
            }
            if let key = t.gre_key { #expect(tsharkInt(frame.first("gre.key")) == key, "gre.key \(frame.all("gre.key"))") }
            if t.type == "gre" || t.type == "erspan2" || t.type == "erspan3", t.gre_key == nil {
                #expect(frame.first("gre.key") == nil, "a GRE key the manifest does not state")
            }
            if let id = t.erspan_id {
                #expect(tsharkInt(frame.first("erspan.spanid")) == id, "erspan.spanid \(frame.all("erspan.spanid"))")
                #expect(tsharkInt(frame.first("erspan.version")) == (t.type == "erspan2" ? 1 : 2))
            }
            if let labels = t.mpls_labels {
                #expect(Array(frame.all("mpls.label").compactMap(tsharkInt).prefix(labels.count)) == labels)
            }
            if let s = t.pppoe_session {
                #expect(tsharkInt(frame.first("pppoe.session_id")) == s, "pppoe.session_id \(frame.all("pppoe.session_id"))")
            }
            if let teid = t.teid { #expect(tsharkInt(frame.first("gtp.teid")) == teid, "gtp.teid \(frame.all("gtp.teid"))") }
            #expect(t.layers.first == t.type, "layers start with the outermost type")
            for (proto, n) in c.protocolCounts {
                #expect(protos.filter { $0 == proto }.count == n, "\(proto) layers: \(protos)")
            }
            if c.protocolCounts.isEmpty {
                #expect(t.layers == [t.type])
            } else {
                // tshark's names for the manifest's layers, counted alike
                let named = t.layers.map { $0.hasPrefix("erspan") ? "erspan" : $0 }
                for (proto, n) in c.protocolCounts {
                    #expect(named.filter { $0 == proto }.count == n, "manifest layers \(t.layers)")
                }
            }
        }
    }
}
