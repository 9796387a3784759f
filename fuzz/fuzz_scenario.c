/* fuzz/fuzz_scenario.c - libFuzzer harness: scenario text and --set edits
 *
 * The input is the scenario text, then optionally a NUL and --set edits
 * separated by NULs (fcl-server --set KEY=VALUE). The text goes through the
 * editor when there are edits, then through the parser, as in fcl-server;
 * the parser alone sees it as a client does (the welcome's scenario).
 */
#include "fcl/override.h"
#include "fcl/scenario.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SETS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *sets[MAX_SETS], *out = NULL, err[1024];
	const char *text = copy;
	struct fcl_scenario sc;
	size_t n_sets = 0, len, out_len;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	len = strlen(copy);
	for (char *p = copy + len; p < copy + size && n_sets < MAX_SETS; p += strlen(p)) {
		*p++ = '\0';
		sets[n_sets++] = p;
	}
	fcl_scenario_parse(&sc, text, len, "<fuzz>", err, sizeof err);
	if (n_sets &&
	    fcl_scenario_override(text, len, (const char *const *)sets, n_sets, &out, &out_len, err,
				  sizeof err) == 0) {
		fcl_scenario_parse(&sc, out, out_len, "<fuzz --set>", err, sizeof err);
		free(out);
	}
	free(copy);
	return 0;
}
