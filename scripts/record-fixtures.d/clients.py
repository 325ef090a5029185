#!/usr/bin/env python3
"""Python mail clients used by record-fixtures (run inside the client namespace).

Usage: clients.py FUNCTION 'JSON-PARAMS'
Stock clients (imaplib, poplib, smtplib, PyPI's managesieve from $RF_PYLIB) where they can
produce the wanted form;
small raw-socket clients (class Raw) where they cannot (IMAP literals on both
arguments, LITERAL+, SMTP pipelining with AUTH, BDAT). Every socket has a
timeout, every loop a bound. Exit status 0 means the exchange went as intended.
"""
import base64
import imaplib
import json
import os
import poplib
import smtplib
import socket
import ssl
import sys

TIMEOUT = 15


def insecure_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE   # self-signed throwaway certificate
    return ctx


def fail(msg):
    print(f"clients.py: {msg}", file=sys.stderr)
    sys.exit(1)


def b64(b):
    return base64.b64encode(b).decode()


# ------------------------------------------------------------------ POP3 (poplib)
def pop3_user(p):
    """USER/PASS, optionally CAPA first and/or a (refused) STLS first."""
    c = poplib.POP3(p["host"], p["port"], timeout=TIMEOUT)
    if p.get("capa"):
        c.capa()
    if p.get("stls") == "refused":
        try:
            c._shortcmd("STLS")     # poplib.stls() would not send it when CAPA lacks STLS
            fail("server accepted STLS, expected a refusal")
        except poplib.error_proto as e:
            print("STLS refused:", e)
    c.user(p["user"])
    try:
        c.pass_(p["password"])
        ok = True
        c.stat()
    except poplib.error_proto as e:
        print("PASS refused:", e)
        ok = False
    c.quit()
    if ok != p.get("expect_ok", True):
        fail(f"login outcome {ok}, expected {p.get('expect_ok', True)}")


def pop3_apop(p):
    c = poplib.POP3(p["host"], p["port"], timeout=TIMEOUT)
    if b"<" not in c.getwelcome():
        fail("no APOP timestamp in the banner")
    c.apop(p["user"], p["password"])
    c.stat()
    c.quit()


# ------------------------------------------------------------------ IMAP (imaplib)
def imap_login(p):
    """LOGIN via imaplib. mode: quoted (imaplib's login(): password quoted, escapes),
    atom (both arguments as atoms), literal (password as a {n} literal).
    starttls: use (negative scenario) or refused (send STARTTLS although not offered)."""
    cls = imaplib.IMAP4
    c = cls(p["host"], p["port"], timeout=TIMEOUT)
    st = p.get("starttls")
    if st == "use":
        c.starttls(ssl_context=insecure_ctx())
    elif st == "refused":
        try:
            c._simple_command("STARTTLS")   # imaplib.starttls() would not send it
            fail("server accepted STARTTLS, expected a refusal")
        except imaplib.IMAP4.error as e:
            print("STARTTLS refused:", e)
    mode = p.get("mode", "quoted")
    try:
        if mode == "quoted":
            c.login(p["user"], p["password"])
        elif mode == "atom":
            c._simple_command("LOGIN", p["user"], p["password"])
            c.state = "AUTH"
        elif mode == "literal":
            c.literal = p["password"].encode()
            c._simple_command("LOGIN", p["user"])
            c.state = "AUTH"
        else:
            fail(f"bad mode {mode}")
        ok = True
    except imaplib.IMAP4.error as e:
        print("LOGIN refused:", e)
        ok = False
    if ok:
        c.select("INBOX")
    c.logout()
    if ok != p.get("expect_ok", True):
        fail(f"login outcome {ok}, expected {p.get('expect_ok', True)}")


def imap_authenticate(p):
    """AUTHENTICATE PLAIN or LOGIN via imaplib: every response follows a '+'
    continuation (imaplib does not use SASL-IR)."""
    c = imaplib.IMAP4(p["host"], p["port"], timeout=TIMEOUT)
    user, pw = p["user"].encode(), p["password"].encode()
    if p["mech"] == "PLAIN":
        c.authenticate("PLAIN", lambda challenge: b"\0" + user + b"\0" + pw)
    elif p["mech"] == "LOGIN":
        def login(challenge):
            if challenge.lower().startswith(b"user"):
                return user
            if challenge.lower().startswith(b"pass"):
                return pw
            fail(f"unexpected AUTHENTICATE LOGIN challenge {challenge!r}")
        c.authenticate("LOGIN", login)
    else:
        fail("bad mech")
    c.select("INBOX")
    c.logout()


