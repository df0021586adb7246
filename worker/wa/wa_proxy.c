/* Proxy tunnel handshakes: HTTP CONNECT, SOCKS5, SOCKS4/4a (see wa_proxy.h). The replies come from a host we
 * do not control, so every length is checked against what the phase allows before it is used, and the state
 * machine reads no byte past the reply (the tunnelled TLS stream starts right after it). */
#include "wa_proxy.h"

#include "b64.h"
#include "errbuf.h"
#include "xmalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

enum px_phase {
	PX_HTTP_REPLY,		/* reading the CONNECT answer head */
	PX_S5_METHOD,		/* SOCKS5 method selection (2 bytes) */
	PX_S5_AUTH,		/* RFC 1929 status (2 bytes) */
	PX_S5_REPLY,		/* SOCKS5 reply: 5 bytes, then the rest of the bound address */
	PX_S4_REPLY,		/* SOCKS4 reply (8 bytes) */
	PX_DONE,
	PX_FAILED,
};

#define PX_S5_HEAD	5	/* VER REP RSV ATYP and the first address byte (the length of a domain name) */

struct wa_proxy {
	enum wa_proxy_type type;
	enum px_phase phase;
	enum wa_proxy_error error;
	char *host;
	unsigned port;
	char *user, *pass;		/* NULL = no authentication */
	uint8_t *out;			/* the request being sent */
	size_t outlen, outoff;
	uint8_t in[WA_PROXY_HTTP_HEAD_MAX];
	size_t inlen;
	size_t need;			/* SOCKS: length of the reply being read */
};

/* The protocol named by a configuration string. */
enum wa_proxy_type
wa_proxy_type_from_name(const char *name)
{
	if (name == NULL)
		return 0;
	if (strcasecmp(name, "http") == 0)
		return WA_PROXY_HTTP;
	if (strcasecmp(name, "socks4") == 0)
		return WA_PROXY_SOCKS4;
	if (strcasecmp(name, "socks5") == 0)
		return WA_PROXY_SOCKS5;
	return 0;
}

/* A field that goes into a request as it is: bounded, and nothing that could end a line or a C string. */
static int
proxy_field_ok(const char *s, int allow_empty)
{
	size_t n = strlen(s);

	if (n > WA_PROXY_FIELD_MAX || (n == 0 && !allow_empty))
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Replace the pending request, wiping the previous one (it may carry the password). */
static void
proxy_set_output(struct wa_proxy *p, uint8_t *buf, size_t len)
{
	free_wiped(p->out, p->outlen);
	p->out = buf;
	p->outlen = len;
	p->outoff = 0;
}

/* HTTP: the CONNECT request, with Basic credentials when a username is set. */
static void
proxy_http_request(struct wa_proxy *p)
{
	char *auth = NULL, *cred = NULL, *req, *authority;
	int n;

	xasprintf(&authority, strchr(p->host, ':') ? "[%s]:%u" : "%s:%u", p->host, p->port);
	if (p->user != NULL) {
		int clen = xasprintf(&cred, "%s:%s", p->user, p->pass ? p->pass : "");
		char *b = b64_encode_alloc(cred, (size_t)clen);
		xasprintf(&auth, "Proxy-Authorization: Basic %s\r\n", b);
		free_wiped(b, strlen(b));
		free_wiped(cred, (size_t)clen);
	}
	n = xasprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%sUser-Agent: wagate\r\n\r\n", authority,
	    authority, auth ? auth : "");
	if (auth != NULL)
		free_wiped(auth, strlen(auth));
	free(authority);
	proxy_set_output(p, (uint8_t *)req, (size_t)n);
	p->phase = PX_HTTP_REPLY;
}

/* SOCKS5: the method offer; username/password only when we have a username. */
static void
proxy_s5_greeting(struct wa_proxy *p)
{
	uint8_t *b = xmalloc(4);

	b[0] = 5;
	if (p->user != NULL) {
		b[1] = 2;
		b[2] = 0x00;
		b[3] = 0x02;
		proxy_set_output(p, b, 4);
	} else {
		b[1] = 1;
		b[2] = 0x00;
		proxy_set_output(p, b, 3);
	}
	p->phase = PX_S5_METHOD;
	p->need = 2;
}

