/* lm-ngram-table.c — the reversed-trie tables and ARPA-semantics scoring. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-memory.h"
#include "core/lm-vocab.h"
#include "ngram/lm-ngram-table.h"

LmNgramTable *
lm_ngram_table_new (int order, guint32 vocab_size, gint32 eos, const guint32 *counts)
{
  g_return_val_if_fail (order >= 1 && order <= LM_NGRAM_MAX_ORDER, NULL);
  g_return_val_if_fail (counts[0] == vocab_size, NULL);
  LmNgramTable *table = g_new0 (LmNgramTable, 1);
  table->order = order;
  table->vocab_size = vocab_size;
  table->bos = LM_TOKEN_BOS;
  table->eos = eos;
  for (int i = 0; i < order; i++)
    {
      LmNgramLevel *lv = &table->level[i];
      lv->n = counts[i];
      lv->word = i > 0 ? g_new0 (guint32, MAX (lv->n, 1)) : NULL;
      lv->logprob = g_new0 (float, MAX (lv->n, 1));
      lv->backoff = i + 1 < order ? g_new0 (float, MAX (lv->n, 1)) : NULL;
      lv->child = i + 1 < order ? g_new0 (guint32, lv->n + 1) : NULL;
    }
  return table;
}

static void
free_forward (LmNgramTable *table)
{
  for (int i = 0; i < LM_NGRAM_MAX_ORDER; i++)
    {
      g_clear_pointer (&table->fwd_begin[i], g_free);
      g_clear_pointer (&table->fwd_word[i], g_free);
      g_clear_pointer (&table->fwd_node[i], g_free);
    }
  table->has_forward = FALSE;
}

void
lm_ngram_table_free (LmNgramTable *table)
{
  if (table == NULL)
    return;
  for (int i = 0; i < table->order; i++)
    {
      LmNgramLevel *lv = &table->level[i];
      g_free (lv->word);
      g_free (lv->logprob);
      g_free (lv->backoff);
      g_free (lv->child);
    }
  free_forward (table);
  for (int i = 0; i < LM_NGRAM_MAX_ORDER; i++)
    free (table->probe[i]);
  g_free (table);
}

guint64
lm_ngram_table_count (const LmNgramTable *table)
{
  guint64 total = 0;
  for (int i = 0; i < table->order; i++)
    total += table->level[i].n;
  return total;
}

guint64
lm_ngram_table_bytes (const LmNgramTable *table)
{
  guint64 bytes = sizeof *table;
  for (int i = 0; i < table->order; i++)
    {
      const LmNgramLevel *lv = &table->level[i];
      bytes += (guint64) lv->n * sizeof (float);
      if (lv->word)
        bytes += (guint64) lv->n * sizeof (guint32);
      if (lv->backoff)
        bytes += (guint64) lv->n * sizeof (float) + (guint64) (lv->n + 1) * sizeof (guint32);
      if (table->has_forward && i > 0)
        bytes += (guint64) lv->n * 2 * sizeof (guint32)
                 + (guint64) (table->level[i - 1].n + 1) * sizeof (guint32);
    }
  return bytes;
}

/* Position of w in the sorted words[lo..hi), if present. Short ranges (most contexts
 * have few extensions) are scanned; long ones are binary-searched. */
static inline gboolean
find_word (const guint32 *words, guint32 lo, guint32 hi, guint32 w, guint32 *at)
{
  while (hi - lo > 8)
    {
      guint32 mid = lo + (hi - lo) / 2;
      if (words[mid] < w)
        lo = mid + 1;
      else if (words[mid] > w)
        hi = mid;
      else
        {
          *at = mid;
          return TRUE;
        }
    }
  for (; lo < hi; lo++)
    {
      if (words[lo] >= w)
        {
          *at = lo;
          return words[lo] == w;
        }
    }
  return FALSE;
}

gboolean
lm_ngram_table_find (const LmNgramTable *table, const gint32 *words, int n, guint32 *node)
{
  if (n < 1 || n > table->order)
    return FALSE;
  guint32 w = (guint32) words[n - 1];
  if (w >= table->vocab_size)
    return FALSE;
  guint32 at = w;
  for (int k = 1; k < n; k++)
    {
      const LmNgramLevel *lv = &table->level[k - 1];
      if (!find_word (table->level[k].word, lv->child[at], lv->child[at + 1],
                      (guint32) words[n - 1 - k], &at))
        return FALSE;
    }
  *node = at;
  return TRUE;
}

