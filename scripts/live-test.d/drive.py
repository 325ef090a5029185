#!/usr/bin/env python3
"""plainsight's live end-to-end test, run by scripts/live-test once the mail lab is up.

Starts five plainsight instances as root on the server side of the lab (each drops to nobody; D
and E capture with two workers in a fan-out group),
drives real clients (Python poplib/imaplib/smtplib through scripts/record-fixtures.d/clients.py,
curl, swaks) through cleartext logins of every protocol, STARTTLS logins, refused STARTTLS and
implicit TLS, rotates one output with SIGHUP, asks for statistics with SIGUSR1, stops everything
with SIGTERM and checks: exactly the expected alerts in every instance, each once (no two for one
connection), none for TLS sessions, no secret in any stdout, stderr or file, no kernel drops, exit
status 0, and a non-root uid after start (/proc/PID/status); for D and E also per-worker final
statistics (D: the stats event, E: stderr lines) that add up to the totals, with packets on both
workers. Prints one `LIVE-RESULT {json}` line; exit status 0 only if every check
passed. Every wait is bounded.

Environment: LT_WORK, LT_NS_S, LT_NS_C, LT_IF_S, LT_BIN, LT_CLIENTS (set by scripts/live-test).

Tunnel mode (LT_TUNNEL=vxlan or gretap, scripts/live-test --tunnel): the lab's addresses live on a
kernel tunnel and LT_IF_S is the server side of the underlay (LT_UNDERLAY_S, LT_UNDERLAY_C, MTU
LT_UNDERLAY_MTU, tunnel id LT_TUNNEL_ID). main_tunnel() runs two plainsight instances on the
underlay with the default filter and -Z nobody (T: JSON, X: text lines), the same clients, and
checks every login exactly once with its inner endpoints and the tunnel (type, id, underlay
addresses, layers), no secret anywhere, no kernel drops, a non-root uid, and that UDP datagrams
sent across the underlay outside the tunnel stayed in the kernel (the default filter is in
place); with an underlay MTU below 1500 also that the final stats event counts reassembled
fragments and lost none (none at all on a 1500-byte underlay).
"""
import base64
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import time

WORK, NS_S, NS_C, IF_S = (os.environ[k] for k in ("LT_WORK", "LT_NS_S", "LT_NS_C", "LT_IF_S"))
BIN, CLIENTS = os.environ["LT_BIN"], os.environ["LT_CLIENTS"]
PY = "/usr/bin/python3"
SRV, NOTLS, SRV6, CLI, CLI6 = "192.0.2.10", "192.0.2.11", "2001:db8::10", "192.0.2.1", "2001:db8::1"
DEADLINE = time.monotonic() + 240          # the whole drive, servers already up
failures = []


def log(msg):
    print(f"[live-test] {msg}", file=sys.stderr, flush=True)


def check(ok, what):
    if not ok:
        failures.append(what)
        log(f"FAIL: {what}")
    return ok


def pw(user):
    return f"Lv-{user}-S3cret"


# ---------------------------------------------------------------- clients
def py(fn, **params):
    return [PY, CLIENTS, fn, json.dumps(params)]


def curl(url, user, password, *opts):
    return ["curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-u", f"{user}:{password}", *opts, url]


def swaks(server, port, user, password, *opts):
    return ["swaks", "--server", server, "--port", str(port), "--timeout", "20",
            "--helo", "client.example.org", "--from", f"{user}@example.net",
            "--to", "postmaster@example.net", "--auth-user", user, "--auth-password", password, *opts]


def expect(proto, method, user, outcome, starttls, dest=SRV, port=None, src=CLI):
    exposure = "hashed" if "CRAM-MD5" in method or method == "APOP" else "cleartext"
    return {"app_proto": proto, "method": method, "exposure": exposure, "username": user,
            "outcome": outcome, "starttls": starttls, "src_ip": src, "dest_ip": dest, "dest_port": port}


