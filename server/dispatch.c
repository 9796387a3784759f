/* server/dispatch.c - the coordinator's state machine: event x phase -> action
 *
 * Each event (a message by its type, the deadline, a departure) runs the action
 * the table below names for the round's phase. Actions return 0 or a negative
 * errno; one that fails ends the run with a reason ("out of memory"), so that
 * the run folder is still written and every client is told.
 */
#include "dispatch.h"
#include "checkpoint.h"
#include "dispatch-private.h"
#include "evaluate.h"
#include "report.h"
#include "round.h"
#include "sim.h"

#include "fcl/log.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

/* the checkpoints' actions (dispatch_ckpt.c), by short names for the table */
#define take_state coord_dispatch__take_state
#define restored coord_dispatch__take_restored
#define stale coord_dispatch__stale
#define save_late coord_dispatch__save_timeout
#define restore_late coord_dispatch__restore_timeout
#define recover_late coord_dispatch__recover_timeout
#define lost_again coord_dispatch__lost_again

static action_fn admit, refuse_late, too_early, take_update, take_partial, take_answer, peer_error,
    unexpected, stranger, join_timeout, round_deadline, left, gone, ignore, sim_update, sim_answer,
    sim_deadline;

/* The state machine: what each event does in each phase. SIMULATING is the
 * rounds in simulated time (a devices section, sim.h). After the run (DONE)
 * every client disconnects and stray messages may still come: nothing to do.
 * The checkpoints' phases have the second table (their actions: dispatch_ckpt.c). */
/* clang-format off */
static action_fn *const machine[N_EVENTS][COORD_DONE + 1] = {
	/*              JOINING        TRAINING        SIMULATING    DONE */
	[EV_HELLO]    = {admit,        refuse_late,    refuse_late,  ignore},
	[EV_UPDATE]   = {too_early,    take_update,    sim_update,   ignore},
	[EV_PARTIAL]  = {too_early,    take_partial,   unexpected,   ignore},
	[EV_RULE]     = {too_early,    take_answer,    sim_answer,   ignore},
	[EV_STATE]    = {unexpected,   unexpected,     unexpected,   ignore},
	[EV_RESTORED] = {unexpected,   unexpected,     unexpected,   ignore},
	[EV_ERROR]    = {peer_error,   peer_error,     peer_error,   ignore},
	[EV_OTHER]    = {unexpected,   unexpected,     unexpected,   ignore},
	[EV_STRANGER] = {stranger,     stranger,       stranger,     ignore},
	[EV_DEADLINE] = {join_timeout, round_deadline, sim_deadline, ignore},
	[EV_GONE]     = {left,         gone,           gone,         ignore},
};
static action_fn *const checkpoints[N_EVENTS][COORD_N_PHASES - COORD_SAVING] = {
	/*              SAVING         RESTORING       RECOVERING */
	[EV_HELLO]    = {refuse_late,  refuse_late,    admit},
	[EV_UPDATE]   = {too_early,    stale,          stale},
	[EV_PARTIAL]  = {too_early,    stale,          stale},
	[EV_RULE]     = {too_early,    stale,          stale},
	[EV_STATE]    = {take_state,   stale,          stale},
	[EV_RESTORED] = {unexpected,   restored,       stale},
	[EV_ERROR]    = {peer_error,   peer_error,     peer_error},
	[EV_OTHER]    = {unexpected,   unexpected,     unexpected},
	[EV_STRANGER] = {stranger,     stranger,       stranger},
	[EV_DEADLINE] = {save_late,    restore_late,   recover_late},
	[EV_GONE]     = {gone,         gone,           lost_again},
};
/* clang-format on */

static int start_run(struct coord_dispatch *d);
static int advance(struct coord_dispatch *d);

/* ---- entry points -------------------------------------------------------- */

void coord_dispatch_init(struct coord_dispatch *d, const struct coord_dispatch_config *cfg)
{
	memset(d, 0, sizeof *d);
	d->c = *cfg;
	d->welcome = (struct fcl_msg){.type = FCL_MSG_WELCOME,
				      .client_id = -1,
				      .protocol_version = FCL_PROTOCOL_VERSION,
				      .scenario_text = cfg->scenario_text,
				      .scenario_name = cfg->sc->name,
				      .scenario_hash = cfg->scenario_hash,
				      .seed = cfg->sc->seed,
				      .n_params = cfg->n_params,
				      .scenario_dir = cfg->scenario_dir};
}

