/* wa_probe: open one or more wa_conn connections and print every state transition as a line, for the
 * end-to-end transport tests and the PSS benchmark. Lines (stdout, flushed):
 *   STATE <conn#> <connecting|open|close> reason=<n> retry=<ms|-1> t=<ms since start> detail=<text>
 *   NODE <conn#> <tag>[ <first child tag>]
 *   SUMMARY open=<n> handshakes=<n>            (on exit)
 * Every connection sends a registration ClientPayload (fresh keys, shared by the connections) unless
 * --no-payload is given, so fakewa offers pair-device as it does to a new companion. --login USER:DEVICE
 * sends a login payload instead (with a random Noise key); --pair makes each connection a minimal companion
 * that pairs and logs in (probe_companion.h, which also lists the extra lines it prints; --logout adds a
 * remove-companion-device after login; --commands reads messaging commands from stdin, probe_msg.h).
 * Exits 0 when --run-seconds elapse, when --exit-after-open is met, or when every connection closed for
 * good (retry=-1); 3 when the configuration is refused. */
#include "log.h"
#include "probe_companion.h"
#include "probe_msg.h"
#include "random.h"
#include "wa_cert.h"
#include "wa_conn.h"
#include "wa_node.h"
#include "wa_pair.h"
#include "wa_prekey.h"
#include "wa_tls.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct probe {
	struct event_base *base;
	struct wa_conn **conns;
	struct probe_conn *pcs;
	int count, open, closed_for_good, exit_after_open;
	struct timeval start;
	char cmd[65536];			/* --commands: a partial stdin line */
	size_t cmdlen;
};

struct probe_conn {
	struct probe *p;
	int idx;
	struct probe_companion *comp;		/* --pair */
};

/* Milliseconds since the probe started. */
static long
probe_ms(const struct probe *p)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (now.tv_sec - p->start.tv_sec) * 1000L + (now.tv_usec - p->start.tv_usec) / 1000;
}

/* wa_conn state callback: print it. */
static void
probe_state_cb(struct wa_conn *c, int state, int reason, const char *detail, long retry_ms, void *arg)
{
	struct probe_conn *pc = arg;
	struct probe *p = pc->p;
	static const char *names[] = { "close", "connecting", "open" };

	printf("STATE %d %s reason=%d retry=%ld t=%ld detail=%s\n", pc->idx, names[state], reason, retry_ms,
	    probe_ms(p), detail ? detail : "");
	fflush(stdout);
	if (state == WA_CONN_OPEN) {
		p->open++;
		if (p->exit_after_open && p->open >= p->exit_after_open)
			event_base_loopexit(p->base, NULL);
	} else if (state == WA_CONN_CLOSED && retry_ms < 0) {
		if (++p->closed_for_good >= p->count)
			event_base_loopexit(p->base, NULL);
	}
}

/* wa_conn node callback: print the tag. */
static void
probe_node_cb(struct wa_conn *c, const struct wa_node *n, void *arg)
{
	struct probe_conn *pc = arg;
	const char *child = n->ctype == WA_CONTENT_NODES && n->nchildren > 0 ? n->children[0]->tag : NULL;

	printf("NODE %d %s%s%s\n", pc->idx, n->tag, child ? " " : "", child ? child : "");
	fflush(stdout);
	if (pc->comp != NULL) {
		probe_msg_node(pc->idx, probe_companion_signal(pc->comp), c, n);
		probe_companion_node(pc->comp, c, n);
	}
}

/* --commands: stdin is readable; run each complete line "<conn#> <command ...>" (probe_msg.h). */
static void
probe_stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	ssize_t n;
	char *nl;

	n = read(fd, p->cmd + p->cmdlen, sizeof(p->cmd) - 1 - p->cmdlen);
	if (n <= 0) {
		event_base_loopexit(p->base, NULL);	/* the test closed stdin: done */
		return;
	}
	p->cmdlen += (size_t)n;
	p->cmd[p->cmdlen] = '\0';
	while ((nl = strchr(p->cmd, '\n')) != NULL) {
		char *rest;
		long idx;

		*nl = '\0';
		idx = strtol(p->cmd, &rest, 10);
		if (rest != p->cmd && idx >= 0 && idx < p->count && p->pcs[idx].comp != NULL)
			probe_msg_command((int)idx, probe_companion_signal(p->pcs[idx].comp), p->conns[idx], rest);
		p->cmdlen -= (size_t)(nl + 1 - p->cmd);
		memmove(p->cmd, nl + 1, p->cmdlen + 1);
	}
	if (p->cmdlen == sizeof(p->cmd) - 1)
		p->cmdlen = 0;	/* an absurd line: drop it */
}

