/* TEMPORARY (issue 9, branch h-sup-db): weak no-op fallbacks for the worker table's messaging functions, so
 * wagate links before the worker-table branch that implements them is merged. The lead deletes this file at
 * that merge (and its line in meson.build); the real definitions, being strong, win over these anyway. Each
 * answers as the contract's "not Ready" case: -1, callback never called. */
#include "workers.h"

__attribute__((weak)) int
workers_reply_signal(struct workers *w, const char *instance_id, uint64_t req, int ok, const char *error,
    const struct workers_sig_record *recs, size_t n)
{
	(void)w; (void)instance_id; (void)req; (void)ok; (void)error; (void)recs; (void)n;
	return -1;
}

__attribute__((weak)) int
workers_send_message(struct workers *w, const char *instance_id, const struct workers_send *m, workers_send_cb cb,
    void *arg)
{
	(void)w; (void)instance_id; (void)m; (void)cb; (void)arg;
	return -1;
}

__attribute__((weak)) int
workers_check_numbers(struct workers *w, const char *instance_id, const char *const *numbers, size_t n,
    workers_numbers_cb cb, void *arg)
{
	(void)w; (void)instance_id; (void)numbers; (void)n; (void)cb; (void)arg;
	return -1;
}

__attribute__((weak)) int
workers_mark_read(struct workers *w, const char *instance_id, const struct workers_msg_key *keys, size_t n,
    workers_result_cb cb, void *arg)
{
	(void)w; (void)instance_id; (void)keys; (void)n; (void)cb; (void)arg;
	return -1;
}
