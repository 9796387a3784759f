/* tests/test_wire.c - messages round-trip; garbage is refused, never trusted */
#include "fcl/rng.h"
#include "fcl/wire.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void test_update_roundtrip(void)
{
	float values[1000];
	uint8_t *buf;
	size_t len;
	struct fcl_msg in = {.type = FCL_MSG_CLIENT_UPDATE,
			     .round = 17,
			     .client_id = 42,
			     .n_samples = 1234,
			     .values = values,
			     .n_values = 1000,
			     .loss = 0.75f,
			     .train_seconds = 1.5,
			     .send_seconds = 0.25,
			     .dispatch = 31};
	for (int i = 0; i < 1000; i++)
		values[i] = (float)i * 0.001f - 0.3f;
	REQUIRE(fcl_wire_encode(&in, &buf, &len) == 0, "update encodes (%zu bytes)", len);
	CHECK(len < 1000 * 4 + 64, "floats are packed (%zu bytes for 1000)", len);
	struct fcl_msg out;
	REQUIRE(fcl_wire_decode(buf, len, &out) == 0, "update decodes");
	CHECK(out.type == FCL_MSG_CLIENT_UPDATE && out.round == 17 && out.client_id == 42 &&
		  out.n_samples == 1234 && out.loss == 0.75f && out.n_values == 1000 &&
		  out.dispatch == 31,
	      "header fields survive");
	CHECK(memcmp(out.values, values, sizeof values) == 0, "values survive bit for bit");
	CHECK(out.train_seconds == 1.5 && out.send_seconds == 0.25,
	      "the update's timings survive (train %g, send %g)", out.train_seconds,
	      out.send_seconds);
	fcl_msg_free(&out);
	free(buf);

	struct fcl_msg rule = {.type = FCL_MSG_RULE,
			       .round = 3,
			       .client_id = 5,
			       .rule_seconds = 0.5,
			       .send_seconds = 0.125};
	REQUIRE(fcl_wire_encode(&rule, &buf, &len) == 0, "rule message encodes");
	REQUIRE(fcl_wire_decode(buf, len, &out) == 0, "rule message decodes");
	CHECK(out.type == FCL_MSG_RULE && out.rule_seconds == 0.5 && out.send_seconds == 0.125,
	      "the rule message's timings survive (rule %g, send %g)", out.rule_seconds,
	      out.send_seconds);
	fcl_msg_free(&out);
	free(buf);
}

static void test_hello_welcome(void)
{
	uint32_t ids[] = {0, 1, 2, 9};
	uint8_t *buf;
	size_t len;
	struct fcl_msg out, hello = {.type = FCL_MSG_HELLO,
				     .client_id = -1,
				     .protocol_version = FCL_PROTOCOL_VERSION,
				     .blas_core = "SkylakeX",
				     .blas_version = "0.3.21",
				     .ids = ids,
				     .n_ids = 4,
				     .pid = 77,
				     .hostname = "node1"};
	REQUIRE(fcl_wire_encode(&hello, &buf, &len) == 0, "hello encodes");
	REQUIRE(fcl_wire_decode(buf, len, &out) == 0, "hello decodes");
	CHECK(out.type == FCL_MSG_HELLO && out.n_ids == 4 && out.ids[3] == 9 && out.pid == 77 &&
		  strcmp(out.hostname, "node1") == 0 && out.client_id == -1 &&
		  strcmp(out.blas_core, "SkylakeX") == 0 && strcmp(out.blas_version, "0.3.21") == 0,
	      "hello fields survive");
	fcl_msg_free(&out);
	free(buf);

	struct fcl_msg w = {.type = FCL_MSG_WELCOME,
			    .protocol_version = FCL_PROTOCOL_VERSION,
			    .scenario_text = "name: x\n",
			    .scenario_hash = 0x1234567890abcdefULL,
			    .seed = 5,
			    .n_params = 99,
			    .scenario_dir = "/data/scenarios"};
	REQUIRE(fcl_wire_encode(&w, &buf, &len) == 0, "welcome encodes");
	REQUIRE(fcl_wire_decode(buf, len, &out) == 0, "welcome decodes");
	CHECK(out.type == FCL_MSG_WELCOME && strcmp(out.scenario_text, "name: x\n") == 0 &&
		  out.scenario_hash == 0x1234567890abcdefULL && out.n_params == 99 &&
		  strcmp(out.scenario_dir, "/data/scenarios") == 0,
	      "welcome fields survive");
	fcl_msg_free(&out);
	free(buf);
}

