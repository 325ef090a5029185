#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import COpenSSL

// Syslog over TLS (RFC 5425) through the system's OpenSSL. The sink drives a non-blocking socket;
// these types add the TLS layer over it without ever waiting: a handshake step, a write, a read of
// whatever the collector sent (close_notify, alerts, session tickets) each return at once.

/// What tls:// targets are checked against and authenticate with, as given on the command line.
public struct SyslogTLSSettings: Sendable, Equatable {
    /// PEM certificates the collector's certificate must chain to; nil: the system's trust store.
    public var caFile: String?
    /// A PEM client certificate (chain) for collectors that ask for one, and its key (the key may
    /// be in the certificate file).
    public var certificateFile: String?
    public var keyFile: String?
    /// The name (or address) the collector's certificate must hold; nil: the host of the target.
    public var serverName: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.serverName = serverName
    }
}

/// Why a connection could not be made, worded for one stderr line. `isConfiguration`: the
/// collector was reached but TLS cannot succeed as configured (a certificate that does not
/// verify, a refused client certificate, a peer that does not speak TLS): trying again the same
/// way will not help, unlike a refused or timed-out connection.
struct ConnectionFailure: Error, CustomStringConvertible {
    var description: String
    var isConfiguration: Bool
}

/// One `SSL_CTX` per target: the CA, client certificate and key are read into it when the sink
/// is made, that is before privileges are dropped; reconnections use the copy in memory.
final class TLSContext {
    fileprivate let context: OpaquePointer
    let settings: SyslogTLSSettings

    init(_ settings: SyslogTLSSettings) throws(SyslogTargetError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw SyslogTargetError("cannot set up TLS: \(Self.queuedError())")
        }
        self.context = context
        self.settings = settings
        plainsight_ctx_set_write_modes(context)
        guard plainsight_ctx_require_tls12(context) == 1 else {
            throw SyslogTargetError("cannot set up TLS: \(Self.queuedError())")
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let caFile = settings.caFile {
            try Self.requireReadable(caFile, "--syslog-tls-ca")
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw SyslogTargetError("--syslog-tls-ca \(Self.shown(caFile)): no PEM certificate could be read (\(Self.queuedError()))")
            }
        } else if SSL_CTX_set_default_verify_paths(context) != 1 {
            throw SyslogTargetError("cannot load the system's trust store: \(Self.queuedError())")
        }
        if let certificateFile = settings.certificateFile {
            let keyFile = settings.keyFile ?? certificateFile
            try Self.requireReadable(certificateFile, "--syslog-tls-cert")
            try Self.requireReadable(keyFile, "--syslog-tls-key")
            guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else {
                throw SyslogTargetError("--syslog-tls-cert \(Self.shown(certificateFile)): no PEM certificate could be read (\(Self.queuedError()))")
            }
            guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1 else {
                // OpenSSL compares the key with the certificate as it loads it.
                if ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH {
                    ERR_clear_error()
                    throw SyslogTargetError("--syslog-tls-key \(Self.shown(keyFile)) is not the key of the certificate in \(Self.shown(certificateFile))")
                }
                throw SyslogTargetError("--syslog-tls-key \(Self.shown(keyFile)): no PEM private key could be read (\(Self.queuedError()))")
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw SyslogTargetError("--syslog-tls-key \(Self.shown(keyFile)) is not the key of the certificate in \(Self.shown(certificateFile))")
            }
        }
    }

    deinit { SSL_CTX_free(context) }

    /// A missing or unreadable file is said as such, not as OpenSSL's "no start line".
    private static func requireReadable(_ path: String, _ option: String) throws(SyslogTargetError) {
        guard let file = fopen(path, "r") else {
            throw SyslogTargetError("\(option) \(shown(path)): \(errorText(errno))")
        }
        fclose(file)
    }

    static func shown(_ path: String) -> String { OutputEscaping.escape(path.utf8) }

    /// The oldest queued OpenSSL error's reason ("certificate verify failed"), and the queue
    /// emptied so that the next call starts clean.
    static func queuedError() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "unknown TLS error" }
        if let reason = ERR_reason_error_string(code) { return String(cString: reason) }
        return "TLS error \(code)"
    }
}

/// One TLS connection over a connected non-blocking socket, which it does not own.
final class TLSSession {
    private let ssl: OpaquePointer
    private let expectedName: String
    private var closed = false

    enum Step {
        case done
        /// The handshake needs the socket readable (or writable) first.
        case pending(wantsWrite: Bool)
        case failed(ConnectionFailure)
    }

