#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `strerror` text for an errno value, for the messages this module throws and returns.
func systemErrorText(_ code: Int32) -> String {
    unsafe strerror(code).map { unsafe String(cString: $0) } ?? "error \(code)"
}
