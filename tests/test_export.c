/* tests/test_export.c - exported models read back with a C .npy reader
 *
 * Without arguments: an MLP with seeded parameters is exported; every
 * tensor's .npy reads back with the manifest's shape and exactly the
 * parameters at the manifest's offset, and the tensors tile the buffer.
 * With MODEL_DIR CHECKSUM (the net tests): the run folder's exported model,
 * reassembled from its files by the manifest, hashes to the run's
 * params_checksum (FNV-1a 64 over the flat float32 buffer).
 */
#include "fcl/export.h"
#include "fcl/model.h"
#include "fcl/npy.h"
#include "fcl/rng.h"
#include "tap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct entry {
	char file[64];
	uint32_t ndim;
	uint64_t shape[4];
	size_t offset;
};

/* The tensors of manifest.json: one {"name", "file", "shape", "offset"} per line. */
static size_t read_manifest(const char *dir, struct entry *e, size_t max, size_t *n_params)
{
	char path[1024], line[512];
	size_t n = 0;
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f) && n < max) {
		char *p;
		if (sscanf(line, " \"n_params\": %zu", n_params) == 1)
			continue;
		if (!(p = strstr(line, "\"file\": \"")))
			continue;
		if (sscanf(p, "\"file\": \"%63[^\"]\"", e[n].file) != 1 || !(p = strchr(p, '[')))
			break;
		e[n].ndim = 0;
		p++;
		while (*p != ']' && e[n].ndim < 4) {
			e[n].shape[e[n].ndim++] = strtoull(p, &p, 10);
			while (*p == ',' || *p == ' ')
				p++;
		}
		if (!(p = strstr(p, "\"offset\": ")) ||
		    sscanf(p, "\"offset\": %zu", &e[n].offset) != 1)
			break;
		n++;
	}
	fclose(f);
	return n;
}

/* Reassembles the flat buffer from dir; NULL when a file disagrees with the manifest. */
static float *reassemble(const char *dir, size_t *n_params)
{
	struct entry e[FCL_EXPORT_MAX_TENSORS];
	size_t n = read_manifest(dir, e, FCL_EXPORT_MAX_TENSORS, n_params), covered = 0;
	CHECK(n > 0 && *n_params > 0, "%s/manifest.json lists %zu tensors of %zu parameters", dir,
	      n, *n_params);
	if (!n || !*n_params)
		return NULL;
	float *buf = calloc(*n_params, sizeof *buf);
	for (size_t i = 0; i < n && buf; i++) {
		char path[1024], err[256] = "";
		struct fcl_npy a;
		int len = snprintf(path, sizeof path, "%s/%s", dir, e[i].file);
		int ok = len > 0 && (size_t)len < sizeof path &&
			 fcl_npy_read(path, &a, err, sizeof err) == 0;
		ok = ok && a.dtype == FCL_NPY_F32 && a.ndim == e[i].ndim &&
		     !memcmp(a.shape, e[i].shape, a.ndim * sizeof *a.shape) &&
		     e[i].offset == covered && e[i].offset + a.count <= *n_params;
		CHECK(ok, "%s: float32 of the manifest's shape at offset %zu %s", e[i].file,
		      e[i].offset, err);
		if (ok) {
			memcpy(buf + e[i].offset, a.data, a.count * sizeof *buf);
			covered += a.count;
		}
		fcl_npy_fini(&a);
		if (!ok) {
			free(buf);
			return NULL;
		}
	}
	CHECK(covered == *n_params, "the tensors tile the buffer (%zu of %zu)", covered, *n_params);
	return buf;
}

/* Exports m into dir/sub, checks that the files read back are its parameters bit
 * for bit (said as `what`), then removes dir. */
static void check_export(const char *dir, const char *sub, const struct fcl_mlp *m,
			 const struct fcl_export_info *info, const char *what)
{
	char path[128], err[256] = "", cmd[256];
	size_t np = 0;

	snprintf(path, sizeof path, "%s/%s", dir, sub);
	REQUIRE(fcl_export_model(path, m, info, err, sizeof err) == 0, "exported: %s", err);
	float *back = reassemble(path, &np);
	CHECK(back && np == m->n_params && !memcmp(back, m->params, np * sizeof *back), "%s", what);
	free(back);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleaned up");
}

