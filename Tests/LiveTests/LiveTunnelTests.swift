import Foundation
import Testing

/// Whether this kernel can create a `gretap` device (many have no ip_gre module: `ip link add ...
/// type gretap` then fails with "Unknown device type"), probed in a namespace of its own.
let canCreateGretap: Bool = {
    guard canUseNamespaces else { return false }
    let name = "ps-live-gretap-probe-\(getpid())"
    guard (try? run("/usr/bin/env", ["ip", "netns", "add", name], timeout: 10))?.status == 0 else { return false }
    defer { _ = try? run("/usr/bin/env", ["ip", "netns", "del", name], timeout: 10) }
    let added = try? run("/usr/bin/env", ["ip", "-n", name, "link", "add", "ps-gt-probe", "type", "gretap",
                                          "local", "198.51.100.1", "remote", "198.51.100.10", "key", "1"], timeout: 10)
    return added?.status == 0
}()

/// Mirror feeds, live: `scripts/live-test --tunnel ...` puts the lab's addresses on a kernel tunnel
/// across an underlay veth pair (198.51.100.1 client side, 198.51.100.10 server side; VXLAN VNI
/// 4242 on UDP 4789, or gretap with key 4242), runs two plainsight instances on the server-side
/// underlay veth with no BPF expression (the default filter, which passes tunnel ports, GRE and
/// IPv4 fragments) and `-Z nobody` (T: JSON, X: text), drives the lab's real clients, and checks
/// every login reported exactly once with its inner endpoints and its `tunnel` object, and that
/// 200 UDP datagrams sent across the underlay outside the tunnel never reached plainsight (the
/// default filter is really installed: `skipped.not_tcp` stays below 200). With a small underlay
/// MTU the kernel fragments the outer datagrams (outer DF unset, `ip_no_pmtu_disc` in both
/// namespaces), and the final stats event must count reassembled fragments and lose none.
@Suite("live tunnels", .serialized)
struct LiveTunnelTests {
    @Test("VXLAN underlay, MTU 1500: each login once, with the tunnel object",
          .enabled(if: canUseNamespaces, "needs root and network namespaces (CI runs it as root)"),
          .timeLimit(.minutes(10)))
    func vxlanUnderlay() throws {
        try runTunnelLab(tunnel: "vxlan", mtu: nil)
    }

    /// 576: only the large segments (certificates, capability lists) cross in fragments, mixed
    /// with whole datagrams in one flow; 100: every TCP segment does (the smallest, a bare ACK, is
    /// 102 bytes outside), its TCP header split between the first two fragments.
    @Test("VXLAN underlay with a small MTU: the kernel fragments, plainsight reassembles",
          .enabled(if: canUseNamespaces, "needs root and network namespaces (CI runs it as root)"),
          .timeLimit(.minutes(10)), arguments: [576, 100])
    func vxlanFragmentedUnderlay(mtu: Int) throws {
        try runTunnelLab(tunnel: "vxlan", mtu: mtu)
    }

    @Test("GRE (gretap) underlay: each login once, with the tunnel object",
          .enabled(if: canUseNamespaces, "needs root and network namespaces (CI runs it as root)"),
          .enabled(if: canCreateGretap,
                   "this kernel cannot create gretap devices ('ip link add ... type gretap': no ip_gre module)"),
          .timeLimit(.minutes(10)))
    func gretapUnderlay() throws {
        try runTunnelLab(tunnel: "gretap", mtu: nil)
    }

    private func runTunnelLab(tunnel: String, mtu: Int?) throws {
        let bin = try #require(plainsightBinary())
        var args = ["--binary", bin, "--tunnel", tunnel]
        if let mtu { args += ["--underlay-mtu", String(mtu)] }
        let r = try run(packageRoot.appendingPathComponent("scripts/live-test").path, args, timeout: 420)
        let resultLine = r.stdout.split(separator: "\n").last { $0.hasPrefix("LIVE-RESULT ") }
        print(resultLine ?? "no LIVE-RESULT line")
        #expect(r.status == 0, "scripts/live-test \(args) exited \(r.status):\n\(r.stdout)\n\(r.stderr.suffix(6000))")
        let line = try #require(resultLine)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.dropFirst("LIVE-RESULT ".count).utf8)) as? [String: Any])
        #expect((json["failures"] as? [Any])?.isEmpty == true, "\(json["failures"] ?? "")")
        #expect(json["mode"] as? String == tunnel)
        #expect(json["underlay_mtu"] as? Int == mtu ?? 1500)
        let expected = try #require(json["expected"] as? Int)
        #expect(expected >= 12)
        // The tunnel object every alert must carry: the client VTEP to the server VTEP.
        let kind = tunnel == "vxlan" ? "vxlan" : "gre"
        let want: [String: Any] = ["type": kind, "src_ip": "198.51.100.1", "dest_ip": "198.51.100.10",
                                   kind == "vxlan" ? "vni" : "gre_key": 4242, "layers": [kind]]
        let wantJSON = String(decoding: try JSONSerialization.data(withJSONObject: want, options: [.sortedKeys]), as: UTF8.self)
        let instances = try #require(json["instances"] as? [String: [String: Any]])
        #expect(instances.keys.sorted() == ["T", "X"])
        for (name, instance) in instances {
            #expect(instance["alerts_seen"] as? Int == expected, "\(name)")
            #expect(instance["duplicates"] as? Int == 0, "\(name)")
            #expect(instance["tunnel_mismatches"] as? Int == 0, "\(name)")
            let seen = try #require(instance["tunnels_seen"] as? [String], "\(name)")
            #expect(seen.count == 1, "\(name): \(seen)")
            if let first = seen.first {
                let object = try JSONSerialization.jsonObject(with: Data(first.utf8))
                let normalized = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
                #expect(normalized == wantJSON, "\(name)")
            }
            #expect(instance["dropped_kernel"] as? Int == 0, "\(name)")
            #expect(instance["exit"] as? Int == 0, "\(name)")
            let uid = try #require(instance["uid_after_start"] as? Int, "\(name)")
            #expect(uid != 0, "\(name)")
            print("\(name): \(instance["sample"] as? String ?? "no alert line")")
        }
        let skipped = try #require(instances["T"]?["skipped"] as? [String: Any])
        #expect((skipped["not_tcp"] as? Int ?? Int.max) < 200, "the underlay probe passed the default filter: \(skipped)")
        let fragments = try #require(instances["T"]?["fragments"] as? [String: Any])
        let received = fragments["received"] as? Int, reassembled = fragments["reassembled"] as? Int
        if mtu != nil {
            #expect((reassembled ?? 0) > 0, "no fragments reassembled: \(fragments)")
            #expect((received ?? 0) > (reassembled ?? 0), "\(fragments)")
            for key in ["timed_out", "discarded", "evicted", "invalid", "memory_budget_hits"] {
                #expect(fragments[key] as? Int == 0, "fragments.\(key): \(fragments)")
            }
        } else {
            #expect(received == 0, "fragments on a 1500-byte underlay: \(fragments)")
        }
    }
}
