/* lm-ops.c — forward / backward pairs over plain float buffers (see lm-ops.h).
 *
 * Speed notes. The matrix products go to cblas_sgemm; everything else is a tight loop
 * over contiguous floats, marked LM_SIMD so the compiler vectorises it even where it
 * cannot prove that two pointers do not overlap (every marked loop is free of
 * cross-iteration dependences, so in-place use stays correct). There is deliberately
 * no `omp parallel` here: on two cores an OpenMP thread pool spin-waits against
 * OpenBLAS's own threads and makes everything slower (BENCHMARKS.md, "thread trap");
 * the GEMMs carry the parallelism.
 *
 * exp, tanh and sigmoid are computed by small inline functions (lm_fast_*, in
 * core/lm-ops-simd.h, shared with the recurrent cells) built from
 * arithmetic the compiler can vectorise, because glibc's expf/tanhf are scalar calls
 * and the softmax over (B*T, V) logits and the recurrent gates are otherwise dominated
 * by them. They agree with libm to a few 1e-7 relative (tests/test-ops.c holds them to
 * it); libm stays the reference.
 */
#include "config.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "core/lm-ops.h"
#include "core/lm-ops-simd.h"
#include "core/lm-smallgemm.h"

/* ---- the SIMD path ---------------------------------------------------------------- */

static gboolean
cpu_has_avx2_fma (void)
{
#if LM_HAVE_AVX2_PATH
  __builtin_cpu_init ();
  return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
#else
  return FALSE;
#endif
}

/* AVX-512F on top of AVX2+FMA (GCC's check includes the operating system's support for
 * the wide registers) */
static gboolean
cpu_has_avx512 (void)
{
#if LM_HAVE_AVX2_PATH
  return cpu_has_avx2_fma () && __builtin_cpu_supports ("avx512f");
#else
  return FALSE;
#endif
}

/* an environment variable set to anything but "" or "0" */
static gboolean
env_flag (const char *name)
{
  const char *value = g_getenv (name);
  return value && *value && g_strcmp0 (value, "0") != 0;
}

/* The one piece of process state here: which path the CPU allows (and a test chose).
 * 0 = not decided yet, 1 = portable, 2 = AVX2+FMA, 3 = AVX2+FMA with AVX-512 kernels. */
static gint simd_path = 0;

/* the widest path the CPU and the environment allow */
static gint
best_path (void)
{
  if (!cpu_has_avx2_fma ())
    return 1;
  return cpu_has_avx512 () && !env_flag ("LMLAB_NO_AVX512") ? 3 : 2;
}

static gint
current_path (void)
{
  gint path = g_atomic_int_get (&simd_path);
  if (G_UNLIKELY (path == 0))
    {
      path = env_flag ("LMLAB_NO_SIMD") ? 1 : best_path ();
      g_atomic_int_set (&simd_path, path);
    }
  return path;
}

gboolean
lm_simd_avx2 (void)
{
  return current_path () >= 2;
}

gboolean
lm_simd_avx512 (void)
{
  return current_path () == 3;
}

gboolean
lm_simd_set_avx2 (gboolean use_avx2)
{
  g_atomic_int_set (&simd_path, use_avx2 ? best_path () : 1);
  return lm_simd_avx2 ();
}

gboolean
lm_simd_set_avx512 (gboolean use_avx512)
{
  gint path = current_path ();
  if (path >= 2)
    g_atomic_int_set (&simd_path, use_avx512 && cpu_has_avx512 () ? 3 : 2);
  return lm_simd_avx512 ();
}

/* Exposed to the tests (not in the public header): the fast functions on one value. */
float lm_ops_fast_exp (float x);
float lm_ops_fast_tanh (float x);
float lm_ops_fast_sigmoid (float x);

float
lm_ops_fast_exp (float x)
{
  return lm_fast_exp (x);
}

float
lm_ops_fast_tanh (float x)
{
  return lm_fast_tanh (x);
}

float
lm_ops_fast_sigmoid (float x)
{
  return lm_fast_sigmoid (x);
}

/* ---- matrix products ------------------------------------------------------------- */

