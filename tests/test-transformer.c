/* test-transformer.c — the GPT-style decoder: every block and the whole model against
 * central finite differences, overfitting a tiny batch, the KV cache against a full
 * forward, scoring modes, distributions, save/load and bad configurations.
 *
 * A gradient check reduces an output to a scalar L = sum_i w_i out_i (w fixed, L in
 * double) or uses the model's mean loss, and compares what backward ADDED to buffers
 * that start non-zero with (L(x + h) - L(x - h)) / 2h, element by element, printing the
 * largest differences per tensor (as llm.c's test_gpt2.c does).
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-eval.h"
#include "core/lm-ops.h"
#include "core/lm-smallgemm.h"
#include "core/lm-optim.h"
#include "core/lm-params.h"
#include "core/lm-rng.h"
#include "lm-test-util.h"
#include "transformer/lm-transformer.h"
#include "transformer/transformer-block.h"

/* ---- helpers ----------------------------------------------------------------------- */

/* Every element must have |numeric - analytic| <= atol + rtol max(|numeric|, |analytic|). */
static LmVocab *
make_vocab (int n_symbols)
{
  const char *symbols = "abcdefghijklmnopqrstuvwxyz";
  g_assert (n_symbols <= 26);
  LmVocabLimits limits = { 1, 0 };
  return lm_vocab_build (LM_LEVEL_CHAR, symbols, n_symbols, &limits);
}

static LmModel *
try_model (LmVocab *vocab, const char *const *settings, GError **error)
{
  g_autoptr (LmConfig) config = lm_config_new ();
  for (int i = 0; settings[i]; i++)
    g_assert_true (lm_config_set_assignment (config, settings[i], "test", NULL));
  return lm_model_new (&lm_transformer_class, config, vocab, error);
}

static LmModel *
make_model (LmVocab *vocab, const char *const *settings)
{
  GError *error = NULL;
  LmModel *model = try_model (vocab, settings, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);
  return model;
}

/* Spread the parameters away from the GPT initialisation so every nonlinearity works in
 * its curved range and gradients are large enough to check in float. */
static void
scramble_parameters (LmParams *params, LmRng *rng)
{
  for (int i = 0; i < params->n_views; i++)
    {
      const LmParamView *view = lm_params_view (params, i);
      float *x = lm_params_data (params, i);
      gboolean gain = g_str_has_suffix (view->name, "ln1.weight")
                      || g_str_has_suffix (view->name, "ln2.weight")
                      || g_str_has_suffix (view->name, "lnf.weight");
      for (gsize j = 0; j < view->size; j++)
        x[j] = (gain ? 1.0f : 0.0f) + 0.4f * (2.0f * lm_rng_float (rng) - 1.0f);
    }
}

static void
random_tokens (LmRng *rng, gint32 *out, gsize n, int V)
{
  for (gsize i = 0; i < n; i++)
    out[i] = (gint32) lm_rng_below (rng, (guint64) V);
}

/* ---- the class and its configuration ---------------------------------------------------- */

static void
test_class (void)
{
  GError *error = NULL;
  g_assert_true (lm_model_class_validate (&lm_transformer_class, &error));
  g_assert_no_error (error);
  g_assert_null (lm_transformer_class.carried_state);
  g_assert_cmpstr (lm_transformer_class.name, ==, "transformer");
}

static void
test_config_errors (void)
{
  g_autoptr (LmVocab) vocab = make_vocab (5);
  GError *error = NULL;
  LmModel *model = try_model (vocab, (const char *[]) { "d=10", "heads=3", "context=4", NULL },
                              &error);
  g_assert_null (model);
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "heads=3"));
  g_assert_nonnull (strstr (error->message, "d=10"));
  g_clear_error (&error);

  model = try_model (vocab, (const char *[]) { "d=8", "heads=2", "context=0", NULL }, &error);
  g_assert_null (model);
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "context"));
  g_clear_error (&error);

  /* create() itself refuses context 0 even when the trainer's range check is bypassed */
  g_autoptr (LmConfig) config = lm_config_new ();
  lm_config_set (config, "context", "0", "test");
  model = lm_transformer_class.create (config, vocab, &error);
  g_assert_null (model);
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "context=0"));
  g_clear_error (&error);

  /* A sliding window cannot advance further than it is long: an error, not the windows
   * mode in disguise. eval_stride = context is allowed (it is the windows mode), and the
   * windows mode does not read the stride at all. */
  model = try_model (vocab, (const char *[]) { "d=8", "heads=2", "context=4",
                                               "eval_mode=sliding", "eval_stride=5", NULL },
                     &error);
  g_assert_null (model);
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "eval_stride=5 (from test)"));
  g_assert_nonnull (strstr (error->message, "context=4"));
  g_clear_error (&error);
  g_autoptr (LmModel) whole = make_model (vocab, (const char *[]) { "d=8", "heads=2",
                                                                    "context=4",
                                                                    "eval_mode=sliding",
                                                                    "eval_stride=4", NULL });
  g_autoptr (LmModel) windows = make_model (vocab, (const char *[]) { "d=8", "heads=2",
                                                                      "context=4",
                                                                      "eval_stride=5", NULL });
}

/* A model larger than the memory available is refused when it is made, before anything
 * is allocated or initialised, with what it would need (core/lm-memory.h). */
