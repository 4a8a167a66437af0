/* transformer-block.c — causal multi-head attention and the GELU MLP (see
 * transformer-block.h for the equations and shapes).
 *
 * Speed: the per-(b, head) products go to lm_sgemm with row strides into the packed
 * qkv buffer, so no head is ever copied out; the softmax and GELU are loops over
 * contiguous floats with a vectorisable exp, since glibc's expf/erff are scalar calls.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-ops.h"
#include "core/lm-ops-simd.h"
#include "core/lm-smallgemm.h"
#include "transformer/transformer-block.h"

#ifdef _OPENMP
#define TF_SIMD _Pragma ("omp simd")
#else
#define TF_SIMD
#endif

/* The elementwise loops (GELU, softmax) are ~15% of a B1 step when compiled for the
 * baseline x86-64 (SSE2, 4 floats); an AVX2+FMA clone (8 floats) chosen at load time by
 * the CPU halves that. Other targets get the one generic version. */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones) && defined(__GLIBC__)
#define TF_CLONES __attribute__ ((target_clones ("arch=x86-64-v3", "default")))
#endif
#endif
#ifndef TF_CLONES
#define TF_CLONES
#endif

/* ---- vectorisable exp and erf ------------------------------------------------------ */

/* exp is core's lm_fast_exp (core/lm-ops-simd.h): straight-line arithmetic, clamped to
 * [-87, 88], which the compiler vectorises inside the clones below. */

/* erf(x) for x >= 0 by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7):
 *   t = 1 / (1 + p x),  erf(x) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-x^2)
 * and erf(-x) = -erf(x). Also gives the exp(-x^2) it used (for GELU's derivative). */
static inline float
tf_erf_exp (float x, float *exp_minus_x2)
{
  float a = fabsf (x);
  float t = 1.0f / (1.0f + 0.3275911f * a);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  *exp_minus_x2 = lm_fast_exp (-a * a);
  float y = 1.0f - poly * t * *exp_minus_x2;
  return copysignf (y, x);
}

static inline float
tf_erf (float x)
{
  float e;
  return tf_erf_exp (x, &e);
}

#define TF_SQRT1_2 0.70710678118654752f
#define TF_INV_SQRT_2PI 0.39894228040143268f

/* gelu(x) = x Phi(x), and into *deriv gelu'(x) = Phi(x) + x phi(x), with
 * Phi(x) = (1 + erf(x / sqrt 2)) / 2 and phi(x) = exp(-x^2 / 2) / sqrt(2 pi): the exp that
 * erf(x / sqrt 2) computes anyway, so the derivative costs a few multiplies. */
static inline float
gelu_and_deriv (float x, float *deriv)
{
  float e; /* exp(-x^2 / 2) */
  float cdf = 0.5f * (1.0f + tf_erf_exp (x * TF_SQRT1_2, &e));
  *deriv = cdf + x * (TF_INV_SQRT_2PI * e);
  return x * cdf;
}

TF_CLONES void
lm_gelu_fast_forward (float *out, const float *in, gsize n)
{
  TF_SIMD
  for (gsize i = 0; i < n; i++)
    {
      float x = in[i];
      out[i] = 0.5f * x * (1.0f + tf_erf (x * TF_SQRT1_2));
    }
}

TF_CLONES void
lm_gelu_fast_backward (float *d_in, const float *d_out, const float *in, gsize n)
{
  TF_SIMD
  for (gsize i = 0; i < n; i++)
    {
      float deriv;
      gelu_and_deriv (in[i], &deriv);
      d_in[i] += d_out[i] * deriv;
    }
}

/* act = gelu(x) and deriv = gelu'(x) in one pass, instead of a second erf and exp in the
 * backward pass. deriv may be x itself; act must be another buffer. */
TF_CLONES static void
gelu_forward_deriv (float *act, float *deriv, const float *x, gsize n)
{
  TF_SIMD
  for (gsize i = 0; i < n; i++)
    act[i] = gelu_and_deriv (x[i], &deriv[i]);
}

/* ---- causal multi-head attention ---------------------------------------------------- */

/* sum_i a_i b_i (b NULL: sum_i a_i) in eight partial sums, which vectorise without
 * -ffast-math's license to reassociate */
static inline float
tf_dot (const float *a, const float *b, int n)
{
  float acc[8] = { 0 };
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++)
      acc[k] += a[i + k] * (b ? b[i + k] : 1.0f);
  float sum = 0.0f;
  for (; i < n; i++)
    sum += a[i] * (b ? b[i] : 1.0f);
  for (int k = 0; k < 8; k++)
    sum += acc[k];
  return sum;
}

/* Row t of S holds the scores of query t against keys 0..T-1; only 0..t count.
 *   p_j = exp(s_j - m) / sum_{i<=t} exp(s_i - m),  m = max_{i<=t} s_i;  p_j = 0 for j > t */