static void test_roundtrip(void)
{
	struct fcl_mlp m;
	struct fcl_rng rng;
	const uint32_t sizes[] = {12, 7, 5, 3};
	char dir[] = "/tmp/fcl-test-export-XXXXXX";

	REQUIRE(mkdtemp(dir) != NULL, "temporary folder");
	REQUIRE(fcl_mlp_init(&m, 3, sizes, 4) == 0, "MLP 12-7-5-3");
	fcl_rng_init(&rng, 3, 0, 0, 0);
	fcl_mlp_init_params(&m, &rng);
	struct fcl_tensor_info t[8];
	size_t n = fcl_model_tensors(&m, t, 8);
	CHECK(n == 6 && !strcmp(t[0].name, "dense0.weight") && t[0].shape[0] == 7 &&
		  t[0].shape[1] == 12 && !strcmp(t[5].name, "dense2.bias") && t[5].shape[0] == 3,
	      "the MLP's tensors: dense<l>.weight (out, in), dense<l>.bias (out)");
	struct fcl_export_info info = {"t", 4, 0, {1, 3, 4}, 3};
	check_export(dir, "model/task-0", &m, &info,
		     "the exported tensors are the parameters, bit for bit");
	fcl_mlp_fini(&m);
}

/* A model with residual blocks: each block's conv1, conv2 and (projection)
 * shortcut weights, with bn its norms' (res<l>.bn1, .bn2, .shortcut_bn) after
 * them and their running statistics at the tail, tiling the buffer with the rest. */
static void test_residual(int bn)
{
	struct fcl_layer_spec l[] = {
	    {.kind = FCL_LAYER_CONV2D, .units = 3, .kernel = 3, .stride = 1, .padding = 1},
	    {.kind = FCL_LAYER_RESIDUAL, .units = 3, .kernel = 3, .stride = 1, .padding = 1,
	     .bn = bn},
	    {.kind = FCL_LAYER_RESIDUAL, .units = 4, .kernel = 3, .stride = 2, .padding = 1,
	     .bn = bn},
	    {.kind = FCL_LAYER_GAP},
	    {.kind = FCL_LAYER_DENSE, .bias = 1},
	};
	struct fcl_arch a;
	struct fcl_mlp m;
	struct fcl_rng rng;
	char dir[] = "/tmp/fcl-test-export-XXXXXX", err[256] = "";

	REQUIRE(mkdtemp(dir) != NULL, "temporary folder");
	REQUIRE(fcl_arch_compile(&a, l, 5, (struct fcl_input_shape){2, 6, 6}, 3, NULL, err,
				 sizeof err) == 0 &&
		    fcl_model_init(&m, &a, 2) == 0,
		"a model with residual blocks (%s)", err);
	fcl_rng_init(&rng, 4, 0, 0, 0);
	fcl_mlp_init_params(&m, &rng);
	struct fcl_tensor_info t[32];
	size_t n = fcl_model_tensors(&m, t, 32), s = bn ? 4 : 0; /* res1's norms before res2 */
	CHECK(n == (bn ? 28u : 8u) && !strcmp(t[1].name, "res1.conv1.weight") &&
		  !strcmp(t[3 + s].name, "res2.conv1.weight") && t[3 + s].shape[1] == 3 &&
		  !strcmp(t[5 + s].name, "res2.shortcut.weight") && t[5 + s].shape[0] == 4 &&
		  t[5 + s].shape[2] == 1,
	      "residual blocks export res<l>.conv1/conv2.weight and a 1x1 res<l>.shortcut.weight");
	if (bn)
		CHECK(!strcmp(t[3].name, "res1.bn1.weight") &&
			  !strcmp(t[15].name, "res2.shortcut_bn.bias") &&
			  !strcmp(t[18].name, "res1.bn1.running_mean") &&
			  !strcmp(t[27].name, "res2.shortcut_bn.running_var") && t[27].count == 4 &&
			  t[27].offset + 4 == m.n_params,
		      "with BatchNorm: res<l>.bn1, .bn2, .shortcut_bn weight and bias after the "
		      "block's convolutions, their running statistics at the tail");
	struct fcl_export_info info = {"t", 2, 0, {2, 6, 6}, 3};
	check_export(dir, "model/final", &m, &info,
		     bn ? "the exported residual model with BatchNorm is its parameters, bit for "
			  "bit"
			: "the exported residual model is its parameters, bit for bit");
	fcl_mlp_fini(&m);
}

int main(int argc, char **argv)
{
	if (argc == 3) {
		size_t np = 0;
		float *buf = reassemble(argv[1], &np);
		if (buf) {
			char hex[32];
			snprintf(hex, sizeof hex, "%016" PRIx64, fcl_hash64(buf, np * sizeof *buf));
			CHECK(!strcmp(hex, argv[2]), "the exported model hashes to %s (run: %s)",
			      hex, argv[2]);
		}
		free(buf);
		return tap_done();
	}
	test_roundtrip();
	test_residual(0);
	test_residual(1);
	return tap_done();
}
