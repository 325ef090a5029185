import Alerts
import Engine
import Foundation
@testable import Inventory
import MailAuth
import Reassembly
import Testing
import Wire

// The HTML report shows the fix, not only the problem (issue 19): a legend with one paragraph of
// advice per verdict and the server settings that close the hole, the clients and users of each
// server under the run's user policy, a time axis in round units, legends that are never cut off,
// bytes from the wire escaped exactly once, and the hashed_only verdict.

/// The text between `<tr id="legend-VERDICT"` and the end of its row.
private func legendRow(_ html: String, _ verdict: Verdict) -> String? {
    guard let start = html.range(of: "<tr id=\"legend-\(verdict.rawValue)\""),
          let end = html.range(of: "</tr>", range: start.upperBound..<html.endIndex) else { return nil }
    return String(html[start.lowerBound..<end.upperBound])
}

/// One server of each verdict, as in InventoryWritingTests, with logins from two clients.
private func everyVerdict(policy: UserPolicy = .mask) -> ServerInventory {
    let inv = ServerInventory(userHashKey: nil, userPolicy: policy)
    session(inv, .smtp, port: 25, facts(.smtp, starttls: true, mechanisms: ["PLAIN", "LOGIN"]))
    login(inv, .smtp, port: 25, user: "erin", method: "AUTH PLAIN")
    session(inv, .imap, port: 143, facts(.imap, starttls: true, requested: true, refused: true))
    session(inv, .pop3, port: 1110, facts(.pop3, user: true))
    session(inv, .pop3, port: 110, facts(.pop3, starttls: true, user: true, requested: true, accepted: true))
    session(inv, .imap, port: 1143, facts(.imap, starttls: true, loginDisabled: true))
    inv.sessionEnded(EndedSession(flow: flow(993), proto: .imap, kind: .implicitTLS, closedAt: Timestamp(nanoseconds: 0)))
    session(inv, .smtp, port: 2526, facts(.smtp))
    session(inv, .pop3, port: 2110, facts(.pop3, caps: false))
    login(inv, .pop3, port: 2110, user: "carol", exposure: .hashed, method: "APOP")
    return inv
}

@Test func legendExplainsEveryVerdictAndNamesTheSettings() throws {
    let inv = everyVerdict()
    #expect(Set(inv.assessed().map(\.assessment.verdict)) == Set(Verdict.allCases))
    let html = inv.reportHTML(generator: "plainsight test")
    for verdict in Verdict.allCases {
        let row = try #require(legendRow(html, verdict), "no legend row for \(verdict.rawValue)")
        #expect(row.contains(">\(verdict.rawValue)</span>"), "\(verdict.rawValue)")
        #expect(row.contains(htmlEscape(verdict.meaning)), "\(verdict.rawValue)")
        #expect(row.contains("<td class=\"advice\"><p>"), "\(verdict.rawValue)")
        #expect(row.contains("class=\"present\""), "every verdict has a server here: \(verdict.rawValue)")
        #expect(verdict.advice.count > 100, "\(verdict.rawValue): one paragraph, not a word")
    }
    // Each verdict that calls for a change names the settings of the servers it concerns.
    let exposed = try #require(legendRow(html, .exposed))
    for key in ["auth_allow_cleartext = no", "disable_plaintext_auth = yes", "ssl = required",
                "smtpd_tls_auth_only = yes", "smtpd_tls_security_level = encrypt",
                "server_advertise_condition = ${if def:tls_in_cipher}", "auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}",
                "allowplaintext: no", "Set-PopSettings -LoginType SecureLogin", "Set-ImapSettings -LoginType SecureLogin",
                "Set-ReceiveConnector -RequireTLS $true -AuthMechanism Tls,BasicAuth,BasicAuthRequireTLS"] {
        #expect(exposed.contains("<code>\(key)</code>"), "exposed: \(key)")
    }
    for verdict in Verdict.allCases where verdict.needsFix {
        let row = try #require(legendRow(html, verdict))
        for vendor in ["Dovecot", "Postfix", "Exim", "Cyrus", "Exchange"] {
            #expect(row.contains(vendor), "\(verdict.rawValue) names no \(vendor) setting")
        }
    }
    let hashed = try #require(legendRow(html, .hashedOnly))
    #expect(hashed.contains("<code>ssl = required</code>") && hashed.contains("<code>sasl_mech_list</code>"))
    // The settings table, once.
    #expect(html.components(separatedBy: "<table id=\"settings\">").count == 2)
    #expect(html.contains("<code>Set-ReceiveConnector &lt;name&gt; -RequireTLS $true"))
}

