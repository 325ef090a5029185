import Foundation
import Testing

/// Why the package test cannot run on this machine, or nil. It installs and purges a real
/// package, so it needs root and dpkg/apt, and it stays away from a plainsight already there (a
/// package, or scripts/install's log directory, which a purge would delete).
let packageTestBlocker: String? = {
    guard isRoot else { return "needs root (apt-get install)" }
    for tool in ["/usr/bin/dpkg", "/usr/bin/apt-get", "/usr/bin/dpkg-deb", "/usr/bin/dpkg-shlibdeps", "/usr/sbin/logrotate"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
        return "needs \(tool) (scripts/bootstrap installs it)"
    }
    if (try? run("/usr/bin/dpkg", ["-s", "plainsight"], timeout: 30))?.status == 0 {
        return "a plainsight package is already installed here; the test leaves it alone"
    }
    if FileManager.default.fileExists(atPath: "/var/log/plainsight") {
        return "/var/log/plainsight exists (scripts/install?); purging the test package would delete it"
    }
    return nil
}()

/// scripts/package, then the package installed with apt-get, used and purged (issue 19).
@Suite("Debian package", .serialized)
struct PackageTests {
    /// The release binary scripts/test builds (swift build -c release --static-swift-stdlib):
    /// `swift test` holds the build folder, so the test cannot build one itself.
    func staticReleaseBinary() throws -> String {
        let path = packageRoot.appendingPathComponent(".build/release/plainsight").path
        try #require(FileManager.default.isExecutableFile(atPath: path),
                     "no .build/release/plainsight: run swift build -c release --static-swift-stdlib (scripts/test does)")
        let needed = try run("/usr/bin/objdump", ["-p", path])
        try #require(!needed.stdout.contains("libswiftCore"),
                     ".build/release/plainsight needs the Swift runtime as a shared library: build it with --static-swift-stdlib (scripts/test does)")
        return path
    }

    @Test(.enabled(if: packageTestBlocker == nil, Comment(rawValue: packageTestBlocker ?? "")))
    func installRunAndPurge() throws {
        let binary = try staticReleaseBinary()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-package-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        let built = try run(packageRoot.appendingPathComponent("scripts/package").path,
                            ["--binary", binary, "--output", work.path, "--fast"], timeout: 180)
        try #require(built.status == 0, "scripts/package: \(built.stderr)")
        let deb = built.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(deb.hasPrefix(work.path + "/plainsight_") && deb.hasSuffix(".deb"), "scripts/package printed \(deb)")

        // The control file: libpcap from Debian, nothing from a Swift toolchain.
        let control = try run("/usr/bin/dpkg-deb", ["-f", deb, "Package", "Version", "Architecture", "Depends"]).stdout
        #expect(control.contains("Package: plainsight\n"))
        #expect(control.contains("libpcap0.8"), "\(control)")
        #expect(!control.contains("swift"), "\(control)")
        let listing = try run("/usr/bin/dpkg-deb", ["-c", deb]).stdout
        let files = listing.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("-") else { return nil }
            return line.split(separator: " ", omittingEmptySubsequences: true).last.map { String($0.dropFirst()) }
        }
        let expected = ["/usr/bin/plainsight", "/usr/share/man/man8/plainsight.8.gz", "/lib/systemd/system/plainsight@.service",
                        "/etc/default/plainsight", "/etc/logrotate.d/plainsight",
                        "/usr/share/bash-completion/completions/plainsight", "/usr/share/zsh/vendor-completions/_plainsight",
                        "/usr/share/fish/vendor_completions.d/plainsight.fish"]
        #expect(Set(files) == Set(expected), "\(files)")

        // The machine's state to come back to: the test removes the user only if it made it.
        let userBefore = try run("/usr/bin/getent", ["shadow", "plainsight"])
        let hadUser = userBefore.status == 0
        defer {
            if (try? run("/usr/bin/dpkg", ["-s", "plainsight"]))?.status == 0 {
                _ = try? run("/usr/bin/dpkg", ["--purge", "plainsight"], timeout: 120)
            }
            if !hadUser {
                _ = try? run("/usr/sbin/userdel", ["plainsight"])
                _ = try? run("/usr/sbin/groupdel", ["plainsight"])
            } else {
                // Back to the password field and expiry it had (purge locks the account).
                let fields = userBefore.stdout.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                if fields.count > 7 {
                    _ = try? run("/usr/sbin/usermod", ["--password", fields[1], "plainsight"])
                    _ = try? run("/usr/bin/chage", ["-E", fields[7].isEmpty ? "-1" : fields[7], "plainsight"])
                }
            }
        }

        let install = try run("/usr/bin/env", ["DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
                                               "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120", deb], timeout: 240)
        try #require(install.status == 0, "apt-get install: \(install.stdout)\(install.stderr)")

        // --version: plainsight's version, the commit built (or unknown without git), libpcap's.
        let version = try run("/usr/bin/plainsight", ["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.contains("libpcap version"), "\(version.stdout)")
        // The commit is one of this checkout's (the binary may predate the last commit), or
        // "unknown" where the tree is not a git checkout.
        let commit = try #require(version.stdout.firstMatch(of: /^plainsight \S+ \(commit ([0-9a-f]{12}|unknown)(-dirty)?\)\n/),
                                  "\(version.stdout)").output.1
        let isCheckout = try run("/usr/bin/env", ["git", "-C", packageRoot.path, "rev-parse", "--show-toplevel"])
        if isCheckout.status == 0 {
            let known = try run("/usr/bin/env", ["git", "-C", packageRoot.path, "cat-file", "-e", "\(commit)^{commit}"])
            #expect(known.status == 0, "--version names \(commit), not a commit of this checkout")
        } else {
            #expect(commit == "unknown")
        }
        #expect(try run(binary, ["--version"]).stdout == version.stdout)

        // The man page, from its installed place and by name.
        let page = try run("/usr/bin/env", ["MANWIDTH=80", "man", "-l", "--warnings", "/usr/share/man/man8/plainsight.8.gz"])
        #expect(page.status == 0 && page.stderr.isEmpty, "\(page.stderr)")
        #expect(page.stdout.contains("SIGHUP") && page.stdout.contains("--stats-interval"))
        let byName = try run("/usr/bin/env", ["MANWIDTH=80", "man", "8", "plainsight"])
        #expect(byName.status == 0 && byName.stdout == page.stdout, "man 8 plainsight: \(byName.stderr)")

        // The unit runs the packaged binary; conffiles are the configuration the admin edits.
        let unit = try String(contentsOfFile: "/lib/systemd/system/plainsight@.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/plainsight -i %i -Z plainsight --json -o /var/log/plainsight/%i.jsonl"))
        #expect(unit.contains("EnvironmentFile=-/etc/default/plainsight\n"))
        let conffiles = try run("/usr/bin/dpkg-query", ["-W", "-f=${Conffiles}", "plainsight"]).stdout
        #expect(conffiles.contains("/etc/default/plainsight ") && conffiles.contains("/etc/logrotate.d/plainsight "), "\(conffiles)")
        let defaults = try String(contentsOfFile: "/etc/default/plainsight", encoding: .utf8)
        #expect(defaults.contains("\nPLAINSIGHT_OPTIONS=\"\"\n"))

        // Completions from swift-argument-parser, each naming plainsight's options; bash parses them.
        for path in expected where path.contains("completion") {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            #expect(text.contains("stats-interval") && text.contains("user-policy"), "\(path)")
        }
        #expect(try run("/bin/bash", ["-n", "/usr/share/bash-completion/completions/plainsight"]).status == 0)

        // postinst: the system user and its log directory, nothing started.
        #expect(try run("/usr/bin/getent", ["passwd", "plainsight"]).stdout.contains(":/nonexistent:/usr/sbin/nologin"))
        let logDirectory = try FileManager.default.attributesOfItem(atPath: "/var/log/plainsight")
        #expect(logDirectory[.ownerAccountName] as? String == "plainsight")
        #expect((logDirectory[.posixPermissions] as? Int) == 0o750)

        // logrotate accepts the snippet, and a forced rotation keeps the old file and makes a new
        // one for plainsight (its own state file: the system's is left alone).
        let dryRun = try run("/usr/sbin/logrotate", ["-d", "/etc/logrotate.d/plainsight"])
        #expect(dryRun.status == 0 && !dryRun.stderr.contains("error"), "logrotate -d: \(dryRun.stderr)")
        let log = "/var/log/plainsight/test0.jsonl"
        try Data(#"{"timestamp":"2026-01-01T00:00:00.000000Z","event_type":"stats","stats":{"packets":0,"alerts":0}}"#.utf8 + [0x0A])
            .write(to: URL(fileURLWithPath: log))
        _ = try run("/usr/bin/chown", ["plainsight:plainsight", log])
        let rotated = try run("/usr/sbin/logrotate", ["-f", "-s", work.appendingPathComponent("logrotate.state").path,
                                                      "/etc/logrotate.d/plainsight"])
        #expect(rotated.status == 0, "logrotate -f: \(rotated.stderr)")
        #expect(FileManager.default.fileExists(atPath: log + ".1"))
        #expect((try? FileManager.default.attributesOfItem(atPath: log))?[.ownerAccountName] as? String == "plainsight")

        // purge: every file of the package, its configuration and its logs are gone; the user
        // stays, locked (postrm says why).
        let purge = try run("/usr/bin/env", ["DEBIAN_FRONTEND=noninteractive", "apt-get", "purge", "-y", "-q",
                                             "-o", "DPkg::Lock::Timeout=120", "plainsight"], timeout: 240)
        #expect(purge.status == 0, "apt-get purge: \(purge.stdout)\(purge.stderr)")
        #expect(try run("/usr/bin/dpkg", ["-s", "plainsight"]).status != 0)
        for path in expected + ["/var/log/plainsight"] {
            #expect(!FileManager.default.fileExists(atPath: path), "\(path) left after purge")
        }
        let shadow = try run("/usr/bin/getent", ["shadow", "plainsight"]).stdout.split(separator: ":", omittingEmptySubsequences: false)
        #expect(shadow.count > 7 && shadow[1].hasPrefix("!") && shadow[7] == "1", "plainsight not locked: \(shadow)")
    }
}
