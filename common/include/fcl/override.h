/* common/include/fcl/override.h - KEY=VALUE edits of a scenario's YAML text
 *
 * fcl-server --set aggregation.rule=fot (and fcl-compare, through it) edit the
 * scenario text before it is parsed, so the edited text is what the run
 * folder records and what the welcome sends: clients run exactly it.
 */
#ifndef FCL_OVERRIDE_H
#define FCL_OVERRIDE_H
#include <stddef.h>

/* Applies "a.b.c=VALUE" edits (VALUE is YAML: a scalar or a flow collection) to
 * text; missing mappings on the path are created. On success *out is the owned
 * new text (free with free()) and *out_len its length. -EINVAL with a reason in
 * err, or -ENOMEM. */
int fcl_scenario_override(const char *text, size_t len, const char *const *sets, size_t n_sets,
			  char **out, size_t *out_len, char *err, size_t errlen);

#endif
