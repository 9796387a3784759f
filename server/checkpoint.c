/* server/checkpoint.c - checkpoints: write, find, read back (see checkpoint.h) */
#include "checkpoint.h"
#include "evaluate.h"
#include "report.h"
#include "round.h"

#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/rule.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FORMAT 1
static const char server_magic[8] = "FCLSRVR";
static const char clients_magic[8] = "FCLCLNT";
#define RECORD_MAGIC 0x43524c46u /* "FLRC" */
#define FOLDER "rounds-"
/* the largest state of one logical client we take (a few copies of a large model) */
#define MAX_STATE ((uint64_t)8 << 30)

/* FNV-1a, as fcl_hash64, over a stream. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

/* The hash of f's first `len` bytes (f is left at len). 0 or -EIO. */
static int hash_prefix(FILE *f, uint64_t len, uint64_t *h)
{
	unsigned char buf[65536];
	uint64_t left = len;
	*h = FNV_INIT;
	if (fseek(f, 0, SEEK_SET) != 0)
		return -EIO;
	while (left) {
		size_t n = fread(buf, 1, left < sizeof buf ? left : sizeof buf, f);
		if (n == 0)
			return -EIO;
		*h = fnv(*h, buf, n);
		left -= n;
	}
	return 0;
}

/* A file that ends with (u64 length of what precedes, u64 hash of it):
 * checks both, leaves f at the start. 0 or -EIO. */
static int check_trailer(FILE *f)
{
	uint64_t tail[2], h;
	if (fseek(f, -(long)sizeof tail, SEEK_END) != 0 || fcl_fget(f, tail, sizeof tail) != 0)
		return -EIO;
	long size = ftell(f);
	if (size < 0 || tail[0] != (uint64_t)size - sizeof tail || hash_prefix(f, tail[0], &h) ||
	    h != tail[1])
		return -EIO;
	return fseek(f, 0, SEEK_SET) == 0 ? 0 : -EIO;
}

/* Appends the trailer over f's whole content (f was opened "w+b"). */
static int put_trailer(FILE *f)
{
	uint64_t tail[2];
	if (fflush(f) != 0)
		return errno ? -errno : -EIO;
	long size = ftell(f);
	if (size < 0 || hash_prefix(f, (uint64_t)size, &tail[1]) != 0)
		return -EIO;
	tail[0] = (uint64_t)size;
	if (fseek(f, 0, SEEK_END) != 0)
		return -EIO;
	return fcl_fput(f, tail, sizeof tail);
}

static int put_str(FILE *f, const char *s, size_t n)
{
	uint64_t len = n;
	int rc = fcl_fput(f, &len, sizeof len);
	return rc ? rc : fcl_fput(f, s, n);
}

/* A string of at most max - 1 bytes into an owned buffer (*out) or into
 * out_buf (max bytes). */
static int get_str(FILE *f, char **out, char *out_buf, size_t max, size_t *n)
{
	uint64_t len;
	int rc = fcl_fget(f, &len, sizeof len);
	if (rc || len >= max)
		return rc ? rc : -EINVAL;
	char *s = out_buf ? out_buf : malloc(len + 1);
	if (!s)
		return -ENOMEM;
	if ((rc = fcl_fget(f, s, len)) != 0) {
		if (!out_buf)
			free(s);
		return rc;
	}
	s[len] = '\0';
	if (out)
		*out = s;
	if (n)
		*n = len;
	return 0;
}

static void folder_of(const struct coord_ckpt *c, uint32_t done, const char *suffix, char *out,
		      size_t len)
{
	snprintf(out, len, "%s/" FOLDER "%08u%s", c->dir, done, suffix);
}

/* ---- finding them -------------------------------------------------------- */

/* Rounds done at the newest complete checkpoint of dir, -1 when none;
 * with clean, unfinished (.tmp) ones and all older complete ones go. */
