/* seal_store against a real server (WAGATE_TEST_PGURI, or a private cluster): the write-side sealing, and at
 * load the re-seal of plaintext rows, a rotation, a switch back to plaintext, and the refusals. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "config.h"
#include "pgtest.h"
#include "seal.h"
#include "seal_store.h"
#include "workers.h"
#include "xmalloc.h"

#define IID	"0f8fad5b-d9cb-469f-a165-70867728950e"
#define NKEYS	5

static struct pgtest *server;
static PGconn *conn;
static const unsigned char creds_plain[] = "\x0a\x20 creds of the test instance";
static unsigned char k1[SEAL_KEY_LEN], k2[SEAL_KEY_LEN];

/* One statement that must succeed. */
static void
exec_ok(const char *sql)
{
	PGresult *r = PQexec(conn, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
}

/* The prekey record stored in plaintext for id: 3 bytes that depend on it. */
static void
prekey_plain(unsigned id, unsigned char out[3])
{
	out[0] = 0x08;
	out[1] = (unsigned char)id;
	out[2] = (unsigned char)(0x40 + id);
}

/* Fresh tables with the columns of the real ones, holding plaintext rows (as before a key was set). */
static void
reset_rows(void)
{
	unsigned char rec[3];
	char sql[256];
	unsigned id;

	exec_ok("DROP TABLE IF EXISTS auth_creds, signal_prekey, signal_session, signal_sender_key");
	/* Sessions and sender keys (issue 9) are re-sealed with the rest: one plaintext row of each. */
	exec_ok("CREATE TABLE signal_session (instance_id uuid, address text, record bytea NOT NULL,"
	    " PRIMARY KEY (instance_id, address))");
	exec_ok("CREATE TABLE signal_sender_key (instance_id uuid, group_id text, sender text, record bytea NOT NULL,"
	    " PRIMARY KEY (instance_id, group_id, sender))");
	exec_ok("INSERT INTO signal_session VALUES ('" IID "', '15551234567:2', '\\x0a0153')");
	exec_ok("INSERT INTO signal_sender_key VALUES ('" IID "', '120363@g.us', '15551234567:2', '\\x0a014b')");
	exec_ok("CREATE TABLE auth_creds (instance_id uuid PRIMARY KEY, creds bytea NOT NULL)");
	exec_ok("CREATE TABLE signal_prekey (instance_id uuid, key_id integer, record bytea NOT NULL,"
	    " PRIMARY KEY (instance_id, key_id))");
	{
		char hex[2 * sizeof(creds_plain) + 1];
		size_t i;

		for (i = 0; i < sizeof(creds_plain) - 1; i++)
			snprintf(hex + 2 * i, 3, "%02x", creds_plain[i]);
		snprintf(sql, sizeof(sql), "INSERT INTO auth_creds VALUES ('" IID "', '\\x%s')", hex);
	}
	exec_ok(sql);
	for (id = 1; id <= NKEYS; id++) {
		prekey_plain(id, rec);
		snprintf(sql, sizeof(sql), "INSERT INTO signal_prekey VALUES ('" IID "', %u, '\\x%02x%02x%02x')", id,
		    rec[0], rec[1], rec[2]);
		exec_ok(sql);
	}
}

/* The stored creds (binary), as seal_store_open gets them; caller frees. */
static unsigned char *
stored_creds(size_t *len)
{
	PGresult *r = PQexecParams(conn, "SELECT creds FROM auth_creds", 0, NULL, NULL, NULL, NULL, 1);
	unsigned char *out;

	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	*len = (size_t)PQgetlength(r, 0, 0);
	out = xmalloc(*len + 1);
	memcpy(out, PQgetvalue(r, 0, 0), *len);
	PQclear(r);
	return out;
}

/* Every stored value is sealed with key (NULL: every one is the plaintext) and opens to what was written. */
static void
assert_rows(const unsigned char *key)
{
	struct seal_keys keys = { key, NULL };
	PGresult *r = PQexecParams(conn, "SELECT key_id, record FROM signal_prekey ORDER BY 1", 0, NULL, NULL, NULL,
	    NULL, 1);
	unsigned char ctx[SEAL_CONTEXT_MAX], want[3], *out, *c;
	size_t ctxlen, outlen, len;
	enum seal_which which;
	char err[256];
	int i;

	assert_int_equal(PQntuples(r), NKEYS);
	for (i = 0; i < NKEYS; i++) {
		const unsigned char *v = (const unsigned char *)PQgetvalue(r, i, 1);
		size_t vlen = (size_t)PQgetlength(r, i, 1);
		uint32_t id;

		memcpy(&id, PQgetvalue(r, i, 0), 4);
		id = ntohl(id);
		prekey_plain(id, want);
		if (key != NULL)
			assert_true(seal_is_sealed_with(v, vlen, key));
		else
			assert_false(seal_is_sealed(v, vlen));
		ctxlen = seal_context_prekey(IID, id, ctx);
		assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, v, vlen, &out, &outlen, &which, err, sizeof(err)), 0);
		assert_int_equal(outlen, 3);
		assert_memory_equal(out, want, 3);
		free_wiped(out, outlen);
	}
	PQclear(r);
	/* the session and the sender key: sealed for their own rows (another row's context fails) */
	r = PQexecParams(conn, "SELECT (SELECT record FROM signal_session), (SELECT record FROM signal_sender_key)",
	    0, NULL, NULL, NULL, NULL, 1);
	for (i = 0; i < 2; i++) {
		const unsigned char *v = (const unsigned char *)PQgetvalue(r, 0, i);
		size_t vlen = (size_t)PQgetlength(r, 0, i);

		if (key != NULL)
			assert_true(seal_is_sealed_with(v, vlen, key));
		else
			assert_false(seal_is_sealed(v, vlen));
		ctxlen = i == 0 ? seal_context_session(IID, "15551234567:2", ctx) :
		    seal_context_sender_key(IID, "120363@g.us", "15551234567:2", ctx);
		assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, v, vlen, &out, &outlen, &which, err, sizeof(err)), 0);
		assert_int_equal(outlen, 3);
		assert_memory_equal(out, i == 0 ? "\x0a\x01S" : "\x0a\x01K", 3);
		free_wiped(out, outlen);
		if (key != NULL) {
			ctxlen = seal_context_session(IID, "15551234567:3", ctx);
			assert_int_equal(seal_decrypt(&keys, ctx, ctxlen, v, vlen, &out, &outlen, &which, err,
			    sizeof(err)), -1);
		}
	}
	PQclear(r);
	c = stored_creds(&len);
	if (key != NULL)
		assert_true(seal_is_sealed_with(c, len, key));
	else {
		assert_int_equal(len, sizeof(creds_plain) - 1);
		assert_memory_equal(c, creds_plain, len);
	}
	free(c);
}