static void
test_too_big (void)
{
  g_autoptr (LmVocab) vocab = make_vocab (5);
  GError *error = NULL;
  LmModel *model = try_model (vocab, (const char *[]) { "d=65536", "heads=1", "layers=64",
                                                         "context=4", "threads=2", NULL },
                              &error);
  g_assert_null (model);
  g_assert_error (error, LM_ERROR, LM_ERROR_NO_MEMORY);
  g_assert_nonnull (strstr (error->message, "fewer threads"));
  g_assert_nonnull (strstr (error->message, "layers=64"));
  g_clear_error (&error);
}

static void
test_prepare_errors (void)
{
  g_autoptr (LmVocab) vocab = make_vocab (5);
  g_autoptr (LmModel) model
      = make_model (vocab, (const char *[]) { "d=8", "heads=2", "layers=1", "context=4", NULL });
  GError *error = NULL;
  /* a window longer than the learned positions */
  g_assert_false (model->klass->prepare (model, 2, 5, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "context=4"));
  g_clear_error (&error);
  /* far more memory than any machine has */
  g_assert_false (model->klass->prepare (model, 1 << 30, 4, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_NO_MEMORY);
  g_clear_error (&error);
  g_assert_true (model->klass->prepare (model, 2, 4, &error));
  g_assert_no_error (error);
}

static void
test_describe (void)
{
  g_autoptr (LmVocab) vocab = make_vocab (5); /* V = 8 */
  g_autoptr (LmModel) model
      = make_model (vocab, (const char *[]) { "d=8", "heads=2", "layers=2", "context=4", NULL });
  LmModelInfo info;
  lm_model_describe (model, &info);
  int C = 8, V = 8, T = 4, L = 2, F = 32;
  guint64 block = 2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C + F * C + F + C * F + C;
  guint64 expected = (guint64) V * C + T * C + L * block + 2 * C + V * C;
  g_assert_cmpuint (info.n_params, ==, expected);
  g_assert_cmpfloat_with_epsilon (info.forward_flops,
                                  2.0 * (L * 12.0 * C * C + C * V) + L * 4.0 * T * C, 1e-6);
  g_assert_nonnull (strstr (info.summary, "heads=2"));
  lm_model_info_clear (&info);
  /* the untied output layer is stored (C,V), the transpose of PyTorch's head.weight; a
   * tied one is wte, (V,C) */
  LmParams *params = model->klass->parameters (model);
  const LmParamView *head = lm_params_get (params, "head.weight");
  g_assert_nonnull (head);
  g_assert_cmpint (head->shape[0], ==, C);
  g_assert_cmpint (head->shape[1], ==, V);
  g_autoptr (LmModel) tied = make_model (
      vocab, (const char *[]) { "d=8", "heads=2", "layers=2", "context=4", "tied=true", NULL });
  g_assert_null (lm_params_get (tied->klass->parameters (tied), "head.weight"));
}

/* ---- blocks ---------------------------------------------------------------------------- */

static void
test_gelu_fast (void)
{
  double worst = 0.0;
  for (int i = -20000; i <= 20000; i++)
    {
      float x = (float) i * 1e-3f;
      float fast, slow;
      lm_gelu_fast_forward (&fast, &x, 1);
      lm_gelu_forward (&slow, &x, 1);
      worst = MAX (worst, fabs ((double) fast - slow) / MAX (1.0, fabs (x)));
      float d_fast = 0.0f, d_slow = 0.0f, one = 1.0f;
      lm_gelu_fast_backward (&d_fast, &one, &x, 1);
      lm_gelu_backward (&d_slow, &one, &x, 1);
      worst = MAX (worst, fabs ((double) d_fast - d_slow));
    }
  g_test_message ("fast GELU vs libm erff: max difference %.3e", worst);
  g_assert_cmpfloat (worst, <, 5e-7);
}

typedef struct {
  int B, T, C, NH;
  float *qkv, *out, *att, *w, *scratch;
} AttentionCase;

static double
attention_loss (gpointer data)
{
  AttentionCase *c = data;
  lm_attention_forward (c->out, c->att, c->qkv, c->scratch, c->B, c->T, c->C, c->NH);
  return lm_test_dot (c->w, c->out, (gsize) c->B * c->T * c->C);
}

/* out by the definition: softmax over keys j <= t of s q_t . k_j, then sum_j p_j v_j */
static void
attention_naive (double *out, const float *qkv, int B, int T, int C, int NH)
{
  int HD = C / NH, ld = 3 * C;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++)
        {
          const float *q = qkv + ((gsize) b * T + t) * ld + h * HD;
          double s[T], m = -INFINITY, sum = 0.0;
          for (int j = 0; j <= t; j++)
            {
              const float *k = qkv + ((gsize) b * T + j) * ld + C + h * HD;
              s[j] = 0.0;
              for (int i = 0; i < HD; i++)
                s[j] += (double) q[i] * k[i];
              s[j] /= sqrt ((double) HD);
              m = MAX (m, s[j]);
            }
          for (int j = 0; j <= t; j++)
            sum += exp (s[j] - m);
          for (int i = 0; i < HD; i++)
            {
              double y = 0.0;
              for (int j = 0; j <= t; j++)
                y += exp (s[j] - m) / sum * qkv[((gsize) b * T + j) * ld + 2 * C + h * HD + i];
              out[((gsize) b * T + t) * C + h * HD + i] = y;
            }
        }
}

