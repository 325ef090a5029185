import Engine
import Foundation
import TestSupport
import Testing
import Wire

// `--checksum-validation` on the generated decoy fixtures and on a recorded login rewritten as
// checksum offload and as an edited capture would leave it (docs/tcp-integrity.md).

/// Every record of a little-endian classic pcap of untagged Ethernet/IPv4/TCP frames, rewritten
/// by `change` (given the frame and where its IP header starts).
func rewritingFrames(_ pcap: [UInt8], _ change: (inout [UInt8], Int) -> Void) -> [UInt8] {
    var out = Array(pcap[0 ..< 24])
    var offset = 24
    while offset + 16 <= pcap.count {
        let length = Int(ClassicPcap.u32(pcap, offset + 8))
        var frame = Array(pcap[offset + 16 ..< offset + 16 + length])
        if frame.count >= 34 && frame[12] == 0x08 && frame[13] == 0x00 && frame[14 + 9] == 6 { change(&frame, 14) }
        out += pcap[offset ..< offset + 16] + frame
        offset += 16 + length
    }
    return out
}

/// The TCP checksum field of the IPv4 packet at `ip` in `frame`, and the sum Linux leaves there
/// under checksum offload (CHECKSUM_PARTIAL: the pseudo-header sum, not complemented).
func tcpChecksumOffset(_ frame: [UInt8], ip: Int) -> Int { ip + Int(frame[ip] & 0x0F) * 4 + 16 }

func partialChecksum(_ frame: [UInt8], ip: Int) -> UInt16 {
    let total = Int(frame[ip + 2]) << 8 | Int(frame[ip + 3])
    let tcpLength = total - Int(frame[ip] & 0x0F) * 4
    return ~(~referencePseudoSum(Array(frame[ip + 12 ..< ip + 20]) + [0, 6, UInt8(tcpLength >> 8), UInt8(tcpLength & 0xFF)]))
}

func referencePseudoSum(_ bytes: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    for i in stride(from: 0, to: bytes.count, by: 2) { sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]) }
    while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
    return UInt16(sum)
}

func replay(_ bytes: [UInt8], mode: ChecksumValidation, vlansInKey: Bool = true) -> InProcessResult {
    var configuration = smallEngineConfiguration()
    configuration.checksumValidation = mode
    configuration.reassembly.vlansInFlowKey = vlansInKey
    return replayInProcess(bytes, configuration: configuration)
}

func usernames(_ result: InProcessResult) -> [String] {
    result.alerts.map { String(decoding: $0.finding.username ?? [], as: UTF8.self) }
}

@Suite struct ChecksumModeTests {
    static let client: [UInt8] = [192, 0, 2, 1]

    @Test(arguments: ["cksum-tcp-decoy-imap-login.pcap", "cksum-ipv4-decoy-imap-login.pcap"])
    func decoyIsNeverRead(_ name: String) throws {
        let bytes = try fixtureBytes(name)
        for mode in [ChecksumValidation.auto, .on] {
            let result = replay(bytes, mode: mode)
            #expect(usernames(result) == ["bob"], "\(mode)")
            let c = try #require(result.stats?.checksums)
            #expect(c.mode == mode)
            if name.contains("tcp") {
                #expect(c.tcpInvalid == 1 && c.ipv4Invalid == 0, "\(mode)")
            } else {
                #expect(c.ipv4Invalid == 1 && c.tcpInvalid == 0, "\(mode)")
            }
            #expect(c.acceptedOnAck == 0 && !c.disabledByOffload)
        }
        // Unverified, the decoy is still never acknowledged: the ACK policy lets the real LOGIN,
        // sent again at the same sequence numbers, replace it.
        var acked = smallEngineConfiguration()
        acked.checksumValidation = .off
        acked.reassembly.streamPolicy = .ack
        let off = replayInProcess(bytes, configuration: acked)
        #expect(usernames(off) == ["bob"])
        #expect(off.stats?.checksums.tcpInvalid == 0 && off.stats?.checksums.ipv4Invalid == 0)
        // Unverified and first-copy-wins (the behaviour before issue 17): the decoy is read.
        var configuration = smallEngineConfiguration()
        configuration.checksumValidation = .off
        configuration.reassembly.streamPolicy = .first
        #expect(usernames(replayInProcess(bytes, configuration: configuration)) == ["mallory"])
    }

    /// The client's packets as captured on a client with checksum offload: the pseudo-header sum
    /// (or 0) in every TCP checksum field, and 0 in the IPv4 header checksum with `ipv4Zero`.
    static func offloaded(_ pcap: [UInt8], zero: Bool, ipv4Zero: Bool) -> [UInt8] {
        rewritingFrames(pcap) { frame, ip in
            guard Array(frame[ip + 12 ..< ip + 16]) == client else { return }
            let at = tcpChecksumOffset(frame, ip: ip)
            let value = zero ? 0 : partialChecksum(frame, ip: ip)
            frame[at] = UInt8(value >> 8); frame[at + 1] = UInt8(value & 0xFF)
            if ipv4Zero { frame[ip + 10] = 0; frame[ip + 11] = 0 }
        }
    }

