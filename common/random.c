#include "random.h"
#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

void
random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal("getrandom");
		}
		p += r;
		n -= (size_t)r;
	}
}

void
random_uuid(char out[37], int upper)
{
	unsigned char b[16];

	random_bytes(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, upper ?
	    "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X" :
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

unsigned
random_uniform(unsigned bound)
{
	uint32_t r, min;

	if (bound < 2)
		return 0;
	min = (uint32_t)(-bound % bound);
	do
		random_bytes(&r, sizeof(r));
	while (r < min);
	return r % bound;
}
