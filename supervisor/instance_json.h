/* An instance as fetchInstances shows it (Evolution's Instance with Setting, Proxy and _count), built from its
 * registry entry. lifecycle keeps the compact text of it on the entry (instance->fetch_json), refreshed after
 * each change, so a full list costs its bytes, not one JSON build per instance per request. */
#ifndef WAGATE_INSTANCE_JSON_H
#define WAGATE_INSTANCE_JSON_H

#include <json-c/json.h>

struct instance;

/* A new object (the caller puts it); client_name is the clientName column (cfg->client_name). */
struct json_object *instance_json_fetch(const struct instance *inst, const char *client_name);

#endif
