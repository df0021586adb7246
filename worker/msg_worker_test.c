/* The receive path end to end: the real wagate-worker (under valgrind when WAGATE_VALGRIND names it), real
 * fakewa (its mock phones speak real Signal) and, in this file, an in-memory supervisor on the IPC socket that
 * stores creds and prekeys, answers SignalLoad from its map, applies MessageStore to it and acks (or holds or
 * fails the ack when told). The worker pairs with phone A by QR; phone B (a contact without companions) then
 * writes to A:
 *  - the MessageStore carries the decrypted text, and the delivery receipt reaches B only after the StoreAck;
 *  - the same stanza delivered again is not stored again, and is receipted again;
 *  - a failed StoreAck sends nothing (and drops the worker's Signal cache): the redelivery stores it;
 *  - with the session lost from the database and the prekey used up, the worker answers a retry receipt. */
#include "ipc.h"
#include "keytext.h"
#include "sigdb_testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define VALGRIND_ERROR_EXIT	99
#define PHONE_A			"15557770001"
#define PHONE_B			"15557770002"
#define RECV_BUF		(8u * 1024 * 1024)
#define WAIT_S			60	/* valgrind and 812 prekeys are slow */

/* --- the in-memory supervisor's database (its Signal records: sigdb_testlib.h) --- */

struct stored {
	char id[160], remote_jid[160], push_name[160];
	int from_me;
	uint8_t *message;
	size_t len;
};

static struct {
	pid_t fakewa;
	int control;
	char url[128];
	uint8_t root[32];
	char dir[64];
	/* the worker */
	int fd;
	pid_t pid;
	uint8_t *buf;
	size_t have;
	/* the database */
	struct sigdb_row *db;
	uint8_t *creds;
	size_t creds_len;
	struct stored msgs[64];
	size_t nmsgs;
	int stores;		/* MessageStore requests seen */
	int lids;
	int open;
	char qr[1024];
	/* ack policy for MessageStore: 1 ok, 0 fail, -1 hold */
	int store_policy;
	uint64_t held_id;
	int have_held;
	int stopping;		/* EOF expected */
	int one_prekey_stores;	/* StoreBatch with a single prekey (for a retry receipt's <keys>) */
	struct {
		char id[160], remote_jid[160];
		int from_me, status;
	} statuses[64];
	size_t nstatuses;
} sv;

/* --- HTTP to fakewa's control port --- */

/* One request; the status, with the body (NUL-terminated) in body. */
static int
http(const char *method, const char *path, const char *reqbody, char *body, size_t bodylen)
{
	struct sockaddr_in sin;
	char req[2048], resp[65536];
	size_t have = 0;
	ssize_t n;
	int fd, status = -1;
	const char *p;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)sv.control);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", method, path, reqbody != NULL ? strlen(reqbody) : 0,
	    reqbody != NULL ? reqbody : "");
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (have < sizeof(resp) - 1 && (n = read(fd, resp + have, sizeof(resp) - 1 - have)) > 0)
		have += (size_t)n;
	close(fd);
	resp[have] = '\0';
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	p = strstr(resp, "\r\n\r\n");
	snprintf(body, bodylen, "%s", p != NULL ? p + 4 : "");
	return status;
}

/* --- fakewa --- */

