/* IPC framing: pure functions over byte buffers (no libevent, no logging). */
#include "ipc.h"

#include <string.h>

void
ipc_header_encode(uint32_t len, unsigned char out[IPC_HEADER_LEN])
{
	out[0] = (unsigned char)(len >> 24);
	out[1] = (unsigned char)(len >> 16);
	out[2] = (unsigned char)(len >> 8);
	out[3] = (unsigned char)len;
}

uint32_t
ipc_header_decode(const unsigned char in[IPC_HEADER_LEN])
{
	return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | (uint32_t)in[3];
}

enum ipc_result
ipc_frame_check(const unsigned char *buf, size_t len, size_t *payload_len)
{
	uint32_t n;

	if (len < IPC_HEADER_LEN)
		return IPC_AGAIN;
	n = ipc_header_decode(buf);
	/* Checked before the caller waits for or allocates anything. */
	if (n > IPC_FRAME_MAX)
		return IPC_ERROR;
	*payload_len = n;
	if (len - IPC_HEADER_LEN < n)
		return IPC_AGAIN;
	return IPC_OK;
}

IpcEnvelope *
ipc_envelope_unpack(const unsigned char *payload, size_t len)
{
	if (len > IPC_FRAME_MAX)
		return NULL;
	return wagate__ipc__envelope__unpack(NULL, len, payload);
}

enum ipc_result
ipc_frame_parse(const unsigned char *buf, size_t len, size_t *consumed, IpcEnvelope **out)
{
	size_t plen = 0;
	enum ipc_result r;

	*out = NULL;
	*consumed = 0;
	if ((r = ipc_frame_check(buf, len, &plen)) != IPC_OK)
		return r;
	if ((*out = ipc_envelope_unpack(buf + IPC_HEADER_LEN, plen)) == NULL)
		return IPC_ERROR;
	*consumed = IPC_HEADER_LEN + plen;
	return IPC_OK;
}

void
ipc_envelope_free(IpcEnvelope *env)
{
	if (env != NULL)
		wagate__ipc__envelope__free_unpacked(env, NULL);
}

size_t
ipc_frame_size(const IpcEnvelope *env)
{
	size_t n = wagate__ipc__envelope__get_packed_size(env);

	if (n > IPC_FRAME_MAX)
		return 0;
	return IPC_HEADER_LEN + n;
}

size_t
ipc_frame_pack(const IpcEnvelope *env, unsigned char *out, size_t outlen)
{
	size_t n = ipc_frame_size(env);

	if (n == 0 || outlen < n)
		return 0;
	if (wagate__ipc__envelope__pack(env, out + IPC_HEADER_LEN) != n - IPC_HEADER_LEN)
		return 0;
	ipc_header_encode((uint32_t)(n - IPC_HEADER_LEN), out);
	return n;
}

int
ipc_str_ok(const char *s, size_t max)
{
	return s != NULL && strnlen(s, max + 1) <= max;
}

const char *
ipc_msg_name(int msg_case)
{
	const ProtobufCFieldDescriptor *f;

	if (msg_case == 0)
		return "none";
	f = protobuf_c_message_descriptor_get_field(&wagate__ipc__envelope__descriptor, (unsigned)msg_case);
	/* Only oneof members count: version and request_id are plain fields. */
	if (f == NULL || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return "unknown";
	return f->name;
}
