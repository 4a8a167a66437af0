/* lm-eval.c — evaluation totals and rates (definitions in lm-eval.h). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-eval.h"

struct _LmEvalAccumulator
{
  guint32 V;
  guint64 tokens;
  double nats, nats_compensation; /* Neumaier sum of -ln p over tokens with p > 0 */
  guint64 zero_probability;       /* tokens the model gave probability 0 (ln p = -inf) */
  guint64 n_ranked, top1, top5;
  guint64 n_predicted;
  guint64 *true_positive;   /* [V], allocated with the first predictions */
  guint64 *predicted_count; /* [V] */
  guint64 *target_count;    /* [V], counted only for tokens that have predictions */
};

LmEvalAccumulator *
lm_eval_accumulator_new (guint32 V)
{
  g_return_val_if_fail (V > 0, NULL);
  LmEvalAccumulator *accumulator = g_new0 (LmEvalAccumulator, 1);
  accumulator->V = V;
  return accumulator;
}

void
lm_eval_accumulator_free (LmEvalAccumulator *accumulator)
{
  if (accumulator == NULL)
    return;
  g_free (accumulator->true_positive);
  g_free (accumulator->predicted_count);
  g_free (accumulator->target_count);
  g_free (accumulator);
}

/* Neumaier's compensated sum: s + c carries the rounding error of every addition, so a
 * million small terms sum to full double precision. */
static inline void
sum_add (double *s, double *c, double x)
{
  double t = *s + x;
  if (fabs (*s) >= fabs (x))
    *c += (*s - t) + x;
  else
    *c += (x - t) + *s;
  *s = t;
}

gboolean
lm_eval_accumulator_add (LmEvalAccumulator *accumulator, const gint32 *targets,
                         const LmScoreOutput *out, gsize n, GError **error)
{
  g_return_val_if_fail (accumulator != NULL && out != NULL, FALSE);
  g_return_val_if_fail (n == 0 || (targets != NULL && out->logprob != NULL), FALSE);
  guint32 V = accumulator->V;

  /* Check everything first so that a failed call adds nothing. */
  for (gsize i = 0; i < n; i++)
    {
      guint64 index = accumulator->tokens + i;
      double lp = out->logprob[i];
      /* -inf is an honest answer (maximum likelihood gives unseen events p = 0);
       * NaN, +inf and p > 1 are model bugs. */
      if (!(lp <= 0))
        {
          g_set_error (error, LM_ERROR, LM_ERROR_NUMERIC,
                       "token %" G_GUINT64_FORMAT " (id %d): log-probability %g is not a "
                       "number <= 0 (a probability above 1 or not a number: a model bug)",
                       index, targets[i], lp);
          return FALSE;
        }
      if (targets[i] < 0 || (guint32)targets[i] >= V)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                       "token %" G_GUINT64_FORMAT " has id %d, outside the vocabulary "
                       "(0 to %u)",
                       index, targets[i], V - 1);
          return FALSE;
        }
      if (out->predicted && (out->predicted[i] < 0 || (guint32)out->predicted[i] >= V))
        {
          g_set_error (error, LM_ERROR, LM_ERROR_FAILED,
                       "token %" G_GUINT64_FORMAT ": the model's prediction %d is outside "
                       "the vocabulary (0 to %u)",
                       index, out->predicted[i], V - 1);
          return FALSE;
        }
    }

  for (gsize i = 0; i < n; i++)
    if (isinf (out->logprob[i]))
      accumulator->zero_probability++;
    else
      sum_add (&accumulator->nats, &accumulator->nats_compensation, -out->logprob[i]);
  if (out->rank)
    {
      for (gsize i = 0; i < n; i++)
        {
          accumulator->top1 += out->rank[i] < 1;
          accumulator->top5 += out->rank[i] < 5;
        }
      accumulator->n_ranked += n;
    }
  if (out->predicted && n > 0)
    {
      if (accumulator->true_positive == NULL)
        {
          accumulator->true_positive = g_new0 (guint64, V);
          accumulator->predicted_count = g_new0 (guint64, V);
          accumulator->target_count = g_new0 (guint64, V);
        }
      for (gsize i = 0; i < n; i++)
        {
          gint32 target = targets[i], predicted = out->predicted[i];
          accumulator->target_count[target]++;
          accumulator->predicted_count[predicted]++;
          accumulator->true_positive[target] += predicted == target;
        }
      accumulator->n_predicted += n;
    }
  accumulator->tokens += n;
  return TRUE;
}

