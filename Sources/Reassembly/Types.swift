import Wire

/// Which way a byte travelled, relative to the roles the flow table assigned.
public enum Direction: Sendable, Equatable, Hashable {
    case clientToServer, serverToClient

    /// The opposite direction.
    @inlinable public var reversed: Direction {
        self == .clientToServer ? .serverToClient : .clientToServer
    }

    @inlinable var index: Int { self == .clientToServer ? 0 : 1 }
}

/// What the flow table knows about one TCP connection. Copied by value into every callback.
public struct FlowInfo: Sendable {
    // Stored in this order (8-byte fields, the addresses, then the narrow ones) it takes 76 bytes
    // rather than 81, so that with the table's own fields a slot is 96 bytes (FlowTable.swift).

    /// 1, 2, 3... in creation order, so a replay always numbers flows the same way.
    public var id: UInt64
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp
    public var client: IPAddress
    public var clientPort: UInt16
    /// The encapsulation the flow's first packet arrived in (`DecodedPacket.tunnel`): 0 for none.
    /// (Declared here, it fills the padding before `server`: the info stays 76 bytes.)
    public var tunnel: UInt32 = 0
    public var server: IPAddress
    public var serverPort: UInt16
    public var vlans: VLANTags
    /// True when the capture started after the handshake and the roles were guessed from ports.
    public var midstream: Bool
    /// Two copies of the same stream bytes differed (a conflicting overlap) somewhere in this
    /// flow so far: the two ends may have seen different data (an evasion attempt, or damage).
    public var overlapConflict = false

    public init(id: UInt64, client: IPAddress, clientPort: UInt16, server: IPAddress, serverPort: UInt16,
                vlans: VLANTags, midstream: Bool, firstSeen: Timestamp, lastSeen: Timestamp, tunnel: UInt32 = 0) {
        self.id = id; self.client = client; self.clientPort = clientPort; self.tunnel = tunnel
        self.server = server; self.serverPort = serverPort; self.vlans = vlans
        self.midstream = midstream; self.firstSeen = firstSeen; self.lastSeen = lastSeen
    }
}

/// Why a flow left the table.
public enum CloseReason: String, Sendable, CaseIterable {
    /// Both directions reached their FIN in order.
    case finished
    /// A RST was seen.
    case reset
    /// No packet for `idleTimeout` (or `handshakeTimeout` before any payload), by packet time.
    case idle
    /// The table was full and this flow made room for a new one.
    case evicted
    /// A new SYN with a different ISN arrived on the same 5-tuple after the old connection carried data.
    case reused
    /// End of input (`flushAll`).
    case shutdown
}

/// Bounds and policy for the flow table. Defaults follow DESIGN.md ("Defaults worth knowing").
public struct ReassemblyConfiguration: Sendable {
    /// Flow slots, preallocated. Creating a flow when all are used evicts one.
    public var maxFlows = 65_536
    /// Nanoseconds of packet time without a packet before a flow that carried payload is closed.
    public var idleTimeout: Int64 = 300 * 1_000_000_000
    /// Nanoseconds of packet time before a flow that never carried payload is closed.
    public var handshakeTimeout: Int64 = 30 * 1_000_000_000
    /// Per-direction out-of-order window: buffered data must end within `next + windowBytes`.
    public var windowBytes = 65_536
    /// Most holes (separate buffered runs) per direction, as smoltcp's fixed contig array.
    public var maxHoles = 16
    /// Global cap on memory for out-of-order data across all flows (Suricata `stream.memcap`): the
    /// buffered bytes plus `runOverheadBytes` for each buffered run.
    public var memoryBudget = 64 * 1024 * 1024
    /// What each buffered run costs beyond its bytes (the array's header and the allocator's, the
    /// run's slot): charged to `memoryBudget`, so a flood of tiny segments, each its own run,
    /// cannot take several times the budget.
    public var runOverheadBytes = 64
    /// Pick up connections whose handshake was not captured.
    public var midstream = true
    /// Role hint for mid-stream pickup: the endpoint whose port satisfies this is the server.
    public var isServicePort: @Sendable (UInt16) -> Bool = { _ in false }
    /// Include the VLAN tags in the flow key (Suricata's `vlan.use-for-tracking`, on by default
    /// there too). Turn off where the two directions of a connection carry different tags.
    public var vlansInFlowKey = true
    /// How many slots the evictor inspects when the table is full.
    public var evictionProbe = 16
    /// Which copy of resent bytes the parser sees (docs/tcp-integrity.md). `first` by default
    /// until holding data for its ACK costs under 5% on every benchmark workload.
    public var streamPolicy = StreamPolicy.first
    /// Which RSTs end a flow (docs/tcp-integrity.md).
    public var resetPolicy = ResetPolicy.window

