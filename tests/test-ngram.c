/* test-ngram.c — the n-gram models: hand-computed probabilities, normalisation, ARPA
 * round trips and bad input, save/load, pruning, and KenLM's perplexities on PTB and
 * tinyshakespeare (skipped without ../shared/data). Fixtures: tests/data/ngram/README.md. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-corpus.h"
#include "core/lm-error.h"
#include "core/lm-eval.h"
#include "core/lm-memory.h"
#include "core/lm-registry.h"
#include "core/lm-rng.h"
#include "ngram/lm-ngram-estimate.h"
#include "ngram/lm-ngram-table.h"
#include "ngram/lm-ngram.h"
#include "tests/lm-test-util.h"

/* ---- helpers ------------------------------------------------------------------------ */

static LmVocab *
word_vocab (const char *text)
{
  return lm_vocab_build (LM_LEVEL_WORD, text, strlen (text), NULL);
}

static gint32 *
encode (const LmVocab *vocab, const char *text, gsize *n)
{
  gsize oov, chars;
  return lm_vocab_encode (vocab, text, strlen (text), n, &oov, &chars);
}

static LmModel *
fit_model (LmVocab *vocab, const char *text, const char *const *settings, GError **error)
{
  g_autoptr (LmConfig) config = lm_config_new ();
  for (int i = 0; settings && settings[i]; i++)
    if (!lm_config_set_assignment (config, settings[i], "test", error))
      return NULL;
  g_autoptr (LmModel) model = lm_model_new (&lm_ngram_class, config, vocab, error);
  if (model == NULL)
    return NULL;
  gsize n;
  g_autofree gint32 *tokens = encode (vocab, text, &n);
  if (!lm_model_fit (model, tokens, n, NULL, NULL, error))
    return NULL;
  return g_steal_pointer (&model);
}

static LmModel *
fit_ok (LmVocab *vocab, const char *text, const char *const *settings)
{
  GError *error = NULL;
  LmModel *model = fit_model (vocab, text, settings, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);
  return model;
}

/* p(word | <s> history...) through the streaming interface. */
static double
stream_prob (LmModel *model, const char *const *history, const char *word)
{
  const LmModelClass *k = model->klass;
  LmState *state = k->state_new (model);
  k->state_begin (model, state);
  for (int i = 0; history[i]; i++)
    k->state_step (model, state, lm_vocab_lookup (model->vocab, history[i], strlen (history[i])));
  guint32 V = lm_model_vocab_size (model);
  g_autofree float *lp = g_new (float, V);
  k->state_logprobs (model, state, lp);
  k->state_free (model, state);
  return exp (lp[lm_vocab_lookup (model->vocab, word, strlen (word))]);
}

/* Pseudo-text: a few hundred sentences over a Zipf-like vocabulary with some Markov
 * structure, deterministic. */
static char *
make_text (guint64 seed, int n_sentences, int n_words)
{
  LmRng rng;
  lm_rng_seed (&rng, seed);
  GString *out = g_string_new (NULL);
  int prev = 0;
  for (int s = 0; s < n_sentences; s++)
    {
      int len = 1 + (int) lm_rng_below (&rng, 12);
      for (int i = 0; i < len; i++)
        {
          double u = lm_rng_double (&rng);
          int w = (int) (n_words * u * u * u);
          if (lm_rng_double (&rng) < 0.4)
            w = (prev * 7 + 3) % n_words; /* a favourite successor */
          g_string_append_printf (out, "%sw%d", i ? " " : "", w);
          prev = w;
        }
      g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}

static char *
data_path (const char *name)
{
  return g_test_build_filename (G_TEST_DIST, "data", "ngram", name, NULL);
}

/* ---- hand-computed probabilities ------------------------------------------------------ */

static void
test_hand (void)
{
  g_autofree char *path = data_path ("tiny.txt");
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_autoptr (LmVocab) vocab = word_vocab (text);
  const char *a[] = { "a", NULL };
  struct {
    const char *settings[6];
    const char *word;
    double expected;
  } cases[] = {
    { { "order=2", "smoothing=mle" }, "b", 0.5 },
    { { "order=2", "smoothing=addk", "k=1" }, "b", 17.0 / 54.0 },
    { { "order=2", "smoothing=addk", "k=1", "interpolate=false" }, "b", 1.0 / 3.0 },
    { { "order=2", "smoothing=wb" }, "b", 23.0 / 64.0 },
    { { "order=2", "smoothing=abs", "discount=0.5" }, "b", 0.3375 },
    { { "order=2", "smoothing=kn" }, "b", 0.33125 },
    { { "order=2", "smoothing=kn", "interpolate=false" }, "b", 0.2 },
    { { "order=2", "smoothing=kn", "interpolate=false" }, "a", 0.15 },
    { { "order=2", "smoothing=kn", "interpolate=false" }, "<unk>", 0.45 },
    { { "order=2", "smoothing=mkn" }, "b", 0.375 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (LmModel) model = fit_ok (vocab, text, cases[i].settings);
      double p = stream_prob (model, a, cases[i].word);
      if (fabs (p - cases[i].expected) > 1e-6)
        g_error ("case %u (%s %s): p(%s|a) = %.9f, expected %.9f", i, cases[i].settings[1],
                 cases[i].settings[2] ? cases[i].settings[2] : "", cases[i].word, p,
                 cases[i].expected);
      if (g_str_equal (cases[i].settings[1], "smoothing=mkn"))
        {
          /* Both orders lack adjusted count 3: the fallback is reported. */
          const char *notes = lm_ngram_notes (model);
          g_assert_nonnull (notes);
          g_assert_nonnull (strstr (notes, "order 1"));
          g_assert_nonnull (strstr (notes, "order 2"));
          g_assert_nonnull (strstr (notes, "n3=0"));
        }
    }
  /* MLE: unseen events are impossible, and said to be. */
  const char *b[] = { "b", NULL };
  g_autoptr (LmModel) mle = fit_ok (vocab, text, (const char *[]) { "order=2", "smoothing=mle", NULL });
  g_assert_cmpfloat (stream_prob (mle, b, "</s>"), ==, 1.0);
  g_assert_cmpfloat (stream_prob (mle, b, "a"), ==, 0.0);
}

static void
test_discount_error (void)
{
  g_autoptr (LmVocab) vocab = word_vocab ("a b\na\n");
  GError *error = NULL;
  g_autoptr (LmModel) model = fit_model (vocab, "a b\na\n", (const char *[]) { "order=2",
                                         "discount_fallback=error", NULL }, &error);
  g_assert_null (model);
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "count-of-counts"));
  g_clear_error (&error);
}

