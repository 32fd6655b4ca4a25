-- Schema 6: clients behind PgBouncer (issue 15, docs/CONTRACT.md sections 2 and 4).
--
-- A [pooler NAME] is polled like an instance and has an instance row of the
-- cluster it fronts, at the pooler's host:port, with `pooler` set to its
-- name: the sessions its SHOW CLIENTS lists are live sessions of that row,
-- their clients its clients (each with its own leg to the pooler), so
-- coverage, samples, single-poll sessions and hooks work as for an
-- instance. `via` of a client is the pooler name of its instance row.
--
-- A pooler's own server connections, as an instance's poll sees them, are
-- clients of that instance with `pooler_server` = the pooler's name: one
-- client per (pooler, database, user, TLS leg), whatever application_name
-- PgBouncer forwards (application stays NULL), driver "pgbouncer".
ALTER TABLE instance ADD COLUMN pooler TEXT;                     -- NULL: a database instance
ALTER TABLE instance ADD COLUMN pooler_client_tls_sslmode TEXT;  -- SHOW CONFIG, on each connection
ALTER TABLE instance ADD COLUMN pooler_server_tls_sslmode TEXT;
ALTER TABLE instance ADD COLUMN pooler_server_tls_ca_file TEXT;
ALTER TABLE client_data ADD COLUMN pooler_server TEXT;
-- The view `client` stays as it is (other migrations extend it): readers join
-- client_data and instance for pooler_server and via.
