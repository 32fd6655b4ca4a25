/*
 * rdsca.h: the Amazon RDS CA a server certificate was issued under, named
 * from the certificate's issuer DN (the names and their sources:
 * docs/SOURCES.md, "RDS certificate authorities"):
 *   CN=Amazon RDS <region> 2019 CA                       -> rds-ca-2019
 *   CN=Amazon RDS <region> Subordinate CA RSA2048 G1...  -> rds-ca-rsa2048-g1
 *   ... RSA4096 G1...                                    -> rds-ca-rsa4096-g1
 *   ... ECC384 G1...                                     -> rds-ca-ecc384-g1
 * The DN may be in RFC 2253 form ("CN=...,OU=...") or OpenSSL's slash form
 * ("/C=US/.../CN=...").
 */
#ifndef SSLHIST_RDSCA_H
#define SSLHIST_RDSCA_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Writes the CA name for `issuer` into buf (the issuer itself when it is
 * no RDS CA; "" for NULL) and returns buf.
 */
const char *rdsca_name(const char *issuer, char *buf, size_t len);

/* The CA is one AWS retires (rds-ca-2019): rotate before it expires. */
bool rdsca_is_old(const char *name);

#endif