@Test func aServerWhoseBannerNamesItsProductGetsItsFix() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    var f = facts(.imap, starttls: true, mechanisms: ["PLAIN"])
    f.greeting = Array("* OK [CAPABILITY IMAP4rev1] Dovecot (Debian) ready.".utf8)
    session(inv, .imap, port: 143, f)
    login(inv, .imap, port: 143, user: "alice")
    var g = facts(.smtp, starttls: true, mechanisms: ["LOGIN"])
    g.greeting = Array("220 mail.example.net Microsoft ESMTP MAIL Service ready".utf8)
    session(inv, .smtp, port: 587, g)
    let html = inv.reportHTML(generator: "t")
    #expect(html.contains("fix (Dovecot): <code>auth_allow_cleartext = no</code>"))
    #expect(html.contains("fix (Microsoft Exchange): <code>Set-ReceiveConnector -RequireTLS $true"))
}

@Test func bannersAreEscapedExactlyOnce() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    var f = facts(.smtp, starttls: true, mechanisms: ["PLAIN"])
    // A quote, a backslash, a control byte, a byte that is not UTF-8, a valid é, markup.
    f.greeting = [0x32, 0x32, 0x30, 0x20, 0x22, 0x71, 0x22, 0x20, 0x5C, 0x20, 0x01, 0x20, 0xFF, 0x20, 0xC3, 0xA9, 0x20]
        + Array("<b>&amp;".utf8)
    session(inv, .smtp, port: 25, f)
    let html = inv.reportHTML(generator: "t")
    // What a JSON reader of the same field sees, `"` and `\` as themselves, escaped for HTML
    // once; the control and the stray byte stay visible as \u0001 and \xff.
    #expect(html.contains(#"banner: <code>220 &quot;q&quot; \ \u0001 \xff é &lt;b&gt;&amp;amp;</code>"#))
    #expect(!html.contains(#"\&quot;"#), "a quote escaped twice")
    #expect(!html.contains(#"\\"#), "a backslash escaped twice")
    #expect(!html.contains("\u{1}"))
    // The JSON keeps its own escaping of the same bytes.
    let json = String(decoding: inv.reportJSON(generator: "t"), as: UTF8.self)
    #expect(json.contains(#""greeting":"220 \"q\" \\ \u0001 \\xff é <b>&amp;""#))
}

