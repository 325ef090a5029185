#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `strerror` text for an errno value, for the messages this module throws and returns.
func systemErrorText(_ code: Int32) -> String {
    // Safe: strerror never returns NULL on glibc or musl; its string lasts until this thread's next call, and is copied at once.
    unsafe strerror(code).map { unsafe String(cString: $0) } ?? "error \(code)"
}

/// The message libpcap left in an error buffer (`PCAP_ERRBUF_SIZE` zeroed bytes handed to it),
/// read up to its NUL within the array's bounds, so an unterminated buffer cannot be overrun.
func errorBufferText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