void coord_dispatch_start(struct coord_dispatch *d)
{
	d->c.out.arm(d->c.out.ud, d->c.sc->run.join_timeout_s);
	char detail[640];
	if (d->c.resume)
		snprintf(detail, sizeof detail, "after %u rounds%s%s", d->c.round->round,
			 d->c.resume_note ? "; the run folder said: " : "",
			 d->c.resume_note ? d->c.resume_note : "");
	coord_report_event(d->c.report, d->c.round, d->c.resume ? "resumed" : "listening",
			   d->c.resume ? detail : NULL);
}

/* Why an action's error ends the run, in words. */
static const char *reason_of(struct coord_dispatch *d, int rc)
{
	if (d->c.report->io_error[0])
		return d->c.report->io_error;
	switch (rc) {
	case -ENOMEM:
		return "out of memory";
	case -ENOSPC:
	case -EDQUOT:
		return "disk full";
	case -EMFILE:
	case -ENFILE:
		return "too many open files";
	default:
		snprintf(d->reason, sizeof d->reason, "internal error (%s)", strerror(-rc));
		return d->reason;
	}
}

static int run(struct coord_dispatch *d, const struct event *e)
{
	enum coord_phase ph = d->c.round->phase;
	int rc = (ph <= COORD_DONE ? machine[e->kind][ph]
				   : checkpoints[e->kind][ph - COORD_SAVING])(d, e);
	if (rc < 0 && d->c.round->phase != COORD_DONE) {
		fcl_error("round %u: the run cannot go on: %s", d->c.round->round, strerror(-rc));
		coord_dispatch__finish(d, 1, reason_of(d, rc));
	} else if (d->c.report->io_error[0] && d->c.round->phase != COORD_DONE) {
		/* a file of the run folder could not be written: the record would be wrong */
		fcl_error("round %u: the run cannot go on: %s", d->c.round->round,
			  d->c.report->io_error);
		coord_dispatch__finish(d, 1, d->c.report->io_error);
	}
	return rc;
}

static enum event_kind kind_of(const struct fcl_msg *m, int from)
{
	if (m->type == FCL_MSG_HELLO)
		return EV_HELLO;
	if (from < 0)
		return EV_STRANGER;
	switch (m->type) {
	case FCL_MSG_CLIENT_UPDATE:
		return EV_UPDATE;
	case FCL_MSG_PARTIAL:
		return EV_PARTIAL;
	case FCL_MSG_RULE:
		return EV_RULE;
	case FCL_MSG_STATE:
		return EV_STATE;
	case FCL_MSG_RESTORED:
		return EV_RESTORED;
	case FCL_MSG_ERROR:
		return EV_ERROR;
	case FCL_MSG_NONE:
	case FCL_MSG_HELLO:
	case FCL_MSG_WELCOME:
	case FCL_MSG_ROUND_START:
	case FCL_MSG_SHUTDOWN:
	case FCL_MSG_SAVE:
	case FCL_MSG_RESTORE:
		break;
	}
	return EV_OTHER;
}

int coord_dispatch_message(struct coord_dispatch *d, int from, const struct fcl_msg *m,
			   size_t bytes)
{
	struct event e = {.kind = kind_of(m, from), .peer = from, .m = m, .bytes = bytes};

	FCL_ASSERT(e.kind == EV_HELLO ? from == (int)d->c.round->n_peers
				      : from < (int)d->c.round->n_peers);
	coord_report_up(d->c.report, bytes);
	if (from >= 0)
		coord_cost_message(&d->c.report->cost, m);
	return run(d, &e);
}

int coord_dispatch_hello(struct coord_dispatch *d, int from, const struct fcl_msg *m, size_t bytes,
			 const uint32_t *bound, size_t n_bound)
{
	struct event e = {.kind = EV_HELLO,
			  .peer = from,
			  .m = m,
			  .bytes = bytes,
			  .bound = bound,
			  .n_bound = n_bound};

	FCL_ASSERT(m->type == FCL_MSG_HELLO && from == (int)d->c.round->n_peers);
	coord_report_up(d->c.report, bytes);
	return run(d, &e);
}

int coord_dispatch_deadline(struct coord_dispatch *d)
{
	struct event e = {.kind = EV_DEADLINE, .peer = -1};
	return run(d, &e);
}

