-- Schema 2: a poll that finds nothing new writes nothing per client.
--
-- In schema 1 every poll updated last_seen and samples of every client it
-- saw. Now a client with live sessions is not touched until one of its
-- sessions begins or ends; its last_seen and samples follow from its
-- instance's successful polls, and the view `client` (the table's old name,
-- same columns) computes them at read time, so what a poll stored is
-- visible as soon as it ends. The stored rows are in `client_data`:
--
--   live       sessions of the client in live_session
--   live_from  the sum of their live_session.from_poll
--   last_seen  the time of the last poll that saw the client, or, while
--              live > 0, 9223372036854775807 (LIVE): "at the instance's last
--              successful poll". LIVE sorts after every time, so the index
--              (instance_id, last_seen) still lists an instance's clients in
--              last-seen order, live ones last.
--   samples    the samples of sessions that ended, plus those that were
--              never live-tracked; a live session adds one per successful
--              poll from its from_poll on:
--              samples + live * (instance.polls_ok + 1) - live_from.
--
-- instance.polls_ok counts successful polls; a session first seen in poll N
-- has from_poll N + 1 (its first sample is stored with the client). When it
-- ends, its samples move into client_data.samples.

ALTER TABLE client RENAME TO client_data;
ALTER TABLE client_data ADD COLUMN live INTEGER NOT NULL DEFAULT 0;
ALTER TABLE client_data ADD COLUMN live_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instance ADD COLUMN polls_ok INTEGER NOT NULL DEFAULT 0;
-- Sessions live at the upgrade have their samples stored up to now: they
-- count again from the next poll (polls_ok is 0, so from_poll is 1).
ALTER TABLE live_session ADD COLUMN from_poll INTEGER NOT NULL DEFAULT 1;

UPDATE client_data SET
	live = (SELECT count(*) FROM live_session l WHERE l.client_id = client_data.id),
	live_from = (SELECT count(*) FROM live_session l WHERE l.client_id = client_data.id),
	last_seen = 9223372036854775807
WHERE id IN (SELECT client_id FROM live_session);

CREATE VIEW client AS
SELECT c.id, c.instance_id, c.ident, c.database, c.user, c.application, c.client_addr,
	c.client_hostname, c.ssl, c.tls_version, c.cipher, c.bits, c.client_dn, c.issuer_dn,
	c.first_seen,
	CASE WHEN c.last_seen = 9223372036854775807
		THEN coalesce(i.last_success, c.first_seen) ELSE c.last_seen END AS last_seen,
	c.sessions,
	c.samples + c.live * (i.polls_ok + 1) - c.live_from AS samples
FROM client_data c JOIN instance i ON i.id = c.instance_id;

-- Ad-hoc SQL on the history keeps its schema-1 form: deleting clients and
-- setting their times go to client_data (a live client stays LIVE).
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
