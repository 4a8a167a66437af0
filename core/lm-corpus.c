/* lm-corpus.c — reading, validating and splitting text; token streams; batches. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include "core/lm-corpus.h"
#include "core/lm-error.h"

/* ---- stage 1: read and validate ------------------------------------------------ */

static void
locate (const char *data, gsize offset, gsize *line, gsize *column)
{
  gsize l = 1, c = 0;
  for (gsize i = 0; i < offset; i++)
    {
      if (data[i] == '\n')
        l++, c = 0;
      else
        c++;
    }
  *line = l;
  *column = c + 1;
}

gboolean
lm_text_from_data (const char *name, const char *data, gsize len, LmText **out, GError **error)
{
  *out = NULL;
  if (len >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0) /* UTF-8 byte-order mark */
    data += 3, len -= 3;
  if (len == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "%s: the file is empty; a corpus needs text", name);
      return FALSE;
    }
  const char *nul = memchr (data, '\0', len);
  if (nul != NULL)
    {
      gsize line, column;
      locate (data, nul - data, &line, &column);
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "%s:%zu: NUL byte at byte offset %zu: this looks like a binary file, "
                   "not text", name, line, (gsize) (nul - data));
      return FALSE;
    }
  const char *valid_end = NULL;
  if (!g_utf8_validate_len (data, len, &valid_end))
    {
      gsize line, column;
      locate (data, valid_end - data, &line, &column);
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "%s:%zu: invalid UTF-8 at byte offset %zu (byte 0x%02x, column %zu); "
                   "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)",
                   name, line, (gsize) (valid_end - data), (unsigned char) *valid_end,
                   column);
      return FALSE;
    }

  /* Normalise line ends: CRLF and lone CR become LF; end with a newline. */
  GString *text = g_string_sized_new (len + 1);
  for (gsize i = 0; i < len; i++)
    {
      if (data[i] == '\r')
        {
          g_string_append_c (text, '\n');
          if (i + 1 < len && data[i + 1] == '\n')
            i++;
        }
      else
        g_string_append_c (text, data[i]);
    }
  if (text->str[text->len - 1] != '\n')
    g_string_append_c (text, '\n');

  LmText *t = g_new0 (LmText, 1);
  t->name = g_strdup (name);
  t->len = text->len;
  t->data = g_string_free (text, FALSE);
  for (gsize i = 0; i < t->len; i++)
    t->n_lines += t->data[i] == '\n';
  t->n_chars = g_utf8_strlen (t->data, t->len);
  *out = t;
  return TRUE;
}

gboolean
lm_text_read (const char *path, LmText **out, GError **error)
{
  GStatBuf st;
  *out = NULL;
  if (g_stat (path, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s: cannot read: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  if (S_ISDIR (st.st_mode))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "%s is a directory; pass a text file", path);
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "%s is not a regular file; pass a text file", path);
      return FALSE;
    }
  g_autofree char *data = NULL;
  gsize len = 0;
  GError *local = NULL;
  if (!g_file_get_contents (path, &data, &len, &local))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s", local->message);
      g_error_free (local);
      return FALSE;
    }
  return lm_text_from_data (path, data, len, out, error);
}

void
lm_text_free (LmText *text)
{
  if (text == NULL)
    return;
  g_free (text->name);
  g_free (text->data);
  g_free (text);
}

char *
lm_default_corpus_path (GError **error)
{
  const char *dirs[3] = { g_getenv ("LMLAB_DATA_DIR"), LMLAB_BUILD_DATADIR,
                          LMLAB_INSTALL_DATADIR };
  for (int i = 0; i < 3; i++)
    if (dirs[i] != NULL)
      {
        char *path = g_build_filename (dirs[i], "kjv.txt", NULL);
        if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
          return path;
        g_free (path);
      }
  g_set_error (error, LM_ERROR, LM_ERROR_IO,
               "the default corpus kjv.txt was not found (looked in $LMLAB_DATA_DIR, %s, %s); "
               "install bible-kjv (apt-get install bible-kjv) and run make, or pass a file",
               LMLAB_BUILD_DATADIR, LMLAB_INSTALL_DATADIR);
  return NULL;
}