    @Test(arguments: [(false, false), (true, false), (false, true)])
    func offloadIsConfirmedByAcknowledgements(_ zero: Bool, _ ipv4Zero: Bool) throws {
        let bytes = Self.offloaded(try fixtureBytes("imap-login-quoted.pcap"), zero: zero, ipv4Zero: ipv4Zero)
        let auto = replay(bytes, mode: .auto)
        #expect(usernames(auto) == ["bob"])
        #expect(auto.alerts.first?.finding.outcome == .success)
        let c = try #require(auto.stats?.checksums)
        #expect(c.acceptedOnAck >= 3 && c.disabledByOffload)
        // Before the switch, the client's bare ACKs were dropped; none since.
        #expect(c.tcpInvalid < 4)
        // `on` drops every client packet: no handshake, no login.
        let on = replay(bytes, mode: .on)
        #expect(on.alerts.isEmpty)
        #expect((on.stats?.checksums.tcpInvalid ?? 0) > 5)
        #expect(usernames(replay(bytes, mode: .off)) == ["bob"])
    }

    @Test func anEditedLoginIsReadOnceAcknowledged() throws {
        // As in the corpus's sv-smtp-587.pcap: only the segment that carries the login has a wrong
        // sum (the capture was edited); the server acknowledged it.
        let bytes = rewritingFrames(try fixtureBytes("imap-login-quoted.pcap")) { frame, ip in
            let payload = tcpChecksumOffset(frame, ip: ip) - 16 + Int(frame[tcpChecksumOffset(frame, ip: ip) - 4] >> 4) * 4
            guard String(decoding: frame[payload...], as: UTF8.self).contains(" LOGIN ") else { return }
            frame[tcpChecksumOffset(frame, ip: ip)] ^= 0x11
        }
        let auto = replay(bytes, mode: .auto)
        #expect(usernames(auto) == ["bob"])
        #expect(auto.alerts.first?.finding.outcome == .success)
        #expect(auto.stats?.checksums.acceptedOnAck == 1 && auto.stats?.checksums.disabledByOffload == false)
        let on = replay(bytes, mode: .on)
        // Dropped, the LOGIN is a hole the server's ACK passes: a gap, no login.
        #expect(on.alerts.isEmpty)
        #expect(on.stats?.checksums.tcpInvalid == 1)
    }

    @Test func aSpoofedResetWithABadSumEndsNothing() throws {
        // A RST from the server right after the greeting, with a wrong sum: dropped, the login
        // after it is read in the same flow.
        var pcap = try fixtureBytes("imap-login-quoted.pcap")
        var rst: [UInt8] = []
        var recordHeader: [UInt8] = []
        var offset = 24, index = 0
        while offset + 16 <= pcap.count {
            let length = Int(ClassicPcap.u32(pcap, offset + 8))
            if index == 3 {
                // The fourth record (the server's greeting): its headers, as a RST without payload.
                recordHeader = Array(pcap[offset ..< offset + 16])
                var frame = Array(pcap[offset + 16 ..< offset + 16 + 54])
                frame[14 + 2] = 0; frame[14 + 3] = 40
                frame[14 + 20 + 13] = 0x14
                frame[14 + 20 + 12] = 0x50
                frame[14 + 20 + 16] ^= 0xFF
                frame[14 + 10] = 0; frame[14 + 11] = 0
                let sum = ~referencePseudoSum(Array(frame[14 ..< 34]))
                frame[14 + 10] = UInt8(sum >> 8); frame[14 + 11] = UInt8(sum & 0xFF)
                rst = frame
                recordHeader.replaceSubrange(8 ..< 16, with: ClassicPcap.le32(54) + ClassicPcap.le32(54))
                pcap.insert(contentsOf: recordHeader + rst, at: offset + 16 + length)
                break
            }
            offset += 16 + length
            index += 1
        }
        #expect(!rst.isEmpty)
        let result = replay(pcap, mode: .auto)
        #expect(usernames(result) == ["bob"])
        #expect(result.stats?.reassembly.flowsClosedByReason[.reset] == 0)
        #expect(result.stats?.checksums.tcpInvalid == 1)
    }

    @Test func routedSpanIsOneFlowWithoutVLANsInTheKey() throws {
        let bytes = try fixtureBytes("vlan-routed-dup-imap-login.pcap")
        let keyed = replay(bytes, mode: .auto)
        #expect(usernames(keyed) == ["bob", "bob"])
        #expect(Set(keyed.alerts.map { $0.vlans.ids }) == [[10], [20]])
        let merged = replay(bytes, mode: .auto, vlansInKey: false)
        #expect(usernames(merged) == ["bob"])
        #expect(merged.alerts.first?.vlans.ids == [10])
        #expect(merged.alerts.first?.finding.outcome == .success)
        #expect(merged.stats?.reassembly.flowsCreated == 1)
    }
}