    public init() {}
}

/// Which copy of resent stream bytes reaches the consumer (docs/tcp-integrity.md).
public enum StreamPolicy: String, Sendable, CaseIterable {
    /// What the receiver acknowledged: in-order data is held (copied) until the peer's ACK covers
    /// it, and bytes not yet acknowledged are replaced by a later copy that differs; bytes already
    /// acknowledged (delivered) are never replaced. Holding stops once the flow's parser has seen
    /// a successful login or stopped (`FlowTable.settle`), so bulk mail traffic is not copied.
    case ack
    /// The first copy of every byte wins, delivered as soon as it is in order (no holding): the
    /// behaviour before the ACK policy, for captures whose ACKs cannot be trusted.
    case first
}

/// Which RSTs end a flow (docs/tcp-integrity.md).
public enum ResetPolicy: String, Sendable, CaseIterable {
    /// The RST's sequence number lies in the receiver's window as the sensor infers it: from the
    /// receiver's last ACK up to the end of what the sender sent plus the receiver's advertised
    /// (unscaled) window. RFC 793's test.
    case window
    /// RFC 5961's narrower test: the sequence number is exactly the receiver's last ACK (its
    /// RCV.NXT as the sensor saw it) or the end of what the sender sent.
    case exact
    /// Every RST ends its flow (the behaviour before the check).
    case any
}

/// The consumer of reassembled streams. `slot` is stable for the life of a flow and lies in
/// `0..<maxFlows`, so per-flow state can live in an array indexed by slot.
///
/// Callbacks run inside `FlowTable.process`/`flushAll`; they cannot call back into the table. A
/// handler that wants `stopBuffering` records the slot and calls it after `process` returns (and
/// ignores any data delivered for that slot in the meantime).
public protocol StreamHandler {
    mutating func flowStarted(slot: Int, info: FlowInfo)
    /// In-order bytes. The span is only valid during the call (it usually points into the frame).
    mutating func streamData(slot: Int, info: FlowInfo, direction: Direction, bytes: Span<UInt8>, time: Timestamp)
    /// The next `streamData` bytes were buffered (out of order, or held for their ACK) and came
    /// in the packet the capture numbers `number` (`FlowTable.packetNumber` when they arrived);
    /// called again with the current packet's number once they are delivered.
    mutating func bufferedBytes(fromPacket number: UInt64)
    /// `length` bytes of this direction were never seen; the next data follows them.
    mutating func streamGap(slot: Int, info: FlowInfo, direction: Direction, length: UInt64, time: Timestamp)
    /// FIN reached in order, RST, or the flow is being closed for another reason.
    mutating func streamEnded(slot: Int, info: FlowInfo, direction: Direction, time: Timestamp)
    /// The slot is reused after this returns.
    mutating func flowClosed(slot: Int, info: FlowInfo, reason: CloseReason, time: Timestamp)
}

extension StreamHandler {
    /// Handlers that do not say which packet carried bytes ignore it.
    public mutating func bufferedBytes(fromPacket number: UInt64) {}
}

/// Flows closed, by reason.
public struct FlowCloseCounts: Sendable, Equatable {
    public var finished = 0
    public var reset = 0
    public var idle = 0
    public var evicted = 0
    public var reused = 0
    public var shutdown = 0

    public init() {}

