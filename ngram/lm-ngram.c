/* lm-ngram.c — the "ngram" model class: options, fit, scoring, streaming, save/load. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-error.h"
#include "ngram/lm-ngram-arpa.h"
#include "ngram/lm-ngram-estimate.h"
#include "ngram/lm-ngram-prune.h"
#include "ngram/lm-ngram-table.h"
#include "ngram/lm-ngram.h"

static const LmOptionSpec ngram_options[] = {
  { "order", LM_OPTION_INT, "3", 1, LM_NGRAM_MAX_ORDER, NULL, "n-gram order (words of context + 1)" },
  { "smoothing", LM_OPTION_STRING, "mkn", 0, 0, "mle|addk|wb|abs|kn|mkn|arpa",
    "mle, add-k, Witten-Bell, absolute discounting, Kneser-Ney, modified Kneser-Ney" },
  { "interpolate", LM_OPTION_BOOL, "true", 0, 0, NULL,
    "interpolate every order with the next lower one (false: backoff form)" },
  { "k", LM_OPTION_DOUBLE, "1", 0, 1e9, NULL, "addk: pseudo-count per word (1: Laplace)" },
  { "discount", LM_OPTION_DOUBLE, "-1", -1, 1e6, NULL,
    "abs: the discount D (negative: n1/(n1+2 n2) per order)" },
  { "cutoffs", LM_OPTION_STRING, "0", 0, 0, NULL,
    "per order, drop n-grams seen at most this often: \"0,0,1\" (last value repeats)" },
  { "prune", LM_OPTION_DOUBLE, "0", 0, 1, NULL,
    "relative-entropy pruning threshold (Stolcke 1998; 0: off; try 1e-8..1e-6)" },
  { "discount_fallback", LM_OPTION_STRING, "0.5,1,1.5", 0, 0, NULL,
    "Kneser-Ney discounts D1,D2,D3+ where count-of-counts cannot give them, or \"error\"" },
  { "boundary", LM_OPTION_STRING, "auto", 0, 0, "auto|eos|newline|none",
    "what ends a sentence (context restarts at <s>): auto = </s> (word) or newline (char/byte)" },
  { NULL },
};

typedef struct {
  LmModel parent;
  LmNgramEstimateParams params;
  double prune;
  gboolean imported;
  LmNgramTable *table;
  char *notes;
  char *report;
} LmNgramModel;

struct _LmState {
  LmNgramState ngram;
};

#define NGRAM(m) ((LmNgramModel *) (m))

/* ---- options ----------------------------------------------------------------------- */

static gboolean
parse_list (const char *text, double *values, int max, int *n_out)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  int n = 0;
  for (int i = 0; parts[i]; i++)
    {
      char *s = g_strstrip (parts[i]), *end;
      if (*s == '\0' || n == max)
        return FALSE;
      values[n] = g_ascii_strtod (s, &end);
      if (*end != '\0' || !isfinite (values[n]))
        return FALSE;
      n++;
    }
  *n_out = n;
  return n > 0;
}

static gint32
boundary_id (const LmVocab *vocab, const char *boundary)
{
  LmLevel level = lm_vocab_level (vocab);
  if (g_strcmp0 (boundary, "none") == 0)
    return -1;
  if (g_strcmp0 (boundary, "eos") == 0
      || (g_strcmp0 (boundary, "auto") == 0 && level == LM_LEVEL_WORD))
    return LM_TOKEN_EOS;
  /* newline, or auto at char/byte level; a vocabulary without '\n' has no boundary. */
  return level == LM_LEVEL_WORD ? LM_TOKEN_EOS : lm_vocab_lookup (vocab, "\n", 1);
}

