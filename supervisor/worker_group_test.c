/* Group commands through the worker table (worker_group.c, proto/ipc.proto 60..63), against real processes the
 * table spawned, whose channel the test plays frame by frame (workers_testlib.h "struct fw"): GroupCreate,
 * GroupQuery and GroupList carry what was asked and hand back the worker's validated GroupResult; a refusal
 * keeps its code; 504 after the deadline; 503 when the worker goes away (exit, EOF, remove, free), while an
 * answer that still comes as it stops counts; an answer that breaks the caps of workers.h is a protocol error:
 * 500 to the caller, and the worker is killed. */
#include "workers_testlib.h"
#include "workers_int.h"
#include "worker_group_check.h"
#include "ipc.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define NCB 16
#define GJID "120363000000000001@g.us"

/* What the group callbacks saw (copied: the pointers live only during the callback). */
struct seen {
	int n;
	int ok[NCB], code[NCB];
	size_t ngroups[NCB];
	char error[NCB][128];
	char jid[NCB][2][64], subject[NCB][64], owner[NCB][64], desc[NCB][64];
	int64_t stime[NCB], creation[NCB];
	int locked[NCB], announce[NCB];
	size_t nparts[NCB];
	char part[NCB][3][64], lid[NCB][3][64], admin[NCB][3][16];
};

static void
on_groups(void *arg, int ok, int code, const char *error, const struct workers_group *v, size_t n)
{
	struct seen *s = arg;
	int i = s->n++;
	size_t j, k;

	assert_true(i < NCB);
	s->ok[i] = ok;
	s->code[i] = code;
	s->ngroups[i] = n;
	if (!ok) {
		assert_non_null(error);
		assert_null(v);
		assert_int_equal(n, 0);
		snprintf(s->error[i], 128, "%s", error);
		return;
	}
	for (j = 0; j < n && j < 2; j++)
		snprintf(s->jid[i][j], 64, "%s", v[j].jid);
	if (n == 0)
		return;
	snprintf(s->subject[i], 64, "%s", v[0].subject);
	snprintf(s->owner[i], 64, "%s", v[0].owner);
	snprintf(s->desc[i], 64, "%s", v[0].desc);
	s->stime[i] = v[0].subject_time;
	s->creation[i] = v[0].creation;
	s->locked[i] = v[0].locked;
	s->announce[i] = v[0].announce;
	s->nparts[i] = v[0].nparticipants;
	for (k = 0; k < v[0].nparticipants && k < 3; k++) {
		snprintf(s->part[i][k], 64, "%s", v[0].participants[k].jid);
		snprintf(s->lid[i][k], 64, "%s", v[0].participants[k].lid);
		snprintf(s->admin[i][k], 16, "%s", v[0].participants[k].admin);
	}
}

/* A GroupInfo with np participants from pv (strings by pointer). */
static void
info(Wagate__Ipc__GroupInfo *g, const char *jid, Wagate__Ipc__GroupParticipant **pv, size_t np)
{
	wagate__ipc__group_info__init(g);
	g->jid = (char *)jid;
	g->subject = (char *)"Subject";
	g->subject_owner = (char *)"15550001111@s.whatsapp.net";
	g->owner = (char *)"15550001111@s.whatsapp.net";
	g->desc = (char *)"";
	g->desc_id = (char *)"";
	g->subject_time = 1700000000;
	g->creation = 1700000001;
	g->participants = pv;
	g->n_participants = np;
}

static void
participant(Wagate__Ipc__GroupParticipant *p, const char *jid, const char *lid, const char *admin)
{
	wagate__ipc__group_participant__init(p);
	p->jid = (char *)jid;
	p->lid = (char *)lid;
	p->admin = (char *)admin;
}

/* Answer the next frame (which must be of msg_case) with r; its envelope for the caller to look at (free it). */
static IpcEnvelope *
answer(struct tctx *t, struct fw *f, int msg_case, Wagate__Ipc__GroupResult *r)
{
	IpcEnvelope *env = fw_expect(t, f, msg_case, 10000);

	assert_true(env->request_id != 0);
	fw_send_group_result(t, f, env->request_id, r);
	return env;
}

/* ---- the three commands and their answers ---- */

