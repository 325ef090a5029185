// Flows on a registered implicit-TLS port (IMAPS 993, POP3S 995, submissions 465, ...) that
// open with a TLS handshake: counted for the inventory, never parsed (their bytes are ciphertext).

public enum ImplicitTLS {
    /// The protocol whose implicit-TLS port `serverPort` is, when the client's first bytes are a
    /// TLS handshake record; nil otherwise.
    public static func protocolOf(clientBytes bytes: Span<UInt8>, serverPort: UInt16) -> MailProtocol? {
        guard isTLSHandshake(bytes) else { return nil }
        return ProtocolRegistry.implicitTLSPorts[serverPort]
    }

    /// A TLS record header of content type handshake (22) and version 3.0 to 1.3 (`16 03 00..04`):
    /// how every ClientHello starts.
    public static func isTLSHandshake(_ bytes: Span<UInt8>) -> Bool {
        bytes.count >= 3 && bytes[0] == 0x16 && bytes[1] == 0x03 && bytes[2] <= 0x04
    }
}
