-- Schema 3: the state of `instances = discover` per cluster.
--
-- A discovery that fails keeps the instances found before polled; the
-- error is kept here (not only in the log) so that `sslhist report` can say
-- that the list of instances may be out of date. Times are Unix seconds.
CREATE TABLE discovery (
	cluster              TEXT PRIMARY KEY,
	last_attempt         INTEGER NOT NULL,
	last_success         INTEGER,
	last_error           TEXT,
	last_error_at        INTEGER,
	consecutive_failures INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
