/* test-recurrent.c — the recurrent family (rnn/, lstm/, gru/): every cell and every whole
 * model against central finite differences, a tiny batch overfit, streaming
 * distributions that sum to one and agree with score(), carried state, save/load, bad
 * configurations. Each case runs for rnn, lstm and gru.
 *
 * Finite differences: the parameters are float, so a difference quotient of a float
 * loss would be mostly rounding; the losses here are accumulated in double (the cell
 * loss in the test, the model loss by lm_recurrent_forward_nats) and the quotient is
 * taken in double. The report gives the largest absolute and relative difference. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-blas.h"
#include "core/lm-error.h"
#include "core/lm-eval.h"
#include "core/lm-ops.h"
#include "core/lm-ops-simd.h"
#include "core/lm-optim.h"
#include "core/lm-params.h"
#include "core/lm-smallgemm.h"
#include "gru/lm-gru-cell.h"
#include "gru/lm-gru.h"
#include "lm-test-util.h"
#include "lstm/lm-lstm-cell.h"
#include "lstm/lm-lstm.h"
#include "rnn/lm-recurrent.h"
#include "rnn/lm-rnn-cell.h"
#include "rnn/lm-rnn.h"

typedef struct {
  const LmModelClass *klass;
  const LmRecurrentCell *cell;
} Family;

static const Family families[] = {
  { &lm_rnn_class, &lm_rnn_cell },
  { &lm_lstm_class, &lm_lstm_cell },
  { &lm_gru_class, &lm_gru_cell },
};

/* ---- helpers ------------------------------------------------------------------------ */

static void
fill_uniform (float *x, gsize n, float a, LmRng *rng)
{
  for (gsize i = 0; i < n; i++)
    x[i] = a * (2.0f * lm_rng_float (rng) - 1.0f);
}

/* Compare analytic gradients with numeric ones; relative difference is measured against
 * max(|numeric|, floor) so that tiny gradients are judged by their absolute error. */
static void
assert_gradients_close (const char *what, const float *analytic, const double *numeric,
                        gsize n, double tolerance)
{
  double max_abs = 0, max_rel = 0;
  gsize worst = 0;
  for (gsize i = 0; i < n; i++)
    {
      double diff = fabs ((double) analytic[i] - numeric[i]);
      double rel = diff / MAX (fabs (numeric[i]), 1e-2);
      max_abs = MAX (max_abs, diff);
      if (rel > max_rel)
        {
          max_rel = rel;
          worst = i;
        }
    }
  g_test_message ("%s: %" G_GSIZE_FORMAT " gradients, max abs diff %.3g, max rel diff %.3g",
                  what, n, max_abs, max_rel);
  if (max_rel > tolerance)
    g_error ("%s: gradient %" G_GSIZE_FORMAT " is %.8g analytically but %.8g numerically",
             what, worst, (double) analytic[worst], numeric[worst]);
}

static LmVocab *
make_vocab (int n_symbols)
{
  GString *text = g_string_new (NULL);
  for (int i = 0; i < n_symbols; i++)
    for (int k = 0; k <= i; k++) /* distinct counts give a fixed id order */
      g_string_append_c (text, (char) ('a' + i));
  LmVocabLimits limits = { 1, 0 };
  LmVocab *vocab = lm_vocab_build (LM_LEVEL_CHAR, text->str, text->len, &limits);
  g_string_free (text, TRUE);
  return vocab;
}

/* A model of klass over vocab, with "key=value" settings (NULL-terminated). */
static LmModel *
make_model (const LmModelClass *klass, LmVocab *vocab, GError **error, ...)
{
  g_autoptr (LmConfig) config = lm_config_new ();
  va_list args;
  va_start (args, error);
  for (const char *set = va_arg (args, const char *); set; set = va_arg (args, const char *))
    g_assert_true (lm_config_set_assignment (config, set, "test", NULL));
  va_end (args);
  return lm_model_new (klass, config, vocab, error);
}

static void
random_tokens (gint32 *tokens, gsize n, int V, LmRng *rng)
{
  /* never <s> (context only) */
  for (gsize i = 0; i < n; i++)
    tokens[i] = 1 + (gint32) lm_rng_below (rng, (guint64) V - 1);
}

/* ---- cells ------------------------------------------------------------------------------ */

typedef struct {
  const LmRecurrentCell *cell;
  int T, B, H, G;
  float *xw, *h0, *c0, *w_hh, *b_hh; /* the inputs being differentiated */
  float *weights;                    /* (T,B,H): L = sum weights * h_t */
  /* forward buffers */
  float *gates, *h, *c, *aux;
  float *packed; /* NULL: the cells multiply by W_hh with BLAS; else lm_smallgemm's pack */
} CellCase;

