/* wa_probe --pair --commands: the messaging side of the test companion, for tests/fakewa/message_e2e.py. It
 * prints what the server routes to the companion and acts on commands read from stdin, one per line:
 *   <conn#> send <msg id> <chat jid> <device jid>[,<device jid>...] <enc hex>
 *           a <message type="text"> with one opaque <enc v="2" type="msg"> per device in <participants>
 *   <conn#> sendbad <msg id> <chat jid> <none|both>   a <message> with neither or both of <participants>, <enc>
 *   <conn#> receipt <msg id> <to jid> <type|->        a receipt (- = delivery)
 *   <conn#> usync <user jid>[,...]                     devices + contact + lid query, iq id probe-usync
 *   <conn#> key <device jid>[,...]                     prekey bundle fetch, iq id probe-key; a Signal session
 *                                                      is built from each bundle received
 *   <conn#> call <stanza id|-> <to jid> <tag|-> [<call-id> [<call-creator> [<count>]]]
 *           a <call> with one child <tag call-id call-creator count/> (none for -), as a client rejects a call
 *   <conn#> g...                                       group commands (probe_group.h)
 *   <conn#> sendtext <msg id> <chat jid> <device jid> <text...>
 *           Message{conversation} encrypted with wa_signal for that device (session from a key command)
 * Lines (stdout, flushed):
 *   MSG <conn#> <from> <id> offline=<0|1> recipient=<jid|-> enc=<type>:<hex>   (answered with a receipt)
 *   TEXT <conn#> <from> <id> <text>        a pkmsg/msg that decrypted (address "user:device" of from)
 *   DECRYPT-FAIL <conn#> <from> <id> <reason>
 *   HISTORY <conn#> <from> <id> type=<syncType|-1> chunk=<n> progress=<n> payload=<bytes>
 *           inflated=<bytes|failed/0> sync=<ok|bad> conversations=<n> messages=<n> pushnames=<n> lids=<n>
 *           first=<first conversation id|-> text=<its first message's text|->
 *           a pkmsg/msg carrying protocolMessage.historySyncNotification (the inline chunk inflated and read);
 *           a category="peer" message is receipted type="peer_msg", a history sync then type="hist_sync"
 *   HISTORY-MEDIA <conn#> <from> <id> path=<directPath> length=<fileLength|-1> sha256=<hex|-> enc_sha256=<hex|->
 *           key=<mediaKey hex|->   before the HISTORY line of a chunk sent as a media blob (not downloaded)
 *   RECEIPT <conn#> <from> <id> <type|delivery>[ participant=<jid>]            (acked)
 *   ACK <conn#> <class> <id> error=<code|->[ phash=<server's participant hash>][ type=<t|-> from=<jid|->]
 *                                          (type and from: class call only)
 *   IB <conn#> offline <count>
 *   IDENTITY <conn#> <user jid>            <notification type=encrypt><identity/> (that user reinstalled)
 *   DEVICES <conn#> <user jid> <add|remove|...> <device jid>[,...]   <notification type=devices>, one line per
 *                                          change child (the companion side acks it)
 *   USYNC <conn#> <jid> devices=<ids|-> contact=<type|-> lid=<jid|->
 *   KEY <conn#> <jid> reg=<n> prekey=<id|none>     or     KEY <conn#> <jid> error=<code>
 *   SESSION <conn#> <jid> <built|failed>
 *   SENT <conn#> <id> <pkmsg|msg>          or     SEND-FAIL <conn#> <id> <reason>
 *   CALL <conn#> <from> <id> t=<t> platform=<p> version=<v> <child tag> call-id=<id> call-creator=<jid>
 *        count=<n> reason=<r|-> kids=<tag[/enc][/rate|medium|keygen],...|->     a <call> from the server */
#ifndef WAGATE_PROBE_MSG_H
#define WAGATE_PROBE_MSG_H

struct fw_sigstore;
struct wa_conn;
struct wa_node;

/* Print (and answer) a node from the server if it is one of ours; st: the companion's Signal records. */
void probe_msg_node(int idx, struct fw_sigstore *st, struct wa_conn *c, const struct wa_node *n);
/* Run one command line (without the connection number, which the caller used to pick c). */
void probe_msg_command(int idx, struct fw_sigstore *st, struct wa_conn *c, char *line);

#endif