static int64_t newest_in(const char *dir, int clean)
{
	DIR *d = opendir(dir);
	int64_t newest = -1;
	struct dirent *e;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *end;
		if (strncmp(e->d_name, FOLDER, strlen(FOLDER)) != 0)
			continue;
		unsigned long v = strtoul(e->d_name + strlen(FOLDER), &end, 10);
		if (*end == '\0' && (int64_t)v > newest)
			newest = (int64_t)v;
	}
	rewinddir(d);
	while (clean && (e = readdir(d)) != NULL) {
		char *end, path[4600];
		if (strncmp(e->d_name, FOLDER, strlen(FOLDER)) != 0)
			continue;
		unsigned long v = strtoul(e->d_name + strlen(FOLDER), &end, 10);
		if (*end == '\0' && (int64_t)v == newest)
			continue;
		snprintf(path, sizeof path, "%s/%s/server.bin", dir, e->d_name);
		unlink(path);
		snprintf(path, sizeof path, "%s/%s/clients.bin", dir, e->d_name);
		unlink(path);
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		rmdir(path);
	}
	closedir(d);
	return newest;
}

/* Reads server.bin's head; f is left after it. */
static int read_head(FILE *f, struct coord_ckpt_head *h)
{
	char magic[8];
	uint32_t v[2];
	int rc = fcl_fget(f, magic, sizeof magic);
	rc = rc ? rc : fcl_fget(f, v, sizeof v);
	if (rc || memcmp(magic, server_magic, sizeof magic) != 0 || v[0] != FORMAT)
		return rc ? rc : -EINVAL;
	h->done = v[1];
	rc = fcl_fget(f, &h->seed, sizeof h->seed);
	rc = rc ? rc : fcl_fget(f, &h->scenario_hash, sizeof h->scenario_hash);
	rc = rc ? rc : get_str(f, NULL, h->scenario_path, sizeof h->scenario_path, NULL);
	rc = rc ? rc : get_str(f, &h->scenario_text, NULL, (size_t)1 << 30, &h->scenario_len);
	rc = rc ? rc : get_str(f, NULL, h->data_path, sizeof h->data_path, NULL);
	if (!rc && fcl_hash64(h->scenario_text, h->scenario_len) != h->scenario_hash)
		rc = -EINVAL;
	return rc;
}

/* Opens one of the checkpoint's files with its hash checked. */
static FILE *open_checked(const char *dir, const char *name, int *rc)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fcl_fopen(path, "rb");
	*rc = f ? check_trailer(f) : -errno;
	if (*rc) {
		fcl_error("checkpoint file %s is %s", path,
			  f ? "damaged (its hash does not match)" : strerror(-*rc));
		if (f)
			fclose(f);
		return NULL;
	}
	return f;
}

int coord_ckpt_read_head(const char *run_dir, char *dir, size_t len, struct coord_ckpt_head *h)
{
	char base[4096];
	int rc;

	memset(h, 0, sizeof *h);
	snprintf(base, sizeof base, "%s/checkpoints", run_dir);
	int64_t newest = newest_in(base, 0);
	if (newest < 0)
		return -ENOENT;
	snprintf(dir, len, "%s/" FOLDER "%08u", base, (uint32_t)newest);
	FILE *clients = open_checked(dir, "clients.bin", &rc);
	if (clients)
		fclose(clients);
	FILE *f = clients ? open_checked(dir, "server.bin", &rc) : NULL;
	if (!f)
		return rc;
	if ((rc = read_head(f, h)) != 0) {
		fcl_error("checkpoint %s/server.bin: not one this fcl-server can read", dir);
		coord_ckpt_head_fini(h);
	}
	fclose(f);
	return rc;
}

void coord_ckpt_head_fini(struct coord_ckpt_head *h)
{
	free(h->scenario_text);
	h->scenario_text = NULL;
}

/* ---- setup --------------------------------------------------------------- */

int coord_ckpt_init(struct coord_ckpt *c, const struct coord_ckpt_config *cfg)
{
	uint32_t N = cfg->n_clients;

	memset(c, 0, sizeof *c);
	c->c = *cfg;
	snprintf(c->dir, sizeof c->dir, "%s/checkpoints", cfg->run_dir);
	c->newest = newest_in(c->dir, 1);
	c->newest_time = fcl_now();
	c->complete = calloc(N, 1);
	c->piece_buf = calloc(N, sizeof *c->piece_buf);
	c->total = calloc(N, sizeof *c->total);
	c->got = calloc(N, sizeof *c->got);
	c->offset = calloc(N, sizeof *c->offset);
	if (!c->complete || !c->piece_buf || !c->total || !c->got || !c->offset) {
		coord_ckpt_fini(c);
		return -ENOMEM;
	}
	return 0;
}

void coord_ckpt_fini(struct coord_ckpt *c)
{
	if (c->writing)
		coord_ckpt_abandon(c);
	coord_ckpt_restored(c);
	free(c->complete);
	free(c->piece_buf);
	free(c->total);
	free(c->got);
	free(c->offset);
	memset(c, 0, sizeof *c);
}

