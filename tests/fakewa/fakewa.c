/* fakewa: a WhatsApp server for tests. WebSocket (plain or TLS with a generated self-signed certificate) on
 * loopback, the Noise XX responder with a certificate chain signed by a test root key, binary nodes, and a
 * control HTTP API on 127.0.0.1 to inspect clients, inject faults and play the phone (fw_ctl.h).
 * On start it prints one line "fakewa ready port=P control=C tls=0|1" on stdout. */
#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_call.h"
#include "fw_ctl.h"
#include "fw_group.h"
#include "fw_media.h"

#include "log.h"
#include "wa_cert.h"
#include "wa_xeddsa.h"
#include "wa_noise.h"
#include "wa_tls.h"
#include "xmalloc.h"

#include <event2/event.h>
#include <event2/listener.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
	struct fw_ctl *ctl;
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
	/* As the worker's side: stanzas go out without waiting for the client's delayed ACK. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (fw_client_new(&f->srv, fd, peer) == NULL)
		log_warnx("cannot take client %s", peer);
}

/* Deferred: free dead clients. */
static void
fakewa_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	fw_server_reap(arg);
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
	log_info("%s, stopping", strsignal((int)sig));
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
		fatalx("no event base");
	f.srv.base = f.base;
	TAILQ_INIT(&f.srv.clients);
	fw_accounts_init(&f.srv.accounts);
	f.srv.groups = fw_groups_new();
	f.srv.calls = fw_calls_new();
	f.srv.media = fw_media_new();
	f.srv.ev_reap = event_new(f.base, -1, 0, fakewa_reap_cb, &f.srv);
	if (tls && (f.srv.tls = wa_tls_ctx_new_server(tls_name, cert_out, err, sizeof(err))) == NULL)
		fatalx("TLS: %s", err);

	if (fakewa_identity_setup(&f.srv, root_in, root_out, err, sizeof(err)) == -1)
		fatalx("%s", err);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	f.lis = evconnlistener_new_bind(f.base, fakewa_accept_cb, &f, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	    LEV_OPT_CLOSE_ON_EXEC, 1024, (struct sockaddr *)&sin, sizeof(sin));
	if (f.lis == NULL)
		fatal("listen on 127.0.0.1:%d", port);
	getsockname(evconnlistener_get_fd(f.lis), (struct sockaddr *)&sin, &sl);
	port = ntohs(sin.sin_port);

	if ((f.ctl = fw_ctl_new(&f.srv, cport, &cport)) == NULL)
		fatal("control port 127.0.0.1:%d", cport);

	f.ev_sigint = evsignal_new(f.base, SIGINT, fakewa_signal_cb, f.base);
	f.ev_sigterm = evsignal_new(f.base, SIGTERM, fakewa_signal_cb, f.base);
	evsignal_add(f.ev_sigint, NULL);
	evsignal_add(f.ev_sigterm, NULL);

	printf("fakewa ready port=%d control=%d tls=%d\n", port, cport, tls);
	fflush(stdout);
	log_info("listening on %s://127.0.0.1:%d/ws/chat, control on 127.0.0.1:%d", tls ? "wss" : "ws",
	    port, cport);
	event_base_dispatch(f.base);

	while (fw_client_next(&f.srv, NULL) != NULL)
		fw_client_free(fw_client_next(&f.srv, NULL));
	fw_groups_free(f.srv.groups);
	fw_calls_free(f.srv.calls);
	fw_media_free(f.srv.media);
	fw_accounts_clear(&f.srv.accounts);
	evconnlistener_free(f.lis);
	fw_ctl_free(f.ctl);
	event_free(f.ev_sigint);
	event_free(f.ev_sigterm);
	event_free(f.srv.ev_reap);
	wa_tls_ctx_free(f.srv.tls);
	free(f.srv.chain);
	explicit_wipe(f.srv.static_priv, sizeof(f.srv.static_priv));
	event_base_free(f.base);
	return 0;
}
