/* lm-figures.c — gnuplot scripts and data for a comparison, and rendering them. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <glib/gstdio.h>

#include "core/lm-error.h"
#include "harness/lm-figures.h"

static const LmFigure all_figures[] = {
  { "valid-ppl-tokens", "Validation perplexity against training tokens seen" },
  { "valid-ppl-time", "Validation perplexity against training wall-clock time" },
  { "test-perplexity", "Test perplexity" },
  { "test-bits-per-char", "Test bits per character" },
  { "ppl-vs-params", "Test perplexity against parameter count" },
  { "throughput", "Training and evaluation throughput" },
  { "quality", "Next-token accuracy and generation quality" },
};

/* Eight colours that stay apart for colour-blind readers (Okabe & Ito), one per model
 * in every figure. */
static const char *const colours[] = { "#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                       "#E69F00", "#56B4E9", "#F0E442", "#000000" };

static const char *
colour (guint i)
{
  return colours[i % G_N_ELEMENTS (colours)];
}

/* ---- writing ------------------------------------------------------------------------- */

typedef struct {
  const LmComparison *c;
  char *dir; /* RUN_DIR/figures */
} Writer;

static gboolean
put (const Writer *w, const char *name, const char *ext, const GString *text, GError **error)
{
  g_autofree char *file = g_strdup_printf ("%s.%s", name, ext);
  g_autofree char *path = g_build_filename (w->dir, file, NULL);
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents (path, text->str, text->len, &local))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  return TRUE;
}

/* The opening every script shares: how to re-render, the PNG terminal, the style. */
static void
preamble (GString *gp, const char *name, const char *caption)
{
  g_string_append_printf (
      gp,
      "# %s\n"
      "# Written by lmlab; data in %s.dat. Re-render after editing: `gnuplot %s.gp` in this\n"
      "# folder, or `lmlab plot RUN_DIR` for every figure.\n"
      "set encoding utf8\n"
      "set datafile separator \"\\t\"\n"
      "set datafile missing \"nan\"\n"
      "set terminal pngcairo size 1000,600 noenhanced font \"DejaVu Sans,13\" background "
      "\"white\"\n"
      "set output \"%s.png\"\n"
      "set title \"%s\" font \",15\"\n"
      "set border 3 lw 1.2\n"
      "set tics nomirror\n"
      "set grid ytics lc rgb \"#dddddd\" lw 1 dt 1\n"
      "set key outside right top box opaque\n",
      caption, name, name, name, caption);
}

/* Render the same plot again as SVG. */
static void
postamble (GString *gp, const char *name)
{
  g_string_append_printf (gp,
                          "\nset terminal svg size 1000,600 noenhanced font \"DejaVu Sans,13\" "
                          "background \"white\"\n"
                          "set output \"%s.svg\"\n"
                          "replot\n"
                          "unset output\n",
                          name);
}

static void
gp_quote (GString *gp, const char *text)
{
  g_string_append_c (gp, '"');
  for (const char *p = text; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_c (gp, '\\');
      g_string_append_c (gp, *p);
    }
  g_string_append_c (gp, '"');
}

static void
dat_number (GString *dat, double v)
{
  if (isfinite (v))
    g_string_append_printf (dat, "%.6g", v);
  else
    g_string_append (dat, "nan");
}

/* Finished runs in experiment order, with their index for the colour. */
static GPtrArray *
finished_runs (const LmComparison *c, GArray *indices)
{
  GPtrArray *out = g_ptr_array_new ();
  for (guint i = 0; i < c->runs->len; i++)
    if (lm_compare_run_result (c->runs->pdata[i]))
      {
        g_ptr_array_add (out, c->runs->pdata[i]);
        g_array_append_val (indices, i);
      }
  return out;
}

typedef struct {
  double tokens, seconds, perplexity;
} Point;

/* The learning curve of one run: (tokens, seconds, perplexity) of every validation in
 * its metrics.tsv, or the one point of a count model. */
