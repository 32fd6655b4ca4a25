-- Schema 4: sessions that server logs named (sslhist import-log, log_command).
--
-- A session is one (instance, pid, backend start). Polls and logs see the
-- same sessions, and a session both sampled and logged counts once, so
-- both leave a row here: a poll when it first sees a session (kept after
-- the session ends, until retention expires it, so a log imported later
-- finds it), an import when a log names one no row has yet. A logged
-- session matches a row of the same instance and pid whose start lies in
-- the window the log line allows (docs/CONTRACT.md section 4); importing
-- the same lines again finds their own rows and adds nothing.
CREATE TABLE session_seen (
	instance_id INTEGER NOT NULL REFERENCES instance (id),
	pid         INTEGER NOT NULL,
	start_us    INTEGER NOT NULL,          -- poll: backend_start; log: the line's time
	client_id   INTEGER NOT NULL REFERENCES client_data (id) ON DELETE CASCADE,
	polled      INTEGER NOT NULL,          -- 1: a poll saw it
	logged      INTEGER NOT NULL,          -- 1: a log named it
	PRIMARY KEY (instance_id, pid, start_us)
) WITHOUT ROWID;
CREATE INDEX session_seen_client ON session_seen (client_id);

-- Of a client's sessions, those a server log showed. A client only logs
-- saw has samples 0.
ALTER TABLE client_data ADD COLUMN logged_sessions INTEGER NOT NULL DEFAULT 0;

-- Sessions that only a log showed, per instance and hour of their start:
-- the report's logged_sessions, and what names missed sessions.
CREATE TABLE log_coverage (
	instance_id     INTEGER NOT NULL REFERENCES instance (id),
	hour            INTEGER NOT NULL,
	logged_sessions INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (instance_id, hour)
) WITHOUT ROWID;

-- Per instance: the newest line imported (SSLHIST_LOG_SINCE of log_command).
CREATE TABLE log_import (
	instance_id INTEGER PRIMARY KEY REFERENCES instance (id),
	newest_us   INTEGER NOT NULL,
	imported_at INTEGER NOT NULL
);

-- The view of sql/002_live_counts.sql with logged_sessions; its triggers
-- go with it and come back unchanged.
DROP VIEW client;
CREATE VIEW client AS
SELECT c.id, c.instance_id, c.ident, c.database, c.user, c.application, c.client_addr,
	c.client_hostname, c.ssl, c.tls_version, c.cipher, c.bits, c.client_dn, c.issuer_dn,
	c.first_seen,
	CASE WHEN c.last_seen = 9223372036854775807
		THEN coalesce(i.last_success, c.first_seen) ELSE c.last_seen END AS last_seen,
	c.sessions,
	c.samples + c.live * (i.polls_ok + 1) - c.live_from AS samples,
	c.logged_sessions
FROM client_data c JOIN instance i ON i.id = c.instance_id;

CREATE TRIGGER client_delete INSTEAD OF DELETE ON client
BEGIN
	DELETE FROM client_data WHERE id = OLD.id;
END;

CREATE TRIGGER client_update INSTEAD OF UPDATE OF first_seen, last_seen, client_hostname ON client
BEGIN
	UPDATE client_data SET first_seen = NEW.first_seen, client_hostname = NEW.client_hostname,
		last_seen = CASE WHEN live > 0 THEN last_seen ELSE NEW.last_seen END
	WHERE id = OLD.id;
END;
