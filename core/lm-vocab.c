/* lm-vocab.c — levels, tokenizers and the vocabulary. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-vocab.h"

static const char *const special_symbols[LM_N_SPECIAL] = { "<s>", "</s>", "<unk>" };

const char *
lm_level_name (LmLevel level)
{
  switch (level)
    {
    case LM_LEVEL_WORD: return "word";
    case LM_LEVEL_CHAR: return "char";
    case LM_LEVEL_BYTE: return "byte";
    }
  return "?";
}

gboolean
lm_level_parse (const char *text, LmLevel *level, GError **error)
{
  for (LmLevel l = LM_LEVEL_WORD; l <= LM_LEVEL_BYTE; l++)
    if (g_strcmp0 (text, lm_level_name (l)) == 0)
      {
        *level = l;
        return TRUE;
      }
  g_set_error (error, LM_ERROR, LM_ERROR_USAGE, "unknown level '%s' (use word, char or byte)",
               text ? text : "");
  return FALSE;
}

/* ---- tokenizers --------------------------------------------------------- */

static inline gboolean
is_word_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

void
lm_tokenize (LmLevel level, const char *text, gsize len, LmTokenFunc func, gpointer user_data)
{
  const char *p = text, *end = text + len;
  switch (level)
    {
    case LM_LEVEL_WORD:
      /* Words are maximal runs of non-space bytes; '\n' closes the line with </s>. */
      while (p < end)
        {
          if (*p == '\n')
            {
              func ("</s>", 4, user_data);
              p++;
            }
          else if (is_word_space (*p))
            p++;
          else
            {
              const char *start = p;
              while (p < end && *p != '\n' && !is_word_space (*p))
                p++;
              func (start, p - start, user_data);
            }
        }
      break;
    case LM_LEVEL_CHAR:
      while (p < end)
        {
          const char *next = g_utf8_next_char (p);
          if (next > end)
            next = end;
          func (p, next - p, user_data);
          p = next;
        }
      break;
    case LM_LEVEL_BYTE:
      for (; p < end; p++)
        func (p, 1, user_data);
      break;
    }
}

/* ---- vocabulary --------------------------------------------------------- */

struct _LmVocab {
  gint ref;
  LmLevel level;
  GPtrArray *symbols; /* id -> char*, owned */
  GArray *counts;     /* id -> gint64 */
  GHashTable *index;  /* symbol -> GINT_TO_POINTER (id + 1), keys borrowed from symbols */
  guint64 fingerprint;
};

static LmVocab *
vocab_new (LmLevel level)
{
  LmVocab *vocab = g_new0 (LmVocab, 1);
  vocab->ref = 1;
  vocab->level = level;
  vocab->symbols = g_ptr_array_new_with_free_func (g_free);
  vocab->counts = g_array_new (FALSE, TRUE, sizeof (gint64));
  vocab->index = g_hash_table_new (g_str_hash, g_str_equal);
  return vocab;
}

static gint32
vocab_append (LmVocab *vocab, const char *symbol, gint64 count)
{
  gint32 id = vocab->symbols->len;
  char *copy = g_strdup (symbol);
  g_ptr_array_add (vocab->symbols, copy);
  g_array_append_val (vocab->counts, count);
  g_hash_table_insert (vocab->index, copy, GINT_TO_POINTER (id + 1));
  return id;
}

static void
vocab_finish (LmVocab *vocab)
{
  /* FNV-1a over the level and every symbol with its terminating NUL. */
  guint64 h = 0xcbf29ce484222325ULL;
  h = (h ^ (guint64) vocab->level) * 0x100000001b3ULL;
  for (guint i = 0; i < vocab->symbols->len; i++)
    {
      const unsigned char *s = g_ptr_array_index (vocab->symbols, i);
      do
        h = (h ^ *s) * 0x100000001b3ULL;
      while (*s++);
    }
  vocab->fingerprint = h;
}

typedef struct {
  GHashTable *counts; /* symbol -> gint64* */
  GString *scratch;
} CountContext;

static void
count_token (const char *symbol, gsize len, gpointer user_data)
{
  CountContext *ctx = user_data;
  g_string_truncate (ctx->scratch, 0);
  g_string_append_len (ctx->scratch, symbol, len);
  gint64 *count = g_hash_table_lookup (ctx->counts, ctx->scratch->str);
  if (count == NULL)
    {
      count = g_new0 (gint64, 1);
      g_hash_table_insert (ctx->counts, g_strndup (symbol, len), count);
    }
  (*count)++;
}

