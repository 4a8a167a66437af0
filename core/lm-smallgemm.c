/* lm-smallgemm.c — small GEMMs against a B packed once (see lm-smallgemm.h).
 *
 * C is computed in tiles of up to MR = 6 rows by one panel of NR = 16 columns. A tile
 * keeps its 6x16 sums in registers for the whole K loop (AVX2: 12 ymm accumulators, two
 * for the panel's row of B, one for a broadcast element of A: 15 of the 16 registers),
 * so each step of k loads 16 floats of B and 6 of A for 96 multiply-adds, and C is
 * touched once, at the end. Panels are the outer loop within a chunk of at most MC rows:
 * a panel (K x 16 floats, 8 KiB for K = 128) stays in L1 while every row block of the
 * chunk passes over it, and the chunk of A stays in L1/L2 while the panels pass.
 *
 * The rows are split into blocks as evenly as possible (M = 25 is five blocks of 5, not
 * four of 6 and a lone row), and every element of C is the sum over k in increasing
 * order whatever block it falls in, so a row's result does not depend on M or on how a
 * caller splits the rows between threads, as long as no part is a single row: one row
 * alone (M = 1, scoring and streaming) is summed in four interleaved chains, since a
 * single chain would wait on the latency of every multiply-add.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-ops-simd.h"
#include "core/lm-smallgemm.h"

#if LM_HAVE_AVX2_PATH
#include <immintrin.h>
#endif

#define NR LM_SMALLGEMM_NR
#define MR LM_SMALLGEMM_MR
#define MC 48 /* rows of A per chunk: 48 x K = 128 floats (24 KiB) and an 8 KiB panel fit L1 */

gsize
lm_smallgemm_packed_floats (int K, int N)
{
  gsize panels = ((gsize) MAX (N, 0) + NR - 1) / NR;
  return panels * (gsize) MAX (K, 0) * NR;
}

/* panel(K, NR) = columns n0.. n0+nr-1 of B, B stored (N,K) with row stride ldb: column j
 * of the panel is row j of the storage. Elements one at a time; padding columns untouched. */
static void
pack_panel_trans (float *panel, int k0, int K, int nr, const float *B, int ldb)
{
  for (int j = 0; j < nr; j++)
    {
      const float *src = B + (gsize) j * ldb;
      for (int k = k0; k < K; k++)
        panel[(gsize) k * NR + j] = src[k];
    }
}

#if LM_HAVE_AVX2_PATH
/* out[i] = column i of the 8x8 block r[0..7] (r[j] is its row j) */
static LM_ALWAYS_INLINE LM_TARGET_AVX2 void
transpose8 (__m256 r[8])
{
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2)
    {
      t[i] = _mm256_unpacklo_ps (r[i], r[i + 1]);     /* r_i0 r_i+1,0 r_i1 r_i+1,1 | ...4,5 */
      t[i + 1] = _mm256_unpackhi_ps (r[i], r[i + 1]); /* ...2,3 | ...6,7 */
    }
  for (int i = 0; i < 8; i += 4)
    {
      u[i] = _mm256_shuffle_ps (t[i], t[i + 2], 0x44);     /* columns 0 | 4 of rows i..i+3 */
      u[i + 1] = _mm256_shuffle_ps (t[i], t[i + 2], 0xEE); /* 1 | 5 */
      u[i + 2] = _mm256_shuffle_ps (t[i + 1], t[i + 3], 0x44); /* 2 | 6 */
      u[i + 3] = _mm256_shuffle_ps (t[i + 1], t[i + 3], 0xEE); /* 3 | 7 */
    }
  for (int i = 0; i < 4; i++)
    {
      r[i] = _mm256_permute2f128_ps (u[i], u[i + 4], 0x20);
      r[i + 4] = _mm256_permute2f128_ps (u[i], u[i + 4], 0x31);
    }
}

/* pack_panel_trans for a whole panel (nr == NR), eight k at a time: two 8x8 blocks
 * transposed in registers, where the element-wise loop makes 128 strided stores */
