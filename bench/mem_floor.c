/* The memory floor of a wagate-worker: a program linking the libraries the worker links (libevent, mbedTLS,
 * protobuf-c, zlib, and libsignal-protocol-c, which the messaging worker links) that only sleeps.
 * bench/worker_mem.sh reads its PSS as the figure every worker state is compared with.
 * One symbol of each library is referenced (never called) so the linker keeps each one as needed; the
 * libraries are then loaded, relocated and initialised as in the worker, and nothing else is done. */
#include <event2/event.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/version.h>
#include <protobuf-c/protobuf-c.h>
#include <signal_protocol.h>
#include <zlib.h>

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

/* Kept in the binary so that --as-needed keeps every library; volatile so the compiler cannot drop them. */
static void *volatile keep[] = {
	(void *)event_base_new,		/* libevent */
	(void *)mbedtls_ssl_init,	/* libmbedtls */
	(void *)mbedtls_x509_crt_init,	/* libmbedx509 */
	(void *)mbedtls_version_get_number, /* libmbedcrypto */
	(void *)protobuf_c_version,	/* libprotobuf-c */
	(void *)signal_context_create,	/* libsignal-protocol-c */
	(void *)zlibVersion,		/* zlib */
};

int
main(void)
{
	(void)keep;
	/* As the worker: SIGPIPE ignored; then nothing but waiting for the bench's signal. */
	signal(SIGPIPE, SIG_IGN);
	printf("mem_floor ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
