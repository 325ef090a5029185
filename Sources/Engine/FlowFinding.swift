// What the engine reports for each login: the parser's finding placed in its flow. The outputs
// (Alerts) turn it into an alert; the engine knows nothing of how alerts are written.
import MailAuth
import Reassembly
import Wire

public struct FlowFinding: Sendable {
    public var finding: Finding
    /// The flow as the flow table knows it when the finding is reported: endpoints (`client`
    /// sent the credentials), VLANs, whether it was picked up mid-stream, whether a conflicting
    /// overlap was seen in it so far.
    public var flow: FlowInfo
    /// The flow's id in the outputs (`flow_id`): `flow.id`, or mixed with a per-engine key
    /// (`EngineConfiguration.uniqueFlowIDs`).
    public var flowID: UInt64
    /// The encapsulations the flow arrived in, nil for none.
    public var tunnel: Encapsulation?
    /// The capture file that held the packet completing the login, as named to
    /// `Engine.beginCaptureFile`; nil for live capture and standard input.
    public var captureFile: String?
    /// That packet's record number in its file, from 1; nil when unknown (live capture, bytes
    /// handed over at a flow's end).
    public var recordNumber: UInt64?

    @inlinable
    public init(finding: Finding, flow: FlowInfo, flowID: UInt64, tunnel: Encapsulation? = nil,
                captureFile: String? = nil, recordNumber: UInt64? = nil) {
        self.finding = finding; self.flow = flow; self.flowID = flowID; self.tunnel = tunnel
        self.captureFile = captureFile; self.recordNumber = recordNumber
    }
}
