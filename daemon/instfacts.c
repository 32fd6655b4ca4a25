/*
 * instfacts.c: reading an instance's facts (instfacts.h).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "instfacts.h"
#include "log.h"
#include "servercert.h"
#include "statquery.h"

static char *
dup_value(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

static bool
value_true(const PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

const char *
instfacts_read(const PGresult *res, PGconn *conn, int server_version, const struct log_obj *obj,
	       struct instance_facts **out)
{
	struct instance_facts *f;

	*out = NULL;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return PQresultErrorMessage(res);
	if (PQntuples(res) != 1 || PQnfields(res) != STATQ_FACT_COUNT)
		return "unexpected result shape";
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return "out of memory";
	f->server_version = dup_value(res, 0, STATQ_FACT_SERVER_VERSION);
	f->server_version_num = server_version;
	f->ssl_enabled = strcmp(PQgetvalue(res, 0, STATQ_FACT_SSL), "on") == 0;
	f->force_ssl = dup_value(res, 0, STATQ_FACT_FORCE_SSL);
	f->can_see_all_sessions = value_true(res, 0, STATQ_FACT_CAN_SEE_ALL);
	if (servercert_read(conn, &f->cert) < 0)
		olog(LVL_WARNING, obj, "could not read the server certificate");
	*out = f;
	return NULL;
}

void
instfacts_log(const struct instance_facts *f, PGconn *conn, const struct log_obj *obj)
{
	const char *proto = PQsslAttribute(conn, "protocol");

	olog(LVL_INFO, obj, "connected: PostgreSQL %s, %s%s%s",
	     f->server_version ? f->server_version : "?",
	     proto ? proto : "no TLS", f->cert.issuer ? ", server certificate issued by " : "",
	     f->cert.issuer ? f->cert.issuer : "");
	if (!f->can_see_all_sessions)
		olog(LVL_WARNING, obj,
		     "role \"%s\" is not a member of pg_read_all_stats: sessions of other "
		     "users are invisible and will not be recorded (grant pg_monitor)",
		     PQuser(conn));
}
