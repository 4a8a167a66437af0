/* test-compare.c — lmlab compare: experiment files, running runs in child processes,
 * reuse and resume, refusal of mixed vocabularies, EM interpolation, figures, reports.
 *
 * Three small model classes are found by name through a lookup the tests pass to the
 * experiment parser (the command itself uses the registry):
 *   test-unigram  add-one unigram (fit)        test-bigram  add-one bigram (fit)
 *   test-grad     the softmax bigram of lm-test-model.h, trained by the shared trainer
 *                 (gradient); it raises SIGINT at the training call $LM_TEST_INTERRUPT_AT,
 *                 to interrupt a run as Ctrl-C would
 * and any of them calls abort() in fit/forward when its option crash = true. The count
 * models are defined here. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-registry.h"
#include "core/lm-train.h"
#include "harness/lm-compare.h"
#include "harness/lm-experiment.h"
#include "harness/lm-figures.h"
#include "harness/lm-interpolate.h"
#include "harness/lm-report.h"
#include "harness/lm-run-result.h"
#include "lm-test-model.h"
#include "lm-test-util.h"

/* ---- count models ------------------------------------------------------------------------ */

typedef struct {
  LmModel base;
  int V;
  int order;        /* 1 or 2 */
  double *counts;   /* (V) or (V,V): counts[prev * V + next] */
  double *totals;   /* (1) or (V) */
} Count;

struct _LmState {
  gint32 prev;
};

static const LmOptionSpec count_options[] = {
  { "crash", LM_OPTION_BOOL, "false", 0, 0, NULL, "abort() while fitting (test)" },
  { "alpha", LM_OPTION_DOUBLE, "1", 0, 100, NULL, "add-alpha smoothing" },
  { NULL },
};

extern const LmModelClass test_unigram_class, test_bigram_class;

static LmModel *
count_create (const LmModelClass *klass, int order, const LmConfig *config, LmVocab *vocab)
{
  Count *m = g_new0 (Count, 1);
  lm_model_init (&m->base, klass, config, vocab);
  m->V = lm_vocab_size (vocab);
  m->order = order;
  m->counts = g_new0 (double, order == 1 ? m->V : m->V * m->V);
  m->totals = g_new0 (double, order == 1 ? 1 : m->V);
  return &m->base;
}

static LmModel *
unigram_create (const LmConfig *config, LmVocab *vocab, GError **error)
{
  return count_create (&test_unigram_class, 1, config, vocab);
}

static LmModel *
bigram_create (const LmConfig *config, LmVocab *vocab, GError **error)
{
  return count_create (&test_bigram_class, 2, config, vocab);
}

static void
count_destroy (LmModel *model)
{
  Count *m = (Count *) model;
  g_free (m->counts);
  g_free (m->totals);
  lm_model_clear (model);
  g_free (m);
}

static void
count_describe (LmModel *model, LmModelInfo *info)
{
  Count *m = (Count *) model;
  info->n_params = m->order == 1 ? (guint64) m->V : (guint64) m->V * m->V;
  info->bytes = info->n_params * sizeof (double);
  info->summary = g_strdup_printf ("add-one %s (test)", m->order == 1 ? "unigram" : "bigram");
}

static gboolean
count_fit (LmModel *model, const gint32 *tokens, gsize n, LmProgressFunc progress,
           gpointer user_data, GError **error)
{
  Count *m = (Count *) model;
  if (lm_config_get_bool (model->config, "crash"))
    abort ();
  gint32 prev = LM_TOKEN_BOS;
  for (gsize i = 0; i < n; i++)
    {
      gsize row = m->order == 1 ? 0 : (gsize) prev;
      m->counts[row * (m->order == 1 ? 0 : m->V) + tokens[i]] += 1;
      m->totals[row] += 1;
      prev = tokens[i] == LM_TOKEN_EOS ? LM_TOKEN_BOS : tokens[i];
    }
  if (progress)
    progress (n, n, user_data);
  return TRUE;
}

/* p(v | prev) = (c(prev v) + alpha) / (c(prev) + alpha (V - 1)); <s> is never predicted. */
static void
count_logprobs (LmModel *model, LmState *state, float *out)
{
  Count *m = (Count *) model;
  double alpha = lm_config_get_double (model->config, "alpha");
  gsize row = m->order == 1 ? 0 : (gsize) state->prev;
  const double *c = m->counts + row * (m->order == 1 ? 0 : m->V);
  double denominator = m->totals[row] + alpha * (m->V - 1);
  for (int v = 0; v < m->V; v++)
    out[v] = v == LM_TOKEN_BOS ? -INFINITY : (float) log ((c[v] + alpha) / denominator);
}

static LmState *
count_state_new (LmModel *model)
{
  return g_new0 (LmState, 1);
}

static void
count_state_free (LmModel *model, LmState *state)
{
  g_free (state);
}

static void
count_state_copy (LmModel *model, LmState *dst, const LmState *src)
{
  *dst = *src;
}

static void
count_state_begin (LmModel *model, LmState *state)
{
  state->prev = LM_TOKEN_BOS;
}

static void
count_state_step (LmModel *model, LmState *state, gint32 token)
{
  state->prev = token == LM_TOKEN_EOS ? LM_TOKEN_BOS : token;
}

static gboolean
count_save (LmModel *model, LmCheckpointWriter *writer, GError **error)
{
  Count *m = (Count *) model;
  gsize n = m->order == 1 ? (gsize) m->V : (gsize) m->V * m->V;
  return lm_checkpoint_writer_add (writer, "count/counts", m->counts, n * sizeof (double), error);
}

static gboolean
count_load (LmModel *model, const LmCheckpoint *ck, GError **error)
{
  return FALSE; /* not needed by these tests */
}

