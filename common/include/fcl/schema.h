/* common/include/fcl/schema.h - scenario keys declared by the code that reads them
 *
 * A federated method (an aggregation rule or a client strategy) declares its
 * own scenario keys as a table of struct fcl_key, each naming where the value
 * goes in the method's parameter struct. The scenario parser consults these
 * tables, so scenario.c never learns about a particular method; fcl_key_set
 * applies the same checks to a value given as text (tests, tools).
 *
 *   struct my_params { float server_lr; int weighted; };
 *   static const struct fcl_key my_keys[] = {
 *       FCL_KEY_F32("server_lr", struct my_params, server_lr, 0, FCL_OPEN, HUGE_VAL, 0,
 *                   "server learning rate"),
 *       {0},
 *   };
 */
#ifndef FCL_SCHEMA_H
#define FCL_SCHEMA_H
#include <stddef.h>
#include <stdint.h>

enum fcl_key_type {
	FCL_KEY_END = 0,
	FCL_KEY_U32,     /* uint32_t, an integer in [lo, hi] */
	FCL_KEY_F32,     /* float, a number in the range */
	FCL_KEY_F64,     /* double, a number in the range */
	FCL_KEY_BOOL,    /* int, true or false */
	FCL_KEY_CHOICE,  /* int, one of choices[] by name */
	FCL_KEY_SECTION, /* a nested mapping whose keys are sub[] (same struct) */
};

struct fcl_key_choice {
	const char *name;
	int value;
};

struct fcl_key {
	const char *name;
	enum fcl_key_type type;
	size_t off;                           /* where the value goes, from the params' start */
	double lo, hi;                        /* range: inclusive for integers ... */
	int lo_open, hi_open;                 /* ... and open at an end for numbers when set */
	const struct fcl_key_choice *choices; /* FCL_KEY_CHOICE, {NULL}-terminated */
	const struct fcl_key *sub;            /* FCL_KEY_SECTION, {0}-terminated */
	const char *doc;                      /* what the key means, one line */
};

#define FCL_OPEN 1
#define FCL_KEY_U32(k, st, member, l, h, d)                                                        \
	{                                                                                          \
		.name = (k), .type = FCL_KEY_U32, .off = offsetof(st, member), .lo = (l),          \
		.hi = (h), .doc = (d)                                                              \
	}
#define FCL_KEY_NUM_(t, k, st, member, l, lopen, h, hopen, d)                                      \
	{                                                                                          \
		.name = (k), .type = (t), .off = offsetof(st, member), .lo = (l),                  \
		.lo_open = (lopen), .hi = (h), .hi_open = (hopen), .doc = (d)                      \
	}
#define FCL_KEY_F32(k, st, member, l, lopen, h, hopen, d)                                          \
	FCL_KEY_NUM_(FCL_KEY_F32, k, st, member, l, lopen, h, hopen, d)
#define FCL_KEY_F64(k, st, member, l, lopen, h, hopen, d)                                          \
	FCL_KEY_NUM_(FCL_KEY_F64, k, st, member, l, lopen, h, hopen, d)
#define FCL_KEY_BOOL(k, st, member, d)                                                             \
	{                                                                                          \
		.name = (k), .type = FCL_KEY_BOOL, .off = offsetof(st, member), .doc = (d)         \
	}
#define FCL_KEY_CHOICE(k, st, member, tab, d)                                                      \
	{                                                                                          \
		.name = (k), .type = FCL_KEY_CHOICE, .off = offsetof(st, member),                  \
		.choices = (tab), .doc = (d)                                                       \
	}
#define FCL_KEY_SECTION(k, tab, d)                                                                 \
	{                                                                                          \
		.name = (k), .type = FCL_KEY_SECTION, .sub = (tab), .doc = (d)                     \
	}

/* The key at a dotted path ("mvp.focal") of a table, or NULL. */
const struct fcl_key *fcl_key_find(const struct fcl_key *tab, const char *path);

/* What a key expects, for messages: "an integer in 1..4096", "true or false",
 * "one of: sample, batch, off" ... */
void fcl_key_describe(const struct fcl_key *k, char *buf, size_t len);

/* Parses text as the value of key k (plain YAML scalar syntax) into params.
 * 0, or -EINVAL with "expected ... (got ...)" in why (params untouched). */
int fcl_key_set(const struct fcl_key *k, void *params, const char *text, char *why, size_t len);

/* The same for a dotted path in a table; -ENOENT when no such key. */
int fcl_keys_set(const struct fcl_key *tab, void *params, const char *path, const char *text,
		 char *why, size_t len);

/* The value of key k in params as a number (booleans 0/1, choices their value). */
double fcl_key_get(const struct fcl_key *k, const void *params);
/* The value of key k in params as scenario text ("0.5", "true", "backbone"). */
void fcl_key_format(const struct fcl_key *k, const void *params, char *buf, size_t len);
/* fcl_key_get at a dotted path; NAN when there is no such key. */
double fcl_keys_get(const struct fcl_key *tab, const void *params, const char *path);

/* The number of keys of a table ({0}-terminated). */
size_t fcl_keys_count(const struct fcl_key *tab);

#endif
