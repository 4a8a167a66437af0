/* transformer-step.c — time a model's training step (forward, backward, clipping,
 * optimizer) on random tokens, for profiling the model without the trainer. The passes over
 * every parameter (zeroing, norm, clip and step) are the trainer's own calls, on as many
 * threads as the trainer gives them (core/lm-train.c), so their share is the trainer's;
 * the optimizer is the configuration's (optimizer=sgd, adam, ...; its lr does not
 * matter here, the step uses 1e-3).
 *
 *   bench/transformer-step [model=NAME] [vocab=V] [steps=N] [KEY=VALUE ...]
 *
 * NAME is any neural model (transformer by default: rnn, lstm, gru too); the other keys
 * are the model's and the trainer's (batch, context, threads, d, hidden, ...).
 *
 * Prints one line: tokens/s and milliseconds per step in forward / backward / optimizer,
 * each the median over the steps (on a shared machine a few slow steps would otherwise
 * decide a mean).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-blas.h"
#include "core/lm-model.h"
#include "core/lm-optim.h"
#include "core/lm-params.h"
#include "core/lm-registry.h"
#include "transformer/lm-transformer.h"

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (double *x, int n)
{
  qsort (x, n, sizeof *x, compare_doubles);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmConfig) config = lm_config_new ();
  int steps = 50, V = 65;
  const LmModelClass *klass = &lm_transformer_class;
  for (int i = 1; i < argc; i++)
    if (g_str_has_prefix (argv[i], "model="))
      {
        if ((klass = lm_registry_lookup (argv[i] + 6, &error)) == NULL)
          {
            fprintf (stderr, "%s\n", error->message);
            return 2;
          }
      }
    else if (g_str_has_prefix (argv[i], "steps="))
      steps = atoi (argv[i] + 6);
    else if (g_str_has_prefix (argv[i], "vocab="))
      V = atoi (argv[i] + 6);
    else if (!lm_config_set_assignment (config, argv[i], "argv", &error))
      {
        fprintf (stderr, "%s\n", error->message);
        return 2;
      }
  GString *text = g_string_new (NULL);
  for (int v = 0; v < V - LM_N_SPECIAL; v++)
    g_string_append_printf (text, "w%d ", v);
  LmVocabLimits limits = { 1, 0 };
  g_autoptr (LmVocab) vocab = lm_vocab_build (LM_LEVEL_WORD, text->str, text->len, &limits);
  g_string_free (text, TRUE);
  g_autoptr (LmModel) model = lm_model_new (klass, config, vocab, &error);
  if (model == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 2;
    }
  lm_blas_set_threads ((int) lm_config_get_int (model->config, "threads"));
  /* asked before prepare(), as the trainer does: a model may set the BLAS to one thread */
  g_autoptr (LmParallel) parallel = lm_parallel_new (lm_blas_threads ());
  int B = (int) lm_config_get_int (model->config, "batch");
  int T = (int) lm_config_get_int (model->config, "context");
  V = (int) lm_vocab_size (vocab);
  if (!model->klass->prepare (model, B, T, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  LmParams *params = model->klass->parameters (model);
  /* the optimizer the configuration names (optimizer=sgd for B2's recurrent models) */
  LmOptimConfig oc;
  LmOptimKind kind;
  const char *optim_name = lm_config_get_string (model->config, "optimizer");
  if (!lm_optim_kind_from_name (optim_name, &kind, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 2;
    }
  lm_optim_config_init (&oc, kind);
  g_autoptr (LmOptimizer) optimizer = lm_optimizer_new (&oc, params, &error);
  optimizer->parallel = parallel;
  LmRng rng;
  lm_rng_seed (&rng, 1);
  g_autofree gint32 *tokens = g_new (gint32, (gsize) B * (T + 1));
  g_autofree gint32 *inputs = g_new (gint32, (gsize) B * T);
  g_autofree gint32 *targets = g_new (gint32, (gsize) B * T);
  steps = MAX (steps, 1);
  g_autofree double *t_fwd = g_new (double, steps), *t_bwd = g_new (double, steps);
  g_autofree double *t_opt = g_new (double, steps), *t_all = g_new (double, steps);
  double loss = 0;
  int warm = 3;
  for (int step = 0; step < steps + warm; step++)
    {
      for (int i = 0; i < B * (T + 1); i++)
        tokens[i] = 1 + (gint32) lm_rng_below (&rng, (guint64) V - 1);
      for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
          {
            inputs[b * T + t] = tokens[b * (T + 1) + t];
            targets[b * T + t] = tokens[b * (T + 1) + t + 1];
          }
      LmBatch batch = { inputs, targets, B, T, TRUE, &rng };
      gint64 t0 = g_get_monotonic_time ();
      lm_params_zero_grad_spans (params, parallel);
      loss = model->klass->forward (model, &batch);
      gint64 t1 = g_get_monotonic_time ();
      model->klass->backward (model, &batch);
      gint64 t2 = g_get_monotonic_time ();
      float factor = 1.0f;
      lm_clip_factor (params, 1.0, 1.0, parallel, &factor);
      lm_optimizer_step_scaled (optimizer, params, 1e-3f, factor);
      gint64 t3 = g_get_monotonic_time ();
      if (step >= warm)
        {
          t_fwd[step - warm] = (t1 - t0) * 1e-3;
          t_bwd[step - warm] = (t2 - t1) * 1e-3;
          t_opt[step - warm] = (t3 - t2) * 1e-3;
          t_all[step - warm] = (t3 - t0) * 1e-3;
        }
    }
  double mean = 0;
  for (int i = 0; i < steps; i++)
    mean += t_all[i] / steps;
  double total = median (t_all, steps);
  g_autofree char *blas = lm_blas_describe ();
  printf ("B=%d T=%d V=%d: %.0f tokens/s; per step %.2f ms = forward %.2f + backward %.2f + "
          "clip/optimizer %.2f (medians; mean step %.2f ms); loss %.3f; %s\n", B, T, V,
          (double) B * T / (total * 1e-3), total, median (t_fwd, steps), median (t_bwd, steps),
          median (t_opt, steps), mean, loss, blas);
  return 0;
}
