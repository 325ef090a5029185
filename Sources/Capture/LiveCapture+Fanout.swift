import CPcap
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// `--workers N`: N handles on one interface, joined into one Linux PACKET_FANOUT group so the
// kernel hands each packet to exactly one of them.
//
// Mode: PACKET_FANOUT_HASH. Since kernel commit eb70db875671 (2016) it picks the socket from
// `__skb_get_hash_symmetric`: a software flow dissection of every packet, whatever hash the NIC
// supplied, with the two addresses and the two ports put in a fixed order first, so both
// directions of a TCP connection reach the same handle, which per-worker reassembly needs. (Before
// it, `skb_get_hash`, often the NIC's RSS hash, not symmetric.) Until commit a5e2151ff9d5 (2023,
// in the 5.10, 5.15 and 6.1 stable series) the dissection stopped at a non-zero IPv6 flow label,
// before the ports: an IPv6 connection whose one side sends flow label 0 and the other does not
// could hash apart there. Checked here on 6.18 with 200 such connections: none split.
// PACKET_FANOUT_CPU follows the CPU that took the packet in (all on one socket over a veth pair);
// PACKET_FANOUT_LB splits every flow. FLAG_DEFRAG reassembles IP fragments before hashing: a
// fragment has no ports, so a flow's fragmented and whole packets would otherwise hash apart.
// FLAG_ROLLOVER is never set: moving a flow to a less busy socket would split it.
//
// The group id is chosen by the kernel (FLAG_UNIQUEID), not derived from the process id: group ids
// are per network namespace, and a socket asking for an id that another process's group already
// uses with the same mode silently joins that group, so two sensors (or two containers whose
// plainsight is pid 1 in a shared namespace) would quietly split each other's traffic.

/// A fan-out group: the id the other handles join with.
public struct FanoutGroup: Sendable, Equatable {
    public let id: UInt16
}

extension LiveCapture {
    /// Flow-hash fan-out with IP defragmentation, as the high half of the PACKET_FANOUT argument.
    private static var fanoutMode: UInt32 { UInt32(PACKET_FANOUT_HASH) | UInt32(PACKET_FANOUT_FLAG_DEFRAG) }

    /// Starts a new fan-out group with this handle as its first member. Call after activation and
    /// after `setFilter`.
    public func createFanoutGroup() throws(LiveCaptureError) -> FanoutGroup {
        try setFanout(UInt32(PACKET_FANOUT_FLAG_UNIQUEID) | Self.fanoutMode, id: 0)
        // The kernel reports the group as id | type << 16 | flags << 24.
        var value: UInt32 = 0
        var length = socklen_t(MemoryLayout<UInt32>.size)
        // Safe: `handle` is open until deinit; the kernel writes at most `length` (4) bytes into the UInt32 `value`.
        guard unsafe getsockopt(pcap_fileno(handle), Int32(SOL_PACKET), PACKET_FANOUT, &value, &length) == 0 else {
            throw .fanoutUnavailable(interface: interface, reason: Self.errnoText())
        }
        return FanoutGroup(id: UInt16(truncatingIfNeeded: value))
    }

    /// Adds this handle to `group`. Call after activation and after `setFilter`.
    public func joinFanout(_ group: FanoutGroup) throws(LiveCaptureError) {
        try setFanout(Self.fanoutMode, id: group.id)
    }

    /// Throws away the packets waiting in this handle's buffer, returning how many. Until every
    /// handle has joined the group each one receives every packet, so what they hold from before
    /// would reach several workers (a login at start-up reported twice).
    @discardableResult
    public func discardQueued() -> Int {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        // Safe: `handle` is open until deinit; libpcap writes at most PCAP_ERRBUF_SIZE bytes into `errorBuffer`, which is that size.
        guard unsafe pcap_setnonblock(handle, 1, &errorBuffer) == 0 else { return 0 }
        defer { _ = unsafe pcap_setnonblock(handle, 0, &errorBuffer) }
        var header: UnsafeMutablePointer<pcap_pkthdr>? = nil
        var data: UnsafePointer<UInt8>? = nil
        var discarded = 0
        // Bounded: on a busy link new packets keep arriving; those after the join are the
        // group's, and losing a ring's worth at start-up is what a later start would lose anyway.
        // Safe: `handle` is open until deinit; pcap_next_ex lends data until its next call, and none is read here.
        while discarded < 1_000_000, unsafe pcap_next_ex(handle, &header, &data) == 1 { discarded += 1 }
        return discarded
    }

    private func setFanout(_ typeFlags: UInt32, id: UInt16) throws(LiveCaptureError) {
        var argument = UInt32(id) | typeFlags << 16
        // Safe: `handle` is open until deinit; the kernel reads the 4 bytes of `argument`, the length given.
        let status = unsafe setsockopt(pcap_fileno(handle), Int32(SOL_PACKET), PACKET_FANOUT, &argument,
                                       socklen_t(MemoryLayout<UInt32>.size))
        guard status == 0 else { throw .fanoutUnavailable(interface: interface, reason: Self.errnoText()) }
    }

    private static func errnoText() -> String {
        systemErrorText(errno)
    }
}
