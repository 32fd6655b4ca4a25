"""The two sockets systemd gives a service, played by the tests.

* ``NotifySocket``: an AF_UNIX datagram socket for NOTIFY_SOCKET, which
  records every sd_notify() message with the time it arrived.
* ``JournalSocket``: an AF_UNIX datagram socket that speaks journald's
  native protocol (what sd_journal_send() writes to
  /run/systemd/journal/socket) and parses each datagram into a dict of
  fields. ``JournalDaemon`` runs sslhistd in a private mount namespace where
  the test's directory is mounted over /run/systemd/journal, with
  JOURNAL_STREAM naming its stderr, as systemd would start it.

The native protocol (systemd's "Native Journal Protocol" document): one
datagram per entry, fields one after another, each either ``KEY=value\\n``
or, for a value that holds a newline, ``KEY\\n``, the value's length as a
64-bit little-endian integer, the value and ``\\n``. An entry too large for
a datagram comes as a sealed memfd passed with SCM_RIGHTS instead, with the
same content.
"""
import array
import os
import socket
import struct
import sys
import threading
import time

import harness as h


class NotifySocket:
    """NOTIFY_SOCKET for a daemon: `messages` are (monotonic time, text)."""

    def __init__(self):
        self.path = os.path.join(h.subdir("notify-%d" % id(self)), "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self._messages = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        h.on_cleanup(self.sock.close)

    def _read(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            with self._lock:
                self._messages.append((time.monotonic(), data.decode("utf-8", "replace")))

    def messages(self):
        """[(arrival time, message text)] so far."""
        with self._lock:
            return list(self._messages)

    def lines(self):
        """Every line of every message, in order."""
        return [l for _t, m in self.messages() for l in m.split("\n")]

    def times(self, line):
        """Arrival times of the messages that hold `line` exactly."""
        return [t for t, m in self.messages() if line in m.split("\n")]

    def env(self, watchdog_usec=None):
        """The environment systemd gives a Type=notify service."""
        e = {"NOTIFY_SOCKET": self.path}
        if watchdog_usec:
            e["WATCHDOG_USEC"] = str(watchdog_usec)
        return e


def parse_journal_entry(data):
    """One native-protocol datagram -> {field: bytes} (a field sent twice
    keeps its values in a list). Raises ValueError on a malformed entry."""
    fields = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            start = nl + 9
            value = data[start:start + size]
            if len(value) != size or data[start + size:start + size + 1] != b"\n":
                raise ValueError("bad binary field %r" % key)
            i = start + size + 1
        name = key.decode("ascii")
        if not name or not all(c.isupper() or c.isdigit() or c == "_" for c in name):
            raise ValueError("bad field name %r" % key)
        if name in fields:
            prev = fields[name]
            fields[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            fields[name] = value
    return fields


class JournalSocket:
    """/run/systemd/journal/socket in a directory of the test's own.

    `raw` keeps every datagram as received, `entries` the parsed ones."""

    def __init__(self):
        self.dir = h.subdir("journal-%d" % id(self))
        self.path = os.path.join(self.dir, "socket")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.raw = []
        self.errors = []
        self._entries = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        h.on_cleanup(self.sock.close)

    def _read(self):
        fds = array.array("i")
        while True:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(
                    1 << 20, socket.CMSG_SPACE(fds.itemsize))
            except OSError:
                return
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fd = array.array("i", payload[:fds.itemsize])[0]
                    with os.fdopen(fd, "rb") as f:
                        data = f.read()
            with self._lock:
                self.raw.append(data)
                try:
                    self._entries.append(parse_journal_entry(data))
                except (ValueError, struct.error, UnicodeDecodeError) as e:
                    self.errors.append("%s: %r" % (e, data[:200]))

    def entries(self):
        with self._lock:
            return list(self._entries)

    def messages(self):
        return [e.get("MESSAGE", b"").decode("utf-8", "replace") for e in self.entries()]


# Runs in the new mount namespace: put the test's directory at
# /run/systemd/journal (on a private tmpfs where a parent is missing, so the
# machine's /run is never written), then exec the daemon.
_WRAP = r"""
import os, subprocess, sys
src = sys.argv[1]
target = "/run/systemd/journal"
base = target
while not os.path.isdir(base):
    base = os.path.dirname(base)
if base != target:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", base], check=True)
    os.makedirs(target, exist_ok=True)
subprocess.run(["mount", "--bind", src, target], check=True)
os.execv(sys.argv[2], sys.argv[2:])
"""


class JournalDaemon(h.Daemon):
    """h.Daemon whose stderr is "the journal": JOURNAL_STREAM names its
    stderr's device and inode (unless journal_stream says otherwise), and
    /run/systemd/journal/socket is `journal` (a JournalSocket)."""

    def __init__(self, cfg, journal, journal_stream=None, **kw):
        super().__init__(cfg, **kw)
        self.journal = journal
        self.journal_stream = journal_stream

    def argv(self, *extra, db=True):
        inner = super().argv(*extra, db=db)
        return (["unshare", "--mount", "--propagation", "private", "--",
                 sys.executable, "-c", _WRAP, self.journal.dir] + inner)

    def start(self, *extra, env=None):
        # The log file is the daemon's stderr: its dev:ino is the stream.
        open(self.logfile, "ab").close()
        st = os.stat(self.logfile)
        e = {"JOURNAL_STREAM": self.journal_stream or "%d:%d" % (st.st_dev, st.st_ino)}
        e.update(env or {})
        return super().start(*extra, env=e)