#define COUNT_CLASS(cname, sname, create_fn)                                                      \
  const LmModelClass cname = {                                                                   \
    .name = sname,                                                                               \
    .description = "count model (test only)",                                                    \
    .capabilities = LM_CAP_FIT | LM_CAP_SCORE | LM_CAP_STREAM | LM_CAP_SAVE,                     \
    .options = count_options,                                                                    \
    .create = create_fn,                                                                         \
    .destroy = count_destroy,                                                                    \
    .describe = count_describe,                                                                  \
    .fit = count_fit,                                                                            \
    .score = lm_test_stream_score,                                                                       \
    .state_new = count_state_new,                                                                \
    .state_free = count_state_free,                                                              \
    .state_copy = count_state_copy,                                                              \
    .state_begin = count_state_begin,                                                            \
    .state_step = count_state_step,                                                              \
    .state_logprobs = count_logprobs,                                                            \
    .save = count_save,                                                                          \
    .load = count_load,                                                                          \
  }

COUNT_CLASS (test_unigram_class, "test-unigram", unigram_create);
COUNT_CLASS (test_bigram_class, "test-bigram", bigram_create);

static const LmModelClass *
test_lookup (const char *name, GError **error)
{
  const LmModelClass *classes[] = { &test_unigram_class, &test_bigram_class,
                                    &lm_test_grad_class };
  for (gsize i = 0; i < G_N_ELEMENTS (classes); i++)
    if (g_str_equal (classes[i]->name, name))
      return classes[i];
  return lm_registry_lookup (name, error);
}

static const LmExperimentParseOptions parse_options = { test_lookup, FALSE };

/* ---- fixtures ------------------------------------------------------------------------------ */

/* A small corpus with structure a bigram can learn: sentences from a tiny grammar. */
static char *
make_text (guint seed, guint lines)
{
  static const char *const subjects[] = { "the cat", "a dog", "the old man", "my sister" };
  static const char *const verbs[] = { "sees", "likes", "finds", "calls" };
  static const char *const objects[] = { "the house", "a red ball", "the river", "his friend" };
  GString *out = g_string_new (NULL);
  LmRng rng;
  lm_rng_seed (&rng, seed);
  for (guint i = 0; i < lines; i++)
    g_string_append_printf (out, "%s %s %s .\n", subjects[lm_rng_below (&rng, 4)],
                            verbs[lm_rng_below (&rng, 4)],
                            objects[lm_rng_below (&rng, 4)]);
  return g_string_free (out, FALSE);
}

typedef struct {
  char *dir;
  char *run_dir;
  char *ini;   /* path of the experiment file */
} Fixture;

static const char experiment_text[] =
    "# a test experiment\n"
    "[experiment]\n"
    "train = train.txt\n"
    "valid = valid.txt\n"
    "test = test.txt\n"
    "seed = 3\n"
    "threads = 1\n"
    "prompt_tokens = 2\n"
    "gen_sentences = 20\n"
    "steps = 40\n"
    "\n"
    "[run uni]\n"
    "model = test-unigram\n"
    "\n"
    "[run bi]\n"
    "model = test-bigram\n"
    "alpha = 0.5\n"
    "\n"
    "[run neural]\n"
    "model = test-grad\n"
    "batch = 4\n"
    "context = 8\n"
    "lr = 0.05\n"
    "eval_every = 10\n"
    "checkpoint_every = 5\n";

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->dir = lm_test_tmpdir ();
  g_autofree char *train = make_text (1, 300), *valid = make_text (2, 40), *test = make_text (3, 40);
  g_free (lm_test_write (f->dir, "train.txt", train, -1));
  g_free (lm_test_write (f->dir, "valid.txt", valid, -1));
  g_free (lm_test_write (f->dir, "test.txt", test, -1));
  f->ini = lm_test_write (f->dir, "exp.ini", data ? data : experiment_text, -1);
  f->run_dir = g_build_filename (f->dir, "out", NULL);
  g_unsetenv ("LM_TEST_INTERRUPT_AT");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  /* TEST_COMPARE_KEEP=1 keeps the run directories to look at (figures, report). */
  if (g_getenv ("TEST_COMPARE_KEEP"))
    g_test_message ("kept %s", f->dir);
  else
    lm_test_rmtree (f->dir);
  g_free (f->dir);
  g_free (f->run_dir);
  g_free (f->ini);
}

typedef struct {
  guint starts, reused, finished, failed, phases;
} Counts;

static void
count_events (const LmCompareEvent *ev, gpointer user_data)
{
  Counts *c = user_data;
  if (ev->kind == LM_COMPARE_EVENT_RUN_START)
    c->starts++;
  else if (ev->kind == LM_COMPARE_EVENT_PHASE)
    c->phases++;
  else if (ev->kind == LM_COMPARE_EVENT_RUN_END)
    {
      c->reused += ev->outcome->status == LM_RUN_REUSED;
      c->finished += ev->outcome->status == LM_RUN_FINISHED;
      c->failed += ev->outcome->status == LM_RUN_FAILED;
    }
}

static LmComparison *
compare (Fixture *f, LmExperiment *e, Counts *counts, GError **error)
{
  LmCompareHooks hooks = { count_events, NULL, NULL, counts, NULL, FALSE };
  memset (counts, 0, sizeof *counts);
  LmComparison *c = NULL;
  if (!lm_compare_run (e, f->run_dir, &hooks, &c, error))
    return NULL;
  return c;
}

static const LmCompareRun *
find_run (const LmComparison *c, const char *name)
{
  for (guint i = 0; i < c->runs->len; i++)
    if (g_str_equal (((LmCompareRun *) c->runs->pdata[i])->run->name, name))
      return c->runs->pdata[i];
  g_assert_not_reached ();
}