/* A corpus too large for the memory available is refused before counting, with a message
 * that says how much it needs; the same corpus counts when the memory is there, and its
 * scoring index is refused and then built the same way. The
 * limit comes from LMLAB_MEMORY_LIMIT (core/lm-memory.h), which caps what the process
 * may grow to: 20 MiB above what it holds now, against ~145 MiB for a million tokens at
 * order 5. */
static void
test_too_big (void)
{
  const gsize n = 1000000;
  const guint32 V = 1000;
  g_autofree gint32 *tokens = g_new (gint32, n);
  LmRng rng;
  lm_rng_seed (&rng, 17);
  for (gsize i = 0; i < n; i++)
    tokens[i] = i % 20 == 19 ? LM_TOKEN_EOS : 3 + (gint32) lm_rng_below (&rng, V - 3);
  LmNgramEstimateParams params;
  lm_ngram_estimate_params_init (&params, 5, LM_SMOOTHING_MKN, V);
  double held = lm_memory_resident ();
  g_assert_cmpfloat (held, >, 0);
  g_autofree gchar *limit = g_strdup_printf ("%.0f", held + 20.0 * 1048576.0);
  g_setenv ("LMLAB_MEMORY_LIMIT", limit, TRUE);
  GError *error = NULL;
  LmNgramTable *table = lm_ngram_estimate (tokens, n, &params, NULL, &error);
  g_unsetenv ("LMLAB_MEMORY_LIMIT");
  g_assert_null (table);
  g_assert_error (error, LM_ERROR, LM_ERROR_NO_MEMORY);
  g_assert_nonnull (strstr (error->message, "of memory available"));
  g_assert_nonnull (strstr (error->message, "1000000 tokens at order 5"));
  g_clear_error (&error);
  table = lm_ngram_estimate (tokens, n, &params, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (table);
  /* the scoring index too: refused under the limit (scoring and loading report it), then
   * built without it */
  g_assert_cmpuint (lm_ngram_table_probe_bytes (table), >, 40 * 1048576);
  held = lm_memory_resident ();
  g_free (limit);
  limit = g_strdup_printf ("%.0f", held + 20.0 * 1048576.0);
  g_setenv ("LMLAB_MEMORY_LIMIT", limit, TRUE);
  gboolean built = lm_ngram_table_prepare (table, &error);
  g_unsetenv ("LMLAB_MEMORY_LIMIT");
  g_assert_false (built);
  g_assert_error (error, LM_ERROR, LM_ERROR_NO_MEMORY);
  g_assert_nonnull (strstr (error->message, "scoring index"));
  g_clear_error (&error);
  g_assert_true (lm_ngram_table_prepare (table, &error));
  g_assert_no_error (error);
  lm_ngram_table_free (table);
}

static void
test_bad_config (void)
{
  g_autoptr (LmVocab) vocab = word_vocab ("a b\n");
  const char *bad[][3] = {
    { "cutoffs=0,2,1", NULL }, { "cutoffs=1", NULL }, { "cutoffs=x", NULL },
    { "discount_fallback=0.5,1", NULL }, { "discount_fallback=2,1,1", NULL },
    { "smoothing=foo", NULL }, { "order=0", NULL }, { "order=21", NULL },
    /* options the chosen smoothing would never read (mkn is the default) */
    { "discount=0.5", NULL }, { "smoothing=kn", "discount=0.5" }, { "k=0.5", NULL },
    { "smoothing=abs", "k=0.5" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      GError *error = NULL;
      g_autoptr (LmConfig) config = lm_config_new ();
      for (int j = 0; j < 3 && bad[i][j]; j++)
        g_assert_true (lm_config_set_assignment (config, bad[i][j], "test", NULL));
      g_autoptr (LmModel) model = lm_model_new (&lm_ngram_class, config, vocab, &error);
      g_assert_null (model);
      g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
      g_clear_error (&error);
    }
  /* A discount_fallback that no estimated discount would use is refused when the model
   * is fitted (where it would act), not when it is made: a model saved with one before
   * lmlab refused it still loads. The defaults written another way are the defaults. */
  const char *unused[][4] = { { "smoothing=wb", "discount_fallback=error" },
                              { "smoothing=abs", "discount=0.5", "discount_fallback=0,0,0" } };
  for (guint i = 0; i < G_N_ELEMENTS (unused); i++)
    {
      GError *error = NULL;
      g_autoptr (LmConfig) config = lm_config_new ();
      for (int j = 0; j < 3 && unused[i][j]; j++)
        g_assert_true (lm_config_set_assignment (config, unused[i][j], "test", NULL));
      g_autoptr (LmModel) made = lm_model_new (&lm_ngram_class, config, vocab, &error);
      g_assert_no_error (error);
      g_assert_nonnull (made);
      g_autoptr (LmModel) fitted = fit_model (vocab, "a b\n", unused[i], &error);
      g_assert_null (fitted);
      g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
      if (strstr (error->message, "applies only where discounts are estimated") == NULL)
        g_error ("case %u: %s", i, error->message);
      g_clear_error (&error);
    }
  g_autoptr (LmModel) spaced = fit_ok (vocab, "a b\n", (const char *[]) { "smoothing=wb",
                                       "discount_fallback=0.5, 1, 1.5", NULL });
  /* and where the fallback does apply, it is taken */
  const char *good[][2] = { { "smoothing=kn", "discount_fallback=error" },
                            { "smoothing=abs", "discount_fallback=0,0,0" } };
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      GError *error = NULL;
      g_autoptr (LmConfig) config = lm_config_new ();
      for (int j = 0; j < 2; j++)
        g_assert_true (lm_config_set_assignment (config, good[i][j], "test", NULL));
      g_autoptr (LmModel) model = lm_model_new (&lm_ngram_class, config, vocab, &error);
      g_assert_no_error (error);
      g_assert_nonnull (model);
    }
}

/* ---- normalisation and consistency ------------------------------------------------------ */

static void
check_distributions (LmModel *model, const gint32 *tokens, gsize n, LmRng *rng)
{
  const LmModelClass *k = model->klass;
  guint32 V = lm_model_vocab_size (model);
  g_autofree float *lp = g_new (float, V);
  LmState *state = k->state_new (model);
  for (int trial = 0; trial < 30; trial++)
    {
      k->state_begin (model, state);
      int len = (int) lm_rng_below (rng, 8);
      gsize start = lm_rng_below (rng, n);
      for (int i = 0; i < len; i++)
        {
          /* Half real text (seen contexts), half random ids (unseen ones). */
          gint32 w = lm_rng_double (rng) < 0.5 ? tokens[(start + i) % n]
                                               : 1 + (gint32) lm_rng_below (rng, V - 1);
          k->state_step (model, state, w);
        }
      k->state_logprobs (model, state, lp);
      double sum = 0.0;
      for (guint32 v = 0; v < V; v++)
        sum += exp ((double) lp[v]);
      if (!(fabs (sum - 1.0) <= 1e-6)) /* a NaN sum fails too */
        {
          LmModelInfo info;
          lm_model_describe (model, &info);
          g_error ("%s: next-token distribution sums to %.9f", info.summary, sum);
        }
    }
  k->state_free (model, state);
}

static void
test_normalization (void)
{
  g_autofree char *text = make_text (7, 300, 60);
  g_autoptr (LmVocab) vocab = word_vocab (text);
  gsize n;
  g_autofree gint32 *tokens = encode (vocab, text, &n);
  LmRng rng;
  lm_rng_seed (&rng, 11);
  const char *methods[] = { "mle", "addk", "wb", "abs", "kn", "mkn" };
  for (guint m = 0; m < G_N_ELEMENTS (methods); m++)
    for (int order = 1; order <= 5; order++)
      for (int interp = 0; interp < 2; interp++)
        for (int cut = 0; cut < 2; cut++)
          {
            g_autofree char *s_method = g_strdup_printf ("smoothing=%s", methods[m]);
            g_autofree char *s_order = g_strdup_printf ("order=%d", order);
            const char *settings[] = { s_method, s_order,
                                       interp ? "interpolate=true" : "interpolate=false",
                                       cut ? "cutoffs=0,1" : "cutoffs=0",
                                       m == 1 ? "k=0.1" : "k=1", NULL };
            g_autoptr (LmModel) model = fit_ok (vocab, text, settings);
            check_distributions (model, tokens, n, &rng);
          }
}

/* Every smoothing still gives distributions that sum to one with the options that change
 * the table after or around estimation: relative-entropy pruning, a discount the user
 * sets (only abs reads it; the others refuse it), and each sentence boundary, at word
 * level (where newline is no symbol) and at char level (where it is one). */
static void
test_normalization_options (void)
{
  g_autofree char *text = make_text (17, 400, 50);
  const LmLevel levels[] = { LM_LEVEL_WORD, LM_LEVEL_CHAR };
  const char *methods[] = { "mle", "addk", "wb", "abs", "kn", "mkn" };
  const char *prunes[] = { "prune=0", "prune=1e-4", "prune=1e-2" };
  const char *discounts[] = { "discount=-1", "discount=0.3", "discount=0.9", "discount=2.5" };
  const char *boundaries[] = { "boundary=auto", "boundary=eos", "boundary=newline",
                               "boundary=none" };
  LmRng rng;
  lm_rng_seed (&rng, 29);
  guint checked = 0;
  guint64 unpruned = 0;
  for (guint l = 0; l < G_N_ELEMENTS (levels); l++)
    {
      g_autoptr (LmVocab) vocab = lm_vocab_build (levels[l], text, strlen (text), NULL);
      gsize n;
      g_autofree gint32 *tokens = encode (vocab, text, &n);
      const char *order = levels[l] == LM_LEVEL_WORD ? "order=3" : "order=5";
      for (guint m = 0; m < G_N_ELEMENTS (methods); m++)
        for (int interp = 0; interp < 2; interp++)
          for (guint d = 0; d < G_N_ELEMENTS (discounts); d++)
            for (guint b = 0; b < G_N_ELEMENTS (boundaries); b++)
              for (guint p = 0; p < G_N_ELEMENTS (prunes); p++)
                {
                  gboolean abs = strcmp (methods[m], "abs") == 0;
                  if (d > 0 && !abs)
                    continue;
                  g_autofree char *s_method = g_strdup_printf ("smoothing=%s", methods[m]);
                  const char *settings[] = { s_method, order,
                                             interp ? "interpolate=true" : "interpolate=false",
                                             prunes[p], discounts[d], boundaries[b],
                                             strcmp (methods[m], "addk") == 0 ? "k=0.1" : "k=1",
                                             NULL };
                  g_autoptr (LmModel) model = fit_ok (vocab, text, settings);
                  check_distributions (model, tokens, n, &rng);
                  checked++;
                  /* The thresholds must remove something, or this tests nothing. (MLE
                   * leaves no mass to back off to, so only the larger one prunes it.) */
                  int top = levels[l] == LM_LEVEL_WORD ? 3 : 5;
                  gboolean must_prune = p == G_N_ELEMENTS (prunes) - 1 || (p > 0 && m > 0);
                  if (p == 0)
                    unpruned = lm_ngram_count (model, top);
                  else if (must_prune && !(lm_ngram_count (model, top) < unpruned))
                    g_error ("%s %s %s %s: %s kept all %" G_GUINT64_FORMAT " %d-grams",
                             s_method, settings[2], discounts[d], boundaries[b], prunes[p],
                             unpruned, top);
                }
    }
  g_test_message ("%u models: every next-token distribution sums to 1", checked);
}

/* Top-1 and top-5 count the model's guesses: among tied words the smallest id is the one
 * guess (as for the neural models), and a word of probability 0 is never one. A bigram
 * MLE model after "a" gives b and c 1/2 each: "a b" and "a c" cannot both be top-1 hits. */
static void
test_rank_ties (void)
{
  const char *text = "a b\na c\nd e f g h i j k\n";
  g_autoptr (LmVocab) vocab = word_vocab (text);
  g_autoptr (LmModel) model = fit_ok (vocab, text, (const char *[]) { "order=2",
                                      "smoothing=mle", NULL });
  gsize n;
  g_autofree gint32 *tokens = encode (vocab, "a b\na c\n", &n); /* a b </s> a c </s> */
  LmTokenStream stream = { tokens, n, 0, n, 2 };
  LmEvalResult r;
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_eval_model (model, &stream, NULL, NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (r.top1_accuracy, 5.0 / 6.0, 1e-12);
  /* "a k": k never follows a (p = 0, perplexity infinite): not a top-5 hit although
   * fewer than five words have p > 0 there */
  g_autofree gint32 *unseen = encode (vocab, "a k\n", &n);
  LmTokenStream stream2 = { unseen, n, 0, n, 1 };
  g_assert_true (lm_eval_model (model, &stream2, NULL, NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (r.top5_accuracy, 2.0 / 3.0, 1e-12);
}

/* score() == streaming == the ARPA-definition reference, token by token. */
static void
test_score_consistency (void)
{
  g_autofree char *text = make_text (3, 200, 40);
  g_autofree char *other = make_text (4, 50, 45);
  g_autoptr (LmVocab) vocab = word_vocab (text);
  gsize n;
  g_autofree gint32 *tokens = encode (vocab, other, &n);
  g_autoptr (LmModel) model = fit_ok (vocab, text, (const char *[]) { "order=4", NULL });
  guint32 V = lm_model_vocab_size (model);
  g_autofree double *logprob = g_new (double, n);
  g_autofree gint32 *predicted = g_new (gint32, n);
  g_autofree guint8 *rank = g_new (guint8, n);
  LmScoreOutput out = { logprob, predicted, rank };
  GError *error = NULL;
  g_assert_true (lm_model_score (model, tokens, n, &out, NULL, NULL, &error));
  g_assert_no_error (error);

  const LmModelClass *k = model->klass;
  LmState *state = k->state_new (model);
  k->state_begin (model, state);
  g_autofree float *dist = g_new (float, V);
  for (gsize i = 0; i < n; i++)
    {
      k->state_logprobs (model, state, dist);
      g_assert_cmpfloat (fabs (dist[tokens[i]] - logprob[i]), <, 1e-5);
      guint32 above = 0;
      for (guint32 v = 0; v < V; v++)
        above += dist[v] > dist[tokens[i]] || (dist[v] == dist[tokens[i]] && v < (guint32) tokens[i]);
      g_assert_cmpuint (rank[i], ==, MIN (above, 255u));
      g_assert_cmpfloat (dist[predicted[i]], >=, dist[tokens[i]]);
      k->state_step (model, state, tokens[i]);
    }
  k->state_free (model, state);
}

/* The reversed-trie walk with its state against the ARPA definition computed directly
 * from the full history, for every smoothing. */
static void
test_trie_reference (void)
{
  g_autofree char *text = make_text (21, 300, 30);
  g_autoptr (LmVocab) vocab = word_vocab (text);
  gsize n;
  g_autofree gint32 *tokens = encode (vocab, text, &n);
  LmRng rng;
  lm_rng_seed (&rng, 3);
  for (int s = LM_SMOOTHING_MLE; s <= LM_SMOOTHING_MKN; s++)
    for (int order = 1; order <= 6; order++)
      {
        LmNgramEstimateParams params;
        lm_ngram_estimate_params_init (&params, order, (LmSmoothing) s, lm_vocab_size (vocab));
        params.interpolate = order % 2 == 0;
        LmNgramTable *table = lm_ngram_estimate (tokens, n / 2, &params, NULL, NULL);
        g_assert_nonnull (table);
        LmNgramState state;
        lm_ngram_state_begin (table, &state);
        gint32 history[64] = { LM_TOKEN_BOS };
        int n_history = 1;
        gint32 seq[400];
        double walked_lp[400], batch_lp[400];
        for (int i = 0; i < 400; i++)
          {
            gint32 w = lm_rng_double (&rng) < 0.7 ? tokens[(n / 2 + i) % n]
                                                  : 1 + (gint32) lm_rng_below (&rng, lm_vocab_size (vocab) - 1);
            double reference = lm_ngram_table_logprob_naive (table, history, n_history, w);
            double walked = lm_ngram_state_score (table, &state, w);
            if (!(reference == walked || (isinf (reference) && isinf (walked))))
              g_error ("%s order %d token %d: trie %.9g, reference %.9g", lm_smoothing_name (s), order,
                       i, walked, reference);
            seq[i] = w;
            walked_lp[i] = walked;
            if (w == LM_TOKEN_EOS || n_history == 63)
              n_history = 1;
            else
              history[n_history++] = w;
          }
        /* The batched scorer (look-ups asked for ahead) gives the same numbers, also
         * when a batch starts from a state that already holds a context. */
        LmNgramState batch;
        lm_ngram_state_begin (table, &batch);
        gsize split = 37 + (gsize) order * 11;
        lm_ngram_state_score_batch (table, &batch, seq, split, batch_lp);
        lm_ngram_state_score_batch (table, &batch, seq + split, 400 - split, batch_lp + split);
        for (int i = 0; i < 400; i++)
          if (!(batch_lp[i] == walked_lp[i] || (isinf (batch_lp[i]) && isinf (walked_lp[i]))))
            g_error ("%s order %d token %d: batch %.9g, one by one %.9g", lm_smoothing_name (s),
                     order, i, batch_lp[i], walked_lp[i]);
        g_assert_cmpint (batch.len, ==, state.len);
        g_assert_cmpmem (batch.words, batch.len * sizeof (gint32), state.words,
                         state.len * sizeof (gint32));
        lm_ngram_table_free (table);
      }
}

/* The reversed-trie walk against the ARPA definition computed directly. */
static void
test_naive_reference (void)
{
  g_autofree char *path = data_path ("semantics.arpa");
  GError *error = NULL;
  g_autoptr (LmModel) model = lm_ngram_read_arpa (path, &error);
  g_assert_no_error (error);
  struct {
    const char *text;
    double log10;
  } cases[] = { { "a b\n", -1.05 }, { "a b a\n", -1.25 }, { "b a\n", -2.8 } };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gsize n;
      g_autofree gint32 *tokens = encode (model->vocab, cases[i].text, &n);
      g_autofree double *lp = g_new (double, n);
      LmScoreOutput out = { lp, NULL, NULL };
      g_assert_true (lm_model_score (model, tokens, n, &out, NULL, NULL, &error));
      double total = 0.0;
      for (gsize j = 0; j < n; j++)
        total += lp[j];
      g_assert_cmpfloat (fabs (total / G_LN10 - cases[i].log10), <, 1e-5);
    }
}

/* ---- ARPA ------------------------------------------------------------------------------------ */

static void
test_arpa_roundtrip (void)
{
  g_autofree char *text = make_text (5, 250, 50);
  g_autofree char *test_text = make_text (6, 60, 55);
  g_autoptr (LmVocab) vocab = word_vocab (text);
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *arpa = g_build_filename (dir, "model.arpa", NULL);
  const char *methods[] = { "mle", "addk", "wb", "abs", "kn", "mkn" };
  for (guint m = 0; m < G_N_ELEMENTS (methods); m++)
    for (int interp = 0; interp < 2; interp++)
      {
        g_autofree char *s_method = g_strdup_printf ("smoothing=%s", methods[m]);
        g_autoptr (LmModel) model = fit_ok (vocab, text, (const char *[]) { s_method, "order=4",
                                            interp ? "interpolate=true" : "interpolate=false", NULL });
        GError *error = NULL;
        g_assert_true (lm_ngram_write_arpa (model, arpa, TRUE, &error));
        g_assert_no_error (error);
        g_autoptr (LmModel) back = lm_ngram_read_arpa (arpa, &error);
        g_assert_no_error (error);
        for (int o = 1; o <= 4; o++)
          g_assert_cmpuint (lm_ngram_count (back, o), ==, lm_ngram_count (model, o));
        /* Same text, each model's own ids: identical numbers. */
        gsize n1, n2;
        g_autofree gint32 *t1 = encode (model->vocab, test_text, &n1);
        g_autofree gint32 *t2 = encode (back->vocab, test_text, &n2);
        g_assert_cmpuint (n1, ==, n2);
        g_autofree double *lp1 = g_new (double, n1);
        g_autofree double *lp2 = g_new (double, n2);
        g_autofree guint8 *rank1 = g_new (guint8, n1), *rank2 = g_new (guint8, n2);
        LmScoreOutput o1 = { lp1, NULL, rank1 }, o2 = { lp2, NULL, rank2 };
        g_assert_true (lm_model_score (model, t1, n1, &o1, NULL, NULL, NULL));
        g_assert_true (lm_model_score (back, t2, n2, &o2, NULL, NULL, NULL));
        for (gsize i = 0; i < n1; i++)
          if (!(lp1[i] == lp2[i] || (isinf (lp1[i]) && isinf (lp2[i]))))
            g_error ("%s: token %" G_GSIZE_FORMAT ": %.9g before ARPA, %.9g after", methods[m], i,
                     lp1[i], lp2[i]);
        /* the ids come back in the writer's order, so equal probabilities rank alike
         * and top-k accuracy does not move (MLE's ties make the difference show) */
        g_assert_cmpuint (lm_vocab_fingerprint (back->vocab), ==,
                          lm_vocab_fingerprint (model->vocab));
        g_assert_cmpmem (rank1, n1, rank2, n2);
      }
  lm_test_rmtree (dir);
}

static const char *good_arpa =
  "\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-1.0\t<s>\t-0.5\n-0.5\ta\t-0.3\n"
  "-0.7\tb\t-0.2\n-0.6\t</s>\n\n\\2-grams:\n-0.2\t<s> a\n-0.3\ta b\n\n\\end\\\n";

static void
expect_arpa_error_len (const char *data, gsize len, const char *fragment)
{
  GError *error = NULL;
  g_autoptr (LmModel) model = lm_ngram_read_arpa_data ("bad.arpa", data, len, &error);
  g_assert_null (model);
  g_assert_nonnull (error);
  if (strstr (error->message, fragment) == NULL)
    g_error ("message '%s' lacks '%s'", error->message, fragment);
  g_clear_error (&error);
}

static void
expect_arpa_error (const char *data, const char *fragment)
{
  expect_arpa_error_len (data, strlen (data), fragment);
}

static void
test_arpa_errors (void)
{
  GError *error = NULL;
  g_autoptr (LmModel) ok = lm_ngram_read_arpa_data ("good.arpa", good_arpa, strlen (good_arpa), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (lm_ngram_count (ok, 2), ==, 2);

  /* Truncated: inside a section, and before \end\. */
  expect_arpa_error ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n", "bad.arpa:5: the file ends inside");
  expect_arpa_error ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n", "without \\end\\");
  /* Garbled header and sections. */
  expect_arpa_error ("hello\n", "no \\data\\");
  expect_arpa_error ("\\data\\\nngram one=2\n", "bad.arpa:2: expected 'ngram N=count'");
  expect_arpa_error ("\\data\\\nngram 1=1\n\n\\2-grams:\n", "bad.arpa:4: expected '\\1-grams:'");
  /* Counts that disagree with the sections. */
  expect_arpa_error ("\\data\\\nngram 1=3\n\n\\1-grams:\n-1\ta\n-1\tb\n\n\\end\\\n",
                     "bad.arpa:7: the \\1-grams: section ends after 2 entries but \\data\\ declares 3");
  expect_arpa_error ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n-1\tb\n\\end\\\n",
                     "bad.arpa:6: expected \\end\\");
  /* Non-numeric and impossible probabilities. */
  expect_arpa_error ("\\data\\\nngram 1=1\n\n\\1-grams:\nabc\ta\n\\end\\\n",
                     "bad.arpa:5: the log10 probability 'abc' is not a finite number");
  expect_arpa_error ("\\data\\\nngram 1=1\n\n\\1-grams:\n0.5\ta\n\\end\\\n", "bad.arpa:5: the log10 probability 0.5 is above 0");
  expect_arpa_error ("\\data\\\nngram 1=1\n\n\\1-grams:\nnan\ta\n\\end\\\n", "bad.arpa:5:");
  /* A NUL byte inside a number does not end it early (-2.214 read from "-2.214\085") */
  static const char nul_arpa[] = "\\data\\\nngram 1=1\n\n\\1-grams:\n-2.214\00085\ta\n\\end\\\n";
  expect_arpa_error_len (nul_arpa, sizeof nul_arpa - 1, "bad.arpa:5: the log10 probability");
  /* a word that looks like an escape is a word (code has "\x00") */
  static const char code_arpa[] = "\n\\data\\\nngram 1=2\n\n"
                                  "\\1-grams:\n-0.5\ta\n-0.5\t\\x00\n\\end\\\n";
  g_autoptr (LmModel) code = lm_ngram_read_arpa_data ("code.arpa", code_arpa,
                                                      sizeof code_arpa - 1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (lm_vocab_lookup (code->vocab, "\\x00", 4), >=, 0);
  /* Order above the limit. */
  GString *big = g_string_new ("\\data\\\n");
  for (int i = 1; i <= 21; i++)
    g_string_append_printf (big, "ngram %d=1\n", i);
  expect_arpa_error (big->str, "bad.arpa:22: order 21 is above lmlab's limit of 20");
  g_string_free (big, TRUE);
  /* Words and fields. */
  expect_arpa_error ("\\data\\\nngram 1=1\nngram 2=1\n\n\\1-grams:\n-1\ta\n\n\\2-grams:\n-1\ta c\n\\end\\\n",
                     "bad.arpa:9: the word 'c' is not among the unigrams");
  expect_arpa_error ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta b c\n\\end\\\n", "bad.arpa:5: expected");
  expect_arpa_error ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n-2\ta\n\\end\\\n",
                     "bad.arpa:6: duplicate unigram");
  expect_arpa_error ("\\data\\\nngram 1=2\nngram 2=2\n\n\\1-grams:\n-1\ta\n-1\tb\n\n\\2-grams:\n"
                     "-1\ta b\n-1\ta b\n\\end\\\n", "bad.arpa:11: duplicate 2-gram (also on line 10)");
}

/* An ARPA file starts with a blank line and \data\ (KenLM accepts nothing else there),
 * whatever the model's level: a char-level export reads back (as words; lmlab ngram
 * import-arpa warns, tests/test-cli.c). */
static void
test_arpa_char_level (void)
{
  const char *text = "the cat sat\nthe dog ran\n";
  g_autoptr (LmVocab) vocab = lm_vocab_build (LM_LEVEL_CHAR, text, strlen (text), NULL);
  g_autoptr (LmModel) model = fit_ok (vocab, text, (const char *[]) { "order=3",
                                      "smoothing=wb", NULL });
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *arpa = g_build_filename (dir, "char.arpa", NULL);
  GError *error = NULL;
  g_assert_true (lm_ngram_write_arpa (model, arpa, TRUE, &error));
  g_assert_no_error (error);
  g_autofree char *written = NULL;
  g_assert_true (g_file_get_contents (arpa, &written, NULL, NULL));
  g_assert_true (g_str_has_prefix (written, "\n\\data\\\n"));
  g_autoptr (LmModel) back = lm_ngram_read_arpa (arpa, &error);
  g_assert_no_error (error);
  g_assert_cmpint (lm_vocab_lookup (back->vocab, "\\x20", 4), >=, 0); /* the space, escaped */
  lm_test_rmtree (dir);
}

/* Without replace, an ARPA write never replaces a file at its path, even one that
 * appeared after the command checked it (the training in between can take minutes): the
 * file is left byte for byte, and no temporary is left beside it. With replace it is
 * replaced. */
static void
test_arpa_no_replace (void)
{
  const char *text = "the cat sat\nthe dog ran\n";
  g_autoptr (LmVocab) vocab = lm_vocab_build (LM_LEVEL_WORD, text, strlen (text), NULL);
  g_autoptr (LmModel) model = fit_ok (vocab, text, (const char *[]) { "order=2",
                                      "smoothing=wb", NULL });
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *arpa = g_build_filename (dir, "model.arpa", NULL);
  GError *error = NULL;
  g_assert_true (lm_ngram_write_arpa (model, arpa, FALSE, &error)); /* nothing there yet */
  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (arpa, "someone else's file\n", -1, NULL));
  g_assert_false (lm_ngram_write_arpa (model, arpa, FALSE, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "left as it is"));
  g_clear_error (&error);
  g_autofree char *kept = NULL;
  g_assert_true (g_file_get_contents (arpa, &kept, NULL, NULL));
  g_assert_cmpstr (kept, ==, "someone else's file\n");
  g_autoptr (GDir) listing = g_dir_open (dir, 0, NULL);
  g_assert_cmpstr (g_dir_read_name (listing), ==, "model.arpa");
  g_assert_null (g_dir_read_name (listing));
  g_assert_true (lm_ngram_write_arpa (model, arpa, TRUE, &error));
  g_assert_no_error (error);
  g_autofree char *written = NULL;
  g_assert_true (g_file_get_contents (arpa, &written, NULL, NULL));
  g_assert_true (g_str_has_prefix (written, "\n\\data\\\n"));
  lm_test_rmtree (dir);
}

/* Many mutated ARPA files: each is read, and whatever loads is scored; none may crash
 * (this test runs under ASan in CI). */
static void
test_arpa_fuzz (void)
{
  g_autofree char *path = data_path ("semantics.arpa");
  g_autofree char *base = NULL;
  gsize base_len;
  g_assert_true (g_file_get_contents (path, &base, &base_len, NULL));
  LmRng rng;
  lm_rng_seed (&rng, 2024);
  const char alphabet[] = "-0123456789.e \t\n\\abns<>/=gramdt";
  int loaded = 0, refused = 0;
  for (int trial = 0; trial < 3000; trial++)
    {
      GString *s = g_string_new_len (base, base_len);
      int edits = 1 + (int) lm_rng_below (&rng, 4);
      for (int e = 0; e < edits; e++)
        {
          gsize at = lm_rng_below (&rng, s->len + 1);
          switch (lm_rng_below (&rng, 5))
            {
            case 0: /* truncate */
              g_string_truncate (s, at);
              break;
            case 1: /* replace a byte */
              if (at < s->len)
                s->str[at] = alphabet[lm_rng_below (&rng, sizeof alphabet - 1)];
              break;
            case 2: /* insert a byte */
              g_string_insert_c (s, at, alphabet[lm_rng_below (&rng, sizeof alphabet - 1)]);
              break;
            case 3: /* delete a run */
              {
                gsize pos = MIN (at, s->len), run = lm_rng_below (&rng, 12);
                g_string_erase (s, pos, MIN (run, s->len - pos));
              }
              break;
            default: /* duplicate a line */
              {
                const char *nl = strchr (s->str + MIN (at, s->len), '\n');
                if (nl && nl[1])
                  {
                    const char *end = strchr (nl + 1, '\n');
                    gsize len = end ? (gsize) (end - nl) : strlen (nl);
                    g_autofree char *line = g_strndup (nl, len);
                    g_string_insert (s, nl - s->str, line);
                  }
              }
            }
        }
      GError *error = NULL;
      LmModel *model = lm_ngram_read_arpa_data ("fuzz.arpa", s->str, s->len, &error);
      if (model)
        {
          loaded++;
          gsize n;
          g_autofree gint32 *tokens = encode (model->vocab, "a b a\nb b a a\n", &n);
          g_autofree double *lp = g_new (double, n);
          LmScoreOutput out = { lp, NULL, NULL };
          g_assert_true (lm_model_score (model, tokens, n, &out, NULL, NULL, NULL));
          for (gsize i = 0; i < n; i++)
            g_assert_false (isnan (lp[i]));
          lm_model_free (model);
        }
      else
        {
          g_assert_nonnull (error);
          g_assert_true (strstr (error->message, "fuzz.arpa") != NULL);
          refused++;
          g_clear_error (&error);
        }
      g_string_free (s, TRUE);
    }
  g_test_message ("fuzz: %d loaded, %d refused", loaded, refused);
  g_assert_cmpint (loaded, >, 0);
  g_assert_cmpint (refused, >, 0);
}

/* ---- save / load, cutoffs, pruning ----------------------------------------------------------- */

static void
test_save_load (void)
{
  g_autofree char *text = make_text (8, 300, 50);
  g_autofree char *test_text = make_text (9, 50, 55);
  g_autoptr (LmVocab) vocab = word_vocab (text);
  g_autoptr (LmModel) model = fit_ok (vocab, text, (const char *[]) { "order=5", NULL });
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "model.lmlab", NULL);
  GError *error = NULL;
  g_autoptr (LmModel) back = NULL;
  if (lm_registry_lookup ("ngram", NULL) != NULL)
    {
      g_assert_true (lm_model_save (model, path, &error));
      g_assert_no_error (error);
      back = lm_model_load (path, &error);
      g_assert_no_error (error);
    }
  else
    {
      /* Not registered yet: the class's own save/load through a checkpoint. */
      g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, &error);
      g_assert_true (lm_ngram_class.save (model, writer, &error));
      g_assert_true (lm_checkpoint_writer_commit (writer, &error));
      g_assert_no_error (error);
      g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (path, &error);
      g_assert_no_error (error);
      back = lm_model_new (&lm_ngram_class, model->config, model->vocab, &error);
      g_assert_true (lm_ngram_class.load (back, checkpoint, &error));
      g_assert_no_error (error);
    }
  gsize n;
  g_autofree gint32 *tokens = encode (vocab, test_text, &n);
  g_autofree double *lp1 = g_new (double, n);
  g_autofree double *lp2 = g_new (double, n);
  LmScoreOutput o1 = { lp1, NULL, NULL }, o2 = { lp2, NULL, NULL };
  g_assert_true (lm_model_score (model, tokens, n, &o1, NULL, NULL, NULL));
  g_assert_true (lm_model_score (back, tokens, n, &o2, NULL, NULL, NULL));
  g_assert_cmpmem (lp1, n * sizeof (double), lp2, n * sizeof (double));
  lm_test_rmtree (dir);
}