static LM_TARGET_AVX2 void
pack_panel_trans_avx2 (float *panel, int K, const float *B, int ldb)
{
  int k = 0;
  for (; k + 8 <= K; k += 8)
    for (int h = 0; h < NR; h += 8)
      {
        __m256 r[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
          r[j] = _mm256_loadu_ps (B + (gsize) (h + j) * ldb + k);
        transpose8 (r);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
          _mm256_storeu_ps (panel + (gsize) (k + i) * NR + h, r[i]);
      }
  pack_panel_trans (panel, k, K, NR, B, ldb);
}
#endif

void
lm_smallgemm_pack (float *packed, gboolean trans_b, int K, int N, const float *B, int ldb)
{
  if (K <= 0) /* a packed (0,N) matrix has no floats */
    return;
  const int panels = (N + NR - 1) / NR;
  for (int p = 0; p < panels; p++)
    {
      const int n0 = p * NR, nr = MIN (NR, N - n0);
      float *panel = packed + (gsize) p * K * NR; /* (K, NR) */
      if (nr < NR)
        memset (panel, 0, (gsize) K * NR * sizeof (float));
      if (trans_b)
        {
          /* B is stored (N,K): column n0 + j of B is a contiguous row of the storage */
          const float *rows = B + (gsize) n0 * ldb;
#if LM_HAVE_AVX2_PATH
          if (nr == NR && lm_simd_avx2 ())
            {
              pack_panel_trans_avx2 (panel, K, rows, ldb);
              continue;
            }
#endif
          pack_panel_trans (panel, 0, K, nr, rows, ldb);
        }
      else if (nr == NR) /* a constant size, which the compiler copies inline */
        for (int k = 0; k < K; k++)
          memcpy (panel + (gsize) k * NR, B + (gsize) k * ldb + n0, NR * sizeof (float));
      else
        for (int k = 0; k < K; k++)
          memcpy (panel + (gsize) k * NR, B + (gsize) k * ldb + n0, (gsize) nr * sizeof (float));
    }
}

/* Rows [i0, i1) of block `block` out of `blocks`, sizes differing by at most one. */
static inline void
row_block (int M, int blocks, int block, int *i0, int *i1)
{
  *i0 = (int) ((gint64) M * block / blocks);
  *i1 = (int) ((gint64) M * (block + 1) / blocks);
}

/* C(mr,nr) = acc + bias + beta C: the end of a tile, one element at a time. */
static inline void
tile_store (int mr, int nr, float acc[MR][NR], const float *bias, float beta, float *C, int ldc)
{
  for (int r = 0; r < mr; r++)
    {
      float *c = C + (gsize) r * ldc;
      for (int j = 0; j < nr; j++)
        {
          float v = acc[r][j] + (bias ? bias[j] : 0.0f);
          /* beta == 0 never reads C (it may hold anything, NaN included) */
          c[j] = beta == 0.0f ? v : v + beta * c[j];
        }
    }
}

/* ---- portable path ------------------------------------------------------------------- */

/* acc(rows,16) = A(rows,K) · panel(K,16), A(r, k) at A[r * row_stride + k * k_stride], one
 * row at a time so that the row's 16 sums stay in registers over the K loop. */
static void
tile_portable (int rows, int K, const float *A, gsize row_stride, gsize k_stride,
               const float *panel, float acc[MR][NR])
{
  for (int r = 0; r < rows; r++)
    {
      const float *a = A + r * row_stride;
      float sum[NR] = { 0 };
      for (int k = 0; k < K; k++)
        {
          const float x = a[k * k_stride];
          const float *b = panel + (gsize) k * NR;
#pragma GCC unroll 16
          for (int j = 0; j < NR; j++)
            sum[j] += x * b[j];
        }
      memcpy (acc[r], sum, sizeof sum);
    }
}

/* row_max[r] = max (row_max[r], C(r, 0..nr-1)) over the tile's stored rows */
static void
raise_row_max (int mr, int nr, const float *C, int ldc, float *row_max)
{
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < nr; j++)
      if (C[(gsize) r * ldc + j] > row_max[r])
        row_max[r] = C[(gsize) r * ldc + j];
}

static void
smallgemm_portable (int M, int N, int K, const float *A, int lda, const float *packed,
                    const float *bias, float beta, float *C, int ldc)
{
  const int panels = (N + NR - 1) / NR, blocks = (M + MR - 1) / MR;
  float acc[MR][NR];
  for (int p = 0; p < panels; p++)
    {
      const int n0 = p * NR, nr = MIN (NR, N - n0);
      const float *panel = packed + (gsize) p * K * NR;
      for (int blk = 0; blk < blocks; blk++)
        {
          int i0, i1;
          row_block (M, blocks, blk, &i0, &i1);
          tile_portable (i1 - i0, K, A + (gsize) i0 * lda, (gsize) lda, 1, panel, acc);
          tile_store (i1 - i0, nr, acc, bias ? bias + n0 : NULL, beta,
                      C + (gsize) i0 * ldc + n0, ldc);
        }
    }
}

/* ---- AVX2 + FMA path ---------------------------------------------------------------- */

