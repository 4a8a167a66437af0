/* cmd-model.c — `lmlab train`, `lmlab eval`, `lmlab generate`: one model at a time.
 *
 * A model directory holds:
 *   model.ckpt     the model (class, config, vocabulary, parameters or tables)
 *   train.ckpt     gradient models: model + optimizer + data position, for --resume
 *   metrics.tsv    gradient models: the learning curve
 *   config.txt     the configuration as run, one key=value per line
 *   train.json     the training report (the keys of `lmlab train --json`)
 */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <glib/gstdio.h>
#include <unistd.h>

#include "core/lm-blas.h"
#include "core/lm-corpus.h"
#include "core/lm-error.h"
#include "core/lm-eval.h"
#include "core/lm-registry.h"
#include "core/lm-sample.h"
#include "core/lm-train.h"
#include "harness/lm-cli.h"
#include "harness/lm-json.h"
#include "harness/lm-progress.h"
#include "ngram/lm-ngram.h"

static gint interrupted = 0; /* set by the signal handler through g_atomic_int_set */

static void
on_interrupt (int signum)
{
  if (g_atomic_int_get (&interrupted))
    signal (signum, SIG_DFL); /* a second Ctrl-C stops at once */
  g_atomic_int_set (&interrupted, 1);
}

double
lm_cli_peak_rss_mib (void)
{
  struct rusage usage;
  if (getrusage (RUSAGE_SELF, &usage) != 0)
    return NAN;
  return usage.ru_maxrss / 1024.0; /* Linux reports KiB */
}

/* ---- configuration from --config and --set ----------------------------------------- */

/* Where `key` of group `group` stands in an INI text: the 1-based line of its last
 * occurrence (the one GKeyFile keeps) and how many times it occurs. With key NULL, the
 * line of the group header. GKeyFile does not say. */
static int
ini_line (const char *text, const char *group, const char *key, int *occurrences)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  gboolean in_group = FALSE;
  int found = 0, count = 0;
  for (int i = 0; lines[i]; i++)
    {
      g_autofree char *line = g_strstrip (g_strdup (lines[i]));
      if (line[0] == '[')
        {
          g_autofree char *name = g_strndup (line + 1, strcspn (line + 1, "]"));
          in_group = g_str_equal (name, group);
          if (in_group && key == NULL)
            found = i + 1, count++;
        }
      else if (in_group && key != NULL && line[0] != '#' && line[0] != ';')
        {
          g_autofree char *k = g_strstrip (g_strndup (line, strcspn (line, "=")));
          if (g_str_equal (k, key))
            found = i + 1, count++;
        }
    }
  if (occurrences)
    *occurrences = count;
  return found;
}

/* Read the [group] of an INI file into config; origins are FILE:LINE. */
gboolean
lm_cli_config_from_ini (LmConfig *config, const char *path, const char *group, GError **error)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, error))
    return FALSE;
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  if (!g_key_file_load_from_data (kf, text, -1, G_KEY_FILE_NONE, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
  for (int g = 0; groups[g]; g++)
    {
      int count;
      int line = ini_line (text, groups[g], NULL, &count);
      if (!g_str_equal (groups[g], group))
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "%s:%d: unknown group [%s]; put hyperparameters under [%s]", path, line,
                       groups[g], group);
          return FALSE;
        }
      if (count > 1)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "%s:%d: group [%s] appears %d times; write it once", path, line,
                       groups[g], count);
          return FALSE;
        }
    }
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (int i = 0; keys && keys[i]; i++)
    {
      int count;
      int line = ini_line (text, group, keys[i], &count);
      if (count > 1)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "%s:%d: %s is set %d times in [%s]; set it once", path, line, keys[i],
                       count, group);
          return FALSE;
        }
      g_autofree char *value = g_key_file_get_value (kf, group, keys[i], NULL);
      g_autofree char *origin = g_strdup_printf ("%s:%d", path, line);
      lm_config_set (config, keys[i], g_strstrip (value), origin);
    }
  return TRUE;
}

/* ---- lmlab train ---------------------------------------------------------------------- */

typedef struct {
  char *model;
  char *train, *valid, *test;
  char *level;
  char *config_file;
  char **sets;
  char *output;
  char *arpa;
  gboolean resume, force, json, quiet, no_eval;
} TrainArgs;

static void
train_args_clear (TrainArgs *a)
{
  g_free (a->model), g_free (a->train), g_free (a->valid), g_free (a->test);
  g_free (a->level), g_free (a->config_file), g_strfreev (a->sets), g_free (a->output);
  g_free (a->arpa);
}