static gboolean
read_options (LmNgramModel *self, const LmConfig *config, LmVocab *vocab, GError **error)
{
  LmNgramEstimateParams *p = &self->params;
  const char *smoothing = lm_config_get_string (config, "smoothing");
  LmSmoothing s = LM_SMOOTHING_MKN;
  self->imported = g_strcmp0 (smoothing, "arpa") == 0;
  if (!self->imported && !lm_smoothing_parse (smoothing, &s))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "smoothing '%s' is not one of "
                   "mle|addk|wb|abs|kn|mkn", smoothing);
      return FALSE;
    }
  lm_ngram_estimate_params_init (p, (int) lm_config_get_int (config, "order"), s,
                                 lm_vocab_size (vocab));
  p->interpolate = lm_config_get_bool (config, "interpolate");
  p->k = lm_config_get_double (config, "k");
  p->discount = lm_config_get_double (config, "discount");
  /* an option the chosen smoothing never reads is a mistake worth saying, not ignoring */
  if (!self->imported && p->discount >= 0 && s != LM_SMOOTHING_ABS)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "discount=%g (%s) applies only to smoothing=abs; %s estimates its own "
                   "discounts (discount_fallback sets the Kneser-Ney fallbacks)", p->discount,
                   lm_config_origin (config, "discount"), lm_smoothing_name (s));
      return FALSE;
    }
  if (!self->imported && p->k != 1.0 && s != LM_SMOOTHING_ADDK)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "k=%g (%s) applies only to smoothing=addk, not %s", p->k,
                   lm_config_origin (config, "k"), lm_smoothing_name (s));
      return FALSE;
    }
  p->eos = boundary_id (vocab, lm_config_get_string (config, "boundary"));
  self->prune = lm_config_get_double (config, "prune");

  double v[LM_NGRAM_MAX_ORDER];
  int n;
  const char *cutoffs = lm_config_get_string (config, "cutoffs");
  if (!parse_list (cutoffs, v, LM_NGRAM_MAX_ORDER, &n))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "cutoffs '%s' (%s): expected up to %d counts separated by commas, e.g. "
                   "\"0,0,1\"", cutoffs, lm_config_origin (config, "cutoffs") ?: "default",
                   LM_NGRAM_MAX_ORDER);
      return FALSE;
    }
  for (int i = 0; i < LM_NGRAM_MAX_ORDER; i++)
    {
      double c = v[MIN (i, n - 1)];
      if (c < 0 || c != floor (c) || c > 1e15)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "cutoffs '%s': %g is not a count", cutoffs, c);
          return FALSE;
        }
      p->cutoff[i] = (guint64) c;
    }
  if (p->cutoff[0] != 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "cutoffs '%s': unigrams cannot be cut off (start the list with 0; the "
                   "vocabulary's min_count removes rare words)", cutoffs);
      return FALSE;
    }
  for (int i = 1; i < LM_NGRAM_MAX_ORDER; i++)
    if (p->cutoff[i] < p->cutoff[i - 1])
      {
        g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                     "cutoffs '%s' must not decrease with the order", cutoffs);
        return FALSE;
      }

  const char *fallback = lm_config_get_string (config, "discount_fallback");
  if (g_strcmp0 (fallback, "error") == 0)
    p->fallback_error = TRUE;
  else if (!parse_list (fallback, v, 3, &n) || n != 3 || v[0] < 0 || v[0] > 1 || v[1] < 0
           || v[1] > 2 || v[2] < 0 || v[2] > 3)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "discount_fallback '%s': expected \"D1,D2,D3+\" with 0 <= Dj <= j "
                   "(e.g. \"0.5,1,1.5\") or \"error\"", fallback);
      return FALSE;
    }
  else
    memcpy (p->fallback, v, sizeof p->fallback);
  return TRUE;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static LmModel *
ngram_create (const LmConfig *config, LmVocab *vocab, GError **error)
{
  LmNgramModel *self = g_new0 (LmNgramModel, 1);
  lm_model_init (&self->parent, &lm_ngram_class, config, vocab);
  if (!read_options (self, config, vocab, error))
    {
      lm_model_clear (&self->parent);
      g_free (self);
      return NULL;
    }
  return &self->parent;
}

static void
ngram_destroy (LmModel *model)
{
  LmNgramModel *self = NGRAM (model);
  lm_ngram_table_free (self->table);
  g_free (self->notes);
  g_free (self->report);
  lm_model_clear (model);
  g_free (self);
}

static void
ngram_describe (LmModel *model, LmModelInfo *info)
{
  LmNgramModel *self = NGRAM (model);
  const LmNgramEstimateParams *p = &self->params;
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "order=%d smoothing=%s", p->order,
                          self->imported ? "arpa" : lm_smoothing_name (p->smoothing));
  if (!self->imported)
    g_string_append_printf (s, " %s", p->interpolate ? "interpolated" : "backoff");
  if (self->table)
    {
      info->n_params = lm_ngram_table_count (self->table);
      info->bytes = lm_ngram_table_bytes (self->table);
      /* A look-up per order: no floating-point work to speak of. */
      info->forward_flops = self->table->order;
      g_string_append (s, " n-grams=");
      for (int i = 0; i < self->table->order; i++)
        g_string_append_printf (s, "%s%u", i ? "/" : "", self->table->level[i].n);
    }
  if (self->notes)
    g_string_append (s, " (discount fallback used: see notes)");
  info->summary = g_string_free (s, FALSE);
}

