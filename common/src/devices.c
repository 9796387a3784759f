/* common/src/devices.c - device profiles compiled for every logical client (fcl/devices.h)
 *
 * Each quantity of client c is drawn from its own stream (seed, FCL_RNG_DEVICE,
 * c, quantity), so adding a group or a quantity never moves another draw.
 * Availability is a list of online spells per client:
 *   always  one spell [0, inf)
 *   on-off  alternating spells with exponential lengths (means `on` and `off`);
 *           the first is online with probability on / (on + off), the share of
 *           time the process spends online. Spells are drawn from the client's
 *           stream as far as queries need, always in the same order, so the
 *           answer for a time does not depend on which times were asked first.
 *   trace   the spells a CSV file lists (client,start,end), optionally repeating
 *           every `period` seconds; a client the file does not list is always on.
 */
#include "fcl/devices.h"

#include "fcl/scenario.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A uniform double in (0, 1]. */
static double uniform_open0(struct fcl_rng *rng)
{
	return (double)((fcl_rng_next(rng) >> 11) + 1) * 0x1.0p-53;
}

/* The profile that holds client c: the last group naming it, else the section's. */
static const struct fcl_device_profile *profile_of(const struct fcl_scenario *sc, uint32_t c)
{
	for (uint32_t i = sc->devices.n_groups; i-- > 0;)
		if (c >= sc->devices.groups[i].lo && c <= sc->devices.groups[i].hi)
			return &sc->devices.groups[i].p;
	return &sc->devices.base;
}

static double draw(const struct fcl_dist *d, uint64_t seed, uint32_t c, uint32_t quantity)
{
	struct fcl_rng rng;

	fcl_rng_init(&rng, seed, FCL_RNG_DEVICE, c, quantity);
	switch (d->kind) {
	case FCL_DIST_UNIFORM:
		return d->lo + (d->hi - d->lo) * (1.0 - uniform_open0(&rng));
	case FCL_DIST_LOGNORMAL:
		return d->median * exp(d->sigma * (double)fcl_rng_normal(&rng));
	case FCL_DIST_TABLE:
		return d->values[c % d->n_values];
	case FCL_DIST_FIXED:
	case FCL_DIST_INHERIT:
		break;
	}
	return d->value;
}

/* ---- spells ------------------------------------------------------------------ */

/* Room for one more spell. */
static int reserve(struct fcl_online *o)
{
	if (o->n < o->cap)
		return 0;
	uint32_t cap = o->cap ? 2 * o->cap : 4;
	double *a = realloc(o->on, cap * sizeof *a);
	if (!a)
		return -ENOMEM;
	o->on = a;
	double *b = realloc(o->off, cap * sizeof *b);
	if (!b)
		return -ENOMEM;
	o->off = b;
	o->cap = cap;
	return 0;
}

/* Appends [on, off) after the last spell (on >= its start), merging when they touch. */
static int add_spell(struct fcl_online *o, double on, double off)
{
	if (!(off > on))
		return 0;
	if (o->n && on <= o->off[o->n - 1]) {
		if (off > o->off[o->n - 1])
			o->off[o->n - 1] = off;
		return 0;
	}
	int rc = reserve(o);
	if (rc)
		return rc;
	o->on[o->n] = on;
	o->off[o->n] = off;
	o->n++;
	return 0;
}

/* On-off: draws spells until an online one ends after t (there always is one). */
static int draw_spells(struct fcl_online *o, double t)
{
	int rc;

	while (o->n == 0 || o->off[o->n - 1] <= t) {
		double len = -(o->next_on ? o->mean_on : o->mean_off) * log(uniform_open0(&o->rng));
		if (o->next_on && (rc = add_spell(o, o->drawn, o->drawn + len)) != 0)
			return rc;
		o->drawn += len;
		o->next_on = !o->next_on;
	}
	return 0;
}

