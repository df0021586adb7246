/* The supervisor side of msg_send_worker_test.c (see msg_send_harness.h). */
#include "msg_send_harness.h"
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

struct fakewa fw;
static struct inst *watched[HARNESS_INSTS];

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One blocking HTTP/1.1 request to fakewa's control port: the status; the body into out (NUL-terminated). */
int
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

void
fakewa_start(void)
{
	const char *bin = getenv("WAGATE_FAKEWA_BIN");
	char root[128], cert[128], line[256], keytxt[256];
	int pipefd[2];
	FILE *f;

	assert_non_null(bin);
	signal(SIGPIPE, SIG_IGN);
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

const struct sigdb_row *
inst_rec(struct inst *in, int kind, const char *address)
{
	return *sigdb_find(&in->recs, kind, address, "", 0);
}

/* A record's bytes for sigdb_set, never NULL: an empty record is still a record (NULL would delete it). */
static const uint8_t *
rec_bytes(const ProtobufCBinaryData *b)
{
	return b->data != NULL ? b->data : (const uint8_t *)"";
}

/* forget_users (an identity change): every SESSION and IDENTITY record of the user, any device, goes; the
 * Signal name is the digits, "_1" appended for a LID (msg_signal_address). */
static void
rec_forget(struct inst *in, const char *user)
{
	char name[128];
	const char *at = strchr(user, '@');
	struct sigdb_row **pp, *r;
	size_t n;

	assert_non_null(at);
	snprintf(name, sizeof(name), "%.*s%s", (int)(at - user), user, strcmp(at, "@lid") == 0 ? "_1" : "");
	n = strlen(name);
	for (pp = &in->recs; (r = *pp) != NULL;) {
		if ((r->kind == WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SESSION ||
		    r->kind == WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_IDENTITY) && strncmp(r->address, name, n) == 0 &&
		    r->address[n] == ':') {
			*pp = r->next;
			free(r->address);
			free(r->group);
			free(r->data);
			free(r);
		} else
			pp = &r->next;
	}
	in->forgets++;
	snprintf(in->forgot, sizeof(in->forgot), "%s", user);
}

/* --- IPC --- */

void
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

void
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

void
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
		struct sigdb_row *found = *sigdb_find(&in->recs, k->kind, k->address, k->group, k->prekey_id);
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
	/* first, as the supervisor does: a change of this batch is newer than the forgetting */
	for (size_t i = 0; i < m->n_forget_users; i++)
		rec_forget(in, m->forget_users[i]);
	for (size_t i = 0; i < m->n_changes; i++) {
		const Wagate__Ipc__SignalChange *c = m->changes[i];
		sigdb_set(&in->recs, c->key->kind, c->key->address, c->key->group, c->key->prekey_id,
		    c->deleted ? NULL : rec_bytes(&c->data), c->data.len);
		in->session_changes += c->key->kind == WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_SESSION;
	}
	for (size_t i = 0; i < m->n_messages && in->nstored < 64; i++) {
		const Wagate__Ipc__StoredMessage *s = m->messages[i];
		/* what a send stores: PENDING, from us, by the API, with the bytes given */
		if (s->from_me && s->sent_by_api)
			snprintf(in->stored_status[in->nstored], 8, "%d", s->status);
		else
			snprintf(in->stored_status[in->nstored], 8, "other");
		snprintf(in->stored_remote[in->nstored], 128, "%s", s->remote_jid);
		snprintf(in->stored_participant[in->nstored], 128, "%s", s->participant);
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
			sigdb_set(&in->recs, WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_PREKEY, NULL, NULL,
			    env->store_batch->prekeys[i]->id, rec_bytes(&env->store_batch->prekeys[i]->record),
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
	case WAGATE__IPC__ENVELOPE__MSG_GROUP_RESULT:
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
int
pump(int (*done)(void *), void *arg, int ms)
{
	struct inst **all = watched;
	int64_t end = now_ms() + ms;
	IpcEnvelope *env;
	size_t used;

	for (;;) {
		struct pollfd pfd[HARNESS_INSTS];
		nfds_t n = 0;
		if (done != NULL && done(arg))
			return 1;
		if (now_ms() >= end)
			return 0;
		for (size_t i = 0; i < HARNESS_INSTS; i++)
			if (all[i] != NULL && all[i]->fd > 0) {
				pfd[n].fd = all[i]->fd;
				pfd[n].events = POLLIN;
				pfd[n++].revents = 0;
			}
		if (poll(pfd, n, 50) < 0)
			continue;
		for (size_t i = 0, k = 0; i < HARNESS_INSTS; i++) {
			struct inst *in = all[i];
			ssize_t got;
			if (in == NULL || in->fd <= 0)
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

/* The reply to request id of in, once it came (NULL until then). */
IpcEnvelope *
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
IpcEnvelope *
await_reply(struct inst *in, uint64_t id)
{
	struct want_reply w = { in, id, NULL };

	if (!pump(reply_came, &w, WAIT_MS))
		fail_msg("no reply to request %llu from %s", (unsigned long long)id, in->name);
	return w.got;
}

/* Shutdown, and the process's clean end; the store stays. */
void
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

void
inst_stop(struct inst *in)
{
	if (in->fd <= 0)
		return;
	inst_shutdown(in);
	sigdb_free(&in->recs);
	for (size_t i = 0; i < in->nreplies; i++)
		ipc_envelope_free(in->replies[i]);
	for (size_t i = 0; i < in->nheld; i++)
		ipc_envelope_free(in->held[i]);
	free(in->creds);
}

void
inst_watch(struct inst *in)
{
	for (size_t i = 0; i < HARNESS_INSTS; i++)
		if (watched[i] == in || watched[i] == NULL) {
			watched[i] = in;
			return;
		}
	fail_msg("too many instances");
}

void
fakewa_stop(void)
{
	int st;

	if (fw.pid <= 0)
		return;
	kill(fw.pid, SIGTERM);
	waitpid(fw.pid, &st, 0);
	fw.pid = 0;
}

/* --- what the tests share on top --- */

struct open_all {
	struct inst *const *v;
	size_t n;
};

static int
all_open(void *arg)
{
	const struct open_all *a = arg;

	for (size_t i = 0; i < a->n; i++)
		if (!a->v[i]->open)
			return 0;
	return 1;
}

/* All watched before any starts: pump() serves only watched workers, and the first may pair while the second
 * starts. */
int
inst_open_all(struct inst *const *v, size_t n, int ms)
{
	struct open_all a = { v, n };

	for (size_t i = 0; i < n; i++)
		inst_watch(v[i]);
	for (size_t i = 0; i < n; i++)
		inst_start(v[i], 1);
	return pump(all_open, &a, ms);
}

int
harness_teardown(void **state)
{
	char cmd[128];

	(void)state;
	fakewa_stop();
	for (size_t i = 0; i < HARNESS_INSTS && watched[i] != NULL; i++)
		inst_stop(watched[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fw.dir);
	(void)system(cmd);
	return 0;
}

uint64_t
inst_request(struct inst *in, IpcEnvelope *env)
{
	env->request_id = ++in->next_req;
	inst_send(in, env);
	return env->request_id;
}

uint8_t *
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

uint64_t
send_text(struct inst *in, const char *to, const char *text, const char *id)
{
	return send_text_by(in, to, text, id, 0);
}

uint64_t
send_text_by(struct inst *in, const char *to, const char *text, const char *id, uint64_t start_by_ms)
{
	IpcEnvelope env = WAGATE__IPC__ENVELOPE__INIT;
	Wagate__Ipc__SendMessage sm = WAGATE__IPC__SEND_MESSAGE__INIT;
	uint8_t *msg;
	size_t len;
	uint64_t rid;

	msg = text_message(text, &len);
	sm.to = (char *)to;
	sm.message.data = msg;
	sm.message.len = len;
	sm.id = (char *)(id != NULL ? id : "");
	sm.start_by_ms = start_by_ms;
	env.msg_case = WAGATE__IPC__ENVELOPE__MSG_SEND_MESSAGE;
	env.send_message = &sm;
	rid = inst_request(in, &env);
	free(msg);
	return rid;
}

int
stored_came(void *arg)
{
	const struct want_stored *w = arg;

	for (size_t i = 0; i < w->in->nstored; i++)
		if (strcmp(w->in->stored_ids[i], w->id) == 0)
			return 1;
	return 0;
}

int
inst_reopened(void *arg)
{
	const struct want_stored *w = arg;

	return w->in->open && w->in->opens > w->opens;
}

int
held_came(void *arg)
{
	return ((struct inst *)arg)->nheld > 0;
}
