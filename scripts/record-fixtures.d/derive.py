#!/usr/bin/env python3
"""Derived fixtures: deterministic rewrites of the recorded captures (stdlib only).

The recorder only produces plain Ethernet, microsecond pcap, in-order, complete captures. This
script turns some of them into what real capture points also produce: other link types (Linux
SLL/SLL2, raw IP, BSD loopback), 802.1Q/802.1ad tags, nanosecond pcap and pcapng files, IPv4
options, and TCP damage (tiny, reordered, duplicated and overlapping segments; a capture started
mid-stream; a lost segment; sequence numbers wrapping past 2^32).

Each recipe names its source fixture, the rewrite, and how the rewrite changes the source's
expected alerts (from fixtures/manifest.json): a derived entry lists the same logins with
`after_gap`, `midstream` and (for tagged frames) `vlan` stated explicitly, and the outcome or
STARTTLS context changed where the rewrite hides what decided them. Everything is a pure function
of the source capture (a fixed, seeded generator for the stress cut), so a rerun rewrites the same
bytes, and every derived capture is read back and checked (link header, checksums, the client and
server byte streams against the source's) before the manifest is touched.

Usage (scripts/record-fixtures runs the first form after recording; `--derive-only` alone):
    derive.py                 write every derived capture, its manifest entry and README row
    derive.py --list          list the recipes
    derive.py --check [BIN]   compare each derived entry, on every stated field (vlan, after_gap,
                              midstream included), with its golden fixtures/NAME.expected.jsonl,
                              or with BIN's output when a plainsight binary is given
"""
import hashlib
import json
import os
import re
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "fixtures")
TOOL = "scripts/record-fixtures.d/derive.py"

SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2 = 0, 1, 101, 113, 276
SERVER_MAC = bytes.fromhex("020000000010")   # the server namespace's veth end (scripts/record-fixtures)


class DeriveError(Exception):
    pass


# ---------------------------------------------------------------- capture files
def read_capture(path):
    """Classic microsecond pcap (what the recorder writes) -> (linktype, [(ts_ns, frame)])."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"\xd4\xc3\xb2\xa1":
        e = "<"
    elif data[:4] == b"\xa1\xb2\xc3\xd4":
        e = ">"
    else:
        raise DeriveError(f"{path}: not a microsecond pcap file (derive from recorded fixtures only)")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    off, out = 24, []
    while off < len(data):
        sec, usec, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        off += incl
        if len(frame) != incl or incl != orig:
            raise DeriveError(f"{path}: truncated record")
        out.append((sec * 1_000_000_000 + usec * 1000, frame))
    return linktype, out


def pcap_bytes(linktype, records, nano=False):
    """Little-endian classic pcap, microsecond (a1b2c3d4) or nanosecond (a1b23c4d) timestamps."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
    for ts, frame in records:
        sec, frac = divmod(ts, 1_000_000_000)
        if not nano:
            if frac % 1000:
                raise DeriveError("sub-microsecond time in a microsecond pcap")
            frac //= 1000
        out += struct.pack("<IIII", sec, frac, len(frame), len(frame)) + frame
    return bytes(out)


def _pad4(b):
    return b + b"\0" * (-len(b) % 4)


def _block(btype, body):
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def _option(code, value):
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def pcapng_bytes(linktype, records, app):
    """Little-endian pcapng: SHB, one IDB with if_tsresol 9 (nanoseconds), one EPB per frame."""
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
                 + _option(4, app.encode()) + _option(0, b""))                  # shb_userappl
    idb = _block(0x00000001, struct.pack("<HHI", linktype, 0, 262144)
                 + _option(9, b"\x09") + _option(0, b""))                       # if_tsresol = 10^-9
    out = bytearray(shb + idb)
    for ts, frame in records:
        out += _block(0x00000006, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame))
                      + _pad4(frame))
    return bytes(out)


