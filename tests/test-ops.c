/* test-ops.c — every forward/backward pair of core/lm-ops.h against central finite
 * differences, the BLAS paths against their naive references, and hand-computed values.
 *
 * How a gradient is checked: the forward output is reduced to a scalar
 *   L = sum_i w_i out_i        (w random, fixed; L accumulated in double)
 * so dL/d(out) = w is what the backward pass receives. For every input element x_j,
 *   numeric_j = (L(x_j + h) - L(x_j - h)) / (2h)
 * is compared with the analytic gradient. Gradient buffers start at random values, not
 * zero, and the analytic gradient is what backward ADDED, so the tests also hold every
 * backward pass to its accumulate (+=) contract. A report line per tensor gives the
 * largest absolute and relative differences, as llm.c's test_gpt2.c does.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-ops.h"
#include "core/lm-ops-simd.h"
#include "lm-test-util.h"
#include "core/lm-rng.h"

/* internal to lm-ops.c, exposed for these tests */
float lm_ops_fast_exp (float x);
float lm_ops_fast_tanh (float x);
float lm_ops_fast_sigmoid (float x);

/* ---- helpers ----------------------------------------------------------------------- */

/* Compare analytic (what backward added) with central differences of loss over x.
 * Passes when every element has |num - ana| <= atol + rtol max(|num|, |ana|). */
/* grad_after - grad_before: what a backward pass accumulated */
static float *
added (const float *after, const float *before, gsize n)
{
  float *d = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    d[i] = after[i] - before[i];
  return d;
}

/* Check one gradient buffer: `grad` was filled with `start` before backward ran. */
static void
check_accumulated (const char *what, float *x, gsize n, const float *grad, const float *start,
                   LmTestLossFunc loss, gpointer data, float h)
{
  g_autofree float *analytic = added (grad, start, n);
  lm_test_check_gradient (what, x, n, analytic, loss, data, h, 2e-3, 1e-2);
}

static float *
copy_buffer (const float *x, gsize n)
{
  return g_memdup2 (x, n * sizeof (float));
}

/* ---- matrix products --------------------------------------------------------------- */

static void
test_sgemm_vs_naive (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 1);
  /* odd sizes, padded leading dimensions, every transpose combination */
  const int M = 7, N = 13, K = 9, pad = 3;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int beta_case = 0; beta_case < 2; beta_case++)
        {
          int a_rows = ta ? K : M, a_cols = ta ? M : K;
          int b_rows = tb ? N : K, b_cols = tb ? K : N;
          int lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
          g_autofree float *A = lm_test_random_buffer (&rng, (gsize)a_rows * lda, 1.0f);
          g_autofree float *B = lm_test_random_buffer (&rng, (gsize)b_rows * ldb, 1.0f);
          g_autofree float *C1 = lm_test_random_buffer (&rng, (gsize)M * ldc, 1.0f);
          float beta = beta_case ? 0.5f : 0.0f;
          if (beta == 0.0f)
            C1[0] = NAN; /* beta 0 must ignore what C held */
          g_autofree float *C2 = copy_buffer (C1, (gsize)M * ldc);
          lm_sgemm (ta, tb, M, N, K, 1.5f, A, lda, B, ldb, beta, C1, ldc);
          lm_sgemm_naive (ta, tb, M, N, K, 1.5f, A, lda, B, ldb, beta, C2, ldc);
          double max_abs = 0.0;
          for (int i = 0; i < M; i++)
            for (int j = 0; j < ldc; j++)
              {
                gsize k = (gsize)i * ldc + j;
                if (j >= N) /* the padding is not part of C and must be untouched */
                  g_assert_cmpmem (&C1[k], sizeof (float), &C2[k], sizeof (float));
                else
                  max_abs = MAX (max_abs, fabs ((double)C1[k] - C2[k]));
              }
          g_test_message ("sgemm trans_a=%d trans_b=%d beta=%.1f: max abs diff %.3e", ta, tb, beta,
                          max_abs);
          g_assert_cmpfloat (max_abs, <, 1e-5);
        }
}

