/* The fixture shared by the tests that run lifecycle and the routes against a real PostgreSQL with the worker
 * table stubbed (lifecycle_test, lifecycle_msg_test, routes_message_test, routes_group_test): one app with one
 * instance (IID), the loop and SQL helpers, an HTTP client for the routes, and a stub table (lc_stubs.c) that
 * records what it is asked. Include after cmocka's headers. */
#ifndef WAGATE_LC_TESTLIB_H
#define WAGATE_LC_TESTLIB_H

#include "app.h"
#include "config.h"
#include "workers.h"

#include <event2/http.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define IID	"11111111-2222-4333-8444-555555555555"
#define KEY	"global-test-key"	/* the global API key of lct_setup(..., http) */

struct pgtest;

struct lct {
	struct app app;
	struct config cfg;
	struct pgtest *pg;
	char *uri;
	PGconn *conn;
	int port;			/* the HTTP server's, with lct_setup(..., http) */
	/* the last HTTP answer (lct_req) */
	int done, code;
	char body[16384];
	/* what lifecycle asked of the stub table (lc_stubs.c): StoreAck / PairAck / Result answers */
	int nreply, reply_ok[32], reply_pair[32];
	uint64_t reply_req[32];
	char reply_err[32][256];
	/* SignalRecords answers: the last one */
	int nsig, sig_ok;
	char sig_err[256];
	size_t sig_n;
	struct { int kind, found; char data[256]; size_t len; unsigned prekey_id; } sig[16];
	/* the table's other calls */
	int nforget, nadd, add_connect_now, nremove, nupdate, update_reject_call;
	int nrestart, nconnect, nlogout;
	char add_creds[64];
	pid_t pid;			/* what workers_pid answers */
};

extern struct lct LC;

/* A fresh database named test_<pid> with the migrations, one instance row (IID, named inst_name) in it and in
 * the registry, lifecycle, a pool of 4, and a webhook outbox that only writes rows. With http: the routes'
 * config (KEY), the instance open as 15550001111, and the HTTP server on a free port (LC.port). 0 or -1. */
int lct_setup(const char *test, const char *inst_name, int http);
/* Everything lct_setup made, undone (a cmocka group teardown). */
int lct_teardown(void **state);

long long lct_now_ms(void);
/* Run the loop until *flag >= want or ms pass; whether it got there. */
int lct_run_until(const int *flag, int want, int ms);
/* Run the loop for ms (nothing to wait for). */
void lct_run_for(int ms);
/* Run the loop until no query and no lifecycle write is pending (10 s at most)... */
void lct_settle(void);
/* ...and fail the test unless both are done. */
void lct_drain(void);

/* Run q on the test's own connection; fail the test on error. */
void lct_sql(const char *q);
/* The first value of a query (printf format) as a string ("" for NULL, "<none>" without rows); caller frees. */
char *lct_val(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The registry's instance IID (fails the test without it). */
struct instance *lct_inst(void);

/* method path (with its query) and body (NULL = none) with the global key; the answer in LC.code / LC.body. */
void lct_req(enum evhttp_cmd_type method, const char *path, const char *body);
void lct_post(const char *path, const char *body);
void lct_get(const char *path);
/* LC.body parsed, and the member at path ("a.b.0.c") as JSON text, "<absent>" without it (caller frees). */
char *lct_member(const char *path);

#define assert_val(want, ...) do {						\
	char *v_ = lct_val(__VA_ARGS__);					\
	if (strcmp(v_, (want)) != 0)						\
		fail_msg("%s: got \"%s\", want \"%s\"", #__VA_ARGS__, v_, (want)); \
	free(v_);								\
} while (0)

#define assert_member(want, path) do {						\
	char *m_ = lct_member(path);						\
	if (strcmp(m_, (want)) != 0)						\
		fail_msg("%s in %s: got %s, want %s", (path), LC.body, m_, (want)); \
	free(m_);								\
} while (0)

#endif
