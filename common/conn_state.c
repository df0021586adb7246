/* Names of the connection states (see conn_state.h). */
#include "conn_state.h"

const char *
conn_state_name(int state)
{
	switch (state) {
	case CONN_CONNECTING:
		return "connecting";
	case CONN_OPEN:
		return "open";
	default:
		return "close";
	}
}

int
conn_state_valid(int state)
{
	return state == CONN_CLOSE || state == CONN_CONNECTING || state == CONN_OPEN;
}