/* ---- stage 2: split ------------------------------------------------------------- */

static LmText *
text_part (const LmText *whole, const char *part, const char *start, const char *end)
{
  LmText *t = g_new0 (LmText, 1);
  t->name = g_strdup_printf ("%s[%s]", whole->name, part);
  t->len = end - start;
  t->data = g_strndup (start, t->len);
  for (gsize i = 0; i < t->len; i++)
    t->n_lines += t->data[i] == '\n';
  t->n_chars = g_utf8_strlen (t->data, t->len);
  return t;
}

/* Byte offset where unit number k starts (lines or code points). */
static gsize
unit_offset (const LmText *text, LmSplitUnit unit, gsize k)
{
  if (unit == LM_SPLIT_BY_CHAR)
    return g_utf8_offset_to_pointer (text->data, k) - text->data;
  gsize line = 0;
  for (gsize i = 0; i < text->len; i++)
    if (line == k)
      return i;
    else if (text->data[i] == '\n')
      line++;
  return text->len;
}

gboolean
lm_text_split (const LmText *text, LmSplitUnit unit, double valid_fraction,
               double test_fraction, LmText **train, LmText **valid, LmText **test,
               GError **error)
{
  *train = *valid = *test = NULL;
  if (!(valid_fraction >= 0 && test_fraction >= 0 && valid_fraction + test_fraction < 1))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "split fractions valid=%g test=%g must be >= 0 and sum to less than 1",
                   valid_fraction, test_fraction);
      return FALSE;
    }
  gsize n = unit == LM_SPLIT_BY_CHAR ? text->n_chars : text->n_lines;
  /* train = floor((1 - v - t) n); valid ends at floor((1 - t) n); test takes the rest. */
  gsize n_train = (gsize) floor ((1.0 - valid_fraction - test_fraction) * (double) n);
  gsize valid_end = test_fraction > 0 ? (gsize) floor ((1.0 - test_fraction) * (double) n) : n;
  const char *unit_name = unit == LM_SPLIT_BY_CHAR ? "characters" : "lines";
  if (n_train == 0 || (valid_fraction > 0 && valid_end <= n_train)
      || (test_fraction > 0 && valid_end >= n))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "%s: %zu %s are too few to split into train/valid/test with fractions "
                   "valid=%g test=%g", text->name, n, unit_name, valid_fraction,
                   test_fraction);
      return FALSE;
    }
  gsize a = unit_offset (text, unit, n_train);
  gsize b = valid_fraction > 0 ? unit_offset (text, unit, valid_end) : a;
  *train = text_part (text, "train", text->data, text->data + a);
  if (valid_fraction > 0)
    *valid = text_part (text, "valid", text->data + a, text->data + b);
  if (test_fraction > 0)
    *test = text_part (text, "test", text->data + b, text->data + text->len);
  return TRUE;
}

/* ---- stage 3: token streams ---------------------------------------------------------- */

LmTokenStream *
lm_token_stream_encode (const LmVocab *vocab, const LmText *text)
{
  LmTokenStream *stream = g_new0 (LmTokenStream, 1);
  stream->tokens = lm_vocab_encode (vocab, text->data, text->len, &stream->n_tokens,
                                    &stream->n_oov, &stream->n_chars);
  stream->n_lines = text->n_lines;
  return stream;
}

/* The line of text's first word "<s>" (0 if none): found in the text itself, since a
 * literal "</s>" word also encodes as a line end */
static gsize
line_of_bos (const LmText *text)
{
  for (const char *p = text->data, *end = text->data + text->len; p < end;)
    {
      while (p < end && g_ascii_isspace (*p))
        p++;
      const char *w = p;
      while (p < end && !g_ascii_isspace (*p))
        p++;
      if (p - w == 3 && memcmp (w, "<s>", 3) == 0)
        {
          gsize line, column;
          locate (text->data, (gsize) (w - text->data), &line, &column);
          return line;
        }
    }
  return 0;
}

