/*
 * test_trustpin.c: what trustpin makes of a bundle file (daemon/trustpin.h):
 * plain certificates are pinnable, CRLs, trust settings, garbage and a
 * lone certificate are not; a file changed on disk is parsed again; the
 * private directory is 0700 and goes at shutdown; nothing is pinned
 * before a connection taught it; on a cold start one attempt learns while
 * the others wait, and only for a pinnable bundle. Certificates are made with OpenSSL here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "check.h"
#include "log.h"
#include "trustpin.h"

static EVP_PKEY *key;

static X509 *
make_root(const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	static long serial = 1;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

static X509_CRL *
make_crl(X509 *issuer)
{
	X509_CRL *c = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_set(NULL, time(NULL));

	X509_CRL_set_version(c, 1);
	X509_CRL_set_issuer_name(c, X509_get_subject_name(issuer));
	X509_CRL_set1_lastUpdate(c, t);
	X509_CRL_sign(c, key, EVP_sha256());
	ASN1_TIME_free(t);
	return c;
}

/* Writes n plain roots (and the extras) to path. */
static void
write_bundle(const char *path, int n, X509_CRL *crl, X509 *trusted, const char *junk)
{
	FILE *f = fopen(path, "w");

	for (int i = 0; i < n; i++) {
		char cn[32];
		snprintf(cn, sizeof(cn), "root %d", i);
		X509 *x = make_root(cn);
		PEM_write_X509(f, x);
		X509_free(x);
	}
	if (crl)
		PEM_write_X509_CRL(f, crl);
	if (trusted)
		PEM_write_X509_AUX(f, trusted);
	if (junk)
		fputs(junk, f);
	fclose(f);
}

int
main(void)
{
	char dir[] = "/tmp/test_trustpin-XXXXXX", path[4200], out[4200];
	const char *pindir;
	size_t n = 99;
	struct stat st;

	log_init("test_trustpin", LVL_WARNING);
	key = EVP_EC_gen("P-256");
	CHECK(key != NULL && mkdtemp(dir) != NULL);
	setenv("RUNTIME_DIRECTORY", dir, 1);
	CHECK_INT(trustpin_init(), 0);
	pindir = trustpin_dir();
	CHECK(pindir != NULL && strncmp(pindir, dir, strlen(dir)) == 0);
	CHECK(pindir && stat(pindir, &st) == 0 && (st.st_mode & 0777) == 0700);
	char saved_dir[4200];
	snprintf(saved_dir, sizeof(saved_dir), "%s", pindir ? pindir : "");

	/* Plain certificates: pinnable, each one counted. */
	snprintf(path, sizeof(path), "%s/plain.pem", dir);
	write_bundle(path, 5, NULL, NULL, NULL);
	CHECK_INT(trustpin_bundle_info(path, &n), 1);
	CHECK_INT(n, 5);
	/* Nothing learned: libpq gets the whole file. */
	CHECK(trustpin_choose(path, out, sizeof(out)) == NULL);

	/* Changed on disk (same path): parsed again. */
	write_bundle(path, 7, NULL, NULL, NULL);
	CHECK_INT(trustpin_bundle_info(path, &n), 1);
	CHECK_INT(n, 7);

	/* A cold start: the first attempt learns, the others wait for it,
	 * until its attempt is over (or its turn ends). */
	CHECK(!trustpin_must_wait(path));
	CHECK(trustpin_must_wait(path));
	CHECK(trustpin_must_wait(path));
	trustpin_attempt_over(path, false);	/* the learner failed */
	CHECK(!trustpin_must_wait(path));
	CHECK(trustpin_must_wait(path));
	/* A success that pinned nothing: no more waits for this file ... */
	trustpin_attempt_over(path, true);
	CHECK(!trustpin_must_wait(path));
	CHECK(!trustpin_must_wait(path));
	/* ... until it changes. */
	write_bundle(path, 6, NULL, NULL, NULL);
	CHECK(!trustpin_must_wait(path));
	CHECK(trustpin_must_wait(path));
	trustpin_attempt_over(path, false);

	/* One certificate: nothing to gain, nobody waits. */
	snprintf(path, sizeof(path), "%s/one.pem", dir);
	write_bundle(path, 1, NULL, NULL, NULL);
	CHECK_INT(trustpin_bundle_info(path, &n), 0);
	CHECK(!trustpin_must_wait(path));
	CHECK(!trustpin_must_wait(path));

	/* A CRL in the file: never pinned. */
	X509 *ca = make_root("crl issuer");
	X509_CRL *crl = make_crl(ca);
	snprintf(path, sizeof(path), "%s/crl.pem", dir);
	write_bundle(path, 4, crl, NULL, NULL);
	CHECK_INT(trustpin_bundle_info(path, &n), 0);

	/* Trust settings (TRUSTED CERTIFICATE): never pinned. */
	X509 *tr = make_root("trusted");
	X509_add1_trust_object(tr, OBJ_nid2obj(NID_server_auth));
	snprintf(path, sizeof(path), "%s/aux.pem", dir);
	write_bundle(path, 4, NULL, tr, NULL);
	CHECK_INT(trustpin_bundle_info(path, &n), 0);

	/* A broken block: never pinned (libpq says what is wrong). */
	snprintf(path, sizeof(path), "%s/junk.pem", dir);
	write_bundle(path, 4, NULL, NULL,
		     "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n");
	CHECK_INT(trustpin_bundle_info(path, &n), 0);

	/* Gone: -1, and no pin. */
	snprintf(path, sizeof(path), "%s/missing.pem", dir);
	CHECK_INT(trustpin_bundle_info(path, &n), -1);
	CHECK(trustpin_choose(path, out, sizeof(out)) == NULL);

	trustpin_shutdown();
	CHECK(trustpin_dir() == NULL);
	CHECK(stat(saved_dir, &st) == -1);

	X509_free(ca);
	X509_free(tr);
	X509_CRL_free(crl);
	EVP_PKEY_free(key);
	const char *names[] = { "plain", "one", "crl", "aux", "junk" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.pem", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return check_done();
}