/* SOCKS5: RFC 1929 username/password request. */
static void
proxy_s5_auth(struct wa_proxy *p)
{
	size_t ul = strlen(p->user), pl = p->pass ? strlen(p->pass) : 0;
	uint8_t *b = xmalloc(3 + ul + pl);

	b[0] = 1;
	b[1] = (uint8_t)ul;
	memcpy(b + 2, p->user, ul);
	b[2 + ul] = (uint8_t)pl;
	if (pl > 0)
		memcpy(b + 3 + ul, p->pass, pl);
	proxy_set_output(p, b, 3 + ul + pl);
	p->phase = PX_S5_AUTH;
	p->need = 2;
}

/* SOCKS5: CONNECT to the target, by address when it is a literal, else by name (resolved at the proxy). */
static void
proxy_s5_connect(struct wa_proxy *p)
{
	size_t hl = strlen(p->host), n = 0;
	uint8_t *b = xmalloc(4 + 1 + hl + 2 + 16), a[16];

	b[n++] = 5;
	b[n++] = 1;
	b[n++] = 0;
	if (inet_pton(AF_INET, p->host, a) == 1) {
		b[n++] = 1;
		memcpy(b + n, a, 4);
		n += 4;
	} else if (inet_pton(AF_INET6, p->host, a) == 1) {
		b[n++] = 4;
		memcpy(b + n, a, 16);
		n += 16;
	} else {
		b[n++] = 3;
		b[n++] = (uint8_t)hl;
		memcpy(b + n, p->host, hl);
		n += hl;
	}
	b[n++] = (uint8_t)(p->port >> 8);
	b[n++] = (uint8_t)p->port;
	proxy_set_output(p, b, n);
	p->phase = PX_S5_REPLY;
	p->need = PX_S5_HEAD;
	p->inlen = 0;
}

/* SOCKS4 CONNECT, or SOCKS4a (address 0.0.0.1 and the name after the USERID) for a name. */
static void
proxy_s4_connect(struct wa_proxy *p)
{
	size_t ul = p->user ? strlen(p->user) : 0, hl = strlen(p->host), n = 0;
	uint8_t *b = xmalloc(8 + ul + 1 + hl + 1), a[4];
	int literal = inet_pton(AF_INET, p->host, a) == 1;

	b[n++] = 4;
	b[n++] = 1;
	b[n++] = (uint8_t)(p->port >> 8);
	b[n++] = (uint8_t)p->port;
	if (literal)
		memcpy(b + n, a, 4);
	else {
		static const uint8_t socks4a[4] = { 0, 0, 0, 1 };
		memcpy(b + n, socks4a, 4);
	}
	n += 4;
	if (ul > 0)
		memcpy(b + n, p->user, ul);
	n += ul;
	b[n++] = 0;
	if (!literal) {
		memcpy(b + n, p->host, hl);
		n += hl;
		b[n++] = 0;
	}
	proxy_set_output(p, b, n);
	p->phase = PX_S4_REPLY;
	p->need = 8;
}