static void
test_matmul_vs_naive (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 2);
  const int N = 11, C = 17, O = 5;
  g_autofree float *in = lm_test_random_buffer (&rng, (gsize)N * C, 1.0f);
  g_autofree float *w = lm_test_random_buffer (&rng, (gsize)O * C, 1.0f);
  g_autofree float *b = lm_test_random_buffer (&rng, O, 1.0f);
  g_autofree float *d_out = lm_test_random_buffer (&rng, (gsize)N * O, 1.0f);
  for (int with_bias = 0; with_bias < 2; with_bias++)
    {
      float out1[N * O], out2[N * O];
      lm_matmul_forward (out1, in, w, with_bias ? b : NULL, N, C, O);
      lm_matmul_forward_naive (out2, in, w, with_bias ? b : NULL, N, C, O);
      for (int i = 0; i < N * O; i++)
        g_assert_cmpfloat_with_epsilon (out1[i], out2[i], 1e-5);
    }
  /* backward: both start from the same non-zero gradients (accumulation) */
  g_autofree float *d_in1 = lm_test_random_buffer (&rng, (gsize)N * C, 1.0f);
  g_autofree float *d_w1 = lm_test_random_buffer (&rng, (gsize)O * C, 1.0f);
  g_autofree float *d_b1 = lm_test_random_buffer (&rng, O, 1.0f);
  g_autofree float *d_in2 = copy_buffer (d_in1, (gsize)N * C);
  g_autofree float *d_w2 = copy_buffer (d_w1, (gsize)O * C);
  g_autofree float *d_b2 = copy_buffer (d_b1, O);
  lm_matmul_backward (d_in1, d_w1, d_b1, d_out, in, w, N, C, O);
  lm_matmul_backward_naive (d_in2, d_w2, d_b2, d_out, in, w, N, C, O);
  for (int i = 0; i < N * C; i++)
    g_assert_cmpfloat_with_epsilon (d_in1[i], d_in2[i], 1e-5);
  for (int i = 0; i < O * C; i++)
    g_assert_cmpfloat_with_epsilon (d_w1[i], d_w2[i], 1e-5);
  for (int i = 0; i < O; i++)
    g_assert_cmpfloat_with_epsilon (d_b1[i], d_b2[i], 1e-5);
  /* NULL gradients are skipped */
  lm_matmul_backward (NULL, NULL, d_b1, d_out, in, w, N, C, O);
  lm_matmul_backward_naive (NULL, NULL, d_b2, d_out, in, w, N, C, O);
  for (int i = 0; i < O; i++)
    g_assert_cmpfloat_with_epsilon (d_b1[i], d_b2[i], 1e-5);
}

typedef struct
{
  float *in, *w, *b, *out, *proj;
  int N, C, O;
  gboolean naive;
} MatmulCase;

static double
matmul_loss (gpointer data)
{
  MatmulCase *c = data;
  if (c->naive)
    lm_matmul_forward_naive (c->out, c->in, c->w, c->b, c->N, c->C, c->O);
  else
    lm_matmul_forward (c->out, c->in, c->w, c->b, c->N, c->C, c->O);
  return lm_test_dot (c->proj, c->out, (gsize)c->N * c->O);
}

static void
test_matmul_gradient (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 3);
  for (int naive = 0; naive < 2; naive++)
    {
      MatmulCase c = { .N = 4, .C = 5, .O = 3, .naive = naive };
      gsize n_in = (gsize)c.N * c.C, n_w = (gsize)c.O * c.C;
      c.in = lm_test_random_buffer (&rng, n_in, 1.0f);
      c.w = lm_test_random_buffer (&rng, n_w, 1.0f);
      c.b = lm_test_random_buffer (&rng, c.O, 1.0f);
      c.out = g_new (float, (gsize)c.N *c.O);
      c.proj = lm_test_random_buffer (&rng, (gsize)c.N * c.O, 1.0f);
      g_autofree float *d_in = lm_test_random_buffer (&rng, n_in, 1.0f);
      g_autofree float *d_w = lm_test_random_buffer (&rng, n_w, 1.0f);
      g_autofree float *d_b = lm_test_random_buffer (&rng, c.O, 1.0f);
      g_autofree float *d_in0 = copy_buffer (d_in, n_in);
      g_autofree float *d_w0 = copy_buffer (d_w, n_w);
      g_autofree float *d_b0 = copy_buffer (d_b, c.O);
      if (naive)
        lm_matmul_backward_naive (d_in, d_w, d_b, c.proj, c.in, c.w, c.N, c.C, c.O);
      else
        lm_matmul_backward (d_in, d_w, d_b, c.proj, c.in, c.w, c.N, c.C, c.O);
      check_accumulated (naive ? "matmul_naive d_in" : "matmul d_in", c.in, n_in, d_in, d_in0,
                         matmul_loss, &c, 1e-2f);
      check_accumulated (naive ? "matmul_naive d_weight" : "matmul d_weight", c.w, n_w, d_w, d_w0,
                         matmul_loss, &c, 1e-2f);
      check_accumulated (naive ? "matmul_naive d_bias" : "matmul d_bias", c.b, c.O, d_b, d_b0,
                         matmul_loss, &c, 1e-2f);
      g_free (c.in);
      g_free (c.w);
      g_free (c.b);
      g_free (c.out);
      g_free (c.proj);
    }
}

/* ---- softmax family -------------------------------------------------------------- */