gboolean
lm_eval_accumulator_finish (const LmEvalAccumulator *accumulator, guint64 oov, guint64 characters,
                            LmEvalResult *result, GError **error)
{
  g_return_val_if_fail (accumulator != NULL && result != NULL, FALSE);
  if (accumulator->tokens == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "nothing to evaluate: no tokens were scored");
      return FALSE;
    }

  memset (result, 0, sizeof *result);
  double n = (double)accumulator->tokens;
  result->tokens = accumulator->tokens;
  result->oov = oov;
  result->characters = characters;
  result->zero_probability = accumulator->zero_probability;
  result->total_nats = accumulator->zero_probability > 0
                           ? INFINITY
                           : accumulator->nats + accumulator->nats_compensation;
  result->nats_per_token = result->total_nats / n;
  result->perplexity = exp (result->nats_per_token);
  result->bits_per_token = result->nats_per_token / G_LN2;
  result->bits_per_char = characters > 0 ? result->total_nats / G_LN2 / (double)characters : NAN;

  result->has_rank = accumulator->n_ranked == accumulator->tokens;
  result->top1_accuracy = result->has_rank ? (double)accumulator->top1 / n : NAN;
  result->top5_accuracy = result->has_rank ? (double)accumulator->top5 / n : NAN;

  result->has_predicted = accumulator->n_predicted == accumulator->tokens;
  result->macro_precision = result->macro_recall = result->macro_f1 = NAN;
  if (result->has_predicted)
    {
      /* Mean over classes seen as a target or a prediction of P_c, R_c and F1_c, each
       * 0 when its denominator is (lm-eval.h). */
      double precision = 0, recall = 0, f1 = 0;
      guint32 classes = 0;
      for (guint32 c = 0; c < accumulator->V; c++)
        {
          guint64 tp = accumulator->true_positive[c];
          guint64 predicted = accumulator->predicted_count[c];
          guint64 actual = accumulator->target_count[c];
          if (predicted == 0 && actual == 0)
            continue;
          double p = predicted > 0 ? (double)tp / (double)predicted : 0;
          double r = actual > 0 ? (double)tp / (double)actual : 0;
          precision += p;
          recall += r;
          f1 += p + r > 0 ? 2 * p * r / (p + r) : 0;
          classes++;
        }
      result->n_classes = classes;
      result->macro_precision = precision / classes;
      result->macro_recall = recall / classes;
      result->macro_f1 = f1 / classes;
    }
  return TRUE;
}

gboolean
lm_eval_model (LmModel *model, const LmTokenStream *stream, LmProgressFunc progress,
               gpointer user_data, LmEvalResult *result, GError **error)
{
  return lm_eval_model_ex (model, stream, TRUE, progress, user_data, result, error);
}

gboolean
lm_eval_model_ex (LmModel *model, const LmTokenStream *stream, gboolean accuracy,
                  LmProgressFunc progress, gpointer user_data, LmEvalResult *result,
                  GError **error)
{
  g_return_val_if_fail (model != NULL && stream != NULL && result != NULL, FALSE);
  gsize n = stream->n_tokens;
  if (n == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "nothing to evaluate: the token stream is empty");
      return FALSE;
    }
  g_autofree double *logprob = g_try_new (double, n);
  g_autofree gint32 *predicted = g_try_new (gint32, n);
  g_autofree guint8 *rank = g_try_new (guint8, n);
  if (logprob == NULL || predicted == NULL || rank == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "not enough memory to evaluate %" G_GSIZE_FORMAT " tokens", n);
      return FALSE;
    }
  /* A token the model forgets to score stays NaN and is caught as an error. */
  for (gsize i = 0; i < n; i++)
    {
      logprob[i] = NAN;
      predicted[i] = -1;
      rank[i] = G_MAXUINT8;
    }

  /* Accuracy needs each position's whole distribution; perplexity alone does not, and
   * count models score several times faster without it. */
  LmScoreOutput out = { logprob, accuracy ? predicted : NULL, accuracy ? rank : NULL };
  g_autoptr (LmEvalAccumulator) accumulator = lm_eval_accumulator_new (lm_model_vocab_size (model));
  if (!lm_model_score (model, stream->tokens, n, &out, progress, user_data, error)
      || !lm_eval_accumulator_add (accumulator, stream->tokens, &out, n, error)
      || !lm_eval_accumulator_finish (accumulator, stream->n_oov, stream->n_chars, result, error))
    {
      g_prefix_error (error,
                      "evaluating model %s on %" G_GSIZE_FORMAT " tokens: ", model->klass->name, n);
      return FALSE;
    }
  return TRUE;
}
