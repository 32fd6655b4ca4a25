/*
 * instfacts.h: the facts of an instance, read on each (re)connection:
 * statq_facts()'s row (version, ssl, rds.force_ssl, whether the role sees
 * every session) and the certificate the server presented.
 */
#ifndef SSLHIST_INSTFACTS_H
#define SSLHIST_INSTFACTS_H

#include <libpq-fe.h>

#include "pollrec.h"

struct log_obj;

/*
 * The facts from the facts query's result `res` on connection `conn`, of
 * a server of PQserverVersion() `server_version`: *out is a new
 * instance_facts (free with instance_facts_free) and NULL is returned, or
 * *out is NULL and the reason is returned. A certificate that cannot be
 * read is logged (as `obj`) and left zeroed: the facts are still good.
 */
const char *instfacts_read(const PGresult *res, PGconn *conn, int server_version,
			   const struct log_obj *obj, struct instance_facts **out);

/* Logs the connection at info (server version, TLS, certificate issuer),
 * and warns when the role cannot see other users' sessions. */
void instfacts_log(const struct instance_facts *f, PGconn *conn, const struct log_obj *obj);

#endif