int coord_dispatch_peer_gone(struct coord_dispatch *d, uint32_t p, const char *addr,
			     const char *why)
{
	struct event e = {.kind = EV_GONE, .peer = (int)p, .addr = addr, .why = why};

	FCL_ASSERT(p < d->c.round->n_peers);
	return run(d, &e);
}

void coord_dispatch_cost(struct coord_dispatch *d, enum coord_cost_kind k, double seconds)
{
	coord_cost_add(&d->c.report->cost, k, seconds);
}

void coord_dispatch_drop(struct coord_dispatch *d, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	coord_report_dropped(d->c.report, why);
}

void coord_dispatch_stop(struct coord_dispatch *d, int exit_code, const char *reason)
{
	coord_dispatch__finish(d, exit_code, reason);
}

uint32_t coord_dispatch_peers(const struct coord_dispatch *d)
{
	return d->c.round->n_peers;
}

void coord_dispatch_rule_event(void *ud, const char *name, const char *detail)
{
	struct coord_dispatch *d = ud;
	coord_report_event(d->c.report, d->c.round, name, detail);
}

/* ---- output -------------------------------------------------------------- */

int coord_dispatch__send(struct coord_dispatch *d, uint32_t p, const struct fcl_msg *m)
{
	size_t bytes = 0;
	double t0 = fcl_now();
	int rc = d->c.out.send(d->c.out.ud, p, m, &bytes);
	coord_cost_add(&d->c.report->cost, COST_SEND, fcl_now() - t0);
	if (rc == 0)
		coord_report_down(d->c.report, bytes);
	return rc;
}

void coord_dispatch__format_ids(char *buf, size_t len, const uint32_t *ids, uint32_t n)
{
	size_t at = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < n && at + 24 < len; i++) {
		uint32_t j = i;
		while (j + 1 < n && ids[j + 1] == ids[j] + 1)
			j++;
		if (j > i)
			at += (size_t)snprintf(buf + at, len - at, "%s%u-%u", at ? "," : "", ids[i],
					       ids[j]);
		else
			at += (size_t)snprintf(buf + at, len - at, "%s%u", at ? "," : "", ids[i]);
		i = j;
		if (i + 1 < n && at + 24 >= len)
			snprintf(buf + at, len - at, ",...");
	}
}

/* ---- the run's course ---------------------------------------------------- */

int coord_dispatch__finish(struct coord_dispatch *d, int exit_code, const char *reason)
{
	struct coord_round *r = d->c.round;

	if (r->phase == COORD_DONE)
		return 0;
	if (d->c.ckpt && d->c.ckpt->writing)
		coord_ckpt_abandon(d->c.ckpt);
	coord_report_release(d->c.report); /* room for the last evaluation and the results */
	coord_round_finish(r);
	d->exit_code = exit_code;
	d->fail_reason = reason;
	struct fcl_msg m = {.type = FCL_MSG_SHUTDOWN,
			    .round = r->round,
			    .client_id = -1,
			    .text = reason ? reason : "run complete"};
	for (uint32_t p = 0; p < r->n_peers; p++)
		coord_dispatch__send(d, p, &m);
	/* The end of the run is evaluated too, when it stopped between evaluations. */
	int rc =
	    r->round > 0 && d->c.eval->has_init ? coord_eval_global(d->c.eval, r->round - 1, 0) : 0;
	if (rc && d->exit_code == 0) {
		d->exit_code = 1;
		d->fail_reason = reason_of(d, rc);
	}
	/* the final model, of a complete run only; an export that failed is said
	 * in events.jsonl and the log, and the run's results stand */
	if (d->exit_code == 0 && r->round > 0)
		coord_eval_export(d->c.eval, (int64_t)r->round - 1, -1);
	if (d->c.eval->export_error[0])
		coord_report_event(d->c.report, r, "export_dropped", d->c.eval->export_error);
	if (coord_report_close(d->c.report, r, d->c.eval, d->exit_code, d->fail_reason) != 0 &&
	    d->exit_code == 0) {
		d->exit_code = 1;
		d->fail_reason = d->c.report->io_error;
	}
	d->c.out.stop(d->c.out.ud);
	return 0;
}