static double
cell_loss (CellCase *cc)
{
  gsize BH = (gsize) cc->B * cc->H;
  memcpy (cc->gates, cc->xw, BH * cc->T * cc->G * sizeof (float));
  memcpy (cc->h, cc->h0, BH * sizeof (float));
  if (cc->c)
    memcpy (cc->c, cc->c0, BH * sizeof (float));
  /* as the model does before each forward: W_hh^T (H, G*H) packed */
  if (cc->packed)
    lm_smallgemm_pack (cc->packed, TRUE, cc->H, cc->G * cc->H, cc->w_hh, cc->H);
  /* in two parts of the batch, as the model splits it across cores */
  for (int part = 0; part < 2; part++)
    {
      LmCellForward fwd = { cc->T, cc->B, cc->H, part ? 1 : 0, part ? cc->B : 1, cc->w_hh,
                            cc->b_hh, cc->gates, cc->h, cc->c, cc->aux, cc->packed };
      cc->cell->forward (&fwd);
    }
  double loss = 0;
  for (gsize i = 0; i < BH * cc->T; i++)
    loss += (double) cc->weights[i] * cc->h[BH + i];
  return loss;
}

static void
numeric_gradient (CellCase *cc, float *x, gsize n, double *out)
{
  const float eps = 1e-2f;
  for (gsize i = 0; i < n; i++)
    {
      float saved = x[i];
      x[i] = saved + eps;
      double plus = cell_loss (cc);
      x[i] = saved - eps;
      double minus = cell_loss (cc);
      x[i] = saved;
      out[i] = (plus - minus) / (2.0 * eps);
    }
}

/* Every gradient of a cell against central differences; `packed`: through lm_smallgemm
 * with packed weights (as the model runs with T > 1) instead of BLAS on W_hh. */
static void
check_cell_gradient (const Family *family, gboolean packed)
{
  CellCase cc = { .cell = family->cell, .T = 4, .B = 2, .H = 3, .G = family->cell->gates };
  gsize BH = (gsize) cc.B * cc.H, GH = (gsize) cc.G * cc.H;
  gsize n_packed = MAX (lm_smallgemm_packed_floats (cc.H, (int) GH),
                        lm_smallgemm_packed_floats ((int) GH, cc.H));
  g_autofree float *pack_fwd = packed ? g_new (float, n_packed) : NULL;
  g_autofree float *pack_bwd = packed ? g_new (float, n_packed) : NULL;
  cc.packed = pack_fwd;
  gsize n_xw = BH * cc.T * cc.G;
  LmRng rng;
  lm_rng_seed (&rng, 7);
  cc.xw = g_new (float, n_xw);
  cc.h0 = g_new (float, BH);
  cc.c0 = g_new (float, BH);
  cc.w_hh = g_new (float, GH * cc.H);
  cc.b_hh = g_new (float, GH);
  cc.weights = g_new (float, BH * cc.T);
  fill_uniform (cc.xw, n_xw, 1.0f, &rng);
  fill_uniform (cc.h0, BH, 0.8f, &rng);
  fill_uniform (cc.c0, BH, 0.8f, &rng);
  fill_uniform (cc.w_hh, GH * cc.H, 0.8f, &rng);
  fill_uniform (cc.b_hh, GH, 0.5f, &rng);
  fill_uniform (cc.weights, BH * cc.T, 1.0f, &rng);
  cc.gates = g_new0 (float, n_xw);
  cc.h = g_new0 (float, BH * (cc.T + 1));
  cc.c = family->cell->has_cell ? g_new0 (float, BH * (cc.T + 1)) : NULL;
  cc.aux = family->cell->aux_gates ? g_new0 (float, BH * cc.T * family->cell->aux_gates) : NULL;

  /* analytic */
  cell_loss (&cc);
  g_autofree float *d_h = g_memdup2 (cc.weights, BH * cc.T * sizeof (float));
  g_autofree float *d_xw = g_new0 (float, n_xw);
  g_autofree float *d_hw = g_new0 (float, n_xw);
  g_autofree float *d_w_hh = g_new0 (float, GH * cc.H);
  g_autofree float *d_b_hh = g_new0 (float, GH);
  g_autofree float *d_h0 = g_new0 (float, BH);
  g_autofree float *d_c0 = g_new0 (float, BH);
  g_autofree float *work = g_new0 (float, BH);
  LmCellForward fwd = { cc.T, cc.B, cc.H, 0, 1, cc.w_hh, cc.b_hh, cc.gates, cc.h, cc.c,
                        cc.aux };
  fwd.w_hh_packed = cc.packed;
  LmCellBackward bwd = { d_h, d_xw, family->cell->has_d_hw ? d_hw : NULL, d_w_hh, d_b_hh,
                         d_h0, cc.c ? d_c0 : NULL, work, pack_bwd };
  /* backward multiplies by W_hh (G*H, H) itself */
  if (packed)
    lm_smallgemm_pack (pack_bwd, FALSE, (int) GH, cc.H, cc.w_hh, cc.H);
  family->cell->backward (&fwd, &bwd);
  fwd.b_begin = 1;
  fwd.b_end = cc.B;
  family->cell->backward (&fwd, &bwd);
  lm_recurrent_cell_weight_gradients (family->cell, &fwd, &bwd);

  /* numeric, input by input */
  struct {
    const char *name;
    float *x, *grad;
    gsize n;
  } inputs[] = {
    { "d_xw", cc.xw, d_xw, n_xw },     { "d_w_hh", cc.w_hh, d_w_hh, GH * cc.H },
    { "d_b_hh", cc.b_hh, d_b_hh, GH }, { "d_h0", cc.h0, d_h0, BH },
    { "d_c0", cc.c0, d_c0, cc.c ? BH : 0 },
  };
  for (gsize k = 0; k < G_N_ELEMENTS (inputs); k++)
    {
      if (inputs[k].n == 0)
        continue;
      g_autofree double *numeric = g_new (double, inputs[k].n);
      numeric_gradient (&cc, inputs[k].x, inputs[k].n, numeric);
      g_autofree char *what = g_strdup_printf ("%s cell %s", family->cell->name, inputs[k].name);
      assert_gradients_close (what, inputs[k].grad, numeric, inputs[k].n, 2e-3);
    }
  g_free (cc.xw), g_free (cc.h0), g_free (cc.c0), g_free (cc.w_hh), g_free (cc.b_hh);
  g_free (cc.weights), g_free (cc.gates), g_free (cc.h), g_free (cc.c), g_free (cc.aux);
}

