/* libFuzzer target for the binary node decoder: decode; if it decodes, encode again, decode again and
 * check the trees are equal and the encoding is stable. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wa_binary.h"
#include "wa_node.h"

#define NODE_FUZZ_MAX_LEN (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: any frame plaintext. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wa_node *n, *m;
	unsigned char *e1, *e2;
	size_t l1, l2;
	char err[128];

	if (size > NODE_FUZZ_MAX_LEN)
		return 0;
	n = wa_binary_decode(data, size, err, sizeof(err));
	if (n == NULL) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	free(wa_node_to_string(n));
	if (wa_binary_encode(n, &e1, &l1) == -1)
		abort();
	m = wa_binary_decode(e1, l1, err, sizeof(err));
	if (m == NULL || !wa_node_equal(n, m))
		abort();
	if (wa_binary_encode(m, &e2, &l2) == -1 || l1 != l2 || memcmp(e1, e2, l1) != 0)
		abort();
	free(e1);
	free(e2);
	wa_node_free(m);
	wa_node_free(n);
	return 0;
}
