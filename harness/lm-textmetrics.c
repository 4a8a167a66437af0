/* lm-textmetrics.c — corpus BLEU and ROUGE-1/2/L over token-id sequences.
 *
 * The equations are in lm-textmetrics.h; docs/metrics.md says which reference
 * implementation each option reproduces and where they differ.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-error.h"
#include "harness/lm-textmetrics.h"

/* ---- strings to ids -------------------------------------------------------------- */

struct _LmTokenTable {
  GHashTable *ids; /* owned string -> id + 1 (so that no id is NULL) */
};

LmTokenTable *
lm_token_table_new (void)
{
  LmTokenTable *table = g_new0 (LmTokenTable, 1);
  table->ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return table;
}

void
lm_token_table_free (LmTokenTable *table)
{
  if (table == NULL)
    return;
  g_hash_table_unref (table->ids);
  g_free (table);
}

gsize
lm_token_table_size (const LmTokenTable *table)
{
  return g_hash_table_size (table->ids);
}

static gint32
token_table_id (LmTokenTable *table, const char *symbol, gsize len, GString *scratch)
{
  g_string_truncate (scratch, 0);
  g_string_append_len (scratch, symbol, len);
  gpointer value = g_hash_table_lookup (table->ids, scratch->str);
  if (value != NULL)
    return GPOINTER_TO_INT (value) - 1;
  gint32 id = (gint32) g_hash_table_size (table->ids);
  g_hash_table_insert (table->ids, g_strndup (symbol, len), GINT_TO_POINTER (id + 1));
  return id;
}

static gboolean
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

LmSentences *
lm_sentences_split (LmTokenTable *table, const char *data, gsize len)
{
  g_autoptr (GArray) tokens = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) starts = g_array_new (FALSE, FALSE, sizeof (gsize)); /* per line */
  g_autoptr (GString) scratch = g_string_new (NULL);
  gsize i = 0;
  while (i < len)
    {
      gsize start = tokens->len;
      g_array_append_val (starts, start);
      while (i < len && data[i] != '\n')
        {
          if (is_space (data[i]))
            {
              i++;
              continue;
            }
          gsize begin = i;
          while (i < len && data[i] != '\n' && !is_space (data[i]))
            i++;
          gint32 id = token_table_id (table, data + begin, i - begin, scratch);
          g_array_append_val (tokens, id);
        }
      if (i < len)
        i++; /* the '\n' */
    }

  LmSentences *sentences = g_new0 (LmSentences, 1);
  sentences->n_lines = starts->len;
  sentences->n_tokens = tokens->len;
  sentences->tokens = (gint32 *) g_array_free (g_steal_pointer (&tokens), FALSE);
  sentences->lines = g_new0 (LmTokenSeq, MAX (sentences->n_lines, 1));
  for (gsize l = 0; l < sentences->n_lines; l++)
    {
      gsize begin = g_array_index (starts, gsize, l);
      gsize end = l + 1 < sentences->n_lines ? g_array_index (starts, gsize, l + 1)
                                              : sentences->n_tokens;
      sentences->lines[l].tokens = sentences->tokens + begin;
      sentences->lines[l].n_tokens = end - begin;
    }
  return sentences;
}

void
lm_sentences_free (LmSentences *sentences)
{
  if (sentences == NULL)
    return;
  g_free (sentences->lines);
  g_free (sentences->tokens);
  g_free (sentences);
}

/* ---- n-gram counts ------------------------------------------------------------------- */

/* An n-gram is a view of n ids inside a sequence; a table maps each distinct view to
 * its count, so counting allocates one array of views and no key per n-gram. */
typedef struct {
  const gint32 *at;
  gsize n;
} Ngram;

typedef struct {
  GHashTable *counts; /* Ngram * (into views) -> GUINT_TO_POINTER (count) */
  Ngram *views;
  gsize total;        /* n-grams in the sequence: max(0, len - n + 1) */
} NgramCounts;

static guint
ngram_hash (gconstpointer key)
{
  const Ngram *g = key;
  guint32 h = 2166136261u; /* FNV-1a over the ids */
  for (gsize i = 0; i < g->n; i++)
    {
      h ^= (guint32) g->at[i];
      h *= 16777619u;
    }
  return h;
}

static gboolean
ngram_equal (gconstpointer a, gconstpointer b)
{
  const Ngram *x = a, *y = b;
  return x->n == y->n && memcmp (x->at, y->at, x->n * sizeof (gint32)) == 0;
}