static void
test_cell_gradient (gconstpointer data)
{
  check_cell_gradient (data, FALSE);
}

static void
test_cell_gradient_packed (gconstpointer data)
{
  check_cell_gradient (data, TRUE);
}

/* ---- whole models ----------------------------------------------------------------------- */

/* Loss of one batch from a fixed initial state and fixed dropout masks. */
static double
model_loss (LmModel *model, const LmBatch *batch, const float *state, gsize n_state,
            guint64 dropout_seed)
{
  gsize n;
  float *carried = model->klass->carried_state (model, &n);
  g_assert_cmpuint (n, ==, n_state);
  memcpy (carried, state, n * sizeof (float));
  LmRng rng;
  lm_rng_seed (&rng, dropout_seed);
  LmBatch b = *batch;
  b.rng = &rng;
  return lm_recurrent_forward_nats (model, &b);
}

static void
check_model_gradient (const Family *family, const char *label, const char *emb,
                      const char *tied, const char *dropout)
{
  g_autoptr (LmVocab) vocab = make_vocab (5); /* V = 8 */
  g_autoptr (GError) error = NULL;
  g_autoptr (LmModel) model = make_model (family->klass, vocab, &error, "layers=2",
                                          "hidden=4", emb, tied, dropout, "init=0.5",
                                          "seed=3", NULL);
  g_assert_no_error (error);
  const int B = 2, T = 5, V = 8;
  g_assert_true (model->klass->prepare (model, B, T, &error));
  LmRng rng;
  lm_rng_seed (&rng, 11);
  gint32 inputs[2 * 5], targets[2 * 5];
  random_tokens (inputs, B * T, V, &rng);
  random_tokens (targets, B * T, V, &rng);
  targets[3] = -1; /* a padded position is not scored */
  LmBatch batch = { inputs, targets, B, T, TRUE, NULL };
  gsize n_state;
  model->klass->carried_state (model, &n_state);
  g_autofree float *state = g_new (float, n_state);
  fill_uniform (state, n_state, 0.5f, &rng);

  LmParams *params = model->klass->parameters (model);
  lm_params_zero_grad (params);
  model_loss (model, &batch, state, n_state, 99);
  model->klass->backward (model, &batch);

  const float eps = 1e-2f;
  g_autofree double *numeric = g_new0 (double, params->n_floats);
  for (int v = 0; v < params->n_views; v++)
    {
      const LmParamView *view = lm_params_view (params, v);
      for (gsize i = view->offset; i < view->offset + view->size; i++)
        {
          float saved = params->data[i];
          params->data[i] = saved + eps;
          double plus = model_loss (model, &batch, state, n_state, 99);
          params->data[i] = saved - eps;
          double minus = model_loss (model, &batch, state, n_state, 99);
          params->data[i] = saved;
          numeric[i] = (plus - minus) / (2.0 * eps);
        }
      g_autofree char *what = g_strdup_printf ("%s model (%s) %s", family->cell->name, label,
                                               view->name);
      assert_gradients_close (what, params->grad + view->offset, numeric + view->offset,
                              view->size, 5e-3);
    }
}

static void
test_model_gradient (gconstpointer data)
{
  check_model_gradient (data, "emb 3, untied", "emb=3", "tied=false", "dropout=0");
}

static void
test_model_gradient_tied_dropout (gconstpointer data)
{
  check_model_gradient (data, "tied, dropout 0.3", "emb=4", "tied=true", "dropout=0.3");
}