# (name, argv, expected alert or None, expected exit status or None for any). The first group runs
# before the SIGHUP rotation, the second after it.
WRONG = "Lv-yvonne-wrong-S3cret"
FIRST = [
    ("pop3 USER/PASS (poplib)", py("pop3_user", host=SRV, port=110, user="alice", password=pw("alice"), capa=True),
     expect("pop3", "USER", "alice", "success", "offered", port=110), 0),
    ("pop3 AUTH PLAIN (curl)", curl(f"pop3://{SRV}/", "bobby", pw("bobby"), "--login-options", "AUTH=PLAIN", "--sasl-ir"),
     expect("pop3", "AUTH PLAIN", "bobby", "success", "offered", port=110), 0),
    ("imap LOGIN (imaplib)", py("imap_login", host=SRV, port=143, user="carol", password=pw("carol")),
     expect("imap", "LOGIN", "carol", "success", "offered", port=143), 0),
    ("imap AUTHENTICATE LOGIN (curl)", curl(f"imap://{SRV}/", "david", pw("david"), "--login-options", "AUTH=LOGIN"),
     expect("imap", "AUTHENTICATE LOGIN", "david", "success", "offered", port=143), 0),
    ("imap LOGIN over IPv6 (imaplib)", py("imap_login", host=SRV6, port=143, user="erin", password=pw("erin")),
     expect("imap", "LOGIN", "erin", "success", "offered", dest=SRV6, port=143, src=CLI6), 0),
    ("smtp AUTH PLAIN (swaks, exim)", swaks(SRV, 25, "frank", pw("frank"), "-a", "PLAIN"),
     expect("smtp", "AUTH PLAIN", "frank", "success", "offered", port=25), 0),
    ("smtp AUTH LOGIN (smtplib, exim)", py("smtp_auth", host=SRV, port=25, user="grace", password=pw("grace"), mech="LOGIN", ir=False),
     expect("smtp", "AUTH LOGIN", "grace", "success", "offered", port=25), 0),
    ("pop3 STLS, login inside TLS (curl)", curl(f"pop3://{SRV}/", "judy", pw("judy"), "--ssl-reqd", "-k"), None, 0),
    ("imap STARTTLS, login inside TLS (imaplib)", py("imap_login", host=SRV, port=143, user="mallory", password=pw("mallory"), starttls="use"), None, 0),
]
SECOND = [
    ("submission AUTH PLAIN (swaks, dovecot)", swaks(SRV, 587, "heidi", pw("heidi"), "-a", "PLAIN", "--quit-after", "AUTH"),
     expect("smtp", "AUTH PLAIN", "heidi", "success", "offered", port=587), 0),
    ("submission AUTH CRAM-MD5 (swaks, dovecot)", swaks(SRV, 587, "ivan", pw("ivan"), "-a", "CRAM-MD5", "--quit-after", "AUTH"),
     expect("smtp", "AUTH CRAM-MD5", "ivan", "success", "offered", port=587), 0),
    ("smtp STARTTLS, AUTH inside TLS (swaks, exim)", swaks(SRV, 25, "oscar", pw("oscar"), "-tls", "-a", "PLAIN"), None, 0),
    ("submission STARTTLS, AUTH inside TLS (swaks, dovecot)",
     swaks(SRV, 587, "peggy", pw("peggy"), "-tls", "-a", "PLAIN", "--quit-after", "AUTH"), None, 0),
    ("smtp STARTTLS refused (454), AUTH PLAIN in cleartext (swaks)", swaks(NOTLS, 25, "trent", pw("trent"), "-tlso", "-a", "PLAIN"),
     expect("smtp", "AUTH PLAIN", "trent", "success", "refused", dest=NOTLS, port=25), 0),
    ("imap STARTTLS refused (BAD), LOGIN in cleartext (imaplib)",
     py("imap_login", host=NOTLS, port=143, user="victor", password=pw("victor"), starttls="refused"),
     expect("imap", "LOGIN", "victor", "success", "refused", dest=NOTLS, port=143), 0),
    ("imaps, implicit TLS (curl)", curl(f"imaps://{SRV}/", "walter", pw("walter"), "-k"), None, 0),
    ("pop3s, implicit TLS (curl)", curl(f"pop3s://{SRV}/", "wendy", pw("wendy"), "-k"), None, 0),
    ("smtps, implicit TLS (swaks)", swaks(SRV, 465, "xavier", pw("xavier"), "-tlsc", "-a", "PLAIN"), None, 0),
    ("smtp AUTH LOGIN, wrong password (swaks)", swaks(SRV, 25, "yvonne", WRONG, "-a", "LOGIN"),
     expect("smtp", "AUTH LOGIN", "yvonne", "failure", "offered", port=25), None),
]
USERS = ["alice", "bobby", "carol", "david", "erin", "frank", "grace", "judy", "mallory", "heidi", "ivan",
         "oscar", "peggy", "trent", "victor", "walter", "wendy", "xavier", "yvonne"]