#if LM_HAVE_AVX2_PATH
/* C(mr,nr) = acc + bias + beta C, acc being c0 (columns 0-7) and c1 (8-15) of each row. */
static LM_ALWAYS_INLINE LM_TARGET_AVX2 void
tile_store_avx2 (const int mr, __m256 *c0, __m256 *c1, const float *bias, float beta,
                 float *C, int ldc, int nr)
{
  if (nr < NR)
    {
      float acc[MR][NR];
#pragma GCC unroll 6
      for (int r = 0; r < MR; r++)
        if (r < mr)
          {
            _mm256_storeu_ps (acc[r], c0[r]);
            _mm256_storeu_ps (acc[r] + 8, c1[r]);
          }
      tile_store (mr, nr, acc, bias, beta, C, ldc);
      return;
    }
  const __m256 bias0 = bias ? _mm256_loadu_ps (bias) : _mm256_setzero_ps ();
  const __m256 bias1 = bias ? _mm256_loadu_ps (bias + 8) : _mm256_setzero_ps ();
  const __m256 vbeta = _mm256_set1_ps (beta);
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++)
    if (r < mr)
      {
        float *c = C + (gsize) r * ldc;
        __m256 v0 = _mm256_add_ps (c0[r], bias0), v1 = _mm256_add_ps (c1[r], bias1);
        if (beta != 0.0f)
          {
            v0 = _mm256_fmadd_ps (vbeta, _mm256_loadu_ps (c), v0);
            v1 = _mm256_fmadd_ps (vbeta, _mm256_loadu_ps (c + 8), v1);
          }
        _mm256_storeu_ps (c, v0);
        _mm256_storeu_ps (c + 8, v1);
      }
}

/* The sums of a tile: c0[r], c1[r] = row r of A · panel(K,16) (columns 0-7, 8-15) for the
 * first `rows` rows, k in increasing order, A(r, k) at A[r * row_stride + k * k_stride];
 * rows past mr (padding) are computed but their C is not prefetched. Inlined with
 * constant rows, mr and strides, so the loops over r unroll and the sums live in
 * registers. */
static LM_ALWAYS_INLINE LM_TARGET_AVX2 void
tile_sums_avx2 (const int rows, const int mr, int K, const float *A, gsize row_stride,
                gsize k_stride, const float *panel, const float *C, int ldc, int nr,
                __m256 *c0, __m256 *c1)
{
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++)
    c0[r] = c1[r] = _mm256_setzero_ps ();
  /* The C being written is usually far out of cache (the recurrence adds to the input
   * projection computed for all T steps before; the logits are megabytes); fetch it
   * while the K loop runs instead of stalling on it at the end. */
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++)
    if (r < mr)
      {
        _mm_prefetch ((const char *) (C + (gsize) r * ldc), _MM_HINT_T0);
        _mm_prefetch ((const char *) (C + (gsize) r * ldc + nr - 1), _MM_HINT_T0);
      }
  for (int k = 0; k < K; k++)
    {
      const __m256 b0 = _mm256_loadu_ps (panel + (gsize) k * NR);
      const __m256 b1 = _mm256_loadu_ps (panel + (gsize) k * NR + 8);
#pragma GCC unroll 6
      for (int r = 0; r < MR; r++)
        if (r < rows)
          {
            const __m256 a = _mm256_broadcast_ss (A + r * row_stride + k * k_stride);
            c0[r] = _mm256_fmadd_ps (a, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps (a, b1, c1[r]);
          }
    }
}

/* C(mr,nr) = A(mr,K) · panel(K,16) + bias + beta C, A's rows lda apart. */
static LM_ALWAYS_INLINE LM_TARGET_AVX2 void
tile_avx2 (const int mr, int K, const float *A, int lda, const float *panel, const float *bias,
           float beta, float *C, int ldc, int nr)
{
  __m256 c0[MR], c1[MR]; /* row r, columns 0-7 and 8-15 */
  tile_sums_avx2 (mr, mr, K, A, (gsize) lda, 1, panel, C, ldc, nr, c0, c1);
  tile_store_avx2 (mr, c0, c1, bias, beta, C, ldc, nr);
}

/* One row alone (scoring and streaming, M = 1): with only two accumulators the loop
 * would wait on each multiply-add's latency, so the sum runs in four interleaved
 * chains over k = 4q, 4q+1, 4q+2, 4q+3, added at the end. */
