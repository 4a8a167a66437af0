/* cmd-compare.c — `lmlab compare [EXPERIMENT.ini] [-o RUN_DIR]` and `lmlab plot RUN_DIR`.
 *
 * compare runs every model of an experiment on one corpus (lm-compare.c), then writes the
 * figures (lm-figures.c) and the summaries and report (lm-report.c). Progress goes to
 * stderr, the final table to stdout. Ctrl-C stops cleanly: the running model checkpoints,
 * and the same command run again reuses finished models and resumes the interrupted one.
 */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-registry.h"
#include "harness/lm-cli.h"
#include "harness/lm-compare.h"
#include "harness/lm-experiment.h"
#include "harness/lm-figures.h"
#include "harness/lm-progress.h"
#include "harness/lm-report.h"

static gint interrupted = 0;

static void
on_interrupt (int signum)
{
  if (g_atomic_int_get (&interrupted))
    signal (signum, SIG_DFL); /* a second Ctrl-C stops at once */
  g_atomic_int_set (&interrupted, 1);
}

typedef struct {
  gboolean quiet;
  LmProgress progress;      /* the current phase of the current run (in its process) */
  gboolean progress_active;
  double done_wall;         /* wall-clock of runs with a seconds budget finished so far */
  double done_budget;       /* their budgets */
} CompareUi;

static double
run_budget_seconds (const LmExperimentRun *run)
{
  return lm_config_has (run->config, "seconds") ? lm_config_get_double (run->config, "seconds")
                                                : 0;
}

/* The time the runs from index on should take: their seconds budgets scaled by how long
 * finished runs took per budgeted second (evaluation and generation come on top). NaN
 * when a remaining gradient run has no wall-clock budget. */
static double
eta_seconds (const CompareUi *ui, const LmComparison *c, guint from)
{
  double ratio = ui->done_budget > 0 ? ui->done_wall / ui->done_budget : 1.25;
  double total = 0;
  for (guint i = from; i < c->runs->len; i++)
    {
      const LmCompareRun *cr = c->runs->pdata[i];
      if (cr->status != LM_RUN_PENDING)
        continue;
      double b = run_budget_seconds (cr->run);
      if (b > 0)
        total += b * ratio;
      else if (cr->run->klass->capabilities & LM_CAP_GRADIENT)
        return NAN;
    }
  return total;
}

static void
on_event (const LmCompareEvent *ev, gpointer user_data)
{
  CompareUi *ui = user_data;
  const LmComparison *c = ev->comparison;
  switch (ev->kind)
    {
    case LM_COMPARE_EVENT_CORPUS:
      if (!ui->quiet)
        {
          g_autofree char *train = lm_cli_thousands (c->corpus.tokens[LM_PART_TRAIN]);
          g_autofree char *valid = lm_cli_thousands (c->corpus.tokens[LM_PART_VALID]);
          g_autofree char *test = lm_cli_thousands (c->corpus.tokens[LM_PART_TEST]);
          g_printerr ("lmlab compare: %s — %u runs, %s level, vocabulary %u; %s train / %s "
                      "valid / %s test tokens -> %s\n",
                      c->experiment->name, ev->n_runs, lm_level_name (c->corpus.level),
                      c->corpus.vocab_size, train, valid, test, c->run_dir);
        }
      break;
    case LM_COMPARE_EVENT_RUN_START:
      if (!ui->quiet)
        {
          double eta = eta_seconds (ui, c, ev->index);
          g_autofree char *eta_text = lm_progress_format_duration (eta);
          g_printerr ("model %u/%u: %s (%s)%s; comparison ETA %s\n", ev->index + 1, ev->n_runs,
                      ev->run->name, ev->run->klass->name,
                      ev->resumed ? ", resuming its checkpoint" : "",
                      isfinite (eta) ? eta_text : "unknown (a run has no seconds budget)");
        }
      break;
    case LM_COMPARE_EVENT_PHASE:
      if (ui->progress_active)
        lm_progress_clear (&ui->progress);
      {
        g_autofree char *label = g_strdup_printf ("  %s %s", ev->run->name, ev->phase);
        lm_progress_init (&ui->progress, label, ui->quiet);
        ui->progress_active = TRUE;
      }
      break;
    case LM_COMPARE_EVENT_RUN_END:
      {
        const LmCompareRun *cr = ev->outcome;
        double b = run_budget_seconds (cr->run);
        if (cr->status == LM_RUN_FINISHED && b > 0)
          ui->done_wall += cr->wall_seconds, ui->done_budget += b;
        if (ui->quiet)
          break;
        const LmRunResult *r = lm_compare_run_result (cr);
        if (cr->status == LM_RUN_FAILED)
          g_printerr ("model %u/%u: %s FAILED: %s\n", ev->index + 1, ev->n_runs, cr->run->name,
                      cr->error);
        else if (r)
          {
            const LmEvalResult *e = r->has_test ? &r->test : &r->valid;
            g_printerr ("model %u/%u: %s %s: %s perplexity %.2f, %.4f bits/char, trained %.1f s "
                        "(%.0f tokens/s), peak RSS %.0f MiB\n",
                        ev->index + 1, ev->n_runs, cr->run->name,
                        cr->status == LM_RUN_REUSED ? "reused from an earlier run" : "done",
                        r->has_test ? "test" : "valid", e->perplexity, e->bits_per_char,
                        r->train_seconds, r->train_tokens_per_s, r->peak_rss_mib);
          }
      }
      break;
    }
}

