/* WhatsApp JIDs ("user@server" addresses): parsing, formatting and the choice of wire form. */
#ifndef WAGATE_WA_JID_H
#define WAGATE_WA_JID_H

#include <stddef.h>
#include <stdint.h>

#define WA_JID_USER_MAX		256	/* buffer sizes including the NUL */
#define WA_JID_SERVER_MAX	64

#define WA_SERVER_USER		"s.whatsapp.net"
#define WA_SERVER_LEGACY_USER	"c.us"
#define WA_SERVER_GROUP		"g.us"
#define WA_SERVER_BROADCAST	"broadcast"
#define WA_SERVER_LID		"lid"
#define WA_SERVER_HOSTED	"hosted"
#define WA_SERVER_HOSTED_LID	"hosted.lid"
#define WA_SERVER_MESSENGER	"msgr"
#define WA_SERVER_INTEROP	"interop"
#define WA_SERVER_NEWSLETTER	"newsletter"
#define WA_SERVER_CALL		"call"
#define WA_SERVER_BOT		"bot"

/* AD_JID domain bytes (the "agent" WhatsApp writes for each server). */
#define WA_JID_DOMAIN_USER		0
#define WA_JID_DOMAIN_LID		1
#define WA_JID_DOMAIN_HOSTED		128
#define WA_JID_DOMAIN_HOSTED_LID	129

struct wa_jid {
	char		user[WA_JID_USER_MAX];		/* "" for a bare server JID */
	char		server[WA_JID_SERVER_MAX];
	uint8_t		agent;		/* raw agent of "user.agent:device@s.whatsapp.net", usually 0 */
	uint16_t	device;		/* device id; AD_JID carries 8 bits, Messenger/interop 16 */
	uint16_t	integrator;	/* interop only */
	int		is_ad;		/* written with an explicit ":device" (device may be 0) */
};

/* How a JID travels in a binary node. */
enum wa_jid_wire {
	WA_JID_WIRE_NONE = 0,	/* not representable exactly: send as a plain string */
	WA_JID_WIRE_PAIR,	/* JID_PAIR: user (or none), server */
	WA_JID_WIRE_AD,		/* AD_JID: domain, device (8 bits), user */
	WA_JID_WIRE_FB,		/* FB_JID: user, device (16 bits), server (msgr) */
	WA_JID_WIRE_INTEROP	/* INTEROP_JID: user, device, integrator, server (interop) */
};

/* Parse "user@server", "user:device@server", "user.agent:device@server", "@server" or a bare "server"
 * (and "integrator-user:device@interop"). Returns 0, or -1 if malformed or a part is too long. */
int wa_jid_parse(const char *s, struct wa_jid *out);
/* Fill a JID from parts (user may be NULL or ""); -1 if a part is too long. */
int wa_jid_set(struct wa_jid *j, const char *user, const char *server, uint16_t device);
/* Canonical string form into buf: "server" for an empty user, "user.agent:device@server" when agent > 0,
 * "user:device@server" when device > 0 (or is_ad on s.whatsapp.net/lid, where ":0" selects AD_JID),
 * else "user@server". Returns the length, -1 if too small. */
int wa_jid_format(const struct wa_jid *j, char *buf, size_t len);
/* The canonical string form, malloc'd. */
char *wa_jid_to_string(const struct wa_jid *j);
/* The wire form this JID is written in; *domain gets the AD_JID domain byte. */
enum wa_jid_wire wa_jid_wire_form(const struct wa_jid *j, uint8_t *domain);
/* The server name of an AD_JID domain byte (unknown values mean s.whatsapp.net). */
const char *wa_jid_domain_server(uint8_t domain);
/* 1 if both JIDs are the same address (user, server, agent, device, integrator). */
int wa_jid_equal(const struct wa_jid *a, const struct wa_jid *b);
/* The same JID without device and agent (the account rather than one of its devices). */
void wa_jid_to_non_ad(const struct wa_jid *in, struct wa_jid *out);
/* 1 if s is the name of a JID server (s.whatsapp.net, g.us, lid, ...). */
int wa_jid_is_server_name(const char *s);
/* Kind checks. */
int wa_jid_is_user(const struct wa_jid *j);		/* s.whatsapp.net or lid, non-empty user */
int wa_jid_is_group(const struct wa_jid *j);
int wa_jid_is_lid(const struct wa_jid *j);
int wa_jid_is_broadcast(const struct wa_jid *j);	/* any @broadcast, including status */
int wa_jid_is_status_broadcast(const struct wa_jid *j);

#endif