static void
test_softmax_rows (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 4);
  const int N = 5, V = 37;
  g_autofree float *logits = lm_test_random_buffer (&rng, (gsize)N * V, 8.0f);
  /* rows that overflow a naive exp: huge, tiny, and all equal */
  for (int v = 0; v < V; v++)
    {
      logits[1 * V + v] = 1000.0f + v;
      logits[2 * V + v] = -1000.0f - v;
      logits[3 * V + v] = 3.0f;
    }
  g_autofree float *probs = g_new (float, (gsize)N *V);
  g_autofree float *logp = g_new (float, (gsize)N *V);
  lm_softmax_forward (probs, logits, N, V);
  lm_log_softmax_forward (logp, logits, N, V);
  for (int n = 0; n < N; n++)
    {
      double sum = 0.0, sum_exp_logp = 0.0;
      for (int v = 0; v < V; v++)
        {
          float p = probs[n * V + v];
          g_assert_true (isfinite (p) && p >= 0.0f && p <= 1.0f);
          g_assert_true (isfinite (logp[n * V + v]) && logp[n * V + v] <= 0.0f);
          sum += p;
          sum_exp_logp += exp (logp[n * V + v]);
          /* log-softmax agrees with the log of softmax where p is not tiny */
          if (p > 1e-6f)
            g_assert_cmpfloat_with_epsilon (logp[n * V + v], logf (p), 1e-5);
        }
      g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
      g_assert_cmpfloat_with_epsilon (sum_exp_logp, 1.0, 1e-5);
    }
  /* equal logits give the uniform distribution; the largest of a shifted row wins */
  g_assert_cmpfloat_with_epsilon (probs[3 * V + 7], 1.0f / V, 1e-7);
  g_assert_cmpfloat (probs[1 * V + V - 1], >, probs[1 * V + V - 2]);
  /* in place */
  lm_softmax_forward (logits, logits, N, V);
  g_assert_cmpmem (logits, (gsize)N * V * sizeof (float), probs, (gsize)N * V * sizeof (float));
}

typedef struct
{
  float *logits, *out, *proj;
  int N, V;
  gboolean log;
} SoftmaxCase;

static double
softmax_loss (gpointer data)
{
  SoftmaxCase *c = data;
  if (c->log)
    lm_log_softmax_forward (c->out, c->logits, c->N, c->V);
  else
    lm_softmax_forward (c->out, c->logits, c->N, c->V);
  return lm_test_dot (c->proj, c->out, (gsize)c->N * c->V);
}

static void
test_softmax_gradient (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 5);
  for (int log = 0; log < 2; log++)
    {
      SoftmaxCase c = { .N = 3, .V = 7, .log = log };
      gsize n = (gsize)c.N * c.V;
      c.logits = lm_test_random_buffer (&rng, n, 2.0f);
      c.out = g_new (float, n);
      c.proj = lm_test_random_buffer (&rng, n, 1.0f);
      softmax_loss (&c);
      g_autofree float *d = lm_test_random_buffer (&rng, n, 1.0f);
      g_autofree float *d0 = copy_buffer (d, n);
      if (log)
        lm_log_softmax_backward (d, c.proj, c.out, c.N, c.V);
      else
        lm_softmax_backward (d, c.proj, c.out, c.N, c.V);
      check_accumulated (log ? "log_softmax d_logits" : "softmax d_logits", c.logits, n, d, d0,
                         softmax_loss, &c, 1e-2f);
      g_free (c.logits);
      g_free (c.out);
      g_free (c.proj);
    }
}