static void test_garbage(void)
{
	struct fcl_msg out;
	struct fcl_rng r;
	uint8_t junk[512];
	int refused = 0, typed = 0;

	CHECK(fcl_wire_decode("\xff\xfe not protobuf", 16, &out) == -EPROTO,
	      "text garbage is refused");
	CHECK(fcl_wire_decode("", 0, &out) == -EPROTO, "an empty message (no body) is refused");
	/* Random bytes: each either fails or decodes to a typed message; never crashes. */
	fcl_rng_init(&r, 9, FCL_RNG_TEST, 0, 0);
	for (int i = 0; i < 2000; i++) {
		size_t len = 1 + fcl_rng_below(&r, sizeof junk);
		for (size_t k = 0; k < len; k++)
			junk[k] = (uint8_t)fcl_rng_next(&r);
		if (fcl_wire_decode(junk, len, &out) != 0) {
			refused++;
			continue;
		}
		typed += out.type != FCL_MSG_NONE;
		fcl_msg_free(&out);
	}
	CHECK(refused > 1900 && refused + typed == 2000,
	      "random bytes: %d of 2000 refused, the rest typed", refused);

	/* A truncated valid message is refused. */
	float v[64] = {0};
	uint8_t *buf;
	size_t len;
	struct fcl_msg in = {.type = FCL_MSG_CLIENT_UPDATE, .values = v, .n_values = 64};
	REQUIRE(fcl_wire_encode(&in, &buf, &len) == 0, "encode for truncation");
	CHECK(fcl_wire_decode(buf, len - 5, &out) == -EPROTO, "a truncated update is refused");
	free(buf);
}

/* A rule's extras ride on a round start, an update and a rule message. */
static void test_extras_roundtrip(void)
{
	const uint32_t ids[1] = {7};
	const float bases[3] = {1, 0, 0}, params[2] = {0.5f, -0.5f}, y[6] = {1, 2, 3, 4, 5, 6};
	struct fcl_msg m = {.type = FCL_MSG_ROUND_START,
			    .round = 9,
			    .client_id = -1,
			    .task = 1,
			    .values = params,
			    .n_values = 2,
			    .ids = ids,
			    .n_ids = 1,
			    .dispatch = 0x100000007ULL};
	m.extras.n_tensors = 2;
	m.extras.t[0] = (struct fcl_tensor){.v = bases, .rows = 3, .cols = 1};
	m.extras.t[1] = (struct fcl_tensor){.v = NULL, .rows = 2, .cols = 0};
	m.extras.n_ints = 3;
	m.extras.ints[0] = 1;
	m.extras.ints[1] = 3;
	m.extras.ints[2] = 2;
	struct fcl_msg d;
	uint8_t *buf;
	size_t len;
	REQUIRE(fcl_wire_encode(&m, &buf, &len) == 0, "round start with extras encodes");
	REQUIRE(fcl_wire_decode(buf, len, &d) == 0, "and decodes");
	CHECK(d.extras.n_tensors == 2 && d.extras.t[0].rows == 3 && d.extras.t[0].cols == 1 &&
		  d.extras.t[0].v[0] == 1.0f && d.extras.t[1].rows == 2 &&
		  d.extras.t[1].cols == 0 && d.extras.n_ints == 3 && d.extras.ints[2] == 2 &&
		  d.extras.n_reals == 0,
	      "extras survive: shapes, values, ints");
	CHECK(d.dispatch == 0x100000007ULL, "the dispatch number survives");
	fcl_msg_free(&d);
	free(buf);
	memset(&m.extras, 0, sizeof m.extras);
	REQUIRE(fcl_wire_encode(&m, &buf, &len) == 0 && fcl_wire_decode(buf, len, &d) == 0,
		"plain round start round-trips");
	CHECK(d.extras.n_tensors == 0 && d.extras.n_ints == 0, "no extras unless given");
	fcl_msg_free(&d);
	free(buf);

	struct fcl_msg k = {.type = FCL_MSG_RULE, .round = 9, .client_id = 7, .dispatch = 12};
	k.extras.n_tensors = 1;
	k.extras.t[0] = (struct fcl_tensor){.v = y, .rows = 2, .cols = 3};
	k.extras.n_ints = 2;
	k.extras.ints[0] = 1;
	k.extras.ints[1] = 480;
	k.extras.n_reals = 1;
	k.extras.reals[0] = 0.25;
	REQUIRE(fcl_wire_encode(&k, &buf, &len) == 0 && fcl_wire_decode(buf, len, &d) == 0,
		"rule message round-trips");
	CHECK(d.type == FCL_MSG_RULE && d.round == 9 && d.client_id == 7 &&
		  d.extras.t[0].rows == 2 && d.extras.t[0].cols == 3 &&
		  d.extras.t[0].v[5] == 6.0f && d.extras.ints[1] == 480 &&
		  d.extras.reals[0] == 0.25 && d.dispatch == 12,
	      "rule message fields survive, with round, client id and dispatch");
	CHECK(strcmp(fcl_msg_type_name(d.type), "rule") == 0, "type name");
	fcl_msg_free(&d);
	free(buf);

	/* a tensor whose value count disagrees with its shape is refused */
	k.extras.t[0].cols = 3;
	k.extras.t[0].rows = 2;
	REQUIRE(fcl_wire_encode(&k, &buf, &len) == 0, "encode for a shape lie");
	/* the packed tensor holds rows, cols, then values: patch cols (field 2) to 4 */
	int patched = 0;
	for (size_t i = 0; i + 1 < len && !patched; i++)
		if (buf[i] == 0x08 && buf[i + 1] == 2 && i + 3 < len && buf[i + 2] == 0x10 &&
		    buf[i + 3] == 3) {
			buf[i + 3] = 4;
			patched = 1;
		}
	REQUIRE(patched, "found the tensor's shape bytes");
	CHECK(fcl_wire_decode(buf, len, &d) == -EPROTO, "a tensor whose shape lies is refused");
	free(buf);
}

