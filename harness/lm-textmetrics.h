/* lm-textmetrics.h — generation quality: corpus BLEU and ROUGE-1/2/L.
 *
 * Everything works on token sequences: arrays of gint32 ids (a model's vocabulary ids,
 * or ids that an LmTokenTable gives to whitespace-separated strings). Tokens are
 * compared for equality only; no lowercasing, stemming or punctuation splitting.
 *
 * BLEU (Papineni et al. 2002), corpus level, N = 4 by default, uniform weights 1/N:
 *   p_n  = sum_s clipped_matches_n(s) / sum_s hyp_ngrams_n(s)
 *          clipped: each hypothesis n-gram counts at most as often as it occurs in the
 *          one reference that has it most often
 *   BP   = 1 if c > r, 0 if c = 0, else exp(1 - r/c)
 *          c = total hypothesis tokens, r = sum over sentences of the reference length
 *          closest to the hypothesis length (ties: the shorter reference)
 *   BLEU = BP * exp(sum_n (1/N) ln p_n)           in [0, 1] (sacreBLEU prints 100x)
 * Without smoothing a corpus with no matching n-gram of some order has BLEU 0.
 * The two reference implementations differ only in the denominator of a sentence
 * shorter than n tokens (LmBleuFlavour) and agree whenever every hypothesis has at
 * least N tokens; see docs/metrics.md for what each option matches exactly.
 *
 * ROUGE (Lin 2004), per sentence pair, as Google's rouge-score with whitespace tokens
 * and no stemming:
 *   ROUGE-N: overlap = sum over n-grams g of min(count_hyp(g), count_ref(g))
 *            P = overlap / max(1, hyp n-grams), R = overlap / max(1, ref n-grams)
 *   ROUGE-L: P = LCS / |hyp|, R = LCS / |ref| (all 0 when either is empty)
 *   F1 = 2PR / (P + R), 0 when P + R = 0
 * The corpus score is the macro average: the mean over pairs of P, of R and of F1
 * separately (so F1 is not recomputed from the mean P and R).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A view of n_tokens ids; the caller owns the memory. */
typedef struct {
  const gint32 *tokens;
  gsize n_tokens;
} LmTokenSeq;

/* ---- strings to ids -------------------------------------------------------------- */

/* Gives each distinct whitespace-separated string its own id (0, 1, 2, ... in order
 * of first appearance). Use one table for hypotheses and references alike. */
typedef struct _LmTokenTable LmTokenTable;

LmTokenTable *lm_token_table_new  (void);
void          lm_token_table_free (LmTokenTable *table);
gsize         lm_token_table_size (const LmTokenTable *table);

/* Sentences of a text, one per line. */
typedef struct {
  LmTokenSeq *lines;  /* n_lines views into tokens */
  gsize n_lines;
  gint32 *tokens;     /* every id, line after line */
  gsize n_tokens;
} LmSentences;

/* Split data (len bytes) into lines at '\n' and each line into tokens at ASCII
 * whitespace (space, tab, CR, VT, FF). A final line without '\n' counts; a text that
 * ends in '\n' has no extra empty line after it. Returns a new LmSentences. */
LmSentences *lm_sentences_split (LmTokenTable *table, const char *data, gsize len);
void         lm_sentences_free  (LmSentences *sentences);

/* ---- BLEU --------------------------------------------------------------------------- */

#define LM_BLEU_MAX_ORDER 8

typedef enum {
  /* NLTK corpus_bleu: a hypothesis with fewer than n tokens still adds 1 to the
   * n-gram denominator (max(1, ...)), and no unigram match at all gives 0 whatever
   * the smoothing. */
  LM_BLEU_FLAVOUR_NLTK,
  /* sacreBLEU: it adds max(0, len - n + 1); an order with no n-grams in the whole
   * corpus gives 0 (or is dropped with effective_order). */
  LM_BLEU_FLAVOUR_SACREBLEU,
} LmBleuFlavour;

typedef enum {
  LM_BLEU_SMOOTH_NONE,  /* a zero p_n gives BLEU 0 (NLTK method0, sacreBLEU 'none') */
  LM_BLEU_SMOOTH_EXP,   /* the k-th order with no match gets p_n = 1 / (2^k total_n)
                         * (sacreBLEU 'exp', its default; NLTK method3) */
  LM_BLEU_SMOOTH_FLOOR, /* an order with no match gets p_n = epsilon / total_n
                         * (NLTK method1, sacreBLEU 'floor') */
} LmBleuSmooth;

