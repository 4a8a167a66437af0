/* test-smallgemm.c — core/lm-smallgemm.h against cblas_sgemm (lm_sgemm), on both paths.
 *
 * Shapes are chosen to hit every edge of the tiling: M not a multiple of the 6-row tile
 * (and 1), N not a multiple of the 16-column panel or of 8 (and below one panel), K odd
 * and 0, row strides wider than the rows; beta 0 (C holding NaN, which must be ignored),
 * 1 and 0.5; with and without a bias; B packed from (K,N) and from its transpose. Each
 * case runs on the portable path and, when the CPU has it, the AVX2+FMA path.
 *
 * Tolerance: both sides round differently (order of the K sums, FMA), so an element may
 * differ by a few ulps of the sum of the magnitudes of its terms:
 *   |c - ref| <= 1e-6 (K + 4) (sum_k |a_k b_k| + |bias| + |beta c|)
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-ops-simd.h"
#include "core/lm-ops.h"
#include "core/lm-rng.h"
#include "core/lm-smallgemm.h"
#include "lm-test-util.h"

typedef struct {
  int M, N, K;
} Shape;

static const Shape shapes[] = {
  { 1, 1, 1 },     { 1, 16, 128 },  { 2, 7, 3 },      { 5, 17, 9 },   { 6, 16, 16 },
  { 7, 33, 31 },   { 13, 8, 5 },    { 25, 128, 128 }, { 25, 513, 127 }, { 50, 384, 128 },
  { 50, 128, 512 }, { 11, 100, 0 }, { 37, 45, 64 }, { 4, 30, 20 },    { 20, 600, 200 },
};

/* One product checked: C = A op(B) + beta C0 + bias, against lm_sgemm plus the same
 * additions. Returns the largest error in units of the tolerance (<= 1 passes). */
static double
check_one (LmRng *rng, Shape s, gboolean trans_b, float beta, gboolean with_bias)
{
  const int lda = s.K + 3, ldc = s.N + 5, ldb = (trans_b ? s.K : s.N) + 2;
  const gsize nb = (gsize) (trans_b ? s.N : s.K) * ldb;
  g_autofree float *A = lm_test_random_buffer (rng, (gsize) s.M * lda + 1, 1.0f);
  g_autofree float *B = lm_test_random_buffer (rng, nb + 1, 1.0f);
  g_autofree float *bias = lm_test_random_buffer (rng, (gsize) s.N + 1, 1.0f);
  g_autofree float *C0 = lm_test_random_buffer (rng, (gsize) s.M * ldc + 1, 1.0f);
  g_autofree float *packed = g_new (float, lm_smallgemm_packed_floats (s.K, s.N) + 1);
  g_autofree float *C = g_memdup2 (C0, ((gsize) s.M * ldc + 1) * sizeof (float));
  g_autofree float *ref = g_new0 (float, (gsize) s.M * ldc + 1);
  if (beta == 0.0f)
    for (int i = 0; i < s.M; i++)
      for (int j = 0; j < s.N; j++)
        C[(gsize) i * ldc + j] = NAN; /* must be ignored */

  lm_smallgemm_pack (packed, trans_b, s.K, s.N, B, ldb);
  lm_smallgemm (s.M, s.N, s.K, A, lda, packed, with_bias ? bias : NULL, beta, C, ldc);
  if (s.K > 0)
    lm_sgemm (FALSE, trans_b, s.M, s.N, s.K, 1.0f, A, lda, B, ldb, 0.0f, ref, ldc);

  double worst = 0.0;
  for (int i = 0; i < s.M; i++)
    for (int j = 0; j < s.N; j++)
      {
        double magnitude = 0.0;
        for (int k = 0; k < s.K; k++)
          {
            float b = trans_b ? B[(gsize) j * ldb + k] : B[(gsize) k * ldb + j];
            magnitude += fabs ((double) A[(gsize) i * lda + k] * b);
          }
        double expect = ref[(gsize) i * ldc + j];
        if (with_bias)
          {
            expect += bias[j];
            magnitude += fabs (bias[j]);
          }
        if (beta != 0.0f)
          {
            expect += (double) beta * C0[(gsize) i * ldc + j];
            magnitude += fabs ((double) beta * C0[(gsize) i * ldc + j]);
          }
        double got = C[(gsize) i * ldc + j];
        double tolerance = 1e-6 * (s.K + 4) * (magnitude + 1e-30);
        double err = isfinite (got) ? fabs (got - expect) / tolerance : INFINITY;
        worst = MAX (worst, err);
      }
  /* nothing outside the M x N block (the padding columns of each row) was written */
  for (int i = 0; i < s.M; i++)
    for (int j = s.N; j < ldc && (gsize) i * ldc + j < (gsize) s.M * ldc; j++)
      g_assert_cmpfloat (C[(gsize) i * ldc + j], ==, C0[(gsize) i * ldc + j]);
  return worst;
}

