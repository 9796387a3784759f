/* common/src/blas_core.c - which of OpenBLAS's kernels a process computes
 * with (fcl/blas_core.h) */
#include "fcl/blas_core.h"

#include <stdio.h>

#ifdef FCL_OPENBLAS
#include <cblas.h>
#endif

const char *fcl_blas_core(void)
{
#ifdef FCL_OPENBLAS
	const char *name = openblas_get_corename();
	return name ? name : "";
#else
	return "";
#endif
}

const char *fcl_blas_version(void)
{
	static char version[32];
#ifdef FCL_OPENBLAS
	/* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." */
	const char *config = openblas_get_config();
	if (!version[0] && config)
		sscanf(config, "OpenBLAS %31s", version);
#endif
	return version;
}
