/* common/include/fcl/npy.h - NumPy .npy files (format 1.0, 2.0, 3.0; NEP 1)
 *
 * Read for data sets (fcl/data.h), written for data sets and for model
 * export (fcl/export.h). Little-endian, C order only: a big-endian dtype or
 * fortran_order: True is refused with a readable reason, never misread.
 */
#ifndef FCL_NPY_H
#define FCL_NPY_H
#include <stddef.h>
#include <stdint.h>

#define FCL_NPY_MAX_DIMS 8

enum fcl_npy_dtype {
	FCL_NPY_U8,  /* |u1 */
	FCL_NPY_I8,  /* |i1 */
	FCL_NPY_I16, /* <i2 */
	FCL_NPY_U16, /* <u2 */
	FCL_NPY_I32, /* <i4 */
	FCL_NPY_U32, /* <u4 */
	FCL_NPY_I64, /* <i8 */
	FCL_NPY_U64, /* <u8 */
	FCL_NPY_F32, /* <f4 */
	FCL_NPY_F64, /* <f8 */
};

struct fcl_npy {
	enum fcl_npy_dtype dtype;
	size_t itemsize;
	uint32_t ndim;
	uint64_t shape[FCL_NPY_MAX_DIMS];
	uint64_t count; /* product of shape (1 for a 0-d array) */
	void *data;     /* (count * itemsize) owned, as stored (little-endian) */
};

/* Reads a whole file. Returns 0, -ENOENT, -EIO (short read), -EPROTO (bad
 * magic, header, dtype, order or size) or -ENOMEM; err gets "PATH: reason". */
int fcl_npy_read(const char *path, struct fcl_npy *out, char *err, size_t errlen);
/* Writes a version 1.0 file (header padded to 64 bytes). 0 or -errno. */
int fcl_npy_write(const char *path, enum fcl_npy_dtype dtype, const uint64_t *shape, uint32_t ndim,
		  const void *data);
void fcl_npy_fini(struct fcl_npy *a);
/* "<f4" ... for messages; NULL for an unknown value. */
const char *fcl_npy_descr(enum fcl_npy_dtype dtype);
/* Element i of an integer array as int64 (0 for a float array). */
int64_t fcl_npy_int_at(const struct fcl_npy *a, uint64_t i);

#endif