static LM_ALWAYS_INLINE LM_TARGET_AVX2 void
row_avx2 (int K, const float *a, const float *panel, const float *bias, float beta, float *C,
          int nr)
{
  __m256 s0[4], s1[4];
#pragma GCC unroll 4
  for (int u = 0; u < 4; u++)
    s0[u] = s1[u] = _mm256_setzero_ps ();
  int k = 0;
  for (; k + 4 <= K; k += 4)
#pragma GCC unroll 4
    for (int u = 0; u < 4; u++)
      {
        const __m256 x = _mm256_broadcast_ss (a + k + u);
        s0[u] = _mm256_fmadd_ps (x, _mm256_loadu_ps (panel + (gsize) (k + u) * NR), s0[u]);
        s1[u] = _mm256_fmadd_ps (x, _mm256_loadu_ps (panel + (gsize) (k + u) * NR + 8), s1[u]);
      }
  for (; k < K; k++)
    {
      const __m256 x = _mm256_broadcast_ss (a + k);
      s0[0] = _mm256_fmadd_ps (x, _mm256_loadu_ps (panel + (gsize) k * NR), s0[0]);
      s1[0] = _mm256_fmadd_ps (x, _mm256_loadu_ps (panel + (gsize) k * NR + 8), s1[0]);
    }
  __m256 c0[MR], c1[MR];
  c0[0] = _mm256_add_ps (_mm256_add_ps (s0[0], s0[1]), _mm256_add_ps (s0[2], s0[3]));
  c1[0] = _mm256_add_ps (_mm256_add_ps (s1[0], s1[1]), _mm256_add_ps (s1[2], s1[3]));
  tile_store_avx2 (1, c0, c1, bias, beta, C, 0, nr);
}

static LM_TARGET_AVX2 void
smallgemm_avx2 (int M, int N, int K, const float *A, int lda, const float *packed,
                const float *bias, float beta, float *C, int ldc)
{
  const int panels = (N + NR - 1) / NR, blocks = (M + MR - 1) / MR;
  for (int p = 0; p < panels; p++)
    {
      const int n0 = p * NR, nr = MIN (NR, N - n0);
      const float *panel = packed + (gsize) p * K * NR;
      const float *b = bias ? bias + n0 : NULL;
      for (int blk = 0; blk < blocks; blk++)
        {
          int i0, i1;
          row_block (M, blocks, blk, &i0, &i1);
          const float *a = A + (gsize) i0 * lda;
          float *c = C + (gsize) i0 * ldc + n0;
          switch (i1 - i0)
            {
            case 6: tile_avx2 (6, K, a, lda, panel, b, beta, c, ldc, nr); break;
            case 5: tile_avx2 (5, K, a, lda, panel, b, beta, c, ldc, nr); break;
            case 4: tile_avx2 (4, K, a, lda, panel, b, beta, c, ldc, nr); break;
            case 3: tile_avx2 (3, K, a, lda, panel, b, beta, c, ldc, nr); break;
            case 2: tile_avx2 (2, K, a, lda, panel, b, beta, c, ldc, nr); break;
            default: row_avx2 (K, a, panel, b, beta, c, nr); break;
            }
        }
    }
}
#endif

/* ---- AVX-512 path -------------------------------------------------------------------- *
 *
 * The AVX2 tiles twice as wide: up to 6 rows by two panels (32 columns), 12 zmm
 * accumulators of 16 lanes, so a step of k loads two panel rows and 6 elements of A for
 * 192 multiply-adds. Every element is the same chain of multiply-adds over k in increasing
 * order, with the bias added and beta C multiply-added as there (a panel's partial end
 * goes through tile_store, as it does there), so the two paths give the same bits
 * (tests/test-smallgemm.c holds them to it) and a model trains to the same numbers on
 * either CPU. Where the CPU has AVX-512, OpenBLAS multiplies with it too, and the AVX2
 * kernels alone ran at two thirds of its rate there (docs/benchmarks.md, session 13). */

#if LM_HAVE_AVX2_PATH
/* C(mr, nr) = c[r] + bias + beta C for one panel's columns (nr <= 16) */
static LM_ALWAYS_INLINE LM_TARGET_AVX512 void
panel_store_avx512 (const int mr, const __m512 *c, const float *bias, float beta, float *C,
                    int ldc, int nr)
{
  if (nr < NR)
    {
      float acc[MR][NR];
#pragma GCC unroll 6
      for (int r = 0; r < MR; r++)
        if (r < mr)
          _mm512_storeu_ps (acc[r], c[r]);
      tile_store (mr, nr, acc, bias, beta, C, ldc);
      return;
    }
  const __m512 vbias = bias ? _mm512_loadu_ps (bias) : _mm512_setzero_ps ();
  const __m512 vbeta = _mm512_set1_ps (beta);
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++)
    if (r < mr)
      {
        float *row = C + (gsize) r * ldc;
        __m512 v = _mm512_add_ps (c[r], vbias);
        if (beta != 0.0f)
          v = _mm512_fmadd_ps (vbeta, _mm512_loadu_ps (row), v);
        _mm512_storeu_ps (row, v);
      }
}

