import Alerts
import Engine
import MailAuth
import Reassembly
import Testing
import Wire

// The engine reports a login as a `FlowFinding`; the alert made from it must carry every field
// the engine knew, or the JSON would lose a key that SIEMs read.
@Suite struct FlowFindingTests {
    private func flow(midstream: Bool, overlap: Bool, v6: Bool) -> FlowInfo {
        var tags = VLANTags()
        tags.count = 2; tags.outer = 100; tags.inner = 4094
        var info = FlowInfo(id: 9, client: v6 ? clientV6 : clientV4, clientPort: 51234,
                            server: v6 ? serverV6 : serverV4, serverPort: 143, vlans: tags,
                            midstream: midstream, firstSeen: sampleTime, lastSeen: sampleTime, tunnel: 3)
        info.overlapConflict = overlap
        return info
    }

    @Test(arguments: [(false, false, false), (true, true, true), (true, false, true)])
    func everyFieldReachesTheAlert(midstream: Bool, overlap: Bool, v6: Bool) {
        var tunnel = Encapsulation()
        tunnel.outerSource = IPAddress(ipv4: 0xCB00_7101)        // 203.0.113.1
        tunnel.hasOuterAddresses = true
        let finding = makeFinding(outcome: .failure, starttls: .refused, afterGap: true)
        let found = FlowFinding(finding: finding, flow: flow(midstream: midstream, overlap: overlap, v6: v6),
                                flowID: 0xDEAD_BEEF, tunnel: tunnel, captureFile: "a.pcap", recordNumber: 42)
        let alert = Alert(found, communityIDSeed: 7)
        #expect(alert.finding == finding)
        #expect(alert.timestamp == sampleTime)
        #expect(alert.flowID == 0xDEAD_BEEF)
        #expect(alert.client == (v6 ? clientV6 : clientV4) && alert.clientPort == 51234)
        #expect(alert.server == (v6 ? serverV6 : serverV4) && alert.serverPort == 143)
        #expect(alert.vlans.count == 2 && alert.vlans.outer == 100 && alert.vlans.inner == 4094)
        #expect(alert.midstream == midstream)
        #expect(alert.overlapConflict == overlap)
        #expect(alert.tunnel == tunnel)
        #expect(alert.pcapFilename == "a.pcap" && alert.pcapCount == 42)
        #expect(alert.communityIDSeed == 7 && alert.communityID == nil)
    }

    @Test func unknownPacketGivesNoCaptureKeys() {
        let found = FlowFinding(finding: makeFinding(), flow: flow(midstream: false, overlap: false, v6: false), flowID: 1)
        let line = AlertRenderer().json(Alert(found, communityIDSeed: 0))
        #expect(!line.contains("pcap_cnt") && !line.contains("pcap_filename") && !line.contains("tunnel"))
        // The seed is the renderer's input: a different seed, a different id.
        let other = AlertRenderer().json(Alert(found, communityIDSeed: 1))
        #expect(line.contains("\"community_id\":\"1:") && line != other)
    }
}
