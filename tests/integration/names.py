"""Host names for integration tests, without touching the machine's DNS.

The daemon resolves names with evdns, which reads /etc/hosts and
/etc/resolv.conf. A test that needs its own names runs the daemon in a
private mount namespace (`unshare --mount`) where both files are bind-mounted
from the test's work directory, and resolv.conf points at `DnsStub`, a small
UDP server on loopback that answers from a table and says NXDOMAIN to every
other name. No query ever leaves loopback.
"""
import os
import socket
import struct
import sys
import threading

import harness as h

# Runs inside the new mount namespace: bind-mount the files, then exec.
_WRAP = r"""
import os, subprocess, sys
hosts, resolv = sys.argv[1], sys.argv[2]
for src, dst in ((hosts, "/etc/hosts"), (resolv, "/etc/resolv.conf")):
    subprocess.run(["mount", "--bind", src, dst], check=True)
os.execv(sys.argv[3], sys.argv[3:])
"""


class DnsStub:
    """A DNS server on 127.0.0.1:<free port>: A records from `records`
    ({name: ipv4}), an empty answer for other types of those names, NXDOMAIN
    for everything else, and no answer at all for the names in `silent` (a
    DNS server that hangs). `queries` lists the names asked, in order."""

    def __init__(self, records=None, silent=()):
        self.records = {k.lower().rstrip("."): v for k, v in (records or {}).items()}
        self.silent = {k.lower().rstrip(".") for k in silent}
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()
        h.on_cleanup(self.close)

    def _serve(self):
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(data), peer)
            except (OSError, ValueError, IndexError, struct.error):
                continue

    def _answer(self, q):
        qid, _flags, qd = struct.unpack(">HHH", q[:6])
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
            i += 1 + q[i]
        qtype, _qclass = struct.unpack(">HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        name = ".".join(labels).lower()
        self.queries.append(name)
        if name in self.silent:
            raise ValueError("silent")
        ip = self.records.get(name)
        if ip is None:      # NXDOMAIN, recursion available
            return struct.pack(">HHHHHH", qid, 0x8183, 1, 0, 0, 0) + question
        answers = b""
        n = 0
        if qtype == 1:
            answers = (b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4)
                       + socket.inet_aton(ip))
            n = 1
        return struct.pack(">HHHHHH", qid, 0x8180, 1, n, 0, 0) + question + answers

    def close(self):
        self._stop = True
        h.close_quietly(self.sock)


class NamedDaemon(h.Daemon):
    """h.Daemon that runs in a mount namespace with its own /etc/hosts
    (`hosts`: {name: ip}) and a resolv.conf naming only `dns` (a DnsStub,
    made when not given)."""

    def __init__(self, cfg, hosts=None, dns=None, resolv_options="timeout:1 attempts:1", **kw):
        super().__init__(cfg, **kw)
        self.dns = dns or DnsStub()
        self.hosts_file = os.path.join(self.dir, "hosts")
        self.resolv_file = os.path.join(self.dir, "resolv.conf")
        with open(self.hosts_file, "w") as f:
            f.write("127.0.0.1 localhost\n")
            for name, ip in (hosts or {}).items():
                f.write("%s %s\n" % (ip, name))
        with open(self.resolv_file, "w") as f:
            # evdns takes an address with a port; glibc is never asked here.
            f.write("nameserver 127.0.0.1:%d\noptions %s\n" % (self.dns.port, resolv_options))

    def argv(self, *extra, db=True):
        inner = super().argv(*extra, db=db)
        return (["unshare", "--mount", "--propagation", "private", "--",
                 sys.executable, "-c", _WRAP, self.hosts_file, self.resolv_file] + inner)
