/* test-model.c — the shared interface: capability validation, the registry, checked
 * wrappers, and whole-model save/load through a small bigram model defined here. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-model.h"
#include "core/lm-registry.h"
#include "lm-test-util.h"

/* ---- a tiny add-one bigram model, enough to exercise the interface ---------------- */

typedef struct {
  LmModel base;
  guint32 V;
  double *counts; /* (V, V): counts[prev * V + next] */
} Bigram;

struct _LmState {
  gint32 prev;
};

static const LmOptionSpec bigram_options[] = {
  { "alpha", LM_OPTION_DOUBLE, "1", 0.001, 100, NULL, "additive smoothing" },
  { NULL },
};

static LmModel *
bigram_create (const LmConfig *config, LmVocab *vocab, GError **error)
{
  Bigram *m = g_new0 (Bigram, 1);
  extern const LmModelClass test_bigram_class;
  lm_model_init (&m->base, &test_bigram_class, config, vocab);
  m->V = lm_vocab_size (vocab);
  m->counts = g_new0 (double, (gsize) m->V * m->V);
  return &m->base;
}

static void
bigram_destroy (LmModel *model)
{
  Bigram *m = (Bigram *) model;
  lm_model_clear (model);
  g_free (m->counts);
  g_free (m);
}

static void
bigram_describe (LmModel *model, LmModelInfo *info)
{
  Bigram *m = (Bigram *) model;
  info->n_params = (guint64) m->V * m->V;
  info->bytes = info->n_params * sizeof (double);
  info->summary = g_strdup ("add-alpha bigram");
}

static gboolean
bigram_fit (LmModel *model, const gint32 *tokens, gsize n, LmProgressFunc progress,
            gpointer user_data, GError **error)
{
  Bigram *m = (Bigram *) model;
  gint32 prev = LM_TOKEN_BOS;
  for (gsize i = 0; i < n; i++)
    {
      m->counts[(gsize) prev * m->V + tokens[i]] += 1;
      prev = tokens[i] == LM_TOKEN_EOS ? LM_TOKEN_BOS : tokens[i];
    }
  return TRUE;
}

static void
bigram_logprobs (LmModel *model, LmState *state, float *out)
{
  Bigram *m = (Bigram *) model;
  double alpha = lm_config_get_double (model->config, "alpha");
  const double *row = m->counts + (gsize) state->prev * m->V;
  double total = 0;
  for (guint32 v = 0; v < m->V; v++)
    total += row[v] + alpha;
  for (guint32 v = 0; v < m->V; v++)
    out[v] = (float) log ((row[v] + alpha) / total);
}

static gboolean
bigram_score (LmModel *model, const gint32 *tokens, gsize n, LmScoreOutput *out,
              LmProgressFunc progress, gpointer user_data, GError **error)
{
  Bigram *m = (Bigram *) model;
  g_autofree float *lp = g_new (float, m->V);
  LmState state = { LM_TOKEN_BOS };
  for (gsize i = 0; i < n; i++)
    {
      bigram_logprobs (model, &state, lp);
      out->logprob[i] = lp[tokens[i]];
      state.prev = tokens[i] == LM_TOKEN_EOS ? LM_TOKEN_BOS : tokens[i];
    }
  return TRUE;
}

static LmState *bigram_state_new (LmModel *model) { return g_new0 (LmState, 1); }
static void bigram_state_free (LmModel *model, LmState *s) { g_free (s); }
static void bigram_state_copy (LmModel *model, LmState *d, const LmState *s) { *d = *s; }
static void bigram_state_begin (LmModel *model, LmState *s) { s->prev = LM_TOKEN_BOS; }
static void
bigram_state_step (LmModel *model, LmState *s, gint32 token)
{
  s->prev = token == LM_TOKEN_EOS ? LM_TOKEN_BOS : token;
}

static gboolean
bigram_save (LmModel *model, LmCheckpointWriter *writer, GError **error)
{
  Bigram *m = (Bigram *) model;
  return lm_checkpoint_writer_add (writer, "bigram/counts", m->counts,
                                   (gsize) m->V * m->V * sizeof (double), error);
}

static gboolean
bigram_load (LmModel *model, const LmCheckpoint *checkpoint, GError **error)
{
  Bigram *m = (Bigram *) model;
  const void *data;
  gsize bytes = (gsize) m->V * m->V * sizeof (double);
  if (!lm_checkpoint_get_exact (checkpoint, "bigram/counts", &data, bytes, error))
    return FALSE;
  memcpy (m->counts, data, bytes);
  return TRUE;
}

const LmModelClass test_bigram_class = {
  .name = "test-bigram",
  .description = "add-alpha bigram (test only)",
  .capabilities = LM_CAP_FIT | LM_CAP_SCORE | LM_CAP_STREAM | LM_CAP_SAVE,
  .options = bigram_options,
  .create = bigram_create,
  .destroy = bigram_destroy,
  .describe = bigram_describe,
  .fit = bigram_fit,
  .score = bigram_score,
  .state_new = bigram_state_new,
  .state_free = bigram_state_free,
  .state_copy = bigram_state_copy,
  .state_begin = bigram_state_begin,
  .state_step = bigram_state_step,
  .state_logprobs = bigram_logprobs,
  .save = bigram_save,
  .load = bigram_load,
};

