/* lm-test-model.c — the softmax bigram test model (see lm-test-model.h). */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-ops.h"
#include "core/lm-params.h"
#include "lm-test-model.h"

typedef struct {
  LmModel base;
  LmParams *params;
  int V;
  int W_index;
  float *probs;   /* (B*T, V) */
  float *carried; /* (B): a running checksum of inputs, mixed into nothing but checked */
  int max_rows;
  int max_B;
  int calls;      /* training forward calls so far */
} Bigram;

struct _LmState {
  gint32 prev;
};

static const LmOptionSpec bigram_options[] = {
  { "nan_at", LM_OPTION_INT, "-1", -1, 1e9, NULL, "training forward call that returns NaN (test)" },
  { "nan_count", LM_OPTION_INT, "1", 0, 1e9, NULL, "how many NaN calls from nan_at" },
  { "crash", LM_OPTION_BOOL, "false", 0, 0, NULL, "abort() in the first forward (test)" },
  { NULL },
};

/* create() for each variant: the base records which class it is. */
static LmModel *
bigram_new (const LmModelClass *klass, const LmConfig *config, LmVocab *vocab, GError **error)
{
  Bigram *m = g_new0 (Bigram, 1);
  lm_model_init (&m->base, klass, config, vocab);
  m->V = lm_vocab_size (vocab);
  m->params = lm_params_new ();
  m->W_index = lm_params_add (m->params, "W", 2, (int[]) { m->V, m->V }, LM_INIT_UNIFORM, 0.1f,
                              TRUE);
  if (!lm_params_allocate (m->params, error))
    {
      lm_params_free (m->params);
      lm_model_clear (&m->base);
      g_free (m);
      return NULL;
    }
  LmRng rng;
  lm_rng_seed (&rng, (guint64) lm_config_get_int (config, "seed"));
  lm_params_init (m->params, &rng);
  return &m->base;
}

static LmModel *
bigram_create (const LmConfig *config, LmVocab *vocab, GError **error)
{
  return bigram_new (&lm_test_grad_class, config, vocab, error);
}

static LmModel *
bigram_carry_create (const LmConfig *config, LmVocab *vocab, GError **error)
{
  return bigram_new (&lm_test_grad_carry_class, config, vocab, error);
}

static void
bigram_destroy (LmModel *model)
{
  Bigram *m = (Bigram *) model;
  lm_params_free (m->params);
  g_free (m->probs);
  g_free (m->carried);
  lm_model_clear (model);
  g_free (m);
}

static void
bigram_describe (LmModel *model, LmModelInfo *info)
{
  Bigram *m = (Bigram *) model;
  info->n_params = lm_params_count (m->params);
  info->bytes = lm_params_bytes (m->params);
  info->forward_flops = 2.0 * m->V;
  info->summary = g_strdup ("softmax bigram (test)");
}

static LmParams *
bigram_parameters (LmModel *model)
{
  return ((Bigram *) model)->params;
}

static gboolean
bigram_prepare (LmModel *model, int B, int T, GError **error)
{
  Bigram *m = (Bigram *) model;
  m->max_rows = B * T;
  m->probs = g_renew (float, m->probs, (gsize) B * T * m->V);
  m->max_B = B;
  m->carried = g_renew (float, m->carried, B);
  memset (m->carried, 0, B * sizeof (float));
  return TRUE;
}

static float
bigram_forward (LmModel *model, const LmBatch *batch)
{
  Bigram *m = (Bigram *) model;
  int N = batch->B * batch->T;
  g_assert_cmpint (N, <=, m->max_rows);
  if (batch->training)
    {
      int call = m->calls++;
      if (lm_config_get_bool (model->config, "crash"))
        abort ();
      const char *at = g_getenv ("LM_TEST_INTERRUPT_AT");
      if (at && call + 1 == atoi (at))
        raise (SIGINT); /* as Ctrl-C: a handler asks the trainer to stop */
      gint64 nan_at = lm_config_get_int (model->config, "nan_at");
      gint64 nan_count = lm_config_get_int (model->config, "nan_count");
      if (nan_at >= 0 && call >= nan_at && call < nan_at + nan_count)
        return NAN;
    }
  const float *W = lm_params_data (m->params, m->W_index);
  g_autofree float *logits = g_new (float, (gsize) N * m->V);
  for (int i = 0; i < N; i++)
    memcpy (logits + (gsize) i * m->V, W + (gsize) batch->inputs[i] * m->V, m->V * sizeof (float));
  int count;
  double loss = lm_softmax_cross_entropy_forward (m->probs, logits, batch->targets, N, m->V,
                                                  &count);
  for (int b = 0; b < batch->B; b++)
    m->carried[b] = m->carried[b] * 0.5f + batch->inputs[b * batch->T];
  return (float) loss;
}

static void
bigram_backward (LmModel *model, const LmBatch *batch)
{
  Bigram *m = (Bigram *) model;
  int N = batch->B * batch->T;
  g_autofree float *d_logits = g_new (float, (gsize) N * m->V);
  lm_softmax_cross_entropy_backward (d_logits, m->probs, batch->targets, N, m->V, 1.0f);
  float *dW = lm_params_grad (m->params, m->W_index);
  for (int i = 0; i < N; i++)
    lm_axpy (dW + (gsize) batch->inputs[i] * m->V, 1.0f, d_logits + (gsize) i * m->V, m->V);
}

