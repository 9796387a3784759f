/* common/src/registry.c - every federated method, listed once
 *
 * Adding a rule or a strategy: its file (common/src/agg_<name>.c or
 * strategy_<name>.c, plus its line in common/meson.build) and one line in a
 * table below. Nothing else in the tree names a method; the scenario parser,
 * the coordinator and the client process look methods up here by name.
 * Tests and examples may add methods at run time (fcl_rule_register).
 */
#include "fcl/rule.h"
#include "fcl/strategy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

extern const struct fcl_rule fcl_rule_fedavg, fcl_rule_fot, fcl_rule_fedprox, fcl_rule_fedavgm,
    fcl_rule_fedadam, fcl_rule_fedyogi, fcl_rule_fednova, fcl_rule_median,
    fcl_rule_trimmed_mean, fcl_rule_krum, fcl_rule_scaffold;

extern const struct fcl_strategy_method fcl_strategy_finetune, fcl_strategy_er,
    fcl_strategy_er_ace, fcl_strategy_derpp, fcl_strategy_lwf, fcl_strategy_ewc, fcl_strategy_uer,
    fcl_strategy_mvp, fcl_strategy_gdumb;

static const struct fcl_rule *const builtin_rules[] = {
    &fcl_rule_fedavg,  &fcl_rule_fot,     &fcl_rule_fedprox, &fcl_rule_fedavgm,
    &fcl_rule_fedadam, &fcl_rule_fedyogi, &fcl_rule_fednova, &fcl_rule_median,
    &fcl_rule_trimmed_mean, &fcl_rule_krum, &fcl_rule_scaffold,
};

static const struct fcl_strategy_method *const builtin_strategies[] = {
    &fcl_strategy_finetune, &fcl_strategy_er,  &fcl_strategy_er_ace,
    &fcl_strategy_derpp,    &fcl_strategy_lwf, &fcl_strategy_ewc,
    &fcl_strategy_uer,      &fcl_strategy_mvp, &fcl_strategy_gdumb,
};

#define N_BUILTIN_RULES (sizeof builtin_rules / sizeof builtin_rules[0])
#define N_BUILTIN_STRATEGIES (sizeof builtin_strategies / sizeof builtin_strategies[0])
#define MAX_ADDED 16

/* Added at run time; a process registers before it parses scenarios. */
static const struct fcl_rule *added_rules[MAX_ADDED];
static size_t n_added_rules;
static const struct fcl_strategy_method *added_strategies[MAX_ADDED];
static size_t n_added_strategies;

const struct fcl_rule *fcl_rule_at(size_t i)
{
	if (i < N_BUILTIN_RULES)
		return builtin_rules[i];
	i -= N_BUILTIN_RULES;
	return i < n_added_rules ? added_rules[i] : NULL;
}

const struct fcl_rule *fcl_rule_find(const char *name)
{
	const struct fcl_rule *r;
	for (size_t i = 0; (r = fcl_rule_at(i)) != NULL; i++)
		if (!strcmp(r->name, name))
			return r;
	return NULL;
}

int fcl_rule_register(const struct fcl_rule *rule)
{
	if (fcl_rule_find(rule->name))
		return -EEXIST;
	if (n_added_rules == MAX_ADDED)
		return -ENOSPC;
	added_rules[n_added_rules++] = rule;
	return 0;
}

const struct fcl_strategy_method *fcl_strategy_at(size_t i)
{
	if (i < N_BUILTIN_STRATEGIES)
		return builtin_strategies[i];
	i -= N_BUILTIN_STRATEGIES;
	return i < n_added_strategies ? added_strategies[i] : NULL;
}

const struct fcl_strategy_method *fcl_strategy_find(const char *name)
{
	const struct fcl_strategy_method *m;
	for (size_t i = 0; (m = fcl_strategy_at(i)) != NULL; i++)
		if (!strcmp(m->name, name))
			return m;
	return NULL;
}

int fcl_strategy_register(const struct fcl_strategy_method *method)
{
	if (fcl_strategy_find(method->name))
		return -EEXIST;
	if (n_added_strategies == MAX_ADDED)
		return -ENOSPC;
	added_strategies[n_added_strategies++] = method;
	return 0;
}

void fcl_rule_names(char *buf, size_t len)
{
	const struct fcl_rule *r;
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; (r = fcl_rule_at(i)) != NULL && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", r->name);
}

void fcl_strategy_names(char *buf, size_t len)
{
	const struct fcl_strategy_method *m;
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; (m = fcl_strategy_at(i)) != NULL && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", m->name);
}
