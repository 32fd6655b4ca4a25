/*
 * metricsload.h: a new /metrics registry (metrics.h) whose client gauges
 * are read from the store on the store thread (writer.h), so the loop runs
 * no SQL when a reload first sets metrics_listen.
 *
 * metricsload_start() makes the registry and queues the request; until
 * `ready` runs on the loop the registry is the store thread's alone (no
 * one else has it), then it is the caller's. Before writer_start() the
 * request runs at once: `ready` has run when metricsload_start returns.
 * A poll stored while the request waits counts in the gauges read; one
 * stored between the read and `ready` (at a reload, milliseconds) is not
 * counted until its client next changes.
 */
#ifndef SSLHIST_METRICSLOAD_H
#define SSLHIST_METRICSLOAD_H

struct metrics;
struct writer;

/* `ready` gets the registry (the caller's to free). 0, or -1 out of
 * memory (then `ready` never runs). If the daemon exits first the
 * registry is freed unseen. */
int metricsload_start(struct writer *w, void (*ready)(void *arg, struct metrics *m),
		      void *arg);

#endif
