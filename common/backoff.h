/* Retry delays for everything that reconnects or retries: worker restarts, database connections,
 * webhook deliveries, the WhatsApp connection. One growth rule and one jitter rule for all of them. */
#ifndef WAGATE_BACKOFF_H
#define WAGATE_BACKOFF_H

/* The delay before retry number `failures` + 1 (failures = failed attempts so far, 0 for the first retry):
 * base = min_ms * 2^failures, capped at max_ms; the result is uniform in [base/2, base] ("equal jitter"),
 * so retries of many things that failed together spread out while the cap still holds. min_ms 0 counts as 1;
 * max_ms below min_ms counts as min_ms. */
unsigned backoff_ms(unsigned failures, unsigned min_ms, unsigned max_ms);
/* backoff_ms with the jitter drawn from r, a uniform value in [0, 1) supplied by the caller (for
 * deterministic tests and for code that must not read the kernel CSPRNG). */
unsigned backoff_ms_with(unsigned failures, unsigned min_ms, unsigned max_ms, double r);

#endif
