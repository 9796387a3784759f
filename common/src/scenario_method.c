/* common/src/scenario_method.c - sections whose keys a federated method declares
 *
 *   aggregation: {rule: fot, threshold: 0.9, ...}
 *   strategy:    {name: der++, memory: 500, alpha: 0.3, groups: [...]}
 *
 * The selector key (rule, name) picks a method from the registry; the other
 * keys are the section's own (memory, wa, groups) plus those the method
 * declares (struct fcl_key, over its params struct). A key that only another
 * method declares is an error naming that method: `{rule: fedavg, mu: 0.1}`
 * would otherwise run FedAvg as if mu meant something. Scenarios written for
 * sweeps put other methods' keys in a block named after the method,
 *
 *   aggregation: {rule: fedavg, krum: {byzantine: 2}, trimmed-mean: {trim: 0.2}}
 *
 * which is checked against that method's declaration and applies when the
 * method is the one chosen (--set aggregation.rule=krum). At the top of a
 * strategy section, the keys of a method that a group names are the group's.
 */
#include "scenario-private.h"

#include "fcl/rule.h"
#include "fcl/strategy.h"

#include <string.h>

#define MAX_KEYS 64 /* walk_map tracks keys seen in a 64-bit mask */

/* The walker's field for a method's key: same handlers as the rest of the file. */
static int get_key_section(struct ctx *c, const struct field *f, struct fy_node *key,
			   struct fy_node *val, const char *path);

static struct field field_of(const struct fcl_key *k)
{
	struct field f = {.key = k->name, .off = k->off, .in_params = true};
	switch (k->type) {
	case FCL_KEY_U32:
		f.fn = fcl__scn_get_u32;
		f.lo = (uint64_t)k->lo;
		f.hi = (uint64_t)k->hi;
		break;
	case FCL_KEY_F32:
	case FCL_KEY_F64:
		f.fn = k->type == FCL_KEY_F32 ? fcl__scn_get_f32 : fcl__scn_get_f64;
		f.flo = k->lo;
		f.fhi = k->hi;
		f.flo_open = k->lo_open;
		f.fhi_open = k->hi_open;
		break;
	case FCL_KEY_BOOL:
		f.fn = fcl__scn_get_bool;
		break;
	case FCL_KEY_CHOICE:
		f.fn = fcl__scn_get_choice;
		f.choices = k->choices;
		break;
	default:
		f.fn = get_key_section;
		f.keys = k->sub;
		break;
	}
	return f;
}

/* tab = common (may be NULL) followed by the method's keys; {0}-terminated. */
static size_t build_table(struct field *tab, const struct field *common, const struct fcl_key *keys)
{
	size_t n = 0;
	for (; common && common->key && n < MAX_KEYS - 1; common++)
		tab[n++] = *common;
	for (; keys && keys->name && n < MAX_KEYS - 1; keys++)
		tab[n++] = field_of(keys);
	memset(&tab[n], 0, sizeof tab[n]);
	return n;
}

static int walk_keys(struct ctx *c, const struct field *common, const struct fcl_key *keys,
		     fcl__scn_foreign_fn foreign, void *params, struct fy_node *map,
		     const char *path, struct fy_node *owner);

static int get_key_section(struct ctx *c, const struct field *f, struct fy_node *key,
			   struct fy_node *val, const char *path)
{
	char g[GOT_MAX];
	if (!fy_node_is_mapping(val))
		return fcl__scn_fail(c, key, NULL, path, "expected a mapping (got %s)",
				     fcl__scn_got(val, g, sizeof(g)));
	return walk_keys(c, NULL, f->keys, NULL, c->params, val, path, key);
}

int fcl__scn_walk_foreign(struct ctx *c, const struct fcl_key *k, struct fy_node *key,
			  struct fy_node *val, const char *path)
{
	_Alignas(16) unsigned char scratch[FCL_METHOD_PARAMS_MAX];
	struct field f = field_of(k);
	void *saved = c->params;
	c->params = scratch;
	int rc = f.fn(c, &f, key, val, path);
	c->params = saved;
	return rc;
}