static void
test_cross_entropy_hand (void)
{
  /* row 0: -ln softmax(1,2,3)_2 = ln(e + e^2 + e^3) - 3 = ln(1 + e^-1 + e^-2)
   * row 1: -ln softmax(0,0,0)_0 = ln 3;  row 2 is not counted (target -1) */
  float logits[9] = { 1, 2, 3, 0, 0, 0, 5, -5, 7 };
  gint32 targets[3] = { 2, 0, -1 };
  float probs[9], d[9];
  int count = -1;
  double row0 = log (1.0 + exp (-1.0) + exp (-2.0)), row1 = log (3.0);
  double loss = lm_softmax_cross_entropy_forward (probs, logits, targets, 3, 3, &count);
  g_assert_cmpint (count, ==, 2);
  g_assert_cmpfloat_with_epsilon (loss, (row0 + row1) / 2, 1e-6);
  g_assert_cmpfloat_with_epsilon (loss, 0.7531091269, 1e-6);
  /* d = scale (p - onehot) / count */
  lm_softmax_cross_entropy_backward (d, probs, targets, 3, 3, 2.0f);
  double z = exp (1.0) + exp (2.0) + exp (3.0);
  g_assert_cmpfloat_with_epsilon (d[0], exp (1.0) / z, 1e-6);
  g_assert_cmpfloat_with_epsilon (d[2], exp (3.0) / z - 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (d[3], 1.0 / 3 - 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (d[4], 1.0 / 3, 1e-6);
  for (int v = 6; v < 9; v++)
    g_assert_cmpfloat (d[v], ==, 0.0f);
  /* in place over probs gives the same gradient */
  lm_softmax_cross_entropy_backward (probs, probs, targets, 3, 3, 2.0f);
  g_assert_cmpmem (probs, sizeof probs, d, sizeof d);
  /* nothing counted: zero loss, zero gradient */
  gint32 none[3] = { -1, -1, -1 };
  g_assert_cmpfloat (lm_softmax_cross_entropy_forward (probs, logits, none, 3, 3, &count), ==, 0.0);
  g_assert_cmpint (count, ==, 0);
  lm_softmax_cross_entropy_backward (d, probs, none, 3, 3, 1.0f);
  for (int v = 0; v < 9; v++)
    g_assert_cmpfloat (d[v], ==, 0.0f);
  /* a target whose probability underflows float still has a finite, exact loss */
  float far[2] = { 0.0f, 200.0f };
  gint32 t0[1] = { 0 };
  g_assert_cmpfloat_with_epsilon (lm_softmax_cross_entropy_forward (far, far, t0, 1, 2, NULL),
                                  200.0, 1e-4);
}

typedef struct
{
  float *logits, *probs;
  const gint32 *targets;
  int N, V;
  float scale;
} CrossEntropyCase;

static double
cross_entropy_loss (gpointer data)
{
  CrossEntropyCase *c = data;
  return c->scale
         * lm_softmax_cross_entropy_forward (c->probs, c->logits, c->targets, c->N, c->V, NULL);
}

static void
test_cross_entropy_gradient (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 6);
  gint32 targets[5] = { 3, 0, -1, 6, 3 };
  CrossEntropyCase c = { .N = 5, .V = 7, .targets = targets, .scale = 3.0f };
  gsize n = (gsize)c.N * c.V;
  c.logits = lm_test_random_buffer (&rng, n, 2.0f);
  c.probs = g_new (float, n);
  cross_entropy_loss (&c);
  g_autofree float *d = g_new (float, n);
  lm_softmax_cross_entropy_backward (d, c.probs, targets, c.N, c.V, c.scale);
  lm_test_check_gradient ("cross_entropy d_logits", c.logits, n, d, cross_entropy_loss, &c, 1e-2f, 2e-3,
                  1e-2);
  g_free (c.logits);
  g_free (c.probs);
}

/* The fused forward-and-backward rows give the two-call path's loss and gradient, on
 * both code paths, for a vocabulary that is not a multiple of the vector width. */
static void
test_cross_entropy_rows (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 11);
  const int N = 5, V = 1003;
  g_autofree float *logits = lm_test_random_buffer (&rng, (gsize)N * V, 6.0f);
  gint32 targets[5] = { 3, -1, 1002, 0, 517 };
  const float scale = 0.25f; /* 1/count */
  g_autofree float *probs = g_new (float, (gsize)N *V);
  g_autofree float *d = g_new (float, (gsize)N *V);
  int count;
  double mean = lm_softmax_cross_entropy_forward (probs, logits, targets, N, V, &count);
  g_assert_cmpint (count, ==, 4);
  lm_softmax_cross_entropy_backward (d, probs, targets, N, V, 1.0f);
  for (int path = 0; path < 2; path++)
    {
      lm_simd_set_avx2 (path == 0);
      g_autofree float *out = g_memdup2 (logits, (gsize)N * V * sizeof (float));
      double row_loss[5];
      g_autofree float *col = g_new0 (float, V);
      lm_softmax_cross_entropy_rows (out, row_loss, col, out, targets, N, V, scale, NULL);
      double sum = 0.0;
      for (int n = 0; n < N; n++)
        sum += row_loss[n];
      g_assert_cmpfloat (row_loss[1], ==, 0.0);
      g_assert_cmpfloat_with_epsilon (sum / count, mean, 1e-6); /* float sums, 4 or 8 lanes */
      for (gsize i = 0; i < (gsize)N * V; i++)
        g_assert_cmpfloat_with_epsilon (out[i], d[i], 1e-7);
      /* the column sums are the output bias's gradient */
      for (int v = 0; v < V; v++)
        {
          double expect = 0.0;
          for (int n = 0; n < N; n++)
            expect += d[(gsize)n * V + v];
          g_assert_cmpfloat_with_epsilon (col[v], expect, 1e-6);
        }
      /* the rows' maxima given (as the output layer's product finds them): the same bits */
      float maxima[5];
      for (int n = 0; n < N; n++)
        {
          maxima[n] = -INFINITY;
          for (int v = 0; v < V; v++)
            maxima[n] = MAX (maxima[n], logits[(gsize)n * V + v]);
        }
      g_autofree float *given = g_memdup2 (logits, (gsize)N * V * sizeof (float));
      g_autofree float *col_given = g_new0 (float, V);
      double loss_given[5];
      lm_softmax_cross_entropy_rows (given, loss_given, col_given, given, targets, N, V, scale,
                                     maxima);
      g_assert_cmpmem (given, (gsize)N * V * sizeof (float), out, (gsize)N * V * sizeof (float));
      g_assert_cmpmem (col_given, (gsize)V * sizeof (float), col, (gsize)V * sizeof (float));
      g_assert_cmpmem (loss_given, sizeof loss_given, row_loss, sizeof row_loss);
      /* and they are used, not found again: a maximum far too high underflows every
       * exponential of the row to exp's floor, and the row's loss comes out wrong */
      maxima[0] += 200.0f;
      memcpy (given, logits, (gsize)N * V * sizeof (float));
      lm_softmax_cross_entropy_rows (given, loss_given, col_given, given, targets, N, V, scale,
                                     maxima);
      g_assert_cmpfloat (fabs (loss_given[0] - row_loss[0]), >, 1.0);
      g_assert_cmpfloat (loss_given[2], ==, row_loss[2]);
    }
  lm_simd_set_avx2 (TRUE);
}

