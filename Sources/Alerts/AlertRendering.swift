import MailAuth
import Wire

// Alert text, in the two forms the sinks write. Each appends to a caller-owned byte buffer so a
// sink renders straight into its output buffer: the only allocations per alert are the address
// strings and (for `mask`/`hash`) the policy's result.

/// Renders alerts and the stats event. Value type, cheap to copy.
public struct AlertRenderer: Sendable {
    public var userPolicy: UserPolicy
    /// The sensor name (`--sensor`), written as `host`, the last top-level key of every JSON
    /// event; nil leaves the key out.
    public var sensor: String?

    public init(userPolicy: UserPolicy = .mask, sensor: String? = nil) {
        self.userPolicy = userPolicy
        self.sensor = sensor
    }

    // MARK: JSON (DESIGN.md alert schema; keys in this fixed order, compact, no newline)

    /// Appends one `cleartext_auth` event as a compact JSON object (no trailing newline).
    public func appendJSON(_ alert: Alert, to out: inout [UInt8]) {
        let finding = alert.finding
        out.appendLiteral(#"{"timestamp":""#)
        alert.timestamp.appendRFC3339(to: &out)
        out.appendLiteral(#"","event_type":"cleartext_auth","flow_id":"#)
        appendDecimal(alert.flowID, to: &out)
        out.appendLiteral(#","src_ip":""#)
        out.appendAddress(alert.client)
        out.appendLiteral(#"","src_port":"#)
        appendDecimal(UInt64(alert.clientPort), to: &out)
        out.appendLiteral(#","dest_ip":""#)
        out.appendAddress(alert.server)
        out.appendLiteral(#"","dest_port":"#)
        appendDecimal(UInt64(alert.serverPort), to: &out)
        // `vlan` is left out entirely for untagged traffic (as Suricata's EVE does), rather than
        // written as an empty array; tagged traffic lists the ids outer first.
        if alert.vlans.count > 0 {
            out.appendLiteral(#","vlan":["#)
            appendDecimal(UInt64(alert.vlans.outer), to: &out)
            if alert.vlans.count > 1 {
                out.append(0x2C)
                appendDecimal(UInt64(alert.vlans.inner), to: &out)
            }
            out.append(0x5D)
        }
        out.appendLiteral(#","proto":"TCP","app_proto":""#)
        out.append(contentsOf: finding.proto.rawValue.utf8)
        out.appendLiteral(#"","auth":{"method":""#)
        OutputEscaping.append(finding.method.utf8, to: &out)
        out.appendLiteral(#"","exposure":""#)
        out.append(contentsOf: finding.exposure.rawValue.utf8)
        out.append(0x22)
        if let name = finding.username, let shown = userPolicy.apply(to: name) {
            out.appendLiteral(#","username":""#)
            OutputEscaping.append(shown, to: &out)
            out.append(0x22)
        }
        out.appendLiteral(#","secret":"redacted","outcome":""#)
        out.append(contentsOf: finding.outcome.rawValue.utf8)
        out.appendLiteral(#"","starttls":""#)
        out.append(contentsOf: finding.starttls.rawValue.utf8)
        out.appendLiteral(#"","after_gap":"#)
        out.appendLiteral(finding.afterGap ? "true" : "false")
        out.appendLiteral(#","midstream":"#)
        out.appendLiteral(alert.midstream ? "true" : "false")
        out.appendLiteral(#","overlap_conflict":"#)
        out.appendLiteral(alert.overlapConflict ? "true" : "false")
        out.append(0x7D)
        if let tunnel = alert.tunnel, let outermost = tunnel.outermost { Self.appendTunnelJSON(tunnel, outermost, to: &out) }
        // Added later (issue 19), each left out when unknown; before `host`, which stays last.
        if alert.communityID != nil || alert.communityIDSeed != nil {
            let mark = out.count
            out.appendLiteral(#","community_id":""#)
            if alert.appendCommunityID(to: &out) { out.append(0x22) } else { out.removeSubrange(mark...) }
        }
        if let name = alert.pcapFilename {
            out.appendLiteral(#","pcap_filename":""#)
            OutputEscaping.append(name.utf8, to: &out)
            out.append(0x22)
        }
        if let count = alert.pcapCount {
            out.appendLiteral(#","pcap_cnt":"#)
            appendDecimal(count, to: &out)
        }
        Self.appendHost(sensor, to: &out)
        out.append(0x7D)
    }

    /// `,"tunnel":{...}`: the outermost encapsulation, its endpoints and identifiers, and every
    /// layer passed (docs/mirror-feeds.md). Left out for traffic that came in no tunnel.
    static func appendTunnelJSON(_ tunnel: Encapsulation, _ outermost: EncapsulationKind, to out: inout [UInt8]) {
        out.appendLiteral(#","tunnel":{"type":""#)
        out.append(contentsOf: outermost.name.utf8)
        out.append(0x22)
        if tunnel.hasOuterAddresses {
            out.appendLiteral(#","src_ip":""#)
            out.append(contentsOf: tunnel.outerSource.description.utf8)
            out.appendLiteral(#"","dest_ip":""#)
            out.append(contentsOf: tunnel.outerDestination.description.utf8)
            out.append(0x22)
        }
        if tunnel.hasIdentifier, let key = Self.identifierKey(outermost) {
            out.append(contentsOf: key.utf8)
            appendDecimal(UInt64(tunnel.identifier), to: &out)
        }
        if tunnel.hasGREKey {
            out.appendLiteral(#","gre_key":"#)
            appendDecimal(UInt64(tunnel.greKey), to: &out)
        }
        if outermost == .mpls && tunnel.labelCount > 0 {
            out.appendLiteral(#","mpls_labels":["#)
            for (index, label) in tunnel.labelStack.enumerated() {
                if index > 0 { out.append(0x2C) }
                appendDecimal(UInt64(label), to: &out)
            }
            out.append(0x5D)
        }
        out.appendLiteral(#","layers":["#)
        for (index, kind) in tunnel.layers.enumerated() {
            if index > 0 { out.append(0x2C) }
            out.append(0x22)
            out.append(contentsOf: kind.name.utf8)
            out.append(0x22)
        }
        out.appendLiteral("]}")
    }

    /// The JSON key (with its leading comma and colon) of the outermost encapsulation's identifier.
    private static func identifierKey(_ kind: EncapsulationKind) -> String? {
        switch kind {
        case .vxlan, .geneve: return #","vni":"#
        case .gre: return #","gre_key":"#
        case .erspan2, .erspan3: return #","erspan_id":"#
        case .pppoe: return #","pppoe_session":"#
        case .gtpu: return #","teid":"#
        case .mpls, .ipip, .sixInFour, .fourInSix, .sixInSix: return nil
        }
    }

    /// `,"host":"NAME"` (escaped), or nothing without a sensor name. The schema only grows: the
    /// key comes last so every earlier key keeps its place.
    static func appendHost(_ sensor: String?, to out: inout [UInt8]) {
        guard let sensor else { return }
        out.appendLiteral(#","host":""#)
        OutputEscaping.append(sensor.utf8, to: &out)
        out.append(0x22)
    }

    /// Another event rendered elsewhere (`server_exposure`: one compact JSON object) with `host`
    /// added as its last top-level key. Objects not ending in `}` are passed through unchanged.
    public static func appendEvent(_ json: [UInt8], sensor: String?, to out: inout [UInt8]) {
        guard sensor != nil, let last = json.lastIndex(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D }),
              json[last] == 0x7D else {
            out.append(contentsOf: json)
            return
        }
        out.append(contentsOf: json[..<last])
        appendHost(sensor, to: &out)
        out.append(0x7D)
    }

    /// The JSON object for one alert, without a newline.
    public func json(_ alert: Alert) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        appendJSON(alert, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the end-of-run `stats` event (no trailing newline).
    public static func appendStatsJSON(_ fields: [StatField], time: Timestamp, sensor: String? = nil,
                                       to out: inout [UInt8]) {
        out.appendLiteral(#"{"timestamp":""#)
        time.appendRFC3339(to: &out)
        out.appendLiteral(#"","event_type":"stats","stats":"#)
        appendObject(fields, to: &out)
        appendHost(sensor, to: &out)
        out.append(0x7D)
    }

    public static func statsJSON(_ fields: [StatField], time: Timestamp, sensor: String? = nil) -> String {
        var out: [UInt8] = []
        appendStatsJSON(fields, time: time, sensor: sensor, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func appendObject(_ fields: [StatField], to out: inout [UInt8]) {
        out.append(0x7B)
        for (index, field) in fields.enumerated() {
            if index > 0 { out.append(0x2C) }
            out.append(0x22)
            OutputEscaping.append(field.name.utf8, to: &out)
            out.appendLiteral(#"":"#)
            appendValue(field.value, to: &out)
        }
        out.append(0x7D)
    }

    private static func appendValue(_ value: StatValue, to out: inout [UInt8]) {
        switch value {
        case .count(let count): appendDecimal(count, to: &out)
        case .object(let inner): appendObject(inner, to: &out)
        case .array(let elements):
            out.append(0x5B)
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(0x2C) }
                appendValue(element, to: &out)
            }
            out.append(0x5D)
        case .word(let word):
            out.append(0x22)
            for byte in word.utf8 where byte >= 0x20 && byte < 0x7F && byte != 0x22 && byte != 0x5C { out.append(byte) }
            out.append(0x22)
        }
    }

    // MARK: Text (one line per alert, for people)

    /// Appends one human-readable line (no trailing newline):
    /// `2026-01-04T10:00:00.123456Z imap LOGIN cleartext user=a***e 198.51.100.7:51234 ->
    /// 192.0.2.10:143 outcome=success starttls=not_offered [after-gap] [midstream]`.
    /// IPv6 addresses are bracketed; `vlan=100` or `vlan=100,200` follows the endpoints for tagged
    /// traffic; `user=` is left out when the policy omits it or the exchange named no user.
    public func appendText(_ alert: Alert, to out: inout [UInt8]) {
        let finding = alert.finding
        alert.timestamp.appendRFC3339(to: &out)
        out.append(0x20)
        out.append(contentsOf: finding.proto.rawValue.utf8)
        out.append(0x20)
        OutputEscaping.append(finding.method.utf8, to: &out)
        out.append(0x20)
        out.append(contentsOf: finding.exposure.rawValue.utf8)
        if let name = finding.username, let shown = userPolicy.apply(to: name) {
            out.appendLiteral(" user=")
            OutputEscaping.append(shown, to: &out)
        }
        out.append(0x20)
        Self.appendEndpoint(alert.client, alert.clientPort, to: &out)
        out.appendLiteral(" -> ")
        Self.appendEndpoint(alert.server, alert.serverPort, to: &out)
        if alert.vlans.count > 0 {
            out.appendLiteral(" vlan=")
            appendDecimal(UInt64(alert.vlans.outer), to: &out)
            if alert.vlans.count > 1 {
                out.append(0x2C)
                appendDecimal(UInt64(alert.vlans.inner), to: &out)
            }
        }
        if let tunnel = alert.tunnel, let outermost = tunnel.outermost {
            Self.appendTunnelText(tunnel, outermost, to: &out)
        }
        out.appendLiteral(" outcome=")
        out.append(contentsOf: finding.outcome.rawValue.utf8)
        out.appendLiteral(" starttls=")
        out.append(contentsOf: finding.starttls.rawValue.utf8)
        if finding.afterGap { out.appendLiteral(" [after-gap]") }
        if alert.midstream { out.appendLiteral(" [midstream]") }
        if alert.overlapConflict { out.appendLiteral(" [overlap-conflict]") }
    }

    /// The text line for one alert, without a newline.
    public func text(_ alert: Alert) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        appendText(alert, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// ` tunnel=gre+vxlan[203.0.113.1->203.0.113.2 gre_key=77]`: the layers outermost first, then
    /// the outermost one's endpoints and identifiers.
    private static func appendTunnelText(_ tunnel: Encapsulation, _ outermost: EncapsulationKind,
                                         to out: inout [UInt8]) {
        out.appendLiteral(" tunnel=")
        for (index, kind) in tunnel.layers.enumerated() {
            if index > 0 { out.append(0x2B) }
            out.append(contentsOf: kind.name.utf8)
        }
        var details: [String] = []
        if tunnel.hasOuterAddresses {
            details.append(tunnel.outerSource.description + "->" + tunnel.outerDestination.description)
        }
        if tunnel.hasIdentifier, let key = identifierKey(outermost) {
            // The JSON key without its punctuation: `,"vni":` is `vni`.
            details.append(key.filter { $0.isLetter || $0 == "_" } + "=" + String(tunnel.identifier))
        }
        if tunnel.hasGREKey { details.append("gre_key=" + String(tunnel.greKey)) }
        if outermost == .mpls && tunnel.labelCount > 0 {
            details.append("labels=" + tunnel.labelStack.map(String.init).joined(separator: ","))
        }
        guard !details.isEmpty else { return }
        out.append(0x5B)
        out.append(contentsOf: details.joined(separator: " ").utf8)
        out.append(0x5D)
    }

    private static func appendEndpoint(_ address: IPAddress, _ port: UInt16, to out: inout [UInt8]) {
        if address.isIPv6 { out.append(0x5B) }
        out.append(contentsOf: address.description.utf8)
        if address.isIPv6 { out.append(0x5D) }
        out.append(0x3A)
        appendDecimal(UInt64(port), to: &out)
    }
}

extension [UInt8] {
    /// Appends a literal's bytes in one copy: through `String.UTF8View` each of the renderer's
    /// two dozen literals an alert took the generic sequence path.
    @inline(__always)
    mutating func appendLiteral(_ text: StaticString) {
        append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}

extension [UInt8] {
    /// An address as its `description` spells it; an IPv4 one written in place, without the
    /// String.
    mutating func appendAddress(_ address: IPAddress) {
        guard !address.isIPv6 else { append(contentsOf: address.description.utf8); return }
        for shift in stride(from: 24, through: 0, by: -8) {
            let octet = UInt8(truncatingIfNeeded: address.low >> UInt64(shift))
            if octet >= 100 { append(0x30 + octet / 100) }
            if octet >= 10 { append(0x30 + octet / 10 % 10) }
            append(0x30 + octet % 10)
            if shift != 0 { append(0x2E) }
        }
    }
}
