/* QR rendering: the data URI decodes to a PNG that zbarimg reads back as the original pairing string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "b64.h"
#include "qr.h"

/* Shaped like what WhatsApp sends: ref, noise public key, identity key, adv secret. */
static const char *wa_qr =
    "2@Xn8kq3R1sT+9wZbV0aH7uYc2LmPfQ4eJdGx6NrKtIy5oWvBzE1hCsUgAjD8lMpOi/9kQw==,"
    "hO7FbbXk3Yp+0V2mS1qT8lWcNzA6rJdEuGx4iKy9QRo=,"
    "Zt3B1cPqL0sV9xWmYnA7kJ2hR5eUfGd8oTiM4ySbXlE=,"
    "m4Kp2QvX9sLd1Hc7Nf0bRj3TgYw8ZeUa6AiOoPyElSk=";

static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

/* Decode a data URI's PNG into a temp file; returns its path (static buffer). */
static const char *
write_png_from_uri(const char *uri)
{
	static char path[] = "/tmp/wagate-qr-XXXXXX.png";
	const char *b64 = uri + strlen("data:image/png;base64,");
	size_t n = strlen(b64), len;
	unsigned char *png = malloc(b64_decoded_max(n));
	FILE *f;
	int fd;

	assert_non_null(png);
	assert_int_equal(b64_decode(b64, n, png, b64_decoded_max(n), &len), 0);
	assert_true(len > sizeof(png_sig));
	assert_memory_equal(png, png_sig, sizeof(png_sig));
	strcpy(path, "/tmp/wagate-qr-XXXXXX.png");
	assert_true((fd = mkstemps(path, 4)) >= 0);
	assert_non_null(f = fdopen(fd, "wb"));
	assert_int_equal(fwrite(png, 1, len, f), len);
	fclose(f);
	free(png);
	return path;
}

/* Run zbarimg on path; returns the decoded text (malloc'd) or NULL when zbarimg is missing. */
static char *
zbar_read(const char *path)
{
	char cmd[512], buf[4096];
	size_t n;
	FILE *p;

	if (system("command -v zbarimg >/dev/null 2>&1") != 0)
		return NULL;
	snprintf(cmd, sizeof(cmd), "zbarimg --raw -q '%s' 2>/dev/null", path);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, p);
	pclose(p);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return strdup(buf);
}

/* A realistic WhatsApp pairing string survives render + decode. */
static void
test_qr_roundtrip(void **state)
{
	const char *path;
	char *uri, *text;

	assert_int_equal(qr_render_data_uri(wa_qr, &uri), 0);
	assert_non_null(uri);
	assert_int_equal(strncmp(uri, "data:image/png;base64,", 22), 0);
	path = write_png_from_uri(uri);
	text = zbar_read(path);
	unlink(path);
	free(uri);
	if (text == NULL)
		skip();
	assert_string_equal(text, wa_qr);
	free(text);
}

/* Short and odd strings also round-trip (mode selection, smallest versions). */
static void
test_qr_small(void **state)
{
	static const char *texts[] = { "A", "hello, world", "1234567890", "lower-UPPER/+=@," };
	const char *path;
	char *uri, *text;
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(qr_render_data_uri(texts[i], &uri), 0);
		path = write_png_from_uri(uri);
		text = zbar_read(path);
		unlink(path);
		free(uri);
		if (text == NULL)
			skip();
		assert_string_equal(text, texts[i]);
		free(text);
	}
}

/* Empty, NULL and oversized inputs are refused with EINVAL. */
static void
test_qr_reject(void **state)
{
	char *uri = (char *)1, *big;

	assert_int_equal(qr_render_data_uri("", &uri), -1);
	assert_null(uri);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(qr_render_data_uri(NULL, &uri), -1);
	big = malloc(QR_TEXT_MAX + 2);
	memset(big, 'x', QR_TEXT_MAX + 1);
	big[QR_TEXT_MAX + 1] = '\0';
	assert_int_equal(qr_render_data_uri(big, &uri), -1);
	big[QR_TEXT_MAX] = '\0';
	assert_int_equal(qr_render_data_uri(big, &uri), 0);
	free(uri);
	free(big);
}

/* PNG dimensions: (modules + 8) * 7 pixels square, 1-bit gray. */
static void
test_qr_png_header(void **state)
{
	unsigned char *png;
	size_t len;
	uint32_t w, h;

	assert_int_equal(qr_render_png(wa_qr, &png, &len), 0);
	assert_memory_equal(png, png_sig, 8);
	w = (uint32_t)png[16] << 24 | (uint32_t)png[17] << 16 | (uint32_t)png[18] << 8 | png[19];
	h = (uint32_t)png[20] << 24 | (uint32_t)png[21] << 16 | (uint32_t)png[22] << 8 | png[23];
	assert_int_equal(w, h);
	assert_int_equal(w % 7, 0);
	assert_int_equal((w / 7 - 8 - 17) % 4, 0);	/* QR sizes are 17 + 4 * version */
	assert_int_equal(png[24], 1);	/* bit depth */
	assert_int_equal(png[25], 0);	/* grayscale */
	free(png);
}

/* Run the QR tests. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qr_roundtrip),
		cmocka_unit_test(test_qr_small),
		cmocka_unit_test(test_qr_reject),
		cmocka_unit_test(test_qr_png_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