static GArray *
curve (const LmComparison *c, const LmCompareRun *cr)
{
  GArray *points = g_array_new (FALSE, FALSE, sizeof (Point));
  const LmRunResult *r = &cr->result;
  g_autofree char *path = g_build_filename (c->run_dir, "runs", cr->run->name, "metrics.tsv",
                                            NULL);
  g_autofree char *text = NULL;
  if (g_file_get_contents (path, &text, NULL, NULL))
    {
      g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
      /* columns: step epoch tokens seconds lr train_loss grad_norm valid_loss tokens_per_s
       * event */
      for (int i = 1; lines[i]; i++)
        {
          g_auto (GStrv) f = g_strsplit (lines[i], "\t", -1);
          if (g_strv_length (f) < 10 || !g_str_equal (f[9], "eval"))
            continue;
          double loss = g_ascii_strtod (f[7], NULL);
          if (!isfinite (loss))
            continue;
          Point p = { g_ascii_strtod (f[2], NULL), g_ascii_strtod (f[3], NULL), exp (loss) };
          g_array_append_val (points, p);
        }
    }
  else if (r->has_valid)
    {
      Point p = { (double) r->train_tokens, r->train_seconds, r->valid.perplexity };
      g_array_append_val (points, p);
    }
  return points;
}

static gboolean
write_curves (const Writer *w, GPtrArray *runs, GArray *indices, GArray *figures,
              GError **error)
{
  g_autoptr (GString) dat = g_string_new ("# validation perplexity during training: one block "
                                          "per model (gnuplot index), separated by two blank "
                                          "lines\n");
  for (guint k = 0; k < runs->len; k++)
    {
      const LmCompareRun *cr = runs->pdata[k];
      g_autoptr (GArray) points = curve (w->c, cr);
      g_string_append_printf (dat, "%s# %s (%s)\ntokens\tseconds\tperplexity\n",
                              k ? "\n\n" : "", cr->run->name, cr->result.model);
      for (guint i = 0; i < points->len; i++)
        {
          const Point *p = &g_array_index (points, Point, i);
          dat_number (dat, p->tokens);
          g_string_append_c (dat, '\t');
          dat_number (dat, p->seconds);
          g_string_append_c (dat, '\t');
          dat_number (dat, p->perplexity);
          g_string_append_c (dat, '\n');
        }
      if (points->len == 0)
        g_string_append (dat, "nan\tnan\tnan\n");
    }
  /* Tokens in the unit that keeps the axis numbers short. */
  double max_tokens = 0;
  for (guint k = 0; k < runs->len; k++)
    max_tokens = MAX (max_tokens, (double) ((const LmCompareRun *) runs->pdata[k])->result.train_tokens);
  const char *token_using = max_tokens >= 2e6   ? "($1/1e6)"
                            : max_tokens >= 2e3 ? "($1/1e3)"
                                                : "1";
  const char *token_label = max_tokens >= 2e6   ? "training tokens seen (millions of tokens)"
                            : max_tokens >= 2e3 ? "training tokens seen (thousands of tokens)"
                                                : "training tokens seen (tokens)";
  const struct {
    const char *name;
    const char *x;
    const char *xlabel;
  } plots[] = {
    { "valid-ppl-tokens", token_using, token_label },
    { "valid-ppl-time", "2", "training wall-clock time (s)" },
  };
  for (gsize f = 0; f < G_N_ELEMENTS (plots); f++)
    {
      g_autoptr (GString) gp = g_string_new (NULL);
      const LmFigure *fig = &all_figures[f];
      preamble (gp, plots[f].name, fig->caption);
      g_string_append_printf (gp,
                              "set logscale y\n"
                              "set xlabel \"%s\"\n"
                              "set ylabel \"validation perplexity (per token, log scale)\"\n"
                              "set xrange [0:*]\n"
                              "plot \\\n",
                              plots[f].xlabel);
      for (guint k = 0; k < runs->len; k++)
        {
          const LmCompareRun *cr = runs->pdata[k];
          guint ci = g_array_index (indices, guint, k);
          g_autoptr (GArray) points = curve (w->c, cr);
          gboolean single = points->len <= 1; /* a count model: one pass, one point */
          g_autofree char *title = g_strdup_printf ("%s%s", cr->run->name,
                                                    single ? " (one pass)" : "");
          g_string_append_printf (gp, "  \"%s.dat\" index %u using %s:3 ", plots[f].name, k,
                                  plots[f].x);
          if (single)
            g_string_append_printf (gp, "with points pt 7 ps 2.2 lc rgb \"%s\" title ",
                                    colour (ci));
          else
            g_string_append_printf (gp, "with linespoints lw 2.5 pt 7 ps 0.6 lc rgb \"%s\" title ",
                                    colour (ci));
          gp_quote (gp, title);
          g_string_append (gp, k + 1 < runs->len ? ", \\\n" : "\n");
        }
      postamble (gp, plots[f].name);
      /* Both figures read the same data: write it under each name so a user can edit one
       * figure's data without touching the other. */
      if (!put (w, plots[f].name, "gp", gp, error) || !put (w, plots[f].name, "dat", dat, error))
        return FALSE;
      g_array_append_val (figures, *fig);
    }
  return TRUE;
}