/* Checkpoint messages: a state piece keeps its bytes and place; a piece that
 * would reach past its state, or is larger than a piece may be, is refused. */
static void test_state_pieces(void)
{
	uint8_t data[300], *buf;
	size_t len;
	struct fcl_msg out;
	for (int i = 0; i < 300; i++)
		data[i] = (uint8_t)(i * 7);
	struct fcl_msg piece = {.type = FCL_MSG_STATE,
				.round = 21,
				.client_id = 5,
				.data = data,
				.n_data = 300,
				.offset = 1000,
				.total = 1300};
	REQUIRE(fcl_wire_encode(&piece, &buf, &len) == 0 && fcl_wire_decode(buf, len, &out) == 0,
		"a state piece round-trips");
	CHECK(out.type == FCL_MSG_STATE && out.round == 21 && out.client_id == 5 &&
		  out.offset == 1000 && out.total == 1300 && out.n_data == 300 &&
		  memcmp(out.data, data, 300) == 0,
	      "its place, size and bytes survive");
	fcl_msg_free(&out);
	free(buf);
	piece.type = FCL_MSG_RESTORE;
	piece.total = 1200;
	REQUIRE(fcl_wire_encode(&piece, &buf, &len) == 0, "an overlong piece encodes");
	CHECK(fcl_wire_decode(buf, len, &out) == -EPROTO,
	      "a piece that reaches past its state is refused");
	free(buf);
	enum fcl_msg_type bare[] = {FCL_MSG_SAVE, FCL_MSG_RESTORED};
	for (int i = 0; i < 2; i++) {
		struct fcl_msg m = {.type = bare[i], .round = 14, .client_id = -1};
		REQUIRE(fcl_wire_encode(&m, &buf, &len) == 0, "%s encodes",
			fcl_msg_type_name(bare[i]));
		CHECK(fcl_wire_decode(buf, len, &out) == 0 && out.type == bare[i] &&
			  out.round == 14,
		      "%s round-trips", fcl_msg_type_name(bare[i]));
		fcl_msg_free(&out);
		free(buf);
	}
}