SECRETS = [pw(u) for u in USERS] + [WRONG]
TLS_USERS = {"judy", "mallory", "oscar", "peggy", "walter", "wendy", "xavier"}


def write_credentials():
    """dovecot passwd-file and exim lsearch file with every account (yvonne's real password is not
    the one her client sends)."""
    dv = "".join(f"{u}:{{PLAIN}}{pw(u)}::::::\n" for u in USERS)
    ex = "".join(f"{u}: {pw(u)}\n" for u in USERS)
    for name, text in (("passwd", dv), ("exim-passwd", ex)):
        path = os.path.join(WORK, name)
        with open(path + ".new", "w") as f:
            f.write(text)
        os.chmod(path + ".new", 0o644)
        os.replace(path + ".new", path)


def run_client(name, argv, rc, logf):
    logf.write(f"\n##### {name}: {' '.join(argv)}\n")
    logf.flush()
    left = DEADLINE - time.monotonic()
    if left < 5:
        check(False, f"out of time before client '{name}'")
        return
    try:
        # own UTS namespace: swaks puts the host name in Message-Ids; it should be the lab's
        r = subprocess.run(["ip", "netns", "exec", NS_C, "unshare", "--uts", "sh", "-c",
                            'hostname client.example.org && exec "$0" "$@"', *argv],
                           stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, timeout=min(60, left))
    except subprocess.TimeoutExpired:
        check(False, f"client '{name}' timed out")
        return
    check(rc is None or r.returncode == rc, f"client '{name}' exited {r.returncode}, expected {rc}")
    time.sleep(0.2)   # the server's FIN/ACK lands before the next connection


# ---------------------------------------------------------------- plainsight instances
class Instance:
    def __init__(self, name, args, policy, json_out, output_file=None):
        self.name, self.args, self.policy, self.json = name, args, policy, json_out
        self.dir = os.path.join(WORK, f"run-{name}")
        os.makedirs(self.dir)
        # nobody must be able to create a new file here after SIGHUP (rotation)
        nobody = pwd.getpwnam("nobody")
        os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        self.output_file = os.path.join(self.dir, output_file) if output_file else None
        self.stdout_path, self.stderr_path = os.path.join(self.dir, "stdout"), os.path.join(self.dir, "stderr")
        argv = ["ip", "netns", "exec", NS_S, BIN, *args]
        if self.output_file:
            argv += ["-o", self.output_file]
        self.argv = argv
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            # `ip netns exec` execs plainsight: this PID is plainsight's
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.status = {}

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_listening(self):
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if "listening on" in self.stderr():
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return check(False, f"{self.name}: no 'listening on' line: {self.stderr()!r}")

    def read_ids(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("Uid", "Gid", "Groups", "CapEff", "CapPrm"):
                    self.status[key] = value.split()
        uids = [int(x) for x in self.status.get("Uid", ["0"])]
        gids = [int(x) for x in self.status.get("Gid", ["0"])]
        check(all(u != 0 for u in uids), f"{self.name}: uid after start {uids}")
        check(all(g != 0 for g in gids), f"{self.name}: gid after start {gids}")
        check(0 not in [int(g) for g in self.status.get("Groups", [])], f"{self.name}: still in group 0")
        check(int(self.status.get("CapEff", ["1"])[0], 16) == 0, f"{self.name}: capabilities left {self.status.get('CapEff')}")
        # every thread (the capture and output writer threads too), not only the main one
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            with open(f"/proc/{self.proc.pid}/task/{task}/status") as f:
                ids = [line.split()[1:] for line in f if line.startswith(("Uid:", "Gid:"))]
            check(all(int(x) != 0 for row in ids for x in row), f"{self.name}: thread {task} still has id 0: {ids}")
        self.threads = len(os.listdir(f"/proc/{self.proc.pid}/task"))
        return uids[0]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            check(False, f"{self.name}: did not stop within 20 s of SIGTERM")
            return None

    def outputs(self):
        """Every file plainsight wrote: (label, bytes)."""
        files = [("stdout", self.stdout_path), ("stderr", self.stderr_path)]
        # oldest first: a rotated file (NAME.1) before the file opened after SIGHUP
        for f in sorted(os.listdir(self.dir), key=lambda f: (not f.endswith(".1"), f)):
            p = os.path.join(self.dir, f)
            if p not in (self.stdout_path, self.stderr_path):
                files.append((f, p))
        return [(label, open(p, "rb").read()) for label, p in files]


TEXT_LINE = re.compile(r"^(\S+) (pop3|imap|smtp) (.+?) (cleartext|hashed) (?:user=(\S+) )?(\S+) -> (\S+) "
                       r"(?:tunnel=([^\s\[]+)(?:\[([^\]]*)\])? )?"
                       r"outcome=(\w+) starttls=(\w+)(?: .*)?$")


def endpoint(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def schema_validator():
    """docs/schema's check of one JSON line (scripts/validate-json), loaded once."""
    global _validator
    if _validator is None:
        import importlib.machinery
        import importlib.util
        here = os.path.dirname(os.path.abspath(__file__))
        loader = importlib.machinery.SourceFileLoader("validate_json", os.path.join(here, "..", "validate-json"))
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader("validate_json", loader))
        loader.exec_module(module)
        _validator = module.load_validator("event.schema.json")
    return _validator


_validator = None


def parse_alerts(inst, data):
    """Alerts and stats events in one output, each checked against docs/schema."""
    alerts, stats = [], []
    for line in data.decode(errors="replace").splitlines():
        if not line:
            continue
        if inst.json:
            event = json.loads(line)
            problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
                        for e in schema_validator().iter_errors(event)]
            check(not problems, f"{inst.name}: event not valid against docs/schema: {problems[:3]} in {line[:200]!r}")
            if event["event_type"] == "stats":
                stats.append(event["stats"])
                continue
            if event["event_type"] != "cleartext_auth":
                continue   # other reports (server_exposure): not alerts; still searched for secrets
            a = event["auth"]
            alerts.append({"app_proto": event["app_proto"], "method": a["method"], "exposure": a["exposure"],
                           "username": a.get("username"), "outcome": a["outcome"], "starttls": a["starttls"],
                           "src_ip": event["src_ip"], "dest_ip": event["dest_ip"], "dest_port": event["dest_port"],
                           "secret": a["secret"], "src_port": event["src_port"], "flow_id": event["flow_id"],
                           "tunnel": event.get("tunnel")})
        else:
            m = TEXT_LINE.match(line)
            if not check(m is not None, f"{inst.name}: unparsed text line {line!r}"):
                continue
            _, proto, method, exposure, user, src, dst, layers, details, outcome, starttls = m.groups()
            (sip, sport), (dip, dport) = endpoint(src), endpoint(dst)
            alerts.append({"app_proto": proto, "method": method, "exposure": exposure, "username": user,
                           "outcome": outcome, "starttls": starttls, "src_ip": sip, "dest_ip": dip,
                           "dest_port": dport, "secret": "redacted", "src_port": sport,
                           "tunnel": text_tunnel(layers, details)})
    return alerts, stats


