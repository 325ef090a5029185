/// Why a capture file could not be used or read. `problem` is worded to follow the file name in a
/// diagnostic (`plainsight: FILE: <problem>`); `description` names the file itself.
public enum CaptureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// libpcap could not open the file (missing, unreadable, not a capture, damaged header).
    case cannotOpen(path: String, reason: String)
    /// The link-layer header type is not one the decoder knows.
    case unsupportedLinkType(path: String, dlt: Int32, name: String)
    /// The BPF expression did not compile for this file's link type, or could not be installed.
    case badFilter(path: String, expression: String, reason: String)

    public var problem: String {
        switch self {
        case .cannotOpen(_, let reason): return "cannot open: \(reason)"
        case .unsupportedLinkType(_, let dlt, let name): return "unsupported link type \(dlt) (\(name))"
        case .badFilter(_, let expression, let reason): return "bad filter '\(expression)': \(reason)"
        }
    }

    public var path: String {
        switch self {
        case .cannotOpen(let path, _), .unsupportedLinkType(let path, _, _), .badFilter(let path, _, _):
            return path
        }
    }

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "cannot open \(path): \(reason)"
        default: return "\(path): \(problem)"
        }
    }
}

/// How a read loop ended.
public enum ReadEnd: Sendable, Equatable {
    /// Every record in the file was delivered.
    case endOfFile
    /// `stop()` was called.
    case stopped
    /// The file is damaged or could not be read past some point (libpcap's message). Records
    /// before the damage were delivered.
    case error(String)
}
