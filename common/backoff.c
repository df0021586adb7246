/* Exponential backoff with equal jitter (see backoff.h). */
#include "backoff.h"
#include "random.h"

unsigned
backoff_ms_with(unsigned failures, unsigned min_ms, unsigned max_ms, double r)
{
	unsigned long long d;
	unsigned i;

	if (min_ms == 0)
		min_ms = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	d = min_ms;
	for (i = 0; i < failures && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	if (r < 0 || r >= 1)
		r = 0;
	return (unsigned)(d / 2 + (unsigned long long)(r * (double)(d - d / 2) + 0.5));
}

unsigned
backoff_ms(unsigned failures, unsigned min_ms, unsigned max_ms)
{
	/* 2^24 steps is finer than any delay we use. */
	return backoff_ms_with(failures, min_ms, max_ms, random_uniform(1u << 24) / (double)(1u << 24));
}
