"""Network faults for tests and benchmarks, on loopback only.

This kernel has no netem qdisc, so latency comes from a TCP proxy that holds
every chunk it relays for a fixed time before passing it on, in order.
``DelayProxy`` listens on 127.0.0.1:<free port> and relays to a target
(host, port); ``stall()`` stops relaying without closing (a peer gone
silent), ``resume()`` starts again, ``cut()`` resets every relayed
connection at once (a link cut mid-result).

Packet loss and link cuts belong in network namespaces (never on the
host's own interfaces): ``NetNs`` is one, named after the git branch that
owns the test (``faults-<pid><tag>``) and deleted at exit; ``veth()`` joins
two; ``NetNs.enter()`` moves the calling thread into it, so that a
DelayProxy (or any socket) made inside lives there; ``NetNs.loss()`` drops a
share of a port's packets with nft (``numgen random mod 100 < N drop``);
``sweep()`` removes what a crashed run left.
"""
import collections
import contextlib
import ctypes
import os
import re
import socket
import threading
import time

import harness as h

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class Relay(h.Listener):
    """Base of the relaying proxies: accepts on listen:port, connects each
    connection to `target` and hands both to self.relay(client, upstream).
    `connections` counts them; cut() resets them all; close() stops
    listening and cuts."""

    def __init__(self, target, listen="127.0.0.1", backlog=64):
        self.target = target
        self.connections = 0
        self._lock = threading.Lock()
        self._socks = []
        super().__init__(listen, backlog)

    def handle(self, c):
        try:
            up = socket.create_connection(self.target, timeout=5)
            up.settimeout(None)
        except OSError:
            c.close()
            return
        with self._lock:
            self.connections += 1
            self._socks += [c, up]
        self.relay(c, up)

    def relay(self, client, upstream):
        raise NotImplementedError

    def cut(self):
        """Reset every relayed connection (RST, as a link cut looks after
        the peer's retransmissions give up)."""
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
            except OSError:
                pass

    def close(self):
        super().close()
        self.cut()


class DelayProxy(Relay):
    """Relays TCP from 127.0.0.1:port to target, each direction delayed by
    delay_ms. `connections` counts accepted connections."""

    def __init__(self, target_host, target_port, delay_ms, listen="127.0.0.1"):
        self.delay = delay_ms / 1000.0
        self.relayed = [0, 0]   # bytes relayed: to the target, back from it
        self._running = threading.Event()
        self._running.set()
        super().__init__((target_host, target_port), listen, backlog=128)

    def relay(self, c, up):
        for s in (c, up):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pipe(c, up, 0)
        self._pipe(up, c, 1)

    def _pipe(self, src, dst, direction=0):
        """Two threads per direction: one reads and stamps chunks, one
        writes each chunk when its delay has passed (order kept)."""
        q = collections.deque()
        ready = threading.Condition()

        def reader():
            while True:
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                with ready:
                    q.append((time.monotonic() + self.delay, data))
                    ready.notify()
                if not data:
                    return

        def writer():
            while True:
                with ready:
                    while not q:
                        ready.wait()
                    due, data = q.popleft()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)    # the delay itself, not a wait for a condition
                self._running.wait()    # stall() holds bytes here
                try:
                    if not data:
                        dst.shutdown(socket.SHUT_WR)
                        return
                    dst.sendall(data)
                    self.relayed[direction] += len(data)
                except OSError:
                    return

        threading.Thread(target=reader, daemon=True).start()
        threading.Thread(target=writer, daemon=True).start()

    def stall(self):
        """Stop relaying (connections stay open, bytes wait)."""
        self._running.clear()

    def resume(self):
        self._running.set()

    def close(self):
        self._running.set()
        super().close()


# --------------------------------------------------------------------------
# Network namespaces

def _ip(*args, check=True):
    return h.run(["ip"] + list(args), check=check)


def sweep(prefix):
    """Deletes the namespaces `prefix`-<pid>... whose creating process is
    gone (a run that was killed before it could clean up)."""
    out = _ip("netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(re.escape(prefix) + r"-(\d+)[a-z]", name)
        if m and not h.pid_alive(int(m.group(1))):
            h.log("removing stale network namespace", name)
            _ip("netns", "del", name, check=False)


class NetNs:
    """A network namespace `prefix`-<our pid><tag> with its loopback up,
    deleted at exit (after everything registered later is cleaned up, so
    servers inside it stop first)."""

    def __init__(self, prefix, tag):
        self.name = "%s-%d%s" % (prefix, os.getpid(), tag)
        assert len(self.name) <= 15, "interface names are at most 15 bytes: " + self.name
        _ip("netns", "add", self.name)
        h.on_cleanup(self.delete)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args, check=True):
        return _ip("-n", self.name, *args, check=check)

    def exec_prefix(self):
        """Prefix of a command line that runs it inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    @contextlib.contextmanager
    def enter(self):
        """Runs the block with the calling thread in the namespace: sockets
        made meanwhile (and threads started meanwhile) belong to it."""
        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open("/run/netns/%s" % self.name, os.O_RDONLY)
        try:
            if _libc.setns(there, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns %s" % self.name)
            try:
                yield self
            finally:
                if _libc.setns(back, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(there)
            os.close(back)

    def loss(self, port, percent):
        """Drops `percent` % of the TCP packets to and from `port` here, in
        both directions; returns a callable that removes the rule."""
        table = "loss%d" % port
        rules = ("table inet %s {\n"
                 " chain input { type filter hook input priority 0; "
                 "tcp dport %d numgen random mod 100 < %d drop; }\n"
                 " chain output { type filter hook output priority 0; "
                 "tcp sport %d numgen random mod 100 < %d drop; }\n}\n"
                 % (table, port, percent, port, percent))
        h.run(self.exec_prefix() + ["nft", "-f", "-"], input=rules)
        return lambda: h.run(self.exec_prefix() + ["nft", "delete", "table", "inet", table],
                             check=False)

    def delete(self):
        _ip("netns", "del", self.name, check=False)


def veth(a, a_name, a_addr, b, b_name, b_addr):
    """A veth pair between namespaces a and b (made inside a, the peer
    straight in b: it never exists on the host), addresses CIDR, up."""
    a.ip("link", "add", a_name, "type", "veth", "peer", "name", b_name, "netns", b.name)
    for ns, name, addr in ((a, a_name, a_addr), (b, b_name, b_addr)):
        ns.ip("addr", "add", addr, "dev", name)
        ns.ip("link", "set", name, "up")