/* A registration ClientPayload with fresh keys (wa-session.md 1.2). *out is malloc'd. 0 or -1. */
static int
probe_registration_payload(uint8_t **out, size_t *outlen)
{
	struct wa_signed_prekey sk;
	struct wa_pair_reg r;
	uint8_t identity_priv[32];
	int rc;

	memset(&r, 0, sizeof(r));
	if (wa_prekey_keypair(identity_priv, r.identity_pub) == -1 ||
	    wa_prekey_signed_generate(1, identity_priv, 0, &sk) == -1)
		return -1;
	r.registration_id = 1 + random_uniform(16380);
	r.signed_prekey_id = sk.id;
	memcpy(r.signed_prekey_pub, sk.pub, sizeof(r.signed_prekey_pub));
	memcpy(r.signed_prekey_sig, sk.sig, sizeof(r.signed_prekey_sig));
	rc = wa_pair_registration_payload(&r, out, outlen);
	explicit_wipe(identity_priv, sizeof(identity_priv));
	explicit_wipe(&sk, sizeof(sk));
	return rc;
}

/* SIGINT/SIGTERM. */
static void
probe_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

/* Usage. */
static void __attribute__((noreturn))
probe_usage(void)
{
	fprintf(stderr, "usage: wa_probe --url URL [--root-key FILE] [--ca FILE] [--count N] [--keepalive MS]\n"
	    "                [--deadline MS] [--backoff-min MS] [--backoff-max MS] [--connect-timeout MS]\n"
	    "                [--run-seconds S] [--exit-after-open N] [--no-payload | --login USER:DEVICE |\n"
	    "                 --pair [--logout] [--commands]] [--debug]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' }, { "root-key", required_argument, NULL, 'r' },
		{ "ca", required_argument, NULL, 'c' }, { "count", required_argument, NULL, 'n' },
		{ "keepalive", required_argument, NULL, 'k' }, { "deadline", required_argument, NULL, 'D' },
		{ "backoff-min", required_argument, NULL, 'b' }, { "backoff-max", required_argument, NULL, 'B' },
		{ "connect-timeout", required_argument, NULL, 'T' }, { "run-seconds", required_argument, NULL, 's' },
		{ "exit-after-open", required_argument, NULL, 'x' }, { "debug", no_argument, NULL, 'd' },
		{ "no-payload", no_argument, NULL, 'P' }, { "login", required_argument, NULL, 'L' },
		{ "pair", no_argument, NULL, 'a' }, { "logout", no_argument, NULL, 'o' },
		{ "commands", no_argument, NULL, 'C' }, { NULL, 0, NULL, 0 },
	};
	struct wa_conn_config cfg;
	struct probe p;
	struct probe_conn *pcs;
	struct event *ev_int, *ev_term, *ev_stdin = NULL;
	struct wa_tls_ctx *tlsctx = NULL;
	uint8_t root[32];
	const char *root_file = NULL;
	double run_seconds = 0;
	int ch, debug = 0, no_payload = 0, pair = 0, logout = 0, commands = 0;
	const char *login = NULL;
	uint8_t *payload = NULL;
	size_t payload_len = 0;
	unsigned handshakes = 0;
	char err[512];

	memset(&cfg, 0, sizeof(cfg));
	memset(&p, 0, sizeof(p));
	p.count = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u': cfg.url = optarg; break;
		case 'r': root_file = optarg; break;
		case 'c': cfg.extra_ca_file = optarg; break;
		case 'n': p.count = atoi(optarg); break;
		case 'k': cfg.keepalive_min_ms = cfg.keepalive_max_ms = (unsigned)atoi(optarg); break;
		case 'D': cfg.keepalive_deadline_ms = (unsigned)atoi(optarg); break;
		case 'b': cfg.backoff_min_ms = (unsigned)atoi(optarg); break;
		case 'B': cfg.backoff_max_ms = (unsigned)atoi(optarg); break;
		case 'T': cfg.connect_timeout_ms = (unsigned)atoi(optarg); break;
		case 's': run_seconds = atof(optarg); break;
		case 'x': p.exit_after_open = atoi(optarg); break;
		case 'd': debug = 1; break;
		case 'P': no_payload = 1; break;
		case 'L': login = optarg; break;
		case 'a': pair = 1; break;
		case 'o': logout = 1; break;
		case 'C': commands = 1; break;
		default: probe_usage();
		}
	}
	if (p.count < 1 || p.count > 100000)
		probe_usage();
	log_init("wa_probe", debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	signal(SIGPIPE, SIG_IGN);
	if (root_file != NULL) {
		if (wa_cert_key_read_file(root_file, root, err, sizeof(err)) == -1) {
			fprintf(stderr, "wa_probe: %s\n", err);
			return 3;
		}
		cfg.root_key = root;
	}
	/* One TLS context for all connections: parsing the CA bundle once, not per connection. */
	if (cfg.url != NULL && strncmp(cfg.url, "wss://", 6) == 0 &&
	    (tlsctx = wa_tls_ctx_new_client(NULL, cfg.extra_ca_file, err, sizeof(err))) == NULL) {
		fprintf(stderr, "wa_probe: %s\n", err);
		return 3;
	}
	cfg.tls_ctx = tlsctx;
	if (login != NULL) {
		char *colon = strchr(login, ':');
		if (colon == NULL || wa_pair_login_payload(strtoull(login, NULL, 10), (uint32_t)atoi(colon + 1),
		    &payload, &payload_len) == -1)
			probe_usage();
	} else if (!no_payload && !pair && probe_registration_payload(&payload, &payload_len) == -1) {
		fprintf(stderr, "wa_probe: cannot build the registration payload\n");
		return 3;
	}
	cfg.payload = payload;
	cfg.payload_len = payload_len;
	p.base = event_base_new();
	gettimeofday(&p.start, NULL);
	p.conns = xcalloc((size_t)p.count, sizeof(*p.conns));
	pcs = xcalloc((size_t)p.count, sizeof(*pcs));
	p.pcs = pcs;
	cfg.on_state = probe_state_cb;
	cfg.on_node = probe_node_cb;
	for (int i = 0; i < p.count; i++) {
		pcs[i].p = &p;
		pcs[i].idx = i;
		cfg.arg = &pcs[i];
		if (pair) {
			if ((pcs[i].comp = probe_companion_new(i, logout)) == NULL ||
			    probe_companion_payload(pcs[i].comp, &payload, &payload_len) == -1) {
				fprintf(stderr, "wa_probe: cannot set up the companion\n");
				return 3;
			}
			cfg.static_priv = probe_companion_noise_priv(pcs[i].comp);
			cfg.payload = payload;
			cfg.payload_len = payload_len;
		}
		p.conns[i] = wa_conn_new(p.base, &cfg, err, sizeof(err));
		if (pair) {
			free(payload);
			payload = NULL;
		}
		if (p.conns[i] == NULL) {
			fprintf(stderr, "wa_probe: %s\n", err);
			return 3;
		}
	}
	for (int i = 0; i < p.count; i++)
		wa_conn_start(p.conns[i]);
	ev_int = evsignal_new(p.base, SIGINT, probe_signal_cb, p.base);
	ev_term = evsignal_new(p.base, SIGTERM, probe_signal_cb, p.base);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_term, NULL);
	if (commands && pair) {
		ev_stdin = event_new(p.base, 0, EV_READ | EV_PERSIST, probe_stdin_cb, &p);
		event_add(ev_stdin, NULL);
	}
	if (run_seconds > 0) {
		struct timeval tv = { (time_t)run_seconds, (suseconds_t)((run_seconds - (long)run_seconds) * 1e6) };
		event_base_loopexit(p.base, &tv);
	}
	event_base_dispatch(p.base);
	p.open = 0;
	for (int i = 0; i < p.count; i++) {
		if (wa_conn_state(p.conns[i]) == WA_CONN_OPEN)
			p.open++;
		handshakes += wa_conn_handshakes(p.conns[i]);
		wa_conn_free(p.conns[i]);
		probe_companion_free(pcs[i].comp);
	}
	printf("SUMMARY open=%d handshakes=%u\n", p.open, handshakes);
	fflush(stdout);
	free(p.conns);
	free(pcs);
	event_free(ev_int);
	event_free(ev_term);
	if (ev_stdin != NULL)
		event_free(ev_stdin);
	event_base_free(p.base);
	wa_tls_ctx_free(tlsctx);
	free(payload);
	return 0;
}