/* coord_round_aggregate, its time split into aggregation and the rule's projection. */
static int timed_aggregate(struct coord_dispatch *d)
{
	struct coord_cost *c = &d->c.report->cost;
	double t0 = fcl_now(), p0 = d->c.round->agg->project_seconds;
	int rc = coord_round_aggregate(d->c.round);
	double project = d->c.round->agg->project_seconds - p0;

	coord_cost_add(c, COST_PROJECT, project);
	coord_cost_add(c, COST_AGGREGATE, fcl_now() - t0 - project);
	return rc;
}

static int end_round(struct coord_dispatch *d)
{
	struct coord_round *r = d->c.round;
	double t0 = fcl_now();
	int task_end = fcl_schedule_is_task_end(d->c.sched, r->round);
	uint32_t every = d->c.sc->eval.every_rounds;
	int last = r->round + 1 == d->c.sched->n_rounds, rc;

	/* local models before aggregation: local = global + update */
	double eval0 = d->c.eval->seconds;
	if ((rc = coord_eval_local_models(d->c.eval, r)) != 0 || (rc = timed_aggregate(d)) != 0)
		return rc;
	if ((task_end || last || (every && (r->round + 1) % every == 0)) &&
	    (rc = coord_eval_global(d->c.eval, r->round, task_end)) != 0)
		return rc;
	coord_cost_add(&d->c.report->cost, COST_EVALUATE, d->c.eval->seconds - eval0);
	coord_report_round(d->c.report, r, d->c.eval, fcl_now() - r->started, fcl_now() - t0);
	if (!coord_round_next(r))
		return coord_dispatch__finish(d, 0, NULL);
	if (d->c.ckpt && coord_ckpt_due(d->c.ckpt, r->round, task_end))
		return coord_dispatch__save(d);
	return coord_dispatch__start_round(d);
}

/* Ends the round once no participant can still answer. */
static int check_complete(struct coord_dispatch *d)
{
	struct coord_round *r = d->c.round;

	switch (coord_round_status(r)) {
	case COORD_ROUND_OPEN:
		return 0;
	case COORD_ROUND_SHORT:
		fcl_error("round %u: %u of %u participants are gone, %u updates arrived; quorum "
			  "needs %u",
			  r->round, r->n_gone, r->n_participants, r->n_accepted,
			  coord_round_quorum(r));
		return coord_dispatch__finish(d, 1, "quorum missed");
	case COORD_ROUND_COMPLETE:
		break;
	}
	return end_round(d);
}

int coord_dispatch__start_round(struct coord_dispatch *d)
{
	struct coord_round *r = d->c.round;
	struct fcl_msg m;
	int rc;

	coord_report_round_start(d->c.report);
	if ((rc = coord_round_open(r)) != 0) {
		fcl_error("round %u: cannot start: %s", r->round, strerror(-rc));
		coord_dispatch__finish(d, 1,
				       rc == -ENOMEM ? "out of memory" : "rule request failed");
		return rc;
	}
	if (r->n_participants == 0) {
		/* Nobody to wait for: close the round from the loop, not recursively. */
		d->c.out.arm(d->c.out.ud, 0.0);
		return 0;
	}
	for (uint32_t p = 0; p < r->n_peers; p++)
		if (coord_round_start_msg(r, p, &m) > 0)
			coord_round_sent(r, p, coord_dispatch__send(d, p, &m) == 0);
	d->c.out.arm(d->c.out.ud, d->c.sc->run.round_timeout_s);
	return r->n_gone ? check_complete(d) : 0;
}

/* Every logical client has a process: the run begins. A fresh one evaluates
 * its initial model (here rather than at setup, so that a large evaluation
 * does not keep the processes waiting for their welcome) and writes the
 * checkpoint to roll back to before any training; a resumed one gives the
 * clients their states first. */
static int begin_run(struct coord_dispatch *d)
{
	int rc;

	coord_report_say(d->c.report, "joined"); /* fcl-sim: its clients are all in */
	if (d->c.resume)
		return coord_dispatch__restore(d);
	if ((rc = coord_eval_initial(d->c.eval)) != 0)
		return rc;
	if (d->c.ckpt &&
	    ((rc = coord_dispatch__checkpoint_now(d)) != 0 || d->c.round->phase == COORD_DONE))
		return rc;
	if (!d->c.ckpt)
		coord_report_unfinished(d->c.report, d->c.round, d->c.eval,
					"the run is going on, or its coordinator stopped without "
					"a word (no checkpoints to resume from: run.checkpoint)");
	return start_run(d);
}

