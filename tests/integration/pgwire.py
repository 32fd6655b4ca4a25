"""Hostile servers for tests: a PostgreSQL protocol proxy that rewrites the
rows of the daemon's poll, and listeners that are not PostgreSQL at all.

``RowProxy`` sits between the daemon (sslmode=disable, gssencmode=disable:
the proxy must read the protocol in clear) and a real PostgreSQL server. It
relays every byte, except that it parses the server's messages and, in the
results of the poll query, rewrites each DataRow through a mutator. The poll
is recognised by its RowDescription alone: a result with columns named
``pid`` and ``application_name`` (what the reference query returns, whatever its
exact text, column order or other columns). Values are handled by what the
RowDescription says (text or binary format, int4 or int8), never by the
query text. CommandComplete's row count is fixed up to match.

Mutators (set ``proxy.mutate``; None relays rows unchanged) are callables
``f(columns, values) -> [values, ...]``, ``columns`` a list of
(name, type_oid, format) and ``values`` a list of bytes or None (NULL):

* ``null_everything``: every column of every row NULL.
* ``NullEach(app)``: a row of application ``app`` is kept, and followed by
  one copy per column with that column NULL and one with every column NULL.
  Each copy has its own pid and the application name ``APP~N~COLUMN`` (N
  the column's position, COLUMN its name), so a test can tell from
  `sslhist clients` which copy became which client. ``copies`` lists
  (application name, nulled column name) as made.
* ``Multiply(app, n)``: a row of application ``app`` becomes n rows with
  distinct pids (n sessions of one client).
* ``Endless(rate, claim)``: the first row of the poll becomes the head of a
  DataRow that claims `claim` bytes (256 MiB) and is then fed filler at
  ``rate`` bytes/s forever (a server that never finishes a message); the
  rest of the result is dropped.

``GarbageServer`` accepts and sends bytes that are no protocol at all;
``EndlessServer`` answers the startup packet with the head of a huge
message and keeps sending filler.
"""
import socket
import struct
import threading
import time

import harness as h
import netfault

POLL_COLUMNS = ("pid", "application_name")


def _recv_exact(sock, n, buf):
    """Reads until buf holds n bytes; False at EOF."""
    while len(buf) < n:
        chunk = sock.recv(max(65536, n - len(buf)))
        if not chunk:
            return False
        buf += chunk
    return True


def parse_row_description(body):
    n = struct.unpack(">h", body[:2])[0]
    i, cols = 2, []
    for _ in range(n):
        end = body.index(b"\0", i)
        name = body[i:end].decode("utf-8", "replace")
        i = end + 1
        _table, _attnum, typ, _typlen, _typmod, fmt = struct.unpack(">ihihih", body[i:i + 18])
        i += 18
        cols.append((name, typ, fmt))
    return cols


def parse_data_row(body):
    n = struct.unpack(">h", body[:2])[0]
    i, vals = 2, []
    for _ in range(n):
        ln = struct.unpack(">i", body[i:i + 4])[0]
        i += 4
        if ln < 0:
            vals.append(None)
        else:
            vals.append(bytes(body[i:i + ln]))
            i += ln
    return vals


def data_row(vals):
    parts = [struct.pack(">h", len(vals))]
    for v in vals:
        if v is None:
            parts.append(b"\xff\xff\xff\xff")
        else:
            parts.append(struct.pack(">i", len(v)))
            parts.append(v)
    body = b"".join(parts)
    return b"D" + struct.pack(">i", len(body) + 4) + body


def encode_int(col, value):
    """An integer value as a column of RowDescription entry `col` carries it."""
    _name, typ, fmt = col
    if fmt == 0:
        return str(value).encode()
    return struct.pack(">q" if typ == 20 else ">i", value)


def column(columns, name):
    for i, c in enumerate(columns):
        if c[0] == name:
            return i
    return None


# -- mutators

def null_everything(columns, vals):
    return [[None] * len(vals)]


class _PerApp:
    """Base of the mutators that act on the rows of one application."""
    next_pid = 3000000

    def __init__(self, app):
        self.app = app.encode()

    def mine(self, columns, vals):
        i = column(columns, "application_name")
        return i is not None and vals[i] == self.app

    def pid(self, columns):
        _PerApp.next_pid += 1
        return encode_int(columns[column(columns, "pid")], _PerApp.next_pid)


class NullEach(_PerApp):
    def __init__(self, app):
        super().__init__(app)
        self.copies = []
        self.pids = {}          # column -> the pid of its copy, every poll

    def __call__(self, columns, vals):
        if not self.mine(columns, vals):
            return [vals]
        out = [vals]
        iapp, ipid = column(columns, "application_name"), column(columns, "pid")
        made = []
        for k, (name, _typ, _fmt) in enumerate(columns):
            v = list(vals)
            app = b"%s~%d~%s" % (self.app, k, name.encode())
            v[iapp] = app
            if k not in self.pids:
                self.pids[k] = self.pid(columns)
            v[ipid] = self.pids[k]
            v[k] = None
            out.append(v)
            made.append((app.decode() if k != iapp else None, name))
        out.append([None] * len(vals))
        made.append((None, "*"))
        if not self.copies:
            self.copies = made
        return out


