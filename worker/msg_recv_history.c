/* A received history sync chunk (msg_recv_int.h): msg_recv.c hands over the notification of a peer message from
 * our own phone; here its media blob is downloaded while the executor holds the job (MSG_STEP_WAIT), then the
 * chunk, inline or downloaded, becomes rows in the stanza's own batch. */
#include "msg.h"
#include "msg_content.h"
#include "msg_history.h"
#include "msg_recv_int.h"
#include "session_int.h"
#include "b64.h"
#include "log.h"
#include "wa_fetch.h"
#include "wa_media.h"
#include "wa_proxy.h"
#include "worker.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_BLOB_MAX	(16u * 1024 * 1024)	/* a chunk's media blob */
#define HISTORY_FETCH_MS	60000	/* its download, all of it, retries included */
#define HISTORY_FETCH_TRIES	3	/* attempts, when the ones before failed in a way that may pass */
#define HISTORY_RETRY_MS	1000	/* the wait before the second; doubled before each later one */

/* The wait for the next attempt is over: the executor runs the step again, which starts it. */
static void
history_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct msg_recv_history *rh = arg;

	(void)fd;
	(void)what;
	msg_exec_resume(rh->s);
}

/*
 * An attempt failed in a way the next may not (no answer at all, or the host's 408, 429 or 5xx): wait and try
 * again while attempts and the download's time are left. Why: the chunk's stanza is acked either way, and the
 * phone does not send an acked chunk again, so a passing hiccup of the media host would lose that history for
 * good. A 404 or 403 (the blob is gone, the link expired) would answer the same again. 1 when a retry waits.
 */
static int
history_retry_later(struct msg_recv_history *rh, int ok, int status)
{
	uint64_t delay = (uint64_t)HISTORY_RETRY_MS << (rh->tries - 1);
	struct timeval tv;

	if ((ok && status != 408 && status != 429 && status < 500) || rh->tries >= HISTORY_FETCH_TRIES ||
	    msg_now_ms() + delay >= rh->first_ms + HISTORY_FETCH_MS)
		return 0;
	if (rh->retry == NULL && (rh->retry = evtimer_new(worker_base(rh->s->w), history_retry_cb, rh)) == NULL)
		return 0;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	evtimer_add(rh->retry, &tv);
	log_info("%s: history sync chunk download attempt %d failed (%s); trying again in %llu ms",
	    worker_instance_name(rh->s->w), rh->tries, rh->err, (unsigned long long)delay);
	return 1;
}

/* An attempt is over (on the loop): keep what came, or wait for the next attempt; else let the executor run the
 * step again. */
static void
history_fetched_cb(void *arg, int ok, int status, uint8_t *body, size_t len, const char *err)
{
	struct msg_recv_history *rh = arg;

	rh->fetch = NULL;
	if (ok && status == 200) {
		rh->blob = body;
		rh->blob_len = len;
		rh->err[0] = '\0';
	} else {
		if (!ok)
			snprintf(rh->err, sizeof(rh->err), "%s", err);
		else
			snprintf(rh->err, sizeof(rh->err), "the media host answered HTTP %d", status);
		free(body);
		if (history_retry_later(rh, ok, status))
			return;
	}
	rh->fetched = 1;
	msg_exec_resume(rh->s);
}

/* The blob's URL, as WhatsApp Web asks for it: the media host, the directPath, then the blob's hash and media
 * type after the path's own query (whatsmeow too). */