static void
test_group_commands(void **state)
{
	struct tctx *t = fw_tctx();
	int lfd = fw_listen();
	struct fw f;
	struct seen s;
	const char *parts[2] = { "15551234567@s.whatsapp.net", "15557654321@s.whatsapp.net" };
	Wagate__Ipc__GroupParticipant p[3], *pp[3] = { &p[0], &p[1], &p[2] };
	Wagate__Ipc__GroupInfo g[2], *gp[2] = { &g[0], &g[1] };
	Wagate__Ipc__GroupResult r = WAGATE__IPC__GROUP_RESULT__INIT;
	IpcEnvelope *env;
	char big[WORKERS_SUBJECT_MAX + 2];

	(void)state;
	memset(&s, 0, sizeof(s));
	/* Not registered, or not Ready yet: -1, and the callbacks never run. */
	assert_int_equal(workers_group_create(t->w, "nobody", "S", parts, 2, on_groups, &s), -1);
	add(t, "hand-grp", 0);
	assert_int_equal(workers_group_create(t->w, "hand-grp", "S", parts, 2, on_groups, &s), -1);
	assert_int_equal(workers_group_query(t->w, "hand-grp", GJID, on_groups, &s), -1);
	assert_int_equal(workers_group_list(t->w, "hand-grp", on_groups, &s), -1);
	assert_true(fw_accept(t, lfd, &f, 10000));
	fw_ready(t, &f, "hand-grp");

	/* Arguments outside the limits: -1. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(workers_group_create(t->w, "hand-grp", "", parts, 2, on_groups, &s), -1);
	assert_int_equal(workers_group_create(t->w, "hand-grp", big, parts, 2, on_groups, &s), -1);
	assert_int_equal(workers_group_create(t->w, "hand-grp", "S", parts, 0, on_groups, &s), -1);
	assert_int_equal(workers_group_create(t->w, "hand-grp", "S", parts, WORKER_GROUP_CREATE_MAX + 1, on_groups,
	    &s), -1);
	assert_int_equal(workers_group_create(t->w, "hand-grp", "S", (const char *[]){ "" }, 1, on_groups, &s), -1);
	assert_int_equal(workers_group_create(t->w, "hand-grp", "S", parts, 2, NULL, &s), -1);
	assert_int_equal(workers_group_query(t->w, "hand-grp", "", on_groups, &s), -1);
	run_for(t, 50);
	assert_int_equal(s.n, 0);

	/* GroupCreate -> GroupResult with the new group. */
	assert_int_equal(workers_group_create(t->w, "hand-grp", "Team", parts, 2, on_groups, &s), 0);
	participant(&p[0], "15550001111@s.whatsapp.net", "100000000000001@lid", "superadmin");
	participant(&p[1], "15551234567@s.whatsapp.net", "", "");
	participant(&p[2], "15557654321@s.whatsapp.net", "", "admin");
	info(&g[0], GJID, pp, 3);
	g[0].subject = (char *)"Team";
	g[0].locked = 1;
	r.ok = 1;
	r.n_groups = 1;
	r.groups = gp;
	env = answer(t, &f, WAGATE__IPC__ENVELOPE__MSG_GROUP_CREATE, &r);
	assert_string_equal(env->group_create->subject, "Team");
	assert_int_equal(env->group_create->n_participants, 2);
	assert_string_equal(env->group_create->participants[0], parts[0]);
	assert_string_equal(env->group_create->participants[1], parts[1]);
	ipc_envelope_free(env);
	assert_true(run_until(t, &s.n, 1, 10000));
	assert_true(s.ok[0]);
	assert_int_equal(s.ngroups[0], 1);
	assert_string_equal(s.jid[0][0], GJID);
	assert_string_equal(s.subject[0], "Team");
	assert_string_equal(s.owner[0], "15550001111@s.whatsapp.net");
	assert_int_equal(s.stime[0], 1700000000);
	assert_int_equal(s.creation[0], 1700000001);
	assert_true(s.locked[0]);
	assert_false(s.announce[0]);
	assert_int_equal(s.nparts[0], 3);
	assert_string_equal(s.lid[0][0], "100000000000001@lid");
	assert_string_equal(s.admin[0][0], "superadmin");
	assert_string_equal(s.part[0][1], "15551234567@s.whatsapp.net");
	assert_string_equal(s.admin[0][1], "");
	assert_string_equal(s.admin[0][2], "admin");

	/* GroupQuery -> the group asked. */
	assert_int_equal(workers_group_query(t->w, "hand-grp", GJID, on_groups, &s), 0);
	g[0].desc = (char *)"the description";
	env = answer(t, &f, WAGATE__IPC__ENVELOPE__MSG_GROUP_QUERY, &r);
	assert_string_equal(env->group_query->jid, GJID);
	ipc_envelope_free(env);
	assert_true(run_until(t, &s.n, 2, 10000));
	assert_true(s.ok[1]);
	assert_string_equal(s.desc[1], "the description");

	/* GroupList -> two groups (the second without participants), then none. */
	info(&g[1], "120363000000000002@g.us", NULL, 0);
	r.n_groups = 2;
	assert_int_equal(workers_group_list(t->w, "hand-grp", on_groups, &s), 0);
	ipc_envelope_free(answer(t, &f, WAGATE__IPC__ENVELOPE__MSG_GROUP_LIST, &r));
	assert_true(run_until(t, &s.n, 3, 10000));
	assert_true(s.ok[2]);
	assert_int_equal(s.ngroups[2], 2);
	assert_string_equal(s.jid[2][0], GJID);
	assert_string_equal(s.jid[2][1], "120363000000000002@g.us");
	r.n_groups = 0;
	assert_int_equal(workers_group_list(t->w, "hand-grp", on_groups, &s), 0);
	ipc_envelope_free(answer(t, &f, WAGATE__IPC__ENVELOPE__MSG_GROUP_LIST, &r));
	assert_true(run_until(t, &s.n, 4, 10000));
	assert_true(s.ok[3]);
	assert_int_equal(s.ngroups[3], 0);

	/* A refusal keeps its code and error (groups in it mean nothing); a code out of range becomes 500. */
	wagate__ipc__group_result__init(&r);
	r.code = 404;
	r.error = (char *)"item-not-found";
	r.n_groups = 1;
	r.groups = gp;
	assert_int_equal(workers_group_query(t->w, "hand-grp", "120363000000000009@g.us", on_groups, &s), 0);
	ipc_envelope_free(answer(t, &f, WAGATE__IPC__ENVELOPE__MSG_GROUP_QUERY, &r));
	assert_true(run_until(t, &s.n, 5, 10000));
	assert_false(s.ok[4]);
	assert_int_equal(s.code[4], 404);
	assert_string_equal(s.error[4], "item-not-found");
	r.code = 7;
	r.error = (char *)"";
	assert_int_equal(workers_group_list(t->w, "hand-grp", on_groups, &s), 0);
	ipc_envelope_free(answer(t, &f, WAGATE__IPC__ENVELOPE__MSG_GROUP_LIST, &r));
	assert_true(run_until(t, &s.n, 6, 10000));
	assert_false(s.ok[5]);
	assert_int_equal(s.code[5], 500);
	assert_string_equal(s.error[5], "the worker refused");

	/* Nothing more was called, and the worker is still the one we started. */
	run_for(t, 100);
	assert_int_equal(s.n, 6);
	assert_int_equal(t->nexit, 0);
	assert_int_equal(workers_pid(t->w, "hand-grp"), f.pid);
	fw_close(&f);
	tctx_free(t);
	fw_unlisten(lfd);
}

