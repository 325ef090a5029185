#!/usr/bin/env python3
"""A collector-style file for the report-merge workload (scripts/bench.d/report-merge.sh).

Usage: gen-events.py OUT --sessions N [--overlap PCT] [--servers N] [--seed N]

Writes what an rsyslog collector receiving two sensors' RFC 5424 messages writes with
RSYSLOG_SyslogProtocol23Format: sensor `a` sends a mail_session event for every one of N sessions
(to --servers servers, times increasing, 0 to 2 logins each, masked names), sensor `b` a copy of
PCT% of them (two taps on one path: the same community_id, times 40 us later, a few lines later in
the file); both send a cleartext_auth alert line per login (text message, as plainsight does) and,
at the end, their server_exposure events and a stats event. Deterministic for a seed. Fake names.
"""
import argparse
import base64
import hashlib
import json
import random
import struct
import sys


def rfc3339(ns):
    s, frac = divmod(ns, 1_000_000_000)
    days, sec = divmod(s, 86400)
    # days since 1970-01-01 -> civil date (Howard Hinnant)
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y += m <= 2
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (y, m, d, sec // 3600, sec // 60 % 60, sec % 60, frac // 1000)


def community_id(src, sport, dst, dport):
    a, b = bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))
    if (a, sport) > (b, dport):
        a, sport, b, dport = b, dport, a, sport
    h = hashlib.sha1(struct.pack("!H", 0) + a + b + bytes([6, 0]) + struct.pack("!HH", sport, dport)).digest()
    return "1:" + base64.b64encode(h).decode()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--sessions", type=int, default=800_000)
    p.add_argument("--overlap", type=int, default=30)
    p.add_argument("--servers", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    rng = random.Random(args.seed)
    protos = [(25, "smtp"), (587, "smtp"), (110, "pop3"), (143, "imap"), (993, "imap")]
    nets = ["192.0.2.", "198.51.100.", "203.0.113."]
    servers = []
    for i in range(args.servers):
        port, proto = protos[i % len(protos)]
        j = i // len(protos)          # each address serves every protocol
        servers.append(("%s%d" % (nets[j // 250 % 3], 1 + j % 250), port, proto))
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    greetings = {"smtp": "220 mail.example.net ESMTP Postfix", "pop3": "+OK Dovecot ready.", "imap": "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] Dovecot ready."}
    methods = {"smtp": "AUTH PLAIN", "pop3": "USER", "imap": "LOGIN"}
    mechanisms = {"smtp": ["PLAIN", "LOGIN"], "pop3": ["PLAIN"], "imap": ["PLAIN"]}
    events = 0
    t = 1_764_000_000 * 1_000_000_000
    pending_b = []
    with open(args.out, "w", buffering=1 << 20) as out:
        def syslog(host, msgid, sd, message, when):
            out.write("<133>1 %s %s plainsight 4242 %s [plainsight@32473 %s] %s\n"
                      % (rfc3339(when + 2_000_000), host, msgid, sd, message))

        for n in range(args.sessions):
            t += rng.randrange(200_000, 2_000_000)
            server, port, proto = servers[rng.randrange(len(servers))]
            client = "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), 1 + rng.randrange(254))
            cport = 1024 + rng.randrange(64000)
            cid = community_id(client, cport, server, port)
            first, last = t, t + rng.randrange(5_000_000, 80_000_000)
            implicit = port == 993
            body = {"first_seen": rfc3339(first), "last_seen": rfc3339(last), "midstream": False, "implicit_tls": implicit}
            logins = []
            if not implicit:
                offered = rng.random() < 0.9
                body.update({"greeting": greetings[proto], "capabilities_seen": True, "starttls_offered": offered,
                             "logindisabled": False, "auth_mechanisms": mechanisms[proto], "user_offered": proto == "pop3",
                             "plaintext_offered": ["AUTH " + m for m in mechanisms[proto]] + (["USER"] if proto == "pop3" else []),
                             "starttls_requested": False, "starttls_accepted": False, "starttls_refused": False})
                for k in range(rng.choice([0, 0, 1, 1, 2])):
                    name = names[rng.randrange(len(names))]
                    logins.append({"timestamp": rfc3339(first + 1_000_000 * (k + 1)), "method": methods[proto],
                                   "exposure": "cleartext", "outcome": rng.choice(["success", "success", "failure"]),
                                   "username": name[0] + "***" + name[-1]})
            body["logins"] = logins
            body["user_policy"] = "mask"

            def event(host, shift):
                b = dict(body)
                if shift:
                    b["first_seen"], b["last_seen"] = rfc3339(first + shift), rfc3339(last + shift)
                e = {"timestamp": rfc3339(last + shift), "event_type": "mail_session", "flow_id": n + 1,
                     "src_ip": client, "src_port": cport, "dest_ip": server, "dest_port": port, "proto": "TCP",
                     "app_proto": proto, "mail_session": b, "community_id": cid, "host": host}
                sd = 'timestamp="%s" event_type="mail_session" flow_id="%d" src_ip="%s" src_port="%d" dest_ip="%s" dest_port="%d" app_proto="%s" community_id="%s" host="%s"' % (
                    e["timestamp"], n + 1, client, cport, server, port, proto, cid, host)
                return sd, json.dumps(e, separators=(",", ":"))

            for login in logins:
                line = "%s %s %s cleartext user=%s %s:%d -> %s:%d outcome=%s" % (
                    login["timestamp"], proto, login["method"], login["username"], client, cport, server, port, login["outcome"])
                syslog("a", "cleartext_auth", 'event_type="cleartext_auth" host="a"', line, first)
            sd, js = event("a", 0)
            syslog("a", "mail_session", sd, js, last)
            events += 1
            if rng.randrange(100) < args.overlap:
                pending_b.append((rng.randrange(1, 6), event("b", 40_000), last))
            # b's copies arrive a few sessions later
            keep = []
            for wait, (sd_b, js_b), when in pending_b:
                if wait <= 1:
                    syslog("b", "mail_session", sd_b, js_b, when)
                    events += 1
                else:
                    keep.append((wait - 1, (sd_b, js_b), when))
            pending_b = keep
        for _, (sd_b, js_b), when in pending_b:
            syslog("b", "mail_session", sd_b, js_b, when)
            events += 1
        for host in ("a", "b"):
            stats = {"timestamp": rfc3339(t), "event_type": "stats", "packets": 1, "host": host}
            syslog(host, "stats", 'event_type="stats"', json.dumps(stats, separators=(",", ":")), t)
    print(json.dumps({"events": events, "sessions": args.sessions}))


if __name__ == "__main__":
    sys.exit(main())
