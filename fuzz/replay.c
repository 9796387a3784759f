/* fuzz/replay.c - runs a harness over files, without libFuzzer
 *
 *   replay_NAME DIR...   every file in each DIR once, as one input; TAP
 *
 * The ordinary build links each harness with this so that the committed
 * corpus and the regression inputs (crashes and hangs found before) run in
 * the unit suite with any compiler; a regression shows as a crash, a
 * sanitizer report (build-asan) or the test's timeout.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0, failed = 0;

	for (int a = 1; a < argc; a++) {
		DIR *d = opendir(argv[a]);
		struct dirent *e;
		char **names = NULL;
		size_t count = 0;

		if (!d) {
			printf("not ok %d - %s: cannot open\n", ++n, argv[a]);
			failed++;
			continue;
		}
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char **grown = realloc(names, (count + 1) * sizeof *names);
			if (!grown || !(grown[count] = strdup(e->d_name)))
				return 1;
			names = grown;
			count++;
		}
		closedir(d);
		if (count)
			qsort(names, count, sizeof *names, by_name);
		for (size_t i = 0; i < count; i++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[a], names[i]);
			fflush(stdout); /* a crash in the harness leaves the lines before it */
			if (run_file(path) == 0) {
				printf("ok %d - %s\n", ++n, path);
			} else {
				printf("not ok %d - %s: unreadable\n", ++n, path);
				failed++;
			}
			free(names[i]);
		}
		free(names);
	}
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
