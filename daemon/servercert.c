/*
 * servercert.c: certificate details through OpenSSL.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "servercert.h"

static char *
name_string(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *data;
	long len;

	if (b == NULL)
		return NULL;
	/* RFC 2253 order and escaping, but UTF-8 kept as UTF-8. */
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		len = BIO_get_mem_data(b, &data);
		if (len >= 0)
			out = strndup(data, (size_t)len);
	}
	BIO_free(b);
	return out;
}

static int64_t
asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

int
servercert_read(PGconn *conn, struct server_cert *cert)
{
	SSL *ssl;
	X509 *x;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc = -1;

	memset(cert, 0, sizeof(*cert));
	if (!PQsslInUse(conn))
		return 1;
	ssl = PQsslStruct(conn, "OpenSSL");
	if (ssl == NULL || (x = SSL_get1_peer_certificate(ssl)) == NULL)
		return -1;
	cert->subject = name_string(X509_get_subject_name(x));
	cert->issuer = name_string(X509_get_issuer_name(x));
	cert->not_before = asn1_time(X509_get0_notBefore(x));
	cert->not_after = asn1_time(X509_get0_notAfter(x));
	if (X509_digest(x, EVP_sha256(), md, &mdlen) && mdlen > 0) {
		cert->sha256 = malloc(mdlen * 3);
		if (cert->sha256) {
			for (unsigned i = 0; i < mdlen; i++)
				snprintf(cert->sha256 + i * 3, 4, "%02X%s", md[i],
					 i + 1 < mdlen ? ":" : "");
		}
	}
	if (cert->subject && cert->issuer && cert->sha256)
		rc = 0;
	else
		servercert_clear(cert);
	X509_free(x);
	return rc;
}

void
servercert_clear(struct server_cert *cert)
{
	free(cert->subject);
	free(cert->issuer);
	free(cert->sha256);
	memset(cert, 0, sizeof(*cert));
}
