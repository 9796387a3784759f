/* common/src/export.c - a model's parameter tensors as .npy files and a JSON manifest */
#include "fcl/export.h"

#include "fcl/model.h"
#include "fcl/npy.h"
#include "fcl/residual.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* A block's 4-d convolution weight (co, ci, k, k), named "res<l>.<part>.weight". */
static void conv_weight(struct fcl_tensor_info *out, size_t max, size_t *n, const char *part,
			uint32_t l, uint32_t co, uint32_t ci, uint32_t k, size_t off)
{
	struct fcl_tensor_info w = {
	    .ndim = 4, .shape = {co, ci, k, k}, .offset = off, .count = (size_t)co * ci * k * k};
	snprintf(w.name, sizeof w.name, "res%u.%s.weight", l, part);
	if (*n < max)
		out[*n] = w;
	(*n)++;
}

/* A norm's two tensors of c values at at, as torch.nn's names: <pre>.weight
 * (gamma) and .bias (beta), or (stats) .running_mean and .running_var. Returns
 * n + 2. */
static size_t norm_pair(const char *pre, uint32_t c, size_t at, int stats,
			struct fcl_tensor_info *out, size_t n, size_t max)
{
	static const char *const names[2][2] = {{"weight", "bias"},
						{"running_mean", "running_var"}};

	for (int k = 0; k < 2; k++, n++) {
		struct fcl_tensor_info t = {
		    .ndim = 1, .shape = {c}, .offset = at + (size_t)k * c, .count = c};
		snprintf(t.name, sizeof t.name, "%s.%s", pre, names[stats][k]);
		if (n < max)
			out[n] = t;
	}
	return n;
}

/* A residual block's norms, res<l>.bn1, .bn2 (and .shortcut_bn): their gamma
 * and beta, or (stats) their running statistics. Returns the new count. */
static size_t block_norms(const struct fcl_layer *ly, uint32_t l, int stats,
			  struct fcl_tensor_info *out, size_t n, size_t max)
{
	static const char *const parts[3] = {"bn1", "bn2", "shortcut_bn"};
	struct fcl_residual_geom g;
	uint32_t co = ly->out.c;
	char pre[32];

	fcl_residual_geom(&g, ly);
	for (uint32_t k = 0; k < g.n_bn; k++) {
		snprintf(pre, sizeof pre, "res%u.%s", l, parts[k]);
		n = norm_pair(pre, co, (stats ? g.st_at : g.bn_at) + 2 * (size_t)co * k, stats, out,
			      n, max);
	}
	return n;
}

/* A residual block's W1, W2 and (projection) Ws, as they sit in the buffer,
 * then its norms' gamma and beta. */
static void residual_tensors(const struct fcl_layer *ly, uint32_t l, struct fcl_tensor_info *out,
			     size_t max, size_t *n)
{
	struct fcl_residual_geom g;
	uint32_t co = ly->out.c, ci = ly->in.c;

	fcl_residual_geom(&g, ly);
	conv_weight(out, max, n, "conv1", l, co, ci, 3, g.w1);
	conv_weight(out, max, n, "conv2", l, co, co, 3, g.w2);
	if (g.sc.k)
		conv_weight(out, max, n, "shortcut", l, co, ci, 1, g.ws);
	*n = block_norms(ly, l, 0, out, *n, max);
}

/* A norm layer's two tensors: <kind><l>.weight and .bias, or (stats) its
 * running statistics. Returns n + 2. */
static size_t norm_tensors(const struct fcl_layer *ly, uint32_t l, int stats,
			   struct fcl_tensor_info *out, size_t n, size_t max)
{
	char pre[32];

	snprintf(pre, sizeof pre, "%s%u", fcl_layer_kind_name(ly->s.kind), l);
	return norm_pair(pre, ly->in.c, stats ? ly->s_off : ly->w_off, stats, out, n, max);
}

