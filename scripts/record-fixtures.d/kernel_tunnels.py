#!/usr/bin/env python3
"""Mirror-feed fixtures recorded from the kernel's own tunnels: GRE, gretap, ip6gre, ERSPAN II/III,
IP-in-IP, 6in4 (sit), 4in6/6in6 (ip6tnl), Geneve, MPLS and PPPoE.

Needs a kernel with those modules (this machine's own has only vxlan and veth): run inside the QEMU
guest of scripts/record-kernel-tunnels (a stock Debian kernel), by `scripts/record-fixtures
--kernel-tunnels` once the lab's servers are up, with the RF_* environment. Like tunnels.py it
rewires the lab for each topology and puts it back afterwards:

  client ns ps-rf-tc  ==underlay veth psrf-u1/psrf-u2==  tunnel end ps-rf-vs  --psrf-c veth--  server ns

The client's addresses (192.0.2.1, 2001:db8::1) sit on the tunnel device in ps-rf-tc itself (or on
lo for MPLS, on ppp0 for PPPoE). The lab's client-side veth end (psrf-c) moves into ps-rf-vs: an
Ethernet tunnel (gretap, erspan, geneve) is bridged with it there; an IP tunnel (gre, ip6gre, ipip,
sit, ip6tnl, MPLS, PPPoE) is routed to it, ps-rf-vs answering the server's ARP/ND for the client
(proxy ARP/NDP, psrf-c keeping the client's MAC). Underlay 203.0.113.1 -> .2 or 2001:db8:ffff::1 ->
::2, GRE key 77, ERSPAN session 300, VNI 4242, MPLS labels 1001/1002 (both directions), the PPPoE
session the server hands out. tcpdump runs on psrf-u2 in ps-rf-vs with a filter selecting the
encapsulation, so the file holds the outer headers as they left the kernel. The IPv6 tunnels keep
the kernel's default `encaplimit 4`: their outer IPv6 header is followed by a Destination Options
header holding the Tunnel Encapsulation Limit option (RFC 2473) before GRE or the inner IP header
(so tcpdump selects them with plain `ip6`: `ip6 proto N` reads only the fixed header).

Checks before the manifest is written: every frame holding an inner TCP packet of the lab (found by
its addresses and, for IPv4, a valid header checksum) is dissected by tshark, whose protocol stack
must show the encapsulation in order, with the identifiers configured; the inner packets, written
to a temp pcap, go through the recorder's own checks (scenarios.verify: complete connections, valid
checksums, the intended exchange, the password where it must be). The expected alerts carry the
`tunnel` object.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scenarios as sc  # noqa: E402
import tunnelwire as tw  # noqa: E402
import tunnels as tu  # noqa: E402
import manifestmerge  # noqa: E402

NS_TC, NS_VS = tu.NS_TC, tu.NS_VS
U4, U6 = tu.U4, tu.U6
GRE_KEY, ERSPAN_ID, VNI, LABELS = 77, 300, 4242, (1001, 1002)
TOOL = "scripts/record-fixtures.d/kernel_tunnels.py"
MODULES = ("ip_gre", "ip6_gre", "ipip", "sit", "ip6_tunnel", "geneve", "mpls_router", "mpls_iptunnel",
           "pppoe")
CLI_MAC = "02:00:00:00:00:01"
ip, nsx, addr = tu.ip, tu.nsx, tu.addr


class Kind:
    """One tunnel topology: how the devices are made, what tcpdump selects, what tshark must show
    (protocol names in order, from the outer IP header or ethertype on), the alert's tunnel object."""

    def __init__(self, name, l2, v6_under, inner, filt, stack, tunnel, make=None, fields=None):
        self.name, self.l2, self.v6_under, self.inner = name, l2, v6_under, inner
        self.filt, self.stack, self.tunnel, self.make = filt, stack, tunnel, make
        self.fields = fields or {}


def T(type_, v6, **ids):
    t = {"type": type_}
    if v6 is not None:
        t["src_ip"], t["dest_ip"] = U6 if v6 else U4
    t.update(ids)
    t["layers"] = [type_]
    return t