def text_tunnel(layers, details):
    """` tunnel=vxlan[198.51.100.1->198.51.100.10 vni=4242]` as the JSON object would have it."""
    if layers is None:
        return None
    kinds = layers.split("+")
    t = {"type": kinds[0], "layers": kinds}
    for token in (details or "").split():
        if "->" in token:
            t["src_ip"], _, t["dest_ip"] = token.partition("->")
        else:
            k, _, v = token.partition("=")
            t[k] = int(v) if v.isdigit() else v
    return t


def masked(user):
    return user[0] + "***" + user[-1] if len(user) > 2 else "***"


def key(a):
    return tuple(a[k] for k in ("app_proto", "method", "exposure", "username", "outcome", "starttls",
                                "src_ip", "dest_ip", "dest_port"))


def secret_forms(secret, users):
    def b64(b):
        return base64.b64encode(b).decode().rstrip("=")
    s = secret.encode()
    forms = {secret, b64(s), s.hex()}
    for u in users + [""]:
        forms |= {b64(b"\0" + u.encode() + b"\0" + s), b64(u.encode() + b"\0" + u.encode() + b"\0" + s)}
    return [f for f in forms if len(f) >= 4]


def check_workers(inst, final, r):
    """--workers 2: the final stats event has one entry per worker, and they add up to the totals."""
    workers = final.get("workers") or []
    r["workers"] = [{k: w.get(k) for k in ("worker", "packets", "flows", "alerts")} | {"received": w.get("capture", {}).get("received")}
                    for w in workers]
    if not check([w.get("worker") for w in workers] == [1, 2], f"{inst.name}: workers field {workers!r}"):
        return
    for field in ("packets", "alerts"):
        check(sum(w[field] for w in workers) == final.get(field),
              f"{inst.name}: per-worker {field} {[w[field] for w in workers]} do not add up to {final.get(field)}")
    check(sum(w["flows"] for w in workers) == final.get("flows", {}).get("created"),
          f"{inst.name}: per-worker flows do not add up to flows.created")
    for key in ("received", "dropped_kernel", "dropped_interface"):
        check(sum(w["capture"][key] for w in workers) == final["capture"][key],
              f"{inst.name}: per-worker capture.{key} do not add up")
    # about 20 connections hashed over two workers: all on one has a chance near 2 in a million
    check(all(w["packets"] > 0 for w in workers), f"{inst.name}: a worker saw no packet: {r['workers']}")


