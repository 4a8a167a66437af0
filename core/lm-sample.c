/* lm-sample.c — temperature / top-k / top-p sampling with a seeded RNG, and generation
 * through the streaming interface. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-sample.h"
#include "core/lm-vocab.h"

typedef struct
{
  double weight; /* exp ((ln p - max) / temperature), unnormalised */
  gint32 id;
} Candidate;

struct _LmSampler
{
  double temperature;
  guint top_k;
  double top_p;
  LmRng rng;
  guint8 *banned; /* banned[id] for id < n_banned */
  gsize n_banned;
  Candidate *candidates; /* scratch, capacity entries */
  gsize capacity;
};

LmSampler *
lm_sampler_new (double temperature, guint top_k, double top_p, guint64 seed, GError **error)
{
  if (!isfinite (temperature) || temperature < 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "temperature must be a finite number >= 0 (0 always picks the most "
                   "probable token), not %g",
                   temperature);
      return NULL;
    }
  /* !(x > 0) also catches NaN. */
  if (!(top_p > 0) || !(top_p <= 1))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "top_p must be in (0, 1] (1 turns it off), not %g", top_p);
      return NULL;
    }
  LmSampler *sampler = g_new0 (LmSampler, 1);
  sampler->temperature = temperature;
  sampler->top_k = top_k;
  sampler->top_p = top_p;
  lm_rng_seed (&sampler->rng, seed);
  lm_sampler_ban (sampler, LM_TOKEN_BOS);
  return sampler;
}

void
lm_sampler_free (LmSampler *sampler)
{
  if (sampler == NULL)
    return;
  g_free (sampler->banned);
  g_free (sampler->candidates);
  g_free (sampler);
}

void
lm_sampler_ban (LmSampler *sampler, gint32 id)
{
  g_return_if_fail (sampler != NULL && id >= 0);
  if ((gsize)id >= sampler->n_banned)
    {
      gsize n = MAX ((gsize)id + 1, 2 * sampler->n_banned);
      sampler->banned = g_realloc (sampler->banned, n);
      memset (sampler->banned + sampler->n_banned, 0, n - sampler->n_banned);
      sampler->n_banned = n;
    }
  sampler->banned[id] = 1;
}

LmRng *
lm_sampler_rng (LmSampler *sampler)
{
  g_return_val_if_fail (sampler != NULL, NULL);
  return &sampler->rng;
}

/* Most probable first; the lower id first among equals, so results never depend on
 * the sort's stability. */
static int
candidate_compare (const void *a, const void *b)
{
  const Candidate *x = a, *y = b;
  if (x->weight != y->weight)
    return x->weight > y->weight ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

gboolean
lm_sampler_sample (LmSampler *sampler, const float *logprobs, guint32 V, gint32 *id, GError **error)
{
  g_return_val_if_fail (sampler != NULL && logprobs != NULL && id != NULL, FALSE);

  /* 1. Drop banned and impossible ids; find the maximum for a stable exp. */
  gint32 best = -1;
  float best_logprob = -INFINITY;
  for (guint32 v = 0; v < V; v++)
    {
      float lp = logprobs[v];
      if (isnan (lp) || lp == INFINITY)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_NUMERIC,
                       "next-token log-probability of id %u is %g", v, (double)lp);
          return FALSE;
        }
      if (lp == -INFINITY || (v < sampler->n_banned && sampler->banned[v]))
        continue;
      if (best < 0 || lp > best_logprob)
        {
          best = (gint32)v;
          best_logprob = lp;
        }
    }
  if (best < 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NUMERIC,
                   "no token can be sampled: all %u ids are banned or have probability 0", V);
      return FALSE;
    }

  /* 2. Temperature 0 is argmax. */
  if (sampler->temperature == 0)
    {
      *id = best;
      return TRUE;
    }

  /* 3. q_i ∝ exp ((ln p_i - max) / T): the maximum maps to 1, nothing overflows. */
  if (sampler->capacity < V)
    {
      g_free (sampler->candidates);
      sampler->candidates = g_new (Candidate, V);
      sampler->capacity = V;
    }
  Candidate *c = sampler->candidates;
  gsize n = 0;
  double inverse_temperature = 1.0 / sampler->temperature;
  for (guint32 v = 0; v < V; v++)
    {
      float lp = logprobs[v];
      if (lp == -INFINITY || (v < sampler->n_banned && sampler->banned[v]))
        continue;
      c[n].weight = exp (((double)lp - (double)best_logprob) * inverse_temperature);
      c[n].id = (gint32)v;
      n++;
    }

  /* 4, 5. Truncation needs the candidates most probable first. */
  gboolean top_k_on = sampler->top_k > 0 && sampler->top_k < n;
  gboolean top_p_on = sampler->top_p < 1;
  if (top_k_on || top_p_on)
    {
      qsort (c, n, sizeof *c, candidate_compare);
      if (top_k_on)
        n = sampler->top_k;
      if (top_p_on)
        {
          /* Smallest prefix j with Σ_{i<=j} q_i >= top_p Σ_i q_i. */
          double total = 0;
          for (gsize i = 0; i < n; i++)
            total += c[i].weight;
          double threshold = sampler->top_p * total, mass = 0;
          for (gsize i = 0; i < n; i++)
            {
              mass += c[i].weight;
              if (mass >= threshold)
                {
                  n = i + 1;
                  break;
                }
            }
        }
    }

  /* 6. Inverse CDF: the first id whose cumulative weight exceeds u Σ q. */
  double total = 0;
  for (gsize i = 0; i < n; i++)
    total += c[i].weight;
  double u = lm_rng_double (&sampler->rng) * total, mass = 0;
  for (gsize i = 0; i < n; i++)
    {
      mass += c[i].weight;
      if (u < mass)
        {
          *id = c[i].id;
          return TRUE;
        }
    }
  /* Rounding left u at the very top: the last id that has any weight. */
  for (gsize i = n; i-- > 0;)
    if (c[i].weight > 0)
      {
        *id = c[i].id;
        return TRUE;
      }
  *id = best;
  return TRUE;
}

