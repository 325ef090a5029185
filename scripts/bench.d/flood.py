#!/usr/bin/env python3
"""Generates the flood captures of `scripts/bench flood` (issue 5): hostile traffic aimed at
plainsight's caps, with POP3 USER/PASS logins planted evenly through it. Deterministic: the same
arguments give a byte-identical file. Documentation addresses and fake credentials only.

usage: flood.py SCENARIO OUT.pcap [--scale F] [--logins N]
scenarios: half-open, holes, overlap, no-newline, pipelined, parser-state
Prints the number of planted logins on stdout."""
import struct
import sys

SCENARIOS = ("half-open", "holes", "overlap", "no-newline", "pipelined", "parser-state")


class Writer:
    def __init__(self, path):
        self.f = open(path, "wb", buffering=1 << 22)
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        self.t = 1_767_520_800 * 1_000_000  # microseconds
        self.packets = 0

    def frame(self, src, dst, sport, dport, seq, ack, flags, payload=b""):
        self.t += 10
        ip_len = 40 + len(payload)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0x4000, 64, 6, 0, src, dst)
        tcp = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0)
        data = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp + payload
        self.f.write(struct.pack("<IIII", self.t // 1_000_000, self.t % 1_000_000, len(data), len(data)) + data)
        self.packets += 1

    def close(self):
        self.f.close()


SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def addr(a, b, c, d):
    return bytes((a, b, c, d))


SERVER = addr(192, 0, 2, 10)


class Conn:
    """One TCP connection with a handshake, sending in order unless told otherwise."""

    def __init__(self, w, client, cport, sport, server=SERVER):
        self.w, self.c, self.s, self.cp, self.sp = w, client, server, cport, sport
        self.cseq, self.sseq = 1000, 5000

    def handshake(self):
        self.w.frame(self.c, self.s, self.cp, self.sp, self.cseq, 0, SYN)
        self.w.frame(self.s, self.c, self.sp, self.cp, self.sseq, self.cseq + 1, SYN | ACK)
        self.cseq += 1
        self.sseq += 1
        self.w.frame(self.c, self.s, self.cp, self.sp, self.cseq, self.sseq, ACK)

    def client(self, data):
        self.w.frame(self.c, self.s, self.cp, self.sp, self.cseq, self.sseq, ACK | PSH, data)
        self.cseq += len(data)

    def server(self, data):
        self.w.frame(self.s, self.c, self.sp, self.cp, self.sseq, self.cseq, ACK | PSH, data)
        self.sseq += len(data)

    def close(self):
        self.w.frame(self.c, self.s, self.cp, self.sp, self.cseq, self.sseq, FIN | ACK)
        self.w.frame(self.s, self.c, self.sp, self.cp, self.sseq, self.cseq + 1, FIN | ACK)
        self.w.frame(self.c, self.s, self.cp, self.sp, self.cseq + 1, self.sseq + 1, ACK)


class Planter:
    """POP3 USER/PASS logins (user plantN) from 198.51.100.x, spread through the flood."""

    def __init__(self, w, total_steps, logins):
        self.w, self.every, self.planted = w, max(1, total_steps // max(1, logins)), 0
        self.logins = logins

    def step(self, i):
        if self.planted < self.logins and i % self.every == self.every // 2:
            n = self.planted
            c = Conn(self.w, addr(198, 51, 100, 1 + n % 250), 20000 + n % 40000, 110)
            c.handshake()
            c.server(b"+OK POP3 ready\r\n")
            c.client(b"USER plant%d\r\n" % n)
            c.server(b"+OK\r\n")
            c.client(b"PASS fake-%d-pw\r\n" % n)
            c.server(b"+OK logged in\r\n")
            c.close()
            self.planted += 1

    def finish(self):
        while self.planted < self.logins:
            self.step(self.every // 2 + self.every * self.planted)


def client_addr(i):
    # 10.x.y.z: 16 M distinct clients
    return addr(10, (i >> 16) & 255, (i >> 8) & 255, i & 255)


def half_open(w, scale, p):
    # 2 million SYNs to the IMAP port that are never answered: the flow table fills, and new flows
    # must evict; a login among them must still be seen whole.
    n = int(2_000_000 * scale)
    for i in range(n):
        w.frame(client_addr(i), SERVER, 1024 + i % 60000, 143, i * 7919, 0, SYN)
        p.step(i)


def holes(w, scale, p):
    # 100,000 flows, each with 17 segments of 100 bytes sent with a hole before each one (the odd
    # segments never come), 10,000 flows at a time, interleaved: every flow reaches the hole cap
    # and together they press on the global memory budget.
    n = int(100_000 * scale)
    batch = 10_000
    step = 0
    for b in range(0, n, batch):
        conns = [Conn(w, client_addr(b + k), 1024 + (b + k) % 60000, 143) for k in range(min(batch, n - b))]
        for c in conns:
            c.handshake()
        for seg in range(17):
            for c in conns:
                w.frame(c.c, c.s, c.cp, c.sp, c.cseq + (2 * seg + 1) * 100, c.sseq, ACK | PSH, b"x" * 99 + b"\n")
                p.step(step)
                step += 1


def overlap(w, scale, p):
    # 50,000 flows that send each out-of-order segment twice with different bytes (and an in-order
    # segment that overlaps buffered data differently): conflicting overlaps everywhere.
    n = int(50_000 * scale)
    for i in range(n):
        c = Conn(w, client_addr(i), 1024 + i % 60000, 143)
        c.handshake()
        c.server(b"* OK IMAP ready\r\n")
        for k in range(4):
            w.frame(c.c, c.s, c.cp, c.sp, c.cseq + 200 + 100 * k, c.sseq, ACK | PSH, b"a" * 99 + b"\n")
            w.frame(c.c, c.s, c.cp, c.sp, c.cseq + 200 + 100 * k, c.sseq, ACK | PSH, b"b" * 99 + b"\n")
        w.frame(c.c, c.s, c.cp, c.sp, c.cseq, c.sseq, ACK | PSH, b"c" * 250 + b"\n")
        c.cseq += 600
        c.close()
        p.step(i)


def no_newline(w, scale, p):
    # One IMAP client stream of 1 GiB without a single LF: the line framer must discard, not grow.
    total = int((1 << 30) * scale)
    c = Conn(w, addr(203, 0, 113, 5), 40000, 143)
    c.handshake()
    c.server(b"* OK IMAP ready\r\n")
    seg = b"A" * 1448
    for i in range(total // 1448):
        c.client(seg)
        if i % 64 == 0:
            w.frame(c.s, c.c, c.sp, c.cp, c.sseq, c.cseq, ACK)
        p.step(i)
    c.close()


def pipelined(w, scale, p):
    # One SMTP session with a million pipelined commands sent before any reply, then the replies,
    # then a login at the end of the same session: the pending queue must stay bounded and the
    # session must still be followed.
    n = int(1_000_000 * scale)
    c = Conn(w, addr(203, 0, 113, 6), 40001, 25)
    c.handshake()
    c.server(b"220 mail.example.test ESMTP\r\n")
    c.client(b"EHLO client.example.test\r\n")
    c.server(b"250-mail.example.test\r\n250 AUTH PLAIN LOGIN\r\n")
    per = 1440 // 6
    sent = 0
    i = 0
    while sent < n:
        k = min(per, n - sent)
        c.client(b"NOOP\r\n" * k)
        sent += k
        p.step(i)
        i += 1
    replies = 0
    while replies < n:
        k = min(1440 // 8, n - replies)
        c.server(b"250 OK\r\n" * k)
        replies += k
    c.client(b"AUTH PLAIN AHBpcGVsaW5lZABmYWtlLXBpcGUtcHc=\r\n")  # \0pipelined\0fake-pipe-pw
    c.server(b"235 2.7.0 Authentication successful\r\n")
    c.close()


def parser_state(w, scale, p):
    # 100,000 POP3 flows that never end and never get a reply: each pipelines 40 commands and then
    # 3,000 bytes of a line without its LF (in three segments); every fourth flow instead holds a
    # greeting cut before its line end. Each flow holds a little parser state, the flow table keeps
    # 65,536 of them: the parser memory budget must hold the total.
    n = int(100_000 * scale)
    for i in range(n):
        c = Conn(w, client_addr(i), 1024 + i % 60000, 110)
        c.handshake()
        if i % 4 == 3:
            c.server(b"+OK POP3 server ready, greeting cut before its end")
        else:
            c.server(b"+OK POP3 ready\r\n")
            c.client(b"NOOP\r\n" * 40)
            for k in range(3):
                c.client(b"RETR " + b"9" * 995)
        p.step(i)


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[0] not in SCENARIOS:
        sys.exit(__doc__)
    scenario, out = args[0], args[1]
    scale, logins = 1.0, 100
    rest = args[2:]
    while rest:
        if rest[0] == "--scale":
            scale = float(rest[1])
        elif rest[0] == "--logins":
            logins = int(rest[1])
        else:
            sys.exit(__doc__)
        rest = rest[2:]
    steps = {"half-open": int(2_000_000 * scale), "holes": int(100_000 * scale) * 17,
             "overlap": int(50_000 * scale), "no-newline": int((1 << 30) * scale) // 1448,
             "pipelined": int(1_000_000 * scale) // 240 + 1, "parser-state": int(100_000 * scale)}[scenario]
    w = Writer(out)
    p = Planter(w, steps, logins)
    globals()[scenario.replace("-", "_")](w, scale, p)
    p.finish()
    w.close()
    extra = 1 if scenario == "pipelined" else 0
    print(p.planted + extra)


if __name__ == "__main__":
    main()
