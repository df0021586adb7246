/* The memory floor of a wagate-worker (bench/worker_mem.sh): a program linked against exactly the shared
 * libraries the worker binary needs (the script passes them with --no-as-needed, so each is loaded, relocated
 * and initialised as in the worker) that only sleeps. Its PSS is what every worker state is compared with. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	/* As the worker: SIGPIPE ignored; then nothing but waiting for the bench's signal. */
	signal(SIGPIPE, SIG_IGN);
	printf("mem_floor ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
