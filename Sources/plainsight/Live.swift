import ArgumentParser
import Alerts
import Capture
import Engine
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Live capture, start to finish: open the interface (once per worker) and the outputs as root, give
// up root, run each worker's capture loop on a thread of its own, and leave the rest to the
// supervisor on the main thread. Every problem before the first packet is one stderr line and a
// non-zero exit.

/// What -i and its options asked for; the outputs are described by `ReplayOptions`.
struct LiveOptions: Sendable {
    var interface: String
    var capture: LiveCaptureOptions
    /// -Z as given; nil means nobody when started as root.
    var relinquishTo: String?
    var statsIntervalSeconds: UInt32?
    /// --workers: capture threads, each with its own handle and engine (1 to 64).
    var workers = 1
}

/// The user root switches to when -Z is not given (as DESIGN.md and tcpdump's common builds do).
let defaultUnprivilegedUser = "nobody"

/// Captures on `live.interface` until SIGINT/SIGTERM or a capture error. Returns the exit status:
/// 0 stopped by a signal, 1 the interface could not be used or failed, or output was lost, 2 a
/// usage error (bad filter, unknown user, output not creatable).
func captureLive(_ live: LiveOptions, outputs: ReplayOptions, configuration: EngineConfiguration) -> Int32 {
    // Before anything can start a thread (an output's writer), so every thread inherits the mask.
    let signals = LiveSignals.block()

    // Who to become, looked up first: a typo in -Z must fail before the interface is touched.
    var account: UserAccount?
    do {
        if Privileges.isRoot {
            account = try Privileges.account(named: live.relinquishTo ?? defaultUnprivilegedUser)
        } else if let name = live.relinquishTo {
            _ = try Privileges.account(named: name)     // checked all the same; nothing to drop
        }
    } catch {
        reportProblem(error.message)
        return 2
    }

    // One handle per worker, each filtered, then joined into one fan-out group.
    var captures: [LiveCapture] = []
    for _ in 0..<max(1, live.workers) {
        do {
            captures.append(try LiveCapture(interface: live.interface, options: live.capture))
        } catch {
            reportProblem(error.message)
            return 1
        }
    }
    // The handles are alike: their warnings once.
    for warning in captures[0].warnings { reportProblem("warning: \(live.interface): \(warning)") }
    do {
        for capture in captures {
            if let expression = outputs.filterExpression {
                try capture.setFilter(expression)
            } else {
                // An optimisation only (the engine selects flows itself), as for files.
                try? capture.setFilter(CaptureFilter.defaultExpression(
                    anyPort: configuration.anyPort, ports: configuration.mailPorts, dlt: capture.dlt,
                    tunnelPorts: configuration.tunnels.enabled ? configuration.tunnels.udpPorts : [],
                    fragments: configuration.defragment != nil))
            }
        }
    } catch {
        reportProblem(error.message)
        return 2
    }
    var fanout: FanoutGroup?
    if captures.count > 1 {
        do {
            let group = try captures[0].createFanoutGroup()
            for capture in captures.dropFirst() { try capture.joinFanout(group) }
            // Until the last handle joined, each one got every packet: none of that may reach two
            // workers. Capture starts now, with the group complete.
            for capture in captures { capture.discardQueued() }
            fanout = group
        } catch {
            reportProblem(error.message)
            return 1
        }
    }

    // Every output (the -o file, syslog connections, report files) is opened while still root.
    var inventorySettings = outputs.inventory
    inventorySettings.live = true
    guard let inventory = InventoryRun.open(inventorySettings) else { return 2 }
    let pipeline: AlertPipeline
    switch openAlertSink(outputs) {
    case .success(let opened): pipeline = opened
    case .failure(let error):
        reportProblem(error.message)
        return 2
    }

    // Everything privileged is open: give root up before the first packet is read.
    var runningAs = Privileges.isRoot ? "root" : "uid \(Privileges.currentUser.effective)"
    if let account {
        if account.uid == 0 {
            reportProblem("warning: -Z \(account.name): capturing as root; a parser bug would run with every privilege")
        } else {
            do {
                try Privileges.drop(to: account)
            } catch {
                reportProblem(error.message)
                return 1
            }
        }
        runningAs = account.name
    }
    // The first report, written by the user that writes every refresh: a directory it cannot
    // write to is an error now, not at the first refresh.
    guard inventory.writeInitialReports(user: runningAs) else { return 2 }

    let rendezvous = StatsRendezvous(workers: captures.count)
    let workers = captures.enumerated().map { index, capture in
        LiveWorker(index: index, of: captures.count, capture: capture, outputs: pipeline, inventory: inventory,
                   configuration: configuration, communityIDSeed: outputs.communityIDSeed, rendezvous: rendezvous)
    }
    if !outputs.quiet {
        var line = "plainsight: listening on \(escaped(live.interface)), link-type \(captures[0].linkTypeName), "
            + "snapshot length \(live.capture.snapshotLength) bytes, running as \(escaped(runningAs))"
        if let fanout { line += ", \(captures.count) workers (fan-out group \(fanout.id))" }
        writeStandardError(line + "\n")
    }
    var threads: [CaptureThread] = []
    for worker in workers {
        do {
            threads.append(try CaptureThread { worker.run() })
        } catch {
            reportProblem(error.description)
            for started in workers.prefix(threads.count) {
                started.control.post(.stop)
                started.breaker.breakLoop()
            }
            for thread in threads { thread.join() }
            return 1
        }
    }
    let supervisor = LiveSupervisor(workers: workers, outputs: pipeline, inventory: inventory, rendezvous: rendezvous,
                                    interface: live.interface, json: outputs.json, quiet: outputs.quiet,
                                    statsInterval: live.statsIntervalSeconds.map { UInt64($0) * 1_000_000_000 })
    return supervisor.run(signals: signals, threads: threads)
}

