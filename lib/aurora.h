/*
 * aurora.h: Aurora endpoint names.
 *
 * A cluster endpoint is NAME.cluster-ID.REGION.rds.amazonaws.com (or
 * cluster-ro-, cluster-custom-); the instance SERVER_ID of that cluster is
 * SERVER_ID.ID.REGION.rds.amazonaws.com. The daemon's discovery and
 * `sslhistd --check` both name instances this way.
 */
#ifndef SSLHIST_AURORA_H
#define SSLHIST_AURORA_H

/*
 * The host of instance server_id behind endpoint (e.g. "db-1" behind
 * "app.cluster-ro-abc.eu-west-1.rds.amazonaws.com" is
 * "db-1.abc.eu-west-1.rds.amazonaws.com"; a name without a dot gives
 * server_id itself). malloc'd; NULL if out of memory.
 */
char *aurora_instance_host(const char *endpoint, const char *server_id);

#endif
