/* WhatsApp Message protobuf -> Evolution/Baileys JSON: a bounded wire scan, then one descriptor-driven walk. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "e2e.pb-c.h"
#include "errbuf.h"
#include "msg_json.h"
#include "utf8.h"
#include "xmalloc.h"

struct walk {
	size_t nodes;		/* JSON values made so far, against MSG_JSON_MAX_NODES */
};

/* One open sub-message during the wire scan: whose fields these are, and where its bytes end. */
struct scan_frame {
	const ProtobufCMessageDescriptor *desc;
	size_t end;
};

/* Read a base-128 varint of at most 10 bytes ending before end. */
static int
scan_varint(const uint8_t *buf, size_t *pos, size_t end, uint64_t *v)
{
	uint64_t r = 0;
	unsigned shift;

	for (shift = 0; shift < 70; shift += 7) {
		if (*pos >= end)
			return -1;
		r |= (uint64_t)(buf[*pos] & 0x7f) << shift;
		if ((buf[(*pos)++] & 0x80) == 0) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/*
 * Check the whole wire format iteratively before protobuf-c unpacks it: protobuf-c recurses once per nested
 * sub-message with no limit, so a few kilobytes of nested ephemeralMessage would exhaust the stack. Only
 * length-delimited fields that the descriptors call sub-messages are descended into; everything else
 * (unknown fields included) is only bounds-checked. Groups (wire types 3 and 4) are refused, as WhatsApp
 * never sends them.
 */
static int
scan_wire(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct scan_frame stack[MSG_JSON_MAX_DEPTH + 1];
	const ProtobufCFieldDescriptor *f;
	uint64_t tag, v;
	size_t pos = 0;
	int sp = 0;

	stack[0].desc = &wa__message__descriptor;
	stack[0].end = len;
	for (;;) {
		while (sp > 0 && pos == stack[sp].end)
			sp--;
		if (sp == 0 && pos == len)
			return 0;
		if (scan_varint(buf, &pos, stack[sp].end, &tag) == -1)
			return errbuf_fail(err, errlen, "truncated field tag at offset %zu", pos);
		if ((tag >> 3) == 0 || (tag >> 3) > 536870911u)
			return errbuf_fail(err, errlen, "bad field number at offset %zu", pos);
		switch (tag & 7) {
		case 0:
			if (scan_varint(buf, &pos, stack[sp].end, &v) == -1)
				return errbuf_fail(err, errlen, "truncated varint at offset %zu", pos);
			break;
		case 1:
		case 5:
			v = (tag & 7) == 1 ? 8 : 4;
			if (stack[sp].end - pos < v)
				return errbuf_fail(err, errlen, "truncated fixed field at offset %zu", pos);
			pos += v;
			break;
		case 2:
			if (scan_varint(buf, &pos, stack[sp].end, &v) == -1 || v > stack[sp].end - pos)
				return errbuf_fail(err, errlen, "truncated length-delimited field at offset %zu", pos);
			f = protobuf_c_message_descriptor_get_field(stack[sp].desc, (unsigned)(tag >> 3));
			if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				if (sp == MSG_JSON_MAX_DEPTH)
					return errbuf_fail(err, errlen, "sub-messages nested deeper than %d",
					    MSG_JSON_MAX_DEPTH);
				sp++;
				stack[sp].desc = f->descriptor;
				stack[sp].end = pos + (size_t)v;
			} else
				pos += (size_t)v;
			break;
		default:
			return errbuf_fail(err, errlen, "unsupported wire type %u at offset %zu",
			    (unsigned)(tag & 7), pos);
		}
	}
}

/* A 64-bit integer as protobufjs' toJSON writes it: a decimal string (JSON numbers lose precision past 2^53). */
static json_object *
json_new_long(uint64_t v, bool is_unsigned)
{
	char buf[24];

	if (is_unsigned)
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	else
		snprintf(buf, sizeof(buf), "%lld", (long long)(int64_t)v);
	return json_object_new_string(buf);
}

/*
 * A float or double as JavaScript prints it: the shortest of %.15g..%.17g that reads back to the same
 * double, so 0.1 stays "0.1" rather than json-c's "0.10000000000000001". protobufjs' toJSON writes
 * non-finite values as the strings "NaN", "Infinity" and "-Infinity", and negative zero as 0.
 */
static json_object *
json_new_number(double d)
{
	char buf[32];
	int prec;

	if (isnan(d))
		return json_object_new_string("NaN");
	if (isinf(d))
		return json_object_new_string(d > 0 ? "Infinity" : "-Infinity");
	/* JSON.stringify(-0) is "0": "-0" would also read back as the integer 0, not the double it came from. */
	if (d == 0)
		d = 0;
	for (prec = 15; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(buf, sizeof(buf), "%.17g", d);
	return json_object_new_double_s(d, buf);
}

/* An enum value by its name, as protobufjs' toJSON writes it; a value the schema does not name stays a number. */
static json_object *
json_new_enum(const ProtobufCEnumDescriptor *e, int32_t v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(e, v);

	return ev != NULL ? json_object_new_string(ev->name) : json_object_new_int(v);
}

/* A protobuf string as a JSON string: cut to the cap, each ill-formed UTF-8 byte replaced by U+FFFD. */
static json_object *
json_new_text(const char *s)
{
	size_t n = strnlen(s, MSG_JSON_MAX_STRING), i = 0, bad, o = 0;
	json_object *j;
	char *copy;

	if (utf8_valid(s, n, NULL))
		return json_object_new_string_len(s, (int)n);
	/* Worst case: every byte becomes the three-byte replacement character. */
	copy = xmalloc(n * 3 + 1);
	while (i < n) {
		if (utf8_valid(s + i, n - i, &bad)) {
			memcpy(copy + o, s + i, n - i);
			o += n - i;
			break;
		}
		memcpy(copy + o, s + i, bad);
		o += bad;
		memcpy(copy + o, "\xef\xbf\xbd", 3);
		o += 3;
		i += bad + 1;
	}
	j = json_object_new_string_len(copy, (int)o);
	free(copy);
	return j;
}

static json_object *walk_message(struct walk *w, const ProtobufCMessage *m, int depth);

/* One value of field f stored at p, or NULL when it is left out (bytes over the cap). */
static json_object *
walk_value(struct walk *w, const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
	const ProtobufCBinaryData *bd;
	char *enc;
	json_object *j;
	double d;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_object_new_int(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_ENUM:
		return json_new_enum(f->descriptor, *(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_object_new_int64(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_new_long(*(const uint64_t *)p, false);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_new_long(*(const uint64_t *)p, true);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		d = f->type == PROTOBUF_C_TYPE_FLOAT ? (double)*(const float *)p : *(const double *)p;
		return json_new_number(d);
	case PROTOBUF_C_TYPE_BOOL:
		return json_object_new_boolean(*(const protobuf_c_boolean *)p != 0);
	case PROTOBUF_C_TYPE_STRING:
		return json_new_text(*(const char *const *)p);
	case PROTOBUF_C_TYPE_BYTES:
		bd = p;
		if (bd->len > MSG_JSON_MAX_BYTES)
			return NULL;
		enc = b64_encode_alloc(bd->data, bd->len);
		j = json_object_new_string(enc);
		free(enc);
		return j;
	case PROTOBUF_C_TYPE_MESSAGE:
		return walk_message(w, *(const ProtobufCMessage *const *)p, depth + 1);
	}
	return NULL;
}

/* Bytes of one element of a repeated field of type t, as protobuf-c lays the array out. */
static size_t
walk_elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* Whether an optional (or required) field is present in m: pointer types by NULL, the rest by has_. */
static bool
walk_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;

	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING)
		return *(const void *const *)(base + f->offset) != NULL;
	if (f->quantifier_offset == 0)
		return true;
	return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
}

/*
 * Every present field of m, generically from its descriptor; NULL when a bound is hit. Depth is bounded by
 * the wire scan already; the check here keeps the walk safe on its own.
 */
static json_object *
walk_message(struct walk *w, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	const char *base = (const char *)m, *arr;
	json_object *o, *a, *v;
	size_t count, i, esz;
	unsigned k;

	if (depth > MSG_JSON_MAX_DEPTH || ++w->nodes > MSG_JSON_MAX_NODES)
		return NULL;
	o = json_object_new_object();
	for (k = 0; k < d->n_fields; k++) {
		f = &d->fields[k];
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			count = *(const size_t *)(base + f->quantifier_offset);
			if (count == 0)
				continue;
			if (count > MSG_JSON_MAX_ARRAY)
				count = MSG_JSON_MAX_ARRAY;
			arr = *(const char *const *)(base + f->offset);
			esz = walk_elem_size(f->type);
			a = json_object_new_array();
			for (i = 0; i < count; i++) {
				if (++w->nodes > MSG_JSON_MAX_NODES)
					goto fail_array;
				if ((v = walk_value(w, f, arr + i * esz, depth)) != NULL)
					json_object_array_add(a, v);
				else if (f->type == PROTOBUF_C_TYPE_MESSAGE)
					goto fail_array;
			}
			json_object_object_add(o, f->name, a);
			continue;
fail_array:
			json_object_put(a);
			json_object_put(o);
			return NULL;
		}
		if (!walk_field_present(m, f))
			continue;
		if (++w->nodes > MSG_JSON_MAX_NODES) {
			json_object_put(o);
			return NULL;
		}
		v = walk_value(w, f, base + f->offset, depth);
		if (v == NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
			json_object_put(o);
			return NULL;
		}
		if (v != NULL)
			json_object_object_add(o, f->name, v);
	}
	return o;
}

/* Baileys' getContentType over the present top-level fields of msg, lowest field number first. */
static void
msg_json_content_type(const ProtobufCMessage *msg, char *type, size_t typelen)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const ProtobufCFieldDescriptor *f, *best = NULL;
	unsigned k;

	for (k = 0; k < d->n_fields; k++) {
		f = &d->fields[k];
		if (strcmp(f->name, "conversation") != 0 && strstr(f->name, "Message") == NULL)
			continue;
		if (strcmp(f->name, "senderKeyDistributionMessage") == 0)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED || !walk_field_present(msg, f))
			continue;
		if (best == NULL || f->id < best->id)
			best = f;
	}
	snprintf(type, typelen, "%s", best != NULL ? best->name : "unknown");
}