size_t fcl_model_tensors(const struct fcl_mlp *m, struct fcl_tensor_info *out, size_t max)
{
	size_t n = 0;

	/* the body's convolutions first, as they sit in the buffer (fcl/arch.h):
	 * W (C_out, C_in, kh, kw) as torch.nn.Conv2d keeps it, then b (C_out) */
	for (uint32_t l = 0; l < m->arch.n_body; l++) {
		const struct fcl_layer *ly = &m->arch.layers[l];
		if (ly->s.kind == FCL_LAYER_RESIDUAL)
			residual_tensors(ly, l, out, max, &n);
		if (ly->s.kind == FCL_LAYER_GROUPNORM || ly->s.kind == FCL_LAYER_BATCHNORM) {
			n = norm_tensors(ly, l, 0, out, n, max);
			continue;
		}
		if (ly->s.kind != FCL_LAYER_CONV2D)
			continue;
		uint32_t co = ly->out.c, ci = ly->in.c, k = ly->s.kernel;
		struct fcl_tensor_info w = {.ndim = 4,
					    .shape = {co, ci, k, k},
					    .offset = ly->w_off,
					    .count = (size_t)co * ci * k * k};
		snprintf(w.name, sizeof w.name, "conv%u.weight", l);
		if (n < max)
			out[n] = w;
		n++;
		if (ly->s.bias) {
			struct fcl_tensor_info b = {
			    .ndim = 1, .shape = {co}, .offset = ly->b_off, .count = co};
			snprintf(b.name, sizeof b.name, "conv%u.bias", l);
			if (n < max)
				out[n] = b;
			n++;
		}
	}
	for (uint32_t l = 0; l < m->n_layers; l++) {
		uint32_t n_in = m->sizes[l], n_out = m->sizes[l + 1];
		struct fcl_tensor_info w = {.ndim = 2,
					    .shape = {n_out, n_in},
					    .offset = m->w_offset[l],
					    .count = (size_t)n_out * n_in};
		struct fcl_tensor_info b = {
		    .ndim = 1, .shape = {n_out}, .offset = m->b_offset[l], .count = n_out};
		snprintf(w.name, sizeof w.name, "dense%u.weight", l);
		snprintf(b.name, sizeof b.name, "dense%u.bias", l);
		if (n < max)
			out[n] = w;
		n++;
		if (n < max)
			out[n] = b;
		n++;
	}
	/* batchnorm's running statistics, at the buffer's tail */
	for (uint32_t l = 0; l < m->arch.n_body; l++) {
		const struct fcl_layer *ly = &m->arch.layers[l];
		if (ly->s.kind == FCL_LAYER_RESIDUAL)
			n = block_norms(ly, l, 1, out, n, max);
		else if (ly->n_stats)
			n = norm_tensors(ly, l, 1, out, n, max);
	}
	return n;
}

/* mkdir -p for the last two levels (run folder/model/name). */
static int make_dir(const char *dir)
{
	char parent[4096];
	snprintf(parent, sizeof parent, "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (mkdir(parent, 0777) != 0 && errno != EEXIST)
			return -errno;
	}
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_manifest(const char *dir, const struct fcl_mlp *m, const struct fcl_tensor_info *t,
			  size_t n, const struct fcl_export_info *info)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return errno ? -errno : -EIO;
	fprintf(f, "{\n  \"format\": \"fcl-model\",\n  \"version\": 1,\n  \"scenario\": \"%s\",\n",
		info->scenario ? info->scenario : "");
	fprintf(f, "  \"round\": %lld,\n", (long long)info->round);
	if (info->task >= 0)
		fprintf(f, "  \"task\": %lld,\n", (long long)info->task);
	else
		fprintf(f, "  \"task\": null,\n");
	fprintf(f, "  \"input_shape\": [%u, %u, %u],\n  \"classes\": %u,\n", info->input.c,
		info->input.h, info->input.w, info->classes);
	fprintf(f, "  \"n_params\": %zu,\n  \"dtype\": \"<f4\",\n  \"tensors\": [\n", m->n_params);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "    {\"name\": \"%s\", \"file\": \"%s.npy\", \"shape\": [", t[i].name,
			t[i].name);
		for (uint32_t d = 0; d < t[i].ndim; d++)
			fprintf(f, "%s%llu", d ? ", " : "", (unsigned long long)t[i].shape[d]);
		fprintf(f, "], \"offset\": %zu}%s\n", t[i].offset, i + 1 < n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	int bad = ferror(f);
	if (fclose(f) != 0 || bad)
		return -EIO;
	return 0;
}

int fcl_export_model(const char *dir, const struct fcl_mlp *m, const struct fcl_export_info *info,
		     char *err, size_t errlen)
{
	struct fcl_tensor_info t[FCL_EXPORT_MAX_TENSORS];
	size_t n = fcl_model_tensors(m, t, FCL_EXPORT_MAX_TENSORS);
	char path[4096];
	int rc;

	if (n > FCL_EXPORT_MAX_TENSORS) {
		snprintf(err, errlen, "%s: the model has %zu tensors, more than %d", dir, n,
			 FCL_EXPORT_MAX_TENSORS);
		return -EINVAL;
	}
	if ((rc = make_dir(dir)) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(path, sizeof path, "%s/%s.npy", dir, t[i].name);
		if (len < 0 || (size_t)len >= sizeof path) {
			snprintf(err, errlen, "%s: path too long", dir);
			return -ENAMETOOLONG;
		}
		rc = fcl_npy_write(path, FCL_NPY_F32, t[i].shape, t[i].ndim,
				   m->params + t[i].offset);
		if (rc) {
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
			return rc;
		}
	}
	if ((rc = write_manifest(dir, m, t, n, info)) != 0)
		snprintf(err, errlen, "cannot write %s/manifest.json: %s", dir, strerror(-rc));
	return rc;
}