/* The first round, or the simulated clock. */
static int start_run(struct coord_dispatch *d)
{
	if (!d->c.sim)
		return coord_dispatch__start_round(d);
	coord_round_simulate(d->c.round);
	d->step_wall = fcl_now();
	return advance(d);
}

/* ---- simulated time --------------------------------------------------------- */

/* Is round r of the schedule evaluated: a task end, every_rounds, the last? */
static int eval_due(const struct coord_dispatch *d, uint32_t r, int task_end)
{
	uint32_t every = d->c.sc->eval.every_rounds;
	return task_end || r + 1 == d->c.sched->n_rounds || (every && (r + 1) % every == 0);
}

/* coord_eval_global, timed. */
static int timed_eval(struct coord_dispatch *d, uint32_t round, int task_end)
{
	double eval0 = d->c.eval->seconds;
	int rc = coord_eval_global(d->c.eval, round, task_end);

	coord_cost_add(&d->c.report->cost, COST_EVALUATE, d->c.eval->seconds - eval0);
	return rc;
}

/* The planned jobs' round starts, one per process that hosts any. */
static void sim_send(struct coord_dispatch *d)
{
	struct coord_round *r = d->c.round;
	struct fcl_msg m;
	size_t n, bytes;

	for (uint32_t p = 0; p < r->n_peers; p++) {
		if (r->peers[p].gone || (n = coord_sim_start_msg(d->c.sim, p, &m)) == 0)
			continue;
		bytes = 0;
		double t0 = fcl_now();
		int rc = d->c.out.send(d->c.out.ud, p, &m, &bytes);
		coord_cost_add(&d->c.report->cost, COST_SEND, fcl_now() - t0);
		if (rc == 0) {
			coord_report_down(d->c.report, bytes);
			coord_report_down_to(d->c.report, m.ids, n, bytes);
		}
		coord_sim_sent(d->c.sim, p, rc == 0);
	}
}

/* An aggregation step of the clock: its line, and with tasks in rounds the
 * evaluation the schedule asks for after it. */
static int sim_step(struct coord_dispatch *d)
{
	struct coord_sim *s = d->c.sim;
	const struct coord_sim_step *st = &s->step;
	double t0 = fcl_now();
	int rc = 0;

	if (!s->time_tasks) {
		d->c.round->round = s->steps;
		if (eval_due(d, st->round, st->task_end))
			rc = timed_eval(d, st->round, st->task_end);
	}
	coord_report_sim_step(d->c.report, s, d->c.eval, t0 - d->step_wall, fcl_now() - t0);
	d->step_wall = fcl_now();
	return rc;
}

/* Runs the clock as far as the updates in allow. */
static int advance(struct coord_dispatch *d)
{
	struct coord_sim *s = d->c.sim;
	enum coord_sim_what what;
	int rc;

	for (;;) {
		/* the clock's work is aggregation, but for the rule's projection */
		double t0 = fcl_now(), p0 = s->agg->project_seconds;
		rc = coord_sim_next(s, &what);
		double project = s->agg->project_seconds - p0;
		coord_cost_add(&d->c.report->cost, COST_PROJECT, project);
		coord_cost_add(&d->c.report->cost, COST_AGGREGATE, fcl_now() - t0 - project);
		if (rc != 0)
			return rc;
		d->c.eval->sim_time = d->c.report->sim_time = s->now;
		switch (what) {
		case COORD_SIM_WAIT: /* the wall-clock timer only catches a hung process */
			d->c.out.arm(d->c.out.ud, d->c.sc->run.round_timeout_s);
			return 0;
		case COORD_SIM_SEND:
			sim_send(d);
			break;
		case COORD_SIM_BOUNDARY:
			d->c.round->round = s->boundaries;
			if (s->step.task_end)
				coord_report_task_end(d->c.report, s->step.round, s->step.task);
			if (eval_due(d, s->step.round, s->step.task_end) &&
			    (rc = timed_eval(d, s->step.round, s->step.task_end)) != 0)
				return rc;
			break;
		case COORD_SIM_STEP:
			if ((rc = sim_step(d)) != 0)
				return rc;
			break;
		case COORD_SIM_END:
			if (s->fail)
				fcl_error("simulated time %.3f: %s", s->now, s->fail);
			return coord_dispatch__finish(d, s->fail ? 1 : 0, s->fail);
		}
	}
}