/* Small, and (the second case) past the blocks of rows and the 16-column panels of the
 * causal products, both ending part-way (T = 37, head width 20). */
static void
test_attention_gradient (gconstpointer data)
{
  LmRng rng;
  lm_rng_seed (&rng, 7);
  const int *shape = data;
  AttentionCase c = { .B = shape[0], .T = shape[1], .C = shape[2], .NH = shape[3] };
  gsize n_qkv = (gsize) c.B * c.T * 3 * c.C, n_out = (gsize) c.B * c.T * c.C;
  g_autofree float *qkv = lm_test_random_buffer (&rng, n_qkv, 1.5f);
  g_autofree float *out = g_new (float, n_out);
  g_autofree float *att = g_new (float, (gsize) c.B * c.NH * c.T * c.T);
  g_autofree float *w = lm_test_random_buffer (&rng, n_out, 1.0f);
  g_autofree float *d_qkv = lm_test_random_buffer (&rng, n_qkv, 1.0f);
  g_autofree float *before = g_memdup2 (d_qkv, n_qkv * sizeof (float));
  g_autofree float *scratch = g_new (float, lm_attention_scratch_floats (c.T, c.C, c.NH));
  c.qkv = qkv, c.out = out, c.att = att, c.w = w, c.scratch = scratch;
  attention_loss (&c);
  g_autofree double *expect = g_new (double, n_out);
  attention_naive (expect, qkv, c.B, c.T, c.C, c.NH);
  for (gsize i = 0; i < n_out; i++)
    g_assert_cmpfloat_with_epsilon (out[i], expect[i], 1e-5);
  /* causal: probabilities above the diagonal are zero and every row sums to one */
  for (int r = 0; r < c.B * c.NH * c.T; r++)
    {
      int t = r % c.T;
      double sum = 0.0;
      for (int j = 0; j < c.T; j++)
        {
          if (j > t)
            g_assert_cmpfloat (att[r * c.T + j], ==, 0.0f);
          sum += att[r * c.T + j];
        }
      g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-6);
    }
  lm_attention_backward (d_qkv, w, att, qkv, scratch, c.B, c.T, c.C, c.NH);
  for (gsize i = 0; i < n_qkv; i++)
    d_qkv[i] -= before[i];
  lm_test_check_gradient ("attention d_qkv", qkv, n_qkv, d_qkv, attention_loss, &c, 1e-2f, 2e-4, 2e-3);

  /* the first position sees only itself: its output is its own value vector */
  for (int h = 0; h < c.NH; h++)
    for (int i = 0; i < c.C / c.NH; i++)
      g_assert_cmpfloat_with_epsilon (out[h * (c.C / c.NH) + i],
                                      qkv[2 * c.C + h * (c.C / c.NH) + i], 1e-6);
}

typedef struct {
  int N, C, F;
  float *in, *out, *pre, *act, *fc_w, *fc_b, *fc2_w, *fc2_b, *w;
  gboolean packed; /* the weights packed for lm_smallgemm, anew for every evaluation */
  float *pk[4];
  LmMlpPacked mp;
} MlpCase;

static const LmMlpPacked *
mlp_pack (MlpCase *c)
{
  if (!c->packed)
    return NULL;
  lm_smallgemm_pack (c->pk[0], TRUE, c->C, c->F, c->fc_w, c->C);
  lm_smallgemm_pack (c->pk[1], TRUE, c->F, c->C, c->fc2_w, c->F);
  lm_smallgemm_pack (c->pk[2], FALSE, c->F, c->C, c->fc_w, c->C);
  lm_smallgemm_pack (c->pk[3], FALSE, c->C, c->F, c->fc2_w, c->F);
  c->mp = (LmMlpPacked) { c->pk[0], c->pk[1], c->pk[2], c->pk[3] };
  return &c->mp;
}

static double
mlp_loss (gpointer data)
{
  MlpCase *c = data;
  lm_mlp_forward (c->out, c->pre, c->act, c->in, c->fc_w, c->fc_b, c->fc2_w, c->fc2_b, c->N,
                  c->C, c->F, mlp_pack (c));
  return lm_test_dot (c->w, c->out, (gsize) c->N * c->C);
}