static void
print_eval_human (const char *name, const LmEvalResult *r)
{
  g_autofree char *top1 = isfinite (r->top1_accuracy)
                              ? g_strdup_printf ("%5.1f%%", 100 * r->top1_accuracy)
                              : g_strdup ("    -");
  g_autofree char *top5 = isfinite (r->top5_accuracy)
                              ? g_strdup_printf ("%5.1f%%", 100 * r->top5_accuracy)
                              : g_strdup ("    -");
  printf ("  %-6s %8.3f nats/token  ppl %10.3f  %6.4f bits/char  top1 %s  top5 %s"
          "  (%" G_GUINT64_FORMAT " tokens, %" G_GUINT64_FORMAT " OOV)\n",
          name, r->nats_per_token, r->perplexity, r->bits_per_char, top1, top5, r->tokens,
          r->oov);
  if (r->zero_probability > 0)
    printf ("  %-6s %" G_GUINT64_FORMAT " token(s) got probability 0, so perplexity is infinite "
            "(maximum likelihood gives unseen events nothing: try smoothing=mkn)\n", "",
            r->zero_probability);
}

static void
json_eval (LmJson *j, const char *prefix, const LmEvalResult *r)
{
  char key[64];
#define KEY(name) (g_snprintf (key, sizeof key, "%s%s", prefix, name), key)
  lm_json_int (j, KEY ("tokens"), r->tokens);
  lm_json_int (j, KEY ("oov"), r->oov);
  lm_json_int (j, KEY ("zero_probability_tokens"), r->zero_probability);
  lm_json_double (j, KEY ("nats_per_token"), r->nats_per_token);
  lm_json_double (j, KEY ("perplexity"), r->perplexity);
  lm_json_double (j, KEY ("bits_per_token"), r->bits_per_token);
  lm_json_double (j, KEY ("bits_per_char"), r->bits_per_char);
  lm_json_double (j, KEY ("top1_accuracy"), r->top1_accuracy);
  lm_json_double (j, KEY ("top5_accuracy"), r->top5_accuracy);
  lm_json_double (j, KEY ("macro_f1"), r->macro_f1);
#undef KEY
}

static gboolean
evaluate_stream (LmModel *model, const LmTokenStream *stream, const char *label, gboolean quiet,
                 gboolean accuracy, LmEvalResult *result, GError **error)
{
  LmProgress progress;
  lm_progress_init (&progress, label, quiet);
  gboolean ok = lm_eval_model_ex (model, stream, accuracy, lm_progress_units, &progress, result,
                                  error);
  lm_progress_clear (&progress);
  return ok;
}

