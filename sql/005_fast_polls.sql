-- Schema 5: fast polling (issue 12). An instance whose poll counted missed
-- sessions is polled every fast_interval for a while (docs/CONTRACT.md
-- section 2); the hour's coverage counts those polls, so that
-- `sslhist report` can say how many polls were made fast (coverage.fast_polls).
-- They are included in `polls` as well: fast_polls is a part of it.
ALTER TABLE coverage ADD COLUMN fast_polls INTEGER NOT NULL DEFAULT 0;