guint32 *
lm_ngram_table_parents (const LmNgramTable *table, int i)
{
  g_return_val_if_fail (i >= 1 && i < table->order, NULL);
  const LmNgramLevel *below = &table->level[i - 1];
  guint32 *parent = g_new (guint32, MAX (table->level[i].n, 1));
  for (guint32 c = 0; c < below->n; c++)
    for (guint32 j = below->child[c]; j < below->child[c + 1]; j++)
      parent[j] = c;
  return parent;
}

guint32 *
lm_ngram_table_prefixes (const LmNgramTable *table, int i)
{
  g_return_val_if_fail (i >= 1 && i < table->order, NULL);
  const LmNgramLevel *lv = &table->level[i];
  guint32 *prefix = g_new (guint32, MAX (lv->n, 1));
  if (i == 1)
    {
      memcpy (prefix, lv->word, lv->n * sizeof (guint32));
      return prefix;
    }
  /* prefix(x g') = the extension of prefix(g') by x, where g' is the parent. */
  g_autofree guint32 *parent = lm_ngram_table_parents (table, i);
  g_autofree guint32 *parent_prefix = lm_ngram_table_prefixes (table, i - 1);
  const LmNgramLevel *ctx_level = &table->level[i - 2];
  for (guint32 g = 0; g < lv->n; g++)
    {
      guint32 pp = parent_prefix[parent[g]];
      guint32 at;
      if (pp != G_MAXUINT32
          && find_word (table->level[i - 1].word, ctx_level->child[pp], ctx_level->child[pp + 1],
                        lv->word[g], &at))
        prefix[g] = at;
      else
        prefix[g] = G_MAXUINT32;
    }
  return prefix;
}

gboolean
lm_ngram_table_contexts_stored (const LmNgramTable *table)
{
  /* prefix[g] for the current level, from the previous level's, as in
   * lm_ngram_table_prefixes but one pass over the orders. */
  g_autofree guint32 *prefix = NULL;
  for (int i = 2; i < table->order; i++)
    {
      const LmNgramLevel *lv = &table->level[i];
      const LmNgramLevel *ctx_level = &table->level[i - 2];
      g_autofree guint32 *parent = lm_ngram_table_parents (table, i);
      g_autofree guint32 *below = g_steal_pointer (&prefix);
      if (below == NULL) /* order 2: the prefix of a bigram is its first word */
        {
          below = g_new (guint32, MAX (table->level[1].n, 1));
          memcpy (below, table->level[1].word, table->level[1].n * sizeof (guint32));
        }
      prefix = g_new (guint32, MAX (lv->n, 1));
      for (guint32 g = 0; g < lv->n; g++)
        {
          guint32 pp = below[parent[g]];
          if (!find_word (table->level[i - 1].word, ctx_level->child[pp],
                          ctx_level->child[pp + 1], lv->word[g], &prefix[g]))
            return FALSE;
        }
    }
  return TRUE;
}

void
lm_ngram_table_build_forward (LmNgramTable *table)
{
  if (table->has_forward)
    return;
  g_autofree guint32 *last_below = NULL; /* last word of each node of the level below */
  for (int i = 1; i < table->order; i++)
    {
      const LmNgramLevel *lv = &table->level[i];
      guint32 n_ctx = table->level[i - 1].n;
      g_autofree guint32 *parent = lm_ngram_table_parents (table, i);
      g_autofree guint32 *prefix = lm_ngram_table_prefixes (table, i);
      guint32 *last = g_new (guint32, MAX (lv->n, 1));
      for (guint32 g = 0; g < lv->n; g++)
        last[g] = i == 1 ? parent[g] : last_below[parent[g]];
      guint32 *begin = g_new0 (guint32, n_ctx + 1);
      for (guint32 g = 0; g < lv->n; g++)
        if (prefix[g] != G_MAXUINT32)
          begin[prefix[g] + 1]++;
      for (guint32 c = 0; c < n_ctx; c++)
        begin[c + 1] += begin[c];
      guint32 *fill = g_memdup2 (begin, (n_ctx + 1) * sizeof (guint32));
      guint32 *fwd_word = g_new (guint32, MAX (begin[n_ctx], 1));
      guint32 *fwd_node = g_new (guint32, MAX (begin[n_ctx], 1));
      for (guint32 g = 0; g < lv->n; g++)
        if (prefix[g] != G_MAXUINT32)
          {
            guint32 at = fill[prefix[g]]++;
            fwd_word[at] = last[g];
            fwd_node[at] = g;
          }
      g_free (fill);
      table->fwd_begin[i] = begin;
      table->fwd_word[i] = fwd_word;
      table->fwd_node[i] = fwd_node;
      g_free (last_below);
      last_below = last;
    }
  table->has_forward = TRUE;
}

