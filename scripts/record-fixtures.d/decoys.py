#!/usr/bin/env python3
"""Generated TCP-integrity fixtures (issue 17): recorded logins with crafted packets injected.

Each recipe takes a recorded Ethernet/IPv4 capture and adds or changes one or two TCP segments the
way an evasion or a broken path would, keeping every recorded packet (its timestamp, its ACKs) as
it was: the ACKs of the real endpoints are the ground truth of what each one received.

  junk      the server's reply to USER carries junk past "+OK\\r\\n" that the client never
            acknowledges (it ACKs only the "+OK"); the real reply to PASS follows at the junk's
            sequence numbers. First-copy reassembly parses the junk as the PASS reply.
  decoy     a short LOGIN with another user name at the real LOGIN's sequence number, TTL 1 (it
            dies before the server), just before the real one; the server ACKs past the real one.
  tls       a server "OK Begin TLS" to the client's STARTTLS, TTL 1, at the sequence number of the
            real refusal, which follows; a cleartext login comes after.
  rst       a RST from the server with a sequence number a million bytes outside the client's
            window, right after the greeting; the session goes on.

Injected packets get correct IPv4 and TCP checksums (an invalid one is the checksum validation's
case, not this one's) and the timestamp of the packet they precede, minus 1 microsecond. A pure
function of the source captures: a rerun writes the same bytes.

Usage: decoys.py            write every capture, its manifest entry and README section
       decoys.py --list     list the recipes
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tunnelwire as tw  # noqa: E402
import manifestmerge  # noqa: E402

TOOL = "scripts/record-fixtures.d/decoys.py"
FIX = tw.FIXTURES


def tcp_fields(frame):
    """(ip offset, ip header length, tcp offset, tcp header length, seq, ack, flags, payload)."""
    ip = 14
    ihl = (frame[ip] & 0x0F) * 4
    total = struct.unpack("!H", frame[ip + 2:ip + 4])[0]
    tcp = ip + ihl
    thl = (frame[tcp + 12] >> 4) * 4
    seq, ack = struct.unpack("!II", frame[tcp + 4:tcp + 12])
    return ip, ihl, tcp, thl, seq, ack, frame[tcp + 13], frame[tcp + thl:ip + total]


def rebuild(frame, payload=None, seq=None, flags=None, ttl=None):
    """The frame with another TCP payload, sequence number, flags or TTL; lengths and checksums
    recomputed."""
    ip, ihl, tcp, thl, old_seq, _, old_flags, old_payload = tcp_fields(frame)
    payload = old_payload if payload is None else payload
    iph = bytearray(frame[ip:ip + ihl])
    tcph = bytearray(frame[tcp:tcp + thl])
    struct.pack_into("!H", iph, 2, ihl + thl + len(payload))
    if ttl is not None:
        iph[8] = ttl
    struct.pack_into("!H", iph, 10, 0)
    struct.pack_into("!H", iph, 10, tw.inet_csum(bytes(iph)))
    struct.pack_into("!I", tcph, 4, old_seq if seq is None else seq)
    tcph[13] = old_flags if flags is None else flags
    struct.pack_into("!H", tcph, 16, 0)
    pseudo = bytes(iph[12:20]) + struct.pack("!BBH", 0, 6, thl + len(payload))
    struct.pack_into("!H", tcph, 16, tw.inet_csum(pseudo + bytes(tcph) + payload))
    return frame[:ip] + bytes(iph) + bytes(tcph) + payload


def find(records, starts, whole=False):
    """Index of the first record whose TCP payload starts with `starts` (is `starts`, if whole)."""
    for i, (_, f) in enumerate(records):
        payload = tcp_fields(f)[7]
        if payload == starts if whole else payload.startswith(starts):
            return i
    raise SystemExit(f"{TOOL}: no segment starting with {starts!r}")


def junk(records):
    i = find(records, b"+OK\r\n", whole=True)           # the reply to USER
    j = find(records, b"+OK Logged in")                 # the reply to PASS, at the junk's offsets
    real = tcp_fields(records[j][1])[7]
    fake = b"-ERR nope\r\n"
    assert len(fake) <= len(real)
    ts, f = records[i]
    records[i] = (ts, rebuild(f, payload=tcp_fields(f)[7] + fake))
    return records


def decoy(records):
    i = find(records, b"PFKL1 LOGIN ")
    ts, f = records[i]
    fake = b"PFKL1 LOGIN mallory x\r\n"
    assert len(fake) < len(tcp_fields(f)[7])
    records.insert(i, (ts - 1000, rebuild(f, payload=fake, ttl=1)))
    return records


def tls(records):
    i = find(records, b"BFNB1 BAD ")
    ts, f = records[i]
    fake = b"BFNB1 OK Begin TLS now\r\n"
    assert len(fake) <= len(tcp_fields(f)[7])
    records.insert(i, (ts - 1000, rebuild(f, payload=fake, ttl=1)))
    return records


def rst(records):
    i = find(records, b"+OK Dovecot")                   # the greeting, from the server
    ts, f = records[i]
    seq = tcp_fields(f)[4]
    spoofed = rebuild(f, payload=b"", seq=(seq + 1_000_000) & 0xFFFFFFFF, flags=0x04)
    records.insert(i + 1, (ts + 1000, spoofed))
    return records


# name, source, recipe, description, expected alert changes, stats the golden must show
RECIPES = [
    ("decoy-junk-pop3-user-pass", "pop3-user-pass.pcap", junk,
     "the reply to USER carries '-ERR nope' past its '+OK', never acknowledged; the real '+OK Logged in.' "
     "follows at those sequence numbers: outcome success, overlap_conflict", {"overlap_conflict": True}),
    ("decoy-login-imap-login-quoted", "imap-login-quoted.pcap", decoy,
     "a LOGIN for 'mallory' at the real LOGIN's sequence number, TTL 1, before it; the server ACKs past "
     "the real one: one alert, for bob, success, overlap_conflict", {"overlap_conflict": True}),
    ("decoy-tls-imap-starttls-refused", "imap-starttls-refused.pcap", tls,
     "'OK Begin TLS now' at the sequence number of the real STARTTLS refusal, TTL 1, before it, never "
     "acknowledged: no upgrade, the cleartext LOGIN is found, starttls refused, overlap_conflict",
     {"overlap_conflict": True}),
    ("decoy-rst-pop3-user-pass", "pop3-user-pass.pcap", rst,
     "a RST from the server a million bytes outside the client's window after the greeting: ignored "
     "(reassembly.events.rst_out_of_window), the login found on the same flow", {}),
]

README_TEXT = """Made by `scripts/record-fixtures.d/decoys.py` from the recordings named in each row: every
recorded packet kept, one or two crafted segments added or changed (correct checksums; see the
script's docstring). The real endpoints' ACKs say what each one received; the expected alerts are
what the server processed."""


def main(argv):
    if "--list" in argv:
        for r in RECIPES:
            print(f"{r[0]}.pcap  from {r[1]}: {r[3]}")
        return 0
    _, _, manifest = manifestmerge.derive.load_manifest()
    by_pcap = {e["pcap"]: e for e in manifest["fixtures"]}
    entries = []
    for name, source, recipe, description, changes in RECIPES:
        link, records = tw.read_pcap(os.path.join(FIX, source))
        assert link == 1, f"{source}: Ethernet only"
        records = recipe(list(records))
        tw.write_pcap(os.path.join(FIX, name + ".pcap"), link, records)
        src = by_pcap[source]
        expected = [dict(a, **changes) for a in src["expected"]]
        # The ACK policy is opt-in for now (docs/tcp-integrity.md); the RST check is the default.
        args = [] if name == "decoy-rst-pop3-user-pass" else ["--stream-policy", "ack"]
        entries.append({"pcap": name + ".pcap", "args": args, "client": f"generated from {source} by {TOOL}",
                        "description": "GENERATED from " + source + ": " + description,
                        "secrets": src["secrets"], "expected": expected})
    manifestmerge.merge(TOOL, entries, keep=[r[0] + ".pcap" for r in RECIPES])
    manifestmerge.replace_section("Generated TCP-integrity fixtures (decoys, unacknowledged copies, spoofed RSTs)",
                                  README_TEXT + "\n\n" + manifestmerge.readme_rows(entries, "source"))
    for e in entries:
        print(e["pcap"], json.dumps(e["expected"])[:120])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
