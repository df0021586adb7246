/* Webhook transport: libcurl's multi interface driven by libevent (socket watchers and one timer), the
 * easy handle of one POST, and its request headers. Plain http:// URLs go to webhook_http.c first. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "errbuf.h"
#include "log.h"
#include "webhook_int.h"
#include "xmalloc.h"

/* Collect finished transfers from libcurl. */
static void
webhook_check_done(struct webhook *w)
{
	struct webhook_delivery *d;
	CURLMsg *msg;
	CURLcode res;
	CURL *easy;
	long code;
	int left;

	while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		res = msg->data.result;
		d = NULL;
		code = 0;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&d);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(w->multi, easy);
		curl_easy_cleanup(easy);
		if (d == NULL)
			continue;
		d->easy = NULL;
		webhook_delivery_finish(w, d, res, code);
	}
}

/* libevent saw activity on a socket libcurl watches. */
static void
webhook_sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;
	int running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(w->multi, fd, action, &running);
	/* Before the finished transfers are handed on: a delivery that ends may start its queue's next row
	 * (webhook_delivery_finish), whose timer must survive. */
	if (running <= 0 && evtimer_pending(w->curl_timer, NULL))
		evtimer_del(w->curl_timer);
	webhook_check_done(w);
}

/* libcurl's timeout expired. */
static void
webhook_curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;
	int running;

	curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	webhook_check_done(w);
}

/* CURLMOPT_SOCKETFUNCTION: (re)register or drop the libevent watcher for one socket. */
static int
webhook_curl_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct webhook *w = userp;
	struct webhook_sock *ws = socketp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ws != NULL) {
			LIST_REMOVE(ws, entry);
			event_free(ws->ev);
			free(ws);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ws == NULL) {
		ws = xcalloc(1, sizeof(*ws));
		ws->w = w;
		LIST_INSERT_HEAD(&w->socks, ws, entry);
		curl_multi_assign(w->multi, s, ws);
	} else
		event_free(ws->ev);
	if ((ws->ev = event_new(w->base, s, kind, webhook_sock_event_cb, w)) == NULL)
		fatalx("event_new");
	event_add(ws->ev, NULL);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer for the whole multi handle. */
static int
webhook_curl_timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct webhook *w = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(w->curl_timer);
		return 0;
	}
	/* Zero means "act now": run it on the next loop turn, never from inside libcurl. */
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(w->curl_timer, &tv);
	return 0;
}

/* Set up libcurl's multi interface to run on w's event base (one timer, one watcher per socket). */
int
webhook_curl_init(struct webhook *w, char *err, size_t errlen)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return errbuf_fail(err, errlen, "curl_global_init failed");
	if ((w->multi = curl_multi_init()) == NULL) {
		curl_global_cleanup();
		return errbuf_fail(err, errlen, "curl_multi_init failed");
	}
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, webhook_curl_sock_cb);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, webhook_curl_timer_fn);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)w->concurrency);
	if ((w->curl_timer = evtimer_new(w->base, webhook_curl_timer_cb, w)) == NULL) {
		curl_multi_cleanup(w->multi);
		w->multi = NULL;
		curl_global_cleanup();
		return errbuf_fail(err, errlen, "evtimer_new failed");
	}
	return 0;
}

/* Undo webhook_curl_init; transfers still attached are dropped with the multi handle. */
void
webhook_curl_cleanup(struct webhook *w)
{
	struct webhook_sock *ws;

	if (w->multi == NULL)
		return;
	curl_multi_cleanup(w->multi);
	w->multi = NULL;
	/* Cached keep-alive connections may close without a CURL_POLL_REMOVE. */
	while ((ws = LIST_FIRST(&w->socks)) != NULL) {
		LIST_REMOVE(ws, entry);
		event_free(ws->ev);
		free(ws);
	}
	curl_global_cleanup();
	event_free(w->curl_timer);
	w->curl_timer = NULL;
}

/* Response bodies are not used: count and drop them. */
static size_t
webhook_curl_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	return size * nmemb;
}

/* Whether a stored header name may be sent (a valid token, not one we set ourselves). */
static int
webhook_header_allowed(const char *name)
{
	static const char *reserved[] = { "content-type", "content-length", "host", "transfer-encoding",
		"expect", "connection", "x-wagate-delivery", "x-wagate-event" };
	size_t i, n = strlen(name);

	if (n == 0 || n > 128 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789!#$%&'*+-.^_`|~") != n)
		return 0;
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return 0;
	return 1;
}

/* Build the header list: ours first, then the row's custom headers (bounded, no CR/LF injection). */
struct curl_slist *
webhook_curl_headers(const struct webhook_delivery *d, const char *headers_json)
{
	struct curl_slist *h = NULL, *n;
	struct json_object *obj;
	char *line;
	int count = 0;

	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	xasprintf(&line, "%s: %lld", WEBHOOK_HEADER_DELIVERY, d->id);
	h = curl_slist_append(h, line);
	free(line);
	xasprintf(&line, "%s: %s", WEBHOOK_HEADER_EVENT, d->event);
	h = curl_slist_append(h, line);
	free(line);
	if (headers_json == NULL || (obj = json_tokener_parse(headers_json)) == NULL)
		return h;
	if (json_object_is_type(obj, json_type_object)) {
		json_object_object_foreach(obj, key, val) {
			const char *v;

			if (count >= WEBHOOK_MAX_HEADERS)
				break;
			if (json_object_is_type(val, json_type_object) || json_object_is_type(val, json_type_array) ||
			    json_object_is_type(val, json_type_null))
				continue;
			v = json_object_get_string(val);
			if (!webhook_header_allowed(key) || v == NULL || strlen(v) > WEBHOOK_MAX_HEADER_LEN ||
			    strpbrk(v, "\r\n") != NULL)
				continue;
			xasprintf(&line, "%s: %s", key, v);
			n = curl_slist_append(h, line);
			free(line);
			if (n != NULL)
				h = n;
			count++;
		}
	}
	json_object_put(obj);
	return h;
}

/* Our own client for plain http:// URLs, libcurl for the rest. */
int
webhook_curl_start(struct webhook *w, struct webhook_delivery *d)
{
	if (webhook_http_start(w, d) == 0)
		return 0;
	return webhook_curl_post(w, d);
}

/* Hand d's POST to the multi handle; a failure leaves d->easy NULL. */
int
webhook_curl_post(struct webhook *w, struct webhook_delivery *d)
{
	CURL *easy;

	if ((easy = curl_easy_init()) == NULL)
		return -1;
	curl_easy_setopt(easy, CURLOPT_URL, d->url);
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, d->hdrs);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, d);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, d->errbuf);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, webhook_curl_write_cb);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)w->request_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(w->request_timeout_ms < 10000 ? w->request_timeout_ms : 10000));
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "wagate-webhook/1");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	d->easy = easy;
	if (curl_multi_add_handle(w->multi, easy) != CURLM_OK) {
		curl_easy_cleanup(easy);
		d->easy = NULL;
		return -1;
	}
	return 0;
}

/* Take d's transfer off the multi handle (webhook freed, or the row given up). */
void
webhook_curl_stop(struct webhook_delivery *d)
{
	webhook_http_stop(d);
	if (d->easy == NULL)
		return;
	curl_multi_remove_handle(d->w->multi, d->easy);
	curl_easy_cleanup(d->easy);
	d->easy = NULL;
}