@Test func timeAxisIsInRoundUnits() throws {
    #expect(TimeAxis.duration(seconds: 1) == "1 s")
    #expect(TimeAxis.duration(seconds: 600) == "10 min")
    #expect(TimeAxis.duration(seconds: 21_600) == "6 h")
    #expect(TimeAxis.duration(seconds: 86_400) == "1 day")
    #expect(TimeAxis.duration(seconds: 604_800) == "7 days")
    #expect(TimeAxis.duration(seconds: 5_400) == "1 h 30 min")
    // Three days of logins: the bucket width is a round one, and the axis reads in dates.
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    let base: Int64 = 1_764_000_000            // 2025-11-24T16:00:00Z
    for hour in stride(from: Int64(0), to: 72, by: 1) {
        login(inv, .imap, port: 143, user: "alice", at: base + hour * 3_600)
    }
    let width = inv.timeline.widthNanoseconds / 1_000_000_000
    #expect(TimeHistogram.widthLadder.contains(width), "bucket width \(width) s is not a round one")
    let html = inv.reportHTML(generator: "t")
    #expect(!html.contains("bucket:"))
    #expect(html.contains("time (UTC); one bar: \(TimeAxis.duration(seconds: width))"))
    let ticks = labels(in: html, class: "tick")
    #expect(ticks.count >= 2 && ticks.count <= 8, "\(ticks)")
    for tick in ticks { #expect(tick.range(of: #"^\d{4}-\d{2}-\d{2}$"#, options: .regularExpression) != nil, "\(tick)") }
    // Ten minutes of logins: clock times, the date on the first tick only.
    let short = ServerInventory(userHashKey: nil, listUsers: false)
    for second in stride(from: Int64(0), to: 600, by: 7) { login(short, .pop3, port: 110, user: "bob", at: base + second) }
    let shortTicks = labels(in: short.reportHTML(generator: "t"), class: "tick")
    #expect(shortTicks.first == "2025-11-24 16:00", "\(shortTicks)")
    for tick in shortTicks.dropFirst() { #expect(tick.range(of: #"^\d{2}:\d{2}$"#, options: .regularExpression) != nil, "\(tick)") }
    // Every bucket width on the ladder divides the next, so buckets merge whole.
    for (a, b) in zip(TimeHistogram.widthLadder, TimeHistogram.widthLadder.dropFirst()) { #expect(b % a == 0) }
}

private func labels(in html: String, class name: String) -> [String] {
    guard let re = try? NSRegularExpression(pattern: "<text class=\"\(name)\"[^>]*>([^<]*)</text>") else { return [] }
    return re.matches(in: html, range: NSRange(html.startIndex..., in: html)).compactMap {
        Range($0.range(at: 1), in: html).map { String(html[$0]) }
    }
}

/// No SVG text runs past its picture's edges (cut off there), with a generous 0.62 em a character
/// (DejaVu Sans averages about 0.55 em); the legends are HTML lists, full names.
@Test func noLegendOrLabelIsCutOff() throws {
    let inv = everyVerdict()
    for second in stride(from: Int64(0), to: 86_400 * 2, by: 3_000) { login(inv, .imap, port: 143, user: "x", at: second) }
    let html = inv.reportHTML(generator: "t")
    let svgs = try NSRegularExpression(pattern: "<svg id=\"([a-z-]+)\"[^>]* width=\"(\\d+)\"[^>]*>(.*?)</svg>", options: [.dotMatchesLineSeparators])
    let texts = try NSRegularExpression(pattern: "<text[^>]* x=\"([0-9.]+)\"[^>]* font-size=\"(\\d+)\"(?: text-anchor=\"([a-z]+)\")?[^>]*>([^<]*)</text>")
    var checked = 0
    for svg in svgs.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
        let id = String(html[Range(svg.range(at: 1), in: html)!])
        let width = Double(html[Range(svg.range(at: 2), in: html)!])!
        let body = String(html[Range(svg.range(at: 3), in: html)!])
        for t in texts.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
            let x = Double(body[Range(t.range(at: 1), in: body)!])!
            let size = Double(body[Range(t.range(at: 2), in: body)!])!
            let anchor = Range(t.range(at: 3), in: body).map { String(body[$0]) } ?? "start"
            let label = String(body[Range(t.range(at: 4), in: body)!])
            let extent = Double(label.count) * size * 0.62
            let (from, to) = anchor == "end" ? (x - extent, x) : anchor == "middle" ? (x - extent / 2, x + extent / 2) : (x, x + extent)
            #expect(from >= 0 && to <= width, "\(id): '\(label)' spans \(Int(from))...\(Int(to)) of \(Int(width))")
            checked += 1
        }
    }
    #expect(checked > 20)
    // The protocols chart's legend names, in full, the verdicts of the servers that had logins.
    let legend = try #require(html.range(of: "<ul class=\"legend\" id=\"legend-protocols\">").map { String(html[$0.upperBound...].prefix(400)) })
    #expect(legend.hasPrefix("<li><i style=\"background:#c0392b\"></i>exposed</li><li><i style=\"background:#9b59b6\"></i>hashed_only</li></ul>"), "\(legend)")
    #expect(html.contains("<ul class=\"legend\" id=\"legend-timeline\"><li><i style=\"background:#c0392b\"></i>cleartext</li>"))
}

@Test func hashedOnlyIsItsOwnVerdictAndAdditiveInJSON() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    session(inv, .pop3, port: 110, facts(.pop3, caps: false))
    login(inv, .pop3, port: 110, user: "carol", exposure: .hashed, method: "APOP")
    session(inv, .imap, port: 143, facts(.imap, caps: false))
    let html = inv.reportHTML(generator: "t")
    #expect(html.contains("<span class=\"verdict\" style=\"background:#9b59b6\">hashed_only</span>"))
    #expect(html.contains("id=\"count-hashed_only\""))
    // The JSON names both `unknown`, as before; only the hashed one says so.
    let events = inv.exposureEvents(time: Timestamp(nanoseconds: 0)).map { String(decoding: $0, as: UTF8.self) }
    #expect(events.count == 2)
    #expect(events[0].contains(#""dest_port":110"#) && events[0].contains(#""verdict":"unknown""#))
    // After the fields before it; issue 20's counts follow it, then the event's community_id
    // (issue 19) after the server_exposure object.
    #expect(events[0].contains(#","last_seen":"1970-01-01T00:01:41.000000Z","hashed_only":true,"plaintext_offered_sessions":0,"#))
    #expect(events[0].contains(#","user_policy":"mask"},"community_id":"1:"#))
    #expect(events[1].contains(#""dest_port":143"#) && !events[1].contains("hashed_only"))
    let report = try #require(try JSONSerialization.jsonObject(with: Data(inv.reportJSON(generator: "t"))) as? [String: Any])
    let summary = try #require(report["summary"] as? [String: Any])
    #expect((summary["verdicts"] as? [String: Int])?["unknown"] == 2)
    #expect((summary["verdicts"] as? [String: Int])?["hashed_only"] == nil, "the verdicts object keeps its keys")
    #expect(summary["hashed_only"] as? Int == 1)
    let servers = try #require(report["servers"] as? [[String: Any]])
    #expect(servers.map { $0["verdict"] as? String } == ["unknown", "unknown"])
    #expect(servers.map { $0["hashed_only"] as? Bool } == [true, nil])
    #expect(inv.terminalTable().contains("hashed_only"))
}

