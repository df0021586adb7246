/* fakewa's accounts: one per phone number, each with its phone (device 0: an account identity key pair,
 * which is also the phone's Signal identity) and its linked companion devices. Memory only: a restarted
 * fakewa forgets them. */
#ifndef WAGATE_FW_ACCOUNT_H
#define WAGATE_FW_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct evbuffer;
struct fw_client;

#define FW_PHONE_MAX	24
#define FW_NAME_MAX	128
#define FW_PREKEYS_MAX	20000	/* one-time prekeys kept per device; more are refused */
#define FW_PEERS_MAX	64	/* users an account exchanged messages with, kept for devices notifications */

/* A companion's registration material (ClientPayload.devicePairingData, wa-session.md 1.2). */
struct fw_reg {
	uint32_t regid;
	uint8_t identity_pub[32];
	uint32_t skey_id;
	uint8_t skey_pub[32];
	uint8_t skey_sig[64];
	char os[64];				/* DeviceProps.os, "" if absent */
	int platform;				/* DeviceProps.platformType, -1 if absent */
	int full_sync;				/* DeviceProps.requireFullSync */
};

struct fw_prekey {
	uint32_t id;
	uint8_t pub[32];
};

struct fw_account;
struct fw_queued;
struct fw_phone;

struct fw_device {
	struct fw_account *acct;
	unsigned number, key_index;
	uint8_t noise_pub[32];
	struct fw_reg reg;
	struct fw_prekey *prekeys;		/* uploaded one-time prekeys, in upload order */
	size_t nprekeys, prekeys_cap;
	struct fw_client *client;		/* connected and logged in, else NULL */
	int active;				/* passive iq: <active/> seen */
	unsigned long logins;
	TAILQ_HEAD(, fw_queued) queue;		/* stanzas waiting for the next login (fw_msg.h) */
	size_t nqueued;
	TAILQ_ENTRY(fw_device) entry;
};

struct fw_account {
	char phone[FW_PHONE_MAX];
	char lid[FW_PHONE_MAX];
	char push_name[FW_NAME_MAX];
	uint8_t priv[32], pub[32];		/* account (identity) key pair */
	uint32_t raw_id;			/* ADVDeviceIdentity.rawID */
	unsigned next_device, next_key_index;
	struct fw_phone *mock;			/* the phone's Signal endpoint (fw_phone_signal.h) */
	TAILQ_HEAD(, fw_device) devices;
	/* phone numbers of the accounts this one exchanged 1:1 messages with (its "contacts", told when its
	 * device list changes); a ring: the oldest goes when full */
	char peers[FW_PEERS_MAX][FW_PHONE_MAX];
	size_t npeers, next_peer;
	TAILQ_ENTRY(fw_account) entry;
};

struct fw_accounts {
	TAILQ_HEAD(, fw_account) list;
	unsigned long next_phone, next_lid;
};

void fw_accounts_init(struct fw_accounts *as);
/* Free every account and device (connected clients keep a dangling pointer: call at shutdown only). */
void fw_accounts_clear(struct fw_accounts *as);

/* The account with this phone number, or NULL. */
struct fw_account *fw_account_find(struct fw_accounts *as, const char *phone);
/* The account whose phone number or LID user is user, or NULL. */
struct fw_account *fw_account_find_user(struct fw_accounts *as, const char *user);
/* The account with this phone number, created if missing; phone NULL: a new account with a generated
 * number. name (may be NULL) replaces the push name. NULL if phone is not 1..20 digits or keys fail. */
struct fw_account *fw_account_get(struct fw_accounts *as, const char *phone, const char *name);

/* a and b exchanged a message: each is remembered as the other's peer (nothing if a == b). */
void fw_account_peer_add(struct fw_account *a, struct fw_account *b);
/* Whether b is one of a's peers. */
int fw_account_has_peer(const struct fw_account *a, const struct fw_account *b);

/* Register a new device (number and key index already allocated from the account). */
struct fw_device *fw_device_add(struct fw_account *a, unsigned number, unsigned key_index,
    const uint8_t noise_pub[32], const struct fw_reg *reg);
/* The device user:number on s.whatsapp.net (user = phone) or lid (user = account LID), or NULL. */
struct fw_device *fw_device_find(struct fw_accounts *as, const char *user, unsigned number);
/* Forget a device (the caller deals with its connection first). */
void fw_device_remove(struct fw_device *d);
/* "phone:N@s.whatsapp.net" and "lid:N@lid". */
void fw_device_jid(const struct fw_device *d, char *buf, size_t len);
void fw_device_lid(const struct fw_device *d, char *buf, size_t len);
/* Add a one-time prekey (a known id is replaced). 0, or -1 when the pool is full. */
int fw_device_prekey_add(struct fw_device *d, uint32_t id, const uint8_t pub[32]);
/* Take the oldest prekey out of the pool. 0, or -1 if empty. */
int fw_device_prekey_take(struct fw_device *d, struct fw_prekey *out);

/* Append {"accounts":[...]} to b. */
void fw_accounts_json(struct fw_accounts *as, struct evbuffer *b);
/* Append s as a JSON string literal (quotes included) to b. */
void fw_json_string(struct evbuffer *b, const char *s);

#endif
