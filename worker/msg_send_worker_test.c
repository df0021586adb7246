/* Sending end to end: real wagate-worker processes against a real fakewa (its mock phones speak real Signal),
 * with this test as their supervisor (an in-memory store answering StoreBatch, PairSuccess, SignalLoad and
 * MessageStore). Two instances are paired to two fake phones, A's worker sends to B's account:
 *  - the MessageStore (row PENDING, sent_by_api, ratchet changes) arrives BEFORE fakewa sees the stanza (its
 *    StoreAck is held and the recipient's phone has nothing), then SendResult SERVER_ACK, and B's phone
 *    decrypts the text (and A's own phone the DeviceSentMessage copy);
 *  - an unknown number gives 400, a worker that is not connected 503;
 *  - CheckNumbers says which numbers exist (with the LID, stored through a MessageStore);
 *  - MarkRead is answered once fakewa acked the receipts;
 *  - a phone that fails to decrypt sends a retry receipt, and the worker's resend reaches it.
 * Needs WAGATE_WORKER_BIN and WAGATE_FAKEWA_BIN. */
#include "ipc.h"
#include "keytext.h"

#include "e2e.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define PHONE_A		"15550001001"
#define PHONE_B		"15550001002"
#define NOBODY		"15559990000"
#define WAIT_MS		60000	/* valgrind is slow */
#define MAX_REPLIES	32
#define MAX_HELD	8

/* One Signal record of an instance's store. */
struct rec {
	struct rec *next;
	int kind;
	char *address, *group;
	uint32_t prekey_id;
	uint8_t *data;
	size_t len;
};

/* A worker and what its supervisor (this test) keeps for it. */
struct inst {
	const char *name, *phone;
	pid_t pid, scan_pid;
	int fd;
	uint8_t *buf;
	size_t have, cap;
	uint8_t *creds;
	size_t creds_len;
	struct rec *recs;
	int open, scanned, opens;		/* opens: OPEN reports so far */
	char jid[128];
	uint64_t next_req;
	IpcEnvelope *replies[MAX_REPLIES];	/* SendResult, NumbersResult, Result of our requests */
	size_t nreplies;
	const char *hold_id;			/* hold the StoreAck of the MessageStore with this message */
	IpcEnvelope *held[MAX_HELD];
	size_t nheld;
	int stores;				/* MessageStores seen */
	char stored_status[64][8];		/* status of each message row stored, by order */
	char stored_ids[64][64];
	size_t nstored;
	char lid_pn[16][128], lid_lid[16][128];	/* LID mappings stored */
	size_t nlids;
	int session_changes;			/* SESSION changes stored */
	int sessions_loaded;			/* SESSION records found for a SignalLoad */
};

struct fakewa {
	pid_t pid;
	int port, control;
	uint8_t root[32];
	char dir[64];
};

