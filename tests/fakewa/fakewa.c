/* fakewa: a WhatsApp server for tests. WebSocket (plain or TLS with a generated self-signed certificate) on
 * loopback, the Noise XX responder with a certificate chain signed by a test root key, binary nodes, and a
 * control HTTP API on 127.0.0.1 to inspect clients and inject faults:
 *   GET  /admin/clients                         -> {"count":N,"pings_answered":N,"clients":[...]}
 *   POST /admin/drop?client=ID|all              -> drop TCP connections
 *   POST /admin/stream-error?code=515&client=ID|all[&conflict=replaced]
 *   POST /admin/stream-end?client=ID|all        -> <xmlstreamend/> then close
 *   POST /admin/stall?client=ID|all, POST /admin/unstall?client=ID|all
 * and the mock phone and accounts (contract of issue 4; accounts live in memory only):
 *   POST /admin/mock-phone/scan-qr[?phone=DIGITS][&name=PUSH]   body = QR text  (fw_pair.h)
 *   POST /admin/mock-phone/pair-code?phone=DIGITS&code=XXXX-XXXX[&name=PUSH]
 *   POST /admin/remove-device?jid=DEVICE_JID                    -> {"removed":1} / 404
 *   POST /admin/companion-reg-refresh?client=ID|all             -> {"affected":N}
 *   POST /admin/prekey-low?jid=DEVICE_JID&count=N               -> {"sent":1} / 404
 *   GET  /admin/accounts                                        -> {"accounts":[...]}
 * The two mock-phone calls are also served as plain HTTP(S) on the WebSocket port, where Baileys' own e2e
 * helper posts the QR (fakewa_client.h). Replies of scan-qr/pair-code: 200 {"phone","jid","lid","device",
 * "key_index"}, 400 bad input, 404 no such client, 409 refused (companion error iq, closed connection, wrong
 * code), 504 no answer within 15 s.
 * On start it prints one line "fakewa ready port=P control=C" on stdout. */
#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_pair.h"
#include "fw_session.h"

#include "log.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "wa_cert.h"
#include "wa_xeddsa.h"
#include "wa_noise.h"
#include "wa_tls.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fakewa {
	struct fw_server srv;
	struct event_base *base;
	struct evconnlistener *lis;
	struct evhttp *http;
	struct event *ev_sigint, *ev_sigterm;
};

/* libevent: a client connected. */
static void
fakewa_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct fakewa *f = arg;
	char host[INET6_ADDRSTRLEN] = "?", peer[64];
	int port = 0;

	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(peer, sizeof(peer), "%s:%d", host, port);
	evutil_make_socket_nonblocking(fd);
	if (fw_client_new(&f->srv, fd, peer) == NULL)
		log_warnx("fakewa_accept_cb: cannot take client %s", peer);
}

/* Deferred: free dead clients. */
static void
fakewa_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	fw_server_reap(arg);
}

/* Send a JSON reply (also used by fw_pair.c for its delayed answers). */
void
fw_http_reply(struct evhttp_request *req, int code, const char *json)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evbuffer_add_printf(b, "%s\n", json);
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
	evbuffer_free(b);
}

/* Which control action a request names. */
enum fakewa_action { ACT_DROP, ACT_STREAM_ERROR, ACT_STREAM_END, ACT_STALL, ACT_UNSTALL };

/* Apply an action to the client(s) the request selects. */
static void
fakewa_act(struct fakewa *f, struct evhttp_request *req, enum fakewa_action act)
{
	struct evkeyvalq q;
	const char *uri = evhttp_request_get_uri(req), *sel, *code, *conflict;
	struct fw_client *c, *next;
	char *json;
	unsigned id = 0;
	int all, n = 0;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		fw_http_reply(req, 405, "{\"error\":\"use POST\"}");
		return;
	}
	TAILQ_INIT(&q);
	evhttp_parse_query(uri, &q);
	sel = evhttp_find_header(&q, "client");
	code = evhttp_find_header(&q, "code");
	conflict = evhttp_find_header(&q, "conflict");
	all = sel == NULL || strcmp(sel, "all") == 0;
	if (!all)
		id = (unsigned)strtoul(sel, NULL, 10);
	for (c = fw_client_next(&f->srv, NULL); c != NULL; c = next) {
		next = fw_client_next(&f->srv, c);
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
	evhttp_clear_headers(&q);
	if (n == 0 && !all) {
		fw_http_reply(req, 404, "{\"error\":\"no such client\"}");
		return;
	}
	xasprintf(&json, "{\"affected\":%d}", n);
	fw_http_reply(req, 200, json);
	free(json);
}

