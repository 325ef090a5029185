#!/usr/bin/env python3
"""Scenario table and recorder for scripts/record-fixtures.

The bash driver builds the namespaces and starts the servers, then runs this
with RF_WORK, RF_NS_S, RF_NS_C, RF_IF_S, RF_OUT in the environment. For each
scenario: write the server credential files, start tcpdump (by PID) in the
server namespace, run the client(s) in the client namespace, stop tcpdump
(SIGINT, wait), then check the capture (packet and connection counts, the
intended exchange, where the secret is and is not visible) and derive the
expected alerts with the client ports read from the capture.
Any mismatch raises and the whole run fails.
"""
import base64
import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pcapflows  # noqa: E402

PY = "/usr/bin/python3"
CLIENTS = os.path.join(HERE, "clients.py")

SRV = "192.0.2.10"        # main dovecot + exim (TLS available)
NOTLS = "192.0.2.11"      # dovecot ssl=no, exim with a missing certificate (454)
PRIV = "192.0.2.12"       # dovecot disable_plaintext_auth=yes (LOGINDISABLED)
SRV6 = "2001:db8::10"
CLI = "192.0.2.1"
CLI6 = "2001:db8::1"


# ---------------------------------------------------------------- helpers for specs
def b64(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.b64encode(b).decode()


def plain(user, pw):
    return b64(b"\0" + user.encode() + b"\0" + pw.encode())


def rx(s):
    return re.escape(s)


def py(fn, **params):
    return [PY, CLIENTS, fn, json.dumps(params)]


def curl(url, user, pw, *opts):
    return ["curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-u", f"{user}:{pw}", *opts, url]


def swaks(server, port, user, pw, *opts, body=None):
    cmd = ["swaks", "--server", server, "--port", str(port), "--timeout", "20",
           "--helo", "client.example.org", "--from", f"{user}@example.net",
           "--to", "postmaster@example.net", "--auth-user", user, "--auth-password", pw, *opts]
    if body is not None:
        cmd += ["--body", body]
    return cmd


def sieve_connect(server, user, pw, *opts):
    """sieve-connect reads the password from descriptor 0 (--passwordfd), lists the scripts, logs out.
    --nosrv: no DNS SRV lookup (the namespace has no resolver)."""
    return ["sh", "-c", 'printf %s "$0" | exec sieve-connect --passwordfd 0 "$@"', pw, "--nosrv",
            "--server", server, "--port", "4190", "--user", user, *opts, "--list"]


class Conn:
    """One client connection of a scenario.
    run: argv run in the client namespace; server: (ip, port);
    checks: [(dir, regex)] that must match the reassembled client ('c') or
    server ('s') stream; alert: expected alert fields (or None);
    secret: the password the client used; wire: how it must appear in the capture:
    'clear' (raw or base64), 'quoted' (IMAP quoted-string escapes), 'absent'
    (hashed or inside TLS); tls: a TLS handshake must follow (STARTTLS or
    implicit); rc: the client's exit status (None: any, e.g. swaks after 535);
    one_write: the pipelined commands (the first client check) sit in one segment."""

    def __init__(self, run, server, checks, alert=None, secret=None, wire="clear", tls=False,
                 rc=0, one_write=False):
        self.run, self.server, self.checks = run, server, checks
        self.alert, self.secret, self.wire, self.tls, self.rc = alert, secret, wire, tls, rc
        self.one_write = one_write


class Scenario:
    def __init__(self, name, description, client, conns, users, secrets, args=()):
        self.name, self.description, self.client = name, description, client
        self.conns, self.users, self.secrets, self.args = conns, users, secrets, list(args)


def alert(proto, method, user, outcome, starttls):
    exposure = "hashed" if method in ("APOP", "AUTH CRAM-MD5", "AUTHENTICATE CRAM-MD5") else "cleartext"
    return {"app_proto": proto, "method": method, "exposure": exposure, "username": user,
            "outcome": outcome, "starttls": starttls}


C, S = "c", "s"

# ---------------------------------------------------------------- server replies
POP_OK_LOGIN = (S, r"^\+OK Logged in\.")
POP_ERR_AUTH = (S, r"^-ERR \[AUTH\] Authentication failed\.")
POP_CAPA_STLS = (S, r"(?s)^\+OK\r\n.*^STLS\r\n.*^\.\r\n")
IMAP_GREET_STARTTLS = (S, r"^\* OK \[CAPABILITY [^\]]*\bSTARTTLS\b")
IMAP_OK_LOGIN = (S, r"^\S+ OK (\[CAPABILITY [^\]]*\] )?Logged in")
IMAP_NO_AUTH = (S, r"^\S+ NO \[AUTHENTICATIONFAILED\]")
SMTP_EHLO_STARTTLS = (S, r"^250-STARTTLS\r\n")
SMTP_235 = (S, r"^235 Authentication succeeded")
SMTP_535 = (S, r"^535 Incorrect authentication data")
TLS_RECORD = r"\x16\x03[\x01-\x04]"
# ManageSieve (dovecot's pigeonhole): the greeting is the capability list, "NAME" ["value"] lines
# ending in OK; replies are OK/NO/BYE with a quoted text
MS_GREET_STARTTLS = (S, r'(?s)\A"IMPLEMENTATION" "Dovecot \(Debian\) Pigeonhole"\r\n.*^"STARTTLS"\r\n.*'
                        r'^OK "Dovecot \(Debian\) ready\."\r\n')
MS_GREET_NO_STARTTLS = (S, r'\A"IMPLEMENTATION" [^\r\n]*\r\n(?:"(?!STARTTLS")[^\r\n]*\r\n)+'
                           r'OK "Dovecot \(Debian\) ready\."\r\n')
MS_OK_LOGIN = (S, r'^OK "Logged in\."\r\n')
MS_NO_AUTH = (S, r'^NO "Authentication failed\."\r\n')


def scenarios(versions):
    V = versions
    out = []

    def add(*a, **k):
        out.append(Scenario(*a, **k))

    # ============================================================ POP3
    u, pw = "alice", "Fx-pop3user-S3cret"
    add("pop3-user-pass", "POP3 CAPA (STLS offered), then USER/PASS in cleartext, success",
        f"Python {V['python']} poplib", [Conn(
            py("pop3_user", host=SRV, port=110, user=u, password=pw, capa=True),
            (SRV, 110), [POP_CAPA_STLS, (C, rf"^CAPA\r\nUSER {u}\r\nPASS {rx(pw)}\r\n"), POP_OK_LOGIN],
            alert("pop3", "USER", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, right, wrong = "bob", "Fx-pop3right-S3cret", "Fx-pop3wrong-S3cret"
    add("pop3-user-pass-fail", "POP3 USER/PASS with a wrong password (-ERR), no CAPA before it",
        f"Python {V['python']} poplib", [Conn(
            py("pop3_user", host=SRV, port=110, user=u, password=wrong, expect_ok=False),
            (SRV, 110), [(C, rf"^USER {u}\r\nPASS {rx(wrong)}\r\n"), POP_ERR_AUTH],
            alert("pop3", "USER", u, "failure", "unknown"), wrong)],
        {u: right}, [wrong, right])

    u, pw = "carol", "Fx-pop3apop-S3cret"
    add("pop3-apop", "POP3 APOP (MD5 of the banner timestamp and the password), success",
        f"Python {V['python']} poplib", [Conn(
            py("pop3_apop", host=SRV, port=110, user=u, password=pw),
            (SRV, 110), [(S, r"^\+OK .*<[^>]+@[^>]+>\r\n"), (C, rf"^APOP {u} [0-9a-f]{{32}}\r\n"), POP_OK_LOGIN],
            alert("pop3", "APOP", u, "success", "unknown"), pw, wire="absent")],
        {u: pw}, [pw])

    u, pw = "dave", "Fx-pop3plainir-S3cret"
    add("pop3-auth-plain-ir", "POP3 CAPA, then AUTH PLAIN with an initial response (curl --sasl-ir), success",
        f"curl {V['curl']} --login-options AUTH=PLAIN --sasl-ir", [Conn(
            curl(f"pop3://{SRV}/", u, pw, "--login-options", "AUTH=PLAIN", "--sasl-ir"),
            (SRV, 110), [POP_CAPA_STLS, (C, rf"^AUTH PLAIN {rx(plain(u, pw))}\r\n"), POP_OK_LOGIN],
            alert("pop3", "AUTH PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "erin", "Fx-pop3plaincont-S3cret"
    add("pop3-auth-plain-cont", "POP3 CAPA, then AUTH PLAIN, '+ ' continuation, then the response; success",
        f"curl {V['curl']} --login-options AUTH=PLAIN", [Conn(
            curl(f"pop3://{SRV}/", u, pw, "--login-options", "AUTH=PLAIN"),
            (SRV, 110), [POP_CAPA_STLS, (C, rf"^AUTH PLAIN\r\n{rx(plain(u, pw))}\r\n"), (S, r"^\+ \r\n"),
                         POP_OK_LOGIN],
            alert("pop3", "AUTH PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "alice", "Fx-pop3login-S3cret"
    add("pop3-auth-login", "POP3 CAPA, then AUTH LOGIN (username and password after '+' prompts), success",
        f"curl {V['curl']} --login-options AUTH=LOGIN", [Conn(
            curl(f"pop3://{SRV}/", u, pw, "--login-options", "AUTH=LOGIN"),
            (SRV, 110), [POP_CAPA_STLS, (C, rf"^AUTH LOGIN\r\n{rx(b64(u))}\r\n{rx(b64(pw))}\r\n"),
                         (S, r"^\+ VXNlcm5hbWU6\r\n"), (S, r"^\+ UGFzc3dvcmQ6\r\n"), POP_OK_LOGIN],
            alert("pop3", "AUTH LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "bob", "Fx-pop3cram-S3cret"
    add("pop3-auth-cram-md5", "POP3 CAPA, then AUTH CRAM-MD5, success",
        f"curl {V['curl']} --login-options AUTH=CRAM-MD5", [Conn(
            curl(f"pop3://{SRV}/", u, pw, "--login-options", "AUTH=CRAM-MD5"),
            (SRV, 110), [POP_CAPA_STLS, (C, r"^AUTH CRAM-MD5\r\n[A-Za-z0-9+/=]+\r\n"), (S, r"^\+ [A-Za-z0-9+/=]+\r\n"),
                         POP_OK_LOGIN],
            alert("pop3", "AUTH CRAM-MD5", u, "success", "offered"), pw, wire="absent")],
        {u: pw}, [pw])

    u, pw = "carol", "Fx-pop3stls-S3cret"
    add("pop3-stls", "NEGATIVE: POP3 CAPA, STLS accepted, the login happens inside TLS",
        f"curl {V['curl']} --ssl-reqd -k", [Conn(
            curl(f"pop3://{SRV}/", u, pw, "--ssl-reqd", "-k"),
            (SRV, 110), [POP_CAPA_STLS, (C, r"^STLS\r\n"), (S, r"^\+OK Begin TLS")],
            None, pw, wire="absent", tls=True)],
        {u: pw}, [pw])

    u, pw = "dave", "Fx-pop3stlsrefused-S3cret"
    add("pop3-stls-refused", "POP3 STLS refused (dovecot ssl=no: -ERR), then USER/PASS in cleartext, success",
        f"Python {V['python']} poplib (STLS sent with _shortcmd)", [Conn(
            py("pop3_user", host=NOTLS, port=110, user=u, password=pw, stls="refused"),
            (NOTLS, 110), [(C, rf"^STLS\r\nUSER {u}\r\nPASS {rx(pw)}\r\n"), (S, r"^-ERR "), POP_OK_LOGIN],
            alert("pop3", "USER", u, "success", "refused"), pw)],
        {u: pw}, [pw])

    # ============================================================ IMAP
    u, pw = "alice", "Fx-imapatom-S3cret"
    add("imap-login-atoms", "IMAP LOGIN with username and password as atoms, success",
        f"Python {V['python']} imaplib (_simple_command)", [Conn(
            py("imap_login", host=SRV, port=143, user=u, password=pw, mode="atom"),
            (SRV, 143), [IMAP_GREET_STARTTLS, (C, rf"^\S+ LOGIN {u} {rx(pw)}\r\n"), IMAP_OK_LOGIN],
            alert("imap", "LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "bob", 'Fx-imap"quo\\ted-S3cret'
    add("imap-login-quoted", 'IMAP LOGIN, password a quoted string with escaped \\" and \\\\, success',
        f"Python {V['python']} imaplib login()", [Conn(
            py("imap_login", host=SRV, port=143, user=u, password=pw, mode="quoted"),
            (SRV, 143), [IMAP_GREET_STARTTLS, (C, r'^\S+ LOGIN bob "Fx-imap\\"quo\\\\ted-S3cret"\r\n'), IMAP_OK_LOGIN],
            alert("imap", "LOGIN", u, "success", "offered"), pw, wire="quoted")],
        {u: pw}, [pw])

    u, pw = "carol", "Fx-imaplit-S3cret"
    add("imap-login-literal", "IMAP LOGIN, password as a {n} synchronizing literal (after '+'), success",
        f"Python {V['python']} imaplib (literal)", [Conn(
            py("imap_login", host=SRV, port=143, user=u, password=pw, mode="literal"),
            (SRV, 143), [IMAP_GREET_STARTTLS, (C, rf"^\S+ LOGIN {u} \{{{len(pw)}\}}\r\n{rx(pw)}\r\n"),
                         (S, r"^\+ OK\r\n"), IMAP_OK_LOGIN],
            alert("imap", "LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "jürgen", "Fx-imaputf8-S3cret"
    ub = u.encode()
    add("imap-login-literal-utf8", "IMAP LOGIN, UTF-8 username and password both as {n} synchronizing literals, success",
        "raw socket client (clients.py imap_raw_login_literals)", [Conn(
            py("imap_raw_login_literals", host=SRV, port=143, user=u, password=pw, sync=True),
            (SRV, 143), [IMAP_GREET_STARTTLS,
                         (C, rb"^a1 LOGIN \{%d\}\r\n" % len(ub) + re.escape(ub) + rb" \{%d\}\r\n" % len(pw) + re.escape(pw.encode()) + rb"\r\n"),
                         (S, r"^\+ OK\r\n\+ OK\r\n"), IMAP_OK_LOGIN],
            alert("imap", "LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "dave", "Fx-imaplitplus-S3cret"
    add("imap-login-literal-plus", "IMAP LOGIN, username and password as {n+} non-synchronizing literals (LITERAL+), one write, success",
        "raw socket client (clients.py imap_raw_login_literals)", [Conn(
            py("imap_raw_login_literals", host=SRV, port=143, user=u, password=pw, sync=False),
            (SRV, 143), [(S, r"^\* OK \[CAPABILITY [^\]]*LITERAL\+"),
                         (C, rf"^a1 LOGIN \{{{len(u)}\+\}}\r\n{u} \{{{len(pw)}\+\}}\r\n{rx(pw)}\r\n"), IMAP_OK_LOGIN],
            alert("imap", "LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "erin", "Fx-imapplainir-S3cret"
    add("imap-authenticate-plain-ir", "IMAP CAPABILITY, then AUTHENTICATE PLAIN with SASL-IR, success",
        f"curl {V['curl']} --login-options AUTH=PLAIN --sasl-ir", [Conn(
            curl(f"imap://{SRV}/", u, pw, "--login-options", "AUTH=PLAIN", "--sasl-ir"),
            (SRV, 143), [(C, r"^\S+ CAPABILITY\r\n"), (C, rf"^\S+ AUTHENTICATE PLAIN {rx(plain(u, pw))}\r\n"),
                         IMAP_OK_LOGIN],
            alert("imap", "AUTHENTICATE PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "alice", "Fx-imapplaincont-S3cret"
    add("imap-authenticate-plain-cont", "IMAP AUTHENTICATE PLAIN, '+' continuation, then the response; success",
        f"Python {V['python']} imaplib authenticate()", [Conn(
            py("imap_authenticate", host=SRV, port=143, user=u, password=pw, mech="PLAIN"),
            (SRV, 143), [IMAP_GREET_STARTTLS, (C, rf"^\S+ AUTHENTICATE PLAIN\r\n{rx(plain(u, pw))}\r\n"),
                         (S, r"^\+ \r\n"), IMAP_OK_LOGIN],
            alert("imap", "AUTHENTICATE PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "bob", "Fx-imaplogin-S3cret"
    add("imap-authenticate-login", "IMAP AUTHENTICATE LOGIN, username and password after '+' prompts, success",
        f"Python {V['python']} imaplib authenticate()", [Conn(
            py("imap_authenticate", host=SRV, port=143, user=u, password=pw, mech="LOGIN"),
            (SRV, 143), [IMAP_GREET_STARTTLS, (C, rf"^\S+ AUTHENTICATE LOGIN\r\n{rx(b64(u))}\r\n{rx(b64(pw))}\r\n"),
                         (S, r"^\+ VXNlcm5hbWU6\r\n"), (S, r"^\+ UGFzc3dvcmQ6\r\n"), IMAP_OK_LOGIN],
            alert("imap", "AUTHENTICATE LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "erin", "Fx-imaploginir-S3cret"
    add("imap-authenticate-login-ir", "IMAP CAPABILITY, then AUTHENTICATE LOGIN with the username as SASL-IR "
        "(curl uses SASL-IR when offered), password after the '+' prompt; success",
        f"curl {V['curl']} --login-options AUTH=LOGIN", [Conn(
            curl(f"imap://{SRV}/", u, pw, "--login-options", "AUTH=LOGIN"),
            (SRV, 143), [(C, r"^\S+ CAPABILITY\r\n"),
                         (C, rf"^\S+ AUTHENTICATE LOGIN {rx(b64(u))}\r\n{rx(b64(pw))}\r\n"),
                         (S, r"^\+ UGFzc3dvcmQ6\r\n"), IMAP_OK_LOGIN],
            alert("imap", "AUTHENTICATE LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "carol", "Fx-imapcram-S3cret"
    add("imap-authenticate-cram-md5", "IMAP CAPABILITY, then AUTHENTICATE CRAM-MD5, success",
        f"curl {V['curl']} --login-options AUTH=CRAM-MD5", [Conn(
            curl(f"imap://{SRV}/", u, pw, "--login-options", "AUTH=CRAM-MD5"),
            (SRV, 143), [(C, r"^\S+ AUTHENTICATE CRAM-MD5\r\n[A-Za-z0-9+/=]+\r\n"), (S, r"^\+ [A-Za-z0-9+/=]+\r\n"),
                         IMAP_OK_LOGIN],
            alert("imap", "AUTHENTICATE CRAM-MD5", u, "success", "offered"), pw, wire="absent")],
        {u: pw}, [pw])

    u, pw = "dave", "Fx-imapstarttls-S3cret"
    add("imap-starttls", "NEGATIVE: IMAP STARTTLS accepted, LOGIN inside TLS",
        f"Python {V['python']} imaplib starttls()", [Conn(
            py("imap_login", host=SRV, port=143, user=u, password=pw, starttls="use"),
            (SRV, 143), [IMAP_GREET_STARTTLS, (C, r"^\S+ STARTTLS\r\n"), (S, r"^\S+ OK Begin TLS")],
            None, pw, wire="absent", tls=True)],
        {u: pw}, [pw])

    u, pw = "erin", "Fx-imapstarttlsrefused-S3cret"
    add("imap-starttls-refused", "IMAP STARTTLS refused (dovecot ssl=no: BAD), then LOGIN in cleartext, success",
        f"Python {V['python']} imaplib (STARTTLS sent with _simple_command)", [Conn(
            py("imap_login", host=NOTLS, port=143, user=u, password=pw, starttls="refused"),
            (NOTLS, 143), [(S, r"^\* OK \[CAPABILITY (?![^\]]*STARTTLS)[^\]]*\]"), (C, r"^\S+ STARTTLS\r\n"),
                           (S, r"^\S+ BAD "), (C, rf"^\S+ LOGIN {u} \"{rx(pw)}\"\r\n"), IMAP_OK_LOGIN],
            alert("imap", "LOGIN", u, "success", "refused"), pw)],
        {u: pw}, [pw])

    u, pw = "alice", "Fx-imaplogindisabled-S3cret"
    add("imap-logindisabled", "IMAP server with LOGINDISABLED (disable_plaintext_auth=yes); the client sends LOGIN anyway and gets NO [PRIVACYREQUIRED]",
        f"Python {V['python']} imaplib login()", [Conn(
            py("imap_login", host=PRIV, port=143, user=u, password=pw, expect_ok=False),
            (PRIV, 143), [(S, r"^\* OK \[CAPABILITY [^\]]*STARTTLS[^\]]*LOGINDISABLED"),
                          (C, rf"^\S+ LOGIN {u} \"{rx(pw)}\"\r\n"), (S, r"^\S+ NO \[PRIVACYREQUIRED\]")],
            alert("imap", "LOGIN", u, "failure", "offered"), pw)],
        {u: pw}, [pw])

    u, right, wrong = "bob", "Fx-imapright-S3cret", "Fx-imapwrong-S3cret"
    add("imap-login-fail", "IMAP LOGIN with a wrong password (NO [AUTHENTICATIONFAILED])",
        f"Python {V['python']} imaplib login()", [Conn(
            py("imap_login", host=SRV, port=143, user=u, password=wrong, expect_ok=False),
            (SRV, 143), [IMAP_GREET_STARTTLS, (C, rf"^\S+ LOGIN {u} \"{rx(wrong)}\"\r\n"), IMAP_NO_AUTH],
            alert("imap", "LOGIN", u, "failure", "offered"), wrong)],
        {u: right}, [wrong, right])

    # ============================================================ SMTP
    u, pw = "alice", "Fx-smtpplainir-S3cret"
    add("smtp-auth-plain-ir", "SMTP port 25: EHLO (STARTTLS offered), AUTH PLAIN with an initial response, success",
        f"swaks {V['swaks']} -a PLAIN", [Conn(
            swaks(SRV, 25, u, pw, "-a", "PLAIN"),
            (SRV, 25), [SMTP_EHLO_STARTTLS, (C, rf"^AUTH PLAIN {rx(plain(u, pw))}\r\n"), SMTP_235],
            alert("smtp", "AUTH PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "bob", "Fx-smtpplain334-S3cret"
    add("smtp-auth-plain-334", "SMTP port 587: AUTH PLAIN, 334 prompt, then the response; success",
        f"Python {V['python']} smtplib (initial_response_ok=False)", [Conn(
            py("smtp_auth", host=SRV, port=587, user=u, password=pw, mech="PLAIN", ir=False),
            (SRV, 587), [SMTP_EHLO_STARTTLS, (C, rf"^AUTH PLAIN\r\n{rx(plain(u, pw))}\r\n"), (S, r"^334 \r\n"),
                         SMTP_235],
            alert("smtp", "AUTH PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "carol", "Fx-smtploginir-S3cret"
    add("smtp-auth-login-ir", "SMTP port 587: AUTH LOGIN with the username on the AUTH line, password after 334; success",
        f"Python {V['python']} smtplib (initial_response_ok=True)", [Conn(
            py("smtp_auth", host=SRV, port=587, user=u, password=pw, mech="LOGIN", ir=True),
            (SRV, 587), [SMTP_EHLO_STARTTLS, (C, rf"^AUTH LOGIN {rx(b64(u))}\r\n{rx(b64(pw))}\r\n"),
                         (S, r"^334 UGFzc3dvcmQ6\r\n"), SMTP_235],
            alert("smtp", "AUTH LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "dave", "Fx-smtplogin-S3cret"
    add("smtp-auth-login", "SMTP port 25: AUTH LOGIN, username and password after 334 prompts, success",
        f"swaks {V['swaks']} -a LOGIN", [Conn(
            swaks(SRV, 25, u, pw, "-a", "LOGIN"),
            (SRV, 25), [SMTP_EHLO_STARTTLS, (C, rf"^AUTH LOGIN\r\n{rx(b64(u))}\r\n{rx(b64(pw))}\r\n"),
                        (S, r"^334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"), SMTP_235],
            alert("smtp", "AUTH LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "erin", "Fx-smtpcram-S3cret"
    add("smtp-auth-cram-md5", "SMTP port 587: AUTH CRAM-MD5, success",
        f"swaks {V['swaks']} -a CRAM-MD5", [Conn(
            swaks(SRV, 587, u, pw, "-a", "CRAM-MD5"),
            (SRV, 587), [SMTP_EHLO_STARTTLS, (C, r"^AUTH CRAM-MD5\r\n[A-Za-z0-9+/=]+\r\n"), (S, r"^334 [A-Za-z0-9+/=]+\r\n"),
                         SMTP_235],
            alert("smtp", "AUTH CRAM-MD5", u, "success", "offered"), pw, wire="absent")],
        {u: pw}, [pw])

    u, pw = "alice", "Fx-smtppipe-S3cret"
    add("smtp-pipelining", "SMTP port 25 PIPELINING: AUTH PLAIN (initial response), MAIL FROM, RCPT TO, DATA in one write; success",
        "raw socket client (clients.py smtp_pipelining)", [Conn(
            py("smtp_pipelining", host=SRV, port=25, user=u, password=pw),
            (SRV, 25), [(S, r"^250-PIPELINING\r\n"), SMTP_EHLO_STARTTLS,
                        (C, rf"^AUTH PLAIN {rx(plain(u, pw))}\r\nMAIL FROM:<{u}@example.net>\r\nRCPT TO:<postmaster@example.net>\r\nDATA\r\n"),
                        (S, r"^235 .*\r\n250 .*\r\n250 .*\r\n354 ")],
            alert("smtp", "AUTH PLAIN", u, "success", "offered"), pw, one_write=True)],
        {u: pw}, [pw])

    u, pw, decoy = "bob", "Fx-smtpdata-S3cret", "Fx-datadecoy-S3cret"
    body = ("These lines are message data, not commands:\n"
            f"AUTH PLAIN {plain('mallory', decoy)}\n"
            f"a1 LOGIN mallory {decoy}\n"
            f"USER mallory\nPASS {decoy}\n"
            f"AUTH LOGIN {b64('mallory')}\n"
            ".leading dot line\n"
            "end\n")
    add("smtp-data-decoy", "SMTP port 587: AUTH PLAIN (one alert), then a DATA body holding lines like "
        "'AUTH PLAIN <base64>', 'a1 LOGIN x y', USER/PASS that must NOT alert",
        f"swaks {V['swaks']} -a PLAIN --body", [Conn(
            swaks(SRV, 587, u, pw, "-a", "PLAIN", body=body),
            (SRV, 587), [SMTP_EHLO_STARTTLS, (C, rf"^AUTH PLAIN {rx(plain(u, pw))}\r\n"), SMTP_235,
                         (C, r"^DATA\r\n"), (C, rf"^AUTH PLAIN {rx(plain('mallory', decoy))}\r\na1 LOGIN mallory {rx(decoy)}\r\n"),
                         (C, r"^\.\.leading dot line\r\n"), (C, r"^\.\r\n"), (S, r"^250 OK id=")],
            alert("smtp", "AUTH PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw, decoy])

    decoy = "Fx-bdatdecoy-S3cret"
    add("smtp-bdat-decoy", "NEGATIVE: SMTP port 25 without AUTH; a message sent with BDAT (CHUNKING) whose chunks hold "
        "'AUTH PLAIN <base64>', 'a1 LOGIN x y', USER/PASS, 'AUTH LOG'+'IN' split across chunks, '.' and QUIT lines",
        "raw socket client (clients.py smtp_bdat)", [Conn(
            py("smtp_bdat", host=SRV, port=25, decoy=decoy),
            (SRV, 25), [(S, r"^250-CHUNKING\r\n"), (C, r"^BDAT \d+\r\nAUTH PLAIN "), (C, r"AUTH LOGBDAT \d+ LAST\r\nIN "),
                        (S, r"^250 \d+ byte chunk received\r\n"), (S, r"^250- \d+ byte chunk, total \d+\r\n250 OK id=")],
            None, decoy, wire="clear")],
        {}, [decoy])

    u, pw = "carol", "Fx-smtpstarttls-S3cret"
    add("smtp-starttls", "NEGATIVE: SMTP port 587 STARTTLS accepted (220), AUTH PLAIN inside TLS",
        f"swaks {V['swaks']} -tls -a PLAIN", [Conn(
            swaks(SRV, 587, u, pw, "-tls", "-a", "PLAIN"),
            (SRV, 587), [SMTP_EHLO_STARTTLS, (C, r"^STARTTLS\r\n"), (S, r"^220 TLS go ahead")],
            None, pw, wire="absent", tls=True)],
        {u: pw}, [pw])

    u, pw = "dave", "Fx-smtpstarttlsrefused-S3cret"
    add("smtp-starttls-refused", "SMTP port 25 STARTTLS refused (454, exim with a missing certificate), then AUTH PLAIN in cleartext, success",
        f"swaks {V['swaks']} -tlso -a PLAIN", [Conn(
            swaks(NOTLS, 25, u, pw, "-tlso", "-a", "PLAIN"),
            (NOTLS, 25), [SMTP_EHLO_STARTTLS, (C, r"^STARTTLS\r\n"), (S, r"^454 TLS currently unavailable"),
                          (C, rf"^AUTH PLAIN {rx(plain(u, pw))}\r\n"), SMTP_235],
            alert("smtp", "AUTH PLAIN", u, "success", "refused"), pw)],
        {u: pw}, [pw])

    u, right, wrong = "erin", "Fx-smtpright-S3cret", "Fx-smtpwrong-S3cret"
    add("smtp-auth-fail", "SMTP port 25: AUTH PLAIN with a wrong password (535)",
        f"swaks {V['swaks']} -a PLAIN", [Conn(
            swaks(SRV, 25, u, wrong, "-a", "PLAIN"),
            (SRV, 25), [SMTP_EHLO_STARTTLS, (C, rf"^AUTH PLAIN {rx(plain(u, wrong))}\r\n"), SMTP_535],
            alert("smtp", "AUTH PLAIN", u, "failure", "offered"), wrong, rc=None)],
        {u: right}, [wrong, right])

    # ============================================================ implicit TLS (negative)
    u, pw = "alice", "Fx-imaps-S3cret"
    add("imaps", "NEGATIVE: IMAPS (port 993, implicit TLS) login, read with --any-port so the TLS flow is examined",
        f"curl {V['curl']} -k imaps://", [Conn(
            curl(f"imaps://{SRV}/", u, pw, "-k"), (SRV, 993), [], None, pw, wire="absent", tls=True)],
        {u: pw}, [pw], args=["--any-port"])
    u, pw = "bob", "Fx-pop3s-S3cret"
    add("pop3s", "NEGATIVE: POP3S (port 995, implicit TLS) login, read with --any-port",
        f"curl {V['curl']} -k pop3s://", [Conn(
            curl(f"pop3s://{SRV}/", u, pw, "-k"), (SRV, 995), [], None, pw, wire="absent", tls=True)],
        {u: pw}, [pw], args=["--any-port"])
    u, pw = "carol", "Fx-smtps-S3cret"
    add("smtps", "NEGATIVE: SMTPS (port 465, implicit TLS) AUTH PLAIN, read with --any-port",
        f"swaks {V['swaks']} -tlsc -a PLAIN", [Conn(
            swaks(SRV, 465, u, pw, "-tlsc", "-a", "PLAIN"), (SRV, 465), [], None, pw, wire="absent", tls=True)],
        {u: pw}, [pw], args=["--any-port"])

    # ============================================================ IPv6
    u, pw = "dave", "Fx-imapv6-S3cret"
    add("imap-login-ipv6", "IMAP LOGIN over IPv6 (2001:db8::1 -> 2001:db8::10), success",
        f"Python {V['python']} imaplib login()", [Conn(
            py("imap_login", host=SRV6, port=143, user=u, password=pw),
            (SRV6, 143), [IMAP_GREET_STARTTLS, (C, rf"^\S+ LOGIN {u} \"{rx(pw)}\"\r\n"), IMAP_OK_LOGIN],
            alert("imap", "LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])
    u, pw = "erin", "Fx-smtpv6-S3cret"
    add("smtp-auth-login-ipv6", "SMTP port 25 AUTH LOGIN over IPv6 (2001:db8::1 -> 2001:db8::10), success",
        f"swaks {V['swaks']} -6 -a LOGIN", [Conn(
            swaks(SRV6, 25, u, pw, "-6", "-a", "LOGIN"),
            (SRV6, 25), [SMTP_EHLO_STARTTLS, (C, rf"^AUTH LOGIN\r\n{rx(b64(u))}\r\n{rx(b64(pw))}\r\n"), SMTP_235],
            alert("smtp", "AUTH LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    # ============================================================ non-standard ports
    u, pw = "alice", "Fx-imap10143-S3cret"
    add("imap-login-port-10143", "IMAP LOGIN on non-standard port 10143 (needs --any-port), success",
        f"Python {V['python']} imaplib login()", [Conn(
            py("imap_login", host=SRV, port=10143, user=u, password=pw),
            (SRV, 10143), [IMAP_GREET_STARTTLS, (C, rf"^\S+ LOGIN {u} \"{rx(pw)}\"\r\n"), IMAP_OK_LOGIN],
            alert("imap", "LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw], args=["--any-port"])
    u, pw = "bob", "Fx-pop310110-S3cret"
    add("pop3-user-port-10110", "POP3 CAPA then USER/PASS on non-standard port 10110 (needs --any-port), success",
        f"Python {V['python']} poplib", [Conn(
            py("pop3_user", host=SRV, port=10110, user=u, password=pw, capa=True),
            (SRV, 10110), [POP_CAPA_STLS, (C, rf"^USER {u}\r\nPASS {rx(pw)}\r\n"), POP_OK_LOGIN],
            alert("pop3", "USER", u, "success", "offered"), pw)],
        {u: pw}, [pw], args=["--any-port"])

    # ============================================================ demo
    pw1, pw2, pw3 = "Fx-demopop3-S3cret", "Fx-demoimap-S3cret", "Fx-demosmtp-S3cret"
    right4, wrong4 = "Fx-demoright-S3cret", "Fx-demowrong-S3cret"
    add("demo", "Demo: POP3 USER/PASS, IMAP LOGIN, SMTP AUTH PLAIN, then a failed SMTP AUTH LOGIN, one capture",
        f"Python {V['python']} poplib + imaplib, swaks {V['swaks']}", [
            Conn(py("pop3_user", host=SRV, port=110, user="carol", password=pw1, capa=True), (SRV, 110),
                 [POP_CAPA_STLS, (C, rf"^USER carol\r\nPASS {rx(pw1)}\r\n"), POP_OK_LOGIN],
                 alert("pop3", "USER", "carol", "success", "offered"), pw1),
            Conn(py("imap_login", host=SRV, port=143, user="dave", password=pw2), (SRV, 143),
                 [IMAP_GREET_STARTTLS, (C, rf"^\S+ LOGIN dave \"{rx(pw2)}\"\r\n"), IMAP_OK_LOGIN],
                 alert("imap", "LOGIN", "dave", "success", "offered"), pw2),
            Conn(swaks(SRV, 25, "erin", pw3, "-a", "PLAIN"), (SRV, 25),
                 [SMTP_EHLO_STARTTLS, (C, rf"^AUTH PLAIN {rx(plain('erin', pw3))}\r\n"), SMTP_235],
                 alert("smtp", "AUTH PLAIN", "erin", "success", "offered"), pw3),
            Conn(swaks(SRV, 587, "alice", wrong4, "-a", "LOGIN"), (SRV, 587),
                 [SMTP_EHLO_STARTTLS, (C, rf"^AUTH LOGIN\r\n{rx(b64('alice'))}\r\n{rx(b64(wrong4))}\r\n"), SMTP_535],
                 alert("smtp", "AUTH LOGIN", "alice", "failure", "offered"), wrong4, rc=None),
        ], {"carol": pw1, "dave": pw2, "erin": pw3, "alice": right4}, [pw1, pw2, pw3, wrong4, right4])

    # ============================================================ server inventory (issue 7)
    # Servers whose inventory verdict needs a session no scenario above has: each runs against a
    # server (address, port) no other scenario uses, so one run over every fixture still shows
    # every verdict.
    u, pw = "alice", "Fx-smtpbroken-S3cret"
    add("smtp-starttls-broken", "NEGATIVE: SMTP port 587 on the server whose STARTTLS is advertised but fails "
        "(454, missing certificate); the client requires TLS and quits without AUTH (verdict tls_broken)",
        f"swaks {V['swaks']} -tls -a PLAIN", [Conn(
            swaks(NOTLS, 587, u, pw, "-tls", "-a", "PLAIN"),
            (NOTLS, 587), [SMTP_EHLO_STARTTLS, (C, r"^STARTTLS\r\n"), (S, r"^454 TLS currently unavailable")],
            None, pw, wire="absent", rc=None)],
        {u: pw}, [pw])

    u, pw = "bob", "Fx-pop3required-S3cret"
    add("pop3-stls-required", "NEGATIVE: POP3 on the disable_plaintext_auth=yes server: CAPA offers STLS but "
        "neither USER nor a plaintext SASL mechanism; STLS accepted, login inside TLS (verdict tls_required)",
        f"curl {V['curl']} --ssl-reqd -k", [Conn(
            curl(f"pop3://{PRIV}/", u, pw, "--ssl-reqd", "-k"),
            (PRIV, 110), [POP_CAPA_STLS, (S, r"(?ms)^\+OK\r\n(?:(?!^USER\r\n|^SASL [^\r]*\b(?:PLAIN|LOGIN)\b).)*?^\.\r\n"),
                          (C, r"^STLS\r\n"), (S, r"^\+OK Begin TLS")],
            None, pw, wire="absent", tls=True)],
        {u: pw}, [pw])

    u, pw = "carol", "Fx-imaprequired-S3cret"
    add("imap-logindisabled-starttls", "NEGATIVE: IMAP server with LOGINDISABLED; the client uses STARTTLS and "
        "logs in inside TLS (verdict tls_required when read alone)",
        f"Python {V['python']} imaplib starttls()", [Conn(
            py("imap_login", host=PRIV, port=143, user=u, password=pw, starttls="use"),
            (PRIV, 143), [(S, r"^\* OK \[CAPABILITY [^\]]*STARTTLS[^\]]*LOGINDISABLED"), (C, r"^\S+ STARTTLS\r\n"),
                          (S, r"^\S+ OK Begin TLS")],
            None, pw, wire="absent", tls=True)],
        {u: pw}, [pw])

    u, pw = "dave", "Fx-smtpv6tls-S3cret"
    add("smtp-starttls-ipv6", "NEGATIVE: SMTP port 587 over IPv6: STARTTLS accepted (220), AUTH PLAIN inside TLS "
        "(verdict tls_optional: AUTH PLAIN is offered before TLS, clients use TLS)",
        f"swaks {V['swaks']} -6 -tls -a PLAIN", [Conn(
            swaks(SRV6, 587, u, pw, "-6", "-tls", "-a", "PLAIN"),
            (SRV6, 587), [SMTP_EHLO_STARTTLS, (C, r"^STARTTLS\r\n"), (S, r"^220 TLS go ahead")],
            None, pw, wire="absent", tls=True)],
        {u: pw}, [pw])

    add("pop3-capa-probe", "NEGATIVE: POP3 over IPv6, CAPA then QUIT without a login (a monitoring probe): the "
        "server offers USER and SASL PLAIN before TLS (verdict accepts_cleartext)",
        f"Python {V['python']} poplib capa()", [Conn(
            [PY, "-c", "import poplib, sys; c = poplib.POP3(sys.argv[1], 110, timeout=15); c.capa(); c.quit()", SRV6],
            (SRV6, 110), [POP_CAPA_STLS, (S, r"^USER\r\n"), (C, r"^CAPA\r\nQUIT\r\n")],
            None, None)],
        {}, [])

    # ============================================================ ManageSieve (RFC 5804, port 4190)
    # sieve-connect always uses an offered STARTTLS (it has no option to skip it), so its cleartext
    # logins go to the ssl=no server, whose greeting lacks STARTTLS; PyPI's managesieve uses
    # STARTTLS only when asked, so its logins go to the main server, whose greeting offers it.
    def sieve_literal(data):
        return rf"\{{{len(data)}\+\}}\r\n{rx(data)}\r\n"

    u, pw = "alice", "Fx-sieveplain-S3cret"
    add("managesieve-authenticate-plain", "ManageSieve on the ssl=no server (greeting without STARTTLS): "
        "AUTHENTICATE \"PLAIN\" with the initial response as a {n+} literal, success; then LISTSCRIPTS, LOGOUT",
        f"sieve-connect {V['sieve-connect']} --authmech PLAIN --notlsverify --list", [Conn(
            sieve_connect(NOTLS, u, pw, "--authmech", "PLAIN", "--notlsverify"),
            (NOTLS, 4190), [MS_GREET_NO_STARTTLS, (C, r'^AUTHENTICATE "PLAIN" ' + sieve_literal(plain(u, pw))),
                            MS_OK_LOGIN],
            alert("managesieve", "AUTHENTICATE PLAIN", u, "success", "not_offered"), pw)],
        {u: pw}, [pw])

    u, pw = "bob", "Fx-sievelogin-S3cret"
    add("managesieve-authenticate-login", "ManageSieve on the ssl=no server: AUTHENTICATE \"LOGIN\" without an initial "
        "response; the server's quoted challenges \"VXNlcm5hbWU6\" and \"UGFzc3dvcmQ6\" each answered by a {n+} literal, success",
        f"sieve-connect {V['sieve-connect']} --authmech LOGIN --notlsverify --list", [Conn(
            sieve_connect(NOTLS, u, pw, "--authmech", "LOGIN", "--notlsverify"),
            (NOTLS, 4190), [MS_GREET_NO_STARTTLS,
                            (C, r'^AUTHENTICATE "LOGIN"\r\n' + sieve_literal(b64(u)) + sieve_literal(b64(pw))),
                            (S, r'^"VXNlcm5hbWU6"\r\n"UGFzc3dvcmQ6"\r\nOK "Logged in\."\r\n')],
            alert("managesieve", "AUTHENTICATE LOGIN", u, "success", "not_offered"), pw)],
        {u: pw}, [pw])

    u, pw = "carol", "Fx-sievecram-S3cret"
    add("managesieve-authenticate-cram-md5", "ManageSieve on the ssl=no server: AUTHENTICATE \"CRAM-MD5\", the server's "
        "quoted challenge, the digest as a {n+} literal, success",
        f"sieve-connect {V['sieve-connect']} --authmech CRAM-MD5 --notlsverify --list", [Conn(
            sieve_connect(NOTLS, u, pw, "--authmech", "CRAM-MD5", "--notlsverify"),
            (NOTLS, 4190), [MS_GREET_NO_STARTTLS,
                            (C, r'^AUTHENTICATE "CRAM-MD5"\r\n\{\d+\+\}\r\n[A-Za-z0-9+/=]+\r\n'),
                            (S, r'^"[A-Za-z0-9+/=]+"\r\nOK "Logged in\."\r\n')],
            alert("managesieve", "AUTHENTICATE CRAM-MD5", u, "success", "not_offered"), pw, wire="absent")],
        {u: pw}, [pw])

    u, right, wrong = "dave", "Fx-sieveright-S3cret", "Fx-sievewrong-S3cret"
    add("managesieve-authenticate-fail", "ManageSieve on the ssl=no server: AUTHENTICATE \"PLAIN\" ({n+} literal "
        "initial response) with a wrong password, NO \"Authentication failed.\"",
        f"sieve-connect {V['sieve-connect']} --authmech PLAIN --notlsverify --list", [Conn(
            sieve_connect(NOTLS, u, wrong, "--authmech", "PLAIN", "--notlsverify"),
            (NOTLS, 4190), [MS_GREET_NO_STARTTLS, (C, r'^AUTHENTICATE "PLAIN" ' + sieve_literal(plain(u, wrong))),
                            MS_NO_AUTH],
            alert("managesieve", "AUTHENTICATE PLAIN", u, "failure", "not_offered"), wrong, rc=None)],
        {u: right}, [wrong, right])

    u, pw = "erin", "Fx-sievepyplain-S3cret"
    add("managesieve-python-plain", "ManageSieve, greeting offers STARTTLS (not used): AUTHENTICATE \"PLAIN\" "
        "with the initial response as a {n+} literal, command and literal in one write; success",
        f"Python {V['python']} managesieve {V['managesieve']} authenticate()", [Conn(
            py("managesieve_login", host=SRV, port=4190, user=u, password=pw, mech="PLAIN"),
            (SRV, 4190), [MS_GREET_STARTTLS, (C, r'^AUTHENTICATE "PLAIN" ' + sieve_literal(plain(u, pw))),
                          MS_OK_LOGIN],
            alert("managesieve", "AUTHENTICATE PLAIN", u, "success", "offered"), pw, one_write=True)],
        {u: pw}, [pw])

    u, pw = "alice", "Fx-sievepylogin-S3cret"
    add("managesieve-python-login", "ManageSieve, greeting offers STARTTLS: AUTHENTICATE \"LOGIN\" with the "
        "username as a quoted-string initial response and the password as a quoted string sent before the "
        "server's \"UGFzc3dvcmQ6\" challenge; success",
        f"Python {V['python']} managesieve {V['managesieve']} authenticate()", [Conn(
            py("managesieve_login", host=SRV, port=4190, user=u, password=pw, mech="LOGIN"),
            (SRV, 4190), [MS_GREET_STARTTLS, (C, rf'^AUTHENTICATE "LOGIN" "{rx(b64(u))}"\r\n"{rx(b64(pw))}"\r\n'),
                          (S, r'^"UGFzc3dvcmQ6"\r\nOK "Logged in\."\r\n')],
            alert("managesieve", "AUTHENTICATE LOGIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "bob", "Fx-sieveplaincont-S3cret"
    add("managesieve-plain-cont-quoted", "ManageSieve, greeting offers STARTTLS: AUTHENTICATE \"PLAIN\" without "
        "an initial response, the server's empty \"\" challenge, the response as a quoted string; success",
        "raw socket client (clients.py managesieve_raw_plain_cont)", [Conn(
            py("managesieve_raw_plain_cont", host=SRV, port=4190, user=u, password=pw),
            (SRV, 4190), [MS_GREET_STARTTLS, (C, rf'^AUTHENTICATE "PLAIN"\r\n"{rx(plain(u, pw))}"\r\n'),
                          (S, r'^""\r\nOK "Logged in\."\r\n')],
            alert("managesieve", "AUTHENTICATE PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "carol", "Fx-sievestarttlsrefused-S3cret"
    add("managesieve-starttls-refused", "ManageSieve on the ssl=no server: STARTTLS sent although the greeting "
        "does not offer it, NO \"TLS support isn't enabled.\", then AUTHENTICATE \"PLAIN\" ({n+} literal) in cleartext, success",
        f"Python {V['python']} managesieve {V['managesieve']} (STARTTLS sent with _command)", [Conn(
            py("managesieve_login", host=NOTLS, port=4190, user=u, password=pw, mech="PLAIN", starttls="refused"),
            (NOTLS, 4190), [MS_GREET_NO_STARTTLS, (C, r"^STARTTLS\r\n"), (S, r'^NO "TLS support isn\'t enabled\."\r\n'),
                            (C, r'^AUTHENTICATE "PLAIN" ' + sieve_literal(plain(u, pw))), MS_OK_LOGIN],
            alert("managesieve", "AUTHENTICATE PLAIN", u, "success", "refused"), pw)],
        {u: pw}, [pw])

    u, pw = "dave", "Fx-sievestarttls-S3cret"
    add("managesieve-starttls", "NEGATIVE: ManageSieve STARTTLS accepted (OK \"Begin TLS negotiation now.\"), "
        "then NOOP, AUTHENTICATE \"PLAIN\", LISTSCRIPTS inside TLS",
        f"sieve-connect {V['sieve-connect']} --authmech PLAIN --notlsverify --list", [Conn(
            sieve_connect(SRV, u, pw, "--authmech", "PLAIN", "--notlsverify"),
            (SRV, 4190), [MS_GREET_STARTTLS, (C, r"^STARTTLS\r\n"), (S, r'^OK "Begin TLS negotiation now\."\r\n')],
            None, pw, wire="absent", tls=True)],
        {u: pw}, [pw])

    u, pw = "erin", "Fx-sievev6-S3cret"
    add("managesieve-ipv6", "ManageSieve over IPv6 (2001:db8::1 -> 2001:db8::10), greeting offers STARTTLS: "
        "AUTHENTICATE \"PLAIN\" with a {n+} literal initial response, success",
        f"Python {V['python']} managesieve {V['managesieve']} authenticate()", [Conn(
            py("managesieve_login", host=SRV6, port=4190, user=u, password=pw, mech="PLAIN"),
            (SRV6, 4190), [MS_GREET_STARTTLS, (C, r'^AUTHENTICATE "PLAIN" ' + sieve_literal(plain(u, pw))),
                           MS_OK_LOGIN],
            alert("managesieve", "AUTHENTICATE PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])
    return out


# ---------------------------------------------------------------- recording
def log(msg):
    print(f"[record-fixtures] {msg}", file=sys.stderr, flush=True)


class Failure(Exception):
    pass


def cmd_output(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def tool_versions():
    def dpkg(p):
        return cmd_output(["dpkg-query", "-W", "-f=${Version}", p]).strip() or "?"
    v = {
        "python": cmd_output([PY, "-c", "import platform; print(platform.python_version())"]).strip(),
        "curl": (cmd_output(["curl", "--version"]).split() or ["", "?"])[1],
        "swaks": (re.findall(r"version (\S+)", cmd_output(["swaks", "--version"])) or ["?"])[0],
        "dovecot": cmd_output(["dovecot", "--version"]).strip(),
        "exim": dpkg("exim4-daemon-light"),
        "tcpdump": dpkg("tcpdump"),
        "openssl": dpkg("openssl"),
        "kernel": os.uname().release,
        "sieve-connect": dpkg("sieve-connect"),
        "pigeonhole": dpkg("dovecot-managesieved"),
        "managesieve": cmd_output([PY, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import managesieve; "
                                   "print(managesieve.__version__)", os.environ.get("RF_PYLIB", "")]).strip() or "?",
    }
    return v


def write_creds(work, users, stamp):
    """dovecot passwd-file and exim lsearch file with exactly this scenario's users.
    A unique mtime per scenario makes dovecot re-read the file (it compares mtime and size)."""
    dv = "".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items())
    ex = "".join(f"{u}: {p}\n" for u, p in users.items())   # lsearch data is taken verbatim
    for name, text in (("passwd", dv), ("exim-passwd", ex)):
        if any(":" in p for p in users.values()):
            raise Failure("passwords must not contain ':' (passwd-file separator)")
        path = os.path.join(work, name)
        tmp = path + ".new"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text or "# no users\n")
        os.chmod(tmp, 0o644)
        os.utime(tmp, (stamp, stamp))
        os.replace(tmp, path)


def start_tcpdump(ns, ifname, path):
    argv = ["ip", "netns", "exec", ns, "tcpdump", "-i", ifname, "--immediate-mode", "-s", "0",
            "-nn", "-U", "-Z", "root", "-w", path, "tcp"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    buf = b""
    deadline = time.monotonic() + 10
    while b"listening on" not in buf:
        left = deadline - time.monotonic()
        r, _, _ = select.select([p.stderr], [], [], max(0.0, left))
        if not r:
            p.kill()
            p.wait()
            raise Failure(f"tcpdump did not start: {buf!r}")
        chunk = os.read(p.stderr.fileno(), 4096)
        if not chunk:
            p.wait()
            raise Failure(f"tcpdump exited ({p.returncode}): {buf!r}")
        buf += chunk
    return p


def stop_tcpdump(p):
    """SIGINT by PID, wait; return (captured, dropped) from tcpdump's summary."""
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise Failure("tcpdump did not stop on SIGINT")
    err = err.decode(errors="replace")
    cap = re.search(r"(\d+) packets? captured", err)
    drop = re.search(r"(\d+) packets? dropped by kernel", err)
    if not cap or not drop:
        raise Failure(f"no tcpdump summary: {err!r}")
    return int(cap.group(1)), int(drop.group(1))


B64_TOKEN = re.compile(rb"[A-Za-z0-9+/]{4,}={0,2}")


def decoded_tokens(stream):
    out = []
    for m in B64_TOKEN.finditer(stream):
        tok = m.group(0)
        if len(tok) % 4:
            continue
        try:
            out.append(base64.b64decode(tok, validate=True))
        except ValueError:
            pass
    return out


def secret_visible(stream, secret):
    s = secret.encode()
    return s in stream or any(s in d for d in decoded_tokens(stream))


def verify(sc, pcap_path, captured, dropped):
    """Check the capture; return the expected alerts (ports read from the capture)."""
    def bad(msg):
        raise Failure(f"{sc.name}: {msg}")
    if dropped:
        bad(f"tcpdump dropped {dropped} packets")
    try:
        npk, non_tcp, conns = pcapflows.connections(pcap_path)
    except ValueError as e:
        bad(str(e))
    if npk != captured:
        bad(f"file has {npk} packets, tcpdump reported {captured}")
    if non_tcp:
        bad(f"{non_tcp} non-TCP packets in the capture")
    if len(conns) != len(sc.conns):
        bad(f"{len(conns)} TCP connections captured, expected {len(sc.conns)}")
    if npk < 8 * len(conns):
        bad(f"only {npk} packets for {len(conns)} connections")
    raw = open(pcap_path, "rb").read()
    expected = []
    for i, (spec, c) in enumerate(zip(sc.conns, conns)):
        where = f"connection {i + 1} ({c.client_ip}:{c.client_port} -> {c.server_ip}:{c.server_port})"
        if (c.server_ip, c.server_port) != spec.server:
            bad(f"{where}: expected server {spec.server}")
        if c.client_ip != (CLI6 if ":" in spec.server[0] else CLI):
            bad(f"{where}: unexpected client address")
        if not c.syn or not (c.fin["c"] or c.rst) or not (c.fin["s"] or c.rst):
            bad(f"{where}: not a complete connection (syn={c.syn} fin={c.fin} rst={c.rst})")
        cs, ss = c.stream("c"), c.stream("s")
        if getattr(c, "holes", 0):
            bad(f"{where}: sequence holes in the capture")
        for n, (d, pat) in enumerate(spec.checks):
            pb = pat.encode() if isinstance(pat, str) else pat
            st = cs if d == C else ss
            if not re.search(pb, st, re.M):
                bad(f"{where}: {'client' if d == C else 'server'} stream lacks {pat!r}")
            if spec.one_write and d == C and n == next(k for k, (dd, _) in enumerate(spec.checks) if dd == C):
                if not any(re.search(pb, seg, re.M) for dd, _, seg in c.transcript() if dd == C):
                    bad(f"{where}: pipelined commands were not sent in one segment")
        if spec.tls:
            if not (re.search(rb"\x16\x03[\x01-\x04]..\x01", cs, re.S) and re.search(rb"\x16\x03[\x01-\x04]..\x02", ss, re.S)):
                bad(f"{where}: no TLS ClientHello/ServerHello")
        if spec.secret is not None:
            if spec.wire == "clear" and not secret_visible(cs, spec.secret):
                bad(f"{where}: the password should be visible in the client stream")
            if spec.wire == "quoted":
                q = '"' + spec.secret.replace("\\", "\\\\").replace('"', '\\"') + '"'
                if q.encode() not in cs:
                    bad(f"{where}: quoted password not in the client stream")
            if spec.wire == "absent" and (spec.secret.encode() in raw or secret_visible(cs, spec.secret)):
                bad(f"{where}: the password must not be visible in the capture")
        if spec.alert:
            a = spec.alert
            if not secret_visible(cs, a["username"]):
                bad(f"{where}: the username {a['username']!r} is not in the client stream")
            expected.append({"app_proto": a["app_proto"], "src_ip": c.client_ip, "src_port": c.client_port,
                             "dest_ip": c.server_ip, "dest_port": c.server_port, "method": a["method"],
                             "exposure": a["exposure"], "username": a["username"], "outcome": a["outcome"],
                             "starttls": a["starttls"], "_ts": c.first_ts})
    expected.sort(key=lambda e: e["_ts"])
    for e in expected:
        del e["_ts"]
    return npk, expected


DOVECOT_LOGS = ("dovecot-main/dovecot.log", "dovecot-notls/dovecot.log", "dovecot-priv/dovecot.log")
_last_activity = [0.0]


def record(sc, idx, env, logf):
    work, ns_s, ns_c, if_s, out = env
    write_creds(work, sc.users, 1_700_000_000 + idx * 10)
    # dovecot's passwd-file checks the file's mtime at most once per second (per ioloop_time
    # second): wait until the wall clock is in a later second than the last lookup.
    wait = int(_last_activity[0]) + 1.05 - time.time()
    if wait > 0:
        time.sleep(wait)
    logsizes = {}
    for name in DOVECOT_LOGS:
        p = os.path.join(work, name)
        logsizes[p] = os.path.getsize(p) if os.path.exists(p) else 0
    tmp = os.path.join(work, "cap", sc.name + ".pcap")
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    if os.path.exists(tmp):
        os.unlink(tmp)
    td = start_tcpdump(ns_s, if_s, tmp)
    try:
        for i, spec in enumerate(sc.conns):
            logf.write(f"\n##### {sc.name} #{i + 1}: {' '.join(spec.run)}\n")
            logf.flush()
            try:
                # own UTS namespace: clients (swaks Message-Id) see the host name client.example.org
                r = subprocess.run(["ip", "netns", "exec", ns_c, "unshare", "--uts", "sh", "-c",
                                    'hostname client.example.org && exec "$0" "$@"', *spec.run],
                                   stdin=subprocess.DEVNULL,
                                   stdout=logf, stderr=subprocess.STDOUT, timeout=60)
            except subprocess.TimeoutExpired:
                raise Failure(f"{sc.name}: client timed out: {spec.run[0]}")
            if spec.rc is not None and r.returncode != spec.rc:
                raise Failure(f"{sc.name}: client {spec.run[0]} exited {r.returncode} (see log)")
            time.sleep(0.3)   # let the server's FIN/ACK land before the next step
        time.sleep(0.3)
    finally:
        captured, dropped = stop_tcpdump(td)
        _last_activity[0] = time.time()
    for p, size in logsizes.items():
        with open(p, "rb") as f:
            f.seek(size)
            new = f.read().decode(errors="replace")
        if "unknown user" in new:
            raise Failure(f"{sc.name}: dovecot did not know the user (stale passwd-file?): {p}")
    npk, expected = verify(sc, tmp, captured, dropped)
    dest = os.path.join(out, sc.name + ".pcap")
    shutil.copyfile(tmp, dest + ".new")
    os.chmod(dest + ".new", 0o644)
    os.replace(dest + ".new", dest)
    return npk, os.path.getsize(dest), expected


def manifest_entry(sc, expected):
    return {"pcap": sc.name + ".pcap", "args": sc.args, "client": sc.client, "description": sc.description,
            "secrets": sc.secrets, "expected": expected}


def write_manifest(path, entries):
    # {"fixtures": [...]}, one expected alert per line keeps diffs readable
    lines = ['{"fixtures": [']
    for i, e in enumerate(entries):
        head = {k: v for k, v in e.items() if k != "expected"}
        s = json.dumps(head, ensure_ascii=False)[:-1]
        if e["expected"]:
            alerts = ",\n".join("    " + json.dumps(a, ensure_ascii=False) for a in e["expected"])
            s += ', "expected": [\n' + alerts + "\n  ]}"
        else:
            s += ', "expected": []}'
        lines.append("  " + s + ("," if i < len(entries) - 1 else ""))
    lines.append("]}")
    text = "\n".join(lines) + "\n"
    json.loads(text)   # must stay valid JSON
    with open(path + ".new", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".new", path)


README_HEAD = """\
# plainsight fixtures

Real mail traffic recorded by `scripts/record-fixtures` (do not edit by hand: rerun the
script, which rewrites every `.pcap`, `manifest.json` and this file). Each capture holds only
the scenario's own TCP traffic (`tcpdump -i <server veth> --immediate-mode -s 0 -w NAME.pcap tcp`,
Ethernet link type, offloads off so every frame has valid checksums and MTU-sized segments).

## How they were recorded

`sudo scripts/record-fixtures` (or `scripts/record-fixtures NAME...` for some; `--list` lists them):

1. installs the packages below with apt-get under a temporary `/usr/sbin/policy-rc.d` that
   exits 101, so no system-wide daemon starts, and Python's `managesieve` from PyPI (pinned by
   hash in `scripts/record-fixtures.d/requirements.txt`, into the run's temp dir only);
2. creates namespaces `ps-rf-srv` and `ps-rf-cli` joined by a veth pair (`ethtool -K ... tx off
   rx off tso off gso off gro off` on both ends). Client 192.0.2.1 / 2001:db8::1. Servers:
   - 192.0.2.10 and 2001:db8::10: dovecot (IMAP 143, 10143, IMAPS 993; POP3 110, 10110, POP3S 995;
     ManageSieve 4190 with STARTTLS in its greeting; `ssl = yes`, `disable_plaintext_auth = no`, `auth_mechanisms = plain login cram-md5 apop`)
     and exim (SMTP 25 and 587 with STARTTLS, SMTPS 465; `auth_advertise_hosts = *`, PLAIN,
     LOGIN and CRAM-MD5 authenticators, PIPELINING, CHUNKING);
   - 192.0.2.11: dovecot with `ssl = no` (STARTTLS/STLS refused with `BAD`/`-ERR`; ManageSieve 4190
     without STARTTLS in its greeting, `NO "TLS support isn't enabled."` to a STARTTLS) and exim
     whose certificate file is missing (`454 TLS currently unavailable`);
   - 192.0.2.12: dovecot with `disable_plaintext_auth = yes` (LOGINDISABLED, `NO [PRIVACYREQUIRED]`;
     ManageSieve 4190 offers only `"SASL" "CRAM-MD5"` before STARTTLS);
   all with their own config and PID files in a temp dir, a passwd-file / lsearch file rewritten
   for each scenario, and a throwaway self-signed certificate for `mail.example.net`;
3. per scenario: starts tcpdump by PID in the server namespace, runs the client(s) in the
   client namespace, stops tcpdump with SIGINT, then checks the capture (no drops, the
   expected connections complete, the intended commands and replies present, the password
   visible where it must be and absent inside TLS or digests) and fails loudly otherwise.
   The expected alerts come from the scenario table in `scripts/record-fixtures.d/scenarios.py`
   with the client ports read from the capture.

Credentials are fake. Every scenario has its own password (`Fx-...-S3cret`), listed under
`secrets` with any wrong password tried and the account's real one; the BDAT/DATA decoy
passwords are listed too although they only travel inside message bodies.

## manifest.json

`{"fixtures": [...]}` with one object per capture: `pcap`, `args` (extra plainsight arguments, e.g. `--any-port`),
`client`, `description`, `secrets`, and `expected`: the alerts plainsight must print, in
login order, with the DESIGN.md field values (`app_proto`, `src_ip`, `src_port`, `dest_ip`,
`dest_port`, `method`, `exposure`, `username` unmasked, `outcome`, `starttls`).
`"expected": []` marks a negative scenario (TLS, decoy message bodies). Mirror-feed captures
(tunnels, see the last three sections) add to each alert a `tunnel` object: `type` (the outermost
encapsulation: `vxlan`, `geneve`, `gre`, `erspan2`, `erspan3`, `mpls`, `pppoe`, `ipip`, `6in4`,
`4in6`, `6in6`, `gtpu`), `src_ip`/`dest_ip` of the IP header carrying it (client-to-server
direction; absent for MPLS and PPPoE on Ethernet), the identifiers that apply (`vni`, `gre_key`,
`erspan_id`, `mpls_labels`, `pppoe_session`, `teid`) and `layers` (every encapsulation, outermost
first). IP fragments add no tunnel object; VLAN tags stay in `vlan`.

Client ports change with every recording: after rerunning the script, regenerate the
byte-for-byte goldens (`fixtures/*.expected.jsonl`) with `scripts/update-expected`.

## Notes on the clients

- imaplib sends `CAPABILITY` although dovecot's greeting already carries `[CAPABILITY ...]`;
  both list `STARTTLS`, hence `starttls: offered`. POP3 scenarios without `CAPA` are `unknown`
  (the banner is not a capability list).
- curl uses SASL-IR for IMAP whenever the server offers it (`imap-authenticate-login-ir`), so
  the two-prompt `AUTHENTICATE LOGIN` and the `+`-continuation `AUTHENTICATE PLAIN` come from
  imaplib. curl picks the mechanism given by `--login-options AUTH=...`.
- imaplib can send only its last argument as a literal, and no `{n+}`: the UTF-8 username
  (dovecot needs `auth_username_chars =` for it) and LITERAL+ captures come from the raw
  client in `scripts/record-fixtures.d/clients.py`, as do SMTP pipelining and BDAT.
- poplib/imaplib refuse to send STLS/STARTTLS that the capabilities do not offer; the refused
  scenarios send the command directly. swaks `-tlso` goes on after exim's `454`.
- A failed login makes dovecot delay that client's next authentication a few seconds
  (auth penalty); this is only visible in the capture timestamps.
- ManageSieve (dovecot's pigeonhole, port 4190): the greeting is the capability list
  (`"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"`, `"SIEVE" "..."`, `"NOTIFY" "mailto"`,
  `"SASL" "PLAIN LOGIN CRAM-MD5"`, `"STARTTLS"` where offered, `"VERSION" "1.0"`, then
  `OK "Dovecot (Debian) ready."`); server challenges are quoted base64 strings (`""` for PLAIN
  without an initial response); replies are `OK "Logged in."` / `NO "Authentication failed."`.
- sieve-connect sends every SASL response as a `{n+}` literal (the initial response on the line
  after `AUTHENTICATE "PLAIN" {n+}`; LOGIN and CRAM-MD5 answer each quoted challenge with
  `{n+}` and the base64 on the next line), the `{n+}` line and its data in two TCP segments. It always uses an offered STARTTLS (no option skips it;
  `--notlsverify` only stops certificate checks), so its cleartext logins go to the `ssl = no`
  server (`starttls: not_offered`). Password from descriptor 0 (`--passwordfd 0`), `--nosrv`.
- Python's managesieve sends PLAIN's initial response as a `{n+}` literal in the same write as
  the command, and LOGIN as `AUTHENTICATE "LOGIN" "<user b64>"` with the password's quoted
  base64 on the next line at once, before the server's `"UGFzc3dvcmQ6"`; it has no CRAM-MD5 and
  uses STARTTLS only when asked (its logins go to the main server: `starttls: offered`). Its
  `starttls()` needs an offered STARTTLS: the refused scenario sends the command directly. The
  quoted response after a `""` challenge (RFC 5804's example form) comes from the raw client.
"""


def write_readme(path_readme, entries, versions):
    v = versions
    lines = [README_HEAD, "## Versions\n",
             f"dovecot {v['dovecot']}; exim {v['exim']} (exim4-daemon-light); curl {v['curl']}; "
             f"swaks {v['swaks']}; Python {v['python']} (imaplib, poplib, smtplib); "
             f"pigeonhole {v['pigeonhole']} (dovecot-managesieved); sieve-connect {v['sieve-connect']}; "
             f"managesieve {v['managesieve']} (PyPI); "
             f"tcpdump {v['tcpdump']}; OpenSSL {v['openssl']}; Debian {open('/etc/debian_version').read().strip()}, "
             f"kernel {v['kernel']}.\n",
             "## Scenarios\n",
             "| pcap | alerts | args | client | description |",
             "|---|---|---|---|---|"]
    for e in entries:
        name = e["pcap"]
        alerts = "; ".join(f"{a['app_proto']} {a['method']} {a['username']} {a['outcome']} "
                           f"starttls={a['starttls']} :{a['dest_port']}" for a in e["expected"]) or "none"
        path = os.path.join(os.path.dirname(path_readme), name)
        size = f"{len(pcapflows.read_pcap(path))} pkts, {os.path.getsize(path)} B" if os.path.exists(path) else ""
        desc = e["description"].replace("|", "\\|")
        lines.append(f"| `{name}`{(' (' + size + ')') if size else ''} | {alerts} | {' '.join(e['args'])} | "
                     f"{e['client'].replace('|', chr(92) + '|')} | {desc} |")
    text = "\n".join(lines) + "\n"
    # the sections other tools write (derived, tunnel and generated fixtures) stay until they rewrite them
    if os.path.exists(path_readme):
        with open(path_readme, encoding="utf-8") as f:
            prev = f.read()
        k = prev.find("\n## Derived fixtures")
        if k >= 0:
            text += prev[k:]
    with open(path_readme + ".new", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path_readme + ".new", path_readme)


def main(argv):
    versions = tool_versions()
    table = scenarios(versions)
    names = [s.name for s in table]
    if len(set(names)) != len(names):
        raise SystemExit("duplicate scenario names")
    if argv[:1] == ["--list"]:
        for s in table:
            print(f"{s.name:32} {len(s.conns)} conn, {sum(1 for c in s.conns if c.alert)} alert(s)")
        return 0
    want = argv or names
    unknown = [n for n in want if n not in names]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {' '.join(unknown)}")
    env = tuple(os.environ[k] for k in ("RF_WORK", "RF_NS_S", "RF_NS_C", "RF_IF_S", "RF_OUT"))
    work, out = env[0], env[4]
    manifest_path = os.path.join(out, "manifest.json")
    old, foreign = {}, []
    if os.path.exists(manifest_path):
        m = json.load(open(manifest_path, encoding="utf-8"))
        all_old = m["fixtures"] if isinstance(m, dict) else m
        if set(want) != set(names):
            old = {e["pcap"]: e for e in all_old}
        # entries other tools own (derive.py, tunnels.py, encapsulate.py) stay; they rewrite them
        foreign = [e for e in all_old if e["pcap"][:-5] not in names]
    entries = {}
    with open(os.path.join(work, "clients.log"), "w") as logf:
        for idx, sc in enumerate(table):
            if sc.name not in want:
                if sc.name + ".pcap" in old:
                    entries[sc.name] = old[sc.name + ".pcap"]
                continue
            t0 = time.monotonic()
            try:
                npk, size, expected = record(sc, idx, env, logf)
            except Failure as e:
                logf.flush()
                log(f"FAILED: {e}")
                log("client output:")
                with open(os.path.join(work, "clients.log"), errors="replace") as f:
                    tail = f.read().split("\n##### ")[-1]
                sys.stderr.write(tail[-4000:] + "\n")
                for srv in ("dovecot-main/dovecot.log", "dovecot-notls/dovecot.log", "dovecot-priv/dovecot.log",
                            "exim-main/log/mainlog", "exim-main/log/rejectlog", "exim-notls/log/mainlog"):
                    p = os.path.join(work, srv)
                    if os.path.exists(p):
                        sys.stderr.write(f"--- {srv} (tail)\n" + "".join(open(p, errors="replace").readlines()[-8:]))
                return 1
            entries[sc.name] = manifest_entry(sc, expected)
            log(f"{sc.name:30} {len(expected)} alert(s) {npk:4} packets {size:6} bytes "
                f"{time.monotonic() - t0:4.1f} s")
    ordered = [entries[n] for n in names if n in entries]
    write_manifest(manifest_path, ordered + foreign)
    write_readme(os.path.join(out, "README.md"), ordered, versions)
    # stale captures from renamed scenarios
    others = {e["pcap"] for e in foreign}
    for f in os.listdir(out):
        if f.endswith((".pcap", ".pcapng")) and f[:-5] not in names and f not in others:
            log(f"note: {f} is not in the manifest")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
