/* lm-ngram-estimate.c — counting and smoothing (the equations are in the header). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-memory.h"
#include "core/lm-vocab.h"
#include "ngram/lm-ngram-estimate.h"

static const char *const smoothing_names[] = { "mle", "addk", "wb", "abs", "kn", "mkn" };

const char *
lm_smoothing_name (LmSmoothing smoothing)
{
  return smoothing_names[smoothing];
}

gboolean
lm_smoothing_parse (const char *text, LmSmoothing *smoothing)
{
  for (guint i = 0; i < G_N_ELEMENTS (smoothing_names); i++)
    if (g_strcmp0 (text, smoothing_names[i]) == 0)
      {
        *smoothing = (LmSmoothing) i;
        return TRUE;
      }
  return FALSE;
}

void
lm_ngram_estimate_params_init (LmNgramEstimateParams *params, int order,
                               LmSmoothing smoothing, guint32 vocab_size)
{
  memset (params, 0, sizeof *params);
  params->order = order;
  params->smoothing = smoothing;
  params->interpolate = TRUE;
  params->k = 1.0;
  params->discount = -1.0;
  /* KenLM's --discount_fallback defaults. */
  params->fallback[0] = 0.5;
  params->fallback[1] = 1.0;
  params->fallback[2] = 1.5;
  params->vocab_size = vocab_size;
  params->eos = LM_TOKEN_EOS;
}

void
lm_ngram_estimate_report_clear (LmNgramEstimateReport *report)
{
  g_clear_pointer (&report->notes, g_free);
}