static void
ngram_counts_init (NgramCounts *c, const LmTokenSeq *seq, gsize n)
{
  c->total = seq->n_tokens >= n ? seq->n_tokens - n + 1 : 0;
  c->views = g_new (Ngram, MAX (c->total, 1));
  c->counts = g_hash_table_new (ngram_hash, ngram_equal);
  for (gsize i = 0; i < c->total; i++)
    {
      c->views[i].at = seq->tokens + i;
      c->views[i].n = n;
      guint count = GPOINTER_TO_UINT (g_hash_table_lookup (c->counts, &c->views[i]));
      if (count == 0)
        g_hash_table_insert (c->counts, &c->views[i], GUINT_TO_POINTER (1));
      else
        g_hash_table_replace (c->counts, &c->views[i], GUINT_TO_POINTER (count + 1));
    }
}

static void
ngram_counts_clear (NgramCounts *c)
{
  g_hash_table_unref (c->counts);
  g_free (c->views);
}

static guint
ngram_count (const NgramCounts *c, const Ngram *g)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (c->counts, g));
}

/* sum over n-grams g of a of min(count_a(g), count_b(g)) */
static guint64
ngram_overlap (const NgramCounts *a, const NgramCounts *b)
{
  guint64 overlap = 0;
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, a->counts);
  while (g_hash_table_iter_next (&iter, &key, &value))
    overlap += MIN (GPOINTER_TO_UINT (value), ngram_count (b, key));
  return overlap;
}

/* ---- BLEU ---------------------------------------------------------------------------- */

void
lm_bleu_options_init (LmBleuOptions *options)
{
  memset (options, 0, sizeof *options);
  options->max_order = 4;
  options->flavour = LM_BLEU_FLAVOUR_NLTK;
  options->smooth = LM_BLEU_SMOOTH_NONE;
  options->epsilon = 0.1;
  options->effective_order = FALSE;
}

static const char *const flavour_names[] = { "nltk", "sacrebleu" };
static const char *const smooth_names[] = { "none", "exp", "floor" };

const char *
lm_bleu_flavour_name (LmBleuFlavour flavour)
{
  return (gsize) flavour < G_N_ELEMENTS (flavour_names) ? flavour_names[flavour] : "?";
}

gboolean
lm_bleu_flavour_parse (const char *text, LmBleuFlavour *flavour, GError **error)
{
  for (gsize i = 0; i < G_N_ELEMENTS (flavour_names); i++)
    if (g_ascii_strcasecmp (text, flavour_names[i]) == 0)
      {
        *flavour = (LmBleuFlavour) i;
        return TRUE;
      }
  g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
               "unknown BLEU flavour '%s' (use nltk or sacrebleu)", text);
  return FALSE;
}

const char *
lm_bleu_smooth_name (LmBleuSmooth smooth)
{
  return (gsize) smooth < G_N_ELEMENTS (smooth_names) ? smooth_names[smooth] : "?";
}

gboolean
lm_bleu_smooth_parse (const char *text, LmBleuSmooth *smooth, GError **error)
{
  for (gsize i = 0; i < G_N_ELEMENTS (smooth_names); i++)
    if (g_ascii_strcasecmp (text, smooth_names[i]) == 0)
      {
        *smooth = (LmBleuSmooth) i;
        return TRUE;
      }
  g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
               "unknown BLEU smoothing '%s' (use none, exp or floor)", text);
  return FALSE;
}

void
lm_bleu_stats_init (LmBleuStats *stats, int max_order)
{
  memset (stats, 0, sizeof *stats);
  stats->max_order = max_order;
}

void
lm_bleu_stats_add (LmBleuStats *stats, const LmTokenSeq *hyp, const LmTokenSeq *refs,
                   gsize n_refs)
{
  g_return_if_fail (stats->max_order >= 1 && stats->max_order <= LM_BLEU_MAX_ORDER);
  g_return_if_fail (n_refs >= 1);

  /* r: the reference length closest to c; on a tie the shorter one. */
  gsize c = hyp->n_tokens, closest = refs[0].n_tokens;
  for (gsize k = 1; k < n_refs; k++)
    {
      gsize len = refs[k].n_tokens;
      gsize d = len > c ? len - c : c - len, dc = closest > c ? closest - c : c - closest;
      if (d < dc || (d == dc && len < closest))
        closest = len;
    }
  stats->hyp_length += c;
  stats->ref_length += closest;
  stats->n_sentences++;

  NgramCounts *ref_counts = g_new (NgramCounts, n_refs);
  for (int n = 1; n <= stats->max_order; n++)
    {
      NgramCounts h;
      ngram_counts_init (&h, hyp, n);
      for (gsize k = 0; k < n_refs; k++)
        ngram_counts_init (&ref_counts[k], &refs[k], n);
      /* clipped matches = sum over hypothesis n-grams g of
       *   min(count_hyp(g), max_k count_ref_k(g)) */
      guint64 matches = 0;
      GHashTableIter iter;
      gpointer key, value;
      g_hash_table_iter_init (&iter, h.counts);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          guint best = 0;
          for (gsize k = 0; k < n_refs; k++)
            best = MAX (best, ngram_count (&ref_counts[k], key));
          matches += MIN (GPOINTER_TO_UINT (value), best);
        }
      stats->matches[n - 1] += matches;
      stats->totals[n - 1] += h.total;
      stats->totals_nltk[n - 1] += MAX (h.total, 1);
      ngram_counts_clear (&h);
      for (gsize k = 0; k < n_refs; k++)
        ngram_counts_clear (&ref_counts[k]);
    }
  g_free (ref_counts);
}