static int
run_train (TrainArgs *a)
{
  const char *command = "lmlab train";
  GError *error = NULL;
  if (a->model == NULL || a->train == NULL || a->output == NULL)
    {
      g_printerr ("%s: --model, --train and -o are required (see lmlab train --help)\n", command);
      return 2;
    }
  const LmModelClass *klass = lm_registry_lookup (a->model, &error);
  LmLevel level;
  if (klass == NULL || !lm_level_parse (a->level ? a->level : "word", &level, &error))
    return lm_cli_fail (command, error);
  if (a->arpa && klass != &lm_ngram_class)
    {
      g_printerr ("%s: --arpa is for n-gram models; '%s' has no ARPA form\n", command,
                  klass->name);
      return 2;
    }
  /* checked now, not when the model is saved and the ARPA file alone cannot be written */
  int arpa_status = a->arpa ? lm_cli_check_output_file (command, a->arpa, a->force) : 0;
  if (arpa_status != 0)
    return arpa_status;

  /* Hyperparameters: the file first, then --set in order (later wins). */
  g_autoptr (LmConfig) config = lm_config_new ();
  if (a->config_file && !lm_cli_config_from_ini (config, a->config_file, "model", &error))
    return lm_cli_fail (command, error);
  for (int i = 0; a->sets && a->sets[i]; i++)
    if (!lm_config_set_assignment (config, a->sets[i], "--set", &error))
      return lm_cli_fail (command, error);
  g_autoptr (LmConfig) corpus_config = lm_config_extract (config, lm_corpus_options);
  const LmOptionSpec *corpus_tables[] = { lm_corpus_options, NULL };
  if (!lm_config_validate (corpus_config, corpus_tables, &error))
    return lm_cli_fail (command, error);

  /* Never overwrite a finished model by accident, and resume only what can be resumed. */
  if (*a->output == '\0')
    {
      g_printerr ("%s: -o needs a directory name\n", command);
      return 2;
    }
  g_autofree char *model_path = g_build_filename (a->output, "model.ckpt", NULL);
  g_autofree char *train_ckpt = g_build_filename (a->output, "train.ckpt", NULL);
  g_autofree char *report_path = g_build_filename (a->output, "train.json", NULL);
  g_autofree char *metrics_path = g_build_filename (a->output, "metrics.tsv", NULL);
  g_autofree char *config_path = g_build_filename (a->output, "config.txt", NULL);
  if (a->resume && a->force)
    {
      g_printerr ("%s: --resume continues a training, --force starts it again: pass one\n",
                  command);
      return 2;
    }
  if (a->resume && !(klass->capabilities & LM_CAP_GRADIENT))
    {
      g_printerr ("%s: %s models are estimated in one pass; there is nothing to resume\n",
                  command, klass->name);
      return 2;
    }
  if (a->resume && !g_file_test (train_ckpt, G_FILE_TEST_EXISTS))
    {
      g_printerr ("%s: nothing to resume: %s has no train.ckpt (start without --resume)\n",
                  command, a->output);
      return 2;
    }
  if (g_file_test (model_path, G_FILE_TEST_EXISTS) && !a->force && !a->resume)
    {
      g_printerr ("%s: %s already holds a model; pass --force to replace it or --resume to "
                  "continue its training\n", command, a->output);
      return 2;
    }
  /* An interrupted training leaves train.ckpt and no model.ckpt: starting again without
   * --resume would overwrite hours of it (and another model's run would share its folder) */
  if (g_file_test (train_ckpt, G_FILE_TEST_EXISTS) && !a->force && !a->resume)
    {
      g_printerr ("%s: %s holds an unfinished training (train.ckpt); pass --resume to "
                  "continue it or --force to start again\n", command, a->output);
      return 2;
    }
  if (g_file_test (a->output, G_FILE_TEST_EXISTS) && !g_file_test (a->output, G_FILE_TEST_IS_DIR))
    {
      g_printerr ("%s: %s exists and is not a directory\n", command, a->output);
      return 2;
    }

  LmCorpusSpec spec;
  lm_corpus_spec_init (&spec, level);
  spec.train_path = a->train;
  spec.valid_path = a->valid;
  spec.test_path = a->test;
  lm_corpus_spec_configure (&spec, corpus_config);
  g_autoptr (LmCorpus) corpus = NULL;
  if (!lm_corpus_load (&spec, &corpus, &error))
    return lm_cli_fail (command, error);

  g_autoptr (LmModel) model = lm_model_new (klass, config, corpus->vocab, &error);
  if (model == NULL)
    return lm_cli_fail (command, error);
  if (g_mkdir_with_parents (a->output, 0755) != 0)
    {
      g_printerr ("%s: cannot create %s: %s\n", command, a->output, g_strerror (errno));
      return 2;
    }
  if (a->force)
    {
      /* Starting again: nothing of the earlier run may stay to describe the new one, nor
       * be loaded as its model if this run fails or is interrupted before it saves */
      g_unlink (model_path);
      g_unlink (config_path);
      g_unlink (report_path);
      g_unlink (metrics_path);
      g_unlink (train_ckpt);
    }
  lm_blas_set_threads ((int) lm_config_get_int (model->config, "threads"));
  if (!a->quiet)
    lm_cli_blas_warning ();

  LmModelInfo info;
  lm_model_describe (model, &info);
  if (!a->quiet)
    {
      g_autofree char *blas = lm_blas_describe ();
      g_autofree char *params = lm_model_has (model, LM_CAP_GRADIENT)
                                    ? g_strdup_printf (", %" G_GUINT64_FORMAT " parameters",
                                                       info.n_params)
                                    : g_strdup ("");
      g_printerr ("lmlab train: %s %s%s, vocabulary %u (%s level); %zu training tokens; %s\n",
                  klass->name, info.summary, params, lm_vocab_size (corpus->vocab),
                  lm_level_name (level), corpus->stream[LM_PART_TRAIN]->n_tokens, blas);
    }

  signal (SIGINT, on_interrupt);
  signal (SIGTERM, on_interrupt);
  LmTrainResult tr = { .best_step = -1 };
  tr.valid_loss = NAN;
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok;
  LmProgress progress;
  lm_progress_init (&progress, a->model, a->quiet);
  if (lm_model_has (model, LM_CAP_FIT))
    {
      const LmTokenStream *train = corpus->stream[LM_PART_TRAIN];
      ok = lm_model_fit (model, train->tokens, train->n_tokens, lm_progress_units, &progress,
                         &error);
      /* one pass over the text and no gradient step: the same record compare keeps
       * (steps 0, epochs 1), and no training loss rather than a made-up 0 */
      tr.steps = 0;
      tr.epochs = 1;
      tr.train_loss = NAN;
      tr.tokens = train->n_tokens;
      tr.seconds = (g_get_monotonic_time () - t0) / 1e6;
      tr.tokens_per_s = tr.seconds > 0 ? tr.tokens / tr.seconds : 0;
    }
  else
    {
      LmTrainSetup setup = {
        .model = model,
        .train = corpus->stream[LM_PART_TRAIN],
        .valid = corpus->stream[LM_PART_VALID],
        .checkpoint_path = train_ckpt,
        .resume = a->resume,
        .metrics_path = metrics_path,
        .progress = lm_progress_train,
        .user_data = &progress,
        .cancel = &interrupted,
      };
      ok = lm_train_run (&setup, &tr, &error);
    }
  lm_progress_clear (&progress);
  if (!ok)
    {
      lm_model_info_clear (&info);
      return lm_cli_fail (command, error);
    }
  if (!tr.cancelled && g_atomic_int_get (&interrupted) && lm_model_has (model, LM_CAP_FIT))
    {
      g_printerr ("%s: interrupted; nothing was saved (an n-gram model is estimated in one "
                  "pass: run the command again)\n", command);
      lm_model_info_clear (&info);
      return 1;
    }
  if (tr.cancelled)
    {
      g_printerr ("%s: interrupted at step %" G_GINT64_FORMAT "; the checkpoint %s is saved: run "
                  "the same command with --resume to continue\n", command, tr.steps, train_ckpt);
      lm_model_info_clear (&info);
      return 1;
    }
  /* Count-based models know their size only now. */
  lm_model_info_clear (&info);
  lm_model_describe (model, &info);
  if (!lm_model_save (model, model_path, &error))
    {
      lm_model_info_clear (&info);
      return lm_cli_fail (command, error);
    }
  g_autofree char *config_text = lm_config_to_text (model->config);
  g_autofree char *corpus_text = lm_config_to_text (corpus_config);
  g_autofree char *config_all = g_strdup_printf ("# lmlab %s, model %s, level %s\n%s%s",
                                                 PACKAGE_VERSION, klass->name,
                                                 lm_level_name (level), config_text, corpus_text);
  if (!g_file_set_contents (config_path, config_all, -1, &error))
    {
      lm_model_info_clear (&info);
      return lm_cli_fail (command, error);
    }
  /* After config.txt, so the folder the hint names is complete enough to export from. */
  if (a->arpa && !lm_ngram_write_arpa (model, a->arpa, a->force, &error))
    {
      lm_model_info_clear (&info);
      int status = lm_cli_fail (command, error);
      g_printerr ("%s: the model is saved in %s; `lmlab ngram export-arpa %s FILE.arpa` "
                  "writes its ARPA file\n", command, a->output, a->output);
      return status;
    }

  /* Evaluate on the held-out parts with the same scorer `lmlab eval` uses. */
  LmEvalResult valid = { 0 }, test = { 0 };
  gboolean have_valid = corpus->stream[LM_PART_VALID] != NULL && !a->no_eval;
  gboolean have_test = corpus->stream[LM_PART_TEST] != NULL && !a->no_eval;
  if ((have_valid && !evaluate_stream (model, corpus->stream[LM_PART_VALID], "valid", a->quiet,
                                       TRUE, &valid, &error))
      || (have_test && !evaluate_stream (model, corpus->stream[LM_PART_TEST], "test", a->quiet,
                                         TRUE, &test, &error)))
    {
      lm_model_info_clear (&info);
      return lm_cli_fail (command, error);
    }

  /* Only a trained model can diverge (an n-gram model's infinite perplexity is explained
   * where it is scored), and a few steps land near the uniform loss either way: a 10%
   * margin keeps the warning for real divergence. */
  double uniform = log ((double) lm_vocab_size (corpus->vocab));
  if (have_valid && lm_model_has (model, LM_CAP_GRADIENT)
      && valid.nats_per_token > 1.1 * uniform)
    g_printerr ("%s: warning: the validation loss %.3f nats/token is worse than a uniform guess "
                "over the vocabulary (%.3f): training diverged; lower lr or set clip\n",
                command, valid.nats_per_token, uniform);
  signal (SIGINT, SIG_DFL);
  signal (SIGTERM, SIG_DFL);
  if (g_atomic_int_get (&interrupted))
    {
      g_printerr ("%s: interrupted while scoring the held-out text; the model is saved in %s "
                  "but train.json was not written (lmlab eval scores it)\n", command,
                  model_path);
      lm_model_info_clear (&info);
      return 1;
    }
  LmBlasInfo blas;
  lm_blas_info_get (&blas);
  LmJson j;
  lm_json_init (&j, TRUE);
  lm_json_begin_object (&j, NULL);
  lm_json_string (&j, "model", klass->name);
  lm_json_string (&j, "summary", info.summary);
  lm_json_string (&j, "level", lm_level_name (level));
  lm_json_int (&j, "vocab_size", lm_vocab_size (corpus->vocab));
  lm_json_int (&j, "params", info.n_params);
  lm_json_int (&j, "model_bytes", info.bytes);
  GStatBuf st;
  lm_json_int (&j, "model_file_bytes", g_stat (model_path, &st) == 0 ? (gint64) st.st_size : -1);
  lm_json_double (&j, "forward_flops_per_token", info.forward_flops);
  lm_json_int (&j, "steps", tr.steps);
  lm_json_int (&j, "epochs", tr.epochs);
  lm_json_int (&j, "train_tokens", tr.tokens);
  lm_json_double (&j, "train_seconds", tr.seconds);
  lm_json_double (&j, "train_tokens_per_s", tr.tokens_per_s);
  lm_json_double (&j, "train_loss", tr.train_loss);
  lm_json_double (&j, "valid_loss", have_valid ? valid.nats_per_token : NAN);
  if (have_valid)
    json_eval (&j, "valid_", &valid); /* valid_perplexity among them */
  else
    lm_json_double (&j, "valid_perplexity", NAN);
  if (have_test)
    json_eval (&j, "test_", &test);
  lm_json_int (&j, "nonfinite_steps", tr.nonfinite_steps);
  lm_json_bool (&j, "resumed", tr.resumed);
  lm_json_bool (&j, "stopped_early", tr.stopped_early);
  lm_json_int (&j, "best_step", tr.best_step);
  lm_json_double (&j, "peak_rss_mib", lm_cli_peak_rss_mib ());
  lm_json_string (&j, "blas_kernel", blas.kernel);
  lm_json_bool (&j, "blas_fallback", blas.fallback);
  lm_json_int (&j, "threads", blas.blas_threads);
  lm_json_end_object (&j);
  g_autofree char *report = lm_json_finish (&j);
  if (!g_file_set_contents (report_path, report, -1, &error))
    {
      lm_blas_info_clear (&blas);
      lm_model_info_clear (&info);
      return lm_cli_fail (command, error);
    }
  if (a->json)
    fputs (report, stdout);
  else
    {
      printf ("%s\n", info.summary);
      g_autofree char *steps = lm_model_has (model, LM_CAP_FIT)
                                   ? g_strdup ("one pass")
                                   : g_strdup_printf ("%" G_GINT64_FORMAT " steps", tr.steps);
      printf ("  trained on %" G_GINT64_FORMAT " tokens in %.2f s (%.0f tokens/s), %s; peak "
              "RSS %.1f MiB; %s kernel, %d threads\n", tr.tokens, tr.seconds, tr.tokens_per_s,
              steps, lm_cli_peak_rss_mib (), blas.kernel, blas.blas_threads);
      if (tr.stopped_early)
        printf ("  stopped early: %s validations in a row without improvement\n",
                lm_config_get (model->config, "early_stop"));
      if (tr.best_step >= 0)
        printf ("  kept the parameters of step %" G_GINT64_FORMAT ", the best validation "
                "(keep_best)\n", tr.best_step);
      if (have_valid)
        print_eval_human ("valid", &valid);
      if (have_test)
        print_eval_human ("test", &test);
      printf ("  saved %s\n", model_path);
    }
  lm_blas_info_clear (&blas);
  lm_model_info_clear (&info);
  return 0;
}

