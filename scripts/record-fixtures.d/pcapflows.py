"""Minimal pcap reader for checking recorded fixtures (stdlib only).

Reads classic pcap (what tcpdump -w writes) with Ethernet, Linux SLL or raw IP
link types, decodes IPv4/IPv6 + TCP, groups packets into connections (client =
the side that sent the SYN) and reassembles each direction by sequence number.
It is a checker for our own clean captures, not a general reassembler.
"""
import ipaddress
import struct


class Conn:
    def __init__(self, cip, cport, sip, sport, first_ts):
        self.client_ip, self.client_port = cip, cport
        self.server_ip, self.server_port = sip, sport
        self.first_ts = first_ts
        self.packets = 0
        self.syn = False
        self.fin = {"c": False, "s": False}
        self.rst = False
        self.isn = {}
        self.segs = {"c": [], "s": []}   # (ts, seq, payload)

    def key(self):
        return (self.client_ip, self.client_port, self.server_ip, self.server_port)

    def stream(self, d):
        """Reassembled bytes of direction d ('c' = client to server, 's' = server to client)."""
        segs = self.segs[d]
        if not segs:
            return b""
        base = self.isn.get(d)
        if base is None:
            base = min(s for _, s, _ in segs) - 1
        out = bytearray()
        holes = 0
        for _, seq, data in sorted(segs, key=lambda x: ((x[1] - base - 1) & 0xFFFFFFFF)):
            off = (seq - base - 1) & 0xFFFFFFFF
            if off > len(out):
                holes += 1
                out.extend(b"\0" * (off - len(out)))
            if off + len(data) > len(out):
                out.extend(data[len(out) - off:])
        self.holes = getattr(self, "holes", 0) + holes
        return bytes(out)

    def transcript(self):
        """Payload-carrying segments in capture order: [(dir, ts, bytes)]."""
        allsegs = [(ts, d, data) for d in "cs" for ts, _, data in self.segs[d]]
        return [(d, ts, data) for ts, d, data in sorted(allsegs, key=lambda x: x[0])]

    def first_payload_ts(self, d, needle):
        """Timestamp of the first segment of direction d containing needle."""
        for ts, _, data in sorted(self.segs[d], key=lambda x: x[0]):
            if needle in data:
                return ts
        return None


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError(f"{path}: too short for a pcap header")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError(f"{path}: not a classic pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    _, _, _, _, snaplen, linktype = struct.unpack(e + "HHiIII", data[4:24])
    off = 24
    pkts = []
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        pkts.append((sec + frac / (1e9 if nano else 1e6), linktype, data[off:off + incl], orig))
        off += incl
    return pkts


def decode(linktype, frame):
    """-> (ver, src, dst, sport, dport, seq, ack, flags, payload) or None."""
    if linktype == 1:          # Ethernet
        if len(frame) < 14:
            return None
        et = struct.unpack("!H", frame[12:14])[0]
        p = 14
        while et in (0x8100, 0x88A8) and len(frame) >= p + 4:
            et = struct.unpack("!H", frame[p + 2:p + 4])[0]
            p += 4
        ip = frame[p:]
    elif linktype == 113:      # Linux SLL
        et = struct.unpack("!H", frame[14:16])[0]
        ip = frame[16:]
    elif linktype in (101, 12, 14):
        ip = frame
        et = 0x0800 if ip and ip[0] >> 4 == 4 else 0x86DD
    else:
        raise ValueError(f"unsupported link type {linktype}")
    if et == 0x0800:
        if len(ip) < 20:
            return None
        ihl = (ip[0] & 15) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if ip[9] != 6:
            return None
        src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
        tcp = ip[ihl:total]
        ver = 4
    elif et == 0x86DD:
        if len(ip) < 40:
            return None
        plen = struct.unpack("!H", ip[4:6])[0]
        if ip[6] != 6:     # our captures carry no extension headers
            return None
        src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
        tcp = ip[40:40 + plen]
        ver = 6
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq, ack, offflags = struct.unpack("!HHIIH", tcp[:14])
    doff = (offflags >> 12) * 4
    flags = offflags & 0x1FF
    return ver, src, dst, sport, dport, seq, ack, flags, tcp[doff:]


SYN, ACK, FIN, RST = 0x02, 0x10, 0x01, 0x04


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksums_ok(linktype, frame):
    """True when the IPv4 header and TCP checksums are valid (offloads really off)."""
    if linktype != 1 or len(frame) < 14:
        return True
    et = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if et == 0x0800:
        ihl = (ip[0] & 15) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if _csum(ip[:ihl]) != 0xFFFF:
            return False
        seg = ip[ihl:total]
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(seg))
    elif et == 0x86DD:
        plen = struct.unpack("!H", ip[4:6])[0]
        seg = ip[40:40 + plen]
        pseudo = ip[8:40] + struct.pack("!IxxxB", len(seg), 6)
    else:
        return True
    return _csum(pseudo + seg) == 0xFFFF


def connections(path):
    """Return (packet_count, non_tcp_count, [Conn...] ordered by first packet)."""
    conns = {}
    order = []
    non_tcp = 0
    pkts = read_pcap(path)
    for ts, lt, frame, orig in pkts:
        if len(frame) != orig:
            raise ValueError(f"{path}: truncated frame ({len(frame)} of {orig} bytes)")
        if lt == 1 and len(frame) > 1514:
            raise ValueError(f"{path}: {len(frame)}-byte frame (segmentation offload still on?)")
        d = decode(lt, frame)
        if d is not None and not checksums_ok(lt, frame):
            raise ValueError(f"{path}: bad IP/TCP checksum (checksum offload still on?)")
        if d is None:
            non_tcp += 1
            continue
        ver, src, dst, sport, dport, seq, ack, flags, payload = d
        k1, k2 = (src, sport, dst, dport), (dst, dport, src, sport)
        if k1 in conns:
            c, direction = conns[k1], "c"
        elif k2 in conns:
            c, direction = conns[k2], "s"
        else:
            if flags & SYN and flags & ACK:
                c = Conn(dst, dport, src, sport, ts)
                conns[k2] = c
                direction = "s"
            else:
                c = Conn(src, sport, dst, dport, ts)
                conns[k1] = c
                direction = "c"
            order.append(c)
        c.packets += 1
        if flags & SYN:
            c.isn[direction] = seq
            if direction == "c":
                c.syn = True
        if flags & FIN:
            c.fin[direction] = True
        if flags & RST:
            c.rst = True
        if payload:
            c.segs[direction].append((ts, seq, payload))
    return len(pkts), non_tcp, order


if __name__ == "__main__":
    import sys
    dump = "--dump" in sys.argv
    for path in [a for a in sys.argv[1:] if a != "--dump"]:
        n, other, cs = connections(path)
        print(f"{path}: {n} packets, {other} non-TCP, {len(cs)} connections")
        for c in cs:
            print(f"  {c.client_ip}:{c.client_port} -> {c.server_ip}:{c.server_port} "
                  f"pkts={c.packets} c2s={len(c.stream('c'))} s2c={len(c.stream('s'))} "
                  f"syn={c.syn} fin={c.fin} rst={c.rst}")
            if dump:
                for d, ts, data in c.transcript():
                    print(f"    {'C' if d == 'c' else 'S'} {data!r}"[:600])