static void
run_all_shapes (const char *path)
{
  LmRng rng;
  lm_rng_seed (&rng, 42);
  const float betas[] = { 0.0f, 1.0f, 0.5f };
  double worst = 0.0;
  for (gsize i = 0; i < G_N_ELEMENTS (shapes); i++)
    for (int trans_b = 0; trans_b < 2; trans_b++)
      for (gsize bi = 0; bi < G_N_ELEMENTS (betas); bi++)
        for (int with_bias = 0; with_bias < 2; with_bias++)
          {
            double err = check_one (&rng, shapes[i], trans_b, betas[bi], with_bias);
            if (err > 1.0)
              g_test_message ("%s: M %d N %d K %d trans_b %d beta %g bias %d: error %.3g x "
                              "tolerance", path, shapes[i].M, shapes[i].N, shapes[i].K,
                              trans_b, (double) betas[bi], with_bias, err);
            worst = MAX (worst, err);
          }
  g_test_message ("%s path: largest error %.3g of the tolerance", path, worst);
  g_assert_cmpfloat (worst, <=, 1.0);
}

static void
test_portable (void)
{
  gboolean was = lm_simd_avx2 ();
  g_assert_false (lm_simd_set_avx2 (FALSE));
  run_all_shapes ("portable");
  lm_simd_set_avx2 (was);
}

/* Selects the AVX2+FMA path, or marks the test skipped when the CPU lacks it. */
static gboolean
avx2_or_skip (void)
{
  if (lm_simd_set_avx2 (TRUE))
    return TRUE;
  g_test_skip ("this CPU lacks AVX2 or FMA");
  return FALSE;
}

static void
test_avx2 (void)
{
  gboolean was = lm_simd_avx2 ();
  if (!avx2_or_skip ())
    return;
  gboolean was512 = lm_simd_set_avx512 (FALSE);
  run_all_shapes ("avx2");
  lm_simd_set_avx512 (was512);
  lm_simd_set_avx2 (was);
}

/* Selects the AVX-512 kernels, or marks the test skipped when the CPU lacks them. */
static gboolean
avx512_or_skip (void)
{
  if (lm_simd_set_avx2 (TRUE) && lm_simd_set_avx512 (TRUE))
    return TRUE;
  g_test_skip ("this CPU lacks AVX-512F (or AVX2 and FMA)");
  return FALSE;
}

static void
test_avx512 (void)
{
  gboolean was = lm_simd_avx2 ();
  if (avx512_or_skip ())
    run_all_shapes ("avx512");
  lm_simd_set_avx2 (was);
}

/* The AVX-512 kernels give the AVX2 kernels' bits, every element of C and of the padding
 * around it, for every shape, beta and bias, in lm_smallgemm and lm_smallgemm_wide (row
 * maxima included): a model trains to the same numbers on either CPU. */