def link_cmd(kind, local, remote):
    """`ip link add tun0 ...` arguments for one end."""
    return {
        "gretap": ["type", "gretap", "local", local, "remote", remote, "key", str(GRE_KEY), "csum", "seq"],
        "gre": ["type", "gre", "local", local, "remote", remote],
        "ip6gre": ["type", "ip6gre", "local", local, "remote", remote, "key", str(GRE_KEY)],
        # the session id is the key; an erspan device sends no GRE key field
        "erspan2": ["type", "erspan", "local", local, "remote", remote, "seq", "key", str(ERSPAN_ID),
                    "erspan_ver", "1", "erspan", "5"],
        "erspan3": ["type", "erspan", "local", local, "remote", remote, "seq", "key", str(ERSPAN_ID),
                    "erspan_ver", "2", "erspan_dir", "ingress", "erspan_hwid", "7"],
        "ipip": ["type", "ipip", "local", local, "remote", remote],
        "6in4": ["type", "sit", "local", local, "remote", remote],
        "4in6": ["type", "ip6tnl", "mode", "ipip6", "local", local, "remote", remote],
        "6in6": ["type", "ip6tnl", "mode", "ip6ip6", "local", local, "remote", remote],
        "geneve": ["type", "geneve", "id", str(VNI), "remote", remote],
    }[kind]


KINDS = {k.name: k for k in (
    Kind("gretap", True, False, 4, "ip proto 47", ["ip", "gre", "eth", "ip", "tcp"], T("gre", False, gre_key=GRE_KEY),
         fields={"gre.key": str(GRE_KEY)}),
    Kind("gre", False, False, 4, "ip proto 47", ["ip", "gre", "ip", "tcp"], T("gre", False)),
    Kind("ip6gre", False, True, 6, "ip6", ["ipv6", "gre", "ipv6", "tcp"], T("gre", True, gre_key=GRE_KEY),
         fields={"gre.key": str(GRE_KEY)}),
    Kind("erspan2", True, False, 4, "ip proto 47", ["ip", "gre", "erspan", "eth", "ip", "tcp"],
         T("erspan2", False, erspan_id=ERSPAN_ID), fields={"erspan.spanid": str(ERSPAN_ID), "erspan.version": "1"}),
    Kind("erspan3", True, False, 4, "ip proto 47", ["ip", "gre", "erspan", "eth", "ip", "tcp"],
         T("erspan3", False, erspan_id=ERSPAN_ID), fields={"erspan.spanid": str(ERSPAN_ID), "erspan.version": "2"}),
    Kind("ipip", False, False, 4, "ip proto 4", ["ip", "ip", "tcp"], T("ipip", False)),
    Kind("6in4", False, False, 6, "ip proto 41", ["ip", "ipv6", "tcp"], T("6in4", False)),
    Kind("4in6", False, True, 4, "ip6", ["ipv6", "ip", "tcp"], T("4in6", True)),
    Kind("6in6", False, True, 6, "ip6", ["ipv6", "ipv6", "tcp"], T("6in6", True)),
    Kind("geneve", True, False, 4, "udp port 6081", ["ip", "udp", "geneve", "eth", "ip", "tcp"],
         T("geneve", False, vni=VNI), fields={"geneve.vni": str(VNI)}),
    Kind("mpls", False, False, 4, "mpls", ["mpls", "ip", "tcp"], T("mpls", None, mpls_labels=list(LABELS)),
         fields={"mpls.label": ",".join(map(str, LABELS))}),
    Kind("pppoe", False, False, 4, "pppoes", ["pppoes", "ppp", "ip", "tcp"], None),
)}


