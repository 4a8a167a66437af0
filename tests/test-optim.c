/* test-optim.c — optimizer steps against hand-computed values, clipping, schedules at
 * their key steps, the name/value parser, and bit-exact resume from saved state. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-memory.h"
#include "core/lm-optim.h"

/* Two views: a (1,2) matrix that decays and a (1) bias that does not. */
static LmParams *
two_views (void)
{
  LmParams *params = lm_params_new ();
  lm_params_add (params, "w", 2, (int[]){ 1, 2 }, LM_INIT_ZEROS, 0, TRUE);
  lm_params_add (params, "b", 1, (int[]){ 1 }, LM_INIT_ZEROS, 0, FALSE);
  g_assert_true (lm_params_allocate (params, NULL));
  return params;
}

static void
set_all (LmParams *params, float value, float grad)
{
  for (int v = 0; v < params->n_views; v++)
    for (gsize i = 0; i < params->views[v].size; i++)
      {
        lm_params_data (params, v)[i] = value;
        lm_params_grad (params, v)[i] = grad;
      }
}

static LmOptimizer *
make (LmOptimKind kind, LmParams *params, float weight_decay)
{
  g_autoptr (GError) error = NULL;
  LmOptimConfig config;
  lm_optim_config_init (&config, kind);
  config.weight_decay = weight_decay;
  LmOptimizer *optimizer = lm_optimizer_new (&config, params, &error);
  g_assert_no_error (error);
  return optimizer;
}

#define W(params) lm_params_data (params, 0)[0]
#define B(params) lm_params_data (params, 1)[0]

static void
test_sgd (void)
{
  g_autoptr (LmParams) params = two_views ();
  g_autoptr (LmOptimizer) opt = make (LM_OPTIM_SGD, params, 0.0f);
  g_assert_null (opt->m);
  g_assert_null (opt->v);
  set_all (params, 1.0f, 0.5f);
  lm_optimizer_step (opt, params, 0.1f);
  /* p = 1 - 0.1 * 0.5 */
  g_assert_cmpfloat_with_epsilon (W (params), 0.95, 1e-7);
  g_assert_cmpfloat_with_epsilon (B (params), 0.95, 1e-7);
  g_assert_cmpint (opt->step, ==, 1);
}

static void
test_momentum (void)
{
  g_autoptr (LmParams) params = two_views ();
  g_autoptr (LmOptimizer) opt = make (LM_OPTIM_MOMENTUM, params, 0.0f);
  set_all (params, 1.0f, 0.5f);
  /* b1 = 0.5, p = 1 - 0.1 * 0.5 = 0.95; b2 = 0.9 * 0.5 + 0.5 = 0.95, p = 0.95 - 0.095 */
  lm_optimizer_step (opt, params, 0.1f);
  g_assert_cmpfloat_with_epsilon (W (params), 0.95, 1e-7);
  lm_optimizer_step (opt, params, 0.1f);
  g_assert_cmpfloat_with_epsilon (W (params), 0.855, 1e-6);
  g_assert_cmpfloat_with_epsilon (opt->m[0], 0.95, 1e-7);
}

static void
test_adam (void)
{
  g_autoptr (LmParams) params = two_views ();
  g_autoptr (LmOptimizer) opt = make (LM_OPTIM_ADAM, params, 0.0f);
  set_all (params, 1.0f, 0.5f);
  /* step 1: m = 0.05, v = 0.00025, m_hat = 0.5, v_hat = 0.25: p = 1 - 0.1 = 0.9 */
  lm_optimizer_step (opt, params, 0.1f);
  g_assert_cmpfloat_with_epsilon (W (params), 0.9, 1e-6);
  g_assert_cmpfloat_with_epsilon (opt->m[0], 0.05, 1e-7);
  g_assert_cmpfloat_with_epsilon (opt->v[0], 0.00025, 1e-8);
  /* step 2 with g = -0.25: m = 0.02, v = 0.00031225,
   * m_hat = 0.02 / 0.19, v_hat = 0.00031225 / 0.001999,
   * p = 0.9 - 0.1 m_hat / (sqrt(v_hat) + 1e-8) = 0.87336636 */
  set_all (params, 0.9f, -0.25f);
  lm_optimizer_step (opt, params, 0.1f);
  double m_hat = 0.02 / 0.19, v_hat = 0.00031225 / 0.001999;
  double expected = 0.9 - 0.1 * m_hat / (sqrt (v_hat) + 1e-8);
  g_assert_cmpfloat_with_epsilon (expected, 0.87336636, 1e-7);
  g_assert_cmpfloat_with_epsilon (W (params), expected, 1e-6);
  g_assert_cmpfloat_with_epsilon (B (params), expected, 1e-6);
  g_assert_cmpint (opt->step, ==, 2);
}