void coord_ckpt_remove_all(struct coord_ckpt *c)
{
	char path[4200];
	if (c->writing)
		coord_ckpt_abandon(c);
	coord_ckpt_restored(c);
	if (c->newest >= 0) {
		folder_of(c, (uint32_t)c->newest, "/server.bin", path, sizeof path);
		unlink(path);
		folder_of(c, (uint32_t)c->newest, "/clients.bin", path, sizeof path);
		unlink(path);
		folder_of(c, (uint32_t)c->newest, "", path, sizeof path);
		rmdir(path);
	}
	c->newest = -1;
	rmdir(c->dir);
}

int coord_ckpt_due(const struct coord_ckpt *c, uint32_t done, int task_end)
{
	const struct fcl_scenario *sc = c->c.sc;
	uint32_t every = sc->run.checkpoint.every_rounds;
	double minutes = sc->run.checkpoint.every_minutes;

	return (every && done % every == 0) || (task_end && sc->run.checkpoint.task_ends) ||
	       (minutes > 0 && fcl_now() - c->newest_time >= minutes * 60.0);
}

/* ---- writing one --------------------------------------------------------- */

static void forget_pieces(struct coord_ckpt *c)
{
	for (uint32_t i = 0; i < c->c.n_clients; i++) {
		free(c->piece_buf[i]);
		c->piece_buf[i] = NULL;
		c->total[i] = c->got[i] = 0;
		c->complete[i] = 0;
	}
}