/* One value per model as coloured bars with the value printed above each. */
static gboolean
write_bars (const Writer *w, const LmFigure *fig, const char *ylabel, const char *format,
            GPtrArray *names, GArray *values, GArray *colour_index, GArray *figures,
            GError **error)
{
  g_autoptr (GString) dat = g_string_new (NULL);
  g_string_append_printf (dat, "# %s\n# model\tvalue\tcolour\n", fig->caption);
  for (guint k = 0; k < names->len; k++)
    {
      g_string_append_printf (dat, "%s\t", (const char *) names->pdata[k]);
      dat_number (dat, g_array_index (values, double, k));
      g_string_append_printf (dat, "\t%s\n", colour (g_array_index (colour_index, guint, k)));
    }
  g_autoptr (GString) gp = g_string_new (NULL);
  preamble (gp, fig->name, fig->caption);
  g_string_append_printf (gp,
                          "unset key\n"
                          "set ylabel \"%s\"\n"
                          "set yrange [0:*]\n"
                          "set offsets 0, 0, graph 0.1, 0\n"
                          "set xrange [-0.6:%u-0.4]\n"
                          "set boxwidth 0.6\n"
                          "set style fill solid 0.85 border rgb \"#333333\"\n"
                          "set xtics rotate by -25 left\n"
                          "rgb(s) = int(\"0x\" . s[2:7])\n"
                          "plot \"%s.dat\" using 0:2:(rgb(strcol(3))):xtic(1) with boxes "
                          "lc rgb variable, \\\n"
                          "  \"\" using 0:2:(sprintf(\"%s\", $2)) with labels offset 0,0.8 "
                          "font \",12\"\n",
                          ylabel, names->len, fig->name, format);
  postamble (gp, fig->name);
  if (!put (w, fig->name, "gp", gp, error) || !put (w, fig->name, "dat", dat, error))
    return FALSE;
  g_array_append_val (figures, *fig);
  return TRUE;
}

