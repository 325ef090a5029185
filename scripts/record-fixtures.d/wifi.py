#!/usr/bin/env python3
"""Wi-Fi fixtures: an Ethernet capture rewritten as a monitor-mode capture of an open network.

Each Ethernet frame becomes an 802.11 QoS data frame (client to server: ToDS, sent by the client
to the access point; server to client: FromDS, relayed by the access point), with LLC/SNAP and
the same IP packet (Ethernet padding dropped), in one of two files:

    fixtures/NAME-radiotap.pcap        LINKTYPE_IEEE802_11_RADIOTAP (127): radiotap with TSFT,
                                       Flags (FCS at end), rate, channel, signal; then the frame
                                       and a correct FCS
    fixtures/NAME-80211.pcap           LINKTYPE_IEEE802_11 (105): the frame and a correct FCS,
                                       which this link type does not announce (the IP length
                                       trims it)

Both are classic little-endian microsecond pcap, timestamps kept. With --noise, a beacon, a
protected data frame and a QoS null frame are added at the start (same logins, more skipped
frames). Not registered in fixtures/manifest.json: the expected alerts are the source's.
Direction comes from the server's MAC address (scripts/record-fixtures), or, for a capture
recorded elsewhere, from the lower TCP port.

Usage: wifi.py [--noise] [--name NAME] [SOURCE.pcap]
    SOURCE defaults to fixtures/imap-login-quoted.pcap, NAME to imap-login-wifi for it and to
    SOURCE-STEM-wifi otherwise (so the default writes fixtures/imap-login-wifi-radiotap.pcap).
"""
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "fixtures")
SERVER_MAC = bytes.fromhex("020000000010")   # the server namespace's veth end (scripts/record-fixtures)
BSSID = bytes.fromhex("02000000aa01")
LINKTYPE_ETHERNET, LINKTYPE_IEEE802_11, LINKTYPE_RADIOTAP = 1, 105, 127


def read_pcap(path):
    """Classic pcap, either byte order, micro- or nanosecond -> (linktype, [(sec, usec, frame)])."""
    data = open(path, "rb").read()
    magic = data[:4]
    formats = {b"\xd4\xc3\xb2\xa1": ("<", 1), b"\xa1\xb2\xc3\xd4": (">", 1),
               b"\x4d\x3c\xb2\xa1": ("<", 1000), b"\xa1\xb2\x3c\x4d": (">", 1000)}
    if magic not in formats:
        sys.exit(f"{path}: not a classic pcap file")
    e, divisor = formats[magic]
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
    off, out = 24, []
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) != incl or incl != orig:
            sys.exit(f"{path}: truncated record")
        out.append((sec, frac // divisor, frame))
    return linktype, out


def write_pcap(path, linktype, records):
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
    for sec, usec, frame in records:
        out += struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
    open(path, "wb").write(out)


def ethernet_payload(frame):
    """(EtherType, IP packet without link padding) of an Ethernet frame, VLAN tags skipped."""
    off, etype = 14, struct.unpack(">H", frame[12:14])[0]
    while etype in (0x8100, 0x88A8, 0x9100):
        etype = struct.unpack(">H", frame[off + 2:off + 4])[0]
        off += 4
    ip = frame[off:]
    if etype == 0x0800:
        ip = ip[:struct.unpack(">H", ip[2:4])[0]]
    elif etype == 0x86DD:
        ip = ip[:40 + struct.unpack(">H", ip[4:6])[0]]
    return etype, ip


def from_server(frame, etype, ip):
    if SERVER_MAC in (frame[0:6], frame[6:12]):
        return frame[6:12] == SERVER_MAC
    header = (ip[0] & 0x0F) * 4 if etype == 0x0800 else 40
    sport, dport = struct.unpack(">HH", ip[header:header + 4])
    return sport < dport


def radiotap(tsft, flags):
    """TSFT (8, at 8), Flags, Rate (54 Mb/s), Channel (2437 MHz, 2.4 GHz OFDM), signal: 23 bytes."""
    present = 0x0000002F
    fields = struct.pack("<QBBHHb", tsft, flags, 108, 2437, 0x00C0, -42)
    return struct.pack("<BBHI", 0, 0, 8 + len(fields), present) + fields


def qos_data(to_ds, client, server, sequence, body):
    """QoS data (subtype 8), TID 0; addresses as an access point relays them."""
    if to_ds:
        flags, a1, a2, a3 = 0x01, BSSID, client, server
    else:
        flags, a1, a2, a3 = 0x02, client, BSSID, server
    return (bytes([0x88, flags]) + struct.pack("<H", 44) + a1 + a2 + a3
            + struct.pack("<H", (sequence & 0x0FFF) << 4) + struct.pack("<H", 0) + body)


def with_fcs(frame):
    return frame + struct.pack("<I", zlib.crc32(frame) & 0xFFFFFFFF)


def noise(client):
    beacon = (bytes([0x80, 0x00, 0, 0]) + b"\xff" * 6 + BSSID + BSSID + struct.pack("<H", 0)
              + struct.pack("<QHH", 0, 100, 0x0001) + b"\x00\x04open" + b"\x01\x01\x8c")
    protected = qos_data(True, client, SERVER_MAC, 1, bytes([1, 0, 0, 0x20, 0, 0, 0, 0]) + b"\x5a" * 48)
    protected = protected[:1] + bytes([protected[1] | 0x40]) + protected[2:]
    null = bytes([0xC8, 0x11]) + struct.pack("<H", 44) + BSSID + client + BSSID + struct.pack("<HH", 2 << 4, 0)
    return [beacon, protected, null]


def main(argv):
    add_noise, name, args = False, None, list(argv)
    while args and args[0].startswith("--"):
        option = args.pop(0)
        if option == "--noise":
            add_noise = True
        elif option == "--name" and args:
            name = args.pop(0)
        else:
            sys.exit(__doc__)
    source = args[0] if args else os.path.join(FIXTURES, "imap-login-quoted.pcap")
    linktype, records = read_pcap(source)
    if linktype != LINKTYPE_ETHERNET:
        sys.exit(f"{source}: link type {linktype}, not Ethernet")
    stem = os.path.splitext(os.path.basename(source))[0]
    name = name or ("imap-login-wifi" if stem == "imap-login-quoted" else stem + "-wifi")

    frames, sequence, client = [], {True: 0, False: 0}, None
    for sec, usec, frame in records:
        etype, ip = ethernet_payload(frame)
        server_side = from_server(frame, etype, ip)
        client = frame[0:6] if server_side else frame[6:12]
        server = frame[6:12] if server_side else frame[0:6]
        snap = bytes([0xAA, 0xAA, 0x03, 0, 0, 0]) + struct.pack(">H", etype)
        sequence[server_side] += 1
        frames.append((sec, usec, qos_data(not server_side, client, server, sequence[server_side], snap + ip)))
    if add_noise and frames:
        sec, usec, _ = frames[0]
        frames = [(sec, usec, f) for f in noise(client)] + frames

    radio = [(s, u, radiotap(s * 1_000_000 + u, 0x10) + with_fcs(f)) for s, u, f in frames]
    bare = [(s, u, with_fcs(f)) for s, u, f in frames]
    for suffix, lt, recs in (("radiotap", LINKTYPE_RADIOTAP, radio), ("80211", LINKTYPE_IEEE802_11, bare)):
        path = os.path.join(FIXTURES, f"{name}-{suffix}.pcap")
        write_pcap(path, lt, recs)
        print(f"{os.path.relpath(path)}: {len(recs)} frames, link type {lt}")


if __name__ == "__main__":
    main(sys.argv[1:])