/* 504 after the deadline (a late answer is dropped, not a protocol error); 503 when the worker is killed, when
 * it closes its end, when it is removed (an answer sent while it stops still counts), and when the table is
 * freed with commands pending. */
static void
test_group_timeouts_and_gone(void **state)
{
	struct tctx *t = fw_tctx();
	int lfd = fw_listen();
	struct fw f;
	struct seen s, sf;
	const char *parts[1] = { "15551234567@s.whatsapp.net" };
	Wagate__Ipc__GroupResult r = WAGATE__IPC__GROUP_RESULT__INIT;
	IpcEnvelope *env;
	long long t0;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&sf, 0, sizeof(sf));
	t->w->cfg.backoff_min_ms = t->w->cfg.backoff_max_ms = 100;
	fw_start(t, lfd, "hand-gslow", &f);
	t->w->query_timeout_ms = 200;
	t0 = now_ms();
	assert_int_equal(workers_group_create(t->w, "hand-gslow", "S", parts, 1, on_groups, &s), 0);
	assert_int_equal(workers_group_query(t->w, "hand-gslow", GJID, on_groups, &s), 0);
	assert_int_equal(workers_group_list(t->w, "hand-gslow", on_groups, &s), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_GROUP_CREATE, 10000);
	assert_true(run_until(t, &s.n, 3, 10000));
	assert_true(now_ms() - t0 >= 190);
	assert_int_equal(s.code[0], 504);
	assert_int_equal(s.code[1], 504);
	assert_int_equal(s.code[2], 504);
	assert_string_equal(s.error[0], "timeout");
	r.ok = 1;
	fw_send_group_result(t, &f, env->request_id, &r);
	ipc_envelope_free(env);
	run_for(t, 200);
	assert_int_equal(s.n, 3);
	assert_int_equal(t->nexit, 0);
	t->w->query_timeout_ms = WORKERS_QUERY_TIMEOUT_MS;

	/* killed (not by the table) */
	assert_int_equal(workers_group_query(t->w, "hand-gslow", GJID, on_groups, &s), 0);
	assert_int_equal(workers_group_list(t->w, "hand-gslow", on_groups, &s), 0);
	assert_int_equal(kill(f.pid, SIGKILL), 0);
	assert_true(run_until(t, &s.n, 5, 10000));
	assert_int_equal(s.code[3], 503);
	assert_int_equal(s.code[4], 503);
	assert_string_equal(s.error[4], "the worker went away");
	fw_close(&f);

	/* the successor closes its end */
	assert_true(fw_accept(t, lfd, &f, 10000));
	fw_ready(t, &f, "hand-gslow");
	assert_int_equal(workers_group_create(t->w, "hand-gslow", "S", parts, 1, on_groups, &s), 0);
	fw_close(&f);
	assert_true(run_until(t, &s.n, 6, 10000));
	assert_int_equal(s.code[5], 503);
	assert_int_equal(kill(f.pid, SIGKILL), 0);

	/* removed: an answer that still comes while it stops counts; the other command ends when it is gone */
	assert_true(fw_accept(t, lfd, &f, 10000));
	fw_ready(t, &f, "hand-gslow");
	assert_int_equal(workers_group_list(t->w, "hand-gslow", on_groups, &s), 0);
	assert_int_equal(workers_group_query(t->w, "hand-gslow", GJID, on_groups, &s), 0);
	env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_GROUP_LIST, 10000);
	ipc_envelope_free(fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_GROUP_QUERY, 10000));
	assert_int_equal(workers_remove(t->w, "hand-gslow"), 0);
	ipc_envelope_free(fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_SHUTDOWN, 10000));
	wagate__ipc__group_result__init(&r);
	r.ok = 1;
	fw_send_group_result(t, &f, env->request_id, &r);
	ipc_envelope_free(env);
	assert_true(run_until(t, &s.n, 7, 10000));
	assert_true(s.ok[6]);
	assert_int_equal(s.ngroups[6], 0);
	assert_int_equal(kill(f.pid, SIGKILL), 0);
	assert_true(run_until(t, &s.n, 8, 10000));
	assert_int_equal(s.code[7], 503);
	assert_int_equal(workers_group_list(t->w, "hand-gslow", on_groups, &s), -1);
	fw_close(&f);

	/* freed with commands pending: called during workers_free */
	fw_start(t, lfd, "hand-gfree", &f);
	assert_int_equal(workers_group_list(t->w, "hand-gfree", on_groups, &sf), 0);
	assert_int_equal(workers_group_query(t->w, "hand-gfree", GJID, on_groups, &sf), 0);
	run_for(t, 50);
	assert_int_equal(sf.n, 0);
	tctx_free(t);
	assert_int_equal(sf.n, 2);
	assert_int_equal(sf.code[0], 503);
	assert_int_equal(sf.code[1], 503);
	assert_int_equal(s.n, 8);
	fw_close(&f);
	fw_unlisten(lfd);
}

