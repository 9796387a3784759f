/* common/include/fcl/util.h - small process helpers: time, files, id ranges */
#ifndef FCL_UTIL_H
#define FCL_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Monotonic seconds. */
double fcl_now(void);
/* The process's peak resident memory so far, in bytes (getrusage). */
double fcl_peak_memory_bytes(void);
/* mkdir -p; 0 or -errno. */
int fcl_mkdir_p(const char *path);
/* Writes data to path via a temporary file and rename, so readers never see half a file. */
int fcl_write_file_atomic(const char *path, const void *data, size_t len);
/* Reads a whole file; *out is owned and NUL-terminated. 0 or -errno. */
int fcl_read_file(const char *path, char **out, size_t *len);
/* The same, refusing (-EFBIG) a file longer than max bytes before reading on. */
int fcl_read_file_max(const char *path, size_t max, char **out, size_t *len);
/* Flushes a file that is written a line (or a batch of lines) at a time;
 * on failure cuts it back to `start`, its length before those lines, so that
 * it still ends with a whole line. 0 or -errno (-ENOSPC: the disk is full). */
int fcl_flush_lines(FILE *f, long start);
/* fsync of a file or folder by path. 0 or -errno. */
int fcl_fsync_path(const char *path);

/* Out of file descriptors. fcl_fd_reserve keeps n (at most 8) spare ones
 * open; fcl_fopen is fopen that, failing with EMFILE or ENFILE, closes the
 * spares and tries again, so that a process that ran out (a coordinator
 * with thousands of connections) can still write its results. Call
 * fcl_fd_reserve again after such a file is closed. 0 or -errno. */
int fcl_fd_reserve(int n);
FILE *fcl_fopen(const char *path, const char *mode);
/* Raises the soft limit on open files to the hard limit; *now (may be NULL)
 * is the limit in force after. 0 or -errno. */
int fcl_raise_fd_limit(uint64_t *now);

/* Binary state in checkpoints: writes or reads exactly `bytes` (0 is fine).
 * 0, or -EIO when the file is short; a failed write gives its errno
 * (-ENOSPC on a full disk), -EIO when it has none. */
int fcl_fput(FILE *f, const void *p, size_t bytes);
int fcl_fget(FILE *f, void *p, size_t bytes);
/* n zeroed floats, 64-byte aligned (so BLAS takes the same code path in every
 * process); free with free(). NULL when out of memory. */
float *fcl_alloc_floats(size_t n);
/* Parses "0-3,7,9-10" into a sorted, duplicate-free owned array. 0 or -EINVAL/-ENOMEM. */
int fcl_parse_ids(const char *spec, uint32_t **ids, size_t *n);

#endif
