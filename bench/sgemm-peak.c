/* sgemm-peak.c — how fast this machine's BLAS multiplies matrices, so that a model's
 * tokens/s can be read as a fraction of what the hardware does at best.
 *
 *   bench/sgemm-peak [--square-only] [THREADS ...]   (default: 1, then every online CPU)
 *
 * For each thread count it times C = A B on square n x n single-precision matrices
 * (n = 2000, the "peak": large enough that packing is amortised) and on the three
 * output-layer products of benchmark B2 (400 positions x 200 features x 10,000 words:
 * logits, the gradient of the hidden states, and the weight gradient), with the weight
 * stored (V,H) and (H,V), the B2 transformer's head gradient on one thread's half of the
 * vocabulary, its blocks' forward products on lm_smallgemm and on sgemm, and lm_smallgemm
 * on operands that fit in L2, each the median of 7 repeats after a warm-up; first, one
 * core's multiply-add peak with every operand in registers. FLOPs count 2 per
 * multiply-add, as BENCHMARKS.md does. --square-only times the square product alone
 * (a few seconds), for the benchmark scripts, which take it before and after their runs.
 *
 * Model utilisation = tokens/s x training FLOPs per token / peak; the training FLOPs per
 * token of each benchmark model are in BENCHMARKS.md (3 x forward, forward = 2 x the
 * parameters in matrix products plus attention).
 */
#include "config.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "core/lm-blas.h"
#include "core/lm-ops-simd.h"
#include "core/lm-smallgemm.h"

#if LM_HAVE_AVX2_PATH
#include <immintrin.h>
#endif

