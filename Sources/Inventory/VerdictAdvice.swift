import MailAuth

// What each verdict means and what closes the hole, for the HTML report's legend and for each
// server whose banner names its product. The settings were checked against the vendors'
// documentation (docs/report.md lists the sources): Dovecot `auth_allow_cleartext` (2.4, replaces
// `disable_plaintext_auth`) and `ssl = required`; Postfix `smtpd_tls_auth_only` and
// `smtpd_tls_security_level`; Exim `auth_advertise_hosts` and `server_advertise_condition`
// (`$tls_in_cipher` is set once TLS is up); Cyrus `allowplaintext` and `sasl_mech_list`;
// Exchange `Set-PopSettings`/`Set-ImapSettings -LoginType SecureLogin` and
// `-EnableGSSAPIAndNTLMAuth`, `Set-ReceiveConnector -RequireTLS` and `-AuthMechanism`.
// Text between backticks is shown as code.

extension Verdict {
    /// One line for the legend.
    var meaning: String {
        switch self {
        case .exposed:
            return "A login crossed the network in cleartext: anyone on the path could read the password."
        case .tlsBroken:
            return "The server advertises STARTTLS, then refuses it when a client asks."
        case .acceptsCleartext:
            return "The server offers a plaintext login before TLS and no session moved to TLS; no password seen yet."
        case .hashedOnly:
            return "Only challenge-response logins were seen (APOP, CRAM-MD5, DIGEST-MD5, NTLM) and no capability list: no password crossed, but a digest that can be cracked offline did. The JSON reports these servers as unknown, with \"hashed_only\": true."
        case .tlsOptional:
            return "Clients use STARTTLS, but the server still offers a plaintext login before TLS."
        case .tlsRequired:
            return "No plaintext login is offered before TLS (LOGINDISABLED, or STARTTLS and no plaintext mechanism)."
        case .implicitTLS:
            return "TLS from the first byte (ports 993, 995, 465)."
        case .unknown:
            return "Not enough seen to judge: no capability list before TLS (sessions picked up mid-stream), or neither STARTTLS nor a plaintext login offered."
        }
    }

    /// One paragraph: what to do, with the settings that close the hole.
    var advice: String {
        switch self {
        case .exposed:
            return "Treat the passwords of the users listed as disclosed and change them. Then make the server refuse logins before TLS: Dovecot `auth_allow_cleartext = no` (2.4; `disable_plaintext_auth = yes` in 2.3) and `ssl = required`; Postfix `smtpd_tls_auth_only = yes`, and `smtpd_tls_security_level = encrypt` on the submission service; Exim `server_advertise_condition = ${if def:tls_in_cipher}` on each plaintext authenticator, or `auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}`; Cyrus `allowplaintext: no` in imapd.conf; Exchange `Set-PopSettings -LoginType SecureLogin`, `Set-ImapSettings -LoginType SecureLogin`, and `Set-ReceiveConnector -RequireTLS $true -AuthMechanism Tls,BasicAuth,BasicAuthRequireTLS`. Move the clients listed to implicit TLS (993, 995, 465) or STARTTLS first, or they stop logging in."
        case .tlsBroken:
            return "STARTTLS fails on the server's side, most often a missing or unreadable certificate or key (the server's log says which). Until it works, clients that insist on TLS cannot log in and the others fall back to cleartext. Repair TLS, then refuse logins before it: Dovecot `ssl = required`, Postfix `smtpd_tls_auth_only = yes`, Exim `server_advertise_condition = ${if def:tls_in_cipher}`, Cyrus `allowplaintext: no`, Exchange `-LoginType SecureLogin` (`Set-PopSettings`, `Set-ImapSettings`)."
        case .acceptsCleartext:
            return "No password was seen yet, but the first client that logs in without STARTTLS will send one. Stop offering the plaintext login before TLS: Dovecot `auth_allow_cleartext = no` (`disable_plaintext_auth = yes` before 2.4), Postfix `smtpd_tls_auth_only = yes`, Exim `server_advertise_condition = ${if def:tls_in_cipher}`, Cyrus `allowplaintext: no`, Exchange `-LoginType SecureLogin` on `Set-PopSettings`/`Set-ImapSettings`, or `-AuthMechanism Tls,BasicAuth,BasicAuthRequireTLS` on the receive connector."
        case .hashedOnly:
            return "A digest is worth the password behind it to anyone who cracks it offline, and weak passwords fall quickly. Require TLS before any login, not only plaintext ones: Dovecot `ssl = required` (`auth_allow_cleartext` alone still allows these mechanisms without TLS), Postfix `smtpd_tls_auth_only = yes`, Exim `auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}`, Cyrus without CRAM-MD5 and DIGEST-MD5 in `sasl_mech_list`, Exchange `-LoginType SecureLogin` and, where NTLM was seen, `-EnableGSSAPIAndNTLMAuth $false`. Capture whole sessions (from the TCP handshake) for a firmer verdict."
        case .tlsOptional:
            return "Most clients already use STARTTLS, so requiring it costs little; until then a client that skips it, or an attacker who strips STARTTLS from the server's reply, still gets a plaintext login. Refuse it before TLS: Dovecot `auth_allow_cleartext = no` (`disable_plaintext_auth = yes` before 2.4), Postfix `smtpd_tls_auth_only = yes`, Exim `server_advertise_condition = ${if def:tls_in_cipher}`, Cyrus `allowplaintext: no`, Exchange `-LoginType SecureLogin`."
        case .tlsRequired:
            return "Nothing to close: a password cannot cross before TLS. An attacker who strips STARTTLS can still stop clients from logging in; clients set to implicit TLS (993, 995, 465; RFC 8314) avoid even that."
        case .implicitTLS:
            return "Nothing to do on these ports. Look up the same host's cleartext ports (110, 143, 25, 587) in the table: they may still accept logins."
        case .unknown:
            return "Capture whole sessions, from the TCP handshake and the server's capability list, to get a verdict: sessions picked up mid-stream show none. A server that offers neither STARTTLS nor a plaintext login may use a dialect plainsight does not follow; its banner is in the table."
        }
    }