char *
lm_ngram_estimate_report_format (const LmNgramEstimateReport *report, LmSmoothing smoothing)
{
  GString *out = g_string_new ("order  n-grams     kept        n1        n2        n3        n4"
                               "      D1       D2       D3+\n");
  for (int i = 0; i < report->order; i++)
    {
      const guint64 *n = report->count_of_counts[i];
      g_string_append_printf (out, "%5d %9" G_GUINT64_FORMAT " %9" G_GUINT64_FORMAT
                              " %9" G_GUINT64_FORMAT " %9" G_GUINT64_FORMAT
                              " %9" G_GUINT64_FORMAT " %9" G_GUINT64_FORMAT,
                              i + 1, report->ngrams[i], report->kept[i], n[1], n[2], n[3], n[4]);
      if (smoothing == LM_SMOOTHING_MKN || smoothing == LM_SMOOTHING_KN
          || smoothing == LM_SMOOTHING_ABS)
        g_string_append_printf (out, "  %7.4f  %7.4f  %7.4f%s", report->discount[i][1],
                                report->discount[i][2], report->discount[i][3],
                                report->fallback[i] ? "  (fallback)" : "");
      g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}

/* ---- counting ------------------------------------------------------------- */

typedef struct {
  guint32 n;
  guint32 *word;    /* leftmost word */
  guint32 *parent;  /* suffix node in the level below */
  guint32 *raw;     /* raw count */
  guint32 *prefix;  /* context node in the level below (first: a position holding it) */
} BuildLevel;

typedef struct {
  int order;
  guint32 V;
  gint32 *seq;      /* tokens with <s> before every sentence */
  guint8 *len;      /* n-gram length at each position (0 at <s>) */
  gsize n_seq;
  guint32 *pos;     /* token positions in suffix order */
  gsize n_pos;
  guint32 *raw0;    /* [V] unigram counts */
  BuildLevel lv[LM_NGRAM_MAX_ORDER];
  guint32 *child[LM_NGRAM_MAX_ORDER]; /* [n_i + 1] left-extension ranges */
} Counts;

static void
counts_clear (Counts *c)
{
  g_free (c->seq);
  g_free (c->len);
  g_free (c->pos);
  g_free (c->raw0);
  for (int i = 0; i < LM_NGRAM_MAX_ORDER; i++)
    {
      g_free (c->lv[i].word);
      g_free (c->lv[i].parent);
      g_free (c->lv[i].raw);
      g_free (c->lv[i].prefix);
      g_free (c->child[i]);
    }
}

/* Stable LSD radix sort of positions by (w_i, w_{i-1}, ..., w_{i-order+1}), symbols
 * before the n-gram's start reading as <s> (id 0), so shorter n-grams cut at <s> come
 * first among equal suffixes. One counting-sort pass per depth, deepest first. */
static void
sort_suffix_order (Counts *c)
{
  gsize M = c->n_pos;
  guint32 *tmp = g_new (guint32, MAX (M, 1));
  guint32 *key = g_new (guint32, MAX (M, 1));
  guint32 *bucket = g_new (guint32, (gsize) c->V + 1);
  for (int k = c->order - 1; k >= 0; k--)
    {
      gboolean any = FALSE;
      memset (bucket, 0, ((gsize) c->V + 1) * sizeof (guint32));
      for (gsize j = 0; j < M; j++)
        {
          guint32 p = c->pos[j];
          guint32 w = k < c->len[p] ? (guint32) c->seq[p - k] : 0;
          key[j] = w;
          bucket[w + 1]++;
          any |= w != 0;
        }
      if (!any)
        continue;
      for (guint32 v = 0; v < c->V; v++)
        bucket[v + 1] += bucket[v];
      for (gsize j = 0; j < M; j++)
        tmp[bucket[key[j]]++] = c->pos[j];
      guint32 *swap = c->pos;
      c->pos = tmp;
      tmp = swap;
    }
  g_free (tmp);
  g_free (key);
  g_free (bucket);
}

static gboolean
count_ngrams (Counts *c, const gint32 *tokens, gsize n_tokens,
              const LmNgramEstimateParams *params, GError **error)
{
  const int N = params->order;
  c->order = N;
  c->V = params->vocab_size;
  if (n_tokens == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT, "the training stream is empty");
      return FALSE;
    }
  if (n_tokens >= G_MAXUINT32 / 2)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "%" G_GSIZE_FORMAT " training tokens: the n-gram counter handles at most "
                   "2^31 (split the corpus or prune)", n_tokens);
      return FALSE;
    }
  gsize n_sent = 0;
  for (gsize i = 0; i < n_tokens; i++)
    {
      gint32 t = tokens[i];
      if (t < 0 || (guint32) t >= c->V)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                       "token %" G_GSIZE_FORMAT " of the training stream has id %d, outside "
                       "the vocabulary of %u", i, t, c->V);
          return FALSE;
        }
      if (t == LM_TOKEN_BOS)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                       "token %" G_GSIZE_FORMAT " of the training stream is <s>, which is "
                       "context only and never occurs inside a stream", i);
          return FALSE;
        }
      if (i == 0 || tokens[i - 1] == params->eos)
        n_sent++;
    }
  /* What counting and estimating hold at their peak, about: the sequence, its suffix
   * order and the sort's scratch (~24 bytes a token), and for every level above the
   * first up to one n-gram a token, with its nodes, counts, probabilities and table
   * entries (~32 bytes; PTB's 929,589 tokens at order 5 come to 141 MB by this, and
   * `lmlab train --arpa` peaks at 150 MiB). Checked before the first allocation: with
   * an overcommitting kernel a corpus too large would otherwise end in the OOM killer. */
  double need = (double) n_tokens * (24.0 + 32.0 * (N - 1)) + 4.0 * c->V;
  if (!lm_memory_fits (need))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "counting the n-grams of %" G_GSIZE_FORMAT " tokens at order %d needs "
                   "about %.1f MiB, more than the %.1f MiB of memory available: use a lower "
                   "order or a part of the corpus", n_tokens, N, need / 1048576.0,
                   lm_memory_available () / 1048576.0);
      return FALSE;
    }
  c->n_seq = n_tokens + n_sent;
  c->seq = g_new (gint32, c->n_seq);
  c->len = g_new (guint8, c->n_seq);
  c->n_pos = n_tokens;
  c->pos = g_new (guint32, n_tokens);
  gsize j = 0, np = 0, depth = 0;
  for (gsize i = 0; i < n_tokens; i++)
    {
      if (i == 0 || tokens[i - 1] == params->eos)
        {
          c->seq[j] = LM_TOKEN_BOS;
          c->len[j++] = 0;
          depth = 0;
        }
      depth++;
      c->seq[j] = tokens[i];
      c->len[j] = (guint8) MIN ((gsize) N, depth + 1);
      c->pos[np++] = (guint32) j++;
    }

  sort_suffix_order (c);

  /* Pass 1: length of the suffix each position shares with the one before it, and
   * so how many distinct n-grams each level has. */
  g_autofree guint8 *same = g_new (guint8, n_tokens);
  guint32 n_level[LM_NGRAM_MAX_ORDER] = { 0 };
  for (gsize k = 0; k < n_tokens; k++)
    {
      guint32 p = c->pos[k];
      int L = c->len[p], s = 0;
      if (k > 0)
        {
          guint32 q = c->pos[k - 1];
          int lim = MIN (L, (int) c->len[q]);
          while (s < lim && c->seq[p - s] == c->seq[q - s])
            s++;
        }
      same[k] = (guint8) s;
      for (int i = MAX (s, 1); i < L; i++)
        n_level[i]++;
    }
  for (int i = 1; i < N; i++)
    {
      BuildLevel *lv = &c->lv[i];
      lv->word = g_new (guint32, MAX (n_level[i], 1));
      lv->parent = g_new (guint32, MAX (n_level[i], 1));
      lv->raw = g_new (guint32, MAX (n_level[i], 1));
      lv->prefix = g_new (guint32, MAX (n_level[i], 1));
    }
  c->raw0 = g_new0 (guint32, c->V);

  /* Pass 2: create the nodes. posnode[i][p] is the level-i node of position p, kept
   * for the levels whose nodes are contexts of the next one. */
  guint32 *posnode[LM_NGRAM_MAX_ORDER] = { NULL };
  for (int i = 1; i < N - 1; i++)
    posnode[i] = g_new (guint32, c->n_seq);
  guint32 cur[LM_NGRAM_MAX_ORDER];
  for (gsize k = 0; k < n_tokens; k++)
    {
      guint32 p = c->pos[k];
      int L = c->len[p], s = same[k];
      cur[0] = (guint32) c->seq[p];
      c->raw0[cur[0]]++;
      for (int i = 1; i < L; i++)
        {
          BuildLevel *lv = &c->lv[i];
          if (s <= i)
            {
              guint32 g = lv->n++;
              lv->word[g] = (guint32) c->seq[p - i];
              lv->parent[g] = cur[i - 1];
              lv->raw[g] = 1;
              lv->prefix[g] = p;
              cur[i] = g;
            }
          else
            lv->raw[cur[i]]++;
          if (i < N - 1)
            posnode[i][p] = cur[i];
        }
    }
  /* The context of an n-gram ending at p is the (n-1)-gram ending at p - 1. */
  for (int i = 1; i < N; i++)
    {
      BuildLevel *lv = &c->lv[i];
      for (guint32 g = 0; g < lv->n; g++)
        {
          guint32 p = lv->prefix[g];
          lv->prefix[g] = i == 1 ? (guint32) c->seq[p - 1] : posnode[i - 1][p - 1];
        }
    }
  for (int i = 1; i < N - 1; i++)
    g_free (posnode[i]);
  g_clear_pointer (&c->seq, g_free);
  g_clear_pointer (&c->len, g_free);
  g_clear_pointer (&c->pos, g_free);

  /* Left-extension ranges from the (non-decreasing) parents of the level above. */
  for (int i = 0; i < N - 1; i++)
    {
      guint32 n = i == 0 ? c->V : c->lv[i].n;
      guint32 *child = g_new0 (guint32, (gsize) n + 1);
      const BuildLevel *up = &c->lv[i + 1];
      for (guint32 g = 0; g < up->n; g++)
        child[up->parent[g] + 1]++;
      for (guint32 g = 0; g < n; g++)
        child[g + 1] += child[g];
      c->child[i] = child;
    }
  return TRUE;
}

