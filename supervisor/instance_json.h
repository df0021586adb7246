/* An instance as fetchInstances shows it (Evolution's Instance with Setting, Proxy and _count), built from its
 * registry entry. lifecycle keeps the compact text of it on the entry (instance->fetch_json), refreshed after
 * each change (or dropped, for the _count changes of every stored message, and rebuilt by the next list), so a
 * full list costs its bytes, not one JSON build per instance per request. */
#ifndef WAGATE_INSTANCE_JSON_H
#define WAGATE_INSTANCE_JSON_H

#include <json-c/json.h>

#include <stddef.h>

struct evbuffer;
struct instance;
struct instance_json_text;

/* A new object (the caller puts it); client_name is the clientName column (cfg->client_name). */
struct json_object *instance_json_fetch(const struct instance *inst, const char *client_name);

/* The compact text of instance_json_fetch, reference counted: a reply that is still being written keeps the
 * text it was given alive after lifecycle has replaced or freed the entry's. New texts hold one reference. */
struct instance_json_text *instance_json_text_new(const struct instance *inst, const char *client_name);
/* Drop a reference (NULL ok); the last one frees the text. */
void instance_json_text_unref(struct instance_json_text *t);
/* Append the text to buf without copying it, preceded by a comma unless first; buf holds a reference until the
 * bytes are gone from it. */
void instance_json_text_add(struct evbuffer *buf, struct instance_json_text *t, int first);

#endif
