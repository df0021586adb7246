/* The worker table of the lifecycle and routes tests (lc_testlib.h): every workers_* function lifecycle and the
 * routes link against, without processes. What lifecycle asks is recorded in LC; the commands the routes send
 * answer "not sent". A test that exercises a command defines its own, which the linker takes over these weak
 * ones (routes_message_test: send, numbers, read; routes_group_test: the group commands). */
#include "lc_testlib.h"

#include <stdio.h>
#include <string.h>

#define WEAK	__attribute__((weak))

/* ---- what lifecycle asks: recorded ---- */

int
workers_reply_pair(struct workers *w, const char *id, uint64_t req, int ok, const char *error)
{
	(void)w;
	(void)id;
	LC.reply_req[LC.nreply % 32] = req;
	LC.reply_ok[LC.nreply % 32] = ok;
	LC.reply_pair[LC.nreply % 32] = 1;
	snprintf(LC.reply_err[LC.nreply % 32], 256, "%s", error != NULL ? error : "");
	LC.nreply++;
	return 0;
}

int
workers_reply_store(struct workers *w, const char *id, uint64_t req, int ok, const char *error)
{
	workers_reply_pair(w, id, req, ok, error);
	LC.reply_pair[(LC.nreply - 1) % 32] = 0;
	return 0;
}

int
workers_reply_signal(struct workers *w, const char *id, uint64_t req, int ok, const char *error,
    const struct workers_sig_record *recs, size_t n)
{
	size_t i;

	(void)w;
	(void)id;
	(void)req;
	LC.sig_ok = ok;
	snprintf(LC.sig_err, sizeof(LC.sig_err), "%s", error != NULL ? error : "");
	LC.sig_n = n;
	for (i = 0; i < n && i < 16; i++) {
		LC.sig[i].kind = recs[i].key.kind;
		LC.sig[i].found = recs[i].found;
		LC.sig[i].prekey_id = recs[i].key.prekey_id;
		LC.sig[i].len = recs[i].len;
		memset(LC.sig[i].data, 0, sizeof(LC.sig[i].data));
		if (recs[i].found && recs[i].len < sizeof(LC.sig[i].data))
			memcpy(LC.sig[i].data, recs[i].data, recs[i].len);
	}
	LC.nsig++;
	return 0;
}

int
workers_forget_creds(struct workers *w, const char *id)
{
	(void)w;
	(void)id;
	LC.nforget++;
	return 0;
}

int
workers_add(struct workers *w, const struct worker_spec *spec)
{
	(void)w;
	LC.nadd++;
	LC.add_connect_now = spec->connect_now;
	snprintf(LC.add_creds, sizeof(LC.add_creds), "%.*s", (int)spec->creds_len,
	    spec->creds != NULL ? (const char *)spec->creds : "");
	return 0;
}

int
workers_remove(struct workers *w, const char *id)
{
	(void)w;
	(void)id;
	LC.nremove++;
	return 0;
}

int
workers_update(struct workers *w, const struct worker_spec *spec)
{
	(void)w;
	LC.nupdate++;
	LC.update_reject_call = spec->settings != NULL && spec->settings->reject_call;
	return 0;
}

int
workers_logout(struct workers *w, const char *id)
{
	(void)w;
	(void)id;
	LC.nlogout++;
	return 0;
}

pid_t
workers_pid(const struct workers *w, const char *id)
{
	(void)w;
	(void)id;
	return LC.pid;
}

int
workers_restart(struct workers *w, const char *id)
{
	(void)w;
	(void)id;
	LC.nrestart++;
	return 0;
}

int
workers_connect(struct workers *w, const char *id, const char *number)
{
	(void)w;
	(void)id;
	(void)number;
	LC.nconnect++;
	return 0;
}

/* ---- what the routes ask: refused unless the test defines its own ---- */

WEAK int workers_send_message(struct workers *w, const char *i, const struct workers_send *m, workers_send_cb cb,
    void *a)
{ (void)w; (void)i; (void)m; (void)cb; (void)a; return -1; }
WEAK int workers_check_numbers(struct workers *w, const char *i, const char *const *n, size_t c,
    workers_numbers_cb cb, void *a)
{ (void)w; (void)i; (void)n; (void)c; (void)cb; (void)a; return -1; }
WEAK int workers_mark_read(struct workers *w, const char *i, const struct workers_msg_key *k, size_t n,
    workers_result_cb cb, void *a)
{ (void)w; (void)i; (void)k; (void)n; (void)cb; (void)a; return -1; }
WEAK int workers_group_create(struct workers *w, const char *i, const char *s, const char *const *p, size_t n,
    workers_groups_cb cb, void *a)
{ (void)w; (void)i; (void)s; (void)p; (void)n; (void)cb; (void)a; return -1; }
WEAK int workers_group_query(struct workers *w, const char *i, const char *j, workers_groups_cb cb, void *a)
{ (void)w; (void)i; (void)j; (void)cb; (void)a; return -1; }
WEAK int workers_group_list(struct workers *w, const char *i, workers_groups_cb cb, void *a)
{ (void)w; (void)i; (void)cb; (void)a; return -1; }
WEAK int workers_set_presence(struct workers *w, const char *i, const char *t, const char *p, workers_result_cb cb,
    void *a)
{ (void)w; (void)i; (void)t; (void)p; (void)cb; (void)a; return -1; }
void workers_foreach(const struct workers *w, void (*fn)(const char *, pid_t, unsigned, void *), void *a)
{ (void)w; (void)fn; (void)a; }
unsigned workers_ready_count(const struct workers *w) { (void)w; return 0; }
double workers_ipc_latency_ms(const struct workers *w) { (void)w; return 0; }
