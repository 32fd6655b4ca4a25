/*
 * trustpin.c: the roots of a bundle that anchored full verifications,
 * written to a small file for the next connections (trustpin.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "clock.h"
#include "log.h"
#include "tlstrim.h"
#include "trustpin.h"

#define DIGEST_LEN 32

/* What makes a file "the same file": a changed bundle is parsed again. */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct bundle {
	char *path;
	struct file_id id;
	bool pinnable;
	size_t ncerts;
	unsigned char (*digests)[DIGEST_LEN];	/* of every certificate */
	STACK_OF(X509) *anchors;		/* learned, in the pin file */
	char pin[PATH_MAX];			/* the pin file; "" none */
	char old_pin[PATH_MAX];			/* the one before: a connection
						 * may be about to read it */
	int64_t learner_until;			/* mono ms: a learner's turn */
	bool no_wait;				/* a success taught nothing: no
						 * cold-start waits for this file */
};

static struct {
	char dir[PATH_MAX - 64];	/* "" : pinning off */
	struct bundle **b;
	size_t n;
	unsigned long seq;	/* names pin files */
} tp;

static void
file_id_of(const struct stat *st, struct file_id *id)
{
	memset(id, 0, sizeof(*id));
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

static bool
file_id_eq(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void
unlink_pin(char *path)
{
	if (path[0] != '\0' && unlink(path) == -1 && errno != ENOENT)
		log_warn_errno("trust pinning: removing %s", path);
	path[0] = '\0';
}

/* Forgets what was learned and parsed (the file changed, or exit). */
static void
bundle_reset(struct bundle *b)
{
	sk_X509_pop_free(b->anchors, X509_free);
	b->anchors = NULL;
	free(b->digests);
	b->digests = NULL;
	b->ncerts = 0;
	b->pinnable = false;
	b->learner_until = 0;
	b->no_wait = false;
	unlink_pin(b->pin);
	unlink_pin(b->old_pin);
}

static int
digest_of(X509 *x, unsigned char out[DIGEST_LEN])
{
	unsigned int len = 0;

	return X509_digest(x, EVP_sha256(), out, &len) == 1 && len == DIGEST_LEN ? 0 : -1;
}

/*
 * Parses the bundle as it is now (identity from the descriptor read).
 * Anything but plain certificates, or a parse error, leaves it unpinnable:
 * libpq still reads the file itself and says what is wrong with it.
 */
static void
bundle_load(struct bundle *b)
{
	FILE *fp = fopen(b->path, "re");
	STACK_OF(X509_INFO) *infos = NULL;
	struct stat st;
	BIO *bio;

	bundle_reset(b);
	memset(&b->id, 0, sizeof(b->id));
	if (fp == NULL)
		return;
	if (fstat(fileno(fp), &st) == 0)
		file_id_of(&st, &b->id);
	if ((bio = BIO_new_fp(fp, BIO_NOCLOSE)) != NULL) {
		infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	fclose(fp);
	if (infos == NULL || (b->anchors = sk_X509_new_null()) == NULL ||
	    (b->digests = calloc((size_t)sk_X509_INFO_num(infos) + 1, DIGEST_LEN)) == NULL) {
		sk_X509_INFO_pop_free(infos, X509_INFO_free);
		return;
	}
	b->pinnable = true;
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (xi->crl != NULL || xi->x509 == NULL || X509_trusted(xi->x509) ||
		    digest_of(xi->x509, b->digests[b->ncerts]) < 0)
			b->pinnable = false;
		else
			b->ncerts++;
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (b->ncerts < 2)
		b->pinnable = false;	/* nothing to gain */
	if (!b->pinnable)
		log_infox("trust pinning: %s is not pinned (it holds anything but plain "
			  "certificates, or fewer than two); each connection reads it whole",
			  b->path);
}

/* The bundle's entry, (re)parsed when the file is new or changed; NULL
 * when the file cannot be seen or out of memory. */
static struct bundle *
bundle_get(const char *path)
{
	struct stat st;
	struct file_id now;
	struct bundle *b = NULL, **nb;

	if (stat(path, &st) == -1)
		return NULL;
	file_id_of(&st, &now);
	for (size_t i = 0; i < tp.n; i++) {
		if (strcmp(tp.b[i]->path, path) == 0)
			b = tp.b[i];
	}
	if (b != NULL && file_id_eq(&b->id, &now))
		return b;
	if (b == NULL) {
		if ((nb = realloc(tp.b, (tp.n + 1) * sizeof(*nb))) == NULL)
			return NULL;
		tp.b = nb;
		if ((b = calloc(1, sizeof(*b))) == NULL || (b->path = strdup(path)) == NULL) {
			free(b);
			return NULL;
		}
		tp.b[tp.n++] = b;
	} else {
		log_infox("trust pinning: %s changed; pinned roots forgotten", path);
	}
	bundle_load(b);
	return b;
}

int
trustpin_init(void)
{
	const char *base = getenv("RUNTIME_DIRECTORY");
	static const char leaf[] = "/sslhistd-trust-XXXXXX";
	size_t len;

	if (tlstrim_keep_trust())
		return 0;
	if (base == NULL || base[0] == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	/* RUNTIME_DIRECTORY may list several, colon-separated: the first. */
	len = strcspn(base, ":");
	if (len + sizeof(leaf) > sizeof(tp.dir)) {
		log_warnx("trust pinning off: %s is too long a directory name", base);
		return -1;
	}
	memcpy(tp.dir, base, len);
	memcpy(tp.dir + len, leaf, sizeof(leaf));
	if (mkdtemp(tp.dir) == NULL) {
		log_warn_errno("trust pinning off: cannot create a directory in %.*s", (int)len,
			       base);
		tp.dir[0] = '\0';
		return -1;
	}
	log_debugx("trust pinning: pinned roots go to %s", tp.dir);
	return 0;
}

void
trustpin_shutdown(void)
{
	for (size_t i = 0; i < tp.n; i++) {
		bundle_reset(tp.b[i]);
		free(tp.b[i]->path);
		free(tp.b[i]);
	}
	free(tp.b);
	tp.b = NULL;
	tp.n = 0;
	if (tp.dir[0] != '\0' && rmdir(tp.dir) == -1)
		log_warn_errno("trust pinning: removing %s", tp.dir);
	tp.dir[0] = '\0';
}

int
trustpin_bundle_info(const char *path, size_t *ncerts)
{
	struct bundle *b = bundle_get(path);

	*ncerts = b ? b->ncerts : 0;
	return b == NULL ? -1 : b->pinnable;
}

const char *
trustpin_dir(void)
{
	return tp.dir[0] ? tp.dir : NULL;
}

const char *
trustpin_choose(const char *bundle, char *out, size_t outlen)
{
	struct bundle *b;

	if (tp.dir[0] == '\0' || (b = bundle_get(bundle)) == NULL || !b->pinnable ||
	    b->pin[0] == '\0' || (size_t)snprintf(out, outlen, "%s", b->pin) >= outlen)
		return NULL;
	return out;
}

bool
trustpin_must_wait(const char *bundle)
{
	struct bundle *b;
	int64_t now;

	if (tp.dir[0] == '\0' || (b = bundle_get(bundle)) == NULL || !b->pinnable ||
	    b->pin[0] != '\0' || b->no_wait)
		return false;
	now = mono_ms();
	if (b->learner_until > now)
		return true;
	b->learner_until = now + TRUSTPIN_LEARN_MS;	/* the caller learns */
	return false;
}

void
trustpin_attempt_over(const char *bundle, bool succeeded)
{
	for (size_t i = 0; i < tp.n; i++) {
		if (strcmp(tp.b[i]->path, bundle) != 0)
			continue;
		tp.b[i]->learner_until = 0;
		/* Connected without a pin to show for it (no TLS with
		 * sslmode=prefer, a root trustpin does not recognise):
		 * waiting for one would only serialise the fleet. */
		if (succeeded && tp.b[i]->pin[0] == '\0')
			tp.b[i]->no_wait = true;
	}
}

static bool
in_bundle(const struct bundle *b, const unsigned char d[DIGEST_LEN])
{
	for (size_t i = 0; i < b->ncerts; i++) {
		if (memcmp(b->digests[i], d, DIGEST_LEN) == 0)
			return true;
	}
	return false;
}

/* Writes the anchors to a new file (never rewriting one a connection may
 * be reading), which becomes the pin. */
static int
write_pin(struct bundle *b)
{
	char path[PATH_MAX];
	BIO *bio;
	int fd, ok = 1;

	if ((size_t)snprintf(path, sizeof(path), "%s/pin-%lu.pem", tp.dir, ++tp.seq) >=
	    sizeof(path))
		return -1;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1) {
		log_warn_errno("trust pinning: creating %s", path);
		return -1;
	}
	if ((bio = BIO_new_fd(fd, BIO_CLOSE)) == NULL) {
		close(fd);
		ok = 0;
	}
	for (int i = 0; ok && i < sk_X509_num(b->anchors); i++)
		ok = PEM_write_bio_X509(bio, sk_X509_value(b->anchors, i));
	if (bio && BIO_flush(bio) != 1)
		ok = 0;
	BIO_free(bio);
	if (!ok) {
		log_warnx("trust pinning: could not write %s", path);
		unlink(path);
		return -1;
	}
	unlink_pin(b->old_pin);
	memcpy(b->old_pin, b->pin, sizeof(b->pin));
	snprintf(b->pin, sizeof(b->pin), "%s", path);
	return 0;
}

int
trustpin_learn(const char *bundle, PGconn *conn)
{
	SSL *ssl = PQsslStruct(conn, "OpenSSL");
	STACK_OF(X509) *chain;
	struct bundle *b;
	X509 *top;
	unsigned char d[DIGEST_LEN];
	char name[256];

	if (tp.dir[0] == '\0' || ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
	    (chain = SSL_get0_verified_chain(ssl)) == NULL || sk_X509_num(chain) < 1)
		return 0;
	top = sk_X509_value(chain, sk_X509_num(chain) - 1);
	if ((b = bundle_get(bundle)) == NULL || !b->pinnable || digest_of(top, d) < 0 ||
	    !in_bundle(b, d))
		return 0;	/* not (or no longer) a certificate of the bundle */
	for (int i = 0; i < sk_X509_num(b->anchors); i++) {
		if (X509_cmp(sk_X509_value(b->anchors, i), top) == 0)
			return 0;
	}
	if (!X509_up_ref(top))
		return -1;
	if (sk_X509_push(b->anchors, top) <= 0) {
		X509_free(top);
		return -1;
	}
	if (write_pin(b) < 0) {
		X509_free(sk_X509_pop(b->anchors));
		return -1;
	}
	X509_NAME_oneline(X509_get_subject_name(top), name, sizeof(name));
	log_infox("trust pinning: %s: %d of its %zu certificates pinned in %s (added %s)",
		  b->path, sk_X509_num(b->anchors), b->ncerts, b->pin, name);
	return 1;
}
