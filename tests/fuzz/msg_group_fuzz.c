/* libFuzzer target for the parsers of the server's answers to our group iqs (worker/msg_group.c): a frame
 * plaintext is decoded as a node and read as a create/query answer (<iq><group/></iq>), as a participating
 * list (<iq><groups><group/>...</groups></iq>), as a bare <group> and for its error code. Every GroupInfo must
 * come out within the caps, with every string set. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../worker/msg_group.h"
#include "wa_binary.h"
#include "wa_node.h"

#define MSG_GROUP_FUZZ_MAX_LEN (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A parsed group that breaks the parser's promises aborts. */
static void
check(const Wagate__Ipc__GroupInfo *g)
{
	if (g->jid == NULL || g->subject == NULL || g->owner == NULL || g->desc == NULL || g->desc_id == NULL ||
	    g->subject_owner == NULL || g->n_participants > MSG_GROUP_PARTICIPANTS_MAX ||
	    strlen(g->subject) > MSG_GROUP_TEXT_MAX || strlen(g->jid) < 6 ||
	    strcmp(g->jid + strlen(g->jid) - 5, "@g.us") != 0)
		abort();
	for (size_t i = 0; i < g->n_participants; i++)
		if (g->participants[i]->jid == NULL || *g->participants[i]->jid == '\0' ||
		    g->participants[i]->lid == NULL || g->participants[i]->admin == NULL)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Wagate__Ipc__GroupInfo *g, **v;
	struct wa_node *n;
	char err[128];
	size_t k;
	int code;

	if (size > MSG_GROUP_FUZZ_MAX_LEN)
		return 0;
	if ((n = wa_binary_decode(data, size, err, sizeof(err))) == NULL)
		return 0;
	code = msg_group_iq_code(n);
	if (code != 0 && code != 400 && code != 403 && code != 404 && code != 500)
		abort();
	if ((g = msg_group_parse_answer(n)) != NULL) {
		check(g);
		msg_group_info_free(g);
	}
	if ((g = msg_group_parse(n)) != NULL) {
		check(g);
		msg_group_info_free(g);
	}
	if (msg_group_parse_list(n, &v, &k) == 0) {
		if (k > MSG_GROUP_LIST_MAX)
			abort();
		for (size_t i = 0; i < k; i++) {
			check(v[i]);
			msg_group_info_free(v[i]);
		}
		free(v);
	}
	wa_node_free(n);
	return 0;
}
