/* The iqs fakewa answers (wa-session.md 3.2-3.9, 4.4): w:p, encrypt (count, upload, digest, rotate, key),
 * passive, abt, blocklist, privacy, urn:xmpp:whatsapp:dirty, md (remove-companion-device,
 * link_code_companion_reg), usync; any other xmlns gets <error code="501" text="feature-not-implemented"/>.
 * Results and errors from the client go to fw_pair_on_reply. */
#ifndef WAGATE_FW_IQ_H
#define WAGATE_FW_IQ_H

struct fw_client;
struct wa_node;

/* Handle one <iq> from the client. */
void fw_iq_handle(struct fw_client *c, const struct wa_node *iq);
/* An <iq from=s.whatsapp.net id=<iq's> type=result/> to fill and send. */
struct wa_node *fw_iq_result_new(const struct wa_node *iq);
/* Answer iq with an empty result, or with <error code text/>. */
void fw_iq_reply_empty(struct fw_client *c, const struct wa_node *iq);
void fw_iq_reply_error(struct fw_client *c, const struct wa_node *iq, int code, const char *text);

#endif