static void
test_score (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 7);
  const int N = 4, V = 300;
  g_autofree float *logits = lm_test_random_buffer (&rng, (gsize)N * V, 4.0f);
  /* row 3: ties; ids 5 and 9 share the maximum, the target 9 ranks behind 5 */
  for (int v = 0; v < V; v++)
    logits[3 * V + v] = v == 5 || v == 9 ? 2.0f : 0.0f;
  gint32 targets[4] = { 17, 0, -1, 9 };
  /* row 0: make 17 the argmax */
  logits[17] = 100.0f;
  double logprob[4];
  gint32 predicted[4];
  guint8 rank[4];
  lm_log_softmax_score (logits, targets, N, V, logprob, predicted, rank);
  g_autofree float *logp = g_new (float, (gsize)N *V);
  lm_log_softmax_forward (logp, logits, N, V);
  g_assert_cmpfloat_with_epsilon (logprob[0], logp[17], 1e-5);
  g_assert_cmpfloat_with_epsilon (logprob[1], logp[V + 0], 1e-5);
  g_assert_cmpint (predicted[0], ==, 17);
  g_assert_cmpint (rank[0], ==, 0);
  /* row 1: rank = number of logits above the target's */
  int above = 0, best = 0;
  for (int v = 0; v < V; v++)
    {
      above += logits[V + v] > logits[V + 0];
      if (logits[V + v] > logits[V + best])
        best = v;
    }
  g_assert_cmpint (rank[1], ==, MIN (above, 255));
  g_assert_cmpint (predicted[1], ==, best);
  g_assert_cmpfloat (logprob[2], ==, 0.0);
  g_assert_cmpint (rank[2], ==, 255);
  g_assert_cmpint (predicted[3], ==, 5);
  g_assert_cmpint (rank[3], ==, 1);
  g_assert_cmpfloat_with_epsilon (logprob[3], 2.0 - log (2 * exp (2.0) + (V - 2)), 1e-6);
  /* a target at the bottom of 300 saturates at 255 */
  gint32 low[1] = { 0 };
  float row[300];
  for (int v = 0; v < V; v++)
    row[v] = (float)v;
  lm_log_softmax_score (row, low, 1, V, logprob, NULL, rank);
  g_assert_cmpint (rank[0], ==, 255);
}

static void
test_score_portable (void)
{
  lm_simd_set_avx2 (FALSE);
  test_score ();
  lm_simd_set_avx2 (TRUE);
}

/* ---- elementwise ------------------------------------------------------------------- */

static void
test_fast_functions (void)
{
  /* the vectorisable exp / tanh / sigmoid against libm over the range that matters */
  double max_exp = 0.0, max_tanh = 0.0, max_sigmoid = 0.0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f)
    {
      double e = exp ((double)x);
      max_exp = MAX (max_exp, fabs (lm_ops_fast_exp (x) - e) / e);
    }
  for (float x = -12.0f; x <= 12.0f; x += 0.00113f)
    {
      max_tanh = MAX (max_tanh, fabs (lm_ops_fast_tanh (x) - tanh ((double)x)));
      double s = 1.0 / (1.0 + exp (-(double)x));
      max_sigmoid = MAX (max_sigmoid, fabs (lm_ops_fast_sigmoid (x) - s) / s);
    }
  g_test_message ("fast exp max rel error %.3g, tanh max abs error %.3g, sigmoid max rel "
                  "error %.3g",
                  max_exp, max_tanh, max_sigmoid);
  g_assert_cmpfloat (max_exp, <, 5e-7);
  g_assert_cmpfloat (max_tanh, <, 3e-7);
  g_assert_cmpfloat (max_sigmoid, <, 5e-7);
  /* tanh stays odd and exact near zero, where 1 - e^(-2x) would cancel */
  g_assert_cmpfloat_with_epsilon (lm_ops_fast_tanh (1e-4f) / 1e-4f, 1.0, 1e-6);
  g_assert_cmpfloat (lm_ops_fast_tanh (-0.3f), ==, -lm_ops_fast_tanh (0.3f));
  g_assert_cmpfloat (lm_ops_fast_exp (0.0f), ==, 1.0f);
  /* the edges: -inf gives (next to) zero, +inf something huge, NaN stays NaN */
  g_assert_cmpfloat (lm_ops_fast_exp (-INFINITY), <, 1e-37);
  g_assert_cmpfloat (lm_ops_fast_exp (-INFINITY), >=, 0.0f);
  g_assert_cmpfloat (lm_ops_fast_exp (1000.0f), >, 1e38);
  g_assert_true (isnan (lm_ops_fast_exp (NAN)));
  g_assert_cmpfloat (lm_ops_fast_tanh (100.0f), ==, 1.0f);
  g_assert_cmpfloat (lm_ops_fast_tanh (-100.0f), ==, -1.0f);
  g_assert_cmpfloat (lm_ops_fast_sigmoid (-200.0f), <, 1e-37);
  g_assert_cmpfloat (lm_ops_fast_sigmoid (200.0f), ==, 1.0f);
}

