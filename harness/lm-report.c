/* lm-report.c — summary files, samples and the Markdown/HTML report of a comparison.
 *
 * The report is built once as a list of blocks (headings, paragraphs, tables, images)
 * and written twice, as Markdown and as HTML, so the two never disagree.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/lm-blas.h"
#include "core/lm-error.h"
#include "harness/lm-figures.h"
#include "harness/lm-git.h"
#include "harness/lm-json.h"
#include "harness/lm-report.h"

/* ---- columns: one definition for the TSV, JSON, Markdown and terminal tables ------------ */

typedef enum { C_STRING, C_INT, C_DOUBLE, C_PERCENT } ColumnKind;

typedef struct {
  const char *key;    /* TSV/JSON name, unit in the name */
  const char *label;  /* table header, unit in brackets */
  ColumnKind kind;
  int decimals;
  double (*get) (const LmRunResult *r);
} Column;

#define GETTER(fname, expr)                                                                      \
  static double fname (const LmRunResult *r) { return (expr); }

static const LmEvalResult *
held_out (const LmRunResult *r)
{
  return r->has_test ? &r->test : &r->valid;
}

GETTER (get_params, (double) r->params)
GETTER (get_file_mib, r->model_file_bytes / 1048576.0)
GETTER (get_train_tokens, (double) r->train_tokens)
GETTER (get_train_seconds, r->train_seconds)
GETTER (get_train_tps, r->train_tokens_per_s)
GETTER (get_eval_tps, r->eval_tokens_per_s)
GETTER (get_valid_ppl, r->has_valid ? r->valid.perplexity : NAN)
GETTER (get_valid_nats, r->has_valid ? r->valid.nats_per_token : NAN)
GETTER (get_test_ppl, r->has_test ? r->test.perplexity : NAN)
GETTER (get_test_nats, r->has_test ? r->test.nats_per_token : NAN)
GETTER (get_test_bits, r->has_test ? r->test.bits_per_token : NAN)
GETTER (get_test_bpc, r->has_test ? r->test.bits_per_char : NAN)
GETTER (get_top1, held_out (r)->top1_accuracy)
GETTER (get_top5, held_out (r)->top5_accuracy)
GETTER (get_precision, held_out (r)->macro_precision)
GETTER (get_recall, held_out (r)->macro_recall)
GETTER (get_f1, held_out (r)->macro_f1)
GETTER (get_oov, held_out (r)->tokens ? (double) held_out (r)->oov / held_out (r)->tokens : NAN)
GETTER (get_bleu, r->bleu)
GETTER (get_rouge1, r->rouge1_f1)
GETTER (get_rouge2, r->rouge2_f1)
GETTER (get_rougeL, r->rougeL_f1)
GETTER (get_rss, r->peak_rss_mib)

static const Column columns[] = {
  { "params", "parameters", C_INT, 0, get_params },
  { "model_file_mib", "model file [MiB]", C_DOUBLE, 2, get_file_mib },
  { "train_tokens", "trained on [tokens]", C_INT, 0, get_train_tokens },
  { "train_seconds", "training [s]", C_DOUBLE, 1, get_train_seconds },
  { "train_tokens_per_s", "training [tokens/s]", C_INT, 0, get_train_tps },
  { "eval_tokens_per_s", "evaluation [tokens/s]", C_INT, 0, get_eval_tps },
  { "peak_rss_mib", "peak RSS [MiB]", C_DOUBLE, 1, get_rss },
  { "valid_perplexity", "valid perplexity", C_DOUBLE, 2, get_valid_ppl },
  { "valid_nats_per_token", "valid [nats/token]", C_DOUBLE, 4, get_valid_nats },
  { "test_perplexity", "test perplexity", C_DOUBLE, 2, get_test_ppl },
  { "test_nats_per_token", "test [nats/token]", C_DOUBLE, 4, get_test_nats },
  { "test_bits_per_token", "test [bits/token]", C_DOUBLE, 4, get_test_bits },
  { "test_bits_per_char", "test [bits/char]", C_DOUBLE, 4, get_test_bpc },
  { "top1_accuracy", "top-1 accuracy [%]", C_PERCENT, 2, get_top1 },
  { "top5_accuracy", "top-5 accuracy [%]", C_PERCENT, 2, get_top5 },
  { "macro_precision", "macro precision [%]", C_PERCENT, 2, get_precision },
  { "macro_recall", "macro recall [%]", C_PERCENT, 2, get_recall },
  { "macro_f1", "macro F1 [%]", C_PERCENT, 2, get_f1 },
  { "oov_rate", "OOV rate [%]", C_PERCENT, 2, get_oov },
  { "bleu4", "BLEU-4 [%]", C_PERCENT, 2, get_bleu },
  { "rouge1_f1", "ROUGE-1 F1 [%]", C_PERCENT, 2, get_rouge1 },
  { "rouge2_f1", "ROUGE-2 F1 [%]", C_PERCENT, 2, get_rouge2 },
  { "rougeL_f1", "ROUGE-L F1 [%]", C_PERCENT, 2, get_rougeL },
};