/* Both ways: cblas_sgemm on the weights, and lm_smallgemm on their packings. */
static void
test_mlp_gradient (gconstpointer packed)
{
  LmRng rng;
  lm_rng_seed (&rng, 11);
  MlpCase c = { .N = 6, .C = 4, .F = 16, .packed = GPOINTER_TO_INT (packed) };
  for (int i = 0; i < 4; i++)
    c.pk[i] = g_new0 (float, lm_smallgemm_packed_floats (c.F, c.F));
  gsize nin = (gsize) c.N * c.C, nh = (gsize) c.N * c.F, nw = (gsize) c.F * c.C;
  c.in = lm_test_random_buffer (&rng, nin, 1.5f);
  c.out = g_new (float, nin);
  c.pre = g_new (float, nh);
  c.act = g_new (float, nh);
  c.fc_w = lm_test_random_buffer (&rng, nw, 0.8f);
  c.fc_b = lm_test_random_buffer (&rng, c.F, 0.5f);
  c.fc2_w = lm_test_random_buffer (&rng, nw, 0.8f);
  c.fc2_b = lm_test_random_buffer (&rng, c.C, 0.5f);
  c.w = lm_test_random_buffer (&rng, nin, 1.0f);
  float *grads[5], *befores[5];
  float *xs[5] = { c.in, c.fc_w, c.fc_b, c.fc2_w, c.fc2_b };
  gsize ns[5] = { nin, nw, c.F, nw, c.C };
  const char *names[5] = { "mlp d_in", "mlp d_fc_w", "mlp d_fc_b", "mlp d_fc2_w", "mlp d_fc2_b" };
  for (int i = 0; i < 5; i++)
    {
      grads[i] = lm_test_random_buffer (&rng, ns[i], 1.0f);
      befores[i] = g_memdup2 (grads[i], ns[i] * sizeof (float));
    }
  g_autofree float *scratch = g_new (float, nh);
  mlp_loss (&c);
  lm_mlp_backward (grads[0], grads[1], grads[2], grads[3], grads[4], c.w, c.in, c.pre, c.act,
                   c.fc_w, c.fc2_w, scratch, c.N, c.C, c.F, mlp_pack (&c));
  for (int i = 0; i < 5; i++)
    {
      for (gsize j = 0; j < ns[i]; j++)
        grads[i][j] -= befores[i][j];
      lm_test_check_gradient (names[i], xs[i], ns[i], grads[i], mlp_loss, &c, 1e-2f, 3e-4, 3e-3);
      g_free (grads[i]);
      g_free (befores[i]);
    }
  g_free (c.in), g_free (c.out), g_free (c.pre), g_free (c.act), g_free (c.fc_w);
  g_free (c.fc_b), g_free (c.fc2_w), g_free (c.fc2_b), g_free (c.w);
  for (int i = 0; i < 4; i++)
    g_free (c.pk[i]);
}

/* ---- the whole model ------------------------------------------------------------------------ */

typedef struct {
  LmModel *model;
  LmBatch batch;
  LmRng rng;
  guint64 seed;
} ModelCase;

static double
model_loss (gpointer data)
{
  ModelCase *c = data;
  lm_rng_seed (&c->rng, c->seed); /* the same dropout masks every time */
  return c->model->klass->forward (c->model, &c->batch);
}

static void
check_model_gradient (const char *const *settings)
{
  g_autoptr (LmVocab) vocab = make_vocab (7); /* V = 10 */
  g_autoptr (LmModel) model = make_model (vocab, settings);
  LmParams *params = model->klass->parameters (model);
  LmRng rng;
  lm_rng_seed (&rng, 3);
  scramble_parameters (params, &rng);
  int B = 2, T = 5;
  gint32 inputs[10], targets[10];
  random_tokens (&rng, inputs, 10, 10);
  random_tokens (&rng, targets, 10, 10);
  g_assert_true (model->klass->prepare (model, B, T, NULL));
  ModelCase c = { .model = model, .seed = 99 };
  c.batch = (LmBatch) { inputs, targets, B, T, TRUE, &c.rng };
  lm_params_zero_grad (params);
  double loss = model_loss (&c);
  g_assert_true (isfinite (loss));
  model->klass->backward (model, &c.batch);
  g_autofree float *analytic = g_memdup2 (params->grad, params->n_floats * sizeof (float));
  for (int i = 0; i < params->n_views; i++)
    {
      const LmParamView *view = lm_params_view (params, i);
      lm_test_check_gradient (view->name, lm_params_data (params, i), view->size,
                      analytic + view->offset, model_loss, &c, 1e-2f, 3e-4, 2e-2);
    }
}

static void
test_model_gradient (void)
{
  check_model_gradient (
      (const char *[]) { "d=8", "heads=2", "layers=2", "context=6", "seed=5", NULL });
}

static void
test_model_gradient_tied_nobias_dropout (void)
{
  check_model_gradient ((const char *[]) { "d=8", "heads=4", "layers=2", "context=5", "seed=6",
                                           "tied=true", "bias=false", "dropout=0.2", NULL });
}

/* Splitting a batch over worker threads gives the loss and gradient of the whole batch,
 * and so does a training forward, whose cross-entropy leaves d_logits for the backward
 * (scaled by the whole batch's count, not the thread's). */
/* 1 and 3 threads give the same loss and gradient, in training and evaluation forwards.
 * With words > 29 (V >= 33) the output layer is split by vocabulary ids over the threads
 * (parts of 16 ids), so each writes its own rows of head's gradient; tied, those rows are
 * also the embedding's. With words > 1, a word vocabulary: at V >= 2048 the three threads
 * share four parts of 512 ids, taken as they come free. */