static void
test_overfit (gconstpointer data)
{
  const Family *family = data;
  g_autoptr (LmVocab) vocab = make_vocab (7); /* V = 10 */
  g_autoptr (GError) error = NULL;
  g_autoptr (LmModel) model = make_model (family->klass, vocab, &error, "layers=2",
                                          "hidden=24", "seed=5", NULL);
  g_assert_no_error (error);
  const int B = 2, T = 12;
  g_assert_true (model->klass->prepare (model, B, T, &error));
  LmRng rng;
  lm_rng_seed (&rng, 5);
  gint32 inputs[2 * 12], targets[2 * 12];
  random_tokens (inputs, B * T, 10, &rng);
  random_tokens (targets, B * T, 10, &rng);
  LmBatch batch = { inputs, targets, B, T, TRUE, &rng };
  LmParams *params = model->klass->parameters (model);
  LmOptimConfig oc;
  lm_optim_config_init (&oc, LM_OPTIM_ADAM);
  g_autoptr (LmOptimizer) optimizer = lm_optimizer_new (&oc, params, &error);
  g_assert_no_error (error);
  float first = 0, loss = 0;
  for (int step = 0; step < 400; step++)
    {
      model->klass->reset_state (model);
      lm_params_zero_grad (params);
      loss = model->klass->forward (model, &batch);
      if (step == 0)
        first = loss;
      model->klass->backward (model, &batch);
      lm_clip_grad_norm (params, 5.0);
      lm_optimizer_step (optimizer, params, 0.02f);
    }
  g_test_message ("%s overfit: loss %.4f -> %.5f nats/token", family->cell->name, first, loss);
  g_assert_cmpfloat (first, >, 2.0);
  g_assert_cmpfloat (loss, <, 0.02);
}

/* The same stream through forward (one B=1 batch), score (chunks with carried state) and
 * the streaming state (one token at a time) gives the same numbers; next-token
 * distributions sum to one. */
