/* libFuzzer target: which webhook URLs the own HTTP client takes (webhook_http_target) and the request head it
 * builds from one (webhook_http_head). A URL comes from an API caller; whatever it holds, a URL the client takes
 * must give parts inside the URL, and a head with exactly its own lines: a request line of three fields, a Host
 * line, no CR or LF smuggled from the URL, and one empty line at the end. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webhook_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Count the occurrences of needle in the n bytes at hay. */
static size_t
count(const char *hay, size_t n, const char *needle)
{
	size_t k = 0, m = strlen(needle), i;

	for (i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			k++;
	return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webhook_http_target t;
	struct webhook_delivery d;
	char *url, *sp1, *sp2, *eol;
	size_t i;

	if (size > 4096)
		return 0;
	url = malloc(size + 1);
	if (url == NULL)
		abort();
	memcpy(url, data, size);
	url[size] = '\0';
	memset(&t, 0, sizeof(t));
	if (webhook_http_target(url, &t) != webhook_http_takes(url))
		abort();
	if (!webhook_http_takes(url)) {
		free(url);
		return 0;
	}
	if (t.host[0] == '\0' || strlen(t.host) > WEBHOOK_HTTP_HOST_MAX || t.port < 1 || t.port > 65535)
		abort();
	if (t.path < url || t.path > url + strlen(url) || t.path_len > strlen(t.path))
		abort();
	for (i = 0; i < t.path_len; i++)
		if (t.path[i] <= 0x20 || t.path[i] >= 0x7f || t.path[i] == '#')
			abort();
	memset(&d, 0, sizeof(d));
	d.body = (char *)"{}";
	webhook_http_head(&d, &t);
	/* Lines: request, Host, User-Agent, Accept, Content-Length, and the empty one. */
	if (d.hhead_len != strlen(d.hhead) || count(d.hhead, d.hhead_len, "\r\n") != 6 ||
	    count(d.hhead, d.hhead_len, "\n") != 6 || count(d.hhead, d.hhead_len, "\r") != 6 ||
	    d.hhead_len < 4 || memcmp(d.hhead + d.hhead_len - 4, "\r\n\r\n", 4) != 0 ||
	    strncmp(d.hhead, "POST /", 6) != 0)
		abort();
	eol = strstr(d.hhead, "\r\n");
	sp1 = memchr(d.hhead, ' ', (size_t)(eol - d.hhead));
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (sp2 == NULL || memchr(sp2 + 1, ' ', (size_t)(eol - sp2 - 1)) != NULL ||
	    strncmp(sp2, " HTTP/1.1\r\n", 11) != 0 || strncmp(eol, "\r\nHost: ", 8) != 0)
		abort();
	free(d.hhead);
	free(url);
	return 0;
}