static void
threads_agree (int words, gboolean tied)
{
  const char *symbols = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  LmVocabLimits limits = { 1, 0 };
  g_autoptr (LmVocab) vocab = NULL;
  if (words <= (int) strlen (symbols))
    vocab = lm_vocab_build (LM_LEVEL_CHAR, symbols, words, &limits);
  else
    {
      g_autoptr (GString) text = g_string_new (NULL);
      for (int w = 0; w < words; w++)
        g_string_append_printf (text, "w%d ", w);
      vocab = lm_vocab_build (LM_LEVEL_WORD, text->str, text->len, &limits);
    }
  int V = (int) lm_vocab_size (vocab);
  const char *tie = tied ? "tied=true" : "tied=false";
  const char *one[] = { "d=8", "heads=2", "layers=2", "context=6", "threads=1", tie, NULL };
  const char *three[] = { "d=8", "heads=2", "layers=2", "context=6", "threads=3", tie, NULL };
  g_autoptr (LmModel) a = make_model (vocab, one);
  g_autoptr (LmModel) b = make_model (vocab, three);
  LmParams *pa = a->klass->parameters (a), *pb = b->klass->parameters (b);
  LmRng rng;
  lm_rng_seed (&rng, 12);
  scramble_parameters (pa, &rng);
  memcpy (pb->data, pa->data, pa->n_floats * sizeof (float));
  int B = 5, T = 6; /* 2 + 2 + 1 rows over three threads */
  gint32 inputs[30], targets[30];
  random_tokens (&rng, inputs, 30, V);
  random_tokens (&rng, targets, 30, V);
  targets[7] = -1; /* an unscored position shifts the per-thread counts */
  g_assert_true (a->klass->prepare (a, B, T, NULL));
  g_assert_true (b->klass->prepare (b, B, T, NULL));
  g_autofree float *reference = g_new (float, pa->n_floats);
  float reference_loss = 0.0f;
  for (int run = 0; run < 4; run++)
    {
      LmModel *m = run % 2 == 0 ? a : b;
      LmParams *p = m->klass->parameters (m);
      LmBatch batch = { inputs, targets, B, T, run >= 2, NULL };
      lm_params_zero_grad (p);
      float loss = m->klass->forward (m, &batch);
      m->klass->backward (m, &batch);
      if (run == 0)
        {
          reference_loss = loss;
          memcpy (reference, p->grad, p->n_floats * sizeof (float));
          continue;
        }
      double worst = 0.0;
      for (gsize i = 0; i < p->n_floats; i++)
        worst = MAX (worst, fabs ((double) reference[i] - p->grad[i]));
      g_test_message ("%s thread%s, training=%d: loss %.7f (1 thread, eval: %.7f), "
                      "max |grad diff| %.3e", run % 2 ? "3" : "1", run % 2 ? "s" : "",
                      batch.training, loss, reference_loss, worst);
      g_assert_cmpfloat_with_epsilon (loss, reference_loss, 1e-6);
      g_assert_cmpfloat (worst, <, 1e-6);
    }
}

/* Scoring splits its windows over the shards' threads (each scores its own rows): 3
 * threads give the scores of 1, in both modes, with windows left over for the last. */
static void
test_score_threads (void)
{
  g_autoptr (LmVocab) vocab = make_vocab (9);
  gsize n = 61; /* 13 windows of 5 (the last of 1), in batches of 6: 2 + 2 + 2, then 1 */
  LmRng rng;
  lm_rng_seed (&rng, 8);
  g_autofree gint32 *tokens = g_new (gint32, n);
  for (gsize i = 0; i < n; i++)
    tokens[i] = (gint32) (1 + lm_rng_below (&rng, 11));
  for (int mode = 0; mode < 2; mode++)
    {
      const char *one[] = { "d=8", "heads=2", "layers=2", "context=5", "threads=1",
                            mode ? "eval_mode=sliding" : "eval_mode=windows", NULL };
      const char *three[] = { "d=8", "heads=2", "layers=2", "context=5", "threads=3",
                              mode ? "eval_mode=sliding" : "eval_mode=windows", NULL };
      g_autoptr (LmModel) a = make_model (vocab, one);
      g_autoptr (LmModel) b = make_model (vocab, three);
      scramble_parameters (a->klass->parameters (a), &rng);
      LmParams *pa = a->klass->parameters (a), *pb = b->klass->parameters (b);
      memcpy (pb->data, pa->data, pa->n_floats * sizeof (float));
      /* scoring runs as many windows at once as prepare() has room for */
      g_assert_true (a->klass->prepare (a, 6, 5, NULL));
      g_assert_true (b->klass->prepare (b, 6, 5, NULL));
      g_autofree double *lp_a = g_new0 (double, n), *lp_b = g_new0 (double, n);
      g_autofree gint32 *pr_a = g_new0 (gint32, n), *pr_b = g_new0 (gint32, n);
      g_autofree guint8 *rk_a = g_new0 (guint8, n), *rk_b = g_new0 (guint8, n);
      LmScoreOutput out_a = { lp_a, pr_a, rk_a }, out_b = { lp_b, pr_b, rk_b };
      g_assert_true (lm_model_score (a, tokens, n, &out_a, NULL, NULL, NULL));
      g_assert_true (lm_model_score (b, tokens, n, &out_b, NULL, NULL, NULL));
      for (gsize i = 0; i < n; i++)
        {
          g_assert_cmpfloat (lp_a[i], <, 0.0);
          g_assert_cmpfloat_with_epsilon (lp_a[i], lp_b[i], 1e-5);
          g_assert_cmpint (pr_a[i], ==, pr_b[i]);
          g_assert_cmpint (rk_a[i], ==, rk_b[i]);
        }
    }
}

static void
test_threads_agree (void)
{
  threads_agree (7, FALSE);
}

static void
test_threads_agree_vocab_parts (void)
{
  threads_agree (45, FALSE); /* V = 48: ids 0-15, 16-31, 32-47 */
  threads_agree (45, TRUE);
  threads_agree (2100, FALSE); /* V >= 2048: four parts */
}

