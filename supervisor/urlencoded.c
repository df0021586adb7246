#include "urlencoded.h"
#include "hex.h"
#include "utf8.h"
#include "xmalloc.h"

#include <json-c/json.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One piece of a key: the name before the first bracket group, or the inside of one group. */
struct ue_seg {
	const char *s;
	size_t n;
	int bracket;	/* came from [..] (only those can be array slots) */
};

/*
 * '+' to space, then %XX decoded; as qs does, a string whose escapes are malformed is kept as sent (with only
 * the '+' replaced). Unlike qs, escapes that decode to invalid UTF-8 are refused rather than kept as sent, and
 * so is a NUL (%00, or the byte itself), which would cut the string short further on: NULL, with why in *why.
 * Returns a NUL-terminated copy.
 */
static char *
ue_decode(const char *s, size_t n, size_t *outlen, const char **why)
{
	char *raw = xmalloc(n + 1), *dec = xmalloc(n + 1);
	size_t i, o = 0;
	int ok = 1, hi, lo;

	for (i = 0; i < n; i++)
		raw[i] = s[i] == '+' ? ' ' : s[i];
	raw[n] = '\0';
	for (i = 0; i < n && ok; i++) {
		if (raw[i] != '%') {
			dec[o++] = raw[i];
			continue;
		}
		if (i + 2 >= n || (hi = hex_digit((unsigned char)raw[i + 1])) < 0 ||
		    (lo = hex_digit((unsigned char)raw[i + 2])) < 0) {
			ok = 0;
			break;
		}
		dec[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	if (!ok) {
		free(dec);
		dec = raw, o = n;
	} else
		free(raw);
	if (memchr(dec, '\0', o) != NULL || !utf8_valid(dec, o, NULL)) {
		*why = memchr(dec, '\0', o) != NULL ? "holds a NUL character (%00)" : "is not valid UTF-8";
		free(dec);
		return NULL;
	}
	dec[o] = '\0';
	*outlen = o;
	return dec;
}

/*
 * Split key as qs does: the text before the first [..] group (no brackets inside) is the parent, then every
 * such group in turn; text between groups is ignored. Returns the number of segments, or -1 when deeper than
 * URLENCODED_MAX_DEPTH.
 */
static int
ue_split_key(const char *key, size_t n, struct ue_seg *seg)
{
	size_t i = 0, j, start = n;
	int nseg = 0, groups = 0;

	/* the first group decides where the parent ends */
	for (i = 0; i < n; i++) {
		if (key[i] != '[')
			continue;
		for (j = i + 1; j < n && key[j] != '[' && key[j] != ']'; j++)
			;
		if (j < n && key[j] == ']') {
			start = i;
			break;
		}
	}
	if (start > 0)
		seg[nseg++] = (struct ue_seg){ key, start, 0 };
	for (i = start; i < n; i++) {
		if (key[i] != '[')
			continue;
		for (j = i + 1; j < n && key[j] != '[' && key[j] != ']'; j++)
			;
		if (j >= n || key[j] != ']')
			continue;
		if (++groups > URLENCODED_MAX_DEPTH)
			return -1;
		seg[nseg++] = (struct ue_seg){ key + i + 1, j - i - 1, 1 };
		i = j;
	}
	return nseg;
}

/* The array index a bracket segment names ("" = the next free slot, as -1), or -2 when it names a key. */
static long
ue_index(const struct ue_seg *sg, long limit)
{
	long v = 0;
	size_t i;

	if (!sg->bracket)
		return -2;
	if (sg->n == 0)
		return -1;
	if (sg->n > 1 && sg->s[0] == '0')
		return -2;
	for (i = 0; i < sg->n; i++) {
		if (sg->s[i] < '0' || sg->s[i] > '9')
			return -2;
		v = v * 10 + (sg->s[i] - '0');
		if (v > limit)
			return -2;
	}
	return v;
}

/* An array turned into an object keyed "0", "1", ... (qs does this when a name meets an array). */
static struct json_object *
ue_array_to_object(struct json_object *arr)
{
	struct json_object *o = json_object_new_object(), *v;
	size_t i, n = json_object_array_length(arr);
	char k[24];

	for (i = 0; i < n; i++) {
		if ((v = json_object_array_get_idx(arr, i)) == NULL)
			continue;
		snprintf(k, sizeof(k), "%zu", i);
		json_object_object_add(o, k, json_object_get(v));
	}
	return o;
}

/* A key string for slot sg of an object: a name, or an index written out ("" is "0", as qs's merge gives). */
static char *
ue_object_key(const struct ue_seg *sg)
{
	if (sg->bracket && sg->n == 0)
		return xstrdup("0");
	return xstrndup(sg->s, sg->n);
}

/* Put one decoded pair into top. 0, or -1 (EINVAL) when a plain value meets nested keys already there
 * (qs would add the value as a key set to true). */
static int
ue_insert(struct json_object *top, const struct ue_seg *seg, int nseg, const char *val, size_t vlen, long limit)
{
	struct json_object *cur = top, *child, *nc;
	char *key = NULL;
	long idx = 0;
	int i, last, want_array;

	for (i = 0; i < nseg; i++) {
		last = i == nseg - 1;
		free(key);
		key = NULL;
		if (json_object_is_type(cur, json_type_array)) {
			if ((idx = ue_index(&seg[i], limit)) == -2)
				goto conflict;	/* not reached: an array met by a name became an object */
			if (idx == -1)
				idx = last ? (long)json_object_array_length(cur) : 0;
			child = json_object_array_get_idx(cur, (size_t)idx);
		} else {
			key = ue_object_key(&seg[i]);
			if (!json_object_object_get_ex(cur, key, &child))
				child = NULL;
		}
		if (last) {
			nc = json_object_new_string_len(val, (int)vlen);
			if (child == NULL) {
				if (key != NULL)
					json_object_object_add(cur, key, nc);
				else
					json_object_array_put_idx(cur, (size_t)idx, nc);
			} else if (key == NULL)
				json_object_array_add(cur, nc);	/* a taken slot: qs pushes */
			else if (json_object_is_type(child, json_type_array))
				json_object_array_add(child, nc);
			else if (json_object_is_type(child, json_type_string)) {
				struct json_object *pair = json_object_new_array();

				json_object_array_add(pair, json_object_get(child));
				json_object_array_add(pair, nc);
				json_object_object_add(cur, key, pair);
			} else {
				json_object_put(nc);
				goto conflict;
			}
			break;
		}
		want_array = ue_index(&seg[i + 1], limit) != -2;
		if (child != NULL && json_object_is_type(child, json_type_string)) {
			if (key != NULL) {
				/* qs: [value].concat(container): the value, then the nested keys */
				nc = json_object_new_array();
				json_object_array_add(nc, json_object_get(child));
				json_object_object_add(cur, key, nc);
				if (!want_array) {
					child = json_object_new_object();
					json_object_array_add(nc, child);
				} else
					child = nc;
				cur = child;
				continue;
			}
			child = NULL;	/* qs pushes the new container after the string */
			idx = (long)json_object_array_length(cur);
		}
		if (child == NULL) {
			nc = want_array ? json_object_new_array() : json_object_new_object();
			if (key != NULL)
				json_object_object_add(cur, key, nc);
			else
				json_object_array_put_idx(cur, (size_t)idx, nc);
			child = nc;
		} else if (json_object_is_type(child, json_type_array) && ue_index(&seg[i + 1], limit) == -2) {
			nc = ue_array_to_object(child);
			if (key != NULL)
				json_object_object_add(cur, key, nc);
			else
				json_object_array_put_idx(cur, (size_t)idx, nc);
			child = nc;
		}
		cur = child;
	}
	free(key);
	return 0;
conflict:
	free(key);
	errno = EINVAL;
	return -1;
}

/* Arrays lose the holes that sparse indices left, as qs's compact does. */
static void
ue_compact(struct json_object *o)
{
	struct json_object *v;
	size_t i, n;

	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, val) {
			(void)k;
			ue_compact(val);
		}
		return;
	}
	if (!json_object_is_type(o, json_type_array))
		return;
	n = json_object_array_length(o);
	for (i = n; i > 0; i--)
		if (json_object_array_get_idx(o, i - 1) == NULL)
			json_object_array_del_idx(o, i - 1, 1);
	n = json_object_array_length(o);
	for (i = 0; i < n; i++)
		if ((v = json_object_array_get_idx(o, i)) != NULL)
			ue_compact(v);
}