static struct fakewa fw;
static struct inst ia = { .name = "a", .phone = PHONE_A }, ib = { .name = "b", .phone = PHONE_B };

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One blocking HTTP/1.1 request to fakewa's control port: the status; the body into out (NUL-terminated). */
static int
http(const char *method, const char *path, const char *body, char *out, size_t outlen)
{
	struct sockaddr_in sa;
	char req[8192];
	size_t have = 0;
	ssize_t n;
	int fd, status = -1;
	char *p;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)fw.control);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		return -1;
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\nConnection: close\r\n"
	    "\r\n%s", method, path, body != NULL ? strlen(body) : 0, body != NULL ? body : "");
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	while (have + 1 < outlen && (n = read(fd, out + have, outlen - 1 - have)) > 0)
		have += (size_t)n;
	out[have] = '\0';
	close(fd);
	if (sscanf(out, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	if ((p = strstr(out, "\r\n\r\n")) != NULL)
		memmove(out, p + 4, strlen(p + 4) + 1);
	return status;
}

static void
fakewa_start(void)
{
	const char *bin = getenv("WAGATE_FAKEWA_BIN");
	char root[128], cert[128], line[256], keytxt[256];
	int pipefd[2];
	FILE *f;

	assert_non_null(bin);
	snprintf(fw.dir, sizeof(fw.dir), "/tmp/wagate-send-XXXXXX");
	assert_non_null(mkdtemp(fw.dir));
	snprintf(root, sizeof(root), "%s/root.pub", fw.dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", fw.dir);
	assert_int_equal(pipe(pipefd), 0);
	fw.pid = fork();
	assert_true(fw.pid >= 0);
	if (fw.pid == 0) {
		/* a test that dies must not leave fakewa behind (holding the test runner's pipes) */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		execl(bin, "fakewa", "--root-key-out", root, "--cert-out", cert, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	f = fdopen(pipefd[0], "r");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_int_equal(sscanf(line, "fakewa ready port=%d control=%d", &fw.port, &fw.control), 2);
	fclose(f);
	f = fopen(root, "r");
	assert_non_null(f);
	assert_non_null(fgets(keytxt, sizeof(keytxt), f));
	fclose(f);
	assert_int_equal(keytext_parse(keytxt, fw.root), 0);
}

/* --- the store --- */

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static struct rec **
rec_find(struct inst *in, int kind, const char *address, const char *group, uint32_t id)
{
	struct rec **pp;

	for (pp = &in->recs; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->kind == kind && (*pp)->prekey_id == id && str_eq((*pp)->address, address) &&
		    str_eq((*pp)->group, group))
			return pp;
	return pp;
}

static void
rec_put(struct inst *in, int kind, const char *address, const char *group, uint32_t id, const uint8_t *data,
    size_t len)
{
	struct rec **pp = rec_find(in, kind, address, group, id), *r = *pp;

	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		r->kind = kind;
		r->address = strdup(address != NULL ? address : "");
		r->group = strdup(group != NULL ? group : "");
		r->prekey_id = id;
		*pp = r;
	}
	free(r->data);
	r->data = malloc(len > 0 ? len : 1);
	memcpy(r->data, data, len);
	r->len = len;
}

static void
rec_del(struct inst *in, int kind, const char *address, const char *group, uint32_t id)
{
	struct rec **pp = rec_find(in, kind, address, group, id), *r = *pp;

	if (r == NULL)
		return;
	*pp = r->next;
	free(r->address);
	free(r->group);
	free(r->data);
	free(r);
}

/* --- IPC --- */

static void
inst_send(struct inst *in, IpcEnvelope *env)
{
	size_t n;
	uint8_t *out;

	env->version = IPC_VERSION;
	n = ipc_frame_size(env);
	out = malloc(n);
	assert_int_equal(ipc_frame_pack(env, out, n), n);
	assert_int_equal(write(in->fd, out, n), (ssize_t)n);
	free(out);
}

static void
inst_store_ack(struct inst *in, uint64_t request_id, int ok)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__StoreAck a = WAGATE__IPC__STORE_ACK__INIT;

	a.ok = ok;
	a.error = ok ? "" : "refused by the test";
	env.request_id = request_id;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_STORE_ACK;
	env.store_ack = &a;
	inst_send(in, &env);
}

static void
inst_start(struct inst *in, int connect_now)
{
	const char *bin = getenv("WAGATE_WORKER_BIN");
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Start st = WAGATE__IPC__START__INIT;
	char url[128];
	int sv[2];

	assert_non_null(bin);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	in->fd = sv[0];
	in->cap = IPC_FRAME_MAX + IPC_HEADER_LEN;
	in->buf = malloc(in->cap);
	in->next_req = 100;
	in->pid = fork();
	assert_true(in->pid >= 0);
	if (in->pid == 0) {
		const char *vg = getenv("WAGATE_VALGRIND");
		if (dup2(sv[1], IPC_FD) == -1)
			_exit(126);
		if (vg != NULL && *vg != '\0')
			execl(vg, "valgrind", "-q", "--leak-check=full", "--show-leak-kinds=all",
			    "--errors-for-leak-kinds=all", "--error-exitcode=99", bin, in->name, (char *)NULL);
		execl(bin, "wagate-worker", in->name, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/ws/chat", fw.port);
	st.instance_id = (char *)in->name;
	st.instance_name = (char *)in->name;
	st.wa_url = url;
	st.wa_root_key.data = fw.root;
	st.wa_root_key.len = 32;
	st.log_level = 2;
	st.connect_now = connect_now;
	st.creds.data = in->creds;
	st.creds.len = in->creds_len;
	env.request_id = 1;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_START;
	env.start = &st;
	inst_send(in, &env);
}

/* SignalLoad: every key answered from the store. */
static void
inst_signal_load(struct inst *in, const IpcEnvelope *req)
{
	const Wagate__Ipc__SignalLoad *l = req->signal_load;
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__SignalRecords rs = WAGATE__IPC__SIGNAL_RECORDS__INIT;
	Wagate__Ipc__SignalRecord *r = calloc(l->n_keys + 1, sizeof(*r)), **rp = calloc(l->n_keys + 1, sizeof(*rp));

	for (size_t i = 0; i < l->n_keys; i++) {
		const Wagate__Ipc__SignalKey *k = l->keys[i];
		struct rec *found = *rec_find(in, k->kind, k->address, k->group, k->prekey_id);
		wagate__ipc__signal_record__init(&r[i]);
		r[i].key = (Wagate__Ipc__SignalKey *)k;
		r[i].found = found != NULL;
		in->sessions_loaded += found != NULL && k->kind == WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SESSION;
		if (found != NULL) {
			r[i].data.data = found->data;
			r[i].data.len = found->len;
		}
		rp[i] = &r[i];
	}
	rs.ok = 1;
	rs.n_records = l->n_keys;
	rs.records = rp;
	env.request_id = req->request_id;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SIGNAL_RECORDS;
	env.signal_records = &rs;
	inst_send(in, &env);
	free(r);
	free(rp);
}

/* MessageStore: applied and acked, unless it carries the message the test holds. */
static void
inst_message_store(struct inst *in, IpcEnvelope *req)
{
	const Wagate__Ipc__MessageStore *m = req->message_store;
	int hold = 0;

	in->stores++;
	for (size_t i = 0; i < m->n_messages; i++)
		if (in->hold_id != NULL && strcmp(m->messages[i]->id, in->hold_id) == 0)
			hold = 1;
	for (size_t i = 0; i < m->n_changes; i++) {
		const Wagate__Ipc__SignalChange *c = m->changes[i];
		if (c->deleted)
			rec_del(in, c->key->kind, c->key->address, c->key->group, c->key->prekey_id);
		else
			rec_put(in, c->key->kind, c->key->address, c->key->group, c->key->prekey_id, c->data.data,
			    c->data.len);
		in->session_changes += c->key->kind == WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SESSION;
	}
	for (size_t i = 0; i < m->n_messages && in->nstored < 64; i++) {
		const Wagate__Ipc__StoredMessage *s = m->messages[i];
		/* what a send stores: PENDING, from us, by the API, with the bytes given */
		if (s->from_me && s->sent_by_api)
			snprintf(in->stored_status[in->nstored], 8, "%d", s->status);
		else
			snprintf(in->stored_status[in->nstored], 8, "other");
		snprintf(in->stored_ids[in->nstored++], 64, "%s", s->id);
	}
	for (size_t i = 0; i < m->n_lids && in->nlids < 16; i++) {
		snprintf(in->lid_lid[in->nlids], sizeof(in->lid_lid[0]), "%s", m->lids[i]->lid);
		snprintf(in->lid_pn[in->nlids++], sizeof(in->lid_pn[0]), "%s", m->lids[i]->pn);
	}
	if (hold && in->nheld < MAX_HELD) {
		in->held[in->nheld++] = req;
		return;
	}
	inst_store_ack(in, req->request_id, 1);
	ipc_envelope_free(req);
}

/* One envelope from a worker. */
static void
inst_handle(struct inst *in, IpcEnvelope *env)
{
	IpcEnvelope r = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Result res = WAGATE__IPC__RESULT__INIT;
	char path[256], body[8192];

	switch (env->msg_case) {
	case WAGATE__IPC__ENVELOPE__MSG_STORE_BATCH:
		if (env->store_batch->creds.len > 0) {
			free(in->creds);
			in->creds = malloc(env->store_batch->creds.len);
			memcpy(in->creds, env->store_batch->creds.data, env->store_batch->creds.len);
			in->creds_len = env->store_batch->creds.len;
		}
		for (size_t i = 0; i < env->store_batch->n_prekeys; i++)
			rec_put(in, WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_PREKEY, NULL, NULL,
			    env->store_batch->prekeys[i]->id, env->store_batch->prekeys[i]->record.data,
			    env->store_batch->prekeys[i]->record.len);
		inst_store_ack(in, env->request_id, 1);
		break;
	case WAGATE__IPC__ENVELOPE__MSG_PAIR_SUCCESS:
		res.ok = 1;
		r.request_id = env->request_id;
		r.msg_case = WAGATE__IPC__ENVELOPE__MSG_RESULT;
		r.result = &res;
		inst_send(in, &r);
		break;
	case WAGATE__IPC__ENVELOPE__MSG_QR_UPDATE:
		if (in->scanned || *env->qr_update->qr == '\0')
			break;
		in->scanned = 1;
		/* fakewa answers the scan only once pairing is done, which needs us: scan from a child */
		snprintf(path, sizeof(path), "/admin/mock-phone/scan-qr?phone=%s", in->phone);
		if ((in->scan_pid = fork()) == 0)
			_exit(http("POST", path, env->qr_update->qr, body, sizeof(body)) == 200 ? 0 : 1);
		break;
	case WAGATE__IPC__ENVELOPE__MSG_CONNECTION_UPDATE:
		in->open = env->connection_update->state == WAGATE__IPC__CONN_STATE__CONN_STATE_OPEN;
		in->opens += in->open;
		if (in->open)
			snprintf(in->jid, sizeof(in->jid), "%s", env->connection_update->jid);
		break;
	case WAGATE__IPC__ENVELOPE__MSG_SIGNAL_LOAD:
		inst_signal_load(in, env);
		break;
	case WAGATE__IPC__ENVELOPE__MSG_MESSAGE_STORE:
		inst_message_store(in, env);
		return;
	case WAGATE__IPC__ENVELOPE__MSG_SEND_RESULT:
	case WAGATE__IPC__ENVELOPE__MSG_NUMBERS_RESULT:
	case WAGATE__IPC__ENVELOPE__MSG_RESULT:
		if (in->nreplies < MAX_REPLIES) {
			in->replies[in->nreplies++] = env;
			return;
		}
		break;
	default:
		break;
	}
	ipc_envelope_free(env);
}

/* Serve every worker for up to ms, or until done(arg) holds. 1 if it did. */
static int
pump(int (*done)(void *), void *arg, int ms)
{
	struct inst *all[] = { &ia, &ib };
	int64_t end = now_ms() + ms;
	IpcEnvelope *env;
	size_t used;

	for (;;) {
		struct pollfd pfd[2];
		nfds_t n = 0;
		if (done != NULL && done(arg))
			return 1;
		if (now_ms() >= end)
			return 0;
		for (size_t i = 0; i < 2; i++)
			if (all[i]->fd > 0) {
				pfd[n].fd = all[i]->fd;
				pfd[n].events = POLLIN;
				pfd[n++].revents = 0;
			}
		if (poll(pfd, n, 50) < 0)
			continue;
		for (size_t i = 0, k = 0; i < 2; i++) {
			struct inst *in = all[i];
			ssize_t got;
			if (in->fd <= 0)
				continue;
			if (!(pfd[k++].revents & (POLLIN | POLLHUP)))
				continue;
			got = read(in->fd, in->buf + in->have, in->cap - in->have);
			assert_true(got > 0);
			in->have += (size_t)got;
			while (ipc_frame_parse(in->buf, in->have, &used, &env) == IPC_OK) {
				memmove(in->buf, in->buf + used, in->have - used);
				in->have -= used;
				inst_handle(in, env);
			}
		}
	}
}

static int
both_open(void *arg)
{
	(void)arg;
	return ia.open && ib.open;
}

/* The reply to request id of in, once it came (NULL until then). */
static IpcEnvelope *
reply_find(struct inst *in, uint64_t id)
{
	for (size_t i = 0; i < in->nreplies; i++)
		if (in->replies[i]->request_id == id) {
			IpcEnvelope *e = in->replies[i];
			memmove(&in->replies[i], &in->replies[i + 1], (in->nreplies - i - 1) * sizeof(e));
			in->nreplies--;
			return e;
		}
	return NULL;
}

struct want_reply {
	struct inst *in;
	uint64_t id;
	IpcEnvelope *got;
};

static int
reply_came(void *arg)
{
	struct want_reply *w = arg;

	return (w->got = reply_find(w->in, w->id)) != NULL;
}

/* Wait for the reply to id. */
static IpcEnvelope *
await_reply(struct inst *in, uint64_t id)
{
	struct want_reply w = { in, id, NULL };

	if (!pump(reply_came, &w, WAIT_MS))
		fail_msg("no reply to request %llu from %s", (unsigned long long)id, in->name);
	return w.got;
}

/* A text Message. */
static uint8_t *
text_message(const char *text, size_t *len)
{
	Wa__Message m = WA__MESSAGE__INIT;
	uint8_t *buf;

	m.conversation = (char *)text;
	*len = wa__message__get_packed_size(&m);
	buf = malloc(*len);
	wa__message__pack(&m, buf);
	return buf;
}

/* SendMessage from in; its request id. */
static uint64_t
send_text(struct inst *in, const char *to, const char *text, const char *id)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__SendMessage sm = WAGATE__IPC__SEND_MESSAGE__INIT;
	uint8_t *msg;
	size_t len;

	msg = text_message(text, &len);
	sm.to = (char *)to;
	sm.message.data = msg;
	sm.message.len = len;
	sm.id = (char *)(id != NULL ? id : "");
	env.request_id = ++in->next_req;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE;
	env.send_message = &sm;
	inst_send(in, &env);
	free(msg);
	return env.request_id;
}

/* Whether phone's mock phone received message id as type (e.g. "text") with text (NULL: any). */
static int
phone_got(const char *phone, const char *id, const char *type, const char *text)
{
	char path[128], body[65536], needle[512];

	snprintf(path, sizeof(path), "/phone/received?account=%s", phone);
	if (http("GET", path, NULL, body, sizeof(body)) != 200)
		return 0;
	snprintf(needle, sizeof(needle), "\"id\":\"%s\",\"type\":\"%s\"%s%s%s", id, type, text ? ",\"text\":\"" : "",
	    text ? text : "", text ? "\"" : "");
	return strstr(body, needle) != NULL;
}

/* Whether phone's mock phone received anything with message id. */
static int
phone_got_any(const char *phone, const char *id)
{
	char path[128], body[65536], needle[128];

	snprintf(path, sizeof(path), "/phone/received?account=%s", phone);
	assert_int_equal(http("GET", path, NULL, body, sizeof(body)), 200);
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", id);
	return strstr(body, needle) != NULL;
}

struct want_phone {
	const char *phone, *id, *type, *text;
};

static int
phone_came(void *arg)
{
	struct want_phone *w = arg;

	return phone_got(w->phone, w->id, w->type, w->text);
}

struct want_stored {
	struct inst *in;
	const char *id;
	int opens;
};

static int
stored_came(void *arg)
{
	struct want_stored *w = arg;

	for (size_t i = 0; i < w->in->nstored; i++)
		if (strcmp(w->in->stored_ids[i], w->id) == 0)
			return 1;
	return 0;
}

static int
held_came(void *arg)
{
	return ((struct inst *)arg)->nheld > 0;
}

/* A CheckNumbers round trip through fakewa: when it is answered, fakewa has handled every stanza in wrote
 * before (one connection, in order). */
static void
barrier(struct inst *in)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__CheckNumbers cn = WAGATE__IPC__CHECK_NUMBERS__INIT;
	char *numbers[] = { (char *)NOBODY };

	cn.n_numbers = 1;
	cn.numbers = numbers;
	env.request_id = ++in->next_req;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS;
	env.check_numbers = &cn;
	inst_send(in, &env);
	r = await_reply(in, env.request_id);
	assert_true(r->numbers_result->ok);
	ipc_envelope_free(r);
}

/* Pair both instances once (each test below needs them open). */
static int
setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	fakewa_start();
	inst_start(&ia, 1);
	inst_start(&ib, 1);
	if (!pump(both_open, NULL, 60000))
		fail_msg("the workers did not pair and open (a=%d b=%d)", ia.open, ib.open);
	return 0;
}

/* Shutdown, and the process's clean end; the store stays. */
static void
inst_shutdown(struct inst *in)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__Shutdown sd = WAGATE__IPC__SHUTDOWN__INIT;
	int st;

	env.request_id = 9999;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN;
	env.shutdown = &sd;
	inst_send(in, &env);
	/* read what it still says until its EOF (closing first would break its last writes: exit 1), then it
	 * exits 0 (under valgrind: 99 on a leak or memory error) */
	for (int64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
		struct pollfd pfd = { in->fd, POLLIN, 0 };
		uint8_t junk[4096];
		if (poll(&pfd, 1, 100) == 1 && read(in->fd, junk, sizeof(junk)) <= 0)
			break;
	}
	close(in->fd);
	in->fd = 0;
	assert_int_equal(waitpid(in->pid, &st, 0), in->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	if (in->scan_pid > 0)
		waitpid(in->scan_pid, &st, 0);
	in->scan_pid = 0;
	free(in->buf);
	in->buf = NULL;
	in->have = 0;
}

static void
inst_stop(struct inst *in)
{
	struct rec *r;

	if (in->fd <= 0)
		return;
	inst_shutdown(in);
	while ((r = in->recs) != NULL) {
		in->recs = r->next;
		free(r->address);
		free(r->group);
		free(r->data);
		free(r);
	}
	for (size_t i = 0; i < in->nreplies; i++)
		ipc_envelope_free(in->replies[i]);
	for (size_t i = 0; i < in->nheld; i++)
		ipc_envelope_free(in->held[i]);
	free(in->creds);
}

static int
teardown(void **state)
{
	char cmd[128];
	int st;

	(void)state;
	/* fakewa first: a failing check below must not leave it running */
	if (fw.pid > 0) {
		kill(fw.pid, SIGTERM);
		waitpid(fw.pid, &st, 0);
		fw.pid = 0;
	}
	inst_stop(&ia);
	inst_stop(&ib);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fw.dir);
	(void)system(cmd);
	return 0;
}