static void
test_stream_and_score (gconstpointer data)
{
  const Family *family = data;
  g_autoptr (LmVocab) vocab = make_vocab (9); /* V = 12 */
  g_autoptr (GError) error = NULL;
  g_autoptr (LmModel) model = make_model (family->klass, vocab, &error, "layers=2",
                                          "hidden=16", "emb=8", "dropout=0.5", "init=0.3",
                                          NULL);
  g_assert_no_error (error);
  const int V = 12;
  const gsize n = 1100; /* more than two scoring chunks */
  LmRng rng;
  lm_rng_seed (&rng, 21);
  g_autofree gint32 *tokens = g_new (gint32, n);
  random_tokens (tokens, n, V, &rng);

  g_autofree double *logprob = g_new (double, n);
  g_autofree gint32 *predicted = g_new (gint32, n);
  g_autofree guint8 *rank = g_new (guint8, n);
  LmScoreOutput out = { logprob, predicted, rank };
  /* one BLAS thread first, so that scoring starts without helpers ... */
  int threads = lm_blas_threads ();
  lm_blas_set_threads (1);
  g_assert_true (lm_model_score (model, tokens, n, &out, NULL, NULL, &error));
  g_assert_no_error (error);
  /* ... then two, which splits the output layer and the scoring rows: the same scores,
   * to float rounding (the two halves of the product may take different kernel paths) */
  g_autofree double *logprob2 = g_new (double, n);
  g_autofree gint32 *predicted2 = g_new (gint32, n);
  g_autofree guint8 *rank2 = g_new (guint8, n);
  LmScoreOutput out2 = { logprob2, predicted2, rank2 };
  lm_blas_set_threads (2);
  g_assert_true (lm_model_score (model, tokens, n, &out2, NULL, NULL, &error));
  g_assert_no_error (error);
  lm_blas_set_threads (threads);
  for (gsize i = 0; i < n; i++)
    {
      g_assert_cmpfloat_with_epsilon (logprob2[i], logprob[i], 1e-6);
      g_assert_cmpint (predicted2[i], ==, predicted[i]);
      g_assert_cmpint (rank2[i], ==, rank[i]);
    }

  /* forward over one batch [<s>, tokens[0..n-2]] -> tokens, evaluation mode */
  g_assert_true (model->klass->prepare (model, 1, (int) n, &error));
  g_autofree gint32 *inputs = g_new (gint32, n);
  inputs[0] = LM_TOKEN_BOS;
  memcpy (inputs + 1, tokens, (n - 1) * sizeof (gint32));
  LmBatch batch = { inputs, tokens, 1, (int) n, FALSE, NULL };
  model->klass->reset_state (model);
  double mean = lm_recurrent_forward_nats (model, &batch);
  double total = 0;
  for (gsize i = 0; i < n; i++)
    total -= logprob[i];
  g_assert_cmpfloat_with_epsilon (mean, total / n, 1e-5);

  LmState *state = model->klass->state_new (model);
  LmState *branch = model->klass->state_new (model);
  g_autofree float *lp = g_new (float, V);
  g_autofree float *lp_branch = g_new (float, V);
  model->klass->state_begin (model, state);
  for (gsize i = 0; i < n; i++)
    {
      model->klass->state_logprobs (model, state, lp);
      double sum = 0;
      int best = 0;
      for (int v = 0; v < V; v++)
        {
          sum += exp (lp[v]);
          if (lp[v] > lp[best])
            best = v;
        }
      g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
      g_assert_cmpfloat_with_epsilon (lp[tokens[i]], logprob[i], 2e-5);
      g_assert_cmpint (predicted[i], ==, best);
      g_assert_cmpint (rank[i] == 0, ==, tokens[i] == best);
      g_assert_cmpfloat (logprob[i], <=, 0.0);
      if (i == 50)
        model->klass->state_copy (model, branch, state);
      model->klass->state_step (model, state, tokens[i]);
    }
  /* the copy made at token 50 continues as the original did */
  model->klass->state_step (model, branch, tokens[50]);
  model->klass->state_logprobs (model, branch, lp_branch);
  g_assert_cmpfloat_with_epsilon (lp_branch[tokens[51]], logprob[51], 2e-5);
  model->klass->state_free (model, state);
  model->klass->state_free (model, branch);

  /* an id outside the vocabulary is an error, not a crash */
  tokens[7] = V;
  g_assert_false (lm_model_score (model, tokens, n, &out, NULL, NULL, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
}

/* Two batches of T with the state carried equal one batch of 2T; reset_state forgets. */
static void
test_carried_state (gconstpointer data)
{
  const Family *family = data;
  g_autoptr (LmVocab) vocab = make_vocab (5);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmModel) model = make_model (family->klass, vocab, &error, "hidden=8", "init=0.4",
                                          NULL);
  g_assert_no_error (error);
  const int B = 3, T = 6;
  g_assert_true (model->klass->prepare (model, B, 2 * T, &error));
  gsize n_state;
  g_assert_nonnull (model->klass->carried_state (model, &n_state));
  g_assert_cmpuint (n_state, ==, (family->cell->has_cell ? 2 : 1) * 2 * B * 8);
  LmRng rng;
  lm_rng_seed (&rng, 4);
  gint32 in[3 * 12], tg[3 * 12], in1[3 * 6], tg1[3 * 6], in2[3 * 6], tg2[3 * 6];
  random_tokens (in, B * 2 * T, 8, &rng);
  random_tokens (tg, B * 2 * T, 8, &rng);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      {
        in1[b * T + t] = in[b * 2 * T + t];
        tg1[b * T + t] = tg[b * 2 * T + t];
        in2[b * T + t] = in[b * 2 * T + T + t];
        tg2[b * T + t] = tg[b * 2 * T + T + t];
      }
  LmBatch whole = { in, tg, B, 2 * T, FALSE, NULL };
  LmBatch first = { in1, tg1, B, T, FALSE, NULL };
  LmBatch second = { in2, tg2, B, T, FALSE, NULL };
  model->klass->reset_state (model);
  double all = lm_recurrent_forward_nats (model, &whole);
  model->klass->reset_state (model);
  double a = lm_recurrent_forward_nats (model, &first);
  double b = lm_recurrent_forward_nats (model, &second);
  g_assert_cmpfloat_with_epsilon ((a + b) / 2, all, 1e-6);
  model->klass->reset_state (model);
  double b_fresh = lm_recurrent_forward_nats (model, &second);
  g_assert_cmpfloat (fabs (b_fresh - b), >, 1e-6);
}

static char *
save_model (LmModel *model, const char *dir)
{
  char *path = g_build_filename (dir, "model.lmlab", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, &error);
  g_assert_no_error (error);
  g_assert_true (lm_model_write_sections (model, writer, &error));
  g_assert_true (lm_checkpoint_writer_commit (writer, &error));
  g_assert_no_error (error);
  return path;
}

static void
test_save_load (gconstpointer data)
{
  const Family *family = data;
  g_autoptr (LmVocab) vocab = make_vocab (6);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmModel) model = make_model (family->klass, vocab, &error, "hidden=8", "seed=1",
                                          NULL);
  g_autoptr (LmModel) other = make_model (family->klass, vocab, &error, "hidden=8", "seed=2",
                                          NULL);
  g_autoptr (LmModel) wider = make_model (family->klass, vocab, &error, "hidden=9", NULL);
  g_assert_no_error (error);
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = save_model (model, dir);
  gint32 tokens[40];
  LmRng rng;
  lm_rng_seed (&rng, 8);
  random_tokens (tokens, 40, 9, &rng);
  double before[40], after[40], different[40];
  LmScoreOutput out = { before };
  g_assert_true (lm_model_score (model, tokens, 40, &out, NULL, NULL, &error));
  out.logprob = different;
  g_assert_true (lm_model_score (other, tokens, 40, &out, NULL, NULL, &error));
  g_assert_cmpfloat (fabs (different[5] - before[5]), >, 1e-6);

  g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (path, &error);
  g_assert_no_error (error);
  g_assert_true (lm_model_read_sections (other, checkpoint, &error));
  g_assert_no_error (error);
  out.logprob = after;
  g_assert_true (lm_model_score (other, tokens, 40, &out, NULL, NULL, &error));
  g_assert_cmpmem (before, sizeof before, after, sizeof after);

  /* another shape: refused, naming the mismatch */
  g_assert_false (lm_model_read_sections (wider, checkpoint, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_MISMATCH);
  g_test_message ("%s", error->message);
  lm_test_rmtree (dir);
}

static void
test_bad_config (gconstpointer data)
{
  const Family *family = data;
  g_autoptr (LmVocab) vocab = make_vocab (4);
  g_autoptr (GError) error = NULL;
  LmModel *model = make_model (family->klass, vocab, &error, "tied=true", "emb=16",
                               "hidden=32", NULL);
  g_assert_null (model);
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "emb (16)"));
  g_assert_nonnull (strstr (error->message, "hidden (32)"));
  g_clear_error (&error);
  model = make_model (family->klass, vocab, &error, "hidden=0", NULL);
  g_assert_null (model);
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "hidden"));
  g_clear_error (&error);
  model = make_model (family->klass, vocab, &error, "layers=0", NULL);
  g_assert_null (model);
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_clear_error (&error);

  g_autoptr (LmModel) ok = make_model (family->klass, vocab, &error, "hidden=4", NULL);
  g_assert_no_error (error);
  g_assert_true (lm_model_class_validate (family->klass, &error));
  g_assert_false (ok->klass->prepare (ok, 0, 5, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_clear_error (&error);
  g_assert_false (ok->klass->prepare (ok, 100000, 100000, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  LmModelInfo info;
  lm_model_describe (ok, &info);
  g_assert_cmpuint (info.n_params, >, 0);
  g_assert_cmpfloat (info.forward_flops, >, 0);
  g_assert_nonnull (strstr (info.summary, family->cell->name));
  lm_model_info_clear (&info);
}

/* The parameter layout is PyTorch's, so its weights map one to one; out.weight is stored
 * transposed, (H,V) (rnn/lm-recurrent.h). */
static void
test_layout (gconstpointer data)
{
  const Family *family = data;
  g_autoptr (LmVocab) vocab = make_vocab (7); /* V = 10 */
  g_autoptr (GError) error = NULL;
  g_autoptr (LmModel) model = make_model (family->klass, vocab, &error, "layers=2",
                                          "hidden=6", "emb=5", NULL);
  g_assert_no_error (error);
  LmParams *params = model->klass->parameters (model);
  int G = family->cell->gates;
  const LmParamView *view = lm_params_get (params, "rnn.weight_ih_l0");
  g_assert_cmpint (view->shape[0], ==, G * 6);
  g_assert_cmpint (view->shape[1], ==, 5);
  view = lm_params_get (params, "rnn.weight_ih_l1");
  g_assert_cmpint (view->shape[1], ==, 6);
  g_assert_nonnull (lm_params_get (params, "rnn.bias_hh_l1"));
  view = lm_params_get (params, "out.weight");
  g_assert_cmpint (view->shape[0], ==, 6);
  g_assert_cmpint (view->shape[1], ==, 10);
  /* V*E + per layer G*H*(In + H + 2) + H*V + V */
  guint64 expected = 10 * 5 + G * 6 * (5 + 6 + 2) + G * 6 * (6 + 6 + 2) + 6 * 10 + 10;
  g_assert_cmpuint (lm_params_count (params), ==, expected);
  for (gsize i = 0; i < params->n_floats; i++)
    g_assert_cmpfloat (fabs (params->data[i]), <=, (family->cell->has_cell ? 1.1f : 0.1f));
}

/* The cells' gate loops and lm_smallgemm have an AVX2 path and a portable one
 * (core/lm-ops-simd.h); the checks of the numbers run on the portable path too. */
static void
run_portable (GTestDataFunc func, gconstpointer data)
{
  gboolean was = lm_simd_avx2 ();
  lm_simd_set_avx2 (FALSE);
  func (data);
  lm_simd_set_avx2 (was);
}

static void
test_cell_gradient_portable (gconstpointer data)
{
  run_portable (test_cell_gradient_packed, data);
}

static void
test_model_gradient_portable (gconstpointer data)
{
  run_portable (test_model_gradient, data);
}

static void
test_stream_and_score_portable (gconstpointer data)
{
  run_portable (test_stream_and_score, data);
}

/* A word vocabulary of `words` words (w0 w1 ...) and the specials */
static LmVocab *
make_word_vocab (int words)
{
  g_autoptr (GString) text = g_string_new (NULL);
  for (int w = 0; w < words; w++)
    g_string_append_printf (text, "w%d ", w);
  LmVocabLimits limits = { 1, 0 };
  return lm_vocab_build (LM_LEVEL_WORD, text->str, text->len, &limits);
}

/* One BLAS thread and two give the same training loss and gradients. With two, the output
 * layer's vocabulary is cut into parts the threads take as they come free (V = 1,703: three
 * parts of at least 512 ids over two threads), untied and tied. */
static void
test_threads_agree (gconstpointer data)
{
  const Family *family = data;
  g_autoptr (LmVocab) vocab = make_word_vocab (1700);
  const int V = (int) lm_vocab_size (vocab), B = 3, T = 5;
  g_assert_cmpint (V, >=, 1536);
  int threads = lm_blas_threads ();
  for (int tied = 0; tied < 2; tied++)
    {
      g_autoptr (GError) error = NULL;
      const char *tie = tied ? "tied=true" : "tied=false";
      g_autoptr (LmModel) a = make_model (family->klass, vocab, &error, "layers=2", "hidden=8",
                                          "emb=8", "init=0.3", tie, NULL);
      g_autoptr (LmModel) b = make_model (family->klass, vocab, &error, "layers=2", "hidden=8",
                                          "emb=8", "init=0.3", tie, NULL);
      g_assert_no_error (error);
      lm_blas_set_threads (1);
      g_assert_true (a->klass->prepare (a, B, T, &error));
      lm_blas_set_threads (2);
      g_assert_true (b->klass->prepare (b, B, T, &error));
      LmParams *pa = a->klass->parameters (a), *pb = b->klass->parameters (b);
      memcpy (pb->data, pa->data, pa->n_floats * sizeof (float));
      LmRng rng;
      lm_rng_seed (&rng, 31);
      gint32 inputs[15], targets[15];
      random_tokens (inputs, 15, V, &rng);
      random_tokens (targets, 15, V, &rng);
      LmBatch batch = { inputs, targets, B, T, TRUE, NULL };
      lm_params_zero_grad (pa);
      lm_params_zero_grad (pb);
      lm_blas_set_threads (1);
      float loss_a = a->klass->forward (a, &batch);
      a->klass->backward (a, &batch);
      lm_blas_set_threads (2);
      float loss_b = b->klass->forward (b, &batch);
      b->klass->backward (b, &batch);
      double worst = 0.0, largest = 0.0;
      for (gsize i = 0; i < pa->n_floats; i++)
        {
          worst = MAX (worst, fabs ((double) pa->grad[i] - pb->grad[i]));
          largest = MAX (largest, fabs ((double) pa->grad[i]));
        }
      g_test_message ("%s: loss %.7f / %.7f, max |grad diff| %.3e of max |grad| %.3e", tie,
                      loss_a, loss_b, worst, largest);
      g_assert_cmpfloat (largest, >, 0.0);
      g_assert_cmpfloat_with_epsilon (loss_a, loss_b, 1e-6);
      g_assert_cmpfloat (worst, <, 1e-6 * MAX (1.0, largest));
    }
  lm_blas_set_threads (threads);
}

/* BLAS threads raised after prepare(): the training buffers were laid out for one thread,
 * scoring then starts helpers for two, and a training step must use no more parts than
 * its buffers hold (under the sanitizers an overrun fails here) and still give the
 * one-thread gradients. */
static void
test_threads_raised (gconstpointer data)
{
  const Family *family = data;
  g_autoptr (LmVocab) vocab = make_word_vocab (1700);
  const int V = (int) lm_vocab_size (vocab), B = 3, T = 5;
  int threads = lm_blas_threads ();
  g_autoptr (GError) error = NULL;
  g_autoptr (LmModel) a = make_model (family->klass, vocab, &error, "layers=1", "hidden=8",
                                      "emb=8", "init=0.3", NULL);
  g_autoptr (LmModel) b = make_model (family->klass, vocab, &error, "layers=1", "hidden=8",
                                      "emb=8", "init=0.3", NULL);
  g_assert_no_error (error);
  LmParams *pa = a->klass->parameters (a), *pb = b->klass->parameters (b);
  memcpy (pb->data, pa->data, pa->n_floats * sizeof (float));
  lm_blas_set_threads (1);
  g_assert_true (a->klass->prepare (a, B, T, &error));
  g_assert_true (b->klass->prepare (b, B, T, &error));
  LmRng rng;
  lm_rng_seed (&rng, 32);
  gint32 inputs[15], targets[15], tokens[40];
  random_tokens (inputs, 15, V, &rng);
  random_tokens (targets, 15, V, &rng);
  random_tokens (tokens, 40, V, &rng);
  double logprob[40];
  LmScoreOutput out = { logprob, NULL, NULL };
  lm_blas_set_threads (2);
  g_assert_true (lm_model_score (b, tokens, 40, &out, NULL, NULL, &error));
  g_assert_no_error (error);
  LmBatch batch = { inputs, targets, B, T, TRUE, NULL };
  lm_params_zero_grad (pa);
  lm_params_zero_grad (pb);
  float loss_b = b->klass->forward (b, &batch);
  b->klass->backward (b, &batch);
  lm_blas_set_threads (1);
  float loss_a = a->klass->forward (a, &batch);
  a->klass->backward (a, &batch);
  lm_blas_set_threads (threads);
  double worst = 0.0;
  for (gsize i = 0; i < pa->n_floats; i++)
    worst = MAX (worst, fabs ((double) pa->grad[i] - pb->grad[i]));
  g_assert_cmpfloat_with_epsilon (loss_a, loss_b, 1e-6);
  g_assert_cmpfloat (worst, <, 1e-7);
}

/* A batch of 32 positions takes the output layer's wide path (lm_smallgemm_wide), whose
 * product hands each row's largest logit to the training cross-entropy, a vocabulary part
 * at a time on two threads. The last id's bias is raised by 500 so that every row's
 * maximum lies in the last part, hundreds above the others: a maximum taken from the
 * wrong parts would overflow the exponentials and the loss would be far off. The training
 * loss must equal the evaluation loss, whose softmax finds its own maxima. */
static void
test_wide_head (gconstpointer data)
{
  const Family *family = data;
  g_autoptr (LmVocab) vocab = make_word_vocab (1700);
  const int V = (int) lm_vocab_size (vocab), B = 4, T = 8;
  int threads = lm_blas_threads ();
  g_autoptr (GError) error = NULL;
  g_autoptr (LmModel) model = make_model (family->klass, vocab, &error, "layers=1", "hidden=8",
                                          "emb=8", "init=10", NULL);
  g_assert_no_error (error);
  lm_blas_set_threads (2);
  g_assert_true (model->klass->prepare (model, B, T, &error));
  LmParams *params = model->klass->parameters (model);
  lm_params_data (params, lm_params_find (params, "out.bias"))[V - 1] += 500.0f;
  LmRng rng;
  lm_rng_seed (&rng, 33);
  gint32 inputs[32], targets[32];
  random_tokens (inputs, 32, V, &rng);
  random_tokens (targets, 32, V, &rng);
  LmBatch eval = { inputs, targets, B, T, FALSE, NULL };
  LmBatch train = { inputs, targets, B, T, TRUE, NULL };
  model->klass->reset_state (model);
  float loss_eval = model->klass->forward (model, &eval);
  model->klass->reset_state (model);
  lm_params_zero_grad (params);
  float loss_train = model->klass->forward (model, &train);
  lm_blas_set_threads (threads);
  g_test_message ("loss %.6f (evaluation) / %.6f (training)", loss_eval, loss_train);
  g_assert_cmpfloat (loss_eval, >, 100.0); /* the targets lie hundreds below the maxima */
  g_assert_true (isfinite (loss_train));
  g_assert_cmpfloat_with_epsilon (loss_train, loss_eval, 1e-5 * loss_eval);
}

/* One NaN output weight puts a NaN in every row of logits: refused, not p = 1. */
static void
test_nan_weight (gconstpointer data)
{
  const Family *family = data;
  g_autoptr (LmVocab) vocab = make_vocab (9); /* V = 12 */
  g_autoptr (GError) error = NULL;
  g_autoptr (LmModel) model = make_model (family->klass, vocab, &error, "hidden=16", "emb=8",
                                          NULL);
  g_assert_no_error (error);
  lm_test_check_nan_refused (model, "out.weight", 12);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (families); i++)
    {
      const Family *f = &families[i];
      struct {
        const char *what;
        GTestDataFunc func;
      } cases[] = {
        { "cell-gradient", test_cell_gradient },
        { "cell-gradient-packed", test_cell_gradient_packed },
        { "cell-gradient-portable", test_cell_gradient_portable },
        { "model-gradient", test_model_gradient },
        { "model-gradient-portable", test_model_gradient_portable },
        { "model-gradient-tied-dropout", test_model_gradient_tied_dropout },
        { "overfit", test_overfit },
        { "stream-score", test_stream_and_score },
        { "stream-score-portable", test_stream_and_score_portable },
        { "carried-state", test_carried_state },
        { "save-load", test_save_load },
        { "bad-config", test_bad_config },
        { "layout", test_layout },
        { "threads-agree", test_threads_agree },
        { "threads-raised", test_threads_raised },
        { "wide-head", test_wide_head },
        { "nan-weight", test_nan_weight },
      };
      for (gsize k = 0; k < G_N_ELEMENTS (cases); k++)
        {
          g_autofree char *path = g_strdup_printf ("/recurrent/%s/%s", f->cell->name,
                                                   cases[k].what);
          g_test_add_data_func (path, f, cases[k].func);
        }
    }
  return g_test_run ();
}
