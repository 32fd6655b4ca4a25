/* Unit tests of lib/rdsca.c: CA names from server certificate issuers. */
#include "check.h"
#include "rdsca.h"

static const struct {
	const char *issuer;
	const char *want;
} cases[] = {
	{ "CN=Amazon RDS us-east-1 2019 CA,OU=Amazon RDS,O=Amazon Web Services\\, Inc.,"
	  "ST=Washington,L=Seattle,C=US", "rds-ca-2019" },
	{ "/C=US/ST=Washington/L=Seattle/O=Amazon Web Services, Inc./OU=Amazon RDS/"
	  "CN=Amazon RDS eu-west-1 2019 CA", "rds-ca-2019" },
	{ "CN=Amazon RDS us-east-1 Subordinate CA RSA2048 G1.A.2,O=Amazon.com,C=US",
	  "rds-ca-rsa2048-g1" },
	{ "CN=Amazon RDS ap-southeast-2 Subordinate CA RSA2048 G1.A.10,OU=x", "rds-ca-rsa2048-g1" },
	{ "CN=Amazon RDS us-gov-west-1 Subordinate CA RSA4096 G1.B.1", "rds-ca-rsa4096-g1" },
	{ "CN=Amazon RDS us-west-2 Subordinate CA ECC384 G1.C.3,O=Amazon.com", "rds-ca-ecc384-g1" },
	{ "CN=Amazon RDS us-west-2 Subordinate CA ECC384 G1", "rds-ca-ecc384-g1" },
	/* Not an RDS CA (or not quite): the issuer itself. */
	{ "CN=sslhist test CA", "CN=sslhist test CA" },
	{ "CN=Amazon RDS Root 2019 CA,OU=Amazon RDS", "CN=Amazon RDS Root 2019 CA,OU=Amazon RDS" },
	{ "CN=Amazon RDS us-east-1 2019 CAx", "CN=Amazon RDS us-east-1 2019 CAx" },
	{ "CN=Amazon RDS us-east-1 Subordinate CA RSA2048 G1X", "CN=Amazon RDS us-east-1 Subordinate CA RSA2048 G1X" },
	{ "OU=CN=Amazon RDS us-east-1 2019 CA", "OU=CN=Amazon RDS us-east-1 2019 CA" },
	{ "", "" },
	{ NULL, "" },
};

int
main(void)
{
	char buf[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STR(rdsca_name(cases[i].issuer, buf, sizeof(buf)), cases[i].want);
	CHECK(rdsca_is_old("rds-ca-2019"));
	CHECK(!rdsca_is_old("rds-ca-rsa2048-g1"));
	CHECK(!rdsca_is_old(NULL));
	CHECK_STR(rdsca_name("CN=a long issuer", buf, 5), "CN=a");
	return check_done();
}