typedef struct {
  const char *name;
  CBLAS_TRANSPOSE ta, tb;
  int M, N, K;
  gboolean packed; /* lm_smallgemm against B packed once (not timed), instead of sgemm */
} Shape;

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* GFLOP/s of C (M,N) = op(A) op(B), median of `repeats` timed calls after one warm-up */
static double
time_gemm (const Shape *s, int repeats)
{
  gsize na = (gsize) s->M * s->K, nb = (gsize) s->K * s->N, nc = (gsize) s->M * s->N;
  float *A = g_new (float, na), *B = g_new (float, nb), *C = g_new0 (float, nc);
  for (gsize i = 0; i < na; i++)
    A[i] = (float) ((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  for (gsize i = 0; i < nb; i++)
    B[i] = (float) ((i * 40503u) % 1000) / 1000.0f - 0.5f;
  int lda = s->ta == CblasNoTrans ? s->K : s->M;
  int ldb = s->tb == CblasNoTrans ? s->N : s->K;
  double *t = g_new (double, repeats);
  float *packed = NULL;
  if (s->packed)
    {
      packed = g_new (float, lm_smallgemm_packed_floats (s->K, s->N));
      lm_smallgemm_pack (packed, s->tb != CblasNoTrans, s->K, s->N, B, ldb);
    }
  for (int r = -1; r < repeats; r++)
    {
      gint64 t0 = g_get_monotonic_time ();
      if (packed)
        lm_smallgemm (s->M, s->N, s->K, A, lda, packed, NULL, 0.0f, C, s->N);
      else
        cblas_sgemm (CblasRowMajor, s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb,
                     0.0f, C, s->N);
      if (r >= 0)
        t[r] = (g_get_monotonic_time () - t0) / 1e6;
    }
  qsort (t, repeats, sizeof *t, compare_double);
  double gflops = 2.0 * s->M * s->N * s->K / t[repeats / 2] / 1e9;
  g_free (t);
  g_free (packed);
  g_free (A);
  g_free (B);
  g_free (C);
  return gflops;
}

/* One core's multiply-add rate with nothing from memory: twelve independent chains of
 * 8-wide FMAs in registers (the shape of lm_smallgemm's 6 x 16 tile), GFLOP/s, the best
 * of 5. The ceiling the products below are measured against: what they lose to it, they
 * lose to loads, caches and memory. Only with AVX2 + FMA. */
#if LM_HAVE_AVX2_PATH
static volatile float fma_sink;

static LM_TARGET_AVX2 double
fma_peak (void)
{
  const long iterations = 20000000;
  double best = 0.0;
  for (int r = 0; r < 5; r++)
    {
      __m256 acc[12];
      for (int i = 0; i < 12; i++)
        acc[i] = _mm256_set1_ps (1e-3f * (float) i);
      const __m256 b = _mm256_set1_ps (0.999f), c = _mm256_set1_ps (1e-4f);
      gint64 t0 = g_get_monotonic_time ();
      for (long k = 0; k < iterations; k++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
          acc[i] = _mm256_fmadd_ps (acc[i], b, c);
      double seconds = (g_get_monotonic_time () - t0) / 1e6;
      /* use the sums, so the loop is not thrown away */
      __m256 total = acc[0];
      for (int i = 1; i < 12; i++)
        total = _mm256_add_ps (total, acc[i]);
      fma_sink = _mm256_cvtss_f32 (total);
      best = MAX (best, iterations * 12.0 * 16.0 / seconds / 1e9);
    }
  return best;
}

/* The same with 16-wide AVX-512 multiply-adds (lm_smallgemm's 6 x 32 tile there) */
static LM_TARGET_AVX512 double
fma_peak_avx512 (void)
{
  const long iterations = 20000000;
  double best = 0.0;
  for (int r = 0; r < 5; r++)
    {
      __m512 acc[12];
      for (int i = 0; i < 12; i++)
        acc[i] = _mm512_set1_ps (1e-3f * (float) i);
      const __m512 b = _mm512_set1_ps (0.999f), c = _mm512_set1_ps (1e-4f);
      gint64 t0 = g_get_monotonic_time ();
      for (long k = 0; k < iterations; k++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
          acc[i] = _mm512_fmadd_ps (acc[i], b, c);
      double seconds = (g_get_monotonic_time () - t0) / 1e6;
      __m512 total = acc[0];
      for (int i = 1; i < 12; i++)
        total = _mm512_add_ps (total, acc[i]);
      fma_sink = _mm512_cvtss_f32 (total);
      best = MAX (best, iterations * 12.0 * 32.0 / seconds / 1e9);
    }
  return best;
}
#endif

int
main (int argc, char **argv)
{
  static const Shape shapes[] = {
    { "square 2000 (peak)", CblasNoTrans, CblasNoTrans, 2000, 2000, 2000 },
    /* the output weight stored (V,H), as nn.Linear and the tied embedding have it */
    { "B2 logits, W (V,H): (400,200)x(200,10000)", CblasNoTrans, CblasTrans, 400, 10000, 200 },
    { "B2 dH, W (V,H): (400,10000)x(10000,200)", CblasNoTrans, CblasNoTrans, 400, 200, 10000 },
    { "B2 dW, W (V,H): (10000,400)x(400,200)", CblasTrans, CblasNoTrans, 10000, 200, 400 },
    /* stored (H,V), as the untied recurrent models have it (rnn/lm-recurrent.c) */
    { "B2 logits, W (H,V): (400,200)x(200,10000)", CblasNoTrans, CblasNoTrans, 400, 10000, 200 },
    { "B2 dH, W (H,V): (400,10000)x(10000,200)", CblasNoTrans, CblasTrans, 400, 200, 10000 },
    { "B2 dW, W (H,V): (200,400)x(400,10000)", CblasTrans, CblasNoTrans, 200, 10000, 400 },
    /* the transformer's B2 head gradient on one thread's part of the vocabulary: 700
     * positions (B = 20, T = 35) x 200 features x 5,000 words */
    { "B2 transformer head-part dW, W (V,C): (5000,700)x(700,200)", CblasTrans, CblasNoTrans,
      5000, 200, 700 },
    { "B2 transformer head-part dW, W (C,V): (200,700)x(700,5000)", CblasTrans, CblasNoTrans,
      200, 5000, 700 },
    /* the B2 transformer blocks' forward products on one thread's 350 positions, W^T given
     * as PyTorch's (O,C) weight: lm_smallgemm (the model's path, the weight packed once a
     * step) and sgemm; one thread at a time, so "2 threads" only runs sgemm's */
    { "B2 transformer qkv, lm_smallgemm: (350,200)x(200,600)", CblasNoTrans, CblasTrans, 350,
      600, 200, TRUE },
    { "B2 transformer qkv, sgemm: (350,200)x(200,600)", CblasNoTrans, CblasTrans, 350, 600, 200 },
    { "B2 transformer fc, lm_smallgemm: (350,200)x(200,800)", CblasNoTrans, CblasTrans, 350, 800,
      200, TRUE },
    { "B2 transformer fc, sgemm: (350,200)x(200,800)", CblasNoTrans, CblasTrans, 350, 800, 200 },
    { "B2 transformer fc2, lm_smallgemm: (350,800)x(800,200)", CblasNoTrans, CblasTrans, 350,
      200, 800, TRUE },
    { "B2 transformer fc2, sgemm: (350,800)x(800,200)", CblasNoTrans, CblasTrans, 350, 200, 800 },
    /* small enough that A, the packed B and C stay in L2 (48 + 48 + 48 KiB): the kernel
     * alone, to set against the rows above and the register peak */
    { "lm_smallgemm in cache: (96,128)x(128,128)", CblasNoTrans, CblasTrans, 96, 128, 128,
      TRUE },
  };
  GArray *threads = g_array_new (FALSE, FALSE, sizeof (int));
  gboolean square_only = FALSE;
  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--square-only"))
        {
          square_only = TRUE;
          continue;
        }
      char *end;
      long n = strtol (argv[i], &end, 10);
      if (*end || n < 1 || n > 1024)
        {
          fprintf (stderr, "usage: %s [--square-only] [THREADS ...]  (positive thread counts)\n",
                   argv[0]);
          return 2;
        }
      int v = (int) n;
      g_array_append_val (threads, v);
    }
  if (threads->len == 0)
    {
      int one = 1, all = (int) g_get_num_processors ();
      g_array_append_val (threads, one);
      if (all > 1)
        g_array_append_val (threads, all);
    }
  LmBlasInfo info;
  lm_blas_info_get (&info);
  printf ("OpenBLAS %s kernel on %s (%d CPUs); GFLOP/s, median of 7\n", info.kernel,
          info.cpu_model, info.cpus);
  lm_blas_info_clear (&info);
#if LM_HAVE_AVX2_PATH
  if (lm_simd_avx2 () && !square_only)
    {
      printf ("one core's FMA peak, registers only: %.1f GFLOP/s (AVX2)", fma_peak ());
      if (lm_simd_avx512 ())
        printf (", %.1f GFLOP/s (AVX-512)", fma_peak_avx512 ());
      printf ("\n");
    }
#endif
  printf ("| product |");
  for (guint k = 0; k < threads->len; k++)
    printf (" %d thread%s |", g_array_index (threads, int, k),
            g_array_index (threads, int, k) == 1 ? "" : "s");
  printf ("\n| --- |");
  for (guint k = 0; k < threads->len; k++)
    printf (" ---: |");
  printf ("\n");
  for (gsize i = 0; i < (square_only ? 1 : G_N_ELEMENTS (shapes)); i++)
    {
      printf ("| %s |", shapes[i].name);
      for (guint k = 0; k < threads->len; k++)
        {
          lm_blas_set_threads (g_array_index (threads, int, k));
          printf (" %.1f |", time_gemm (&shapes[i], 7));
        }
      printf ("\n");
      fflush (stdout);
    }
  g_array_free (threads, TRUE);
  return 0;
}