/* Build a tunnel request. */
struct wa_proxy *
wa_proxy_new(enum wa_proxy_type type, const char *target_host, unsigned target_port, const char *username,
    const char *password, char *err, size_t errlen)
{
	struct wa_proxy *p;
	uint8_t a[16];

	if (type != WA_PROXY_HTTP && type != WA_PROXY_SOCKS4 && type != WA_PROXY_SOCKS5) {
		errbuf_fail(err, errlen, "unsupported proxy protocol");
		return NULL;
	}
	if (target_host == NULL || !proxy_field_ok(target_host, 0) || strpbrk(target_host, " []") != NULL ||
	    target_port < 1 || target_port > 65535) {
		errbuf_fail(err, errlen, "bad target address");
		return NULL;
	}
	if (username != NULL && *username == '\0')
		username = NULL;
	if (password != NULL && *password == '\0')
		password = NULL;
	if ((username != NULL && !proxy_field_ok(username, 0)) || (password != NULL && !proxy_field_ok(password, 0))) {
		errbuf_fail(err, errlen, "username or password longer than %d bytes or with control characters",
		    WA_PROXY_FIELD_MAX);
		return NULL;
	}
	/* Basic splits user-id and password at the first colon (RFC 7617). */
	if (type == WA_PROXY_HTTP && username != NULL && strchr(username, ':') != NULL) {
		errbuf_fail(err, errlen, "an HTTP proxy username cannot contain ':'");
		return NULL;
	}
	if (type == WA_PROXY_SOCKS4 && inet_pton(AF_INET6, target_host, a) == 1) {
		errbuf_fail(err, errlen, "SOCKS4 cannot reach an IPv6 address");
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->type = type;
	p->host = xstrdup(target_host);
	p->port = target_port;
	p->user = username ? xstrdup(username) : NULL;
	p->pass = password ? xstrdup(password) : NULL;
	if (type == WA_PROXY_HTTP)
		proxy_http_request(p);
	else if (type == WA_PROXY_SOCKS5)
		proxy_s5_greeting(p);
	else
		proxy_s4_connect(p);
	return p;
}

/* Free, wiping what carried credentials. */
void
wa_proxy_free(struct wa_proxy *p)
{
	if (p == NULL)
		return;
	free_wiped(p->out, p->outlen);
	free(p->host);
	if (p->user != NULL)
		free_wiped(p->user, strlen(p->user));
	if (p->pass != NULL)
		free_wiped(p->pass, strlen(p->pass));
	explicit_wipe(p->in, sizeof(p->in));
	free(p);
}

/* What is left of the current request. */
const uint8_t *
wa_proxy_output(struct wa_proxy *p, size_t *len)
{
	*len = p->out != NULL && p->phase != PX_DONE && p->phase != PX_FAILED ? p->outlen - p->outoff : 0;
	return *len > 0 ? p->out + p->outoff : NULL;
}

/* Part of the request went out. */
void
wa_proxy_sent(struct wa_proxy *p, size_t n)
{
	if (n > p->outlen - p->outoff)
		n = p->outlen - p->outoff;
	p->outoff += n;
}

/* Bytes still to read: for HTTP, no more than could end the head ("\r\n\r\n") right now. */
size_t
wa_proxy_want(const struct wa_proxy *p)
{
	static const char end[] = "\r\n\r\n";
	size_t k, room;

	switch (p->phase) {
	case PX_HTTP_REPLY:
		/* The longest suffix of what we have that is a prefix of the terminator; as "\r\n\r\n" repeats
		 * only "\r" and "\r\n", trying 3, 2, 1 in turn finds it. */
		for (k = 3; k > 0; k--)
			if (p->inlen >= k && memcmp(p->in + p->inlen - k, end, k) == 0)
				break;
		room = sizeof(p->in) - p->inlen;
		return 4 - k < room ? 4 - k : room;
	case PX_S5_METHOD:
	case PX_S5_AUTH:
	case PX_S5_REPLY:
	case PX_S4_REPLY:
		return p->need - p->inlen;
	default:
		return 0;
	}
}

/* Record a failure. Always WA_PROXY_ERROR. */
static int
proxy_fail(struct wa_proxy *p, enum wa_proxy_error e, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int
proxy_fail(struct wa_proxy *p, enum wa_proxy_error e, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	p->phase = PX_FAILED;
	p->error = e;
	va_start(ap, fmt);
	errbuf_vfail(err, errlen, fmt, ap);
	va_end(ap);
	return WA_PROXY_ERROR;
}

/* The answer's reason phrase, printable ASCII only and cut short: it ends up in logs and the API. */
static void
proxy_reason_copy(const uint8_t *s, size_t len, char *out, size_t outlen)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 1 < outlen && n < 64; i++)
		out[n++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	out[n] = '\0';
}

/* A complete HTTP answer head: "HTTP/1.x NNN reason" decides. */
static int
proxy_http_head(struct wa_proxy *p, char *err, size_t errlen)
{
	const uint8_t *line = p->in, *eol = memchr(p->in, '\n', p->inlen), *r;
	char reason[80];
	int status;

	/* The head ends with "\r\n\r\n", so a line end exists. */
	if (p->inlen < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
	    line[8] != ' ' || line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
	    line[11] < '0' || line[11] > '9' || (line[12] != ' ' && line[12] != '\r'))
		return proxy_fail(p, WA_PROXY_ERR_PROTOCOL, err, errlen, "not an HTTP proxy answer");
	status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	r = line + 12;
	if (*r == ' ')
		r++;
	proxy_reason_copy(r, (size_t)(eol - r) - (eol > r && eol[-1] == '\r'), reason, sizeof(reason));
	if (status >= 200 && status < 300) {
		p->phase = PX_DONE;
		return WA_PROXY_DONE;
	}
	/* 407 is the proxy's own challenge; some proxies (tinyproxy 1.11) answer a CONNECT with 401 instead. */
	if (status == 407 || status == 401)
		return proxy_fail(p, WA_PROXY_ERR_AUTH, err, errlen, "%d %s%s", status,
		    *reason ? reason : status == 407 ? "Proxy Authentication Required" : "Unauthorized",
		    p->user == NULL ? " (no username configured)" : "");
	return proxy_fail(p, WA_PROXY_ERR_REFUSED, err, errlen, "%d %s", status, *reason ? reason : "(no reason)");
}

/* RFC 1928 section 6 reply codes. */
static const char *
proxy_s5_reply_text(unsigned rep)
{
	static const char *const text[] = { "succeeded", "general SOCKS server failure",
	    "connection not allowed by ruleset", "network unreachable", "host unreachable", "connection refused",
	    "TTL expired", "command not supported", "address type not supported" };

	return rep < sizeof(text) / sizeof(text[0]) ? text[rep] : "unknown error";
}

/* A complete SOCKS5 method selection, auth status or reply head/reply. */
static int
proxy_s5_step(struct wa_proxy *p, char *err, size_t errlen)
{
	const uint8_t *b = p->in;

	switch (p->phase) {
	case PX_S5_METHOD:
		if (b[0] != 5)
			return proxy_fail(p, WA_PROXY_ERR_PROTOCOL, err, errlen, "not a SOCKS5 proxy answer");
		if (b[1] == 0xff)
			return proxy_fail(p, WA_PROXY_ERR_AUTH, err, errlen,
			    "SOCKS5 proxy accepts none of our authentication methods%s",
			    p->user == NULL ? " (it wants a username and password)" : "");
		if (b[1] == 0x00) {
			p->inlen = 0;
			proxy_s5_connect(p);
			return WA_PROXY_AGAIN;
		}
		if (b[1] == 0x02 && p->user != NULL) {
			p->inlen = 0;
			proxy_s5_auth(p);
			return WA_PROXY_AGAIN;
		}
		return proxy_fail(p, WA_PROXY_ERR_PROTOCOL, err, errlen,
		    "SOCKS5 proxy chose authentication method %u, which we did not offer", b[1]);
	case PX_S5_AUTH:
		/* RFC 1929 says version 1; some servers answer 5. The status byte is what matters. */
		if (b[0] != 1 && b[0] != 5)
			return proxy_fail(p, WA_PROXY_ERR_PROTOCOL, err, errlen, "bad SOCKS5 authentication answer");
		if (b[1] != 0)
			return proxy_fail(p, WA_PROXY_ERR_AUTH, err, errlen, "SOCKS5 auth refused");
		p->inlen = 0;
		proxy_s5_connect(p);
		return WA_PROXY_AGAIN;
	default:
		break;
	}
	/* PX_S5_REPLY */
	if (p->need == PX_S5_HEAD) {
		if (b[0] != 5 || b[2] != 0)
			return proxy_fail(p, WA_PROXY_ERR_PROTOCOL, err, errlen, "not a SOCKS5 reply");
		if (b[1] != 0)
			return proxy_fail(p, WA_PROXY_ERR_REFUSED, err, errlen, "SOCKS5 %s (%u)",
			    proxy_s5_reply_text(b[1]), b[1]);
		if (b[3] == 1)
			p->need = 4 + 4 + 2;
		else if (b[3] == 4)
			p->need = 4 + 16 + 2;
		else if (b[3] == 3 && b[4] > 0)
			p->need = 4 + 1 + b[4] + 2;
		else
			return proxy_fail(p, WA_PROXY_ERR_PROTOCOL, err, errlen, "SOCKS5 reply with address type %u",
			    b[3]);
		return WA_PROXY_AGAIN;
	}
	/* The bound address is of no use to us (the connection is already ours). */
	p->phase = PX_DONE;
	return WA_PROXY_DONE;
}

/* A complete SOCKS4 reply. */
static int
proxy_s4_step(struct wa_proxy *p, char *err, size_t errlen)
{
	const uint8_t *b = p->in;

	/* The reply version is 0; some servers echo 4. */
	if (b[0] != 0 && b[0] != 4)
		return proxy_fail(p, WA_PROXY_ERR_PROTOCOL, err, errlen, "not a SOCKS4 reply");
	switch (b[1]) {
	case 0x5a:
		p->phase = PX_DONE;
		return WA_PROXY_DONE;
	case 0x5b:
		return proxy_fail(p, WA_PROXY_ERR_REFUSED, err, errlen, "SOCKS4 request rejected or failed");
	case 0x5c:
		return proxy_fail(p, WA_PROXY_ERR_AUTH, err, errlen, "SOCKS4 request rejected: no identd");
	case 0x5d:
		return proxy_fail(p, WA_PROXY_ERR_AUTH, err, errlen, "SOCKS4 request rejected: user id refused");
	default:
		return proxy_fail(p, WA_PROXY_ERR_PROTOCOL, err, errlen, "SOCKS4 reply code %u", b[1]);
	}
}

/* Take reply bytes. */
int
wa_proxy_input(struct wa_proxy *p, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	if (p->phase == PX_DONE)
		return WA_PROXY_DONE;
	if (p->phase == PX_FAILED)
		return proxy_fail(p, p->error, err, errlen, "proxy handshake already failed");
	if (len > wa_proxy_want(p))
		return proxy_fail(p, WA_PROXY_ERR_PROTOCOL, err, errlen, "more reply bytes than asked for");
	if (len == 0)
		return WA_PROXY_AGAIN;
	memcpy(p->in + p->inlen, data, len);
	p->inlen += len;
	if (p->phase == PX_HTTP_REPLY) {
		if (p->inlen >= 4 && memcmp(p->in + p->inlen - 4, "\r\n\r\n", 4) == 0)
			return proxy_http_head(p, err, errlen);
		if (p->inlen == sizeof(p->in))
			return proxy_fail(p, WA_PROXY_ERR_PROTOCOL, err, errlen, "HTTP proxy answer longer than %d bytes",
			    WA_PROXY_HTTP_HEAD_MAX);
		return WA_PROXY_AGAIN;
	}
	if (p->inlen < p->need)
		return WA_PROXY_AGAIN;
	return p->phase == PX_S4_REPLY ? proxy_s4_step(p, err, errlen) : proxy_s5_step(p, err, errlen);
}

/* The class of the failure. */
enum wa_proxy_error
wa_proxy_error(const struct wa_proxy *p)
{
	return p->error;
}

/* Drive the handshake on a socket until it would block. */
int
wa_proxy_io(struct wa_proxy *p, int fd, int *want_write, char *err, size_t errlen)
{
	uint8_t buf[WA_PROXY_HTTP_HEAD_MAX];
	const uint8_t *out;
	size_t n, want;
	ssize_t k;
	int r;

	*want_write = 0;
	for (;;) {
		if (p->phase == PX_DONE)
			return WA_PROXY_DONE;
		if (p->phase == PX_FAILED)
			return proxy_fail(p, p->error, err, errlen, "proxy handshake already failed");
		if ((out = wa_proxy_output(p, &n)) != NULL) {
			k = send(fd, out, n, MSG_NOSIGNAL);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				*want_write = 1;
				return WA_PROXY_AGAIN;
			}
			if (k < 0)
				return proxy_fail(p, WA_PROXY_ERR_IO, err, errlen, "send: %s", strerror(errno));
			wa_proxy_sent(p, (size_t)k);
			continue;
		}
		want = wa_proxy_want(p);
		k = recv(fd, buf, want < sizeof(buf) ? want : sizeof(buf), 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return WA_PROXY_AGAIN;
		if (k < 0 && errno == ECONNRESET)
			return proxy_fail(p, WA_PROXY_ERR_IO, err, errlen, "connection reset by the proxy");
		if (k < 0)
			return proxy_fail(p, WA_PROXY_ERR_IO, err, errlen, "recv: %s", strerror(errno));
		if (k == 0)
			return proxy_fail(p, WA_PROXY_ERR_IO, err, errlen, "connection closed by the proxy%s",
			    p->phase == PX_S5_AUTH ? " during authentication" : "");
		r = wa_proxy_input(p, buf, (size_t)k, err, errlen);
		if (r != WA_PROXY_AGAIN)
			return r;
	}
}