/* One NaN head weight puts a NaN in every row of logits: refused, not p = 1. */
static void
test_nan_weight (void)
{
  g_autoptr (LmVocab) vocab = make_vocab (9);
  g_autoptr (LmModel) model = make_model (vocab, (const char *[]) { "d=8", "heads=2",
                                          "layers=1", "context=8", NULL });
  lm_test_check_nan_refused (model, "head.weight", (int) lm_vocab_size (vocab));
}

/* A batch of 32 positions takes the output layer's wide path (lm_smallgemm_wide), whose
 * product hands each row's largest logit to the training cross-entropy, a vocabulary part
 * at a time (four parts of V = 2103 on two threads). The last id's logit is raised by
 * about 400 in every row (a large final-norm bias times a large last column of the head),
 * so every maximum lies in the last part, hundreds above the others: a maximum taken
 * from the wrong parts would overflow the exponentials. The training loss must equal the
 * evaluation loss, whose softmax finds its own maxima. */
static void
test_wide_head (void)
{
  g_autoptr (GString) text = g_string_new (NULL);
  for (int w = 0; w < 2100; w++)
    g_string_append_printf (text, "w%d ", w);
  LmVocabLimits limits = { 1, 0 };
  g_autoptr (LmVocab) vocab = lm_vocab_build (LM_LEVEL_WORD, text->str, text->len, &limits);
  const int V = (int) lm_vocab_size (vocab), C = 8, B = 4, T = 8;
  g_autoptr (LmModel) model = make_model (vocab, (const char *[]) { "d=8", "heads=2",
                                          "layers=1", "context=8", "threads=2", NULL });
  LmParams *params = model->klass->parameters (model);
  float *lnf_bias = lm_params_data (params, lm_params_find (params, "lnf.bias"));
  float *head = lm_params_data (params, lm_params_find (params, "head.weight")); /* (C,V) */
  for (int c = 0; c < C; c++)
    {
      lnf_bias[c] = 10.0f;
      head[(gsize) c * V + V - 1] = 5.0f;
    }
  g_assert_true (model->klass->prepare (model, B, T, NULL));
  LmRng rng;
  lm_rng_seed (&rng, 34);
  gint32 inputs[32], targets[32];
  random_tokens (&rng, inputs, 32, V - 1);
  random_tokens (&rng, targets, 32, V - 1);
  LmBatch eval = { inputs, targets, B, T, FALSE, NULL };
  LmBatch train = { inputs, targets, B, T, TRUE, NULL };
  float loss_eval = model->klass->forward (model, &eval);
  lm_params_zero_grad (params);
  float loss_train = model->klass->forward (model, &train);
  g_test_message ("loss %.6f (evaluation) / %.6f (training)", loss_eval, loss_train);
  g_assert_cmpfloat (loss_eval, >, 100.0); /* the targets lie hundreds below the maxima */
  g_assert_cmpfloat_with_epsilon (loss_train, loss_eval, 1e-5 * loss_eval);
}

static void
test_overfit (void)
{
  g_autoptr (LmVocab) vocab = make_vocab (12); /* V = 15 */
  g_autoptr (LmModel) model = make_model (
      vocab, (const char *[]) { "d=16", "heads=2", "layers=2", "context=8", "seed=2", NULL });
  LmParams *params = model->klass->parameters (model);
  LmRng rng;
  lm_rng_seed (&rng, 4);
  int B = 3, T = 8;
  gint32 inputs[24], targets[24];
  random_tokens (&rng, inputs, 24, 15);
  random_tokens (&rng, targets, 24, 15);
  g_assert_true (model->klass->prepare (model, B, T, NULL));
  LmOptimConfig oc;
  lm_optim_config_init (&oc, LM_OPTIM_ADAM);
  oc.lr = 1e-2f;
  g_autoptr (LmOptimizer) optimizer = lm_optimizer_new (&oc, params, NULL);
  LmBatch batch = { inputs, targets, B, T, TRUE, &rng };
  float first = 0.0f, loss = 0.0f;
  for (int step = 0; step < 300; step++)
    {
      lm_params_zero_grad (params);
      loss = model->klass->forward (model, &batch);
      if (step == 0)
        first = loss;
      model->klass->backward (model, &batch);
      lm_clip_grad_norm (params, 1.0);
      lm_optimizer_step (optimizer, params, oc.lr);
    }
  g_test_message ("overfit: loss %.4f -> %.4f nats/token", first, loss);
  g_assert_cmpfloat (first, >, 2.0f);
  g_assert_cmpfloat (loss, <, 0.05f);
}

/* ---- streaming, scoring ------------------------------------------------------------------ */

