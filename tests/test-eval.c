/* test-eval.c — evaluation numbers against hand-computed fixtures, refusal of broken
 * log-probabilities, and lm_eval_model over a fake scoring model. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-eval.h"
#include "core/lm-model.h"
#include "core/lm-vocab.h"
#include "tests/lm-test-util.h"

#define EPS 1e-12

static void
finish_ok (LmEvalAccumulator *accumulator, guint64 oov, guint64 characters, LmEvalResult *result)
{
  GError *error = NULL;
  g_assert_true (lm_eval_accumulator_finish (accumulator, oov, characters, result, &error));
  g_assert_no_error (error);
}

static void
add_ok (LmEvalAccumulator *accumulator, const gint32 *targets, const double *logprob,
        const gint32 *predicted, const guint8 *rank, gsize n)
{
  LmScoreOutput out = { (double *)logprob, (gint32 *)predicted, (guint8 *)rank };
  GError *error = NULL;
  g_assert_true (lm_eval_accumulator_add (accumulator, targets, &out, n, &error));
  g_assert_no_error (error);
}

static void
test_uniform (void)
{
  /* Uniform over V: perplexity V, bits per token log2 V, whatever the targets. */
  const guint32 V = 50;
  const gsize n = 1000;
  g_autofree gint32 *targets = g_new (gint32, n);
  g_autofree double *logprob = g_new (double, n);
  for (gsize i = 0; i < n; i++)
    {
      targets[i] = (gint32)(i * 7 % V);
      logprob[i] = -log ((double)V);
    }
  g_autoptr (LmEvalAccumulator) accumulator = lm_eval_accumulator_new (V);
  add_ok (accumulator, targets, logprob, NULL, NULL, n);
  LmEvalResult r;
  finish_ok (accumulator, 17, 4000, &r);
  g_assert_cmpuint (r.tokens, ==, n);
  g_assert_cmpuint (r.oov, ==, 17);
  g_assert_cmpuint (r.characters, ==, 4000);
  g_assert_cmpfloat_with_epsilon (r.total_nats, n * log (50.0), 1e-9);
  g_assert_cmpfloat_with_epsilon (r.nats_per_token, log (50.0), EPS);
  g_assert_cmpfloat_with_epsilon (r.perplexity, 50.0, 1e-10);
  g_assert_cmpfloat_with_epsilon (r.bits_per_token, log2 (50.0), EPS);
  /* 1000 tokens of log2 50 bits over 4000 characters. */
  g_assert_cmpfloat_with_epsilon (r.bits_per_char, 1000 * log2 (50.0) / 4000, EPS);
  /* No ranks or predictions given: those numbers are absent, not made up. */
  g_assert_false (r.has_rank);
  g_assert_true (isnan (r.top1_accuracy) && isnan (r.top5_accuracy));
  g_assert_false (r.has_predicted);
  g_assert_true (isnan (r.macro_precision) && isnan (r.macro_recall) && isnan (r.macro_f1));

  /* Unknown character count: bits per character is NaN, not infinity. */
  finish_ok (accumulator, 0, 0, &r);
  g_assert_true (isnan (r.bits_per_char));
}

static void
test_known_values (void)
{
  /* ln p = -1, -2, -0.5, -0.5: 4 nats over 4 tokens = 1 nat/token, perplexity e,
   * 1/ln 2 = 1.442695 bits/token; 8 characters: 4 / ln 2 / 8 = 0.721348 bits/char.
   * Ranks 0 3 0 7: top-1 2/4, top-5 3/4. */
  const gint32 targets[4] = { 3, 4, 3, 5 };
  const double logprob[4] = { -1, -2, -0.5, -0.5 };
  const guint8 rank[4] = { 0, 3, 0, 7 };
  g_autoptr (LmEvalAccumulator) accumulator = lm_eval_accumulator_new (6);
  /* In two calls: the result is the same as in one. */
  add_ok (accumulator, targets, logprob, NULL, rank, 1);
  add_ok (accumulator, targets + 1, logprob + 1, NULL, rank + 1, 3);
  LmEvalResult r;
  finish_ok (accumulator, 1, 8, &r);
  g_assert_cmpuint (r.tokens, ==, 4);
  g_assert_cmpfloat_with_epsilon (r.total_nats, 4.0, EPS);
  g_assert_cmpfloat_with_epsilon (r.nats_per_token, 1.0, EPS);
  g_assert_cmpfloat_with_epsilon (r.perplexity, 2.718281828459045, EPS);
  g_assert_cmpfloat_with_epsilon (r.bits_per_token, 1.4426950408889634, EPS);
  g_assert_cmpfloat_with_epsilon (r.bits_per_char, 0.7213475204444817, EPS);
  g_assert_true (r.has_rank);
  g_assert_cmpfloat_with_epsilon (r.top1_accuracy, 0.5, EPS);
  g_assert_cmpfloat_with_epsilon (r.top5_accuracy, 0.75, EPS);

  /* Ranks 255 (saturated) and 5 are outside the top five; 4 is inside. */
  const guint8 edge_rank[3] = { 255, 5, 4 };
  const gint32 edge_targets[3] = { 1, 1, 1 };
  const double edge_logprob[3] = { -3, -3, -3 };
  g_autoptr (LmEvalAccumulator) edge = lm_eval_accumulator_new (6);
  add_ok (edge, edge_targets, edge_logprob, NULL, edge_rank, 3);
  finish_ok (edge, 0, 3, &r);
  g_assert_cmpfloat_with_epsilon (r.top1_accuracy, 0.0, EPS);
  g_assert_cmpfloat_with_epsilon (r.top5_accuracy, 1.0 / 3, EPS);

  /* Certainty (ln p = 0) is allowed: perplexity 1. */
  const double certain[2] = { 0.0, -0.0 };
  g_autoptr (LmEvalAccumulator) sure = lm_eval_accumulator_new (6);
  add_ok (sure, targets, certain, NULL, NULL, 2);
  finish_ok (sure, 0, 2, &r);
  g_assert_cmpfloat (r.perplexity, ==, 1.0);
  g_assert_cmpfloat (r.bits_per_char, ==, 0.0);
}