/* Hash of an n-gram's ids, extended one word to the left at a time:
 * key(w) = seed(w), key(x g) = mix(key(g), x). Never 0 (the empty slot). */
static inline guint64
key_seed (guint32 w)
{
  guint64 z = (guint64) w + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static inline guint64
key_extend (guint64 key, guint32 x)
{
  guint64 z = (key ^ ((guint64) x * 0xD6E8FEB86659FD93ULL)) * 0x9E3779B97F4A7C15ULL;
  z ^= z >> 32;
  return z | 1;
}

/* The home slot of a key in a table of size slots: the high bits of key * size (the
 * product's top 64 bits, uniform over [0, size) for a uniform key; no power-of-two
 * size needed, so a table can be sized to its load factor exactly). */
static inline guint64
slot_home (guint64 key, guint64 size)
{
#ifdef __SIZEOF_INT128__
  return (guint64) (((unsigned __int128) key * size) >> 64);
#else
  return ((key >> 32) * size) >> 32; /* sizes stay below 2^32 (n-gram counts are 32-bit) */
#endif
}

/* Slots per stored n-gram: a load factor of 1/2 (measured on PTB order 5: faster to
 * score than KenLM's 2/3, whose longer runs more often spill into a second cache
 * line, and smaller than rounding up to a power of two). */
#define PROBE_SLOTS(n) ((guint64) (n) * 2 + 1)

typedef struct {
  guint64 key;
  float logprob, backoff;
} Entry;

/* Fill the table slot[0..size) with n entries. Inserting in the order of their home
 * slots writes the table front to back (a random order would miss the cache on every
 * insert), so the entries are first scattered into buckets of 2^b adjacent homes. */
static void
fill_slots (LmNgramSlot *slot, guint64 size, const Entry *entry, guint32 n)
{
  int shift = 0;
  while ((size >> shift) > 8192)
    shift++;
  guint32 n_buckets = (guint32) (size >> shift) + 1;
  g_autofree guint32 *start = g_new0 (guint32, n_buckets + 1);
  g_autofree Entry *sorted = g_new (Entry, MAX (n, 1));
  for (guint32 g = 0; g < n; g++)
    start[(slot_home (entry[g].key, size) >> shift) + 1]++;
  for (guint32 b = 0; b < n_buckets; b++)
    start[b + 1] += start[b];
  for (guint32 g = 0; g < n; g++)
    sorted[start[slot_home (entry[g].key, size) >> shift]++] = entry[g];
  for (guint32 g = 0; g < n; g++)
    {
      guint64 at = slot_home (sorted[g].key, size);
      while (slot[at].key != 0)
        at = at + 1 == size ? 0 : at + 1;
      slot[at].key = sorted[g].key;
      slot[at].logprob = sorted[g].logprob;
      slot[at].backoff = sorted[g].backoff;
    }
}

gsize
lm_ngram_table_probe_bytes (const LmNgramTable *table)
{
  gsize bytes = 0, scratch = 0;
  for (int i = 1; i < table->order; i++)
    {
      bytes += PROBE_SLOTS (table->level[i].n) * sizeof (LmNgramSlot);
      /* while level i is built: its keys and entries, and the level below's keys */
      scratch = MAX (scratch, (gsize) table->level[i].n * (2 * sizeof (guint64) + sizeof (Entry))
                                  + (gsize) table->level[i - 1].n * sizeof (guint64));
    }
  return bytes + scratch;
}

gboolean
lm_ngram_table_prepare (LmNgramTable *table, GError **error)
{
  if (table->has_probe || table->order < 2)
    {
      table->has_probe = TRUE;
      return TRUE;
    }
  /* Tables of megabytes looked up at random, one slot per n-gram: lm_memory_zeroed puts
   * them on 2 MiB pages, where a look-up misses the TLB far less often. */
  const double need = (double) lm_ngram_table_probe_bytes (table);
  if (!lm_memory_fits (need))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "the %d-gram model's scoring index (%" G_GUINT64_FORMAT " n-grams) needs "
                   "%.1f MiB, more than the %.1f MiB of memory available", table->order,
                   (guint64) lm_ngram_table_count (table), need / 1048576.0,
                   lm_memory_available () / 1048576.0);
      return FALSE;
    }

  guint64 *below = g_new (guint64, table->vocab_size);
  for (guint32 w = 0; w < table->vocab_size; w++)
    below[w] = key_seed (w);
  for (int i = 1; i < table->order; i++)
    {
      const LmNgramLevel *lv = &table->level[i];
      const guint32 *child = table->level[i - 1].child;
      guint64 *keys = g_new (guint64, MAX (lv->n, 1));
      g_autofree Entry *entry = g_new (Entry, MAX (lv->n, 1));
      const guint64 size = PROBE_SLOTS (lv->n);
      for (guint32 c = 0; c < table->level[i - 1].n; c++)
        for (guint32 g = child[c]; g < child[c + 1]; g++)
          {
            keys[g] = key_extend (below[c], lv->word[g]);
            entry[g].key = keys[g];
            entry[g].logprob = lv->logprob[g];
            entry[g].backoff = lv->backoff ? lv->backoff[g] : 0.0f;
          }
      LmNgramSlot *slot = lm_memory_zeroed (size * sizeof (LmNgramSlot));
      if (slot == NULL)
        {
          g_free (keys);
          g_free (below);
          for (int j = 1; j < i; j++)
            g_clear_pointer (&table->probe[j], free);
          g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                       "the %d-gram model's scoring index: no memory for the %" G_GUINT64_FORMAT
                       " slots of order %d", table->order, size, i + 1);
          return FALSE;
        }
      fill_slots (slot, size, entry, lv->n);
      table->probe[i] = slot;
      table->probe_size[i] = size;
      g_free (below);
      below = keys;
    }
  g_free (below);
  table->has_probe = TRUE;
  return TRUE;
}