static void
fakewa_start(void)
{
	const char *bin = getenv("WAGATE_FAKEWA_BIN");
	char rootfile[128], line[256], text[128];
	int out[2];
	FILE *f;
	int port = 0;

	assert_non_null(bin);
	snprintf(sv.dir, sizeof(sv.dir), "/tmp/msg_worker_test.XXXXXX");
	assert_non_null(mkdtemp(sv.dir));
	snprintf(rootfile, sizeof(rootfile), "%s/root.pub", sv.dir);
	assert_int_equal(pipe(out), 0);
	sv.fakewa = fork();
	assert_true(sv.fakewa >= 0);
	if (sv.fakewa == 0) {
		char log[128];
		int lfd;

		snprintf(log, sizeof(log), "%s/fakewa.log", sv.dir);
		lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(out[1], 1);
		if (lfd >= 0)
			dup2(lfd, 2);
		execl(bin, "fakewa", "--root-key-out", rootfile, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	f = fdopen(out[0], "r");
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(sscanf(line, "fakewa ready port=%d control=%d", &port, &sv.control), 2);
	snprintf(sv.url, sizeof(sv.url), "ws://127.0.0.1:%d/ws/chat", port);
	f = fopen(rootfile, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	text[strcspn(text, "\r\n")] = '\0';
	assert_int_equal(keytext_parse(text, sv.root), 0);
}

static void
fakewa_stop(void)
{
	char cmd[160];
	int st;

	kill(sv.fakewa, SIGTERM);
	waitpid(sv.fakewa, &st, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sv.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", sv.dir);
}

/* --- the IPC peer --- */

static void
peer_send(IpcEnvelope *env)
{
	size_t n;
	uint8_t *out;

	env->version = IPC_VERSION;
	n = ipc_frame_size(env);
	assert_true(n > 0);
	out = malloc(n);
	assert_int_equal(ipc_frame_pack(env, out, n), n);
	assert_int_equal(write(sv.fd, out, n), (ssize_t)n);
	free(out);
}

/* One envelope within timeout_ms (NULL on timeout; EOF fails). */
static IpcEnvelope *
peer_recv(int timeout_ms)
{
	IpcEnvelope *env;
	size_t used;
	enum ipc_result r;

	for (;;) {
		struct pollfd pfd = { sv.fd, POLLIN, 0 };
		ssize_t n;

		r = ipc_frame_parse(sv.buf, sv.have, &used, &env);
		assert_int_not_equal(r, IPC_ERROR);
		if (r == IPC_OK) {
			memmove(sv.buf, sv.buf + used, sv.have - used);
			sv.have -= used;
			return env;
		}
		if (poll(&pfd, 1, timeout_ms) != 1)
			return NULL;
		n = read(sv.fd, sv.buf + sv.have, RECV_BUF - sv.have);
		if (n == 0 && sv.stopping)
			return NULL;
		assert_true(n > 0);
		sv.have += (size_t)n;
	}
}

static void
reply_store_ack(uint64_t id, int ok)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__StoreAck a = WAGATE__IPC__STORE_ACK__INIT;

	a.ok = ok;
	a.error = (char *)(ok ? "" : "commit failed");
	env.request_id = id;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_STORE_ACK;
	env.store_ack = &a;
	peer_send(&env);
}

static void
reply_result(uint64_t id)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Result r = WAGATE__IPC__RESULT__INIT;

	r.ok = 1;
	r.error = "";
	env.request_id = id;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_RESULT;
	env.result = &r;
	peer_send(&env);
}

static void
on_store_batch(const IpcEnvelope *env)
{
	const Wagate__Ipc__StoreBatch *b = env->store_batch;
	size_t i;

	if (b->creds.len > 0) {
		free(sv.creds);
		sv.creds = malloc(b->creds.len);
		memcpy(sv.creds, b->creds.data, b->creds.len);
		sv.creds_len = b->creds.len;
	}
	if (b->n_prekeys == 1)
		sv.one_prekey_stores++;
	for (i = 0; i < b->n_prekeys; i++)
		sigdb_set(&sv.db, WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_PREKEY, "", "", b->prekeys[i]->id,
		    b->prekeys[i]->record.data, b->prekeys[i]->record.len);
	reply_store_ack(env->request_id, 1);
}

static void
on_signal_load(const IpcEnvelope *env)
{
	const Wagate__Ipc__SignalLoad *l = env->signal_load;
	IpcEnvelope out = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__SignalRecords rs = WAGATE__IPC__SIGNAL_RECORDS__INIT;
	Wagate__Ipc__SignalRecord *recs = calloc(l->n_keys, sizeof(*recs)), **recp = calloc(l->n_keys, sizeof(*recp));
	size_t i;

	for (i = 0; i < l->n_keys; i++) {
		const Wagate__Ipc__SignalKey *k = l->keys[i];
		struct sigdb_row *r = *sigdb_find(&sv.db, (int)k->kind, k->address, k->group, k->prekey_id);

		wagate__ipc__signal_record__init(&recs[i]);
		recs[i].key = (Wagate__Ipc__SignalKey *)k;
		recs[i].found = r != NULL;
		if (r != NULL) {
			recs[i].data.data = r->data;
			recs[i].data.len = r->len;
		}
		recp[i] = &recs[i];
	}
	rs.ok = 1;
	rs.error = "";
	rs.records = recp;
	rs.n_records = l->n_keys;
	out.request_id = env->request_id;
	out.msg_case = WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS;
	out.signal_records = &rs;
	peer_send(&out);
	free(recs);
	free(recp);
}

/* Apply a MessageStore (the transaction) and remember its messages. */
static void
store_apply(const Wagate__Ipc__MessageStore *m)
{
	size_t i;

	for (i = 0; i < m->n_changes; i++) {
		const Wagate__Ipc__SignalChange *c = m->changes[i];

		sigdb_set(&sv.db, (int)c->key->kind, c->key->address, c->key->group, c->key->prekey_id,
		    c->deleted ? NULL : c->data.data, c->data.len);
	}
	for (i = 0; i < m->n_messages && sv.nmsgs < 64; i++) {
		struct stored *s = &sv.msgs[sv.nmsgs++];

		snprintf(s->id, sizeof(s->id), "%s", m->messages[i]->id);
		snprintf(s->remote_jid, sizeof(s->remote_jid), "%s", m->messages[i]->remote_jid);
		snprintf(s->push_name, sizeof(s->push_name), "%s", m->messages[i]->push_name);
		s->from_me = m->messages[i]->from_me;
		s->len = m->messages[i]->message.len;
		s->message = malloc(s->len + 1);
		memcpy(s->message, m->messages[i]->message.data, s->len);
	}
	sv.lids += (int)m->n_lids;
	for (i = 0; i < m->n_statuses && sv.nstatuses < 64; i++) {
		snprintf(sv.statuses[sv.nstatuses].id, sizeof(sv.statuses[0].id), "%s", m->statuses[i]->id);
		snprintf(sv.statuses[sv.nstatuses].remote_jid, sizeof(sv.statuses[0].remote_jid), "%s",
		    m->statuses[i]->remote_jid);
		sv.statuses[sv.nstatuses].from_me = m->statuses[i]->from_me;
		sv.statuses[sv.nstatuses++].status = m->statuses[i]->status;
	}
}

static IpcEnvelope *held_store;

static void
on_message_store(IpcEnvelope *env)
{
	sv.stores++;
	if (sv.store_policy == -1) {
		assert_false(sv.have_held);
		sv.have_held = 1;
		held_store = env;
		return;
	}
	if (sv.store_policy == 1)
		store_apply(env->message_store);
	reply_store_ack(env->request_id, sv.store_policy == 1);
	ipc_envelope_free(env);
}

/* Answer what the worker asks for a while (timeout_ms without anything ends it); 1 if stop() became true. */
static int
pump(int (*stop)(void), int timeout_ms)
{
	IpcEnvelope *env;
	time_t end = time(NULL) + timeout_ms / 1000 + 1;

	while (stop == NULL || !stop()) {
		if (time(NULL) > end)
			return 0;
		if ((env = peer_recv(200)) == NULL)
			continue;
		switch (env->msg_case) {
		case WAGATE__IPC__ENVELOPE__MSG_STORE_BATCH:
			on_store_batch(env);
			break;
		case WAGATE__IPC__ENVELOPE__MSG_PAIR_SUCCESS:
			free(sv.creds);
			sv.creds = malloc(env->pair_success->creds.len);
			memcpy(sv.creds, env->pair_success->creds.data, env->pair_success->creds.len);
			sv.creds_len = env->pair_success->creds.len;
			reply_result(env->request_id);
			break;
		case WAGATE__IPC__ENVELOPE__MSG_SIGNAL_LOAD:
			on_signal_load(env);
			break;
		case WAGATE__IPC__ENVELOPE__MSG_MESSAGE_STORE:
			on_message_store(env);
			continue;	/* freed or held there */
		case WAGATE__IPC__ENVELOPE__MSG_QR_UPDATE:
			snprintf(sv.qr, sizeof(sv.qr), "%s", env->qr_update->qr);
			break;
		case WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE:
			sv.open = env->connection_update->state == WAGATE__IPC__CONN_STATE__CONN_STATE_OPEN;
			break;
		default:
			break;
		}
		ipc_envelope_free(env);
	}
	return 1;
}

/* Answer the held MessageStore. */
static void
release_held(int ok)
{
	assert_true(sv.have_held);
	if (ok)
		store_apply(held_store->message_store);
	reply_store_ack(held_store->request_id, ok);
	ipc_envelope_free(held_store);
	held_store = NULL;
	sv.have_held = 0;
}

/* A Ping answered: everything the worker had queued before it has been read (and handled) by pump. */
static void
ping_roundtrip(void)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__Ping ping = WAGATE__IPC__PING__INIT;

	ping.seq = 77;
	env.request_id = 4242;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_PING;
	env.ping = &ping;
	peer_send(&env);
	for (;;) {
		r = peer_recv(WAIT_S * 1000);
		assert_non_null(r);
		if (r->msg_case == WAGATE__IPC__ENVELOPE__MSG_PONG) {
			ipc_envelope_free(r);
			return;
		}
		assert_true(r->msg_case == WAGATE__IPC__ENVELOPE__MSG_LOG ||
		    r->msg_case == WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE);
		ipc_envelope_free(r);
	}
}

static void
worker_start(void)
{
	const char *bin = getenv("WAGATE_WORKER_BIN"), *vg = getenv("WAGATE_VALGRIND");
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__Start st = WAGATE__IPC__START__INIT;
	int sv2[2];

	assert_non_null(bin);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2), 0);
	sv.fd = sv2[0];
	sv.pid = fork();
	assert_true(sv.pid >= 0);
	if (sv.pid == 0) {
		if (dup2(sv2[1], IPC_FD) == -1)
			_exit(126);
		if (vg != NULL && *vg != '\0') {
			char code[32];
			snprintf(code, sizeof(code), "--error-exitcode=%d", VALGRIND_ERROR_EXIT);
			execl(vg, "valgrind", "-q", "--leak-check=full", "--show-leak-kinds=all",
			    "--errors-for-leak-kinds=all", code, bin, "inst-msg", (char *)NULL);
		} else
			execl(bin, "wagate-worker", "inst-msg", (char *)NULL);
		_exit(127);
	}
	close(sv2[1]);
	st.instance_id = "inst-msg";
	st.instance_name = "msg-test";
	st.wa_url = sv.url;
	st.wa_root_key.data = sv.root;
	st.wa_root_key.len = 32;
	st.log_level = 4;
	st.connect_now = 1;
	env.request_id = 1;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_START;
	env.start = &st;
	peer_send(&env);
	while ((r = peer_recv(WAIT_S * 1000)) != NULL && r->msg_case == WAGATE__IPC__ENVELOPE__MSG_LOG)
		ipc_envelope_free(r);
	assert_non_null(r);
	assert_int_equal(r->msg_case, WAGATE__IPC__ENVELOPE__MSG_READY);
	ipc_envelope_free(r);
}

