/* fakewa's devices notifications (wa-session.md 3.9, whatsmeow handleDeviceNotification): when an account gains
 * or loses a companion, the devices of its contacts get
 *   <notification from="<user>@s.whatsapp.net" id t type="devices">
 *     <add|remove><device jid="<user>:<n>@s.whatsapp.net" key-index="<k>"/></add|remove></notification>
 * so that their cached device lists of the user are dropped. "Contacts" are the accounts that exchanged 1:1
 * messages with it (fw_account peers, bounded). Offline devices get it at their next login like any stanza.
 * Left out: device_hash and the signed <key-index-list> (no client here checks them), and the account_sync
 * notification the account's own devices get. */
#ifndef WAGATE_FW_DEVICES_H
#define WAGATE_FW_DEVICES_H

struct fw_device;
struct fw_server;

/* d was just paired (add 1) or is about to be removed (add 0, d still valid). Returns the number of devices
 * told. */
int fw_devices_notify(struct fw_server *s, const struct fw_device *d, int add);

#endif
