/* Codec benchmark: encode and decode a typical incoming message node many times and print one line:
 *   codec: encode N nodes/s, decode N nodes/s (typical message node, X bytes) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wa_binary.h"
#include "wa_node.h"

/* Monotonic seconds. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A 1:1 text message as the server delivers it: attributes with JIDs, an <enc> with a ~200-byte payload. */
static struct wa_node *
typical_message(void)
{
	unsigned char payload[208];
	struct wa_node *m, *e;
	size_t i;

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (unsigned char)(i * 37 + 11);
	m = wa_node_new("message");
	wa_node_set_attr(m, "from", "447700900123:7@s.whatsapp.net");
	wa_node_set_attr(m, "type", "text");
	wa_node_set_attr(m, "id", "3EB0A1B2C3D4E5F60718");
	wa_node_set_attr(m, "recipient", "12345678901234@lid");
	wa_node_set_attr(m, "notify", "Alice Example");
	wa_node_set_attr(m, "t", "1700000000");
	wa_node_set_attr(m, "offline", "0");
	e = wa_node_add_child(m, wa_node_new("enc"));
	wa_node_set_attr(e, "v", "2");
	wa_node_set_attr(e, "type", "msg");
	wa_node_set_bytes(e, payload, sizeof(payload));
	e = wa_node_add_child(m, wa_node_new("device-identity"));
	wa_node_set_bytes(e, payload, 150);
	return m;
}

/* Time encode and decode for about argv[1] seconds each and print the result line. */
int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0, t0, t_enc, t_dec;
	struct wa_node *m, *d;
	unsigned char *buf, *out;
	size_t len, outlen;
	long n_enc = 0, n_dec = 0, i;
	char err[128];

	m = typical_message();
	if (wa_binary_encode(m, &buf, &len) == -1) {
		fprintf(stderr, "codec: encode failed\n");
		return 1;
	}
	t0 = now();
	do {
		for (i = 0; i < 1000; i++) {
			if (wa_binary_encode(m, &out, &outlen) == -1)
				return 1;
			free(out);
		}
		n_enc += 1000;
	} while ((t_enc = now() - t0) < secs);
	t0 = now();
	do {
		for (i = 0; i < 1000; i++) {
			if ((d = wa_binary_decode(buf, len, err, sizeof(err))) == NULL) {
				fprintf(stderr, "codec: decode failed: %s\n", err);
				return 1;
			}
			wa_node_free(d);
		}
		n_dec += 1000;
	} while ((t_dec = now() - t0) < secs);
	printf("codec: encode %.0f nodes/s, decode %.0f nodes/s (typical message node, %zu bytes)\n",
	    (double)n_enc / t_enc, (double)n_dec / t_dec, len);
	free(buf);
	wa_node_free(m);
	return 0;
}
