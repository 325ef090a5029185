import MailAuth

// Lists in the --help sentences, read from the protocol registry and the engine's port sets, so
// a protocol or port added there shows up in the help without editing it.

/// "POP3, IMAP and SMTP": the registered protocols, in the registry's order.
let protocolNamesInProse = inProse(ProtocolRegistry.all.map(\.displayName))

/// "25, 110, 143, 587 and 2525": `ports` ascending.
func portsInProse(_ ports: some Sequence<UInt16>) -> String {
    inProse(ports.sorted().map(String.init))
}

/// "a", "a and b", "a, b and c".
private func inProse(_ items: [String]) -> String {
    guard items.count > 1, let last = items.last else { return items.first ?? "" }
    return items.dropLast().joined(separator: ", ") + " and " + last
}