/* C(mr, nc) = acc + bias + beta C, c0 holding columns 0-15 and c1 (np == 2) 16-31 */
static LM_ALWAYS_INLINE LM_TARGET_AVX512 void
tile_store_avx512 (const int mr, const int np, const __m512 *c0, const __m512 *c1,
                   const float *bias, float beta, float *C, int ldc, int nc)
{
  panel_store_avx512 (mr, c0, bias, beta, C, ldc, MIN (nc, NR));
  if (np == 2)
    panel_store_avx512 (mr, c1, bias ? bias + NR : NULL, beta, C + NR, ldc, nc - NR);
}

/* The sums of a tile: c0[r] (and c1[r] when np == 2) = row r of A times panel p0 (p1),
 * k in increasing order, A(r, k) at A[r * row_stride + k * k_stride]; as tile_sums_avx2. */
static LM_ALWAYS_INLINE LM_TARGET_AVX512 void
tile_sums_avx512 (const int rows, const int mr, const int np, int K, const float *A,
                  gsize row_stride, gsize k_stride, const float *p0, const float *p1,
                  const float *C, int ldc, int nc, __m512 *c0, __m512 *c1)
{
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++)
    c0[r] = c1[r] = _mm512_setzero_ps ();
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++)
    if (r < mr)
      {
        const float *row = C + (gsize) r * ldc;
        _mm_prefetch ((const char *) row, _MM_HINT_T0);
        _mm_prefetch ((const char *) (row + nc / 2), _MM_HINT_T0);
        _mm_prefetch ((const char *) (row + nc - 1), _MM_HINT_T0);
      }
  for (int k = 0; k < K; k++)
    {
      const __m512 b0 = _mm512_loadu_ps (p0 + (gsize) k * NR);
      const __m512 b1 = np == 2 ? _mm512_loadu_ps (p1 + (gsize) k * NR) : b0;
#pragma GCC unroll 6
      for (int r = 0; r < MR; r++)
        if (r < rows)
          {
            const __m512 a = _mm512_set1_ps (A[r * row_stride + k * k_stride]);
            c0[r] = _mm512_fmadd_ps (a, b0, c0[r]);
            if (np == 2)
              c1[r] = _mm512_fmadd_ps (a, b1, c1[r]);
          }
    }
}

static LM_ALWAYS_INLINE LM_TARGET_AVX512 void
tile_avx512 (const int mr, const int np, int K, const float *A, int lda, const float *p0,
             const float *p1, const float *bias, float beta, float *C, int ldc, int nc)
{
  __m512 c0[MR], c1[MR];
  tile_sums_avx512 (mr, mr, np, K, A, (gsize) lda, 1, p0, p1, C, ldc, nc, c0, c1);
  tile_store_avx512 (mr, np, c0, c1, bias, beta, C, ldc, nc);
}

/* One row alone, in four interleaved chains per panel, as row_avx2 */
static LM_ALWAYS_INLINE LM_TARGET_AVX512 void
row_avx512 (const int np, int K, const float *a, const float *p0, const float *p1,
            const float *bias, float beta, float *C, int nc)
{
  __m512 s0[4], s1[4];
#pragma GCC unroll 4
  for (int u = 0; u < 4; u++)
    s0[u] = s1[u] = _mm512_setzero_ps ();
  int k = 0;
  for (; k + 4 <= K; k += 4)
#pragma GCC unroll 4
    for (int u = 0; u < 4; u++)
      {
        const __m512 x = _mm512_set1_ps (a[k + u]);
        s0[u] = _mm512_fmadd_ps (x, _mm512_loadu_ps (p0 + (gsize) (k + u) * NR), s0[u]);
        if (np == 2)
          s1[u] = _mm512_fmadd_ps (x, _mm512_loadu_ps (p1 + (gsize) (k + u) * NR), s1[u]);
      }
  for (; k < K; k++)
    {
      const __m512 x = _mm512_set1_ps (a[k]);
      s0[0] = _mm512_fmadd_ps (x, _mm512_loadu_ps (p0 + (gsize) k * NR), s0[0]);
      if (np == 2)
        s1[0] = _mm512_fmadd_ps (x, _mm512_loadu_ps (p1 + (gsize) k * NR), s1[0]);
    }
  __m512 c0[MR], c1[MR];
  c0[0] = _mm512_add_ps (_mm512_add_ps (s0[0], s0[1]), _mm512_add_ps (s0[2], s0[3]));
  c1[0] = _mm512_add_ps (_mm512_add_ps (s1[0], s1[1]), _mm512_add_ps (s1[2], s1[3]));
  tile_store_avx512 (1, np, c0, c1, bias, beta, C, 0, nc);
}