static int sim_update(struct coord_dispatch *d, const struct event *e)
{
	char why[512] = "";
	double t0 = fcl_now();
	int bad,
	    rc = coord_sim_take_update(d->c.sim, (uint32_t)e->peer, e->m, &bad, why, sizeof why);
	coord_cost_add(&d->c.report->cost, COST_VALIDATE, fcl_now() - t0);
	if (rc < 0)
		return rc;
	if (rc == 0)
		coord_report_update(d->c.report, (uint32_t)e->m->client_id, e->bytes);
	if (rc == 1 || bad)
		coord_dispatch_drop(d, "%s", why);
	return rc == 1 ? 0 : advance(d);
}

static int sim_answer(struct coord_dispatch *d, const struct event *e)
{
	char why[512] = "";
	double t0 = fcl_now();
	int bad, rc = coord_sim_take_answer(d->c.sim, (uint32_t)e->peer, e->m, e->bytes, &bad, why,
					    sizeof why);
	coord_cost_add(&d->c.report->cost, COST_VALIDATE, fcl_now() - t0);
	if (rc < 0)
		return rc;
	if (rc == 1 || bad)
		coord_dispatch_drop(d, "%s", why);
	return rc == 1 ? 0 : advance(d);
}

/* The wall-clock timer while the clock waits: what it waits for is lost. */
static int sim_deadline(struct coord_dispatch *d, const struct event *e)
{
	const uint32_t *ids;
	char list[256];
	uint32_t n = coord_sim_expire(d->c.sim, &ids);

	(void)e;
	coord_dispatch__format_ids(list, sizeof list, ids, n);
	fcl_warn("simulated time %.3f: nothing from client%s %s within run.round_timeout = %.0f s "
		 "of wall time: lost (a hung process; from here results depend on timing)",
		 d->c.sim->now, n == 1 ? "" : "s", n ? list : "?", d->c.sc->run.round_timeout_s);
	return advance(d);
}

/* ---- actions: hellos ----------------------------------------------------- */

/* The error goes back on the route net added for the hello, which then
 * forgets it again. */
static int refuse(struct coord_dispatch *d, const struct event *e, const char *why)
{
	char host[64];

	snprintf(host, sizeof host, "%s", e->m->hostname ? e->m->hostname : "?");
	fcl_warn("refusing process %u on %s (%llu hellos refused so far): %s", e->m->pid, host,
		 (unsigned long long)++d->c.report->refused_hellos, why);
	struct fcl_msg err = {.type = FCL_MSG_ERROR, .client_id = -1, .code = -EINVAL, .text = why};
	coord_dispatch__send(d, (uint32_t)e->peer, &err);
	return 0;
}

static int admit(struct coord_dispatch *d, const struct event *e)
{
	struct coord_round *r = d->c.round;
	const struct fcl_msg *m = e->m;
	char why[256];
	int rc;

	coord_round_check_hello(r, m, why, sizeof why);
	if (!why[0] && e->bound)
		coord_round_check_binding(m, e->bound, e->n_bound, why, sizeof why);
	if (why[0])
		return refuse(d, e, why);
	if ((rc = coord_round_add_peer(r, (uint32_t)e->peer, m)) != 0)
		return rc;
	fcl_info("process %u on %s hosts %zu logical clients from %u (%u of %u joined)", m->pid,
		 r->peers[e->peer].hostname, m->n_ids, m->ids[0], r->n_joined,
		 d->c.sched->n_clients - r->n_clients_gone);
	coord_dispatch__send(d, (uint32_t)e->peer, &d->welcome);
	if (!coord_round_all_hosted(r))
		return 0;
	if (r->phase == COORD_RECOVERING)
		return coord_dispatch__rollback(d);
	coord_report_event(d->c.report, r, "joined", NULL);
	return begin_run(d);
}

static int refuse_late(struct coord_dispatch *d, const struct event *e)
{
	return refuse(d, e, "the run has started (late joiners are not supported)");
}

/* ---- actions: what participants send ------------------------------------- */

static int too_early(struct coord_dispatch *d, const struct event *e)
{
	const struct coord_round *r = d->c.round;

	if (e->kind == EV_UPDATE || e->kind == EV_PARTIAL)
		coord_dispatch_drop(d, "%s for round %u while in round %u",
				    e->kind == EV_UPDATE ? "update" : "partial", e->m->round,
				    r->round);
	else
		coord_dispatch_drop(d, "%s message for round %u, not expected now (round %u)",
				    fcl_agg_name(r->agg), e->m->round, r->round);
	return 0;
}