/* Which columns each Markdown table shows (the TSV/JSON hold them all). */
static const char *const main_table[] = { "test_perplexity", "test_bits_per_char",
                                          "top1_accuracy", "top5_accuracy", "bleu4",
                                          "rougeL_f1", NULL };
static const char *const cost_table[] = { "params", "model_file_mib", "train_tokens",
                                          "train_seconds", "train_tokens_per_s",
                                          "eval_tokens_per_s", "peak_rss_mib", NULL };
static const char *const more_table[] = { "valid_perplexity", "valid_nats_per_token",
                                          "test_nats_per_token", "test_bits_per_token",
                                          "macro_precision", "macro_recall", "macro_f1",
                                          "oov_rate", "rouge1_f1", "rouge2_f1", NULL };

static const Column *
column (const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (columns); i++)
    if (g_str_equal (columns[i].key, key))
      return &columns[i];
  g_assert_not_reached ();
}

/* Value as text for a table; thousands separators on integers for people (human). */
static char *
format_value (const Column *col, double v, gboolean human)
{
  if (!isfinite (v))
    return g_strdup (human ? "–" : "nan");
  switch (col->kind)
    {
    case C_INT:
      if (human)
        {
          char digits[32];
          g_snprintf (digits, sizeof digits, "%.0f", v);
          GString *out = g_string_new (NULL);
          gsize n = strlen (digits);
          for (gsize i = 0; i < n; i++)
            {
              if (i > 0 && (n - i) % 3 == 0 && digits[i - 1] != '-')
                g_string_append_c (out, ',');
              g_string_append_c (out, digits[i]);
            }
          return g_string_free (out, FALSE);
        }
      return g_strdup_printf ("%.0f", v);
    case C_PERCENT:
      return human ? g_strdup_printf ("%.*f", col->decimals, 100 * v)
                   : g_strdup_printf ("%.6g", v);
    case C_DOUBLE:
    default:
      return human ? g_strdup_printf ("%.*f", col->decimals, v) : g_strdup_printf ("%.6g", v);
    }
}

static const char *
status_name (LmRunStatus s)
{
  switch (s)
    {
    case LM_RUN_FINISHED: return "finished";
    case LM_RUN_REUSED: return "reused";
    case LM_RUN_FAILED: return "failed";
    case LM_RUN_PENDING:
    default: return "not run";
    }
}

/* ---- the document model --------------------------------------------------------------- */

typedef enum { B_HEADING, B_PARA, B_TABLE, B_IMAGE, B_CODE, B_LIST } BlockKind;

typedef struct {
  BlockKind kind;
  int level;        /* heading */
  char *text;       /* heading, paragraph, code, image caption */
  char *src;        /* image */
  GPtrArray *rows;  /* table: GStrv per row, the first the header; list: char * items */
  gboolean prose;   /* table of text: every column left-aligned (else numbers, right) */
} Block;

static void
block_free (Block *b)
{
  g_free (b->text);
  g_free (b->src);
  if (b->rows)
    g_ptr_array_unref (b->rows);
  g_free (b);
}

static Block *
add_block (GPtrArray *doc, BlockKind kind, const char *text)
{
  Block *b = g_new0 (Block, 1);
  b->kind = kind;
  b->text = g_strdup (text);
  g_ptr_array_add (doc, b);
  return b;
}

static void
heading (GPtrArray *doc, int level, const char *text)
{
  add_block (doc, B_HEADING, text)->level = level;
}

G_GNUC_PRINTF (2, 3) static void
para (GPtrArray *doc, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *text = g_strdup_vprintf (format, ap);
  va_end (ap);
  add_block (doc, B_PARA, text);
}

static Block *
table (GPtrArray *doc)
{
  Block *b = add_block (doc, B_TABLE, NULL);
  b->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  return b;
}

static void
row (Block *t, GPtrArray *cells)
{
  g_ptr_array_add (cells, NULL);
  g_ptr_array_add (t->rows, g_ptr_array_steal (cells, NULL));
}

static void
md_escape (GString *out, const char *text)
{
  for (const char *p = text; *p; p++)
    {
      if (*p == '|' || *p == '*' || *p == '_' || *p == '<' || *p == '`')
        g_string_append_c (out, '\\');
      g_string_append_c (out, *p);
    }
}

