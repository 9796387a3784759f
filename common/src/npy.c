/* common/src/npy.c - .npy reader and writer (numpy lib/format.py, NEP 1)
 *
 * A file is: magic "\x93NUMPY", major, minor, a little-endian header length
 * (uint16 in 1.0, uint32 in 2.0 and 3.0), then a Python dict literal with
 * exactly the keys 'descr', 'fortran_order' and 'shape', then the raw data.
 * The parser accepts only that literal (any key order, either quote, a
 * trailing comma), as numpy's own safe reader does.
 */
#include "fcl/npy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
	const char *descr;
	size_t size;
} dtypes[] = {
    [FCL_NPY_U8] = {"|u1", 1},  [FCL_NPY_I8] = {"|i1", 1},  [FCL_NPY_I16] = {"<i2", 2},
    [FCL_NPY_U16] = {"<u2", 2}, [FCL_NPY_I32] = {"<i4", 4}, [FCL_NPY_U32] = {"<u4", 4},
    [FCL_NPY_I64] = {"<i8", 8}, [FCL_NPY_U64] = {"<u8", 8}, [FCL_NPY_F32] = {"<f4", 4},
    [FCL_NPY_F64] = {"<f8", 8},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

const char *fcl_npy_descr(enum fcl_npy_dtype dtype)
{
	return (unsigned)dtype < N_DTYPES ? dtypes[dtype].descr : NULL;
}

static int find_dtype(const char *descr, enum fcl_npy_dtype *out)
{
	for (size_t i = 0; i < N_DTYPES; i++) {
		const char *d = dtypes[i].descr;
		/* numpy writes one-byte types with '|', but '<' and '=' mean the same there */
		if (!strcmp(descr, d) || (d[0] == '|' && (descr[0] == '<' || descr[0] == '=') &&
					  !strcmp(descr + 1, d + 1))) {
			*out = (enum fcl_npy_dtype)i;
			return 0;
		}
	}
	return -1;
}

struct hdr {
	const char *p, *end;
};

static void skip_space(struct hdr *h)
{
	while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
		h->p++;
}

static bool take(struct hdr *h, char ch)
{
	skip_space(h);
	if (h->p < h->end && *h->p == ch) {
		h->p++;
		return true;
	}
	return false;
}

static bool quoted(struct hdr *h, char *out, size_t len)
{
	skip_space(h);
	if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
		return false;
	char q = *h->p++;
	size_t n = 0;
	while (h->p < h->end && *h->p != q) {
		if (n + 1 >= len)
			return false;
		out[n++] = *h->p++;
	}
	if (h->p >= h->end)
		return false;
	h->p++;
	out[n] = '\0';
	return true;
}

static bool word(struct hdr *h, const char *w)
{
	size_t n = strlen(w);
	skip_space(h);
	if ((size_t)(h->end - h->p) >= n && !memcmp(h->p, w, n)) {
		h->p += n;
		return true;
	}
	return false;
}

/* "(a, b, c)" or "(a,)" or "()" */
static bool shape(struct hdr *h, struct fcl_npy *a)
{
	if (!take(h, '('))
		return false;
	a->ndim = 0;
	for (;;) {
		if (take(h, ')'))
			return true;
		skip_space(h);
		if (h->p >= h->end || *h->p < '0' || *h->p > '9' || a->ndim == FCL_NPY_MAX_DIMS)
			return false;
		uint64_t v = 0;
		while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				return false;
			v = v * 10 + (uint64_t)(*h->p++ - '0');
		}
		a->shape[a->ndim++] = v;
		if (!take(h, ',')) {
			return take(h, ')');
		}
	}
}