# ------------------------------------------------------------------ raw socket helper
class Raw:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        for _ in range(10000):
            i = self.buf.find(b"\n")
            if i >= 0:
                ln, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return ln
            chunk = self.s.recv(65536)
            if not chunk:
                fail(f"connection closed; partial line {self.buf!r}")
            self.buf += chunk
        fail("line too long")

    def until_tag(self, tag):
        """IMAP: read lines until the tagged response; return it."""
        for _ in range(200):
            ln = self.line()
            if ln.startswith(tag + b" "):
                return ln
        fail(f"no tagged response for {tag!r}")

    def smtp_reply(self):
        """SMTP: read one (multi-line) reply; return (code, text)."""
        lines = []
        for _ in range(200):
            ln = self.line()
            lines.append(ln)
            if len(ln) >= 4 and ln[3:4] == b" ":
                return int(ln[:3]), b"".join(lines)
        fail("reply too long")

    def close(self):
        self.s.close()


def expect(cond, what):
    if not cond:
        fail(what)


# ------------------------------------------------------------------ IMAP (raw)
def imap_raw_login_literals(p):
    """LOGIN with both arguments as literals: {n} synchronizing (waits for '+')
    or {n+} non-synchronizing (LITERAL+, the whole command in one write)."""
    r = Raw(p["host"], p["port"])
    greeting = r.line()
    expect(greeting.startswith(b"* OK"), f"greeting {greeting!r}")
    user, pw = p["user"].encode(), p["password"].encode()
    if p["sync"]:
        r.send(b"a1 LOGIN {%d}\r\n" % len(user))
        expect(r.line().startswith(b"+"), "no continuation for the username literal")
        r.send(user + b" {%d}\r\n" % len(pw))
        expect(r.line().startswith(b"+"), "no continuation for the password literal")
        r.send(pw + b"\r\n")
    else:
        expect(b"LITERAL+" in greeting, "server does not offer LITERAL+")
        r.send(b"a1 LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(user), user, len(pw), pw))
    resp = r.until_tag(b"a1")
    expect(resp.startswith(b"a1 OK"), f"LOGIN failed: {resp!r}")
    r.send(b"a2 SELECT INBOX\r\n")
    r.until_tag(b"a2")
    r.send(b"a3 LOGOUT\r\n")
    r.until_tag(b"a3")
    r.close()


# ------------------------------------------------------------------ SMTP (smtplib)
def smtp_auth(p):
    """AUTH via smtplib with a chosen mechanism; ir=True sends an initial response."""
    s = smtplib.SMTP(p["host"], p["port"], local_hostname="client.example.org", timeout=TIMEOUT)
    s.ehlo()
    s.user, s.password = p["user"], p["password"]
    mech = p["mech"]
    fn = {"PLAIN": s.auth_plain, "LOGIN": s.auth_login, "CRAM-MD5": s.auth_cram_md5}[mech]
    code, msg = s.auth(mech, fn, initial_response_ok=p["ir"])
    expect(code == 235, f"AUTH {mech}: {code} {msg!r}")
    s.sendmail(f"{p['user']}@example.net", ["postmaster@example.net"],
               b"Subject: fixture\r\n\r\nhello\r\n")
    s.quit()


# ------------------------------------------------------------------ SMTP (raw)
def smtp_pipelining(p):
    """EHLO, then AUTH PLAIN (initial response), MAIL FROM, RCPT TO and DATA in ONE write."""
    r = Raw(p["host"], p["port"])
    code, _ = r.smtp_reply()
    expect(code == 220, "no 220")
    r.send(b"EHLO client.example.org\r\n")
    code, ehlo = r.smtp_reply()
    expect(code == 250 and b"PIPELINING" in ehlo, "no PIPELINING in EHLO")
    ir = b64(b"\0" + p["user"].encode() + b"\0" + p["password"].encode()).encode()
    r.send(b"AUTH PLAIN " + ir + b"\r\n"
           b"MAIL FROM:<" + p["user"].encode() + b"@example.net>\r\n"
           b"RCPT TO:<postmaster@example.net>\r\n"
           b"DATA\r\n")
    codes = [r.smtp_reply()[0] for _ in range(4)]
    expect(codes == [235, 250, 250, 354], f"pipelined replies {codes}")
    r.send(b"Subject: pipelined\r\n\r\nhello\r\n.\r\nQUIT\r\n")
    codes = [r.smtp_reply()[0] for _ in range(2)]
    expect(codes == [250, 221], f"replies after DATA {codes}")
    r.close()


def smtp_bdat(p):
    """No AUTH: MAIL, RCPT, then a message in BDAT chunks (CHUNKING) whose body
    holds command-like lines (AUTH PLAIN, IMAP LOGIN, USER/PASS, QUIT), some of
    them starting exactly at a chunk boundary, one split across two chunks."""
    r = Raw(p["host"], p["port"])
    code, _ = r.smtp_reply()
    expect(code == 220, "no 220")
    r.send(b"EHLO client.example.org\r\n")
    code, ehlo = r.smtp_reply()
    expect(code == 250 and b"CHUNKING" in ehlo, "server does not offer CHUNKING")
    r.send(b"MAIL FROM:<sender@example.org>\r\n")
    expect(r.smtp_reply()[0] == 250, "MAIL FROM")
    r.send(b"RCPT TO:<postmaster@example.net>\r\n")
    expect(r.smtp_reply()[0] == 250, "RCPT TO")
    decoy = p["decoy"].encode()
    chunks = [
        b"From: sender@example.org\r\nTo: postmaster@example.net\r\nSubject: BDAT decoy\r\n\r\n"
        b"The next lines look like logins but are message data.\r\n",
        b"AUTH PLAIN " + b64(b"\0mallory\0" + decoy).encode() + b"\r\n"
        b"a1 LOGIN mallory " + decoy + b"\r\n"
        b"USER mallory\r\nPASS " + decoy + b"\r\nAUTH LOG",
        b"IN " + b64(b"mallory").encode() + b"\r\n.\r\nQUIT\r\n",
    ]
    # the first chunk alone; the last two pipelined in one write (RFC 3030 allows it)
    r.send(b"BDAT %d\r\n" % len(chunks[0]) + chunks[0])
    code, _ = r.smtp_reply()
    expect(code == 250, f"BDAT 1: {code}")
    r.send(b"BDAT %d\r\n" % len(chunks[1]) + chunks[1] + b"BDAT %d LAST\r\n" % len(chunks[2]) + chunks[2])
    codes = [r.smtp_reply()[0] for _ in range(2)]
    expect(codes == [250, 250], f"BDAT 2/3: {codes}")
    r.send(b"QUIT\r\n")
    expect(r.smtp_reply()[0] == 221, "QUIT")
    r.close()


# ------------------------------------------------------------------ ManageSieve (PyPI managesieve)
def managesieve_login(p):
    """AUTHENTICATE via PyPI's managesieve (scripts/record-fixtures installs it in $RF_PYLIB):
    PLAIN as a {n+} literal initial response; LOGIN with the username as a quoted initial
    response and the password as a quoted line sent at once, before the server's prompt.
    starttls=refused sends STARTTLS although the greeting does not offer it."""
    sys.path.insert(0, os.environ["RF_PYLIB"])
    import managesieve   # noqa: E402  (not on the system path)
    c = managesieve.MANAGESIEVE(p["host"], p["port"], timeout=TIMEOUT)
    if p.get("starttls") == "refused":
        typ, _ = c._command(b"STARTTLS")   # starttls() is only for an offered STARTTLS
        expect(typ == "NO", f"STARTTLS answered {typ}, expected NO")
    typ = c.authenticate(p["mech"], p["user"], p["password"])
    ok = typ == "OK"
    if ok:
        typ, _ = c.listscripts()
        expect(typ == "OK", f"LISTSCRIPTS: {typ}")
    c.logout()
    if ok != p.get("expect_ok", True):
        fail(f"login outcome {ok}, expected {p.get('expect_ok', True)}")


# ------------------------------------------------------------------ ManageSieve (raw)
def managesieve_raw_plain_cont(p):
    """AUTHENTICATE "PLAIN" without an initial response; the server's empty "" challenge;
    the response as a quoted string (RFC 5804 section 2.1's form; neither client above sends it)."""
    r = Raw(p["host"], p["port"])
    for _ in range(50):
        ln = r.line()
        if ln.startswith((b"OK", b"NO", b"BYE")):
            break
    expect(ln.startswith(b"OK"), f"greeting ends with {ln!r}")
    r.send(b'AUTHENTICATE "PLAIN"\r\n')
    ln = r.line()
    expect(ln == b'""\r\n', f"expected an empty challenge, got {ln!r}")
    resp = b64(b"\0" + p["user"].encode() + b"\0" + p["password"].encode()).encode()
    r.send(b'"' + resp + b'"\r\n')
    ln = r.line()
    expect(ln.startswith(b"OK"), f"AUTHENTICATE: {ln!r}")
    r.send(b"LOGOUT\r\n")
    ln = r.line()
    expect(ln.startswith(b"OK"), f"LOGOUT: {ln!r}")
    r.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        fail("usage: clients.py FUNCTION JSON")
    fn = globals().get(sys.argv[1])
    if fn is None or not callable(fn):
        fail(f"unknown client {sys.argv[1]}")
    fn(json.loads(sys.argv[2]))
