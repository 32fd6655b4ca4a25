/* rdsca.c: see rdsca.h. */
#include "rdsca.h"

#include <string.h>

#define CN_MAX 256

/*
 * Copies the value of the CN attribute of `dn` into cn (unescaping RFC 2253
 * backslashes). Returns false when there is none.
 */
static bool
find_cn(const char *dn, char *cn, size_t len)
{
	bool slash = dn[0] == '/';
	const char *p;
	size_t n = 0;

	for (p = dn; (p = strstr(p, "CN=")) != NULL; p++) {
		if (p == dn || p[-1] == ',' || p[-1] == '/' || p[-1] == '+' || p[-1] == ' ')
			break;
	}
	if (p == NULL)
		return false;
	for (p += 3; *p != '\0' && n + 1 < len; p++) {
		if (*p == '\\' && p[1] != '\0') {
			cn[n++] = *++p;
			continue;
		}
		if (*p == ',' || *p == '+' || (slash && *p == '/'))
			break;
		cn[n++] = *p;
	}
	cn[n] = '\0';
	return true;
}

/* "<region> " at s: a non-empty run of [a-z0-9-] and a blank. */
static const char *
skip_region(const char *s)
{
	const char *p = s;

	while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')
		p++;
	if (p == s || *p != ' ')
		return NULL;
	return p + 1;
}

static const struct {
	const char *tail;	/* after "Amazon RDS <region> " */
	bool prefix;		/* tail may go on (".A.2", ...) */
	const char *name;
} rules[] = {
	{ "2019 CA", false, "rds-ca-2019" },
	{ "Subordinate CA RSA2048 G1", true, "rds-ca-rsa2048-g1" },
	{ "Subordinate CA RSA4096 G1", true, "rds-ca-rsa4096-g1" },
	{ "Subordinate CA ECC384 G1", true, "rds-ca-ecc384-g1" },
};

static const char *
match(const char *cn)
{
	const char *rest;
	size_t i, n;

	if (strncmp(cn, "Amazon RDS ", 11) != 0 || (rest = skip_region(cn + 11)) == NULL)
		return NULL;
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		n = strlen(rules[i].tail);
		if (strncmp(rest, rules[i].tail, n) != 0)
			continue;
		if (rest[n] == '\0' || (rules[i].prefix && rest[n] == '.'))
			return rules[i].name;
	}
	return NULL;
}

const char *
rdsca_name(const char *issuer, char *buf, size_t len)
{
	char cn[CN_MAX];
	const char *name = NULL;
	size_t n;

	if (len == 0)
		return buf;
	if (issuer == NULL) {
		buf[0] = '\0';
		return buf;
	}
	if (find_cn(issuer, cn, sizeof(cn)))
		name = match(cn);
	if (name == NULL)
		name = issuer;
	n = strlen(name);
	if (n >= len)
		n = len - 1;
	memcpy(buf, name, n);
	buf[n] = '\0';
	return buf;
}

bool
rdsca_is_old(const char *name)
{
	return name != NULL && strcmp(name, "rds-ca-2019") == 0;
}
