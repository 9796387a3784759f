/* common/src/util.c - time, files, id ranges */
#include "fcl/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

double fcl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double fcl_peak_memory_bytes(void)
{
	struct rusage ru;
	return getrusage(RUSAGE_SELF, &ru) ? 0.0 : (double)ru.ru_maxrss * 1024.0;
}

int fcl_mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof buf)
		return -EINVAL;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0777) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int fcl_write_file_atomic(const char *path, const void *data, size_t len)
{
	char tmp[4200];
	int rc = 0;

	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	FILE *f = fcl_fopen(tmp, "wb");
	if (!f)
		return -errno;
	if (fwrite(data, 1, len, f) != len)
		rc = -EIO;
	if (fclose(f) != 0 && !rc)
		rc = -EIO;
	if (!rc && rename(tmp, path) != 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int fcl_read_file(const char *path, char **out, size_t *len)
{
	return fcl_read_file_max(path, SIZE_MAX - 4097, out, len);
}

int fcl_read_file_max(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *p = realloc(buf, ncap);
			if (!p) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = p;
			cap = ncap;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
		if (n > max) {
			free(buf);
			fclose(f);
			return -EFBIG;
		}
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		free(buf);
		return -EIO;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

int fcl_parse_ids(const char *spec, uint32_t **ids, size_t *n)
{
	uint32_t *out = NULL;
	size_t count = 0, cap = 0;
	const char *p = spec;

	while (*p) {
		char *end;
		errno = 0;
		unsigned long lo = strtoul(p, &end, 10), hi;
		if (end == p || errno || lo > UINT32_MAX)
			goto bad;
		hi = lo;
		p = end;
		if (*p == '-') {
			p++;
			hi = strtoul(p, &end, 10);
			if (end == p || errno || hi > UINT32_MAX || hi < lo || hi - lo > 10000000)
				goto bad;
			p = end;
		}
		for (unsigned long v = lo; v <= hi; v++) {
			if (count == cap) {
				cap = cap ? cap * 2 : 64;
				uint32_t *q = realloc(out, cap * sizeof *q);
				if (!q) {
					free(out);
					return -ENOMEM;
				}
				out = q;
			}
			out[count++] = (uint32_t)v;
		}
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	if (count == 0)
		goto bad;
	qsort(out, count, sizeof *out, cmp_u32);
	size_t w = 1;
	for (size_t i = 1; i < count; i++)
		if (out[i] != out[w - 1])
			out[w++] = out[i];
	*ids = out;
	*n = w;
	return 0;
bad:
	free(out);
	return -EINVAL;
}

float *fcl_alloc_floats(size_t n)
{
	size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
	float *p = aligned_alloc(64, bytes ? bytes : 64);
	if (p)
		memset(p, 0, bytes ? bytes : 64);
	return p;
}

int fcl_fput(FILE *f, const void *p, size_t bytes)
{
	errno = 0;
	if (bytes == 0 || fwrite(p, 1, bytes, f) == bytes)
		return 0;
	/* the write's own reason: a full disk must read "disk full", not EIO */
	return errno ? -errno : -EIO;
}

int fcl_fget(FILE *f, void *p, size_t bytes)
{
	return bytes == 0 || fread(p, 1, bytes, f) == bytes ? 0 : -EIO;
}

int fcl_flush_lines(FILE *f, long start)
{
	errno = 0;
	if (fflush(f) == 0 && !ferror(f))
		return 0;
	int rc = errno ? -errno : -EIO;
	struct statvfs vfs;
	/* an earlier automatic flush failed and left no errno: was it space? */
	if (rc == -EIO && fstatvfs(fileno(f), &vfs) == 0 && vfs.f_bavail == 0)
		rc = -ENOSPC;
	/* whatever part of the lines reached the file goes again */
	if (start >= 0 && ftruncate(fileno(f), start) == 0)
		fseek(f, start, SEEK_SET);
	clearerr(f);
	return rc;
}

int fcl_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int spare_fds[8];
static int n_spare_fds;

int fcl_fd_reserve(int n)
{
	if (n > (int)(sizeof spare_fds / sizeof *spare_fds))
		n = (int)(sizeof spare_fds / sizeof *spare_fds);
	while (n_spare_fds < n) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		spare_fds[n_spare_fds++] = fd;
	}
	return 0;
}

FILE *fcl_fopen(const char *path, const char *mode)
{
	FILE *f = fopen(path, mode);
	if (f || (errno != EMFILE && errno != ENFILE) || n_spare_fds == 0)
		return f;
	while (n_spare_fds > 0)
		close(spare_fds[--n_spare_fds]);
	return fopen(path, mode);
}

int fcl_raise_fd_limit(uint64_t *now)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -errno;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			return -errno;
	}
	if (now)
		*now = (uint64_t)rl.rlim_cur;
	return 0;
}
