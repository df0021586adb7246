/* libFuzzer target: fakewa's control API request parser, on the whole input and on a prefix the first two
 * bytes choose, checking what a DONE promises (used within the input, a bounded NUL-terminated body). Listed
 * for tests/fuzz/run.sh as: fakewa_http tests/fakewa/fw_http_fuzz.c tests/fakewa/fw_http.c common/xmalloc.c
 * common/log.c */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fw_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse len bytes of a private copy (so reads past it are caught) and check the result. */
static void
fuzz_parse(const uint8_t *data, size_t len)
{
	char *buf = malloc(len > 0 ? len : 1), err[128];
	struct fw_http_req *req = NULL;
	size_t used = 0;
	int status = 0, r;

	memcpy(buf, data, len);
	r = fw_http_parse(buf, len, &req, &used, &status, err, sizeof(err));
	if (r == FW_HTTP_DONE) {
		if (req == NULL || used > len || req->body_len > FW_HTTP_MAX_BODY || req->body[req->body_len] != '\0' ||
		    req->path[0] != '/')
			abort();
	} else if (req != NULL || (r == FW_HTTP_ERROR && status != 400 && status != 413))
		abort();
	else if (r == FW_HTTP_AGAIN && len >= FW_HTTP_MAX_REQUEST)
		abort();	/* the caller buffers no more than this */
	fw_http_req_free(req);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(data, size);
	if (size > 2)
		fuzz_parse(data, ((size_t)data[0] << 8 | data[1]) % size);	/* a request cut short */
	return 0;
}