/* The first spell that ends after t, or o->n. */
static uint32_t spell_after(const struct fcl_online *o, double t)
{
	uint32_t lo = 0, hi = o->n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (o->off[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Online at t (spells known past t), and until when; no period. */
static int online_once(const struct fcl_online *o, double t, double *until)
{
	uint32_t i = spell_after(o, t);
	if (i == o->n) {
		*until = HUGE_VAL;
		return 0;
	}
	if (o->on[i] <= t) {
		*until = o->off[i];
		return 1;
	}
	*until = o->on[i];
	return 0;
}

/* A trace repeating every period: the spells lie in [0, period). */
static int online_periodic(const struct fcl_online *o, double t, double *until)
{
	double P = o->period, base = floor(t / P) * P;
	double u, first_on = o->n ? o->on[0] : HUGE_VAL, last_off = o->n ? o->off[o->n - 1] : 0;
	int on = online_once(o, t - base, &u);

	if (o->n == 0) {
		*until = HUGE_VAL;
		return 0;
	}
	if (o->n == 1 && first_on <= 0 && last_off >= P) { /* online all the time */
		*until = HUGE_VAL;
		return 1;
	}
	if (on) /* a spell that reaches the period's end goes on into the next one's first */
		*until = base + (u >= P && first_on <= 0 ? P + o->off[0] : u);
	else
		*until = u < HUGE_VAL ? base + u : base + P + first_on;
	return on;
}

int fcl_devices_online(struct fcl_devices *d, uint32_t c, double t, double *until)
{
	struct fcl_online *o = &d->online[c];

	switch (o->kind) {
	case FCL_AVAIL_ON_OFF:
		if (draw_spells(o, t) != 0) {
			*until = t;
			return -ENOMEM;
		}
		return online_once(o, t, until);
	case FCL_AVAIL_TRACE:
		if (o->period > 0)
			return online_periodic(o, t, until);
		return online_once(o, t, until);
	default:
		*until = HUGE_VAL;
		return 1;
	}
}

/* The availability of client c (a group's, unless it inherits). */
static const struct fcl_availability *avail_of(const struct fcl_scenario *sc, uint32_t c)
{
	const struct fcl_availability *a = &profile_of(sc, c)->avail;
	return a->kind == FCL_AVAIL_INHERIT ? &sc->devices.base.avail : a;
}

/* ---- traces -------------------------------------------------------------------- */

/* One line "client,start,end" (or blank, a comment, the header). 1 with the
 * values, 0 for nothing, -1 for a malformed line. */
static int parse_line(const char *line, uint32_t *c, double *a, double *b)
{
	unsigned long id;
	char *end;

	while (*line == ' ' || *line == '\t')
		line++;
	if (*line == '\0' || *line == '\n' || *line == '#' || !strncmp(line, "client", 6))
		return 0;
	if (*line < '0' || *line > '9')
		return -1;
	id = strtoul(line, &end, 10);
	if (*end != ',' || id > UINT32_MAX)
		return -1;
	*a = strtod(end + 1, &end);
	if (*end != ',')
		return -1;
	*b = strtod(end + 1, &end);
	while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
		end++;
	*c = (uint32_t)id;
	return *end ? -1 : 1;
}

static int cmp_spell(const void *x, const void *y)
{
	const double *a = x, *b = y;
	return (a[0] > b[0]) - (a[0] < b[0]);
}

/* Sorts a client's spells (kept in on[] as read, paired with off[]) and merges them. */
static int sort_spells(struct fcl_online *o)
{
	uint32_t n = o->n;
	double *pairs = malloc(2 * (size_t)n * sizeof *pairs);
	if (n && !pairs)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		pairs[2 * i] = o->on[i];
		pairs[2 * i + 1] = o->off[i];
	}
	qsort(pairs, n, 2 * sizeof *pairs, cmp_spell);
	o->n = 0;
	for (uint32_t i = 0; i < n; i++)
		add_spell(o, pairs[2 * i], pairs[2 * i + 1]); /* shrinks: never allocates */
	free(pairs);
	return 0;
}

/* Appends a spell as read (unsorted); sort_spells orders them. */
static int push_spell(struct fcl_online *o, double on, double off)
{
	int rc = reserve(o);
	if (rc)
		return rc;
	o->on[o->n] = on;
	o->off[o->n] = off;
	o->n++;
	return 0;
}

/* Reads trace file `a` into the clients whose profile has it. */
static int load_trace(struct fcl_devices *d, const struct fcl_scenario *sc,
		      const struct fcl_availability *a, char *err, size_t errlen)
{
	FILE *f = fopen(a->trace, "r");
	char line[256];
	unsigned lineno = 0;
	int rc = 0;

	if (!f) {
		snprintf(err, errlen, "%s: cannot read the availability trace: %s", a->trace,
			 strerror(errno));
		return -EIO;
	}
	while (!rc && fgets(line, sizeof line, f)) {
		uint32_t c;
		double on, off;
		int got = parse_line(line, &c, &on, &off);
		lineno++;
		line[strcspn(line, "\r\n")] = '\0'; /* for the message */
		if (got == 0)
			continue;
		if (got < 0 || c >= d->n_clients || !(on >= 0) || !(off > on) || !isfinite(off) ||
		    (a->period > 0 && off > a->period)) {
			snprintf(err, errlen,
				 "%s:%u: expected client,start,end with a client below %u and "
				 "0 <= start < end%s (got %.60s)",
				 a->trace, lineno, d->n_clients, a->period > 0 ? " <= period" : "",
				 line);
			rc = -EINVAL;
		} else if (avail_of(sc, c) == a) {
			rc = push_spell(&d->online[c], on, off);
		}
	}
	fclose(f);
	for (uint32_t c = 0; !rc && c < d->n_clients; c++)
		if (avail_of(sc, c) == a)
			rc = sort_spells(&d->online[c]);
	return rc;
}

/* ---- compiling ------------------------------------------------------------------ */

static void init_online(struct fcl_online *o, const struct fcl_availability *a, uint64_t seed,
			uint32_t c)
{
	memset(o, 0, sizeof *o);
	o->kind = a->kind;
	if (a->kind == FCL_AVAIL_TRACE) {
		o->period = a->period;
	} else if (a->kind == FCL_AVAIL_ON_OFF) {
		o->mean_on = a->on_s;
		o->mean_off = a->off_s;
		fcl_rng_init(&o->rng, seed, FCL_RNG_DEVICE_ONOFF, c, FCL_RNG_NO_ROUND);
		o->next_on = uniform_open0(&o->rng) <= a->on_s / (a->on_s + a->off_s);
	}
}

int fcl_devices_compile(struct fcl_devices *d, const struct fcl_scenario *sc, char *err,
			size_t errlen)
{
	uint32_t N = sc->clients.count;
	int rc = 0;

	memset(d, 0, sizeof *d);
	d->n_clients = N;
	d->dev = calloc(N, sizeof *d->dev);
	d->online = calloc(N, sizeof *d->online);
	if (!d->dev || !d->online) {
		fcl_devices_fini(d);
		return -ENOMEM;
	}
	for (uint32_t c = 0; c < N; c++) {
		const struct fcl_device_profile *p = profile_of(sc, c), *b = &sc->devices.base;
		const struct fcl_dist *q[4] = {&p->speed, &p->up, &p->down, &p->latency};
		const struct fcl_dist *qb[4] = {&b->speed, &b->up, &b->down, &b->latency};
		double v[4];
		for (uint32_t k = 0; k < 4; k++)
			v[k] = draw(q[k]->kind == FCL_DIST_INHERIT ? qb[k] : q[k], sc->seed, c, k);
		d->dev[c] =
		    (struct fcl_device){.speed = v[0], .up = v[1], .down = v[2], .latency = v[3]};
		init_online(&d->online[c], avail_of(sc, c), sc->seed, c);
	}
	/* each trace file once, for the clients of the profiles that name it */
	for (uint32_t g = 0; !rc && g <= sc->devices.n_groups; g++) {
		const struct fcl_availability *a =
		    g ? &sc->devices.groups[g - 1].p.avail : &sc->devices.base.avail;
		if (a->kind == FCL_AVAIL_TRACE)
			rc = load_trace(d, sc, a, err, errlen);
	}
	for (uint32_t c = 0; !rc && c < N; c++) /* not in its trace: always online */
		if (d->online[c].kind == FCL_AVAIL_TRACE && d->online[c].n == 0)
			d->online[c].kind = FCL_AVAIL_ALWAYS;
	if (rc) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory for the availability traces");
		fcl_devices_fini(d);
	}
	return rc;
}

void fcl_devices_fini(struct fcl_devices *d)
{
	for (uint32_t c = 0; d->online && c < d->n_clients; c++) {
		free(d->online[c].on);
		free(d->online[c].off);
	}
	free(d->online);
	free(d->dev);
	memset(d, 0, sizeof *d);
}

double fcl_devices_duration(const struct fcl_devices *d, uint32_t c, uint64_t samples,
			    uint64_t bytes_down, uint64_t bytes_up)
{
	const struct fcl_device *v = &d->dev[c];
	return v->latency + (double)bytes_down / v->down + (double)samples / v->speed + v->latency +
	       (double)bytes_up / v->up;
}

int fcl_devices_write_csv(const struct fcl_devices *d, const char *path)
{
	static const char *const kinds[] = {"always", "on-off", "trace"};
	FILE *f = fopen(path, "w");
	if (!f)
		return -EIO;
	fprintf(f, "client,speed,up,down,latency,availability\n");
	for (uint32_t c = 0; c < d->n_clients; c++) {
		const struct fcl_device *v = &d->dev[c];
		int k = d->online[c].kind;
		fprintf(f, "%u,%.9g,%.9g,%.9g,%.9g,%s\n", c, v->speed, v->up, v->down, v->latency,
			k >= 0 && k <= FCL_AVAIL_TRACE ? kinds[k] : "?");
	}
	return fclose(f) == 0 ? 0 : -EIO;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

void fcl_devices_speed_range(const struct fcl_devices *d, double *lo, double *median, double *hi)
{
	double *v = malloc(d->n_clients * sizeof *v);
	*lo = *median = *hi = NAN;
	if (!v || d->n_clients == 0) {
		free(v);
		return;
	}
	for (uint32_t c = 0; c < d->n_clients; c++)
		v[c] = d->dev[c].speed;
	qsort(v, d->n_clients, sizeof *v, cmp_double);
	*lo = v[0];
	*median = d->n_clients % 2 ? v[d->n_clients / 2]
				   : (v[d->n_clients / 2 - 1] + v[d->n_clients / 2]) / 2;
	*hi = v[d->n_clients - 1];
	free(v);
}