/* Several values per model as clustered bars, one colour per series. */
static gboolean
write_clusters (const Writer *w, const LmFigure *fig, const char *ylabel, gboolean logy,
                const char *const *series, guint n_series, GPtrArray *names, GArray *values,
                GArray *figures, GError **error)
{
  /* A series no model has (BLEU without generation, say) is left out, not drawn empty. */
  g_autofree gboolean *present = g_new0 (gboolean, n_series);
  guint shown = 0;
  for (guint s = 0; s < n_series; s++)
    {
      for (guint k = 0; k < names->len; k++)
        present[s] |= isfinite (g_array_index (values, double, k * n_series + s));
      shown += present[s];
    }
  if (shown == 0)
    return TRUE;
  g_autoptr (GString) dat = g_string_new (NULL);
  g_string_append_printf (dat, "# %s\nmodel", fig->caption);
  for (guint s = 0; s < n_series; s++)
    if (present[s])
      g_string_append_printf (dat, "\t%s", series[s]);
  g_string_append_c (dat, '\n');
  for (guint k = 0; k < names->len; k++)
    {
      g_string_append (dat, names->pdata[k]);
      for (guint s = 0; s < n_series; s++)
        if (present[s])
          {
            g_string_append_c (dat, '\t');
            dat_number (dat, g_array_index (values, double, k * n_series + s));
          }
      g_string_append_c (dat, '\n');
    }
  g_autoptr (GString) gp = g_string_new (NULL);
  preamble (gp, fig->name, fig->caption);
  g_string_append_printf (gp,
                          "set ylabel \"%s\"\n"
                          "%s"
                          "set style data histograms\n"
                          "set style histogram clustered gap 1\n"
                          "set style fill solid 0.85 border rgb \"#333333\"\n"
                          "set boxwidth 0.9\n"
                          "set xtics rotate by -25 left\n"
                          "set key autotitle columnhead\n"
                          "set key outside top center horizontal\n"
                          "plot \\\n",
                          ylabel, logy ? "set logscale y\nset format y \"%.0s%c\"\n"
                                       : "set yrange [0:*]\n");
  for (guint s = 0, column = 2; s < n_series; s++)
    if (present[s])
      {
        g_string_append_printf (gp, "  \"%s.dat\" using %u%s lc rgb \"%s\"%s", fig->name, column,
                                column == 2 ? ":xtic(1)" : "", colour (s),
                                column - 1 < shown ? ", \\\n" : "\n");
        column++;
      }
  postamble (gp, fig->name);
  if (!put (w, fig->name, "gp", gp, error) || !put (w, fig->name, "dat", dat, error))
    return FALSE;
  g_array_append_val (figures, *fig);
  return TRUE;
}