static int walk_keys(struct ctx *c, const struct field *common, const struct fcl_key *keys,
		     fcl__scn_foreign_fn foreign, void *params, struct fy_node *map,
		     const char *path, struct fy_node *owner)
{
	struct field tab[MAX_KEYS];
	void *saved = c->params;

	build_table(tab, common, keys);
	c->params = params;
	int rc = fcl__scn_walk_map_ex(c, tab, map, path, owner, foreign);
	c->params = saved;
	return rc;
}

/* ---- other methods' keys and blocks ---------------------------------------- */

typedef const struct fcl_key *(*keys_at_fn)(size_t i, const char **name);

static const struct fcl_key *rule_keys_at(size_t i, const char **name)
{
	const struct fcl_rule *r = fcl_rule_at(i);
	*name = r ? r->name : NULL;
	return r ? r->keys : NULL;
}

static const struct fcl_key *strategy_keys_at(size_t i, const char **name)
{
	const struct fcl_strategy_method *m = fcl_strategy_at(i);
	*name = m ? m->name : NULL;
	return m ? m->keys : NULL;
}

static const struct fcl_key *find_in(const struct fcl_key *keys, const char *name)
{
	for (const struct fcl_key *k = keys; k && k->name; k++)
		if (!strcmp(k->name, name))
			return k;
	return NULL;
}

/* The methods that declare key `name`, as "a, b or c" into out; its first
 * declaration, or NULL when none does. */
static const struct fcl_key *owners(keys_at_fn at, const char *name, char *out, size_t len)
{
	const struct fcl_key *first = NULL, *k;
	const char *m, *prev = NULL;
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; at(i, &m) || m; i++) {
		if (!(k = find_in(at(i, &m), name)))
			continue;
		if (prev)
			n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s",
					      n ? ", " : "", prev);
		prev = m;
		first = first ? first : k;
	}
	if (prev)
		snprintf(out + n, n < len ? len - n : 0, "%s%s", n ? " or " : "", prev);
	return first;
}

/* Does a group of the strategy section (c->top_map) name a method that declares `name`? */
static const struct fcl_key *group_key(struct ctx *c, const char *name)
{
	struct fy_node *groups = c->top_map ? fy_node_mapping_lookup_by_string(c->top_map,
										 "groups", FY_NT)
					    : NULL;
	struct fy_node *item;
	void *it = NULL;

	while (groups && fy_node_is_sequence(groups) &&
	       (item = fy_node_sequence_iterate(groups, &it))) {
		struct fy_node *m = fy_node_is_mapping(item)
					? fy_node_mapping_lookup_by_string(item, "name", FY_NT)
					: NULL;
		const struct fcl_strategy_method *sm = m ? fcl_strategy_find(fcl__scn_text(m)) : NULL;
		const struct fcl_key *k = sm ? find_in(sm->keys, name) : NULL;
		if (k)
			return k;
	}
	return NULL;
}

/* A block of method `name` (its keys): walked into the section's params when
 * it is the method chosen, else into scratch (checked, then ignored). */
static int method_block(struct ctx *c, const struct fcl_key *keys, int chosen,
			struct fy_node *key, struct fy_node *val, const char *path)
{
	_Alignas(16) unsigned char scratch[FCL_METHOD_PARAMS_MAX];
	char g[GOT_MAX];
	void *saved = c->params;
	const char *method = c->method;
	int rc;

	if (!fy_node_is_mapping(val))
		return fcl__scn_fail(c, key, NULL, path,
				     "expected a mapping of that method's keys (got %s)",
				     fcl__scn_got(val, g, sizeof(g)));
	struct field tab[MAX_KEYS];
	build_table(tab, NULL, keys);
	c->params = chosen ? saved : scratch;
	c->method = NULL; /* inside a block only its method's keys */
	rc = fcl__scn_walk_map_ex(c, tab, val, path, key, NULL);
	c->params = saved;
	c->method = method;
	return rc;
}

