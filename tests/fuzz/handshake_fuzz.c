/* libFuzzer target: the handshake message parsers that face the network. The first input byte picks:
 * 0 the server's handling of a client hello (and, when that succeeds, of a client finish made from the
 * rest), 1 the client's handling of a server hello, 2 the certificate chain verifier. Keys are fixed so
 * runs are reproducible. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wa_cert.h"
#include "wa_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key_a[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t key_b[32] = { 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 };
static const uint8_t chain[] = { 0x0a, 0x02, 0x0a, 0x00, 0x12, 0x02, 0x0a, 0x00 };

/* Server side: client hello, then client finish. */
static void
fuzz_server(const uint8_t *data, size_t size)
{
	struct wa_handshake *s;
	uint8_t pub[32], cs[32], *out = NULL, *pl = NULL;
	size_t outlen, pllen, split = size > 0 ? data[0] : 0;
	char err[256];

	data++, size--;
	if (split > size)
		split = size;
	if (wa_noise_pubkey(key_a, pub) != 0)
		abort();
	s = wa_handshake_server_new(key_a, pub, chain, sizeof(chain));
	if (wa_handshake_set_ephemeral(s, key_b) != 0)
		abort();
	if (wa_handshake_server_on_client_hello(s, data, split, &out, &outlen, err, sizeof(err)) == 0) {
		free(out);
		if (wa_handshake_server_on_client_finish(s, data + split, size - split, cs, &pl, &pllen, err,
		    sizeof(err)) == 0)
			free(pl);
	} else if (out != NULL || err[0] == '\0')
		abort();
	wa_handshake_free(s);
}

/* Client side: a server hello in answer to our hello. */
static void
fuzz_client(const uint8_t *data, size_t size)
{
	struct wa_handshake *c;
	uint8_t *out = NULL;
	size_t outlen;
	char err[256];

	c = wa_handshake_client_new(key_a, key_b, (const uint8_t *)"p", 1);
	if (wa_handshake_set_ephemeral(c, key_b) != 0 || wa_handshake_client_hello(c, &out, &outlen) != 0)
		abort();
	free(out);
	out = NULL;
	if (wa_handshake_client_on_server_hello(c, data, size, &out, &outlen, err, sizeof(err)) == 0)
		free(out);
	else if (out != NULL || err[0] == '\0')
		abort();
	wa_handshake_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];

	if (size < 1 || size > 70000)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_server(data + 1, size - 1);
		break;
	case 1:
		fuzz_client(data + 1, size - 1);
		break;
	default:
		err[0] = '\0';
		if (wa_cert_chain_verify(data + 1, size - 1, key_a, key_b, 1800000000u, err, sizeof(err)) == 0 ||
		    err[0] == '\0')
			abort();	/* nothing random is signed by key_a's root */
		break;
	}
	return 0;
}
