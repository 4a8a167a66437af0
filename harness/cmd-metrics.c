/* cmd-metrics.c — `lmlab metrics bleu|rouge --ref FILE --hyp FILE [--json]`.
 *
 * Scores a user's own files: line i of the hypothesis file against line i of every
 * reference file, tokens separated by whitespace. The numbers are those of
 * harness/lm-textmetrics.h; docs/metrics.md says which reference tools they equal.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "core/lm-corpus.h"
#include "core/lm-error.h"
#include "harness/lm-cli.h"
#include "harness/lm-json.h"
#include "harness/lm-textmetrics.h"

/* The hypotheses and, for each of n_refs reference files, its sentences; refs is laid
 * out as lm_corpus_bleu wants it (the references of line i together). */
typedef struct {
  LmTokenTable *table;
  LmSentences *hyp;
  LmSentences **ref_files;
  gsize n_refs;
  LmTokenSeq *refs; /* n_lines * n_refs */
} Inputs;

static void
inputs_clear (Inputs *in)
{
  for (gsize k = 0; k < in->n_refs; k++)
    lm_sentences_free (in->ref_files[k]);
  g_free (in->ref_files);
  g_free (in->refs);
  lm_sentences_free (in->hyp);
  lm_token_table_free (in->table);
}

/* An empty file (nothing but a byte-order mark at most) has no line to score. lm_text_read
 * refuses it as an empty corpus; here the message says which of the two files it is and
 * what it should hold. Anything else wrong with the file is left to lm_text_read. */
static gboolean
check_not_empty (const char *path, const char *role, const char *other, GError **error)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode) || st.st_size > 3)
    return TRUE;
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, NULL))
    return TRUE;
  if (len >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    len -= 3;
  if (len > 0)
    return TRUE;
  g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
               "%s: the %s file is empty; it needs one line per line of the %s file (an "
               "empty line for an empty sentence)", path, role, other);
  return FALSE;
}

static LmSentences *
read_sentences (LmTokenTable *table, const char *path, const char *role, const char *other,
                GError **error)
{
  g_autoptr (LmText) text = NULL;
  if (!check_not_empty (path, role, other, error) || !lm_text_read (path, &text, error))
    return NULL;
  return lm_sentences_split (table, text->data, text->len);
}

static gboolean
inputs_load (Inputs *in, const char *hyp_path, char **ref_paths, GError **error)
{
  memset (in, 0, sizeof *in);
  in->table = lm_token_table_new ();
  in->hyp = read_sentences (in->table, hyp_path, "hypothesis", "reference", error);
  if (in->hyp == NULL)
    return FALSE;
  in->n_refs = g_strv_length (ref_paths);
  in->ref_files = g_new0 (LmSentences *, in->n_refs);
  for (gsize k = 0; k < in->n_refs; k++)
    {
      in->ref_files[k] = read_sentences (in->table, ref_paths[k], "reference", "hypothesis",
                                         error);
      if (in->ref_files[k] == NULL)
        return FALSE;
      if (in->ref_files[k]->n_lines != in->hyp->n_lines)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                       "%s has %zu line%s but %s has %zu; line i of the hypotheses is "
                       "scored against line i of each reference file",
                       hyp_path, in->hyp->n_lines, in->hyp->n_lines == 1 ? "" : "s",
                       ref_paths[k], in->ref_files[k]->n_lines);
          return FALSE;
        }
    }
  gsize n = in->hyp->n_lines;
  in->refs = g_new0 (LmTokenSeq, n * in->n_refs);
  for (gsize i = 0; i < n; i++)
    for (gsize k = 0; k < in->n_refs; k++)
      in->refs[i * in->n_refs + k] = in->ref_files[k]->lines[i];
  return TRUE;
}

/* Options every metric takes; entries are added to the context. */
typedef struct {
  char **refs;
  char *hyp;
  gboolean json;
} CommonArgs;

static void
common_args_clear (CommonArgs *args)
{
  g_strfreev (args->refs);
  g_free (args->hyp);
}

static gboolean
common_args_check (const CommonArgs *args, const char *command, const char *example,
                   int argc, char **argv, int *status)
{
  *status = 2;
  if (argc > 1)
    {
      g_printerr ("%s: unexpected argument '%s'; give files with --ref FILE and --hyp FILE "
                  "(example: %s)\n", command, argv[1], example);
      return FALSE;
    }
  if (args->refs == NULL || args->refs[0] == NULL)
    {
      g_printerr ("%s: no reference file given (--ref FILE; example: %s)\n", command, example);
      return FALSE;
    }
  if (args->hyp == NULL)
    {
      g_printerr ("%s: no hypothesis file given (--hyp FILE; example: %s)\n", command,
                  example);
      return FALSE;
    }
  *status = 0;
  return TRUE;
}