/* A key another method declares, or another method's block. */
static int foreign_key(struct ctx *c, keys_at_fn at, struct fy_node *key, struct fy_node *val,
		       const char *path, const char *name)
{
	char who[512];
	const char *m;

	for (size_t i = 0; at(i, &m) || m; i++)
		if (!strcmp(m, name))
			return method_block(c, at(i, &m), c->method && !strcmp(c->method, name), key,
					    val, path);
	const struct fcl_key *k0 = owners(at, name, who, sizeof who);
	if (!k0)
		return 1;
	/* weighting says how the averaging rules weigh updates; a sweep over rules
	 * keeps it, and the rules that do not average (median, krum ...) have none */
	if (at == rule_keys_at && !strcmp(name, "weighting"))
		return fcl__scn_walk_foreign(c, k0, key, val, path);
	char first[64];
	snprintf(first, sizeof first, "%.*s", (int)strcspn(who, ", "), who);
	if (at == strategy_keys_at && c->top_map && group_key(c, name)) {
		/* a group's method's key, set at the top for the groups to inherit */
		const struct fcl_key *k = group_key(c, name);
		return fcl__scn_walk_foreign(c, k, key, val, path);
	}
	return fcl__scn_fail(c, key, NULL, path,
			     "expected only with %s: %s (got %s: %s); a scenario for several "
			     "methods puts it in a block named after its method, e.g. %s: {%s: ...}",
			     c->selector, who, c->selector, c->method ? c->method : "?", first,
			     name);
}

static int foreign_rule(struct ctx *c, struct fy_node *key, struct fy_node *val,
			const char *path, const char *name)
{
	return foreign_key(c, rule_keys_at, key, val, path, name);
}

static int foreign_strategy(struct ctx *c, struct fy_node *key, struct fy_node *val,
			    const char *path, const char *name)
{
	return foreign_key(c, strategy_keys_at, key, val, path, name);
}

/* The selector's value (rule, name) as a method name, checked to be a plain scalar. */
static int selector(struct ctx *c, struct fy_node *map, const char *sel, const char *path,
		    const char *names, const char **out, struct fy_node **at)
{
	struct fy_node_pair *p = fy_node_mapping_lookup_pair_by_string(map, sel, FY_NT);
	char what[600], kpath[KEYPATH_MAX];

	*out = NULL;
	*at = p ? fy_node_pair_value(p) : NULL;
	if (!p)
		return 0;
	snprintf(what, sizeof what, "one of: %s", names);
	fcl__scn_join_path(kpath, sizeof kpath, path, sel);
	return fcl__scn_want_scalar(c, fy_node_pair_key(p), *at, kpath, what, false, out);
}

static int unknown_method(struct ctx *c, struct fy_node *at, const char *path, const char *sel,
			  const char *names)
{
	char kpath[KEYPATH_MAX], g[GOT_MAX];
	fcl__scn_join_path(kpath, sizeof kpath, path, sel);
	return fcl__scn_fail(c, at, NULL, kpath, "expected one of: %s (got %s)", names,
			     fcl__scn_got(at, g, sizeof g));
}

/* Accepts the selector key itself: it was read before the walk. */
static int get_selected(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path)
{
	(void)c, (void)f, (void)key, (void)val, (void)path;
	return 0;
}

/* ---- aggregation ---------------------------------------------------------- */

void fcl__scn_choose_rule(struct fcl_scenario *sc, const struct fcl_rule *rule)
{
	sc->aggregation.rule = rule;
	memset(sc->aggregation.params, 0, sizeof sc->aggregation.params);
	if (rule->defaults)
		rule->defaults(sc->aggregation.params);
}

int fcl__scn_get_rule_section(struct ctx *c, const struct field *f, struct fy_node *key,
			      struct fy_node *val, const char *path)
{
	/* rule, then the keys of simulated time (scenario_time.c) */
	struct field common[1 + FCL__SCN_TIME_AGGREGATION_KEYS + 1] = {
	    {.key = "rule", .fn = get_selected}};
	char names[512], g[GOT_MAX];
	const struct fcl_rule *rule = c->sc->aggregation.rule;
	const char *name;
	struct fy_node *at;
	int rc;

