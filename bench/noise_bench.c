/* Noise transport benchmark: encrypt + decrypt of fixed-size frames with the split keys of a real
 * in-memory handshake, for a given time. Prints ONE line:
 *   noise: transport encrypt+decrypt N MB/s (X-byte frames)
 * (MB = 10^6 bytes of plaintext, each byte both encrypted and decrypted), plus, when asked with a second
 * argument "handshake", the full client+server handshake rate and the X25519 key pair rate (a paired
 * instance generates 812: its prekeys) on lines of their own. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wa_cert.h"
#include "wa_handshake.h"
#include "wa_noise.h"
#include "wa_xeddsa.h"

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One in-memory handshake; its transport ciphers in *cs (client send) and *sr (server receive). */
static int
handshake(const uint8_t root_priv[32], const uint8_t root_pub[32], const uint8_t *chain, size_t chain_len,
    const uint8_t spriv[32], const uint8_t spub[32], struct wa_noise_transport **cs,
    struct wa_noise_transport **sr)
{
	struct wa_handshake *c, *s;
	struct wa_noise_transport *x, *y;
	uint8_t cpriv[32], cpub[32], *m, *m2, cst[32], *pl;
	size_t mlen, m2len, pllen;
	char err[256];
	int rc = -1;

	(void)root_priv;
	if (wa_noise_keypair_generate(cpriv, cpub) != 0)
		return -1;
	c = wa_handshake_client_new(cpriv, root_pub, (const uint8_t *)"payload", 7);
	s = wa_handshake_server_new(spriv, spub, chain, chain_len);
	if (wa_handshake_client_hello(c, &m, &mlen) != 0)
		goto out;
	if (wa_handshake_server_on_client_hello(s, m, mlen, &m2, &m2len, err, sizeof(err)) != 0) {
		free(m);
		goto out;
	}
	free(m);
	if (wa_handshake_client_on_server_hello(c, m2, m2len, &m, &mlen, err, sizeof(err)) != 0) {
		fprintf(stderr, "noise_bench: %s\n", err);
		free(m2);
		goto out;
	}
	free(m2);
	if (wa_handshake_server_on_client_finish(s, m, mlen, cst, &pl, &pllen, err, sizeof(err)) != 0) {
		free(m);
		goto out;
	}
	free(m);
	free(pl);
	if (wa_handshake_split(c, cs, &x) != 0 || wa_handshake_split(s, &y, sr) != 0)
		goto out;
	wa_noise_transport_free(x);
	wa_noise_transport_free(y);
	rc = 0;
out:
	wa_handshake_free(c);
	wa_handshake_free(s);
	return rc;
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0, t0, el;
	size_t frame = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 1024, done = 0;
	int do_hs = argc > 3 && strcmp(argv[3], "handshake") == 0;
	uint8_t rpriv[32], rpub[32], spriv[32], spub[32], *chain, *pt, *ct, *back;
	size_t chain_len, n, m;
	struct wa_noise_transport *cs, *sr;
	uint64_t t = (uint64_t)time(NULL);
	unsigned long hs = 0;

	if (secs <= 0 || frame == 0 || frame > WA_NOISE_MAX_PLAINTEXT) {
		fprintf(stderr, "usage: noise_bench [seconds] [frame-bytes] [handshake]\n");
		return 2;
	}
	if (wa_xeddsa_keypair_generate(rpriv, rpub) != 0 || wa_noise_keypair_generate(spriv, spub) != 0 ||
	    wa_cert_chain_generate(rpriv, spub, t - 60, t + 3600, &chain, &chain_len) != 0 ||
	    handshake(rpriv, rpub, chain, chain_len, spriv, spub, &cs, &sr) != 0) {
		printf("noise: FAILED (handshake)\n");
		return 1;
	}
	pt = malloc(frame);
	ct = malloc(frame + WA_NOISE_TAG_LEN);
	back = malloc(frame);
	for (n = 0; n < frame; n++)
		pt[n] = (uint8_t)n;
	t0 = now();
	do {
		for (int i = 0; i < 256; i++) {
			if (wa_noise_encrypt_into(cs, pt, frame, ct, frame + WA_NOISE_TAG_LEN, &n) != 0 ||
			    wa_noise_decrypt_into(sr, ct, n, back, frame, &m) != 0 || m != frame) {
				printf("noise: FAILED (transport)\n");
				return 1;
			}
			done += frame;
		}
		el = now() - t0;
	} while (el < secs);
	if (memcmp(pt, back, frame) != 0) {
		printf("noise: FAILED (round trip)\n");
		return 1;
	}
	printf("noise: transport encrypt+decrypt %.0f MB/s (%zu-byte frames)\n", (double)done / el / 1e6, frame);
	if (do_hs) {
		struct wa_noise_transport *a, *b;

		t0 = now();
		do {
			if (handshake(rpriv, rpub, chain, chain_len, spriv, spub, &a, &b) != 0)
				return 1;
			wa_noise_transport_free(a);
			wa_noise_transport_free(b);
			hs++;
			el = now() - t0;
		} while (el < secs);
		printf("noise: full handshake (client + server, chain verified) %.1f /s\n", (double)hs / el);
		hs = 0;
		t0 = now();
		do {
			for (int i = 0; i < 64; i++)
				if (wa_noise_keypair_generate(spriv, spub) != 0)
					return 1;
			hs += 64;
			el = now() - t0;
		} while (el < secs);
		printf("noise: X25519 key pairs %.0f /s\n", (double)hs / el);
	}
	wa_noise_transport_free(cs);
	wa_noise_transport_free(sr);
	free(pt);
	free(ct);
	free(back);
	free(chain);
	return 0;
}