typedef struct {
  const char *symbol;
  gint64 count;
} SymbolCount;

static int
compare_symbol_counts (const void *a, const void *b)
{
  const SymbolCount *x = a, *y = b;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  return strcmp (x->symbol, y->symbol);
}

LmVocab *
lm_vocab_from_symbols (LmLevel level, const char *const *symbols, gsize n)
{
  LmVocab *vocab = vocab_new (level);
  for (int s = 0; s < LM_N_SPECIAL; s++)
    vocab_append (vocab, special_symbols[s], 0);
  for (gsize i = 0; i < n; i++)
    if (!g_hash_table_contains (vocab->index, symbols[i]))
      vocab_append (vocab, symbols[i], 0);
  vocab_finish (vocab);
  return vocab;
}

LmVocab *
lm_vocab_build (LmLevel level, const char *text, gsize len, const LmVocabLimits *limits)
{
  CountContext ctx = {
    .counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free),
    .scratch = g_string_new (NULL),
  };
  lm_tokenize (level, text, len, count_token, &ctx);

  gint64 min_count = limits && limits->min_count > 1 ? limits->min_count : 1;
  gint64 max_size = limits ? limits->max_size : 0;

  LmVocab *vocab = vocab_new (level);
  gint64 special_counts[LM_N_SPECIAL] = { 0 };
  GArray *kept = g_array_new (FALSE, FALSE, sizeof (SymbolCount));
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, ctx.counts);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      gint64 count = *(gint64 *) value;
      gboolean special = FALSE;
      for (int s = 0; s < LM_N_SPECIAL; s++)
        if (strcmp (key, special_symbols[s]) == 0)
          special_counts[s] += count, special = TRUE;
      if (!special && count >= min_count)
        {
          SymbolCount sc = { key, count };
          g_array_append_val (kept, sc);
        }
    }
  g_array_sort (kept, compare_symbol_counts);
  if (max_size > 0 && kept->len > (guint) MAX (0, max_size - LM_N_SPECIAL))
    g_array_set_size (kept, MAX (0, max_size - LM_N_SPECIAL));

  for (int s = 0; s < LM_N_SPECIAL; s++)
    vocab_append (vocab, special_symbols[s], special_counts[s]);
  for (guint i = 0; i < kept->len; i++)
    {
      SymbolCount *sc = &g_array_index (kept, SymbolCount, i);
      vocab_append (vocab, sc->symbol, sc->count);
    }
  /* Symbols cut by the limits are <unk> in the training text too. */
  gint64 unk_extra = 0;
  g_hash_table_iter_init (&iter, ctx.counts);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_hash_table_contains (vocab->index, key))
      unk_extra += *(gint64 *) value;
  g_array_index (vocab->counts, gint64, LM_TOKEN_UNK) += unk_extra;

  vocab_finish (vocab);
  g_array_free (kept, TRUE);
  g_hash_table_unref (ctx.counts);
  g_string_free (ctx.scratch, TRUE);
  return vocab;
}

LmVocab *
lm_vocab_ref (LmVocab *vocab)
{
  g_atomic_int_inc (&vocab->ref);
  return vocab;
}

void
lm_vocab_unref (LmVocab *vocab)
{
  if (vocab == NULL || !g_atomic_int_dec_and_test (&vocab->ref))
    return;
  g_hash_table_unref (vocab->index);
  g_ptr_array_unref (vocab->symbols);
  g_array_unref (vocab->counts);
  g_free (vocab);
}

LmLevel
lm_vocab_level (const LmVocab *vocab)
{
  return vocab->level;
}

guint32
lm_vocab_size (const LmVocab *vocab)
{
  return vocab->symbols->len;
}

gint32
lm_vocab_lookup (const LmVocab *vocab, const char *symbol, gsize len)
{
  char small[64];
  const char *key = symbol;
  g_autofree char *big = NULL;
  if (symbol[len] != '\0')
    {
      if (len < sizeof small)
        {
          memcpy (small, symbol, len);
          small[len] = '\0';
          key = small;
        }
      else
        key = big = g_strndup (symbol, len);
    }
  gpointer found = g_hash_table_lookup (vocab->index, key);
  return found ? GPOINTER_TO_INT (found) - 1 : -1;
}