static int parse_header(const char *text, size_t len, struct fcl_npy *a, char *why, size_t wlen)
{
	struct hdr h = {text, text + len};
	bool seen_descr = false, seen_order = false, seen_shape = false;
	char key[32], descr[32];

	if (!take(&h, '{'))
		return snprintf(why, wlen, "header is not a dict literal"), -1;
	while (!take(&h, '}')) {
		if (!quoted(&h, key, sizeof key) || !take(&h, ':'))
			return snprintf(why, wlen, "header: expected 'key': value"), -1;
		if (!strcmp(key, "descr") && !seen_descr) {
			if (!quoted(&h, descr, sizeof descr))
				return snprintf(why, wlen, "header: 'descr' is not a string"), -1;
			if (find_dtype(descr, &a->dtype))
				return snprintf(
					   why, wlen,
					   "dtype '%s' is not supported (expected little-endian "
					   "integers, float32 or float64)",
					   descr),
				       -1;
			seen_descr = true;
		} else if (!strcmp(key, "fortran_order") && !seen_order) {
			if (word(&h, "True"))
				return snprintf(why, wlen,
						"fortran_order is True (expected C order)"),
				       -1;
			if (!word(&h, "False"))
				return snprintf(why, wlen, "header: bad fortran_order"), -1;
			seen_order = true;
		} else if (!strcmp(key, "shape") && !seen_shape) {
			if (!shape(&h, a))
				return snprintf(why, wlen, "header: bad shape tuple"), -1;
			seen_shape = true;
		} else {
			return snprintf(why, wlen, "header: unexpected or repeated key '%s'", key),
			       -1;
		}
		if (!take(&h, ',')) {
			if (!take(&h, '}'))
				return snprintf(why, wlen, "header: expected ',' or '}'"), -1;
			break;
		}
	}
	skip_space(&h);
	if (h.p != h.end)
		return snprintf(why, wlen, "header: text after the dict"), -1;
	if (!seen_descr || !seen_order || !seen_shape)
		return snprintf(why, wlen, "header lacks %s",
				!seen_descr   ? "'descr'"
				: !seen_order ? "'fortran_order'"
					      : "'shape'"),
		       -1;
	return 0;
}

/* The element count, refusing one that overflows or exceeds limit bytes. */
static int count_of(struct fcl_npy *a, uint64_t limit)
{
	uint64_t n = 1;
	for (uint32_t d = 0; d < a->ndim; d++) {
		if (a->shape[d] && n > limit / a->shape[d])
			return -1;
		n *= a->shape[d];
	}
	a->count = n;
	a->itemsize = dtypes[a->dtype].size;
	return n > limit / a->itemsize ? -1 : 0;
}

int fcl_npy_read(const char *path, struct fcl_npy *out, char *err, size_t errlen)
{
	unsigned char pre[12];
	struct fcl_npy a;
	struct stat st;
	char why[160];
	char *text = NULL;
	int rc = -EPROTO;

	memset(&a, 0, sizeof a);
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno ? errno : ENOENT;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return e == ENOENT ? -ENOENT : -EIO;
	}
	if (fstat(fileno(f), &st) || fread(pre, 1, 10, f) != 10) {
		snprintf(err, errlen, "%s: truncated .npy preamble", path);
		goto out;
	}
	if (memcmp(pre, "\x93NUMPY", 6)) {
		snprintf(err, errlen, "%s: not a .npy file (magic is not \\x93NUMPY)", path);
		goto out;
	}
	if (pre[6] < 1 || pre[6] > 3) {
		snprintf(err, errlen, "%s: .npy version %u.%u is not supported", path, pre[6],
			 pre[7]);
		goto out;
	}
	size_t hlen = (size_t)pre[8] | (size_t)pre[9] << 8, off = 10;
	if (pre[6] >= 2) {
		if (fread(pre + 10, 1, 2, f) != 2) {
			snprintf(err, errlen, "%s: truncated .npy preamble", path);
			goto out;
		}
		hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
		off = 12;
	}
	if (hlen > 1u << 20 || off + hlen > (size_t)st.st_size) {
		snprintf(err, errlen, "%s: header length %zu exceeds the file (%lld bytes)", path,
			 hlen, (long long)st.st_size);
		goto out;
	}
	if (!(text = malloc(hlen + 1))) {
		rc = -ENOMEM;
		goto out;
	}
	if (fread(text, 1, hlen, f) != hlen) {
		snprintf(err, errlen, "%s: truncated .npy header", path);
		goto out;
	}
	text[hlen] = '\0';
	if (parse_header(text, hlen, &a, why, sizeof why)) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto out;
	}
	uint64_t have = (uint64_t)st.st_size - off - hlen;
	if (count_of(&a, (uint64_t)1 << 40)) {
		snprintf(err, errlen, "%s: implausible shape", path);
		goto out;
	}
	if (have != a.count * a.itemsize) {
		snprintf(err, errlen,
			 "%s: %llu bytes of data, expected %llu for the shape in the "
			 "header (%s)",
			 path, (unsigned long long)have, (unsigned long long)(a.count * a.itemsize),
			 have < a.count * a.itemsize ? "truncated" : "trailing bytes");
		goto out;
	}
	if (!(a.data = malloc(a.count * a.itemsize + 1))) {
		rc = -ENOMEM;
		goto out;
	}
	if (fread(a.data, 1, a.count * a.itemsize, f) != a.count * a.itemsize) {
		snprintf(err, errlen, "%s: read error", path);
		free(a.data);
		rc = -EIO;
		goto out;
	}
	*out = a;
	rc = 0;