def check_worker_lines(inst, err, r):
    """--workers 2 with text output: the final totals line, then one line per worker adding up to it."""
    total = re.search(r"plainsight: \S+: final statistics: (\d+) packets received by filter, (\d+) dropped by kernel, "
                      r"(\d+) dropped by interface; (\d+) processed, (\d+) flows, (\d+) alerts", err)
    lines = re.findall(r"plainsight: \S+ worker (\d+): final statistics: (\d+) packets received by filter, (\d+) "
                       r"dropped by kernel, (\d+) dropped by interface; (\d+) processed, (\d+) flows, (\d+) alerts", err)
    r["workers"] = [{"worker": int(w), "received": int(rc), "packets": int(p), "flows": int(f), "alerts": int(a)}
                    for w, rc, _, _, p, f, a in lines]
    if not check(total is not None and [w for w, *_ in lines] == ["1", "2"],
                 f"{inst.name}: expected a final totals line and two worker lines on stderr"):
        return
    for column, name in ((1, "received"), (2, "dropped by kernel"), (4, "processed"), (5, "flows"), (6, "alerts")):
        check(sum(int(line[column]) for line in lines) == int(total.group(column)),
              f"{inst.name}: per-worker '{name}' does not add up to the total")
    check(all(int(line[4]) > 0 for line in lines), f"{inst.name}: a worker saw no packet: {r['workers']}")


