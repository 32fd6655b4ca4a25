/*
 * driver.c: the driver guess of driver.h, as two tables.
 *
 * Only names a driver or tool sets by itself are mapped (the facts and
 * their sources: docs/SOURCES.md, "Client drivers"):
 * - pgjdbc sends "PostgreSQL JDBC Driver" (PGProperty.APPLICATION_NAME,
 *   from 42.0.0); DBeaver connects through pgjdbc and then sets
 *   "DBeaver <version> - <purpose> <db>".
 * - pgAdmin 4 sets "pgAdmin 4 - DB:<db>" / "pgAdmin 4 - CONN:<id>" through
 *   psycopg (libpq).
 * - PostgreSQL's own programs pass their program name as libpq's
 *   fallback_application_name (psql, pg_dump, the scripts in
 *   src/bin/scripts, the streaming tools of src/bin/pg_basebackup, ...).
 * node-postgres, Npgsql, pgx, lib/pq, psycopg and asyncpg set no name by
 * default, so an empty or unknown name says nothing: NULL. Their entries
 * in the class table still apply if another source names them.
 */
#include "driver.h"

#include <stddef.h>
#include <string.h>

struct name_rule {
	const char *pattern;
	bool prefix;		/* pattern is a prefix, else the whole name */
	const char *driver;
};

static const struct name_rule name_rules[] = {
	{ "PostgreSQL JDBC Driver", false, "pgjdbc" },
	{ "DBeaver ", true, "dbeaver" },
	{ "pgAdmin 4 - ", true, "pgadmin" },
	{ "pgAdmin 4", false, "pgadmin" },
	{ "psql", false, "psql" },
	{ "pg_dump", false, "pg_dump" },
	{ "pg_dumpall", false, "pg_dumpall" },
	{ "pg_restore", false, "pg_restore" },
	{ "pg_basebackup", false, "pg_basebackup" },
	{ "pg_receivewal", false, "pg_receivewal" },
	{ "pg_recvlogical", false, "pg_recvlogical" },
	{ "pg_rewind", false, "pg_rewind" },
	{ "pg_amcheck", false, "pg_amcheck" },
	{ "pg_isready", false, "pg_isready" },
	{ "pg_upgrade", false, "pg_upgrade" },
	{ "pg_createsubscriber", false, "pg_createsubscriber" },
	{ "pgbench", false, "pgbench" },
	{ "vacuumdb", false, "vacuumdb" },
	{ "reindexdb", false, "reindexdb" },
	{ "clusterdb", false, "clusterdb" },
	{ "createdb", false, "createdb" },
	{ "dropdb", false, "dropdb" },
	{ "createuser", false, "createuser" },
	{ "dropuser", false, "dropuser" },
	{ "vacuumlo", false, "vacuumlo" },
	{ "oid2name", false, "oid2name" },
};

/* How a driver treats the server certificate (docs/SOURCES.md, "Client
 * drivers"). */
struct driver_class {
	const char *driver;
	bool verifies_by_default;	/* whenever TLS is on */
	bool libpq;
};

static const struct driver_class classes[] = {
	{ "pgjdbc", true, false },
	{ "dbeaver", true, false },
	{ "node-postgres", true, false },
	{ "npgsql", false, false },
	{ "pgadmin", false, true },
	{ "psql", false, true },
	{ "pg_dump", false, true },
	{ "pg_dumpall", false, true },
	{ "pg_restore", false, true },
	{ "pg_basebackup", false, true },
	{ "pg_receivewal", false, true },
	{ "pg_recvlogical", false, true },
	{ "pg_rewind", false, true },
	{ "pg_amcheck", false, true },
	{ "pg_isready", false, true },
	{ "pg_upgrade", false, true },
	{ "pg_createsubscriber", false, true },
	{ "pgbench", false, true },
	{ "vacuumdb", false, true },
	{ "reindexdb", false, true },
	{ "clusterdb", false, true },
	{ "createdb", false, true },
	{ "dropdb", false, true },
	{ "createuser", false, true },
	{ "dropuser", false, true },
	{ "vacuumlo", false, true },
	{ "oid2name", false, true },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *
driver_guess(const char *application_name)
{
	const struct name_rule *r;
	size_t i;

	if (application_name == NULL || *application_name == '\0')
		return NULL;
	for (i = 0; i < NELEM(name_rules); i++) {
		r = &name_rules[i];
		if (r->prefix ? strncmp(application_name, r->pattern, strlen(r->pattern)) == 0
			      : strcmp(application_name, r->pattern) == 0)
			return r->driver;
	}
	return NULL;
}

static const struct driver_class *
find_class(const char *driver)
{
	size_t i;

	if (driver == NULL)
		return NULL;
	for (i = 0; i < NELEM(classes); i++)
		if (strcmp(classes[i].driver, driver) == 0)
			return &classes[i];
	return NULL;
}

bool
driver_verifies_by_default(const char *driver)
{
	const struct driver_class *c = find_class(driver);

	return c != NULL && c->verifies_by_default;
}

bool
driver_is_libpq(const char *driver)
{
	const struct driver_class *c = find_class(driver);

	return c != NULL && c->libpq;
}