int
msg_json_from_bytes(const uint8_t *buf, size_t len, json_object **out, char *type, size_t typelen,
    char *err, size_t errlen)
{
	const ProtobufCMessage *top;
	struct walk w = { 0 };
	Wa__Message *msg;

	*out = NULL;
	if (typelen > 0)
		type[0] = '\0';
	if (typelen < MSG_JSON_TYPE_MAX)
		return errbuf_fail(err, errlen, "type buffer of %zu bytes is too small", typelen);
	if (len > MSG_JSON_MAX_INPUT)
		return errbuf_fail(err, errlen, "message of %zu bytes is over the %u-byte cap", len,
		    MSG_JSON_MAX_INPUT);
	if (buf == NULL && len > 0)
		return errbuf_fail(err, errlen, "no buffer");
	if (scan_wire(buf, len, err, errlen) == -1)
		return -1;
	msg = wa__message__unpack(NULL, len, buf);
	if (msg == NULL)
		return errbuf_fail(err, errlen, "not a wa.Message (protobuf-c refused it)");
	/* Baileys replaces a deviceSentMessage by its inner message before anyone sees it. */
	top = &msg->base;
	if (msg->devicesentmessage != NULL && msg->devicesentmessage->message != NULL)
		top = &msg->devicesentmessage->message->base;
	*out = walk_message(&w, top, 0);
	if (*out == NULL) {
		wa__message__free_unpacked(msg, NULL);
		return errbuf_fail(err, errlen, "message is over the %d-value cap", MSG_JSON_MAX_NODES);
	}
	msg_json_content_type(top, type, typelen);
	wa__message__free_unpacked(msg, NULL);
	return 0;
}

