/* QR code rendering for the pairing flow: text -> PNG -> "data:image/png;base64,..." as Evolution returns it. */
#ifndef WAGATE_QR_H
#define WAGATE_QR_H

#include <stddef.h>

/* Longest text accepted (WhatsApp's pairing strings are about 250 bytes). */
#define QR_TEXT_MAX 1024

/* Render text as a 1-bit grayscale PNG (error correction M, 4-module quiet zone, 7 px per module).
 * On success *png is malloc'd and *len set; returns 0, or -1 (errno EINVAL for empty/too-long text). */
int qr_render_png(const char *text, unsigned char **png, size_t *len);
/* Same image as a malloc'd data URI "data:image/png;base64,...". Returns 0 or -1. */
int qr_render_data_uri(const char *text, char **out);

#endif