/* ---- discounts -------------------------------------------------------------- */

static void
note (GString **notes, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
note (GString **notes, const char *format, ...)
{
  va_list ap;
  if (*notes == NULL)
    *notes = g_string_new (NULL);
  va_start (ap, format);
  g_string_append_vprintf (*notes, format, ap);
  va_end (ap);
}

/* Discounts of level i from its count-of-counts n[1..4]. FALSE when they are
 * undefined (a zero n_j) or out of range, with the reason in *why. */
static gboolean
discounts_from_counts (LmSmoothing smoothing, const guint64 *n, double *D, char **why)
{
  if (smoothing == LM_SMOOTHING_MKN)
    {
      for (int j = 1; j <= 3; j++)
        if (n[j] == 0)
          {
            *why = g_strdup_printf ("no n-grams with count %d, so D(%d) = %d - %d Y n%d/n%d "
                                    "is undefined", j, j, j, j + 1, j + 1, j);
            return FALSE;
          }
      /* Chen & Goodman (1998) eq. 26: Y = n1 / (n1 + 2 n2), D(j) = j - (j+1) Y n_{j+1}/n_j */
      double Y = (double) n[1] / ((double) n[1] + 2.0 * (double) n[2]);
      for (int j = 1; j <= 3; j++)
        {
          D[j] = j - (j + 1) * Y * (double) n[j + 1] / (double) n[j];
          if (D[j] < 0.0 || D[j] > j)
            {
              *why = g_strdup_printf ("D(%d) = %.4f is outside [0, %d]", j, D[j], j);
              return FALSE;
            }
        }
      return TRUE;
    }
  /* One discount D = n1 / (n1 + 2 n2) (Ney, Essen & Kneser 1994). */
  if (n[1] == 0)
    {
      *why = g_strdup ("no n-grams with count 1, so D = n1/(n1 + 2 n2) would be 0");
      return FALSE;
    }
  D[1] = D[2] = D[3] = (double) n[1] / ((double) n[1] + 2.0 * (double) n[2]);
  return TRUE;
}

/* ---- smoothing ------------------------------------------------------------- */

typedef struct {
  double S;        /* sum of counts of the context's extensions */
  guint32 T;       /* distinct extensions */
  double alpha;    /* sum of alpha of stored extensions */
  double lower;    /* sum of p_{n-1} of stored extensions (backoff form) */
} Context;

static inline double
discounted (const LmNgramEstimateParams *p, const double *D, guint32 a, const Context *ctx,
            double U)
{
  double S = ctx->S;
  switch (p->smoothing)
    {
    case LM_SMOOTHING_MLE:
      return a / S;
    case LM_SMOOTHING_ADDK:
      return p->interpolate ? a / (S + p->k * U) : (a + p->k) / (S + p->k * U);
    case LM_SMOOTHING_WB:
      return a / (S + ctx->T);
    case LM_SMOOTHING_ABS:
    case LM_SMOOTHING_KN:
      return MAX (a - D[1], 0.0) / S;
    case LM_SMOOTHING_MKN:
    default:
      return (a - D[MIN (a, 3u)]) / S;
    }
}

static inline float
to_log (double p)
{
  return p > 0.0 ? (float) log (p) : -INFINITY;
}

/* Backoff weight of a context in the backoff form; may rescale (returns the factor
 * the alphas of its extensions are multiplied by). */
static double
backoff_weight (const Context *ctx, double *scale)
{
  double left = 1.0 - ctx->alpha, room = 1.0 - ctx->lower;
  *scale = 1.0;
  if (left <= 1e-12)
    return 0.0;
  if (room <= 1e-9)
    {
      /* Every predictable word was seen in this context: nothing to back off to. */
      *scale = 1.0 / ctx->alpha;
      return 0.0;
    }
  return left / room;
}

LmNgramTable *
lm_ngram_estimate (const gint32 *tokens, gsize n_tokens, const LmNgramEstimateParams *params,
                   LmNgramEstimateReport *report, GError **error)
{
  const int N = params->order;
  const guint32 V = params->vocab_size;
  const gboolean adjusted = params->smoothing == LM_SMOOTHING_KN
                            || params->smoothing == LM_SMOOTHING_MKN;
  LmNgramEstimateReport local_report;
  if (report == NULL)
    report = &local_report;
  memset (report, 0, sizeof *report);
  report->order = N;

  if (N < 1 || N > LM_NGRAM_MAX_ORDER)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "order %d is outside 1..%d", N,
                   LM_NGRAM_MAX_ORDER);
      return NULL;
    }
  if (V <= LM_N_SPECIAL || params->eos < -1 || (params->eos >= 0 && (guint32) params->eos >= V))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "vocabulary of %u ids with end-of-sentence id %d", V, params->eos);
      return NULL;
    }
  for (int i = 1; i < N; i++)
    if (params->cutoff[i] < params->cutoff[i - 1])
      {
        g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                     "cutoffs must not decrease with the order (order %d: %" G_GUINT64_FORMAT
                     ", order %d: %" G_GUINT64_FORMAT ")", i, params->cutoff[i - 1], i + 1,
                     params->cutoff[i]);
        return NULL;
      }
  if (params->cutoff[0] != 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "unigrams cannot be cut off (the first cutoff must be 0; use the "
                   "vocabulary's min_count instead)");
      return NULL;
    }

  Counts c = { 0 };
  if (!count_ngrams (&c, tokens, n_tokens, params, error))
    {
      counts_clear (&c);
      return NULL;
    }

  /* Counts the method uses: adjusted for Kneser-Ney, else raw. */
  guint32 *cnt[LM_NGRAM_MAX_ORDER] = { NULL };
  for (int i = 0; i < N; i++)
    {
      guint32 n = i == 0 ? V : c.lv[i].n;
      const guint32 *raw = i == 0 ? c.raw0 : c.lv[i].raw;
      cnt[i] = g_new (guint32, MAX (n, 1));
      for (guint32 g = 0; g < n; g++)
        {
          guint32 first = i == 0 ? g : c.lv[i].word[g];
          if (adjusted && i < N - 1 && first != LM_TOKEN_BOS)
            cnt[i][g] = c.child[i][g + 1] - c.child[i][g];
          else
            cnt[i][g] = raw[g];
        }
      report->ngrams[i] = 0;
      for (guint32 g = 0; g < n; g++)
        if (raw[g] > 0)
          {
            report->ngrams[i]++;
            if (cnt[i][g] <= 4)
              report->count_of_counts[i][cnt[i][g]]++;
          }
      report->count_of_counts[i][0] = 0;
    }

  /* Discounts. */
  GString *notes = NULL;
  double D[LM_NGRAM_MAX_ORDER][4] = { { 0 } };
  if (params->smoothing == LM_SMOOTHING_MKN || params->smoothing == LM_SMOOTHING_KN
      || (params->smoothing == LM_SMOOTHING_ABS && params->discount < 0))
    {
      for (int i = 0; i < N; i++)
        {
          g_autofree char *why = NULL;
          if (!discounts_from_counts (params->smoothing, report->count_of_counts[i], D[i], &why))
            {
              const guint64 *n = report->count_of_counts[i];
              if (params->fallback_error)
                {
                  g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                               "cannot estimate the %s discounts of order %d: %s "
                               "(count-of-counts n1=%" G_GUINT64_FORMAT " n2=%" G_GUINT64_FORMAT
                               " n3=%" G_GUINT64_FORMAT " n4=%" G_GUINT64_FORMAT
                               "); the data is too small or artificial for them: allow the "
                               "fallback (discount_fallback) or use another smoothing",
                               lm_smoothing_name (params->smoothing), i + 1, why, n[1], n[2],
                               n[3], n[4]);
                  goto fail;
                }
              report->fallback[i] = TRUE;
              if (params->smoothing == LM_SMOOTHING_MKN)
                for (int j = 1; j <= 3; j++)
                  D[i][j] = params->fallback[j - 1];
              else
                D[i][1] = D[i][2] = D[i][3] = params->fallback[0];
              note (&notes, "order %d: %s (count-of-counts n1=%" G_GUINT64_FORMAT
                    " n2=%" G_GUINT64_FORMAT " n3=%" G_GUINT64_FORMAT " n4=%" G_GUINT64_FORMAT
                    "); using the fallback discounts D1=%g D2=%g D3+=%g as KenLM's "
                    "--discount_fallback does\n", i + 1, why, n[1], n[2], n[3], n[4],
                    D[i][1], D[i][2], D[i][3]);
            }
        }
    }
  else if (params->smoothing == LM_SMOOTHING_ABS)
    for (int i = 0; i < N; i++)
      D[i][1] = D[i][2] = D[i][3] = params->discount;
  for (int i = 0; i < N; i++)
    for (int j = 1; j <= 3; j++)
      report->discount[i][j] = D[i][j];

  /* Which n-grams stay (count cutoffs on raw counts; non-decreasing cutoffs keep the
   * tables closed under suffixes and contexts). */
  guint32 kept_n[LM_NGRAM_MAX_ORDER];
  guint32 *newidx[LM_NGRAM_MAX_ORDER] = { NULL };
  kept_n[0] = V;
  report->kept[0] = report->ngrams[0];
  for (int i = 1; i < N; i++)
    {
      BuildLevel *lv = &c.lv[i];
      newidx[i] = g_new (guint32, MAX (lv->n, 1));
      guint32 k = 0;
      for (guint32 g = 0; g < lv->n; g++)
        newidx[i][g] = lv->raw[g] > params->cutoff[i] ? k++ : G_MAXUINT32;
      kept_n[i] = k;
      report->kept[i] = k;
    }

  LmNgramTable *table = lm_ngram_table_new (N, V, params->eos, kept_n);

  /* Order 1: the context is empty, the lower order uniform over U ids. */
  const gboolean aliased = params->eos >= 0 && params->eos != LM_TOKEN_EOS;
  double U = (double) V - 1.0 - (aliased ? 1.0 : 0.0);
