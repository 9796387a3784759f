/* common/include/fcl/extras.h - what an aggregation rule adds to a message
 *
 * The coordinator and the clients carry a rule's data (FOT's bases and
 * sketches, SCAFFOLD's control variates ...) without knowing what it means:
 * a few float matrices and numbers. fcl/rule.h says who fills them.
 */
#ifndef FCL_EXTRAS_H
#define FCL_EXTRAS_H
#include <stddef.h>
#include <stdint.h>

#define FCL_EXTRAS_MAX 64

/* A float matrix (rows, cols), row-major; values borrowed. */
struct fcl_tensor {
	const float *v;
	uint32_t rows, cols;
};

/* Decoded extras borrow the message's memory (valid until fcl_msg_free). */
struct fcl_extras {
	uint32_t n_tensors, n_ints, n_reals;
	struct fcl_tensor t[FCL_EXTRAS_MAX];
	uint64_t ints[FCL_EXTRAS_MAX];
	double reals[FCL_EXTRAS_MAX];
};

/* Every value is a finite number. */
int fcl_extras_finite(const struct fcl_extras *x);
/* Bytes of the values (tensors, ints, reals), for traffic accounting. */
size_t fcl_extras_bytes(const struct fcl_extras *x);

#endif
