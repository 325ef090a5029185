import Alerts
import MailAuth
import Wire

// `--report FILE.html`: one self-contained page (inline CSS, JS and SVG; no external asset, so it
// opens offline and from a mail attachment): a summary, inline SVG charts (servers by verdict,
// logins by protocol and verdict, logins over time) and a table of servers with verdicts and
// evidence, sortable by clicking a column heading (or with `#sort=COLUMN-asc|desc` in the URL).
// The table is written out in full; the script only reorders rows, so the page reads without it.

extension Verdict {
    /// Colours shared by the table and the charts, worst (red) to best (green), unknown grey.
    var color: String {
        switch self {
        case .exposed: return "#c0392b"
        case .tlsBroken: return "#d35400"
        case .acceptsCleartext: return "#e67e22"
        case .tlsOptional: return "#d4ac0d"
        case .tlsRequired: return "#27ae60"
        case .implicitTLS: return "#1e8449"
        case .hashedOnly: return "#9b59b6"
        case .unknown: return "#7f8c8d"
        }
    }
}

/// How a page is written: by whom, when, and whether it is rewritten while the run goes on.
public struct ReportPage: Sendable {
    public var generator: String
    /// The wall-clock time the page was written (shown when set: live refreshes).
    public var writtenAt: Timestamp?
    /// Seconds between rewrites during live capture; the page then reloads itself as often.
    public var refreshSeconds: UInt32?

    public init(generator: String, writtenAt: Timestamp? = nil, refreshSeconds: UInt32? = nil) {
        self.generator = generator; self.writtenAt = writtenAt; self.refreshSeconds = refreshSeconds
    }
}

extension UserPolicy {
    /// How the page says login names are shown.
    var reportNote: String {
        switch self {
        case .mask: return "Login names are masked as in the alerts (--user-policy mask)"
        case .full: return "Login names are shown as captured (--user-policy full)"
        case .hash: return "Login names are shown as keyed hashes, as in the alerts (--user-policy hash)"
        case .omit: return "Login names are left out (--user-policy omit)"
        }
    }
}

extension ServerInventory {
    /// Clients and users listed per server on the page, at most (the rest counted).
    static let listedPerServer = 10

    public func reportHTML(generator: String) -> String { reportHTML(ReportPage(generator: generator)) }

