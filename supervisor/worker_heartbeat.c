/* Heartbeats: one Ping per interval to each ready worker; a worker that leaves heartbeat_misses of them
 * unanswered is killed (and restarted by the reaper); answers give the IPC round-trip latency. */
#include "workers_int.h"
#include "log.h"

#include <stdio.h>

/* Pong: the answer to the outstanding Ping clears the misses and gives a round trip. */
int
worker_heartbeat_on_pong(void *arg, const IpcEnvelope *env)
{
	struct worker_rec *wk = arg;
	struct workers *w = wk->w;
	double rtt;

	if (!wk->ping_outstanding || env->pong->seq != wk->ping_seq)
		return 0;	/* late answer to a ping already counted as missed */
	wk->ping_outstanding = 0;
	wk->misses = 0;
	rtt = (double)(workers_now_us() - wk->ping_sent_us) / 1000.0;
	w->latency_ms = w->have_latency ? 0.8 * w->latency_ms + 0.2 * rtt : rtt;
	w->have_latency = 1;
	return 0;
}

/* The heartbeat timer: ping each ready worker, or count a miss for one that has not answered the last. */
void
worker_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	struct worker_rec *wk;

	(void)fd;
	(void)what;
	TAILQ_FOREACH(wk, &w->all, entry) {
		IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
		Wagate__Ipc__Ping ping = WAGATE__IPC__PING__INIT;

		if (wk->phase != WK_READY)
			continue;
		if (wk->ping_outstanding) {
			if (++wk->misses >= w->cfg.heartbeat_misses) {
				char why[64];
				snprintf(why, sizeof(why), "missed %d heartbeats", wk->misses);
				log_warnx("%s: worker %d %s; killing it", wk->name, (int)wk->pid, why);
				worker_reap_kill(wk, why);
			}
			continue;
		}
		ping.seq = ++wk->ping_seq;
		ping.sent_us = wk->ping_sent_us = workers_now_us();
		env.msg_case = WAGATE__IPC__ENVELOPE__MSG_PING;
		env.ping = &ping;
		if (worker_ipc_send(wk, &env) == 0)
			wk->ping_outstanding = 1;
	}
}
