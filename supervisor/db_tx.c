/* Batches of statements (db.h): built by the callers, run by the pool (db.c). */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_prep.h"
#include "db_tx.h"
#include "log.h"
#include "xmalloc.h"

/* A new, empty batch of statements. */
struct db_tx *
db_tx_new(void)
{
	return xcalloc(1, sizeof(struct db_tx));
}

/* Append a copy of one statement and its parameters. */
void
db_tx_add_bin(struct db_tx *tx, const char *sql, int nparams, const char *const *params,
    const int *lengths, const int *formats)
{
	struct db_stmt *s;
	size_t len;
	int i, bin;

	if (tx == NULL || sql == NULL || nparams < 0 || (nparams > 0 && params == NULL))
		fatalx("misuse");
	if (tx->n == tx->cap) {
		tx->cap = tx->cap ? tx->cap * 2 : 4;
		tx->stmts = xreallocarray(tx->stmts, tx->cap, sizeof(*tx->stmts));
	}
	s = &tx->stmts[tx->n++];
	memset(s, 0, sizeof(*s));
	len = strlen(sql);
	s->sql = xmalloc(len + 1);
	memcpy(s->sql, sql, len + 1);
	s->hash = db_prep_hash(sql, len);
	s->nparams = nparams;
	if (nparams == 0)
		return;
	s->values = xcalloc(nparams, sizeof(char *));
	if (formats != NULL) {
		s->formats = xcalloc(nparams, sizeof(int));
		s->lengths = xcalloc(nparams, sizeof(int));
	}
	for (i = 0; i < nparams; i++) {
		bin = formats != NULL && formats[i] == 1;
		if (formats != NULL)
			s->formats[i] = bin;
		if (params[i] == NULL)
			continue;
		if (bin) {
			if (lengths == NULL || lengths[i] < 0)
				fatalx("binary parameter %d without a length", i);
			s->lengths[i] = lengths[i];
			s->values[i] = xmalloc(lengths[i] > 0 ? (size_t)lengths[i] : 1);
			memcpy(s->values[i], params[i], lengths[i]);
		} else
			s->values[i] = xstrdup(params[i]);
	}
}

/* Append a copy of one statement with text parameters. */
void
db_tx_add(struct db_tx *tx, const char *sql, int nparams, const char *const *params)
{
	db_tx_add_bin(tx, sql, nparams, params, NULL, NULL);
}

/* How many statements the batch holds. */
int
db_tx_count(const struct db_tx *tx)
{
	return tx == NULL ? 0 : tx->n;
}

/* Append deep copies of src's statements, binary parameters included, to dst. */
void
db_tx_append(struct db_tx *dst, const struct db_tx *src)
{
	const struct db_stmt *s;
	int i;

	for (i = 0; i < src->n; i++) {
		s = &src->stmts[i];
		db_tx_add_bin(dst, s->sql, s->nparams, (const char *const *)s->values, s->lengths, s->formats);
	}
}

/* A deep copy of tx. */
struct db_tx *
db_tx_dup(const struct db_tx *tx)
{
	struct db_tx *out = db_tx_new();

	db_tx_append(out, tx);
	return out;
}

/* Release a batch and every copy it holds. */
void
db_tx_free(struct db_tx *tx)
{
	int i, j;

	if (tx == NULL)
		return;
	for (i = 0; i < tx->n; i++) {
		for (j = 0; j < tx->stmts[i].nparams; j++) {
			/* Parameters can be credentials and private prekeys: wipe before freeing. */
			if (tx->stmts[i].values[j] != NULL)
				explicit_wipe(tx->stmts[i].values[j], tx->stmts[i].lengths != NULL &&
				    tx->stmts[i].formats[j] ? (size_t)tx->stmts[i].lengths[j] :
				    strlen(tx->stmts[i].values[j]));
			free(tx->stmts[i].values[j]);
		}
		free(tx->stmts[i].values);
		free(tx->stmts[i].lengths);
		free(tx->stmts[i].formats);
		free(tx->stmts[i].sql);
	}
	free(tx->stmts);
	free(tx);
}