/* GET /admin/clients */
static void
fakewa_clients(struct fakewa *f, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	struct fw_client *c;
	int n = 0;

	evbuffer_add_printf(b, "{\"clients\":[");
	for (c = fw_client_next(&f->srv, NULL); c != NULL; c = fw_client_next(&f->srv, c)) {
		char *j = fw_client_json(c);
		evbuffer_add_printf(b, "%s%s", n ? "," : "", j);
		free(j);
		n++;
	}
	evbuffer_add_printf(b, "],\"count\":%d,\"pings_answered\":%lu}\n", n, f->srv.pings_answered);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* The query parameters of a POST request, or 405. 0 or -1 (already answered). */
static int
fakewa_post_query(struct evhttp_request *req, struct evkeyvalq *q)
{
	TAILQ_INIT(q);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		fw_http_reply(req, 405, "{\"error\":\"use POST\"}");
		return -1;
	}
	evhttp_parse_query(evhttp_request_get_uri(req), q);
	return 0;
}

/* POST /admin/mock-phone/scan-qr */
static void
fakewa_scan_qr(struct fakewa *f, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq q;
	size_t len = evbuffer_get_length(in);
	char *body;

	if (fakewa_post_query(req, &q) == -1)
		return;
	body = xmalloc(len + 1);
	evbuffer_remove(in, body, len);
	body[len] = '\0';
	if (strlen(body) != len) {
		fw_http_reply(req, 400, "{\"error\":\"bad QR text\"}");
	} else
		fw_pair_scan_qr(&f->srv, (struct fw_reply){ req, NULL }, body, evhttp_find_header(&q, "phone"),
		    evhttp_find_header(&q, "name"));
	free(body);
	evhttp_clear_headers(&q);
}

/* POST /admin/mock-phone/pair-code */
static void
fakewa_pair_code(struct fakewa *f, struct evhttp_request *req)
{
	struct evkeyvalq q;

	if (fakewa_post_query(req, &q) == -1)
		return;
	fw_pair_code(&f->srv, (struct fw_reply){ req, NULL }, evhttp_find_header(&q, "phone"),
	    evhttp_find_header(&q, "code"), evhttp_find_header(&q, "name"));
	evhttp_clear_headers(&q);
}

/* The registered device a jid=... parameter names (phone or LID form), or NULL. */
static struct fw_device *
fakewa_device_param(struct fakewa *f, struct evkeyvalq *q)
{
	const char *jid = evhttp_find_header(q, "jid");
	struct wa_jid j;

	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j))
		return NULL;
	return fw_device_find(&f->srv.accounts, j.user, j.device);
}

/* POST /admin/remove-device?jid= */
static void
fakewa_remove_device(struct fakewa *f, struct evhttp_request *req)
{
	struct evkeyvalq q;
	struct fw_device *d;

	if (fakewa_post_query(req, &q) == -1)
		return;
	if ((d = fakewa_device_param(f, &q)) == NULL)
		fw_http_reply(req, 404, "{\"error\":\"no such device\"}");
	else {
		fw_session_remove_device(d, NULL);
		fw_http_reply(req, 200, "{\"removed\":1}");
	}
	evhttp_clear_headers(&q);
}

/* POST /admin/prekey-low?jid=&count= */
static void
fakewa_prekey_low(struct fakewa *f, struct evhttp_request *req)
{
	struct evkeyvalq q;
	struct fw_device *d;
	struct wa_node *cnt;
	const char *count;

	if (fakewa_post_query(req, &q) == -1)
		return;
	count = evhttp_find_header(&q, "count");
	if ((d = fakewa_device_param(f, &q)) == NULL || d->client == NULL)
		fw_http_reply(req, 404, "{\"error\":\"no such connected device\"}");
	else if (count == NULL || *count == '\0' || strspn(count, "0123456789") != strlen(count) || strlen(count) > 9)
		fw_http_reply(req, 400, "{\"error\":\"count must be a number\"}");
	else {
		cnt = wa_node_new("count");
		wa_node_set_attr(cnt, "value", count);
		if (fw_client_notify(d->client, "encrypt", cnt) == -1)
			fw_http_reply(req, 404, "{\"error\":\"no such connected device\"}");
		else
			fw_http_reply(req, 200, "{\"sent\":1}");
	}
	evhttp_clear_headers(&q);
}

