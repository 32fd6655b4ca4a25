/*
 * histmerge_rules.c: how each table of the history merges when several
 * bastions observed the same instances (the rules of histmerge.h and
 * docs/CONTRACT.md section 4), as data: per column an SQL aggregate over
 * the rows of every file (alias u), per table the group key and the ranks
 * that pick one observer's row.
 */
#include <stddef.h>
#include <string.h>

#include "histmerge_int.h"

/* ---- how each table merges ----------------------------------------------- */

#define PICK1 "max(CASE WHEN u.rk1 = 1 THEN @ END)"
#define PICK2 "max(CASE WHEN u.rk2 = 1 THEN @ END)"
#define PICK3 "max(CASE WHEN u.rk3 = 1 THEN @ END)"

/* The freshest observer (latest attempt) for what is state, the latest
 * facts for what the server is, the latest error for the error; failing
 * only while every observer still polling it fails. */
static const struct rule instance_rules[] = {
	{ "id", NULL }, { "cluster", "@" }, { "host", "@" }, { "port", "@" },
	{ "role", PICK1 }, { "added_at", "min(@)" },
	{ "retired_at", "CASE WHEN count(*) > count(@) THEN NULL ELSE max(@) END" },
	{ "last_attempt", "max(@)" }, { "last_success", "max(@)" },
	{ "last_error", PICK3 }, { "last_error_at", "max(@)" },
	{ "consecutive_failures",
	  "coalesce(min(CASE WHEN u.retired_at IS NULL THEN @ END), min(@))" },
	{ "facts_at", "max(@)" }, { "can_see_all_sessions", "max(@)" },
	{ "server_version", PICK2 }, { "server_version_num", PICK2 }, { "ssl_enabled", PICK2 },
	{ "force_ssl", PICK2 }, { "cert_subject", PICK2 }, { "cert_issuer", PICK2 },
	{ "cert_not_before", PICK2 }, { "cert_not_after", PICK2 }, { "cert_sha256", PICK2 },
	{ "polls_ok", "sum(@)" },
	{ NULL, NULL },
};
const struct grouped histmerge_instance = {
	"instance", "u.cluster, u.host, u.port",
	{ "coalesce(last_attempt, -1) DESC, src", "coalesce(facts_at, -1) DESC, src",
	  "coalesce(last_error_at, -1) DESC, src" },
	instance_rules, PICK1, "sum(1 << u.src)", NULL,
};

static const struct rule client_rules[] = {
	{ "id", NULL }, { "instance_id", "min(@)" }, { "ident", "min(@)" },
	{ "database", "min(@)" }, { "user", "min(@)" }, { "application", "min(@)" },
	{ "client_addr", "min(@)" }, { "ssl", "min(@)" }, { "tls_version", "min(@)" },
	{ "cipher", "min(@)" }, { "bits", "min(@)" }, { "client_dn", "min(@)" },
	{ "issuer_dn", "min(@)" }, { "first_seen", "min(@)" },
	/* the hostname of the latest sighting: seen_host is the zero-padded
	 * time, then '0' for NULL or '1' and the name (build_clients) */
	{ "client_hostname", "CASE substr(max(u.seen_host), 21, 1) WHEN '1'"
			     " THEN substr(max(u.seen_host), 22) END" },
	{ "last_seen", "max(u.d_seen)" }, { "sessions", "max(@)" },
	{ "samples", "sum(u.d_samples)" }, { "live", "0" }, { "live_from", "0" },
	{ NULL, NULL },
};
const struct grouped histmerge_client = {
	"client_data", "u.mkey, u.instance_id, u.database, u.user, u.application, u.client_addr,"
	" u.ssl, u.tls_version, u.cipher, u.bits, u.client_dn, u.issuer_dn",
	{ NULL, NULL, NULL }, client_rules, "max(@)",
	"u.mkey", NULL,
};

static const struct rule coverage_rules[] = {
	{ "instance_id", "@" }, { "hour", "@" },
	{ "polls", "sum(@)" }, { "failed_polls", "sum(@)" },
	{ "largest_gap_ms", "coalesce(min(CASE WHEN u.polls > u.failed_polls THEN @ END), max(@))" },
	{ "sessions", "max(@)" }, { "single_poll_sessions", "min(@)" },
	{ "missed_sessions", "min(@)" },
	{ "fast_polls", "sum(@)" },	/* schema 5: polls, as polls */
	{ NULL, NULL },
};
static const struct grouped coverage_merge = {
	"coverage", "u.instance_id, u.hour", { NULL, NULL, NULL }, coverage_rules, "sum(@)",
	NULL, NULL,
};

/* An observer with a known count for the hour and no row for a database
 * missed none there. */
static const struct rule missed_rules[] = {
	{ "instance_id", "@" }, { "hour", "@" }, { "database", "@" },
	{ "missed", "CASE WHEN (SELECT count(*) FROM temp.m_coverage_src v"
		    " WHERE v.instance_id = u.instance_id AND v.hour = u.hour"
		    " AND v.missed_sessions IS NOT NULL) > count(*) THEN 0 ELSE min(@) END" },
	{ NULL, NULL },
};
static const struct grouped missed_merge = {
	"missed_session", "u.instance_id, u.hour, u.database", { NULL, NULL, NULL },
	missed_rules, "max(@)", NULL, "missed > 0",
};

/* The observer whose discovery works best speaks for the cluster. */
static const struct rule discovery_rules[] = {
	{ "cluster", "@" }, { "last_attempt", "max(@)" }, { "last_success", "max(@)" },
	{ NULL, NULL },
};
static const struct grouped discovery_merge = {
	"discovery", "u.cluster",
	{ "consecutive_failures, coalesce(last_attempt, -1) DESC, src", NULL, NULL },
	discovery_rules, PICK1, NULL, NULL,
};

const struct rule *
histmerge_rule_for(const struct grouped *g, const char *col)
{
	for (const struct rule *r = g->rules; r->col != NULL; r++)
		if (strcmp(r->col, col) == 0)
			return r;
	return NULL;
}

/* Tables of schema 4 (issue 12's log import), when present. One session
 * (instance, pid, start) seen by two bastions is one session: polled or
 * logged by either; two bastions importing the same log name the same
 * sessions, so per hour the larger count. */
static const struct rule session_rules[] = {
	{ "instance_id", "@" }, { "pid", "@" }, { "start_us", "@" },
	{ "client_id", "min(@)" }, { "polled", "max(@)" }, { "logged", "max(@)" },
	{ NULL, NULL },
};
static const struct grouped session_merge = {
	"session_seen", "u.instance_id, u.pid, u.start_us", { NULL, NULL, NULL },
	session_rules, "max(@)", NULL, NULL,
};
static const struct rule log_cov_rules[] = {
	{ "instance_id", "@" }, { "hour", "@" }, { NULL, NULL },
};
static const struct grouped log_cov_merge = {
	"log_coverage", "u.instance_id, u.hour", { NULL, NULL, NULL }, log_cov_rules, "max(@)",
	NULL, NULL,
};
static const struct rule log_import_rules[] = {
	{ "instance_id", "@" }, { NULL, NULL },
};
static const struct grouped log_import_merge = {
	"log_import", "u.instance_id", { NULL, NULL, NULL }, log_import_rules, "max(@)",
	NULL, NULL,
};

const struct grouped *
histmerge_grouped_for(const char *table)
{
	static const struct grouped *const g[] = { &coverage_merge, &missed_merge,
						   &discovery_merge, &session_merge,
						   &log_cov_merge, &log_import_merge };

	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
		if (strcmp(g[i]->table, table) == 0)
			return g[i];
	return NULL;
}