gboolean
lm_token_stream_check (const LmTokenStream *stream, const LmText *text, GError **error)
{
  for (gsize i = 0; i < stream->n_tokens; i++)
    if (stream->tokens[i] == LM_TOKEN_BOS)
      {
        g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                     "%s:%zu: the word <s> is lmlab's start-of-sentence mark, which no model "
                     "predicts, so it cannot be a word of the text; rename it (e.g. <s_>)",
                     text->name, line_of_bos (text));
        return FALSE;
      }
  return TRUE;
}

void
lm_token_stream_free (LmTokenStream *stream)
{
  if (stream == NULL)
    return;
  g_free (stream->tokens);
  g_free (stream);
}

const char *
lm_part_name (LmPart part)
{
  static const char *const names[LM_N_PARTS] = { "train", "valid", "test" };
  return part < LM_N_PARTS ? names[part] : "?";
}

void
lm_corpus_spec_init (LmCorpusSpec *spec, LmLevel level)
{
  memset (spec, 0, sizeof *spec);
  spec->valid_fraction = 0.1;
  spec->test_fraction = 0.0;
  spec->level = level;
  spec->split_unit = level == LM_LEVEL_WORD ? LM_SPLIT_BY_LINE : LM_SPLIT_BY_CHAR;
  spec->limits.min_count = 1;
  spec->limits.max_size = 0;
}

const LmOptionSpec lm_corpus_options[] = {
  { "valid_fraction", LM_OPTION_DOUBLE, "0.1", 0, 0.9, NULL,
    "share of the training file held out for validation when no valid file is given" },
  { "test_fraction", LM_OPTION_DOUBLE, "0", 0, 0.9, NULL,
    "share of the training file held out for test when no test file is given" },
  { "split", LM_OPTION_STRING, "auto", 0, -1, "auto|line|char",
    "split fractions by whole lines or by characters (auto: line at word level, else char)" },
  { "min_count", LM_OPTION_INT, "1", 1, 1e12, NULL, "keep symbols seen at least this often" },
  { "max_vocab", LM_OPTION_INT, "0", 0, 1e9, NULL,
    "at most this many vocabulary ids, specials included (0 = no limit)" },
  { NULL },
};

void
lm_corpus_spec_configure (LmCorpusSpec *spec, const LmConfig *config)
{
  spec->valid_fraction = lm_config_get_double (config, "valid_fraction");
  spec->test_fraction = lm_config_get_double (config, "test_fraction");
  const char *split = lm_config_get_string (config, "split");
  if (g_str_equal (split, "line"))
    spec->split_unit = LM_SPLIT_BY_LINE;
  else if (g_str_equal (split, "char"))
    spec->split_unit = LM_SPLIT_BY_CHAR;
  else
    spec->split_unit = spec->level == LM_LEVEL_WORD ? LM_SPLIT_BY_LINE : LM_SPLIT_BY_CHAR;
  spec->limits.min_count = lm_config_get_int (config, "min_count");
  spec->limits.max_size = lm_config_get_int (config, "max_vocab");
}

