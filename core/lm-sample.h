/* lm-sample.h — choosing the next token, and generating text through a model's
 * streaming interface.
 *
 * A sampler turns V next-token log-probabilities (natural logs, as
 * LmModelClass.state_logprobs writes them; any finite values are accepted and treated
 * as unnormalised log-weights) into one token id:
 *   1. banned ids drop out (<s> always: it starts a history and is never predicted;
 *      more with lm_sampler_ban), and so do ids whose log-probability is -inf;
 *   2. temperature 0: the most probable remaining id (the lowest id on ties), no
 *      randomness;
 *   3. otherwise q_i ∝ exp (ln p_i / temperature) over the remaining ids;
 *   4. top-k > 0: keep the k most probable (ties go to the lower id);
 *   5. top-p < 1: of those, keep the smallest most-probable-first prefix whose share
 *      of their mass reaches top_p (at least one id);
 *   6. draw from what is kept, renormalised, with the sampler's own LmRng.
 * Scratch space grows to V once; sampling allocates nothing after the first call.
 */
#pragma once

#include <glib.h>

#include "core/lm-model.h"
#include "core/lm-rng.h"

G_BEGIN_DECLS

typedef struct _LmSampler LmSampler;

/* temperature >= 0 and finite (0 = argmax); top_k 0 = off; top_p in (0, 1] (1 = off).
 * Anything else is LM_ERROR_INVALID_CONFIG naming the parameter. */
LmSampler *lm_sampler_new (double temperature, guint top_k, double top_p, guint64 seed,
                           GError **error);
void lm_sampler_free (LmSampler *sampler);
/* Never sample id (id >= 0; ids beyond a vector's V are ignored). <s> is banned from
 * the start. */
void lm_sampler_ban (LmSampler *sampler, gint32 id);
/* The random state, e.g. to save and restore it with a checkpoint. */
LmRng *lm_sampler_rng (LmSampler *sampler);

/* Sample one id from logprobs[0..V). A NaN or +inf entry, or no id left to sample
 * (all banned or -inf), is LM_ERROR_NUMERIC. */
gboolean lm_sampler_sample (LmSampler *sampler, const float *logprobs, guint32 V, gint32 *id,
                            GError **error);

/* Generate n_tokens ids into out (caller-allocated, n_tokens long; the prompt is not
 * copied there) with a model that has LM_CAP_STREAM: begin at <s>, step through the
 * prompt (ids in [0, V), not <s>), then sample and step n_tokens times. A model
 * without streaming is LM_ERROR_UNSUPPORTED, a bad prompt id LM_ERROR_INVALID_INPUT. */
gboolean lm_generate (LmModel *model, LmSampler *sampler, const gint32 *prompt, gsize n_prompt,
                      gsize n_tokens, gint32 *out, GError **error);

/* Called with each generated id in turn; returning FALSE stops the generation early
 * (an interrupt, say), which is not an error. */
typedef gboolean (*LmIdFunc) (gint32 id, gpointer user_data);

/* lm_generate with each id handed to func as it is sampled and none kept: memory does not
 * grow with n_tokens, and a caller can print as it goes (lmlab generate) and stop. The
 * same ids as lm_generate for the same sampler state. */
gboolean lm_generate_each (LmModel *model, LmSampler *sampler, const gint32 *prompt,
                           gsize n_prompt, gsize n_tokens, LmIdFunc func, gpointer user_data,
                           GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmSampler, lm_sampler_free)

G_END_DECLS