/* The first message to B: stored (PENDING, ratchets) before fakewa sees it, SERVER_ACK after, decrypted by
 * B's phone, and the copy for our own phone decrypted too. */
static void
test_send(void **state)
{
	char to[64];
	struct want_phone wp = { PHONE_B, "3EB0TESTSEND0001", "text", "hello from wagate" };
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	snprintf(to, sizeof(to), "%s@s.whatsapp.net", PHONE_B);
	ia.hold_id = "3EB0TESTSEND0001";
	id = send_text(&ia, to, "hello from wagate", "3EB0TESTSEND0001");
	if (!pump(held_came, &ia, WAIT_MS))
		fail_msg("no MessageStore with the message");
	/* the COMMIT is not acked yet: nothing may have gone to WhatsApp */
	assert_string_equal(ia.stored_ids[ia.nstored - 1], "3EB0TESTSEND0001");
	assert_string_equal(ia.stored_status[ia.nstored - 1], "2");	/* MSG_STATUS_PENDING, from us, by the API */
	assert_true(ia.session_changes >= 2);		/* sessions with B's phone, B's companion, our phone */
	/* a barrier, not a sleep: fakewa answers this usync after everything A wrote before it */
	barrier(&ia);
	assert_false(phone_got_any(PHONE_B, "3EB0TESTSEND0001"));
	assert_null(reply_find(&ia, id));
	inst_store_ack(&ia, ia.held[0]->request_id, 1);
	ipc_envelope_free(ia.held[0]);
	ia.nheld = 0;
	ia.hold_id = NULL;
	r = await_reply(&ia, id);
	assert_int_equal(r->msg_case, WAGATE__IPC__ENVELOPE__MSG_SEND_RESULT);
	if (!r->send_result->ok)
		fail_msg("send failed: %d %s", r->send_result->code, r->send_result->error);
	assert_int_equal(r->send_result->status, WAGATE__IPC__MSG_STATUS__MSG_STATUS_SERVER_ACK);
	assert_string_equal(r->send_result->id, "3EB0TESTSEND0001");
	assert_string_equal(r->send_result->remote_jid, to);
	assert_true(r->send_result->timestamp > 1700000000);
	ipc_envelope_free(r);
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not decrypt the message");
	/* our own phone got the DeviceSentMessage copy */
	wp.phone = PHONE_A;
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("A's phone did not decrypt its copy");

	/* a second message rides the sessions now (one job, no key fetch) and gets an id of WhatsApp Web's form */
	id = send_text(&ia, to, "second one", NULL);
	r = await_reply(&ia, id);
	assert_true(r->send_result->ok);
	assert_int_equal(strlen(r->send_result->id), 22);
	assert_memory_equal(r->send_result->id, "3EB0", 4);
	wp.phone = PHONE_B;
	wp.id = r->send_result->id;
	wp.text = "second one";
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not decrypt the second message");
	ipc_envelope_free(r);
}

