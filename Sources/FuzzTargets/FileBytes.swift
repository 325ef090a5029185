#if canImport(Glibc)
import Glibc
#endif

/// A whole file's bytes through stdio; nil if it cannot be read.
func fopenRead(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n > 0 { out += chunk.prefix(n) }
        if n < chunk.count { return ferror(f) != 0 ? nil : out }
    }
}
