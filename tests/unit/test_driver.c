/* Unit tests of lib/driver.c: the application_name -> driver table. */
#include "check.h"
#include "driver.h"

static const struct {
	const char *app;
	const char *want;
} guesses[] = {
	{ "PostgreSQL JDBC Driver", "pgjdbc" },
	{ "PostgreSQL JDBC Driver ", NULL },		/* whole name only */
	{ "postgresql jdbc driver", NULL },		/* case matters */
	{ "DBeaver 23.1.0 - Main <db>", "dbeaver" },
	{ "DBeaver 24.0.0 - SQLEditor <Script-3.sql>", "dbeaver" },
	{ "DBeaver", NULL },
	{ "pgAdmin 4 - DB:postgres", "pgadmin" },
	{ "pgAdmin 4 - CONN:1234567", "pgadmin" },
	{ "pgAdmin 4", "pgadmin" },
	{ "psql", "psql" },
	{ "psqlx", NULL },
	{ "pg_dump", "pg_dump" },
	{ "pg_dumpall", "pg_dumpall" },
	{ "pg_restore", "pg_restore" },
	{ "pg_basebackup", "pg_basebackup" },
	{ "pg_receivewal", "pg_receivewal" },
	{ "pgbench", "pgbench" },
	{ "vacuumdb", "vacuumdb" },
	{ "pg_isready", "pg_isready" },
	{ "", NULL },
	{ NULL, NULL },
	{ "myapp", NULL },
	{ "node-postgres", NULL },	/* node-postgres sends no name itself */
	{ "\x1b[31mpsql", NULL },
};

static const struct {
	const char *driver;
	bool verifies, libpq;
} classes[] = {
	{ "pgjdbc", true, false },
	{ "dbeaver", true, false },
	{ "node-postgres", true, false },
	{ "npgsql", false, false },
	{ "pgadmin", false, true },
	{ "psql", false, true },
	{ "pg_dump", false, true },
	{ "pg_basebackup", false, true },
	{ "pgbench", false, true },
	{ "unknown", false, false },
	{ NULL, false, false },
};

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(guesses) / sizeof(guesses[0]); i++)
		CHECK_STR(driver_guess(guesses[i].app), guesses[i].want);
	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		CHECK_INT(driver_verifies_by_default(classes[i].driver), classes[i].verifies);
		CHECK_INT(driver_is_libpq(classes[i].driver), classes[i].libpq);
	}
	/* Every driver the name table yields has a class. */
	CHECK(driver_is_libpq(driver_guess("pg_amcheck")));
	CHECK(driver_verifies_by_default(driver_guess("PostgreSQL JDBC Driver")));
	return check_done();
}