/// Under every policy the page shows the clients and the login names as the alerts would: through
/// `UserPolicy.apply`. Never a name as captured unless the policy is full, and the JSON names
/// users only under full, as it always did.
@Test(arguments: ["mask", "full", "hash", "omit"])
func clientsAndUsersFollowThePolicy(_ name: String) throws {
    let key = Array("0123456789abcdef-test-key".utf8)
    let policy: UserPolicy = switch name {
    case "mask": .mask
    case "full": .full
    case "hash": .hash(key: key)
    default: .omit
    }
    let inv = ServerInventory(userHashKey: nil, userPolicy: policy)
    session(inv, .imap, port: 143, facts(.imap, starttls: true, mechanisms: ["PLAIN"]))
    login(inv, .imap, port: 143, user: "alice.liddell@example.org")
    login(inv, .imap, port: 143, user: "alice.liddell@example.org", outcome: .failure)
    login(inv, .imap, port: 143, user: "bob")
    var f = flow(143)
    f.client = IPAddress(ipv4: 0xC633_6407)        // 198.51.100.7
    inv.login(Finding(proto: .imap, method: "LOGIN", exposure: .cleartext, username: Array("bob".utf8), outcome: .success,
                      starttls: .offered, afterGap: false, timeNanoseconds: 100_000_000_000), flow: f)
    let html = inv.reportHTML(generator: "t")
    #expect(html.contains("<div>2 clients:</div><ul><li>192.0.2.1 (3 logins)</li><li>198.51.100.7 (1 login)</li></ul>"))
    #expect(html.contains(htmlEscape(policy.reportNote)))
    let json = String(decoding: inv.reportJSON(generator: "t"), as: UTF8.self)
        + inv.exposureEvents(time: Timestamp(nanoseconds: 0)).map { String(decoding: $0, as: UTF8.self) }.joined()
    let shown = ["alice.liddell@example.org", "bob"].compactMap { policy.apply(to: Array($0.utf8)) }
        .map { String(decoding: $0, as: UTF8.self) }.sorted()
    switch policy {
    case .omit:
        #expect(html.contains("users: omitted (--user-policy omit)"))
        #expect(!html.contains("alice") && !html.contains("bob"))
    case .full:
        #expect(html.contains("users: <code>alice.liddell@example.org, bob</code>"))
        #expect(json.contains(#""users":["alice.liddell@example.org","bob"]"#))
    case .mask, .hash:
        #expect(html.contains("users: <code>\(shown.map { htmlEscape($0) }.joined(separator: ", "))</code>"), "\(shown)")
        #expect(!html.contains("alice") && !html.contains("liddell") && !html.contains("bob"), "a name as captured under \(name)")
    }
    if policy != .full {
        #expect(!json.contains("alice") && !json.contains("bob"), "a name as captured under \(name)")
    }
    // The JSON lists names under full, and since issue 20 the keyed hashes under hash (so that
    // plainsight report can merge them); never masks, which cannot be compared.
    if case .hash = policy {
        #expect(json.contains(#""users":["# + shown.map { "\"\($0)\"" }.joined(separator: ",") + "]"))
    } else if policy != .full {
        #expect(!json.contains(#""users""#), "JSON names users only under full and hash")
    }
}