static void
test_macro_f1 (void)
{
  /* targets    3 3 3 4 4 5 7
   * predicted  3 3 4 4 5 5 6
   * class 3: TP 2 FP 0 FN 1   P 1    R 2/3  F1 0.8
   * class 4: TP 1 FP 1 FN 1   P 1/2  R 1/2  F1 1/2
   * class 5: TP 1 FP 1 FN 0   P 1/2  R 1    F1 2/3
   * class 6: predicted only   P 0    R 0    F1 0
   * class 7: target only      P 0    R 0    F1 0
   * macro P = 2/5 = 0.4, R = (2/3 + 1/2 + 1) / 5 = 0.433333, F1 = (0.8 + 0.5 + 2/3) / 5 */
  const gint32 targets[7] = { 3, 3, 3, 4, 4, 5, 7 };
  const gint32 predicted[7] = { 3, 3, 4, 4, 5, 5, 6 };
  const double logprob[7] = { -1, -1, -1, -1, -1, -1, -1 };
  g_autoptr (LmEvalAccumulator) accumulator = lm_eval_accumulator_new (10);
  add_ok (accumulator, targets, logprob, predicted, NULL, 4);
  add_ok (accumulator, targets + 4, logprob + 4, predicted + 4, NULL, 3);
  LmEvalResult r;
  finish_ok (accumulator, 0, 7, &r);
  g_assert_true (r.has_predicted);
  g_assert_false (r.has_rank);
  g_assert_cmpuint (r.n_classes, ==, 5);
  g_assert_cmpfloat_with_epsilon (r.macro_precision, 0.4, EPS);
  g_assert_cmpfloat_with_epsilon (r.macro_recall, (2.0 / 3 + 0.5 + 1) / 5, EPS);
  g_assert_cmpfloat_with_epsilon (r.macro_f1, (0.8 + 0.5 + 2.0 / 3) / 5, EPS);

  /* All correct: everything 1. */
  g_autoptr (LmEvalAccumulator) perfect = lm_eval_accumulator_new (10);
  add_ok (perfect, targets, logprob, targets, NULL, 7);
  finish_ok (perfect, 0, 7, &r);
  g_assert_cmpuint (r.n_classes, ==, 4);
  g_assert_cmpfloat (r.macro_precision, ==, 1.0);
  g_assert_cmpfloat (r.macro_recall, ==, 1.0);
  g_assert_cmpfloat (r.macro_f1, ==, 1.0);

  /* Predictions for only some tokens: the macro scores are not reported. */
  g_autoptr (LmEvalAccumulator) partial = lm_eval_accumulator_new (10);
  add_ok (partial, targets, logprob, predicted, NULL, 4);
  add_ok (partial, targets + 4, logprob + 4, NULL, NULL, 3);
  finish_ok (partial, 0, 7, &r);
  g_assert_false (r.has_predicted);
  g_assert_true (isnan (r.macro_f1));
}

static void
test_compensated_sum (void)
{
  /* A million terms of 0.1 nats: a naive double sum is off by 1.3e-6. */
  const gsize n = 1000000;
  g_autofree gint32 *targets = g_new0 (gint32, n);
  g_autofree double *logprob = g_new (double, n);
  for (gsize i = 0; i < n; i++)
    logprob[i] = -0.1;
  g_autoptr (LmEvalAccumulator) accumulator = lm_eval_accumulator_new (2);
  add_ok (accumulator, targets, logprob, NULL, NULL, n);
  LmEvalResult r;
  finish_ok (accumulator, 0, n, &r);
  g_assert_cmpfloat_with_epsilon (r.total_nats, 100000.0, 1e-9);
}

