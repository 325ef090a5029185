#!/usr/bin/env python3
"""Mirror-feed fixtures recorded from the real kernel: VXLAN and IP fragments.

Run by scripts/record-fixtures after the plain scenarios (the lab's servers are up), with the same
RF_* environment. It rewires the lab for each topology and puts it back afterwards:

  vxlan4 / vxlan6   client ns ps-rf-tc --veth-- VTEP ps-rf-vc ==underlay veth== VTEP ps-rf-vs --veth-- server
                    (each VTEP bridges its veth with a vxlan device: VNI 4242, 203.0.113.1 -> .2 dstport
                    4789, or 2001:db8:ffff::1 -> ::2 dstport 8472); captured on the underlay veth in
                    ps-rf-vs, so the pcap holds outer Ethernet/IP/UDP/VXLAN/inner Ethernet/IP/TCP.
  vxlan4-frag       the same with a 160-byte underlay MTU, the vxlan device left at MTU 1500 and `df
                    unset` (default), and a client with net.ipv4.ip_no_pmtu_disc=1 (inner DF clear):
                    the sending VTEP fragments the outer UDP datagram.
  vxlan6-tap-frag   IPv6 underlay at MTU 1280; the client-side VTEP in user space (TAP + UDP socket,
                    tap_vtep) so the kernel's IPv6 stack fragments its datagrams (a kernel vxlan6
                    device refuses to); the server side a kernel vxlan6 device.
  router-frag       client 198.51.100.1 ps-rf-tc --veth-- router ps-rf-rt --veth psrf-c-- server; the router's
                    route to 192.0.2.0/24 has `mtu 96` and the client sets ip_no_pmtu_disc=1, so the router
                    fragments the client's segments; captured on the server's veth (psrf-s) like the others.

The lab's client-side veth end (psrf-c) is moved into the topology's server-side namespace (a VTEP
bridge port or the router's server-facing port) and moved back afterwards; the server side is not
touched except for a route to the router topology's client subnet (removed afterwards).

Each capture is checked like a plain recording: VXLAN taken off and fragments put back together
(tunnelwire.py), the inner frames written to a temp pcap and given to scenarios.verify (complete
connections, valid inner checksums, the intended exchange, the password where it must be), plus
tunnel-specific checks (every outer packet is VXLAN with VNI 4242 between the right endpoints, the
fragment counts). The manifest entries carry the expected `tunnel` object in each alert.
"""
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scenarios as sc  # noqa: E402
import tunnelwire as tw  # noqa: E402
import manifestmerge  # noqa: E402

NS_TC, NS_VC, NS_VS, NS_RT = "ps-rf-tc", "ps-rf-vc", "ps-rf-vs", "ps-rf-rt"
EXTRA_NS = (NS_TC, NS_VC, NS_VS, NS_RT)
U4 = ("203.0.113.1", "203.0.113.2")
U6 = ("2001:db8:ffff::1", "2001:db8:ffff::2")
VNI = 4242
RT_CLI = "198.51.100.1"
TOOL = "scripts/record-fixtures.d/tunnels.py"


def ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and r.returncode:
        raise sc.Failure(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def nsx(ns, *argv, check=True):
    r = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True)
    if check and r.returncode:
        raise sc.Failure(f"{ns}: {' '.join(argv)}: {r.stderr.strip()}")
    return r.stdout


def offloads_off(ns, ifname):
    nsx(ns, "ethtool", "-K", ifname, "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off", check=False)
    if "tcp-segmentation-offload: off" not in nsx(ns, "ethtool", "-k", ifname):
        raise sc.Failure(f"could not turn TSO off on {ifname} in {ns}")


def new_ns(ns):
    ip("netns", "add", ns)
    ip("-n", ns, "link", "set", "lo", "up")
    nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
        "net.ipv6.conf.default.router_solicitations=0", "net.ipv6.conf.all.router_solicitations=0")


def veth(ns_a, a, mac_a, ns_b, b, mac_b, mtu=None):
    ip("link", "add", a, "netns", ns_a, "address", mac_a, "type", "veth", "peer", "name", b, "netns", ns_b,
       "address", mac_b)
    for ns, i in ((ns_a, a), (ns_b, b)):
        offloads_off(ns, i)
        nsx(ns, "sysctl", "-qw", f"net.ipv6.conf.{i}.router_solicitations=0", check=False)
        if mtu:
            ip("-n", ns, "link", "set", i, "mtu", str(mtu))
        ip("-n", ns, "link", "set", i, "up")