static void
test_adam_l2 (void)
{
  /* Adam's weight decay is L2 folded into the gradient, only on decay views:
   * g = 0.5 + 0.1 * 1 = 0.6 for w; with one step m_hat/sqrt(v_hat) = sign(g) anyway,
   * so look at the moment instead. */
  g_autoptr (LmParams) params = two_views ();
  g_autoptr (LmOptimizer) opt = make (LM_OPTIM_ADAM, params, 0.1f);
  set_all (params, 1.0f, 0.5f);
  lm_optimizer_step (opt, params, 0.1f);
  g_assert_cmpfloat_with_epsilon (opt->m[params->views[0].offset], 0.06, 1e-7);
  g_assert_cmpfloat_with_epsilon (opt->m[params->views[1].offset], 0.05, 1e-7);
}

static void
test_adamw (void)
{
  g_autoptr (LmParams) params = two_views ();
  g_autoptr (LmOptimizer) opt = make (LM_OPTIM_ADAMW, params, 0.1f);
  set_all (params, 1.0f, 0.5f);
  /* matrix: p = 1 (1 - 0.1 * 0.1) - 0.1 = 0.89; bias (no decay): 1 - 0.1 = 0.9 */
  lm_optimizer_step (opt, params, 0.1f);
  g_assert_cmpfloat_with_epsilon (W (params), 0.89, 1e-6);
  g_assert_cmpfloat_with_epsilon (lm_params_data (params, 0)[1], 0.89, 1e-6);
  g_assert_cmpfloat_with_epsilon (B (params), 0.9, 1e-6);
  /* the moments see the raw gradient (decay is decoupled) */
  g_assert_cmpfloat_with_epsilon (opt->m[0], 0.05, 1e-7);
  /* step 2, same gradient: the Adam part is again exactly lr (m_hat/sqrt(v_hat) = 1) */
  lm_optimizer_step (opt, params, 0.1f);
  g_assert_cmpfloat_with_epsilon (W (params), 0.89 * 0.99 - 0.1, 1e-6);
  g_assert_cmpfloat_with_epsilon (B (params), 0.8, 1e-6);
}

static void
test_adagrad_rmsprop (void)
{
  g_autoptr (LmParams) params = two_views ();
  g_autoptr (LmOptimizer) ada = make (LM_OPTIM_ADAGRAD, params, 0.0f);
  set_all (params, 1.0f, 0.5f);
  /* s = 0.25, p = 1 - 0.1 * 0.5 / (0.5 + 1e-10) = 0.9; then s = 0.5, p -= 0.1 0.5/0.7071 */
  lm_optimizer_step (ada, params, 0.1f);
  g_assert_cmpfloat_with_epsilon (W (params), 0.9, 1e-6);
  lm_optimizer_step (ada, params, 0.1f);
  g_assert_cmpfloat_with_epsilon (W (params), 0.9 - 0.05 / sqrt (0.5), 1e-6);

  g_autoptr (LmParams) p2 = two_views ();
  g_autoptr (LmOptimizer) rms = make (LM_OPTIM_RMSPROP, p2, 0.0f);
  set_all (p2, 1.0f, 0.5f);
  /* s = 0.01 * 0.25 = 0.0025, p = 1 - 0.1 * 0.5 / 0.05 = 0 */
  lm_optimizer_step (rms, p2, 0.1f);
  g_assert_cmpfloat_with_epsilon (W (p2), 0.0, 1e-5);
  g_assert_cmpfloat_with_epsilon (rms->v[0], 0.0025, 1e-8);
}

static void
test_padding_untouched (void)
{
  /* the floats between views stay zero whatever the optimizer does */
  g_autoptr (LmParams) params = two_views ();
  g_autoptr (LmOptimizer) opt = make (LM_OPTIM_ADAMW, params, 0.1f);
  set_all (params, 1.0f, 0.5f);
  for (int s = 0; s < 3; s++)
    lm_optimizer_step (opt, params, 0.1f);
  for (gsize i = 2; i < params->views[1].offset; i++)
    {
      g_assert_cmpfloat (params->data[i], ==, 0.0f);
      g_assert_cmpfloat (opt->m[i], ==, 0.0f);
    }
}

