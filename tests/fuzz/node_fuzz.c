/* libFuzzer target for the binary node decoder: decode; if it decodes, encode again, decode again and
 * check the trees are equal (up to the one rendering wa_binary.h allows to change, below) and the encoding is
 * stable. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wa_binary.h"
#include "wa_node.h"

#define NODE_FUZZ_MAX_LEN (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The tree as a second decode renders it: under the JID keys (wa_binary_key_is_jid) a bare server is written as
 * a JID and read back plain, so a value "@lid" read from a raw string comes back "lid" (wa_binary.h: "@server"
 * and "server" are the two renderings of one wire JID; our own <iq to="@g.us"> relies on it). Everything else
 * must come back exactly.
 */
static void
node_fuzz_canon(struct wa_node *n)
{
	size_t i;

	for (i = 0; i < n->nattrs; i++) {
		char *v = n->attrs[i].value;

		if (v[0] == '@' && wa_binary_key_is_jid(n->attrs[i].key) && wa_jid_is_server_name(v + 1))
			memmove(v, v + 1, strlen(v));
	}
	if (n->ctype == WA_CONTENT_NODES)
		for (i = 0; i < n->nchildren; i++)
			node_fuzz_canon(n->children[i]);
}

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
	if (m == NULL)
		abort();
	if (!wa_node_equal(n, m)) {
		node_fuzz_canon(n);
		if (!wa_node_equal(n, m))
			abort();
	}
	if (wa_binary_encode(m, &e2, &l2) == -1 || l1 != l2 || memcmp(e1, e2, l1) != 0)
		abort();
	free(e1);
	free(e2);
	wa_node_free(m);
	wa_node_free(n);
	return 0;
}