    public func reportHTML(_ page: ReportPage) -> String {
        let servers = assessed()
        let summary = InventorySummary(servers)
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">

            """
        if let seconds = page.refreshSeconds { h += "<meta http-equiv=\"refresh\" content=\"\(seconds)\">\n" }
        h += """
            <title>plainsight: mail-server exposure inventory</title>
            <style>
            body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;background:#fafafa}
            h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
            .meta{color:#555;font-size:13px}
            .cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
            .card{background:#fff;border:1px solid #ddd;border-left:6px solid #888;padding:8px 12px;min-width:120px}
            .card b{display:block;font-size:22px} .card span{font-size:12px;color:#555}
            .charts{display:flex;flex-wrap:wrap;gap:16px}
            .chart{background:#fff;border:1px solid #ddd;padding:8px}
            .chart h3{font-size:14px;margin:0 0 6px}
            .chart p{font-size:11px;color:#555;margin:4px 0 0}
            ul.legend{list-style:none;margin:4px 0 0;padding:0;font-size:11px;display:flex;flex-wrap:wrap;gap:4px 12px}
            ul.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px}
            table{border-collapse:collapse;background:#fff;font-size:12px;width:100%}
            th,td{border:1px solid #ddd;padding:3px 5px;text-align:left;vertical-align:top}
            th{background:#eee}
            #servers th{cursor:pointer;user-select:none}
            th.asc::after{content:" \\25B2"} th.desc::after{content:" \\25BC"}
            td.num{text-align:right}
            .verdict{color:#fff;padding:1px 6px;border-radius:3px;white-space:nowrap}
            .strip{color:#c0392b;font-weight:bold}
            td ul{margin:0;padding-left:16px}
            td.evidence{width:30%}
            ul.sensors{white-space:nowrap}
            #legend td{font-size:12px;line-height:1.4} #legend td.advice{width:55%}
            #legend tr.absent{color:#888}
            .banner,.fix{color:#555;font-size:12px;margin-top:4px} .fix{color:#1e6b3a}
            code{font-size:12px;overflow-wrap:anywhere}
            </style></head><body>

            """
        h += "<h1>Mail-server exposure inventory</h1>\n"
        var meta = "Generated by \(htmlEscape(page.generator))"
        if let written = page.writtenAt { meta += ", written \(TimeAxis.moment(written))" }
        if let first = summary.firstSeen, let last = summary.lastSeen {
            meta += ", from traffic seen \(TimeAxis.moment(first)) to \(TimeAxis.moment(last))"
        }
        h += "<p class=\"meta\">\(meta). Passwords are never recorded. \(htmlEscape(userPolicy.reportNote)).</p>\n"
        if let seconds = page.refreshSeconds {
            h += "<p class=\"meta\" id=\"refresh\">Rewritten every \(TimeAxis.duration(seconds: Int64(seconds))) while plainsight captures (and on SIGHUP); this page reloads itself as often.</p>\n"
        }
        if untrackedEvents > 0 {
            h += "<p class=\"meta strip\" id=\"untracked\">\(untrackedEvents) sessions and logins belonged to servers beyond the \(Self.maxServers) tracked, and are not counted here.</p>\n"
        }

        // Summary cards.
        h += "<div class=\"cards\" id=\"summary\">\n"
        h += card("servers", UInt64(servers.count), "#34495e")
        for verdict in Verdict.allCases {
            h += card(verdict.rawValue, summary.servers[verdict, default: 0], verdict.color, id: "count-\(verdict.rawValue)")
        }
        h += card("cleartext logins", summary.cleartextLogins, Verdict.exposed.color, id: "count-cleartext-logins")
        h += card("hashed logins", summary.hashedLogins, Verdict.hashedOnly.color, id: "count-hashed-logins")
        h += card("TLS sessions", summary.tlsSessions, Verdict.implicitTLS.color, id: "count-tls-sessions")
        h += card("STARTTLS stripping suspected", summary.strippingSuspected, "#8e44ad", id: "count-stripping")
        h += "</div>\n"

        h += legend(summary)

        // Charts.
        h += "<h2>Charts</h2>\n<div class=\"charts\">\n"
        h += verdictChart(summary)
        h += protocolChart(servers)
        h += timelineChart()
        h += "</div>\n"

        // The table.
        h += "<h2>Servers</h2>\n"
        h += "<table id=\"servers\"><thead><tr>"
        var columns: [(id: String, title: String, numeric: Bool)] = [
            ("server", "Server", false), ("port", "Port", true), ("proto", "Protocol", false),
            ("verdict", "Verdict", false), ("cleartext", "Cleartext logins", true), ("hashed", "Hashed logins", true),
            ("users", "Users", true), ("tls", "TLS sessions", true), ("sessions", "Sessions", true),
            ("starttls", "STARTTLS offered", false), ("logindisabled", "LOGIN\u{AD}DISABLED", false),
            ("refused", "STARTTLS refused", true), ("product", "Product", false), ("evidence", "Evidence", false),
            ("clients", "Clients and users", false),
        ]
        if case .none = sensors {} else { columns.append(("sensors", "Sensors", false)) }
        for c in columns {
            h += "<th data-col=\"\(c.id)\" data-type=\"\(c.numeric ? "num" : "text")\">\(c.title)</th>"
        }
        h += "</tr></thead><tbody>\n"
        for s in servers {
            let r = s.record
            let a = s.assessment
            h += "<tr data-verdict=\"\(a.verdict.rawValue)\">"
            h += "<td data-value=\"\(addressSortKey(r.key))\">\(htmlEscape(r.key.address.description))</td>"
            h += numCell(UInt64(r.key.port))
            h += "<td>\(r.key.proto.rawValue)</td>"
            h += "<td data-value=\"\(a.verdict.rank)\"><span class=\"verdict\" style=\"background:\(a.verdict.color)\">\(a.verdict.rawValue)</span></td>"
            h += numCell(r.cleartextLogins.total)
            h += numCell(r.hashedLogins.total)
            h += "<td class=\"num\" data-value=\"\(r.distinctUsers)\">\(r.distinctUsers)\(r.usersOverflow ? "+" : "")</td>"
            h += numCell(r.tlsSessions)
            h += numCell(r.sessions)
            h += "<td>\(r.starttlsOffered ? "yes (\(r.starttlsOfferedSessions)/\(r.sessionsWithCapabilities))" : (r.sessionsWithCapabilities > 0 ? "no" : "unknown"))</td>"
            h += "<td>\(r.loginDisabled ? "yes" : (r.sessionsWithCapabilities > 0 && r.key.proto.descriptor.loginCommandUnlessDisabled ? "no" : "-"))</td>"
            h += numCell(r.starttlsRefused)
            let product = r.product.map { htmlEscape(wire: $0) + (r.version.map { " " + htmlEscape(wire: $0) } ?? "") } ?? ""
            h += "<td>\(product)</td>"
            h += "<td class=\"evidence\"><ul>"
            for e in a.evidence { h += "<li>\(htmlEscape(wire: e))</li>" }
            for e in a.strippingEvidence { h += "<li class=\"strip\">possible STARTTLS stripping: \(htmlEscape(wire: e))</li>" }
            h += "</ul>"
            if a.verdict.needsFix, let name = r.product, let setting = fixSetting(product: name, proto: r.key.proto, verdict: a.verdict) {
                h += "<div class=\"fix\">fix (\(htmlEscape(name))): \(htmlWithCode(setting)) (see the legend above)</div>"
            }
            if let greeting = r.greeting {
                h += "<div class=\"banner\">banner: <code>\(htmlEscape(bytes: greeting))</code></div>"
            }
            h += "</td>"
            h += clientsCell(r)
            if let list = sightings(of: r) { h += sensorsCell(list) }
            h += "</tr>\n"
        }
        h += "</tbody></table>\n"
        if servers.isEmpty { h += "<p id=\"empty\">No mail server was seen\(page.refreshSeconds == nil ? "" : " yet").</p>\n" }
        h += sortScript
        h += "</body></html>\n"
        return h
    }

    /// The legend: every verdict with its colour, its servers, what it means and one paragraph of
    /// advice; then the server settings that close the hole.
    private func legend(_ summary: InventorySummary) -> String {
        var h = "<h2>Verdicts: what they mean and what closes the hole</h2>\n"
        h += "<table id=\"legend\"><thead><tr><th>Verdict</th><th>Servers</th><th>Meaning</th><th>What to do</th></tr></thead><tbody>\n"
        for verdict in Verdict.allCases {
            let count = summary.servers[verdict, default: 0]
            h += "<tr id=\"legend-\(verdict.rawValue)\" class=\"\(count > 0 ? "present" : "absent")\">"
            h += "<td><span class=\"verdict\" style=\"background:\(verdict.color)\">\(verdict.rawValue)</span></td>"
            h += "<td class=\"num\">\(count)</td>"
            h += "<td>\(htmlEscape(verdict.meaning))</td>"
            h += "<td class=\"advice\"><p>\(htmlWithCode(verdict.advice))</p></td></tr>\n"
        }
        h += "</tbody></table>\n"
        h += "<h2>Server settings that refuse logins before TLS</h2>\n"
        h += "<table id=\"settings\"><thead><tr><th>Server</th><th>Setting</th><th>Effect</th></tr></thead><tbody>\n"
        for row in serverSettings {
            h += "<tr><td>\(htmlEscape(row.server))</td><td>\(htmlWithCode(row.setting))</td><td>\(htmlEscape(row.effect))</td></tr>\n"
        }
        h += "</tbody></table>\n"
        return h
    }

    /// The clients that sent logins (most logins first) and the login names under the run's
    /// policy, as the alerts show them (the record keeps them in that form: `UserPolicy.apply`).
    private func clientsCell(_ r: borrowing ServerRecord) -> String {
        guard !r.clients.isEmpty else { return "<td data-value=\"0\">-</td>" }
        var h = "<td data-value=\"\(r.clients.count)\"><div>\(r.clients.count)\(r.clientsOverflow ? "+" : "") client\(r.clients.count == 1 && !r.clientsOverflow ? "" : "s"):</div><ul>"
        let clients = r.clients.sorted { a, b in
            a.value != b.value ? a.value > b.value : ServerKey.ordered(ServerKey(address: a.key, port: 0, proto: .smtp),
                                                                        ServerKey(address: b.key, port: 0, proto: .smtp))
        }
        for (address, logins) in clients.prefix(Self.listedPerServer) {
            h += "<li>\(htmlEscape(address.description)) (\(logins) login\(logins == 1 ? "" : "s"))</li>"
        }
        if clients.count > Self.listedPerServer { h += "<li>and \(clients.count - Self.listedPerServer) more</li>" }
        h += "</ul>"
        if userPolicy == .omit {
            h += "<div class=\"banner\">users: omitted (--user-policy omit)</div>"
        } else if !r.listedUsers.isEmpty {
            let names = r.listedUsers.sorted { $0.lexicographicallyPrecedes($1) }
            let more = names.count > Self.listedPerServer || r.listedUsersOverflow ? ", ..." : ""
            h += "<div class=\"banner\">users: <code>\(names.prefix(Self.listedPerServer).map { htmlEscape(bytes: $0) }.joined(separator: ", "))\(more)</code></div>"
        }
        return h + "</td>"
    }

    /// The sensors that saw the server (issue 20), each with what it saw itself: a session seen by
    /// two sensors is in both lines and once in the server's counts.
    private func sensorsCell(_ list: [SensorSighting]) -> String {
        guard !list.isEmpty else { return "<td data-value=\"0\">-</td>" }
        var h = "<td data-value=\"\(list.count)\"><ul class=\"sensors\">"
        for s in list {
            let logins = s.cleartextLogins &+ s.hashedLogins
            // The time span on hover: in the cell it made the column the page's widest.
            let span = s.firstSeen.flatMap { first in s.lastSeen.map { " title=\"\(htmlEscape(TimeAxis.moment(first))) to \(htmlEscape(TimeAxis.moment($0)))\"" } } ?? ""
            h += "<li\(span)><b>\(htmlEscape(wire: s.name))</b>: \(s.sessions) session\(s.sessions == 1 ? "" : "s"), \(logins) login\(logins == 1 ? "" : "s")</li>"
        }
        return h + "</ul></td>"
    }

    private func card(_ label: String, _ value: UInt64, _ color: String, id: String? = nil) -> String {
        let idAttribute = id.map { " id=\"\($0)\"" } ?? ""
        return "<div class=\"card\"\(idAttribute) style=\"border-left-color:\(color)\"><b>\(value)</b><span>\(htmlEscape(label))</span></div>\n"
    }

    private func numCell(_ n: UInt64) -> String { "<td class=\"num\" data-value=\"\(n)\">\(n)</td>" }

    /// Sorts IPv4 before IPv6 and addresses by value (text order would put 192.0.2.100 before .11).
    private func addressSortKey(_ key: ServerKey) -> String {
        func hex(_ v: UInt64) -> String {
            let digits = String(v, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        return (key.address.isIPv6 ? "6" : "4") + hex(key.address.high) + hex(key.address.low)
    }

    // MARK: charts (inline SVG)
    // Labels inside an SVG are cut off at its edge, so every legend is HTML under its chart,
    // where it wraps instead (a legend entry once read `accepts_cleart`).

    private func verdictChart(_ summary: InventorySummary) -> String {
        let rows = Verdict.allCases
        let maxValue = max(1, rows.map { summary.servers[$0, default: 0] }.max() ?? 1)
        // The longest name, `accepts_cleartext`, is about 105 px in 12 px DejaVu Sans.
        let width = 380, rowHeight = 22, left = 140
        var svg = "<div class=\"chart\"><h3>Servers by verdict</h3>"
        svg += "<svg id=\"chart-verdicts\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(rows.count * rowHeight + 8)\" role=\"img\" aria-label=\"servers by verdict\">"
        for (i, verdict) in rows.enumerated() {
            let value = summary.servers[verdict, default: 0]
            let y = 4 + i * rowHeight
            let barWidth = Int(Double(width - left - 40) * Double(value) / Double(maxValue))
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 15)\" font-size=\"12\" text-anchor=\"end\">\(verdict.rawValue)</text>"
            svg += "<rect x=\"\(left)\" y=\"\(y + 3)\" width=\"\(max(barWidth, value > 0 ? 2 : 0))\" height=\"\(rowHeight - 6)\" fill=\"\(verdict.color)\"><title>\(verdict.rawValue): \(value)</title></rect>"
            svg += "<text x=\"\(left + barWidth + 4)\" y=\"\(y + 15)\" font-size=\"12\">\(value)</text>"
        }
        svg += "</svg></div>\n"
        return svg
    }

    /// Stacked bars: one per protocol, one segment per verdict of the servers the logins went to.
    private func protocolChart(_ servers: [AssessedServer]) -> String {
        var logins: [MailProtocol: [Verdict: UInt64]] = [:]
        for s in servers {
            logins[s.record.key.proto, default: [:]][s.assessment.verdict, default: 0] +=
                s.record.cleartextLogins.total &+ s.record.hashedLogins.total
        }
        let protos = MailProtocol.allCases
        let totals = protos.map { p in logins[p, default: [:]].values.reduce(0, +) }
        let maxValue = max(1, totals.max() ?? 1)
        // Bars 84 apart: room for the longest name under each ("managesieve", 12 px).
        let height = 230, left = 44, bottom = 30, top = 20, barWidth = 60, step = 84
        let width = max(300, left + 16 + protos.count * step)
        let plot = Double(height - bottom - top)
        var svg = "<div class=\"chart\"><h3>Logins by protocol and verdict</h3>"
        svg += "<svg id=\"chart-protocols\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"logins by protocol and verdict\">"
        svg += axis(left: left, top: top, bottom: height - bottom, right: width - 10, maxValue: maxValue)
        for (i, proto) in protos.enumerated() {
            let x = left + 16 + i * step
            var y = Double(height - bottom)
            for verdict in Verdict.allCases {
                let value = logins[proto, default: [:]][verdict, default: 0]
                guard value > 0 else { continue }
                let h = plot * Double(value) / Double(maxValue)
                y -= h
                svg += "<rect x=\"\(x)\" y=\"\(formatted(y))\" width=\"\(barWidth)\" height=\"\(formatted(h))\" fill=\"\(verdict.color)\"><title>\(proto.rawValue), \(verdict.rawValue): \(value)</title></rect>"
            }
            svg += "<text x=\"\(x + barWidth / 2)\" y=\"\(height - bottom + 16)\" font-size=\"12\" text-anchor=\"middle\">\(proto.rawValue)</text>"
            svg += "<text x=\"\(x + barWidth / 2)\" y=\"\(formatted(y - 4))\" font-size=\"11\" text-anchor=\"middle\">\(totals[i])</text>"
        }
        svg += "</svg>"
        // Legend: the verdicts that have logins.
        let shown = Verdict.allCases.filter { verdict in protos.contains { logins[$0, default: [:]][verdict, default: 0] > 0 } }
        svg += legendList(id: "legend-protocols", shown.map { ($0.rawValue, $0.color) })
        svg += "</div>\n"
        return svg
    }

    /// Logins per time bucket, cleartext stacked under hashed, on an axis of round UTC times.
    private func timelineChart() -> String {
        let series = timeline.series
        let width = 480, height = 230, left = 44, bottom = 34, top = 10, right = 16
        let maxValue = max(1, series.map { $0.cleartext &+ $0.hashed }.max() ?? 1)
        let plot = Double(height - bottom - top)
        var svg = "<div class=\"chart\"><h3>Logins over time</h3>"
        svg += "<svg id=\"chart-timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"logins over time\">"
        svg += axis(left: left, top: top, bottom: height - bottom, right: width - right, maxValue: maxValue)
        guard let firstBucket = series.first, let lastBucket = series.last else {
            svg += "<text x=\"\(width / 2)\" y=\"\(height / 2)\" font-size=\"12\" text-anchor=\"middle\">no logins</text></svg></div>\n"
            return svg
        }
        let plotLeft = Double(left + 4), plotWidth = Double(width - left - right - 8)
        let slot = plotWidth / Double(series.count)
        let barWidth = max(1.0, slot * 0.8)
        for (i, bucket) in series.enumerated() {
            let x = plotLeft + Double(i) * slot
            var y = Double(height - bottom)
            for (value, color, label) in [(bucket.cleartext, Verdict.exposed.color, "cleartext"),
                                          (bucket.hashed, Verdict.hashedOnly.color, "hashed")] where value > 0 {
                let h = plot * Double(value) / Double(maxValue)
                y -= h
                svg += "<rect x=\"\(formatted(x))\" y=\"\(formatted(y))\" width=\"\(formatted(barWidth))\" height=\"\(formatted(h))\" fill=\"\(color)\"><title>\(TimeAxis.moment(bucket.start)): \(value) \(label)</title></rect>"
            }
        }
        // Ticks at round times across the whole span of the bars.
        let start = firstBucket.start.nanoseconds
        let end = lastBucket.start.nanoseconds &+ timeline.widthNanoseconds
        let nanosPerPixel = Double(end - start) / plotWidth
        let ticks = TimeAxis.ticks(start: start, end: end, maxTicks: 4)
        for (i, tick) in ticks.enumerated() {
            let x = plotLeft + Double(tick.time - start) / nanosPerPixel
            // The first label starts at its tick and the last ends at it, the rest are centred:
            // none runs past the chart's edges.
            let anchor = ticks.count > 1 && i == ticks.count - 1 ? "end" : (i == 0 ? "start" : "middle")
            svg += "<line x1=\"\(formatted(x))\" y1=\"\(height - bottom)\" x2=\"\(formatted(x))\" y2=\"\(height - bottom + 4)\" stroke=\"#555\"/>"
            svg += "<text class=\"tick\" x=\"\(formatted(x))\" y=\"\(height - bottom + 16)\" font-size=\"10\" text-anchor=\"\(anchor)\">\(tick.label)</text>"
        }
        let bar = TimeAxis.duration(seconds: timeline.widthNanoseconds / 1_000_000_000)
        svg += "<text id=\"timeline-unit\" x=\"\(left)\" y=\"\(height - 2)\" font-size=\"10\">time (UTC); one bar: \(bar)</text>"
        svg += "</svg>"
        svg += legendList(id: "legend-timeline", [("cleartext", Verdict.exposed.color), ("hashed", Verdict.hashedOnly.color)])
        svg += "<p>\(TimeAxis.moment(firstBucket.start)) to \(TimeAxis.moment(Timestamp(nanoseconds: end)))</p>"
        svg += "</div>\n"
        return svg
    }

    private func legendList(id: String, _ entries: [(label: String, color: String)]) -> String {
        var h = "<ul class=\"legend\" id=\"\(id)\">"
        for entry in entries { h += "<li><i style=\"background:\(entry.color)\"></i>\(htmlEscape(entry.label))</li>" }
        return h + "</ul>"
    }

    private func axis(left: Int, top: Int, bottom: Int, right: Int, maxValue: UInt64) -> String {
        var svg = "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(bottom)\" stroke=\"#555\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(bottom)\" x2=\"\(right)\" y2=\"\(bottom)\" stroke=\"#555\"/>"
        svg += "<text x=\"\(left - 4)\" y=\"\(top + 8)\" font-size=\"10\" text-anchor=\"end\">\(maxValue)</text>"
        svg += "<text x=\"\(left - 4)\" y=\"\(bottom)\" font-size=\"10\" text-anchor=\"end\">0</text>"
        return svg
    }

    private func formatted(_ v: Double) -> String {
        let tenths = (v * 10).rounded()
        let whole = Int(tenths / 10)
        let fraction = Int(abs(tenths.truncatingRemainder(dividingBy: 10)))
        return fraction == 0 ? "\(whole)" : "\(whole).\(fraction)"
    }
}

/// Click a heading to sort by it (again to reverse); `#sort=COLUMN-asc|desc` sorts on load.
private let sortScript = """
    <script>
    (function () {
      var table = document.getElementById("servers");
      var heads = table.tHead.rows[0].cells;
      function value(row, i, numeric) {
        var cell = row.cells[i];
        var v = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent;
        return numeric ? parseFloat(v) : v.toLowerCase();
      }
      function sortBy(i, descending) {
        var numeric = heads[i].getAttribute("data-type") === "num";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = value(a, i, numeric), y = value(b, i, numeric);
          var c = x < y ? -1 : (x > y ? 1 : 0);
          return descending ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
        for (var k = 0; k < heads.length; k++) { heads[k].className = ""; }
        heads[i].className = descending ? "desc" : "asc";
      }
      for (var i = 0; i < heads.length; i++) {
        (function (i) {
          heads[i].addEventListener("click", function () { sortBy(i, heads[i].className === "asc"); });
        })(i);
      }
      var m = /^#sort=([a-z]+)-(asc|desc)$/.exec(location.hash);
      if (m) {
        for (var j = 0; j < heads.length; j++) {
          if (heads[j].getAttribute("data-col") === m[1]) { sortBy(j, m[2] === "desc"); }
        }
      }
    })();
    </script>

    """
