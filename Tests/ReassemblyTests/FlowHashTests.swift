import Testing
import Wire
@testable import Reassembly

/// `FlowTable.flowHash`: symmetric (both directions of a connection find the same bucket) and
/// seeded per table (no fixed function a sender could aim collisions at).
@Suite struct FlowHashTests {
    func packet(_ src: IPAddress, _ sp: UInt16, _ dst: IPAddress, _ dp: UInt16, vlans: VLANTags = VLANTags()) -> DecodedPacket {
        DecodedPacket(source: src, destination: dst, sourcePort: sp, destinationPort: dp, sequence: 1,
                      acknowledgment: 0, flags: [.syn], window: 1024, payloadStart: 0, payloadEnd: 0, vlans: vlans)
    }

    var samples: [(IPAddress, UInt16, IPAddress, UInt16, VLANTags)] {
        var tagged = VLANTags(); tagged.count = 2; tagged.outer = 100; tagged.inner = 7
        return [
            (IPAddress(ipv4: 0xC000_0201), 40000, IPAddress(ipv4: 0xC000_0202), 143, VLANTags()),
            (IPAddress(ipv4: 0xC633_6401), 25, IPAddress(ipv4: 0xCB00_7101), 25, VLANTags()),
            (IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 1), 51000, IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 2), 993, VLANTags()),
            (IPAddress(ipv4: 0xC000_0201), 110, IPAddress(ipv4: 0xC000_0201), 110, tagged),
        ]
    }

    @Test func bothDirectionsHashAlike() {
        let table = FlowTable(configuration: ReassemblyConfiguration())
        for (a, ap, b, bp, v) in samples {
            #expect(table.flowHash(packet(a, ap, b, bp, vlans: v)) == table.flowHash(packet(b, bp, a, ap, vlans: v)))
        }
    }

    @Test func tablesAreSeededApart() {
        let one = FlowTable(configuration: ReassemblyConfiguration())
        let other = FlowTable(configuration: ReassemblyConfiguration())
        let hashes = samples.map { one.flowHash(packet($0.0, $0.1, $0.2, $0.3, vlans: $0.4)) }
        let others = samples.map { other.flowHash(packet($0.0, $0.1, $0.2, $0.3, vlans: $0.4)) }
        // Equal for all four only if both tables drew the same 384 random bits.
        #expect(hashes != others)
    }

    @Test func everyKeyFieldMatters() {
        let table = FlowTable(configuration: ReassemblyConfiguration())
        let base = packet(IPAddress(ipv4: 0xC000_0201), 40000, IPAddress(ipv4: 0xC000_0202), 143)
        var variants = [base]
        var p = base; p.sourcePort = 40001; variants.append(p)
        p = base; p.destinationPort = 110; variants.append(p)
        p = base; p.source = IPAddress(ipv4: 0xC000_0203); variants.append(p)
        // The same numbers as IPv6 (::192.0.2.1 and ::192.0.2.2): only the version differs.
        p = base; p.source = IPAddress(ipv6High: 0, low: 0xC000_0201); p.destination = IPAddress(ipv6High: 0, low: 0xC000_0202)
        variants.append(p)
        p = base; p.vlans.count = 1; p.vlans.outer = 5; variants.append(p)
        let hashes = Set(variants.map { table.flowHash($0) })
        #expect(hashes.count == variants.count)
    }
}