/* ---- fit --------------------------------------------------------------------------------- */

static gboolean
ngram_fit (LmModel *model, const gint32 *tokens, gsize n_tokens, LmProgressFunc progress,
           gpointer user_data, GError **error)
{
  LmNgramModel *self = NGRAM (model);
  if (self->imported)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED,
                   "an ARPA-imported model (smoothing=arpa) cannot be fitted: choose a "
                   "smoothing (mle|addk|wb|abs|kn|mkn)");
      return FALSE;
    }
  /* The fallback stands in for discounts estimated from counts of counts (kn, mkn, abs
   * without a discount): given to another smoothing it would do nothing. Checked here,
   * where it would act, rather than when the model is made, so that a model saved with
   * such a setting before lmlab refused it still loads. */
  const LmNgramEstimateParams *p = &self->params;
  gboolean estimates = p->smoothing == LM_SMOOTHING_KN || p->smoothing == LM_SMOOTHING_MKN
                       || (p->smoothing == LM_SMOOTHING_ABS && p->discount < 0);
  gboolean fallback_set = p->fallback_error || p->fallback[0] != 0.5 || p->fallback[1] != 1.0
                          || p->fallback[2] != 1.5;
  if (!estimates && fallback_set)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "discount_fallback=%s (%s) applies only where discounts are estimated "
                   "(smoothing=kn, mkn, or abs without discount), not %s%s",
                   lm_config_get_string (model->config, "discount_fallback"),
                   lm_config_origin (model->config, "discount_fallback") ?: "set",
                   lm_smoothing_name (p->smoothing),
                   p->smoothing == LM_SMOOTHING_ABS ? " with a discount" : "");
      return FALSE;
    }
  LmNgramEstimateReport report;
  LmNgramTable *table = lm_ngram_estimate (tokens, n_tokens, &self->params, &report, error);
  if (table == NULL)
    {
      g_prefix_error (error, "fitting the %d-gram model: ", self->params.order);
      return FALSE;
    }
  if (self->prune > 0.0)
    {
      LmNgramTable *pruned = lm_ngram_table_prune (table, self->prune, error);
      lm_ngram_table_free (table);
      if (pruned == NULL)
        {
          lm_ngram_estimate_report_clear (&report);
          return FALSE;
        }
      table = pruned;
    }
  lm_ngram_table_free (self->table);
  self->table = table;
  g_free (self->notes);
  g_free (self->report);
  self->notes = g_steal_pointer (&report.notes);
  self->report = lm_ngram_estimate_report_format (&report, self->params.smoothing);
  lm_ngram_estimate_report_clear (&report);
  if (progress)
    progress (n_tokens, n_tokens, user_data);
  return TRUE;
}

static gboolean
require_table (LmNgramModel *self, GError **error)
{
  if (self->table)
    return TRUE;
  g_set_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED,
               "the n-gram model has no tables yet: fit it (lmlab train) or load one");
  return FALSE;
}

/* ---- scoring ------------------------------------------------------------------------------- */

