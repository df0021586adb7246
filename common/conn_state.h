/* Connection states and reason codes, one copy for both processes: the numbers are proto/ipc.proto's
 * ConnState and Reason enums (bump IPC_VERSION if they change meaning); these are short names for them. */
#ifndef WAGATE_CONN_STATE_H
#define WAGATE_CONN_STATE_H

#include "ipc.pb-c.h"

typedef Wagate__Ipc__ConnState conn_state;

#define CONN_CLOSE		WAGATE__IPC__CONN_STATE__CONN_STATE_CLOSE
#define CONN_CONNECTING		WAGATE__IPC__CONN_STATE__CONN_STATE_CONNECTING
#define CONN_OPEN		WAGATE__IPC__CONN_STATE__CONN_STATE_OPEN

#define REASON_NONE		WAGATE__IPC__REASON__REASON_NONE
#define REASON_LOGGED_OUT	WAGATE__IPC__REASON__REASON_LOGGED_OUT
#define REASON_TIMED_OUT	WAGATE__IPC__REASON__REASON_TIMED_OUT
#define REASON_CONNECTION_CLOSED WAGATE__IPC__REASON__REASON_CONNECTION_CLOSED
#define REASON_REPLACED		WAGATE__IPC__REASON__REASON_REPLACED
#define REASON_BAD_SESSION	WAGATE__IPC__REASON__REASON_BAD_SESSION
#define REASON_UNAVAILABLE	WAGATE__IPC__REASON__REASON_UNAVAILABLE
#define REASON_RESTART_REQUIRED	WAGATE__IPC__REASON__REASON_RESTART_REQUIRED
#define REASON_WORKER_CRASHED	WAGATE__IPC__REASON__REASON_WORKER_CRASHED
#define REASON_NO_TRANSPORT	WAGATE__IPC__REASON__REASON_NO_TRANSPORT
#define REASON_PROTOCOL_ERROR	WAGATE__IPC__REASON__REASON_PROTOCOL_ERROR
#define REASON_QR_LIMIT		WAGATE__IPC__REASON__REASON_QR_LIMIT
#define REASON_PROXY_FAILED	WAGATE__IPC__REASON__REASON_PROXY_FAILED

/* Evolution's name of a state: "close", "connecting" or "open" ("close" for anything unknown). */
const char *conn_state_name(int state);
/* Whether state is one of the three. */
int conn_state_valid(int state);

#endif