static char *
render_markdown (GPtrArray *doc)
{
  GString *out = g_string_new (NULL);
  for (guint i = 0; i < doc->len; i++)
    {
      Block *b = doc->pdata[i];
      switch (b->kind)
        {
        case B_HEADING:
          for (int l = 0; l < b->level; l++)
            g_string_append_c (out, '#');
          g_string_append_printf (out, " %s\n\n", b->text);
          break;
        case B_PARA:
          g_string_append_printf (out, "%s\n\n", b->text);
          break;
        case B_CODE:
          g_string_append_printf (out, "```\n%s\n```\n\n", b->text);
          break;
        case B_IMAGE:
          g_string_append_printf (out, "![%s](%s)\n\n", b->text, b->src);
          break;
        case B_LIST:
          for (guint r = 0; r < b->rows->len; r++)
            {
              g_string_append (out, "- ");
              md_escape (out, b->rows->pdata[r]);
              g_string_append_c (out, '\n');
            }
          g_string_append_c (out, '\n');
          break;
        case B_TABLE:
          for (guint r = 0; r < b->rows->len; r++)
            {
              char **cells = b->rows->pdata[r];
              g_string_append (out, "|");
              for (int c = 0; cells[c]; c++)
                {
                  g_string_append_c (out, ' ');
                  md_escape (out, cells[c]);
                  g_string_append (out, " |");
                }
              g_string_append_c (out, '\n');
              if (r == 0)
                {
                  g_string_append (out, "|");
                  for (int c = 0; cells[c]; c++)
                    g_string_append (out, c == 0 || b->prose ? " --- |" : " ---: |");
                  g_string_append_c (out, '\n');
                }
            }
          g_string_append_c (out, '\n');
          break;
        }
    }
  return g_string_free (out, FALSE);
}

static void
html_escape (GString *out, const char *text)
{
  g_autofree char *e = g_markup_escape_text (text, -1);
  g_string_append (out, e);
}

/* Paragraph text may hold `code` spans (the only Markdown used in them). */
static void
html_inline (GString *out, const char *text)
{
  g_auto (GStrv) parts = g_strsplit (text, "`", -1);
  for (int i = 0; parts[i]; i++)
    {
      if (i % 2)
        g_string_append (out, "<code>");
      html_escape (out, parts[i]);
      if (i % 2)
        g_string_append (out, "</code>");
    }
}