void
lm_ngram_state_begin (LmNgramTable *table, LmNgramState *state)
{
  if (!table->has_probe)
    {
      g_autoptr (GError) error = NULL;
      if (!lm_ngram_table_prepare (table, &error))
        g_error ("%s", error->message); /* loading and scoring have built it (see .h) */
    }
  if (table->order < 2)
    {
      state->len = 0;
      return;
    }
  state->len = 1;
  state->words[0] = table->bos;
  state->backoff[0] = table->level[0].backoff[table->bos];
}

/* Score word after the state whose n-gram keys are keys[1..]: keys[k] is the hash of
 * word with the k most recent context words (only k <= MIN (state->len, order - 1) is
 * read). Then append word to the state. */
static inline double
score_keyed (const LmNgramTable *table, LmNgramState *state, gint32 word, const guint64 *keys)
{
  const int top = table->order - 1;
  const int depth = MIN (state->len, top); /* longest n-gram tried: depth + 1 words */
  float found_bo[LM_NGRAM_MAX_ORDER];
  double lp = table->level[0].logprob[word];
  found_bo[0] = top > 0 ? table->level[0].backoff[word] : 0.0f;
  int matched = 1;
  /* Longest stored n-gram h[matched-2]..h[0] w (suffixes of stored n-grams are stored,
   * so the first miss ends the search). */
  for (int k = 1; k <= depth; k++)
    {
      const LmNgramSlot *base = table->probe[k];
      const guint64 size = table->probe_size[k], key = keys[k];
      guint64 at = slot_home (key, size);
      while (base[at].key != key && base[at].key != 0)
        at = at + 1 == size ? 0 : at + 1;
      if (base[at].key == 0)
        break;
      lp = base[at].logprob;
      found_bo[k] = base[at].backoff;
      matched++;
    }
  /* Contexts longer than the one used back off: + ln bo(h[m]..h[0]). */
  for (int m = matched - 1; m < state->len; m++)
    lp += state->backoff[m];

  if (word == table->eos)
    {
      if (top > 0)
        {
          state->len = 1;
          state->words[0] = table->bos;
          state->backoff[0] = table->level[0].backoff[table->bos];
        }
      return lp;
    }
  int len = MIN (matched, top);
  if (len > 1)
    memmove (state->words + 1, state->words, (len - 1) * sizeof (gint32));
  if (len > 0)
    state->words[0] = word;
  memcpy (state->backoff, found_bo, len * sizeof (float));
  state->len = len;
  return lp;
}

double
lm_ngram_state_score (const LmNgramTable *table, LmNgramState *state, gint32 word)
{
  const int depth = MIN (state->len, table->order - 1);
  guint64 keys[LM_NGRAM_MAX_ORDER];
  /* All orders' slots are independent of each other: ask for them all at once. */
  guint64 key = key_seed ((guint32) word);
  for (int k = 1; k <= depth; k++)
    {
      key = key_extend (key, (guint32) state->words[k - 1]);
      keys[k] = key;
      __builtin_prefetch (table->probe[k] + slot_home (key, table->probe_size[k]));
    }
  return score_keyed (table, state, word, keys);
}