	(void)f;
	memcpy(common + 1, fcl__scn_time_aggregation_fields,
	       FCL__SCN_TIME_AGGREGATION_KEYS * sizeof *common);
	if (!fy_node_is_mapping(val))
		return fcl__scn_fail(c, key, NULL, path, "expected a mapping (got %s)",
				     fcl__scn_got(val, g, sizeof(g)));
	fcl_rule_names(names, sizeof names);
	if ((rc = selector(c, val, "rule", path, names, &name, &at)) != 0)
		return rc;
	if (name && !(rule = fcl_rule_find(name)))
		return unknown_method(c, at, path, "rule", names);
	fcl__scn_choose_rule(c->sc, rule);
	c->method = rule->name;
	c->selector = "rule";
	rc = walk_keys(c, common, rule->keys, foreign_rule, c->sc->aggregation.params, val, path,
		       key);
	c->method = NULL;
	return rc;
}

/* ---- strategy ------------------------------------------------------------- */

#define SOFF(m) offsetof(struct fcl_scenario, strategy.m)
#define STRATEGY_COMMON                                                                            \
	{.key = "name", .fn = get_selected, .required = true},                                     \
	    {.key = "memory",                                                                      \
	     .fn = fcl__scn_get_u32,                                                               \
	     .off = SOFF(memory),                                                                  \
	     .lo = 0,                                                                              \
	     .hi = 10000000},                                                                      \
	{                                                                                          \
		.key = "wa", .fn = fcl__scn_get_bool, .off = SOFF(wa)                              \
	}

/* strategy.groups: a list of mappings, walked after the strategy section
 * (fcl__scn_strategy_groups) so that every group inherits the complete strategy. */
static int get_group_list(struct ctx *c, const struct field *f, struct fy_node *key,
			  struct fy_node *val, const char *path)
{
	char g[GOT_MAX];
	int n = fy_node_is_sequence(val) ? fy_node_sequence_item_count(val) : -1;

	(void)f;
	if (n < 1 || n > FCL_SCENARIO_MAX_STRATEGY_GROUPS)
		return fcl__scn_fail(c, key, NULL, path, "expected a list of 1..%d groups (got %s)",
				     FCL_SCENARIO_MAX_STRATEGY_GROUPS,
				     fcl__scn_got(val, g, sizeof(g)));
	return 0;
}

static const struct field strategy_common[] = {
    STRATEGY_COMMON,
    {.key = "groups", .fn = get_group_list, .slot = S_GROUPS},
    {0},
};
static const struct field group_common[] = {
    {.key = "clients", .fn = fcl__scn_get_group_clients, .required = true},
    STRATEGY_COMMON,
    {0},
};

/* The method a strategy mapping names, or `fallback` when it names none. */
static int strategy_method(struct ctx *c, struct fy_node *map, const char *path,
			   const struct fcl_strategy_method *fallback,
			   const struct fcl_strategy_method **out)
{
	char names[512];
	const char *name;
	struct fy_node *at;
	int rc;

	fcl_strategy_names(names, sizeof names);
	if ((rc = selector(c, map, "name", path, names, &name, &at)) != 0)
		return rc;
	*out = name ? fcl_strategy_find(name) : fallback;
	return *out ? 0 : unknown_method(c, at, path, "name", names);
}

int fcl__scn_get_strategy_section(struct ctx *c, const struct field *f, struct fy_node *key,
				  struct fy_node *val, const char *path)
{
	struct fcl_strategy_config *cfg = &c->sc->strategy;
	const struct fcl_strategy_method *m;
	char g[GOT_MAX];
	int rc;

	(void)f;
	if (!fy_node_is_mapping(val))
		return fcl__scn_fail(c, key, NULL, path, "expected a mapping (got %s)",
				     fcl__scn_got(val, g, sizeof(g)));
	if ((rc = strategy_method(c, val, path, cfg->method, &m)) != 0)
		return rc;
	fcl_strategy_config_choose(cfg, m->name);
	c->method = m->name;
	c->selector = "strategy.name";
	c->top_map = val;
	rc = walk_keys(c, strategy_common, m->keys, foreign_strategy, cfg->params, val, path, key);
	c->method = NULL;
	c->top_map = NULL;
	return rc;
}

