/* fuzz/fuzz_data.c - libFuzzer harness: data files, through each loader
 *
 * The input's first byte picks a format from the table below, the next four
 * (big-endian) how many of the remaining bytes make the first file; the rest
 * is the second file. Both are written to memory-backed files, since the
 * loaders read paths. A new format is one line in the table.
 */
#include "fcl/data.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*loader_fn)(struct fcl_dataset *ds, const char *first, const char *second,
			 char *err, size_t errlen);

static const struct {
	const char *name;
	loader_fn load;
} formats[] = {
    {"idx", fcl_dataset_load_idx}, /* images (0x803), labels (0x801); gzip or plain */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A memory-backed file holding len bytes; its /proc path in path. -1 on failure. */
static int mem_file(const uint8_t *bytes, size_t len, char *path, size_t n)
{
	int fd = memfd_create("fcl-fuzz", 0);

	if (fd < 0)
		return -1;
	if (len && write(fd, bytes, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	snprintf(path, n, "/proc/self/fd/%d", fd);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t n_formats = sizeof formats / sizeof *formats;
	char first[64], second[64], err[512];
	struct fcl_dataset ds;
	size_t split;
	int a, b;

	if (size < 5)
		return 0;
	split = (size_t)data[1] << 24 | (size_t)data[2] << 16 | (size_t)data[3] << 8 | data[4];
	if (split > size - 5)
		split = size - 5;
	a = mem_file(data + 5, split, first, sizeof first);
	b = mem_file(data + 5 + split, size - 5 - split, second, sizeof second);
	if (a >= 0 && b >= 0) {
		memset(&ds, 0, sizeof ds);
		if (formats[data[0] % n_formats].load(&ds, first, second, err, sizeof err) == 0) {
			/* what a loader hands back is consistent */
			for (uint32_t i = 0; i < ds.n; i++)
				if (ds.y[i] >= ds.n_classes)
					__builtin_trap();
			fcl_dataset_fini(&ds);
		}
	}
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return 0;
}