/* rows [0, M) of C times np panels from p0 (p1 = p0's next), in row blocks as smallgemm_avx2 */
static LM_ALWAYS_INLINE LM_TARGET_AVX512 void
blocks_avx512 (const int np, int M, int K, const float *A, int lda, const float *p0,
               const float *p1, const float *b, float beta, float *C, int ldc, int nc)
{
  const int blocks = (M + MR - 1) / MR;
  for (int blk = 0; blk < blocks; blk++)
    {
      int i0, i1;
      row_block (M, blocks, blk, &i0, &i1);
      const float *a = A + (gsize) i0 * lda;
      float *c = C + (gsize) i0 * ldc;
      switch (i1 - i0)
        {
        case 6: tile_avx512 (6, np, K, a, lda, p0, p1, b, beta, c, ldc, nc); break;
        case 5: tile_avx512 (5, np, K, a, lda, p0, p1, b, beta, c, ldc, nc); break;
        case 4: tile_avx512 (4, np, K, a, lda, p0, p1, b, beta, c, ldc, nc); break;
        case 3: tile_avx512 (3, np, K, a, lda, p0, p1, b, beta, c, ldc, nc); break;
        case 2: tile_avx512 (2, np, K, a, lda, p0, p1, b, beta, c, ldc, nc); break;
        default: row_avx512 (np, K, a, p0, p1, b, beta, c, nc); break;
        }
    }
}

static LM_TARGET_AVX512 void
smallgemm_avx512 (int M, int N, int K, const float *A, int lda, const float *packed,
                  const float *bias, float beta, float *C, int ldc)
{
  const int panels = (N + NR - 1) / NR;
  for (int p = 0; p < panels; p += 2)
    {
      const int n0 = p * NR, nc = MIN (2 * NR, N - n0);
      const float *p0 = packed + (gsize) p * K * NR, *p1 = p0 + (gsize) K * NR;
      const float *b = bias ? bias + n0 : NULL;
      if (p + 1 < panels)
        blocks_avx512 (2, M, K, A, lda, p0, p1, b, beta, C + n0, ldc, nc);
      else
        blocks_avx512 (1, M, K, A, lda, p0, NULL, b, beta, C + n0, ldc, nc);
    }
}
#endif

void
lm_smallgemm (int M, int N, int K, const float *A, int lda, const float *packed,
              const float *bias, float beta, float *C, int ldc)
{
  if (M <= 0 || N <= 0)
    return;
  /* Many rows (a product over all T*B positions) go in chunks of about MC rows, so that
   * a chunk of A stays in cache while every panel passes over it; chunks are as even as
   * row blocks are, so none is a lone row. */
  const int chunks = (M + MC - 1) / MC;
  for (int chunk = 0; chunk < chunks; chunk++)
    {
      int i0, i1;
      row_block (M, chunks, chunk, &i0, &i1);
      const float *a = A + (gsize) i0 * lda;
      float *c = C + (gsize) i0 * ldc;
#if LM_HAVE_AVX2_PATH
      if (lm_simd_avx512 ())
        {
          smallgemm_avx512 (i1 - i0, N, K, a, lda, packed, bias, beta, c, ldc);
          continue;
        }
      if (lm_simd_avx2 ())
        {
          smallgemm_avx2 (i1 - i0, N, K, a, lda, packed, bias, beta, c, ldc);
          continue;
        }
#endif
      smallgemm_portable (i1 - i0, N, K, a, lda, packed, bias, beta, c, ldc);
    }
}

/* ---- many rows against a wide B (lm_smallgemm_wide) ---------------------------------- */

gsize
lm_smallgemm_rows_floats (int M, int K)
{
  return ((gsize) MAX (M, 0) + MR - 1) / MR * MR * (gsize) MAX (K, 0);
}

gsize
lm_smallgemm_wide_scratch_floats (int K)
{
  return lm_smallgemm_packed_floats (K, 2 * NR);
}

gboolean
lm_smallgemm_wide_pays (int M, int N, int K)
{
  return M >= 4 * MR && N >= 64 * NR && (gint64) M * K <= 256 * 1024;
}