/* The top-level keys that method m declares, for a group of m under a top of another method. */
static int inherit_keys(struct ctx *c, const struct fcl_strategy_method *m, struct fy_node *top)
{
	struct fy_node_pair *p;
	void *it = NULL;
	void *saved = c->params;
	int rc = 0;

	c->params = c->sc->strategy.params;
	while (!rc && (p = fy_node_mapping_iterate(top, &it))) {
		const char *name = fcl__scn_text(fy_node_pair_key(p));
		for (const struct fcl_key *k = m->keys; k && k->name && !rc; k++) {
			if (strcmp(k->name, name))
				continue;
			struct field f = field_of(k);
			rc = f.fn(c, &f, fy_node_pair_key(p), fy_node_pair_value(p), "strategy");
		}
	}
	c->params = saved;
	return rc;
}

/* One group: the top-level settings, then its own keys. */
static int walk_group(struct ctx *c, struct fy_node *item, const char *path,
		      const struct fcl_strategy_config *top, struct fy_node *top_node)
{
	struct fcl_scenario *sc = c->sc;
	const struct fcl_strategy_method *m;
	int rc = strategy_method(c, item, path, top->method, &m);

	if (rc)
		return rc;
	sc->strategy = *top; /* a group inherits what it does not set */
	if (m != top->method) {
		fcl_strategy_config_choose(&sc->strategy, m->name);
		if ((rc = inherit_keys(c, m, top_node)) != 0)
			return rc;
	}
	c->method = m->name;
	c->selector = "name";
	rc = walk_keys(c, group_common, m->keys, foreign_strategy, sc->strategy.params, item, path,
		       item);
	c->method = NULL;
	return rc;
}

/* Checks a strategy against the rest of the scenario; at is where to point. */
static int check_method(struct ctx *c, const struct fcl_strategy_config *cfg, struct fy_node *at,
			struct fy_node *alt, const char *path)
{
	const struct fcl_scenario *sc = c->sc;
	const struct fcl_strategy_method *m = cfg->method;

	if (sc->tasks.kind == FCL_TASKS_TASK_INCREMENTAL && !m->task_incremental)
		return fcl__scn_fail(c, at, alt, path,
				     "expected finetune with tasks.generator task-incremental (%s "
				     "does not mask logits by task yet)",
				     m->name);
	if (m->bias_free_head && sc->model.head_bias)
		return fcl__scn_fail(c, at, alt, path,
				     "expected model.head_bias: false with %s (its logits are "
				     "scaled cosines of a bias-free head: docs/scenarios.md)",
				     m->name);
	if (fcl_scenario_feature_layers(sc) < m->min_hidden)
		return fcl__scn_fail(c, at, alt, path,
				     "expected model.hidden to have at least %u layer(s) for %s, "
				     "or a body of convolutions before the head (got %u)",
				     m->min_hidden, m->name, fcl_scenario_hidden_dense(sc));
	return 0;
}

int fcl__scn_strategy_groups(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	struct fcl_strategy_config top = sc->strategy;
	struct fy_node *item;
	char path[KEYPATH_MAX];
	void *it = NULL;
	uint32_t i = 0;
	int rc;

	rc = check_method(c, &top, c->val[S_STRATEGY], c->key[S_STRATEGY], "strategy.name");
	if (rc || !c->val[S_GROUPS])
		return rc;
	while ((item = fy_node_sequence_iterate(c->val[S_GROUPS], &it))) {
		char g[GOT_MAX];
		snprintf(path, sizeof path, "strategy.groups[%u]", i);
		if (!fy_node_is_mapping(item))
			return fcl__scn_fail(c, item, c->key[S_GROUPS], path,
					     "expected a mapping (got %s)",
					     fcl__scn_got(item, g, sizeof(g)));
		rc = walk_group(c, item, path, &top, c->val[S_STRATEGY]);
		if (!rc && c->group_last >= sc->clients.count)
			rc = fcl__scn_fail(c, item, NULL, path,
					   "expected clients within 0..%u (got [%u, %u])",
					   sc->clients.count - 1, c->group_first, c->group_last);
		rc = rc ? rc : check_method(c, &sc->strategy, item, NULL, path);
		if (rc) {
			sc->strategy = top;
			return rc;
		}
		sc->strategy_groups[i].first = c->group_first;
		sc->strategy_groups[i].last = c->group_last;
		sc->strategy_groups[i].cfg = sc->strategy;
		i++;
	}
	sc->strategy = top;
	sc->n_strategy_groups = i;
	return 0;
}
