/* libFuzzer target: the worker table's checks of the messaging frames a worker sends (supervisor/
 * worker_msg_check.c). The input is one Envelope payload; whatever a check accepts must keep the promises
 * the callbacks rely on (counts and sizes within the WORKERS_* caps, kinds and statuses in range, strings
 * present, bounded and well-formed UTF-8), and nothing may crash or leak either way. */
#include "worker_msg_check.h"
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A string the checks let through: never NULL, bounded, UTF-8, and non-empty when need is set. */
static void
fuzz_str(const char *s, size_t max, int need)
{
	if (s == NULL || strlen(s) > max || !utf8_valid(s, strlen(s), NULL) || (need && *s == '\0'))
		abort();
}

static void
fuzz_key(const struct workers_sig_key *k)
{
	fuzz_str(k->address, WORKER_MSG_ADDRESS_MAX, 0);
	fuzz_str(k->group, WORKER_MSG_ADDRESS_MAX, 0);
	switch (k->kind) {
	case WORKERS_SIG_SESSION:
	case WORKERS_SIG_IDENTITY:
		if (*k->address == '\0' || *k->group != '\0' || k->prekey_id != 0)
			abort();
		break;
	case WORKERS_SIG_PREKEY:
		if (k->prekey_id < 1 || k->prekey_id > WORKERS_PREKEY_ID_MAX || *k->address != '\0')
			abort();
		break;
	case WORKERS_SIG_SENDER_KEY:
		if (*k->address == '\0' || *k->group == '\0')
			abort();
		break;
	default:
		abort();
	}
}