static int take_update(struct coord_dispatch *d, const struct event *e)
{
	enum coord_take took;
	char why[512];
	double t0 = fcl_now();
	int rc =
	    coord_round_take_update(d->c.round, (uint32_t)e->peer, e->m, &took, why, sizeof why);
	coord_cost_add(&d->c.report->cost, COST_VALIDATE, fcl_now() - t0);
	if (rc)
		return rc;
	if (took != COORD_TAKE_DROPPED)
		coord_report_update(d->c.report, (uint32_t)e->m->client_id, e->bytes);
	if (took != COORD_TAKE_ACCEPTED)
		coord_dispatch_drop(d, "%s", why);
	return took == COORD_TAKE_DROPPED ? 0 : check_complete(d);
}

/* Each line of why as a dropped message (one per participant refused). */
static void drop_lines(struct coord_dispatch *d, char *why)
{
	for (char *line = why, *nl; *line; line = nl ? nl + 1 : line + strlen(line)) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		coord_dispatch_drop(d, "%s", line);
	}
}

/* One message answers for several participants: each gets its share of the
 * bytes, each refused update its line in the log (as single updates do). */
static int take_partial(struct coord_dispatch *d, const struct event *e)
{
	enum coord_take took;
	uint32_t n;
	char why[4096];
	int rc = coord_round_take_partial(d->c.round, (uint32_t)e->peer, e->m, &took, &n, why,
					  sizeof why);
	if (rc)
		return rc;
	for (uint32_t k = 0; k < n; k++)
		coord_report_update(d->c.report, e->m->ids[k], e->bytes / n + (k < e->bytes % n));
	drop_lines(d, why);
	return took == COORD_TAKE_DROPPED ? 0 : check_complete(d);
}

/* A rule message, or a process's sum of them (a line in why per participant
 * kept out of it). */
static int take_answer(struct coord_dispatch *d, const struct event *e)
{
	enum coord_take took;
	char why[4096] = "";
	double t0 = fcl_now();
	int rc = coord_round_take_answer(d->c.round, (uint32_t)e->peer, e->m, e->bytes, &took, why,
					 sizeof why);
	coord_cost_add(&d->c.report->cost, COST_VALIDATE, fcl_now() - t0);
	if (rc)
		return rc;
	if (took != COORD_TAKE_ACCEPTED)
		drop_lines(d, why);
	return took == COORD_TAKE_DROPPED ? 0 : check_complete(d);
}

static int peer_error(struct coord_dispatch *d, const struct event *e)
{
	struct coord_peer *peer = &d->c.round->peers[e->peer];
	fcl_warn("process %u on %s reports error %d: %s", peer->pid, peer->hostname, e->m->code,
		 e->m->text);
	/* what it said goes with its departure, if it leaves */
	snprintf(peer->last_error, sizeof peer->last_error, "%s", e->m->text);
	return 0;
}

static int unexpected(struct coord_dispatch *d, const struct event *e)
{
	coord_dispatch_drop(d, "unexpected %s from peer %d", fcl_msg_type_name(e->m->type),
			    e->peer);
	return 0;
}

static int stranger(struct coord_dispatch *d, const struct event *e)
{
	coord_dispatch_drop(d, "%s from an unknown peer", fcl_msg_type_name(e->m->type));
	return 0;
}

static int ignore(struct coord_dispatch *d, const struct event *e)
{
	(void)d;
	(void)e;
	return 0;
}

/* ---- actions: deadlines -------------------------------------------------- */

/* If run.quorum of the logical clients joined, start without the others, who
 * count as gone for the whole run (participants are still sampled among all of
 * them); else the run fails, naming the first missing. */