static void
test_resume_bit_exact (void)
{
  /* Run 6 steps straight, and 3 steps + save + restore into a fresh optimizer + 3 steps:
   * the parameters must agree to the bit. */
  LmRng rng;
  g_autoptr (LmParams) a = lm_params_new ();
  lm_params_add (a, "w", 2, (int[]){ 7, 5 }, LM_INIT_NORMAL, 1.0f, TRUE);
  lm_params_add (a, "b", 1, (int[]){ 5 }, LM_INIT_NORMAL, 1.0f, FALSE);
  g_assert_true (lm_params_allocate (a, NULL));
  lm_rng_seed (&rng, 3);
  lm_params_init (a, &rng);
  g_autoptr (LmParams) b = lm_params_new ();
  lm_params_add (b, "w", 2, (int[]){ 7, 5 }, LM_INIT_NORMAL, 1.0f, TRUE);
  lm_params_add (b, "b", 1, (int[]){ 5 }, LM_INIT_NORMAL, 1.0f, FALSE);
  g_assert_true (lm_params_allocate (b, NULL));
  memcpy (b->data, a->data, lm_params_bytes (a));

  g_autoptr (LmOptimizer) oa = make (LM_OPTIM_ADAMW, a, 0.1f);
  g_autoptr (LmOptimizer) ob = make (LM_OPTIM_ADAMW, b, 0.1f);
  for (int s = 0; s < 6; s++)
    {
      /* the gradient of 0.5 |p|^2 plus a step-dependent pull */
      for (gsize i = 0; i < a->n_floats; i++)
        {
          a->grad[i] = a->data[i] + 0.1f * (float)s;
          b->grad[i] = b->data[i] + 0.1f * (float)s;
        }
      lm_clip_grad_norm (a, 1.0);
      lm_clip_grad_norm (b, 1.0);
      lm_optimizer_step (oa, a, 0.01f);
      lm_optimizer_step (ob, b, 0.01f);
      if (s == 2)
        {
          /* "save" ob's state and "load" it into a fresh optimizer */
          gsize bytes = ob->n_floats * sizeof (float);
          g_autofree float *m = g_memdup2 (ob->m, bytes);
          g_autofree float *v = g_memdup2 (ob->v, bytes);
          gint64 step = ob->step;
          g_clear_pointer (&ob, lm_optimizer_free);
          ob = make (LM_OPTIM_ADAMW, b, 0.1f);
          memcpy (ob->m, m, bytes);
          memcpy (ob->v, v, bytes);
          ob->step = step;
        }
    }
  g_assert_cmpmem (a->data, lm_params_bytes (a), b->data, lm_params_bytes (b));
  g_assert_cmpint (oa->step, ==, 6);

  lm_optimizer_reset (oa);
  g_assert_cmpint (oa->step, ==, 0);
  g_assert_cmpfloat (oa->m[0], ==, 0.0f);
}

/* ---- clipping ------------------------------------------------------------------------ */

