-- Schema 1: the history that sslhistd writes and sslhist reads.
-- Times are Unix seconds (UTC) unless a column name ends in _ms or _us.
-- Strings from monitored servers are stored byte-exact as TEXT (they may
-- hold control characters or invalid UTF-8); readers escape them.

-- One row per instance ever polled. Rows are never deleted by the daemon:
-- an instance dropped from the configuration is marked retired.
CREATE TABLE instance (
	id                   INTEGER PRIMARY KEY,
	cluster              TEXT NOT NULL,
	host                 TEXT NOT NULL,
	port                 INTEGER NOT NULL,
	role                 TEXT CHECK (role IN ('writer', 'reader')),
	added_at             INTEGER NOT NULL,
	retired_at           INTEGER,          -- not NULL: no longer polled
	last_attempt         INTEGER,
	last_success         INTEGER,
	last_error           TEXT,
	last_error_at        INTEGER,
	consecutive_failures INTEGER NOT NULL DEFAULT 0,
	-- facts read on each (re)connection
	facts_at             INTEGER,
	server_version       TEXT,             -- server_version, e.g. '15.4'
	server_version_num   INTEGER,          -- PQserverVersion(), e.g. 150004
	ssl_enabled          INTEGER,          -- the server's `ssl` setting
	force_ssl            TEXT,             -- current_setting('rds.force_ssl', true)
	can_see_all_sessions INTEGER,          -- member of pg_read_all_stats
	cert_subject         TEXT,             -- server certificate from our own handshake
	cert_issuer          TEXT,
	cert_not_before      INTEGER,
	cert_not_after       INTEGER,
	cert_sha256          TEXT,             -- hex, colon-separated, upper case
	UNIQUE (cluster, host, port)
);

-- One row per client: the client identity of docs/CONTRACT.md section 3 (cluster, instance, database, user,
-- application, client address, ssl, TLS version, cipher, bits, client DN,
-- issuer DN). `ident` is a digest of that tuple (NULL-safe), so the unique
-- key stays small and an upsert needs one index probe.
CREATE TABLE client (
	id              INTEGER PRIMARY KEY,
	instance_id     INTEGER NOT NULL REFERENCES instance (id),
	ident           BLOB NOT NULL UNIQUE,
	database        TEXT,
	user            TEXT,
	application     TEXT,
	client_addr     TEXT,                  -- NULL for a Unix-socket client
	client_hostname TEXT,                  -- last seen (not part of the identity)
	ssl             INTEGER NOT NULL,
	tls_version     TEXT,
	cipher          TEXT,
	bits            INTEGER,
	client_dn       TEXT,
	issuer_dn       TEXT,
	first_seen      INTEGER NOT NULL,
	last_seen       INTEGER NOT NULL,
	sessions        INTEGER NOT NULL DEFAULT 0,  -- distinct (pid, backend_start)
	samples         INTEGER NOT NULL DEFAULT 0   -- (session, poll) observations
);
CREATE INDEX client_instance ON client (instance_id, last_seen);
CREATE INDEX client_last_seen ON client (last_seen);

-- Sessions alive at the last poll of their instance; deleted when they end,
-- so the table stays as large as the fleet's live sessions.
CREATE TABLE live_session (
	instance_id      INTEGER NOT NULL REFERENCES instance (id),
	pid              INTEGER NOT NULL,
	backend_start_us INTEGER NOT NULL,
	client_id        INTEGER NOT NULL REFERENCES client (id) ON DELETE CASCADE,
	first_seen       INTEGER NOT NULL,
	PRIMARY KEY (instance_id, pid, backend_start_us)
) WITHOUT ROWID;

-- Coverage per instance per hour (hour = Unix seconds of the hour's start).
CREATE TABLE coverage (
	instance_id          INTEGER NOT NULL REFERENCES instance (id),
	hour                 INTEGER NOT NULL,
	polls                INTEGER NOT NULL DEFAULT 0,  -- attempts, failed included
	failed_polls         INTEGER NOT NULL DEFAULT 0,
	largest_gap_ms       INTEGER NOT NULL DEFAULT 0,  -- between successful polls
	sessions             INTEGER NOT NULL DEFAULT 0,  -- sessions first seen
	single_poll_sessions INTEGER NOT NULL DEFAULT 0,  -- ended after one poll
	missed_sessions      INTEGER,                     -- NULL: server cannot count
	PRIMARY KEY (instance_id, hour)
) WITHOUT ROWID;

-- Missed sessions per database and hour (PostgreSQL 14+), for the report.
CREATE TABLE missed_session (
	instance_id INTEGER NOT NULL REFERENCES instance (id),
	hour        INTEGER NOT NULL,
	database    TEXT NOT NULL,
	missed      INTEGER NOT NULL,
	PRIMARY KEY (instance_id, hour, database)
) WITHOUT ROWID;

-- pg_stat_database.sessions as of the last poll, per database, so a restart
-- of the daemon does not lose the baseline.
CREATE TABLE session_counter (
	instance_id INTEGER NOT NULL REFERENCES instance (id),
	datid       INTEGER NOT NULL,
	database    TEXT NOT NULL,
	sessions    INTEGER NOT NULL,
	stats_reset TEXT,
	PRIMARY KEY (instance_id, datid)
) WITHOUT ROWID;

-- Alert hooks: one row per (client, event) decided to fire, made in the
-- same transaction that first stores the client, so it fires once, ever.
CREATE TABLE alert (
	id              INTEGER PRIMARY KEY,
	client_id       INTEGER NOT NULL REFERENCES client (id) ON DELETE CASCADE,
	event           TEXT NOT NULL CHECK (event IN ('non-ssl', 'weak-tls', 'new-client')),
	state           TEXT NOT NULL DEFAULT 'pending'
	                CHECK (state IN ('pending', 'running', 'ok', 'failed')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_ms INTEGER NOT NULL,      -- Unix ms when it may (re)run
	created_at      INTEGER NOT NULL,
	UNIQUE (client_id, event)
);
CREATE INDEX alert_due ON alert (state, next_attempt_ms);

-- Every attempt of a hook, failed ones included.
CREATE TABLE alert_attempt (
	alert_id    INTEGER NOT NULL REFERENCES alert (id) ON DELETE CASCADE,
	attempt     INTEGER NOT NULL,          -- 1, 2, ...
	started_at  INTEGER NOT NULL,
	ended_at    INTEGER,
	exit_status INTEGER,                   -- exit code; 128+N for signal N
	outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'failed', 'timeout', 'pending')),
	error       TEXT,                      -- e.g. spawn failure
	PRIMARY KEY (alert_id, attempt)
) WITHOUT ROWID;
