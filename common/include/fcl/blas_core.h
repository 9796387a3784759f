/* fcl/blas_core.h - which of OpenBLAS's kernels a process computes with
 *
 * OpenBLAS picks its kernels by CPU when it loads (OPENBLAS_CORETYPE picks
 * one by name), and its kernels add in different orders: a run's numbers
 * depend on the kernel. So every process of a run computes with the
 * coordinator's kernel (fcl-server refuses a client process that loaded
 * another, which would make the results depend on the process layout), and
 * the run's summary names it.
 */
#ifndef FCL_BLAS_CORE_H
#define FCL_BLAS_CORE_H

/* The kernel OpenBLAS loaded in this process ("Haswell", "SkylakeX",
 * "Cooperlake", ...); "" when fcl was built without OpenBLAS. */
const char *fcl_blas_core(void);

/* OpenBLAS's version ("0.3.21"): versions change kernels too. "" without. */
const char *fcl_blas_version(void);
#endif