def addr(ns, ifname, a):
    ip("-n", ns, "addr", "add", a, "dev", ifname, *(["nodad"] if ":" in a else []))


class Topology:
    """Builds one topology around the running lab and takes it down again."""

    def __init__(self, kind, env):
        self.kind = kind
        self.work, self.ns_s, self.ns_c, self.if_s, self.out = env
        self.moved = False
        self.server_route = False

    def up(self):
        k = self.kind
        for ns in EXTRA_NS:   # leftovers of a killed run
            ip("netns", "del", ns, check=False)
        new_ns(NS_TC)
        srv_side = NS_RT if k == "router-frag" else NS_VS
        if k == "router-frag":
            new_ns(NS_RT)
        else:
            new_ns(NS_VC)
            new_ns(NS_VS)
        # the lab's server-facing veth end becomes a port of the topology's server side
        ip("-n", self.ns_c, "link", "set", "psrf-c", "netns", srv_side)
        self.moved = srv_side
        offloads_off(srv_side, "psrf-c")
        # its own MAC there: the client's (02:..:01) must not be a bridge-local address
        ip("-n", srv_side, "link", "set", "psrf-c", "address", "02:00:00:00:00:24")
        ip("-n", srv_side, "link", "set", "psrf-c", "up")
        if k == "router-frag":
            nsx(NS_RT, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            addr(NS_RT, "psrf-c", "192.0.2.254/24")
            veth(NS_TC, "psrf-tc", "02:00:00:00:00:01", NS_RT, "psrf-rc", "02:00:00:00:00:31")
            addr(NS_TC, "psrf-tc", f"{RT_CLI}/24")
            addr(NS_RT, "psrf-rc", "198.51.100.254/24")
            ip("-n", NS_TC, "route", "add", "default", "via", "198.51.100.254")
            # the router's way to the servers: a 96-byte MTU on the route (forwarding honours it)
            ip("-n", NS_RT, "route", "replace", "192.0.2.0/24", "dev", "psrf-c", "mtu", "96")
            ip("-n", self.ns_s, "route", "add", "198.51.100.0/24", "via", "192.0.2.254", "dev", self.if_s)
            self.server_route = True
            nsx(NS_TC, "sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc=1")
            self.capture = (self.ns_s, self.if_s, "tcp or (ip[6:2] & 0x3fff != 0)")
            return
        v6 = k.startswith("vxlan6")
        frag = k.endswith("-frag")
        under_mtu = (1280 if v6 else 160) if frag else 1600
        veth(NS_VC, "psrf-u1", "02:00:00:00:00:21", NS_VS, "psrf-u2", "02:00:00:00:00:22", mtu=under_mtu)
        a, b = U6 if v6 else U4
        addr(NS_VC, "psrf-u1", (a + "/64") if v6 else (a + "/24"))
        addr(NS_VS, "psrf-u2", (b + "/64") if v6 else (b + "/24"))
        veth(NS_TC, "psrf-tc", "02:00:00:00:00:01", NS_VC, "psrf-vcl", "02:00:00:00:00:23")
        addr(NS_TC, "psrf-tc", "192.0.2.1/24")
        addr(NS_TC, "psrf-tc", "2001:db8::1/64")
        port = "8472" if v6 else "4789"
        tap = k == "vxlan6-tap-frag"
        if tap:
            # The client-side VTEP in user space (tap_vtep below): its UDP socket's datagrams are
            # fragmented by the kernel's IPv6 stack, which vxlan6 devices never allow.
            self.tap_proc = subprocess.Popen(["ip", "netns", "exec", NS_VC, sys.executable, os.path.abspath(__file__),
                                              "--tap-vtep", a, b, port], stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            line = self.tap_proc.stdout.readline()
            if line.strip() != b"ready":
                raise sc.Failure(f"tap VTEP did not start: {line!r} {self.tap_proc.stderr.read(2000)!r}")
            ip("-n", NS_VC, "link", "add", "br0", "type", "bridge")
            for i in ("psrf-tap", "psrf-vcl"):
                ip("-n", NS_VC, "link", "set", i, "master", "br0")
            for i in ("psrf-tap", "br0"):
                nsx(NS_VC, "sysctl", "-qw", f"net.ipv6.conf.{i}.disable_ipv6=1", check=False)
                ip("-n", NS_VC, "link", "set", i, "up")
            offloads_off(NS_VC, "psrf-tap")
        for ns, local, remote, under, lan in ((NS_VC, a, b, "psrf-u1", "psrf-vcl"), (NS_VS, b, a, "psrf-u2", "psrf-c")):
            if tap and ns == NS_VC:
                continue
            # With frag: no `dev` (a vxlan bound to its lower device may not exceed that MTU - 50), and
            # an MTU bigger than the underlay's, so the VTEP fragments the outer packet (df unset).
            ip("-n", ns, "link", "add", "vx0", *(["mtu", "1500"] if frag else []), "type", "vxlan", "id", str(VNI),
               "local", local, "remote", remote, "dstport", port, *([] if frag else ["dev", under]))
            ip("-n", ns, "link", "add", "br0", "type", "bridge")
            for i in ("vx0", lan):
                ip("-n", ns, "link", "set", i, "master", "br0")
            for i in ("vx0", "br0"):
                nsx(ns, "sysctl", "-qw", f"net.ipv6.conf.{i}.disable_ipv6=1", check=False)
                ip("-n", ns, "link", "set", i, "up")
            offloads_off(ns, "vx0")
        if frag:
            nsx(NS_TC, "sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc=1")
        filt = f"udp port {port} or (ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)"
        self.capture = (NS_VS, "psrf-u2", filt)
        # the underlay's neighbour discovery first, so the capture holds only the scenario
        nsx(NS_VC, "ip", "neigh", "replace", b, "lladdr", "02:00:00:00:00:22", "dev", "psrf-u1", "nud", "permanent")
        nsx(NS_VS, "ip", "neigh", "replace", a, "lladdr", "02:00:00:00:00:21", "dev", "psrf-u2", "nud", "permanent")

    def down(self):
        p = getattr(self, "tap_proc", None)
        if p is not None:   # the tap VTEP this run started, by PID
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            self.tap_proc = None
        if self.server_route:
            ip("-n", self.ns_s, "route", "del", "198.51.100.0/24", check=False)
            self.server_route = False
        if self.moved:
            ip("-n", self.moved, "link", "set", "psrf-c", "nomaster", check=False)
            ip("-n", self.moved, "link", "set", "psrf-c", "address", "02:00:00:00:00:01", check=False)
            ip("-n", self.moved, "link", "set", "psrf-c", "netns", self.ns_c, check=False)
            self.moved = False
        for ns in EXTRA_NS:   # only tcpdump ran in them, and it is stopped by PID
            ip("netns", "del", ns, check=False)


def start_capture(ns, ifname, path, filt):
    argv = ["ip", "netns", "exec", ns, "tcpdump", "-i", ifname, "--immediate-mode", "-s", "0",
            "-nn", "-U", "-Z", "root", "-w", path, filt]
    import select
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    buf = b""
    deadline = time.monotonic() + 10
    while b"listening on" not in buf:
        r, _, _ = select.select([p.stderr], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            p.kill()
            p.wait()
            raise sc.Failure(f"tcpdump did not start: {buf!r}")
        chunk = os.read(p.stderr.fileno(), 4096)
        if not chunk:
            p.wait()
            raise sc.Failure(f"tcpdump exited ({p.returncode}): {buf!r}")
        buf += chunk
    return p


# ---------------------------------------------------------------- the scenario table
class TScenario:
    def __init__(self, name, topo, description, scenario, min_frag=0):
        self.name, self.topo, self.description, self.sc, self.min_frag = name, topo, description, scenario, min_frag


def table(versions):
    V = versions
    SRV, SRV6 = sc.SRV, sc.SRV6
    out = []
    A = sc.alert

    def add(name, topo, desc, client, conns, users, secrets, min_frag=0):
        out.append(TScenario(name, topo, desc, sc.Scenario(name, desc, client, conns, users, secrets), min_frag))

    u, pw = "bob", 'Fx-vxlanimap"q\\-S3cret'
    add("vxlan-imap-login", "vxlan4", "VXLAN (VNI 4242, UDP 4789, IPv4 underlay 203.0.113.1 -> .2) recorded on the "
        "underlay: IMAP LOGIN with a quoted password, success",
        f"Python {V['python']} imaplib login()", [sc.Conn(
            sc.py("imap_login", host=SRV, port=143, user=u, password=pw, mode="quoted"),
            (SRV, 143), [sc.IMAP_GREET_STARTTLS, (sc.C, r'^\S+ LOGIN bob "Fx-vxlanimap\\"q\\\\-S3cret"\r\n'),
                         sc.IMAP_OK_LOGIN],
            A("imap", "LOGIN", u, "success", "offered"), pw, wire="quoted")],
        {u: pw}, [pw])

    u, pw = "alice", "Fx-vxlanpop3-S3cret"
    add("vxlan-pop3-user-pass", "vxlan4", "VXLAN (VNI 4242, UDP 4789, IPv4 underlay) recorded on the underlay: "
        "POP3 CAPA then USER/PASS, success",
        f"Python {V['python']} poplib", [sc.Conn(
            sc.py("pop3_user", host=SRV, port=110, user=u, password=pw, capa=True),
            (SRV, 110), [sc.POP_CAPA_STLS, (sc.C, rf"^CAPA\r\nUSER {u}\r\nPASS {sc.rx(pw)}\r\n"), sc.POP_OK_LOGIN],
            A("pop3", "USER", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "carol", "Fx-vxlansmtp-S3cret"
    add("vxlan-smtp-auth-plain", "vxlan4", "VXLAN (VNI 4242, UDP 4789, IPv4 underlay) recorded on the underlay: "
        "SMTP port 25 AUTH PLAIN with an initial response, success",
        f"swaks {V['swaks']} -a PLAIN", [sc.Conn(
            sc.swaks(SRV, 25, u, pw, "-a", "PLAIN"),
            (SRV, 25), [sc.SMTP_EHLO_STARTTLS, (sc.C, rf"^AUTH PLAIN {sc.rx(sc.plain(u, pw))}\r\n"), sc.SMTP_235],
            A("smtp", "AUTH PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    u, pw = "dave", "Fx-vxlan6imap-S3cret"
    add("vxlan6-imap-login-ipv6", "vxlan6", "VXLAN over an IPv6 underlay (VNI 4242, UDP 8472 as Linux/OVS, "
        "2001:db8:ffff::1 -> ::2) recorded on the underlay: IMAP LOGIN over inner IPv6, success",
        f"Python {V['python']} imaplib login()", [sc.Conn(
            sc.py("imap_login", host=SRV6, port=143, user=u, password=pw, mode="quoted"),
            (SRV6, 143), [sc.IMAP_GREET_STARTTLS, (sc.C, rf'^\S+ LOGIN {u} "{sc.rx(pw)}"\r\n'), sc.IMAP_OK_LOGIN],
            A("imap", "LOGIN", u, "success", "offered"), pw, wire="quoted")],
        {u: pw}, [pw])

    u, pw = "erin", "Fx-vxlan6smtp-S3cret"
    add("vxlan6-smtp-auth-plain", "vxlan6", "VXLAN over an IPv6 underlay (VNI 4242, UDP 8472) recorded on the "
        "underlay: SMTP port 25 AUTH PLAIN over inner IPv4, success",
        f"swaks {V['swaks']} -a PLAIN", [sc.Conn(
            sc.swaks(SRV, 25, u, pw, "-a", "PLAIN"),
            (SRV, 25), [sc.SMTP_EHLO_STARTTLS, (sc.C, rf"^AUTH PLAIN {sc.rx(sc.plain(u, pw))}\r\n"), sc.SMTP_235],
            A("smtp", "AUTH PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw])

    # long passwords so the login segment crosses several fragments
    u, pw = "alice", "Fx-routerfrag-" + "correct-horse-battery-staple-" * 3 + "S3cret"
    add("frag-router-imap-login", "router-frag", "IPv4 fragments made by a router: client 198.51.100.1 with "
        "ip_no_pmtu_disc=1 (DF clear), the router's route to the server has MTU 96, so it fragments the "
        "client's segments (the IMAP LOGIN line crosses 3 fragments); recorded on the server's link",
        f"Python {V['python']} imaplib login()", [sc.Conn(
            sc.py("imap_login", host=SRV, port=143, user=u, password=pw, mode="quoted"),
            (SRV, 143), [sc.IMAP_GREET_STARTTLS, (sc.C, rf'^\S+ LOGIN {u} "{sc.rx(pw)}"\r\n'), sc.IMAP_OK_LOGIN],
            A("imap", "LOGIN", u, "success", "offered"), pw, wire="quoted")],
        {u: pw}, [pw], min_frag=3)

    u, pw = "bob", "Fx-routerfragpop3-" + "tr0ub4dor-and-3-" * 5 + "S3cret"
    add("frag-router-pop3-user-pass", "router-frag", "IPv4 fragments made by a router (route MTU 96, client "
        "DF clear): POP3 USER/PASS, the PASS line fragmented; recorded on the server's link",
        f"Python {V['python']} poplib", [sc.Conn(
            sc.py("pop3_user", host=SRV, port=110, user=u, password=pw, capa=True),
            (SRV, 110), [sc.POP_CAPA_STLS, (sc.C, rf"^CAPA\r\nUSER {u}\r\nPASS {sc.rx(pw)}\r\n"), sc.POP_OK_LOGIN],
            A("pop3", "USER", u, "success", "offered"), pw)],
        {u: pw}, [pw], min_frag=2)

    u, pw = "carol", "Fx-vxlanfrag-" + "correct-horse-battery-staple-" * 4 + "S3cret"
    add("vxlan-frag-smtp-auth-plain", "vxlan4-frag", "VXLAN whose IPv4 underlay has MTU 160, vxlan device MTU "
        "1500 and df unset (the default), client DF clear: the sending VTEP fragments the outer UDP datagram "
        "(outer fragments, the inner packet whole); SMTP AUTH PLAIN, success",
        f"swaks {V['swaks']} -a PLAIN", [sc.Conn(
            sc.swaks(SRV, 25, u, pw, "-a", "PLAIN"),
            (SRV, 25), [sc.SMTP_EHLO_STARTTLS, (sc.C, rf"^AUTH PLAIN {sc.rx(sc.plain(u, pw))}\r\n"), sc.SMTP_235],
            A("smtp", "AUTH PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw], min_frag=2)

    u, pw = "dave", "Fx-vxlanfragimap-" + "tr0ub4dor-and-3-" * 4 + "S3cret"
    add("vxlan-frag-imap-login", "vxlan4-frag", "VXLAN whose IPv4 underlay has MTU 160 (vxlan MTU 1500, df unset, "
        "client DF clear): outer UDP fragments; IMAP LOGIN, success",
        f"Python {V['python']} imaplib login()", [sc.Conn(
            sc.py("imap_login", host=SRV, port=143, user=u, password=pw, mode="quoted"),
            (SRV, 143), [sc.IMAP_GREET_STARTTLS, (sc.C, rf'^\S+ LOGIN {u} "{sc.rx(pw)}"\r\n'), sc.IMAP_OK_LOGIN],
            A("imap", "LOGIN", u, "success", "offered"), pw, wire="quoted")],
        {u: pw}, [pw], min_frag=2)

    # A kernel vxlan6 device does not fragment the outer packet: vxlan6 sends through ip6_local_out
    # without ignore_df, so ip6_fragment() refuses (packet too big) and the VTEP drops the frame
    # (tried: underlay MTU 1280, vxlan MTU 1500 without `dev`, client DF clear, a 1,300-byte LOGIN
    # line: it never reached the underlay). So the client-side VTEP here is a user-space one
    # (tap_vtep: TAP device + UDP socket), whose datagrams the kernel's IPv6 stack does fragment;
    # the server side is the kernel's vxlan6 device, which reassembles them.
    # (dovecot's login processes drop a command line over 1 KiB, "Input buffer full": an SMTP AUTH
    # PLAIN line to exim carries the long credential instead.)
    u, pw = "erin", "Fx-vxlan6frag-" + "correct-horse-battery-staple-0123456789-" * 25 + "S3cret"
    add("vxlan6-frag-smtp-auth-plain", "vxlan6-tap-frag", "VXLAN over an IPv6 underlay at MTU 1280 (the IPv6 "
        "minimum), UDP 8472: the client-side VTEP is a user-space one (TAP device + UDP socket, "
        "tunnels.py tap_vtep), so the kernel's IPv6 stack fragments its datagram (Fragment header) "
        "carrying a 1,400-byte SMTP AUTH PLAIN line; the server-side VTEP is the kernel's vxlan6 device "
        "(it reassembles); success",
        f"swaks {V['swaks']} -a PLAIN", [sc.Conn(
            sc.swaks(SRV, 25, u, pw, "-a", "PLAIN"),
            (SRV, 25), [sc.SMTP_EHLO_STARTTLS, (sc.C, rf"^AUTH PLAIN {sc.rx(sc.plain(u, pw))}\r\n"), sc.SMTP_235],
            A("smtp", "AUTH PLAIN", u, "success", "offered"), pw)],
        {u: pw}, [pw], min_frag=2)
    return out


def tap_vtep(local, remote, port):
    """A user-space VXLAN endpoint: Ethernet frames from TAP device psrf-tap go to [remote]:port in
    VXLAN (VNI 4242) from a UDP socket bound to [local]:port, and back. Bounded: exits after 120 s
    or on SIGTERM. The kernel fragments datagrams bigger than the underlay MTU (UDP over IPv6 from
    a local socket), which is the point."""
    import fcntl
    import select
    import signal
    import socket
    import struct
    TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"psrf-tap", IFF_TAP | IFF_NO_PI))
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind((local, int(port)))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    hdr = struct.pack("!II", 0x08000000, VNI << 8)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd, sock], [], [], 1.0)
        if fd in r:
            sock.sendto(hdr + os.read(fd, 65536), (remote, int(port)))
        if sock in r:
            data, _ = sock.recvfrom(65536)
            if len(data) > 8 and data[:4] == hdr[:4] and data[4:7] == hdr[4:7]:
                os.write(fd, data[8:])
    return 0


def tunnel_of(t):
    if t.topo == "router-frag":
        return None
    src, dst = (U6 if t.topo.startswith("vxlan6") else U4)
    return {"type": "vxlan", "src_ip": src, "dest_ip": dst, "vni": VNI, "layers": ["vxlan"]}


def check_and_expect(t, env, path, captured, dropped):
    """Decapsulate/reassemble to inner frames, run the recorder's checks on them, check the outer
    layer; -> (packets, expected alerts)."""
    work = env[0]
    linktype, recs = tw.read_pcap(path)
    if linktype != 1:
        raise sc.Failure(f"{t.name}: link type {linktype}")
    reasm, stats = tw.Reassembler(), {}
    inner, outer_seen = [], set()
    for ts, frame in recs:
        try:
            for f, info in tw.decap_vxlan(frame, reasm, stats):
                if info is not None:
                    outer_seen.add((info["src_ip"], info["dest_ip"], info["vni"], info["dport"]))
                if inner_proto(f) == 6:   # inner ARP/ND stay in the file, the checks read TCP
                    inner.append((ts, f))
        except ValueError as e:
            raise sc.Failure(f"{t.name}: {e}")
    if reasm.pending:
        raise sc.Failure(f"{t.name}: {len(reasm.pending)} incomplete fragment set(s)")
    if stats.get("reassembled", 0) < (1 if t.min_frag else 0):
        raise sc.Failure(f"{t.name}: no fragmented datagram (stats {stats})")
    if t.min_frag and stats["fragments"] < t.min_frag:
        raise sc.Failure(f"{t.name}: only {stats['fragments']} fragments")
    if not t.min_frag and stats.get("fragments"):
        raise sc.Failure(f"{t.name}: unexpected fragments")
    if t.topo.startswith("vxlan"):
        v6 = t.topo.startswith("vxlan6")
        a, b = U6 if v6 else U4
        port = 8472 if v6 else 4789
        want = {(a, b, VNI, port), (b, a, VNI, port)}
        if outer_seen != want:
            raise sc.Failure(f"{t.name}: outer VXLAN {outer_seen}, expected {want}")
    elif outer_seen:
        raise sc.Failure(f"{t.name}: VXLAN in a router capture")
    tmp = os.path.join(work, "cap", t.name + ".inner.pcap")
    tw.write_pcap(tmp, 1, inner)
    if t.topo == "router-frag":
        saved = sc.CLI
        sc.CLI = RT_CLI
    try:
        # the packet count check is against the inner frames here
        _, expected = sc.verify(t.sc, tmp, len(inner), dropped)
    finally:
        if t.topo == "router-frag":
            sc.CLI = saved
    for e in expected:
        tun = tunnel_of(t)
        if tun:
            e["tunnel"] = tun
    return len(recs), expected, stats


def inner_proto(frame):
    et = (frame[12] << 8) | frame[13]
    if et == 0x0800:
        return frame[14 + 9]
    if et == 0x86DD:
        return frame[14 + 6]
    return None


def record(t, idx, env, logf):
    work, _, _, _, out = env
    sc.write_creds(work, t.sc.users, 1_800_000_000 + idx * 10)
    wait = int(sc._last_activity[0]) + 1.05 - time.time()
    if wait > 0:
        time.sleep(wait)
    ns, ifname, filt = TOPO.capture
    tmp = os.path.join(work, "cap", t.name + ".pcap")
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    if os.path.exists(tmp):
        os.unlink(tmp)
    td = start_capture(ns, ifname, tmp, filt)
    try:
        for spec in t.sc.conns:
            logf.write(f"\n##### {t.name}: {' '.join(spec.run)}\n")
            logf.flush()
            try:
                r = subprocess.run(["ip", "netns", "exec", NS_TC, "unshare", "--uts", "sh", "-c",
                                    'hostname client.example.org && exec "$0" "$@"', *spec.run],
                                   stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, timeout=60)
            except subprocess.TimeoutExpired:
                raise sc.Failure(f"{t.name}: client timed out: {spec.run[0]}")
            if spec.rc is not None and r.returncode != spec.rc:
                raise sc.Failure(f"{t.name}: client {spec.run[0]} exited {r.returncode} (see log)")
            time.sleep(0.3)
        time.sleep(0.3)
    finally:
        captured, dropped = sc.stop_tcpdump(td)
        sc._last_activity[0] = time.time()
    npk_file = len(tw.read_pcap(tmp)[1])
    if npk_file != captured:
        raise sc.Failure(f"{t.name}: file has {npk_file} packets, tcpdump reported {captured}")
    npk, expected, stats = check_and_expect(t, env, tmp, captured, dropped)
    dest = os.path.join(out, t.name + ".pcap")
    shutil.copyfile(tmp, dest + ".new")
    os.chmod(dest + ".new", 0o644)
    os.replace(dest + ".new", dest)
    return npk, os.path.getsize(dest), expected, stats


TOPO = None


def main(argv):
    global TOPO
    versions = sc.tool_versions()
    tab = table(versions)
    names = [t.name for t in tab]
    if argv[:1] == ["--tap-vtep"]:
        return tap_vtep(*argv[1:4])
    if argv[:1] == ["--list"]:
        for t in tab:
            print(f"{t.name:32} {t.topo}")
        return 0
    want = [a for a in argv if a in names] or names
    env = tuple(os.environ[k] for k in ("RF_WORK", "RF_NS_S", "RF_NS_C", "RF_IF_S", "RF_OUT"))
    work = env[0]
    entries = {}
    with open(os.path.join(work, "clients-tunnels.log"), "w") as logf:
        for topo in ("vxlan4", "vxlan6", "vxlan4-frag", "vxlan6-tap-frag", "router-frag"):
            todo = [t for t in tab if t.topo == topo and t.name in want]
            if not todo:
                continue
            TOPO = Topology(topo, env)
            try:
                try:
                    TOPO.up()
                except sc.Failure as e:
                    sc.log(f"FAILED: topology {topo}: {e}")
                    return 1
                for t in todo:
                    t0 = time.monotonic()
                    try:
                        npk, size, expected, stats = record(t, names.index(t.name), env, logf)
                    except sc.Failure as e:
                        logf.flush()
                        sc.log(f"FAILED: {e}")
                        with open(os.path.join(work, "clients-tunnels.log"), errors="replace") as f:
                            sys.stderr.write(f.read().split("\n##### ")[-1][-4000:] + "\n")
                        return 1
                    entries[t.name] = {"pcap": t.name + ".pcap", "args": [], "client": t.sc.client,
                                       "description": t.description, "secrets": t.sc.secrets, "expected": expected}
                    sc.log(f"{t.name:30} {len(expected)} alert(s) {npk:4} packets {size:6} bytes "
                           f"{stats.get('fragments', 0):3} fragments {time.monotonic() - t0:4.1f} s")
            finally:
                TOPO.down()
    if set(want) != set(names):   # a partial run keeps the other entries of this table
        _, _, m = manifestmerge.derive.load_manifest()
        for e in m["fixtures"]:
            if e["pcap"][:-5] in names and e["pcap"][:-5] not in entries:
                entries[e["pcap"][:-5]] = e
    ordered = [entries[n] for n in names if n in entries]
    manifestmerge.merge(TOOL, ordered, keep=[n + ".pcap" for n in names])
    manifestmerge.replace_section("Mirror feeds recorded from the kernel (VXLAN, IP fragments)",
                                  README_TEXT + f"\nRecorded on kernel {versions['kernel']} with dovecot "
                                  f"{versions['dovecot']}, exim {versions['exim']}, swaks {versions['swaks']}, Python "
                                  f"{versions['python']}, tcpdump {versions['tcpdump']}.\n\n"
                                  + manifestmerge.readme_rows(ordered, "client"))
    return 0


README_TEXT = """\
Written by `scripts/record-fixtures.d/tunnels.py`, run by `scripts/record-fixtures` after the plain
scenarios (or alone: `sudo scripts/record-fixtures --tunnels [NAME...]`). The same servers and
clients, with the lab rewired for each topology and put back afterwards (this machine's kernel has
only the `vxlan` and `veth` tunnel-capable link types; the other tunnels come from Debian's kernel in
a QEMU guest, next section):

- **VXLAN**: client namespace `ps-rf-tc` -- veth -- VTEP `ps-rf-vc` == underlay veth == VTEP `ps-rf-vs`
  -- veth -- server namespace. Each VTEP bridges its LAN veth with a `vxlan` device, VNI 4242,
  203.0.113.1 -> 203.0.113.2 UDP 4789 (IPv4 underlay) or 2001:db8:ffff::1 -> ::2 UDP 8472 (IPv6
  underlay, the Linux/OVS port). tcpdump runs on the underlay veth in `ps-rf-vs` with
  `udp port 4789 or udp port 8472 or (ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)`, so the file
  holds outer Ethernet/IP/UDP/VXLAN/inner Ethernet/IP/TCP (and the inner ARP/ND the hosts sent).
- **VXLAN with outer fragments**: the underlay veth at MTU 160 (IPv4) or 1280 (IPv6, its minimum),
  the vxlan device at MTU 1500 with `df unset` (the default), the client with
  `net.ipv4.ip_no_pmtu_disc=1` (inner DF clear, so the VTEP does not answer with ICMP): the sending
  VTEP fragments the outer UDP datagram. The server's replies (inner DF set) came out fragmented
  the same way: the VTEP (a vxlan device with no lower `dev`) sent the server no ICMP.
- **VXLAN over IPv6 with outer fragments**: a kernel vxlan6 device does not fragment (its path
  does not let ip6_fragment() split the outer packet: with a 1280 underlay MTU and a 1,300-byte
  login line the VTEP dropped the frame). So the client-side VTEP is a user-space one
  (`tunnels.py --tap-vtep`, started and stopped by PID: a TAP device bridged like the vxlan device,
  frames sent as VXLAN from a UDP socket on [2001:db8:ffff::1]:8472, at most 120 s), whose
  datagrams the kernel's IPv6 stack fragments (Fragment header); the server side stays the
  kernel's vxlan6 device, which reassembles them. A 1,400-byte SMTP AUTH PLAIN line (dovecot's
  login processes refuse lines over 1 KiB) crosses the 1280 MTU.
- **Router fragments**: client 198.51.100.1 (`ip_no_pmtu_disc=1`) -- router `ps-rf-rt` -- server; the
  router's route to 192.0.2.0/24 carries `mtu 96`, so it fragments the client's segments; captured
  on the server's veth as usual. Fragments carry no tunnel object.

Checks before the manifest is written: VXLAN taken off and the fragments put back together
(`tunnelwire.py`), then the recorder's own checks on the inner frames (complete connections, valid
inner checksums, the intended exchange, the password where it must be), every outer packet VXLAN
with VNI 4242 between the two VTEPs both ways, and a minimum fragment count. Each expected alert
carries the `tunnel` object the alert must show (`type`, the outer `src_ip`/`dest_ip` of the
client-to-server direction, `vni`, `layers`). The goldens (`*.expected.jsonl`) of these captures
need the tunnel-aware decoder: `scripts/update-expected` is not run for them yet.
"""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
