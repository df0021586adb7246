/* Control API: inspect the client connections and inject faults (see fw_routes.h). */
#include "fw_routes.h"

#include "fakewa_client.h"
#include "fw_ctl.h"

#include "wa_node.h"
#include "xmalloc.h"

#include <event2/buffer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Which fault a request names. */
enum fw_route_action { ACT_DROP, ACT_STREAM_ERROR, ACT_STREAM_END, ACT_STALL, ACT_UNSTALL };

/* The clients a client=ID|all parameter selects: *all, or the id in *id. */
static void
fw_route_select(const struct fw_ctl_call *call, int *all, unsigned *id)
{
	const char *sel = fw_ctl_query(call, "client");

	*all = sel == NULL || strcmp(sel, "all") == 0;
	*id = *all ? 0 : (unsigned)strtoul(sel, NULL, 10);
}

/* Apply a fault to the client(s) the request selects: {"affected":N}, or 404 when one named client is not
 * there. */
static void
fw_route_act(struct fw_ctl_call *call, enum fw_route_action act)
{
	const char *code = fw_ctl_query(call, "code"), *conflict = fw_ctl_query(call, "conflict");
	struct fw_client *c, *next;
	char json[64];
	unsigned id;
	int all, n = 0;

	fw_route_select(call, &all, &id);
	for (c = fw_client_next(call->s, NULL); c != NULL; c = next) {
		next = fw_client_next(call->s, c);
		if (!all && fw_client_id(c) != id)
			continue;
		switch (act) {
		case ACT_DROP:
			fw_client_drop(c);
			break;
		case ACT_STREAM_ERROR:
			if (fw_client_stream_error(c, code, conflict) == -1)
				continue;
			break;
		case ACT_STREAM_END:
			if (fw_client_stream_end(c) == -1)
				continue;
			break;
		case ACT_STALL:
			fw_client_stall(c, 1);
			break;
		case ACT_UNSTALL:
			fw_client_stall(c, 0);
			break;
		}
		n++;
	}
	if (n == 0 && !all) {
		fw_ctl_reply(call->conn, 404, "{\"error\":\"no such client\"}");
		return;
	}
	snprintf(json, sizeof(json), "{\"affected\":%d}", n);
	fw_ctl_reply(call->conn, 200, json);
}

/* GET /admin/clients */
void
fw_route_clients(struct fw_ctl_call *call)
{
	struct evbuffer *b = evbuffer_new();
	struct fw_client *c;
	int n = 0;

	evbuffer_add_printf(b, "{\"clients\":[");
	for (c = fw_client_next(call->s, NULL); c != NULL; c = fw_client_next(call->s, c)) {
		char *j = fw_client_json(c);
		evbuffer_add_printf(b, "%s%s", n ? "," : "", j);
		free(j);
		n++;
	}
	evbuffer_add_printf(b, "],\"count\":%d,\"pings_answered\":%lu}", n, call->s->pings_answered);
	evbuffer_add(b, "", 1);
	fw_ctl_reply(call->conn, 200, (const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
}

/* POST /admin/drop */
void
fw_route_drop(struct fw_ctl_call *call)
{
	fw_route_act(call, ACT_DROP);
}

/* POST /admin/stream-error */
void
fw_route_stream_error(struct fw_ctl_call *call)
{
	fw_route_act(call, ACT_STREAM_ERROR);
}

/* POST /admin/stream-end */
void
fw_route_stream_end(struct fw_ctl_call *call)
{
	fw_route_act(call, ACT_STREAM_END);
}

/* POST /admin/stall */
void
fw_route_stall(struct fw_ctl_call *call)
{
	fw_route_act(call, ACT_STALL);
}

/* POST /admin/unstall */
void
fw_route_unstall(struct fw_ctl_call *call)
{
	fw_route_act(call, ACT_UNSTALL);
}

/* POST /admin/companion-reg-refresh?client=ID|all: only unregistered clients waiting for a scan. */
void
fw_route_reg_refresh(struct fw_ctl_call *call)
{
	struct fw_client *c;
	char json[64];
	unsigned id;
	int all, n = 0;

	fw_route_select(call, &all, &id);
	for (c = fw_client_next(call->s, NULL); c != NULL; c = fw_client_next(call->s, c)) {
		if ((!all && c->id != id) || c->dead || c->phase != FW_OPEN || c->payload != FW_PAYLOAD_REGISTRATION ||
		    c->registered)
			continue;
		if (fw_client_notify(c, "companion_reg_refresh", wa_node_new("companion_reg_refresh")) == 0)
			n++;
	}
	if (n == 0 && !all) {
		fw_ctl_reply(call->conn, 404, "{\"error\":\"no such unregistered client\"}");
		return;
	}
	snprintf(json, sizeof(json), "{\"affected\":%d}", n);
	fw_ctl_reply(call->conn, 200, json);
}
