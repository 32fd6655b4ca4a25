/*
 * migrations.h: the numbered schema migrations of sql/, compiled in.
 * migrations[i] brings the database from user_version i to i + 1.
 */
#ifndef SSLHIST_MIGRATIONS_H
#define SSLHIST_MIGRATIONS_H

struct migration {
	const char *name;	/* file name, e.g. "001_init.sql" */
	const char *sql;
};

extern const struct migration migrations[];
extern const int migration_count;

#endif