/* Nobody has that number: 400, nothing stored. */
static void
test_send_unknown(void **state)
{
	IpcEnvelope *r;
	struct want_stored ws = { &ia, "3EB0TESTNOBODY01", 0 };
	uint64_t id;

	(void)state;
	id = send_text(&ia, NOBODY "@s.whatsapp.net", "anyone?", ws.id);
	r = await_reply(&ia, id);
	assert_false(r->send_result->ok);
	assert_int_equal(r->send_result->code, 400);
	assert_false(stored_came(&ws));		/* no row for a message that never left */
	ipc_envelope_free(r);
	/* a group JID is refused too (1:1 only here) */
	id = send_text(&ia, "120363012345678901@g.us", "group?", NULL);
	r = await_reply(&ia, id);
	assert_int_equal(r->send_result->code, 400);
	ipc_envelope_free(r);
}

struct want_lid {
	struct inst *in;
	const char *pn, *lid;
};

static int
lid_came(void *arg)
{
	struct want_lid *w = arg;

	for (size_t i = 0; i < w->in->nlids; i++)
		if (strcmp(w->in->lid_pn[i], w->pn) == 0 && strcmp(w->in->lid_lid[i], w->lid) == 0)
			return 1;
	return 0;
}

static void
test_check_numbers(void **state)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__CheckNumbers cn = WAGATE__IPC__CHECK_NUMBERS__INIT;
	char *numbers[] = { (char *)PHONE_B, (char *)NOBODY }, pn[64], lid[64];
	struct want_lid lw = { &ia, NULL, NULL };

	(void)state;
	cn.n_numbers = 2;
	cn.numbers = numbers;
	env.request_id = ++ia.next_req;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_CHECK_NUMBERS;
	env.check_numbers = &cn;
	inst_send(&ia, &env);
	r = await_reply(&ia, env.request_id);
	assert_int_equal(r->msg_case, WAGATE__IPC__ENVELOPE__MSG_NUMBERS_RESULT);
	assert_true(r->numbers_result->ok);
	assert_int_equal(r->numbers_result->n_numbers, 2);
	snprintf(pn, sizeof(pn), "%s@s.whatsapp.net", PHONE_B);
	assert_string_equal(r->numbers_result->numbers[0]->number, PHONE_B);
	assert_true(r->numbers_result->numbers[0]->exists);
	assert_string_equal(r->numbers_result->numbers[0]->jid, pn);
	assert_non_null(strstr(r->numbers_result->numbers[0]->lid, "@lid"));
	snprintf(lid, sizeof(lid), "%s", r->numbers_result->numbers[0]->lid);
	assert_false(r->numbers_result->numbers[1]->exists);
	assert_string_equal(r->numbers_result->numbers[1]->jid, "");
	ipc_envelope_free(r);
	/* the LID it learnt is stored */
	lw.pn = pn;
	lw.lid = lid;
	if (!pump(lid_came, &lw, WAIT_MS))
		fail_msg("the LID mapping of %s was not stored", pn);
	/* not digits: refused before WhatsApp */
	numbers[1] = (char *)"+1555";
	env.request_id = ++ia.next_req;
	inst_send(&ia, &env);
	r = await_reply(&ia, env.request_id);
	assert_false(r->numbers_result->ok);
	assert_int_equal(r->numbers_result->code, 400);
	ipc_envelope_free(r);
}