/* POST /admin/companion-reg-refresh?client=ID|all: only unregistered clients waiting for a scan. */
static void
fakewa_reg_refresh(struct fakewa *f, struct evhttp_request *req)
{
	struct evkeyvalq q;
	struct fw_client *c;
	const char *sel;
	char json[64];
	unsigned id = 0;
	int all, n = 0;

	if (fakewa_post_query(req, &q) == -1)
		return;
	sel = evhttp_find_header(&q, "client");
	all = sel == NULL || strcmp(sel, "all") == 0;
	if (!all)
		id = (unsigned)strtoul(sel, NULL, 10);
	for (c = fw_client_next(&f->srv, NULL); c != NULL; c = fw_client_next(&f->srv, c)) {
		if ((!all && c->id != id) || c->dead || c->phase != FW_OPEN || c->payload != FW_PAYLOAD_REGISTRATION ||
		    c->registered)
			continue;
		if (fw_client_notify(c, "companion_reg_refresh", wa_node_new("companion_reg_refresh")) == 0)
			n++;
	}
	evhttp_clear_headers(&q);
	if (n == 0 && !all) {
		fw_http_reply(req, 404, "{\"error\":\"no such unregistered client\"}");
		return;
	}
	snprintf(json, sizeof(json), "{\"affected\":%d}", n);
	fw_http_reply(req, 200, json);
}

/* GET /admin/accounts */
static void
fakewa_accounts(struct fakewa *f, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();

	fw_accounts_json(&f->srv.accounts, b);
	evbuffer_add(b, "\n", 1);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* Route a control request. */
static void
fakewa_http_cb(struct evhttp_request *req, void *arg)
{
	struct fakewa *f = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;

	if (path == NULL)
		fw_http_reply(req, 400, "{\"error\":\"bad uri\"}");
	else if (strcmp(path, "/admin/clients") == 0)
		fakewa_clients(f, req);
	else if (strcmp(path, "/admin/drop") == 0)
		fakewa_act(f, req, ACT_DROP);
	else if (strcmp(path, "/admin/stream-error") == 0)
		fakewa_act(f, req, ACT_STREAM_ERROR);
	else if (strcmp(path, "/admin/stream-end") == 0)
		fakewa_act(f, req, ACT_STREAM_END);
	else if (strcmp(path, "/admin/stall") == 0)
		fakewa_act(f, req, ACT_STALL);
	else if (strcmp(path, "/admin/unstall") == 0)
		fakewa_act(f, req, ACT_UNSTALL);
	else if (strcmp(path, "/admin/mock-phone/scan-qr") == 0)
		fakewa_scan_qr(f, req);
	else if (strcmp(path, "/admin/mock-phone/pair-code") == 0)
		fakewa_pair_code(f, req);
	else if (strcmp(path, "/admin/remove-device") == 0)
		fakewa_remove_device(f, req);
	else if (strcmp(path, "/admin/companion-reg-refresh") == 0)
		fakewa_reg_refresh(f, req);
	else if (strcmp(path, "/admin/prekey-low") == 0)
		fakewa_prekey_low(f, req);
	else if (strcmp(path, "/admin/accounts") == 0)
		fakewa_accounts(f, req);
	else
		fw_http_reply(req, 404, "{\"error\":\"not found\"}");
}

/* The server's Noise identity: the root key (generated, or the private key in root_in), written as a public
 * key file to root_out (and the private key to root_out.priv, mode 0600, so a restarted fakewa can keep
 * the same root with --root-key), a fresh static key pair and the certificate chain for it. */
static int
fakewa_identity_setup(struct fw_server *s, const char *root_in, const char *root_out, char *err, size_t errlen)
{
	uint8_t root_priv[32], root_pub[32];
	char *privfile;
	time_t now = time(NULL);
	int rc = -1;

	if (root_in != NULL) {
		if (wa_cert_key_read_file(root_in, root_priv, err, errlen) == -1)
			return -1;
		if (wa_noise_pubkey(root_priv, root_pub) == -1) {
			snprintf(err, errlen, "%s: not a usable X25519 private key", root_in);
			goto out;
		}
	} else if (wa_xeddsa_keypair_generate(root_priv, root_pub) == -1) {
		snprintf(err, errlen, "cannot generate the root key");
		goto out;
	}
	if (root_out != NULL) {
		if (wa_cert_key_write_file(root_out, root_pub, 0) == -1) {
			snprintf(err, errlen, "writing %s: %s", root_out, strerror(errno));
			goto out;
		}
		xasprintf(&privfile, "%s.priv", root_out);
		if (wa_cert_key_write_file(privfile, root_priv, 1) == -1) {
			snprintf(err, errlen, "writing %s: %s", privfile, strerror(errno));
			free(privfile);
			goto out;
		}
		free(privfile);
	}
	if (wa_noise_keypair_generate(s->static_priv, s->static_pub) == -1 ||
	    wa_cert_chain_generate(root_priv, s->static_pub, (uint64_t)(now - 3600),
	    (uint64_t)(now + 10L * 365 * 86400), &s->chain, &s->chain_len) == -1) {
		snprintf(err, errlen, "cannot issue the certificate chain");
		goto out;
	}
	rc = 0;
out:
	explicit_wipe(root_priv, sizeof(root_priv));
	return rc;
}

/* SIGINT/SIGTERM: leave the loop (said in the log: a test that loses its fakewa must be able to tell why). */
static void
fakewa_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	log_info("fakewa: %s, stopping", strsignal((int)sig));
	event_base_loopbreak(arg);
}

