/* lm-blas.h — what the BLAS is doing on this machine, and keeping threads apart.
 *
 * Debian's OpenBLAS 0.3.21 does not recognise some recent CPUs and falls back to its
 * generic Prescott kernel, about 5x slower in sgemm (BENCHMARKS.md). lmlab reports the
 * kernel and thread count in every result and warns once, with the fix, when the kernel
 * is a generic one on a CPU that has AVX2 or AVX-512. The variable OPENBLAS_CORETYPE is
 * read only when the library loads, so the fix is an environment variable set before
 * lmlab starts.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *kernel;        /* openblas_get_corename(), e.g. "Haswell", "SkylakeX", "Prescott" */
  char *config;        /* openblas_get_config() */
  int blas_threads;    /* OpenBLAS threads */
  int omp_threads;     /* OpenMP threads for lmlab's own loops (1 without OpenMP) */
  int cpus;            /* online processors */
  char *cpu_model;     /* from /proc/cpuinfo, or "unknown" */
  gboolean cpu_avx2;
  gboolean cpu_avx512;
  gboolean fallback;   /* a generic kernel on a CPU that deserves better */
  char *advice;        /* how to fix a fallback (NULL when none) */
} LmBlasInfo;

void     lm_blas_info_get   (LmBlasInfo *info);
void     lm_blas_info_clear (LmBlasInfo *info);

/* Share the cores: OpenBLAS gets `threads` (0 = all online CPUs) and lmlab's own OpenMP
 * loops run on 1 thread, so two spin-waiting pools never compete for 2 cores
 * (BENCHMARKS.md: PyTorch with 2 threads is slower than with 1 here). */
void     lm_blas_set_threads (int threads);

/* The BLAS thread count now (1 without a way to ask). */
int      lm_blas_threads     (void);

/* One line for logs and results: "OpenBLAS Haswell kernel, 2 threads". */
char    *lm_blas_describe   (void);

G_END_DECLS