static double
perplexity (LmModel *model, const gint32 *tokens, gsize n)
{
  g_autofree double *lp = g_new (double, n);
  LmScoreOutput out = { lp, NULL, NULL };
  g_assert_true (lm_model_score (model, tokens, n, &out, NULL, NULL, NULL));
  double total = 0.0;
  for (gsize i = 0; i < n; i++)
    total += lp[i];
  return exp (-total / n);
}

static void
test_cutoffs_and_prune (void)
{
  g_autofree char *text = make_text (12, 2000, 200);
  g_autofree char *test_text = make_text (13, 200, 200);
  g_autoptr (LmVocab) vocab = word_vocab (text);
  gsize n;
  g_autofree gint32 *tokens = encode (vocab, test_text, &n);
  g_autoptr (LmModel) full = fit_ok (vocab, text, (const char *[]) { "order=3", NULL });
  g_autoptr (LmModel) cut = fit_ok (vocab, text, (const char *[]) { "order=3", "cutoffs=0,1", NULL });
  g_autoptr (LmModel) pruned = fit_ok (vocab, text, (const char *[]) { "order=3", "prune=1e-5", NULL });
  g_autoptr (LmModel) tiny = fit_ok (vocab, text, (const char *[]) { "order=3", "prune=1e-12", NULL });
  g_assert_cmpuint (lm_ngram_count (cut, 3), <, lm_ngram_count (full, 3));
  g_assert_cmpuint (lm_ngram_count (cut, 2), <, lm_ngram_count (full, 2));
  g_assert_cmpuint (lm_ngram_count (pruned, 3), <, lm_ngram_count (full, 3));
  g_assert_cmpuint (lm_ngram_count (tiny, 3), <=, lm_ngram_count (full, 3));
  double p_full = perplexity (full, tokens, n), p_pruned = perplexity (pruned, tokens, n);
  double p_cut = perplexity (cut, tokens, n);
  g_test_message ("ppl full %.3f (%" G_GUINT64_FORMAT " trigrams), cutoffs %.3f, pruned %.3f (%"
                  G_GUINT64_FORMAT ")", p_full, lm_ngram_count (full, 3), p_cut, p_pruned,
                  lm_ngram_count (pruned, 3));
  /* Pruning costs a little, never a lot. */
  g_assert_cmpfloat (p_pruned, <, p_full * 1.5);
  g_assert_cmpfloat (fabs (perplexity (tiny, tokens, n) - p_full), <, 0.01 * p_full);
  LmRng rng;
  lm_rng_seed (&rng, 5);
  check_distributions (pruned, tokens, n, &rng);
  check_distributions (cut, tokens, n, &rng);
}