void
lm_smallgemm_pack_rows (float *packed, int M, int K, const float *A, int lda)
{
  for (int q = 0; q * MR < M; q++)
    {
      const int m0 = q * MR, mr = MIN (MR, M - m0);
      float *panel = packed + (gsize) q * K * MR; /* (K, MR) */
      for (int r = 0; r < MR; r++)
        {
          const float *row = A + (gsize) (m0 + r) * lda;
          for (int k = 0; k < K; k++)
            panel[(gsize) k * MR + r] = r < mr ? row[k] : 0.0f;
        }
    }
}

#if LM_HAVE_AVX2_PATH
/* C(mr,nr) = A panel (K x 6, packed) · B panel (K x 16) + bias: all six rows computed
 * (padding rows are zero), mr stored. */
static LM_ALWAYS_INLINE LM_TARGET_AVX2 void
tile_rows_avx2 (const int mr, int K, const float *a, const float *panel, const float *bias,
                float *C, int ldc, int nr, float *row_max)
{
  __m256 c0[MR], c1[MR];
  tile_sums_avx2 (MR, mr, K, a, 1, MR, panel, C, ldc, nr, c0, c1);
  tile_store_avx2 (mr, c0, c1, bias, 0.0f, C, ldc, nr);
  if (row_max == NULL)
    return;
  if (nr < NR) /* the stored elements only */
    {
      raise_row_max (mr, nr, C, ldc, row_max);
      return;
    }
  const __m256 bias0 = bias ? _mm256_loadu_ps (bias) : _mm256_setzero_ps ();
  const __m256 bias1 = bias ? _mm256_loadu_ps (bias + 8) : _mm256_setzero_ps ();
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++)
    if (r < mr)
      {
        /* the stored values again (acc + bias, as tile_store_avx2 rounds them); max_ps
         * returns its second operand when either is NaN, so a NaN never becomes the max */
        __m256 v = _mm256_max_ps (_mm256_add_ps (c0[r], bias0), _mm256_add_ps (c1[r], bias1));
        __m128 h = _mm_max_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
        h = _mm_max_ps (h, _mm_movehl_ps (h, h));
        h = _mm_max_ss (h, _mm_shuffle_ps (h, h, 1));
        const float m = _mm_cvtss_f32 (h);
        if (m > row_max[r])
          row_max[r] = m;
      }
}

static LM_TARGET_AVX2 void
wide_panel_avx2 (int M, int K, const float *a_packed, const float *panel, const float *bias,
                 float *C, int ldc, int nr, float *row_max)
{
  int q = 0;
  for (; (q + 1) * MR <= M; q++)
    tile_rows_avx2 (MR, K, a_packed + (gsize) q * K * MR, panel, bias, C + (gsize) q * MR * ldc,
                    ldc, nr, row_max ? row_max + q * MR : NULL);
  const int mr = M - q * MR;
  const float *a = a_packed + (gsize) q * K * MR;
  float *c = C + (gsize) q * MR * ldc, *m = row_max ? row_max + q * MR : NULL;
  switch (mr)
    {
    case 5: tile_rows_avx2 (5, K, a, panel, bias, c, ldc, nr, m); break;
    case 4: tile_rows_avx2 (4, K, a, panel, bias, c, ldc, nr, m); break;
    case 3: tile_rows_avx2 (3, K, a, panel, bias, c, ldc, nr, m); break;
    case 2: tile_rows_avx2 (2, K, a, panel, bias, c, ldc, nr, m); break;
    case 1: tile_rows_avx2 (1, K, a, panel, bias, c, ldc, nr, m); break;
    default: break;
    }
}
#endif

#if LM_HAVE_AVX2_PATH
/* C(mr, nc) = A panel (K x 6, packed) times np B panels + bias, as tile_rows_avx2 */
static LM_ALWAYS_INLINE LM_TARGET_AVX512 void
tile_rows_avx512 (const int mr, const int np, int K, const float *a, const float *p0,
                  const float *p1, const float *bias, float *C, int ldc, int nc,
                  float *row_max)
{
  __m512 c0[MR], c1[MR];
  tile_sums_avx512 (MR, mr, np, K, a, 1, MR, p0, p1, C, ldc, nc, c0, c1);
  tile_store_avx512 (mr, np, c0, c1, bias, 0.0f, C, ldc, nc);
  if (row_max == NULL)
    return;
  if (nc < np * NR) /* the stored elements only */
    {
      raise_row_max (mr, nc, C, ldc, row_max);
      return;
    }
  const __m512 bias0 = bias ? _mm512_loadu_ps (bias) : _mm512_setzero_ps ();
  const __m512 bias1 = bias && np == 2 ? _mm512_loadu_ps (bias + NR) : _mm512_setzero_ps ();
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++)
    if (r < mr)
      {
        /* the stored values again; max_ps returns its second operand when either is NaN,
         * so a NaN never becomes the max */
        __m512 v = _mm512_add_ps (c0[r], bias0);
        if (np == 2)
          v = _mm512_max_ps (v, _mm512_add_ps (c1[r], bias1));
        const float m = _mm512_reduce_max_ps (v);
        if (m > row_max[r])
          row_max[r] = m;
      }
}

