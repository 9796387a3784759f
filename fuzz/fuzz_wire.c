/* fuzz/fuzz_wire.c - libFuzzer harness: bytes a peer sends, through the wire decoder
 *
 * Every message the coordinator or a client receives goes through
 * fcl_wire_decode first. A message that decodes must encode again and decode
 * to the same type, round and sizes.
 */
#include "fcl/wire.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fcl_msg m, again;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (fcl_wire_decode(data, size, &m) != 0)
		return 0;
	if (fcl_wire_encode(&m, &buf, &len) == 0) {
		if (fcl_wire_decode(buf, len, &again) != 0 || again.type != m.type ||
		    again.round != m.round || again.n_ids != m.n_ids ||
		    again.n_values != m.n_values)
			abort(); /* what was decoded does not survive encoding */
		fcl_msg_free(&again);
		free(buf);
	}
	fcl_msg_free(&m);
	return 0;
}
