"""A realistic trust bundle for tests and benchmarks: `n` unrelated
self-signed roots (a mix like AWS's global-bundle.pem, which holds 115
roots in 167 KB of PEM: RSA 2048, RSA 4096 and EC P-384), with the test
CAs it is given placed among them.

Keys are made once per process and shared by the unrelated roots (each
root still has its own subject, serial and signature; what a client parses
and keeps per certificate is the same as for distinct keys).
"""
import os

import harness as h

_KEYS = None
KINDS = (("rsa:2048", ["-newkey", "rsa:2048"]),
         ("rsa:4096", ["-newkey", "rsa:4096"]),
         ("ec:P-384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1"]))


def _keys():
    global _KEYS
    if _KEYS is None:
        d = h.subdir("bundle-keys", mode=0o700)
        _KEYS = []
        for i, (_name, args) in enumerate(KINDS):
            key = os.path.join(d, "k%d.key" % i)
            h.run(["openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=key%d" % i,
                   "-keyout", key, "-out", os.path.join(d, "k%d.crt" % i)] + args, timeout=120)
            _KEYS.append(key)
    return _KEYS


def unrelated_roots(n=120):
    """PEM text of `n` self-signed CA certificates no test server uses."""
    keys = _keys()
    d = h.subdir("bundle-roots-%d" % id(object()), mode=0o700)
    out = []
    for i in range(n):
        crt = os.path.join(d, "r%d.crt" % i)
        h.run(["openssl", "req", "-x509", "-key", keys[i % len(keys)], "-days", "3650",
               "-subj", "/C=US/O=Unrelated Trust Services %d/OU=Root/CN=Unrelated Root CA %d"
               % (i, i), "-set_serial", str(7000 + i),
               "-addext", "basicConstraints=critical,CA:TRUE",
               "-addext", "keyUsage=critical,keyCertSign,cRLSign",
               "-out", crt])
        with open(crt) as f:
            out.append(f.read())
    return out


def write_bundle(path, cas, n_unrelated=120, roots=None):
    """Writes a bundle of the unrelated roots with each CA of `cas` (harness
    CAs) inserted at spread positions; returns the path. `roots`: reuse
    unrelated_roots() output."""
    roots = list(roots if roots is not None else unrelated_roots(n_unrelated))
    for k, ca in enumerate(cas):
        with open(ca.cert) as f:
            roots.insert((k + 1) * len(roots) // (len(cas) + 1), f.read())
    with open(path, "w") as f:
        f.write("".join(roots))
    os.chmod(path, 0o644)
    return path
