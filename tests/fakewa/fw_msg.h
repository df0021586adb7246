/* fakewa's message routing (wa-session.md 3.7, 4.8-4.11): a <message> from a logged-in device is checked, acked
 * to the sender and handed to each addressed device, at once when it is online or queued for its next login
 * (bounded per device, oldest dropped first); at login the queue is delivered with offline="1" and closed by
 * <ib><offline count="N"/></ib>. A message stays with its device until the device sends a receipt for it
 * (bounded too): one sent to a connection that died before its receipt is delivered again at the next login. Receipts a device sends go back to the device they name, acked. fakewa never
 * decrypts: the <enc> bytes are opaque here (the mock phone, device 0, has its own Signal side). */
#ifndef WAGATE_FW_MSG_H
#define WAGATE_FW_MSG_H

#include <stddef.h>

struct fw_client;
struct fw_device;
struct wa_node;

#define FW_MSG_QUEUE_MAX	1000	/* stanzas kept per offline device; more push out the oldest */
#define FW_MSG_INFLIGHT_MAX	1000	/* messages kept per device until receipted; more forget the oldest */
#define FW_MSG_TO_MAX		1024	/* <to> children of one <participants> */
#define FW_MSG_ID_MAX		128	/* message ids longer than this are refused */

/* Handle a <message> stanza from c. */
void fw_msg_handle(struct fw_client *c, const struct wa_node *msg);
/* Handle a <receipt> from c: forward it to the device it names, ack it; c's device no longer needs the
 * messages it names (id, <list><item id/>) redelivered. */
void fw_msg_receipt(struct fw_client *c, const struct wa_node *r);
/* c just logged in (after <success>): deliver its device's queue, then the <ib><offline/> marker. */
void fw_msg_login(struct fw_client *c);
/* Deliver a stanza to device d (node taken over): now if it is online, else queued; a <message> is also
 * kept until d receipts it. */
void fw_msg_deliver(struct fw_device *d, struct wa_node *n);
/* Drop a device's queue (the device is being freed). */
void fw_msg_queue_clear(struct fw_device *d);

#endif