/* ---- tests -------------------------------------------------------------------- */

static void
test_model_validate (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_model_class_validate (&test_bigram_class, &error));

  /* A class that promises gradient training but has no backward is refused. */
  LmModelClass broken = test_bigram_class;
  broken.capabilities |= LM_CAP_GRADIENT;
  g_assert_false (lm_model_class_validate (&broken, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "LM_CAP_GRADIENT"));
  g_clear_error (&error);

  broken = test_bigram_class;
  broken.state_logprobs = NULL;
  g_assert_false (lm_model_class_validate (&broken, &error));
  g_assert_nonnull (strstr (error->message, "state_logprobs"));
  g_clear_error (&error);

  broken = test_bigram_class;
  broken.capabilities = LM_CAP_SCORE;
  g_assert_false (lm_model_class_validate (&broken, &error));
  g_clear_error (&error);

  broken = test_bigram_class;
  broken.options = NULL;
  g_assert_false (lm_model_class_validate (&broken, &error));
}

static void
test_model_registry (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_registry_check (&error));
  g_assert_no_error (error);
  for (const LmModelClass *const *k = lm_registry_classes (); *k; k++)
    g_assert_true (lm_registry_lookup ((*k)->name, NULL) == *k);
  g_assert_null (lm_registry_lookup ("markov-chain-9000", &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_USAGE);
  g_assert_nonnull (strstr (error->message, "unknown model"));
}

static LmVocab *
small_vocab (const char *text)
{
  return lm_vocab_build (LM_LEVEL_WORD, text, strlen (text), NULL);
}

static void
test_model_wrappers (void)
{
  const char *text = "a b a\nb a\n";
  g_autoptr (LmVocab) vocab = small_vocab (text);
  g_autoptr (LmConfig) config = lm_config_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (LmModel) model = lm_model_new (&test_bigram_class, config, vocab, &error);
  g_assert_no_error (error);
  gsize n;
  g_autofree gint32 *ids = lm_vocab_encode (vocab, text, strlen (text), &n, NULL, NULL);
  g_assert_true (lm_model_fit (model, ids, n, NULL, NULL, &error));
  g_autofree double *lp = g_new (double, n);
  LmScoreOutput out = { .logprob = lp };
  g_assert_true (lm_model_score (model, ids, n, &out, NULL, NULL, &error));
  /* p(a | <s>) = (1 + 1) / (2 + V): lines start with a and b once each; V = 5. */
  g_assert_cmpfloat_with_epsilon (lp[0], log (2.0 / 7.0), 1e-6);

  /* The streaming distribution sums to one. */
  LmState *state = model->klass->state_new (model);
  model->klass->state_begin (model, state);
  model->klass->state_step (model, state, ids[0]);
  g_autofree float *next = g_new (float, lm_model_vocab_size (model));
  model->klass->state_logprobs (model, state, next);
  double sum = 0;
  for (guint32 v = 0; v < lm_model_vocab_size (model); v++)
    sum += exp (next[v]);
  g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-6);
  model->klass->state_free (model, state);

  /* Config is validated: a typo is refused before create. */
  g_autoptr (LmConfig) bad = lm_config_new ();
  lm_config_set (bad, "alpah", "2", "--set");
  g_autoptr (LmModel) none = lm_model_new (&test_bigram_class, bad, vocab, &error);
  g_assert_null (none);
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "did you mean 'alpha'"));
}

static void
test_model_unsupported (void)
{
  LmModelClass no_score = test_bigram_class;
  no_score.capabilities &= ~LM_CAP_SCORE;
  no_score.score = NULL;
  g_autoptr (LmVocab) vocab = small_vocab ("a\n");
  g_autoptr (LmConfig) config = lm_config_new ();
  g_autoptr (GError) error = NULL;
  LmModel *model = lm_model_new (&test_bigram_class, config, vocab, &error);
  model->klass = &no_score; /* the same model, seen through a class without score() */
  gint32 ids[2] = { 3, 1 };
  double lp[2];
  LmScoreOutput out = { .logprob = lp };
  g_assert_false (lm_model_score (model, ids, 2, &out, NULL, NULL, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED);
  model->klass = &test_bigram_class;
  lm_model_free (model);
}

static void
test_model_save_unregistered (void)
{
  /* Saving writes class, config and vocabulary; loading a class the registry does not
   * know is refused with a message naming it (never a crash or a wrong model). */
  g_autoptr (LmVocab) vocab = small_vocab ("a b\n");
  g_autoptr (LmConfig) config = lm_config_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (LmModel) model = lm_model_new (&test_bigram_class, config, vocab, &error);
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "model.ckpt", NULL);
  g_assert_true (lm_model_save (model, path, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_autoptr (LmModel) back = lm_model_load (path, &error);
  g_assert_null (back);
  g_assert_error (error, LM_ERROR, LM_ERROR_USAGE);
  g_assert_nonnull (strstr (error->message, "test-bigram"));
  lm_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/save-unregistered", test_model_save_unregistered);
  g_test_add_func ("/model/validate", test_model_validate);
  g_test_add_func ("/model/registry", test_model_registry);
  g_test_add_func ("/model/wrappers", test_model_wrappers);
  g_test_add_func ("/model/unsupported", test_model_unsupported);
  return g_test_run ();
}