int coord_ckpt_begin(struct coord_ckpt *c, uint32_t done)
{
	char tmp[4200], path[4300];
	uint32_t head[2] = {FORMAT, done};
	int rc;

	if (c->writing)
		coord_ckpt_abandon(c);
	folder_of(c, done, ".tmp", tmp, sizeof tmp);
	if ((rc = fcl_mkdir_p(tmp)) != 0) {
		fcl_error("cannot create %s: %s", tmp, strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof path, "%s/clients.bin", tmp);
	if (!(c->clients = fcl_fopen(path, "w+b"))) {
		rc = -errno;
		fcl_error("cannot create %s: %s", path, strerror(-rc));
		rmdir(tmp);
		return rc;
	}
	c->writing = 1;
	c->done = done;
	c->n_records = 0;
	forget_pieces(c);
	if ((rc = fcl_fput(c->clients, clients_magic, sizeof clients_magic)) != 0 ||
	    (rc = fcl_fput(c->clients, head, sizeof head)) != 0) {
		fcl_error("cannot write %s: %s", path, strerror(-rc));
		coord_ckpt_abandon(c);
		return rc;
	}
	return 0;
}

/* A client's whole state goes into clients.bin as one record. */
static int put_record(struct coord_ckpt *c, uint32_t client, const uint8_t *buf, uint64_t len)
{
	uint32_t head[2] = {RECORD_MAGIC, client};
	int rc = fcl_fput(c->clients, head, sizeof head);
	rc = rc ? rc : fcl_fput(c->clients, &len, sizeof len);
	rc = rc ? rc : fcl_fput(c->clients, buf, len);
	if (rc) {
		fcl_error("cannot write checkpoint %u's clients.bin: %s", c->done, strerror(-rc));
		return rc;
	}
	c->complete[client] = 1;
	c->n_records++;
	return 0;
}

int coord_ckpt_take(struct coord_ckpt *c, uint32_t client, const struct fcl_msg *m,
		    const char **why)
{
	*why = NULL;
	if (!c->writing || m->round != c->done)
		*why = "state for another checkpoint";
	else if (client >= c->c.n_clients || c->complete[client])
		*why = "state of a client that is not due";
	else if (m->total > MAX_STATE || (c->got[client] && m->total != c->total[client]))
		*why = "state of an implausible size";
	else if (m->offset != c->got[client])
		*why = "state piece out of order";
	if (*why)
		return -EPROTO;
	if (m->total == 0)
		return put_record(c, client, NULL, 0);
	if (!c->piece_buf[client]) {
		if (!(c->piece_buf[client] = malloc(m->total)))
			return -ENOMEM;
		c->total[client] = m->total;
	}
	memcpy(c->piece_buf[client] + m->offset, m->data, m->n_data);
	c->got[client] += m->n_data;
	if (c->got[client] < c->total[client])
		return 0;
	int rc = put_record(c, client, c->piece_buf[client], c->total[client]);
	free(c->piece_buf[client]);
	c->piece_buf[client] = NULL;
	return rc;
}

int coord_ckpt_has(const struct coord_ckpt *c, const uint32_t *ids, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (!c->complete[ids[i]])
			return 0;
	return 1;
}

/* server.bin: the head, then each part as its owner saves it. */
static int write_server(struct coord_ckpt *c, FILE *f)
{
	const struct coord_ckpt_parts *p = &c->c.parts;
	const struct fcl_scenario *sc = c->c.sc;
	uint32_t head[2] = {FORMAT, c->done};
	uint64_t n_params = p->model->n_params;
	int rc = fcl_fput(f, server_magic, sizeof server_magic);

	rc = rc ? rc : fcl_fput(f, head, sizeof head);
	rc = rc ? rc : fcl_fput(f, &sc->seed, sizeof sc->seed);
	rc = rc ? rc : fcl_fput(f, &c->c.scenario_hash, sizeof c->c.scenario_hash);
	rc = rc ? rc : put_str(f, c->c.scenario_path, strlen(c->c.scenario_path));
	rc = rc ? rc : put_str(f, c->c.scenario_text, c->c.scenario_len);
	rc = rc ? rc : put_str(f, sc->data.path, strlen(sc->data.path));
	rc = rc ? rc : fcl_fput(f, &n_params, sizeof n_params);
	rc = rc ? rc : fcl_fput(f, p->model->params, n_params * sizeof(float));
	rc = rc ? rc : fcl_agg_save(p->agg, f);
	rc = rc ? rc : coord_round_save(p->round, f);
	rc = rc ? rc : coord_eval_save(p->eval, f);
	rc = rc ? rc : coord_report_save(p->report, f);
	return rc ? rc : put_trailer(f);
}

/* fflush, fsync and fclose. 0 or -errno. */
static int sync_close(FILE *f)
{
	int rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : errno ? -errno : -EIO;
	if (fclose(f) != 0 && !rc)
		rc = errno ? -errno : -EIO;
	return rc;
}

int coord_ckpt_commit(struct coord_ckpt *c)
{
	char tmp[4200], final[4200], path[4300];
	int rc;

	folder_of(c, c->done, ".tmp", tmp, sizeof tmp);
	folder_of(c, c->done, "", final, sizeof final);
	snprintf(path, sizeof path, "%s/server.bin", tmp);
	FILE *f = fcl_fopen(path, "w+b");
	if (!f) {
		rc = -errno;
		goto err;
	}
	rc = write_server(c, f);
	long size = ftell(f);
	int rc2 = sync_close(f);
	rc = rc ? rc : rc2;
	if (!rc) {
		rc = fcl_flush_lines(c->clients, -1);
		rc = rc ? rc : put_trailer(c->clients);
		size += ftell(c->clients);
	}
	rc2 = sync_close(c->clients);
	c->clients = NULL;
	rc = rc ? rc : rc2;
	if (!rc && rename(tmp, final) != 0)
		rc = -errno;
	if (rc)
		goto err;
	fcl_fsync_path(c->dir);
	c->writing = 0;
	c->newest = c->done;
	c->newest_time = fcl_now();
	c->bytes = (uint64_t)size;
	newest_in(c->dir, 1); /* the previous one goes now */
	fcl_fd_reserve(4);
	return 0;
err:
	fcl_error("cannot write checkpoint %s: %s; the previous one is kept", final, strerror(-rc));
	coord_ckpt_abandon(c);
	return rc;
}

void coord_ckpt_abandon(struct coord_ckpt *c)
{
	char tmp[4200], path[4300];

	if (c->clients)
		fclose(c->clients);
	c->clients = NULL;
	forget_pieces(c);
	folder_of(c, c->done, ".tmp", tmp, sizeof tmp);
	snprintf(path, sizeof path, "%s/clients.bin", tmp);
	unlink(path);
	snprintf(path, sizeof path, "%s/server.bin", tmp);
	unlink(path);
	rmdir(tmp);
	c->writing = 0;
	fcl_fd_reserve(4);
}

/* ---- reading one back ---------------------------------------------------- */

/* server.bin's parts into the coordinator's. */
static int read_server(struct coord_ckpt *c, FILE *f)
{
	const struct coord_ckpt_parts *p = &c->c.parts;
	struct coord_ckpt_head h;
	uint64_t n_params;

	memset(&h, 0, sizeof h);
	int rc = read_head(f, &h);
	if (!rc && (h.scenario_hash != c->c.scenario_hash || h.seed != c->c.sc->seed))
		rc = -EINVAL; /* another run's */
	coord_ckpt_head_fini(&h);
	rc = rc ? rc : fcl_fget(f, &n_params, sizeof n_params);
	if (!rc && n_params != p->model->n_params)
		rc = -EINVAL;
	rc = rc ? rc : fcl_fget(f, p->model->params, n_params * sizeof(float));
	rc = rc ? rc : fcl_agg_load(p->agg, f);
	rc = rc ? rc : coord_round_load(p->round, f);
	rc = rc ? rc : coord_eval_load(p->eval, f);
	return rc ? rc : coord_report_load(p->report, f);
}

/* clients.bin's records: where each client's starts. */
static int index_states(struct coord_ckpt *c, FILE *f)
{
	char magic[8];
	uint32_t head[2];
	uint64_t tail[2];
	int rc = fcl_fget(f, magic, sizeof magic);
	rc = rc ? rc : fcl_fget(f, head, sizeof head);
	if (rc || memcmp(magic, clients_magic, sizeof magic) || head[0] != FORMAT ||
	    head[1] != (uint32_t)c->newest)
		return rc ? rc : -EINVAL;
	memset(c->offset, 0, c->c.n_clients * sizeof *c->offset);
	if (fseek(f, -(long)sizeof tail, SEEK_END) != 0 || fcl_fget(f, tail, sizeof tail) != 0 ||
	    fseek(f, sizeof magic + sizeof head, SEEK_SET) != 0)
		return -EIO;
	for (long at = ftell(f); at >= 0 && (uint64_t)at < tail[0]; at = ftell(f)) {
		uint32_t rec[2];
		uint64_t len;
		rc = fcl_fget(f, rec, sizeof rec);
		rc = rc ? rc : fcl_fget(f, &len, sizeof len);
		if (rc || rec[0] != RECORD_MAGIC || rec[1] >= c->c.n_clients || len > MAX_STATE)
			return rc ? rc : -EINVAL;
		c->offset[rec[1]] = (uint64_t)at;
		if (fseek(f, (long)len, SEEK_CUR) != 0)
			return -EIO;
	}
	return 0;
}

int coord_ckpt_restore(struct coord_ckpt *c)
{
	char dir[4200];
	int rc;

	coord_ckpt_restored(c);
	if (c->newest < 0)
		return -ENOENT;
	folder_of(c, (uint32_t)c->newest, "", dir, sizeof dir);
	FILE *f = open_checked(dir, "server.bin", &rc);
	if (!f)
		return rc;
	rc = read_server(c, f);
	fclose(f);
	if (rc) {
		fcl_error("checkpoint %s/server.bin does not fit this run: %s", dir, strerror(-rc));
		return rc;
	}
	if (!(c->states = open_checked(dir, "clients.bin", &rc)))
		return rc;
	if ((rc = index_states(c, c->states)) != 0) {
		fcl_error("checkpoint %s/clients.bin is damaged", dir);
		coord_ckpt_restored(c);
	}
	return rc;
}

int coord_ckpt_state(struct coord_ckpt *c, uint32_t client, uint8_t **buf, size_t *len)
{
	uint32_t rec[2];
	uint64_t n;

	*buf = NULL;
	*len = 0;
	if (!c->states || client >= c->c.n_clients || !c->offset[client])
		return 0;
	int rc = fseek(c->states, (long)c->offset[client], SEEK_SET) == 0 ? 0 : -EIO;
	rc = rc ? rc : fcl_fget(c->states, rec, sizeof rec);
	rc = rc ? rc : fcl_fget(c->states, &n, sizeof n);
	if (rc || rec[1] != client)
		return rc ? rc : -EIO;
	if (n == 0)
		return 0;
	if (!(*buf = malloc(n)))
		return -ENOMEM;
	if ((rc = fcl_fget(c->states, *buf, n)) != 0) {
		free(*buf);
		*buf = NULL;
		return rc;
	}
	*len = n;
	return 0;
}

void coord_ckpt_restored(struct coord_ckpt *c)
{
	if (c->states)
		fclose(c->states);
	c->states = NULL;
}
