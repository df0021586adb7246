/* Devices notifications to the contacts of an account (see fw_devices.h). */
#include "fw_devices.h"

#include "fakewa_client.h"
#include "fw_account.h"
#include "fw_msg.h"

#include "log.h"
#include "wa_node.h"

#include <stdio.h>
#include <time.h>

int
fw_devices_notify(struct fw_server *s, const struct fw_device *d, int add)
{
	struct fw_account *a = d->acct, *peer;
	struct fw_device *to;
	struct wa_node *n, *change, *dev;
	char id[32], jid[64];
	int told = 0;

	fw_device_jid(d, jid, sizeof(jid));
	/* one id for every copy: it is one server event, as WhatsApp's own */
	snprintf(id, sizeof(id), "%lu.devices", ++s->next_stanza);
	for (size_t i = 0; i < a->npeers; i++) {
		if ((peer = fw_account_find(&s->accounts, a->peers[i])) == NULL || peer == a)
			continue;
		/* the peer's phone is the mock (it reads the account's device list itself): companions only */
		TAILQ_FOREACH(to, &peer->devices, entry) {
			n = wa_node_new("notification");
			wa_node_set_attrf(n, "from", "%s@s.whatsapp.net", a->phone);
			wa_node_set_attr(n, "type", "devices");
			wa_node_set_attr(n, "id", id);
			wa_node_set_attrf(n, "t", "%lld", (long long)time(NULL));
			change = wa_node_add_child(n, wa_node_new(add ? "add" : "remove"));
			dev = wa_node_add_child(change, wa_node_new("device"));
			wa_node_set_attr(dev, "jid", jid);
			wa_node_set_attrf(dev, "key-index", "%u", d->key_index);
			fw_msg_deliver(to, n);
			told++;
		}
	}
	log_info("device %s %s: %d device(s) of its contacts told", jid, add ? "added" : "removed", told);
	return told;
}
