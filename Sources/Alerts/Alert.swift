import Engine
import Reassembly
import MailAuth
import Wire

/// A finding placed in its flow: endpoints, VLANs, flow id. `src` is the client, `dest` the server.
public struct Alert: Sendable {
    public var timestamp: Timestamp
    public var flowID: UInt64
    public var client: IPAddress
    public var clientPort: UInt16
    public var server: IPAddress
    public var serverPort: UInt16
    public var vlans: VLANTags
    public var finding: Finding
    /// The flow was picked up after its handshake (capture started mid-session).
    public var midstream: Bool
    /// Conflicting overlapping TCP segments (the same bytes sent twice, differently) were seen in
    /// the flow before this alert: the client and server may have seen different data.
    public var overlapConflict: Bool
    /// The encapsulations the flow arrived in (a mirror feed's tunnel), nil for none.
    public var tunnel: Encapsulation?
    /// The capture file (`-r`) that held the packet that completed the login, as named on the
    /// command line; nil for live capture and standard input.
    public var pcapFilename: String?
    /// That packet's number in its file, from 1, counting every record (tshark's `frame.number`);
    /// nil for live capture.
    public var pcapCount: UInt64?
    /// The flow's Community ID v1 (`CommunityID`), of the innermost connection for a tunnelled one.
    public var communityID: String?
    /// The seed for a Community ID computed from the alert's connection as it is rendered, when
    /// `communityID` is nil: the engine leaves the hashing to the output's thread, so a capture
    /// full of logins does not wait for it, and no String is made for it.
    public var communityIDSeed: UInt16?

    public init(timestamp: Timestamp, flowID: UInt64, client: IPAddress, clientPort: UInt16,
                server: IPAddress, serverPort: UInt16, vlans: VLANTags, finding: Finding, midstream: Bool,
                overlapConflict: Bool = false, tunnel: Encapsulation? = nil) {
        self.overlapConflict = overlapConflict
        self.tunnel = tunnel
        self.timestamp = timestamp; self.flowID = flowID
        self.client = client; self.clientPort = clientPort
        self.server = server; self.serverPort = serverPort
        self.vlans = vlans; self.finding = finding; self.midstream = midstream
    }
}

extension Alert {
    /// The alert for a login the engine reported. `communityIDSeed`: the seed its
    /// `community_id` is computed with when it is rendered (`--community-id-seed`).
    @inlinable
    public init(_ found: consuming FlowFinding, communityIDSeed: UInt16) {
        // Field by field rather than through the memberwise initialiser: the finding's
        // strings move into the alert instead of being copied and released.
        let flow = found.flow
        timestamp = Timestamp(nanoseconds: found.finding.timeNanoseconds)
        flowID = found.flowID
        client = flow.client; clientPort = flow.clientPort
        server = flow.server; serverPort = flow.serverPort
        vlans = flow.vlans; midstream = flow.midstream; overlapConflict = flow.overlapConflict
        tunnel = found.tunnel
        pcapFilename = found.captureFile
        pcapCount = found.recordNumber
        self.communityIDSeed = communityIDSeed
        finding = found.finding
    }
}
