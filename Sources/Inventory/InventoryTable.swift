import Alerts
import MailAuth

extension ServerInventory {
    /// The end-of-run table for a terminal: one line per server, worst verdict first, at most
    /// `limit` lines (the rest counted). Fields taken from the wire are escaped.
    public func terminalTable(limit: Int = 40) -> String {
        let servers = assessed()
        guard !servers.isEmpty else { return "  mail servers   none seen\n" }
        let header = ["server", "proto", "verdict", "clear", "hashed", "users", "tls", "product / notes"]
        var rows: [[String]] = []
        for s in servers.prefix(limit) {
            let r = s.record
            let address = r.key.address.isIPv6 ? "[\(r.key.address)]" : r.key.address.description
            var notes = r.product.map { OutputEscaping.escape(($0 + (r.version.map { " " + $0 } ?? "")).utf8) } ?? ""
            if s.assessment.strippingSuspected { notes += (notes.isEmpty ? "" : "; ") + "STARTTLS stripping suspected" }
            if r.starttlsRefused > 0 { notes += (notes.isEmpty ? "" : "; ") + "STARTTLS refused \(r.starttlsRefused)x" }
            rows.append([address + ":\(r.key.port)", r.key.proto.rawValue, s.assessment.verdict.rawValue,
                         "\(r.cleartextLogins.total)", "\(r.hashedLogins.total)",
                         "\(r.distinctUsers)\(r.usersOverflow ? "+" : "")", "\(r.tlsSessions)", notes])
        }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            var text = " "
            for (i, cell) in cells.enumerated() {
                let numeric = (3...6).contains(i)
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                text += " " + (numeric ? pad + cell : (i == cells.count - 1 ? cell : cell + pad))
            }
            while text.last == " " { text.removeLast() }
            return text + "\n"
        }
        var text = "\n  mail servers (exposure inventory)\n" + line(header)
        for row in rows { text += line(row) }
        if servers.count > limit { text += "  ... and \(servers.count - limit) more (see --report)\n" }
        if untrackedEvents > 0 { text += "  \(untrackedEvents) sessions and logins of servers beyond the \(Self.maxServers) tracked\n" }
        return text
    }
}