static char *
history_url(const char *base, const struct msg_content *c)
{
	char hash[64], *p, *url;

	if (!c->history_has_hashes) {
		xasprintf(&url, "%s%s", base, c->history_path);
		return url;
	}
	/* base64 with the URL alphabet, padding kept (Go's URLEncoding) */
	b64_encode(c->history_enc_sha256, sizeof(c->history_enc_sha256), hash);
	for (p = hash; *p != '\0'; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	xasprintf(&url, "%s%s%shash=%s&mms-type=md-msg-hist&__wa-mms=", base, c->history_path,
	    strchr(c->history_path, '?') != NULL ? "&" : "?", hash);
	return url;
}

int
msg_recv_history_fetch(struct session *s, struct msg_recv_history *rh, const struct msg_content *c, const char *id)
{
	const struct proxy *p = worker_proxy(s->w);
	const char *base = worker_wa_media_url(s->w);
	struct wa_fetch_proxy fp;
	struct wa_fetch_req r;
	char *url, err[160];

	if (rh->fetched || c->history_inline != NULL || c->history_path == NULL)
		return WA_SIGNAL_DONE;
	if (rh->fetch != NULL || (rh->retry != NULL && evtimer_pending(rh->retry, NULL)))
		return MSG_STEP_WAIT;
	rh->fetched = 1;
	if (base == NULL) {
		snprintf(rh->err, sizeof(rh->err), "no media host configured (WA_MEDIA_URL)");
		return WA_SIGNAL_DONE;
	}
	memset(&r, 0, sizeof(r));
	r.url = url = history_url(base, c);
	r.extra_ca_file = worker_wa_tls_ca_file(s->w);
	/* The blob is the plaintext padded to 16 bytes plus a 10-byte MAC. */
	r.max_body = c->history_length > 0 && c->history_length < HISTORY_BLOB_MAX - 26 ?
	    (size_t)c->history_length + 26 : HISTORY_BLOB_MAX;
	rh->s = s;
	if (rh->tries++ == 0)
		rh->first_ms = msg_now_ms();
	/* the download's time, less what the attempts before used (a retry is only planned inside it, but its timer
	 * may fire a little late) */
	if (msg_now_ms() >= rh->first_ms + HISTORY_FETCH_MS) {
		free(url);
		snprintf(rh->err, sizeof(rh->err), "no time left for attempt %d", rh->tries);
		return WA_SIGNAL_DONE;
	}
	r.timeout_ms = (unsigned)(rh->first_ms + HISTORY_FETCH_MS - msg_now_ms());
	r.origin = "https://web.whatsapp.com";
	if (p != NULL && p->enabled && p->host != NULL) {
		memset(&fp, 0, sizeof(fp));
		fp.type = (int)wa_proxy_type_from_name(p->protocol);
		fp.host = p->host;
		fp.port = (unsigned)strtoul(p->port != NULL ? p->port : "0", NULL, 10);
		fp.username = p->username;
		fp.password = p->password;
		r.proxy = &fp;
	}
	rh->fetch = wa_fetch_start(worker_base(s->w), &r, history_fetched_cb, rh, err, sizeof(err));
	free(url);
	if (rh->fetch == NULL) {
		snprintf(rh->err, sizeof(rh->err), "%s", err);
		return WA_SIGNAL_DONE;
	}
	rh->fetched = 0;
	log_debug("%s: message %s: downloading a history sync chunk (%llu bytes), attempt %d",
	    worker_instance_name(s->w), id, (unsigned long long)c->history_length, rh->tries);
	return MSG_STEP_WAIT;
}

void
msg_recv_history_rows(struct session *s, const struct msg_recv_history *rh, const struct msg_content *c,
    const char *id, struct msg_batch *b)
{
	struct msg_history h;
	uint8_t *plain = NULL;
	size_t plen = 0;
	char err[160];
	int rc;

	if (c->history_inline == NULL && c->history_path == NULL) {
		log_warnx("%s: message %s: history sync chunk (type %d) neither inline nor a usable media blob",
		    worker_instance_name(s->w), id, c->history_type);
		return;
	}
	if (c->history_inline == NULL && rh->blob == NULL) {
		log_warnx("%s: message %s: history sync chunk not downloaded: %s", worker_instance_name(s->w), id,
		    rh->err[0] != '\0' ? rh->err : "no download");
		return;
	}
	if (c->history_inline == NULL && wa_media_decrypt(c->history_key, WA_MEDIA_INFO_HISTORY, rh->blob,
	    rh->blob_len, c->history_has_hashes ? c->history_enc_sha256 : NULL,
	    c->history_has_hashes ? c->history_sha256 : NULL, &plain, &plen, err, sizeof(err)) == -1) {
		log_warnx("%s: message %s: history sync blob refused: %s", worker_instance_name(s->w), id, err);
		return;
	}
	rc = plain != NULL ? msg_history_decode(plain, plen, &h, err, sizeof(err)) :
	    msg_history_decode(c->history_inline, c->history_inline_len, &h, err, sizeof(err));
	free(plain);
	if (rc == -1) {
		log_warnx("%s: message %s: history sync chunk refused: %s", worker_instance_name(s->w), id, err);
		return;
	}
	log_info("%s: history sync chunk (type %d): %zu messages, %zu chats, %zu contacts, %zu LID mappings; %zu "
	    "skipped, %zu over the caps", worker_instance_name(s->w), h.sync_type, h.nmsgs, h.nchats, h.ncontacts,
	    h.nlids, h.skipped, h.dropped);
	msg_batch_take_history(b, &h);
	msg_history_clear(&h);
}

void
msg_recv_history_clear(struct msg_recv_history *rh)
{
	wa_fetch_cancel(rh->fetch);
	if (rh->retry != NULL)
		event_free(rh->retry);
	free(rh->blob);
	memset(rh, 0, sizeof(*rh));
}