static char *
render_html (GPtrArray *doc, const char *title)
{
  GString *out = g_string_new (NULL);
  g_string_append (out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<title>");
  html_escape (out, title);
  g_string_append (
      out,
      "</title>\n<style>\n"
      "body { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; max-width: 70em; "
      "margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }\n"
      "table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }\n"
      "th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; }\n"
      "td { text-align: right; font-variant-numeric: tabular-nums; }\n"
      "td:first-child, th:first-child { text-align: left; }\n"
      "th { background: #f2f2f2; }\n"
      "figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }\n"
      "figcaption { font-size: 0.9em; color: #555; }\n"
      "pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }\n"
      "</style>\n</head>\n<body>\n");
  for (guint i = 0; i < doc->len; i++)
    {
      Block *b = doc->pdata[i];
      switch (b->kind)
        {
        case B_HEADING:
          g_string_append_printf (out, "<h%d>", b->level);
          html_escape (out, b->text);
          g_string_append_printf (out, "</h%d>\n", b->level);
          break;
        case B_PARA:
          g_string_append (out, "<p>");
          html_inline (out, b->text);
          g_string_append (out, "</p>\n");
          break;
        case B_CODE:
          g_string_append (out, "<pre>");
          html_escape (out, b->text);
          g_string_append (out, "</pre>\n");
          break;
        case B_IMAGE:
          g_string_append (out, "<figure><img src=\"");
          html_escape (out, b->src);
          g_string_append (out, "\" alt=\"");
          html_escape (out, b->text);
          g_string_append (out, "\"><figcaption>");
          html_escape (out, b->text);
          g_string_append (out, "</figcaption></figure>\n");
          break;
        case B_LIST:
          g_string_append (out, "<ul>\n");
          for (guint r = 0; r < b->rows->len; r++)
            {
              g_string_append (out, "<li>");
              html_escape (out, b->rows->pdata[r]);
              g_string_append (out, "</li>\n");
            }
          g_string_append (out, "</ul>\n");
          break;
        case B_TABLE:
          g_string_append (out, "<table>\n");
          for (guint r = 0; r < b->rows->len; r++)
            {
              char **cells = b->rows->pdata[r];
              g_string_append (out, "<tr>");
              for (int c = 0; cells[c]; c++)
                {
                  g_string_append (out, r == 0 ? "<th>" : b->prose ? "<td style=\"text-align: left\">" : "<td>");
                  html_escape (out, cells[c]);
                  g_string_append (out, r == 0 ? "</th>" : "</td>");
                }
              g_string_append (out, "</tr>\n");
            }
          g_string_append (out, "</table>\n");
          break;
        }
    }
  g_string_append (out, "</body>\n</html>\n");
  return g_string_free (out, FALSE);
}

/* ---- content ---------------------------------------------------------------------------- */

static void
metric_table (GPtrArray *doc, const LmComparison *c, const char *const *keys,
              gboolean with_mix)
{
  Block *t = table (doc);
  g_autoptr (GPtrArray) cells = g_ptr_array_new ();
  g_ptr_array_add (cells, g_strdup ("run (model)"));
  for (int k = 0; keys[k]; k++)
    g_ptr_array_add (cells, g_strdup (column (keys[k])->label));
  row (t, cells);
  for (guint i = 0; i < c->runs->len; i++)
    {
      const LmCompareRun *cr = c->runs->pdata[i];
      const LmRunResult *r = lm_compare_run_result (cr);
      if (r == NULL)
        continue;
      g_ptr_array_add (cells, g_strdup_printf ("%s (%s)", cr->run->name, cr->run->klass->name));
      for (int k = 0; keys[k]; k++)
        g_ptr_array_add (cells, format_value (column (keys[k]), column (keys[k])->get (r), TRUE));
      row (t, cells);
    }
  const LmInterpolation *in = c->interpolation;
  if (with_mix && in && in->error == NULL)
    {
      g_ptr_array_add (cells, g_strdup ("interpolated (EM mixture)"));
      for (int k = 0; keys[k]; k++)
        {
          double v = NAN;
          if (g_str_equal (keys[k], "test_perplexity"))
            v = in->test_perplexity;
          else if (g_str_equal (keys[k], "test_bits_per_char"))
            v = in->test_bits_per_char;
          else if (g_str_equal (keys[k], "test_nats_per_token"))
            v = in->test_nats_per_token;
          else if (g_str_equal (keys[k], "test_bits_per_token"))
            v = in->test_bits_per_token;
          g_ptr_array_add (cells, format_value (column (keys[k]), v, TRUE));
        }
      row (t, cells);
    }
}

static char *
thousands (guint64 v)
{
  const Column col = { "", "", C_INT, 0, NULL };
  return format_value (&col, (double) v, TRUE);
}

static void
setup_section (GPtrArray *doc, const LmComparison *c, const char *command)
{
  const LmExperiment *e = c->experiment;
  const LmCorpusStamp *s = &c->corpus;
  g_autofree char *vocab = thousands (s->vocab_size);
  g_autofree char *train = thousands (s->tokens[LM_PART_TRAIN]);
  g_autofree char *valid = thousands (s->tokens[LM_PART_VALID]);
  g_autofree char *test = thousands (s->tokens[LM_PART_TEST]);
  g_autofree char *corpus = g_path_get_basename (e->train_path);
  para (doc,
        "Corpus `%s` at %s level: vocabulary %s types (specials included; fingerprint `%s`), "
        "%s training, %s validation and %s test tokens. Every model below was trained on the "
        "same training tokens and scored on exactly the same validation and test tokens.",
        corpus, lm_level_name (s->level), vocab, s->vocab_fingerprint, train, valid, test);
  LmBlasInfo blas;
  lm_blas_info_get (&blas);
  para (doc,
        "Machine: %s, %d CPUs; OpenBLAS %s kernel%s. lmlab %s (commit `%s`). Generation: the "
        "first %" G_GINT64_FORMAT " tokens of up to %" G_GINT64_FORMAT
        " held-out test sentences as the prompt, continued %s for as many tokens as the "
        "true continuation; BLEU-4 (corpus, brevity penalty) and ROUGE F1 against it.",
        blas.cpu_model, blas.cpus, blas.kernel, blas.fallback ? " (a generic fallback: see "
                                                                "environment.json)" : "",
        PACKAGE_VERSION, LMLAB_GIT_COMMIT, lm_experiment_int (e, "prompt_tokens"),
        lm_experiment_int (e, "gen_sentences"),
        lm_experiment_double (e, "temperature") == 0 ? "greedily" : "by sampling");
  lm_blas_info_clear (&blas);
  if (command)
    {
      para (doc, "Made with:");
      add_block (doc, B_CODE, command);
    }
}

static void
interpolation_section (GPtrArray *doc, const LmComparison *c)
{
  const LmInterpolation *in = c->interpolation;
  if (in == NULL)
    return;
  heading (doc, 2, "Interpolation");
  if (in->error)
    {
      para (doc, "The linear interpolation of %u runs could not be computed: %s.", in->n,
            in->error);
      return;
    }
  para (doc,
        "A linear mixture p(w|h) = Σ λ_k p_k(w|h) of the runs below, weights tuned by EM on "
        "the validation tokens (%u iterations), scored on the test tokens.",
        in->iterations);
  Block *t = table (doc);
  g_autoptr (GPtrArray) cells = g_ptr_array_new ();
  g_ptr_array_add (cells, g_strdup ("run"));
  g_ptr_array_add (cells, g_strdup ("weight λ"));
  g_ptr_array_add (cells, g_strdup ("test perplexity"));
  g_ptr_array_add (cells, g_strdup ("test [bits/char]"));
  row (t, cells);
  for (guint k = 0; k < in->n; k++)
    {
      const LmRunResult *r = NULL;
      for (guint i = 0; i < c->runs->len; i++)
        if (g_str_equal (((LmCompareRun *) c->runs->pdata[i])->run->name, in->names[k]))
          r = lm_compare_run_result (c->runs->pdata[i]);
      g_ptr_array_add (cells, g_strdup (in->names[k]));
      g_ptr_array_add (cells, g_strdup_printf ("%.4f", in->weights[k]));
      g_ptr_array_add (cells, g_strdup_printf ("%.2f", r ? r->test.perplexity : NAN));
      g_ptr_array_add (cells, g_strdup_printf ("%.4f", r ? r->test.bits_per_char : NAN));
      row (t, cells);
    }
  g_ptr_array_add (cells, g_strdup ("mixture"));
  g_ptr_array_add (cells, g_strdup ("1"));
  g_ptr_array_add (cells, g_strdup_printf ("%.2f", in->test_perplexity));
  g_ptr_array_add (cells, g_strdup_printf ("%.4f", in->test_bits_per_char));
  row (t, cells);
}

/* samples.tsv of each run: index -> (prompt, reference, continuation). */
static GPtrArray *
read_samples (const LmComparison *c, const LmCompareRun *cr)
{
  g_autofree char *path = g_build_filename (c->run_dir, "runs", cr->run->name, "samples.tsv",
                                            NULL);
  g_autofree char *text = NULL;
  GPtrArray *rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return rows;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (int i = 1; lines[i] && lines[i][0]; i++)
    {
      char **f = g_strsplit (lines[i], "\t", 4);
      if (g_strv_length (f) == 4)
        g_ptr_array_add (rows, f);
      else
        g_strfreev (f);
    }
  return rows;
}

static void
samples_section (GPtrArray *doc, const LmComparison *c, guint max_samples, int level)
{
  g_autoptr (GPtrArray) per_run = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  guint n = G_MAXUINT;
  for (guint i = 0; i < c->runs->len; i++)
    {
      const LmCompareRun *cr = c->runs->pdata[i];
      const LmRunResult *r = lm_compare_run_result (cr);
      if (r == NULL || r->gen_sentences == 0)
        continue;
      GPtrArray *rows = read_samples (c, cr);
      n = MIN (n, rows->len);
      g_ptr_array_add (per_run, rows);
      g_ptr_array_add (names, cr->run->name);
    }
  heading (doc, level, "Samples");
  if (per_run->len == 0 || n == 0)
    {
      para (doc, "No model generated text (generation needs a test part and a model that can "
                 "stream).");
      return;
    }
  para (doc,
        "Held-out test sentences: the prompt, the true continuation and each model's "
        "continuation (%s decoding). The first %u of %u:",
        lm_experiment_double (c->experiment, "temperature") == 0 ? "greedy" : "sampled",
        MIN (n, max_samples), n);
  for (guint s = 0; s < MIN (n, max_samples); s++)
    {
      char **first = ((GPtrArray *) per_run->pdata[0])->pdata[s];
      Block *t = table (doc);
      t->prose = TRUE;
      g_autoptr (GPtrArray) cells = g_ptr_array_new ();
      g_ptr_array_add (cells, g_strdup_printf ("prompt %u", s + 1));
      g_ptr_array_add (cells, g_strdup (first[1]));
      row (t, cells);
      g_ptr_array_add (cells, g_strdup ("true continuation"));
      g_ptr_array_add (cells, g_strdup (first[2]));
      row (t, cells);
      for (guint k = 0; k < per_run->len; k++)
        {
          char **f = ((GPtrArray *) per_run->pdata[k])->pdata[s];
          g_ptr_array_add (cells, g_strdup (names->pdata[k]));
          g_ptr_array_add (cells, g_strdup (f[3]));
          row (t, cells);
        }
    }
}

static void
notes_section (GPtrArray *doc, const LmComparison *c)
{
  Block *list = add_block (doc, B_LIST, NULL);
  list->rows = g_ptr_array_new_with_free_func (g_free);
  const LmExperiment *e = c->experiment;
  for (guint i = 0; i < e->notes->len; i++)
    g_ptr_array_add (list->rows, g_strdup (e->notes->pdata[i]));
  for (guint i = 0; i < c->runs->len; i++)
    {
      const LmCompareRun *cr = c->runs->pdata[i];
      if (cr->status == LM_RUN_FAILED)
        g_ptr_array_add (list->rows, g_strdup_printf ("run '%s' failed: %s", cr->run->name,
                                                      cr->error));
      else if (cr->status == LM_RUN_PENDING)
        g_ptr_array_add (list->rows, g_strdup_printf ("run '%s' was not run (interrupted)",
                                                      cr->run->name));
      const LmRunResult *r = lm_compare_run_result (cr);
      if (r && r->gen_sentences == 0)
        g_ptr_array_add (list->rows,
                         g_strdup_printf ("run '%s' generated nothing: BLEU/ROUGE not measured",
                                          cr->run->name));
    }
  if (list->rows->len == 0)
    {
      g_ptr_array_remove (doc, list);
      return;
    }
  Block *h = g_new0 (Block, 1);
  h->kind = B_HEADING;
  h->level = 2;
  h->text = g_strdup ("Notes");
  g_ptr_array_insert (doc, doc->len - 1, h);
}

static GPtrArray *
build_report (const LmComparison *c, const LmReportOptions *options)
{
  GPtrArray *doc = g_ptr_array_new_with_free_func ((GDestroyNotify) block_free);
  g_autofree char *title = g_strdup_printf ("Language model comparison: %s", c->experiment->name);
  heading (doc, 1, title);
  setup_section (doc, c, options ? options->command : NULL);
  heading (doc, 2, "Results");
  para (doc, "Quality on the held-out test tokens (perplexity per token; accuracy of the "
             "next-token prediction; BLEU/ROUGE of the generated continuations):");
  metric_table (doc, c, main_table, TRUE);
  para (doc, "Cost: parameters (stored n-grams for a count model), training, evaluation "
             "throughput on the test tokens and the peak memory of the run's process:");
  metric_table (doc, c, cost_table, FALSE);
  para (doc, "More measures:");
  metric_table (doc, c, more_table, TRUE);
  interpolation_section (doc, c);
  if (options && options->figures && options->figures->len)
    {
      heading (doc, 2, "Figures");
      if (!options->rendered)
        para (doc, "gnuplot was not found: the figures' scripts and data are in figures/; "
                   "install gnuplot and run `lmlab plot RUN_DIR` to draw them.");
      for (guint i = 0; i < options->figures->len; i++)
        {
          const LmFigure *f = &g_array_index (options->figures, LmFigure, i);
          Block *b = add_block (doc, B_IMAGE, f->caption);
          b->src = g_strdup_printf ("figures/%s.png", f->name);
        }
    }
  samples_section (doc, c, 5, 2);
  notes_section (doc, c);
  para (doc, "Files: summary.tsv / summary.json (every measure, units in the names), "
             "runs/NAME/ (configuration, learning curve, model, result.json), figures/ "
             "(gnuplot scripts, data, PNG and SVG), environment.json.");
  return doc;
}

/* ---- the files -------------------------------------------------------------------------- */

static gboolean
write_file (const LmComparison *c, const char *name, const char *text, GError **error)
{
  g_autofree char *path = g_build_filename (c->run_dir, name, NULL);
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents (path, text, -1, &local))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  return TRUE;
}