def read_any(path):
    """Any file this script writes -> (linktype, [(ts_ns, frame)]). Independent of the writers'
    helpers, so a writer bug is caught by the read-back check."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        nano = magic == b"\x4d\x3c\xb2\xa1"
        major, minor, _, _, snap, linktype = struct.unpack("<HHiIII", data[4:24])
        if (major, minor) != (2, 4):
            raise DeriveError(f"{path}: pcap version {major}.{minor}")
        off, out = 24, []
        while off < len(data):
            sec, frac, incl, orig = struct.unpack("<IIII", data[off:off + 16])
            if incl != orig or incl > snap or (frac >= (1_000_000_000 if nano else 1_000_000)):
                raise DeriveError(f"{path}: bad record header at {off}")
            out.append((sec * 1_000_000_000 + frac * (1 if nano else 1000), data[off + 16:off + 16 + incl]))
            off += 16 + incl
        if off != len(data):
            raise DeriveError(f"{path}: trailing bytes")
        return linktype, out
    if magic == b"\x0a\x0d\x0d\x0a":
        off, linktype, resol, out = 0, None, None, []
        while off < len(data):
            btype, blen = struct.unpack("<II", data[off:off + 8])
            if blen % 4 or blen < 12 or struct.unpack("<I", data[off + blen - 4:off + blen])[0] != blen:
                raise DeriveError(f"{path}: bad block length at {off}")
            body = data[off + 8:off + blen - 4]
            if btype == 0x0A0D0D0A:
                if struct.unpack("<I", body[:4])[0] != 0x1A2B3C4D:
                    raise DeriveError(f"{path}: not little-endian pcapng")
            elif btype == 1:
                linktype = struct.unpack("<H", body[:2])[0]
                o = 8
                while o + 4 <= len(body):
                    code, n = struct.unpack("<HH", body[o:o + 4])
                    if code == 0:
                        break
                    if code == 9:
                        resol = body[o + 4]
                    o += 4 + n + (-n % 4)
            elif btype == 6:
                iface, hi, lo, cap, orig = struct.unpack("<IIIII", body[:20])
                if iface != 0 or cap != orig or resol != 9:
                    raise DeriveError(f"{path}: unexpected EPB at {off}")
                out.append(((hi << 32) | lo, body[20:20 + cap]))
            off += blen
        return linktype, out
    raise DeriveError(f"{path}: unknown file format")


# ---------------------------------------------------------------- TCP/IP packets
def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


class Packet:
    """One Ethernet/IP/TCP frame taken apart; `frame()` and `ip()` put it back together with every
    length and checksum recomputed."""

    def __init__(self, ts, frame):
        self.ts = ts
        if len(frame) < 14:
            raise DeriveError("short frame")
        self.dst_mac, self.src_mac = frame[0:6], frame[6:12]
        self.ethertype = struct.unpack("!H", frame[12:14])[0]
        ip = frame[14:]
        if self.ethertype == 0x0800:
            ihl = (ip[0] & 15) * 4
            total = struct.unpack("!H", ip[2:4])[0]
            if total != len(ip) or ip[9] != 6:
                raise DeriveError("IPv4 frame with padding or not TCP")
            self.ver, self.iph, rest = 4, bytearray(ip[:ihl]), ip[ihl:]
        elif self.ethertype == 0x86DD:
            if struct.unpack("!H", ip[4:6])[0] != len(ip) - 40 or ip[6] != 6:
                raise DeriveError("IPv6 frame with padding or extension headers")
            self.ver, self.iph, rest = 6, bytearray(ip[:40]), ip[40:]
        else:
            raise DeriveError(f"ethertype {self.ethertype:#06x}")
        doff = (rest[12] >> 4) * 4
        self.tcph, self.payload = bytearray(rest[:doff]), bytes(rest[doff:])

    def copy(self):
        p = Packet.__new__(Packet)
        p.__dict__.update(self.__dict__)
        p.iph, p.tcph = bytearray(self.iph), bytearray(self.tcph)
        return p

    src = property(lambda s: bytes(s.iph[12:16] if s.ver == 4 else s.iph[8:24]))
    sport = property(lambda s: struct.unpack("!H", s.tcph[0:2])[0])
    dport = property(lambda s: struct.unpack("!H", s.tcph[2:4])[0])
    flags = property(lambda s: s.tcph[13])

    @property
    def seq(self):
        return struct.unpack("!I", self.tcph[4:8])[0]

    @seq.setter
    def seq(self, v):
        self.tcph[4:8] = struct.pack("!I", v & 0xFFFFFFFF)

    @property
    def ack(self):
        return struct.unpack("!I", self.tcph[8:12])[0]

    @ack.setter
    def ack(self, v):
        self.tcph[8:12] = struct.pack("!I", v & 0xFFFFFFFF)

    def ip(self):
        tcp = bytearray(self.tcph) + self.payload
        tcp[16:18] = b"\0\0"
        h = bytearray(self.iph)
        if self.ver == 4:
            h[2:4] = struct.pack("!H", len(h) + len(tcp))
            h[10:12] = b"\0\0"
            h[10:12] = struct.pack("!H", 0xFFFF - csum(bytes(h)))
            pseudo = h[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
        else:
            h[4:6] = struct.pack("!H", len(tcp))
            pseudo = h[8:40] + struct.pack("!IxxxB", len(tcp), 6)
        tcp[16:18] = struct.pack("!H", 0xFFFF - csum(bytes(pseudo + tcp)))
        return bytes(h + tcp)

    def frame(self, tags=()):
        """Ethernet frame; tags: [(tpid, vid)] outer first."""
        vlan = b"".join(struct.pack("!HH", tpid, vid) for tpid, vid in tags)
        return self.dst_mac + self.src_mac + vlan + struct.pack("!H", self.ethertype) + self.ip()


class Capture:
    """A recorded single-connection fixture: its packets, the client's address and port (the SYN's
    sender), and each direction's initial sequence number."""

    def __init__(self, name):
        self.name = name
        self.path = os.path.join(FIXTURES, name)
        linktype, recs = read_capture(self.path)
        if linktype != LINKTYPE_ETHERNET:
            raise DeriveError(f"{name}: link type {linktype}, expected Ethernet")
        self.packets = [Packet(ts, fr) for ts, fr in recs]
        syns = [p for p in self.packets if p.flags & SYN and not p.flags & ACK]
        synacks = [p for p in self.packets if p.flags & SYN and p.flags & ACK]
        if len(syns) != 1 or len(synacks) != 1:
            raise DeriveError(f"{name}: derive works on captures holding exactly one connection")
        self.client = (syns[0].src, syns[0].sport)
        self.isn = {"c": syns[0].seq, "s": synacks[0].seq}
        self.notes = {}   # values a rewrite chose, for its description

    def dir(self, p):
        return "c" if (p.src, p.sport) == self.client else "s"

    def offset(self, p):
        """Stream offset of p's first payload byte."""
        return (p.seq - self.isn[self.dir(p)] - 1) & 0xFFFFFFFF

    def stream(self, d):
        out = bytearray()
        for p in self.packets:
            if self.dir(p) == d and p.payload:
                off = self.offset(p)
                if off != len(out):
                    raise DeriveError(f"{self.name}: source capture is not in order")
                out += p.payload
        return bytes(out)