def main():
    write_credentials()
    expected_first = [c[2] for c in FIRST if c[2]]
    expected_second = [c[2] for c in SECOND if c[2]]
    expected = expected_first + expected_second

    instances = [
        # A: default mail-port filter, JSON to a file rotated with SIGHUP, periodic statistics
        Instance("A", ["-i", IF_S, "--json", "--stats-interval", "1", "-Z", "nobody"], "mask", True, "alerts.jsonl"),
        # B: --any-port (the implicit-TLS flows are examined too), full usernames, JSON on stdout
        Instance("B", ["-i", IF_S, "--any-port", "--json", "--user-policy", "full"], "full", True),
        # C: the 'any' device, not promiscuous, text lines, -Z given explicitly
        Instance("C", ["-i", "any", "--no-promisc", "-Z", "nobody"], "mask", False),
        # D: two workers, each with its own handle in one PACKET_FANOUT group and its own engine
        Instance("D", ["-i", IF_S, "--workers", "2", "--json"], "mask", True),
        # E: two workers on the 'any' device (cooked packet sockets fan out too), text lines
        Instance("E", ["-i", "any", "--workers", "2", "-Z", "nobody"], "mask", False),
    ]
    result = {"instances": {}}
    try:
        listening = all([i.wait_listening() for i in instances])
        uids = {i.name: i.read_ids() for i in instances if i.proc.poll() is None} if listening else {}
        with open(os.path.join(WORK, "clients.log"), "w") as logf:
            if listening:
                for name, argv, _, rc in FIRST:
                    run_client(name, argv, rc, logf)
                time.sleep(0.5)
                # rotation: the file is moved away, SIGHUP makes A open a new one at the same path
                a = instances[0]
                os.rename(a.output_file, a.output_file + ".1")
                a.proc.send_signal(signal.SIGHUP)
                for i in instances[1:]:
                    i.proc.send_signal(signal.SIGUSR1)
                time.sleep(0.5)
                check(os.path.exists(a.output_file), "A: SIGHUP did not create a new output file")
                for name, argv, _, rc in SECOND:
                    run_client(name, argv, rc, logf)
                time.sleep(1.0)   # the last FIN/ACKs reach the capture
    finally:
        statuses = {i.name: i.stop() for i in instances}

    for inst in instances:
        r = {"exit": statuses[inst.name], "uid_after_start": uids.get(inst.name), "threads": getattr(inst, "threads", None),
             "groups": inst.status.get("Groups"), "cap_eff": (inst.status.get("CapEff") or [None])[0]}
        check(statuses[inst.name] == 0, f"{inst.name}: exit status {statuses[inst.name]}")
        outs = inst.outputs()
        alerts, stats = [], []
        per_file = {}
        for label, data in outs:
            if label == "stderr":
                continue
            got, st = parse_alerts(inst, data)
            per_file[label] = len(got)
            alerts += got
            stats += st
        # exactly the expected alerts (username as the policy shows it)
        want = []
        for e in expected:
            e = dict(e)
            e["username"] = masked(e["username"]) if inst.policy == "mask" else e["username"]
            want.append(e)
        missing = sorted(set(map(key, want)) - set(map(key, alerts)))
        extra = sorted(set(map(key, alerts)) - set(map(key, want)))
        check(sorted(map(key, alerts)) == sorted(map(key, want)),
              f"{inst.name}: alerts differ: missing {missing}, unexpected {extra}, "
              f"{len(alerts)} seen for {len(want)} expected")
        # every client connection carries one login: a second alert for one is a duplicate (with
        # --workers, a flow whose packets reached two workers)
        connections = [(a["src_ip"], a["src_port"], a["dest_ip"], a["dest_port"]) for a in alerts]
        duplicates = sorted({c for c in connections if connections.count(c) > 1})
        check(not duplicates, f"{inst.name}: several alerts for one connection: {duplicates}")
        r["duplicates"] = len(connections) - len(set(connections))
        if inst.json:
            ids = [a["flow_id"] for a in alerts]
            check(len(set(ids)) == len(ids), f"{inst.name}: flow ids repeat across alerts: {sorted(ids)}")
        check(all(a["secret"] == "redacted" for a in alerts), f"{inst.name}: a secret field is not 'redacted'")
        check(not any(a["dest_port"] in (465, 993, 995) for a in alerts), f"{inst.name}: an alert for an implicit-TLS session")
        tls_names = {masked(u) if inst.policy == "mask" else u for u in TLS_USERS}
        if inst.policy == "full":
            check(not any(a["username"] in tls_names for a in alerts), f"{inst.name}: an alert for a STARTTLS session")
        # no secret, in any encoding, anywhere
        leaks = [(label, s) for label, data in outs for s in SECRETS
                 for form in secret_forms(s, USERS) if form.encode() in data]
        check(not leaks, f"{inst.name}: secrets in the output: {leaks[:5]}")
        if inst.policy == "mask":
            names = [(label, u) for label, data in outs for u in USERS if re.search(rb"\b" + u.encode() + rb"\b", data)]
            check(not names, f"{inst.name}: full usernames under the mask policy: {names[:5]}")
        # kernel counters at the end
        err = inst.stderr()
        if inst.json:
            final = stats[-1] if stats else {}
            cap = final.get("capture", {})
            drops = cap.get("dropped_kernel")
            r["received"] = cap.get("received")
            r["dropped_interface"] = cap.get("dropped_interface")
            r["stats_events"] = len(stats)
            check(len(stats) >= 2, f"{inst.name}: {len(stats)} stats events, expected interim ones and a final one")
            workers = final.get("workers")
            if "--workers" in inst.args:
                check_workers(inst, final, r)
            else:
                check(workers is None, f"{inst.name}: a workers field without --workers")
        else:
            m = re.search(r"final statistics: (\d+) packets received by filter, (\d+) dropped by kernel, "
                          r"(\d+) dropped by interface", err)
            check(m is not None, f"{inst.name}: no final statistics line on stderr")
            drops = int(m.group(2)) if m else None
            r["received"] = int(m.group(1)) if m else None
            r["dropped_interface"] = int(m.group(3)) if m else None
            check(re.search(r": statistics: \d+ packets received", err) is not None,
                  f"{inst.name}: SIGUSR1 printed no statistics line")
            if "--workers" in inst.args:
                check_worker_lines(inst, err, r)
        r["dropped_kernel"] = drops
        check(drops == 0, f"{inst.name}: {drops} packets dropped by the kernel")
        # stderr: the listening line and statistics only, no warning or error
        other = [ln for ln in err.splitlines()
                 if not re.match(r"plainsight: (listening on |\S+( worker \d+)?: (final )?statistics: )", ln)]
        check(not other, f"{inst.name}: unexpected stderr lines {other}")
        r["alerts_seen"] = len(alerts)
        r["alerts_expected"] = len(want)
        r["alerts_per_file"] = per_file
        result["instances"][inst.name] = r

    a = result["instances"]["A"]
    check(a["alerts_per_file"].get("alerts.jsonl.1") == len(expected_first)
          and a["alerts_per_file"].get("alerts.jsonl") == len(expected_second),
          f"A: alerts before/after SIGHUP {a['alerts_per_file']}, expected {len(expected_first)}/{len(expected_second)}")
    result["expected"] = len(expected)
    result["tls_sessions"] = len(TLS_USERS)
    result["failures"] = failures
    print("LIVE-RESULT " + json.dumps(result, sort_keys=True), flush=True)
    return 0 if not failures else 1


