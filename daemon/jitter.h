/*
 * jitter.h: random numbers that spread timers (poll schedules, backoff),
 * not for secrets.
 */
#ifndef SSLHIST_JITTER_H
#define SSLHIST_JITTER_H

double jitter_uniform(void);	/* [0, 1) */

#endif