static gboolean
ngram_score (LmModel *model, const gint32 *tokens, gsize n_tokens, LmScoreOutput *out,
             LmProgressFunc progress, gpointer user_data, GError **error)
{
  LmNgramModel *self = NGRAM (model);
  if (!require_table (self, error))
    return FALSE;
  LmNgramTable *table = self->table;
  const guint32 V = table->vocab_size;
  for (gsize i = 0; i < n_tokens; i++)
    if (tokens[i] < 0 || (guint32) tokens[i] >= V)
      {
        g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
                     "token %" G_GSIZE_FORMAT " has id %d, outside the model's vocabulary of %u",
                     i, tokens[i], V);
        return FALSE;
      }
  if (!lm_ngram_table_prepare (table, error))
    return FALSE;
  LmNgramState state;
  lm_ngram_state_begin (table, &state);
  const gboolean full = out->predicted != NULL || out->rank != NULL;
  const gsize chunk = 1 << 20;
  if (!full)
    {
      /* Perplexity only: the batched scorer overlaps the look-ups of many tokens. */
      for (gsize i = 0; i < n_tokens; i += chunk)
        {
          gsize len = MIN (chunk, n_tokens - i);
          lm_ngram_state_score_batch (table, &state, tokens + i, len, out->logprob + i);
          if (progress && i + len < n_tokens)
            progress (i + len, n_tokens, user_data);
        }
      if (progress)
        progress (n_tokens, n_tokens, user_data);
      return TRUE;
    }
  g_autofree float *dist = g_new (float, V);
  for (gsize i = 0; i < n_tokens; i++)
    {
      gint32 w = tokens[i];
      lm_ngram_state_distribution (table, &state, dist);
      float target = dist[w], best = -INFINITY;
      guint32 arg = 0, above = 0;
      /* the rank as the neural models count it (core/lm-ops.c): ids with a higher
       * probability, or an equal one and a smaller id, so that the argmax (the smallest
       * id among equal maxima) is the one top-1 guess; a probability of 0 is no guess */
      for (guint32 v = 0; v < V; v++)
        {
          float x = dist[v];
          if (x > best)
            {
              best = x;
              arg = v;
            }
          above += x > target || (x == target && v < (guint32) w);
        }
      if (out->predicted)
        out->predicted[i] = (gint32) arg;
      if (out->rank)
        out->rank[i] = target == -INFINITY ? 255 : (guint8) MIN (above, 255u);
      out->logprob[i] = lm_ngram_state_score (table, &state, w);
      if (progress && (i + 1) % chunk == 0)
        progress (i + 1, n_tokens, user_data);
    }
  if (progress)
    progress (n_tokens, n_tokens, user_data);
  return TRUE;
}

/* ---- streaming ----------------------------------------------------------------------------- */

static LmState *
ngram_state_new (LmModel *model)
{
  LmState *state = g_new0 (LmState, 1);
  if (NGRAM (model)->table)
    lm_ngram_state_begin (NGRAM (model)->table, &state->ngram);
  return state;
}

static void
ngram_state_free (LmModel *model, LmState *state)
{
  g_free (state);
}

static void
ngram_state_copy (LmModel *model, LmState *dst, const LmState *src)
{
  *dst = *src;
}

static void
ngram_state_begin (LmModel *model, LmState *state)
{
  g_return_if_fail (NGRAM (model)->table != NULL);
  lm_ngram_state_begin (NGRAM (model)->table, &state->ngram);
}

static void
ngram_state_step (LmModel *model, LmState *state, gint32 token)
{
  LmNgramTable *table = NGRAM (model)->table;
  g_return_if_fail (table != NULL && token >= 0 && (guint32) token < table->vocab_size);
  lm_ngram_state_score (table, &state->ngram, token);
}

static void
ngram_state_logprobs (LmModel *model, LmState *state, float *logprobs)
{
  g_return_if_fail (NGRAM (model)->table != NULL);
  lm_ngram_state_distribution (NGRAM (model)->table, &state->ngram, logprobs);
}

/* ---- save / load ------------------------------------------------------------------------------ */

#define NGRAM_FORMAT_VERSION 1

typedef struct {
  guint32 version;
  guint32 order;
  guint32 vocab_size;
  gint32 eos;
  guint32 counts[LM_NGRAM_MAX_ORDER];
} NgramMeta;

static gboolean
add_array (LmCheckpointWriter *writer, int level, const char *what, const void *data, gsize len,
           GError **error)
{
  g_autofree char *name = g_strdup_printf ("ngram/%d/%s", level + 1, what);
  return lm_checkpoint_writer_add (writer, name, data, len, error);
}

static gboolean
ngram_save (LmModel *model, LmCheckpointWriter *writer, GError **error)
{
  LmNgramModel *self = NGRAM (model);
  if (!require_table (self, error))
    return FALSE;
  const LmNgramTable *t = self->table;
  NgramMeta meta = { NGRAM_FORMAT_VERSION, (guint32) t->order, t->vocab_size, t->eos, { 0 } };
  for (int i = 0; i < t->order; i++)
    meta.counts[i] = t->level[i].n;
  if (!lm_checkpoint_writer_add (writer, "ngram/meta", &meta, sizeof meta, error))
    return FALSE;
  if (self->report
      && !lm_checkpoint_writer_add (writer, "ngram/report", self->report, strlen (self->report),
                                    error))
    return FALSE;
  if (self->notes
      && !lm_checkpoint_writer_add (writer, "ngram/notes", self->notes, strlen (self->notes),
                                    error))
    return FALSE;
  for (int i = 0; i < t->order; i++)
    {
      const LmNgramLevel *lv = &t->level[i];
      if ((lv->word && !add_array (writer, i, "word", lv->word, lv->n * sizeof (guint32), error))
          || !add_array (writer, i, "logprob", lv->logprob, lv->n * sizeof (float), error)
          || (lv->backoff
              && (!add_array (writer, i, "backoff", lv->backoff, lv->n * sizeof (float), error)
                  || !add_array (writer, i, "child", lv->child, (lv->n + 1) * sizeof (guint32),
                                 error))))
        return FALSE;
    }
  return TRUE;
}

