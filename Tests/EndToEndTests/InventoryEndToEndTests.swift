import Foundation
import Testing

// The mail-server exposure inventory (issue 7) over the recorded fixtures: every server's verdict
// from one run over many captures (`-r a -r b ...`), the JSON report and events agreeing, and the
// HTML report rendered by headless Chromium and read back from the rendered page.

/// The captures recorded by scripts/record-fixtures from real servers (not the derived ones, which
/// repeat these flows with damage or other framings): 19 servers across 192.0.2.10 (TLS offered),
/// .11 (STARTTLS refused), .12 (LOGINDISABLED) and 2001:db8::10.
let recordedFixtures = [
    "pop3-user-pass", "pop3-user-pass-fail", "pop3-apop", "pop3-auth-plain-ir", "pop3-auth-plain-cont",
    "pop3-auth-login", "pop3-auth-cram-md5", "pop3-stls", "pop3-stls-refused", "imap-login-atoms",
    "imap-login-quoted", "imap-login-literal", "imap-login-literal-utf8", "imap-login-literal-plus",
    "imap-authenticate-plain-ir", "imap-authenticate-plain-cont", "imap-authenticate-login",
    "imap-authenticate-login-ir", "imap-authenticate-cram-md5", "imap-starttls", "imap-starttls-refused",
    "imap-logindisabled", "imap-login-fail", "smtp-auth-plain-ir", "smtp-auth-plain-334", "smtp-auth-login-ir",
    "smtp-auth-login", "smtp-auth-cram-md5", "smtp-pipelining", "smtp-data-decoy", "smtp-bdat-decoy",
    "smtp-starttls", "smtp-starttls-refused", "smtp-auth-fail", "imaps", "pop3s", "smtps", "imap-login-ipv6",
    "smtp-auth-login-ipv6", "imap-login-port-10143", "pop3-user-port-10110", "demo", "smtp-starttls-broken",
    "pop3-stls-required", "imap-logindisabled-starttls", "smtp-starttls-ipv6", "pop3-capa-probe",
]

/// (server, protocol) -> (verdict, cleartext logins, hashed logins, TLS sessions, STARTTLS refusals)
/// for a run over `recordedFixtures` with --any-port (10110 and 10143 need it).
let expectedServers: [String: (verdict: String, cleartext: Int, hashed: Int, tls: Int, refused: Int)] = [
    "192.0.2.10:25 smtp": ("exposed", 5, 0, 0, 0),
    "192.0.2.10:110 pop3": ("exposed", 6, 2, 1, 0),
    "192.0.2.10:143 imap": ("exposed", 11, 1, 1, 0),
    "192.0.2.10:587 smtp": ("exposed", 4, 1, 1, 0),
    "192.0.2.10:10110 pop3": ("exposed", 1, 0, 0, 0),
    "192.0.2.10:10143 imap": ("exposed", 1, 0, 0, 0),
    "192.0.2.11:25 smtp": ("exposed", 1, 0, 0, 1),
    "192.0.2.11:110 pop3": ("exposed", 1, 0, 0, 1),
    "192.0.2.11:143 imap": ("exposed", 1, 0, 0, 1),
    "192.0.2.12:143 imap": ("exposed", 1, 0, 1, 0),           // LOGINDISABLED, but a client sent LOGIN anyway
    "2001:db8::10:25 smtp": ("exposed", 1, 0, 0, 0),
    "2001:db8::10:143 imap": ("exposed", 1, 0, 0, 0),
    "192.0.2.11:587 smtp": ("tls_broken", 0, 0, 0, 1),        // smtp-starttls-broken: 454 after advertising
    "2001:db8::10:110 pop3": ("accepts_cleartext", 0, 0, 0, 0), // pop3-capa-probe: USER, SASL PLAIN offered
    "2001:db8::10:587 smtp": ("tls_optional", 0, 0, 1, 0),    // smtp-starttls-ipv6: AUTH PLAIN offered, TLS used
    "192.0.2.12:110 pop3": ("tls_required", 0, 0, 1, 0),      // pop3-stls-required: no USER, SASL CRAM-MD5 only
    "192.0.2.10:465 smtp": ("implicit_tls", 0, 0, 1, 0),
    "192.0.2.10:993 imap": ("implicit_tls", 0, 0, 1, 0),
    "192.0.2.10:995 pop3": ("implicit_tls", 0, 0, 1, 0),
]