/* Answers that break the contract: the caller hears 500 once, the worker is killed (REASON_PROTOCOL_ERROR). */
static void
test_group_invalid_answers(void **state)
{
	struct tctx *t = fw_tctx();
	int lfd = fw_listen();
	struct fw f;
	struct seen s;
	const char *parts[1] = { "15551234567@s.whatsapp.net" };
	Wagate__Ipc__GroupParticipant p, *pp[1] = { &p };
	Wagate__Ipc__GroupInfo g[2], *gp[2] = { &g[0], &g[1] };
	Wagate__Ipc__GroupResult r;
	Wagate__Ipc__NumbersResult nr = WAGATE__IPC__NUMBERS_RESULT__INIT;
	IpcEnvelope *env;
	char id[32];
	int v, nv = 8;

	(void)state;
	memset(&s, 0, sizeof(s));
	for (v = 0; v < nv; v++) {
		snprintf(id, sizeof(id), "hand-ginv%d", v);
		fw_start(t, lfd, id, &f);
		wagate__ipc__group_result__init(&r);
		r.ok = 1;
		r.n_groups = 1;
		r.groups = gp;
		participant(&p, "15551234567@s.whatsapp.net", "", "");
		info(&g[0], GJID, pp, 1);
		info(&g[1], "120363000000000002@g.us", pp, 1);
		if (v == 7) {
			/* the answer of another command under the GroupQuery's id */
			assert_int_equal(workers_group_query(t->w, id, GJID, on_groups, &s), 0);
			env = fw_expect(t, &f, WAGATE__IPC__ENVELOPE__MSG_GROUP_QUERY, 10000);
			fw_send_numbers(t, &f, env->request_id, &nr);
			ipc_envelope_free(env);
			assert_true(run_until(t, &t->nexit, v + 1, 10000));
			assert_true(run_until(t, &s.n, v + 1, 10000));
			assert_int_equal(s.code[v], 503);	/* the request itself never got its answer */
			fw_close(&f);
			break;
		}
		switch (v) {
		case 0:			/* GroupCreate answered with two groups */
			r.n_groups = 2;
			break;
		case 1:			/* a group JID that is no group */
			g[0].jid = (char *)"15551234567@s.whatsapp.net";
			break;
		case 2:			/* an unknown admin role */
			p.admin = (char *)"owner";
			break;
		case 3:			/* a participant without a JID */
			p.jid = (char *)"";
			break;
		case 4:			/* a subject that is not UTF-8 */
			g[0].subject = (char *)"\xff\xfe";
			break;
		case 5:			/* a negative time */
			g[0].creation = -1;
			break;
		case 6:			/* ok without a group */
			r.n_groups = 0;
			break;
		}
		assert_int_equal(workers_group_create(t->w, id, "S", parts, 1, on_groups, &s), 0);
		ipc_envelope_free(answer(t, &f, WAGATE__IPC__ENVELOPE__MSG_GROUP_CREATE, &r));
		assert_true(run_until(t, &t->nexit, v + 1, 10000));
		assert_int_equal(s.n, v + 1);
		assert_false(s.ok[v]);
		assert_int_equal(s.code[v], 500);
		assert_int_equal(t->reason[t->nstate - 1], REASON_PROTOCOL_ERROR);
		assert_int_equal(workers_remove(t->w, id), 0);
		fw_close(&f);
	}
	tctx_free(t);
	assert_int_equal(s.n, nv);
	fw_unlisten(lfd);
}

