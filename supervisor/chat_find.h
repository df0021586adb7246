/* The SQL and JSON pieces of Evolution's chat finds (findMessages, findChats, findContacts): pure functions, so
 * the filter translation and the record cleaning are tested without a database or a server. */
#ifndef WAGATE_CHAT_FIND_H
#define WAGATE_CHAT_FIND_H

#include <json-c/json.h>
#include <stddef.h>

#define CHAT_FIND_PAGE_DEFAULT	50	/* Evolution's page size ("offset") when none is sent */
#define CHAT_FIND_PAGE_MAX	1000	/* our bound on one page of messages: a record can be tens of kB */
#define CHAT_FIND_PAGE_NUM_MAX	1000000000LL	/* page numbers beyond this cannot reach a row (skip overflow) */
#define CHAT_FIND_LIST_MAX	20000	/* rows of findChats / findContacts (Evolution has no paging there) */
#define CHAT_FIND_PARAMS_MAX	12
#define CHAT_FIND_SQL_MAX	1024

/* What findMessages filters on; NULL / 0 = no filter. */
struct chat_find_msg_filter {
	const char *id;			/* where.id: our message row id (a decimal string; anything else finds none) */
	const char *source;		/* where.source */
	const char *message_type;	/* where.messageType */
	const char *key_id;		/* where.key.id */
	const char *remote_jid;		/* where.key.remoteJid */
	const char *participant;	/* where.key.participants */
	int from_me;			/* where.key.fromMe true (Evolution ignores false) */
	int has_range;			/* where.messageTimestamp with both bounds */
	long long ts_gte, ts_lte;	/* epoch seconds, inclusive */
};

/* A WHERE clause of " AND ..." terms on alias m, with its parameters numbered after the instance id ($1). */
struct chat_find_where {
	char sql[CHAT_FIND_SQL_MAX];
	const char *params[CHAT_FIND_PARAMS_MAX];	/* params[0] is the instance id; pointers into the filter or num */
	int nparams;
	char num[4][24];				/* numbers printed for the parameters */
};

/* The terms of f for findMessages. instance_id becomes $1. 0, or -1 when they do not fit (not reached). */
int chat_find_messages_where(const struct chat_find_msg_filter *f, const char *instance_id,
    struct chat_find_where *w);
/* Add a parameter to w and return its number ($n), or -1 when full. */
int chat_find_param(struct chat_find_where *w, const char *value);
/* Append a term to w.sql; fmt's "%d" becomes the number of value's parameter (value NULL: no parameter, no %d).
 * value must outlive w. 0, or -1 when w is full. */
int chat_find_where_add(struct chat_find_where *w, const char *fmt, const char *value);
/* ceil(total / page_size): Evolution's "pages". */
long long chat_find_pages(long long total, long long page_size);
/* Evolution's cleanMessageData for a chat's lastMessage content, in place: base64 removed; image and video keep
 * their caption, audio its seconds, a sticker nothing, documents their caption and name. */
void chat_find_message_clean(struct json_object *message);

#endif
