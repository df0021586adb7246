/* libFuzzer target: IPC frame parsing + Envelope unpack, then a pack round trip of what was accepted. */
#include "ipc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse every frame in the input; re-pack each accepted Envelope and parse it again. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, used;
	IpcEnvelope *env, *again;

	while (off < size) {
		if (ipc_frame_parse(data + off, size - off, &used, &env) != IPC_OK)
			break;
		if (used < IPC_HEADER_LEN || used > size - off)
			abort();
		size_t n = ipc_frame_size(env);
		/* protobuf-c 1.4 keeps malformed unknown fields (tag 0, wrong wire type) and re-packs them in a
		 * form it then refuses, so a failed re-parse is not a bug here; we never re-pack received frames. */
		if (n != 0) {
			unsigned char *buf = malloc(n);
			size_t used2;
			if (buf == NULL || ipc_frame_pack(env, buf, n) != n)
				abort();
			if (ipc_frame_parse(buf, n, &used2, &again) == IPC_OK) {
				if (used2 != n || again->msg_case != env->msg_case ||
				    again->request_id != env->request_id)
					abort();
				(void)ipc_msg_name((int)again->msg_case);
				ipc_envelope_free(again);
			}
			free(buf);
		}
		ipc_envelope_free(env);
		off += used;
	}
	return 0;
}