out:
	free(text);
	fclose(f);
	return rc;
}

int fcl_npy_write(const char *path, enum fcl_npy_dtype dtype, const uint64_t *shp, uint32_t ndim,
		  const void *data)
{
	char hdr[512];
	struct fcl_npy a = {.dtype = dtype, .ndim = ndim};

	if ((unsigned)dtype >= N_DTYPES || ndim > FCL_NPY_MAX_DIMS)
		return -EINVAL;
	memcpy(a.shape, shp, ndim * sizeof *shp);
	if (count_of(&a, UINT64_MAX / 2))
		return -EINVAL;
	int n = snprintf(hdr + 10, sizeof hdr - 10,
			 "{'descr': '%s', 'fortran_order': False, 'shape': (", dtypes[dtype].descr);
	for (uint32_t d = 0; d < ndim; d++)
		n += snprintf(hdr + 10 + n, sizeof hdr - 10 - (size_t)n, "%llu%s",
			      (unsigned long long)shp[d], ndim == 1 || d + 1 < ndim ? ", " : "");
	/* numpy writes "(3,)" for one dimension: drop the space after the comma */
	if (ndim == 1)
		n--;
	n += snprintf(hdr + 10 + n, sizeof hdr - 10 - (size_t)n, "), }");
	/* pad with spaces so that the data starts at a multiple of 64, then '\n' */
	size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64;
	memset(hdr + 10 + n, ' ', total - 10 - (size_t)n - 1);
	hdr[total - 1] = '\n';
	memcpy(hdr, "\x93NUMPY\x01\x00", 8);
	hdr[8] = (char)((total - 10) & 0xff);
	hdr[9] = (char)((total - 10) >> 8);
	FILE *f = fopen(path, "wb");
	if (!f)
		return errno ? -errno : -EIO;
	int rc = 0;
	if (fwrite(hdr, 1, total, f) != total ||
	    (a.count && fwrite(data, a.itemsize, a.count, f) != a.count))
		rc = -EIO;
	if (fclose(f) != 0)
		rc = -EIO;
	return rc;
}

void fcl_npy_fini(struct fcl_npy *a)
{
	free(a->data);
	memset(a, 0, sizeof *a);
}

int64_t fcl_npy_int_at(const struct fcl_npy *a, uint64_t i)
{
	const unsigned char *p = (const unsigned char *)a->data + i * a->itemsize;
	switch (a->dtype) {
	case FCL_NPY_U8:
		return p[0];
	case FCL_NPY_I8:
		return (int8_t)p[0];
	case FCL_NPY_I16:
		return (int16_t)(p[0] | p[1] << 8);
	case FCL_NPY_U16:
		return (uint16_t)(p[0] | p[1] << 8);
	case FCL_NPY_I32:
	case FCL_NPY_U32: {
		uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			     (uint32_t)p[3] << 24;
		return a->dtype == FCL_NPY_I32 ? (int64_t)(int32_t)v : (int64_t)v;
	}
	case FCL_NPY_I64:
	case FCL_NPY_U64: {
		uint64_t v = 0;
		for (int b = 7; b >= 0; b--)
			v = v << 8 | p[b];
		/* a u64 over INT64_MAX reads as negative: out of range either way */
		return (int64_t)v;
	}
	default:
		return 0;
	}
}
