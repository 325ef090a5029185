#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Asks the kernel to back per-slot state with transparent huge pages (2 MiB).
///
/// The flow table's arrays and the router's sessions are reserved for `maxFlows` slots and
/// touched as slots are first used: in 4 KiB pages, a capture of many short connections spends
/// a visible share of its time in page faults (each a trap, the kernel clearing the page); huge
/// pages take a 512th as many. Only the 2 MiB-aligned part of the range inside the allocation
/// is advised; a system without transparent huge pages, or set to `never`, ignores the hint.
/// Resident memory grows by at most one partly used huge page per array.
package enum HugePages {
    static let size = 2 << 20

    /// Advises `[start, start + bytes)`, rounded inwards to huge-page boundaries.
    package static func advise(_ start: UnsafeMutableRawPointer, bytes: Int) {
        #if os(Linux)
        let first = (UInt(bitPattern: start) + UInt(size) - 1) & ~UInt(size - 1)
        let end = (UInt(bitPattern: start) + UInt(bytes)) & ~UInt(size - 1)
        // Safe: `[first, end)` is the part of the caller's allocation rounded inwards; madvise reads no bytes.
        guard end > first, let aligned = unsafe UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = unsafe madvise(aligned, Int(end - first), MADV_HUGEPAGE)  // a hint: a refusal changes nothing
        #endif
    }
}