static void
test_mark_read(void **state)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT, *r;
	Wagate__Ipc__MarkRead mr = WAGATE__IPC__MARK_READ__INIT;
	Wagate__Ipc__MessageKey k[3], *kp[3];
	char chat[64];

	(void)state;
	snprintf(chat, sizeof(chat), "%s@s.whatsapp.net", PHONE_B);
	for (int i = 0; i < 3; i++) {
		wagate__ipc__message_key__init(&k[i]);
		k[i].remote_jid = chat;
		kp[i] = &k[i];
	}
	k[0].id = "3EB0READ1";
	k[1].id = "3EB0READ2";
	k[2].id = "3EB0MINE";
	k[2].from_me = 1;
	mr.n_keys = 3;
	mr.keys = kp;
	env.request_id = ++ia.next_req;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_MARK_READ;
	env.mark_read = &mr;
	inst_send(&ia, &env);
	/* answered once fakewa acked the receipt (its <ack class="receipt">) */
	r = await_reply(&ia, env.request_id);
	assert_int_equal(r->msg_case, WAGATE__IPC__ENVELOPE__MSG_RESULT);
	if (!r->result->ok)
		fail_msg("mark read: %d %s", r->result->code, r->result->error);
	ipc_envelope_free(r);
}

/* B's phone fails to decrypt: its retry receipt makes the worker resend, and the phone gets the text. */
static void
test_retry(void **state)
{
	char to[64], body[256];
	struct want_phone wp = { PHONE_B, "3EB0TESTRETRY001", "retry", NULL };
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	assert_int_equal(http("POST", "/phone/fail-next-decrypt?account=" PHONE_B, "", body, sizeof(body)), 200);
	snprintf(to, sizeof(to), "%s@s.whatsapp.net", PHONE_B);
	id = send_text(&ia, to, "try again", "3EB0TESTRETRY001");
	r = await_reply(&ia, id);
	assert_true(r->send_result->ok);
	ipc_envelope_free(r);
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone did not fail as told");
	wp.type = "text";
	wp.text = "try again";
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("the resend did not reach B's phone");
}