static LM_ALWAYS_INLINE LM_TARGET_AVX512 void
wide_rows_avx512 (const int np, int M, int K, const float *a_packed, const float *p0,
                  const float *p1, const float *bias, float *C, int ldc, int nc,
                  float *row_max)
{
  int q = 0;
  for (; (q + 1) * MR <= M; q++)
    tile_rows_avx512 (MR, np, K, a_packed + (gsize) q * K * MR, p0, p1, bias,
                      C + (gsize) q * MR * ldc, ldc, nc, row_max ? row_max + q * MR : NULL);
  const float *a = a_packed + (gsize) q * K * MR;
  float *c = C + (gsize) q * MR * ldc, *m = row_max ? row_max + q * MR : NULL;
  switch (M - q * MR)
    {
    case 5: tile_rows_avx512 (5, np, K, a, p0, p1, bias, c, ldc, nc, m); break;
    case 4: tile_rows_avx512 (4, np, K, a, p0, p1, bias, c, ldc, nc, m); break;
    case 3: tile_rows_avx512 (3, np, K, a, p0, p1, bias, c, ldc, nc, m); break;
    case 2: tile_rows_avx512 (2, np, K, a, p0, p1, bias, c, ldc, nc, m); break;
    case 1: tile_rows_avx512 (1, np, K, a, p0, p1, bias, c, ldc, nc, m); break;
    default: break;
    }
}

/* every row of C against the nc <= 32 columns packed in scratch (one or two panels) */
static LM_TARGET_AVX512 void
wide_panels_avx512 (int M, int K, const float *a_packed, const float *scratch,
                    const float *bias, float *C, int ldc, int nc, float *row_max)
{
  if (nc > NR)
    wide_rows_avx512 (2, M, K, a_packed, scratch, scratch + (gsize) K * NR, bias, C, ldc, nc,
                      row_max);
  else
    wide_rows_avx512 (1, M, K, a_packed, scratch, NULL, bias, C, ldc, nc, row_max);
}
#endif

void
lm_smallgemm_wide (int M, int N, int K, const float *a_packed, const float *B, int ldb,
                   gboolean trans_b, float *scratch, const float *bias, float *C, int ldc,
                   float *row_max)
{
  if (M <= 0 || N <= 0)
    return;
  /* two panels at a time on the AVX-512 path, one on the others */
  const int step = lm_simd_avx512 () ? 2 * NR : NR;
  for (int n0 = 0; n0 < N; n0 += step)
    {
      const int nr = MIN (step, N - n0);
      lm_smallgemm_pack (scratch, trans_b, K, nr, trans_b ? B + (gsize) n0 * ldb : B + n0, ldb);
      const float *b = bias ? bias + n0 : NULL;
#if LM_HAVE_AVX2_PATH
      if (step > NR)
        {
          wide_panels_avx512 (M, K, a_packed, scratch, b, C + n0, ldc, nr, row_max);
          continue;
        }
      if (lm_simd_avx2 ())
        {
          wide_panel_avx2 (M, K, a_packed, scratch, b, C + n0, ldc, nr, row_max);
          continue;
        }
#endif
      float acc[MR][NR];
      for (int q = 0; q * MR < M; q++)
        {
          const int mr = MIN (MR, M - q * MR);
          float *c = C + (gsize) q * MR * ldc + n0;
          /* the packed panel: row r at a_packed[q K MR + r], k MR floats apart */
          tile_portable (MR, K, a_packed + (gsize) q * K * MR, 1, MR, scratch, acc);
          tile_store (mr, nr, acc, b, 0.0f, c, ldc);
          if (row_max)
            raise_row_max (mr, nr, c, ldc, row_max + q * MR);
        }
    }
}

void
lm_smallgemm_row_max_merge (float *out, const float *parts, int n_parts, gsize part_stride,
                            int n)
{
  for (int i = 0; i < n; i++)
    {
      float m = -INFINITY;
      for (int k = 0; k < n_parts; k++)
        m = MAX (m, parts[k * part_stride + i]);
      out[i] = m;
    }
}