static char *
summary_tsv (const LmComparison *c)
{
  GString *out = g_string_new ("name\tmodel\tstatus");
  for (gsize k = 0; k < G_N_ELEMENTS (columns); k++)
    g_string_append_printf (out, "\t%s", columns[k].key);
  g_string_append (out, "\tsummary\n");
  for (guint i = 0; i < c->runs->len; i++)
    {
      const LmCompareRun *cr = c->runs->pdata[i];
      const LmRunResult *r = lm_compare_run_result (cr);
      g_string_append_printf (out, "%s\t%s\t%s", cr->run->name, cr->run->klass->name,
                              status_name (cr->status));
      for (gsize k = 0; k < G_N_ELEMENTS (columns); k++)
        {
          g_autofree char *v = format_value (&columns[k], r ? columns[k].get (r) : NAN, FALSE);
          g_string_append_printf (out, "\t%s", v);
        }
      g_string_append_printf (out, "\t%s\n", r && r->summary ? r->summary : "");
    }
  const LmInterpolation *in = c->interpolation;
  if (in && in->error == NULL)
    {
      g_string_append (out, "interpolated\tmixture\tfinished");
      for (gsize k = 0; k < G_N_ELEMENTS (columns); k++)
        {
          double v = NAN;
          if (g_str_equal (columns[k].key, "test_perplexity"))
            v = in->test_perplexity;
          else if (g_str_equal (columns[k].key, "test_nats_per_token"))
            v = in->test_nats_per_token;
          else if (g_str_equal (columns[k].key, "test_bits_per_token"))
            v = in->test_bits_per_token;
          else if (g_str_equal (columns[k].key, "test_bits_per_char"))
            v = in->test_bits_per_char;
          g_autofree char *text = format_value (&columns[k], v, FALSE);
          g_string_append_printf (out, "\t%s", text);
        }
      g_string_append (out, "\tEM weights:");
      for (guint k = 0; k < in->n; k++)
        g_string_append_printf (out, " %s=%.4f", in->names[k], in->weights[k]);
      g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}

static char *
summary_json (const LmComparison *c)
{
  LmJson j;
  lm_json_init (&j, TRUE);
  lm_json_begin_object (&j, NULL);
  lm_json_string (&j, "experiment", c->experiment->name);
  lm_json_string (&j, "level", lm_level_name (c->corpus.level));
  lm_json_int (&j, "vocab_size", c->corpus.vocab_size);
  lm_json_string (&j, "vocab_fingerprint", c->corpus.vocab_fingerprint);
  for (int p = 0; p < LM_N_PARTS; p++)
    {
      char key[64];
      g_snprintf (key, sizeof key, "%s_tokens", lm_part_name (p));
      lm_json_int (&j, key, c->corpus.tokens[p]);
      g_snprintf (key, sizeof key, "%s_characters", lm_part_name (p));
      lm_json_int (&j, key, c->corpus.chars[p]);
    }
  lm_json_begin_array (&j, "runs");
  for (guint i = 0; i < c->runs->len; i++)
    {
      const LmCompareRun *cr = c->runs->pdata[i];
      const LmRunResult *r = lm_compare_run_result (cr);
      lm_json_begin_object (&j, NULL);
      lm_json_string (&j, "name", cr->run->name);
      lm_json_string (&j, "model", cr->run->klass->name);
      lm_json_string (&j, "status", status_name (cr->status));
      if (cr->error)
        lm_json_string (&j, "error", cr->error);
      if (r)
        {
          lm_json_string (&j, "summary", r->summary);
          for (gsize k = 0; k < G_N_ELEMENTS (columns); k++)
            lm_json_double (&j, columns[k].key, columns[k].get (r));
        }
      lm_json_end_object (&j);
    }
  lm_json_end_array (&j);
  const LmInterpolation *in = c->interpolation;
  if (in)
    {
      lm_json_begin_object (&j, "interpolation");
      lm_json_begin_object (&j, "weights");
      for (guint k = 0; k < in->n; k++)
        lm_json_double (&j, in->names[k], in->weights[k]);
      lm_json_end_object (&j);
      lm_json_int (&j, "em_iterations", in->iterations);
      lm_json_double (&j, "valid_nats_per_token", in->valid_nats_per_token);
      lm_json_double (&j, "test_nats_per_token", in->test_nats_per_token);
      lm_json_double (&j, "test_perplexity", in->test_perplexity);
      lm_json_double (&j, "test_bits_per_token", in->test_bits_per_token);
      lm_json_double (&j, "test_bits_per_char", in->test_bits_per_char);
      if (in->error)
        lm_json_string (&j, "error", in->error);
      lm_json_end_object (&j);
    }
  lm_json_end_object (&j);
  return lm_json_finish (&j);
}

char *
lm_report_environment_json (const char *command)
{
  LmBlasInfo blas;
  lm_blas_info_get (&blas);
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *date = g_date_time_format_iso8601 (now);
  LmJson j;
  lm_json_init (&j, TRUE);
  lm_json_begin_object (&j, NULL);
  lm_json_string (&j, "lmlab_version", PACKAGE_VERSION);
  lm_json_string (&j, "lmlab_commit", LMLAB_GIT_COMMIT);
  lm_json_string (&j, "date", date);
  if (command)
    lm_json_string (&j, "command", command);
#ifdef __VERSION__
  lm_json_string (&j, "compiler", "cc " __VERSION__);
#endif
  g_autofree char *glib = g_strdup_printf ("%u.%u.%u", glib_major_version, glib_minor_version,
                                           glib_micro_version);
  lm_json_string (&j, "glib", glib);
  lm_json_string (&j, "blas_kernel", blas.kernel);
  lm_json_string (&j, "blas_config", blas.config);
  lm_json_int (&j, "blas_threads", blas.blas_threads);
  lm_json_int (&j, "omp_threads", blas.omp_threads);
  lm_json_bool (&j, "blas_fallback", blas.fallback);
  if (blas.advice)
    lm_json_string (&j, "blas_advice", blas.advice);
  const char *coretype = g_getenv ("OPENBLAS_CORETYPE");
  if (coretype)
    lm_json_string (&j, "openblas_coretype", coretype);
  lm_json_string (&j, "cpu_model", blas.cpu_model);
  lm_json_int (&j, "cpus", blas.cpus);
  lm_json_bool (&j, "cpu_avx2", blas.cpu_avx2);
  lm_json_bool (&j, "cpu_avx512", blas.cpu_avx512);
  lm_json_end_object (&j);
  lm_blas_info_clear (&blas);
  return lm_json_finish (&j);
}

gboolean
lm_report_write (const LmComparison *c, const LmReportOptions *options, GError **error)
{
  g_autofree char *env = lm_report_environment_json (options ? options->command : NULL);
  g_autofree char *tsv = summary_tsv (c);
  g_autofree char *json = summary_json (c);
  if (!write_file (c, "environment.json", env, error) || !write_file (c, "summary.tsv", tsv, error)
      || !write_file (c, "summary.json", json, error))
    return FALSE;

  g_autoptr (GPtrArray) summary = g_ptr_array_new_with_free_func ((GDestroyNotify) block_free);
  heading (summary, 1, c->experiment->name);
  metric_table (summary, c, main_table, TRUE);
  metric_table (summary, c, cost_table, FALSE);
  metric_table (summary, c, more_table, TRUE);
  g_autofree char *summary_md = render_markdown (summary);

  g_autoptr (GPtrArray) samples = g_ptr_array_new_with_free_func ((GDestroyNotify) block_free);
  samples_section (samples, c, G_MAXUINT, 1);
  g_autofree char *samples_md = render_markdown (samples);

  g_autoptr (GPtrArray) doc = build_report (c, options);
  g_autofree char *report_md = render_markdown (doc);
  g_autofree char *title = g_strdup_printf ("Language model comparison: %s", c->experiment->name);
  g_autofree char *report_html = render_html (doc, title);
  return write_file (c, "summary.md", summary_md, error)
         && write_file (c, "samples.md", samples_md, error)
         && write_file (c, "report.md", report_md, error)
         && write_file (c, "report.html", report_html, error);
}

char *
lm_report_text_table (const LmComparison *c)
{
  static const char *const keys[] = { "params", "train_seconds", "train_tokens_per_s",
                                      "valid_perplexity", "test_perplexity",
                                      "test_bits_per_char", "top1_accuracy", "bleu4",
                                      "peak_rss_mib", NULL };
  static const char *const short_labels[] = { "params", "train s", "train tok/s", "valid ppl",
                                              "test ppl", "bits/char", "top1 %", "BLEU %",
                                              "RSS MiB" };
  /* a run is named by itself, "name (model)" when the model is not its name; the first
   * column is as wide as the longest */
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  int width = (int) strlen ("run (model)");
  for (guint i = 0; i < c->runs->len; i++)
    {
      const LmCompareRun *cr = c->runs->pdata[i];
      char *name = strcmp (cr->run->name, cr->run->klass->name) == 0
                       ? g_strdup (cr->run->name)
                       : g_strdup_printf ("%s (%s)", cr->run->name, cr->run->klass->name);
      width = MAX (width, (int) g_utf8_strlen (name, -1));
      g_ptr_array_add (names, name);
    }
  GString *out = g_string_new (NULL);
  g_string_append_printf (out, "%-*s", width, "run (model)");
  for (int k = 0; keys[k]; k++)
    g_string_append_printf (out, " %11s", short_labels[k]);
  g_string_append_c (out, '\n');
  for (guint i = 0; i < c->runs->len; i++)
    {
      const LmCompareRun *cr = c->runs->pdata[i];
      const LmRunResult *r = lm_compare_run_result (cr);
      const char *name = names->pdata[i];
      g_string_append_printf (out, "%s%*s", name, width - (int) g_utf8_strlen (name, -1), "");
      if (r == NULL)
        {
          g_string_append_printf (out, " %s\n", status_name (cr->status));
          continue;
        }
      for (int k = 0; keys[k]; k++)
        {
          g_autofree char *v = format_value (column (keys[k]), column (keys[k])->get (r), TRUE);
          g_string_append_printf (out, " %11s", v);
        }
      g_string_append_c (out, '\n');
    }
  const LmInterpolation *in = c->interpolation;
  if (in && in->error == NULL)
    g_string_append_printf (out, "%-*s %11s %11s %11s %11s %11.2f %11.4f\n", width, "interpolated",
                            "", "", "", "", in->test_perplexity, in->test_bits_per_char);
  return g_string_free (out, FALSE);
}