static void
test_clip (void)
{
  g_autoptr (LmParams) params = two_views ();
  /* gradients (3, 0 | 4): norm 5 */
  lm_params_grad (params, 0)[0] = 3.0f;
  lm_params_grad (params, 1)[0] = 4.0f;
  g_assert_cmpfloat_with_epsilon (lm_grad_norm (params), 5.0, 1e-12);
  /* a larger bound changes nothing */
  g_assert_cmpfloat_with_epsilon (lm_clip_grad_norm (params, 10.0), 5.0, 1e-12);
  g_assert_cmpfloat (lm_params_grad (params, 0)[0], ==, 3.0f);
  /* max_norm 0: report only */
  g_assert_cmpfloat_with_epsilon (lm_clip_grad_norm (params, 0.0), 5.0, 1e-12);
  g_assert_cmpfloat (lm_params_grad (params, 1)[0], ==, 4.0f);
  /* bound 1: g *= 1 / (5 + 1e-6); the pre-clip norm is returned */
  g_assert_cmpfloat_with_epsilon (lm_clip_grad_norm (params, 1.0), 5.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (lm_params_grad (params, 0)[0], 3.0 / (5.0 + 1e-6), 1e-7);
  g_assert_cmpfloat_with_epsilon (lm_params_grad (params, 1)[0], 4.0 / (5.0 + 1e-6), 1e-7);
  g_assert_cmpfloat (lm_grad_norm (params), <, 1.0);
  /* a NaN gradient: NaN norm reported, nothing scaled */
  lm_params_grad (params, 0)[1] = NAN;
  g_assert_true (isnan (lm_clip_grad_norm (params, 1.0)));
  g_assert_cmpfloat_with_epsilon (lm_params_grad (params, 1)[0], 4.0 / (5.0 + 1e-6), 1e-7);
}

/* ---- threads ------------------------------------------------------------------------ */

static void
count_part (gpointer ctx, int part, gsize begin, gsize end)
{
  guint8 *hits = ctx;
  g_assert_cmpint (part, >=, 0);
  for (gsize i = begin; i < end; i++)
    hits[i]++;
}

/* Parts cover the range once, in order, on 64-byte boundaries; every element is visited
 * exactly once whatever the number of parts. */
static void
test_parallel_parts (void)
{
  const gsize sizes[] = { 0, 1, 15, 16, 17, 100, 1000, 65537 };
  for (int parts = 1; parts <= 5; parts++)
    {
      g_autoptr (LmParallel) par = lm_parallel_new (parts);
      g_assert_cmpint (lm_parallel_parts (par), ==, parts);
      for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
        {
          gsize n = sizes[s], expect = 0;
          for (int k = 0; k < parts; k++)
            {
              gsize begin, end;
              lm_parallel_part_range (n, parts, k, &begin, &end);
              g_assert_cmpuint (begin, ==, expect);
              g_assert_cmpuint (end, >=, begin);
              g_assert_cmpuint (begin % 16, ==, 0);
              expect = end;
            }
          g_assert_cmpuint (expect, ==, n);
          g_autofree guint8 *hits = g_new0 (guint8, n + 1);
          lm_parallel_run (par, count_part, hits, n);
          for (gsize i = 0; i < n; i++)
            g_assert_cmpuint (hits[i], ==, 1);
        }
    }
}

/* Column parts (the output layers' vocabulary, taken dynamically) cover the range once,
 * in order, on 64-byte boundaries; they never grow with k, come in runs of `threads`
 * equal weights, and are equal when there are as many parts as threads. B2's 10,000
 * words in 8 parts for 2 threads: 4 4 3 3 2 2 1 1 twentieths. */
static void
test_column_parts (void)
{
  const gsize sizes[] = { 0, 1, 15, 16, 17, 100, 1000, 10000, 65537 };
  for (int threads = 1; threads <= 4; threads++)
    for (int parts = threads; parts <= 4 * threads; parts++)
      for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
        {
          gsize n = sizes[s], expect = 0, first = 0, previous = n;
          for (int k = 0; k < parts; k++)
            {
              gsize begin, end;
              lm_parallel_column_range (n, parts, threads, k, &begin, &end);
              g_assert_cmpuint (begin, ==, expect);
              g_assert_cmpuint (end, >=, begin);
              g_assert_cmpuint (begin % 16, ==, 0);
              /* never wider than the part before, but for rounding to whole lines (the
               * last part takes the remainder) */
              if (n >= 16 * 64 && k + 1 < parts)
                g_assert_cmpuint (end - begin, <=, previous + 16);
              if (k == 0)
                first = end - begin;
              previous = end - begin;
              expect = end;
            }
          g_assert_cmpuint (expect, ==, n);
          if (parts == threads && n >= 16 * 64)
            g_assert_cmpuint (first, <=, n / parts + 16);
        }
  const gsize expect[8] = { 2000, 2000, 1488, 1504, 1008, 992, 496, 512 };
  for (int k = 0; k < 8; k++)
    {
      gsize begin, end;
      lm_parallel_column_range (10000, 8, 2, k, &begin, &end);
      g_assert_cmpuint (end - begin, ==, expect[k]);
    }
}

/* Two identical parameter sets, views w (37,29), b (29) and e (11,13), sizes that split
 * views across parts, each with an optimizer of `kind`: for the tests below, which run
 * them two ways and compare. */
static void
twins_new (LmParams *p[2], LmOptimizer *o[2], LmOptimKind kind, float weight_decay)
{
  for (int j = 0; j < 2; j++)
    {
      LmRng rng;
      lm_rng_seed (&rng, 5);
      p[j] = lm_params_new ();
      lm_params_add (p[j], "w", 2, (int[]){ 37, 29 }, LM_INIT_NORMAL, 1.0f, TRUE);
      lm_params_add (p[j], "b", 1, (int[]){ 29 }, LM_INIT_NORMAL, 1.0f, FALSE);
      lm_params_add (p[j], "e", 2, (int[]){ 11, 13 }, LM_INIT_NORMAL, 1.0f, TRUE);
      g_assert_true (lm_params_allocate (p[j], NULL));
      lm_params_init (p[j], &rng);
      o[j] = make (kind, p[j], weight_decay);
    }
}

/* the two norms agree to `tolerance` relative, the parameters to 1e-6 */
static void
twins_assert_agree (LmParams *p[2], const double norm[2], double tolerance)
{
  g_assert_cmpfloat_with_epsilon (norm[1] / norm[0], 1.0, tolerance);
  for (gsize i = 0; i < p[0]->n_floats; i++)
    g_assert_cmpfloat_with_epsilon (p[1]->data[i], p[0]->data[i], 1e-6);
}

static void
twins_free (LmParams *p[2], LmOptimizer *o[2])
{
  for (int j = 0; j < 2; j++)
    {
      lm_optimizer_free (o[j]);
      lm_params_free (p[j]);
    }
}

/* On 1 and 3 threads: the same optimizer step bit for bit (elementwise), the same
 * norm and clip to rounding. */
static void
test_parallel_step (void)
{
  for (int kind = LM_OPTIM_SGD; kind <= LM_OPTIM_ADAMW; kind++)
    {
      LmParams *p[2];
      LmOptimizer *o[2];
      g_autoptr (LmParallel) par = lm_parallel_new (3);
      twins_new (p, o, (LmOptimKind) kind, 0.1f);
      o[1]->parallel = par;
      for (int step = 0; step < 4; step++)
        {
          double norm[2];
          for (int j = 0; j < 2; j++)
            {
              for (gsize i = 0; i < p[j]->n_floats; i++)
                p[j]->grad[i] = p[j]->data[i] * 0.5f + 0.01f * (float)(i % 7);
              norm[j] = lm_scale_clip_grad_norm (p[j], 3.0, 2.0, o[j]->parallel);
              lm_optimizer_step (o[j], p[j], 0.05f);
            }
          twins_assert_agree (p, norm, 1e-12);
        }
      twins_free (p, o);
    }
}

/* Every optimizer gives the same parameters whether a view's gradient is declared
 * row-sparse (the norm, the clip and an SGD step then visit only its touched rows) or
 * not, over steps that touch different rows, as the training loop runs them. */
static void
test_row_sparse_step (void)
{
  const gint32 rows[3][3] = { { 2, 5, 6 }, { 0, 5, 10 }, { 7, 7, 1 } };
  for (int kind = LM_OPTIM_SGD; kind <= LM_OPTIM_ADAMW; kind++)
    {
      LmParams *p[2];
      LmOptimizer *o[2];
      g_autoptr (LmParallel) par = lm_parallel_new (2);
      twins_new (p, o, (LmOptimKind) kind, 0.0f);
      lm_params_set_row_sparse (p[1], 2);
      o[0]->parallel = o[1]->parallel = par;
      for (int step = 0; step < 3; step++)
        {
          double norm[2];
          for (int j = 0; j < 2; j++)
            {
              lm_params_zero_grad_spans (p[j], par);
              for (int v = 0; v < 2; v++) /* w and b */
                {
                  const LmParamView *view = lm_params_view (p[j], v);
                  for (gsize i = 0; i < view->size; i++)
                    lm_params_grad (p[j], v)[i] = 0.01f * (float)(i % 7) - 0.02f;
                }
              for (int r = 0; r < 3; r++)
                for (int c = 0; c < 13; c++)
                  lm_params_grad (p[j], 2)[rows[step][r] * 13 + c] += 0.1f * (float)(c + r - 5);
              if (j == 1)
                lm_params_touch_rows (p[j], 2, rows[step], 3);
              norm[j] = lm_scale_clip_grad_norm (p[j], 2.0, 1.0, par);
              lm_optimizer_step (o[j], p[j], 0.05f);
            }
          twins_assert_agree (p, norm, 1e-12);
        }
      twins_free (p, o);
    }
}

/* The trainer's way, the clip's factor applied inside the step, gives what scaling the
 * gradients first does, for every optimizer; the gradients are left as they were. */
static void
test_step_scaled (void)
{
  for (int kind = LM_OPTIM_SGD; kind <= LM_OPTIM_ADAMW; kind++)
    {
      LmParams *p[2];
      LmOptimizer *o[2];
      twins_new (p, o, (LmOptimKind) kind, 0.05f);
      for (int step = 0; step < 3; step++)
        {
          double norm[2];
          float factor;
          for (int j = 0; j < 2; j++)
            for (gsize i = 0; i < p[j]->n_floats; i++)
              p[j]->grad[i] = p[j]->data[i] * 0.7f - 0.03f * (float)(i % 5);
          norm[0] = lm_scale_clip_grad_norm (p[0], 4.0, 3.0, NULL);
          lm_optimizer_step (o[0], p[0], 0.05f);
          norm[1] = lm_clip_factor (p[1], 4.0, 3.0, NULL, &factor);
          g_assert_cmpfloat (factor, <, 1.0f); /* the clip is active */
          g_assert_cmpfloat (p[1]->grad[1], ==, p[1]->data[1] * 0.7f - 0.03f);
          lm_optimizer_step_scaled (o[1], p[1], 0.05f, factor);
          twins_assert_agree (p, norm, 1e-6);
        }
      twins_free (p, o);
    }
}

/* ---- schedules ---------------------------------------------------------------------- */

static void
test_schedule_constant (void)
{
  LmSchedule s;
  lm_schedule_init (&s, LM_SCHEDULE_CONSTANT, 2e-3);
  g_assert_cmpfloat (lm_schedule_lr (&s, 0, 1), ==, 2e-3);
  g_assert_cmpfloat (lm_schedule_lr (&s, 123456, 9), ==, 2e-3);
  /* warmup applies to every kind */
  s.warmup = 3;
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 0, 1), 2e-3 / 4, 1e-15);
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 2, 1), 2e-3 * 3 / 4, 1e-15);
  g_assert_cmpfloat (lm_schedule_lr (&s, 3, 1), ==, 2e-3);
}