# ---------------------------------------------------------------- deterministic choices
class Chooser:
    """A tiny seeded generator (SHA-256 in counter mode): the same choices on every Python."""

    def __init__(self, seed):
        self.seed, self.n = seed.encode(), 0

    def below(self, n):
        self.n += 1
        return int.from_bytes(hashlib.sha256(self.seed + self.n.to_bytes(8, "big")).digest()[:8], "big") % n

    def chance(self, percent):
        return self.below(100) < percent

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def monotonic(packets, step=1000):
    """Capture order must keep time order: each packet at least `step` ns after the previous one."""
    last = None
    for p in packets:
        if last is not None and p.ts < last + step:
            p.ts = last + step
        last = p.ts
    return packets


# ---------------------------------------------------------------- rewrites
# Each returns (linktype, [(ts_ns, frame)]) from a Capture.
def eth(cap, tags=()):
    return LINKTYPE_ETHERNET, [(p.ts, p.frame(tags)) for p in cap.packets]


def linux_sll(cap):
    """DLT_LINUX_SLL (cooked v1), as tcpdump -i any writes it: packet type (0 to us, 4 sent by us,
    seen from the server's interface), ARPHRD_ETHER, the sender's 6-byte address, the EtherType."""
    recs = []
    for p in cap.packets:
        ptype = 4 if p.src_mac == SERVER_MAC else 0
        recs.append((p.ts, struct.pack("!HHH", ptype, 1, 6) + p.src_mac + b"\0\0"
                     + struct.pack("!H", p.ethertype) + p.ip()))
    return LINKTYPE_LINUX_SLL, recs


def linux_sll2(cap):
    """DLT_LINUX_SLL2: EtherType, reserved, interface index 2, ARPHRD_ETHER, packet type, address."""
    recs = []
    for p in cap.packets:
        ptype = 4 if p.src_mac == SERVER_MAC else 0
        recs.append((p.ts, struct.pack("!HHIHBB", p.ethertype, 0, 2, 1, ptype, 6) + p.src_mac + b"\0\0" + p.ip()))
    return LINKTYPE_LINUX_SLL2, recs


def raw_ip(cap):
    return LINKTYPE_RAW, [(p.ts, p.ip()) for p in cap.packets]


def bsd_null(cap):
    """DLT_NULL: the address family in the capturing host's byte order (little-endian AF_INET 2)."""
    for p in cap.packets:
        if p.ver != 4:
            raise DeriveError("DLT_NULL rewrite is for IPv4 (AF_INET6 differs per BSD)")
    return LINKTYPE_NULL, [(p.ts, struct.pack("<I", 2) + p.ip()) for p in cap.packets]


def sub_microsecond(cap):
    """Nanosecond timestamps with a varying sub-microsecond part (never rounding up: plainsight
    prints microseconds truncated, so the alert times stay the source's)."""
    return [(p.ts + 1 + (i * 389) % 999, p.frame()) for i, p in enumerate(cap.packets)]


