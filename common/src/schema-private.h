/* common/src/schema-private.h - value conversions shared by schema.c and the YAML walker */
#ifndef FCL_SCHEMA_PRIVATE_H
#define FCL_SCHEMA_PRIVATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fcl/schema.h"

/* Decimal digits only: no sign, no fraction, no overflow. */
bool fcl__parse_u64(const char *s, uint64_t *out);
/* A finite number, the whole text. */
bool fcl__parse_number(const char *s, double *out);
int fcl__parse_bool(const char *s, int *out); /* "true"/"false"; -EINVAL otherwise */
bool fcl__in_range(double v, double lo, bool lo_open, double hi, bool hi_open);
void fcl__number_what(char *buf, size_t size, double lo, bool lo_open, double hi, bool hi_open);
void fcl__choice_what(const struct fcl_key_choice *ch, char *buf, size_t size);

#endif