static gboolean
spec_equal (const LmOptionSpec *a, const LmOptionSpec *b)
{
  return g_strcmp0 (a->name, b->name) == 0 && a->type == b->type
         && g_strcmp0 (a->default_value, b->default_value) == 0 && a->min == b->min
         && a->max == b->max && g_strcmp0 (a->choices, b->choices) == 0
         && g_strcmp0 (a->help, b->help) == 0 && a->runtime == b->runtime;
}

/* How many leading options two tables have in common, spec for spec. */
static gsize
shared_prefix (const LmOptionSpec *a, const LmOptionSpec *b)
{
  gsize n = 0;
  while (a[n].name != NULL && b[n].name != NULL && spec_equal (&a[n], &b[n]))
    n++;
  return n;
}

/* Every model's options for train --help, each listed once: classes that start with the
 * same options (rnn, lstm and gru share the stacked recurrent model's) get them in one
 * group, and then only what each adds. Found from the tables, so a family that starts
 * sharing (or stops) is listed right without a change here. */
static void
describe_model_options (GString *out)
{
  const LmModelClass *const *classes = lm_registry_classes ();
  gsize n_classes = 0;
  while (classes[n_classes])
    n_classes++;
  g_autofree gboolean *done = g_new0 (gboolean, n_classes);
  for (gsize i = 0; i < n_classes; i++)
    {
      if (done[i])
        continue;
      /* The classes after i that share at least two leading options with it. */
      g_autoptr (GArray) group = g_array_new (FALSE, FALSE, sizeof (gsize));
      g_array_append_val (group, i);
      gsize shared = G_MAXSIZE;
      for (gsize j = i + 1; j < n_classes; j++)
        {
          gsize n = shared_prefix (classes[i]->options, classes[j]->options);
          if (!done[j] && n >= 2)
            {
              g_array_append_val (group, j);
              shared = MIN (shared, n);
            }
        }
      if (group->len == 1)
        {
          g_string_append_printf (out, " %s (%s):\n", classes[i]->name, classes[i]->description);
          lm_option_specs_describe (classes[i]->options, out);
          done[i] = TRUE;
          continue;
        }
      g_autoptr (GString) names = g_string_new (NULL);
      for (guint g = 0; g < group->len; g++)
        g_string_append_printf (names, "%s%s", g ? ", " : "",
                                classes[g_array_index (group, gsize, g)]->name);
      g_string_append_printf (out, " %s (the options they share):\n", names->str);
      g_autofree LmOptionSpec *common = g_new0 (LmOptionSpec, shared + 1);
      memcpy (common, classes[i]->options, shared * sizeof (LmOptionSpec));
      lm_option_specs_describe (common, out);
      for (guint g = 0; g < group->len; g++)
        {
          gsize k = g_array_index (group, gsize, g);
          const LmOptionSpec *own = classes[k]->options + shared;
          g_string_append_printf (out, " %s (%s): the shared options%s\n", classes[k]->name,
                                  classes[k]->description, own->name ? ", and" : "");
          lm_option_specs_describe (own, out);
          done[k] = TRUE;
        }
    }
}