#define IN_SUPPORT(w) ((w) != LM_TOKEN_BOS && !((w) == LM_TOKEN_EOS && aliased))
  double *prob_below = g_new (double, V);
  {
    Context ctx = { 0 };
    for (guint32 w = 0; w < V; w++)
      if (cnt[0][w] > 0)
        {
          ctx.S += cnt[0][w];
          ctx.T++;
        }
    double *alpha = prob_below;
    for (guint32 w = 0; w < V; w++)
      {
        alpha[w] = cnt[0][w] > 0 ? discounted (params, D[0], cnt[0][w], &ctx, U) : 0.0;
        ctx.alpha += alpha[w];
        if (cnt[0][w] > 0 && IN_SUPPORT (w))
          ctx.lower += 1.0 / U;
      }
    double gamma = MAX (1.0 - ctx.alpha, 0.0), scale = 1.0, beta = 0.0;
    if (!params->interpolate)
      beta = backoff_weight (&ctx, &scale);
    for (guint32 w = 0; w < V; w++)
      {
        double lower = IN_SUPPORT (w) ? 1.0 / U : 0.0;
        if (params->interpolate)
          prob_below[w] = alpha[w] + gamma * lower;
        else
          prob_below[w] = cnt[0][w] > 0 ? alpha[w] * scale : beta * lower;
        table->level[0].logprob[w] = to_log (prob_below[w]);
      }
  }