    /// The verdicts that call for a change on the server.
    var needsFix: Bool {
        switch self {
        case .exposed, .tlsBroken, .acceptsCleartext, .hashedOnly, .tlsOptional: return true
        case .tlsRequired, .implicitTLS, .unknown: return false
        }
    }
}

/// The server setting that closes the hole, for a product the banner names (nil: not one of the
/// products with a documented setting here).
func fixSetting(product: String, proto: MailProtocol, verdict: Verdict) -> String? {
    let digests = verdict == .hashedOnly
    switch product {
    case "Dovecot":
        return digests ? "`ssl = required`"
            : "`auth_allow_cleartext = no` (Dovecot 2.4; `disable_plaintext_auth = yes` in 2.3) and `ssl = required`"
    case "Postfix":
        return "`smtpd_tls_auth_only = yes` in main.cf"
    case "Exim":
        return digests ? "`auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}`"
            : "`server_advertise_condition = ${if def:tls_in_cipher}` on each plaintext authenticator"
    case "Cyrus":
        return digests ? "no CRAM-MD5 or DIGEST-MD5 in `sasl_mech_list`" : "`allowplaintext: no` in imapd.conf"
    case "Microsoft Exchange":
        switch proto {
        case .pop3: return "`Set-PopSettings -LoginType SecureLogin`"
        case .imap: return "`Set-ImapSettings -LoginType SecureLogin`"
        case .smtp: return "`Set-ReceiveConnector -RequireTLS $true -AuthMechanism Tls,BasicAuth,BasicAuthRequireTLS`"
        default: return nil
        }
    default:
        return nil
    }
}

/// The settings table of the report: (server, setting, what it does).
let serverSettings: [(server: String, setting: String, effect: String)] = [
    ("Dovecot 2.4", "`auth_allow_cleartext = no` (the default)", "no plaintext login before TLS (LOGINDISABLED for IMAP)"),
    ("Dovecot 2.3 and older", "`disable_plaintext_auth = yes`", "the same, under its former name"),
    ("Dovecot", "`ssl = required`", "no login of any kind, digests included, before TLS"),
    ("Postfix", "`smtpd_tls_auth_only = yes`", "AUTH is neither offered nor accepted before STARTTLS"),
    ("Postfix", "`smtpd_tls_security_level = encrypt` (submission service in master.cf)", "TLS mandatory on that service (not on port 25 of a public MX)"),
    ("Exim", "`server_advertise_condition = ${if def:tls_in_cipher}` (each authenticator)", "the mechanism is offered only once TLS is up"),
    ("Exim", "`auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}` (main section)", "AUTH is offered only once TLS is up"),
    ("Cyrus IMAP", "`allowplaintext: no` (imapd.conf)", "no plaintext login without TLS"),
    ("Exchange POP3 / IMAP", "`Set-PopSettings -LoginType SecureLogin`, `Set-ImapSettings -LoginType SecureLogin`", "plaintext login only over TLS"),
    ("Exchange SMTP", "`Set-ReceiveConnector <name> -RequireTLS $true -AuthMechanism Tls,BasicAuth,BasicAuthRequireTLS`", "basic authentication only over TLS"),
]
