/* common/include/fcl/wire.h - messages between server and clients
 *
 * The only module that knows protobuf-c. A decoded message borrows its
 * arrays from the decoder's memory until fcl_msg_free. Decoding validates
 * the framing only; callers check rounds, ids and sizes against their state.
 */
#ifndef FCL_WIRE_H
#define FCL_WIRE_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/extras.h"

#define FCL_PROTOCOL_VERSION 8
/* Largest welcome a client takes before it knows the scenario: the scenario
 * text and a few fields. Later caps come from the scenario
 * (fcl_rule_max_message_bytes in fcl/rule.h). */
#define FCL_WIRE_WELCOME_MAX_BYTES ((uint64_t)16 << 20)

enum fcl_msg_type {
	FCL_MSG_NONE = 0,
	FCL_MSG_HELLO,
	FCL_MSG_WELCOME,
	FCL_MSG_ROUND_START,
	FCL_MSG_CLIENT_UPDATE,
	FCL_MSG_SHUTDOWN,
	FCL_MSG_ERROR,
	FCL_MSG_RULE,     /* a participant's extra message for the rule (extras); client_id
			   * -1: a process's sum of them (sum, ids, rec_rejected) */
	FCL_MSG_SAVE,     /* checkpoint: send your logical clients' state (round: rounds done) */
	FCL_MSG_STATE,    /* a piece of one logical client's state, to the coordinator */
	FCL_MSG_RESTORE,  /* a piece of one logical client's state, to a client process */
	FCL_MSG_RESTORED, /* every state of a restore is in place */
	FCL_MSG_PARTIAL,  /* a client process's partial sum of updates and its participants' records
			   */
};

/* Why a client process kept a participant's update out of its partial sum. */
enum fcl_reject {
	FCL_REJECT_NONE = 0,
	FCL_REJECT_SIZE,    /* wrong number of parameters */
	FCL_REJECT_SAMPLES, /* implausible sample count */
	FCL_REJECT_FINITE,  /* non-finite values */
	FCL_REJECT_RANGE,   /* beyond the fixed-point range of the sum */
	FCL_REJECT_RULE,    /* a rule's message the rule's checks refuse (keep_answer) */
	FCL_REJECT_N,
};
const char *fcl_reject_name(uint32_t why); /* "unknown reason" past the list */

/* States travel in pieces of at most this many bytes. */
#define FCL_STATE_PIECE_BYTES ((size_t)1 << 20)

struct fcl_msg {
	enum fcl_msg_type type;
	uint32_t round;
	int64_t client_id; /* logical client, or -1 for a process */

	/* hello, welcome */
	uint32_t protocol_version;
	uint32_t pid;
	const char *hostname;
	/* hello: the OpenBLAS kernel and version the process computes with
	 * (fcl/blas_core.h) */
	const char *blas_core, *blas_version;
	/* welcome */
	const char *scenario_text;
	const char *scenario_name;
	uint64_t scenario_hash;
	uint64_t seed;
	uint32_t n_params;
	const char *scenario_dir; /* where relative paths resolve (absolute); "" as given */
	/* hello, round start: logical client ids */
	const uint32_t *ids;
	size_t n_ids;
	/* round start: global parameters; client update: local - global */
	uint32_t task;
	const float *values;
	size_t n_values;
	/* client update; bn: the client's own batchnorm values (FedBN), n_bn 0 when
	 * none are sent */
	uint64_t n_samples;
	float loss;
	const float *bn;
	size_t n_bn;
	/* client update, rule message: wall seconds for the cost breakdown (never in
	 * results): local training; the rule message's computation (FOT: a sketch);
	 * the sending process's encoding and sending since its last report */
	double train_seconds, rule_seconds, send_seconds;
	/* round start, client update, rule message: the rule's data */
	struct fcl_extras extras;
	/* round start: its number with simulated time (0 without); client update and
	 * rule message: the round start's, echoed */
	uint64_t dispatch;
	/* partial: the sum (n_sum integers at 2^-frac_bits, `addends` updates in it)
	 * and, per participant (ids, n_ids of them), samples, loss, training
	 * seconds and enum fcl_reject; a rule message of a process (client_id -1):
	 * the sum of its participants' messages, ids and rec_rejected only */
	const int64_t *sum;
	size_t n_sum;
	uint32_t frac_bits, addends;
	const uint64_t *rec_samples;
	const float *rec_loss;
	const double *rec_train_s;
	const uint32_t *rec_rejected;
	/* shutdown, error */
	int32_t code;
	const char *text;
	/* state, restore: bytes [offset, offset + n_data) of a state of `total` bytes */
	const uint8_t *data;
	size_t n_data;
	uint64_t offset, total;

	void *decoded_; /* owned by the decoder */
};

/* Serialises m into an owned buffer (free with free()). 0 or -EINVAL/-ENOMEM. */
int fcl_wire_encode(const struct fcl_msg *m, uint8_t **buf, size_t *len);
/* Parses bytes into *m. -EPROTO for anything that is not a well-formed message
 * of a known type; then *m needs no free. */
int fcl_wire_decode(const void *buf, size_t len, struct fcl_msg *m);
void fcl_msg_free(struct fcl_msg *m);
const char *fcl_msg_type_name(enum fcl_msg_type type);

#endif