gboolean
lm_generate_each (LmModel *model, LmSampler *sampler, const gint32 *prompt, gsize n_prompt,
                  gsize n_tokens, LmIdFunc func, gpointer user_data, GError **error)
{
  g_return_val_if_fail (model != NULL && sampler != NULL && func != NULL, FALSE);
  g_return_val_if_fail (prompt != NULL || n_prompt == 0, FALSE);

  const LmModelClass *klass = model->klass;
  if (!lm_model_has (model, LM_CAP_STREAM))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED,
                   "model %s cannot generate: it has no streaming interface", klass->name);
      return FALSE;
    }
  guint32 V = lm_model_vocab_size (model);
  for (gsize i = 0; i < n_prompt; i++)
    if (prompt[i] == LM_TOKEN_BOS)
      {
        g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                     "prompt token %" G_GSIZE_FORMAT " is <s>, the start-of-sentence mark "
                     "every generation begins from: leave it out of the prompt", i);
        return FALSE;
      }
    else if (prompt[i] < 0 || (guint32)prompt[i] >= V)
      {
        g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                     "prompt token %" G_GSIZE_FORMAT " has id %d, not a token of the "
                     "vocabulary (1 to %u)",
                     i, prompt[i], V - 1);
        return FALSE;
      }

  LmState *state = klass->state_new (model);
  g_autofree float *logprobs = g_new (float, V);
  gboolean ok = TRUE;
  klass->state_begin (model, state);
  for (gsize i = 0; i < n_prompt; i++)
    klass->state_step (model, state, prompt[i]);
  for (gsize i = 0; i < n_tokens; i++)
    {
      gint32 id;
      klass->state_logprobs (model, state, logprobs);
      if (!lm_sampler_sample (sampler, logprobs, V, &id, error))
        {
          g_prefix_error (error, "model %s, generating token %" G_GSIZE_FORMAT ": ", klass->name,
                          i);
          ok = FALSE;
          break;
        }
      if (!func (id, user_data))
        break;
      if (i + 1 < n_tokens) /* the last token's successor is never asked for */
        klass->state_step (model, state, id);
    }
  klass->state_free (model, state);
  return ok;
}

static gboolean
store_id (gint32 id, gpointer user_data)
{
  gint32 **next = user_data;
  *(*next)++ = id;
  return TRUE;
}

gboolean
lm_generate (LmModel *model, LmSampler *sampler, const gint32 *prompt, gsize n_prompt,
             gsize n_tokens, gint32 *out, GError **error)
{
  g_return_val_if_fail (out != NULL || n_tokens == 0, FALSE);
  gint32 *next = out;
  return lm_generate_each (model, sampler, prompt, n_prompt, n_tokens, store_id, &next, error);
}