static void
test_zero_probability (void)
{
  /* Maximum likelihood gives unseen events p = 0: counted, and perplexity is infinite. */
  const gint32 targets[3] = { 1, 2, 3 };
  double logprob[3] = { -1, -INFINITY, -2 };
  g_autoptr (LmEvalAccumulator) accumulator = lm_eval_accumulator_new (4);
  LmScoreOutput out = { logprob, NULL, NULL };
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_eval_accumulator_add (accumulator, targets, &out, 3, &error));
  LmEvalResult r;
  finish_ok (accumulator, 0, 10, &r);
  g_assert_cmpuint (r.zero_probability, ==, 1);
  g_assert_true (isinf (r.perplexity) && r.perplexity > 0);
  g_assert_true (isinf (r.bits_per_char));
}

static void
test_bad_logprobs (void)
{
  const double bad[] = { NAN, -NAN, INFINITY, 1e-300, 0.5 };
  const gint32 targets[4] = { 1, 2, 3, 1 };
  for (gsize b = 0; b < G_N_ELEMENTS (bad); b++)
    {
      g_autoptr (LmEvalAccumulator) accumulator = lm_eval_accumulator_new (4);
      const double good[5] = { -1, -1, -1, -1, -1 };
      add_ok (accumulator, targets, good, NULL, NULL, 4);
      double logprob[4] = { -1, -1, bad[b], -1 };
      LmScoreOutput out = { logprob, NULL, NULL };
      GError *error = NULL;
      g_assert_false (lm_eval_accumulator_add (accumulator, targets, &out, 4, &error));
      g_assert_error (error, LM_ERROR, LM_ERROR_NUMERIC);
      /* The index counts from the first token ever added: 4 + 2. */
      g_assert_nonnull (strstr (error->message, "token 6"));
      g_clear_error (&error);
      /* The failed call added nothing. */
      LmEvalResult r;
      finish_ok (accumulator, 0, 4, &r);
      g_assert_cmpuint (r.tokens, ==, 4);
      g_assert_cmpfloat_with_epsilon (r.total_nats, 4.0, EPS);
    }
}

