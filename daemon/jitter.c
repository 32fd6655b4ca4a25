/*
 * jitter.c: jitter_uniform() of jitter.h, seeded once from getrandom.
 */
#include <stdint.h>
#include <sys/random.h>

#include "clock.h"
#include "jitter.h"

double
jitter_uniform(void)
{
	static uint64_t s;

	if (s == 0 && (getrandom(&s, sizeof(s), 0) != sizeof(s) || s == 0))
		s = (uint64_t)mono_ms() | 1;
	/* xorshift64*: plenty for spreading timers. */
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return (double)((s * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}