/// The JSON's verdicts in rank order (hashed_only is `unknown` there, ranked just before it).
let verdictOrder = ["exposed", "tls_broken", "accepts_cleartext", "tls_optional", "tls_required", "implicit_tls", "unknown"]

func scratchDirectory(_ name: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

func readArgs(_ names: [String]) -> [String] { names.flatMap { ["-r", "fixtures/\($0).pcap"] } }

func serverName(_ s: [String: Any]) -> String {
    "\(s["dest_ip"] as? String ?? "?"):\(s["dest_port"] as? Int ?? -1) \(s["app_proto"] as? String ?? "?")"
}

@Suite("exposure inventory over the recorded fixtures")
struct InventoryEndToEndTests {
    @Test("every server in the fixtures gets its verdict, in one run over all of them")
    func verdictsOfEveryServer() throws {
        let bin = try #require(plainsightBinary(), "build plainsight first (scripts/test does)")
        let dir = try scratchDirectory("inventory")
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = dir.appendingPathComponent("inventory.json")
        let r = try runProgram(bin, readArgs(recordedFixtures) + ["--any-port", "--json", "--quiet", "--report", report.path])
        #expect(r.status == 0, "\(r.stderrText)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        let servers = try #require(doc["servers"] as? [[String: Any]])
        var seen: [String: [String: Any]] = [:]
        for s in servers { seen[serverName(s)] = s }
        #expect(Set(seen.keys) == Set(expectedServers.keys))
        for (name, want) in expectedServers {
            guard let s = seen[name] else { continue }
            #expect(s["verdict"] as? String == want.verdict, "\(name): \(s["evidence"] ?? "")")
            #expect(s["cleartext_logins"] as? Int == want.cleartext, "\(name)")
            #expect(s["hashed_logins"] as? Int == want.hashed, "\(name)")
            #expect(s["tls_sessions"] as? Int == want.tls, "\(name)")
            #expect(s["starttls_refused"] as? Int == want.refused, "\(name)")
            #expect(!((s["evidence"] as? [String]) ?? []).isEmpty, "\(name): a verdict without evidence")
            #expect(s["starttls_stripping_suspected"] as? Bool == false, "\(name)")
        }
        // Worst verdict first.
        let ranks = servers.map { verdictOrder.firstIndex(of: $0["verdict"] as? String ?? "") ?? 99 }
        #expect(ranks == ranks.sorted())
        // The facts behind the verdicts, as the servers really sent them.
        #expect(seen["192.0.2.12:110 pop3"]?["plaintext_offered"] as? [String] == [])
        #expect(seen["192.0.2.12:110 pop3"]?["auth_mechanisms"] as? [String] == ["CRAM-MD5"])
        #expect(seen["2001:db8::10:110 pop3"]?["plaintext_offered"] as? [String] == ["AUTH PLAIN", "AUTH LOGIN", "USER"])
        #expect(seen["192.0.2.12:143 imap"]?["logindisabled"] as? Bool == true)
        #expect(seen["192.0.2.11:587 smtp"]?["starttls_offered"] as? Bool == true)
        #expect(seen["192.0.2.11:143 imap"]?["starttls_offered"] as? Bool == false)   // dovecot ssl=no
        #expect(seen["192.0.2.10:25 smtp"]?["product"] as? String == "Exim")
        #expect(seen["192.0.2.10:25 smtp"]?["version"] as? String == "4.96")
        #expect(seen["192.0.2.10:143 imap"]?["product"] as? String == "Dovecot")
        #expect(seen["192.0.2.10:143 imap"]?["users"] == nil, "names are listed only with --user-policy full")
        let summary = try #require(doc["summary"] as? [String: Any])
        #expect(summary["servers"] as? Int == 19)
        #expect(summary["cleartext_logins"] as? Int == 34)

        // The server_exposure events on the JSON output say the same, before the final stats line.
        let lines = r.stdoutText.split(separator: "\n").map(String.init)
        let events = try lines.compactMap { line -> [String: Any]? in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return obj?["event_type"] as? String == "server_exposure" ? obj : nil
        }
        #expect(events.count == 19)
        for e in events {
            let body = e["server_exposure"] as? [String: Any]
            #expect(body?["verdict"] as? String == expectedServers[serverName(e)]?.verdict, "\(serverName(e))")
        }
        #expect(lines.last?.contains(#""event_type":"stats""#) == true, "stats stays the last line")
        // Every login is a cleartext_auth alert: 34 cleartext ones and 4 hashed (APOP, CRAM-MD5).
        #expect(lines.filter { $0.contains(#""event_type":"cleartext_auth""#) }.count == 34 + 4)
    }

    @Test("tls_optional and tls_required where the only sessions used TLS")
    func verdictsFromTLSSessionsAlone() throws {
        let bin = try #require(plainsightBinary())
        let dir = try scratchDirectory("inventory-tls")
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = dir.appendingPathComponent("tls.json")
        let r = try runProgram(bin, readArgs(["imap-starttls", "pop3-stls", "smtp-starttls", "imap-logindisabled-starttls",
                                              "imaps"]) + ["--quiet", "--report", report.path])
        #expect(r.status == 0, "\(r.stderrText)")
        #expect(r.stdoutText.isEmpty, "no login crossed in cleartext")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        let servers = try #require(doc["servers"] as? [[String: Any]])
        let verdicts = Dictionary(uniqueKeysWithValues: servers.map { (serverName($0), $0["verdict"] as? String ?? "") })
        #expect(verdicts == [
            "192.0.2.10:143 imap": "tls_optional", "192.0.2.10:110 pop3": "tls_optional",
            "192.0.2.10:587 smtp": "tls_optional", "192.0.2.12:143 imap": "tls_required",
            // No --any-port: port 993 is read anyway, for the inventory only.
            "192.0.2.10:993 imap": "implicit_tls",
        ])
    }

    @Test("a report path that cannot be created is a usage error before any packet is read")
    func badReportPath() throws {
        let bin = try #require(plainsightBinary())
        let r1 = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--report", "/nonexistent-dir/x.json"])
        #expect(r1.status == 2)
        #expect(r1.stderrText.contains("cannot create /nonexistent-dir/x.json"))
        #expect(r1.stdoutText.isEmpty)
        let r2 = try runProgram(bin, ["-r", "fixtures/demo.pcap", "--report", "inventory.txt"])
        #expect(r2.status == 2)
        #expect(r2.stderrText.contains("must end in .json or .html"))
    }

    @Test("the HTML report, rendered in headless Chromium: table contents read back, screenshot saved",
          .enabled(if: chromiumBinary() != nil, "chromium is not installed (scripts/bootstrap installs Debian's chromium)"))
    func htmlReportInChromium() throws {
        let bin = try #require(plainsightBinary())
        let chromium = try #require(chromiumBinary())
        let dir = try scratchDirectory("inventory-html")
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("inventory.html")
        let r = try runProgram(bin, readArgs(recordedFixtures) + ["--any-port", "--quiet", "--user-policy", "full",
                                                                  "--report", page.path])
        #expect(r.status == 0, "\(r.stderrText)")
        let profile = dir.appendingPathComponent("profile").path
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)"]

        // The rendered DOM, with the page's own script sorting the table by cleartext logins.
        let url = URL(fileURLWithPath: page.path).absoluteString + "#sort=cleartext-desc"
        let dump = try runProgram(chromium, common + ["--dump-dom", url], timeout: 180)
        #expect(dump.status == 0, "\(dump.stderrText.suffix(2000))")
        let dom = dump.stdoutText
        let rows = tableRows(dom)
        #expect(rows.count == expectedServers.count)
        for row in rows {
            // Server, Port, Protocol, Verdict, Cleartext, Hashed, Users, TLS, ... (InventoryHTML.swift)
            guard row.count >= 8 else { Issue.record("short row \(row)"); continue }
            let name = "\(row[0]):\(row[1]) \(row[2])"
            let want = try #require(expectedServers[name], "unexpected server \(name)")
            #expect(row[3] == want.verdict, "\(name)")
            #expect(row[4] == "\(want.cleartext)", "\(name)")
            #expect(row[5] == "\(want.hashed)", "\(name)")
            #expect(row[7] == "\(want.tls)", "\(name)")
        }
        // The script ran: rows ordered by cleartext logins, descending, heading marked.
        let cleartext = rows.compactMap { Int($0.count > 4 ? $0[4] : "") }
        #expect(cleartext == cleartext.sorted(by: >))
        #expect(cleartext.first == 11)
        #expect(dom.contains(#"<th data-col="cleartext" data-type="num" class="desc">"#))
        // Summary cards and charts are on the page; login names only because of --user-policy full.
        #expect(dom.contains(#"id="count-exposed" style="border-left-color:#c0392b"><b>12</b>"#))
        #expect(dom.contains(#"id="count-implicit_tls" style="border-left-color:#1e8449"><b>3</b>"#))
        #expect(dom.contains("<svg id=\"chart-protocols\""))
        #expect(dom.contains("<svg id=\"chart-timeline\""))
        #expect(dom.contains("jürgen"))
        // The fix, not only the problem: a legend row with advice for every verdict, the server
        // settings, and per server its clients (the lab's one client, 192.0.2.1 or 2001:db8::1,
        // with every login of the row) and users.
        for verdict in verdictOrder + ["hashed_only"] {
            #expect(dom.contains("<tr id=\"legend-\(verdict)\""), "no legend row for \(verdict)")
        }
        #expect(dom.contains("<code>smtpd_tls_auth_only = yes</code>"))
        #expect(dom.contains("<code>auth_allow_cleartext = no</code>"))
        #expect(dom.contains("<code>allowplaintext: no</code>"))
        #expect(dom.contains("<code>Set-ImapSettings -LoginType SecureLogin</code>"))
        #expect(dom.contains("<table id=\"settings\">"))
        #expect(dom.contains("fix (Dovecot): <code>auth_allow_cleartext = no</code>"))
        #expect(dom.contains("fix (Exim): <code>server_advertise_condition"))
        var withClients = 0
        for row in rows where row.count >= 15 && row[14] != "-" {
            let logins = (Int(row[4]) ?? -1) + (Int(row[5]) ?? -1)
            let client = row[0].contains(":") ? "2001:db8::1" : "192.0.2.1"
            #expect(row[14].hasPrefix("1 client: \(client) (\(logins) login\(logins == 1 ? "" : "s"))"), "\(row[14])")
            withClients += 1
        }
        #expect(withClients == 12, "every exposed server lists its clients")
        #expect(dom.contains("time (UTC); one bar: "))
        #expect(!dom.contains("bucket:"))
        #expect(dom.contains("<ul class=\"legend\" id=\"legend-protocols\"><li><i style=\"background:#c0392b\"></i>exposed</li>"))

        // The screenshot, kept as a test artefact under .build/ (not committed).
        let artefacts = packageRoot.appendingPathComponent(".build/test-artefacts")
        try FileManager.default.createDirectory(at: artefacts, withIntermediateDirectories: true)
        let shot = artefacts.appendingPathComponent("inventory-report.png")
        try? FileManager.default.removeItem(at: shot)
        let keptPage = artefacts.appendingPathComponent("inventory-report.html")
        try? FileManager.default.removeItem(at: keptPage)
        try FileManager.default.copyItem(at: page, to: keptPage)
        // Tall enough for the legend, the charts and the whole table.
        let snap = try runProgram(chromium, common + ["--hide-scrollbars", "--window-size=1400,4600",
                                                      "--screenshot=\(shot.path)", URL(fileURLWithPath: page.path).absoluteString],
                                  timeout: 180)
        #expect(snap.status == 0, "\(snap.stderrText.suffix(2000))")
        let png = try Data(contentsOf: shot)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG")
        #expect(png.count > 20_000, "a blank page compresses to a few kB")
    }
}

/// Debian's chromium (scripts/bootstrap installs it).
func chromiumBinary() -> String? {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// The text of each cell of each body row of the servers table, in DOM order.
func tableRows(_ dom: String) -> [[String]] {
    guard let table = dom.range(of: "<table id=\"servers\">"),
          let body = dom.range(of: "<tbody>", range: table.upperBound..<dom.endIndex), let end = dom.range(of: "</tbody>", range: body.upperBound..<dom.endIndex) else {
        return []
    }
    let tbody = String(dom[body.upperBound..<end.lowerBound])
    func matches(_ pattern: String, _ text: String) -> [String] {
        guard let re = try? NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators]) else { return [] }
        let ns = text as NSString
        return re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range(at: 1)) }
    }
    return matches("<tr[^>]*>(.*?)</tr>", tbody).map { row in
        matches("<td[^>]*>(.*?)</td>", row).map { cell in
            let text = cell.replacingOccurrences(of: "<[^>]+>", with: " ", options: .regularExpression)
                .replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">")
            return text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
    }
}