static void
bigram_reset (LmModel *model)
{
  Bigram *m = (Bigram *) model;
  if (m->carried)
    memset (m->carried, 0, m->max_B * sizeof (float));
}

static float *
bigram_carried (LmModel *model, gsize *n)
{
  Bigram *m = (Bigram *) model;
  *n = m->carried ? (gsize) m->max_B : 0;
  return m->carried;
}

/* ---- streaming: the state is the previous token ------------------------------------- */

static LmState *
bigram_state_new (LmModel *model)
{
  return g_new0 (LmState, 1);
}

static void
bigram_state_free (LmModel *model, LmState *state)
{
  g_free (state);
}

static void
bigram_state_copy (LmModel *model, LmState *dst, const LmState *src)
{
  *dst = *src;
}

static void
bigram_state_begin (LmModel *model, LmState *state)
{
  state->prev = LM_TOKEN_BOS;
}

static void
bigram_state_step (LmModel *model, LmState *state, gint32 token)
{
  state->prev = token;
}

/* ln softmax (W[prev]) */
static void
bigram_logprobs (LmModel *model, LmState *state, float *out)
{
  Bigram *m = (Bigram *) model;
  const float *w = lm_params_data (m->params, m->W_index) + (gsize) state->prev * m->V;
  float mx = w[0];
  for (int v = 1; v < m->V; v++)
    mx = MAX (mx, w[v]);
  double s = 0;
  for (int v = 0; v < m->V; v++)
    s += exp (w[v] - mx);
  for (int v = 0; v < m->V; v++)
    out[v] = (float) (w[v] - mx - log (s));
}

gboolean
lm_test_stream_score (LmModel *model, const gint32 *tokens, gsize n, LmScoreOutput *out,
                      LmProgressFunc progress, gpointer user_data, GError **error)
{
  int V = lm_model_vocab_size (model);
  g_autofree float *lp = g_new (float, V);
  LmState *state = model->klass->state_new (model);
  model->klass->state_begin (model, state);
  for (gsize i = 0; i < n; i++)
    {
      model->klass->state_logprobs (model, state, lp);
      out->logprob[i] = lp[tokens[i]];
      int rank = 0, best = 0;
      for (int v = 0; v < V; v++)
        {
          if (lp[v] > lp[tokens[i]] || (lp[v] == lp[tokens[i]] && v < tokens[i]))
            rank++;
          if (lp[v] > lp[best])
            best = v;
        }
      if (out->rank)
        out->rank[i] = (guint8) MIN (rank, 255);
      if (out->predicted)
        out->predicted[i] = best;
      model->klass->state_step (model, state, tokens[i]);
    }
  model->klass->state_free (model, state);
  if (progress)
    progress (n, n, user_data);
  return TRUE;
}

/* ---- checkpoints ---------------------------------------------------------------------- */

static gboolean
bigram_save (LmModel *model, LmCheckpointWriter *writer, GError **error)
{
  Bigram *m = (Bigram *) model;
  return lm_checkpoint_writer_add (writer, "bigram/W", m->params->data,
                                   m->params->n_floats * sizeof (float), error);
}

static gboolean
bigram_load (LmModel *model, const LmCheckpoint *ck, GError **error)
{
  Bigram *m = (Bigram *) model;
  const void *data;
  if (!lm_checkpoint_get_exact (ck, "bigram/W", &data, m->params->n_floats * sizeof (float),
                                error))
    return FALSE;
  memcpy (m->params->data, data, m->params->n_floats * sizeof (float));
  return TRUE;
}

/* The two variants differ only in whether the trainer sees a carried state. */
#define BIGRAM_FUNCTIONS                                                                    \
  .description = "softmax bigram (test only)",                                              \
  .capabilities = LM_CAP_GRADIENT | LM_CAP_SCORE | LM_CAP_STREAM | LM_CAP_SAVE,             \
  .options = bigram_options, .destroy = bigram_destroy,                                     \
  .describe = bigram_describe, .parameters = bigram_parameters, .prepare = bigram_prepare,  \
  .forward = bigram_forward, .backward = bigram_backward, .reset_state = bigram_reset,      \
  .score = lm_test_stream_score, .state_new = bigram_state_new,                             \
  .state_free = bigram_state_free, .state_copy = bigram_state_copy,                         \
  .state_begin = bigram_state_begin, .state_step = bigram_state_step,                       \
  .state_logprobs = bigram_logprobs, .save = bigram_save, .load = bigram_load

const LmModelClass lm_test_grad_class = {
  .name = "test-grad",
  .create = bigram_create,
  BIGRAM_FUNCTIONS,
};

const LmModelClass lm_test_grad_carry_class = {
  .name = "test-grad-carry",
  .create = bigram_carry_create,
  .carried_state = bigram_carried,
  BIGRAM_FUNCTIONS,
};
