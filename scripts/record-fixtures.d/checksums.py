#!/usr/bin/env python3
"""Generated fixtures for checksum validation and duplicate paths (issue 17), from a recorded login.

Source: fixtures/imap-login-quoted.pcap (a real lab session; every checksum in it is correct).
- cksum-tcp-decoy-imap-login.pcap: a decoy copy of the client's LOGIN segment is inserted 1 ms
  before the real one, at the same sequence number and of the same length, with the same tag, the
  user name `mallory` and the password replaced by filler: its TCP checksum is wrong (its IPv4
  header checksum right). The server dropped it (its ACK and reply follow the real segment).
- cksum-ipv4-decoy-imap-login.pcap: the same decoy with a correct TCP checksum and a wrong IPv4
  header checksum.
  In both the login reported must be bob's (the real one), never mallory's.
- vlan-routed-dup-imap-login.pcap: a routed span: every frame twice, first on VLAN 10 and 40 us
  later on VLAN 20 (as a router forwarding it would: TTL one less, the IPv4 header checksum
  recomputed, other MAC addresses). Client frames are seen first on VLAN 10, server frames first
  on VLAN 20. With VLANs in the flow key (the default) the login is two flows and two alerts;
  with --no-vlan-in-flow-key one flow and one alert (a test of its own runs that).

A pure function of the source capture: a rerun writes the same bytes. Read back before the
manifest is touched.

Usage: checksums.py      write the captures, their manifest entries and their expected alerts
                         are then made by scripts/update-expected
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tunnelwire as tw  # noqa: E402
import derive  # noqa: E402

TOOL = "scripts/record-fixtures.d/checksums.py"
FIX = tw.FIXTURES
SOURCE = "imap-login-quoted.pcap"
SECRET = 'Fx-imap"quo\\ted-S3cret'


def ipv4_parts(frame):
    """(ethernet header, ip header, tcp header, payload) of an untagged IPv4/TCP frame."""
    assert frame[12:14] == b"\x08\x00"
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    tcp = ip[ihl:total]
    doff = (tcp[12] >> 4) * 4
    return frame[:14], ip[:ihl], tcp[:doff], tcp[doff:]


def fix_ipv4(ip_header):
    h = bytearray(ip_header)
    h[10:12] = b"\0\0"
    h[10:12] = struct.pack("!H", tw.inet_csum(bytes(h)))
    return bytes(h)


def fix_tcp(ip_header, tcp_header, payload):
    t = bytearray(tcp_header)
    t[16:18] = b"\0\0"
    pseudo = ip_header[12:20] + struct.pack("!BBH", 0, 6, len(t) + len(payload))
    t[16:18] = struct.pack("!H", tw.inet_csum(pseudo + bytes(t) + payload))
    return bytes(t)


def build(eth, ip_header, tcp_header, payload):
    ip = bytearray(ip_header)
    ip[2:4] = struct.pack("!H", len(ip_header) + len(tcp_header) + len(payload))
    ip = fix_ipv4(bytes(ip))
    return eth + ip + fix_tcp(ip, tcp_header, payload) + payload


def find_login(records):
    for i, (ts, frame) in enumerate(records):
        _, _, _, payload = ipv4_parts(frame)
        if b" LOGIN " in payload:
            return i
    raise SystemExit("no LOGIN segment in " + SOURCE)


def decoy_payload(real):
    tag = real.split(b" ", 1)[0]
    head = tag + b' LOGIN mallory "'
    filler = len(real) - len(head) - 3
    assert filler > 4
    return head + (b"Fx-decoy-S3cret" + b"x" * filler)[:filler] + b'"\r\n'


def decoy_capture(bad):
    linktype, records = tw.read_pcap(os.path.join(FIX, SOURCE))
    i = find_login(records)
    ts, frame = records[i]
    eth, ip, tcp, payload = ipv4_parts(frame)
    fake = decoy_payload(payload)
    assert len(fake) == len(payload)
    decoy = bytearray(build(eth, ip, tcp, fake))
    if bad == "tcp":
        decoy[14 + len(ip) + 16] ^= 0x5A          # the TCP checksum field
    else:
        decoy[14 + 10] ^= 0x5A                    # the IPv4 header checksum field
    out = records[:i] + [(ts - 1_000_000, bytes(decoy))] + records[i:]
    return linktype, out


def tag(frame, vid):
    return frame[:12] + struct.pack("!HH", 0x8100, vid) + frame[12:]


def routed(frame):
    """The frame as the router forwards it: new MACs, TTL - 1, header checksum recomputed."""
    eth, ip, tcp, payload = ipv4_parts(frame)
    h = bytearray(ip)
    h[8] -= 1
    return bytes.fromhex("020000000a20020000000a10") + eth[12:14] + fix_ipv4(bytes(h)) + tcp + payload


def vlan_duplicates():
    linktype, records = tw.read_pcap(os.path.join(FIX, SOURCE))
    client = None
    out = []
    for ts, frame in records:
        _, ip, _, _ = ipv4_parts(frame)
        src = ip[12:16]
        if client is None:
            client = src                          # the SYN's sender
        first, second = (10, 20) if src == client else (20, 10)
        out.append((ts, tag(frame, first)))
        out.append((ts + 40_000, tag(routed(frame), second)))
    return linktype, out


def check(path, linktype, records):
    lt, back = tw.read_pcap(path)
    assert lt == linktype and back == records, path
    for _, frame in back:
        off = 18 if frame[12:14] == b"\x81\x00" else 14
        ihl = (frame[off] & 0x0F) * 4
        ip_ok = tw.csum(frame[off:off + ihl]) == 0xFFFF
        yield ip_ok


ENTRIES = [
    ("cksum-tcp-decoy-imap-login.pcap", lambda: decoy_capture("tcp"),
     "GENERATED from imap-login-quoted.pcap: a decoy LOGIN segment (user mallory, same tag, sequence "
     "number and length as the real one) with a wrong TCP checksum, 1 ms before the real LOGIN: the "
     "server dropped it; bob's login is the one reported", ["--checksum-validation", "auto"], None),
    ("cksum-ipv4-decoy-imap-login.pcap", lambda: decoy_capture("ipv4"),
     "GENERATED from imap-login-quoted.pcap: the same decoy LOGIN with a correct TCP checksum and a "
     "wrong IPv4 header checksum: bob's login is the one reported", ["--checksum-validation", "auto"], None),
    ("vlan-routed-dup-imap-login.pcap", vlan_duplicates,
     "GENERATED from imap-login-quoted.pcap: a routed span, every frame on VLAN 10 and again on VLAN 20 "
     "(client frames first on 10, server frames first on 20); VLANs in the flow key (the default): two "
     "flows, two alerts (the VLAN 20 copy of the reply comes first); --no-vlan-in-flow-key gives one "
     "(tested apart)", [], [[20], [10]]),
]


def main():
    path, text, manifest = derive.load_manifest()
    source = next(e for e in manifest["fixtures"] if e["pcap"] == SOURCE)
    names = [e[0] for e in ENTRIES]
    entries = [e for e in manifest["fixtures"] if e["pcap"] not in names]
    for name, make, description, args, vlans in ENTRIES:
        linktype, records = make()
        out = os.path.join(FIX, name)
        tw.write_pcap(out, linktype, records)
        bad_ip = sum(1 for ok in check(out, linktype, records) if not ok)
        assert bad_ip == (1 if "ipv4-decoy" in name else 0), (name, bad_ip)
        expected = []
        for v in (vlans or [None]):
            alert = dict(source["expected"][0])
            if v is not None:
                alert["vlan"] = v
            expected.append(alert)
        entries.append({"pcap": name, "client": f"generated from {SOURCE} by {TOOL}",
                        "description": description, "args": args,
                        "secrets": source["secrets"] + ["Fx-decoy-S3cret"], "expected": expected})
        print(f"{name}: {len(records)} frames")
    derive.write_manifest(path, text, entries)


if __name__ == "__main__":
    main()