/* The body's pairs, in order, into one object (the contract is in urlencoded.h). */
int
urlencoded_parse(const char *data, size_t len, struct json_object **out, char *err, size_t errlen)
{
	struct json_object *top;
	struct ue_seg seg[URLENCODED_MAX_DEPTH + 1];
	const char *p = data, *end = data + len, *amp, *eq, *why = NULL;
	size_t i, amps = 0, kl, vl, pair = 0;
	long limit;
	char *key, *val;
	int nseg;

	*out = NULL;
	for (i = 0; i < len; i++)
		if (data[i] == '&')
			amps++;
	/* body-parser counts separators, not pairs, and stops at its limit */
	if (amps >= URLENCODED_MAX_PARAMS) {
		snprintf(err, errlen, "too many parameters");
		errno = E2BIG;
		return -1;
	}
	limit = amps + 1 > 100 ? (long)amps + 1 : 100;
	top = json_object_new_object();
	while (p < end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp == p) {
			p++;
			continue;
		}
		eq = memchr(p, '=', (size_t)(amp - p));
		pair++;
		key = ue_decode(p, (size_t)((eq != NULL ? eq : amp) - p), &kl, &why);
		if (key == NULL)
			val = NULL;
		else if (eq != NULL)
			val = ue_decode(eq + 1, (size_t)(amp - eq - 1), &vl, &why);
		else
			val = xstrdup(""), vl = 0;
		p = amp < end ? amp + 1 : end;
		if (key == NULL || val == NULL) {
			snprintf(err, errlen, "the %s of parameter %zu %s", key == NULL ? "name" : "value", pair, why);
			errno = EINVAL;
			goto fail;
		}
		if (kl == 0) {
			free(key);
			free(val);
			continue;
		}
		if ((nseg = ue_split_key(key, kl, seg)) == -1) {
			snprintf(err, errlen, "the key \"%.64s\" is nested more than %d levels deep", key,
			    URLENCODED_MAX_DEPTH);
			errno = EINVAL;
			goto fail;
		}
		if (ue_insert(top, seg, nseg, val, vl, limit) == -1) {
			snprintf(err, errlen, "the key \"%.64s\" is used both for a value and for nested keys", key);
			goto fail;
		}
		free(key);
		free(val);
	}
	ue_compact(top);
	*out = top;
	return 0;
fail:
	free(key);
	free(val);
	json_object_put(top);
	return -1;
}