static void
test_avx512_same_bits (void)
{
  gboolean was = lm_simd_avx2 ();
  if (!avx512_or_skip ())
    {
      lm_simd_set_avx2 (was);
      return;
    }
  LmRng rng;
  lm_rng_seed (&rng, 13);
  const float betas[] = { 0.0f, 1.0f, 0.5f, -1.25f };
  for (gsize i = 0; i < G_N_ELEMENTS (shapes); i++)
    for (int trans_b = 0; trans_b < 2; trans_b++)
      for (int with_bias = 0; with_bias < 2; with_bias++)
        for (gsize bi = 0; bi < G_N_ELEMENTS (betas); bi++)
          {
            const Shape s = shapes[i];
            const int lda = s.K + 3, ldc = s.N + 5, ldb = (trans_b ? s.K : s.N) + 2;
            const gsize nc = (gsize) s.M * ldc + 1;
            g_autofree float *A = lm_test_random_buffer (&rng, (gsize) s.M * lda + 1, 1.0f);
            g_autofree float *B = lm_test_random_buffer (
              &rng, (gsize) (trans_b ? s.N : s.K) * ldb + 1, 1.0f);
            g_autofree float *bias = lm_test_random_buffer (&rng, (gsize) s.N + 1, 1.0f);
            g_autofree float *C0 = lm_test_random_buffer (&rng, nc, 1.0f);
            g_autofree float *packed = g_new (float, lm_smallgemm_packed_floats (s.K, s.N) + 1);
            g_autofree float *a_packed = g_new (float, lm_smallgemm_rows_floats (s.M, s.K) + 1);
            g_autofree float *scratch = g_new (float, lm_smallgemm_wide_scratch_floats (s.K) + 1);
            float *C[2], *W[2], *max[2];
            lm_smallgemm_pack (packed, trans_b, s.K, s.N, B, ldb);
            lm_smallgemm_pack_rows (a_packed, s.M, s.K, A, lda);
            for (int wide = 0; wide < 2; wide++)
              {
                lm_simd_set_avx512 (wide);
                C[wide] = g_memdup2 (C0, nc * sizeof (float));
                lm_smallgemm (s.M, s.N, s.K, A, lda, packed, with_bias ? bias : NULL,
                              betas[bi], C[wide], ldc);
                W[wide] = g_memdup2 (C0, nc * sizeof (float));
                max[wide] = g_new (float, s.M + 1);
                for (int m = 0; m <= s.M; m++)
                  max[wide][m] = m % 2 ? 0.5f : -INFINITY;
                lm_smallgemm_wide (s.M, s.N, s.K, a_packed, B, ldb, trans_b, scratch,
                                   with_bias ? bias : NULL, W[wide], ldc, max[wide]);
              }
            g_assert_cmpmem (C[0], nc * sizeof (float), C[1], nc * sizeof (float));
            g_assert_cmpmem (W[0], nc * sizeof (float), W[1], nc * sizeof (float));
            g_assert_cmpmem (max[0], (s.M + 1) * sizeof (float), max[1],
                             (s.M + 1) * sizeof (float));
            for (int wide = 0; wide < 2; wide++)
              g_free (C[wide]), g_free (W[wide]), g_free (max[wide]);
          }
  lm_simd_set_avx2 (was);
}

/* A row's result is the same whatever rows surround it (the recurrence splits a batch's
 * rows between threads and must not change a number by it), on either path, for parts
 * of two rows or more (a lone row is summed in another order on the AVX2 path). */
static void
test_rows_independent (void)
{
  gboolean was = lm_simd_avx2 ();
  const int M = 50, N = 512, K = 128;
  LmRng rng;
  lm_rng_seed (&rng, 7);
  g_autofree float *A = lm_test_random_buffer (&rng, (gsize) M * K, 1.0f);
  g_autofree float *B = lm_test_random_buffer (&rng, (gsize) N * K, 1.0f);
  g_autofree float *bias = lm_test_random_buffer (&rng, N, 1.0f);
  g_autofree float *packed = g_new (float, lm_smallgemm_packed_floats (K, N));
  g_autofree float *whole = g_new (float, (gsize) M * N);
  g_autofree float *parts = g_new (float, (gsize) M * N);
  lm_smallgemm_pack (packed, TRUE, K, N, B, K);
  for (int avx2 = 0; avx2 < 2; avx2++)
    {
      if (lm_simd_set_avx2 (avx2) != avx2)
        continue;
      lm_smallgemm (M, N, K, A, K, packed, bias, 0.0f, whole, N);
      /* the split of two threads, and short parts */
      const int cuts[] = { 0, 2, 25, 27, 30, 38, 47, 50 };
      for (gsize c = 0; c + 1 < G_N_ELEMENTS (cuts); c++)
        lm_smallgemm (cuts[c + 1] - cuts[c], N, K, A + (gsize) cuts[c] * K, K, packed, bias,
                      0.0f, parts + (gsize) cuts[c] * N, N);
      g_assert_cmpmem (whole, (gsize) M * N * sizeof (float), parts,
                       (gsize) M * N * sizeof (float));
    }
  lm_simd_set_avx2 (was);
}