static gboolean
get_array (const LmCheckpoint *checkpoint, int level, const char *what, void *dst, gsize len,
           GError **error)
{
  g_autofree char *name = g_strdup_printf ("ngram/%d/%s", level + 1, what);
  const void *data;
  if (!lm_checkpoint_get_exact (checkpoint, name, &data, len, error))
    return FALSE;
  memcpy (dst, data, len);
  return TRUE;
}

static gboolean
corrupt (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
corrupt (GError **error, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT, "n-gram tables: %s", msg);
  return FALSE;
}

/* The trie invariants scoring relies on, so a damaged file cannot send a look-up
 * out of bounds. */
static gboolean
check_table (const LmNgramTable *t, GError **error)
{
  for (int i = 0; i + 1 < t->order; i++)
    {
      const LmNgramLevel *lv = &t->level[i], *up = &t->level[i + 1];
      if (lv->child[0] != 0 || lv->child[lv->n] != up->n)
        return corrupt (error, "order %d: child ranges do not cover order %d", i + 1, i + 2);
      for (guint32 g = 0; g < lv->n; g++)
        {
          if (lv->child[g + 1] < lv->child[g])
            return corrupt (error, "order %d: child ranges decrease", i + 1);
          for (guint32 j = lv->child[g]; j < lv->child[g + 1]; j++)
            if (up->word[j] >= t->vocab_size || (j > lv->child[g] && up->word[j] <= up->word[j - 1]))
              return corrupt (error, "order %d: words out of range or out of order", i + 2);
        }
    }
  return TRUE;
}

static gboolean
ngram_load (LmModel *model, const LmCheckpoint *checkpoint, GError **error)
{
  LmNgramModel *self = NGRAM (model);
  NgramMeta meta;
  const void *data;
  gsize len;
  if (!lm_checkpoint_get_exact (checkpoint, "ngram/meta", &data, sizeof meta, error))
    return FALSE;
  memcpy (&meta, data, sizeof meta);
  if (meta.version != NGRAM_FORMAT_VERSION)
    return corrupt (error, "format version %u (this lmlab reads %d)", meta.version,
                    NGRAM_FORMAT_VERSION);
  if (meta.order < 1 || meta.order > LM_NGRAM_MAX_ORDER || (int) meta.order != self->params.order)
    return corrupt (error, "order %u does not match the configuration's %d", meta.order,
                    self->params.order);
  if (meta.vocab_size != lm_vocab_size (model->vocab) || meta.counts[0] != meta.vocab_size
      || meta.eos < -1 || (meta.eos >= 0 && (guint32) meta.eos >= meta.vocab_size))
    return corrupt (error, "vocabulary of %u ids, the model's has %u", meta.vocab_size,
                    lm_vocab_size (model->vocab));
  for (guint32 i = 1; i < meta.order; i++)
    if (meta.counts[i] > G_MAXUINT32 / 2)
      return corrupt (error, "order %u claims %u n-grams", i + 1, meta.counts[i]);
  LmNgramTable *t = lm_ngram_table_new ((int) meta.order, meta.vocab_size, meta.eos, meta.counts);
  for (int i = 0; i < t->order; i++)
    {
      LmNgramLevel *lv = &t->level[i];
      if ((lv->word && !get_array (checkpoint, i, "word", lv->word, lv->n * sizeof (guint32), error))
          || !get_array (checkpoint, i, "logprob", lv->logprob, lv->n * sizeof (float), error)
          || (lv->backoff
              && (!get_array (checkpoint, i, "backoff", lv->backoff, lv->n * sizeof (float), error)
                  || !get_array (checkpoint, i, "child", lv->child, (lv->n + 1) * sizeof (guint32),
                                 error))))
        {
          lm_ngram_table_free (t);
          return FALSE;
        }
    }
  if (!check_table (t, error))
    {
      lm_ngram_table_free (t);
      return FALSE;
    }
  /* Build the probing index now, so that loading pays for it and scoring starts fast. */
  if (!lm_ngram_table_prepare (t, error))
    {
      lm_ngram_table_free (t);
      return FALSE;
    }
  lm_ngram_table_free (self->table);
  self->table = t;
  g_clear_pointer (&self->report, g_free);
  g_clear_pointer (&self->notes, g_free);
  if (lm_checkpoint_has (checkpoint, "ngram/report")
      && lm_checkpoint_get (checkpoint, "ngram/report", &data, &len, NULL))
    self->report = g_strndup (data, len);
  if (lm_checkpoint_has (checkpoint, "ngram/notes")
      && lm_checkpoint_get (checkpoint, "ngram/notes", &data, &len, NULL))
    self->notes = g_strndup (data, len);
  return TRUE;
}

