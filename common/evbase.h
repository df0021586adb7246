/* The event base of wagate and wagate-worker. */
#ifndef WAGATE_EVBASE_H
#define WAGATE_EVBASE_H

struct event_base;

/*
 * A new event base (NULL on failure) whose epoll backend applies the loop turn's event changes together, just
 * before it waits: a descriptor whose write interest is added and dropped again in one turn (a bufferevent that
 * flushes what it was given) or whose read interest is paused and resumed (evhttp between requests) costs no
 * epoll_ctl. Safe here because no process of ours watches two descriptors of one open file (dup): the case
 * where that mode misses events.
 */
struct event_base *ev_base_new(void);

#endif
