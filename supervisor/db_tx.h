/* The insides of a batch of statements (db.h's struct db_tx), shared by db_tx.c, which builds batches, and
 * db.c, which runs them. */
#ifndef WAGATE_DB_TX_H
#define WAGATE_DB_TX_H

#include <stdint.h>

struct db_stmt {
	char *sql;
	uint64_t hash;		/* db_prep_hash(sql) */
	int nparams;
	char **values;
	int *lengths;		/* NULL when every parameter is text */
	int *formats;
};

struct db_tx {
	struct db_stmt *stmts;
	int n;
	int cap;
};

#endif