/* A partial sum and its records travel whole. */
static void test_partial(void)
{
	int64_t sum[3] = {INT64_MIN, -1, INT64_MAX};
	uint32_t ids[2] = {4, 9}, rej[2] = {0, FCL_REJECT_FINITE};
	uint64_t ns[2] = {120, 7};
	float loss[2] = {0.5f, 1.5f};
	double ts[2] = {0.25, 0.125};
	struct fcl_msg in = {.type = FCL_MSG_PARTIAL,
			     .round = 3,
			     .client_id = -1,
			     .sum = sum,
			     .n_sum = 3,
			     .frac_bits = 32,
			     .addends = 1,
			     .dispatch = 0,
			     .ids = ids,
			     .n_ids = 2,
			     .rec_samples = ns,
			     .rec_loss = loss,
			     .rec_train_s = ts,
			     .rec_rejected = rej},
		       out;
	uint8_t *buf;
	size_t len;
	REQUIRE(fcl_wire_encode(&in, &buf, &len) == 0, "a partial encodes");
	REQUIRE(fcl_wire_decode(buf, len, &out) == 0, "and decodes");
	CHECK(out.type == FCL_MSG_PARTIAL && out.round == 3 && out.n_sum == 3 &&
		  memcmp(out.sum, sum, sizeof sum) == 0 && out.frac_bits == 32 && out.addends == 1,
	      "its sum comes back whole, int64 extremes included");
	CHECK(out.n_ids == 2 && out.ids[1] == 9 && out.rec_samples[0] == 120 &&
		  out.rec_loss[1] == 1.5f && out.rec_train_s[0] == 0.25 &&
		  out.rec_rejected[1] == FCL_REJECT_FINITE,
	      "and its records");
	CHECK(strcmp(fcl_reject_name(FCL_REJECT_RANGE),
		     "beyond the fixed-point range of the sum") == 0 &&
		  strcmp(fcl_reject_name(99), "unknown reason") == 0,
	      "rejections have names");
	fcl_msg_free(&out);
	free(buf);
}

/* A process's sum of its participants' rule messages (FOT's sketches) too. */
static void test_answer_sum(void)
{
	int64_t sum[3] = {INT64_MIN, 42, INT64_MAX};
	uint32_t ids[3] = {1, 5, 8}, rej[3] = {0, FCL_REJECT_RULE, 0};
	struct fcl_msg in = {.type = FCL_MSG_RULE,
			     .round = 7,
			     .client_id = -1,
			     .sum = sum,
			     .n_sum = 3,
			     .frac_bits = 32,
			     .addends = 2,
			     .dispatch = 0,
			     .rule_seconds = 0.5,
			     .ids = ids,
			     .n_ids = 3,
			     .rec_rejected = rej},
		       one = {.type = FCL_MSG_RULE, .round = 7, .client_id = 5}, out;
	uint8_t *buf;
	size_t len;
	REQUIRE(fcl_wire_encode(&in, &buf, &len) == 0 && fcl_wire_decode(buf, len, &out) == 0,
		"a sum of rule messages encodes and decodes");
	CHECK(out.type == FCL_MSG_RULE && out.client_id == -1 && out.n_sum == 3 &&
		  memcmp(out.sum, sum, sizeof sum) == 0 && out.frac_bits == 32 &&
		  out.addends == 2 && out.rule_seconds == 0.5,
	      "its sum comes back whole");
	CHECK(out.n_ids == 3 && out.ids[2] == 8 && out.rec_rejected[1] == FCL_REJECT_RULE &&
		  strcmp(fcl_reject_name(FCL_REJECT_RULE), "refused by the rule") == 0,
	      "and its records");
	fcl_msg_free(&out);
	free(buf);
	REQUIRE(fcl_wire_encode(&one, &buf, &len) == 0 && fcl_wire_decode(buf, len, &out) == 0,
		"a participant's rule message still travels");
	CHECK(out.client_id == 5 && out.n_sum == 0 && out.n_ids == 0, "without sum or records");
	fcl_msg_free(&out);
	free(buf);
}

int main(void)
{
	test_partial();
	test_answer_sum();
	test_extras_roundtrip();
	test_state_pieces();
	test_update_roundtrip();
	test_hello_welcome();
	test_garbage();
	return tap_done();
}