# ---------------------------------------------------------------- tunnel mode
TUNNEL = os.environ.get("LT_TUNNEL", "")


def expected_tunnel():
    """The alert's `tunnel` object: the outermost layer, the underlay endpoints of the client's
    direction (client VTEP to server VTEP) and the tunnel id."""
    kind = {"vxlan": "vxlan", "gretap": "gre"}[TUNNEL]
    t = {"type": kind, "src_ip": os.environ["LT_UNDERLAY_C"], "dest_ip": os.environ["LT_UNDERLAY_S"],
         "layers": [kind]}
    t["vni" if kind == "vxlan" else "gre_key"] = int(os.environ["LT_TUNNEL_ID"])
    return t


UNDERLAY_PROBES = 200


def underlay_probe(logf):
    """UNDERLAY_PROBES UDP datagrams across the underlay to the discard port, outside any tunnel:
    the default filter keeps them in the kernel, so they must not show up as skipped non-TCP
    packets (a missing filter would add them all)."""
    code = (f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for _ in range({UNDERLAY_PROBES}): s.sendto(b'plainsight-probe', ('{os.environ['LT_UNDERLAY_S']}', 9))\n")
    try:
        r = subprocess.run(["ip", "netns", "exec", NS_C, PY, "-c", code], stdin=subprocess.DEVNULL, stdout=logf,
                           stderr=subprocess.STDOUT, timeout=20)
        check(r.returncode == 0, f"underlay probe exited {r.returncode}")
    except subprocess.TimeoutExpired:
        check(False, "underlay probe timed out")


def main_tunnel():
    write_credentials()
    mtu = int(os.environ.get("LT_UNDERLAY_MTU", "1500"))
    fragmented = mtu < 1500
    cases = FIRST + SECOND
    expected = [c[2] for c in cases if c[2]]
    want_tunnel = expected_tunnel()
    # capture on the underlay with plainsight's defaults: no BPF expression, so the default filter
    # (mail ports, tunnel ports, IPv4 fragments) is the one installed
    instances = [
        Instance("T", ["-i", IF_S, "--json", "-Z", "nobody"], "mask", True),
        Instance("X", ["-i", IF_S, "-Z", "nobody"], "mask", False),
    ]
    result = {"mode": TUNNEL, "underlay_mtu": mtu, "tunnel_expected": want_tunnel, "instances": {}}
    uids = {}
    try:
        listening = all([i.wait_listening() for i in instances])
        uids = {i.name: i.read_ids() for i in instances if i.proc.poll() is None} if listening else {}
        with open(os.path.join(WORK, "clients.log"), "w") as logf:
            if listening:
                underlay_probe(logf)
                for name, argv, _, rc in cases:
                    run_client(name, argv, rc, logf)
                time.sleep(1.0)   # the last FIN/ACKs reach the capture
    finally:
        statuses = {i.name: i.stop() for i in instances}

    want = []
    for e in expected:
        e = dict(e)
        e["username"] = masked(e["username"])
        want.append(e)
    for inst in instances:
        r = {"exit": statuses[inst.name], "uid_after_start": uids.get(inst.name)}
        check(statuses[inst.name] == 0, f"{inst.name}: exit status {statuses[inst.name]}")
        outs = inst.outputs()
        alerts, stats = [], []
        for label, data in outs:
            if label == "stderr":
                continue
            got, st = parse_alerts(inst, data)
            alerts += got
            stats += st
        missing = sorted(set(map(key, want)) - set(map(key, alerts)))
        extra = sorted(set(map(key, alerts)) - set(map(key, want)))
        check(sorted(map(key, alerts)) == sorted(map(key, want)),
              f"{inst.name}: alerts differ: missing {missing}, unexpected {extra}, "
              f"{len(alerts)} seen for {len(want)} expected")
        connections = [(a["src_ip"], a["src_port"], a["dest_ip"], a["dest_port"]) for a in alerts]
        r["duplicates"] = len(connections) - len(set(connections))
        check(r["duplicates"] == 0, f"{inst.name}: several alerts for one connection")
        # the inner endpoints are the lab's (key() compared src_ip, dest_ip, dest_port); the
        # client's ports are ephemeral ones, never a VTEP's
        check(all(a["src_port"] >= 1024 for a in alerts), f"{inst.name}: an alert with a client port below 1024")
        wrong_tunnel = [(a["username"], a["tunnel"]) for a in alerts if a["tunnel"] != want_tunnel]
        r["tunnel_mismatches"] = len(wrong_tunnel)
        check(not wrong_tunnel, f"{inst.name}: tunnel objects differ from {want_tunnel}: {wrong_tunnel[:4]}")
        r["tunnels_seen"] = sorted({json.dumps(a["tunnel"], sort_keys=True) for a in alerts})
        check(all(a["secret"] == "redacted" for a in alerts), f"{inst.name}: a secret field is not 'redacted'")
        check(not any(a["dest_port"] in (465, 993, 995) for a in alerts), f"{inst.name}: an alert for an implicit-TLS session")
        leaks = [(label, sec) for label, data in outs for sec in SECRETS
                 for form in secret_forms(sec, USERS) if form.encode() in data]
        check(not leaks, f"{inst.name}: secrets in the output: {leaks[:5]}")
        names = [(label, u) for label, data in outs for u in USERS if re.search(rb"\b" + u.encode() + rb"\b", data)]
        check(not names, f"{inst.name}: full usernames under the mask policy: {names[:5]}")
        err = inst.stderr()
        if inst.json:
            final = stats[-1] if stats else {}
            check(len(stats) == 1, f"{inst.name}: {len(stats)} stats events, expected the final one")
            cap = final.get("capture", {})
            r["received"], r["dropped_kernel"] = cap.get("received"), cap.get("dropped_kernel")
            frag = final.get("fragments") or {}
            r["fragments"] = {k: frag.get(k) for k in ("received", "reassembled", "timed_out", "discarded",
                                                      "evicted", "invalid", "memory_budget_hits")}
            r["packets"] = final.get("packets")
            r["encapsulation"] = final.get("encapsulation")
            r["skipped"] = final.get("skipped")
            not_tcp = (final.get("skipped") or {}).get("not_tcp")
            check(not_tcp is not None and not_tcp < UNDERLAY_PROBES,
                  f"{inst.name}: {not_tcp} non-TCP packets skipped: the underlay probe passed the default filter")
            if fragmented:
                check((frag.get("reassembled") or 0) > 0,
                      f"{inst.name}: underlay MTU {mtu} but no fragments reassembled: {frag}")
                for k in ("timed_out", "discarded", "evicted", "invalid", "memory_budget_hits"):
                    check(frag.get(k) == 0, f"{inst.name}: fragments.{k} = {frag.get(k)}")
            else:
                check(frag.get("received") == 0, f"{inst.name}: fragments on a 1500-byte underlay: {frag}")
        else:
            m = re.search(r"final statistics: (\d+) packets received by filter, (\d+) dropped by kernel", err)
            check(m is not None, f"{inst.name}: no final statistics line on stderr")
            r["received"], r["dropped_kernel"] = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        check(r["dropped_kernel"] == 0, f"{inst.name}: {r['dropped_kernel']} packets dropped by the kernel")
        other = [ln for ln in err.splitlines()
                 if not re.match(r"plainsight: (listening on |\S+( worker \d+)?: (final )?statistics: )", ln)]
        check(not other, f"{inst.name}: unexpected stderr lines {other}")
        r["alerts_seen"] = len(alerts)
        r["alerts_expected"] = len(want)
        r["sample"] = next((ln for label, data in outs if label != "stderr"
                            for ln in data.decode(errors="replace").splitlines()
                            if "tunnel" in ln and ("cleartext_auth" in ln or " outcome=" in ln)), None)
        result["instances"][inst.name] = r
    result["expected"] = len(expected)
    result["tls_sessions"] = len(TLS_USERS)
    result["failures"] = failures
    print("LIVE-RESULT " + json.dumps(result, sort_keys=True), flush=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main_tunnel() if TUNNEL else main())
