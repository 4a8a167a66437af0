/* lm-ngram-table.h — internal: the tables every n-gram model ends up as, and how they
 * are queried.
 *
 * Whatever the smoothing, an estimated (or ARPA-loaded) model is a backoff model in
 * ARPA form: each stored n-gram has ln p(w_n | w_1..w_{n-1}) and, when it can be a
 * context, ln bo(w_1..w_n). Unstored events back off:
 *
 *   p(w | c) = p*(c w)                       if c w is stored
 *            = bo(c) * p(w | c without its first word)   otherwise (bo = 1 if c absent)
 *
 * Storage is a reversed trie in sorted arrays. Level i holds the n-grams of order i+1.
 * Level 0 is indexed by word id (all V ids are present). An n-gram g = w_1..w_n at
 * level n-1 >= 1 stores its leftmost word w_1; its parent is its suffix w_2..w_n at
 * level n-2, and the left extensions (x g) of a node are the contiguous range
 * [child[i], child[i+1]) of the next level, sorted by x; a look-up walks w, h0 w,
 * h1 h0 w, ... with one binary search per step (the words are 32-bit ids; no string is
 * hashed). Scoring uses a second, faster index built on first use (KenLM's "probing"
 * idea): per order, an open-addressing table keyed by a 64-bit hash of the n-gram's
 * ids holding its probability and backoff, so the look-ups of all orders are
 * independent and their cache misses overlap (a false match needs two n-grams of one
 * order with equal 64-bit hashes: about n^2 / 2^65, below 1e-7 for PTB). Tables are closed under suffixes and prefixes: every
 * stored n-gram's suffix and context are stored too (the ARPA reader inserts any an
 * outside file lacks, with backoff 1 and the probability backing off would give).
 *
 * Natural logs inside (float); ARPA files are log10, converted at the boundary.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LM_NGRAM_MAX_ORDER 20

typedef struct {
  guint32 n;          /* n-grams at this level (level 0: V) */
  guint32 *word;      /* [n] leftmost word (NULL at level 0: the index is the word) */
  float *logprob;     /* [n] ln p(last word | the words before it); -inf: impossible */
  float *backoff;     /* [n] ln bo as a context (NULL at the top level) */
  guint32 *child;     /* [n+1] left-extension ranges in the next level (NULL at the top) */
} LmNgramLevel;

typedef struct {
  int order;
  guint32 vocab_size;
  gint32 bos;          /* the context-only start symbol (id 0) */
  gint32 eos;          /* the symbol that ends a sentence (</s>, or the id of newline at char
                        * level), or -1 for none */
  LmNgramLevel level[LM_NGRAM_MAX_ORDER];
  /* Forward index, built on demand for full next-token distributions: for a context
   * node c at level i-1, its right extensions c v at level i are
   * fwd_word/fwd_node[i][fwd_begin[i][c] .. fwd_begin[i][c+1]). */
  gboolean has_forward;
  /* The probing index, built on demand (lm_ngram_table_prepare). */
  struct _LmNgramSlot *probe[LM_NGRAM_MAX_ORDER];
  guint64 probe_size[LM_NGRAM_MAX_ORDER];   /* slots of each */
  gboolean has_probe;
  guint32 *fwd_begin[LM_NGRAM_MAX_ORDER];
  guint32 *fwd_word[LM_NGRAM_MAX_ORDER];
  guint32 *fwd_node[LM_NGRAM_MAX_ORDER];
} LmNgramTable;

typedef struct _LmNgramSlot {
  guint64 key;       /* hash of the ids; 0: empty */
  float logprob;
  float backoff;
} LmNgramSlot;

/* Scoring state: the longest stored context h[len-1]..h[0] (h[0] most recent) and the
 * backoff of each of its suffixes h[m]..h[0]. Fixed size: no allocation per token. */
typedef struct {
  int len;
  gint32 words[LM_NGRAM_MAX_ORDER];
  float backoff[LM_NGRAM_MAX_ORDER];   /* ln bo(h[m]..h[0]) */
} LmNgramState;

/* Allocate a table with the given level sizes (level 0 must be vocab_size); arrays are
 * zeroed. */
LmNgramTable *lm_ngram_table_new   (int order, guint32 vocab_size, gint32 eos,
                                    const guint32 *counts);
void          lm_ngram_table_free  (LmNgramTable *table);
guint64       lm_ngram_table_count (const LmNgramTable *table);  /* stored n-grams */
guint64       lm_ngram_table_bytes (const LmNgramTable *table);

/* Find the node of the n-gram words[0..n-1] (in text order), or return FALSE. */
gboolean      lm_ngram_table_find  (const LmNgramTable *table, const gint32 *words, int n,
                                    guint32 *node);
/* Parent (suffix) of every node of level i >= 1, computed from the child ranges;
 * returns a new array. */
guint32      *lm_ngram_table_parents (const LmNgramTable *table, int i);
/* Context (prefix) of every node of level i >= 1: a new array of nodes of level i-1. */
guint32      *lm_ngram_table_prefixes (const LmNgramTable *table, int i);
/* Whether the context (prefix) of every stored n-gram is stored. */
gboolean      lm_ngram_table_contexts_stored (const LmNgramTable *table);

/* Build the scoring index (once; not thread-safe): a probing table per order above the
 * first, two 16-byte slots an n-gram. Fails (LM_ERROR_NO_MEMORY) when it would not fit in
 * the memory available (core/lm-memory.h). Loading and scoring build it with their own
 * errors; state_begin builds it when nothing has, and aborts if it cannot. */
gboolean      lm_ngram_table_prepare (LmNgramTable *table, GError **error);
/* bytes lm_ngram_table_prepare needs at its peak (the tables and its scratch) */
gsize         lm_ngram_table_probe_bytes (const LmNgramTable *table);
void          lm_ngram_state_begin (LmNgramTable *table, LmNgramState *state);
/* ln p(word | state), then append word to the state (after eos: begin again). The
 * state must come from lm_ngram_state_begin on this table. */
double        lm_ngram_state_score (const LmNgramTable *table, LmNgramState *state,
                                    gint32 word);
/* lm_ngram_state_score over tokens[0..n-1] (ids < V) into logprob[0..n-1], asking for
 * each token's slots several tokens before it is scored, so that their cache misses
 * overlap. */
void          lm_ngram_state_score_batch (const LmNgramTable *table, LmNgramState *state,
                                          const gint32 *tokens, gsize n, double *logprob);
/* ln p(v | state) for all V ids. Builds the forward index on first use. */
void          lm_ngram_state_distribution (LmNgramTable *table, const LmNgramState *state,
                                           float *logprobs);
void          lm_ngram_table_build_forward (LmNgramTable *table);

/* The reference implementation of the same semantics: look up p(word | history) by
 * the ARPA definition directly (history words in text order, the first may be <s>). */
double        lm_ngram_table_logprob_naive (const LmNgramTable *table, const gint32 *history,
                                            int n_history, gint32 word);

G_END_DECLS