/* ---- KenLM's numbers (../shared/data) ---------------------------------------------------------- */

static void
test_ptb_kenlm (void)
{
  g_autofree char *train = lm_test_shared_data ("ptb/ptb.train.txt");
  if (train == NULL)
    return;
  g_autofree char *valid = lm_test_shared_data ("ptb/ptb.valid.txt");
  g_autofree char *test = lm_test_shared_data ("ptb/ptb.test.txt");
  LmCorpusSpec spec;
  lm_corpus_spec_init (&spec, LM_LEVEL_WORD);
  spec.train_path = train;
  spec.valid_path = valid;
  spec.test_path = test;
  GError *error = NULL;
  LmCorpus *corpus = NULL;
  g_assert_true (lm_corpus_load (&spec, &corpus, &error));
  g_assert_no_error (error);
  /* KenLM lmplz -o N, query (BENCHMARKS.md). */
  const double kenlm_valid[] = { 199.02, 157.77, 149.90, 148.01 };
  const double kenlm_test[] = { 185.70, 148.28, 142.72, 141.19 };
  const LmTokenStream *tr = corpus->stream[LM_PART_TRAIN];
  for (int order = 2; order <= 5; order++)
    {
      g_autofree char *s_order = g_strdup_printf ("%d", order);
      g_autoptr (LmConfig) config = lm_config_new ();
      lm_config_set (config, "order", s_order, "test");
      g_autoptr (LmModel) model = lm_model_new (&lm_ngram_class, config, corpus->vocab, &error);
      g_assert_no_error (error);
      g_assert_true (lm_model_fit (model, tr->tokens, tr->n_tokens, NULL, NULL, &error));
      g_assert_no_error (error);
      const LmTokenStream *va = corpus->stream[LM_PART_VALID], *te = corpus->stream[LM_PART_TEST];
      double pv = perplexity (model, va->tokens, va->n_tokens);
      double pt = perplexity (model, te->tokens, te->n_tokens);
      g_test_message ("order %d: valid %.4f test %.4f", order, pv, pt);
      /* Four significant digits: the same two decimals. */
      g_assert_cmpfloat (fabs (pv - kenlm_valid[order - 2]), <, 0.005);
      g_assert_cmpfloat (fabs (pt - kenlm_test[order - 2]), <, 0.005);
    }
  lm_corpus_free (corpus);
}

