/*
 * trustpin.h: which roots of a configured sslrootcert bundle a fleet's
 * servers actually chain to, so a connection can be verified against
 * those roots alone (a small file) instead of libpq parsing the whole
 * bundle again for every connection (with a 121-certificate bundle: about
 * 28 ms of CPU and 690 KB of heap per handshake, which fragments the heap).
 *
 * Per distinct bundle file (by path), trustpin keeps the file's identity
 * (dev, ino, size, mtime, ctime), the SHA-256 of each certificate in it
 * (the file is parsed once per identity) and the "pin": the subset of its
 * certificates that anchored a successful verification against the FULL
 * bundle, written as PEM into a private directory (0700, files 0600).
 *
 * The rules (the security argument is in docs/RELIABILITY.md, "Trust
 * pinning"):
 *   - a pin only ever holds certificates of the bundle as it is now: each
 *     attempt stats the bundle, and a changed file is parsed again and its
 *     pin emptied;
 *   - a certificate enters the pin only as the top of the chain OpenSSL
 *     verified (SSL_get0_verified_chain) on a connection made with the
 *     full bundle that succeeded (name checked too), and only if it is,
 *     byte for byte, a certificate of the bundle;
 *   - a bundle holding anything but plain certificates (CRLs, or trust
 *     settings of "TRUSTED CERTIFICATE" blocks) is never pinned;
 *   - an attempt made with the pin that fails, for any reason, is retried
 *     at once with the full bundle (pgconn_dial.c), and that connection
 *     uses the full bundle until one succeeds with it.
 * libpq verifies the chain and the host name exactly as configured in
 * both cases; only the file it reads differs.
 *
 * One event-loop thread; nothing here blocks but reading a changed bundle.
 */
#ifndef SSLHIST_TRUSTPIN_H
#define SSLHIST_TRUSTPIN_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/* Creates the private directory under $RUNTIME_DIRECTORY (systemd's
 * RuntimeDirectory=), else $TMPDIR, else /tmp. 0, or -1 (logged: pinning
 * stays off, connections use the bundles as configured). */
int trustpin_init(void);
/* Removes the pin files and the directory. */
void trustpin_shutdown(void);

/*
 * The file to give libpq as sslrootcert for a connection configured with
 * `bundle`: the pin's path (copied into out), or NULL when the full bundle
 * must be used (pinning off, nothing learned yet, the file changed or is
 * not pinnable).
 */
const char *trustpin_choose(const char *bundle, char *out, size_t outlen);

/*
 * A cold start: while a pinnable bundle has no pin, one attempt at a time
 * (the learner) connects with the whole file; the others wait for what it
 * pins (polling this) instead of all parsing the whole file at once. True:
 * wait and ask again. False: go ahead, with trustpin_choose()'s answer. A
 * learner is given TRUSTPIN_LEARN_MS; trustpin_attempt_over() ends its
 * turn early when an attempt with the whole file ends. One that succeeded
 * and still left no pin (no TLS under sslmode=prefer, a root trustpin does
 * not recognise) turns the waits off for that file until it changes:
 * waiting would only make a fleet connect one instance at a time.
 */
#define TRUSTPIN_LEARN_MS 2000
#define TRUSTPIN_WAIT_MS 50
bool trustpin_must_wait(const char *bundle);
void trustpin_attempt_over(const char *bundle, bool succeeded);

/* After a connection made with the full `bundle` succeeded: adds the root
 * its verified chain ends in to the bundle's pin. Returns 1 when the pin
 * grew, 0 when it already held it or nothing applies, -1 on an error
 * (logged). */
int trustpin_learn(const char *bundle, PGconn *conn);

/* What trustpin makes of the file at `path` as it is now (parsed again
 * if it changed): 1 pinnable, 0 not, -1 it cannot be read; *ncerts the
 * plain certificates in it. For tests and logs. */
int trustpin_bundle_info(const char *path, size_t *ncerts);

/* The directory, or NULL when pinning is off (for logs and tests). */
const char *trustpin_dir(void);

#endif