/* Packing is a copy: both paths give the same bits, padding included, for every shape
 * (K not a multiple of the 8 rows the AVX2 path transposes at once, partial panels). */
static void
test_pack_paths (void)
{
  gboolean was = lm_simd_avx2 ();
  if (!avx2_or_skip ())
    return;
  LmRng rng;
  lm_rng_seed (&rng, 5);
  for (gsize i = 0; i < G_N_ELEMENTS (shapes); i++)
    for (int trans_b = 0; trans_b < 2; trans_b++)
      {
        const int K = shapes[i].K, N = shapes[i].N, ldb = (trans_b ? K : N) + 3;
        g_autofree float *B = lm_test_random_buffer (&rng, (gsize) (trans_b ? N : K) * ldb + 1,
                                                     1.0f);
        const gsize n = lm_smallgemm_packed_floats (K, N);
        g_autofree float *fast = g_new (float, n + 1), *plain = g_new (float, n + 1);
        lm_simd_set_avx2 (TRUE);
        lm_smallgemm_pack (fast, trans_b, K, N, B, ldb);
        lm_simd_set_avx2 (FALSE);
        lm_smallgemm_pack (plain, trans_b, K, N, B, ldb);
        g_assert_cmpmem (fast, n * sizeof (float), plain, n * sizeof (float));
        /* and the packed panel holds B(k, j) at [(p K + k) 16 + j] */
        for (int k = 0; k < K; k++)
          for (int j = 0; j < N; j++)
            {
              float b = trans_b ? B[(gsize) j * ldb + k] : B[(gsize) k * ldb + j];
              g_assert_cmpfloat (plain[((gsize) (j / 16) * K + k) * 16 + j % 16], ==, b);
            }
      }
  lm_simd_set_avx2 (was);
}

/* lm_smallgemm_wide gives lm_smallgemm's bits (same sums in the same order) on each path,
 * for every shape but a lone row (which lm_smallgemm sums in four chains), writes nothing
 * outside the M x N block, ignores what C held, and packs A's padding rows as zeros. */
static void
test_wide (void)
{
  gboolean was = lm_simd_avx2 ();
  LmRng rng;
  lm_rng_seed (&rng, 11);
  /* 0 portable, 1 AVX2, 2 AVX-512 */
  for (int path = 0; path < 3; path++)
    {
      if (lm_simd_set_avx2 (path > 0) != (path > 0)
          || (path > 0 && lm_simd_set_avx512 (path == 2) != (path == 2)))
        continue;
      for (gsize i = 0; i < G_N_ELEMENTS (shapes); i++)
        for (int trans_b = 0; trans_b < 2; trans_b++)
          for (int with_bias = 0; with_bias < 2; with_bias++)
            {
              const Shape s = shapes[i];
              const int lda = s.K + 3, ldc = s.N + 5, ldb = (trans_b ? s.K : s.N) + 2;
              const gsize nc = (gsize) s.M * ldc;
              g_autofree float *A = lm_test_random_buffer (&rng, (gsize) s.M * lda + 1, 1.0f);
              g_autofree float *B = lm_test_random_buffer (
                &rng, (gsize) (trans_b ? s.N : s.K) * ldb + 1, 1.0f);
              g_autofree float *bias = lm_test_random_buffer (&rng, (gsize) s.N + 1, 1.0f);
              const gsize na = lm_smallgemm_rows_floats (s.M, s.K);
              g_assert_cmpuint (na, ==, (gsize) (s.M + 5) / 6 * 6 * s.K);
              g_autofree float *a_packed = g_new (float, na + 1);
              g_autofree float *scratch = g_new (float, lm_smallgemm_wide_scratch_floats (s.K) + 1);
              g_autofree float *packed = g_new (float, lm_smallgemm_packed_floats (s.K, s.N) + 1);
              g_autofree float *wide = g_new (float, nc + 1), *small = g_new (float, nc + 1);
              for (gsize e = 0; e <= nc; e++)
                wide[e] = small[e] = (e % ldc) < (gsize) s.N && e < nc ? NAN : -7.0f;
              lm_smallgemm_pack_rows (a_packed, s.M, s.K, A, lda);
              for (int q = 0; q * 6 < s.M; q++)
                for (int r = s.M - q * 6; r < 6; r++)
                  for (int k = 0; k < s.K; k++)
                    g_assert_cmpfloat (a_packed[((gsize) q * s.K + k) * 6 + r], ==, 0.0f);
              /* row maxima raised from a start above some rows' and below others' */
              g_autofree float *row_max = g_new (float, s.M + 1);
              for (int m = 0; m <= s.M; m++)
                row_max[m] = m % 2 ? 0.5f : -INFINITY;
              lm_smallgemm_wide (s.M, s.N, s.K, a_packed, B, ldb, trans_b, scratch,
                                 with_bias ? bias : NULL, wide, ldc, row_max);
              for (int m = 0; m < s.M; m++)
                {
                  float expect = m % 2 ? 0.5f : -INFINITY;
                  for (int j = 0; j < s.N; j++)
                    expect = MAX (expect, wide[(gsize) m * ldc + j]);
                  g_assert_cmpfloat (row_max[m], ==, expect);
                }
              g_assert_cmpfloat (row_max[s.M], ==, s.M % 2 ? 0.5f : -INFINITY);
              lm_smallgemm_pack (packed, trans_b, s.K, s.N, B, ldb);
              lm_smallgemm (s.M, s.N, s.K, A, lda, packed, with_bias ? bias : NULL, 0.0f, small,
                            ldc);
              for (gsize e = 0; e <= nc; e++)
                {
                  if ((e % ldc) >= (gsize) s.N || e == nc)
                    {
                      g_assert_cmpfloat (wide[e], ==, -7.0f); /* untouched */
                      continue;
                    }
                  g_assert_true (isfinite (wide[e]));
                  if (s.M > 1)
                    g_assert_cmpfloat (wide[e], ==, small[e]);
                  else
                    g_assert_cmpfloat_with_epsilon (wide[e], small[e],
                                                    1e-5 * (s.K + 4) * (1 + fabsf (small[e])));
                }
            }
    }
  lm_simd_set_avx2 (was);
}