class Multiply(_PerApp):
    def __init__(self, app, n):
        super().__init__(app)
        self.n = n
        self.pids = None        # the same n pids in every poll: n sessions

    def __call__(self, columns, vals):
        if not self.mine(columns, vals):
            return [vals]
        if self.pids is None:
            self.pids = [self.pid(columns) for _ in range(self.n)]
        ipid = column(columns, "pid")
        out = []
        for p in self.pids:
            v = list(vals)
            v[ipid] = p
            out.append(v)
        return out


class Endless:
    """See the module text. `started` is set when the endless row began."""

    def __init__(self, rate=1 << 20, claim=256 << 20):
        self.rate = rate
        self.claim = claim
        self.started = threading.Event()


# -- the proxy

def _hang_up(*socks):
    """Ends both directions, so the other relay thread sees EOF too."""
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class RowProxy(netfault.Relay):
    """Relays 127.0.0.1:port to a PostgreSQL server (target_port on
    127.0.0.1), rewriting poll rows through `mutate` (see the module text).
    `polls` counts poll results seen, `connections` accepted connections."""

    def __init__(self, target_port, mutate=None, target_host="127.0.0.1"):
        self.mutate = mutate
        self.polls = 0
        super().__init__((target_host, target_port))

    def cluster(self, **extra):
        """A [cluster] section for the daemon, through the proxy."""
        kv = {"host": "127.0.0.1", "port": self.port, "user": "monitor",
              "dbname": "postgres", "sslmode": "disable", "gssencmode": "disable"}
        kv.update(extra)
        return kv

    def relay(self, c, up):
        threading.Thread(target=self._upstream, args=(c, up), daemon=True).start()
        threading.Thread(target=self._downstream, args=(up, c), daemon=True).start()

    @staticmethod
    def _upstream(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        _hang_up(src, dst)

    def _downstream(self, src, dst):
        buf = bytearray()
        columns = None
        rewritten = 0
        try:
            while True:
                if not _recv_exact(src, 5, buf):
                    break
                kind = bytes(buf[:1])
                ln = struct.unpack(">i", buf[1:5])[0]
                if not _recv_exact(src, 1 + ln, buf):
                    break
                msg, body = bytes(buf[:1 + ln]), bytes(buf[5:1 + ln])
                del buf[:1 + ln]
                mutate = self.mutate
                if kind == b"T":
                    cols = parse_row_description(body)
                    names = {c[0] for c in cols}
                    columns = cols if all(n in names for n in POLL_COLUMNS) else None
                    if columns is not None:
                        self.polls += 1
                        rewritten = 0
                    dst.sendall(msg)
                elif kind == b"D" and columns is not None and isinstance(mutate, Endless):
                    self._endless(dst, mutate)
                    return
                elif kind == b"D" and columns is not None and mutate is not None:
                    rows = mutate(columns, parse_data_row(body))
                    rewritten += len(rows)
                    dst.sendall(b"".join(data_row(r) for r in rows))
                elif kind == b"C" and columns is not None and mutate is not None:
                    tag = b"SELECT %d\0" % rewritten
                    dst.sendall(b"C" + struct.pack(">i", len(tag) + 4) + tag)
                    columns = None
                else:
                    if kind == b"C":
                        columns = None
                    dst.sendall(msg)
        except OSError:
            pass
        _hang_up(src, dst)

    @staticmethod
    def _endless(dst, e):
        dst.sendall(b"D" + struct.pack(">i", e.claim) + struct.pack(">h", 1) +
                    struct.pack(">i", e.claim - 10))
        e.started.set()
        chunk = b"x" * 65536
        t0, sent = time.monotonic(), 0
        while True:
            ahead = sent / e.rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)   # pacing the filler, not waiting for a condition
            dst.sendall(chunk)
            sent += len(chunk)


# -- not PostgreSQL at all

class _Listener(h.Listener):
    """A listener that talks to each connection in a thread (self._talk)."""

    def __init__(self):
        self.accepted = 0
        self._conns = []
        super().__init__()

    def handle(self, c):
        self.accepted += 1
        self._conns.append(c)
        threading.Thread(target=self._talk, args=(c,), daemon=True).start()

    def close(self):
        super().close()
        h.close_quietly(*self._conns)


class GarbageServer(_Listener):
    """Sends `payload` at once to every connection, then reads and drops
    whatever comes. The default starts with an ESC and a byte >= 0x80: no
    PostgreSQL message or SSL answer begins like that, and a client that
    puts it in an error message must escape it."""

    def __init__(self, payload=b"\x1b[31m\xff\xfeHTTP/1.1 400 Bad Request\r\n\r\n\0\x07"):
        self.payload = payload
        super().__init__()

    def _talk(self, c):
        try:
            c.sendall(self.payload)
            while c.recv(4096):
                pass
        except OSError:
            pass


class EndlessServer(_Listener):
    """Waits for the client's first packet, then sends an 'E' whose length
    word holds no zero byte (libpq then reads it as a pre-3.0 error string,
    which ends at a NUL) and feeds it filler without a NUL at `rate` bytes/s
    until the client hangs up: a message that never ends."""

    def __init__(self, rate=1 << 20):
        self.rate = rate
        super().__init__()

    def _talk(self, c):
        try:
            c.recv(4096)
            c.sendall(b"E" + struct.pack(">i", 0x7f7f7f7f))
            chunk = b"S" * 65536
            t0, sent = time.monotonic(), 0
            while True:
                ahead = sent / self.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)   # pacing, not waiting for a condition
                c.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
