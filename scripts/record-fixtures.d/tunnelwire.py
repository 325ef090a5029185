"""Packet building and taking apart for the tunnel and fragment fixtures (stdlib only).

Shared by tunnels.py (kernel recordings: checks them by decapsulating VXLAN and reassembling IP
fragments back to the inner Ethernet/IP/TCP frames, which the recorder's checker then reads) and
encapsulate.py (generated captures: builds every header with its lengths and checksums).
"""
import ipaddress
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "fixtures")


# ---------------------------------------------------------------- pcap files
def read_pcap(path):
    """Classic little/big-endian microsecond or nanosecond pcap -> (linktype, [(ts_ns, frame)])."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError(f"{path}: not a classic pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    off, out = 24, []
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        if len(frame) != incl or incl != orig:
            raise ValueError(f"{path}: truncated record")
        off += incl
        out.append((sec * 1_000_000_000 + frac * (1 if nano else 1000), frame))
    return linktype, out


def write_pcap(path, linktype, records):
    """Little-endian microsecond pcap (what tcpdump writes)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
    for ts, frame in records:
        sec, nsec = divmod(ts, 1_000_000_000)
        out += struct.pack("<IIII", sec, nsec // 1000, len(frame), len(frame)) + frame
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(out)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


# ---------------------------------------------------------------- checksums and headers
def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def inet_csum(data):
    return (~csum(data)) & 0xFFFF


def ip_bytes(addr):
    return ipaddress.ip_address(addr).packed


def eth(dst, src, ethertype, payload):
    return bytes.fromhex(dst.replace(":", "")) + bytes.fromhex(src.replace(":", "")) + \
        struct.pack("!H", ethertype) + payload


def ipv4(src, dst, proto, payload, ident=0, df=True, ttl=64, frag_off=0, more=False):
    """One IPv4 header (20 bytes, checksum computed) + payload; frag_off in bytes."""
    flags = (0x4000 if df else 0) | (0x2000 if more else 0) | (frag_off // 8)
    h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, flags, ttl, proto, 0,
                              ip_bytes(src), ip_bytes(dst)))
    struct.pack_into("!H", h, 10, inet_csum(bytes(h)))
    return bytes(h) + payload


def ipv6(src, dst, nh, payload, hlim=64, flow=0):
    return struct.pack("!IHBB16s16s", (6 << 28) | flow, len(payload), nh, hlim, ip_bytes(src), ip_bytes(dst)) + payload


def udp(src_ip, dst_ip, sport, dport, payload, checksum=True):
    """UDP header + payload; the checksum over the IPv4/IPv6 pseudo-header (0 = none, IPv4 only)."""
    length = 8 + len(payload)
    h = struct.pack("!HHHH", sport, dport, length, 0)
    if not checksum:
        if ":" in src_ip:
            raise ValueError("UDP over IPv6 needs a checksum")
        return h + payload
    if ":" in src_ip:
        pseudo = ip_bytes(src_ip) + ip_bytes(dst_ip) + struct.pack("!IxxxB", length, 17)
    else:
        pseudo = ip_bytes(src_ip) + ip_bytes(dst_ip) + struct.pack("!BBH", 0, 17, length)
    c = inet_csum(pseudo + h + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, c) + payload


# ---------------------------------------------------------------- taking frames apart
class Reassembler:
    """IPv4 and IPv6 fragment reassembly for checking captures (first copy of a byte wins; the
    checks only run on captures whose fragments agree, or say which copy they expect)."""

    def __init__(self):
        self.pending = {}

    def add(self, key, off, more, data, head=None):
        """-> the whole payload once complete, else None. head: the unfragmentable header bytes
        (kept from the fragment at offset 0)."""
        st = self.pending.setdefault(key, {"parts": {}, "end": None, "head": None})
        st["parts"].setdefault(off, data)
        if off == 0 and head is not None:
            st["head"] = head
        if not more:
            st["end"] = off + len(data)
        if st["end"] is None or st["head"] is None:
            return None
        buf = bytearray(st["end"])
        have = [False] * st["end"]
        for o, d in sorted(st["parts"].items()):
            for i, b in enumerate(d):
                if o + i < st["end"] and not have[o + i]:
                    buf[o + i] = b
                    have[o + i] = True
        if not all(have):
            return None
        del self.pending[key]
        return st["head"], bytes(buf)


