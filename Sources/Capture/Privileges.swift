#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Giving up root once the capture and the outputs are open, the way tcpdump's `-Z` does
// (`droproot()`: initgroups, setgid, setuid). A sniffer parses hostile bytes for weeks; if a parser
// bug were ever exploitable it should land in an account that owns nothing.

/// A local account to run as, resolved before anything is opened so a typo fails at once.
public struct UserAccount: Sendable, Equatable {
    public var name: String
    public var uid: uid_t
    public var gid: gid_t
}

public enum PrivilegeError: Error, Sendable, Equatable, CustomStringConvertible {
    case noSuchUser(String)
    case lookupFailed(user: String, reason: String)
    /// `step` names the call that failed (`initgroups`, `setgid`, `setuid`).
    case dropFailed(user: String, step: String, reason: String)
    /// After the drop the process could still become root again.
    case stillPrivileged(user: String)

    public var message: String {
        switch self {
        case .noSuchUser(let name): return "-Z \(name): no such user"
        case .lookupFailed(let name, let reason): return "-Z \(name): cannot look the user up: \(reason)"
        case .dropFailed(let name, let step, let reason): return "cannot switch to user \(name): \(step): \(reason)"
        case .stillPrivileged(let name): return "switched to user \(name) but could still regain root; stopping"
        }
    }

    public var description: String { message }
}

public enum Privileges {
    /// Real or effective root: the case where plainsight must switch users after opening.
    public static var isRoot: Bool { getuid() == 0 || geteuid() == 0 }

    /// The current real and effective user ids.
    public static var currentUser: (real: uid_t, effective: uid_t) { (getuid(), geteuid()) }

    /// Looks `name` up in the user database (`getpwnam_r`; a numeric name is not taken as a uid, as
    /// in tcpdump).
    public static func account(named name: String) throws(PrivilegeError) -> UserAccount {
        // Safe: a zeroed record for getpwnam_r to fill; only its ids are read, never its pointers.
        var entry = unsafe passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        let suggested = sysconf(Int32(_SC_GETPW_R_SIZE_MAX))
        var size = suggested > 0 ? suggested : 16_384
        // ERANGE means the buffer was too small for this entry; 1 MiB bounds the retries.
        while size <= 1 << 20 {
            var buffer = [CChar](repeating: 0, count: size)
            // Safe: getpwnam_r writes at most `buffer.count` bytes into `buffer` and the record's strings point there; `name` lives for the call.
            let status = unsafe getpwnam_r(name, &entry, &buffer, buffer.count, &result)
            if status == ERANGE { size *= 2; continue }
            guard status == 0 else { throw .lookupFailed(user: name, reason: systemErrorText(status)) }
            // Safe: `result` is only compared with nil; on success it points at `entry`, whose integer ids are copied out.
            guard unsafe result != nil else { throw .noSuchUser(name) }
            return unsafe UserAccount(name: name, uid: entry.pw_uid, gid: entry.pw_gid)
        }
        throw .lookupFailed(user: name, reason: systemErrorText(ERANGE))
    }

    /// Switches the whole process (every thread: glibc broadcasts set*id) to `account`: its
    /// supplementary groups, its group, then its user, and checks that root cannot be regained.
    /// Switching from root to another user clears every capability too.
    public static func drop(to account: UserAccount) throws(PrivilegeError) {
        // Groups first: once the uid is gone, the process may no longer change them.
        // Safe: `account.name` is bridged to a C string that lives for the call; initgroups only reads it.
        guard unsafe initgroups(account.name, account.gid) == 0 else {
            throw .dropFailed(user: account.name, step: "initgroups", reason: systemErrorText(errno))
        }
        guard setgid(account.gid) == 0 else {
            throw .dropFailed(user: account.name, step: "setgid", reason: systemErrorText(errno))
        }
        guard setuid(account.uid) == 0 else {
            throw .dropFailed(user: account.name, step: "setuid", reason: systemErrorText(errno))
        }
        guard getuid() == account.uid, geteuid() == account.uid,
              getgid() == account.gid, getegid() == account.gid else {
            throw .stillPrivileged(user: account.name)
        }
        // The proof: asking for root back must fail. (Only for a non-root target; `-Z root` never
        // gets here.)
        if account.uid != 0 && (setuid(0) == 0 || seteuid(0) == 0) {
            throw .stillPrivileged(user: account.name)
        }
    }
}
