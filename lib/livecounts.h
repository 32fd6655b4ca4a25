/*
 * livecounts.h: reading the client columns that schema 2 derives
 * (sql/002_live_counts.sql), as SQL fragments shared by the daemon's store
 * and the query tool, so that the rule lives in one place besides the view.
 *
 * A client with live sessions has the stored last_seen LIVE_LAST_SEEN: it
 * was last seen at its instance's last successful poll; its samples grow by
 * one per live session and successful poll of the instance. `c` names the
 * client_data row and `i` its instance row (SQL aliases, as string
 * literals: LIVE_SEEN("c", "i")).
 */
#ifndef SSLHIST_LIVECOUNTS_H
#define SSLHIST_LIVECOUNTS_H

/* INT64_MAX: sorts after every time, so the index (instance_id, last_seen)
 * still lists clients in last-seen order. */
#define LIVE_LAST_SEEN "9223372036854775807"

/* When a client with live sessions was last seen. */
#define LIVE_SEEN(c, i) "coalesce(" i ".last_success, " c ".first_seen)"
/* When any client was last seen. */
#define LIVE_DERIVED_SEEN(c, i) \
	"CASE WHEN " c ".last_seen = " LIVE_LAST_SEEN " THEN " LIVE_SEEN(c, i) \
	" ELSE " c ".last_seen END"
/* Its samples: those settled plus those of its live sessions. */
#define LIVE_SAMPLES(c, i) c ".samples + " c ".live * (" i ".polls_ok + 1) - " c ".live_from"
/* Last seen at or after parameter p, with the cursor on the stored value. */
#define LIVE_SEEN_SINCE(c, i, p) \
	c ".last_seen >= " p " AND (" c ".last_seen < " LIVE_LAST_SEEN " OR " LIVE_SEEN(c, i) \
	" >= " p ")"

#endif