static int
reopened(void *arg)
{
	struct want_stored *w = arg;

	return w->in->open && w->in->opens > w->opens;
}

/* The connection drops while the message waits for the server: 503 (it may still arrive, the API says), and
 * the worker logs in again by itself. */
static void
test_connection_drop(void **state)
{
	char to[64], body[256];
	struct want_stored ws = { &ia, "3EB0TESTDROP0001", ia.opens };
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	/* fakewa stops reading: the stanza is never taken, so no ack comes */
	assert_int_equal(http("POST", "/admin/stall?client=all", "", body, sizeof(body)), 200);
	snprintf(to, sizeof(to), "%s@s.whatsapp.net", PHONE_B);
	id = send_text(&ia, to, "into the void", ws.id);
	if (!pump(stored_came, &ws, WAIT_MS))
		fail_msg("the message was not stored");
	assert_int_equal(http("POST", "/admin/drop?client=all", "", body, sizeof(body)), 200);
	r = await_reply(&ia, id);
	assert_false(r->send_result->ok);
	assert_int_equal(r->send_result->code, 503);
	ipc_envelope_free(r);
	assert_false(phone_got_any(PHONE_B, ws.id));
	if (!pump(reopened, &ws, WAIT_MS))
		fail_msg("the worker did not log in again");
	/* and sends again on the new connection */
	id = send_text(&ia, to, "back again", "3EB0TESTDROP0002");
	r = await_reply(&ia, id);
	assert_true(r->send_result->ok);
	ipc_envelope_free(r);
}