/* A GroupQuery answered with another group than the one asked is invalid too (checked without a process). */
static void
test_group_check(void **state)
{
	Wagate__Ipc__GroupInfo g, *gp[1] = { &g };
	Wagate__Ipc__GroupResult r = WAGATE__IPC__GROUP_RESULT__INIT;
	struct worker_group_want want = { 1, GJID };
	struct workers_group *v;
	const char *error;
	size_t n;
	int code;

	(void)state;
	info(&g, "120363000000000002@g.us", NULL, 0);
	r.ok = 1;
	r.n_groups = 1;
	r.groups = gp;
	assert_int_equal(worker_group_check_result(&r, &want, &v, &n, &code, &error), -1);
	assert_null(v);
	g.jid = (char *)GJID;
	assert_int_equal(worker_group_check_result(&r, &want, &v, &n, &code, &error), 0);
	assert_int_equal(n, 1);
	assert_null(v[0].participants);
	worker_group_free(v, n);
	/* a list over WORKERS_GROUPS_MAX */
	want.one = 0;
	r.n_groups = WORKERS_GROUPS_MAX + 1;
	assert_int_equal(worker_group_check_result(&r, &want, &v, &n, &code, &error), -1);
	/* a group over WORKERS_GROUP_PARTICIPANTS_MAX */
	r.n_groups = 1;
	g.n_participants = WORKERS_GROUP_PARTICIPANTS_MAX + 1;
	assert_int_equal(worker_group_check_result(&r, &want, &v, &n, &code, &error), -1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_check),
		cmocka_unit_test(test_group_commands),
		cmocka_unit_test(test_group_timeouts_and_gone),
		cmocka_unit_test(test_group_invalid_answers),
	};

	return testlib_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