def ipv4_options(cap):
    """NOP, NOP, an RFC 791 Timestamp option (type 68, length 8, pointer 9: its one slot filled,
    flag 0, milliseconds since midnight UT) and two EOLs: 12 option bytes, IHL 8, on every frame."""
    out = []
    for p in cap.packets:
        if p.ver != 4 or len(p.iph) != 20:
            raise DeriveError("IPv4 options rewrite wants option-less IPv4 frames")
        q = p.copy()
        ms = (p.ts // 1_000_000) % 86_400_000
        opts = bytes([1, 1, 68, 8, 9, 0]) + struct.pack("!I", ms) + b"\0\0"
        q.iph = bytearray(p.iph) + opts
        q.iph[0] = 0x40 | (len(q.iph) // 4)
        out.append(q)
    return LINKTYPE_ETHERNET, [(q.ts, q.frame()) for q in out]


def midstream(cap):
    """The capture starts after the handshake and the server greeting: SYN, SYN-ACK, the
    handshake ACK and the greeting segment are dropped; everything after is kept (the client's ACK
    of the greeting is then the first packet, and its first data creates the flow)."""
    first_server_data = next(i for i, p in enumerate(cap.packets) if cap.dir(p) == "s" and p.payload)
    if any(cap.dir(p) == "c" and p.payload for p in cap.packets[:first_server_data]):
        raise DeriveError(f"{cap.name}: the client spoke before the greeting")
    kept = cap.packets[first_server_data + 1:]
    return LINKTYPE_ETHERNET, [(p.ts, p.frame()) for p in kept]


def drop_server_segment(marker):
    """Drop the first server segment starting with `marker` (a capability listing sent before the
    login). The client's next segment carries data and acknowledges past it: the hole is known to
    be lost before that data was sent."""
    def rewrite(cap):
        hits = [i for i, p in enumerate(cap.packets) if cap.dir(p) == "s" and p.payload.startswith(marker)]
        if not hits:
            raise DeriveError(f"{cap.name}: no server segment starts with {marker!r}")
        lost = cap.packets[hits[0]]
        end = (lost.seq + len(lost.payload)) & 0xFFFFFFFF
        later = [p for p in cap.packets[hits[0] + 1:] if cap.dir(p) == "c"]
        if not later or later[0].ack != end or not later[0].payload:
            raise DeriveError(f"{cap.name}: the client's next segment should carry data and ACK the lost one")
        kept = cap.packets[:hits[0]] + cap.packets[hits[0] + 1:]
        return LINKTYPE_ETHERNET, [(p.ts, p.frame()) for p in kept]
    return rewrite


def split_greeting(at):
    """Send the server's first data segment (the greeting) as two in-order segments, the first
    holding only its first `at` bytes, as a slow or segmenting server or middlebox may."""
    def rewrite(cap):
        out = []
        for p in cap.packets:
            if cap.dir(p) == "s" and p.payload and not any(cap.dir(q) == "s" and q.payload for q in out):
                head, tail = p.copy(), p.copy()
                head.payload, tail.payload = p.payload[:at], p.payload[at:]
                head.tcph[13] &= ~PSH & 0xFF
                tail.seq = p.seq + at
                out += [head, tail]
            else:
                out.append(p.copy())
        out = monotonic(out)
        return LINKTYPE_ETHERNET, [(p.ts, p.frame()) for p in out]
    return rewrite


def seq_wrap(client_at, server_at):
    """Shift both directions' sequence numbers (and the peer's ACKs) so that each stream crosses
    2^32 inside the bytes matched by the regular expressions `client_at` / `server_at`: the byte
    at the match's middle gets sequence number 0."""
    def rewrite(cap):
        shift = {}
        for d, pattern in (("c", client_at), ("s", server_at)):
            found = list(re.finditer(pattern, cap.stream(d)))
            if len(found) != 1:
                raise DeriveError(f"{cap.name}: {pattern!r} matches {len(found)} times in the {d} stream")
            wrap_offset = (found[0].start() + found[0].end()) // 2
            new_isn = (0 - 1 - wrap_offset) & 0xFFFFFFFF       # ISN + 1 + wrap_offset == 2^32
            shift[d] = (new_isn - cap.isn[d]) & 0xFFFFFFFF
            cap.notes[d + "_isn"] = f"{new_isn:#010x}"
        out = []
        for p in cap.packets:
            d = cap.dir(p)
            q = p.copy()
            q.seq = p.seq + shift[d]
            if p.flags & ACK:
                q.ack = p.ack + shift["s" if d == "c" else "c"]
            if sack_blocks(p):
                raise DeriveError(f"{cap.name}: SACK blocks would need shifting too")
            out.append(q)
        return LINKTYPE_ETHERNET, [(q.ts, q.frame()) for q in out]
    return rewrite


def sack_blocks(p):
    opts, i = p.tcph[20:], 0
    while i < len(opts) and opts[i] != 0:
        if opts[i] == 1:
            i += 1
            continue
        if opts[i] == 5:
            return True
        i += opts[i + 1]
    return False


def stress(until):
    """Re-cut every data segment of the login session into 1-3 byte segments with correct sequence
    numbers, then damage them the ways real paths do, with identical bytes throughout:
    - some pieces start 1-2 bytes early or end 1-2 bytes late (partial overlap with a neighbour);
    - the pieces of each original segment arrive shuffled within windows of 4 (out of order);
    - some pieces are sent twice in a row, some again after the peer's next packet (a
      retransmission of acknowledged data).
    `until` = {direction: None (all of it) or "first" (its first data segment only)}: the data
    segments in that part of each direction are re-cut; the rest, and segments carrying SYN or
    FIN, are kept whole."""
    def rewrite(cap):
        ch = Chooser("plainsight derive stress " + cap.name)
        out, delayed = [], []
        limits = {}
        for d, v in until.items():
            first = next(p for p in cap.packets if cap.dir(p) == d and p.payload)
            limits[d] = len(cap.stream(d)) if v is None else cap.offset(first) + len(first.payload)
        for p in cap.packets:
            d = cap.dir(p)
            start = cap.offset(p)
            if not p.payload or p.flags & (SYN | FIN | RST) or start + len(p.payload) > limits[d]:
                out.append(p)
            else:
                out += recut(cap, p, d, start, ch, delayed)
            # retransmissions of already-acknowledged data: after the peer's next packet
            late = [q for q in delayed if cap.dir(q) != d]
            if late:
                out += late
                delayed[:] = [q for q in delayed if cap.dir(q) == d]
        out += delayed
        # fresh copies so no two list entries share one Packet (timestamps are rewritten)
        out = monotonic([p.copy() for p in out])
        return LINKTYPE_ETHERNET, [(p.ts, p.frame()) for p in out]
    return rewrite


def recut(cap, p, d, start, ch, delayed):
    data, n, cuts = p.payload, len(p.payload), [0]
    stream = cap.stream(d)
    while cuts[-1] < n:
        cuts.append(min(n, cuts[-1] + 1 + ch.below(3)))
    pieces = []
    for a, b in zip(cuts, cuts[1:]):
        if ch.chance(25):                                    # starts 1-2 bytes early
            a = max(a - 1 - ch.below(2), -start)
        if ch.chance(15):                                    # ends 1-2 bytes late
            b = min(n, b + 1 + ch.below(2))
        q = p.copy()
        q.seq = p.seq + a
        q.payload = stream[start + a:start + b]
        if b < n:
            q.tcph[13] &= ~PSH & 0xFF
        pieces.append(q)
    for w in range(0, len(pieces), 4):                       # out of order within windows of 4
        window = pieces[w:w + 4]
        ch.shuffle(window)
        pieces[w:w + 4] = window
    group = []
    for q in pieces:
        group.append(q)
        if ch.chance(12):
            group.append(q.copy())                           # retransmitted at once
        elif ch.chance(10):
            delayed.append(q.copy())                         # retransmitted after the peer's ACK
    return group


# ---------------------------------------------------------------- recipes
class Recipe:
    """name: derived file; source: recorded fixture; rewrite: Capture -> (linktype, records);
    fmt: 'pcap', 'pcap-ns' or 'pcapng'; what: README/description text (formatted with the values
    the rewrite chose, if any); alert: changes applied to every expected alert of the source;
    streams: how the byte streams read back relate to the source's ('same', 'c-same s-hole': the
    server stream has one hole, 'suffix': both start later); stats: counters the stats event must
    show (`--check`); same_times: the alert timestamps must equal the source's."""

    def __init__(self, name, source, rewrite, what, fmt="pcap", alert=None, streams="same", stats=None,
                 same_times=False):
        self.name, self.source, self.rewrite, self.what, self.fmt = name, source, rewrite, what, fmt
        self.alert = alert or {}
        self.streams, self.stats, self.same_times = streams, stats or {}, same_times


RECIPES = [
    Recipe("imap-login-atoms-vlan.pcap", "imap-login-atoms.pcap", lambda c: eth(c, [(0x8100, 100)]),
           "802.1Q tag (VLAN 100) on every frame", alert={"vlan": [100]}, same_times=True),
    Recipe("smtp-auth-plain-ir-qinq.pcap", "smtp-auth-plain-ir.pcap",
           lambda c: eth(c, [(0x88A8, 200), (0x8100, 100)]),
           "QinQ on every frame: 802.1ad outer tag (TPID 0x88a8, VLAN 200), 802.1Q inner tag (VLAN 100)",
           alert={"vlan": [200, 100]}, same_times=True),
    Recipe("pop3-user-pass-sll.pcap", "pop3-user-pass.pcap", linux_sll,
           "Linux cooked capture v1 (DLT_LINUX_SLL 113) instead of Ethernet", same_times=True),
    Recipe("pop3-user-pass-sll2.pcap", "pop3-user-pass.pcap", linux_sll2,
           "Linux cooked capture v2 (DLT_LINUX_SLL2 276) instead of Ethernet", same_times=True),
    Recipe("imap-login-ipv6-raw.pcap", "imap-login-ipv6.pcap", raw_ip,
           "raw IP link type (LINKTYPE_RAW 101): bare IPv6 packets, no link header", same_times=True),
    Recipe("smtp-auth-login-null.pcap", "smtp-auth-login.pcap", bsd_null,
           "BSD loopback link type (DLT_NULL 0): 4-byte address family AF_INET 2, little-endian",
           same_times=True),
    Recipe("smtp-auth-login-ir-nsec.pcap", "smtp-auth-login-ir.pcap",
           lambda c: (LINKTYPE_ETHERNET, sub_microsecond(c)),
           "nanosecond pcap (magic a1b23c4d), each timestamp plus 1-999 ns", fmt="pcap-ns", same_times=True),
    Recipe("smtp-auth-login-ir-ng.pcapng", "smtp-auth-login-ir.pcap",
           lambda c: (LINKTYPE_ETHERNET, sub_microsecond(c)),
           "pcapng (SHB, IDB with if_tsresol 9, EPBs), each timestamp plus 1-999 ns", fmt="pcapng",
           same_times=True),
    Recipe("pop3-auth-plain-cont-ipopts.pcap", "pop3-auth-plain-cont.pcap", ipv4_options,
           "12 bytes of IPv4 options (NOP, NOP, Timestamp, EOL, EOL; IHL 8) on every frame", same_times=True),
    Recipe("pop3-auth-login-stress.pcap", "pop3-auth-login.pcap", stress({"c": None, "s": None}),
           "TCP reassembly stress: every data segment (but the server's last, which carries its FIN) "
           "re-cut into 1-3 byte segments, shuffled within "
           "windows of 4, some duplicated (at once or after the peer's ACK), some overlapping a "
           "neighbour by 1-2 identical bytes",
           stats={"gaps": 0, "overlap_conflict_bytes": 0, "out_of_order_segments": ">0",
                  "retransmitted_segments": ">0"}),
    Recipe("imap-login-literal-plus-stress.pcap", "imap-login-literal-plus.pcap",
           stress({"c": None, "s": "first"}),
           "TCP reassembly stress: the greeting and the whole client stream (the LOGIN with its two "
           "{n+} literals) re-cut into 1-3 byte segments, shuffled within windows of 4, some "
           "duplicated, some overlapping a neighbour by 1-2 identical bytes",
           stats={"gaps": 0, "overlap_conflict_bytes": 0, "out_of_order_segments": ">0",
                  "retransmitted_segments": ">0"}),
    Recipe("imap-login-port-10143-split-greeting.pcap", "imap-login-port-10143.pcap", split_greeting(2),
           "the server's greeting sent as two segments, '* ' then the rest (read with --any-port, so "
           "the greeting must be recognised across segments)", same_times=True),
    Recipe("smtp-auth-plain-334-midstream.pcap", "smtp-auth-plain-334.pcap", midstream,
           "capture picked up mid-stream: the handshake and the server's 220 greeting dropped",
           alert={"midstream": True}, streams="suffix", stats={"midstream": 1, "gaps": 0}, same_times=True),
    Recipe("pop3-user-pass-gap.pcap", "pop3-user-pass.pcap", drop_server_segment(b"+OK\r\nCAPA\r\n"),
           "the server segment carrying the CAPA listing dropped (the client's USER segment ACKs past "
           "the hole); the client stream is complete. STLS was never seen: starttls unknown",
           alert={"after_gap": True, "starttls": "unknown"}, streams="c-same s-hole",
           stats={"gaps": 1}, same_times=True),
    Recipe("imap-login-quoted-gap.pcap", "imap-login-quoted.pcap", drop_server_segment(b"* CAPABILITY "),
           "the server segment carrying the CAPABILITY reply dropped (the client's LOGIN segment ACKs "
           "past the hole); the client stream is complete, the greeting still lists STARTTLS",
           alert={"after_gap": True}, streams="c-same s-hole", stats={"gaps": 1}, same_times=True),
    Recipe("pop3-auth-plain-ir-seqwrap.pcap", "pop3-auth-plain-ir.pcap",
           seq_wrap(rb"AUTH PLAIN \S+\r\n", rb"\+OK Logged in\.\r\n"),
           "sequence numbers rewritten so that both streams wrap past 2^32 inside the login: client ISN "
           "{c_isn} (2^32 falls inside the AUTH PLAIN line's base64), server ISN {s_isn} (inside its "
           "'+OK Logged in.' reply)",
           same_times=True),
]


# ---------------------------------------------------------------- checks of the derived bytes
def decode_any(linktype, frame):
    """-> (src, sport, dst, dport, seq, ack, flags, payload, vlans); an independent decoder."""
    vlans = []
    if linktype == LINKTYPE_ETHERNET:
        et, off = struct.unpack("!H", frame[12:14])[0], 14
        while et in (0x8100, 0x88A8):
            vlans.append(struct.unpack("!H", frame[off:off + 2])[0] & 0xFFF)
            et, off = struct.unpack("!H", frame[off + 2:off + 4])[0], off + 4
    elif linktype == LINKTYPE_LINUX_SLL:
        et, off = struct.unpack("!H", frame[14:16])[0], 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        et, off = struct.unpack("!H", frame[0:2])[0], 20
    elif linktype == LINKTYPE_NULL:
        af, off = struct.unpack("<I", frame[:4])[0], 4
        et = {2: 0x0800}.get(af)
    elif linktype == LINKTYPE_RAW:
        et, off = (0x0800 if frame[0] >> 4 == 4 else 0x86DD), 0
    else:
        raise DeriveError(f"link type {linktype}")
    ip = frame[off:]
    if et == 0x0800:
        ihl, total = (ip[0] & 15) * 4, struct.unpack("!H", ip[2:4])[0]
        if total != len(ip) or csum(ip[:ihl]) != 0xFFFF:
            raise DeriveError("bad IPv4 length or header checksum")
        seg, pseudo = ip[ihl:], ip[12:20] + struct.pack("!BBH", 0, 6, len(ip) - ihl)
        src, dst = ip[12:16], ip[16:20]
    elif et == 0x86DD:
        seg = ip[40:]
        if struct.unpack("!H", ip[4:6])[0] != len(seg):
            raise DeriveError("bad IPv6 payload length")
        pseudo, src, dst = ip[8:40] + struct.pack("!IxxxB", len(seg), 6), ip[8:24], ip[24:40]
    else:
        raise DeriveError("not IP")
    if csum(pseudo + seg) != 0xFFFF:
        raise DeriveError("bad TCP checksum")
    sport, dport, seq, ack = struct.unpack("!HHII", seg[:12])
    return src, sport, dst, dport, seq, ack, seg[13], seg[(seg[12] >> 4) * 4:], vlans


def check_derived(recipe, cap, path):
    """Read the written file back and compare its byte streams with the source's."""
    linktype, recs = read_any(path)
    times = [ts for ts, _ in recs]
    if times != sorted(times):
        raise DeriveError(f"{recipe.name}: timestamps go backwards")
    want_vlans = recipe.alert.get("vlan", [])
    pieces = {"c": {}, "s": {}}
    isn = {}
    for ts, frame in recs:
        src, sport, dst, dport, seq, ack, flags, payload, vlans = decode_any(linktype, frame)
        if vlans != want_vlans:
            raise DeriveError(f"{recipe.name}: frame tags {vlans}, expected {want_vlans}")
        d = "c" if (src, sport) == cap.client else "s"
        if flags & SYN:
            isn[d] = seq
        if payload:
            pieces[d].setdefault(seq, []).append(payload)
    for d in "cs":
        src_stream = cap.stream(d)
        if d in isn:
            base = (isn[d] + 1) & 0xFFFFFFFF
        else:   # mid-stream: the first data seen, placed where the source had it
            base = None
        got = {}
        for seq, pls in pieces[d].items():
            for pl in pls:
                for k, byte in enumerate(pl):
                    got.setdefault((seq + k - (base or 0)) & 0xFFFFFFFF, set()).add(byte)
        if any(len(v) != 1 for v in got.values()):
            raise DeriveError(f"{recipe.name}: conflicting bytes in the {d} stream")
        if base is None:
            first = min(got)
            tail = bytes(got[first + k].pop() for k in range(len(got)))
            if not src_stream.endswith(tail):
                raise DeriveError(f"{recipe.name}: the {d} stream is not a suffix of the source's")
            continue
        if recipe.streams == "c-same s-hole" and d == "s":
            missing = [k for k in range(len(src_stream)) if k not in got]
            if not missing or missing != list(range(missing[0], missing[-1] + 1)):
                raise DeriveError(f"{recipe.name}: the server stream should have one hole")
            if any(got[k] != {src_stream[k]} for k in got):
                raise DeriveError(f"{recipe.name}: server bytes differ from the source's")
            continue
        stream = bytes(got[k].pop() for k in range(len(got)) if k in got)
        if len(got) != len(src_stream) or stream != src_stream:
            raise DeriveError(f"{recipe.name}: the {d} stream differs from the source's")
    return len(recs)


# ---------------------------------------------------------------- manifest and README
DERIVED_CLIENT = "derived from {} by " + TOOL


def is_derived(entry):
    return entry.get("client", "").startswith("derived from ")


def expected_for(recipe, source_entry):
    out = []
    for a in source_entry["expected"]:
        e = dict(a)
        if "vlan" in recipe.alert:
            e["vlan"] = recipe.alert["vlan"]
        e["after_gap"] = recipe.alert.get("after_gap", False)
        e["midstream"] = recipe.alert.get("midstream", False)
        for k, v in recipe.alert.items():
            if k not in ("vlan", "after_gap", "midstream"):
                if k not in e:
                    raise DeriveError(f"{recipe.name}: unknown alert field {k}")
                e[k] = v
        out.append(e)
    return out


def load_manifest():
    path = os.path.join(FIXTURES, "manifest.json")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return path, text, json.loads(text)


def write_manifest(path, old_text, entries):
    """Keeps the file's current layout: json.dumps(indent=1) as committed, or the recorder's
    one-alert-per-line layout (scenarios.write_manifest) after a fresh recording."""
    m = {"fixtures": entries}
    old = json.loads(old_text)
    if old_text == json.dumps(old, indent=1, ensure_ascii=False) + "\n":
        text = json.dumps(m, indent=1, ensure_ascii=False) + "\n"
        json.loads(text)
        with open(path + ".new", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".new", path)
    else:
        sys.path.insert(0, HERE)
        import scenarios   # noqa: E402  (the recorder's writer, same layout as a fresh recording)
        scenarios.write_manifest(path, entries)


README_MARK = "## Derived fixtures"
README_DERIVED = """\
## Derived fixtures

Written by `scripts/record-fixtures.d/derive.py` from the recordings above, after every recording
or alone with `scripts/record-fixtures --derive-only` (no root, no network): deterministic, pure
Python rewrites for what the recorder cannot produce (other link types and file formats, VLAN tags,
IPv4 options) and for TCP damage (tiny, reordered, duplicated and overlapping segments; mid-stream
pickup; a lost segment; sequence wraparound). Each derived capture is read back and its byte
streams compared with the source's before the manifest is written. Its manifest entry (`client`:
`derived from SOURCE by scripts/record-fixtures.d/derive.py`) takes the source's expected alerts,
states `after_gap`, `midstream` and, for tagged frames, `vlan`, and changes an outcome or STARTTLS
context where the rewrite hides what decided it. `derive.py --check` compares every derived
entry with its golden on all of those fields (the replay test compares the common ones).

| pcap | alerts | args | source | rewrite |
|---|---|---|---|---|
"""


def alert_summary(a):
    s = f"{a['app_proto']} {a['method']} {a['username']} {a['outcome']} starttls={a['starttls']} :{a['dest_port']}"
    if a.get("vlan"):
        s += " vlan=" + ",".join(map(str, a["vlan"]))
    if a.get("after_gap"):
        s += " after_gap"
    if a.get("midstream"):
        s += " midstream"
    return s


def write_readme(entries, counts):
    path = os.path.join(FIXTURES, "README.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    k = text.find(README_MARK)
    tail = ""
    if k >= 0:
        j = text.find("\n## ", k + len(README_MARK))   # a later section (tunnel/generated fixtures) stays
        tail = text[j:] if j >= 0 else ""
        text = text[:k]
    text = text.rstrip("\n") + "\n\n" + README_DERIVED
    for e in entries:
        size = os.path.getsize(os.path.join(FIXTURES, e["pcap"]))
        alerts = "; ".join(alert_summary(a) for a in e["expected"]) or "none"
        src = e["client"][len("derived from "):].split(" by ")[0]
        desc = e["description"].split(": ", 1)[1].replace("|", "\\|")
        text += (f"| `{e['pcap']}` ({counts[e['pcap']]} pkts, {size} B) | {alerts} | {' '.join(e['args'])} | "
                 f"`{src}` | {desc} |\n")
    text += tail
    with open(path + ".new", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".new", path)


# ---------------------------------------------------------------- main
def derive_all():
    path, text, manifest = load_manifest()
    import manifestmerge   # noqa: E402  (tunnels.py and encapsulate.py entries keep their place after ours)
    mirror = [e for e in manifest["fixtures"] if not is_derived(e) and manifestmerge.owner_of(e)]
    recorded = [e for e in manifest["fixtures"] if not is_derived(e) and not manifestmerge.owner_of(e)]
    by_pcap = {e["pcap"]: e for e in recorded}
    derived, counts = [], {}
    for r in RECIPES:
        if r.source not in by_pcap:
            raise DeriveError(f"{r.name}: source {r.source} is not in the manifest")
        src = by_pcap[r.source]
        cap = Capture(r.source)
        linktype, recs = r.rewrite(cap)
        if r.fmt == "pcap":
            blob = pcap_bytes(linktype, recs)
        elif r.fmt == "pcap-ns":
            blob = pcap_bytes(linktype, recs, nano=True)
        else:
            blob = pcapng_bytes(linktype, recs, "plainsight " + TOOL)
        dest = os.path.join(FIXTURES, r.name)
        with open(dest + ".new", "wb") as f:
            f.write(blob)
        os.chmod(dest + ".new", 0o644)
        try:
            counts[r.name] = check_derived(r, cap, dest + ".new")
        except DeriveError:
            os.unlink(dest + ".new")
            raise
        os.replace(dest + ".new", dest)
        derived.append({"pcap": r.name, "args": list(src["args"]), "client": DERIVED_CLIENT.format(r.source),
                        "description": f"DERIVED from {r.source}: {r.what.format(**cap.notes) if cap.notes else r.what}", "secrets": list(src["secrets"]),
                        "expected": expected_for(r, src)})
        print(f"[derive] {r.name:38} {len(derived[-1]['expected'])} alert(s) {counts[r.name]:4} packets "
              f"{len(blob):6} bytes", file=sys.stderr)
    names = {r.name for r in RECIPES}
    stale = [e["pcap"] for e in manifest["fixtures"] if is_derived(e) and e["pcap"] not in names]
    for s in stale:
        print(f"[derive] note: dropped stale derived entry {s}", file=sys.stderr)
    write_manifest(path, text, recorded + derived + mirror)
    write_readme(derived, counts)
    return 0


def alerts_and_stats(jsonl):
    alerts, stats = [], None
    for line in jsonl.splitlines():
        o = json.loads(line)
        if o.get("event_type") == "cleartext_auth":
            alerts.append(o)
        elif o.get("event_type") == "stats":
            stats = o["stats"]
    return alerts, stats


def flatten(o):
    a = o["auth"]
    out = {"app_proto": o["app_proto"], "src_ip": o["src_ip"], "src_port": o["src_port"], "dest_ip": o["dest_ip"],
           "dest_port": o["dest_port"], "method": a["method"], "exposure": a["exposure"],
           "username": a.get("username"), "outcome": a["outcome"], "starttls": a["starttls"],
           "after_gap": a["after_gap"], "midstream": a["midstream"]}
    if "vlan" in o:
        out["vlan"] = o["vlan"]
    return out


def check_all(binary=None):
    _, _, manifest = load_manifest()
    entries = {e["pcap"]: e for e in manifest["fixtures"]}
    failures = 0

    def output(pcap, args):
        if binary:
            r = subprocess.run([binary, "-r", os.path.join(FIXTURES, pcap), "--json", "--quiet",
                                "--user-policy", "full", *args], capture_output=True, check=False)
            return r.stdout.decode()
        stem = os.path.splitext(pcap)[0]
        with open(os.path.join(FIXTURES, stem + ".expected.jsonl"), encoding="utf-8") as f:
            return f.read()

    for r in RECIPES:
        e = entries.get(r.name)
        problems = []
        if e is None:
            print(f"MISSING  {r.name}: no manifest entry (run derive.py)")
            failures += 1
            continue
        alerts, stats = alerts_and_stats(output(r.name, e["args"]))
        got = [flatten(a) for a in alerts]
        want = [{**a, "username": a.get("username")} for a in e["expected"]]
        if got != want:
            for i in range(max(len(got), len(want))):
                g = got[i] if i < len(got) else None
                w = want[i] if i < len(want) else None
                if g is None or w is None:
                    problems.append(f"alert {i + 1}: " + (f"missing, expected {w}" if g is None else f"unexpected {g}"))
                elif g != w:
                    diff = {k: ((w or {}).get(k), (g or {}).get(k)) for k in set(g or {}) | set(w or {})
                            if (w or {}).get(k) != (g or {}).get(k)}
                    problems.append(f"alert {i + 1}: expected vs got {diff}")
        if r.same_times:
            src_alerts, _ = alerts_and_stats(output(r.source, entries[r.source]["args"]))
            if [a["timestamp"] for a in alerts] != [a["timestamp"] for a in src_alerts][:len(alerts)]:
                problems.append("alert timestamps differ from the source's")
        if stats is None:
            problems.append("no stats event")
        else:
            flat = {**stats["reassembly"], "midstream": stats["flows"]["midstream"],
                    "decode_errors": sum(stats["decode_errors"]["truncated"].values())
                    + sum(stats["decode_errors"]["invalid"].values()),
                    "skipped": sum(stats["skipped"].values())}
            for k, v in {"decode_errors": 0, "skipped": 0, **r.stats}.items():
                ok = flat[k] > 0 if v == ">0" else flat[k] == v
                if not ok:
                    problems.append(f"stats {k} = {flat[k]}, expected {v}")
        if problems:
            failures += 1
            print(f"DIFFERS  {r.name}")
            for p in problems:
                print("    " + p)
        else:
            print(f"ok       {r.name}")
    return 1 if failures else 0


def main(argv):
    try:
        if argv[:1] == ["--list"]:
            for r in RECIPES:
                print(f"{r.name:38} from {r.source:30} {r.what}")
            return 0
        if argv[:1] == ["--check"]:
            return check_all(argv[1] if len(argv) > 1 else None)
        if argv:
            raise SystemExit(__doc__)
        return derive_all()
    except DeriveError as e:
        print(f"[derive] FAILED: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
