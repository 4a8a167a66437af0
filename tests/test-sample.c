/* test-sample.c — the sampler (argmax, truncation, frequencies, seeds, bans, bad input)
 * and generation through a small fake streaming model (a bigram table). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-model.h"
#include "core/lm-sample.h"
#include "core/lm-vocab.h"
#include "tests/lm-test-util.h"

/* ---- the sampler ---------------------------------------------------------------------- */

/* p over 6 ids; id 0 is <s>, which the sampler bans from the start, so the draws follow
 * p renormalised over ids 1..5: 0.375 0.25 0.1875 0.125 0.0625. */
static const double base_probs[6] = { 0.2, 0.3, 0.2, 0.15, 0.1, 0.05 };

static void
fill_logprobs (float *logprobs, const double *probs, guint V)
{
  for (guint v = 0; v < V; v++)
    logprobs[v] = probs[v] > 0 ? (float)log (probs[v]) : -INFINITY;
}

static LmSampler *
sampler_new_ok (double temperature, guint top_k, double top_p, guint64 seed)
{
  GError *error = NULL;
  LmSampler *sampler = lm_sampler_new (temperature, top_k, top_p, seed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (sampler);
  return sampler;
}

static gint32
sample_ok (LmSampler *sampler, const float *logprobs, guint V)
{
  GError *error = NULL;
  gint32 id = -1;
  g_assert_true (lm_sampler_sample (sampler, logprobs, V, &id, &error));
  g_assert_no_error (error);
  g_assert_cmpint (id, >=, 0);
  g_assert_cmpint (id, <, (gint32)V);
  return id;
}

static void
test_argmax (void)
{
  float logprobs[6];
  fill_logprobs (logprobs, base_probs, 6);
  g_autoptr (LmSampler) sampler = sampler_new_ok (0, 0, 1, 1);
  for (int i = 0; i < 100; i++)
    g_assert_cmpint (sample_ok (sampler, logprobs, 6), ==, 1);

  /* <s> is never the answer even when it is the most probable. */
  const double bos_first[6] = { 0.7, 0.05, 0.05, 0.1, 0.05, 0.05 };
  fill_logprobs (logprobs, bos_first, 6);
  g_assert_cmpint (sample_ok (sampler, logprobs, 6), ==, 3);

  /* Ties go to the lower id; temperature 0 ignores top-k and top-p. */
  const double tie[6] = { 0, 0.1, 0.3, 0.1, 0.3, 0.2 };
  fill_logprobs (logprobs, tie, 6);
  g_autoptr (LmSampler) truncated = sampler_new_ok (0, 3, 0.5, 2);
  g_assert_cmpint (sample_ok (sampler, logprobs, 6), ==, 2);
  g_assert_cmpint (sample_ok (truncated, logprobs, 6), ==, 2);

  /* Unnormalised finite log-weights are accepted (treated as logits). */
  float logits[4] = { 9.0f, 2.0f, 5.5f, -3.0f };
  g_assert_cmpint (sample_ok (sampler, logits, 4), ==, 2);
}

static void
test_top_k_one (void)
{
  float logprobs[6];
  const double probs[6] = { 0.2, 0.25, 0.2, 0.15, 0.1, 0.1 };
  fill_logprobs (logprobs, probs, 6);
  const double temperatures[] = { 0.3, 1.0, 5.0 };
  for (gsize t = 0; t < G_N_ELEMENTS (temperatures); t++)
    {
      g_autoptr (LmSampler) sampler = sampler_new_ok (temperatures[t], 1, 1, 99 + t);
      for (int i = 0; i < 1000; i++)
        g_assert_cmpint (sample_ok (sampler, logprobs, 6), ==, 1);
    }
  /* top-p small enough keeps only the most probable id, too. */
  g_autoptr (LmSampler) nucleus = sampler_new_ok (1, 0, 0.01, 5);
  for (int i = 0; i < 1000; i++)
    g_assert_cmpint (sample_ok (nucleus, logprobs, 6), ==, 1);
}

/* Draw n times and compare frequencies with expected (hand-computed): each id within
 * five standard deviations of a binomial count; ids with probability 0 never drawn. */
static void
assert_frequencies (double temperature, guint top_k, double top_p, const double *probs, guint V,
                    const double *expected)
{
  const int n = 100000;
  float logprobs[16];
  guint counts[16] = { 0 };
  g_assert_cmpuint (V, <=, 16);
  fill_logprobs (logprobs, probs, V);
  g_autoptr (LmSampler) sampler = sampler_new_ok (temperature, top_k, top_p, 1234);
  for (int i = 0; i < n; i++)
    counts[sample_ok (sampler, logprobs, V)]++;
  for (guint v = 0; v < V; v++)
    {
      double f = (double)counts[v] / n;
      if (expected[v] == 0)
        {
          if (counts[v] != 0)
            g_error ("T=%g k=%u p=%g: id %u drawn %u times, expected never", temperature, top_k,
                     top_p, v, counts[v]);
          continue;
        }
      double sigma = sqrt (expected[v] * (1 - expected[v]) / n);
      if (fabs (f - expected[v]) > 5 * sigma)
        g_error ("T=%g k=%u p=%g: id %u frequency %.5f, expected %.5f (sigma %.5f)", temperature,
                 top_k, top_p, v, f, expected[v], sigma);
    }
}

static void
test_frequencies (void)
{
  /* Plain sampling: p renormalised without <s>. */
  const double plain[6] = { 0, 0.375, 0.25, 0.1875, 0.125, 0.0625 };
  assert_frequencies (1, 0, 1, base_probs, 6, plain);
  /* top-k 2: 0.3 and 0.2 renormalised. */
  const double top2[6] = { 0, 0.6, 0.4, 0, 0, 0 };
  assert_frequencies (1, 2, 1, base_probs, 6, top2);
  /* top-k larger than V is off. */
  assert_frequencies (1, 50, 1, base_probs, 6, plain);
  /* top-p 0.7: cumulative 0.375, 0.625, 0.8125 >= 0.7 keeps three ids. */
  const double nucleus[6] = { 0, 0.3 / 0.65, 0.2 / 0.65, 0.15 / 0.65, 0, 0 };
  assert_frequencies (1, 0, 0.7, base_probs, 6, nucleus);
  /* Temperature 0.5: q ∝ p^2 = .09 .04 .0225 .01 .0025 over 0.165. */
  const double cold[6]
      = { 0, 0.09 / 0.165, 0.04 / 0.165, 0.0225 / 0.165, 0.01 / 0.165, 0.0025 / 0.165 };
  assert_frequencies (0.5, 0, 1, base_probs, 6, cold);
  /* Temperature 2, top-k 3, top-p 0.7: q ∝ sqrt p; the top three have shares
   * 0.39626 0.32354 0.28020, cumulative 0.39626 0.71980 >= 0.7 keeps two:
   * sqrt .3 : sqrt .2 = 0.550510 : 0.449490. */
  const double combined[6] = { 0, 0.5505102572168219, 0.44948974278317816, 0, 0, 0 };
  assert_frequencies (2, 3, 0.7, base_probs, 6, combined);
  /* A very high temperature flattens towards uniform over the allowed ids. */
  const double hot_expected[6] = { 0, 0.2, 0.2, 0.2, 0.2, 0.2 };
  const double flat[6] = { 0.2, 0.2, 0.2, 0.2, 0.2, 0.2 };
  assert_frequencies (1e6, 0, 1, flat, 6, hot_expected);
}

static void
test_seed (void)
{
  float logprobs[6];
  fill_logprobs (logprobs, base_probs, 6);
  g_autoptr (LmSampler) a = sampler_new_ok (1.0, 0, 0.9, 42);
  g_autoptr (LmSampler) b = sampler_new_ok (1.0, 0, 0.9, 42);
  g_autoptr (LmSampler) c = sampler_new_ok (1.0, 0, 0.9, 43);
  int differ = 0;
  for (int i = 0; i < 1000; i++)
    {
      gint32 x = sample_ok (a, logprobs, 6);
      g_assert_cmpint (x, ==, sample_ok (b, logprobs, 6));
      differ += x != sample_ok (c, logprobs, 6);
    }
  g_assert_cmpint (differ, >, 100);

  /* The RNG state can be saved and restored to continue a sequence. */
  LmRng saved = *lm_sampler_rng (a);
  gint32 next[10];
  for (int i = 0; i < 10; i++)
    next[i] = sample_ok (a, logprobs, 6);
  *lm_sampler_rng (a) = saved;
  for (int i = 0; i < 10; i++)
    g_assert_cmpint (sample_ok (a, logprobs, 6), ==, next[i]);
}

static void
test_ban (void)
{
  float logprobs[6];
  fill_logprobs (logprobs, base_probs, 6);
  g_autoptr (LmSampler) sampler = sampler_new_ok (1.5, 0, 1, 7);
  lm_sampler_ban (sampler, 2);
  lm_sampler_ban (sampler, 4);
  lm_sampler_ban (sampler, 1000); /* beyond V: harmless */
  guint counts[6] = { 0 };
  for (int i = 0; i < 20000; i++)
    counts[sample_ok (sampler, logprobs, 6)]++;
  g_assert_cmpuint (counts[0], ==, 0);
  g_assert_cmpuint (counts[2], ==, 0);
  g_assert_cmpuint (counts[4], ==, 0);
  g_assert_cmpuint (counts[1], >, 0);
  g_assert_cmpuint (counts[3], >, 0);
  g_assert_cmpuint (counts[5], >, 0);

  /* Temperature 0 skips banned ids too. */
  g_autoptr (LmSampler) greedy = sampler_new_ok (0, 0, 1, 7);
  lm_sampler_ban (greedy, 1);
  g_assert_cmpint (sample_ok (greedy, logprobs, 6), ==, 2);

  /* An id with ln p = -inf is never drawn. */
  const double holes[6] = { 0.1, 0.0, 0.5, 0.0, 0.4, 0.0 };
  fill_logprobs (logprobs, holes, 6);
  g_autoptr (LmSampler) plain = sampler_new_ok (3, 0, 1, 8);
  for (int i = 0; i < 5000; i++)
    {
      gint32 id = sample_ok (plain, logprobs, 6);
      g_assert_true (id == 2 || id == 4);
    }

  /* Nothing left to sample. */
  const double only_banned[6] = { 0.5, 0.5, 0, 0, 0, 0 };
  fill_logprobs (logprobs, only_banned, 6);
  GError *error = NULL;
  gint32 id;
  g_assert_false (lm_sampler_sample (greedy, logprobs, 6, &id, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_NUMERIC);
  g_clear_error (&error);
  g_assert_false (lm_sampler_sample (sampler, logprobs, 1, &id, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_NUMERIC);
  g_clear_error (&error);
}

static void
test_bad_params (void)
{
  struct
  {
    double temperature, top_p;
    const char *what;
  } bad[] = {
    { -1, 1, "temperature" },       { -1e-9, 1, "temperature" }, { NAN, 1, "temperature" },
    { INFINITY, 1, "temperature" }, { 1, 0, "top_p" },           { 1, -0.5, "top_p" },
    { 1, 1.0000001, "top_p" },      { 1, NAN, "top_p" },         { 1, INFINITY, "top_p" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      GError *error = NULL;
      LmSampler *sampler = lm_sampler_new (bad[i].temperature, 0, bad[i].top_p, 1, &error);
      g_assert_null (sampler);
      g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
      g_assert_nonnull (strstr (error->message, bad[i].what));
      g_clear_error (&error);
    }
  /* The edges are allowed. */
  lm_sampler_free (sampler_new_ok (0, 0, 1, 0));
  lm_sampler_free (sampler_new_ok (1e-3, 1000000, 1e-9, G_MAXUINT64));
}

static void
test_bad_logprobs (void)
{
  g_autoptr (LmSampler) sampler = sampler_new_ok (1, 0, 1, 3);
  g_autoptr (LmSampler) greedy = sampler_new_ok (0, 0, 1, 3);
  float bad_values[] = { NAN, INFINITY };
  for (gsize b = 0; b < G_N_ELEMENTS (bad_values); b++)
    {
      float logprobs[5] = { -1, -2, -3, -4, -5 };
      logprobs[3] = bad_values[b];
      GError *error = NULL;
      gint32 id = -7;
      g_assert_false (lm_sampler_sample (sampler, logprobs, 5, &id, &error));
      g_assert_error (error, LM_ERROR, LM_ERROR_NUMERIC);
      g_assert_nonnull (strstr (error->message, "id 3"));
      g_clear_error (&error);
      g_assert_false (lm_sampler_sample (greedy, logprobs, 5, &id, &error));
      g_assert_error (error, LM_ERROR, LM_ERROR_NUMERIC);
      g_clear_error (&error);
      g_assert_cmpint (id, ==, -7);
    }
  float all_impossible[3] = { -INFINITY, -INFINITY, -INFINITY };
  GError *error = NULL;
  gint32 id;
  g_assert_false (lm_sampler_sample (sampler, all_impossible, 3, &id, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_NUMERIC);
  g_clear_error (&error);
}

/* ---- generation with a fake bigram model ------------------------------------------------ */

/* V = 8 (a char vocabulary of "abcd\n"): after token t the model puts 0.9 on
 * successor (t) and spreads 0.1 over the other ids but <s>; except that after <s> it
 * puts 0.6 on <s> itself (which the sampler must skip), 0.3 on id 4. */
#define FAKE_V 8

static gint32
successor (gint32 t)
{
  return t < LM_N_SPECIAL ? 4 : LM_N_SPECIAL + (t - LM_N_SPECIAL + 1) % (FAKE_V - LM_N_SPECIAL);
}

typedef struct
{
  LmModel parent;
  float table[FAKE_V][FAKE_V]; /* ln p(next | previous) */
  guint n_steps, n_states;
  gboolean poison; /* write a NaN into every vector */
} FakeModel;

typedef struct
{
  gint32 previous;
} FakeState;

static LmState *
fake_state_new (LmModel *model)
{
  ((FakeModel *)model)->n_states++;
  return (LmState *)g_new0 (FakeState, 1);
}

static void
fake_state_free (LmModel *model, LmState *state)
{
  ((FakeModel *)model)->n_states--;
  g_free (state);
}

static void
fake_state_copy (LmModel *model, LmState *dst, const LmState *src)
{
  *(FakeState *)dst = *(const FakeState *)src;
}

static void
fake_state_begin (LmModel *model, LmState *state)
{
  ((FakeState *)state)->previous = LM_TOKEN_BOS;
}

static void
fake_state_step (LmModel *model, LmState *state, gint32 token)
{
  g_assert_cmpint (token, >=, 0);
  g_assert_cmpint (token, <, FAKE_V);
  ((FakeModel *)model)->n_steps++;
  ((FakeState *)state)->previous = token;
}

static void
fake_state_logprobs (LmModel *model, LmState *state, float *logprobs)
{
  FakeModel *fake = (FakeModel *)model;
  memcpy (logprobs, fake->table[((FakeState *)state)->previous], sizeof fake->table[0]);
  if (fake->poison)
    logprobs[5] = NAN;
}

static void
fake_destroy (LmModel *model)
{
  lm_model_clear (model);
  g_free (model);
}

static const LmModelClass fake_class = {
  .name = "fake-bigram",
  .description = "a bigram table for tests",
  .capabilities = LM_CAP_STREAM,
  .destroy = fake_destroy,
  .state_new = fake_state_new,
  .state_free = fake_state_free,
  .state_copy = fake_state_copy,
  .state_begin = fake_state_begin,
  .state_step = fake_state_step,
  .state_logprobs = fake_state_logprobs,
};

static const LmModelClass fake_class_no_stream = {
  .name = "fake-no-stream",
  .capabilities = LM_CAP_SCORE,
  .destroy = fake_destroy,
};

static FakeModel *
fake_new (const LmModelClass *klass)
{
  g_autoptr (LmVocab) vocab = lm_vocab_build (LM_LEVEL_CHAR, "abcd\n", 5, NULL);
  g_assert_cmpuint (lm_vocab_size (vocab), ==, FAKE_V);
  FakeModel *fake = g_new0 (FakeModel, 1);
  lm_model_init (&fake->parent, klass, NULL, vocab);
  for (gint32 previous = 0; previous < FAKE_V; previous++)
    {
      double p[FAKE_V] = { 0 };
      if (previous == LM_TOKEN_BOS)
        {
          p[LM_TOKEN_BOS] = 0.6;
          p[4] = 0.3;
          for (gint32 v = 1; v < FAKE_V; v++)
            if (v != 4)
              p[v] = 0.1 / (FAKE_V - 2);
        }
      else
        for (gint32 v = 1; v < FAKE_V; v++)
          p[v] = v == successor (previous) ? 0.9 : 0.1 / (FAKE_V - 2);
      for (gint32 v = 0; v < FAKE_V; v++)
        fake->table[previous][v] = p[v] > 0 ? (float)log (p[v]) : -INFINITY;
    }
  return fake;
}

static void
test_generate_greedy (void)
{
  FakeModel *fake = fake_new (&fake_class);
  LmModel *model = &fake->parent;
  g_autoptr (LmSampler) greedy = sampler_new_ok (0, 0, 1, 1);
  GError *error = NULL;
  gint32 out[12];

  /* No prompt: after <s> the argmax is <s> itself, which is banned, so 4 5 6 7 3 4 ... */
  g_assert_true (lm_generate (model, greedy, NULL, 0, 12, out, &error));
  g_assert_no_error (error);
  const gint32 from_start[12] = { 4, 5, 6, 7, 3, 4, 5, 6, 7, 3, 4, 5 };
  g_assert_cmpmem (out, sizeof out, from_start, sizeof from_start);
  g_assert_cmpuint (fake->n_steps, ==, 11); /* the last token is never stepped */
  g_assert_cmpuint (fake->n_states, ==, 0);

  /* The prompt is stepped through: the continuation starts after its last token. */
  fake->n_steps = 0;
  const gint32 prompt[3] = { 7, 3, 6 };
  g_assert_true (lm_generate (model, greedy, prompt, 3, 4, out, &error));
  g_assert_no_error (error);
  const gint32 after_prompt[4] = { 7, 3, 4, 5 };
  g_assert_cmpmem (out, 4 * sizeof (gint32), after_prompt, sizeof after_prompt);
  g_assert_cmpuint (fake->n_steps, ==, 3 + 3);

  /* Nothing asked, nothing done. */
  g_assert_true (lm_generate (model, greedy, prompt, 3, 0, NULL, &error));
  g_assert_no_error (error);
  lm_model_free (model);
}

typedef struct {
  GArray *ids;
  guint stop_after; /* return FALSE once this many ids have come */
} Collect;

static gboolean
collect_id (gint32 id, gpointer user_data)
{
  Collect *c = user_data;
  g_array_append_val (c->ids, id);
  return c->ids->len < c->stop_after;
}

/* lm_generate_each hands over the ids lm_generate would make, one at a time, and stops
 * (successfully) when its function says so. */
static void
test_generate_each (void)
{
  FakeModel *fake = fake_new (&fake_class);
  LmModel *model = &fake->parent;
  const gsize n = 500;
  g_autofree gint32 *a = g_new (gint32, n);
  GError *error = NULL;
  g_autoptr (LmSampler) s1 = sampler_new_ok (1, 0, 1, 31);
  g_autoptr (LmSampler) s2 = sampler_new_ok (1, 0, 1, 31);
  g_autoptr (LmSampler) s3 = sampler_new_ok (1, 0, 1, 31);
  const gint32 prompt[1] = { 5 };
  g_assert_true (lm_generate (model, s1, prompt, 1, n, a, &error));
  /* all of them, then a function that stops after 7 */
  LmSampler *samplers[2] = { s2, s3 };
  const guint stops[2] = { G_MAXUINT, 7 }, expect[2] = { n, 7 };
  for (int k = 0; k < 2; k++)
    {
      Collect c = { g_array_new (FALSE, FALSE, sizeof (gint32)), stops[k] };
      g_assert_true (lm_generate_each (model, samplers[k], prompt, 1, n, collect_id, &c, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (c.ids->len, ==, expect[k]);
      g_assert_cmpmem (c.ids->data, expect[k] * sizeof (gint32), a, expect[k] * sizeof (gint32));
      g_array_free (c.ids, TRUE);
    }
  lm_model_free (model);
}

static void
test_generate_sampled (void)
{
  FakeModel *fake = fake_new (&fake_class);
  LmModel *model = &fake->parent;
  const gsize n = 20000;
  g_autofree gint32 *a = g_new (gint32, n);
  g_autofree gint32 *b = g_new (gint32, n);
  GError *error = NULL;
  g_autoptr (LmSampler) s1 = sampler_new_ok (1, 0, 1, 77);
  g_autoptr (LmSampler) s2 = sampler_new_ok (1, 0, 1, 77);
  const gint32 prompt[1] = { 5 };
  g_assert_true (lm_generate (model, s1, prompt, 1, n, a, &error));
  g_assert_true (lm_generate (model, s2, prompt, 1, n, b, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (a, n * sizeof (gint32), b, n * sizeof (gint32));

  /* Transitions follow the table: the successor 90% of the time, never <s>. */
  gsize follow = 0;
  for (gsize i = 0; i < n; i++)
    {
      g_assert_cmpint (a[i], !=, LM_TOKEN_BOS);
      gint32 previous = i == 0 ? prompt[0] : a[i - 1];
      follow += a[i] == successor (previous);
    }
  double f = (double)follow / n;
  double sigma = sqrt (0.9 * 0.1 / n);
  g_assert_cmpfloat (fabs (f - 0.9), <, 5 * sigma);
  lm_model_free (model);
}

static void
test_generate_errors (void)
{
  GError *error = NULL;
  gint32 out[4];
  g_autoptr (LmSampler) sampler = sampler_new_ok (1, 0, 1, 1);

  FakeModel *plain = fake_new (&fake_class_no_stream);
  g_assert_false (lm_generate (&plain->parent, sampler, NULL, 0, 4, out, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "fake-no-stream"));
  g_clear_error (&error);
  lm_model_free (&plain->parent);

  FakeModel *fake = fake_new (&fake_class);
  const gint32 bad_prompts[][2] = { { 4, FAKE_V }, { -1, 4 }, { 5, LM_TOKEN_BOS } };
  for (gsize i = 0; i < G_N_ELEMENTS (bad_prompts); i++)
    {
      g_assert_false (lm_generate (&fake->parent, sampler, bad_prompts[i], 2, 4, out, &error));
      g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
      g_assert_nonnull (strstr (error->message, "prompt token"));
      g_clear_error (&error);
    }
  g_assert_cmpuint (fake->n_steps, ==, 0); /* refused before any work */
  const gint32 with_bos[2] = { LM_TOKEN_BOS, 4 };
  g_assert_false (lm_generate (&fake->parent, sampler, with_bos, 2, 4, out, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "prompt token 0 is <s>"));
  g_clear_error (&error);

  fake->poison = TRUE;
  g_assert_false (lm_generate (&fake->parent, sampler, NULL, 0, 4, out, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_NUMERIC);
  g_assert_nonnull (strstr (error->message, "generating token 0"));
  g_clear_error (&error);
  g_assert_cmpuint (fake->n_states, ==, 0); /* the state was freed on the error path */
  lm_model_free (&fake->parent);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sample/argmax", test_argmax);
  g_test_add_func ("/sample/top-k-one", test_top_k_one);
  g_test_add_func ("/sample/frequencies", test_frequencies);
  g_test_add_func ("/sample/seed", test_seed);
  g_test_add_func ("/sample/ban", test_ban);
  g_test_add_func ("/sample/bad-params", test_bad_params);
  g_test_add_func ("/sample/bad-logprobs", test_bad_logprobs);
  g_test_add_func ("/sample/generate-greedy", test_generate_greedy);
  g_test_add_func ("/sample/generate-sampled", test_generate_sampled);
  g_test_add_func ("/sample/generate-each", test_generate_each);
  g_test_add_func ("/sample/generate-errors", test_generate_errors);
  return g_test_run ();
}
