import Alerts
import ArgumentParser
import Engine
import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// What links plainsight's output to what came before it and to other tools (issue 19): -o appends
// unless told otherwise and marks each start in the file, an output never overwrites an input, and
// the Community ID seed. Kept out of Plainsight.swift so its hooks there stay one line each.

struct OutputOptions: ParsableArguments {
    @Flag(name: .customLong("truncate-output"),
          help: "Empty the -o file at start instead of appending to it (the default, as Suricata's eve.json: a restart keeps the alerts written before it).")
    var truncateOutput = false

    @Option(name: .customLong("community-id-seed"),
            help: ArgumentHelp("Seed of the Community ID v1 flow hash written as community_id in every alert and server_exposure event, 0 to 65535; it must match the seed of the tools the alerts are joined with (default: 0, theirs too).",
                               valueName: "N"))
    var communityIDSeedValues: [Int] = []
    var communityIDSeed: Int { communityIDSeedValues.last ?? 0 }

    func validate() throws {
        if let error = repeatedOptionError([("--community-id-seed", communityIDSeedValues.count)]) { throw error }
        guard (0...65_535).contains(communityIDSeed) else {
            throw ValidationError("--community-id-seed \(communityIDSeed): give 0 to 65535")
        }
    }

    func apply(to options: inout ReplayOptions, configuration: inout EngineConfiguration) {
        options.truncateOutput = truncateOutput
        options.communityIDSeed = UInt16(communityIDSeed)
        options.inventory.communityIDSeed = UInt16(communityIDSeed)
        options.commandWords = Array(CommandLine.arguments.dropFirst())
    }
}

/// Refuses an output that would overwrite (or append to) one of the capture files read: the same
/// file by device and inode when both exist, else the same absolute path after resolving the
/// directory's symbolic links (an output not created yet). Standard input and output are exempt.
func checkOutputsAreNotInputs(inputs: [String], outputs: [(option: String, path: String)]) throws {
    for (option, output) in outputs where output != "-" {
        for input in inputs where input != "-" && sameFile(input, output) {
            throw ValidationError("\(option) \(escaped(output)) is the capture file read with -r \(escaped(input)): "
                                  + "writing to it would destroy it; choose another output file")
        }
    }
}

/// Whether two paths name one file (see `checkOutputsAreNotInputs`).
func sameFile(_ a: String, _ b: String) -> Bool {
    var sa = stat(), sb = stat()
    if stat(a, &sa) == 0 && stat(b, &sb) == 0 { return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino }
    guard let ra = resolvedPath(a), let rb = resolvedPath(b) else { return false }
    return ra == rb
}

/// `path` made absolute with its directory resolved (`realpath` of the directory, which exists
/// even when the file does not yet), the last component as given.
func resolvedPath(_ path: String) -> String? {
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    guard !name.isEmpty, let resolved = realpath(directory, nil) else { return nil }
    defer { free(resolved) }
    let base = String(cString: resolved)
    return (base == "/" ? "" : base) + "/" + name
}

/// The line that opens each run's output in an -o file: the `start` event with --json, else a
/// `#` comment line for the text output. Only the options' names and the capture inputs are
/// written, never option values (a syslog target can hold credentials, a key file's path is no
/// one's business).
func startMarker(_ options: ReplayOptions, interface: String?,
                 time: Timestamp = Timestamp(nanoseconds: wallClockNow().nanoseconds)) -> [UInt8] {
    let names = optionNames(options.commandWords)
    var out: [UInt8] = []
    if options.json {
        out.append(contentsOf: #"{"timestamp":""#.utf8)
        time.appendRFC3339(to: &out)
        out.append(contentsOf: #"","event_type":"start","start":{"version":""#.utf8)
        OutputEscaping.append(plainsightVersion.utf8, to: &out)
        out.append(contentsOf: #"","pid":"#.utf8)
        out.append(contentsOf: String(getpid()).utf8)
        out.append(contentsOf: #","hostname":""#.utf8)
        OutputEscaping.append(localHostName().utf8, to: &out)
        out.append(contentsOf: #"","mode":""#.utf8)
        out.append(contentsOf: (interface == nil ? "replay" : "live").utf8)
        out.append(0x22)
        if let interface {
            out.append(contentsOf: #","interface":""#.utf8)
            OutputEscaping.append(interface.utf8, to: &out)
            out.append(0x22)
        } else {
            out.append(contentsOf: #","inputs":"#.utf8)
            appendStrings(options.inputs, to: &out)
        }
        out.append(contentsOf: #","options":"#.utf8)
        appendStrings(names, to: &out)
        out.append(contentsOf: #","output_mode":""#.utf8)
        out.append(contentsOf: (options.truncateOutput ? "truncate" : "append").utf8)
        out.append(contentsOf: #""}"#.utf8)
        if options.sensor != "-" {
            out.append(contentsOf: #","host":""#.utf8)
            OutputEscaping.append(options.sensor.utf8, to: &out)
            out.append(0x22)
        }
        out.append(0x7D)
    } else {
        out.append(contentsOf: "# ".utf8)
        time.appendRFC3339(to: &out)
        out.append(contentsOf: " plainsight ".utf8)
        OutputEscaping.append(plainsightVersion.utf8, to: &out)
        out.append(contentsOf: " started on ".utf8)
        OutputEscaping.append(localHostName().utf8, to: &out)
        out.append(contentsOf: " pid ".utf8)
        out.append(contentsOf: String(getpid()).utf8)
        if let interface {
            out.append(contentsOf: " interface ".utf8)
            OutputEscaping.append(interface.utf8, to: &out)
        } else {
            out.append(contentsOf: " inputs ".utf8)
            OutputEscaping.append(options.inputs.joined(separator: " ").utf8, to: &out)
        }
        out.append(contentsOf: " options ".utf8)
        OutputEscaping.append(names.joined(separator: " ").utf8, to: &out)
    }
    return out
}

/// The option names among the command's words (`--syslog=udp://...` gives `--syslog`); values
/// and the filter expression are left out.
func optionNames(_ words: [String]) -> [String] {
    var names: [String] = []
    for word in words where word.hasPrefix("-") && word != "-" && word != "--" {
        let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
        if !names.contains(name) { names.append(name) }
    }
    return names
}

private func appendStrings(_ list: [String], to out: inout [UInt8]) {
    out.append(0x5B)
    for (index, item) in list.enumerated() {
        if index > 0 { out.append(0x2C) }
        out.append(0x22)
        OutputEscaping.append(item.utf8, to: &out)
        out.append(0x22)
    }
    out.append(0x5D)
}
