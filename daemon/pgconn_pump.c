/*
 * pgconn_pump.c: one statement at a time on a READY connection. It is
 * handed to libpq (PQsend*), flushed while the socket takes it, and its
 * results are read as they arrive (PQconsumeInput, PQgetResult) until
 * libpq says the statement is done; the owner gets one result: the first
 * error, else the last result. The query_timeout deadline runs meanwhile.
 * Between statements a readable socket is the server talking on its own
 * (a notice, a parameter change) or closing on us.
 */
#include <stdbool.h>
#include <stdlib.h>

#include <event2/event.h>

#include "pgconn.h"
#include "pgconn_int.h"

/* A command was handed to libpq (sent is its PQsend* return value). */
static void
query_sent(struct pgconn *pc, int sent)
{
	if (!sent) {
		pgc_fail(pc, "could not send query: %s", pgc_pq_error(pc->conn));
		return;
	}
	pgc_arm_deadline(pc, pc->query_timeout_ms);
	pc->flushing = true;
	pgc_query_step(pc, EV_WRITE);
}

void
pgconn_query(struct pgconn *pc, const char *sql, int nparams, const char *const *values)
{
	if (pgc_set_state(pc, PGC_QUERY, "pgconn_query"))
		query_sent(pc, PQsendQueryParams(pc->conn, sql, nparams, NULL, values, NULL, NULL, 0));
}

void
pgconn_query_simple(struct pgconn *pc, const char *sql)
{
	if (pgc_set_state(pc, PGC_QUERY, "pgconn_query_simple"))
		query_sent(pc, PQsendQuery(pc->conn, sql));
}

void
pgconn_prepare(struct pgconn *pc, const char *name, const char *sql, int nparams)
{
	if (pgc_set_state(pc, PGC_QUERY, "pgconn_prepare"))
		query_sent(pc, PQsendPrepare(pc->conn, name, sql, nparams, NULL));
}

void
pgconn_query_prepared(struct pgconn *pc, const char *name, int nparams,
		      const char *const *values, int binary)
{
	if (pgc_set_state(pc, PGC_QUERY, "pgconn_query_prepared"))
		query_sent(pc, PQsendQueryPrepared(pc->conn, name, nparams, values, NULL, NULL,
						   binary ? 1 : 0));
}

/* Keeps the first error, else the last result. */
static void
keep_result(struct pgconn *pc, PGresult *r)
{
	ExecStatusType kept = pc->result ? PQresultStatus(pc->result) : PGRES_COMMAND_OK;

	if (kept == PGRES_TUPLES_OK || kept == PGRES_COMMAND_OK) {
		PQclear(pc->result);
		pc->result = r;
	} else {
		PQclear(r);
	}
}

/* The statement is done: back to READY, then the owner gets its result. */
static void
query_done(struct pgconn *pc)
{
	PGresult *done;

	pgc_disarm_deadline(pc);
	if (!pgc_set_state(pc, PGC_READY, "end of the query"))
		return;
	if (PQstatus(pc->conn) == CONNECTION_BAD) {
		pgc_fail(pc, "connection lost: %s", pgc_pq_error(pc->conn));
		return;
	}
	if (!pgc_wait_socket(pc, EV_READ))
		return;
	done = pc->result;
	pc->result = NULL;
	if (done == NULL) {
		pgc_fail(pc, "query returned no result");
		return;
	}
	pgc_callback_result(pc, done);
}

/*
 * Drives a running query: flush what is left to send, read what arrived,
 * and collect results until PQgetResult says the query is done.
 */
void
pgc_query_step(struct pgconn *pc, short what)
{
	if ((what & EV_READ) && !PQconsumeInput(pc->conn)) {
		pgc_fail(pc, "connection lost during the query: %s", pgc_pq_error(pc->conn));
		return;
	}
	if (pc->flushing) {
		int f = PQflush(pc->conn);
		if (f < 0) {
			pgc_fail(pc, "could not send query: %s", pgc_pq_error(pc->conn));
			return;
		}
		pc->flushing = f == 1;
	}
	while (!PQisBusy(pc->conn)) {
		PGresult *r = PQgetResult(pc->conn);
		if (r == NULL) {
			query_done(pc);
			return;
		}
		keep_result(pc, r);
	}
	pgc_wait_socket(pc, pc->flushing ? EV_READ | EV_WRITE : EV_READ);
}

/* Between queries: a readable socket is the server closing on us. */
void
pgc_idle_step(struct pgconn *pc)
{
	if (!PQconsumeInput(pc->conn) || PQstatus(pc->conn) == CONNECTION_BAD) {
		pgc_fail(pc, "connection lost: %s", pgc_pq_error(pc->conn));
		return;
	}
	/* Parameter status or notification messages: keep waiting. */
	while (!PQisBusy(pc->conn)) {
		PGresult *r = PQgetResult(pc->conn);
		if (r == NULL)
			break;
		PQclear(r);
	}
	pgc_wait_socket(pc, EV_READ);
}
