import Testing
@testable import Reassembly
import Wire

/// The table's per-slot state is laid out for the cache (HalfStream.swift, SlotArray.swift):
/// a field added in the wrong place would silently cost a line per flow.
@Test func halfStreamFillsOneCacheLine() {
    #expect(MemoryLayout<HalfStream>.stride == 64)
}

@Test func slotArrayStorageIsCacheLineAligned() {
    let halves = SlotArray<HalfStream>(capacity: 3)
    #expect(UInt(bitPattern: halves.baseAddress) % 64 == 0)
    halves.append(HalfStream())
    halves.append(HalfStream())
    halves[1].next = 42
    #expect(halves.count == 2 && halves[1].next == 42 && halves[0].next == 0)
}

@Test func lastDeliveredRangeRoundTrips() {
    var half = HalfStream()
    #expect(half.lastDeliveredStart == -1 && half.lastDeliveredEnd == -1)
    half.noteDelivered(start: 1_000_000_000_000, end: 1_000_000_001_448, digest: 7)
    #expect(half.lastDeliveredStart == 1_000_000_000_000 && half.lastDeliveredEnd == 1_000_000_001_448)
    #expect(half.lastDeliveredDigest == 7)
}

@Test func flowEntryIsNinetySixBytes() {
    #expect(MemoryLayout<FlowInfo>.size == 76)
    #expect(MemoryLayout<DecodedPacket>.stride == 88)
    #expect(MemoryLayout<FlowEntry>.stride == 96)
}