gboolean
lm_figures_write (const LmComparison *c, GArray **figures_out, GError **error)
{
  Writer w = { c, g_build_filename (c->run_dir, "figures", NULL) };
  g_autofree char *dir = w.dir;
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot create %s: %s", dir, g_strerror (saved));
      return FALSE;
    }
  g_autoptr (GArray) figures = g_array_new (FALSE, FALSE, sizeof (LmFigure));
  g_autoptr (GArray) indices = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GPtrArray) runs = finished_runs (c, indices);
  if (runs->len == 0)
    {
      if (figures_out)
        *figures_out = g_steal_pointer (&figures);
      return TRUE;
    }
  if (!write_curves (&w, runs, indices, figures, error))
    return FALSE;

  /* Test perplexity and bits/char, with the interpolated mixture as one more bar. */
  const LmInterpolation *in = c->interpolation;
  gboolean mix = in && in->error == NULL;
  for (int f = 0; f < 2; f++)
    {
      g_autoptr (GPtrArray) names = g_ptr_array_new ();
      g_autoptr (GArray) values = g_array_new (FALSE, FALSE, sizeof (double));
      g_autoptr (GArray) ci = g_array_new (FALSE, FALSE, sizeof (guint));
      gboolean any = FALSE;
      for (guint k = 0; k < runs->len; k++)
        {
          const LmCompareRun *cr = runs->pdata[k];
          const LmEvalResult *e = cr->result.has_test ? &cr->result.test
                                                      : cr->result.has_valid ? &cr->result.valid
                                                                             : NULL;
          double v = e ? (f == 0 ? e->perplexity : e->bits_per_char) : NAN;
          any |= isfinite (v);
          g_ptr_array_add (names, cr->run->name);
          g_array_append_val (values, v);
          g_array_append_vals (ci, &g_array_index (indices, guint, k), 1);
        }
      if (mix)
        {
          double v = f == 0 ? in->test_perplexity : in->test_bits_per_char;
          guint black = G_N_ELEMENTS (colours) - 1;
          g_ptr_array_add (names, (gpointer) "interpolated");
          g_array_append_val (values, v);
          g_array_append_val (ci, black);
        }
      if (!any)
        continue;
      gboolean test = ((LmCompareRun *) runs->pdata[0])->result.has_test;
      const char *ylabel = f == 0 ? (test ? "test perplexity (per token)"
                                          : "validation perplexity (per token)")
                                  : (test ? "test bits per character (bits/char)"
                                          : "validation bits per character (bits/char)");
      if (!write_bars (&w, &all_figures[2 + f], ylabel, f == 0 ? "%.1f" : "%.3f", names, values,
                       ci, figures, error))
        return FALSE;
    }

  /* Perplexity against parameters: points, log x. */
  {
    const LmFigure *fig = &all_figures[4];
    g_autoptr (GString) dat = g_string_new ("# test perplexity against parameter count\n"
                                            "# model\tparams\tperplexity\tcolour\n");
    for (guint k = 0; k < runs->len; k++)
      {
        const LmCompareRun *cr = runs->pdata[k];
        const LmEvalResult *e = cr->result.has_test ? &cr->result.test : &cr->result.valid;
        g_string_append_printf (dat, "%s\t%" G_GINT64_FORMAT "\t", cr->run->name,
                                cr->result.params);
        dat_number (dat, e->perplexity);
        g_string_append_printf (dat, "\t%s\n", colour (g_array_index (indices, guint, k)));
      }
    g_autoptr (GString) gp = g_string_new (NULL);
    preamble (gp, fig->name, fig->caption);
    g_string_append_printf (
        gp,
        "unset key\n"
        "set logscale x\n"
        "set format x \"%%.0s%%c\"\n"
        "set xlabel \"parameters (count, log scale; n-gram: stored n-grams)\"\n"
        "set ylabel \"test perplexity (per token)\"\n"
        "set offsets graph 0.08, graph 0.15, graph 0.1, graph 0.1\n"
        "rgb(s) = int(\"0x\" . s[2:7])\n"
        "plot \"%s.dat\" using 2:3:(rgb(strcol(4))) with points pt 7 ps 2.2 lc rgb "
        "variable, \\\n"
        "  \"\" using 2:3:1 with labels offset 0,1.2 font \",12\"\n",
        fig->name);
    postamble (gp, fig->name);
    if (!put (&w, fig->name, "gp", gp, error) || !put (&w, fig->name, "dat", dat, error))
      return FALSE;
    g_array_append_val (figures, *fig);
  }

  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  for (guint k = 0; k < runs->len; k++)
    g_ptr_array_add (names, ((LmCompareRun *) runs->pdata[k])->run->name);

  /* Throughput: training and test-scoring tokens per second, log y. */
  {
    static const char *const series[] = { "training (tokens/s)", "evaluation (tokens/s)" };
    g_autoptr (GArray) values = g_array_new (FALSE, FALSE, sizeof (double));
    for (guint k = 0; k < runs->len; k++)
      {
        const LmRunResult *r = &((LmCompareRun *) runs->pdata[k])->result;
        g_array_append_vals (values, &r->train_tokens_per_s, 1);
        g_array_append_vals (values, &r->eval_tokens_per_s, 1);
      }
    if (!write_clusters (&w, &all_figures[5], "throughput (tokens/s, log scale)", TRUE, series, 2,
                         names, values, figures, error))
      return FALSE;
  }

  /* Accuracy and generation quality, in percent. */
  {
    static const char *const series[] = { "top-1 accuracy", "top-5 accuracy", "BLEU-4",
                                          "ROUGE-1 F1", "ROUGE-2 F1", "ROUGE-L F1" };
    g_autoptr (GArray) values = g_array_new (FALSE, FALSE, sizeof (double));
    for (guint k = 0; k < runs->len; k++)
      {
        const LmRunResult *r = &((LmCompareRun *) runs->pdata[k])->result;
        const LmEvalResult *e = r->has_test ? &r->test : &r->valid;
        double v[6] = { e->top1_accuracy, e->top5_accuracy, r->bleu, r->rouge1_f1, r->rouge2_f1,
                        r->rougeL_f1 };
        for (int s = 0; s < 6; s++)
          v[s] *= 100;
        g_array_append_vals (values, v, 6);
      }
    if (!write_clusters (&w, &all_figures[6], "score (%)", FALSE, series, 6, names, values,
                         figures, error))
      return FALSE;
  }
  if (figures_out)
    *figures_out = g_steal_pointer (&figures);
  return TRUE;
}