static int join_timeout(struct coord_dispatch *d, const struct event *e)
{
	struct coord_round *r = d->c.round;
	uint32_t N = d->c.sched->n_clients, need = (uint32_t)ceil(d->c.sc->run.quorum * N);
	const uint32_t *ids;
	char list[256] = "";
	size_t len = 0;
	uint32_t n = 0;

	(void)e;
	if (r->n_joined >= (need ? need : 1) && r->n_joined != N) {
		n = coord_round_drop_absent(r, &ids);
		coord_dispatch__format_ids(list, sizeof list, ids, n);
		fcl_warn("join timeout after %.0f s: %u of %u logical clients joined, quorum %.2f "
			 "met; starting without %s",
			 d->c.sc->run.join_timeout_s, r->n_joined, N, d->c.sc->run.quorum, list);
		coord_report_absent(d->c.report, r, ids, n);
		coord_report_event(d->c.report, r, "joined", "partial");
		return begin_run(d);
	}
	for (uint32_t c = 0; c < N; c++)
		if (r->owner[c] < 0 && n++ < 8 && len < sizeof list - 16)
			len += (size_t)snprintf(list + len, sizeof list - len, "%s%u",
						len ? "," : "", c);
	fcl_error("join timeout after %.0f s: %u of %u logical clients never joined "
		  "(first missing: %s)",
		  d->c.sc->run.join_timeout_s, n, N, list);
	return coord_dispatch__finish(d, 1, "join timeout");
}

static int round_deadline(struct coord_dispatch *d, const struct event *e)
{
	struct coord_round *r = d->c.round;

	(void)e;
	if (r->n_participants == 0) /* a round nobody could take part in */
		return end_round(d);
	uint32_t need = coord_round_quorum(r);
	for (uint32_t i = 0; i < r->n_participants; i++)
		if (r->slot[i] == COORD_SLOT_WAITING)
			fcl_warn("round %u: no update from client %u by the deadline", r->round,
				 r->participants[i]);
	if (r->n_accepted >= need) {
		fcl_warn("round %u: deadline with %u of %u updates; quorum %u met, going on",
			 r->round, r->n_accepted, r->n_participants, need);
		return end_round(d);
	}
	fcl_error("round %u: deadline with %u of %u updates; quorum needs %u", r->round,
		  r->n_accepted, r->n_participants, need);
	return coord_dispatch__finish(d, 1, "quorum missed");
}

/* ---- actions: departures ------------------------------------------------- */

/* A process left. Before the first round nothing ran yet, and its ids are
 * free for a replacement ("left"); during the run its logical clients leave
 * the run ("gone") and the round may be over now. */
static int departure(struct coord_dispatch *d, const struct event *e, int running)
{
	struct coord_round *r = d->c.round;
	const struct coord_peer *peer = &r->peers[e->peer];
	const char *addr = e->addr[0] ? e->addr : "?", *how = e->why;
	const uint32_t *ids;
	char list[256], why[256];

	if (peer->gone)
		return 0;
	if (peer->last_error[0]) {
		snprintf(why, sizeof why, "%s after saying: %s", e->why, peer->last_error);
		how = why;
	}
	uint32_t n = coord_round_peer_gone(r, (uint32_t)e->peer, &ids);
	coord_dispatch__format_ids(list, sizeof list, ids, n);
	if (running)
		fcl_warn("round %u: process %u on %s (%s) is gone (%s): logical clients %s leave "
			 "the run (%u of %u logical clients gone)",
			 r->round, peer->pid, peer->hostname, addr, how, list, r->n_clients_gone,
			 d->c.sched->n_clients);
	else
		fcl_warn("process %u on %s (%s) left before the first round (%s); logical clients "
			 "%s may join again (%u of %u joined)",
			 peer->pid, peer->hostname, addr, how, list, r->n_joined,
			 d->c.sched->n_clients);
	coord_report_gone(d->c.report, r, running ? "gone" : "left", (uint32_t)e->peer, e->addr,
			  ids, n, how);
	if (!running)
		return 0;
	if (d->c.sim) {
		coord_sim_clients_gone(d->c.sim, ids, n);
		return advance(d);
	}
	if (r->phase == COORD_SAVING || r->phase == COORD_RESTORING)
		return coord_dispatch__answered(d);
	return check_complete(d);
}

static int left(struct coord_dispatch *d, const struct event *e)
{
	return departure(d, e, 0);
}

/* During the run: with run.on_client_loss rollback, a replacement is awaited
 * (dispatch_ckpt.c); else its clients leave the run. */
static int gone(struct coord_dispatch *d, const struct event *e)
{
	if (d->c.sc->run.on_client_loss == FCL_LOSS_ROLLBACK && d->c.ckpt)
		return coord_dispatch__lost(d, e);
	return departure(d, e, 1);
}