static void
test_shakespeare_kenlm (void)
{
  g_autofree char *input = lm_test_shared_data ("tinyshakespeare/input.txt");
  if (input == NULL)
    return;
  LmCorpusSpec spec;
  lm_corpus_spec_init (&spec, LM_LEVEL_CHAR);
  spec.train_path = input;
  spec.valid_fraction = 0.1;
  GError *error = NULL;
  LmCorpus *corpus = NULL;
  g_assert_true (lm_corpus_load (&spec, &corpus, &error));
  g_assert_no_error (error);
  const LmTokenStream *tr = corpus->stream[LM_PART_TRAIN], *va = corpus->stream[LM_PART_VALID];
  g_assert_cmpuint (tr->n_chars, ==, 1003854);
  g_autoptr (LmConfig) config = lm_config_new ();
  lm_config_set (config, "order", "7", "test");
  g_autoptr (LmModel) model = lm_model_new (&lm_ngram_class, config, corpus->vocab, &error);
  g_assert_no_error (error);
  g_assert_true (lm_model_fit (model, tr->tokens, tr->n_tokens, NULL, NULL, &error));
  g_assert_no_error (error);
  double nats = log (perplexity (model, va->tokens, va->n_tokens)) * va->n_tokens / va->n_chars;
  g_test_message ("tinyshakespeare char 7-gram: %.4f nats/char; %s", nats, lm_ngram_notes (model));
  g_assert_cmpfloat (fabs (nats - 1.534), <, 0.0005);
  /* KenLM needed --discount_fallback for unigrams; lmlab falls back and says so. */
  g_assert_nonnull (lm_ngram_notes (model));
  g_assert_nonnull (strstr (lm_ngram_notes (model), "order 1:"));
  lm_corpus_free (corpus);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ngram/hand", test_hand);
  g_test_add_func ("/ngram/discount-error", test_discount_error);
  g_test_add_func ("/ngram/bad-config", test_bad_config);
  g_test_add_func ("/ngram/too-big", test_too_big);
  g_test_add_func ("/ngram/normalization", test_normalization);
  g_test_add_func ("/ngram/normalization-options", test_normalization_options);
  g_test_add_func ("/ngram/score-consistency", test_score_consistency);
  g_test_add_func ("/ngram/rank-ties", test_rank_ties);
  g_test_add_func ("/ngram/trie-reference", test_trie_reference);
  g_test_add_func ("/ngram/arpa-semantics", test_naive_reference);
  g_test_add_func ("/ngram/arpa-roundtrip", test_arpa_roundtrip);
  g_test_add_func ("/ngram/arpa-errors", test_arpa_errors);
  g_test_add_func ("/ngram/arpa-char-level", test_arpa_char_level);
  g_test_add_func ("/ngram/arpa-no-replace", test_arpa_no_replace);
  g_test_add_func ("/ngram/arpa-fuzz", test_arpa_fuzz);
  g_test_add_func ("/ngram/save-load", test_save_load);
  g_test_add_func ("/ngram/cutoffs-prune", test_cutoffs_and_prune);
  g_test_add_func ("/ngram/ptb-kenlm", test_ptb_kenlm);
  g_test_add_func ("/ngram/shakespeare-kenlm", test_shakespeare_kenlm);
  return g_test_run ();
}