/* A restarted worker (the store as it was committed, sessions read back through SignalLoad) goes on with the
 * same ratchets: the phone decrypts what it sends next. */
static void
test_restart(void **state)
{
	char to[64];
	struct want_stored ws = { &ia, NULL, ia.opens };
	struct want_phone wp = { PHONE_B, "3EB0TESTRESTART1", "text", "after a restart" };
	IpcEnvelope *r;
	uint64_t id;
	int loaded;

	(void)state;
	inst_shutdown(&ia);
	ia.open = 0;
	inst_start(&ia, 1);
	if (!pump(reopened, &ws, WAIT_MS))
		fail_msg("the restarted worker did not log in");
	snprintf(to, sizeof(to), "%s@s.whatsapp.net", PHONE_B);
	loaded = ia.sessions_loaded;
	id = send_text(&ia, to, "after a restart", wp.id);
	r = await_reply(&ia, id);
	/* the sessions came back from the store (no new ones from prekey bundles) ... */
	assert_true(ia.sessions_loaded >= loaded + 2);
	if (!r->send_result->ok)
		fail_msg("send after restart: %d %s", r->send_result->code, r->send_result->error);
	ipc_envelope_free(r);
	/* ... with their ratchets as committed: a stale one would reuse a counter and the phone would refuse it */
	if (!pump(phone_came, &wp, WAIT_MS))
		fail_msg("B's phone could not decrypt what the restarted worker sent");
}

/* A worker that never connected answers 503 at once. */
static void
test_not_open(void **state)
{
	struct inst saved = ib;
	IpcEnvelope *r;
	uint64_t id;

	(void)state;
	/* B stays as it is; a fresh instance without connect_now is used as the closed one */
	memset(&ib, 0, sizeof(ib));
	ib.name = "c";
	ib.phone = "15550001003";
	inst_start(&ib, 0);
	id = send_text(&ib, PHONE_A "@s.whatsapp.net", "closed", NULL);
	r = await_reply(&ib, id);
	assert_false(r->send_result->ok);
	assert_int_equal(r->send_result->code, 503);
	ipc_envelope_free(r);
	inst_stop(&ib);
	ib = saved;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_send_unknown),
		cmocka_unit_test(test_check_numbers),
		cmocka_unit_test(test_mark_read),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_connection_drop),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_not_open),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
