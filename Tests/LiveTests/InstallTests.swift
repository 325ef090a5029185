import Foundation
import Testing

/// scripts/install, staged with --destdir: the binary, a sandboxed unit and a man page that renders.
@Suite("install")
struct InstallTests {
    @Test func stagedInstallHasBinaryUnitAndManPage() throws {
        let bin = try #require(plainsightBinary())
        let stage = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-install-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: stage) }
        let r = try run(packageRoot.appendingPathComponent("scripts/install").path,
                        ["--destdir", stage.path, "--binary", bin, "--prefix", "/opt/plainsight"])
        #expect(r.status == 0, "\(r.stderr)")

        let installed = stage.appendingPathComponent("opt/plainsight/sbin/plainsight").path
        #expect(FileManager.default.isExecutableFile(atPath: installed))
        let version = try run(installed, ["--version"])
        #expect(version.status == 0 && !version.stdout.isEmpty)

        let unit = try String(contentsOf: stage.appendingPathComponent("etc/systemd/system/plainsight@.service"), encoding: .utf8)
        for line in ["ExecStart=/opt/plainsight/sbin/plainsight -i %i -Z plainsight ",
                     "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN CAP_SETUID CAP_SETGID CAP_DAC_OVERRIDE\n",
                     "NoNewPrivileges=yes\n", "ProtectSystem=strict\n", "Restart=on-failure\n",
                     "ExecReload=/bin/kill -HUP $MAINPID\n"] {
            #expect(unit.contains(line), "unit lacks \(line)")
        }
        #expect(!unit.contains("@SBINDIR@"))

        // man -l renders the page with groff's warnings on; there must be none.
        let page = stage.appendingPathComponent("opt/plainsight/share/man/man8/plainsight.8").path
        let man = try run("/usr/bin/env", ["MANWIDTH=80", "man", "-l", "--warnings", page])
        #expect(man.status == 0)
        #expect(man.stderr.isEmpty, "man warnings: \(man.stderr)")
        for text in ["SIGHUP", "setcap cap_net_raw,cap_net_admin=ep", "--stats-interval", "--relinquish-privileges"] {
            #expect(man.stdout.contains(text), "man page lacks \(text)")
        }
    }

    /// Every option --help lists is in the man page, so the two cannot drift apart unnoticed.
    @Test func manPageCoversEveryOption() throws {
        let bin = try #require(plainsightBinary())
        let help = try run(bin, ["--help"])
        let page = try String(contentsOf: packageRoot.appendingPathComponent("scripts/install.d/plainsight.8"), encoding: .utf8)
            .replacingOccurrences(of: "\\-", with: "-")
        let options = Set(help.stdout.matches(of: /--[a-z][a-z0-9-]*[a-z0-9]/).map { String($0.output) })
        #expect(options.count > 10)
        for option in options.subtracting(["--help", "--version"]) {
            #expect(page.contains(option), "man page lacks \(option)")
        }
    }
}
