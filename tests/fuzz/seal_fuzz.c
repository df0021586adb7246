/* Fuzz seal_decrypt's blob parser: any bytes, opened with two fixed keys, must be refused or opened without
 * overrun; a blob that opens is sealed again and must open to the same plaintext. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seal.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char cur[SEAL_KEY_LEN], old[SEAL_KEY_LEN];
	struct seal_keys keys = { cur, old };
	unsigned char ctx[SEAL_CONTEXT_MAX], *out, *blob, *again;
	size_t ctxlen, outlen, bloblen, againlen;
	enum seal_which which;
	char err[256];

	if (size > 65536)
		return 0;
	memset(cur, 0x11, sizeof(cur));
	memset(old, 0x22, sizeof(old));
	ctxlen = seal_context_prekey("0f8fad5b-d9cb-469f-a165-70867728950e", 7, ctx);
	if (seal_decrypt(&keys, ctx, ctxlen, data, size, &out, &outlen, &which, err, sizeof(err)) == -1) {
		if (out != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	if (outlen > size || (which == SEAL_PLAIN && (outlen != size || memcmp(out, data, size) != 0)))
		abort();
	if (seal_encrypt(cur, ctx, ctxlen, out, outlen, &blob, &bloblen, err, sizeof(err)) == -1 ||
	    seal_decrypt(&keys, ctx, ctxlen, blob, bloblen, &again, &againlen, &which, err, sizeof(err)) == -1 ||
	    which != SEAL_CURRENT || againlen != outlen || memcmp(again, out, outlen) != 0)
		abort();
	free_wiped(again, againlen > 0 ? againlen : 1);
	free(blob);
	free_wiped(out, outlen > 0 ? outlen : 1);
	return 0;
}