/* Evolution's rewrites of one message object (top level or a quoted message); returns the new type or NULL. */
static const char *
normalize_one(json_object *msg)
{
	json_object *ext, *text, *dwc, *inner, *doc;
	const char *type = NULL;

	if (json_object_object_get_ex(msg, "extendedTextMessage", &ext)) {
		if (json_object_object_get_ex(ext, "text", &text))
			json_object_object_add(msg, "conversation", json_object_get(text));
		json_object_object_del(msg, "extendedTextMessage");
		type = "conversation";
	}
	if (json_object_object_get_ex(msg, "documentWithCaptionMessage", &dwc)) {
		if (json_object_object_get_ex(dwc, "message", &inner) &&
		    json_object_object_get_ex(inner, "documentMessage", &doc))
			json_object_object_add(msg, "documentMessage", json_object_get(doc));
		json_object_object_del(msg, "documentWithCaptionMessage");
		type = "documentMessage";
	}
	return type;
}

void
msg_json_normalize(json_object *msg, char *type, size_t typelen)
{
	json_object *content, *ctx, *quoted;
	const char *t;

	/* The quoted message first: Evolution rewrites it through the content it is about to delete. */
	if (type[0] != '\0' && json_object_object_get_ex(msg, type, &content) &&
	    json_object_is_type(content, json_type_object) &&
	    json_object_object_get_ex(content, "contextInfo", &ctx) &&
	    json_object_object_get_ex(ctx, "quotedMessage", &quoted))
		normalize_one(quoted);
	if ((t = normalize_one(msg)) != NULL)
		snprintf(type, typelen, "%s", t);
}