static void
test_schedule_cosine (void)
{
  /* the B1 transformer: lr 1e-3, warmup 100, cosine to 1e-4 at step 2000 */
  LmSchedule s;
  lm_schedule_init (&s, LM_SCHEDULE_COSINE, 1e-3);
  s.min_lr = 1e-4;
  s.warmup = 100;
  s.decay_steps = 2000;
  g_assert_true (lm_schedule_check (&s, NULL));
  /* warmup start and end */
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 0, 1), 1e-3 / 101, 1e-15);
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 99, 1), 1e-3 * 100 / 101, 1e-15);
  /* the peak, the midpoint of the cosine, its end, and beyond */
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 100, 1), 1e-3, 1e-15);
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 1050, 1), 5.5e-4, 1e-15);
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 2000, 1), 1e-4, 1e-15);
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 1999, 1), 1e-4, 1e-9);
  g_assert_cmpfloat (lm_schedule_lr (&s, 1999, 1), >, 1e-4);
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 50000, 1), 1e-4, 1e-15);
  /* monotone after the warmup */
  for (gint64 t = 100; t < 2000; t++)
    g_assert_cmpfloat (lm_schedule_lr (&s, t + 1, 1), <=, lm_schedule_lr (&s, t, 1));
}

static void
test_schedule_step (void)
{
  /* Zaremba et al. small: lr 1, kept for 4 epochs, halved after each later one */
  LmSchedule s;
  lm_schedule_init (&s, LM_SCHEDULE_STEP, 1.0);
  s.decay_epoch = 4;
  g_assert_cmpfloat (lm_schedule_lr (&s, 0, 1), ==, 1.0);
  g_assert_cmpfloat (lm_schedule_lr (&s, 99999, 4), ==, 1.0);
  g_assert_cmpfloat (lm_schedule_lr (&s, 0, 5), ==, 0.5);
  g_assert_cmpfloat (lm_schedule_lr (&s, 0, 6), ==, 0.25);
  g_assert_cmpfloat (lm_schedule_lr (&s, 0, 13), ==, 1.0 / 512);
  /* by steps: gamma every step_size steps */
  lm_schedule_init (&s, LM_SCHEDULE_STEP, 0.1);
  s.gamma = 0.1;
  s.step_size = 30;
  g_assert_cmpfloat (lm_schedule_lr (&s, 29, 1), ==, 0.1);
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 30, 1), 0.01, 1e-15);
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 65, 1), 0.001, 1e-15);
}