class Topology:
    def __init__(self, kind, env):
        self.k = KINDS[kind]
        self.work, self.ns_s, self.ns_c, self.if_s, self.out = env
        self.moved = False
        self.procs = []      # (name, Popen) started here, stopped by PID
        self.pppoe_session = None

    # -------------------------------------------------------------- building
    def up(self):
        k = self.k
        for ns in tu.EXTRA_NS:
            ip("netns", "del", ns, check=False)
        tu.new_ns(NS_TC)
        tu.new_ns(NS_VS)
        ip("-n", self.ns_c, "link", "set", "psrf-c", "netns", NS_VS)
        self.moved = True
        tu.offloads_off(NS_VS, "psrf-c")
        if k.l2:   # bridged: psrf-c must not carry the client's MAC (that is tun0's in ps-rf-tc)
            ip("-n", NS_VS, "link", "set", "psrf-c", "address", "02:00:00:00:00:24")
        ip("-n", NS_VS, "link", "set", "psrf-c", "up")
        tu.veth(NS_TC, "psrf-u1", "02:00:00:00:00:21", NS_VS, "psrf-u2", "02:00:00:00:00:22")
        for ns, i, a4, a6 in ((NS_TC, "psrf-u1", U4[0], U6[0]), (NS_VS, "psrf-u2", U4[1], U6[1])):
            if k.name != "pppoe":
                addr(ns, i, a4 + "/24")
                addr(ns, i, a6 + "/64")
        for ns, i, a4, a6, mac in ((NS_TC, "psrf-u1", U4[1], U6[1], "02:00:00:00:00:22"),
                                   (NS_VS, "psrf-u2", U4[0], U6[0], "02:00:00:00:00:21")):
            nsx(ns, "ip", "neigh", "replace", a4, "lladdr", mac, "dev", i, "nud", "permanent")
            nsx(ns, "ip", "-6", "neigh", "replace", a6, "lladdr", mac, "dev", i, "nud", "permanent")
        if k.name == "mpls":
            self.up_mpls()
        elif k.name == "pppoe":
            self.up_pppoe()
        else:
            self.up_tunnel()
        self.capture = (NS_VS, "psrf-u2", k.filt)

    def up_tunnel(self):
        k = self.k
        ul = U6 if k.v6_under else U4
        for ns, local, remote in ((NS_TC, ul[0], ul[1]), (NS_VS, ul[1], ul[0])):
            ip("-n", ns, "link", "add", "tun0", *link_cmd(k.name, local, remote))
            if k.l2:
                tu.offloads_off(ns, "tun0")
        if k.l2:
            ip("-n", NS_TC, "link", "set", "tun0", "address", CLI_MAC)
            ip("-n", NS_VS, "link", "add", "br0", "type", "bridge")
            for i in ("tun0", "psrf-c"):
                ip("-n", NS_VS, "link", "set", i, "master", "br0")
            for i in ("tun0", "br0"):
                nsx(NS_VS, "sysctl", "-qw", f"net.ipv6.conf.{i}.disable_ipv6=1", check=False)
                ip("-n", NS_VS, "link", "set", i, "up")
            if k.inner == 4:
                nsx(NS_TC, "sysctl", "-qw", "net.ipv6.conf.tun0.disable_ipv6=1", check=False)
            addr(NS_TC, "tun0", sc.CLI + "/24")
            if k.inner == 6:
                addr(NS_TC, "tun0", sc.CLI6 + "/64")
            ip("-n", NS_TC, "link", "set", "tun0", "up")
            return
        # routed: the client's address on tun0, ps-rf-vs forwards to the server and answers for it
        ip("-n", NS_TC, "link", "set", "tun0", "up")
        ip("-n", NS_VS, "link", "set", "tun0", "up")
        if k.inner == 4:
            for ns in (NS_TC, NS_VS):
                nsx(ns, "sysctl", "-qw", "net.ipv6.conf.tun0.disable_ipv6=1", check=False)
            addr(NS_TC, "tun0", sc.CLI + "/32")
            ip("-n", NS_TC, "route", "add", "192.0.2.0/24", "dev", "tun0")
        else:
            addr(NS_TC, "tun0", sc.CLI6 + "/128")
            ip("-n", NS_TC, "-6", "route", "add", "2001:db8::/64", "dev", "tun0")
        self.route_to_client(NS_VS, ["dev", "tun0"])

    def route_to_client(self, ns, via, inner=None):
        """ps-rf-vs: forward between the tunnel and psrf-c, answer ARP/ND for the client there."""
        inner = inner or self.k.inner
        if inner == 4:
            nsx(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.psrf-c.proxy_arp=1")
            addr(ns, "psrf-c", "192.0.2.254/24")
            ip("-n", ns, "route", "add", sc.CLI + "/32", *via)
        else:
            nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.psrf-c.proxy_ndp=1")
            addr(ns, "psrf-c", "2001:db8::fe/64")
            ip("-n", ns, "-6", "route", "add", sc.CLI6 + "/128", *via)
            ip("-n", ns, "-6", "neigh", "add", "proxy", sc.CLI6, "dev", "psrf-c")

    def up_mpls(self):
        # Each end pushes 1001/1002 towards the other; the receiver pops 1001 to lo (MPLS again), then
        # pops 1002 (bottom of stack) to the IP layer: delivered locally on the client, forwarded to
        # the server on ps-rf-vs.
        labels = "/".join(map(str, LABELS))
        for ns in (NS_TC, NS_VS):
            nsx(ns, "sysctl", "-qw", "net.mpls.platform_labels=2000", "net.mpls.conf.lo.input=1",
                "net.mpls.conf.psrf-u1.input=1" if ns == NS_TC else "net.mpls.conf.psrf-u2.input=1")
        addr(NS_TC, "lo", sc.CLI + "/32")
        ip("-n", NS_TC, "route", "add", "192.0.2.0/24", "encap", "mpls", labels, "via", "inet", U4[1],
           "dev", "psrf-u1", "src", sc.CLI)
        ip("-n", NS_TC, "-f", "mpls", "route", "add", str(LABELS[0]), "dev", "lo")
        ip("-n", NS_TC, "-f", "mpls", "route", "add", str(LABELS[1]), "dev", "lo")
        self.route_to_client(NS_VS, ["encap", "mpls", labels, "via", "inet", U4[0], "dev", "psrf-u2"])
        ip("-n", NS_VS, "-f", "mpls", "route", "add", str(LABELS[0]), "dev", "lo")
        ip("-n", NS_VS, "-f", "mpls", "route", "add", str(LABELS[1]), "via", "inet", sc.SRV, "dev", "psrf-c")

    def up_pppoe(self):
        opts = os.path.join(self.work, "pppoe-server-options")
        with open(opts, "w") as f:
            # no compression of any kind: the capture must hold plain IPv4 in PPP
            f.write("noauth\nnovj\nnovjccomp\nnoccp\nnobsdcomp\nnodeflate\nnopcomp\nnoaccomp\n"
                    "lcp-echo-interval 0\nnodefaultroute\nnoipv6\n")
        srv = subprocess.Popen(["ip", "netns", "exec", NS_VS, "pppoe-server", "-F", "-k", "-I", "psrf-u2",
                                "-L", "192.0.2.254", "-R", sc.CLI, "-N", "1", "-O", opts],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.procs.append(("pppoe-server", srv))
        time.sleep(1)
        cli = subprocess.Popen(["ip", "netns", "exec", NS_TC, "pppd", "plugin", "rp-pppoe.so", "nic-psrf-u1",
                                "noauth", "nodetach", "noipdefault", "nodefaultroute", "novj", "novjccomp", "noccp",
                                "nobsdcomp", "nodeflate", "nopcomp", "noaccomp", "lcp-echo-interval", "0",
                                "noipv6", "user", "client", "linkname", "psrf", "maxfail", "1"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.procs.insert(0, ("pppd", cli))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sc.CLI in nsx(NS_TC, "ip", "-4", "addr", "show", check=False) and \
                    sc.CLI in nsx(NS_VS, "ip", "-4", "route", "show", check=False):
                break
            if cli.poll() is not None:
                raise sc.Failure(f"pppd exited {cli.returncode}: {cli.stdout.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.5)
        else:
            raise sc.Failure("PPPoE session did not come up in 30 s")
        dev = nsx(NS_TC, "sh", "-c", "ls /sys/class/net | grep ^ppp").split()
        if not dev:
            raise sc.Failure("no ppp device in the client namespace")
        ip("-n", NS_TC, "route", "add", "192.0.2.0/24", "dev", dev[0])
        nsx(NS_VS, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.psrf-c.proxy_arp=1")
        addr(NS_VS, "psrf-c", "192.0.2.254/24")

    # -------------------------------------------------------------- taking down
    def down(self):
        for name, p in self.procs:   # pppd first (it ends the session), then the server
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        if self.moved:
            for a in ("192.0.2.254/24", "2001:db8::fe/64"):
                ip("-n", NS_VS, "addr", "del", a, "dev", "psrf-c", check=False)
            ip("-n", NS_VS, "link", "set", "psrf-c", "nomaster", check=False)
            ip("-n", NS_VS, "link", "set", "psrf-c", "address", CLI_MAC, check=False)
            ip("-n", NS_VS, "link", "set", "psrf-c", "netns", self.ns_c, check=False)
            self.moved = False
        for ns in tu.EXTRA_NS:
            ip("netns", "del", ns, check=False)
        # the server's neighbour entries for the client point at whatever answered last
        ip("-n", self.ns_s, "neigh", "flush", "dev", self.if_s, check=False)


# ---------------------------------------------------------------- scenarios
class KScenario:
    def __init__(self, name, kind, description, scenario):
        self.name, self.kind, self.description, self.sc = name, kind, description, scenario


def table(versions):
    V = versions
    SRV, SRV6, A = sc.SRV, sc.SRV6, sc.alert
    out = []

    def imap(kind, name, u, pw, what, v6=False):
        host = SRV6 if v6 else SRV
        out.append(KScenario(name, kind, f"KERNEL {what}: IMAP LOGIN{' over inner IPv6' if v6 else ''}, success",
                             sc.Scenario(name, what, f"Python {V['python']} imaplib login()", [sc.Conn(
                                 sc.py("imap_login", host=host, port=143, user=u, password=pw, mode="quoted"),
                                 (host, 143), [sc.IMAP_GREET_STARTTLS, (sc.C, rf'^\S+ LOGIN {u} "{sc.rx(pw)}"\r\n'),
                                               sc.IMAP_OK_LOGIN],
                                 A("imap", "LOGIN", u, "success", "offered"), pw, wire="quoted")], {u: pw}, [pw])))

    def pop3(kind, name, u, pw, what):
        out.append(KScenario(name, kind, f"KERNEL {what}: POP3 CAPA then USER/PASS, success",
                             sc.Scenario(name, what, f"Python {V['python']} poplib", [sc.Conn(
                                 sc.py("pop3_user", host=SRV, port=110, user=u, password=pw, capa=True),
                                 (SRV, 110), [sc.POP_CAPA_STLS, (sc.C, rf"^CAPA\r\nUSER {u}\r\nPASS {sc.rx(pw)}\r\n"),
                                              sc.POP_OK_LOGIN],
                                 A("pop3", "USER", u, "success", "offered"), pw)], {u: pw}, [pw])))

    def smtp_plain(kind, name, u, pw, what):
        out.append(KScenario(name, kind, f"KERNEL {what}: SMTP port 25 AUTH PLAIN, success",
                             sc.Scenario(name, what, f"swaks {V['swaks']} -a PLAIN", [sc.Conn(
                                 sc.swaks(SRV, 25, u, pw, "-a", "PLAIN"),
                                 (SRV, 25), [sc.SMTP_EHLO_STARTTLS, (sc.C, rf"^AUTH PLAIN {sc.rx(sc.plain(u, pw))}\r\n"),
                                             sc.SMTP_235],
                                 A("smtp", "AUTH PLAIN", u, "success", "offered"), pw)], {u: pw}, [pw])))

    def smtp_login6(kind, name, u, pw, what):
        out.append(KScenario(name, kind, f"KERNEL {what}: SMTP port 25 AUTH LOGIN over inner IPv6, success",
                             sc.Scenario(name, what, f"swaks {V['swaks']} -6 -a LOGIN", [sc.Conn(
                                 sc.swaks(SRV6, 25, u, pw, "-6", "-a", "LOGIN"),
                                 (SRV6, 25), [sc.SMTP_EHLO_STARTTLS,
                                              (sc.C, rf"^AUTH LOGIN\r\n{sc.rx(sc.b64(u))}\r\n{sc.rx(sc.b64(pw))}\r\n"),
                                              sc.SMTP_235],
                                 A("smtp", "AUTH LOGIN", u, "success", "offered"), pw)], {u: pw}, [pw])))

    u4 = "IPv4 underlay 203.0.113.1 -> .2"
    u6 = "IPv6 underlay 2001:db8:ffff::1 -> ::2"
    smtp_plain("gretap", "kgretap-smtp-auth-plain", "alice", "Fx-kgretap-S3cret",
               f"gretap (GRE carrying Ethernet 0x6558, `key 77 csum seq`: checksum, key and sequence fields), {u4}")
    imap("gre", "kgre-imap-login", "bob", "Fx-kgre-S3cret", f"gre (GRE carrying IPv4, no optional field), {u4}")
    imap("ip6gre", "kip6gre-imap-login-ipv6", "dave", "Fx-kip6gre-S3cret",
         f"ip6gre (GRE with key 77 carrying IPv6), {u6}", v6=True)
    pop3("erspan2", "kerspan2-pop3-user-pass", "alice", "Fx-kerspan2-S3cret",
         f"erspan `erspan_ver 1` (ERSPAN type II: GRE with sequence, protocol 0x88BE, session 300, index 5), {u4}")
    smtp_plain("erspan3", "kerspan3-smtp-auth-plain", "carol", "Fx-kerspan3-S3cret",
               f"erspan `erspan_ver 2` (ERSPAN type III: GRE protocol 0x22EB, session 300, direction ingress, "
               f"hardware id 7, no platform sub-header), {u4}")
    pop3("ipip", "kipip-pop3-user-pass", "bob", "Fx-kipip-S3cret", f"ipip (IPv4 in IPv4), {u4}")
    imap("6in4", "k6in4-imap-login-ipv6", "dave", "Fx-k6in4-S3cret", f"sit (6in4: IPv6 in IPv4), {u4}", v6=True)
    smtp_plain("4in6", "k4in6-smtp-auth-plain", "erin", "Fx-k4in6-S3cret",
               f"ip6tnl `mode ipip6` (4in6: IPv4 in IPv6), {u6}")
    smtp_login6("6in6", "k6in6-smtp-auth-login-ipv6", "erin", "Fx-k6in6-S3cret",
                f"ip6tnl `mode ip6ip6` (6in6: IPv6 in IPv6), {u6}")
    imap("geneve", "kgeneve-imap-login", "carol", "Fx-kgeneve-S3cret",
         f"geneve (VNI 4242, UDP 6081, carrying Ethernet, no options), {u4}")
    imap("mpls", "kmpls-imap-login", "bob", "Fx-kmpls-S3cret",
         "MPLS (`ip route ... encap mpls 1001/1002`, mpls_router + mpls_iptunnel) on Ethernet: labels 1001, 1002 "
         "(bottom of stack), then IPv4, both directions")
    smtp_plain("pppoe", "kpppoe-smtp-auth-plain", "alice", "Fx-kpppoe-S3cret",
               "PPPoE session (pppoe-server -k and pppd with the rp-pppoe.so plugin, no compression), PPP IPv4")
    return out


# ---------------------------------------------------------------- checking
def find_inner(frame, v6):
    """Offset of the inner IP packet carrying the lab's TCP (the outer headers use other addresses)."""
    if v6:
        want = {tw.ip_bytes(sc.CLI6), tw.ip_bytes(sc.SRV6)}
        for off in range(14, len(frame) - 40):
            if frame[off] >> 4 == 6 and frame[off + 6] == 6 and frame[off + 8:off + 24] in want \
                    and frame[off + 24:off + 40] in want:
                return off, 40 + struct.unpack("!H", frame[off + 4:off + 6])[0]
        return None
    want = {tw.ip_bytes(sc.CLI), tw.ip_bytes(sc.SRV)}
    for off in range(14, len(frame) - 20):
        if frame[off] == 0x45 and frame[off + 9] == 6 and frame[off + 12:off + 16] in want \
                and frame[off + 16:off + 20] in want and tw.inet_csum(frame[off:off + 20]) == 0:
            return off, struct.unpack("!H", frame[off + 2:off + 4])[0]
    return None


TSHARK_FIELDS = ["frame.protocols", "gre.key", "erspan.spanid", "erspan.version", "geneve.vni", "mpls.label",
                 "pppoe.session_id", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst"]


def tshark(path):
    r = subprocess.run(["tshark", "-r", path, "-n", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
                        "-E", "aggregator=,", *sum((["-e", f] for f in TSHARK_FIELDS), [])],
                       capture_output=True, text=True, timeout=900)   # minutes under emulation (TCG)
    if r.returncode:
        raise sc.Failure(f"tshark: {r.stderr.strip()}")
    return [dict(zip(TSHARK_FIELDS, line.split("\t"))) for line in r.stdout.splitlines()]


def subsequence(want, have):
    it = iter(have)
    return all(any(w == h for h in it) for w in want)


def check_and_expect(t, env, path, captured, dropped):
    k = KINDS[t.kind]
    linktype, recs = tw.read_pcap(path)
    if linktype != 1:
        raise sc.Failure(f"{t.name}: link type {linktype}")
    dissected = tshark(path)
    if len(dissected) != len(recs):
        raise sc.Failure(f"{t.name}: tshark read {len(dissected)} frames of {len(recs)}")
    inner, sessions = [], set()
    for (ts, frame), d in zip(recs, dissected):
        found = find_inner(frame, ":" in t.sc.conns[0].server[0])
        if found is None:
            continue
        off, length = found
        protos = d["frame.protocols"].split(":")
        outer = ["eth", "ethertype"] + k.stack
        if not subsequence(outer, protos) or protos.count("tcp") != 1:
            raise sc.Failure(f"{t.name}: tshark's protocols {d['frame.protocols']} lack {':'.join(k.stack)}")
        for f, v in k.fields.items():
            # tshark prints some as hex (gre.key 0x0000004d); compare the numbers, outermost first
            got = [int(x, 0) for x in d.get(f, "").split(",") if x]
            if got[:len(v.split(","))] != [int(x) for x in v.split(",")]:
                raise sc.Failure(f"{t.name}: tshark {f} = {d.get(f)!r}, expected {v}")
        if k.tunnel and "src_ip" in k.tunnel:
            fam = "ipv6" if k.v6_under else "ip"
            ends = {d[fam + ".src"].split(",")[0], d[fam + ".dst"].split(",")[0]}
            if ends != set(U6 if k.v6_under else U4):
                raise sc.Failure(f"{t.name}: outer endpoints {ends}")
        if "gre" in k.stack and k.name in ("gre", "erspan2", "erspan3") and d.get("gre.key"):
            raise sc.Failure(f"{t.name}: a GRE key field ({d['gre.key']})")
        if k.name == "pppoe":
            sessions.add(d["pppoe.session_id"])
        pkt = frame[off:off + length]
        inner.append((ts, tw.eth("02:00:00:00:00:10", CLI_MAC, 0x86DD if pkt[0] >> 4 == 6 else 0x0800, pkt)))
    if not inner:
        raise sc.Failure(f"{t.name}: no inner TCP packet found")
    tmp = os.path.join(env[0], "cap", t.name + ".inner.pcap")
    tw.write_pcap(tmp, 1, inner)
    _, expected = sc.verify(t.sc, tmp, len(inner), dropped)
    tun = k.tunnel
    if k.name == "pppoe":
        if len(sessions) != 1:
            raise sc.Failure(f"{t.name}: PPPoE sessions {sessions}")
        tun = T("pppoe", None, pppoe_session=int(sessions.pop(), 0))
    for e in expected:
        e["tunnel"] = json.loads(json.dumps(tun))
    return len(recs), expected


def record(t, idx, env, topo, logf):
    work, _, _, _, out = env
    sc.write_creds(work, t.sc.users, 1_850_000_000 + idx * 10)
    wait = int(sc._last_activity[0]) + 1.05 - time.time()
    if wait > 0:
        time.sleep(wait)
    ns, ifname, filt = topo.capture
    tmp = os.path.join(work, "cap", t.name + ".pcap")
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    if os.path.exists(tmp):
        os.unlink(tmp)
    td = tu.start_capture(ns, ifname, tmp, filt)
    try:
        for spec in t.sc.conns:
            logf.write(f"\n##### {t.name}: {' '.join(spec.run)}\n")
            logf.flush()
            try:
                r = subprocess.run(["ip", "netns", "exec", NS_TC, "unshare", "--uts", "sh", "-c",
                                    'hostname client.example.org && exec "$0" "$@"', *spec.run],
                                   stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, timeout=120)
            except subprocess.TimeoutExpired:
                raise sc.Failure(f"{t.name}: client timed out: {spec.run[0]}")
            if spec.rc is not None and r.returncode != spec.rc:
                raise sc.Failure(f"{t.name}: client {spec.run[0]} exited {r.returncode} (see log)")
            time.sleep(0.5)
        time.sleep(0.5)
    finally:
        captured, dropped = sc.stop_tcpdump(td)
        sc._last_activity[0] = time.time()
    if len(tw.read_pcap(tmp)[1]) != captured:
        raise sc.Failure(f"{t.name}: the file's packet count differs from tcpdump's {captured}")
    if dropped:
        raise sc.Failure(f"{t.name}: tcpdump dropped {dropped}")
    npk, expected = check_and_expect(t, env, tmp, captured, dropped)
    dest = os.path.join(out, t.name + ".pcap")
    shutil.copyfile(tmp, dest + ".new")
    os.chmod(dest + ".new", 0o644)
    os.replace(dest + ".new", dest)
    return npk, os.path.getsize(dest), expected


def main(argv):
    versions = sc.tool_versions()
    tab = table(versions)
    names = [t.name for t in tab]
    if argv[:1] == ["--list"]:
        for t in tab:
            print(f"{t.name:32} {t.kind}")
        return 0
    want = [a for a in argv if a in names] or names
    for m in MODULES:
        r = subprocess.run(["modprobe", m], capture_output=True, text=True)
        if r.returncode:
            sc.log(f"FAILED: modprobe {m}: {r.stderr.strip()} (this kernel lacks the tunnel modules: "
                   "use scripts/record-kernel-tunnels, which boots one that has them)")
            return 1
    env = tuple(os.environ[k] for k in ("RF_WORK", "RF_NS_S", "RF_NS_C", "RF_IF_S", "RF_OUT"))
    entries = {}
    failed = []
    with open(os.path.join(env[0], "clients-kernel-tunnels.log"), "w") as logf:
        for t in tab:
            if t.name not in want:
                continue
            t0 = time.monotonic()
            topo = Topology(t.kind, env)
            try:
                topo.up()
                npk, size, expected = record(t, names.index(t.name), env, topo, logf)
            except (sc.Failure, subprocess.TimeoutExpired, OSError) as e:
                logf.flush()
                sc.log(f"FAILED: {t.name}: {e}")
                failed.append(t.name)
                continue
            finally:
                topo.down()
            entries[t.name] = {"pcap": t.name + ".pcap", "args": [], "client": t.sc.client,
                               "description": t.description, "secrets": t.sc.secrets, "expected": expected}
            sc.log(f"{t.name:30} {len(expected)} alert(s) {npk:4} packets {size:6} bytes "
                   f"{time.monotonic() - t0:5.1f} s")
    # the manifest keeps the earlier recording of any capture not (successfully) recorded now
    _, _, m = manifestmerge.derive.load_manifest()
    for e in m["fixtures"]:
        if e["pcap"][:-5] in names and e["pcap"][:-5] not in entries:
            entries[e["pcap"][:-5]] = e
    ordered = [entries[n] for n in names if n in entries]
    manifestmerge.merge(TOOL, ordered, keep=[n + ".pcap" for n in names])
    manifestmerge.replace_section("Mirror feeds recorded from a Debian kernel in a QEMU guest (GRE, ERSPAN, "
                                  "Geneve, MPLS, PPPoE, IP-in-IP)",
                                  README_TEXT + f"\nRecorded in a QEMU guest running Debian's kernel "
                                  f"{versions['kernel']} ({kernel_package()}) on this machine's root file system, "
                                  f"with dovecot {versions['dovecot']}, exim {versions['exim']}, swaks "
                                  f"{versions['swaks']}, Python {versions['python']}, tcpdump {versions['tcpdump']}, "
                                  f"iproute2 {sc.cmd_output(['dpkg-query', '-W', '-f=${Version}', 'iproute2']).strip()}, "
                                  f"ppp {sc.cmd_output(['dpkg-query', '-W', '-f=${Version}', 'ppp']).strip()}, "
                                  f"pppoe {sc.cmd_output(['dpkg-query', '-W', '-f=${Version}', 'pppoe']).strip()}.\n\n"
                                  + manifestmerge.readme_rows(ordered, "client"))
    if failed:
        sc.log(f"FAILED: {' '.join(failed)}")
        return 1
    return 0


def kernel_package():
    v = open("/proc/version").read().split()
    # "Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) (...) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (...)"
    return "Debian " + v[v.index("Debian") + 1] if "Debian" in v else os.uname().version


README_TEXT = """\
Written by `scripts/record-fixtures.d/kernel_tunnels.py` from the same servers and clients, with
the kernel's own tunnel devices. This machine's kernel has only the `vxlan` and `veth` tunnel-capable
link types, so `sudo scripts/record-kernel-tunnels [NAME...]` boots Debian's stock kernel (the one
`linux-image-amd64` depends on) in a QEMU guest (`scripts/record-fixtures.d/kvm-guest.sh`: the
host's root read-only over 9p with a tmpfs overlay, the kernel package's modules bound in, the
worktree writable over 9p; KVM where /dev/kvm can run a stock kernel, TCG emulation otherwise) and
runs `scripts/record-fixtures --kernel-tunnels` inside it. A recording tool: CI never runs it.
This machine's /dev/kvm is PVM (module `kvm_pvm`: it runs only guest kernels built for PVM, a stock
one hangs before its first message), so the guest ran under TCG emulation: about 90 s per capture
and 5 minutes to boot and start the servers. Then `scripts/update-expected` on the host writes the
goldens.

Topology: client namespace `ps-rf-tc` == underlay veth `psrf-u1`/`psrf-u2` == tunnel end `ps-rf-vs`
-- the lab's veth -- server namespace. The client's addresses sit on the tunnel device in `ps-rf-tc`
(on `lo` for MPLS, on the ppp device for PPPoE). Ethernet tunnels (gretap, erspan, geneve) are
bridged with the lab's veth in `ps-rf-vs`; IP tunnels (gre, ip6gre, ipip, sit, ip6tnl, MPLS, PPPoE)
are routed to it, `ps-rf-vs` answering ARP/ND for the client (proxy ARP/NDP). tcpdump runs on
`psrf-u2` with a filter selecting the encapsulation (`ip proto 47`, `udp port 6081`, `mpls`,
`pppoes`, `ip6`, ...). ip6gre and ip6tnl keep the kernel's default `encaplimit 4`: a Destination
Options header (Tunnel Encapsulation Limit, RFC 2473) sits between the outer IPv6 header and GRE or
the inner IP header. ERSPAN: Linux puts the device's `key` in the ERSPAN session id and sends no GRE key;
a kernel sends ERSPAN III without the platform sub-header (the generated
`erspan3-platform-imap-login.pcap` covers it). MPLS: each end pushes 1001/1002 (`ip route ... encap
mpls 1001/1002`); the receiver pops 1001 to `lo` and 1002 to IP. PPPoE: `pppoe-server -k` (kernel
mode) and `pppd plugin rp-pppoe.so` with every compression off; the session id is the one the
server handed out, read from the capture.

Checks before the manifest is written: each frame holding an inner TCP packet of the lab is
dissected by tshark, whose protocol stack must show the encapsulation (with the GRE key, ERSPAN
session and version, VNI, MPLS labels configured); the inner packets then go through the
recorder's own checks (complete connections, valid checksums, the intended exchange, the password
where it must be).
"""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