static void
fuzz_store(const struct workers_msg_store *m)
{
	size_t i;

	if (m->nchanges > WORKERS_STORE_MSGS_MAX || m->nmsgs > WORKERS_STORE_MSGS_MAX ||
	    m->nstatuses > WORKERS_STORE_MSGS_MAX || m->nlids > WORKERS_STORE_MSGS_MAX)
		abort();
	for (i = 0; i < m->nchanges; i++) {
		const struct workers_sig_change *c = &m->changes[i];

		fuzz_key(&c->key);
		if (c->deleted ? c->len != 0 : (c->len == 0 || c->len > WORKERS_SIG_RECORD_MAX || c->data == NULL ||
		    c->key.kind == WORKERS_SIG_PREKEY))
			abort();
	}
	for (i = 0; i < m->nmsgs; i++) {
		const struct workers_msg *g = &m->msgs[i];

		fuzz_str(g->id, WORKER_MSG_STR_MAX, 1);
		fuzz_str(g->remote_jid, WORKER_MSG_STR_MAX, 1);
		fuzz_str(g->remote_jid_alt, WORKER_MSG_STR_MAX, 0);
		fuzz_str(g->participant, WORKER_MSG_STR_MAX, 0);
		fuzz_str(g->participant_alt, WORKER_MSG_STR_MAX, 0);
		fuzz_str(g->push_name, WORKER_MSG_STR_MAX, 0);
		fuzz_str(g->source, WORKER_MSG_STR_MAX, 0);
		if (g->status < 0 || g->status > WORKERS_MSG_PLAYED || g->timestamp < 0 ||
		    g->message_len > WORKERS_MESSAGE_MAX)
			abort();
	}
	for (i = 0; i < m->nstatuses; i++) {
		fuzz_str(m->statuses[i].id, WORKER_MSG_STR_MAX, 1);
		fuzz_str(m->statuses[i].remote_jid, WORKER_MSG_STR_MAX, 1);
		if (m->statuses[i].status < WORKERS_MSG_ERROR || m->statuses[i].status > WORKERS_MSG_PLAYED)
			abort();
	}
	for (i = 0; i < m->nlids; i++) {
		fuzz_str(m->lids[i].lid, WORKER_MSG_STR_MAX, 1);
		fuzz_str(m->lids[i].pn, WORKER_MSG_STR_MAX, 1);
	}
	/* forget_users: digits then one of two servers, nothing a DELETE could read as more than one user */
	if (m->nforget_users > WORKERS_FORGET_USERS_MAX || (m->nforget_users > 0) != (m->forget_users != NULL))
		abort();
	for (i = 0; i < m->nforget_users; i++) {
		const char *u = m->forget_users[i];
		size_t n = u != NULL ? strspn(u, "0123456789") : 0;

		if (n == 0 || n > WORKER_MSG_FORGET_DIGITS_MAX || (strcmp(u + n, "@s.whatsapp.net") != 0 &&
		    strcmp(u + n, "@lid") != 0))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	IpcEnvelope *env = ipc_envelope_unpack(data, size);
	struct workers_sig_key *keys;
	struct workers_msg_store m;
	struct workers_send_result r;
	struct workers_number *v;
	const char *why, *error;
	size_t n, i, nasked;
	int code;

	if (env == NULL)
		return 0;
	if (env->msg_case == WAGATE__IPC__ENVELOPE__MSG_CALL_EVENT) {
		struct workers_call c;

		if (worker_msg_check_call(env->call_event, &c, &why) == 0) {
			fuzz_str(c.chat_id, WORKER_MSG_STR_MAX, 1);
			fuzz_str(c.from, WORKER_MSG_STR_MAX, 1);
			fuzz_str(c.caller_pn, WORKER_MSG_STR_MAX, 0);
			fuzz_str(c.id, WORKER_MSG_STR_MAX, 1);
			fuzz_str(c.status, WORKER_MSG_STR_MAX, 1);
			fuzz_str(c.group_jid, WORKER_MSG_STR_MAX, 0);
			if (c.timestamp < 0 || c.latency_ms < -1 || c.latency_ms > 3600000)
				abort();
		}
	}
	switch (env->msg_case) {
	case WAGATE__IPC__ENVELOPE__MSG_SIGNAL_LOAD:
		if (worker_msg_check_signal_load(env->signal_load, &keys, &n, &why) == 0) {
			if (n > WORKERS_SIG_KEYS_MAX || n != env->signal_load->n_keys)
				abort();
			for (i = 0; i < n; i++)
				fuzz_key(&keys[i]);
			free(keys);
		} else if (why == NULL || keys != NULL)
			abort();
		break;
	case WAGATE__IPC__ENVELOPE__MSG_MESSAGE_STORE:
		if (worker_msg_check_store(env->message_store, &m, &why) == 0) {
			fuzz_store(&m);
			worker_msg_store_clear(&m);
		} else if (why == NULL || m.changes != NULL || m.msgs != NULL || m.statuses != NULL || m.lids != NULL)
			abort();
		break;
	case WAGATE__IPC__ENVELOPE__MSG_SEND_RESULT:
		if (worker_msg_check_send_result(env->send_result, &r) == 0) {
			fuzz_str(r.id, WORKER_MSG_STR_MAX, r.ok);
			fuzz_str(r.remote_jid, WORKER_MSG_STR_MAX, r.ok);
			fuzz_str(r.remote_jid_alt, WORKER_MSG_STR_MAX, 0);
			if (!r.ok && (r.error == NULL || *r.error == '\0' || r.code < 100 || r.code > 599))
				abort();
		}
		break;
	case WAGATE__IPC__ENVELOPE__MSG_NUMBERS_RESULT:
		/* As many numbers asked as answered, or a count the request id makes up. */
		nasked = env->request_id % 2 == 0 ? env->numbers_result->n_numbers : env->request_id % 60;
		if (worker_msg_check_numbers(env->numbers_result, nasked, &v, &code, &error) == 0) {
			if (v != NULL) {
				if (!env->numbers_result->ok || nasked == 0 || nasked > WORKERS_NUMBERS_MAX)
					abort();
				for (i = 0; i < nasked; i++) {
					fuzz_str(v[i].number, WORKER_MSG_STR_MAX, 1);
					fuzz_str(v[i].jid, WORKER_MSG_STR_MAX, v[i].exists);
					fuzz_str(v[i].lid, WORKER_MSG_STR_MAX, 0);
				}
				free(v);
			} else if (error == NULL || *error == '\0' || code < 100 || code > 599)
				abort();
		} else if (v != NULL)
			abort();
		break;
	default:
		break;
	}
	ipc_envelope_free(env);
	return 0;
}