static void
on_units (guint64 done, guint64 total, gpointer user_data)
{
  CompareUi *ui = user_data;
  if (ui->progress_active)
    lm_progress_units (done, total, &ui->progress);
}

static void
on_train (const LmTrainProgress *p, gpointer user_data)
{
  CompareUi *ui = user_data;
  if (ui->progress_active)
    lm_progress_train (p, &ui->progress);
}

static char *
default_run_dir (const LmExperiment *e)
{
  return g_build_filename ("runs", e->name, NULL);
}

static char *
command_line (int argc, char **argv)
{
  GString *out = g_string_new ("lmlab compare");
  for (int i = 1; i < argc; i++)
    {
      g_autofree char *q = g_shell_quote (argv[i]);
      g_string_append_printf (out, " %s", strpbrk (argv[i], " '\"$\\") ? q : argv[i]);
    }
  return g_string_free (out, FALSE);
}

int
lm_cmd_compare (int argc, char **argv)
{
  const char *command = "lmlab compare";
  g_autofree char *output = NULL;
  gboolean quiet = FALSE, no_plot = FALSE;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
      "Run directory [default: runs/NAME, NAME from the experiment]", "RUN_DIR" },
    { "no-plot", 0, 0, G_OPTION_ARG_NONE, &no_plot, "Write the figures' scripts but do not "
      "render them", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress on stderr", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
      "[EXPERIMENT.ini] - train, evaluate and compare language models on one corpus");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autofree char *description = g_strdup_printf (
      "Without an experiment file, runs the built-in default: every model family (%s) on\n"
      "the King James Bible at word level in a few minutes (examples/kjv-default.ini).\n"
      "Running the same command again reuses finished models and resumes an interrupted one;\n"
      "Ctrl-C stops cleanly. Every run's options are checked before the first run trains\n"
      "(a refused one: exit status 2, naming its line). The run directory holds\n"
      "summary.tsv/json/md, report.md/html, samples.md, figures/ (gnuplot scripts + data +\n"
      "PNG/SVG) and runs/NAME/ per model.\n"
      "See docs/compare.md for the experiment file.\n"
      "\nExamples:\n"
      "  lmlab compare                                  # the built-in default\n"
      "  lmlab compare examples/b2-ptb.ini -o runs/ptb\n",
      lm_registry_names ());
  g_option_context_set_description (context, description);
  g_autofree char *cmdline = command_line (argc, argv);
  int status = 0;
  if (!lm_cli_parse (context, &argc, &argv, command, &status))
    return status;
  if (argc > 2)
    {
      g_printerr ("%s: one experiment file at most (see lmlab compare --help)\n", command);
      return 2;
    }

  GError *error = NULL;
  LmExperimentParseOptions parse_options = { NULL, argc < 2 };
  g_autoptr (LmExperiment) experiment
      = argc == 2 ? lm_experiment_load (argv[1], &parse_options, &error)
                  : lm_experiment_parse (NULL, lm_experiment_default_text (), &parse_options,
                                         &error);
  if (experiment == NULL)
    return lm_cli_fail (command, error);
  if (!quiet)
    {
      for (guint i = 0; i < experiment->notes->len; i++)
        g_printerr ("lmlab compare: note: %s\n", (const char *) experiment->notes->pdata[i]);
      lm_cli_blas_warning ();
    }
  g_autofree char *run_dir = output ? g_strdup (output) : default_run_dir (experiment);

  CompareUi ui = { 0 };
  ui.quiet = quiet;
  LmCompareHooks hooks = { on_event, on_train, on_units, &ui, &interrupted, FALSE };
  struct sigaction sa = { 0 }, old_int, old_term;
  sa.sa_handler = on_interrupt;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &old_int);
  sigaction (SIGTERM, &sa, &old_term);
  g_autoptr (LmComparison) comparison = NULL;
  gboolean ok = lm_compare_run (experiment, run_dir, &hooks, &comparison, &error);
  sigaction (SIGINT, &old_int, NULL);
  sigaction (SIGTERM, &old_term, NULL);
  if (!ok)
    return lm_cli_fail (command, error);
  if (comparison->cancelled)
    {
      g_printerr ("%s: interrupted; finished models are kept in %s and the interrupted one "
                  "has a checkpoint: run the same command again to resume\n",
                  command, run_dir);
      return 1;
    }

  g_autoptr (GArray) figures = NULL;
  if (!lm_figures_write (comparison, &figures, &error))
    return lm_cli_fail (command, error);
  gboolean rendered = FALSE;
  if (!no_plot)
    {
      guint n = 0;
      if (lm_figures_render (run_dir, &n, &error))
        rendered = TRUE;
      else
        {
          g_printerr ("%s: warning: %s\n", command, error->message);
          g_clear_error (&error);
        }
    }
  LmReportOptions report = { cmdline, figures, rendered };
  if (!lm_report_write (comparison, &report, &error))
    return lm_cli_fail (command, error);

  g_autofree char *table = lm_report_text_table (comparison);
  fputs (table, stdout);
  guint failed = 0;
  for (guint i = 0; i < comparison->runs->len; i++)
    failed += ((LmCompareRun *) comparison->runs->pdata[i])->status == LM_RUN_FAILED;
  g_autofree char *took = lm_progress_format_duration (comparison->seconds);
  printf ("\nReport: %s/report.md (and report.html); figures in %s/figures; took %s\n", run_dir,
          run_dir, took);
  if (failed)
    {
      g_printerr ("%s: %u run(s) failed (see the Notes of the report); run the same command "
                  "again to retry them\n",
                  command, failed);
      return 1;
    }
  return 0;
}

int
lm_cmd_plot (int argc, char **argv)
{
  const char *command = "lmlab plot";
  g_autoptr (GOptionContext) context = g_option_context_new (
      "RUN_DIR - render every figure of a comparison again (PNG and SVG)");
  g_option_context_set_description (
      context, "Runs gnuplot on each RUN_DIR/figures/*.gp in that folder, so an edited script or\n"
               "data file is drawn again without retraining anything.\n"
               "\nExample:\n  lmlab plot runs/kjv-default\n");
  int status = 0;
  if (!lm_cli_parse (context, &argc, &argv, command, &status))
    return status;
  if (argc != 2)
    {
      g_printerr ("%s: usage: lmlab plot RUN_DIR\n", command);
      return 2;
    }
  GError *error = NULL;
  guint n = 0;
  if (!lm_figures_render (argv[1], &n, &error))
    return lm_cli_fail (command, error);
  printf ("rendered %u figure(s) in %s/figures (PNG and SVG)\n", n, argv[1]);
  return 0;
}