static void
print_json (LmJson *j)
{
  g_autofree char *text = lm_json_finish (j);
  fputs (text, stdout);
}

static int
metrics_bleu (int argc, char **argv)
{
  const char *command = "lmlab metrics bleu";
  const char *example = "lmlab metrics bleu --ref ref.txt --hyp hyp.txt";
  CommonArgs args = { 0 };
  int max_n = 4;
  double epsilon = 0.1;
  gboolean effective = FALSE;
  /* GOption overwrites a string without freeing the old value: defaults stay NULL. */
  g_autofree char *smooth_name = NULL;
  g_autofree char *flavour_name = NULL;
  GOptionEntry entries[] = {
    { "ref", 'r', 0, G_OPTION_ARG_FILENAME_ARRAY, &args.refs,
      "Reference file, one sentence per line; repeat for several references", "FILE" },
    { "hyp", 'y', 0, G_OPTION_ARG_FILENAME, &args.hyp,
      "Hypothesis file, one sentence per line (as many lines as every reference)", "FILE" },
    { "max-n", 'n', 0, G_OPTION_ARG_INT, &max_n,
      "Highest n-gram order N, 1-8; weights 1/N each [default: 4]", "N" },
    { "smooth", 0, 0, G_OPTION_ARG_STRING, &smooth_name,
      "Zero n-gram precisions: none (BLEU 0), exp (sacreBLEU's default), floor "
      "(epsilon, NLTK method1) [default: none]", "METHOD" },
    { "epsilon", 0, 0, G_OPTION_ARG_DOUBLE, &epsilon,
      "Numerator for --smooth floor [default: 0.1]", "E" },
    { "flavour", 0, 0, G_OPTION_ARG_STRING, &flavour_name,
      "Denominator of hypotheses shorter than n: nltk (at least 1) or sacrebleu "
      "[default: nltk]", "NAME" },
    { "effective-order", 0, 0, G_OPTION_ARG_NONE, &effective,
      "Average only over orders that have n-grams (sacreBLEU's use_effective_order)", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &args.json, "Print one JSON object on stdout", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- corpus BLEU of a hypothesis file");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
      context,
      "Corpus BLEU-N with brevity penalty: clipped n-gram precisions summed over all lines,\n"
      "their geometric mean, times exp(1 - r/c) when the hypotheses are shorter than the\n"
      "closest references. Tokens are separated by whitespace and compared exactly (no\n"
      "lowercasing or punctuation splitting). The defaults give NLTK's corpus_bleu; with\n"
      "--flavour sacrebleu the numbers are sacreBLEU's with tokenize=none (which prints\n"
      "100 x BLEU; add --smooth exp for its default smoothing). See docs/metrics.md.\n"
      "\n"
      "Examples:\n"
      "  lmlab metrics bleu --ref ref.txt --hyp hyp.txt\n"
      "  lmlab metrics bleu --ref ref1.txt --ref ref2.txt --hyp hyp.txt --json\n"
      "  lmlab metrics bleu --ref ref.txt --hyp hyp.txt --flavour sacrebleu --smooth exp\n");
  int status = 0;
  if (!lm_cli_parse (context, &argc, &argv, command, &status)
      || !common_args_check (&args, command, example, argc, argv, &status))
    {
      common_args_clear (&args);
      return status;
    }

  GError *error = NULL;
  LmBleuOptions options;
  lm_bleu_options_init (&options);
  options.max_order = max_n;
  options.epsilon = epsilon;
  options.effective_order = effective;
  if (max_n < 1 || max_n > LM_BLEU_MAX_ORDER)
    {
      g_printerr ("%s: --max-n %d is out of range (use 1 to %d; 4 is standard)\n", command,
                  max_n, LM_BLEU_MAX_ORDER);
      common_args_clear (&args);
      return 2;
    }
  if ((smooth_name && !lm_bleu_smooth_parse (smooth_name, &options.smooth, &error))
      || (flavour_name && !lm_bleu_flavour_parse (flavour_name, &options.flavour, &error)))
    {
      common_args_clear (&args);
      return lm_cli_fail (command, error);
    }

  Inputs in;
  LmBleuScore s;
  if (!inputs_load (&in, args.hyp, args.refs, &error)
      || !lm_corpus_bleu (in.hyp->lines, in.hyp->n_lines, in.refs, in.n_refs, &options, &s,
                          &error))
    {
      inputs_clear (&in);
      common_args_clear (&args);
      return lm_cli_fail (command, error);
    }

  double ratio = s.ref_length ? (double) s.hyp_length / s.ref_length : NAN;
  if (args.json)
    {
      LmJson j;
      lm_json_init (&j, TRUE);
      lm_json_begin_object (&j, NULL);
      lm_json_double (&j, "bleu", s.bleu);
      lm_json_begin_array (&j, "precisions");
      for (int n = 0; n < s.max_order; n++)
        lm_json_double (&j, NULL, s.precisions[n]);
      lm_json_end_array (&j);
      lm_json_double (&j, "brevity_penalty", s.brevity_penalty);
      lm_json_int (&j, "hyp_length", s.hyp_length);
      lm_json_int (&j, "ref_length", s.ref_length);
      lm_json_double (&j, "length_ratio", ratio);
      lm_json_begin_array (&j, "matches");
      for (int n = 0; n < s.max_order; n++)
        lm_json_int (&j, NULL, s.matches[n]);
      lm_json_end_array (&j);
      lm_json_begin_array (&j, "totals");
      for (int n = 0; n < s.max_order; n++)
        lm_json_int (&j, NULL, s.totals[n]);
      lm_json_end_array (&j);
      lm_json_int (&j, "max_n", s.max_order);
      lm_json_int (&j, "effective_order", s.effective_order);
      lm_json_string (&j, "smooth", lm_bleu_smooth_name (options.smooth));
      lm_json_string (&j, "flavour", lm_bleu_flavour_name (options.flavour));
      lm_json_int (&j, "sentences", s.n_sentences);
      lm_json_int (&j, "references", in.n_refs);
      lm_json_end_object (&j);
      print_json (&j);
    }
  else
    {
      printf ("BLEU-%d = %.4f  (%.2f on sacreBLEU's 0-100 scale)\n", s.max_order, s.bleu,
              100 * s.bleu);
      for (int n = 0; n < s.max_order; n++)
        printf ("  %d-gram precision %8.4f  (%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT "%s)\n",
                n + 1, s.precisions[n], s.matches[n], s.totals[n],
                s.matches[n] == 0 && s.precisions[n] > 0 ? ", smoothed" : "");
      printf ("  brevity penalty  %8.4f  (hypotheses %" G_GUINT64_FORMAT " tokens, "
              "references %" G_GUINT64_FORMAT ", ratio %.4f)\n",
              s.brevity_penalty, s.hyp_length, s.ref_length, ratio);
      printf ("  %" G_GUINT64_FORMAT " sentence%s, %zu reference%s each, smoothing %s, "
              "%s flavour\n",
              s.n_sentences, s.n_sentences == 1 ? "" : "s", in.n_refs,
              in.n_refs == 1 ? "" : "s", lm_bleu_smooth_name (options.smooth),
              lm_bleu_flavour_name (options.flavour));
      if (s.bleu == 0 && s.hyp_length > 0 && s.totals[s.max_order - 1] == 0
          && !options.effective_order)
        printf ("  (no hypothesis has %d tokens, which makes sacreBLEU's BLEU 0; try "
                "--effective-order or a smaller --max-n)\n", s.max_order);
      else if (s.bleu == 0 && s.hyp_length > 0 && options.smooth == LM_BLEU_SMOOTH_NONE)
        printf ("  (an n-gram order without any match makes unsmoothed BLEU 0; try "
                "--smooth exp or a smaller --max-n)\n");
    }
  inputs_clear (&in);
  common_args_clear (&args);
  return 0;
}

