/* libFuzzer target: the mock phone's Message text reader (fw_text.h) on decrypted bytes, checking what it
 * promises: a found text is NUL-terminated, within the output and the cap, and a text the writer encodes reads
 * back the same. Listed for tests/fuzz/run.sh as: fakewa_text tests/fakewa/fw_text_fuzz.c tests/fakewa/fw_text.c
 * common/xmalloc.c common/log.c */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fw_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size > 0 ? size : 1), *enc;
	char out[FW_TEXT_MAX + 1], back[FW_TEXT_MAX + 1];
	size_t enclen;
	int r;

	memcpy(buf, data, size);
	r = fw_text_extract(buf, size, out, sizeof(out));
	if (r < -1 || r > 1 || (r == 1 && strlen(out) > FW_TEXT_MAX))
		abort();
	if (r == 1) {
		if (fw_text_encode(out, &enc, &enclen) == -1 || fw_text_extract(enc, enclen, back, sizeof(back)) != 1 ||
		    strcmp(out, back) != 0)
			abort();
		free(enc);
	}
	free(buf);
	return 0;
}
