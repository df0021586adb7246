/* The request side of webhook_http.c's client: which URLs it sends (and their parts), and a POST's head. Free of
 * sockets and of the loop, so that the URL reader can be fuzzed alone. */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webhook_int.h"
#include "xmalloc.h"

/*
 * Whether the URL is one this client sends (a plain http:// URL with no credentials, a host name or address
 * and a path of printable ASCII with no dot segments), and its parts. Anything else goes to libcurl, which knows
 * the rest of the URL grammar: we only take what we are sure to send as libcurl would.
 */
int
webhook_http_target(const char *url, struct webhook_http_target *t)
{
	const char *p, *a, *end, *q, *pend;
	size_t n;
	long port = 80;
	char *e;
	unsigned char buf[sizeof(struct in6_addr)];

	if (strncasecmp(url, "http://", 7) != 0)
		return 0;
	a = url + 7;
	end = a + strcspn(a, "/?#");
	if (memchr(a, '@', (size_t)(end - a)) != NULL)
		return 0;
	if (*a == '[') {
		if ((p = memchr(a, ']', (size_t)(end - a))) == NULL || (n = (size_t)(p - a - 1)) == 0 ||
		    n >= sizeof(t->host))
			return 0;
		memcpy(t->host, a + 1, n);
		t->host[n] = '\0';
		if (inet_pton(AF_INET6, t->host, buf) != 1)
			return 0;
		t->ipv6 = 1;
		p++;
	} else {
		p = a + strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
		if ((n = (size_t)(p - a)) == 0 || n > WEBHOOK_HTTP_HOST_MAX)
			return 0;
		memcpy(t->host, a, n);
		t->host[n] = '\0';
		t->ipv6 = 0;
	}
	if (p < end) {
		if (*p != ':' || p + 1 == end || p + 6 < end || strspn(p + 1, "0123456789") != (size_t)(end - p - 1))
			return 0;
		port = strtol(p + 1, &e, 10);
		if (port < 1 || port > 65535)
			return 0;
	}
	t->port = (int)port;
	/* The request target: printable ASCII up to a fragment (never sent), and no dot segments (libcurl would
	 * remove them). */
	t->path = end;
	for (p = end; *p != '\0' && *p != '#'; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return 0;
	t->path_len = (size_t)(p - end);
	q = memchr(end, '?', t->path_len);
	pend = q != NULL ? q : end + t->path_len;
	for (p = end; p < pend; p++)
		if (p[0] == '/' && p[1] == '.' && (p + 2 == pend || p[2] == '/' ||
		    (p[2] == '.' && (p + 3 == pend || p[3] == '/'))))
			return 0;
	return 1;
}

/* Whether url goes through this client rather than libcurl (tests). */
int
webhook_http_takes(const char *url)
{
	struct webhook_http_target t;

	return webhook_http_target(url, &t);
}

/* d's request head: request line, Host, ours and the row's headers (d->hdrs, the list libcurl would send), and
 * the body's length. As with libcurl, a row's own User-Agent or Accept replaces ours. */
void
webhook_http_head(struct webhook_delivery *d, const struct webhook_http_target *t)
{
	const struct curl_slist *l;
	const char *colon;
	size_t cap, len, n;
	char *buf;
	int k, agent = 1, accept = 1;

	cap = 256 + t->path_len + strlen(t->host);
	for (l = d->hdrs; l != NULL; l = l->next) {
		cap += strlen(l->data) + 2;
		if (strncasecmp(l->data, "User-Agent:", 11) == 0)
			agent = 0;
		if (strncasecmp(l->data, "Accept:", 7) == 0)
			accept = 0;
	}
	buf = xmalloc(cap);
	len = 0;
	k = snprintf(buf, cap, "POST %s%.*s HTTP/1.1\r\nHost: %s%s%s", t->path_len == 0 || t->path[0] == '?' ?
	    "/" : "", (int)t->path_len, t->path, t->ipv6 ? "[" : "", t->host, t->ipv6 ? "]" : "");
	len = (size_t)k;
	if (t->port != 80)
		len += (size_t)snprintf(buf + len, cap - len, ":%d", t->port);
	len += (size_t)snprintf(buf + len, cap - len, "\r\n%s%s", agent ? "User-Agent: wagate-webhook/1\r\n" : "",
	    accept ? "Accept: */*\r\n" : "");
	for (l = d->hdrs; l != NULL; l = l->next) {
		/* "Name:" with no value is libcurl's way to leave a header out (our "Expect:"). */
		if ((colon = strchr(l->data, ':')) == NULL || colon[1 + strspn(colon + 1, " \t")] == '\0')
			continue;
		n = strlen(l->data);
		memcpy(buf + len, l->data, n);
		memcpy(buf + len + n, "\r\n", 2);
		len += n + 2;
	}
	len += (size_t)snprintf(buf + len, cap - len, "Content-Length: %zu\r\n\r\n", strlen(d->body));
	d->hhead = buf;
	d->hhead_len = len;
}