const char *
lm_vocab_symbol (const LmVocab *vocab, gint32 id)
{
  g_return_val_if_fail (id >= 0 && (guint) id < vocab->symbols->len, "<invalid>");
  return g_ptr_array_index (vocab->symbols, id);
}

gint64
lm_vocab_count (const LmVocab *vocab, gint32 id)
{
  g_return_val_if_fail (id >= 0 && (guint) id < vocab->counts->len, 0);
  return g_array_index (vocab->counts, gint64, id);
}

guint64
lm_vocab_fingerprint (const LmVocab *vocab)
{
  return vocab->fingerprint;
}

gboolean
lm_vocab_equal (const LmVocab *a, const LmVocab *b)
{
  if (a == b)
    return TRUE;
  if (a->level != b->level || a->symbols->len != b->symbols->len
      || a->fingerprint != b->fingerprint)
    return FALSE;
  for (guint i = 0; i < a->symbols->len; i++)
    if (strcmp (g_ptr_array_index (a->symbols, i), g_ptr_array_index (b->symbols, i)) != 0)
      return FALSE;
  return TRUE;
}

typedef struct {
  const LmVocab *vocab;
  GArray *ids;
  gsize n_oov;
} EncodeContext;

static void
encode_token (const char *symbol, gsize len, gpointer user_data)
{
  EncodeContext *ctx = user_data;
  gint32 id = lm_vocab_lookup (ctx->vocab, symbol, len);
  if (id < 0)
    {
      id = LM_TOKEN_UNK;
      ctx->n_oov++;
    }
  g_array_append_val (ctx->ids, id);
}

gint32 *
lm_vocab_encode (const LmVocab *vocab, const char *text, gsize len, gsize *n_tokens,
                 gsize *n_oov, gsize *n_chars)
{
  EncodeContext ctx = { vocab, g_array_sized_new (FALSE, FALSE, sizeof (gint32), 1024), 0 };
  lm_tokenize (vocab->level, text, len, encode_token, &ctx);
  if (n_tokens)
    *n_tokens = ctx.ids->len;
  if (n_oov)
    *n_oov = ctx.n_oov;
  if (n_chars)
    *n_chars = g_utf8_strlen (text, len);
  return (gint32 *) g_array_free (ctx.ids, FALSE);
}

void
lm_vocab_decode (const LmVocab *vocab, const gint32 *ids, gsize n, GString *out)
{
  for (gsize i = 0; i < n; i++)
    {
      gint32 id = ids[i];
      if (vocab->level != LM_LEVEL_WORD)
        {
          if (id >= LM_N_SPECIAL)
            g_string_append (out, lm_vocab_symbol (vocab, id));
          else if (id == LM_TOKEN_UNK)
            g_string_append (out, "\xef\xbf\xbd"); /* U+FFFD REPLACEMENT CHARACTER */
          continue;
        }
      if (id == LM_TOKEN_EOS)
        {
          g_string_append_c (out, '\n');
          continue;
        }
      if (id == LM_TOKEN_BOS)
        continue;
      if (out->len > 0 && out->str[out->len - 1] != '\n')
        g_string_append_c (out, ' ');
      g_string_append (out, lm_vocab_symbol (vocab, id));
    }
}

/* ---- serialisation -------------------------------------------------------- */

#define VOCAB_MAGIC "lmlab-vocab"
#define VOCAB_VERSION 1

