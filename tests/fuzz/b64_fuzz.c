/* Fuzz the strict base64 decoder: it must never overrun, and whatever it accepts must re-encode to the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: decode into an exact-size buffer, then compare the re-encoding. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max, n = 0;
	uint8_t *out;
	char *enc;

	if (size > 65536)
		return 0;
	max = b64_decoded_max(size);
	out = malloc(max + 1);
	if (out == NULL)
		return 0;
	if (b64_decode((const char *)data, size, out, max, &n) == 0) {
		if (n > max)
			abort();
		enc = b64_encode_alloc(out, n);
		if (strlen(enc) != size || memcmp(enc, data, size) != 0)
			abort();
		free(enc);
		/* A buffer one byte short must be refused, not overrun. */
		if (n > 0 && b64_decode((const char *)data, size, out, n - 1, &n) == 0)
			abort();
	}
	free(out);
	return 0;
}