static int
cmd_train (int argc, char **argv)
{
  TrainArgs a = { 0 };
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_STRING, &a.model, "Model family (required)", "NAME" },
    { "train", 0, 0, G_OPTION_ARG_FILENAME, &a.train, "Training text (required)", "FILE" },
    { "valid", 0, 0, G_OPTION_ARG_FILENAME, &a.valid,
      "Validation text [default: the last valid_fraction=0.1 of the training file]", "FILE" },
    { "test", 0, 0, G_OPTION_ARG_FILENAME, &a.test, "Test text [default: none]", "FILE" },
    { "level", 'l', 0, G_OPTION_ARG_STRING, &a.level, "word, char or byte [default: word]",
      "LEVEL" },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &a.config_file,
      "INI file with hyperparameters under [model]", "FILE.ini" },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &a.sets,
      "A hyperparameter, repeatable (see the list below)", "KEY=VALUE" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &a.output, "Model directory to write (required)",
      "DIR" },
    { "resume", 0, 0, G_OPTION_ARG_NONE, &a.resume,
      "Continue an interrupted training from DIR/train.ckpt", NULL },
    { "force", 0, 0, G_OPTION_ARG_NONE, &a.force,
      "Start again in DIR, deleting its model or unfinished training first", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &a.json, "Print the report as one JSON object", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &a.quiet, "No progress on stderr", NULL },
    { "arpa", 0, 0, G_OPTION_ARG_FILENAME, &a.arpa,
      "n-gram: also write the model as an ARPA file (as KenLM's lmplz does)", "FILE.arpa" },
    { "no-eval", 0, 0, G_OPTION_ARG_NONE, &a.no_eval,
      "Skip scoring the valid/test texts after training", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- train one language model");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GString) description = g_string_new (NULL);
  g_string_append (description, "Hyperparameters (--set KEY=VALUE) [default]:\n every model:\n");
  lm_option_specs_describe (lm_model_common_options, description);
  g_string_append (description, " corpus:\n");
  lm_option_specs_describe (lm_corpus_options, description);
  describe_model_options (description);
  g_string_append (description, " training (gradient models):\n");
  lm_option_specs_describe (lm_train_options, description);
  g_string_append (description,
                   "\nExamples:\n"
                   "  lmlab train --model ngram --train data/kjv.txt --set order=5 -o runs/kjv-5gram\n"
                   "  lmlab train --model lstm --train input.txt --level char --set hidden=128 \\\n"
                   "      --set context=50 --set batch=50 --set lr=2e-3 --set steps=2000 -o runs/lstm\n");
  g_option_context_set_description (context, description->str);
  int status = 0;
  if (!lm_cli_parse (context, &argc, &argv, "lmlab train", &status))
    {
      train_args_clear (&a);
      return status;
    }
  if (argc > 1)
    {
      g_printerr ("lmlab train: unexpected argument '%s' (see lmlab train --help)\n", argv[1]);
      train_args_clear (&a);
      return 2;
    }
  status = run_train (&a);
  train_args_clear (&a);
  return status;
}

