/*
 * driver.h: guesses the client driver from an application_name.
 *
 * The table in driver.c maps the default application names that drivers
 * and tools set (from their sources) to a short driver name; NULL when the
 * name says nothing.
 */
#ifndef SSLHIST_DRIVER_H
#define SSLHIST_DRIVER_H

#include <stdbool.h>

const char *driver_guess(const char *application_name);

/* The driver verifies the server certificate by default whenever TLS is on
 * (pgjdbc with ssl=true, node-postgres), so it needs the new CA. */
bool driver_verifies_by_default(const char *driver);
/* The driver is libpq-based (verifies only with verify-ca/verify-full or a
 * root.crt). */
bool driver_is_libpq(const char *driver);

#endif