TF_CLONES static void
causal_softmax_rows (float *P, int T)
{
  for (int t = 0; t < T; t++)
    {
      float *row = P + (gsize) t * T;
      int n = t + 1;
      float m = row[0];
      for (int j = 1; j < n; j++)
        m = MAX (m, row[j]);
      TF_SIMD
      for (int j = 0; j < n; j++)
        row[j] = lm_fast_exp (row[j] - m);
      float inv = 1.0f / tf_dot (row, NULL, n);
      TF_SIMD
      for (int j = 0; j < n; j++)
        row[j] *= inv;
      if (n < T)
        memset (row + n, 0, (gsize) (T - n) * sizeof (float));
    }
}

/* ---- the attention's products ------------------------------------------------------ */

/* Per (b, head) the products are a few dozen rows long, where a cblas_sgemm call costs
 * about as much in overhead (its copies, and a pass to zero C) as in arithmetic. They run
 * on lm_smallgemm instead, against the head's K, V or their transposes packed once each,
 * and causally: query rows go in blocks of ATT_ROWS, and a block ending at row r1 needs
 * only keys 0..r1-1, so at T = 64 the products do 5/8 of the full (T,T) work.
 * The two products whose A is a transposed (dV += P^T dY, dK += dS^T Q) stay on
 * cblas_sgemm. */

#define ATT_ROWS 16

static gsize
pack_floats (int T, int HD)
{
  gsize n = MAX (lm_smallgemm_packed_floats (HD, T), lm_smallgemm_packed_floats (T, HD));
  return (n + 15) / 16 * 16;
}

gsize
lm_attention_scratch_floats (int T, int C, int NH)
{
  return (gsize) T * T + 2 * pack_floats (T, C / NH);
}

/* C[r0:r1, 0:r1] = A[r0:r1] X^T for every block of rows, X^T (HD, T) packed: only the
 * causal part of A X^T (the scores, or dP). */
static void
causal_rows_times_packed_t (float *C, const float *A, int lda, const float *xt_packed, int T,
                            int HD)
{
  for (int r0 = 0; r0 < T; r0 += ATT_ROWS)
    {
      int r1 = MIN (T, r0 + ATT_ROWS);
      lm_smallgemm (r1 - r0, r1, HD, A + (gsize) r0 * lda, lda, xt_packed, NULL, 0.0f,
                    C + (gsize) r0 * T, T);
    }
}

/* Y[r0:r1] = beta Y[r0:r1] + P[r0:r1, 0:r1] X[0:r1] for every block of rows, X (T, HD)
 * packed: P is zero right of the diagonal. A packed panel of 16 columns holds X's rows
 * 0..T-1 in order, so its first r1 rows are the packing of X[0:r1]: one call per panel. */
static void
causal_rows_times_packed (float *Y, int ldy, const float *P, const float *x_packed, int T,
                          int HD, float beta)
{
  for (int r0 = 0; r0 < T; r0 += ATT_ROWS)
    {
      int r1 = MIN (T, r0 + ATT_ROWS);
      for (int c0 = 0; c0 < HD; c0 += LM_SMALLGEMM_NR)
        lm_smallgemm (r1 - r0, MIN (LM_SMALLGEMM_NR, HD - c0), r1, P + (gsize) r0 * T, T,
                      x_packed + (gsize) c0 * T, NULL, beta, Y + (gsize) r0 * ldy + c0, ldy);
    }
}

void
lm_attention_forward (float *out, float *att, const float *qkv, float *scratch, int B, int T,
                      int C, int NH)
{
  int HD = C / NH;
  int ld = 3 * C;
  float scale = 1.0f / sqrtf ((float) HD);
  float *kt_packed = scratch + (gsize) T * T, *v_packed = kt_packed + pack_floats (T, HD);
  const gsize n_kt = lm_smallgemm_packed_floats (HD, T);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      {
        const float *q = qkv + (gsize) b * T * ld + (gsize) h * HD;
        const float *k = q + C;
        const float *v = q + 2 * C;
        float *P = att + ((gsize) b * NH + h) * T * T;
        float *y = out + (gsize) b * T * C + (gsize) h * HD;
        /* S = s Q K^T (T,T), s folded into the packed K^T */
        lm_smallgemm_pack (kt_packed, TRUE, HD, T, k, ld);
        TF_SIMD
        for (gsize i = 0; i < n_kt; i++)
          kt_packed[i] *= scale;
        causal_rows_times_packed_t (P, q, ld, kt_packed, T, HD);
        causal_softmax_rows (P, T);
        /* Y = P V (T,HD), written into the head's columns of out */
        lm_smallgemm_pack (v_packed, FALSE, T, HD, v, ld);
        causal_rows_times_packed (y, C, P, v_packed, T, HD, 0.0f);
      }
}