/* Shutdown; the worker must exit 0 (under valgrind: without errors or leaks). */
static void
worker_stop(void)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__Shutdown sd = WAGATE__IPC__SHUTDOWN__INIT;
	int st;

	sv.stopping = 1;
	env.request_id = 99;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN;
	env.shutdown = &sd;
	peer_send(&env);
	while ((r = peer_recv(WAIT_S * 1000)) != NULL)
		ipc_envelope_free(r);
	close(sv.fd);
	assert_int_equal(waitpid(sv.pid, &st, 0), sv.pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int
have_qr(void)
{
	return sv.qr[0] != '\0';
}

static int
is_open(void)
{
	return sv.open;
}

static int
have_held(void)
{
	return sv.have_held;
}

static int stores_seen;

static int
one_more_store(void)
{
	return sv.stores > stores_seen;
}

static const char *receipts_of = PHONE_B;

/* How many receipts the phone of receipts_of got for id with this type ("" = delivery). */
static int
receipts(const char *id, const char *type)
{
	char body[65536], pat[256], path[128];
	const char *p;
	int n = 0;

	snprintf(path, sizeof(path), "/phone/receipts?account=%s", receipts_of);
	assert_int_equal(http("GET", path, NULL, body, sizeof(body)), 200);
	snprintf(pat, sizeof(pat), "\"id\":\"%s\",\"type\":\"%s\"", id, type);
	for (p = body; (p = strstr(p, pat)) != NULL; p++)
		n++;
	return n;
}

/* How many retry receipts for id the phone of receipts_of got with (keys 1) or without <keys>. */
static int
retries_with_keys(const char *id, int keys)
{
	char body[65536], pat[256], path[128];
	const char *p;
	int n = 0;

	snprintf(path, sizeof(path), "/phone/receipts?account=%s", receipts_of);
	assert_int_equal(http("GET", path, NULL, body, sizeof(body)), 200);
	snprintf(pat, sizeof(pat), "\"id\":\"%s\",\"type\":\"retry\",\"keys\":%s}", id, keys ? "true" : "false");
	for (p = body; (p = strstr(p, pat)) != NULL; p++)
		n++;
	return n;
}

/* The status stored for (id, remote_jid, from_me), 0 if none. */
static int
status_of(const char *id)
{
	size_t i;
	int st = 0;

	for (i = 0; i < sv.nstatuses; i++)
		if (strcmp(sv.statuses[i].id, id) == 0 && sv.statuses[i].from_me &&
		    strcmp(sv.statuses[i].remote_jid, PHONE_B "@s.whatsapp.net") == 0)
			st = sv.statuses[i].status;
	return st;
}

static int
two_read(void)
{
	return status_of("OUR-1") == WAGATE__IPC__MSG_STATUS__MSG_STATUS_READ &&
	    status_of("OUR-2") == WAGATE__IPC__MSG_STATUS__MSG_STATUS_READ;
}

static int
one_delivered(void)
{
	return status_of("OUR-3") == WAGATE__IPC__MSG_STATUS__MSG_STATUS_DELIVERY_ACK;
}

static int
third_read(void)
{
	return status_of("OUR-3") == WAGATE__IPC__MSG_STATUS__MSG_STATUS_READ;
}

/* How many status changes to status the worker stored for our message id. */
static int
status_changes(const char *id, int status)
{
	size_t i;
	int n = 0;

	for (i = 0; i < sv.nstatuses; i++)
		n += strcmp(sv.statuses[i].id, id) == 0 && sv.statuses[i].from_me && sv.statuses[i].status == status;
	return n;
}

static const char *wait_id, *wait_type;
static int wait_n;

static int
receipts_reached(void)
{
	return receipts(wait_id, wait_type) >= wait_n;
}

/* Pump until B has n receipts of type for id. */
static void
wait_receipts(const char *id, const char *type, int n)
{
	wait_id = id;
	wait_type = type;
	wait_n = n;
	if (!pump(receipts_reached, WAIT_S * 1000))
		fail_msg("no %d receipt(s) of type \"%s\" for %s", n, type, id);
}

/* Phone B writes text to A; the message id. */
static void
phone_send_from(const char *from, const char *to, const char *text, char *id)
{
	char path[256], body[1024];

	snprintf(path, sizeof(path), "/phone/send?account=%s&to=%s@s.whatsapp.net&text=%s", from, to, text);
	assert_int_equal(http("POST", path, "", body, sizeof(body)), 200);
	assert_int_equal(sscanf(body, "{\"id\":\"%63[^\"]\"}", id), 1);
}

static void
phone_send(const char *text, char *id, size_t idlen)
{
	char path[256], body[1024];

	snprintf(path, sizeof(path), "/phone/send?account=%s&to=%s@s.whatsapp.net&text=%s", PHONE_B, PHONE_A, text);
	assert_int_equal(http("POST", path, "", body, sizeof(body)), 200);
	assert_int_equal(sscanf(body, "{\"id\":\"%63[^\"]\"}", id), 1);
	(void)idlen;
}

static size_t
stored_count(const char *id)
{
	size_t i, n = 0;

	for (i = 0; i < sv.nmsgs; i++)
		n += strcmp(sv.msgs[i].id, id) == 0;
	return n;
}

static const struct stored *
stored(const char *id)
{
	size_t i;

	for (i = 0; i < sv.nmsgs; i++)
		if (strcmp(sv.msgs[i].id, id) == 0)
			return &sv.msgs[i];
	return NULL;
}

/* The stored Message is Message{conversation = text}. */
static void
assert_text(const struct stored *s, const char *text)
{
	size_t n = strlen(text);

	assert_non_null(s);
	assert_int_equal(s->len, 2 + n);
	assert_int_equal(s->message[0], 0x0a);
	assert_int_equal(s->message[1], n);
	assert_memory_equal(s->message + 2, text, n);
}

/* Pair the worker with phone A: QR over IPC, scanned by the mock phone (in a child: the scan call answers
 * only once the worker finished pairing, which needs this process to answer its requests). */
static void
pair(void)
{
	char body[4096], path[128];
	pid_t scanner;
	int st;

	if (!pump(have_qr, WAIT_S * 1000))
		fail_msg("no QR");
	scanner = fork();
	assert_true(scanner >= 0);
	if (scanner == 0) {
		snprintf(path, sizeof(path), "/admin/mock-phone/scan-qr?phone=%s", PHONE_A);
		_exit(http("POST", path, sv.qr, body, sizeof(body)) == 200 ? 0 : 1);
	}
	if (!pump(is_open, WAIT_S * 1000))
		fail_msg("not OPEN after the scan");
	assert_int_equal(waitpid(scanner, &st, 0), scanner);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
test_receive(void **state)
{
	char body[1024], m1[64], m2[64], m3[64], addr[64];
	struct sigdb_row **r;

	(void)state;
	sv.buf = malloc(RECV_BUF);
	sv.store_policy = 1;
	fakewa_start();
	worker_start();
	pair();
	assert_int_equal(http("POST", "/admin/account?phone=" PHONE_B "&name=Bob", "", body, sizeof(body)), 200);

	/* 1. B writes: one MessageStore with the text; the receipt waits for its ack */
	sv.store_policy = -1;
	phone_send("hello", m1, sizeof(m1));
	if (!pump(have_held, WAIT_S * 1000))
		fail_msg("no MessageStore for the first message");
	ping_roundtrip();
	assert_int_equal(receipts(m1, ""), 0);
	sv.store_policy = 1;
	release_held(1);
	wait_receipts(m1, "", 1);
	assert_int_equal(stored_count(m1), 1);
	assert_text(stored(m1), "hello");
	assert_string_equal(stored(m1)->remote_jid, PHONE_B "@s.whatsapp.net");
	assert_string_equal(stored(m1)->push_name, "Bob");
	assert_false(stored(m1)->from_me);

	/* 2. the same stanza again: a duplicate, receipted, not stored */
	stores_seen = sv.stores;
	assert_int_equal(http("POST", "/phone/redeliver?account=" PHONE_B, "", body, sizeof(body)), 200);
	wait_receipts(m1, "", 2);
	assert_int_equal(stored_count(m1), 1);

	/* 3. a failed commit: nothing goes back; delivered again, it is stored */
	sv.store_policy = 0;
	stores_seen = sv.stores;
	phone_send("second", m2, sizeof(m2));
	if (!pump(one_more_store, WAIT_S * 1000))
		fail_msg("no MessageStore for the second message");
	ping_roundtrip();
	assert_int_equal(receipts(m2, ""), 0);
	assert_int_equal(receipts(m2, "retry"), 0);
	sv.store_policy = 1;
	assert_int_equal(http("POST", "/phone/redeliver?account=" PHONE_B, "", body, sizeof(body)), 200);
	wait_receipts(m2, "", 1);
	assert_int_equal(stored_count(m2), 1);
	assert_text(stored(m2), "second");

	/* 4. the session lost from the database (and the worker's cache dropped by a failed commit): the pkmsg
	 * names a used prekey, so the worker asks for a retry */
	sv.store_policy = 0;
	stores_seen = sv.stores;
	phone_send("third", m3, sizeof(m3));
	if (!pump(one_more_store, WAIT_S * 1000))
		fail_msg("no MessageStore for the third message");
	snprintf(addr, sizeof(addr), "%s:0", PHONE_B);
	r = sigdb_find(&sv.db, WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SESSION, addr, "", 0);
	assert_non_null(*r);
	sigdb_set(&sv.db, WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SESSION, addr, "", 0, NULL, 0);
	sv.store_policy = 1;
	assert_int_equal(http("POST", "/phone/redeliver?account=" PHONE_B, "", body, sizeof(body)), 200);
	wait_receipts(m3, "retry", 1);
	assert_int_equal(stored_count(m3), 0);
	assert_int_equal(receipts(m3, ""), 0);
	assert_int_equal(retries_with_keys(m3, 0), 1);
	/* the second retry for it carries <keys> with a fresh prekey, stored before it was sent */
	assert_int_equal(sv.one_prekey_stores, 0);
	assert_int_equal(http("POST", "/phone/redeliver?account=" PHONE_B, "", body, sizeof(body)), 200);
	wait_receipts(m3, "retry", 2);
	assert_int_equal(retries_with_keys(m3, 1), 1);
	assert_int_equal(sv.one_prekey_stores, 1);
	assert_int_equal(stored_count(m3), 0);
	assert_true(sv.lids == 0);	/* fakewa's phone names itself by phone number only */

	/* 5. our own phone writes to B: the worker gets its DeviceSentMessage copy, stores the inner message as
	 * ours in the chat with B, and answers with a "sender" receipt to our phone */
	phone_send_from(PHONE_A, PHONE_B, "mine", m1);
	receipts_of = PHONE_A;
	wait_receipts(m1, "sender", 1);
	assert_int_equal(stored_count(m1), 1);
	assert_text(stored(m1), "mine");
	assert_true(stored(m1)->from_me);
	assert_string_equal(stored(m1)->remote_jid, PHONE_B "@s.whatsapp.net");
	assert_string_equal(stored(m1)->push_name, "");

	/* 6. receipts for our messages (ids of our own, as a sender's phone answers them): status rows */
	assert_int_equal(http("POST", "/phone/receipt?account=" PHONE_B "&to=" PHONE_A "@s.whatsapp.net&type=read"
	    "&ids=OUR-1,OUR-2", "", body, sizeof(body)), 200);
	if (!pump(two_read, WAIT_S * 1000))
		fail_msg("no READ rows for a read receipt with a <list>");
	assert_int_equal(http("POST", "/phone/receipt?account=" PHONE_B "&to=" PHONE_A "@s.whatsapp.net&ids=OUR-3",
	    "", body, sizeof(body)), 200);
	if (!pump(one_delivered, WAIT_S * 1000))
		fail_msg("no DELIVERY_ACK row for a delivery receipt");

	/* 7. another device's delivery receipt for OUR-3 says nothing new: acked, not stored (the status ring);
	 * a read receipt after it is stored (stanzas are handled in order: once READ is stored, the duplicate
	 * has been judged) */
	assert_int_equal(http("POST", "/phone/receipt?account=" PHONE_B "&to=" PHONE_A "@s.whatsapp.net&ids=OUR-3",
	    "", body, sizeof(body)), 200);
	assert_int_equal(http("POST", "/phone/receipt?account=" PHONE_B "&to=" PHONE_A "@s.whatsapp.net&type=read"
	    "&ids=OUR-3", "", body, sizeof(body)), 200);
	if (!pump(third_read, WAIT_S * 1000))
		fail_msg("no READ row for OUR-3");
	assert_int_equal(status_changes("OUR-3", WAGATE__IPC__MSG_STATUS__MSG_STATUS_DELIVERY_ACK), 1);
	assert_int_equal(status_changes("OUR-3", WAGATE__IPC__MSG_STATUS__MSG_STATUS_READ), 1);

	worker_stop();
	fakewa_stop();
	sigdb_free(&sv.db);
	for (size_t i = 0; i < sv.nmsgs; i++)
		free(sv.msgs[i].message);
	free(sv.creds);
	free(sv.buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_receive),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