static void
test_schedule_plateau (void)
{
  LmSchedule s;
  lm_schedule_init (&s, LM_SCHEDULE_PLATEAU, 1.0);
  s.min_lr = 0.2;
  g_assert_false (lm_schedule_plateau_update (&s, 5.0)); /* first: an improvement */
  g_assert_false (lm_schedule_plateau_update (&s, 4.0)); /* improved */
  g_assert_cmpfloat (lm_schedule_lr (&s, 10, 3), ==, 1.0);
  g_assert_true (lm_schedule_plateau_update (&s, 4.0)); /* equal is not better: halve */
  g_assert_cmpfloat (lm_schedule_lr (&s, 10, 3), ==, 0.5);
  g_assert_true (lm_schedule_plateau_update (&s, NAN)); /* NaN is not better */
  g_assert_cmpfloat (lm_schedule_lr (&s, 10, 3), ==, 0.25);
  g_assert_false (lm_schedule_plateau_update (&s, 3.9));
  g_assert_true (lm_schedule_plateau_update (&s, 3.95));
  g_assert_cmpfloat (lm_schedule_lr (&s, 10, 3), ==, 0.2); /* floored at min_lr */
  /* patience 1: one bad evaluation is tolerated */
  lm_schedule_init (&s, LM_SCHEDULE_PLATEAU, 1.0);
  s.patience = 1;
  lm_schedule_plateau_update (&s, 2.0);
  g_assert_false (lm_schedule_plateau_update (&s, 2.5));
  g_assert_true (lm_schedule_plateau_update (&s, 2.5));
  g_assert_cmpfloat (lm_schedule_lr (&s, 0, 1), ==, 0.5);
  /* other kinds ignore it */
  lm_schedule_init (&s, LM_SCHEDULE_CONSTANT, 1.0);
  g_assert_false (lm_schedule_plateau_update (&s, 1.0));
  g_assert_false (lm_schedule_plateau_update (&s, 2.0));
}