static void
test_gelu_values (void)
{
  /* exact gelu (erf form), the values F.gelu gives */
  float in[4] = { 0.0f, 1.0f, -1.0f, 3.0f }, out[4];
  lm_gelu_forward (out, in, 4);
  g_assert_cmpfloat (out[0], ==, 0.0f);
  g_assert_cmpfloat_with_epsilon (out[1], 0.8413447460685429, 1e-6);
  g_assert_cmpfloat_with_epsilon (out[2], -0.15865525393145707, 1e-6);
  g_assert_cmpfloat_with_epsilon (out[3], 2.9959502, 1e-6);
}

typedef void (*UnaryForward) (float *out, const float *in, gsize n);
typedef void (*UnaryBackward) (float *d_in, const float *d_out, const float *saved, gsize n);

typedef struct
{
  UnaryForward forward;
  float *in, *out, *proj;
  gsize n;
} UnaryCase;

static double
unary_loss (gpointer data)
{
  UnaryCase *c = data;
  c->forward (c->out, c->in, c->n);
  return lm_test_dot (c->proj, c->out, c->n);
}

static void
check_unary (const char *what, UnaryForward forward, UnaryBackward backward,
             gboolean backward_uses_input)
{
  LmRng rng;
  lm_rng_seed (&rng, 8);
  UnaryCase c = { .forward = forward, .n = 40 };
  c.in = lm_test_random_buffer (&rng, c.n, 4.0f);
  c.out = g_new (float, c.n);
  c.proj = lm_test_random_buffer (&rng, c.n, 1.0f);
  unary_loss (&c);
  g_autofree float *d = lm_test_random_buffer (&rng, c.n, 1.0f);
  g_autofree float *d0 = copy_buffer (d, c.n);
  backward (d, c.proj, backward_uses_input ? c.in : c.out, c.n);
  check_accumulated (what, c.in, c.n, d, d0, unary_loss, &c, 1e-2f);
  /* in place gives the same output (c.out last held a perturbed evaluation) */
  unary_loss (&c);
  g_autofree float *same = copy_buffer (c.in, c.n);
  forward (same, same, c.n);
  g_assert_cmpmem (same, c.n * sizeof (float), c.out, c.n * sizeof (float));
  g_free (c.in);
  g_free (c.out);
  g_free (c.proj);
}

static void
test_activation_gradients (void)
{
  check_unary ("tanh d_in", lm_tanh_forward, lm_tanh_backward, FALSE);
  check_unary ("sigmoid d_in", lm_sigmoid_forward, lm_sigmoid_backward, FALSE);
  check_unary ("gelu d_in", lm_gelu_forward, lm_gelu_backward, TRUE);
}

typedef struct
{
  float *a, *b, *out, *proj;
  gsize n;
  gboolean mul;
} BinaryCase;

static double
binary_loss (gpointer data)
{
  BinaryCase *c = data;
  if (c->mul)
    lm_mul_forward (c->out, c->a, c->b, c->n);
  else
    lm_add_forward (c->out, c->a, c->b, c->n);
  return lm_test_dot (c->proj, c->out, c->n);
}

static void
test_add_mul_gradients (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 9);
  for (int mul = 0; mul < 2; mul++)
    {
      BinaryCase c = { .n = 23, .mul = mul };
      c.a = lm_test_random_buffer (&rng, c.n, 2.0f);
      c.b = lm_test_random_buffer (&rng, c.n, 2.0f);
      c.out = g_new (float, c.n);
      c.proj = lm_test_random_buffer (&rng, c.n, 1.0f);
      g_autofree float *d_a = lm_test_random_buffer (&rng, c.n, 1.0f);
      g_autofree float *d_b = lm_test_random_buffer (&rng, c.n, 1.0f);
      g_autofree float *d_a0 = copy_buffer (d_a, c.n);
      g_autofree float *d_b0 = copy_buffer (d_b, c.n);
      if (mul)
        lm_mul_backward (d_a, d_b, c.proj, c.a, c.b, c.n);
      else
        lm_add_backward (d_a, d_b, c.proj, c.n);
      check_accumulated (mul ? "mul d_a" : "add d_a", c.a, c.n, d_a, d_a0, binary_loss, &c, 1e-2f);
      check_accumulated (mul ? "mul d_b" : "add d_b", c.b, c.n, d_b, d_b0, binary_loss, &c, 1e-2f);
      g_free (c.a);
      g_free (c.b);
      g_free (c.out);
      g_free (c.proj);
    }
}

/* ---- embedding --------------------------------------------------------------------- */

typedef struct
{
  float *table, *out, *proj;
  const gint32 *ids;
  int N, V, E;
} EmbeddingCase;