/* Print usage and exit. */
static void __attribute__((noreturn))
fakewa_usage(void)
{
	fprintf(stderr, "usage: fakewa [--port N] [--tls] [--tls-name CN] [--cert-out FILE] [--root-key-out FILE]\n"
	    "              [--root-key FILE] [--control-port N] [--debug]\n"
	    "  --root-key FILE      use this root key (private, as written by --root-key-out's .priv twin)\n"
	    "  --root-key-out FILE  write the root PUBLIC key (WA_ROOT_KEY format) to FILE\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' }, { "tls", no_argument, NULL, 't' },
		{ "tls-name", required_argument, NULL, 'n' }, { "cert-out", required_argument, NULL, 'c' },
		{ "root-key-out", required_argument, NULL, 'o' }, { "root-key", required_argument, NULL, 'r' },
		{ "control-port", required_argument, NULL, 'C' }, { "debug", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct fakewa f;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct evhttp_bound_socket *hs;
	const char *cert_out = NULL, *root_out = NULL, *root_in = NULL, *tls_name = "127.0.0.1";
	int port = 0, cport = 0, tls = 0, ch, debug = 0;
	char err[512];

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 't': tls = 1; break;
		case 'n': tls_name = optarg; break;
		case 'c': cert_out = optarg; break;
		case 'o': root_out = optarg; break;
		case 'r': root_in = optarg; break;
		case 'C': cport = atoi(optarg); break;
		case 'd': debug = 1; break;
		default: fakewa_usage();
		}
	}
	log_init("fakewa", debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);
	memset(&f, 0, sizeof(f));
	f.base = event_base_new();
	if (f.base == NULL)
		fatalx("fakewa: no event base");
	f.srv.base = f.base;
	TAILQ_INIT(&f.srv.clients);
	fw_accounts_init(&f.srv.accounts);
	f.srv.ev_reap = event_new(f.base, -1, 0, fakewa_reap_cb, &f.srv);
	if (tls && (f.srv.tls = wa_tls_ctx_new_server(tls_name, cert_out, err, sizeof(err))) == NULL)
		fatalx("fakewa: TLS: %s", err);

	if (fakewa_identity_setup(&f.srv, root_in, root_out, err, sizeof(err)) == -1)
		fatalx("fakewa: %s", err);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	f.lis = evconnlistener_new_bind(f.base, fakewa_accept_cb, &f, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	    LEV_OPT_CLOSE_ON_EXEC, 1024, (struct sockaddr *)&sin, sizeof(sin));
	if (f.lis == NULL)
		fatal("fakewa: listen on 127.0.0.1:%d", port);
	getsockname(evconnlistener_get_fd(f.lis), (struct sockaddr *)&sin, &sl);
	port = ntohs(sin.sin_port);

	f.http = evhttp_new(f.base);
	evhttp_set_max_body_size(f.http, 4096);
	evhttp_set_allowed_methods(f.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(f.http, fakewa_http_cb, &f);
	if ((hs = evhttp_bind_socket_with_handle(f.http, "127.0.0.1", (uint16_t)cport)) == NULL)
		fatal("fakewa: control port 127.0.0.1:%d", cport);
	sl = sizeof(sin);
	getsockname(evhttp_bound_socket_get_fd(hs), (struct sockaddr *)&sin, &sl);
	cport = ntohs(sin.sin_port);

	f.ev_sigint = evsignal_new(f.base, SIGINT, fakewa_signal_cb, f.base);
	f.ev_sigterm = evsignal_new(f.base, SIGTERM, fakewa_signal_cb, f.base);
	evsignal_add(f.ev_sigint, NULL);
	evsignal_add(f.ev_sigterm, NULL);

	printf("fakewa ready port=%d control=%d tls=%d\n", port, cport, tls);
	fflush(stdout);
	log_info("fakewa: listening on %s://127.0.0.1:%d/ws/chat, control on 127.0.0.1:%d", tls ? "wss" : "ws",
	    port, cport);
	event_base_dispatch(f.base);

	while (fw_client_next(&f.srv, NULL) != NULL)
		fw_client_free(fw_client_next(&f.srv, NULL));
	fw_accounts_clear(&f.srv.accounts);
	evconnlistener_free(f.lis);
	evhttp_free(f.http);
	event_free(f.ev_sigint);
	event_free(f.ev_sigterm);
	event_free(f.srv.ev_reap);
	wa_tls_ctx_free(f.srv.tls);
	free(f.srv.chain);
	explicit_wipe(f.srv.static_priv, sizeof(f.srv.static_priv));
	event_base_free(f.base);
	return 0;
}
