import Foundation
import Testing
@testable import Reassembly
import Wire

/// The file `scripts/bench layout` asks the sizes to be written to; nil in an ordinary test run.
private let layoutReportPath: String? = ProcessInfo.processInfo.environment["PLAINSIGHT_LAYOUT_REPORT"]

/// The sizes of the records kept per flow and per packet, which are laid out for the cache
/// (HalfStream.swift, FlowTable.swift, Types.swift), written for `scripts/bench layout`: it
/// compares them with the figures recorded in scripts/bench.d/layout.recorded and says which grew.
/// A new field is a cost to weigh in the bench, so no unit test pins these sizes.
@Test(.enabled(if: layoutReportPath != nil, "run by scripts/bench layout, which sets PLAINSIGHT_LAYOUT_REPORT"))
func packetPathLayout() throws {
    let path = try #require(layoutReportPath)
    let figures = [
        "HalfStream stride \(MemoryLayout<HalfStream>.stride)",
        "FlowInfo size \(MemoryLayout<FlowInfo>.size)",
        "DecodedPacket stride \(MemoryLayout<DecodedPacket>.stride)",
        "FlowEntry stride \(MemoryLayout<FlowEntry>.stride)",
    ]
    try (figures.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
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
