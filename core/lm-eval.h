/* lm-eval.h — evaluation: nats, perplexity, bits per token and per character,
 * top-1/top-5 accuracy and macro precision/recall/F1 of next-token prediction.
 *
 * Every quantity carries its unit in its name. With n scored tokens, ln p_i the natural
 * log-probability of token i given its history, and C characters of the scored text:
 *   total_nats      = -Σ_i ln p_i                          (Neumaier-compensated sum)
 *   nats_per_token  = total_nats / n                       (the loss)
 *   perplexity      = exp (nats_per_token)
 *   bits_per_token  = nats_per_token / ln 2
 *   bits_per_char   = total_nats / ln 2 / C                (NaN when C is unknown, 0)
 *   top1_accuracy   = #{rank_i = 0} / n,  top5_accuracy = #{rank_i < 5} / n
 *   where rank_i counts the ids with a higher probability than the target's, or an equal
 *   one and a smaller id (the argmax is the smallest id among equal maxima, so tied words
 *   are not all top-1), and a target of probability 0 has no rank (never a hit);
 * Macro precision/recall/F1 (needs the model's argmax prediction per token): the classes
 * are the ids that occur as a target or as a prediction. For class c, with
 *   TP_c = #{i : pred_i = c, target_i = c},  FP_c = #{pred_i = c, target_i != c},
 *   FN_c = #{target_i = c, pred_i != c}:
 *   P_c = TP_c / (TP_c + FP_c),  R_c = TP_c / (TP_c + FN_c),  F1_c = 2 P_c R_c / (P_c + R_c),
 * each 0 when its denominator is 0; macro_x is the unweighted mean of x_c over the
 * classes (so macro_f1 is the mean of per-class F1, not the F1 of macro P and R; the
 * convention of scikit-learn's average="macro" with zero_division=0).
 * top1_accuracy comes from ranks and the macro scores from predictions; every model
 * breaks ties the same way in both (tested for the n-gram and neural models).
 *
 * A log-probability that is NaN, infinite or positive is LM_ERROR_NUMERIC naming the
 * token's index: a broken model gives an error, never a wrong number.
 */
#pragma once

#include <glib.h>

#include "core/lm-corpus.h"
#include "core/lm-model.h"

G_BEGIN_DECLS

typedef struct
{
  guint64 tokens;     /* tokens scored */
  guint64 oov;        /* of those, not in the vocabulary (from the caller) */
  guint64 characters; /* characters of the scored text (0: unknown) */
  guint64 zero_probability; /* tokens given probability 0: then nats, perplexity and bits
                             * are +inf (what maximum likelihood honestly gives) */
  double total_nats;
  double nats_per_token;
  double perplexity;
  double bits_per_token;
  double bits_per_char; /* NaN when characters is 0 */
  gboolean has_rank;    /* every token had a rank: the accuracies are valid */
  double top1_accuracy; /* fractions in [0, 1]; NaN without ranks */
  double top5_accuracy;
  gboolean has_predicted; /* every token had a prediction: the macro scores are valid */
  guint32 n_classes;      /* classes in the macro averages */
  double macro_precision; /* in [0, 1]; NaN without predictions */
  double macro_recall;
  double macro_f1;
} LmEvalResult;

typedef struct _LmEvalAccumulator LmEvalAccumulator;

/* For ids in [0, V). */
LmEvalAccumulator *lm_eval_accumulator_new (guint32 V);
void lm_eval_accumulator_free (LmEvalAccumulator *accumulator);
/* Add n scored tokens: targets[i] with out->logprob[i], and out->predicted[i] and
 * out->rank[i] where those arrays are not NULL. Token indices in errors count from
 * the first token ever added. A bad log-probability is LM_ERROR_NUMERIC, a target
 * outside [0, V) LM_ERROR_INVALID_INPUT, a prediction outside it LM_ERROR_FAILED; a
 * failed call adds nothing. */
gboolean lm_eval_accumulator_add (LmEvalAccumulator *accumulator, const gint32 *targets,
                                  const LmScoreOutput *out, gsize n, GError **error);
/* Fill result from what was added (oov and characters as the caller counted them).
 * No tokens added is LM_ERROR_INVALID_INPUT. */
gboolean lm_eval_accumulator_finish (const LmEvalAccumulator *accumulator, guint64 oov,
                                     guint64 characters, LmEvalResult *result, GError **error);

/* Score every token of stream with the model (lm_model_score, one call so recurrent
 * state carries through) and fill result; oov and characters come from the stream. */
/* As lm_eval_model; with accuracy FALSE only log-probabilities are computed (top-k
 * accuracy and macro scores are NaN), which is much faster for count-based models. */
gboolean lm_eval_model_ex (LmModel *model, const LmTokenStream *stream, gboolean accuracy,
                           LmProgressFunc progress, gpointer user_data, LmEvalResult *result,
                           GError **error);
gboolean lm_eval_model (LmModel *model, const LmTokenStream *stream, LmProgressFunc progress,
                        gpointer user_data, LmEvalResult *result, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmEvalAccumulator, lm_eval_accumulator_free)

G_END_DECLS
