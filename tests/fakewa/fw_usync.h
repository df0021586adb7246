/* fakewa's usync iq (wa-session.md 4.3): for each queried user, the protocols asked for in <query>: devices
 * (the phone, device 0, and every linked companion with its key-index), contact (type "in" for a number fakewa
 * knows, "out" otherwise) and lid (the account's LID). Other protocols are left out of the answer. */
#ifndef WAGATE_FW_USYNC_H
#define WAGATE_FW_USYNC_H

struct fw_client;
struct wa_node;

#define FW_USYNC_USERS_MAX	1000	/* users per query; the rest are not answered */

/* Answer an <iq xmlns="usync"> from c. */
void fw_usync_handle(struct fw_client *c, const struct wa_node *iq);

#endif