/* seal_store_open on the stored creds; asserts the plaintext comes back on success. */
static int
open_stored(const struct config *cfg, char *err, size_t errlen)
{
	size_t len;
	unsigned char *c = stored_creds(&len);
	int rc = seal_store_open(cfg, conn, IID, "t", c, &len, err, errlen);

	if (rc == 0) {
		assert_int_equal(len, sizeof(creds_plain) - 1);
		assert_memory_equal(c, creds_plain, len);
	}
	free(c);
	return rc;
}

/* What every stored value is, in one text. */
#define ROWS_DIGEST "SELECT (SELECT md5(string_agg(record::text, ',' ORDER BY key_id)) FROM signal_prekey) ||" \
	" (SELECT md5(creds) FROM auth_creds)"

/* Plaintext rows, a key set: sealed at load; a second load rewrites nothing. */
static void
test_enable(void **state)
{
	struct config cfg;
	char err[256], before[512];
	PGresult *r;

	(void)state;
	reset_rows();
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), 0);	/* no key: untouched */
	assert_rows(NULL);
	cfg.creds_key.set = 1;
	memcpy(cfg.creds_key.key, k1, SEAL_KEY_LEN);
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), 0);
	assert_rows(k1);
	r = PQexec(conn, ROWS_DIGEST);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	snprintf(before, sizeof(before), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), 0);
	r = PQexec(conn, ROWS_DIGEST);
	assert_string_equal(PQgetvalue(r, 0, 0), before);
	PQclear(r);
}

/* Rotation: new + old key re-seals every row with the new one; the new key alone then opens them; only the old
 * key stores them in plaintext again. */
static void
test_rotate_and_disable(void **state)
{
	struct config cfg;
	char err[256];

	(void)state;
	reset_rows();
	memset(&cfg, 0, sizeof(cfg));
	cfg.creds_key.set = 1;
	memcpy(cfg.creds_key.key, k1, SEAL_KEY_LEN);
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), 0);
	assert_rows(k1);
	memcpy(cfg.creds_key.key, k2, SEAL_KEY_LEN);
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), -1);	/* k1 not configured */
	assert_non_null(strstr(err, "neither the current nor the old key"));
	assert_rows(k1);
	cfg.creds_key_old.set = 1;
	memcpy(cfg.creds_key_old.key, k1, SEAL_KEY_LEN);
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), 0);
	assert_rows(k2);
	cfg.creds_key_old.set = 0;
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), 0);
	/* disable: the key in use as the old key, no current one */
	cfg.creds_key.set = 0;
	cfg.creds_key_old.set = 1;
	memcpy(cfg.creds_key_old.key, k2, SEAL_KEY_LEN);
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), 0);
	assert_rows(NULL);
	/* no key at all and a sealed row: refused */
	cfg.creds_key.set = 1;
	cfg.creds_key_old.set = 0;
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), 0);
	cfg.creds_key.set = 0;
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no key is configured"));
}

/* A prekey record that fails its tag during a rotation: the instance fails, naming the prekey, and nothing is
 * rewritten (the creds stay under the old key). */
