/* QR rendering with libqrencode and libpng writing into memory; no files, no logging. */
#include "qr.h"

#include <errno.h>
#include <png.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "xmalloc.h"

#define QR_MARGIN	4	/* quiet zone in modules, as the QR specification asks */
#define QR_SCALE	7	/* pixels per module */
#define QR_PREFIX	"data:image/png;base64,"

struct qr_buf {
	unsigned char *data;
	size_t len;
	size_t cap;
};

/* libpng write callback: append to the memory buffer. */
static void
qr_png_write_cb(png_structp png, png_bytep data, png_size_t n)
{
	struct qr_buf *b = png_get_io_ptr(png);

	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;

		while (cap < b->len + n)
			cap *= 2;
		b->data = xreallocarray(b->data, cap, 1);
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
}

/* libpng flush callback: nothing to flush in memory. */
static void
qr_png_flush_cb(png_structp png)
{
	(void)png;
}

/* Write the module matrix as a scaled 1-bit PNG into b; 0 or -1. */
static int
qr_png_encode(const QRcode *qr, struct qr_buf *b)
{
	png_structp png;
	png_infop info;
	unsigned char *row = NULL;
	int modules = qr->width + 2 * QR_MARGIN;
	int px = modules * QR_SCALE;
	size_t rowbytes = ((size_t)px + 7) / 8;
	int y, x, s;
	volatile int rc = -1;

	if ((png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL)) == NULL)
		return -1;
	if ((info = png_create_info_struct(png)) == NULL) {
		png_destroy_write_struct(&png, NULL);
		return -1;
	}
	row = xmalloc(rowbytes);
	if (setjmp(png_jmpbuf(png)))
		goto out;
	png_set_write_fn(png, b, qr_png_write_cb, qr_png_flush_cb);
	png_set_IHDR(png, info, px, px, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
	    PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_set_compression_level(png, 9);
	png_write_info(png, info);
	for (y = 0; y < modules; y++) {
		int qy = y - QR_MARGIN;

		/* In a 1-bit gray PNG 1 is white; dark modules clear their bits. */
		memset(row, 0xff, rowbytes);
		if (qy >= 0 && qy < qr->width) {
			for (x = 0; x < qr->width; x++) {
				if (!(qr->data[qy * qr->width + x] & 1))
					continue;
				for (s = 0; s < QR_SCALE; s++) {
					int p = (x + QR_MARGIN) * QR_SCALE + s;

					row[p / 8] &= (unsigned char)~(0x80 >> (p % 8));
				}
			}
		}
		for (s = 0; s < QR_SCALE; s++)
			png_write_row(png, row);
	}
	png_write_end(png, NULL);
	rc = 0;
out:
	png_destroy_write_struct(&png, &info);
	free(row);
	return rc;
}

/* Render text to PNG bytes. */
int
qr_render_png(const char *text, unsigned char **out, size_t *outlen)
{
	struct qr_buf b = { NULL, 0, 0 };
	QRcode *qr;
	size_t n;

	*out = NULL;
	*outlen = 0;
	if (text == NULL || (n = strlen(text)) == 0 || n > QR_TEXT_MAX) {
		errno = EINVAL;
		return -1;
	}
	/* 8-bit mode hint: WhatsApp strings mix case and use '@', ',' and '/', outside QR alphanumeric mode. */
	if ((qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1)) == NULL)
		return -1;
	if (qr_png_encode(qr, &b) == -1) {
		QRcode_free(qr);
		free(b.data);
		return -1;
	}
	QRcode_free(qr);
	*out = b.data;
	*outlen = b.len;
	return 0;
}

/* Render text to a PNG data URI. */
int
qr_render_data_uri(const char *text, char **out)
{
	unsigned char *png;
	size_t len, plen = strlen(QR_PREFIX);
	char *uri;

	*out = NULL;
	if (qr_render_png(text, &png, &len) == -1)
		return -1;
	uri = xmalloc(plen + b64_encoded_len(len) + 1);
	memcpy(uri, QR_PREFIX, plen);
	b64_encode(png, len, uri + plen);
	free(png);
	*out = uri;
	return 0;
}