static void
json_prf (LmJson *j, const char *key, const LmPrf *s)
{
  lm_json_begin_object (j, key);
  lm_json_double (j, "precision", s->precision);
  lm_json_double (j, "recall", s->recall);
  lm_json_double (j, "f1", s->f1);
  lm_json_end_object (j);
}

static int
metrics_rouge (int argc, char **argv)
{
  const char *command = "lmlab metrics rouge";
  const char *example = "lmlab metrics rouge --ref ref.txt --hyp hyp.txt";
  CommonArgs args = { 0 };
  GOptionEntry entries[] = {
    { "ref", 'r', 0, G_OPTION_ARG_FILENAME_ARRAY, &args.refs,
      "Reference file, one sentence per line; repeat for several references (each line "
      "takes the best by F1)", "FILE" },
    { "hyp", 'y', 0, G_OPTION_ARG_FILENAME, &args.hyp,
      "Hypothesis file, one sentence per line (as many lines as every reference)", "FILE" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &args.json, "Print one JSON object on stdout", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context
      = g_option_context_new ("- ROUGE-1, ROUGE-2 and ROUGE-L of a hypothesis file");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
      context,
      "Per line: ROUGE-N precision = matching n-grams / hypothesis n-grams, recall =\n"
      "matching n-grams / reference n-grams (counts clipped); ROUGE-L uses the longest\n"
      "common subsequence instead; F1 = 2PR/(P+R). The printed numbers are the means over\n"
      "lines of P, R and F1 (macro average), as Google's rouge-score with whitespace\n"
      "tokens, no stemming and case kept. See docs/metrics.md.\n"
      "\n"
      "Examples:\n"
      "  lmlab metrics rouge --ref ref.txt --hyp hyp.txt\n"
      "  lmlab metrics rouge --ref ref.txt --hyp hyp.txt --json\n");
  int status = 0;
  if (!lm_cli_parse (context, &argc, &argv, command, &status)
      || !common_args_check (&args, command, example, argc, argv, &status))
    {
      common_args_clear (&args);
      return status;
    }

  GError *error = NULL;
  Inputs in;
  LmRougeScore s;
  if (!inputs_load (&in, args.hyp, args.refs, &error)
      || !lm_corpus_rouge (in.hyp->lines, in.hyp->n_lines, in.refs, in.n_refs, &s, &error))
    {
      inputs_clear (&in);
      common_args_clear (&args);
      return lm_cli_fail (command, error);
    }
  if (args.json)
    {
      LmJson j;
      lm_json_init (&j, TRUE);
      lm_json_begin_object (&j, NULL);
      json_prf (&j, "rouge1", &s.rouge1);
      json_prf (&j, "rouge2", &s.rouge2);
      json_prf (&j, "rougeL", &s.rougeL);
      lm_json_string (&j, "average", "macro");
      lm_json_int (&j, "sentences", s.n_pairs);
      lm_json_int (&j, "references", in.n_refs);
      lm_json_end_object (&j);
      print_json (&j);
    }
  else
    {
      printf ("%-9s %9s %9s %9s\n", "", "precision", "recall", "F1");
      const struct { const char *name; const LmPrf *s; } rows[] = {
        { "ROUGE-1", &s.rouge1 }, { "ROUGE-2", &s.rouge2 }, { "ROUGE-L", &s.rougeL },
      };
      for (gsize i = 0; i < G_N_ELEMENTS (rows); i++)
        printf ("%-9s %9.4f %9.4f %9.4f\n", rows[i].name, rows[i].s->precision,
                rows[i].s->recall, rows[i].s->f1);
      printf ("mean over %" G_GUINT64_FORMAT " sentence pair%s (macro), %zu reference%s "
              "each; whitespace tokens, case kept, no stemming\n",
              s.n_pairs, s.n_pairs == 1 ? "" : "s", in.n_refs, in.n_refs == 1 ? "" : "s");
    }
  inputs_clear (&in);
  common_args_clear (&args);
  return 0;
}

int
lm_cmd_metrics (int argc, char **argv)
{
  static const struct {
    const char *name;
    int (*run) (int argc, char **argv);
  } metrics[] = {
    { "bleu", metrics_bleu },
    { "rouge", metrics_rouge },
  };
  for (gsize i = 0; argc >= 2 && i < G_N_ELEMENTS (metrics); i++)
    if (strcmp (argv[1], metrics[i].name) == 0)
      {
        g_autofree char *name = g_strdup_printf ("lmlab metrics %s", metrics[i].name);
        argv[1] = name;
        return metrics[i].run (argc - 1, argv + 1);
      }
  gboolean help = argc >= 2 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0);
  FILE *stream = help ? stdout : stderr;
  if (argc >= 2 && !help)
    fprintf (stream, "lmlab metrics: unknown metric '%s' (use bleu or rouge)\n", argv[1]);
  else
    fprintf (stream,
             "Usage: lmlab metrics bleu|rouge --ref FILE --hyp FILE [--json]\n"
             "Run 'lmlab metrics bleu --help' or 'lmlab metrics rouge --help' for details.\n");
  return help ? 0 : 2;
}