gboolean
lm_corpus_load (const LmCorpusSpec *spec, LmCorpus **out, GError **error)
{
  *out = NULL;
  g_autoptr (LmCorpus) corpus = g_new0 (LmCorpus, 1);
  corpus->level = spec->level;
  if (spec->train_path == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_USAGE, "no training file given (--train FILE)");
      return FALSE;
    }
  g_autoptr (LmText) whole = NULL;
  if (!lm_text_read (spec->train_path, &whole, error))
    return FALSE;
  double valid_fraction = spec->valid_path ? 0.0 : spec->valid_fraction;
  double test_fraction = spec->test_path ? 0.0 : spec->test_fraction;
  if (valid_fraction > 0 || test_fraction > 0)
    {
      if (!lm_text_split (whole, spec->split_unit, valid_fraction, test_fraction,
                          &corpus->text[LM_PART_TRAIN], &corpus->text[LM_PART_VALID],
                          &corpus->text[LM_PART_TEST], error))
        return FALSE;
    }
  else
    corpus->text[LM_PART_TRAIN] = g_steal_pointer (&whole);
  if (spec->valid_path && !lm_text_read (spec->valid_path, &corpus->text[LM_PART_VALID], error))
    return FALSE;
  if (spec->test_path && !lm_text_read (spec->test_path, &corpus->text[LM_PART_TEST], error))
    return FALSE;

  const LmText *train = corpus->text[LM_PART_TRAIN];
  corpus->vocab = lm_vocab_build (spec->level, train->data, train->len, &spec->limits);
  if (lm_vocab_size (corpus->vocab) <= LM_N_SPECIAL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s: no symbol of the training text is kept in the vocabulary "
                   "(min_count=%" G_GINT64_FORMAT ", max_vocab=%" G_GINT64_FORMAT
                   "); lower min_count or raise max_vocab above %d",
                   train->name, spec->limits.min_count, spec->limits.max_size, LM_N_SPECIAL);
      return FALSE;
    }
  for (LmPart part = 0; part < LM_N_PARTS; part++)
    if (corpus->text[part] != NULL)
      {
        corpus->stream[part] = lm_token_stream_encode (corpus->vocab, corpus->text[part]);
        if (!lm_token_stream_check (corpus->stream[part], corpus->text[part], error))
          return FALSE;
        if (corpus->stream[part]->n_tokens < 2)
          {
            g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                         "%s: the %s text has %zu token(s) at %s level; it needs at least 2",
                         corpus->text[part]->name, lm_part_name (part),
                         corpus->stream[part]->n_tokens, lm_level_name (spec->level));
            return FALSE;
          }
      }
  *out = g_steal_pointer (&corpus);
  return TRUE;
}

void
lm_corpus_free (LmCorpus *corpus)
{
  if (corpus == NULL)
    return;
  for (LmPart part = 0; part < LM_N_PARTS; part++)
    {
      lm_text_free (corpus->text[part]);
      lm_token_stream_free (corpus->stream[part]);
    }
  if (corpus->vocab)
    lm_vocab_unref (corpus->vocab);
  g_free (corpus);
}

/* ---- stage 4: batches ---------------------------------------------------------------- */

gboolean
lm_stream_batches_init (LmStreamBatches *batches, const gint32 *tokens, gsize n_tokens, int B,
                        int T, GError **error)
{
  memset (batches, 0, sizeof *batches);
  if (B <= 0 || T <= 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "batch (%d) and context (%d) must be positive", B, T);
      return FALSE;
    }
  if (n_tokens < 2 || (n_tokens - 1) / (gsize) B < 1)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "a stream of %zu tokens is too short for %d parallel rows; lower batch",
                   n_tokens, B);
      return FALSE;
    }
  batches->tokens = tokens;
  batches->n_tokens = n_tokens;
  batches->B = B;
  batches->T = T;
  batches->row_len = (n_tokens - 1) / B;
  batches->n_batches = (batches->row_len + T - 1) / T;
  return TRUE;
}

int
lm_stream_batch (const LmStreamBatches *batches, gsize index, gint32 *inputs, gint32 *targets)
{
  g_return_val_if_fail (index < batches->n_batches, 0);
  gsize t0 = index * batches->T;
  int steps = (int) MIN ((gsize) batches->T, batches->row_len - t0);
  for (int b = 0; b < batches->B; b++)
    {
      const gint32 *row = batches->tokens + (gsize) b * batches->row_len + t0;
      memcpy (inputs + (gsize) b * steps, row, steps * sizeof (gint32));
      memcpy (targets + (gsize) b * steps, row + 1, steps * sizeof (gint32));
    }
  return steps;
}

void
lm_random_windows (const gint32 *tokens, gsize n_tokens, int B, int T, LmRng *rng,
                   gint32 *inputs, gint32 *targets)
{
  g_return_if_fail (n_tokens > (gsize) T);
  for (int b = 0; b < B; b++)
    {
      gsize start = lm_rng_below (rng, n_tokens - T);
      memcpy (inputs + (gsize) b * T, tokens + start, T * sizeof (gint32));
      memcpy (targets + (gsize) b * T, tokens + start + 1, T * sizeof (gint32));
    }
}
