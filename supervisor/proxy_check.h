/* Is a proxy reachable? A non-blocking TCP connect to host:port with a deadline, on the supervisor's loop.
 * (Evolution fetches an outside URL through the proxy; this host may have no outside network, so we check
 * what can be checked everywhere: that something accepts connections there.) */
#ifndef WAGATE_PROXY_CHECK_H
#define WAGATE_PROXY_CHECK_H

struct event_base;
struct evdns_base;

#define PROXY_CHECK_TIMEOUT_MS 5000

typedef void (*proxy_check_cb)(void *arg, int ok, const char *reason);

/* cb is called exactly once, never from inside this call. Returns 0, or -1 on misuse. */
int proxy_check_start(struct event_base *base, struct evdns_base *dns, const char *host, const char *port,
    int timeout_ms, proxy_check_cb cb, void *arg);

#endif
