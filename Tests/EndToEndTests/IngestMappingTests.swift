import Foundation
import Testing

/// docs/ingest against what plainsight writes. None of Elasticsearch, OpenSearch, Vector, Filebeat
/// or Splunk can be installed here, so this checks offline what can be: that the index template
/// maps every field of every event with a type its values fit, that the ingest pipeline copies
/// from fields that exist into fields the template maps, that Splunk's time format reads every
/// timestamp and its aliases name real fields, and that the shipper configurations name the same
/// template, pipeline, index pattern and sourcetype. docs/ingest/README.md says what stays untested.
@Suite("Ingest mapping")
struct IngestMappingTests {
    static let ingest = packageRoot.appendingPathComponent("docs/ingest")

    // MARK: - the events

    /// The golden lines, and one replay of every fixture into an `-o` file: the goldens have no
    /// `start` event and no `community_id`, `pcap_filename` or `pcap_cnt` (replays of standard
    /// output files strip them), the replay has all of them.
    static func eventLines() throws -> [(raw: String, value: EventValue)] {
        var raw: [String] = []
        let fixtures = packageRoot.appendingPathComponent("fixtures")
        for name in try FileManager.default.contentsOfDirectory(atPath: fixtures.path).sorted()
        where name.hasSuffix(".expected.jsonl") {
            let text = try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)
            raw += text.split(separator: "\n").map(String.init)
        }
        let bin = try #require(plainsightBinary(), "build plainsight first (scripts/test does)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plainsight-ingest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("replay.jsonl").path
        let inputs = loadManifest().flatMap { ["-r", "fixtures/\($0.pcap)"] }
        try #require(inputs.count >= 200)
        let r = try runProgram(bin, inputs + ["--json", "--quiet", "--any-port", "--user-policy", "full", "-o", out])
        try #require(r.status == 0, "replay: \(r.stderrText)")
        raw += try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
        // Once more with what only some runs write: mail_session events and the hash policy's
        // user_key_id (a fake key, made for the test).
        let key = dir.appendingPathComponent("user-hash.key")
        try Data("fake-ingest-test-key-0123456789abcdef".utf8).write(to: key)
        let sessions = dir.appendingPathComponent("sessions.jsonl").path
        let s = try runProgram(bin, inputs + ["--json", "--quiet", "--any-port", "--session-events", "--user-policy", "hash",
                                              "--user-hash-key-file", key.path, "-o", sessions])
        try #require(s.status == 0, "replay with session events: \(s.stderrText)")
        raw += try String(contentsOfFile: sessions, encoding: .utf8).split(separator: "\n").map(String.init)
        return try raw.map { ($0, try JSONDecoder().decode(EventValue.self, from: Data($0.utf8))) }
    }

    // MARK: - Elasticsearch / OpenSearch

    @Test func templateMapsEveryFieldWithAFittingType() throws {
        let template = try IndexTemplate(file: Self.ingest.appendingPathComponent("elasticsearch-template.json"))
        let lines = try Self.eventLines()
        var types: Set<String> = []
        var seen: Set<String> = []
        var failures: [String: String] = [:]   // path -> first problem, so one bad field is one line
        // Keyword fields whose every value is an address or a timestamp: a keyword takes them, but
        // they would lose range and CIDR queries, so the template must map them as ip or date.
        var allAddresses: [String: Bool] = [:], allTimes: [String: Bool] = [:]
        for (_, event) in lines {
            if case .string(let type)? = event["event_type"] { types.insert(type) }
            event.walk { path, value in
                seen.insert(path)
                if let problem = template.problem(path: path, value: value), failures[path] == nil {
                    failures[path] = problem
                }
                if case .string(let s) = value, template.leaves[path] == "keyword" {
                    allAddresses[path] = (allAddresses[path] ?? true) && IndexTemplate.isIPLiteral(s)
                    allTimes[path] = (allTimes[path] ?? true) && IndexTemplate.fits(value, "date")
                }
            }
        }
        for (path, all) in allAddresses where all { failures[path] = "every value is an address: map it as ip" }
        for (path, all) in allTimes where all { failures[path] = "every value is a timestamp: map it as date" }
        #expect(types.isSuperset(of: ["cleartext_auth", "start", "server_exposure", "mail_session", "stats"]), "\(types)")
        // The linkage fields and a tunnel are among what was checked, so their mapping was exercised.
        for path in ["community_id", "pcap_filename", "pcap_cnt", "tunnel.src_ip", "tunnel.vni", "vlan",
                     "start.inputs", "server_exposure.first_seen", "stats.packets", "stats.reassembly",
                     "server_exposure.user_key_id", "mail_session.first_seen", "mail_session.logins.username",
                     "mail_session.user_key_id"] {
            #expect(seen.contains(path), "no event carried \(path)")
        }
        for (path, problem) in failures.sorted(by: { $0.key < $1.key }) { Issue.record("\(path): \(problem)") }

        // The other way round: every field the template names for plainsight exists (a misspelt
        // mapping would leave the real field to dynamic mapping). ECS fields are the pipeline's
        // targets, checked in the pipeline test; start.interface is written only in live capture.
        let pipeline = try IngestPipeline(file: Self.ingest.appendingPathComponent("elasticsearch-pipeline.json"))
        let liveOnly: Set<String> = ["start.interface"]
        for path in template.leaves.keys.sorted()
        where !seen.contains(path) && !pipeline.targets.contains(path) && !liveOnly.contains(path) {
            Issue.record("the template maps \(path), which no event carries and no processor sets")
        }
    }

    /// Elasticsearch's pipeline (set with copy_from) and OpenSearch's (copy, since its set has no
    /// copy_from): the same checks, and the same fields set in the same order.
    @Test(arguments: ["elasticsearch-pipeline.json", "opensearch-pipeline.json"])
    func pipelineCopiesFromFieldsThatExist(file: String) throws {
        let template = try IndexTemplate(file: Self.ingest.appendingPathComponent("elasticsearch-template.json"))
        let pipeline = try IngestPipeline(file: Self.ingest.appendingPathComponent(file))
        let reference = try IngestPipeline(file: Self.ingest.appendingPathComponent("elasticsearch-pipeline.json"))
        #expect(pipeline.steps.map(\.targets) == reference.steps.map(\.targets))
        #expect(pipeline.steps.map(\.sources) == reference.steps.map(\.sources))
        #expect(pipeline.steps.map(\.eventType) == reference.steps.map(\.eventType))
        #expect(pipeline.steps.map(\.optional) == reference.steps.map(\.optional))
        let lines = try Self.eventLines()
        let types = Set(lines.compactMap { line -> String? in
            if case .string(let t)? = line.value["event_type"] { return t } else { return nil }
        })
        #expect(pipeline.steps.count >= 10)
        for expected in ["source.ip", "destination.ip", "network.community_id", "user.name", "event.kind",
                         "event.category", "event.outcome", "@timestamp", "observer.hostname"] {
            #expect(pipeline.targets.contains(expected), "the pipeline sets no \(expected)")
        }
        for step in pipeline.steps {
            if let only = step.eventType { #expect(types.contains(only), "\(step): no event of type \(only)") }
            let applies = lines.filter { line in
                guard let only = step.eventType else { return true }
                if case .string(only)? = line.value["event_type"] { return true } else { return false }
            }
            for source in step.sources {
                if source.hasPrefix("_ingest.") { continue }
                // Either an original field or an earlier processor's target (lowercase of a copy).
                let earlier = pipeline.steps.prefix { $0 != step }.flatMap(\.targets)
                #expect(template.leaves[source] != nil || earlier.contains(source),
                        "\(step): \(source) is not mapped by the template")
                let carrying = applies.filter { $0.value.at(source) != nil }.count
                if earlier.contains(source) { continue }
                #expect(carrying > 0, "\(step): no event carries \(source)")
                // Without ignore_empty_value a missing source fails the document.
                if !step.optional {
                    #expect(carrying == applies.count,
                            "\(step): \(applies.count - carrying) events lack \(source) and would fail")
                }
                if let target = step.targets.first, let from = template.leaves[source], let to = template.leaves[target],
                   step.kind == "set" || step.kind == "copy" {
                    #expect(from == to || to == "keyword", "\(step): \(source) is \(from), \(target) is \(to)")
                }
            }
            for target in step.targets {
                #expect(template.leaves[target] != nil, "\(step): the template does not map \(target)")
                #expect(target.split(separator: ".").first.map(String.init) != "host",
                        "\(step): host is plainsight's string, not ECS host.*")
            }
        }
    }

    // MARK: - Splunk

    @Test func splunkTimeAndAliasesFitTheEvents() throws {
        let props = try SplunkConf(file: Self.ingest.appendingPathComponent("props.conf"))
        let stanza = try #require(props.stanzas["plainsight:json"], "props.conf has no [plainsight:json]")
        let format = try #require(stanza["TIME_FORMAT"])
        #expect(format == "%Y-%m-%dT%H:%M:%S.%6NZ")
        #expect(stanza["TZ"] == "UTC")
        #expect(stanza["KV_MODE"] == "json" || stanza["INDEXED_EXTRACTIONS"] == "json")
        let prefix = try NSRegularExpression(pattern: try #require(stanza["TIME_PREFIX"]))
        let lookahead = try #require(stanza["MAX_TIMESTAMP_LOOKAHEAD"].flatMap { Int($0) })
        let truncate = try #require(stanza["TRUNCATE"].flatMap { Int($0) })

        let lines = try Self.eventLines()
        var read = 0, failed = 0
        for (raw, event) in lines where failed < 5 {   // five failing lines say enough
            #expect(raw.utf8.count <= truncate || truncate == 0, "a line of \(raw.utf8.count) bytes passes TRUNCATE")
            let whole = NSRange(raw.startIndex..., in: raw)
            guard let match = prefix.firstMatch(in: raw, range: whole), let end = Range(match.range, in: raw)?.upperBound else {
                Issue.record("TIME_PREFIX does not match: \(raw.prefix(80))"); failed += 1; continue
            }
            let window = String(raw[end...].prefix(lookahead))
            guard let parsed = SplunkTime.parse(window, format: format) else {
                Issue.record("TIME_FORMAT does not read \(window)"); failed += 1; continue
            }
            // What Splunk reads is the event's own timestamp, to the microsecond.
            guard case .string(let stamp)? = event["timestamp"] else { Issue.record("no timestamp"); failed += 1; continue }
            #expect(SplunkTime.parse(stamp, format: format) == parsed && parsed.text == stamp, "\(window) vs \(stamp)")
            read += 1
        }
        #expect(read == lines.count)
        // The format refuses what it must: no Z, millisecond precision, a month 13.
        for bad in ["2026-11-25T13:26:58.163930", "2026-11-25T13:26:58.163Z", "2026-13-25T13:26:58.163930Z"] {
            #expect(SplunkTime.parse(bad, format: format) == nil, "\(bad)")
        }

        // CIM Authentication: src, dest, user, app, action, each an alias of a field the alerts carry.
        let aliases = stanza.filter { $0.key.hasPrefix("FIELDALIAS-") }.flatMap { SplunkConf.aliases($0.value) }
        let alerts = lines.map(\.value).filter { $0["event_type"] == .string("cleartext_auth") }
        #expect(Set(aliases.map(\.to)).isSuperset(of: ["src", "dest", "user", "app", "action"]), "\(aliases)")
        for alias in aliases {
            #expect(alerts.contains { $0.at(alias.from) != nil }, "\(alias.from) AS \(alias.to): no alert carries it")
        }
        // The CIM's action values: success and failure as plainsight writes them (unknown is documented).
        let outcomes = Set(alerts.compactMap { a -> String? in if case .string(let s)? = a.at("auth.outcome") { s } else { nil } })
        #expect(outcomes.isSubset(of: ["success", "failure", "unknown"]) && outcomes.contains("failure"), "\(outcomes)")

        // transforms.conf: the stats route takes every stats line and nothing else.
        let transforms = try SplunkConf(file: Self.ingest.appendingPathComponent("transforms.conf"))
        let routeName = try #require(stanza.first { $0.key.hasPrefix("TRANSFORMS-") }?.value ?? props.commentedSetting("TRANSFORMS-"))
        let route = try #require(transforms.stanzas[routeName], "transforms.conf has no [\(routeName)]")
        let regex = try NSRegularExpression(pattern: try #require(route["REGEX"]))
        for (raw, event) in lines {
            let hit = regex.firstMatch(in: raw, range: NSRange(raw.startIndex..., in: raw)) != nil
            #expect(hit == (event["event_type"] == .string("stats")), "\(raw.prefix(60))")
        }
        let eventtypes = try String(contentsOf: Self.ingest.appendingPathComponent("eventtypes.conf"), encoding: .utf8)
        #expect(eventtypes.contains(#"sourcetype="plainsight:json" event_type=cleartext_auth"#))
    }

    // MARK: - shippers

    /// Vector's TOML and Filebeat's YAML are read as lines: enough to hold them to the template's
    /// index pattern and pipeline name and to the parsers they need, not a parse of either format.
    @Test func shippersNameTheTemplateAndPipeline() throws {
        let template = try IndexTemplate(file: Self.ingest.appendingPathComponent("elasticsearch-template.json"))
        let pattern = try #require(template.indexPatterns.first)
        #expect(pattern.hasSuffix("*"))
        let indexPrefix = String(pattern.dropLast())
        let pipelineName = try #require(template.defaultPipeline)

        let vector = try String(contentsOf: Self.ingest.appendingPathComponent("vector.toml"), encoding: .utf8)
        let v = SplunkConf.assignments(vector, separator: "=")
        #expect(v["type"] == "\"file\"", "the first component is the file source")
        #expect(vector.contains("type = \"remap\"") && vector.contains("parse_json!(string!(.message))"))
        #expect(vector.contains("type = \"elasticsearch\""))
        #expect(v["bulk.index"].map { $0.hasPrefix("\"\(indexPrefix)") } == true, "\(v["bulk.index"] ?? "none")")
        #expect(v["pipeline"] == "\"\(pipelineName)\"")

        let filebeat = try String(contentsOf: Self.ingest.appendingPathComponent("filebeat.yml"), encoding: .utf8)
        let f = SplunkConf.assignments(filebeat, separator: ":")
        #expect(f["- type"] == "filestream" && filebeat.contains("- ndjson:"))
        #expect(f["target"] == "\"\"", "the ndjson keys must stay at the top level, where the template maps them")
        #expect(f["setup.template.json.path"]?.hasSuffix("/elasticsearch-template.json\"") == true)
        #expect(f["setup.template.pattern"] == "\"\(pattern)\"")
        #expect(f["index"]?.hasPrefix("\"\(indexPrefix)") == true)
        #expect(f["pipeline"] == "\"\(pipelineName)\"")
        #expect(f["publisher_pipeline.disable_host"] == "true")
    }

    /// The checks above can say no: a misspelt mapping, an IP field holding a name, a counter
    /// mapped as a date, a processor copying from nothing, a time format without microseconds.
    @Test func checksRejectBrokenMappings() throws {
        let good = try Data(contentsOf: Self.ingest.appendingPathComponent("elasticsearch-template.json"))
        let template = try IndexTemplate(data: good)
        #expect(template.problem(path: "src_ip", value: .string("192.0.2.1")) == nil)
        #expect(template.problem(path: "src_ip", value: .string("2001:db8::1")) == nil)
        #expect(template.problem(path: "src_ip", value: .string("mail.example")) != nil)
        #expect(template.problem(path: "pcap_cnt", value: .string("42")) != nil)
        #expect(template.problem(path: "pcap_cnt", value: .bool(true)) != nil)
        #expect(template.problem(path: "timestamp", value: .string("2026-11-25 13:26:58")) != nil)
        #expect(template.problem(path: "no_such_field", value: .string("x")) != nil)
        #expect(template.problem(path: "stats.some_new_counter", value: .int(3)) == nil)
        #expect(template.problem(path: "stats.some_new_counter", value: .string("3")) != nil)
        #expect(template.problem(path: "stats.outputs.syslog.tls://192.0.2.5:6514.delivered", value: .int(3)) == nil)
        let misspelt = try IndexTemplate(data: Data(String(decoding: good, as: UTF8.self)
            .replacingOccurrences(of: #""pcap_cnt""#, with: #""pcap_count""#).utf8))
        #expect(misspelt.problem(path: "pcap_cnt", value: .int(42)) != nil)
        let pipeline = try IngestPipeline(data: Data(#"{"processors":[{"set":{"field":"source.ip","copy_from":"client_ip"}}]}"#.utf8))
        #expect(pipeline.steps.first?.sources == ["client_ip"] && template.leaves["client_ip"] == nil)
        #expect(SplunkTime.parse("2026-11-25T13:26:58.163930Z", format: "%Y-%m-%dT%H:%M:%S.%3NZ") == nil)
        #expect(SplunkTime.parse("2026-11-25T13:26:58.163930Z", format: "%Y-%m-%dT%H:%M:%S.%6NZ")?.text
                == "2026-11-25T13:26:58.163930Z")
    }
}

// MARK: - JSON values

/// A JSON value that keeps integers, booleans and strings apart (JSONSerialization's NSNumber
/// does not on every platform), which is what a mapping type is checked against.
indirect enum EventValue: Decodable, Equatable {
    case object([String: EventValue]), array([EventValue]), string(String), int(Int64), double(Double), bool(Bool), null

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([EventValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: EventValue].self)) }
    }

    subscript(key: String) -> EventValue? {
        if case .object(let o) = self { return o[key] } else { return nil }
    }

    /// The value at a dotted path, as Elasticsearch and Splunk name nested fields.
    func at(_ path: String) -> EventValue? {
        path.split(separator: ".").reduce(Optional(self)) { $0?[String($1)] }
    }

    /// Every path (objects included, for the "is it there" check) and every scalar under it; the
    /// elements of an array share the array's path, as in an Elasticsearch mapping.
    func walk(_ path: String = "", _ visit: (String, EventValue) -> Void) {
        switch self {
        case .object(let o):
            if !path.isEmpty { visit(path, self) }
            for (k, v) in o { v.walk(path.isEmpty ? k : "\(path).\(k)", visit) }
        case .array(let a):
            if a.isEmpty { visit(path, self) }
            for v in a { v.walk(path, visit) }
        default:
            visit(path, self)
        }
    }
}

// MARK: - the index template

struct IndexTemplate {
    /// Explicitly mapped leaf fields: dotted path -> type.
    var leaves: [String: String] = [:]
    /// Mapped objects: dotted path -> (indexed, dynamic).
    var objects: [String: (enabled: Bool, dynamic: Bool)] = [:]
    /// Dynamic templates that name a path: (path_match glob, JSON type they take, mapped type).
    var dynamicTemplates: [(pathMatch: String, jsonType: String, type: String)] = []
    var indexPatterns: [String] = []
    var defaultPipeline: String?

    init(file: URL) throws { try self.init(data: Data(contentsOf: file)) }

    init(data: Data) throws {
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        indexPatterns = root["index_patterns"] as? [String] ?? []
        let body = try #require(root["template"] as? [String: Any], "a composable template has a \"template\" body")
        let index = (body["settings"] as? [String: Any])?["index"] as? [String: Any]
        defaultPipeline = index?["default_pipeline"] as? String
        let mappings = try #require(body["mappings"] as? [String: Any])
        for entry in mappings["dynamic_templates"] as? [[String: Any]] ?? [] {
            for (_, spec) in entry {
                guard let spec = spec as? [String: Any], let glob = spec["path_match"] as? String,
                      let type = (spec["mapping"] as? [String: Any])?["type"] as? String else { continue }
                dynamicTemplates.append((glob, spec["match_mapping_type"] as? String ?? "*", type))
            }
        }
        collect(mappings["properties"] as? [String: Any] ?? [:], prefix: "")
    }

    private mutating func collect(_ properties: [String: Any], prefix: String) {
        for (name, spec) in properties {
            guard let spec = spec as? [String: Any] else { continue }
            let path = prefix + name
            let type = spec["type"] as? String ?? "object"
            if type == "object" || type == "nested" {
                objects[path] = (spec["enabled"] as? Bool ?? true, spec["dynamic"] as? Bool ?? false)
                collect(spec["properties"] as? [String: Any] ?? [:], prefix: path + ".")
            } else {
                leaves[path] = type
            }
        }
    }

    /// Why this value at this path would not be indexed as the template means, or nil.
    func problem(path: String, value: EventValue) -> String? {
        let isContainer: Bool
        switch value { case .object, .array: isContainer = true; default: isContainer = false }
        if let type = leaves[path] {
            if case .array = value { return nil }   // an empty array: nothing to index
            return Self.fits(value, type) ? nil : "\(value) does not fit \(type)"
        }
        if objects[path] != nil {
            return isContainer ? nil : "a scalar where the template maps an object"
        }
        // Under an object that is stored but not indexed (syslog target names hold dots and colons).
        if objects.contains(where: { !$0.value.enabled && path.hasPrefix($0.key + ".") }) { return nil }
        // Under a declared dynamic object, by a dynamic template for this path and JSON type.
        guard objects.contains(where: { $0.value.dynamic && path.hasPrefix($0.key + ".") }) else {
            return "not mapped"
        }
        if isContainer { return nil }   // a group of counters becomes an object
        let jsonType: String
        switch value {
        case .int: jsonType = "long"
        case .string: jsonType = "string"
        case .bool: jsonType = "boolean"
        case .double: jsonType = "double"
        default: jsonType = "null"
        }
        guard let rule = dynamicTemplates.first(where: { Self.glob($0.pathMatch, path) && ($0.jsonType == jsonType || $0.jsonType == "*") })
        else { return "\(jsonType) under a dynamic object, no dynamic template takes it" }
        return Self.fits(value, rule.type) ? nil : "\(value) does not fit \(rule.type)"
    }

    static func fits(_ value: EventValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("long", .int), ("boolean", .bool), ("keyword", .string): return true
        case ("ip", .string(let s)): return isIPLiteral(s)
        case ("date", .string(let s)): return SplunkTime.parse(s, format: "%Y-%m-%dT%H:%M:%S.%6NZ")?.text == s
        default: return false
        }
    }

    static func isIPLiteral(_ s: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }

    /// Elasticsearch's path_match: `*` matches any run of characters, dots included.
    static func glob(_ pattern: String, _ text: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { return pattern == text }
        guard text.hasPrefix(parts[0]) else { return false }
        var rest = text.dropFirst(parts[0].count)
        for (i, part) in parts.enumerated().dropFirst() {
            if i == parts.count - 1 { return part.isEmpty || rest.hasSuffix(part) }
            guard let r = rest.range(of: part) else { return false }
            rest = rest[r.upperBound...]
        }
        return true
    }
}

// MARK: - the ingest pipeline

struct IngestPipeline {
    struct Step: Equatable, CustomStringConvertible {
        var index: Int
        var kind: String
        var sources: [String]
        var targets: [String]
        /// The event type a `ctx.event_type == '...'` condition limits the step to.
        var eventType: String?
        /// ignore_empty_value / ignore_missing: a missing source is skipped, not an error.
        var optional: Bool
        var description: String { "processor \(index) (\(kind) \(targets.joined(separator: ",")))" }
    }

    var steps: [Step] = []
    var targets: Set<String> { Set(steps.flatMap(\.targets)) }

    init(file: URL) throws { try self.init(data: Data(contentsOf: file)) }

    init(data: Data) throws {
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let processors = try #require(root["processors"] as? [[String: Any]])
        for (i, processor) in processors.enumerated() {
            guard let (kind, any) = processor.first, let spec = any as? [String: Any] else { continue }
            var sources: [String] = [], targets: [String] = []
            let field = spec["field"] as? String
            switch kind {
            case "set":
                if let field { targets.append(field) }
                if let from = spec["copy_from"] as? String { sources.append(from) }
                if let value = spec["value"] as? String { sources += Self.mustacheFields(value) }
            case "copy":
                if let from = spec["source_field"] as? String { sources.append(from) }
                if let target = spec["target_field"] as? String { targets.append(target) }
            case "rename", "date", "convert":
                if let field { sources.append(field) }
                if let target = spec["target_field"] as? String { targets.append(target) }
            case "lowercase", "uppercase", "trim":
                if let field { sources.append(field) }
            default:
                if let field { sources.append(field) }
            }
            var eventType: String?
            if let condition = spec["if"] as? String,
               let r = condition.range(of: #"ctx\.event_type == '([a-z_]+)'"#, options: .regularExpression) {
                eventType = String(condition[r].dropFirst("ctx.event_type == '".count).dropLast())
            }
            let optional = spec["ignore_empty_value"] as? Bool ?? spec["ignore_missing"] as? Bool ?? false
            steps.append(Step(index: i, kind: kind, sources: sources, targets: targets, eventType: eventType, optional: optional))
        }
    }

    /// `{{{name}}}` and `{{name}}` in a template snippet.
    static func mustacheFields(_ s: String) -> [String] {
        var out: [String] = []
        var rest = Substring(s)
        while let open = rest.range(of: "{{") {
            let after = rest[open.upperBound...].drop { $0 == "{" }
            guard let close = after.range(of: "}}") else { break }
            out.append(String(after[..<close.lowerBound]).trimmingCharacters(in: .whitespaces))
            rest = after[close.upperBound...]
        }
        return out
    }
}

// MARK: - Splunk

/// Splunk's .conf files: `[stanza]` and `KEY = value` lines, `#` comments.
struct SplunkConf {
    var stanzas: [String: [String: String]] = [:]
    var text: String

    init(file: URL) throws {
        text = try String(contentsOf: file, encoding: .utf8)
        var current = ""
        for line in text.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("#") { continue }
            if t.hasPrefix("["), t.hasSuffix("]") { current = String(t.dropFirst().dropLast()); stanzas[current, default: [:]] = [:]; continue }
            guard let eq = t.firstIndex(of: "=") else { continue }
            stanzas[current, default: [:]][t[..<eq].trimmingCharacters(in: .whitespaces)] =
                t[t.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
    }

    /// The value of a setting shipped commented out (`# KEY... = value`).
    func commentedSetting(_ keyPrefix: String) -> String? {
        for line in text.split(separator: "\n") {
            let t = line.drop { $0 == "#" || $0 == " " }
            guard t.hasPrefix(keyPrefix), let eq = t.firstIndex(of: "=") else { continue }
            return t[t.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// `a AS b c AS d` of a FIELDALIAS.
    static func aliases(_ value: String) -> [(from: String, to: String)] {
        let words = value.split(separator: " ").map(String.init)
        return words.indices.compactMap { i in
            i + 2 < words.count && words[i + 1].uppercased() == "AS" ? (words[i], words[i + 2]) : nil
        }
    }

    /// `key = value` (TOML) or `key: value` (YAML) lines, comments skipped, first occurrence kept.
    static func assignments(_ text: String, separator: Character) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard !t.hasPrefix("#"), let sep = t.firstIndex(of: separator) else { continue }
            let key = t[..<sep].trimmingCharacters(in: .whitespaces)
            let value = t[t.index(after: sep)...].trimmingCharacters(in: .whitespaces)
            if out[key] == nil, !value.isEmpty { out[key] = value }
        }
        return out
    }
}

/// The subset of Splunk's strptime that TIME_FORMAT uses here: %Y %m %d %H %M %S, %<n>N (n
/// subsecond digits), and literal characters. Splunk reads only what the format names, so a
/// timestamp with more digits than %<n>N stops matching at the next literal.
struct SplunkTime: Equatable {
    var fields: [Character: Int] = [:]
    var subsecond = ""
    var text = ""

    static func parse(_ s: String, format: String) -> SplunkTime? {
        var out = SplunkTime()
        var input = Substring(s)
        var f = Substring(format)
        func digits(_ n: Int) -> Int? {
            let d = input.prefix(n)
            guard d.count == n, d.allSatisfy(\.isASCII), d.allSatisfy(\.isNumber), let v = Int(d) else { return nil }
            input = input.dropFirst(n)
            return v
        }
        while let c = f.first {
            f = f.dropFirst()
            guard c == "%" else {
                guard input.first == c else { return nil }
                input = input.dropFirst()
                continue
            }
            var width = 0
            while let w = f.first, let v = w.wholeNumberValue { width = width * 10 + v; f = f.dropFirst() }
            guard let code = f.first else { return nil }
            f = f.dropFirst()
            let ranges: [Character: (Int, ClosedRange<Int>)] = ["Y": (4, 1970...9999), "m": (2, 1...12), "d": (2, 1...31),
                                                               "H": (2, 0...23), "M": (2, 0...59), "S": (2, 0...60)]
            if code == "N" {
                let n = width == 0 ? 3 : width
                let d = input.prefix(n)
                guard digits(n) != nil else { return nil }
                out.subsecond = String(d)
            } else if let (n, range) = ranges[code] {
                guard let v = digits(n), range.contains(v) else { return nil }
                out.fields[code] = v
            } else {
                return nil
            }
        }
        out.text = String(s[..<input.startIndex])
        return out
    }
}
