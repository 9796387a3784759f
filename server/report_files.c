/* server/report_files.c - the run folder's files that must be written whatever
 * happens: the results (metrics.json, summary.txt, summary.md: opened at the
 * start, each replaced whole by a rename), the space set aside for them, what
 * a failed write says, and the report's part of a checkpoint (its accounting,
 * the lengths of the files it appends to)
 */
#include "report-private.h"
#include "report.h"

#include "fcl/log.h"
#include "fcl/schedule.h"
#include "fcl/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void coord_report__json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++)
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20 || *c == 0x7f)
			fprintf(f, "\\u%04x", *c);
		else
			fputc(*c, f);
	fputc('"', f);
}

void coord_report__io_error(struct coord_report *rep, const char *name, int rc)
{
	fcl_error("cannot write %s/%s: %s", rep->c.run_dir, name, strerror(-rc));
	if (!rep->io_error[0])
		snprintf(rep->io_error, sizeof rep->io_error, "%scannot write %s (%s)",
			 rc == -ENOSPC || rc == -EDQUOT ? "disk full: " : "", name, strerror(-rc));
}

FILE *coord_report__open(struct coord_report *rep, const char *name, const char *mode)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", rep->c.run_dir, name);
	FILE *f = fcl_fopen(path, mode);
	if (!f)
		coord_report__io_error(rep, name, -errno);
	return f;
}

static const char *const result_names[N_RESULTS] = {"metrics.json", "summary.txt", "summary.md"};

/* Where results file `which` is written before its rename. */
static void result_tmp(const struct coord_report *rep, enum coord_result which, int final,
		       char *path, size_t len)
{
	if (final)
		snprintf(path, len, "%s/.%s.final", rep->c.run_dir, result_names[which]);
	else
		snprintf(path, len, "%s/%s.tmp", rep->c.run_dir, result_names[which]);
}

/* A results file that cannot be written: the run's end says so in io_error,
 * results so far only in the log. */
static void result_failed(struct coord_report *rep, enum coord_result which, int final, int rc)
{
	if (final)
		coord_report__io_error(rep, result_names[which], rc);
	else
		fcl_warn("cannot write %s/%s with the results so far: %s", rep->c.run_dir,
			 result_names[which], strerror(-rc));
}

FILE *coord_report__result(struct coord_report *rep, enum coord_result which, int final)
{
	char path[4200];
	FILE *f;

	if (final) {
		f = rep->final[which];
		rep->final[which] = NULL;
		if (f &&
		    (fflush(f) != 0 || ftruncate(fileno(f), 0) != 0 || fseek(f, 0, SEEK_SET))) {
			fclose(f);
			f = NULL;
		}
		if (!f)
			result_failed(rep, which, final, -EIO);
		return f;
	}
	result_tmp(rep, which, final, path, sizeof path);
	if (!(f = fcl_fopen(path, "w")))
		result_failed(rep, which, final, -errno);
	return f;
}

int coord_report__result_done(struct coord_report *rep, FILE *f, enum coord_result which, int final)
{
	char tmp[4200], path[4200];
	int rc = fcl_flush_lines(f, -1);

	result_tmp(rep, which, final, tmp, sizeof tmp);
	snprintf(path, sizeof path, "%s/%s", rep->c.run_dir, result_names[which]);
	if (fclose(f) != 0 && !rc)
		rc = errno ? -errno : -EIO;
	if (!rc && rename(tmp, path) != 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		result_failed(rep, which, final, rc);
	}
	fcl_fd_reserve(FD_RESERVE);
	return rc;
}

/* The results files of the run's end, opened now. */
int coord_report__open_finals(struct coord_report *rep)
{
	char path[4200];
	for (int i = 0; i < N_RESULTS; i++) {
		result_tmp(rep, (enum coord_result)i, 1, path, sizeof path);
		if (!(rep->final[i] = fcl_fopen(path, "w"))) {
			int rc = -errno;
			coord_report__io_error(rep, path + strlen(rep->c.run_dir) + 1, rc);
			return rc;
		}
	}
	return 0;
}

void coord_report__close_finals(struct coord_report *rep)
{
	char path[4200];
	for (int i = 0; i < N_RESULTS; i++)
		if (rep->final[i]) {
			fclose(rep->final[i]);
			rep->final[i] = NULL;
			result_tmp(rep, (enum coord_result)i, 1, path, sizeof path);
			unlink(path);
		}
}

/* Bytes the results at the end may need: metrics.json, the summaries, the
 * last lines, each written next to the old one before a rename. Generous. */
static uint64_t results_bytes(const struct coord_report *rep)
{
	uint64_t T = rep->c.sched->n_tasks, N = rep->c.sched->n_clients;
	return 2 * ((64 << 10) + T * T * 64 + T * 256 + N * 256);
}

/* Space for the results, kept as a file of that size in the run folder
 * until the end: a disk that fills up during the run still takes them. */
