/* The event base of wagate and wagate-worker. */
#ifndef WAGATE_EVBASE_H
#define WAGATE_EVBASE_H

struct event_base;

/*
 * A new event base (NULL on failure) whose epoll backend applies the loop turn's event changes together, just
 * before it waits: a descriptor whose write interest is added and dropped again in one turn (a bufferevent that
 * flushes what it was given) or whose read interest is paused and resumed (evhttp between requests) costs no
 * epoll_ctl (libevent still issues the add when a descriptor number was closed and reused in the turn). The
 * mode's known hazard is a descriptor closed while a duplicate keeps its file open (dup, or a child between fork
 * and exec): epoll may go on reporting the old file under that number. No process of ours dups a watched
 * descriptor, wagate's children exec at once, and such a stray event costs a read that answers EAGAIN.
 */
struct event_base *ev_base_new(void);

#endif
