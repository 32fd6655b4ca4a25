"""Network faults for tests and benchmarks, on loopback only.

This kernel has no netem qdisc, so latency comes from a TCP proxy that holds
every chunk it relays for a fixed time before passing it on, in order.
``DelayProxy`` listens on 127.0.0.1:<free port> and relays to a target
(host, port); ``stall()`` stops relaying without closing (a peer gone
silent), ``resume()`` starts again, ``cut()`` resets every relayed
connection at once (a link cut mid-result).

Packet loss and blackholes belong in a network namespace with nft rules
(never on the host's own interfaces); see the tests that use them.
"""
import collections
import socket
import threading
import time

import harness as h


class DelayProxy:
    """Relays TCP from 127.0.0.1:port to target, each direction delayed by
    delay_ms. `connections` counts accepted connections."""

    def __init__(self, target_host, target_port, delay_ms, listen="127.0.0.1"):
        self.target = (target_host, target_port)
        self.delay = delay_ms / 1000.0
        self.port = h.free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((listen, self.port))
        self.sock.listen(128)
        self.connections = 0
        self._lock = threading.Lock()
        self._socks = []
        self._running = threading.Event()
        self._running.set()
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()
        h.on_cleanup(self.close)

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                up = socket.create_connection(self.target, timeout=5)
                up.settimeout(None)
            except OSError:
                c.close()
                continue
            for s in (c, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._socks += [c, up]
            self._pipe(c, up)
            self._pipe(up, c)

    def _pipe(self, src, dst):
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
                except OSError:
                    return

        threading.Thread(target=reader, daemon=True).start()
        threading.Thread(target=writer, daemon=True).start()

    def stall(self):
        """Stop relaying (connections stay open, bytes wait)."""
        self._running.clear()

    def resume(self):
        self._running.set()

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
        self._stop = True
        self._running.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self.cut()