/* ---- rendering ------------------------------------------------------------------------- */

char *
lm_figures_gnuplot (void)
{
  const char *env = g_getenv ("LMLAB_GNUPLOT");
  if (env && *env)
    return g_find_program_in_path (env);
  return g_find_program_in_path ("gnuplot");
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      g_unlink (child);
    }
  g_rmdir (path);
}

/* Run one script in a scratch folder beside it (its data files linked in) and move what it
 * drew into place only when gnuplot succeeded, so a broken script never truncates the
 * figures a report already shows. */
static gboolean
render_one (const char *gnuplot, const char *dir, const char *script, GError **error)
{
  g_autofree char *scratch_template = g_build_filename (dir, ".render-XXXXXX", NULL);
  char *scratch = g_mkdtemp (scratch_template);
  if (scratch == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot create a scratch folder in %s: %s", dir,
                   g_strerror (errno));
      return FALSE;
    }
  gboolean ok = FALSE;
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GDir) drawn = NULL;
  g_autofree char *err = NULL;
  const char *argv[] = { gnuplot, script, NULL };
  int status = 0;
  GError *local = NULL;
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    if (g_str_has_suffix (name, ".dat") || g_str_equal (name, script))
      {
        g_autofree char *target = g_build_filename ("..", name, NULL);
        g_autofree char *link = g_build_filename (scratch, name, NULL);
        if (symlink (target, link) != 0)
          {
            g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot link %s into %s: %s", name,
                         scratch, g_strerror (errno));
            goto out;
          }
      }
  if (!g_spawn_sync (scratch, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                     &err, &status, &local))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_FAILED, "cannot run %s: %s", gnuplot,
                   local->message);
      g_error_free (local);
      goto out;
    }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_FAILED, "gnuplot failed on %s/%s: %s", dir, script,
                   err ? g_strstrip (err) : "");
      goto out;
    }
  /* Move every picture it drew into the figures folder. */
  drawn = g_dir_open (scratch, 0, NULL);
  while (drawn && (name = g_dir_read_name (drawn)))
    if (g_str_has_suffix (name, ".png") || g_str_has_suffix (name, ".svg"))
      {
        g_autofree char *from = g_build_filename (scratch, name, NULL);
        g_autofree char *to = g_build_filename (dir, name, NULL);
        if (g_rename (from, to) != 0)
          {
            g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot move %s to %s: %s", from, to,
                         g_strerror (errno));
            goto out;
          }
      }
  ok = TRUE;
out:
  remove_tree (scratch);
  return ok;
}

gboolean
lm_figures_render (const char *run_dir, guint *n_rendered, GError **error)
{
  g_autofree char *gnuplot = lm_figures_gnuplot ();
  g_autofree char *dir = g_build_filename (run_dir, "figures", NULL);
  if (n_rendered)
    *n_rendered = 0;
  g_autoptr (GError) local = NULL;
  g_autoptr (GDir) d = g_dir_open (dir, 0, &local);
  if (d == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s has no figures folder (%s)", run_dir,
                   local->message);
      return FALSE;
    }
  g_autoptr (GPtrArray) scripts = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)))
    if (g_str_has_suffix (name, ".gp"))
      g_ptr_array_add (scripts, g_strdup (name));
  g_ptr_array_sort (scripts, compare_names);
  if (scripts->len == 0)
    return TRUE;
  if (gnuplot == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED,
                   "gnuplot not found, so the figures' scripts in %s were not rendered: "
                   "apt-get install gnuplot-nox, then run lmlab plot %s",
                   dir, run_dir);
      return FALSE;
    }
  for (guint i = 0; i < scripts->len; i++)
    {
      if (!render_one (gnuplot, dir, scripts->pdata[i], error))
        return FALSE;
      if (n_rendered)
        (*n_rendered)++;
    }
  return TRUE;
}