static void
escape_symbol (GString *out, const char *s)
{
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    {
      switch (*p)
        {
        case '\\': g_string_append (out, "\\\\"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        default:
          if (*p < 0x20 || *p == 0x7f)
            g_string_append_printf (out, "\\x%02x", *p);
          else
            g_string_append_c (out, *p);
        }
    }
}

/* Inverse of escape_symbol; FALSE on a malformed escape. Bytes >= 0x80 are kept as
 * they are (a byte-level symbol may be a lone UTF-8 continuation byte). */
static gboolean
unescape_symbol (const char *s, gsize len, GString *out)
{
  for (gsize i = 0; i < len; i++)
    {
      if (s[i] != '\\')
        {
          g_string_append_c (out, s[i]);
          continue;
        }
      if (++i >= len)
        return FALSE;
      switch (s[i])
        {
        case '\\': g_string_append_c (out, '\\'); break;
        case 't': g_string_append_c (out, '\t'); break;
        case 'n': g_string_append_c (out, '\n'); break;
        case 'r': g_string_append_c (out, '\r'); break;
        case 'x':
          {
            if (i + 2 >= len)
              return FALSE;
            int hi = g_ascii_xdigit_value (s[i + 1]), lo = g_ascii_xdigit_value (s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
              return FALSE;
            g_string_append_c (out, (char) (hi * 16 + lo));
            i += 2;
            break;
          }
        default:
          return FALSE;
        }
    }
  return TRUE;
}

char *
lm_vocab_to_text (const LmVocab *vocab, gsize *len)
{
  GString *out = g_string_new (NULL);
  g_string_append_printf (out, "%s %d level=%s size=%u\n", VOCAB_MAGIC, VOCAB_VERSION,
                          lm_level_name (vocab->level), vocab->symbols->len);
  for (guint i = 0; i < vocab->symbols->len; i++)
    {
      g_string_append_printf (out, "%" G_GINT64_FORMAT "\t",
                              g_array_index (vocab->counts, gint64, i));
      escape_symbol (out, g_ptr_array_index (vocab->symbols, i));
      g_string_append_c (out, '\n');
    }
  if (len)
    *len = out->len;
  return g_string_free (out, FALSE);
}

LmVocab *
lm_vocab_from_text (const char *text, gsize len, GError **error)
{
  const char *p = text, *end = text + len;
  const char *eol = memchr (p, '\n', len);
  if (eol == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT, "vocabulary: no header line");
      return NULL;
    }
  g_autofree char *header = g_strndup (p, eol - p);
  char level_name[16] = "";
  unsigned version = 0, size = 0;
  if (sscanf (header, VOCAB_MAGIC " %u level=%15s size=%u", &version, level_name, &size) != 3)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT,
                   "vocabulary: line 1 is not an lmlab vocabulary header");
      return NULL;
    }
  if (version != VOCAB_VERSION)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT,
                   "vocabulary: version %u, this lmlab reads version %d", version,
                   VOCAB_VERSION);
      return NULL;
    }
  LmLevel level;
  if (!lm_level_parse (level_name, &level, error))
    {
      g_prefix_error (error, "vocabulary: line 1: ");
      (*error)->code = LM_ERROR_CORRUPT;
      return NULL;
    }
  if (size < LM_N_SPECIAL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT, "vocabulary: size %u is too small", size);
      return NULL;
    }
  g_autoptr (LmVocab) vocab = vocab_new (level);
  g_autoptr (GString) symbol = g_string_new (NULL);
  p = eol + 1;
  for (guint line = 2; p < end; line++)
    {
      eol = memchr (p, '\n', end - p);
      if (eol == NULL)
        eol = end;
      const char *tab = memchr (p, '\t', eol - p);
      char *count_end = NULL;
      gint64 count = tab ? g_ascii_strtoll (p, &count_end, 10) : -1;
      g_string_truncate (symbol, 0);
      if (tab == NULL || count_end != tab || count < 0
          || !unescape_symbol (tab + 1, eol - tab - 1, symbol) || symbol->len == 0)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT,
                       "vocabulary: line %u is not COUNT<TAB>SYMBOL", line);
          return NULL;
        }
      guint id = vocab->symbols->len;
      if (id < LM_N_SPECIAL && strcmp (symbol->str, special_symbols[id]) != 0)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT,
                       "vocabulary: line %u: id %u must be %s", line, id, special_symbols[id]);
          return NULL;
        }
      if (g_hash_table_contains (vocab->index, symbol->str))
        {
          g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT,
                       "vocabulary: line %u repeats a symbol", line);
          return NULL;
        }
      vocab_append (vocab, symbol->str, count);
      p = eol + 1;
    }
  if (vocab->symbols->len != size)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT,
                   "vocabulary: header says %u symbols, found %u", size, vocab->symbols->len);
      return NULL;
    }
  vocab_finish (vocab);
  return g_steal_pointer (&vocab);
}

gboolean
lm_vocab_save (const LmVocab *vocab, const char *path, GError **error)
{
  gsize len;
  g_autofree char *text = lm_vocab_to_text (vocab, &len);
  /* g_file_set_contents writes a temporary file and renames it into place. */
  if (!g_file_set_contents (path, text, len, error))
    {
      g_prefix_error (error, "saving vocabulary: ");
      return FALSE;
    }
  return TRUE;
}

LmVocab *
lm_vocab_load (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;
  if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  LmVocab *vocab = lm_vocab_from_text (text, len, error);
  if (vocab == NULL)
    g_prefix_error (error, "%s: ", path);
  return vocab;
}
