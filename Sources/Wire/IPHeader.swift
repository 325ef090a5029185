// What the IP layers hand to TCP: addresses and where the transport header and the IP packet lie.

struct IPHeader {
    var source: IPAddress
    var destination: IPAddress
    /// Offset of the TCP header in the frame.
    var transportOffset: Int
    /// Offset one past the IP packet as its length field declares; may exceed the captured frame,
    /// which TCP decoding turns into a truncation only after its own header is accounted for.
    var end: Int
    /// The layer blamed when the payload is cut by the snaplen.
    var layer: DecodeLayer
}

enum IPResult {
    case tcp(IPHeader)
    case skipped(SkipReason)
}