def parse_ip(pkt, reasm, stats):
    """IPv4/IPv6 packet -> (version, src, dst, proto, payload, whole_packet) with fragments put back
    together (None while incomplete). whole_packet is a rebuilt unfragmented packet."""
    if pkt[0] >> 4 == 4:
        ihl = (pkt[0] & 15) * 4
        total = struct.unpack("!H", pkt[2:4])[0]
        if csum(pkt[:ihl]) != 0xFFFF:
            raise ValueError("bad IPv4 header checksum")
        ident, flags = struct.unpack("!HH", pkt[4:8])
        proto, src, dst = pkt[9], pkt[12:16], pkt[16:20]
        payload = pkt[ihl:total]
        off, more = (flags & 0x1FFF) * 8, bool(flags & 0x2000)
        if off or more:
            stats["fragments"] = stats.get("fragments", 0) + 1
            r = reasm.add((4, src, dst, proto, ident), off, more, payload, pkt[:ihl])
            if r is None:
                return None
            head, payload = r
            h = bytearray(head)
            struct.pack_into("!H", h, 2, len(h) + len(payload))
            struct.pack_into("!H", h, 6, 0)
            struct.pack_into("!H", h, 10, 0)
            struct.pack_into("!H", h, 10, inet_csum(bytes(h)))
            stats["reassembled"] = stats.get("reassembled", 0) + 1
            return 4, str(ipaddress.IPv4Address(src)), str(ipaddress.IPv4Address(dst)), proto, payload, bytes(h) + payload
        return 4, str(ipaddress.IPv4Address(src)), str(ipaddress.IPv4Address(dst)), proto, payload, pkt[:total]
    if pkt[0] >> 4 == 6:
        plen = struct.unpack("!H", pkt[4:6])[0]
        nh, src, dst = pkt[6], pkt[8:24], pkt[24:40]
        body = pkt[40:40 + plen]
        s, d = str(ipaddress.IPv6Address(src)), str(ipaddress.IPv6Address(dst))
        if nh == 44:
            real_nh, _, offflags, ident = struct.unpack("!BBHI", body[:8])
            off, more = offflags & 0xFFF8, bool(offflags & 1)
            stats["fragments"] = stats.get("fragments", 0) + 1
            r = reasm.add((6, src, dst, ident), off, more, body[8:], b"")
            if r is None:
                return None
            _, payload = r
            stats["reassembled"] = stats.get("reassembled", 0) + 1
            whole = struct.pack("!IHBB", struct.unpack("!I", pkt[:4])[0], len(payload), real_nh, pkt[7]) + src + dst + payload
            return 6, s, d, real_nh, payload, whole
        return 6, s, d, nh, body, pkt[:40 + plen]
    raise ValueError("not IP")


def decap_vxlan(frame, reasm, stats, ports=(4789, 8472)):
    """Ethernet frame of a mirror feed -> [(inner Ethernet frame, outer info)] (empty while a
    fragment is pending). Plain Ethernet/IP frames come back as themselves (IP reassembled)."""
    et = struct.unpack("!H", frame[12:14])[0]
    if et not in (0x0800, 0x86DD):
        return []
    r = parse_ip(frame[14:], reasm, stats)
    if r is None:
        return []
    ver, src, dst, proto, payload, whole = r
    if proto == 17:
        sport, dport, ulen, uc = struct.unpack("!HHHH", payload[:8])
        if dport not in ports:
            raise ValueError(f"UDP port {dport} is not VXLAN")
        if ver == 6 or uc:
            pseudo = (ip_bytes(src) + ip_bytes(dst) + (struct.pack("!IxxxB", ulen, 17) if ver == 6
                                                       else struct.pack("!BBH", 0, 17, ulen)))
            if csum(pseudo + payload[:ulen]) != 0xFFFF:
                raise ValueError("bad outer UDP checksum")
        vx = payload[8:16]
        if vx[0] != 0x08:
            raise ValueError("VXLAN I flag not set")
        vni = struct.unpack("!I", vx[4:8])[0] >> 8
        info = {"type": "vxlan", "src_ip": src, "dest_ip": dst, "vni": vni, "dport": dport, "ver": ver}
        inner = payload[16:ulen]
        iet = struct.unpack("!H", inner[12:14])[0]
        if iet == 0x0800:
            r2 = parse_ip(inner[14:], reasm, stats)
            if r2 is None:
                return []
            inner = inner[:14] + r2[5]
        elif iet == 0x0806:
            return []
        return [(inner, info)]
    return [(frame[:14] + whole, None)]