@Test func liveRefreshesSayWhenAndReloadThemselves() {
    let inv = everyVerdict()
    let page = inv.reportHTML(ReportPage(generator: "t", writtenAt: Timestamp(nanoseconds: 1_764_000_000_000_000_000), refreshSeconds: 30))
    #expect(page.contains("<meta http-equiv=\"refresh\" content=\"30\">"))
    #expect(page.contains("written 2025-11-24 16:00:00 UTC"))
    #expect(page.contains("Rewritten every 30 s while plainsight captures"))
    let replay = inv.reportHTML(generator: "t")
    #expect(!replay.contains("http-equiv") && !replay.contains("written 20"))
    #expect(ServerInventory(userHashKey: nil, listUsers: false).reportHTML(ReportPage(generator: "t", refreshSeconds: 5))
        .contains("No mail server was seen yet."))
}

/// A server with more clients than are kept: a bounded record, a count that says so, and a page
/// that lists ten and counts the rest.
@Test func clientsAreBounded() throws {
    let inv = ServerInventory(userHashKey: nil, listUsers: false)
    for i in 0..<(ServerRecord.maxListedClients + 5) {
        var f = flow(110)
        f.client = IPAddress(ipv4: 0xC633_6400 &+ UInt32(i))       // 198.51.100.0 onwards
        inv.login(Finding(proto: .pop3, method: "USER", exposure: .cleartext, username: Array("u\(i % 20)".utf8),
                          outcome: .success, starttls: .unknown, afterGap: false, timeNanoseconds: 0), flow: f)
    }
    let record = try only(inv).record
    #expect(record.clients.count == ServerRecord.maxListedClients)
    #expect(record.clientsOverflow)
    let html = inv.reportHTML(generator: "t")
    #expect(html.contains("<div>\(ServerRecord.maxListedClients)+ clients:</div>"))
    #expect(html.contains("<li>and \(ServerRecord.maxListedClients - ServerInventory.listedPerServer) more</li>"))
    #expect(html.contains(", ...</code>"), "20 masked names, ten shown")
}