    public subscript(reason: CloseReason) -> Int {
        get {
            switch reason {
            case .finished: return finished
            case .reset: return reset
            case .idle: return idle
            case .evicted: return evicted
            case .reused: return reused
            case .shutdown: return shutdown
            }
        }
        set {
            switch reason {
            case .finished: finished = newValue
            case .reset: reset = newValue
            case .idle: idle = newValue
            case .evicted: evicted = newValue
            case .reused: reused = newValue
            case .shutdown: shutdown = newValue
            }
        }
    }

    public var total: Int { finished + reset + idle + evicted + reused + shutdown }
}

/// Counters kept by the flow table.
public struct ReassemblyStats: Sendable, Equatable {
    public var flowsCreated = 0
    public var flowsMidstream = 0
    public var flowsClosedByReason = FlowCloseCounts()
    /// Evictions that had to take a flow still carrying data (one that might yet have produced a
    /// finding): the table is too small for the traffic.
    public var evictedWithData = 0
    /// Packets that matched no flow and could not start one (pure ACK/FIN/RST, or data with
    /// mid-stream pickup off).
    public var packetsWithoutFlow = 0
    /// Segments that carried at least one byte already delivered or already buffered.
    public var retransmittedSegments = 0
    public var retransmittedBytes: UInt64 = 0
    /// Overlapping bytes that differ from the copy buffered (kept under `first`, replaced under `ack`).
    public var overlapConflictBytes: UInt64 = 0
    /// Segments resent with bytes that differ from an earlier copy of the same stream offsets:
    /// delivered (by digest, see `FlowTable.compareRetransmission`) or buffered (held for an ACK
    /// or beyond a hole). A segment counts once however many ranges it disagrees with.
    public var retransmissionConflicts: UInt64 = 0
    public var outOfOrderSegments = 0
    public var gaps = 0
    public var gapBytes: UInt64 = 0
    public var windowOverflows = 0
    public var holeLimitHits = 0
    public var memoryBudgetHits = 0
    public var peakBufferedBytes = 0
    public var bufferedBytes = 0
    /// Out-of-order runs held across all flows (each charged `runOverheadBytes`).
    public var bufferedRuns = 0
    /// Named stream anomalies (`reassembly.events.<name>` in the stats event).
    public var events = StreamEvents()

    public init() {}
}

/// Stream anomalies by name, in the manner of Suricata's stream events and Zeek's weirds: each is
/// counted once per occurrence (a segment, a RST, a flush), beside the byte counters above.
/// docs/tcp-integrity.md defines each; the `stats` event adds `ipv4_checksum_invalid` and
/// `tcp_checksum_invalid` from the engine's checksum gate (`ChecksumStats`).
public struct StreamEvents: Sendable, Equatable {
    /// Bytes not yet acknowledged were resent with other bytes and replaced (policy `ack`).
    public var unackedDataReplaced: UInt64 = 0
    /// Bytes held for an ACK were delivered without one: a cap was hit, the flow went idle or
    /// closed, or the capture ended (policy `ack`).
    public var unackedDataFlushed: UInt64 = 0
    /// Bytes already delivered (acknowledged, or first copies under `first`) were resent with
    /// other bytes; the delivered copy stands.
    public var retransmissionConflict: UInt64 = 0
    /// Buffered bytes beyond a hole were resent with other bytes and the buffered copy kept
    /// (policy `first`).
    public var overlapConflict: UInt64 = 0
    /// A RST whose sequence number the receiver would not accept: counted and ignored.
    public var rstOutOfWindow: UInt64 = 0
    /// A RST was accepted (the flow closed).
    public var rstAccepted: UInt64 = 0

    public init() {}

    /// Every event with its stats name, in a fixed order.
    public var named: [(name: String, count: UInt64)] {
        [("unacked_data_replaced", unackedDataReplaced), ("unacked_data_flushed", unackedDataFlushed),
         ("retransmission_conflict", retransmissionConflict), ("overlap_conflict", overlapConflict),
         ("rst_out_of_window", rstOutOfWindow), ("rst_accepted", rstAccepted)]
    }
}