gboolean
lm_bleu_score (const LmBleuStats *stats, const LmBleuOptions *options, LmBleuScore *score,
               GError **error)
{
  memset (score, 0, sizeof *score);
  int N = options->max_order;
  if (N < 1 || N > LM_BLEU_MAX_ORDER)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "BLEU order %d is out of range (use 1 to %d)", N, LM_BLEU_MAX_ORDER);
      return FALSE;
    }
  if (N != stats->max_order)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "BLEU order %d differs from the %d of the collected n-gram counts", N,
                   stats->max_order);
      return FALSE;
    }
  if (options->smooth == LM_BLEU_SMOOTH_FLOOR
      && !(options->epsilon > 0 && options->epsilon < 1))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "BLEU floor smoothing needs 0 < epsilon < 1, not %g", options->epsilon);
      return FALSE;
    }
  if (stats->n_sentences == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT, "no sentences to score");
      return FALSE;
    }
  gboolean nltk = options->flavour == LM_BLEU_FLAVOUR_NLTK;
  score->max_order = N;
  score->effective_order = N;
  score->hyp_length = stats->hyp_length;
  score->ref_length = stats->ref_length;
  score->n_sentences = stats->n_sentences;

  /* BP = 1 if c > r; 0 if c = 0; exp(1 - r/c) otherwise. */
  double c = stats->hyp_length, r = stats->ref_length;
  score->brevity_penalty = c > r ? 1.0 : c == 0 ? 0.0 : exp (1.0 - r / c);

  /* p_n = matches_n / totals_n, smoothed where matches_n = 0; the geometric mean over
   * the orders used: exp(sum_n ln p_n / N). */
  double log_sum = 0, exp_denominator = 1;
  gboolean zero = FALSE;
  for (int n = 1; n <= N; n++)
    {
      guint64 total = nltk ? stats->totals_nltk[n - 1] : stats->totals[n - 1];
      guint64 matches = stats->matches[n - 1];
      score->matches[n - 1] = matches;
      score->totals[n - 1] = total;
      if (total == 0) /* sacreBLEU only: no hypothesis has n tokens */
        {
          if (!options->effective_order)
            zero = TRUE;
          break;
        }
      if (options->effective_order)
        score->effective_order = n;
      double p;
      if (matches > 0)
        p = (double) matches / total;
      else
        switch (options->smooth)
          {
          case LM_BLEU_SMOOTH_EXP:
            exp_denominator *= 2;
            p = 1.0 / (exp_denominator * total);
            break;
          case LM_BLEU_SMOOTH_FLOOR:
            p = options->epsilon / total;
            break;
          case LM_BLEU_SMOOTH_NONE:
          default:
            p = 0;
            break;
          }
      score->precisions[n - 1] = p;
      if (p > 0)
        log_sum += log (p);
      else
        zero = TRUE;
    }
  /* NLTK returns 0 outright when no unigram matches, whatever the smoothing. */
  if (nltk && stats->matches[0] == 0)
    zero = TRUE;
  score->bleu = zero ? 0.0 : score->brevity_penalty * exp (log_sum / score->effective_order);
  return TRUE;
}