static double
embedding_loss (gpointer data)
{
  EmbeddingCase *c = data;
  lm_embedding_forward (c->out, c->ids, c->table, c->N, c->V, c->E);
  return lm_test_dot (c->proj, c->out, (gsize)c->N * c->E);
}

static void
test_embedding (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 10);
  gint32 ids[6] = { 2, 0, 2, 4, 2, 1 }; /* 2 repeats, 3 never occurs */
  EmbeddingCase c = { .ids = ids, .N = 6, .V = 5, .E = 3 };
  gsize n_table = (gsize)c.V * c.E;
  c.table = lm_test_random_buffer (&rng, n_table, 1.0f);
  c.out = g_new (float, (gsize)c.N *c.E);
  c.proj = lm_test_random_buffer (&rng, (gsize)c.N * c.E, 1.0f);
  embedding_loss (&c);
  for (int n = 0; n < c.N; n++)
    g_assert_cmpmem (c.out + n * c.E, c.E * sizeof (float), c.table + ids[n] * c.E,
                     c.E * sizeof (float));
  g_autofree float *d = lm_test_random_buffer (&rng, n_table, 1.0f);
  g_autofree float *d0 = copy_buffer (d, n_table);
  lm_embedding_backward (d, c.proj, ids, c.N, c.V, c.E);
  /* the unused row 3 receives nothing */
  g_assert_cmpmem (d + 3 * c.E, c.E * sizeof (float), d0 + 3 * c.E, c.E * sizeof (float));
  check_accumulated ("embedding d_table", c.table, n_table, d, d0, embedding_loss, &c, 1e-2f);
  g_free (c.table);
  g_free (c.out);
  g_free (c.proj);
}

/* ---- layer norm -------------------------------------------------------------------- */

typedef struct
{
  float *in, *w, *b, *out, *mean, *rstd, *proj;
  int N, E;
} LayerNormCase;

static double
layernorm_loss (gpointer data)
{
  LayerNormCase *c = data;
  lm_layernorm_forward (c->out, c->mean, c->rstd, c->in, c->w, c->b, c->N, c->E);
  return lm_test_dot (c->proj, c->out, (gsize)c->N * c->E);
}

