/* common/src/schema.c - typed keys: text to value, ranges and descriptions
 *
 * The scenario's YAML walker (scenario_yaml.c) and fcl_key_set share these
 * conversions, so a value means the same whether it comes from a file or
 * from a KEY=VALUE argument.
 */
#include "fcl/schema.h"
#include "schema-private.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool fcl__parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

bool fcl__parse_number(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return end != s && !*end && isfinite(*out);
}

bool fcl__in_range(double v, double lo, bool lo_open, double hi, bool hi_open)
{
	if (v < lo || (lo_open && v == lo))
		return false;
	return v < hi || (!hi_open && v == hi);
}

void fcl__number_what(char *buf, size_t size, double lo, bool lo_open, double hi, bool hi_open)
{
	if (isinf(hi))
		snprintf(buf, size, "a number %s %g", lo_open ? ">" : ">=", lo);
	else
		snprintf(buf, size, "a number in %c%g, %g%c", lo_open ? '(' : '[', lo, hi,
			 hi_open ? ')' : ']');
}

void fcl__choice_what(const struct fcl_key_choice *ch, char *buf, size_t size)
{
	size_t o = 0;
	int n;

	buf[0] = '\0';
	for (; ch->name && o < size; ch++) {
		n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "one of: ", ch->name);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

int fcl__parse_bool(const char *s, int *out)
{
	if (!strcmp(s, "true"))
		*out = 1;
	else if (!strcmp(s, "false"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

void fcl_key_describe(const struct fcl_key *k, char *buf, size_t len)
{
	switch (k->type) {
	case FCL_KEY_U32:
		snprintf(buf, len, "an integer in %llu..%llu", (unsigned long long)k->lo,
			 (unsigned long long)k->hi);
		break;
	case FCL_KEY_F32:
	case FCL_KEY_F64:
		fcl__number_what(buf, len, k->lo, k->lo_open, k->hi, k->hi_open);
		break;
	case FCL_KEY_BOOL:
		snprintf(buf, len, "true or false");
		break;
	case FCL_KEY_CHOICE:
		fcl__choice_what(k->choices, buf, len);
		break;
	default:
		snprintf(buf, len, "a mapping");
		break;
	}
}

int fcl_key_set(const struct fcl_key *k, void *params, const char *text, char *why, size_t len)
{
	char *dst = (char *)params + k->off, what[160];
	uint64_t u;
	double d;
	int b;

	switch (k->type) {
	case FCL_KEY_U32:
		if (!fcl__parse_u64(text, &u) || (double)u < k->lo || (double)u > k->hi)
			break;
		uint32_t u32 = (uint32_t)u;
		memcpy(dst, &u32, sizeof u32);
		return 0;
	case FCL_KEY_F32:
	case FCL_KEY_F64:
		if (!fcl__parse_number(text, &d) ||
		    !fcl__in_range(d, k->lo, k->lo_open, k->hi, k->hi_open))
			break;
		if (k->type == FCL_KEY_F64) {
			memcpy(dst, &d, sizeof d);
		} else {
			float f = (float)d;
			memcpy(dst, &f, sizeof f);
		}
		return 0;
	case FCL_KEY_BOOL:
		if (fcl__parse_bool(text, &b) != 0)
			break;
		memcpy(dst, &b, sizeof b);
		return 0;
	case FCL_KEY_CHOICE:
		for (const struct fcl_key_choice *ch = k->choices; ch->name; ch++)
			if (!strcmp(text, ch->name)) {
				memcpy(dst, &ch->value, sizeof ch->value);
				return 0;
			}
		break;
	default:
		break;
	}
	fcl_key_describe(k, what, sizeof what);
	snprintf(why, len, "expected %s (got %s)", what, text);
	return -EINVAL;
}

const struct fcl_key *fcl_key_find(const struct fcl_key *tab, const char *path)
{
	const char *dot = strchr(path, '.');
	size_t n = dot ? (size_t)(dot - path) : strlen(path);

	for (; tab && tab->name; tab++) {
		if (strlen(tab->name) != n || strncmp(tab->name, path, n) != 0)
			continue;
		if (!dot)
			return tab;
		return tab->type == FCL_KEY_SECTION ? fcl_key_find(tab->sub, dot + 1) : NULL;
	}
	return NULL;
}

int fcl_keys_set(const struct fcl_key *tab, void *params, const char *path, const char *text,
		 char *why, size_t len)
{
	const struct fcl_key *k = fcl_key_find(tab, path);

	if (!k || k->type == FCL_KEY_SECTION) {
		snprintf(why, len, "unknown key %s", path);
		return -ENOENT;
	}
	return fcl_key_set(k, params, text, why, len);
}

size_t fcl_keys_count(const struct fcl_key *tab)
{
	size_t n = 0;
	while (tab && tab[n].name)
		n++;
	return n;
}

double fcl_key_get(const struct fcl_key *k, const void *params)
{
	const char *src = (const char *)params + k->off;
	uint32_t u;
	float f;
	double d;
	int i;

	switch (k->type) {
	case FCL_KEY_U32:
		memcpy(&u, src, sizeof u);
		return u;
	case FCL_KEY_F32:
		memcpy(&f, src, sizeof f);
		return f;
	case FCL_KEY_F64:
		memcpy(&d, src, sizeof d);
		return d;
	case FCL_KEY_BOOL:
	case FCL_KEY_CHOICE:
		memcpy(&i, src, sizeof i);
		return i;
	default:
		return NAN;
	}
}

void fcl_key_format(const struct fcl_key *k, const void *params, char *buf, size_t len)
{
	double v = fcl_key_get(k, params);

	switch (k->type) {
	case FCL_KEY_BOOL:
		snprintf(buf, len, "%s", v != 0 ? "true" : "false");
		return;
	case FCL_KEY_CHOICE:
		for (const struct fcl_key_choice *ch = k->choices; ch->name; ch++)
			if (ch->value == (int)v) {
				snprintf(buf, len, "%s", ch->name);
				return;
			}
		snprintf(buf, len, "%d", (int)v);
		return;
	case FCL_KEY_U32:
		snprintf(buf, len, "%.0f", v);
		return;
	default:
		snprintf(buf, len, "%.9g", v);
		return;
	}
}

double fcl_keys_get(const struct fcl_key *tab, const void *params, const char *path)
{
	const struct fcl_key *k = fcl_key_find(tab, path);
	return k && k->type != FCL_KEY_SECTION ? fcl_key_get(k, params) : NAN;
}