#undef IN_SUPPORT

  /* Orders 2..N: alpha of each stored n-gram, gamma (or bo) of each context. */
  for (int i = 1; i < N; i++)
    {
      BuildLevel *lv = &c.lv[i];
      guint32 n_ctx = i == 1 ? V : c.lv[i - 1].n;
      Context *ctx = g_new0 (Context, MAX (n_ctx, 1));
      for (guint32 g = 0; g < lv->n; g++)
        {
          Context *x = &ctx[lv->prefix[g]];
          x->S += cnt[i][g];
          x->T++;
        }
      double *prob = g_new0 (double, MAX (lv->n, 1)); /* by count index */
      for (guint32 g = 0; g < lv->n; g++)
        {
          if (newidx[i][g] == G_MAXUINT32)
            continue;
          Context *x = &ctx[lv->prefix[g]];
          double a = discounted (params, D[i], cnt[i][g], x, U);
          prob[g] = a;
          x->alpha += a;
          x->lower += prob_below[lv->parent[g]];
        }
      /* Context weights, stored as the backoff of the level below. */
      float *bo = table->level[i - 1].backoff;
      double *scale = g_new (double, MAX (n_ctx, 1));
      for (guint32 x = 0; x < n_ctx; x++)
        {
          double w;
          scale[x] = 1.0;
          if (params->interpolate)
            w = MAX (1.0 - ctx[x].alpha, 0.0);
          else
            w = backoff_weight (&ctx[x], &scale[x]);
          guint32 at = i == 1 ? x : newidx[i - 1][x];
          if (at != G_MAXUINT32)
            bo[at] = to_log (w);
          ctx[x].alpha = w; /* now the weight */
        }
      for (guint32 g = 0; g < lv->n; g++)
        {
          guint32 at = newidx[i][g];
          if (at == G_MAXUINT32)
            continue;
          const Context *x = &ctx[lv->prefix[g]];
          if (params->interpolate)
            prob[g] += x->alpha * prob_below[lv->parent[g]];
          else
            prob[g] *= scale[lv->prefix[g]];
          table->level[i].logprob[at] = to_log (prob[g]);
          table->level[i].word[at] = lv->word[g];
        }
      /* Left-extension ranges of the level below, over the kept n-grams. */
      guint32 *child = table->level[i - 1].child;
      for (guint32 g = 0; g < lv->n; g++)
        {
          guint32 parent = i == 1 ? lv->parent[g] : newidx[i - 1][lv->parent[g]];
          if (newidx[i][g] != G_MAXUINT32)
            child[parent + 1]++;
        }
      for (guint32 x = 0; x < kept_n[i - 1]; x++)
        child[x + 1] += child[x];
      g_free (scale);
      g_free (ctx);
      g_free (prob_below);
      prob_below = prob;
    }
  g_free (prob_below);

  for (int i = 0; i < N; i++)
    {
      g_free (cnt[i]);
      g_free (newidx[i]);
    }
  counts_clear (&c);
  if (notes)
    report->notes = g_string_free (notes, FALSE);
  if (report == &local_report)
    lm_ngram_estimate_report_clear (report);
  return table;

fail:
  for (int i = 0; i < N; i++)
    g_free (cnt[i]);
  if (notes)
    g_string_free (notes, TRUE);
  counts_clear (&c);
  return NULL;
}