/* On the AVX2 path (when the CPU has it) and on the portable one. */
static void
test_layernorm (gconstpointer avx2)
{
  gboolean was = lm_simd_avx2 ();
  lm_simd_set_avx2 (GPOINTER_TO_INT (avx2));
  LmRng rng;
  lm_rng_seed (&rng, 11);
  LayerNormCase c = { .N = 3, .E = 8 };
  gsize n = (gsize)c.N * c.E;
  c.in = lm_test_random_buffer (&rng, n, 2.0f);
  for (int e = 0; e < c.E; e++)
    c.in[e] += 10.0f; /* an offset row: the mean must be removed */
  c.w = lm_test_random_buffer (&rng, c.E, 1.0f);
  c.b = lm_test_random_buffer (&rng, c.E, 1.0f);
  c.out = g_new (float, n);
  c.mean = g_new (float, c.N);
  c.rstd = g_new (float, c.N);
  c.proj = lm_test_random_buffer (&rng, n, 1.0f);

  /* with weight 1 and no bias each output row has mean 0 and (biased) variance ~1 */
  float ones[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
  lm_layernorm_forward (c.out, c.mean, c.rstd, c.in, ones, NULL, c.N, c.E);
  for (int r = 0; r < c.N; r++)
    {
      double mu = 0.0, var = 0.0, in_mu = 0.0, in_var = 0.0;
      for (int e = 0; e < c.E; e++)
        {
          mu += c.out[r * c.E + e] / c.E;
          in_mu += c.in[r * c.E + e] / (double)c.E;
        }
      for (int e = 0; e < c.E; e++)
        {
          var += pow (c.out[r * c.E + e] - mu, 2) / c.E;
          in_var += pow (c.in[r * c.E + e] - in_mu, 2) / c.E;
        }
      g_assert_cmpfloat_with_epsilon (mu, 0.0, 1e-5);
      g_assert_cmpfloat_with_epsilon (var, in_var / (in_var + 1e-5), 1e-4);
      g_assert_cmpfloat_with_epsilon (c.mean[r], in_mu, 1e-5);
      g_assert_cmpfloat_with_epsilon (c.rstd[r], 1.0 / sqrt (in_var + 1e-5), 1e-4);
    }

  layernorm_loss (&c);
  g_autofree float *d_in = lm_test_random_buffer (&rng, n, 1.0f);
  g_autofree float *d_w = lm_test_random_buffer (&rng, c.E, 1.0f);
  g_autofree float *d_b = lm_test_random_buffer (&rng, c.E, 1.0f);
  g_autofree float *d_in0 = copy_buffer (d_in, n);
  g_autofree float *d_w0 = copy_buffer (d_w, c.E);
  g_autofree float *d_b0 = copy_buffer (d_b, c.E);
  lm_layernorm_backward (d_in, d_w, d_b, c.proj, c.in, c.w, c.mean, c.rstd, c.N, c.E);
  check_accumulated ("layernorm d_in", c.in, n, d_in, d_in0, layernorm_loss, &c, 1e-2f);
  check_accumulated ("layernorm d_weight", c.w, c.E, d_w, d_w0, layernorm_loss, &c, 1e-2f);
  check_accumulated ("layernorm d_bias", c.b, c.E, d_b, d_b0, layernorm_loss, &c, 1e-2f);
  lm_simd_set_avx2 (was);
  g_free (c.in);
  g_free (c.w);
  g_free (c.b);
  g_free (c.out);
  g_free (c.mean);
  g_free (c.rstd);
  g_free (c.proj);
}

/* ---- dropout ----------------------------------------------------------------------- */

typedef struct
{
  float *in, *out, *mask, *proj;
  gsize n;
  float p;
} DropoutCase;

static double
dropout_loss (gpointer data)
{
  DropoutCase *c = data;
  LmRng rng;
  lm_rng_seed (&rng, 99); /* the same mask on every evaluation */
  lm_dropout_forward (c->out, c->mask, c->in, c->n, c->p, &rng);
  return lm_test_dot (c->proj, c->out, c->n);
}

static void
test_dropout (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 12);
  const gsize n = 100000;
  const float p = 0.3f;
  g_autofree float *in = lm_test_random_buffer (&rng, n, 1.0f);
  g_autofree float *out = g_new (float, n);
  g_autofree float *mask = g_new (float, n);
  lm_dropout_forward (out, mask, in, n, p, &rng);
  gsize kept = 0;
  for (gsize i = 0; i < n; i++)
    {
      if (mask[i] != 0.0f)
        {
          kept++;
          g_assert_cmpfloat_with_epsilon (mask[i], 1.0f / (1.0f - p), 1e-6);
          g_assert_cmpfloat (out[i], ==, in[i] * mask[i]);
        }
      else
        g_assert_cmpfloat (out[i], ==, 0.0f);
    }
  /* 70000 expected; a binomial sd is 145, so 1000 is a generous band */
  g_assert_cmpuint (kept, >, 69000);
  g_assert_cmpuint (kept, <, 71000);

  /* p = 0: identity, and rng is not consumed; p = 1: everything dropped */
  LmRng before = rng;
  lm_dropout_forward (out, mask, in, n, 0.0f, &rng);
  g_assert_cmpmem (out, n * sizeof (float), in, n * sizeof (float));
  g_assert_cmpmem (&rng, sizeof rng, &before, sizeof before);
  lm_dropout_forward (out, mask, in, n, 1.0f, &rng);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat (out[i], ==, 0.0f);

  DropoutCase c = { .n = 50, .p = 0.4f };
  c.in = lm_test_random_buffer (&rng, c.n, 1.0f);
  c.out = g_new (float, c.n);
  c.mask = g_new (float, c.n);
  c.proj = lm_test_random_buffer (&rng, c.n, 1.0f);
  dropout_loss (&c);
  g_autofree float *d = lm_test_random_buffer (&rng, c.n, 1.0f);
  g_autofree float *d0 = copy_buffer (d, c.n);
  lm_dropout_backward (d, c.proj, c.mask, c.n);
  check_accumulated ("dropout d_in", c.in, c.n, d, d0, dropout_loss, &c, 1e-2f);
  g_free (c.in);
  g_free (c.out);
  g_free (c.mask);
  g_free (c.proj);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ops/sgemm-vs-naive", test_sgemm_vs_naive);
  g_test_add_func ("/ops/matmul-vs-naive", test_matmul_vs_naive);
  g_test_add_func ("/ops/matmul-gradient", test_matmul_gradient);
  g_test_add_func ("/ops/softmax-rows", test_softmax_rows);
  g_test_add_func ("/ops/softmax-gradient", test_softmax_gradient);
  g_test_add_func ("/ops/cross-entropy-hand", test_cross_entropy_hand);
  g_test_add_func ("/ops/cross-entropy-gradient", test_cross_entropy_gradient);
  g_test_add_func ("/ops/cross-entropy-rows", test_cross_entropy_rows);
  g_test_add_func ("/ops/score", test_score);
  g_test_add_func ("/ops/score-portable", test_score_portable);
  g_test_add_func ("/ops/fast-functions", test_fast_functions);
  g_test_add_func ("/ops/gelu-values", test_gelu_values);
  g_test_add_func ("/ops/activation-gradients", test_activation_gradients);
  g_test_add_func ("/ops/add-mul-gradients", test_add_mul_gradients);
  g_test_add_func ("/ops/embedding", test_embedding);
  g_test_add_data_func ("/ops/layernorm", GINT_TO_POINTER (TRUE), test_layernorm);
  g_test_add_data_func ("/ops/layernorm-portable", GINT_TO_POINTER (FALSE), test_layernorm);
  g_test_add_func ("/ops/dropout", test_dropout);
  return g_test_run ();
}
