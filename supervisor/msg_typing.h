/* A typing state shown in one chat for a while: Evolution's sendText `delay` and /chat/sendPresence. The
 * worker sends each state as a <chatstate/> (SetPresence with a chat). */
#ifndef WAGATE_MSG_TYPING_H
#define WAGATE_MSG_TYPING_H

struct app;

/* A typing state lapses on the phone after about 25 s: a longer delay sends it again every this often, as
 * Evolution does. */
#define MSG_TYPING_SLICE_MS	20000
/* The longest delay accepted (an HTTP request is held that long). */
#define MSG_TYPING_MAX_MS	3600000LL

/* The outcome: ok once the last state went out, or !ok with why (error never NULL then; nothing more is sent) and
 * workers_result_cb's status for it (503 when the instance is not connected). */
typedef void (*msg_typing_cb)(void *arg, int ok, int status, const char *error);

/*
 * Show state ("composing", "recording" or "paused") to jid (a user or group JID) from the instance for
 * delay_ms, sent again every MSG_TYPING_SLICE_MS, then "paused" (unless state is "paused" itself). "available"
 * and "unavailable" are our global presence (as Baileys sends them whatever the chat), kept the same way,
 * with no paused after. cb is called exactly once, later, never from inside this call. Returns 0, or -1 when
 * the instance has no ready worker (cb is not called).
 */
int msg_typing_start(struct app *app, const char *instance_id, const char *jid, const char *state, long long delay_ms,
    msg_typing_cb cb, void *arg);

/* Shutting down: end every typing under way with cb(arg, 0, 503, ...) now, sending nothing more. One waiting for
 * a state's Result is freed when the Result comes (or is cancelled by the worker's end). */
void msg_typing_stop_all(struct app *app);

#endif