static void
test_kv_cache (gconstpointer data)
{
  g_autoptr (LmVocab) vocab = make_vocab (9); /* V = 12 */
  int V = 12, context = GPOINTER_TO_INT (data), n = 20;
  g_autofree char *context_set = g_strdup_printf ("context=%d", context);
  g_autoptr (LmModel) model = make_model (
      vocab, (const char *[]) { "d=12", "heads=3", "layers=2", context_set, "seed=8", NULL });
  LmParams *params = model->klass->parameters (model);
  LmRng rng;
  lm_rng_seed (&rng, 5);
  scramble_parameters (params, &rng);
  gint32 history[21];
  history[0] = LM_TOKEN_BOS;
  for (int i = 1; i <= n; i++)
    history[i] = (gint32) (1 + lm_rng_below (&rng, (guint64) V - 1)); /* never <s> */

  LmState *state = model->klass->state_new (model);
  LmState *copy = model->klass->state_new (model);
  g_autofree float *lp = g_new (float, V);
  g_autofree float *lp_full = g_new (float, V);
  model->klass->state_begin (model, state);
  double worst = 0.0;
  for (int i = 0; i <= n; i++)
    {
      /* the history is history[0..i]; the cache holds its last `context` tokens, past
       * the context by the documented drop-the-oldest policy */
      int len = i + 1, start = MAX (0, len - context), T = len - start;
      model->klass->state_logprobs (model, state, lp);
      double total = 0.0;
      for (int v = 0; v < V; v++)
        {
          total += exp (lp[v]);
          g_assert_cmpfloat (lp[v], <=, 0.0f);
        }
      g_assert_cmpfloat_with_epsilon (total, 1.0, 1e-5);
      /* the same window recomputed in full by the batched forward */
      const float *logits = lm_transformer_forward_logits (model, history + start, 1, T);
      g_assert_nonnull (logits);
      lm_log_softmax_forward (lp_full, logits + (gsize) (T - 1) * V, 1, V);
      for (int v = 0; v < V; v++)
        worst = MAX (worst, fabs ((double) lp[v] - lp_full[v]));
      if (i < n)
        model->klass->state_step (model, state, history[i + 1]);
    }
  g_test_message ("KV cache vs full recomputation: max |diff| of log-probabilities %.3e", worst);
  g_assert_cmpfloat (worst, <, 1e-5);

  /* a copied state continues exactly like the original */
  model->klass->state_copy (model, copy, state);
  model->klass->state_step (model, state, 3);
  model->klass->state_step (model, copy, 3);
  g_autofree float *a = g_new (float, V), *b = g_new (float, V);
  model->klass->state_logprobs (model, state, a);
  model->klass->state_logprobs (model, copy, b);
  for (int v = 0; v < V; v++)
    g_assert_cmpfloat (a[v], ==, b[v]);
  model->klass->state_free (model, state);
  model->klass->state_free (model, copy);
}

/* Score a stream in both modes: windows must equal the mean forward loss over the same
 * windows, sliding with stride 1 must equal the streaming state token by token. */
static void
test_score (void)
{
  g_autoptr (LmVocab) vocab = make_vocab (9); /* V = 12 */
  int V = 12, context = 5;
  gsize n = 23;
  const char *base[] = { "d=8", "heads=2", "layers=2", "context=5", "seed=9", NULL, NULL };
  g_autoptr (LmModel) windows = make_model (vocab, base);
  base[5] = "eval_mode=sliding";
  g_autoptr (LmModel) sliding = make_model (vocab, base);
  LmRng rng;
  lm_rng_seed (&rng, 6);
  scramble_parameters (windows->klass->parameters (windows), &rng);
  LmParams *pw = windows->klass->parameters (windows);
  LmParams *ps = sliding->klass->parameters (sliding);
  memcpy (ps->data, pw->data, pw->n_floats * sizeof (float));
  g_autofree gint32 *tokens = g_new (gint32, n);
  for (gsize i = 0; i < n; i++)
    tokens[i] = (gint32) (1 + lm_rng_below (&rng, (guint64) V - 1));

  g_autofree double *logprob = g_new (double, n);
  g_autofree gint32 *predicted = g_new (gint32, n);
  g_autofree guint8 *rank = g_new (guint8, n);
  LmScoreOutput out = { logprob, predicted, rank };
  GError *error = NULL;
  g_assert_true (lm_model_score (windows, tokens, n, &out, NULL, NULL, &error));
  g_assert_no_error (error);

  /* windows: targets [w*5, w*5+5), inputs start with <s> or the token before */
  double expected = 0.0;
  for (gsize start = 0; start < n; start += context)
    {
      int T = (int) MIN ((gsize) context, n - start);
      gint32 inputs[5], targets[5];
      for (int j = 0; j < T; j++)
        {
          inputs[j] = start + j == 0 ? LM_TOKEN_BOS : tokens[start + j - 1];
          targets[j] = tokens[start + j];
        }
      LmBatch batch = { inputs, targets, 1, T, FALSE, NULL };
      g_assert_true (windows->klass->prepare (windows, 1, T, NULL));
      expected += (double) windows->klass->forward (windows, &batch) * T;
    }
  double total = 0.0;
  for (gsize i = 0; i < n; i++)
    {
      total += logprob[i];
      g_assert_cmpfloat (logprob[i], <=, 0.0);
      g_assert_cmpint (predicted[i], >=, 0);
      g_assert_cmpint (predicted[i], <, V);
      g_assert_true ((rank[i] == 0) == (predicted[i] == tokens[i]));
    }
  g_assert_cmpfloat_with_epsilon (-total, expected, 1e-4);

  /* sliding, exact (stride 1): each token given the last `context` tokens of its history,
   * which is what the KV-cache state computes */
  const char *exact[] = { "d=8", "heads=2", "layers=2", "context=5", "seed=9",
                          "eval_mode=sliding", "eval_stride=1", NULL };
  g_autoptr (LmModel) stride1 = make_model (vocab, exact);
  LmParams *p1 = stride1->klass->parameters (stride1);
  memcpy (p1->data, pw->data, pw->n_floats * sizeof (float));
  g_autofree double *exact_lp = g_new (double, n);
  LmScoreOutput exact_out = { exact_lp, NULL, NULL };
  g_assert_true (lm_model_score (stride1, tokens, n, &exact_out, NULL, NULL, &error));
  LmState *state = stride1->klass->state_new (stride1);
  g_autofree float *lp = g_new (float, V);
  stride1->klass->state_begin (stride1, state);
  double worst = 0.0;
  for (gsize i = 0; i < n; i++)
    {
      stride1->klass->state_logprobs (stride1, state, lp);
      worst = MAX (worst, fabs (lp[tokens[i]] - exact_lp[i]));
      stride1->klass->state_step (stride1, state, tokens[i]);
    }
  stride1->klass->state_free (stride1, state);
  g_test_message ("sliding stride 1 vs streaming state: max |diff| %.3e", worst);
  g_assert_cmpfloat (worst, <, 1e-5);

  /* the default sliding stride: every token gets one finite log-probability */
  g_autofree double *slide_lp = g_new (double, n);
  LmScoreOutput slide_out = { slide_lp, NULL, NULL };
  for (gsize i = 0; i < n; i++)
    slide_lp[i] = 1.0;
  g_assert_true (lm_model_score (sliding, tokens, n, &slide_out, NULL, NULL, &error));
  for (gsize i = 0; i < n; i++)
    g_assert_true (slide_lp[i] <= 0.0 && isfinite (slide_lp[i]));
  /* the first window is shared by every mode */
  for (gsize i = 0; i < (gsize) context; i++)
    g_assert_cmpfloat_with_epsilon (slide_lp[i], logprob[i], 1e-5);
}