/// `plainsight -D`: one interface a line, numbered like tcpdump's list.
func printInterfaces() -> Int32 {
    let interfaces: [CaptureInterface]
    do {
        interfaces = try LiveCapture.interfaces()
    } catch {
        reportProblem(error.message)
        return 1
    }
    guard !interfaces.isEmpty else {
        reportProblem("no interfaces to capture on (as a user without cap_net_raw, libpcap may list none)")
        return 1
    }
    let output = FileOutput.standardOutput()
    for (index, interface) in interfaces.enumerated() {
        var flags: [String] = []
        if interface.isUp { flags.append("Up") }
        if interface.isRunning { flags.append("Running") }
        if interface.isLoopback { flags.append("Loopback") }
        var line = "\(index + 1).\(escaped(interface.name))"
        if let description = interface.description, !description.isEmpty { line += " (\(escaped(description)))" }
        if !flags.isEmpty { line += " [" + flags.joined(separator: ", ") + "]" }
        output.writeLine { $0.append(contentsOf: line.utf8) }
    }
    guard output.close() else {
        reportProblem(output.failure?.message ?? "cannot write to standard output")
        return 1
    }
    return 0
}

/// tcpdump's `-i N`: a number that is not the name of an interface is the Nth interface of -D's
/// list (1 for the first), so `-D` then `-i 3` captures where tcpdump would. Any other name is
/// returned as given (libpcap reports one that does not exist when it is opened).
func interfaceByNumber(_ given: String) throws -> String {
    guard !given.isEmpty, given.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return given }
    guard let interfaces = try? LiveCapture.interfaces() else { return given }
    if interfaces.contains(where: { $0.name == given }) { return given }
    guard let number = Int(given), number >= 1, number <= interfaces.count else {
        throw ValidationError("-i \(given): there is no interface \(given) (-D lists \(interfaces.count), numbered from 1)")
    }
    return interfaces[number - 1].name
}