typedef struct {
  int max_order;             /* N, 1..LM_BLEU_MAX_ORDER */
  LmBleuFlavour flavour;
  LmBleuSmooth smooth;
  double epsilon;            /* for LM_BLEU_SMOOTH_FLOOR */
  gboolean effective_order;  /* sacreBLEU: average over the orders that have n-grams */
} LmBleuOptions;

/* N = 4, NLTK flavour, no smoothing, epsilon 0.1, no effective order. */
void lm_bleu_options_init (LmBleuOptions *options);

const char *lm_bleu_flavour_name  (LmBleuFlavour flavour);
gboolean    lm_bleu_flavour_parse (const char *text, LmBleuFlavour *flavour, GError **error);
const char *lm_bleu_smooth_name   (LmBleuSmooth smooth);
gboolean    lm_bleu_smooth_parse  (const char *text, LmBleuSmooth *smooth, GError **error);

/* Sufficient statistics, summed over sentences (so they can be accumulated while
 * generating and combined: add the fields). */
typedef struct {
  int max_order;
  guint64 matches[LM_BLEU_MAX_ORDER];      /* clipped n-gram matches, index n-1 */
  guint64 totals[LM_BLEU_MAX_ORDER];       /* hypothesis n-grams, max(0, len-n+1) each */
  guint64 totals_nltk[LM_BLEU_MAX_ORDER];  /* max(1, len-n+1) each */
  guint64 hyp_length;
  guint64 ref_length;                      /* closest reference lengths */
  guint64 n_sentences;
} LmBleuStats;

void lm_bleu_stats_init (LmBleuStats *stats, int max_order);
/* Add one hypothesis with its n_refs >= 1 references. */
void lm_bleu_stats_add  (LmBleuStats *stats, const LmTokenSeq *hyp, const LmTokenSeq *refs,
                         gsize n_refs);

typedef struct {
  double bleu;                                /* in [0, 1] */
  int max_order;                              /* N */
  int effective_order;                        /* orders averaged (N unless effective) */
  double precisions[LM_BLEU_MAX_ORDER];       /* p_n after smoothing, in [0, 1] */
  guint64 matches[LM_BLEU_MAX_ORDER];         /* numerators before smoothing */
  guint64 totals[LM_BLEU_MAX_ORDER];          /* denominators of the flavour */
  double brevity_penalty;
  guint64 hyp_length;                         /* c */
  guint64 ref_length;                         /* r */
  guint64 n_sentences;
} LmBleuScore;

/* Fails (LM_ERROR_INVALID_INPUT) on statistics of no sentence, and
 * (LM_ERROR_INVALID_CONFIG) on options out of range or a max_order that differs from
 * the statistics'. */
gboolean lm_bleu_score (const LmBleuStats *stats, const LmBleuOptions *options,
                        LmBleuScore *score, GError **error);

/* Corpus BLEU of n_hyps hypotheses; refs holds n_refs references per hypothesis,
 * those of hypothesis i at refs[i * n_refs + k]. */
gboolean lm_corpus_bleu (const LmTokenSeq *hyps, gsize n_hyps, const LmTokenSeq *refs,
                         gsize n_refs, const LmBleuOptions *options, LmBleuScore *score,
                         GError **error);

/* ---- ROUGE -------------------------------------------------------------------------- */

typedef struct {
  double precision, recall, f1;
} LmPrf;

LmPrf lm_rouge_n (const LmTokenSeq *hyp, const LmTokenSeq *ref, int n);
LmPrf lm_rouge_l (const LmTokenSeq *hyp, const LmTokenSeq *ref);
/* Length of the longest common subsequence of a and b. */
gsize lm_lcs_length (const LmTokenSeq *a, const LmTokenSeq *b);

typedef struct {
  LmPrf rouge1, rouge2, rougeL;  /* macro averages over pairs */
  guint64 n_pairs;
} LmRougeScore;

/* Macro-averaged ROUGE-1, -2 and -L; refs laid out as for lm_corpus_bleu. With
 * several references a pair takes, per ROUGE type, the reference with the highest F1
 * (the first on ties), as rouge-score's score_multi. Fails on n_hyps = 0. */
gboolean lm_corpus_rouge (const LmTokenSeq *hyps, gsize n_hyps, const LmTokenSeq *refs,
                          gsize n_refs, LmRougeScore *score, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmTokenTable, lm_token_table_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmSentences, lm_sentences_free)

G_END_DECLS
