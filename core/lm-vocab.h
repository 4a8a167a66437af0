/* lm-vocab.h — levels, tokenizers and the vocabulary.
 *
 * Levels: word (whitespace-separated; an end-of-sentence token </s> closes every
 * line), char (one Unicode code point per token; '\n' is an ordinary symbol), byte
 * (one byte per token; '\n' likewise).
 *
 * Ids are deterministic: the three specials first (<s> 0, </s> 1, <unk> 2), then the
 * kept symbols by descending training count, ties in byte order. A literal "<unk>",
 * "<s>" or "</s>" in the text is the special itself (so PTB's <unk> is one word of the
 * vocabulary with its own count). Symbols below min_count, or beyond max_size, map to
 * <unk> and are counted as out-of-vocabulary when they occur.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  LM_LEVEL_WORD,
  LM_LEVEL_CHAR,
  LM_LEVEL_BYTE,
} LmLevel;

enum {
  LM_TOKEN_BOS = 0, /* <s>: context only, never predicted */
  LM_TOKEN_EOS = 1, /* </s>: closes a line at word level; predicted */
  LM_TOKEN_UNK = 2, /* <unk>: every symbol not in the vocabulary */
  LM_N_SPECIAL = 3,
};

const char *lm_level_name  (LmLevel level);
gboolean    lm_level_parse (const char *text, LmLevel *level, GError **error);

/* ---- tokenizers --------------------------------------------------------- */

/* Called once per token with the symbol's bytes (not NUL-terminated) and its length.
 * At word level with end_of_line set, a line end is reported as symbol "</s>". */
typedef void (*LmTokenFunc) (const char *symbol, gsize len, gpointer user_data);

/* Split valid UTF-8 text into symbols of the level. */
void lm_tokenize (LmLevel level, const char *text, gsize len, LmTokenFunc func,
                  gpointer user_data);

/* ---- vocabulary --------------------------------------------------------- */

typedef struct _LmVocab LmVocab;

typedef struct {
  gint64 min_count; /* keep symbols seen at least this often (1 keeps all) */
  gint64 max_size;  /* at most this many ids in all, specials included (0: no limit) */
} LmVocabLimits;

/* Count the symbols of text and build the vocabulary (refcount 1). */
LmVocab    *lm_vocab_build  (LmLevel level, const char *text, gsize len,
                             const LmVocabLimits *limits);
/* A vocabulary of the given symbols in their order, after the specials (a symbol equal to
 * a special's name is that special; a repeat keeps its first id), every count 0: an ARPA
 * file's unigrams keep the ids of the model that wrote them. */
LmVocab    *lm_vocab_from_symbols (LmLevel level, const char *const *symbols, gsize n);
LmVocab    *lm_vocab_ref    (LmVocab *vocab);
void        lm_vocab_unref  (LmVocab *vocab);

LmLevel     lm_vocab_level  (const LmVocab *vocab);
guint32     lm_vocab_size   (const LmVocab *vocab);   /* V, specials included */
/* Id of a symbol, or -1 when it is not in the vocabulary. */
gint32      lm_vocab_lookup (const LmVocab *vocab, const char *symbol, gsize len);
/* The symbol of an id (owned by the vocabulary, NUL-terminated). */
const char *lm_vocab_symbol (const LmVocab *vocab, gint32 id);
/* Training count of an id (0 for <s>; </s> counts line ends). */
gint64      lm_vocab_count  (const LmVocab *vocab, gint32 id);
/* A 64-bit fingerprint of level and symbols in id order: equal vocabularies, equal
 * fingerprints. Used to refuse mixing models, checkpoints and corpora. */
guint64     lm_vocab_fingerprint (const LmVocab *vocab);
gboolean    lm_vocab_equal  (const LmVocab *a, const LmVocab *b);

/* Map text to ids. *n_oov counts tokens not in the vocabulary (mapped to <unk>);
 * *n_chars the Unicode characters of the text (newlines included). Returns a new
 * array of *n_tokens ids. */
gint32     *lm_vocab_encode (const LmVocab *vocab, const char *text, gsize len,
                             gsize *n_tokens, gsize *n_oov, gsize *n_chars);
/* Append the text of ids to out: words joined by spaces, </s> as a newline. */
void        lm_vocab_decode (const LmVocab *vocab, const gint32 *ids, gsize n,
                             GString *out);

/* Serialise: a header line then "count<TAB>escaped symbol" per id. Loading checks
 * every line and names the one that is wrong. */
char       *lm_vocab_to_text   (const LmVocab *vocab, gsize *len);
LmVocab    *lm_vocab_from_text (const char *text, gsize len, GError **error);
gboolean    lm_vocab_save      (const LmVocab *vocab, const char *path, GError **error);
LmVocab    *lm_vocab_load      (const char *path, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmVocab, lm_vocab_unref)

G_END_DECLS
