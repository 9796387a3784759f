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
    fcl_rule_fedadam, fcl_rule_fedyogi, fcl_rule_fednova, fcl_rule_median, fcl_rule_trimmed_mean,
    fcl_rule_krum, fcl_rule_scaffold;

extern const struct fcl_strategy_method fcl_strategy_finetune, fcl_strategy_er, fcl_strategy_er_ace,
    fcl_strategy_derpp, fcl_strategy_lwf, fcl_strategy_ewc, fcl_strategy_uer, fcl_strategy_mvp,
    fcl_strategy_gdumb;

static const struct fcl_rule *const builtin_rules[] = {
    &fcl_rule_fedavg,       &fcl_rule_fot,     &fcl_rule_fedprox,  &fcl_rule_fedavgm,
    &fcl_rule_fedadam,      &fcl_rule_fedyogi, &fcl_rule_fednova,  &fcl_rule_median,
    &fcl_rule_trimmed_mean, &fcl_rule_krum,    &fcl_rule_scaffold,
};

static const struct fcl_strategy_method *const builtin_strategies[] = {
    &fcl_strategy_finetune, &fcl_strategy_er,  &fcl_strategy_er_ace,
    &fcl_strategy_derpp,    &fcl_strategy_lwf, &fcl_strategy_ewc,
    &fcl_strategy_uer,      &fcl_strategy_mvp, &fcl_strategy_gdumb,
};

/* A list of methods: the built-in ones, then those added at run time (a
 * process registers before it parses scenarios). Both method kinds start
 * with their name, which is all the list needs to know of them. */
#define MAX_ADDED 16
struct methods {
	const void *const *builtin;
	size_t n_builtin;
	const char *(*name)(const void *method);
	const void *added[MAX_ADDED];
	size_t n_added;
};

static const void *at(const struct methods *t, size_t i)
{
	if (i < t->n_builtin)
		return t->builtin[i];
	i -= t->n_builtin;
	return i < t->n_added ? t->added[i] : NULL;
}

static const void *find(const struct methods *t, const char *name)
{
	const void *m;
	for (size_t i = 0; (m = at(t, i)) != NULL; i++)
		if (!strcmp(t->name(m), name))
			return m;
	return NULL;
}

static int add(struct methods *t, const void *method)
{
	if (find(t, t->name(method)))
		return -EEXIST;
	if (t->n_added == MAX_ADDED)
		return -ENOSPC;
	t->added[t->n_added++] = method;
	return 0;
}

static void names(const struct methods *t, char *buf, size_t len)
{
	const void *m;
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; (m = at(t, i)) != NULL && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", t->name(m));
}

static const char *rule_name(const void *m)
{
	return ((const struct fcl_rule *)m)->name;
}

static const char *strategy_name(const void *m)
{
	return ((const struct fcl_strategy_method *)m)->name;
}

static struct methods rules = {.builtin = (const void *const *)builtin_rules,
			       .n_builtin = sizeof builtin_rules / sizeof builtin_rules[0],
			       .name = rule_name};
static struct methods strategies = {.builtin = (const void *const *)builtin_strategies,
				    .n_builtin =
					sizeof builtin_strategies / sizeof builtin_strategies[0],
				    .name = strategy_name};

const struct fcl_rule *fcl_rule_at(size_t i)
{
	return at(&rules, i);
}

const struct fcl_rule *fcl_rule_find(const char *name)
{
	return find(&rules, name);
}

int fcl_rule_register(const struct fcl_rule *rule)
{
	return add(&rules, rule);
}

void fcl_rule_names(char *buf, size_t len)
{
	names(&rules, buf, len);
}

const struct fcl_strategy_method *fcl_strategy_at(size_t i)
{
	return at(&strategies, i);
}

const struct fcl_strategy_method *fcl_strategy_find(const char *name)
{
	return find(&strategies, name);
}

int fcl_strategy_register(const struct fcl_strategy_method *method)
{
	return add(&strategies, method);
}

void fcl_strategy_names(char *buf, size_t len)
{
	names(&strategies, buf, len);
}