static void
test_bad_prekey(void **state)
{
	struct config cfg;
	char err[256];

	(void)state;
	reset_rows();
	memset(&cfg, 0, sizeof(cfg));
	cfg.creds_key.set = 1;
	memcpy(cfg.creds_key.key, k1, SEAL_KEY_LEN);
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), 0);
	/* flip the last byte (the tag) of prekey 3 */
	exec_ok("UPDATE signal_prekey SET record = set_byte(record, length(record) - 1,"
	    " get_byte(record, length(record) - 1) # 1) WHERE key_id = 3");
	memcpy(cfg.creds_key.key, k2, SEAL_KEY_LEN);
	cfg.creds_key_old.set = 1;
	memcpy(cfg.creds_key_old.key, k1, SEAL_KEY_LEN);
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "prekey 3: "));
	assert_non_null(strstr(err, "authentication tag"));
	{
		size_t len;
		unsigned char *c = stored_creds(&len);

		assert_true(seal_is_sealed_with(c, len, k1));
		free(c);
	}
}

/* A session record that fails its tag during a rotation: the same, naming the session; the prekeys re-sealed
 * before it in the same transaction are rolled back too. */
static void
test_bad_session(void **state)
{
	struct config cfg;
	char err[256];
	size_t len;
	unsigned char *c;

	(void)state;
	reset_rows();
	memset(&cfg, 0, sizeof(cfg));
	cfg.creds_key.set = 1;
	memcpy(cfg.creds_key.key, k1, SEAL_KEY_LEN);
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), 0);
	exec_ok("UPDATE signal_session SET record = set_byte(record, length(record) - 1,"
	    " get_byte(record, length(record) - 1) # 1)");
	memcpy(cfg.creds_key.key, k2, SEAL_KEY_LEN);
	cfg.creds_key_old.set = 1;
	memcpy(cfg.creds_key_old.key, k1, SEAL_KEY_LEN);
	assert_int_equal(open_stored(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "session 15551234567:2: "));
	c = stored_creds(&len);
	assert_true(seal_is_sealed_with(c, len, k1));
	free(c);
	{
		PGresult *r = PQexecParams(conn, "SELECT record FROM signal_prekey WHERE key_id = 1", 0, NULL, NULL, NULL,
		    NULL, 1);

		assert_true(seal_is_sealed_with((const unsigned char *)PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0),
		    k1));
		PQclear(r);
	}
}

/* The write side: creds and prekey records sealed for their rows with a key, copied without one. */
static void
test_write_side(void **state)
{
	struct config cfg;
	struct workers_prekey keys[2];
	unsigned char *records, *blob, *out, ctx[SEAL_CONTEXT_MAX];
	size_t records_len = 5, bloblen, outlen, ctxlen;
	struct seal_keys sk = { k1, NULL };
	enum seal_which which;
	char err[256];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	blob = seal_store_creds(&cfg, IID, creds_plain, 4, &bloblen);
	assert_int_equal(bloblen, 4);
	assert_memory_equal(blob, creds_plain, 4);
	free_wiped(blob, bloblen);
	assert_null(seal_store_creds(&cfg, IID, creds_plain, 0, &bloblen));
	cfg.creds_key.set = 1;
	memcpy(cfg.creds_key.key, k1, SEAL_KEY_LEN);
	blob = seal_store_creds(&cfg, IID, creds_plain, 4, &bloblen);
	assert_int_equal(bloblen, 4 + SEAL_OVERHEAD);
	ctxlen = seal_context_creds(IID, ctx);
	assert_int_equal(seal_decrypt(&sk, ctx, ctxlen, blob, bloblen, &out, &outlen, &which, err, sizeof(err)), 0);
	assert_memory_equal(out, creds_plain, 4);
	free_wiped(out, outlen);
	free_wiped(blob, bloblen);

	records = xmalloc(records_len);
	memcpy(records, "abcde", 5);
	keys[0].id = 9;
	keys[0].record = records;
	keys[0].len = 2;
	keys[1].id = 10;
	keys[1].record = records + 2;
	keys[1].len = 3;
	seal_store_prekeys(&cfg, IID, keys, 2, &records, &records_len);
	assert_int_equal(records_len, 5 + 2 * SEAL_OVERHEAD);
	assert_ptr_equal(keys[0].record, records);
	assert_ptr_equal(keys[1].record, records + 2 + SEAL_OVERHEAD);
	ctxlen = seal_context_prekey(IID, 10, ctx);
	assert_int_equal(seal_decrypt(&sk, ctx, ctxlen, keys[1].record, keys[1].len, &out, &outlen, &which, err,
	    sizeof(err)), 0);
	assert_int_equal(outlen, 3);
	assert_memory_equal(out, "cde", 3);
	free_wiped(out, outlen);
	free_wiped(records, records_len);
}

static int
setup(void **state)
{
	char *uri;

	(void)state;
	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x22, sizeof(k2));
	if ((server = pgtest_new(0)) == NULL || (uri = pgtest_db_create(server, "seal_store_test")) == NULL)
		return -1;
	conn = PQconnectdb(uri);
	free(uri);
	if (PQstatus(conn) != CONNECTION_OK)
		return -1;
	PQclear(PQexec(conn, "SET client_min_messages = warning"));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	PQfinish(conn);
	pgtest_free(server);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_side),
		cmocka_unit_test(test_enable),
		cmocka_unit_test(test_rotate_and_disable),
		cmocka_unit_test(test_bad_prekey),
		cmocka_unit_test(test_bad_session),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