/* ---- lmlab eval ------------------------------------------------------------------------------ */

LmModel *
lm_cli_load_model_dir (const char *dir, GError **error)
{
  return lm_cli_load_model_dir_with (dir, NULL, error);
}

LmModel *
lm_cli_load_model_dir_with (const char *dir, char **sets, GError **error)
{
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s is not a model directory", dir);
      return NULL;
    }
  g_autofree char *path = g_build_filename (dir, "model.ckpt", NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO,
                   "%s has no model.ckpt (was training finished? lmlab train -o %s)", dir, dir);
      return NULL;
    }
  g_autoptr (LmConfig) overrides = lm_config_new ();
  for (int i = 0; sets && sets[i]; i++)
    if (!lm_config_set_assignment (overrides, sets[i], "--set", error))
      return NULL;
  return lm_model_load_with (path, overrides, error);
}

static int
cmd_eval (int argc, char **argv)
{
  const char *command = "lmlab eval";
  g_autofree char *test_path = NULL;
  gboolean json = FALSE, quiet = FALSE, no_accuracy = FALSE;
  g_auto (GStrv) sets = NULL;
  GOptionEntry entries[] = {
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets,
      "Change how the model evaluates, e.g. eval_mode=sliding or threads=1", "KEY=VALUE" },
    { "test", 't', 0, G_OPTION_ARG_FILENAME, &test_path, "Text to score (required)", "FILE" },
    { "no-accuracy", 0, 0, G_OPTION_ARG_NONE, &no_accuracy,
      "Perplexity only: skip top-k accuracy and F1 (much faster for n-grams)", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress on stderr", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("MODEL_DIR - score a text");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
      context,
      "Reports tokens, OOV, nats/token, perplexity, bits/token, bits/char, top-1 and top-5\n"
      "next-token accuracy and macro F1. The text is tokenized with the model's vocabulary.\n"
      "\nExamples:\n  lmlab eval runs/kjv-5gram --test held-out.txt --json\n"
      "  lmlab eval runs/gpt --test valid.txt --set eval_mode=sliding --set eval_stride=1\n");
  int status = 0;
  if (!lm_cli_parse (context, &argc, &argv, command, &status))
    return status;
  if (argc != 2 || test_path == NULL)
    {
      g_printerr ("%s: usage: lmlab eval MODEL_DIR --test FILE [--json] [--no-accuracy] "
                  "[--set KEY=VALUE]\n", command);
      return 2;
    }
  GError *error = NULL;
  g_autoptr (LmModel) model = lm_cli_load_model_dir_with (argv[1], sets, &error);
  if (model == NULL)
    return lm_cli_fail (command, error);
  lm_blas_set_threads ((int) lm_config_get_int (model->config, "threads"));
  g_autoptr (LmText) text = NULL;
  if (!lm_text_read (test_path, &text, &error))
    return lm_cli_fail (command, error);
  g_autoptr (LmTokenStream) stream = lm_token_stream_encode (model->vocab, text);
  if (!lm_token_stream_check (stream, text, &error))
    return lm_cli_fail (command, error);
  if (stream->n_tokens == 0)
    {
      g_printerr ("%s: %s has no tokens\n", command, test_path);
      return 2;
    }
  LmEvalResult r;
  gint64 t0 = g_get_monotonic_time ();
  if (!evaluate_stream (model, stream, "eval", quiet, !no_accuracy, &r, &error))
    return lm_cli_fail (command, error);
  double seconds = (g_get_monotonic_time () - t0) / 1e6;
  if (json)
    {
      LmJson j;
      lm_json_init (&j, TRUE);
      lm_json_begin_object (&j, NULL);
      lm_json_string (&j, "model", model->klass->name);
      json_eval (&j, "", &r);
      lm_json_int (&j, "characters", r.characters);
      lm_json_double (&j, "macro_precision", r.macro_precision);
      lm_json_double (&j, "macro_recall", r.macro_recall);
      lm_json_double (&j, "eval_seconds", seconds);
      lm_json_double (&j, "eval_tokens_per_s", seconds > 0 ? r.tokens / seconds : NAN);
      lm_json_end_object (&j);
      g_autofree char *out = lm_json_finish (&j);
      fputs (out, stdout);
    }
  else
    {
      printf ("%s on %s\n", model->klass->name, test_path);
      print_eval_human ("test", &r);
      printf ("  scored %.0f tokens/s\n", seconds > 0 ? r.tokens / seconds : NAN);
    }
  return 0;
}

