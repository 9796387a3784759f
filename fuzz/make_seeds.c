/* fuzz/make_seeds.c - writes the seed corpora of the wire and data harnesses
 *
 *   make_seeds DIR    DIR/wire/TYPE.bin (one encoded message of each kind) and
 *                     DIR/data/NAME.bin (small IDX pairs, plain and gzip)
 *
 * The corpora in fuzz/corpus were made with it; the scenario corpus is the
 * shipped scenarios. Rerun it when the wire format changes.
 */
#include "fcl/data.h"
#include "fcl/wire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_bytes(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(a, 1, na, f) == na && (!nb || fwrite(b, 1, nb, f) == nb);

	if (f)
		ok = fclose(f) == 0 && ok;
	return ok ? 0 : -1;
}

static int slurp(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
	    !(*out = malloc((size_t)n + 1)) || fread(*out, 1, (size_t)n, f) != (size_t)n)
		return -1;
	fclose(f);
	*len = (size_t)n;
	return 0;
}

static int wire_seeds(const char *dir)
{
	static const uint32_t ids[] = {0, 1, 2};
	static const float values[] = {0.5f, -1.0f, 2.0f, 0.0f};
	char path[1024];

	for (int t = FCL_MSG_HELLO; t <= FCL_MSG_RESTORED; t++) {
		struct fcl_msg m;
		uint8_t *buf;
		size_t len;

		memset(&m, 0, sizeof m);
		m.type = (enum fcl_msg_type)t;
		m.round = 3;
		m.client_id = t == FCL_MSG_HELLO ? -1 : 1;
		m.protocol_version = 1;
		m.hostname = "node";
		m.scenario_text = "name: x\n";
		m.scenario_name = "x";
		m.n_params = 4;
		m.ids = ids;
		m.n_ids = 3;
		m.values = values;
		m.n_values = 4;
		m.n_samples = 60;
		if (fcl_wire_encode(&m, &buf, &len) != 0)
			return -1;
		snprintf(path, sizeof path, "%s/wire/%s.bin", dir, fcl_msg_type_name(m.type));
		if (write_bytes(path, buf, len, NULL, 0) != 0)
			return -1;
		free(buf);
	}
	return 0;
}

/* The data harness's input: format byte, 4-byte length of the first file, both files. */
static int data_seed(const char *dir, const char *name, const char *ext)
{
	struct fcl_dataset ds;
	char img[1024], lab[1024], path[1024];
	uint8_t *a = NULL, *b = NULL, head[5] = {0};
	size_t na, nb;
	int rc;

	if (fcl_dataset_synthetic(&ds, 12, 16, 3, 7, 12) != 0)
		return -1;
	snprintf(img, sizeof img, "%s/tmp-images%s", dir, ext);
	snprintf(lab, sizeof lab, "%s/tmp-labels%s", dir, ext);
	rc = fcl_dataset_save_idx(&ds, img, lab);
	fcl_dataset_fini(&ds);
	if (rc || slurp(img, &a, &na) || slurp(lab, &b, &nb))
		return -1;
	head[1] = (uint8_t)(na >> 24);
	head[2] = (uint8_t)(na >> 16);
	head[3] = (uint8_t)(na >> 8);
	head[4] = (uint8_t)na;
	uint8_t *all = malloc(5 + na + nb);
	memcpy(all, head, 5);
	memcpy(all + 5, a, na);
	memcpy(all + 5 + na, b, nb);
	snprintf(path, sizeof path, "%s/data/%s.bin", dir, name);
	rc = write_bytes(path, all, 5 + na + nb, NULL, 0);
	remove(img);
	remove(lab);
	free(all);
	free(a);
	free(b);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	if (wire_seeds(argv[1]) || data_seed(argv[1], "idx-plain", "") ||
	    data_seed(argv[1], "idx-gzip", ".gz")) {
		fprintf(stderr, "make_seeds: failed\n");
		return 1;
	}
	return 0;
}
