/* Message helpers of the lifecycle_msg.c tests (lm_testlib.h). */
#include "lifecycle.h"
#include "app.h"
#include "db.h"
#include "workers.h"
#include "xmalloc.h"

#include "e2e.pb-c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lc_testlib.h"
#include "lm_testlib.h"

/* A conversation Message, packed (caller frees). */
uint8_t *
pack_text(const char *text, size_t *len)
{
	Wa__Message m = WA__MESSAGE__INIT;
	uint8_t *buf;

	m.conversation = (char *)text;
	*len = wa__message__get_packed_size(&m);
	buf = xmalloc(*len + 1);
	wa__message__pack(&m, buf);
	return buf;
}

/* A reply mentioning someone: extendedTextMessage with contextInfo (Evolution stores it as conversation). */
uint8_t *
pack_reply(const char *text, size_t *len)
{
	Wa__Message m = WA__MESSAGE__INIT;
	Wa__ExtendedTextMessage e = WA__EXTENDED_TEXT_MESSAGE__INIT;
	Wa__ContextInfo c = WA__CONTEXT_INFO__INIT;
	char *mentions[] = { "15550009999@s.whatsapp.net" };
	uint8_t *buf;

	c.stanzaid = "M1";
	c.n_mentionedjid = 1;
	c.mentionedjid = mentions;
	e.text = (char *)text;
	e.contextinfo = &c;
	m.extendedtextmessage = &e;
	*len = wa__message__get_packed_size(&m);
	buf = xmalloc(*len + 1);
	wa__message__pack(&m, buf);
	return buf;
}

/* A message with every string set ("" = none). */
struct workers_msg
msg(const char *id, const char *remote, const char *participant, const char *push, int from_me, int by_api,
    int status, const uint8_t *body, size_t len)
{
	struct workers_msg m;

	memset(&m, 0, sizeof(m));
	m.id = id;
	m.remote_jid = remote;
	m.remote_jid_alt = "";
	m.participant = participant;
	m.participant_alt = "";
	m.push_name = push;
	m.source = from_me ? "" : "android";
	m.from_me = from_me;
	m.sent_by_api = by_api;
	m.timestamp = 1700000000;
	m.status = status;
	m.message = body;
	m.message_len = len;
	return m;
}

/* Hand a MessageStore to lifecycle and wait for its answer; returns ok. */
int
store(const struct workers_msg_store *m, uint64_t req)
{
	int n = LC.nreply;

	lifecycle_on_msg_store(&LC.app, IID, req, m);
	assert_true(lct_run_until(&LC.nreply, n + 1, 10000));
	lct_drain();
	assert_int_equal(LC.reply_req[n % 32], req);
	return LC.reply_ok[n % 32];
}

/* One status change in a store of its own. */
int
store_status(const char *id, int status, uint64_t req)
{
	struct workers_msg_status s = { id, "15550002222@s.whatsapp.net", "", 1, status, 1700000001 };
	struct workers_msg_store m;

	memset(&m, 0, sizeof(m));
	m.statuses = &s;
	m.nstatuses = 1;
	return store(&m, req);
}

struct lm_plans {
	int done;
	long generic, custom;
};

static void
lm_plans_cb(void *arg, const struct db_result *r)
{
	struct lm_plans *pc = arg;

	assert_null(r->err);
	assert_int_equal(PQntuples(r->res[0]), 1);
	pc->generic = strtol(PQgetvalue(r->res[0], 0, 0), NULL, 10);
	pc->custom = strtol(PQgetvalue(r->res[0], 0, 1), NULL, 10);
	pc->done = 1;
}

/* The plans of the pool's prepared statements whose text holds needle (the needle is a parameter: this
 * query's own text does not hold it). */
void
prepared_plans(const char *needle, long *generic, long *custom)
{
	struct lm_plans pc = { 0, 0, 0 };

	assert_int_equal(db_query(LC.app.db, "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)"
	    " FROM pg_prepared_statements WHERE strpos(statement, $1) > 0", 1, &needle, lm_plans_cb, &pc), 0);
	assert_true(lct_run_until(&pc.done, 1, 10000));
	*generic = pc.generic;
	*custom = pc.custom;
}