static void
test_bad_ids (void)
{
  g_autoptr (LmEvalAccumulator) accumulator = lm_eval_accumulator_new (4);
  double logprob[2] = { -1, -1 };
  GError *error = NULL;

  const gint32 bad_targets[][2] = { { 1, 4 }, { -1, 1 } };
  for (gsize i = 0; i < G_N_ELEMENTS (bad_targets); i++)
    {
      LmScoreOutput out = { logprob, NULL, NULL };
      g_assert_false (lm_eval_accumulator_add (accumulator, bad_targets[i], &out, 2, &error));
      g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
      g_clear_error (&error);
    }
  const gint32 targets[2] = { 1, 2 };
  gint32 bad_predicted[2] = { 1, 9 };
  LmScoreOutput out = { logprob, bad_predicted, NULL };
  g_assert_false (lm_eval_accumulator_add (accumulator, targets, &out, 2, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "token 1"));
  g_clear_error (&error);

  /* Nothing was added at all. */
  LmEvalResult r;
  g_assert_false (lm_eval_accumulator_finish (accumulator, 0, 0, &r, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
  g_clear_error (&error);
}

/* ---- lm_eval_model with a fake unigram model ---------------------------------------- */

/* V = 6 (a char vocabulary of "abc"): p = 0, 0.1, 0.1, 0.5, 0.2, 0.1 for ids 0..5
 * whatever the history, so the argmax is 3 and the ranks are 3 -> 0, 4 -> 1,
 * 1 -> 2, 2 -> 3, 5 -> 4 (ties by lower id). */
static const double unigram[6] = { 0, 0.1, 0.1, 0.5, 0.2, 0.1 };
static const guint8 unigram_rank[6] = { 5, 2, 3, 0, 1, 4 };

typedef struct
{
  LmModel parent;
  gssize poison_at; /* write NaN at this index (-1: never) */
  gssize skip_at;   /* leave this index unwritten (-1: never) */
} FakeModel;

static gboolean
fake_score (LmModel *model, const gint32 *tokens, gsize n, LmScoreOutput *out,
            LmProgressFunc progress, gpointer user_data, GError **error)
{
  FakeModel *fake = (FakeModel *)model;
  for (gsize i = 0; i < n; i++)
    {
      if ((gssize)i == fake->skip_at)
        continue;
      out->logprob[i] = (gssize)i == fake->poison_at ? NAN : log (unigram[tokens[i]]);
      if (out->predicted)
        out->predicted[i] = 3;
      if (out->rank)
        out->rank[i] = unigram_rank[tokens[i]];
    }
  if (progress)
    progress (n, n, user_data);
  return TRUE;
}

static void
fake_destroy (LmModel *model)
{
  lm_model_clear (model);
  g_free (model);
}

static const LmModelClass fake_class = {
  .name = "fake-unigram",
  .capabilities = LM_CAP_SCORE,
  .destroy = fake_destroy,
  .score = fake_score,
};

static const LmModelClass fake_class_no_score = {
  .name = "fake-silent",
  .capabilities = LM_CAP_STREAM,
  .destroy = fake_destroy,
};

static FakeModel *
fake_new (const LmModelClass *klass)
{
  g_autoptr (LmVocab) vocab = lm_vocab_build (LM_LEVEL_CHAR, "abc", 3, NULL);
  g_assert_cmpuint (lm_vocab_size (vocab), ==, 6);
  FakeModel *fake = g_new0 (FakeModel, 1);
  lm_model_init (&fake->parent, klass, NULL, vocab);
  fake->poison_at = fake->skip_at = -1;
  return fake;
}

static void
count_progress (guint64 done, guint64 total, gpointer user_data)
{
  *(guint64 *)user_data = done;
}

static void
test_model (void)
{
  FakeModel *fake = fake_new (&fake_class);
  gint32 tokens[5] = { 3, 4, 3, 1, 5 };
  LmTokenStream stream = { tokens, 5, 1, 12, 1 };
  LmEvalResult r;
  GError *error = NULL;
  guint64 progress = 0;
  g_assert_true (lm_eval_model (&fake->parent, &stream, count_progress, &progress, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (progress, ==, 5);
  /* -ln (0.5 * 0.2 * 0.5 * 0.1 * 0.1) = ln 2000 nats over 5 tokens and 12 characters. */
  g_assert_cmpuint (r.tokens, ==, 5);
  g_assert_cmpuint (r.oov, ==, 1);
  g_assert_cmpuint (r.characters, ==, 12);
  g_assert_cmpfloat_with_epsilon (r.total_nats, log (2000.0), 1e-12);
  g_assert_cmpfloat_with_epsilon (r.perplexity, pow (2000.0, 0.2), 1e-10);
  g_assert_cmpfloat_with_epsilon (r.bits_per_char, log2 (2000.0) / 12, 1e-12);
  /* Ranks 0 1 0 2 4: top-1 2/5, top-5 5/5. */
  g_assert_cmpfloat_with_epsilon (r.top1_accuracy, 0.4, EPS);
  g_assert_cmpfloat_with_epsilon (r.top5_accuracy, 1.0, EPS);
  /* Always predicting 3: class 3 P 2/5 R 1 F1 4/7; classes 4, 1, 5 P 0 R 0. */
  g_assert_cmpuint (r.n_classes, ==, 4);
  g_assert_cmpfloat_with_epsilon (r.macro_precision, 0.4 / 4, EPS);
  g_assert_cmpfloat_with_epsilon (r.macro_recall, 1.0 / 4, EPS);
  g_assert_cmpfloat_with_epsilon (r.macro_f1, (4.0 / 7) / 4, EPS);

  /* A NaN from the model is an error naming the token, with the model's name. */
  fake->poison_at = 3;
  g_assert_false (lm_eval_model (&fake->parent, &stream, NULL, NULL, &r, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_NUMERIC);
  g_assert_nonnull (strstr (error->message, "token 3"));
  g_assert_nonnull (strstr (error->message, "fake-unigram"));
  g_clear_error (&error);

  /* So is a token the model never scored. */
  fake->poison_at = -1;
  fake->skip_at = 4;
  g_assert_false (lm_eval_model (&fake->parent, &stream, NULL, NULL, &r, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_NUMERIC);
  g_assert_nonnull (strstr (error->message, "token 4"));
  g_clear_error (&error);

  LmTokenStream empty = { tokens, 0, 0, 0, 0 };
  g_assert_false (lm_eval_model (&fake->parent, &empty, NULL, NULL, &r, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  lm_model_free (&fake->parent);

  FakeModel *silent = fake_new (&fake_class_no_score);
  g_assert_false (lm_eval_model (&silent->parent, &stream, NULL, NULL, &r, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  lm_model_free (&silent->parent);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/eval/uniform", test_uniform);
  g_test_add_func ("/eval/known-values", test_known_values);
  g_test_add_func ("/eval/macro-f1", test_macro_f1);
  g_test_add_func ("/eval/compensated-sum", test_compensated_sum);
  g_test_add_func ("/eval/bad-logprobs", test_bad_logprobs);
  g_test_add_func ("/eval/zero-probability", test_zero_probability);
  g_test_add_func ("/eval/bad-ids", test_bad_ids);
  g_test_add_func ("/eval/model", test_model);
  return g_test_run ();
}
