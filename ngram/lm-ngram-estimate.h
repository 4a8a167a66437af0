/* lm-ngram-estimate.h — internal: counting and smoothing into an LmNgramTable.
 *
 * Counting (KenLM lmplz's definition). Every sentence is <s> w_1 .. w_k eos; the event
 * at each token is its n-gram of the last `order` symbols, cut at <s> (n-grams that
 * start with <s> are therefore shorter than `order`, never padded with more <s>). All
 * token positions are sorted in suffix order (w_i, w_{i-1}, ...) with a radix sort on
 * the 32-bit ids; one pass over the sorted positions then yields every n-gram of every
 * order (a run of equal suffixes), its raw count (the run length), and its place in
 * the reversed trie (runs nest: order n+1 runs inside order n runs).
 *
 * Adjusted counts (Kneser-Ney, Chen & Goodman 1998 section 3.5): at the highest order
 * and for n-grams starting with <s>, the raw count; otherwise the number of distinct
 * words that precede the n-gram (N1+(. g)), which is its number of left extensions
 * in the trie.
 *
 * Smoothing, with c the context, a(g) the counts the method uses, S(c) = sum_w a(c w),
 * T(c) the number of distinct w, and p_{n-1} the next-lower order (p_0 uniform over
 * the U ids that can be predicted: all but <s>, and but </s> when another symbol
 * ends sentences):
 *
 *   mle   alpha = a / S                                   (gamma = 0: unseen events
 *         get probability 0, reported as such)
 *   addk  alpha = a / (S + kU), gamma = kU / (S + kU)     interpolated (at order 1
 *         this is (a + k)/(S + kU) exactly); backoff: alpha = (a + k)/(S + kU)
 *   wb    alpha = a / (S + T),  gamma = T / (S + T)       (Witten-Bell)
 *   abs   alpha = max(a - D, 0) / S, raw counts, D given or n1/(n1 + 2 n2)
 *   kn    as abs on adjusted counts, D = n1/(n1 + 2 n2) per order
 *   mkn   alpha = (a - D(a)) / S on adjusted counts, D(1), D(2), D(3+) per order:
 *         Y = n1/(n1 + 2 n2), D(j) = j - (j + 1) Y n_{j+1} / n_j   (C&G eq. 26)
 *
 * Interpolated: p(w|c) = alpha(c w) + gamma(c) p_{n-1}(w|c'), gamma(c) = 1 - sum alpha
 * (which is each method's gamma, and also absorbs the mass of n-grams removed by
 * count cutoffs). Stored: prob = that, bo(c) = gamma(c).
 * Backoff: p(w|c) = alpha(c w) if stored, else bo(c) p_{n-1}(w|c') with
 * bo(c) = (1 - sum_stored alpha) / (1 - sum_stored p_{n-1}(w|c')); when the lower order
 * has no mass left to give (every predictable word seen in c), the alphas are rescaled
 * to sum to one instead.
 */
#pragma once

#include <glib.h>

#include "ngram/lm-ngram-table.h"

G_BEGIN_DECLS

typedef enum {
  LM_SMOOTHING_MLE,
  LM_SMOOTHING_ADDK,
  LM_SMOOTHING_WB,
  LM_SMOOTHING_ABS,
  LM_SMOOTHING_KN,
  LM_SMOOTHING_MKN,
} LmSmoothing;

const char *lm_smoothing_name  (LmSmoothing smoothing);
gboolean    lm_smoothing_parse (const char *text, LmSmoothing *smoothing);

typedef struct {
  int order;
  LmSmoothing smoothing;
  gboolean interpolate;
  double k;                  /* add-k */
  double discount;           /* abs: < 0 estimates n1/(n1 + 2 n2) per order */
  guint64 cutoff[LM_NGRAM_MAX_ORDER]; /* drop n-grams of order i+1 seen <= cutoff[i] times */
  double fallback[3];        /* D(1), D(2), D(3+) where count-of-counts cannot give them */
  gboolean fallback_error;   /* fail instead of falling back */
  guint32 vocab_size;
  gint32 eos;                /* the symbol that ends a sentence; -1: none (one long stream) */
} LmNgramEstimateParams;

void lm_ngram_estimate_params_init (LmNgramEstimateParams *params, int order,
                                    LmSmoothing smoothing, guint32 vocab_size);

typedef struct {
  int order;
  guint64 ngrams[LM_NGRAM_MAX_ORDER];           /* distinct n-grams counted */
  guint64 kept[LM_NGRAM_MAX_ORDER];             /* after cutoffs */
  guint64 count_of_counts[LM_NGRAM_MAX_ORDER][5]; /* [i][j]: n-grams with count j (1..4) */
  double discount[LM_NGRAM_MAX_ORDER][4];       /* [i][1..3] (kn/abs: all three equal) */
  gboolean fallback[LM_NGRAM_MAX_ORDER];        /* discounts of this order fell back */
  char *notes;                                  /* what fell back and why, or NULL */
} LmNgramEstimateReport;

void  lm_ngram_estimate_report_clear  (LmNgramEstimateReport *report);
/* The count-of-counts and discount table, one line per order (g_free it). */
char *lm_ngram_estimate_report_format (const LmNgramEstimateReport *report,
                                       LmSmoothing smoothing);

/* Count tokens (the stream convention of core/lm-model.h) and smooth. report may be
 * NULL. Fails on an empty stream, an id out of range, a <s> inside the stream, or
 * undefined discounts with fallback_error set. */
LmNgramTable *lm_ngram_estimate (const gint32 *tokens, gsize n_tokens,
                                 const LmNgramEstimateParams *params,
                                 LmNgramEstimateReport *report, GError **error);

G_END_DECLS