gboolean
lm_corpus_bleu (const LmTokenSeq *hyps, gsize n_hyps, const LmTokenSeq *refs, gsize n_refs,
                const LmBleuOptions *options, LmBleuScore *score, GError **error)
{
  if (n_refs == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "BLEU needs at least one reference per hypothesis");
      return FALSE;
    }
  LmBleuStats stats;
  if (options->max_order < 1 || options->max_order > LM_BLEU_MAX_ORDER)
    {
      lm_bleu_stats_init (&stats, options->max_order);
      return lm_bleu_score (&stats, options, score, error); /* reports the range */
    }
  lm_bleu_stats_init (&stats, options->max_order);
  for (gsize i = 0; i < n_hyps; i++)
    lm_bleu_stats_add (&stats, &hyps[i], &refs[i * n_refs], n_refs);
  return lm_bleu_score (&stats, options, score, error);
}

/* ---- ROUGE ---------------------------------------------------------------------------- */

static LmPrf
prf (double precision, double recall)
{
  LmPrf s = { precision, recall, 0 };
  s.f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
  return s;
}

LmPrf
lm_rouge_n (const LmTokenSeq *hyp, const LmTokenSeq *ref, int n)
{
  g_return_val_if_fail (n >= 1, prf (0, 0));
  NgramCounts h, r;
  ngram_counts_init (&h, hyp, n);
  ngram_counts_init (&r, ref, n);
  /* P = overlap / max(1, hyp n-grams), R = overlap / max(1, ref n-grams) */
  double overlap = ngram_overlap (&r, &h);
  LmPrf s = prf (overlap / MAX (h.total, 1), overlap / MAX (r.total, 1));
  ngram_counts_clear (&h);
  ngram_counts_clear (&r);
  return s;
}

gsize
lm_lcs_length (const LmTokenSeq *a, const LmTokenSeq *b)
{
  /* L[i][j] = L[i-1][j-1] + 1 if a_i = b_j, else max(L[i-1][j], L[i][j-1]); two rows
   * of length |b| + 1 suffice. */
  gsize m = b->n_tokens;
  gsize *prev = g_new0 (gsize, m + 1), *row = g_new0 (gsize, m + 1);
  for (gsize i = 1; i <= a->n_tokens; i++)
    {
      gint32 ai = a->tokens[i - 1];
      row[0] = 0;
      for (gsize j = 1; j <= m; j++)
        row[j] = ai == b->tokens[j - 1] ? prev[j - 1] + 1 : MAX (prev[j], row[j - 1]);
      gsize *t = prev;
      prev = row;
      row = t;
    }
  gsize length = prev[m];
  g_free (prev);
  g_free (row);
  return length;
}

LmPrf
lm_rouge_l (const LmTokenSeq *hyp, const LmTokenSeq *ref)
{
  if (hyp->n_tokens == 0 || ref->n_tokens == 0)
    return prf (0, 0);
  double lcs = lm_lcs_length (ref, hyp);
  return prf (lcs / hyp->n_tokens, lcs / ref->n_tokens);
}

static void
prf_add (LmPrf *sum, const LmPrf *s)
{
  sum->precision += s->precision;
  sum->recall += s->recall;
  sum->f1 += s->f1;
}

static void
prf_divide (LmPrf *s, double n)
{
  s->precision /= n;
  s->recall /= n;
  s->f1 /= n;
}

gboolean
lm_corpus_rouge (const LmTokenSeq *hyps, gsize n_hyps, const LmTokenSeq *refs, gsize n_refs,
                 LmRougeScore *score, GError **error)
{
  memset (score, 0, sizeof *score);
  if (n_refs == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "ROUGE needs at least one reference per hypothesis");
      return FALSE;
    }
  if (n_hyps == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT, "no sentences to score");
      return FALSE;
    }
  for (gsize i = 0; i < n_hyps; i++)
    {
      LmPrf best1 = { 0 }, best2 = { 0 }, bestL = { 0 };
      for (gsize k = 0; k < n_refs; k++)
        {
          const LmTokenSeq *ref = &refs[i * n_refs + k];
          LmPrf s1 = lm_rouge_n (&hyps[i], ref, 1);
          LmPrf s2 = lm_rouge_n (&hyps[i], ref, 2);
          LmPrf sL = lm_rouge_l (&hyps[i], ref);
          if (k == 0 || s1.f1 > best1.f1)
            best1 = s1;
          if (k == 0 || s2.f1 > best2.f1)
            best2 = s2;
          if (k == 0 || sL.f1 > bestL.f1)
            bestL = sL;
        }
      prf_add (&score->rouge1, &best1);
      prf_add (&score->rouge2, &best2);
      prf_add (&score->rougeL, &bestL);
    }
  prf_divide (&score->rouge1, n_hyps);
  prf_divide (&score->rouge2, n_hyps);
  prf_divide (&score->rougeL, n_hyps);
  score->n_pairs = n_hyps;
  return TRUE;
}