/* Tokens whose slots are requested before they are scored, and the ring that holds
 * their keys (a power of two above the distance). */
#define SCORE_AHEAD 12
#define SCORE_RING 16

/* The keys of tokens[j] with up to order-1 words of context: tokens[j-1], tokens[j-2],
 * ..., then the initial state's words; a boundary symbol ends the context (the start
 * symbol stands after it). Exactly the words a state would hold, and possibly more
 * (a state forgets words that no stored n-gram extends), which only asks for slots
 * that will not be read. */
static inline void
batch_keys (const LmNgramTable *table, const LmNgramState *initial, const gint32 *tokens,
            gsize j, guint64 *keys)
{
  const int top = table->order - 1;
  guint64 key = key_seed ((guint32) tokens[j]);
  gssize m = (gssize) j - 1;
  for (int k = 1; k <= top; k++, m--)
    {
      gint32 x;
      if (m >= 0)
        x = tokens[m] == table->eos ? table->bos : tokens[m];
      else if (-m - 1 < initial->len)
        x = initial->words[-m - 1];
      else
        return;
      key = key_extend (key, (guint32) x);
      keys[k] = key;
      __builtin_prefetch (table->probe[k] + slot_home (key, table->probe_size[k]));
      if (m >= 0 && tokens[m] == table->eos)
        return;
    }
}

void
lm_ngram_state_score_batch (const LmNgramTable *table, LmNgramState *state,
                            const gint32 *tokens, gsize n, double *logprob)
{
  G_STATIC_ASSERT (SCORE_AHEAD < SCORE_RING && (SCORE_RING & (SCORE_RING - 1)) == 0);
  const LmNgramState initial = *state;
  guint64 ring[SCORE_RING][LM_NGRAM_MAX_ORDER];
  for (gsize j = 0; j < MIN (n, (gsize) SCORE_AHEAD); j++)
    batch_keys (table, &initial, tokens, j, ring[j % SCORE_RING]);
  for (gsize i = 0; i < n; i++)
    {
      if (i + SCORE_AHEAD < n)
        batch_keys (table, &initial, tokens, i + SCORE_AHEAD,
                    ring[(i + SCORE_AHEAD) % SCORE_RING]);
      logprob[i] = score_keyed (table, state, tokens[i], ring[i % SCORE_RING]);
    }
}

void
lm_ngram_state_distribution (LmNgramTable *table, const LmNgramState *state, float *logprobs)
{
  lm_ngram_table_build_forward (table);
  double total[LM_NGRAM_MAX_ORDER + 1]; /* total[m] = sum of ln bo of contexts m.. */
  total[state->len] = 0.0;
  for (int m = state->len - 1; m >= 0; m--)
    total[m] = total[m + 1] + state->backoff[m];
  const float *uni = table->level[0].logprob;
  for (guint32 v = 0; v < table->vocab_size; v++)
    logprobs[v] = (float) (uni[v] + total[0]);
  /* Each longer stored context overrides the words it has seen. */
  gint32 ctx[LM_NGRAM_MAX_ORDER];
  for (int m = 0; m < state->len; m++)
    {
      guint32 c;
      for (int k = 0; k <= m; k++)
        ctx[k] = state->words[m - k];
      if (!lm_ngram_table_find (table, ctx, m + 1, &c))
        break;
      const guint32 *begin = table->fwd_begin[m + 1];
      const guint32 *words = table->fwd_word[m + 1];
      const guint32 *nodes = table->fwd_node[m + 1];
      const float *lp = table->level[m + 1].logprob;
      for (guint32 j = begin[c]; j < begin[c + 1]; j++)
        logprobs[words[j]] = (float) (lp[nodes[j]] + total[m + 1]);
    }
}

double
lm_ngram_table_logprob_naive (const LmNgramTable *table, const gint32 *history, int n_history,
                              gint32 word)
{
  gint32 gram[LM_NGRAM_MAX_ORDER];
  int clen = MIN (n_history, table->order - 1);
  const gint32 *ctx = history + n_history - clen;
  double bo_sum = 0.0;
  for (int L = clen; L >= 0; L--)
    {
      guint32 node;
      memcpy (gram, ctx + clen - L, L * sizeof (gint32));
      gram[L] = word;
      if (lm_ngram_table_find (table, gram, L + 1, &node))
        return table->level[L].logprob[node] + bo_sum;
      if (L > 0 && lm_ngram_table_find (table, ctx + clen - L, L, &node))
        bo_sum += table->level[L - 1].backoff[node];
    }
  g_assert_not_reached ();
}