static gboolean
exists (const char *dir, const char *a, const char *b)
{
  g_autofree char *path = g_build_filename (dir, a, b, NULL);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* ---- experiment files ------------------------------------------------------------------- */

static void
test_experiment_parse (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmExperiment) e = lm_experiment_load (f->ini, &parse_options, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (e->name, ==, "exp");
  g_assert_cmpuint (e->runs->len, ==, 3);
  g_assert_cmpint (e->level, ==, LM_LEVEL_WORD);
  g_autofree char *train = g_build_filename (f->dir, "train.txt", NULL);
  g_assert_cmpstr (e->train_path, ==, train);
  LmExperimentRun *bi = e->runs->pdata[1], *neural = e->runs->pdata[2];
  g_assert_true (bi->klass == &test_bigram_class);
  g_assert_cmpfloat (lm_config_get_double (bi->config, "alpha"), ==, 0.5);
  g_assert_cmpint (lm_config_get_int (bi->config, "seed"), ==, 3);
  /* The [experiment] default steps = 40 reaches the gradient run, not the count runs. */
  g_assert_false (lm_config_has (bi->config, "steps"));
  g_assert_cmpint (lm_config_get_int (neural->config, "steps"), ==, 40);
  g_assert_cmpint (lm_config_get_int (neural->config, "batch"), ==, 4);
  /* Defaults filled; origins name file and line. */
  g_assert_cmpfloat (lm_config_get_double (neural->config, "clip"), ==, 5);
  g_autofree char *origin = g_strdup_printf ("%s:23", f->ini);
  g_assert_cmpstr (lm_config_origin (neural->config, "lr"), ==, origin);
  /* Interpolate defaults to every scoring run. */
  g_assert_cmpuint (g_strv_length (e->interpolate), ==, 3);

  /* The experiment as run reads back to the same configuration. */
  g_autofree char *ini = lm_experiment_to_ini (e);
  g_autofree char *path = lm_test_write (f->dir, "again.ini", ini, -1);
  g_autoptr (LmExperiment) again = lm_experiment_load (path, &parse_options, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (again->runs->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *a = lm_config_to_text (((LmExperimentRun *) e->runs->pdata[i])->config);
      g_autofree char *b = lm_config_to_text (((LmExperimentRun *) again->runs->pdata[i])->config);
      g_assert_cmpstr (a, ==, b);
    }
}

typedef struct {
  const char *text;   /* appended to a valid [experiment] group of 3 lines */
  int line;           /* the line the error must name */
  const char *words;  /* and a phrase of the message */
} BadCase;

static void
test_experiment_errors (Fixture *f, gconstpointer data)
{
  static const BadCase cases[] = {
    { "[runs x]\nmodel = test-unigram\n", 4, "unknown group" },
    { "[run x]\nmodel = lstmm\n", 5, "unknown model 'lstmm'" },
    { "[run x]\nmodel = test-grad\nbatchh = 3\n", 6, "unknown key 'batchh'" },
    { "[run x]\nmodel = test-grad\nbatch = three\n", 6, "batch" },
    { "[run x]\nmodel = test-grad\nlr = -1\n", 6, "out of range" },
    { "[run x]\nmodel = test-grad\nseconds = 0\n", 6, "budget" },
    { "[run x]\nmodel = test-grad\nsteps = 0\n", 6, "budget" },
    { "[run x]\nmodel = test-unigram\nalpha = 1\nalpha = 2\n", 7, "set twice" },
    { "[run x]\nmodel = test-unigram\nthis is not a pair\n", 6, "key = value" },
    { "[run x]\nhidden = 3\n", 4, "needs a model" },
    { "[run x]\nmodel = test-unigram\n[run x]\nmodel = test-bigram\n", 6, "appears twice" },
    { "colour = blue\n[run x]\nmodel = test-unigram\n", 4, "unknown key 'colour'" },
    { "level = syllable\n[run x]\nmodel = test-unigram\n", 4, "level" },
    { "interpolate = x, y\n[run x]\nmodel = test-unigram\n", 4, "'y'" },
    { "valid = nowhere.txt\n[run x]\nmodel = test-unigram\n", 4, "not found" },
    { "[run x\nmodel = test-unigram\n", 4, "[name]" },
    { "[run interpolated]\nmodel = test-unigram\n", 4, "taken by the mixture" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = g_strdup_printf ("[experiment]\ntrain = train.txt\nseed = 1\n%s",
                                               cases[i].text);
      g_autofree char *path = lm_test_write (f->dir, "bad.ini", text, -1);
      g_autoptr (GError) error = NULL;
      g_autoptr (LmExperiment) e = lm_experiment_load (path, &parse_options, &error);
      g_assert_null (e);
      g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
      g_autofree char *where = g_strdup_printf ("%s:%d:", path, cases[i].line);
      if (strstr (error->message, where) == NULL || strstr (error->message, cases[i].words) == NULL)
        g_error ("case %zu: expected '%s' and '%s' in: %s", i, where, cases[i].words,
                 error->message);
    }
  /* A missing train file, a missing [experiment] group. */
  g_autofree char *p1 = lm_test_write (f->dir, "bad1.ini",
                                       "[experiment]\ntrain = missing.txt\n[run x]\nmodel = "
                                       "test-unigram\n", -1);
  g_autoptr (GError) error = NULL;
  g_assert_null (lm_experiment_load (p1, &parse_options, &error));
  g_autofree char *where = g_strdup_printf ("%s:2: train file", p1);
  g_assert_nonnull (strstr (error->message, where));
  g_clear_error (&error);
  g_autofree char *p2 = lm_test_write (f->dir, "bad2.ini", "[run x]\nmodel = test-unigram\n", -1);
  g_assert_null (lm_experiment_load (p2, &parse_options, &error));
  g_assert_nonnull (strstr (error->message, "no [experiment] group"));
}

static void
test_experiment_default (void)
{
  /* The built-in default is examples/kjv-default.ini, byte for byte. */
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "..", "examples", "kjv-default.ini",
                                                 NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, lm_experiment_default_text ());
  /* It parses; families not built in yet become notes, never errors. */
  g_autoptr (GError) error = NULL;
  LmExperimentParseOptions options = { NULL, TRUE };
  g_autoptr (LmExperiment) e = lm_experiment_parse (NULL, lm_experiment_default_text (), &options,
                                                    &error);
  if (e == NULL && g_error_matches (error, LM_ERROR, LM_ERROR_INVALID_CONFIG)
      && (strstr (error->message, "default corpus") || strstr (error->message, "no runs")))
    {
      g_test_skip ("the default corpus or the model families are not available in this build");
      return;
    }
  g_assert_no_error (error);
  g_assert_cmpuint (e->runs->len + e->notes->len, ==, 5);
}

static void
test_experiment_examples (void)
{
  /* Every example parses: keys and values checked against the classes built in (families
   * not built in yet are skipped). B1 and B2 need the shared corpora. */
  const char *names[] = { "kjv-default.ini", "b1-tinyshakespeare.ini", "b2-ptb.ini",
                          "ngram-pruning.ini" };
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_test_build_filename (G_TEST_DIST, "..", "examples", names[i],
                                                     NULL);
      g_autoptr (GError) error = NULL;
      LmExperimentParseOptions options = { NULL, TRUE };
      g_autoptr (LmExperiment) e = lm_experiment_load (path, &options, &error);
      if (e == NULL && error->code == LM_ERROR_INVALID_CONFIG
          && (strstr (error->message, "not found") || strstr (error->message, "default corpus")
              || strstr (error->message, "no runs")))
        {
          /* The corpus is not here, or the file's path does not reach the shared folder
           * from this source tree (a worktree elsewhere). */
          g_test_message ("%s not checked: %s", names[i], error->message);
          continue;
        }
      g_assert_no_error (error);
      g_assert_cmpuint (e->runs->len + e->notes->len, >=, 5);
    }
}

/* ---- interpolation ------------------------------------------------------------------------ */

static void
test_interpolate_em (void)
{
  /* Model a gives the three tokens 0.6, 0.6, 0.1; model b 0.2, 0.2, 0.5. The held-out
   * log-likelihood f(l) = 2 ln(0.2 + 0.4 l) + ln(0.5 - 0.4 l) has f'(l) = 0 at
   * 0.8 / (0.2 + 0.4 l) = 0.4 / (0.5 - 0.4 l), i.e. l = 2/3: the mixture gives 7/15, 7/15
   * and 7/30. */
  double a[] = { log (0.6), log (0.6), log (0.1) };
  double b[] = { log (0.2), log (0.2), log (0.5) };
  const double *lp[] = { a, b };
  double w[2];
  guint it = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_interpolate_em (lp, 2, 3, 1e-12, 10000, w, &it, &error));
  g_assert_cmpfloat_with_epsilon (w[0], 2.0 / 3, 1e-5);
  g_assert_cmpfloat_with_epsilon (w[1], 1.0 / 3, 1e-5);
  g_assert_cmpuint (it, >, 1);
  double exact[] = { 2.0 / 3, 1.0 / 3 };
  double nats = -(2 * log (7.0 / 15) + log (7.0 / 30)) / 3;
  g_assert_cmpfloat_with_epsilon (lm_interpolate_nats (lp, 2, 3, exact), nats, 1e-12);
  /* No mixture is worse than its best component on the tokens it was tuned on. */
  double only_a[] = { 1, 0 };
  g_assert_cmpfloat (lm_interpolate_nats (lp, 2, 3, w), <=, lm_interpolate_nats (lp, 2, 3, only_a));

  /* Tiny probabilities do not underflow: shift both models by e^-800. */
  double a2[3], b2[3];
  for (int i = 0; i < 3; i++)
    a2[i] = a[i] - 800, b2[i] = b[i] - 800;
  const double *lp2[] = { a2, b2 };
  g_assert_true (lm_interpolate_em (lp2, 2, 3, 1e-12, 10000, w, NULL, &error));
  g_assert_cmpfloat_with_epsilon (w[0], 2.0 / 3, 1e-5);

  /* Refusals. */
  double bad[] = { log (0.5), NAN, log (0.5) };
  const double *lp3[] = { a, bad };
  g_assert_false (lm_interpolate_em (lp3, 2, 3, 1e-9, 10, w, NULL, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  g_assert_false (lm_interpolate_em (lp, 1, 3, 1e-9, 10, w, NULL, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
}

/* ---- results files ---------------------------------------------------------------------- */

static void
test_result_round_trip (Fixture *f, gconstpointer data)
{
  LmRunResult r;
  lm_run_result_init (&r);
  r.name = g_strdup ("a \"quoted\"\tname ü");
  r.model = g_strdup ("test");
  r.params = 123456789012;
  r.test.tokens = 77;
  r.test.n_classes = 5;
  r.has_test = TRUE;
  r.test.perplexity = 0.1 + 0.2;
  r.bleu = NAN;
  g_autofree char *path = g_build_filename (f->dir, "result.json", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_run_result_save (&r, path, &error));
  LmRunResult back;
  g_assert_true (lm_run_result_load (&back, path, &error));
  g_assert_cmpstr (back.name, ==, r.name);
  g_assert_cmpint (back.params, ==, r.params);
  g_assert_cmpuint (back.test.tokens, ==, 77);
  g_assert_cmpuint (back.test.n_classes, ==, 5);
  g_assert_true (back.has_test);
  g_assert_cmpfloat (back.test.perplexity, ==, r.test.perplexity);
  g_assert_true (isnan (back.bleu));
  g_assert_null (back.summary);
  lm_run_result_clear (&r);
  lm_run_result_clear (&back);

  g_autofree char *broken = lm_test_write (f->dir, "broken.json", "{\"name\": \"x\", ", -1);
  g_assert_false (lm_run_result_load (&back, broken, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_CORRUPT);

  double lp[] = { -1.5, -0.25, -3 };
  g_autofree char *lnp = g_build_filename (f->dir, "x.lnp", NULL);
  g_clear_error (&error);
  g_assert_true (lm_logprobs_save (lnp, lp, 3, &error));
  gsize n = 0;
  g_autofree double *back_lp = lm_logprobs_load (lnp, &n, &error);
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpmem (back_lp, sizeof lp, lp, sizeof lp);
}

static void
test_select_sentences (void)
{
  /* Lines of 3, 1, 5 and 4 tokens (without </s>); prompt 2: lines 0, 2, 3 qualify. */
  LmVocab *vocab = lm_vocab_build (LM_LEVEL_WORD, "a b c\n", 6, &(LmVocabLimits) { 1, 0 });
  gint32 a = lm_vocab_lookup (vocab, "a", 1);
  gint32 t[] = { a, a, a, 1, a, 1, a, a, a, a, a, 1, a, a, a, a, 1 };
  LmTokenStream stream = { t, G_N_ELEMENTS (t), 0, 0, 4 };
  g_autoptr (GArray) all = lm_compare_select_sentences (vocab, &stream, 2, 10);
  g_assert_cmpuint (all->len, ==, 3);
  g_assert_cmpuint (g_array_index (all, LmSentenceSpan, 0).start, ==, 0);
  g_assert_cmpuint (g_array_index (all, LmSentenceSpan, 0).length, ==, 3);
  g_assert_cmpuint (g_array_index (all, LmSentenceSpan, 1).start, ==, 6);
  g_assert_cmpuint (g_array_index (all, LmSentenceSpan, 1).length, ==, 5);
  g_assert_cmpuint (g_array_index (all, LmSentenceSpan, 2).start, ==, 12);
  g_autoptr (GArray) two = lm_compare_select_sentences (vocab, &stream, 2, 2);
  g_assert_cmpuint (two->len, ==, 2);
  g_assert_cmpuint (g_array_index (two, LmSentenceSpan, 1).start, ==, 6);
  lm_vocab_unref (vocab);
}

/* ---- running ------------------------------------------------------------------------------ */

static gsize
count_utf8_chars (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  return g_utf8_strlen (text, -1);
}

static void
test_run_basic (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmExperiment) e = lm_experiment_load (f->ini, &parse_options, &error);
  g_assert_no_error (error);
  Counts counts;
  g_autoptr (LmComparison) c = compare (f, e, &counts, &error);
  g_assert_no_error (error);
  g_assert_nonnull (c);
  g_assert_false (c->cancelled);
  g_assert_cmpuint (counts.finished, ==, 3);
  g_assert_cmpuint (counts.starts, ==, 3);
  /* Phase events happen in the children, so the parent counts none. */
  g_assert_cmpuint (counts.phases, ==, 0);

  const LmRunResult *uni = lm_compare_run_result (find_run (c, "uni"));
  const LmRunResult *bi = lm_compare_run_result (find_run (c, "bi"));
  const LmRunResult *neural = lm_compare_run_result (find_run (c, "neural"));
  g_assert_nonnull (uni);
  g_assert_nonnull (bi);
  g_assert_nonnull (neural);
  /* Every run scored the same test tokens. */
  g_assert_cmpuint (uni->test.tokens, ==, c->corpus.tokens[LM_PART_TEST]);
  g_assert_cmpuint (bi->test.tokens, ==, uni->test.tokens);
  g_assert_cmpuint (neural->test.tokens, ==, uni->test.tokens);
  g_assert_cmpfloat (bi->test.perplexity, <, uni->test.perplexity);
  g_assert_cmpint (neural->steps, ==, 40);
  g_assert_cmpfloat (neural->peak_rss_mib, >, 0);
  g_assert_cmpint (uni->model_file_bytes, >, 0);
  /* each run's result.json holds the peak RSS the summary shows (the larger of the
   * run's own measure and the kernel's over the whole child) */
  const LmRunResult *all[] = { uni, bi, neural };
  const char *names[] = { "uni", "bi", "neural" };
  for (int k = 0; k < 3; k++)
    {
      g_autofree char *path = g_build_filename (f->run_dir, "runs", names[k], "result.json",
                                                NULL);
      LmRunResult saved;
      lm_run_result_init (&saved);
      g_assert_true (lm_run_result_load (&saved, path, &error));
      g_assert_cmpfloat (saved.peak_rss_mib, ==, all[k]->peak_rss_mib);
      lm_run_result_clear (&saved);
    }

  /* bits/char = total nats / ln 2 / characters of the test file (newlines included). */
  gsize chars = count_utf8_chars (f->dir, "test.txt");
  g_assert_cmpuint (bi->test.characters, ==, chars);
  g_assert_cmpfloat_with_epsilon (bi->test.bits_per_char, bi->test.total_nats / G_LN2 / chars,
                                  1e-12);
  /* The unigram always predicts the most frequent training token, so its top-1 accuracy
   * is that token's share of the test tokens: count it by hand. */
  g_autofree char *train_path = g_build_filename (f->dir, "train.txt", NULL);
  g_autofree char *test_path = g_build_filename (f->dir, "test.txt", NULL);
  g_autofree char *train = NULL, *test = NULL;
  g_assert_true (g_file_get_contents (train_path, &train, NULL, NULL));
  g_assert_true (g_file_get_contents (test_path, &test, NULL, NULL));
  LmVocab *vocab = lm_vocab_build (LM_LEVEL_WORD, train, strlen (train), &(LmVocabLimits) { 1, 0 });
  gsize n = 0;
  g_autofree gint32 *ids = lm_vocab_encode (vocab, test, strlen (test), &n, NULL, NULL);
  gint32 top = LM_N_SPECIAL; /* ids after the specials are sorted by count */
  if (lm_vocab_count (vocab, LM_TOKEN_EOS) >= lm_vocab_count (vocab, top))
    top = LM_TOKEN_EOS;
  gsize hits = 0;
  for (gsize i = 0; i < n; i++)
    hits += ids[i] == top;
  g_assert_cmpfloat_with_epsilon (uni->test.top1_accuracy, (double) hits / n, 1e-12);
  lm_vocab_unref (vocab);

  /* Generation: 20 prompts, and the samples file. */
  g_assert_cmpint (bi->gen_sentences, ==, 20);
  g_assert_true (exists (f->run_dir, "runs", "bi/samples.tsv"));
  g_assert_true (exists (f->run_dir, "runs", "neural/metrics.tsv"));
  g_assert_true (exists (f->run_dir, "runs", "neural/model.ckpt"));
  g_assert_false (exists (f->run_dir, "runs", "neural/train.ckpt"));

  /* Interpolation: tuned on valid, no worse there than its best component. */
  g_assert_nonnull (c->interpolation);
  g_assert_null (c->interpolation->error);
  double best = MIN (uni->valid.nats_per_token,
                     MIN (bi->valid.nats_per_token, neural->valid.nats_per_token));
  g_assert_cmpfloat (c->interpolation->valid_nats_per_token, <=, best + 1e-6);
  double sum = 0;
  for (guint k = 0; k < c->interpolation->n; k++)
    sum += c->interpolation->weights[k];
  g_assert_cmpfloat_with_epsilon (sum, 1, 1e-9);

  /* Figures and report. */
  g_autoptr (GArray) figures = NULL;
  g_assert_true (lm_figures_write (c, &figures, &error));
  g_assert_cmpuint (figures->len, ==, 7);
  for (guint i = 0; i < figures->len; i++)
    {
      const LmFigure *fig = &g_array_index (figures, LmFigure, i);
      g_autofree char *gp = g_strdup_printf ("%s.gp", fig->name);
      g_autofree char *dat = g_strdup_printf ("%s.dat", fig->name);
      g_assert_true (exists (f->run_dir, "figures", gp));
      g_assert_true (exists (f->run_dir, "figures", dat));
    }
  LmReportOptions options = { "lmlab compare exp.ini", figures, FALSE };
  g_assert_true (lm_report_write (c, &options, &error));
  const char *files[] = { "summary.tsv", "summary.json", "summary.md", "samples.md", "report.md",
                          "report.html", "environment.json", "experiment.ini", "corpus.json",
                          "interpolation.json" };
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
    g_assert_true (exists (f->run_dir, files[i], NULL));
  g_autofree char *tsv_path = g_build_filename (f->run_dir, "summary.tsv", NULL);
  g_autofree char *tsv = NULL;
  g_assert_true (g_file_get_contents (tsv_path, &tsv, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (tsv, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 6); /* header, 3 runs, mixture, "" */
  g_assert_true (g_str_has_prefix (lines[2], "bi\ttest-bigram\tfinished\t"));
  g_assert_nonnull (strstr (lines[0], "test_bits_per_char"));
  g_autofree char *report_path = g_build_filename (f->run_dir, "report.md", NULL);
  g_autofree char *report = NULL;
  g_assert_true (g_file_get_contents (report_path, &report, NULL, NULL));
  g_assert_nonnull (strstr (report, "![Test perplexity](figures/test-perplexity.png)"));
  g_assert_nonnull (strstr (report, "| bi (test-bigram) |"));
  g_autofree char *table = lm_report_text_table (c);
  g_assert_nonnull (strstr (table, "neural (test-grad)"));
  /* the header and the three runs' rows line up, however long a run's name */
  g_auto (GStrv) rows = g_strsplit (table, "\n", -1);
  g_assert_cmpuint (g_strv_length (rows), >=, 4);
  for (int i = 1; i < 4; i++)
    g_assert_cmpuint (strlen (rows[i]), ==, strlen (rows[0]));

  /* Rendering, when gnuplot is here. */
  g_autofree char *gnuplot = lm_figures_gnuplot ();
  if (gnuplot)
    {
      guint rendered = 0;
      g_assert_true (lm_figures_render (f->run_dir, &rendered, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (rendered, ==, 7);
      for (guint i = 0; i < figures->len; i++)
        for (int k = 0; k < 2; k++)
          {
            const LmFigure *fig = &g_array_index (figures, LmFigure, i);
            g_autofree char *file = g_strdup_printf ("%s/figures/%s.%s", f->run_dir, fig->name,
                                                     k ? "svg" : "png");
            GStatBuf st;
            g_assert_cmpint (g_stat (file, &st), ==, 0);
            g_assert_cmpint (st.st_size, >, 1000);
          }
    }
  else
    g_test_message ("gnuplot not found: rendering not tested");

  /* The same experiment again: everything is reused, nothing retrained. */
  g_autoptr (LmComparison) again = compare (f, e, &counts, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (counts.reused, ==, 3);
  g_assert_cmpuint (counts.starts, ==, 0);
  g_assert_cmpfloat (lm_compare_run_result (find_run (again, "bi"))->test.perplexity, ==,
                     bi->test.perplexity);
}

static void
test_run_mismatch (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *one = g_strdup_printf ("[experiment]\ntrain = train.txt\nvalid = valid.txt\n"
                                          "test = test.txt\n%s\n[run uni]\nmodel = test-unigram\n",
                                          (const char *) data);
  g_autofree char *p1 = lm_test_write (f->dir, "one.ini", one, -1);
  g_autoptr (LmExperiment) e1 = lm_experiment_load (p1, &parse_options, &error);
  g_assert_no_error (error);
  Counts counts;
  g_autoptr (LmComparison) c1 = compare (f, e1, &counts, &error);
  g_assert_no_error (error);

  /* Another vocabulary (rare words cut) into the same directory: refused. */
  g_autofree char *two = g_strdup_printf ("[experiment]\ntrain = train.txt\nvalid = valid.txt\n"
                                          "test = test.txt\nmax_vocab = 8\n[run uni]\nmodel = "
                                          "test-unigram\n");
  g_autofree char *p2 = lm_test_write (f->dir, "two.ini", two, -1);
  g_autoptr (LmExperiment) e2 = lm_experiment_load (p2, &parse_options, &error);
  g_assert_no_error (error);
  g_autoptr (LmComparison) c2 = compare (f, e2, &counts, &error);
  g_assert_null (c2);
  g_assert_error (error, LM_ERROR, LM_ERROR_MISMATCH);
  g_assert_nonnull (strstr (error->message, "vocabulary"));
  g_clear_error (&error);

  /* A result copied in from a comparison of another vocabulary: refused too. */
  g_autofree char *result = g_build_filename (f->run_dir, "runs", "uni", "result.json", NULL);
  LmRunResult r;
  g_assert_true (lm_run_result_load (&r, result, &error));
  g_free (r.vocab_fingerprint);
  r.vocab_fingerprint = g_strdup ("0123456789abcdef");
  g_assert_true (lm_run_result_save (&r, result, &error));
  lm_run_result_clear (&r);
  g_autoptr (LmComparison) c3 = compare (f, e1, &counts, &error);
  g_assert_null (c3);
  g_assert_error (error, LM_ERROR, LM_ERROR_MISMATCH);
  g_clear_error (&error);

  /* A run whose hyperparameters changed: refused, with the difference named. */
  g_autofree char *changed = g_strdup_printf ("[experiment]\ntrain = train.txt\nvalid = "
                                              "valid.txt\ntest = test.txt\n[run uni]\nmodel = "
                                              "test-unigram\nalpha = 2\n");
  g_autofree char *p3 = lm_test_write (f->dir, "three.ini", changed, -1);
  g_autoptr (LmExperiment) e3 = lm_experiment_load (p3, &parse_options, &error);
  g_assert_no_error (error);
  g_autoptr (LmComparison) c4 = compare (f, e3, &counts, &error);
  g_assert_null (c4);
  g_assert_error (error, LM_ERROR, LM_ERROR_MISMATCH);
  g_assert_nonnull (strstr (error->message, "alpha=2"));
}

static void
test_run_resume (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmExperiment) e = lm_experiment_load (f->ini, &parse_options, &error);
  g_assert_no_error (error);
  /* The gradient run is interrupted at its 17th step, as by Ctrl-C. */
  g_setenv ("LM_TEST_INTERRUPT_AT", "17", TRUE);
  Counts counts;
  g_autoptr (LmComparison) first = compare (f, e, &counts, &error);
  g_unsetenv ("LM_TEST_INTERRUPT_AT");
  g_assert_no_error (error);
  g_assert_true (first->cancelled);
  g_assert_cmpuint (counts.finished, ==, 2);
  g_assert_cmpint (find_run (first, "neural")->status, ==, LM_RUN_PENDING);
  g_assert_true (exists (f->run_dir, "runs", "neural/train.ckpt"));
  g_assert_false (exists (f->run_dir, "runs", "neural/result.json"));
  g_assert_null (first->interpolation);

  /* Again: the finished runs are reused and the interrupted one resumes. */
  g_autoptr (LmComparison) second = compare (f, e, &counts, &error);
  g_assert_no_error (error);
  g_assert_false (second->cancelled);
  g_assert_cmpuint (counts.reused, ==, 2);
  g_assert_cmpuint (counts.finished, ==, 1);
  const LmRunResult *neural = lm_compare_run_result (find_run (second, "neural"));
  g_assert_nonnull (neural);
  g_assert_true (neural->resumed);
  g_assert_cmpint (neural->steps, ==, 40);
  g_assert_nonnull (second->interpolation);

  /* The metrics log holds each logged step once (resume trimmed the rows after the
   * checkpoint). */
  g_autofree char *tsv_path = g_build_filename (f->run_dir, "runs", "neural", "metrics.tsv", NULL);
  g_autofree char *tsv = NULL;
  g_assert_true (g_file_get_contents (tsv_path, &tsv, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (tsv, "\n", -1);
  gint64 last = -1;
  for (int i = 1; lines[i] && lines[i][0]; i++)
    if (strstr (lines[i], "\tstep"))
      {
        gint64 step = g_ascii_strtoll (lines[i], NULL, 10);
        g_assert_cmpint (step, >, last);
        last = step;
      }
}

static void
test_run_crash (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = g_strdup (
      "[experiment]\ntrain = train.txt\nvalid = valid.txt\ntest = test.txt\n"
      "[run broken]\nmodel = test-unigram\ncrash = true\n"
      "[run fine]\nmodel = test-bigram\n");
  g_autofree char *path = lm_test_write (f->dir, "crash.ini", text, -1);
  g_autoptr (LmExperiment) e = lm_experiment_load (path, &parse_options, &error);
  g_assert_no_error (error);
  Counts counts;
  g_autoptr (LmComparison) c = compare (f, e, &counts, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (counts.failed, ==, 1);
  g_assert_cmpuint (counts.finished, ==, 1);
  const LmCompareRun *broken = find_run (c, "broken");
  g_assert_cmpint (broken->status, ==, LM_RUN_FAILED);
  g_assert_nonnull (strstr (broken->error, "crashed"));
  g_assert_false (exists (f->run_dir, "runs", "broken/result.json"));
  /* The interpolation names what is missing instead of inventing numbers. */
  g_assert_nonnull (c->interpolation);
  g_assert_nonnull (c->interpolation->error);
  g_assert_true (isnan (c->interpolation->test_perplexity));
  /* The report still comes out, with the failure in its notes. */
  g_assert_true (lm_report_write (c, NULL, &error));
  g_autofree char *report_path = g_build_filename (f->run_dir, "report.md", NULL);
  g_autofree char *report = NULL;
  g_assert_true (g_file_get_contents (report_path, &report, NULL, NULL));
  g_assert_nonnull (strstr (report, "run 'broken' failed"));
}

/* Checks that need a model or the data (here: a validation text shorter than one window)
 * are made for every run after the corpus is loaded and before the first run trains: the
 * error names the run's file and line, and nothing has been trained or written. */
static void
test_run_checks_up_front (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = g_strdup (
      "[experiment]\ntrain = train.txt\nvalid = valid.txt\ntest = test.txt\nsteps = 5\n"
      "[run first]\nmodel = test-bigram\n"
      "[run wide]\nmodel = test-grad\nbatch = 2\ncontext = 1000\n");
  g_autofree char *path = lm_test_write (f->dir, "late.ini", text, -1);
  g_autoptr (LmExperiment) e = lm_experiment_load (path, &parse_options, &error);
  g_assert_no_error (error);
  Counts counts;
  g_autoptr (LmComparison) c = compare (f, e, &counts, &error);
  g_assert_null (c);
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
  g_autofree char *where = g_strdup_printf ("%s:8: run 'wide': ", path);
  g_assert_nonnull (strstr (error->message, where));
  g_assert_nonnull (strstr (error->message, "validation text"));
  g_assert_cmpuint (counts.starts, ==, 0);
  g_assert_false (g_file_test (f->run_dir, G_FILE_TEST_EXISTS));
}

/* ---- the command ------------------------------------------------------------------------- */

static int
run_lmlab (const char *const *args, char **err)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  const char *bin = g_getenv ("LMLAB_BIN");
  g_assert_nonnull (bin);
  g_ptr_array_add (argv, (char *) bin);
  for (int i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                err, &status, &error);
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

static void
test_cli_errors (Fixture *f, gconstpointer data)
{
  /* The command's registry knows none of the test classes: an unknown model, with its
   * line, exit status 2 and no run directory left behind. */
  g_autofree char *err = NULL;
  const char *args[] = { "compare", f->ini, "-o", f->run_dir, NULL };
  g_assert_cmpint (run_lmlab (args, &err), ==, 2);
  g_autofree char *where = g_strdup_printf ("%s:13:", f->ini);
  g_assert_nonnull (strstr (err, where));
  g_assert_nonnull (strstr (err, "unknown model 'test-unigram'"));
  g_assert_false (g_file_test (f->run_dir, G_FILE_TEST_EXISTS));
  g_clear_pointer (&err, g_free);

  const char *missing[] = { "compare", "/nonexistent/exp.ini", NULL };
  g_assert_cmpint (run_lmlab (missing, &err), ==, 2);
  g_assert_nonnull (strstr (err, "/nonexistent/exp.ini"));
  g_clear_pointer (&err, g_free);

  const char *plot[] = { "plot", f->dir, NULL };
  g_assert_cmpint (run_lmlab (plot, &err), ==, 2);
  g_assert_nonnull (strstr (err, "no figures folder"));
  g_clear_pointer (&err, g_free);

  const char *help[] = { "compare", "--help", NULL };
  g_assert_cmpint (run_lmlab (help, &err), ==, 0);
}

/* A class's own check (a transformer's heads must divide d) fails the command with exit
 * status 2 and the run's line before the n-gram run ahead of it is trained. */
static void
test_cli_checks_up_front (Fixture *f, gconstpointer data)
{
  g_autofree char *text = g_strdup (
      "[experiment]\ntrain = train.txt\nvalid = valid.txt\ntest = test.txt\nthreads = 1\n"
      "[run counts]\nmodel = ngram\norder = 2\n"
      "[run attention]\nmodel = transformer\nlayers = 1\nheads = 3\nd = 8\n"
      "context = 4\nsteps = 2\n");
  g_autofree char *path = lm_test_write (f->dir, "heads.ini", text, -1);
  g_autofree char *err = NULL;
  const char *args[] = { "compare", path, "-o", f->run_dir, "--no-plot", NULL };
  g_assert_cmpint (run_lmlab (args, &err), ==, 2);
  g_autofree char *where = g_strdup_printf ("%s:9: run 'attention': ", path);
  if (strstr (err, where) == NULL || strstr (err, "heads=3 does not divide d=8") == NULL)
    g_error ("expected '%s' and the heads/d rule in: %s", where, err);
  g_assert_null (strstr (err, "model 1/2"));
  g_assert_false (g_file_test (f->run_dir, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/compare/experiment/parse", Fixture, NULL, fixture_setup, test_experiment_parse,
              fixture_teardown);
  g_test_add ("/compare/experiment/errors", Fixture, NULL, fixture_setup, test_experiment_errors,
              fixture_teardown);
  g_test_add_func ("/compare/experiment/default", test_experiment_default);
  g_test_add_func ("/compare/experiment/examples", test_experiment_examples);
  g_test_add_func ("/compare/interpolate/em", test_interpolate_em);
  g_test_add ("/compare/result/round-trip", Fixture, NULL, fixture_setup, test_result_round_trip,
              fixture_teardown);
  g_test_add_func ("/compare/select-sentences", test_select_sentences);
  g_test_add ("/compare/run/basic", Fixture, NULL, fixture_setup, test_run_basic,
              fixture_teardown);
  g_test_add ("/compare/run/mismatch", Fixture, "", fixture_setup, test_run_mismatch,
              fixture_teardown);
  g_test_add ("/compare/run/resume", Fixture, NULL, fixture_setup, test_run_resume,
              fixture_teardown);
  g_test_add ("/compare/run/crash", Fixture, NULL, fixture_setup, test_run_crash,
              fixture_teardown);
  g_test_add ("/compare/cli/errors", Fixture, NULL, fixture_setup, test_cli_errors,
              fixture_teardown);
  g_test_add ("/compare/run/checks-up-front", Fixture, NULL, fixture_setup,
              test_run_checks_up_front, fixture_teardown);
  g_test_add ("/compare/cli/checks-up-front", Fixture, NULL, fixture_setup,
              test_cli_checks_up_front, fixture_teardown);
  return g_test_run ();
}