/* ---- the class ------------------------------------------------------------------------------ */

const LmModelClass lm_ngram_class = {
  .name = "ngram",
  .description = "count-based n-gram model (MLE, add-k, Witten-Bell, absolute, KN, modified KN)",
  .capabilities = LM_CAP_FIT | LM_CAP_SCORE | LM_CAP_STREAM | LM_CAP_SAVE,
  .options = ngram_options,
  .create = ngram_create,
  .destroy = ngram_destroy,
  .describe = ngram_describe,
  .fit = ngram_fit,
  .score = ngram_score,
  .state_new = ngram_state_new,
  .state_free = ngram_state_free,
  .state_copy = ngram_state_copy,
  .state_begin = ngram_state_begin,
  .state_step = ngram_state_step,
  .state_logprobs = ngram_state_logprobs,
  .save = ngram_save,
  .load = ngram_load,
};

/* ---- ARPA and reports --------------------------------------------------------------------- */

gboolean
lm_ngram_write_arpa (LmModel *model, const char *path, gboolean replace, GError **error)
{
  g_return_val_if_fail (model->klass == &lm_ngram_class, FALSE);
  LmNgramModel *self = NGRAM (model);
  if (!require_table (self, error))
    return FALSE;
  return lm_ngram_table_write_arpa (self->table, model->vocab, path, replace, error);
}

static LmModel *
model_from_table (LmNgramTable *table, LmVocab *vocab, GError **error)
{
  g_autoptr (LmConfig) config = lm_config_new ();
  g_autofree char *order = g_strdup_printf ("%d", table->order);
  lm_config_set (config, "order", order, "ARPA file");
  lm_config_set (config, "smoothing", "arpa", "ARPA file");
  lm_config_set (config, "boundary", "eos", "ARPA file");
  LmModel *model = lm_model_new (&lm_ngram_class, config, vocab, error);
  if (model == NULL)
    {
      lm_ngram_table_free (table);
      return NULL;
    }
  NGRAM (model)->table = table;
  return model;
}

LmModel *
lm_ngram_read_arpa_data (const char *name, const char *data, gsize len, GError **error)
{
  g_autoptr (LmVocab) vocab = NULL;
  LmNgramTable *table = lm_ngram_table_read_arpa_data (name, data, len, &vocab, error);
  if (table == NULL)
    return NULL;
  return model_from_table (table, vocab, error);
}

LmModel *
lm_ngram_read_arpa (const char *path, GError **error)
{
  g_autoptr (LmVocab) vocab = NULL;
  LmNgramTable *table = lm_ngram_table_read_arpa (path, &vocab, error);
  if (table == NULL)
    return NULL;
  return model_from_table (table, vocab, error);
}

const char *
lm_ngram_notes (LmModel *model)
{
  g_return_val_if_fail (model->klass == &lm_ngram_class, NULL);
  return NGRAM (model)->notes;
}

const char *
lm_ngram_report (LmModel *model)
{
  g_return_val_if_fail (model->klass == &lm_ngram_class, NULL);
  return NGRAM (model)->report;
}

guint64
lm_ngram_count (LmModel *model, int n)
{
  g_return_val_if_fail (model->klass == &lm_ngram_class, 0);
  LmNgramTable *t = NGRAM (model)->table;
  if (t == NULL || n < 1 || n > t->order)
    return 0;
  return t->level[n - 1].n;
}