void
lm_sgemm (gboolean trans_a, gboolean trans_b, int M, int N, int K, float alpha, const float *A,
          int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
  if (M <= 0 || N <= 0)
    return;
  cblas_sgemm (CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
               trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void
lm_sgemm_naive (gboolean trans_a, gboolean trans_b, int M, int N, int K, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
  /* C_ij = alpha sum_k op(A)_ik op(B)_kj + beta C_ij */
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++)
      {
        double acc = 0.0;
        for (int k = 0; k < K; k++)
          {
            float a = trans_a ? A[(gsize)k * lda + i] : A[(gsize)i * lda + k];
            float b = trans_b ? B[(gsize)j * ldb + k] : B[(gsize)k * ldb + j];
            acc += (double)a * b;
          }
        float *c = &C[(gsize)i * ldc + j];
        /* beta == 0 ignores what C held (even NaN), as BLAS does */
        *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
      }
}

void
lm_matmul_forward (float *out, const float *in, const float *weight, const float *bias, int N,
                   int C, int O)
{
  /* out = in W^T + b: start every row at the bias, then let the GEMM add in W^T. */
  if (bias)
    for (int n = 0; n < N; n++)
      memcpy (out + (gsize)n * O, bias, (gsize)O * sizeof (float));
  lm_sgemm (FALSE, TRUE, N, O, C, 1.0f, in, C, weight, C, bias ? 1.0f : 0.0f, out, O);
}

void
lm_matmul_backward (float *d_in, float *d_weight, float *d_bias, const float *d_out,
                    const float *in, const float *weight, int N, int C, int O)
{
  /* d_in(N,C) += d_out(N,O) W(O,C) */
  if (d_in)
    lm_sgemm (FALSE, FALSE, N, C, O, 1.0f, d_out, O, weight, C, 1.0f, d_in, C);
  /* d_W(O,C) += d_out(N,O)^T in(N,C) */
  if (d_weight)
    lm_sgemm (TRUE, FALSE, O, C, N, 1.0f, d_out, O, in, C, 1.0f, d_weight, C);
  /* d_b(O) += sum_n d_out(n,:) */
  if (d_bias)
    for (int n = 0; n < N; n++)
      {
        const float *row = d_out + (gsize)n * O;
        LM_SIMD
        for (int o = 0; o < O; o++)
          d_bias[o] += row[o];
      }
}

void
lm_matmul_forward_packed (float *out, const float *in, const float *wt_packed,
                          const float *bias, int N, int C, int O)
{
  lm_smallgemm (N, O, C, in, C, wt_packed, bias, 0.0f, out, O);
}

void
lm_matmul_backward_input_packed (float *d_in, const float *d_out, const float *w_packed,
                                 float beta, int N, int C, int O)
{
  lm_smallgemm (N, C, O, d_out, O, w_packed, NULL, beta, d_in, C);
}

void
lm_matmul_forward_naive (float *out, const float *in, const float *weight, const float *bias, int N,
                         int C, int O)
{
  for (int n = 0; n < N; n++)
    for (int o = 0; o < O; o++)
      {
        double acc = bias ? bias[o] : 0.0;
        for (int i = 0; i < C; i++)
          acc += (double)in[(gsize)n * C + i] * weight[(gsize)o * C + i];
        out[(gsize)n * O + o] = (float)acc;
      }
}

void
lm_matmul_backward_naive (float *d_in, float *d_weight, float *d_bias, const float *d_out,
                          const float *in, const float *weight, int N, int C, int O)
{
  if (d_in)
    for (int n = 0; n < N; n++)
      for (int i = 0; i < C; i++)
        {
          double acc = 0.0;
          for (int o = 0; o < O; o++)
            acc += (double)d_out[(gsize)n * O + o] * weight[(gsize)o * C + i];
          d_in[(gsize)n * C + i] += (float)acc;
        }
  if (d_weight)
    for (int o = 0; o < O; o++)
      for (int i = 0; i < C; i++)
        {
          double acc = 0.0;
          for (int n = 0; n < N; n++)
            acc += (double)d_out[(gsize)n * O + o] * in[(gsize)n * C + i];
          d_weight[(gsize)o * C + i] += (float)acc;
        }
  if (d_bias)
    for (int o = 0; o < O; o++)
      {
        double acc = 0.0;
        for (int n = 0; n < N; n++)
          acc += d_out[(gsize)n * O + o];
        d_bias[o] += (float)acc;
      }
}

/* ---- softmax, log-softmax, cross-entropy ----------------------------------------- */

static LM_ALWAYS_INLINE float
row_max (const float *x, int V)
{
  float m = -INFINITY;
  LM_SIMD_MAX (m)
  for (int v = 0; v < V; v++)
    m = x[v] > m ? x[v] : m;
  return m;
}

/* out_v = exp(x_v - m) for one row; returns sum_v out_v. Subtracting the row maximum
 * keeps every exponent <= 0, so nothing overflows and the largest term is exactly 1. */
static LM_ALWAYS_INLINE float
row_exp_shifted (float *out, const float *x, float m, int V)
{
  float sum = 0.0f;
  LM_SIMD_SUM (sum)
  for (int v = 0; v < V; v++)
    {
      float e = lm_fast_exp (x[v] - m);
      out[v] = e;
      sum += e;
    }
  return sum;
}

static LM_ALWAYS_INLINE void
row_scale (float *x, float s, int V)
{
  LM_SIMD
  for (int v = 0; v < V; v++)
    x[v] *= s;
}

/* p(V) = softmax(x(V)) for one row, with the row maximum m and sum_v exp(x_v - m) left in
 * *m_out and *sum_out (the cross-entropy needs both). Built for AVX2+FMA and for the
 * baseline, chosen at run time: at V = 10,000 the output layer's softmax is a fifth of a
 * B2 recurrent step, and 8 lanes of lm_fast_exp instead of 4 nearly halve it. */
static LM_ALWAYS_INLINE void
softmax_row_body (float *p, const float *x, int V, float *m_out, float *sum_out)
{
  float m = row_max (x, V);
  float sum = row_exp_shifted (p, x, m, V);
  row_scale (p, 1.0f / sum, V);
  *m_out = m;
  *sum_out = sum;
}
LM_SIMD_DISPATCH (softmax_row, softmax_row_body,
                  (float *p, const float *x, int V, float *m_out, float *sum_out),
                  (p, x, V, m_out, sum_out))

void
lm_softmax_forward (float *probs, const float *logits, int N, int V)
{
  for (int n = 0; n < N; n++)
    {
      const float *x = logits + (gsize)n * V;
      float *p = probs + (gsize)n * V;
      float m, sum;
      softmax_row (p, x, V, &m, &sum);
    }
}

void
lm_softmax_backward (float *d_logits, const float *d_probs, const float *probs, int N, int V)
{
  for (int n = 0; n < N; n++)
    {
      const float *p = probs + (gsize)n * V;
      const float *dp = d_probs + (gsize)n * V;
      float *dx = d_logits + (gsize)n * V;
      /* dx_v = p_v (dp_v - <dp, p>): the Jacobian diag(p) - p p^T applied to dp */
      float dot = 0.0f;
      LM_SIMD_SUM (dot)
      for (int v = 0; v < V; v++)
        dot += dp[v] * p[v];
      LM_SIMD
      for (int v = 0; v < V; v++)
        dx[v] += p[v] * (dp[v] - dot);
    }
}

void
lm_log_softmax_forward (float *logp, const float *logits, int N, int V)
{
  for (int n = 0; n < N; n++)
    {
      const float *x = logits + (gsize)n * V;
      float *y = logp + (gsize)n * V;
      float m = row_max (x, V);
      float sum = 0.0f;
      LM_SIMD_SUM (sum)
      for (int v = 0; v < V; v++)
        sum += lm_fast_exp (x[v] - m);
      /* y_v = (x_v - m) - ln sum: never log(p), which underflows; and x_v - m first,
       * which is exact near the maximum, rather than x_v - (m + ln sum), which loses
       * the low bits of ln sum when the logits are large */
      float log_sum = logf (sum);
      LM_SIMD
      for (int v = 0; v < V; v++)
        y[v] = (x[v] - m) - log_sum;
    }
}

void
lm_log_softmax_backward (float *d_logits, const float *d_logp, const float *logp, int N, int V)
{
  for (int n = 0; n < N; n++)
    {
      const float *y = logp + (gsize)n * V;
      const float *dy = d_logp + (gsize)n * V;
      float *dx = d_logits + (gsize)n * V;
      /* dx_v = dy_v - softmax_v sum_u dy_u, with softmax_v = exp(y_v) */
      float total = 0.0f;
      LM_SIMD_SUM (total)
      for (int v = 0; v < V; v++)
        total += dy[v];
      LM_SIMD
      for (int v = 0; v < V; v++)
        dx[v] += dy[v] - lm_fast_exp (y[v]) * total;
    }
}

double
lm_softmax_cross_entropy_forward (float *probs, const float *logits, const gint32 *targets, int N,
                                  int V, int *count)
{
  double total = 0.0;
  int counted = 0;
  for (int n = 0; n < N; n++)
    {
      const float *x = logits + (gsize)n * V;
      float *p = probs + (gsize)n * V;
      gint32 t = targets[n];
      g_assert (t < V);
      float x_t = t >= 0 ? x[t] : 0.0f; /* read before probs may overwrite logits */
      float m, sum;
      softmax_row (p, x, V, &m, &sum);
      if (t < 0)
        continue;
      /* -ln p_t = ln sum_v exp(x_v - m) + m - x_t, exact even when p_t underflows */
      total += log ((double)sum) + (double)m - (double)x_t;
      counted++;
    }
  if (count)
    *count = counted;
  return counted > 0 ? total / counted : 0.0;
}

/* One row of lm_softmax_cross_entropy_rows: the exponentials, then one scaling pass that
 * turns them into grad_scale * p, then the target's -grad_scale. */
static LM_ALWAYS_INLINE void
ce_row_body (float *out, double *loss, float *col_sums, const float *x, int V, gint32 t,
             float grad_scale, const float *max_given)
{
  if (t < 0)
    {
      memset (out, 0, (gsize)V * sizeof (float));
      *loss = 0.0;
      return;
    }
  float x_t = x[t]; /* read before out may overwrite x */
  float m = max_given ? *max_given : row_max (x, V);
  float sum = row_exp_shifted (out, x, m, V);
  float s = grad_scale / sum;
  if (col_sums)
    {
      LM_SIMD
      for (int v = 0; v < V; v++)
        {
          out[v] *= s;
          col_sums[v] += out[v];
        }
      col_sums[t] -= grad_scale;
    }
  else
    row_scale (out, s, V);
  out[t] -= grad_scale;
  *loss = log ((double)sum) + (double)m - (double)x_t;
}
LM_SIMD_DISPATCH (ce_row, ce_row_body,
                  (float *out, double *loss, float *col_sums, const float *x, int V, gint32 t,
                   float grad_scale, const float *max_given),
                  (out, loss, col_sums, x, V, t, grad_scale, max_given))

void
lm_softmax_cross_entropy_rows (float *out, double *row_loss, float *col_sums,
                               const float *logits, const gint32 *targets, int N, int V,
                               float grad_scale, const float *row_maxima)
{
  for (int n = 0; n < N; n++)
    {
      g_assert (targets[n] < V);
      ce_row (out + (gsize)n * V, row_loss + n, col_sums, logits + (gsize)n * V, V,
              targets[n], grad_scale, row_maxima ? row_maxima + n : NULL);
    }
}

void
lm_softmax_cross_entropy_backward (float *d_logits, const float *probs, const gint32 *targets,
                                   int N, int V, float scale)
{
  int counted = 0;
  for (int n = 0; n < N; n++)
    counted += targets[n] >= 0;
  /* d(mean_n -ln p_{n,t}) / d x_{n,v} = (p_{n,v} - [v == t]) / count */
  float s = counted > 0 ? scale / (float)counted : 0.0f;
  for (int n = 0; n < N; n++)
    {
      const float *p = probs + (gsize)n * V;
      float *dx = d_logits + (gsize)n * V;
      gint32 t = targets[n];
      if (t < 0)
        {
          memset (dx, 0, (gsize)V * sizeof (float));
          continue;
        }
      LM_SIMD
      for (int v = 0; v < V; v++)
        dx[v] = s * p[v];
      dx[t] -= s;
    }
}

/* One row of lm_log_softmax_score: ln p_t, the argmax (the smallest id among equal
 * maxima) and the rank of t (ids with a larger logit, or an equal one and a smaller id).
 * Three vectorised passes: the maximum and the rank count, the first id holding the
 * maximum (in blocks, so only one block is scanned element by element), and the sum of
 * exponentials, kept in double lanes so that 10^4..10^5 terms lose nothing. */
static LM_ALWAYS_INLINE void
score_row_body (const float *x, int V, gint32 t, double *logprob, gint32 *predicted,
                guint8 *rank)
{
  float m = row_max (x, V);
  if (predicted)
    {
      int best = 0;
      for (int b = 0; b < V; b += 256)
        {
          const int end = MIN (V, b + 256);
          float bm = -INFINITY;
          LM_SIMD_MAX (bm)
          for (int v = b; v < end; v++)
            bm = x[v] > bm ? x[v] : bm;
          if (bm == m)
            {
              for (int v = b; v < end; v++)
                if (x[v] == m)
                  {
                    best = v;
                    break;
                  }
              break;
            }
        }
      *predicted = best;
    }
  if (t < 0)
    {
      *logprob = 0.0;
      if (rank)
        *rank = 255;
      return;
    }
  double sum = 0.0;
  LM_SIMD_SUM (sum)
  for (int v = 0; v < V; v++)
    sum += (double)lm_fast_exp (x[v] - m);
  /* ln p_t = x_t - m - ln sum_v exp(x_v - m) */
  *logprob = (double)x[t] - (double)m - log (sum);
  if (rank)
    {
      const float xt = x[t];
      int ahead = 0;
      LM_SIMD_SUM (ahead)
      for (int v = 0; v < t; v++)
        ahead += x[v] >= xt;
      LM_SIMD_SUM (ahead)
      for (int v = t + 1; v < V; v++)
        ahead += x[v] > xt;
      *rank = (guint8)MIN (ahead, 255);
    }
}
LM_SIMD_DISPATCH (score_row, score_row_body,
                  (const float *x, int V, gint32 t, double *logprob, gint32 *predicted,
                   guint8 *rank),
                  (x, V, t, logprob, predicted, rank))

void
lm_log_softmax_score (const float *logits, const gint32 *targets, int N, int V, double *logprob,
                      gint32 *predicted, guint8 *rank)
{
  for (int n = 0; n < N; n++)
    {
      g_assert (targets[n] < V);
      score_row (logits + (gsize)n * V, V, targets[n], logprob + n,
                 predicted ? predicted + n : NULL, rank ? rank + n : NULL);
    }
}

/* ---- elementwise activations ----------------------------------------------------- */

void
lm_tanh_forward (float *out, const float *in, gsize n)
{
  LM_SIMD
  for (gsize i = 0; i < n; i++)
    out[i] = lm_fast_tanh (in[i]);
}

void
lm_tanh_backward (float *d_in, const float *d_out, const float *out, gsize n)
{
  /* d tanh(x) / dx = 1 - tanh(x)^2 */
  LM_SIMD
  for (gsize i = 0; i < n; i++)
    d_in[i] += d_out[i] * (1.0f - out[i] * out[i]);
}

void
lm_sigmoid_forward (float *out, const float *in, gsize n)
{
  LM_SIMD
  for (gsize i = 0; i < n; i++)
    out[i] = lm_fast_sigmoid (in[i]);
}

void
lm_sigmoid_backward (float *d_in, const float *d_out, const float *out, gsize n)
{
  /* d sigmoid(x) / dx = sigmoid(x) (1 - sigmoid(x)) */
  LM_SIMD
  for (gsize i = 0; i < n; i++)
    d_in[i] += d_out[i] * out[i] * (1.0f - out[i]);
}

#define LM_SQRT1_2      0.70710678118654752440f /* 1 / sqrt(2) */
#define LM_INV_SQRT_2PI 0.39894228040143267794f /* 1 / sqrt(2 pi) */

void
lm_gelu_forward (float *out, const float *in, gsize n)
{
  /* gelu(x) = x Phi(x), Phi the standard normal CDF = (1 + erf(x / sqrt 2)) / 2 */
  for (gsize i = 0; i < n; i++)
    {
      float x = in[i];
      out[i] = 0.5f * x * (1.0f + erff (x * LM_SQRT1_2));
    }
}

void
lm_gelu_backward (float *d_in, const float *d_out, const float *in, gsize n)
{
  /* d gelu / dx = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi) */
  for (gsize i = 0; i < n; i++)
    {
      float x = in[i];
      float cdf = 0.5f * (1.0f + erff (x * LM_SQRT1_2));
      float pdf = LM_INV_SQRT_2PI * lm_fast_exp (-0.5f * x * x);
      d_in[i] += d_out[i] * (cdf + x * pdf);
    }
}

/* ---- residuals and gates --------------------------------------------------------- */

void
lm_add_forward (float *out, const float *a, const float *b, gsize n)
{
  LM_SIMD
  for (gsize i = 0; i < n; i++)
    out[i] = a[i] + b[i];
}

void
lm_add_backward (float *d_a, float *d_b, const float *d_out, gsize n)
{
  /* the gradient of a sum flows unchanged into both operands */
  if (d_a)
    lm_axpy (d_a, 1.0f, d_out, n);
  if (d_b)
    lm_axpy (d_b, 1.0f, d_out, n);
}

void
lm_mul_forward (float *out, const float *a, const float *b, gsize n)
{
  LM_SIMD
  for (gsize i = 0; i < n; i++)
    out[i] = a[i] * b[i];
}

void
lm_mul_backward (float *d_a, float *d_b, const float *d_out, const float *a, const float *b,
                 gsize n)
{
  /* d(a b) = b da + a db */
  if (d_a)
    {
      LM_SIMD
      for (gsize i = 0; i < n; i++)
        d_a[i] += d_out[i] * b[i];
    }
  if (d_b)
    {
      LM_SIMD
      for (gsize i = 0; i < n; i++)
        d_b[i] += d_out[i] * a[i];
    }
}

void
lm_axpy (float *y, float alpha, const float *x, gsize n)
{
  LM_SIMD
  for (gsize i = 0; i < n; i++)
    y[i] += alpha * x[i];
}

/* ---- embedding ------------------------------------------------------------------- */

void
lm_embedding_forward (float *out, const gint32 *ids, const float *table, int N, int V, int E)
{
  for (int n = 0; n < N; n++)
    {
      g_assert (ids[n] >= 0 && ids[n] < V);
      memcpy (out + (gsize)n * E, table + (gsize)ids[n] * E, (gsize)E * sizeof (float));
    }
}

void
lm_embedding_backward (float *d_table, const float *d_out, const gint32 *ids, int N, int V, int E)
{
  /* the lookup is a product with a one-hot matrix, so its gradient is a scatter-add */
  for (int n = 0; n < N; n++)
    {
      g_assert (ids[n] >= 0 && ids[n] < V);
      lm_axpy (d_table + (gsize)ids[n] * E, 1.0f, d_out + (gsize)n * E, (gsize)E);
    }
}

/* ---- layer normalisation --------------------------------------------------------- */

/* The layer norms are a few percent of a transformer step: both are instantiated for
 * AVX2 and the baseline (LM_SIMD_DISPATCH) like the other row loops. */
static LM_ALWAYS_INLINE void
layernorm_forward_body (float *out, float *mean, float *rstd, const float *in,
                        const float *weight, const float *bias, int N, int E)
{
  for (int n = 0; n < N; n++)
    {
      const float *x = in + (gsize)n * E;
      float *y = out + (gsize)n * E;
      /* two passes: the mean, then the variance about it (no E[x^2] - E[x]^2
       * cancellation) */
      float sum = 0.0f;
      LM_SIMD_SUM (sum)
      for (int e = 0; e < E; e++)
        sum += x[e];
      float mu = sum / (float)E;
      float sq = 0.0f;
      LM_SIMD_SUM (sq)
      for (int e = 0; e < E; e++)
        sq += (x[e] - mu) * (x[e] - mu);
      float rs = 1.0f / sqrtf (sq / (float)E + LM_LAYERNORM_EPS);
      LM_SIMD
      for (int e = 0; e < E; e++)
        y[e] = (x[e] - mu) * rs * weight[e] + (bias ? bias[e] : 0.0f);
      mean[n] = mu;
      rstd[n] = rs;
    }
}

LM_SIMD_DISPATCH (layernorm_forward, layernorm_forward_body,
                  (float *out, float *mean, float *rstd, const float *in, const float *weight,
                   const float *bias, int N, int E),
                  (out, mean, rstd, in, weight, bias, N, E))

void
lm_layernorm_forward (float *out, float *mean, float *rstd, const float *in, const float *weight,
                      const float *bias, int N, int E)
{
  layernorm_forward (out, mean, rstd, in, weight, bias, N, E);
}

static LM_ALWAYS_INLINE void
layernorm_backward_body (float *d_in, float *d_weight, float *d_bias, const float *d_out,
                         const float *in, const float *weight, const float *mean,
                         const float *rstd, int N, int E)
{
  for (int n = 0; n < N; n++)
    {
      const float *x = in + (gsize)n * E;
      const float *dy = d_out + (gsize)n * E;
      float mu = mean[n], rs = rstd[n];
      if (d_bias)
        {
          LM_SIMD
          for (int e = 0; e < E; e++)
            d_bias[e] += dy[e];
        }
      if (d_weight)
        {
          LM_SIMD
          for (int e = 0; e < E; e++)
            d_weight[e] += dy[e] * (x[e] - mu) * rs;
        }
      if (!d_in)
        continue;
      /* With g = dy * w the gradient through xhat = (x - mu) rstd is
       *   dx = rstd (g - mean(g) - xhat mean(g xhat)):
       * the two means remove the components that mu and rstd absorb. */
      float g_mean = 0.0f, gx_mean = 0.0f;
      LM_SIMD_SUM (g_mean)
      for (int e = 0; e < E; e++)
        g_mean += dy[e] * weight[e];
      LM_SIMD_SUM (gx_mean)
      for (int e = 0; e < E; e++)
        gx_mean += dy[e] * weight[e] * (x[e] - mu) * rs;
      g_mean /= (float)E;
      gx_mean /= (float)E;
      float *dx = d_in + (gsize)n * E;
      LM_SIMD
      for (int e = 0; e < E; e++)
        dx[e] += rs * (dy[e] * weight[e] - g_mean - (x[e] - mu) * rs * gx_mean);
    }
}

LM_SIMD_DISPATCH (layernorm_backward, layernorm_backward_body,
                  (float *d_in, float *d_weight, float *d_bias, const float *d_out,
                   const float *in, const float *weight, const float *mean, const float *rstd,
                   int N, int E),
                  (d_in, d_weight, d_bias, d_out, in, weight, mean, rstd, N, E))

void
lm_layernorm_backward (float *d_in, float *d_weight, float *d_bias, const float *d_out,
                       const float *in, const float *weight, const float *mean, const float *rstd,
                       int N, int E)
{
  layernorm_backward (d_in, d_weight, d_bias, d_out, in, weight, mean, rstd, N, E);
}

/* ---- dropout --------------------------------------------------------------------- */

void
lm_dropout_forward (float *out, float *mask, const float *in, gsize n, float p, LmRng *rng)
{
  if (p <= 0.0f)
    {
      for (gsize i = 0; i < n; i++)
        mask[i] = 1.0f;
      if (out != in)
        memcpy (out, in, n * sizeof (float));
      return;
    }
  /* keep with probability 1 - p, scaled by 1 / (1 - p) so E[out] = in */
  float keep = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  for (gsize i = 0; i < n; i++)
    mask[i] = lm_rng_float (rng) >= p ? keep : 0.0f;
  lm_mul_forward (out, in, mask, n);
}

void
lm_dropout_backward (float *d_in, const float *d_out, const float *mask, gsize n)
{
  lm_mul_backward (d_in, NULL, d_out, NULL, mask, n);
}
