/* libFuzzer target: fakewa's handler of a client's <call> (fw_call.h) on any binary node a client can send,
 * then GET /phone/calls of both accounts. The world is two accounts, A (the caller) and B with one connected
 * companion, which sends the node; the rest of fakewa (transport, control API, libevent's buffers) is
 * replaced by the small functions below, which check what the handler promises: every stanza it sends
 * encodes, at most FW_CALL_RECORDS are kept, and the JSON strings need no escaping (untrusted text is
 * sanitized). Not yet in tests/fuzz/targets.txt (outside this change); the line is:
 * fakewa_call tests/fakewa/fw_call_fuzz.c tests/fakewa/fw_call.c worker/wa/wa_binary.c worker/wa/wa_node.c
 * worker/wa/wa_jid.c worker/wa/wa_tokens.c common/xmalloc.c common/log.c */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_call.h"
#include "fw_ctl.h"
#include "fw_routes.h"

#include "random.h"
#include "wa_binary.h"
#include "wa_node.h"

#include <event2/buffer.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fw_server srv;
static struct fw_account accts[2];
static struct fw_device dev_b;
static const struct fw_account *asked;		/* the account= of the route being run */
static int replied;

/* Just enough of an evbuffer for the JSON answers: one growing string. */
struct evbuffer {
	char *p;
	size_t len;
};

struct evbuffer *
evbuffer_new(void)
{
	return calloc(1, sizeof(struct evbuffer));
}

void
evbuffer_free(struct evbuffer *b)
{
	free(b->p);
	free(b);
}

int
evbuffer_add(struct evbuffer *b, const void *d, size_t n)
{
	if ((b->p = realloc(b->p, b->len + n + 1)) == NULL)
		abort();
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return 0;
}

int
evbuffer_add_printf(struct evbuffer *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		abort();
	return evbuffer_add(b, tmp, (size_t)n);
}

unsigned char *
evbuffer_pullup(struct evbuffer *b, ev_ssize_t size)
{
	(void)size;
	return (unsigned char *)b->p;
}

/* The records' fields hold only JID characters: nothing to escape. */
void
fw_json_string(struct evbuffer *b, const char *s)
{
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.:-_?") != strlen(s))
		abort();
	evbuffer_add(b, "\"", 1);
	evbuffer_add(b, s, strlen(s));
	evbuffer_add(b, "\"", 1);
}

int
fw_client_send(struct fw_client *c, const struct wa_node *n)
{
	uint8_t *buf;
	size_t len;

	(void)c;
	if (wa_binary_encode(n, &buf, &len) == -1)
		abort();
	free(buf);
	return 0;
}

const char *
fw_client_stanza_id(struct fw_client *c)
{
	(void)c;
	return "1.1-1";
}

struct fw_account *
fw_account_find_user(struct fw_accounts *as, const char *user)
{
	(void)as;
	for (size_t i = 0; i < 2; i++)
		if (strcmp(accts[i].phone, user) == 0 || strcmp(accts[i].lid, user) == 0)
			return &accts[i];
	return NULL;
}

struct fw_account *
fw_account_find(struct fw_accounts *as, const char *phone)
{
	(void)as;
	for (size_t i = 0; i < 2; i++)
		if (strcmp(accts[i].phone, phone) == 0)
			return &accts[i];
	return NULL;
}

struct fw_account *
fw_route_phone_account(struct fw_ctl_call *call)
{
	(void)call;
	return (struct fw_account *)asked;
}

const char *
fw_ctl_query(const struct fw_ctl_call *call, const char *key)
{
	(void)call;
	(void)key;
	return NULL;
}

/* The /phone/calls answer: FW_CALL_RECORDS at most (each has a "tag"). */
void
fw_ctl_reply(struct fw_ctl_conn *conn, int code, const char *json)
{
	size_t n = 0;

	(void)conn;
	for (const char *p = json; (p = strstr(p, "\"tag\":")) != NULL; p++)
		n++;
	if (code != 200 || n > FW_CALL_RECORDS || strncmp(json, "{\"calls\":[", 10) != 0)
		abort();
	replied = 1;
}

void
fw_route_error(struct fw_ctl_call *call, int code, const char *err)
{
	(void)call;
	(void)code;
	(void)err;
}

void
random_bytes(void *buf, size_t n)
{
	memset(buf, 0x5a, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct fw_client c;
	struct fw_ctl_call call;
	struct wa_node *n;
	char err[128];

	if (!ready) {
		snprintf(accts[0].phone, sizeof(accts[0].phone), "15551110001");
		snprintf(accts[0].lid, sizeof(accts[0].lid), "900000000001");
		snprintf(accts[1].phone, sizeof(accts[1].phone), "15551110002");
		snprintf(accts[1].lid, sizeof(accts[1].lid), "900000000002");
		for (size_t i = 0; i < 2; i++)
			TAILQ_INIT(&accts[i].devices);
		dev_b.acct = &accts[1];
		dev_b.number = 1;
		TAILQ_INSERT_TAIL(&accts[1].devices, &dev_b, entry);
		ready = 1;
	}
	if ((n = wa_binary_decode(data, size, err, sizeof(err))) == NULL)
		return 0;
	srv.calls = fw_calls_new();
	memset(&c, 0, sizeof(c));
	c.s = &srv;
	c.dev = &dev_b;
	c.registered = 1;
	snprintf(c.jid, sizeof(c.jid), "15551110002:1@s.whatsapp.net");
	/* twice past the cap, so the window moves */
	for (int i = 0; i < 2 * FW_CALL_RECORDS + 1; i++)
		fw_call_from_client(&c, n);
	memset(&call, 0, sizeof(call));
	call.s = &srv;
	for (size_t i = 0; i < 2; i++) {
		asked = &accts[i];
		replied = 0;
		fw_route_phone_calls(&call);
		if (!replied)
			abort();
	}
	fw_calls_free(srv.calls);
	wa_node_free(n);
	return 0;
}