int coord_report__reserve(struct coord_report *rep)
{
	uint64_t bytes = results_bytes(rep);
	snprintf(rep->reserve_path, sizeof rep->reserve_path, "%s/.reserved", rep->c.run_dir);
	int fd = open(rep->reserve_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = fd < 0 ? errno : posix_fallocate(fd, 0, (off_t)bytes);
	if (fd >= 0)
		close(fd);
	if (rc) {
		unlink(rep->reserve_path);
		fcl_error("cannot set %llu kB aside in %s for the results: %s",
			  (unsigned long long)(bytes >> 10), rep->c.run_dir, strerror(rc));
		snprintf(rep->io_error, sizeof rep->io_error,
			 "%scannot set %llu kB aside for the results (%s)",
			 rc == ENOSPC || rc == EDQUOT ? "disk full: " : "",
			 (unsigned long long)(bytes >> 10), strerror(rc));
		return -rc;
	}
	rep->reserved = 1;
	fcl_fd_reserve(FD_RESERVE);
	return 0;
}

/* The results may be written now: the space set aside goes back to the disk. */
void coord_report__unreserve(struct coord_report *rep)
{
	if (rep->reserved)
		unlink(rep->reserve_path);
	rep->reserved = 0;
}

void coord_report_release(struct coord_report *rep)
{
	coord_report__unreserve(rep);
}

/* ---- checkpoints --------------------------------------------------------- */

#define PUT(f, p, n) (rc = rc ? rc : fcl_fput((f), (p), (n) * sizeof *(p)))
#define GET(f, p, n) (rc = rc ? rc : fcl_fget((f), (p), (n) * sizeof *(p)))

/* The files the run appends to, and their names. */
static FILE *appended(const struct coord_report *rep, int i, const char **name)
{
	static const char *const names[] = {"events.jsonl", "eval.csv", "eval_class.csv"};
	FILE *files[] = {rep->events, rep->eval_csv, rep->eval_class_csv};
	*name = names[i];
	return files[i];
}

/* The lines of events.jsonl after byte `from` that tell of the run's
 * interruptions (resumes, rollbacks): they stay when the rest goes. Owned;
 * NULL when none (or no memory: then they go too). */
static char *interruptions(FILE *g, long from)
{
	char line[4096], *keep = NULL;
	size_t len = 0;

	if (fflush(g) != 0 || fseek(g, from, SEEK_SET) != 0)
		return NULL;
	while (fgets(line, sizeof line, g)) {
		if (!strstr(line, "{\"event\":\"resumed\"") &&
		    !strstr(line, "{\"event\":\"rollback\""))
			continue;
		size_t n = strlen(line);
		char *p = realloc(keep, len + n + 1);
		if (!p)
			break;
		keep = p;
		memcpy(keep + len, line, n + 1);
		len += n;
	}
	clearerr(g);
	return keep;
}

int coord_report_save(struct coord_report *rep, FILE *f)
{
	uint32_t T = rep->c.sched->n_tasks, N = rep->c.sched->n_clients, head[3] = {T, N, 0};
	int64_t len[3] = {-1, -1, -1};
	double elapsed = fcl_now() - rep->c.started;
	int rc = 0;

	for (int i = 0; i < 3; i++) {
		const char *name;
		FILE *g = appended(rep, i, &name);
		if (g && (rc = fcl_flush_lines(g, -1)) != 0) {
			coord_report__io_error(rep, name, rc);
			return rc;
		}
		len[i] = g ? ftell(g) : -1;
	}
	PUT(f, head, 3);
	PUT(f, len, 3);
	PUT(f, &elapsed, 1);
	PUT(f, &rep->bytes_up, 1);
	PUT(f, &rep->bytes_down, 1);
	PUT(f, &rep->bad_messages, 1);
	PUT(f, rep->task_bytes_up, T);
	PUT(f, rep->task_bytes_down, T);
	PUT(f, rep->task_seconds, T);
	PUT(f, rep->client_bytes_up, N);
	PUT(f, rep->client_bytes_down, N);
	PUT(f, rep->client_updates, N);
	PUT(f, rep->client_train_s, N);
	PUT(f, &rep->server_s_sum, 1);
	PUT(f, &rep->server_s_max, 1);
	PUT(f, &rep->n_rounds_done, 1);
	return rc;
}

int coord_report_load(struct coord_report *rep, FILE *f)
{
	uint32_t T = rep->c.sched->n_tasks, N = rep->c.sched->n_clients, head[3];
	int64_t len[3];
	double elapsed;
	int rc = 0;

	GET(f, head, 3);
	GET(f, len, 3);
	GET(f, &elapsed, 1);
	if (rc || head[0] != T || head[1] != N)
		return rc ? rc : -EINVAL;
	GET(f, &rep->bytes_up, 1);
	GET(f, &rep->bytes_down, 1);
	GET(f, &rep->bad_messages, 1);
	GET(f, rep->task_bytes_up, T);
	GET(f, rep->task_bytes_down, T);
	GET(f, rep->task_seconds, T);
	GET(f, rep->client_bytes_up, N);
	GET(f, rep->client_bytes_down, N);
	GET(f, rep->client_updates, N);
	GET(f, rep->client_train_s, N);
	GET(f, &rep->server_s_sum, 1);
	GET(f, &rep->server_s_max, 1);
	GET(f, &rep->n_rounds_done, 1);
	if (rc)
		return rc;
	/* What was written after the checkpoint is written again. */
	for (int i = 0; i < 3; i++) {
		const char *name;
		FILE *g = appended(rep, i, &name);
		if (!g || len[i] < 0)
			continue;
		char *keep = i == 0 ? interruptions(g, len[i]) : NULL;
		if (ftruncate(fileno(g), len[i]) != 0 || fseek(g, len[i], SEEK_SET) != 0) {
			free(keep);
			rc = -errno;
			coord_report__io_error(rep, name, rc);
			return rc;
		}
		if (keep)
			fputs(keep, g);
		free(keep);
		if ((rc = fcl_flush_lines(g, len[i])) != 0) {
			coord_report__io_error(rep, name, rc);
			return rc;
		}
	}
	rep->c.started = fcl_now() - elapsed;
	return 0;
}
