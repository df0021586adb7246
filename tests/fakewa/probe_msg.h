/* wa_probe --pair --commands: the messaging side of the test companion, for tests/fakewa/message_e2e.py. It
 * prints what the server routes to the companion and acts on commands read from stdin, one per line:
 *   <conn#> send <msg id> <chat jid> <device jid>[,<device jid>...] <enc hex>
 *           a <message type="text"> with one opaque <enc v="2" type="msg"> per device in <participants>
 *   <conn#> receipt <msg id> <to jid> <type|->        a receipt (- = delivery)
 *   <conn#> usync <user jid>[,...]                     devices + contact + lid query, iq id probe-usync
 *   <conn#> key <device jid>[,...]                     prekey bundle fetch, iq id probe-key
 * Lines (stdout, flushed):
 *   MSG <conn#> <from> <id> offline=<0|1> recipient=<jid|-> enc=<type>:<hex>   (answered with a receipt)
 *   RECEIPT <conn#> <from> <id> <type|delivery>                                (acked)
 *   ACK <conn#> <class> <id> error=<code|->
 *   IB <conn#> offline <count>
 *   USYNC <conn#> <jid> devices=<ids|-> contact=<type|-> lid=<jid|->
 *   KEY <conn#> <jid> reg=<n> prekey=<id|none>     or     KEY <conn#> <jid> error=<code> */
#ifndef WAGATE_PROBE_MSG_H
#define WAGATE_PROBE_MSG_H

struct wa_conn;
struct wa_node;

/* Print (and answer) a node from the server if it is one of ours. */
void probe_msg_node(int idx, struct wa_conn *c, const struct wa_node *n);
/* Run one command line (without the connection number, which the caller used to pick c). */
void probe_msg_command(int idx, struct wa_conn *c, char *line);

#endif