/* Where the output layers take lm_smallgemm_wide: B2's shapes, not B1's characters nor a
 * row at a time. */
static void
test_wide_pays (void)
{
  g_assert_true (lm_smallgemm_wide_pays (400, 10000, 200));  /* B2 rnn/lstm/gru */
  g_assert_true (lm_smallgemm_wide_pays (700, 10000, 200));  /* B2 transformer */
  g_assert_false (lm_smallgemm_wide_pays (2500, 65, 128));   /* B1 recurrent */
  g_assert_false (lm_smallgemm_wide_pays (768, 65, 128));    /* B1 transformer */
  g_assert_false (lm_smallgemm_wide_pays (1, 10000, 200));   /* generation */
  g_assert_false (lm_smallgemm_wide_pays (4000, 10000, 200)); /* A far past L2 */
}

/* LMLAB_NO_SIMD=1 in the environment selects the portable path on first use. */
static void
test_environment (void)
{
  if (g_test_subprocess ())
    {
      g_setenv ("LMLAB_NO_SIMD", "1", TRUE);
      g_assert_false (lm_simd_avx2 ());
      g_assert_false (lm_simd_avx512 ());
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* LMLAB_NO_AVX512=1 keeps the AVX2 kernels on a CPU that has AVX-512. */
static void
test_environment_avx512 (void)
{
  if (g_test_subprocess ())
    {
      g_setenv ("LMLAB_NO_AVX512", "1", TRUE);
      g_assert_false (lm_simd_avx512 ());
      g_assert_false (lm_simd_set_avx2 (TRUE) && lm_simd_avx512 ());
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/smallgemm/portable", test_portable);
  g_test_add_func ("/smallgemm/avx2", test_avx2);
  g_test_add_func ("/smallgemm/avx512", test_avx512);
  g_test_add_func ("/smallgemm/avx512-same-bits", test_avx512_same_bits);
  g_test_add_func ("/smallgemm/rows-independent", test_rows_independent);
  g_test_add_func ("/smallgemm/pack-paths", test_pack_paths);
  g_test_add_func ("/smallgemm/wide", test_wide);
  g_test_add_func ("/smallgemm/wide-pays", test_wide_pays);
  g_test_add_func ("/smallgemm/environment", test_environment);
  g_test_add_func ("/smallgemm/environment-avx512", test_environment_avx512);
  return g_test_run ();
}