/* ---- names and values ------------------------------------------------------------------ */

static void
test_config_names (void)
{
  g_autoptr (GError) error = NULL;
  LmOptimKind kind;
  g_assert_true (lm_optim_kind_from_name ("AdamW", &kind, &error));
  g_assert_cmpint (kind, ==, LM_OPTIM_ADAMW);
  for (int k = LM_OPTIM_SGD; k <= LM_OPTIM_ADAMW; k++)
    {
      g_assert_true (lm_optim_kind_from_name (lm_optim_kind_name (k), &kind, NULL));
      g_assert_cmpint (kind, ==, k);
    }
  g_assert_false (lm_optim_kind_from_name ("adamax", &kind, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "adamax"));
  g_assert_nonnull (strstr (error->message, "momentum"));
  g_clear_error (&error);

  LmScheduleKind sk;
  g_assert_true (lm_schedule_kind_from_name ("cosine", &sk, NULL));
  g_assert_cmpint (sk, ==, LM_SCHEDULE_COSINE);
  g_assert_false (lm_schedule_kind_from_name ("linear", &sk, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "constant, step, plateau, cosine"));
}

static void
test_config_values (void)
{
  g_autoptr (GError) error = NULL;
  LmOptimConfig c;
  lm_optim_config_init (&c, LM_OPTIM_SGD);
  /* keys in any order: lr and beta2 set before optimizer survive it */
  g_assert_true (lm_optim_config_set (&c, "beta2", "0.99", &error));
  g_assert_true (lm_optim_config_set (&c, "lr", "0.002", &error));
  g_assert_true (lm_optim_config_set (&c, "optimizer", "adamw", &error));
  g_assert_no_error (error);
  g_assert_cmpint (c.kind, ==, LM_OPTIM_ADAMW);
  g_assert_cmpfloat (c.lr, ==, 0.002f);
  g_assert_cmpfloat (c.beta2, ==, 0.99f);
  g_assert_cmpfloat (c.beta1, ==, 0.9f);         /* the AdamW default */
  g_assert_cmpfloat (c.weight_decay, ==, 0.01f); /* the AdamW default */
  g_assert_true (lm_optim_config_set (&c, "weight_decay", "0.1", NULL));
  g_assert_cmpfloat (c.weight_decay, ==, 0.1f);

  /* bad values keep the old one and say which key */
  const char *bad[][2] = {
    { "lr", "-0.1" },      { "lr", "nan" },  { "lr", "inf" }, { "lr", "fast" },
    { "lr", "" },          { "beta1", "1" }, { "eps", "0" },  { "weight_decay", "-1" },
    { "momentum", "1.5" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (lm_optim_config_set (&c, bad[i][0], bad[i][1], &error));
      g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
      g_assert_nonnull (strstr (error->message, bad[i][0]));
      g_clear_error (&error);
    }
  g_assert_cmpfloat (c.lr, ==, 0.002f);
  g_assert_false (lm_optim_config_set (&c, "learning_rate", "0.1", &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "learning_rate"));
  g_clear_error (&error);
  g_assert_false (lm_optim_config_set (&c, "optimizer", "lbfgs", &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_clear_error (&error);

  /* lm_optimizer_new refuses a config built by hand with a NaN rate */
  g_autoptr (LmParams) params = two_views ();
  c.lr = NAN;
  g_assert_null (lm_optimizer_new (&c, params, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "lr"));
}

static void
test_schedule_values (void)
{
  g_autoptr (GError) error = NULL;
  LmSchedule s;
  lm_schedule_init (&s, LM_SCHEDULE_CONSTANT, 1e-3);
  g_assert_true (lm_schedule_set (&s, "warmup", "100", &error));
  g_assert_true (lm_schedule_set (&s, "min_lr", "1e-4", &error));
  g_assert_true (lm_schedule_set (&s, "decay_steps", "2000", &error));
  g_assert_true (lm_schedule_set (&s, "schedule", "cosine", &error));
  g_assert_no_error (error);
  g_assert_cmpint (s.kind, ==, LM_SCHEDULE_COSINE);
  g_assert_cmpint (s.warmup, ==, 100);
  g_assert_cmpfloat (s.min_lr, ==, 1e-4);
  g_assert_true (lm_schedule_check (&s, &error));
  g_assert_cmpfloat_with_epsilon (lm_schedule_lr (&s, 2000, 1), 1e-4, 1e-15);

  const char *bad[][2] = {
    { "lr", "-1" },      { "lr", "nan" },  { "warmup", "-5" },
    { "warmup", "1.5" }, { "gamma", "x" }, { "patience", "" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (lm_schedule_set (&s, bad[i][0], bad[i][1], &error));
      g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
      g_assert_nonnull (strstr (error->message, bad[i][0]));
      g_clear_error (&error);
    }
  g_assert_false (lm_schedule_set (&s, "epochs", "3", &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_clear_error (&error);

  /* whole-schedule checks */
  s.decay_steps = 50; /* not beyond the warmup */
  g_assert_false (lm_schedule_check (&s, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_clear_error (&error);
  s.decay_steps = 2000;
  s.min_lr = 1.0; /* above lr */
  g_assert_false (lm_schedule_check (&s, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_clear_error (&error);
  s.min_lr = 0.0;
  s.gamma = 0.0;
  g_assert_false (lm_schedule_check (&s, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
}

/* Adam's two moments, larger than the memory available: refused before allocating, while
 * SGD, which keeps no state, is made. The parameters are declared, not allocated. */
static void
test_too_big (void)
{
  double available = lm_memory_available ();
  if (available <= 0)
    {
      g_test_skip ("the memory available is unknown");
      return;
    }
  /* n floats: Adam's 2n * 4 bytes are 1.5 times the memory available */
  int rows = (int) (available * 1.5 / 8 / 4096);
  g_autoptr (LmParams) params = lm_params_new ();
  lm_params_add (params, "huge", 2, (int[]){ rows, 4096 }, LM_INIT_ZEROS, 0.0f, TRUE);
  LmOptimConfig c;
  lm_optim_config_init (&c, LM_OPTIM_SGD);
  g_autoptr (GError) error = NULL;
  LmOptimizer *sgd = lm_optimizer_new (&c, params, &error);
  g_assert_no_error (error);
  g_assert_nonnull (sgd);
  lm_optimizer_free (sgd);
  lm_optim_config_init (&c, LM_OPTIM_ADAM);
  g_assert_null (lm_optimizer_new (&c, params, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_NO_MEMORY);
  g_assert_nonnull (strstr (error->message, "optimizer=sgd"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/optim/sgd", test_sgd);
  g_test_add_func ("/optim/momentum", test_momentum);
  g_test_add_func ("/optim/adam", test_adam);
  g_test_add_func ("/optim/adam-l2", test_adam_l2);
  g_test_add_func ("/optim/adamw", test_adamw);
  g_test_add_func ("/optim/adagrad-rmsprop", test_adagrad_rmsprop);
  g_test_add_func ("/optim/padding-untouched", test_padding_untouched);
  g_test_add_func ("/optim/resume-bit-exact", test_resume_bit_exact);
  g_test_add_func ("/optim/clip", test_clip);
  g_test_add_func ("/optim/parallel-parts", test_parallel_parts);
  g_test_add_func ("/optim/column-parts", test_column_parts);
  g_test_add_func ("/optim/parallel-step", test_parallel_step);
  g_test_add_func ("/optim/row-sparse-step", test_row_sparse_step);
  g_test_add_func ("/optim/step-scaled", test_step_scaled);
  g_test_add_func ("/optim/schedule-constant", test_schedule_constant);
  g_test_add_func ("/optim/schedule-cosine", test_schedule_cosine);
  g_test_add_func ("/optim/schedule-step", test_schedule_step);
  g_test_add_func ("/optim/schedule-plateau", test_schedule_plateau);
  g_test_add_func ("/optim/config-names", test_config_names);
  g_test_add_func ("/optim/config-values", test_config_values);
  g_test_add_func ("/optim/schedule-values", test_schedule_values);
  g_test_add_func ("/optim/too-big", test_too_big);
  return g_test_run ();
}