static void
test_save_load (void)
{
  g_autoptr (LmVocab) vocab = make_vocab (6);
  const char *settings[] = { "d=8", "heads=2", "layers=1", "context=4", "seed=3", NULL };
  g_autoptr (LmModel) model = make_model (vocab, settings);
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "model.ckpt", NULL);
  GError *error = NULL;
  {
    g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, &error);
    g_assert_no_error (error);
    g_assert_true (model->klass->save (model, writer, &error));
    g_assert_true (lm_checkpoint_writer_commit (writer, &error));
    g_assert_no_error (error);
  }
  g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (path, &error);
  g_assert_no_error (error);

  const char *other_seed[] = { "d=8", "heads=2", "layers=1", "context=4", "seed=4", NULL };
  g_autoptr (LmModel) copy = make_model (vocab, other_seed);
  LmParams *a = model->klass->parameters (model), *b = copy->klass->parameters (copy);
  g_assert_true (memcmp (a->data, b->data, a->n_floats * sizeof (float)) != 0);
  g_assert_true (copy->klass->load (copy, checkpoint, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (a->data, b->data, a->n_floats * sizeof (float)) == 0);

  /* another shape is refused by the layout fingerprint */
  const char *wider[] = { "d=8", "heads=2", "layers=2", "context=4", NULL };
  g_autoptr (LmModel) other = make_model (vocab, wider);
  g_assert_false (other->klass->load (other, checkpoint, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_MISMATCH);
  g_clear_error (&error);
  lm_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/transformer/class", test_class);
  g_test_add_func ("/transformer/config-errors", test_config_errors);
  g_test_add_func ("/transformer/prepare-errors", test_prepare_errors);
  g_test_add_func ("/transformer/too-big", test_too_big);
  g_test_add_func ("/transformer/wide-head", test_wide_head);
  g_test_add_func ("/transformer/nan-weight", test_nan_weight);
  g_test_add_func ("/transformer/describe", test_describe);
  g_test_add_func ("/transformer/gelu-fast", test_gelu_fast);
  static const int small[] = { 2, 5, 8, 2 }, blocks[] = { 2, 37, 40, 2 };
  g_test_add_data_func ("/transformer/attention-gradient", small, test_attention_gradient);
  g_test_add_data_func ("/transformer/attention-gradient-blocks", blocks,
                        test_attention_gradient);
  g_test_add_data_func ("/transformer/mlp-gradient", GINT_TO_POINTER (FALSE), test_mlp_gradient);
  g_test_add_data_func ("/transformer/mlp-gradient-packed", GINT_TO_POINTER (TRUE),
                        test_mlp_gradient);
  g_test_add_func ("/transformer/model-gradient", test_model_gradient);
  g_test_add_func ("/transformer/model-gradient-tied-nobias-dropout",
                   test_model_gradient_tied_nobias_dropout);
  g_test_add_func ("/transformer/threads-agree", test_threads_agree);
  g_test_add_func ("/transformer/score-threads", test_score_threads);
  g_test_add_func ("/transformer/threads-agree-vocab-parts", test_threads_agree_vocab_parts);
  g_test_add_func ("/transformer/overfit", test_overfit);
  g_test_add_data_func ("/transformer/kv-cache", GINT_TO_POINTER (6), test_kv_cache);
  /* a window of one token: every step drops the whole cache */
  g_test_add_data_func ("/transformer/kv-cache-context-1", GINT_TO_POINTER (1), test_kv_cache);
  g_test_add_func ("/transformer/score", test_score);
  g_test_add_func ("/transformer/save-load", test_save_load);
  return g_test_run ();
}