/* ---- lmlab generate ------------------------------------------------------------------------------ */

/* Decoded text on its way to stdout. lm_vocab_decode looks at the last character
 * written (a word follows a space unless a line just ended), so that character stays in
 * text after a flush, with `printed` marking how much of text is out already. */
typedef struct {
  const LmVocab *vocab;
  GString *text;
  gsize printed;
  gboolean each; /* flush after every id (a terminal), else in blocks of ~4 KB */
  gsize n_ids;
} Printer;

static void
printer_flush (Printer *p)
{
  fwrite (p->text->str + p->printed, 1, p->text->len - p->printed, stdout);
  fflush (stdout);
  if (p->text->len > 1)
    g_string_erase (p->text, 0, (gssize) p->text->len - 1);
  p->printed = p->text->len;
}

static gboolean
print_id (gint32 id, gpointer user_data)
{
  Printer *p = user_data;
  lm_vocab_decode (p->vocab, &id, 1, p->text);
  p->n_ids++;
  if (p->each || p->text->len >= 4096)
    printer_flush (p);
  /* stop on Ctrl-C, and when the output cannot be written (a full disk) */
  return !g_atomic_int_get (&interrupted) && !ferror (stdout);
}

static int
cmd_generate (int argc, char **argv)
{
  const char *command = "lmlab generate";
  g_autofree char *prompt = NULL;
  int tokens = 100, top_k = 0;
  double temperature = 1.0, top_p = 1.0;
  gint64 seed = 1;
  g_auto (GStrv) sets = NULL;
  GOptionEntry entries[] = {
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, "Change a runtime setting, e.g. threads=1",
      "KEY=VALUE" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "Text to continue [default: none]", "TEXT" },
    { "tokens", 'n', 0, G_OPTION_ARG_INT, &tokens, "Tokens to generate [default: 100]", "N" },
    { "temperature", 0, 0, G_OPTION_ARG_DOUBLE, &temperature,
      "Sampling temperature; 0 = always the most probable [default: 1]", "T" },
    { "top-k", 0, 0, G_OPTION_ARG_INT, &top_k, "Sample among the K most probable; 0 = all "
      "[default: 0]", "K" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &top_p, "Sample within probability mass P "
      "[default: 1]", "P" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed [default: 1]", "S" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("MODEL_DIR - generate text");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
      context,
      "Prints the prompt and its continuation as it is generated (Ctrl-C stops and keeps\n"
      "what was printed). At word level <unk> is a word like any other\n"
      "and prints as <unk>. At char and byte level <unk> stands for no particular character,\n"
      "so it is never sampled (the others share its probability) and the prompt prints as\n"
      "given, even where its characters are not in the vocabulary.\n"
      "\nExample:\n  lmlab generate runs/kjv-5gram --prompt \"In the beginning\" "
      "--tokens 40 --temperature 0.8 --seed 7\n");
  int status = 0;
  if (!lm_cli_parse (context, &argc, &argv, command, &status))
    return status;
  if (argc != 2)
    {
      g_printerr ("%s: usage: lmlab generate MODEL_DIR [--prompt TEXT] [--tokens N] ...\n",
                  command);
      return 2;
    }
  if (tokens < 0 || top_k < 0 || seed < 0)
    {
      g_printerr ("%s: --tokens, --top-k and --seed must be >= 0\n", command);
      return 2;
    }
  GError *error = NULL;
  g_autoptr (LmSampler) sampler = lm_sampler_new (temperature, (guint) top_k, top_p,
                                                  (guint64) seed, &error);
  if (sampler == NULL)
    return lm_cli_fail (command, error);
  g_autoptr (LmModel) model = lm_cli_load_model_dir_with (argv[1], sets, &error);
  if (model == NULL)
    return lm_cli_fail (command, error);
  lm_blas_set_threads ((int) lm_config_get_int (model->config, "threads"));
  if (!lm_model_has (model, LM_CAP_STREAM))
    {
      g_printerr ("%s: model '%s' cannot generate\n", command, model->klass->name);
      return 2;
    }
  /* Below word level <unk> is any character the vocabulary left out: there is no one
   * character to print for it, and U+FFFD would look like text the model wrote. */
  gboolean word_level = lm_vocab_level (model->vocab) == LM_LEVEL_WORD;
  if (!word_level)
    lm_sampler_ban (sampler, LM_TOKEN_UNK);
  gsize n_prompt = 0, n_oov = 0;
  g_autofree gint32 *prompt_ids = NULL;
  if (prompt && *prompt)
    {
      if (!g_utf8_validate (prompt, -1, NULL))
        {
          g_printerr ("%s: --prompt is not valid UTF-8\n", command);
          return 2;
        }
      prompt_ids = lm_vocab_encode (model->vocab, prompt, strlen (prompt), &n_prompt, &n_oov,
                                    NULL);
      if (n_oov > 0)
        g_printerr ("%s: warning: %zu prompt token(s) are not in the vocabulary and become "
                    "<unk>\n", command, n_oov);
    }
  /* The text goes out as it is sampled, so memory stays flat however many tokens are
   * asked for, a terminal shows each word as it comes, and Ctrl-C keeps what was made. */
  g_autoptr (GString) text = g_string_new (NULL);
  Printer printer = { model->vocab, text, 0, isatty (STDOUT_FILENO), 0 };
  if (n_prompt && word_level)
    lm_vocab_decode (model->vocab, prompt_ids, n_prompt, text);
  else if (n_prompt)
    g_string_append (text, prompt);
  /* (the prompt goes out with the first id: a prompt lm_generate_each refuses prints
   * nothing) */
  signal (SIGINT, on_interrupt);
  gboolean ok = lm_generate_each (model, sampler, prompt_ids, n_prompt, (gsize) tokens,
                                  print_id, &printer, &error);
  signal (SIGINT, SIG_DFL);
  if (ok || printer.n_ids > 0) /* what was made before an error stays printed */
    {
      printer_flush (&printer);
      if (text->len == 0 || text->str[text->len - 1] != '\n')
        fputc ('\n', stdout);
      fflush (stdout);
    }
  if (!ok)
    return lm_cli_fail (command, error);
  if (ferror (stdout))
    {
      g_printerr ("%s: cannot write the generated text (after %" G_GSIZE_FORMAT " of %d "
                  "tokens): %s\n", command, printer.n_ids, tokens, g_strerror (errno));
      return 1;
    }
  if (g_atomic_int_get (&interrupted))
    {
      g_printerr ("%s: interrupted after %" G_GSIZE_FORMAT " of %d tokens\n", command,
                  printer.n_ids, tokens);
      return 1;
    }
  return 0;
}

int
lm_cmd_train (int argc, char **argv)
{
  return cmd_train (argc, argv);
}

int
lm_cmd_eval (int argc, char **argv)
{
  return cmd_eval (argc, argv);
}

int
lm_cmd_generate (int argc, char **argv)
{
  return cmd_generate (argc, argv);
}
