/* What fakewa does with the ClientPayload of a finished handshake (wa-session.md 1.2, 1.3, 2.2, 3.1): a
 * registration gets pair-device with 6 refs, a login is checked against the registered devices and gets
 * <success> or <failure reason="401"/>, anything else <failure reason="400"/>. */
#ifndef WAGATE_FW_SESSION_H
#define WAGATE_FW_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct fw_client;
struct fw_device;
struct fw_server;

/* Act on the decrypted ClientPayload bytes (may be empty). */
void fw_session_start(struct fw_client *c, const uint8_t *payload, size_t len);
/* The client is going away: detach it from its device. */
void fw_session_end(struct fw_client *c);
/* Unlink a device: its contacts get a devices notification (fw_devices.h), a stream:error 401 device_removed
 * goes to it if connected (except to skip, which the caller closes itself), then it is forgotten. */
void fw_session_remove_device(struct fw_server *s, struct fw_device *d, struct fw_client *skip);

#endif