    /// `host`: the target's host, checked against the certificate unless `serverName` is set.
    init(context: TLSContext, fd: Int32, host: String) throws(ConnectionFailure) {
        guard let ssl = SSL_new(context.context) else {
            throw ConnectionFailure(description: "TLS: \(TLSContext.queuedError())", isConfiguration: true)
        }
        self.ssl = ssl
        expectedName = context.settings.serverName ?? host
        var ok = SSL_set_fd(ssl, fd) == 1
        if Self.isAddress(expectedName) {
            // An address is matched against the certificate's IP SANs; SNI carries names only.
            ok = ok && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), expectedName) == 1
        } else {
            SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
            ok = ok && SSL_set1_host(ssl, expectedName) == 1 && plainsight_ssl_set_sni(ssl, expectedName) == 1
        }
        guard ok else {
            throw ConnectionFailure(description: "TLS: cannot check for the name '\(TLSContext.shown(expectedName))': \(TLSContext.queuedError())",
                             isConfiguration: true)
        }
        SSL_set_connect_state(ssl)
    }

    deinit { SSL_free(ssl) }

    /// In TLS 1.3 the client's handshake ends before the server has judged the client's
    /// certificate; in TLS 1.2 it ends after.
    var isTLS13: Bool { SSL_version(ssl) == TLS1_3_VERSION }

    /// One step of the handshake, without waiting.
    func handshake() -> Step {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .done }
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .pending(wantsWrite: code == SSL_ERROR_WANT_WRITE)
        default:
            return .failed(failure(code, during: "TLS handshake"))
        }
    }

    /// Writes without waiting. A write that returned `wouldBlock` must be repeated with the same
    /// bytes (OpenSSL keeps the record it began); the sink does, from the frame's unsent part.
    func write(_ bytes: ArraySlice<UInt8>) -> SendOutcome {
        guard !bytes.isEmpty else { return .sent(0) }
        ERR_clear_error()
        let result = bytes.withUnsafeBytes { raw -> Int32 in
            guard let base = raw.baseAddress else { return 0 }
            return SSL_write(ssl, base, Int32(min(raw.count, Int(Int32.max))))
        }
        if result > 0 { return .sent(Int(result)) }
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wouldBlock
        case SSL_ERROR_SYSCALL where errno != 0: return .broken(errno)
        default: return .tlsFailed(failure(code, during: "TLS write").description)
        }
    }

    /// Reads whatever the collector sent, without waiting: nil while the connection stands, else
    /// why it ended (its close_notify, an alert such as a refused client certificate, a reset).
    /// Syslog over TLS is one-way, so application data is read and dropped; TLS 1.3 session
    /// tickets are taken here too.
    func pollInput() -> String? {
        var scratch = [UInt8](repeating: 0, count: 512)
        // Bounded: a collector that keeps sending gets at most 64 reads per check.
        for _ in 0..<64 {
            ERR_clear_error()
            let result = scratch.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if result > 0 { continue }
            let code = SSL_get_error(ssl, result)
            switch code {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return nil
            case SSL_ERROR_ZERO_RETURN: return "closed by the collector (TLS close_notify)"
            case SSL_ERROR_SYSCALL where errno == 0: return Errno.closedByPeer.description
            default: return failure(code, during: "TLS connection").description
            }
        }
        return nil
    }

    /// Sends close_notify if the socket takes it at once (never waits for the collector's), so
    /// that the collector sees an orderly end rather than a truncation.
    func shutdown() {
        guard !closed else { return }
        closed = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    private func failure(_ code: Int32, during what: String) -> ConnectionFailure {
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK {
            let reason = X509_verify_cert_error_string(verify).map { String(cString: $0) } ?? "error \(verify)"
            var hint = " (check --syslog-tls-ca)"
            if verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH {
                hint = " (expected '\(TLSContext.shown(expectedName))'; --syslog-tls-name sets the name to expect)"
            } else if verify == X509_V_ERR_CERT_HAS_EXPIRED || verify == X509_V_ERR_CERT_NOT_YET_VALID {
                hint = ""
            }
            ERR_clear_error()
            return ConnectionFailure(description: "the collector's certificate does not verify: \(reason)\(hint)", isConfiguration: true)
        }
        if code == SSL_ERROR_SYSCALL {
            let reason = errno == 0 ? "the collector closed the connection" : errorText(errno)
            ERR_clear_error()
            return ConnectionFailure(description: "\(what): \(reason)", isConfiguration: false)
        }
        let reason = TLSContext.queuedError()
        // An alert from the collector (such as "certificate required" or "unknown ca" for our
        // client certificate) or a peer that does not speak TLS: the same attempt fails again.
        return ConnectionFailure(description: "\(what) failed: \(reason)", isConfiguration: code == SSL_ERROR_SSL)
    }

    static func isAddress(_ text: String) -> Bool {
        var buffer = in6_addr()
        return inet_pton(AF_INET, text, &buffer) == 1 || inet_pton(AF_INET6, text, &buffer) == 1
    }
}