void
lm_attention_backward (float *d_qkv, const float *d_out, const float *att, const float *qkv,
                       float *scratch, int B, int T, int C, int NH)
{
  int HD = C / NH;
  int ld = 3 * C;
  float scale = 1.0f / sqrtf ((float) HD);
  float *dP = scratch;
  float *vt_packed = scratch + (gsize) T * T, *k_packed = vt_packed + pack_floats (T, HD);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      {
        gsize base = (gsize) b * T * ld + (gsize) h * HD;
        const float *q = qkv + base, *k = q + C, *v = q + 2 * C;
        float *dq = d_qkv + base, *dk = dq + C, *dv = dq + 2 * C;
        const float *P = att + ((gsize) b * NH + h) * T * T;
        const float *dy = d_out + (gsize) b * T * C + (gsize) h * HD;
        /* dV += P^T dY */
        lm_sgemm (TRUE, FALSE, T, HD, T, 1.0f, P, T, dy, C, 1.0f, dv, ld);
        /* dP = dY V^T, left of the diagonal */
        lm_smallgemm_pack (vt_packed, TRUE, HD, T, v, ld);
        causal_rows_times_packed_t (dP, dy, C, vt_packed, T, HD);
        /* dS = P * (dP - <dP, P>_row), scaled by s here once for both products below;
         * entries above the diagonal have P = 0 and so dS = 0 */
        for (int t = 0; t < T; t++)
          {
            const float *p = P + (gsize) t * T;
            float *d = dP + (gsize) t * T;
            int n = t + 1;
            float dot = tf_dot (p, d, n);
            TF_SIMD
            for (int j = 0; j < n; j++)
              d[j] = scale * p[j] * (d[j] - dot);
            if (n < T)
              memset (d + n, 0, (gsize) (T - n) * sizeof (float));
          }
        /* dQ += dS K,  dK += dS^T Q */
        lm_smallgemm_pack (k_packed, FALSE, T, HD, k, ld);
        causal_rows_times_packed (dq, ld, dP, k_packed, T, HD, 1.0f);
        lm_sgemm (TRUE, FALSE, T, HD, T, 1.0f, dP, T, q, ld, 1.0f, dk, ld);
      }
}

/* d *= deriv, in place */
TF_CLONES static void
multiply_in_place (float *d, const float *deriv, gsize n)
{
  TF_SIMD
  for (gsize i = 0; i < n; i++)
    d[i] *= deriv[i];
}

/* ---- MLP ------------------------------------------------------------------------------- */

void
lm_mlp_forward (float *out, float *pre, float *act, const float *in, const float *fc_w,
                const float *fc_b, const float *fc2_w, const float *fc2_b, int N, int C, int F,
                const LmMlpPacked *packed)
{
  if (packed)
    lm_matmul_forward_packed (pre, in, packed->fc_t, fc_b, N, C, F);
  else
    lm_matmul_forward (pre, in, fc_w, fc_b, N, C, F);
  if (act == pre) /* inference, in place */
    lm_gelu_fast_forward (act, pre, (gsize) N * F);
  else /* pre becomes gelu'(pre) for the backward */
    gelu_forward_deriv (act, pre, pre, (gsize) N * F);
  if (packed)
    lm_matmul_forward_packed (out, act, packed->fc2_t, fc2_b, N, F, C);
  else
    lm_matmul_forward (out, act, fc2_w, fc2_b, N, F, C);
}

void
lm_mlp_backward (float *d_in, float *d_fc_w, float *d_fc_b, float *d_fc2_w, float *d_fc2_b,
                 const float *d_out, const float *in, const float *pre, const float *act,
                 const float *fc_w, const float *fc2_w, float *scratch, int N, int C, int F,
                 const LmMlpPacked *packed)
{
  gsize n = (gsize) N * F;
  /* d_act(N,F) = d_out(N,C) fc2_w(C,F), written (not accumulated) into scratch */
  if (packed)
    lm_matmul_backward_input_packed (scratch, d_out, packed->fc2, 0.0f, N, F, C);
  else
    lm_sgemm (FALSE, FALSE, N, F, C, 1.0f, d_out, C, fc2_w, F, 0.0f, scratch, F);
  lm_matmul_backward (NULL, d_fc2_w, d_fc2_b, d_out, act, fc2_w, N, F, C);
  multiply_in_place (scratch, pre, n); /* pre holds gelu'(pre) */
  if (packed && d_in)
    lm_matmul_backward_input_packed (d_in, scratch, packed->fc, 1.0f, N, C, F);
  lm_matmul_backward (packed ? NULL : d_in, d_fc_w, d_fc_b, scratch, in, fc_w, N, C, F);
}
