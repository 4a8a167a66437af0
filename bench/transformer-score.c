/* transformer-score.c — score a text with a trained transformer under another evaluation
 * setting (lmlab eval uses the one it was trained with), e.g. the sliding-window figure.
 *
 *   bench/transformer-score MODEL_DIR TEXT [eval_mode=sliding] [eval_stride=N] [threads=N]
 *
 * Prints tokens, nats/token and bits/char (the same quantities as lmlab eval).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include "core/lm-model.h"
#include "core/lm-params.h"
#include "transformer/lm-transformer.h"

static int
fail (const char *what, const GError *error)
{
  fprintf (stderr, "transformer-score: %s%s%s\n", what, error ? ": " : "",
           error ? error->message : "");
  return 1;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  if (argc < 3)
    return fail ("usage: transformer-score MODEL_DIR TEXT [KEY=VALUE ...]", NULL);
  g_autofree char *path = g_build_filename (argv[1], "model.ckpt", NULL);
  g_autoptr (LmModel) trained = lm_model_load (path, &error);
  if (trained == NULL)
    return fail ("loading", error);
  if (trained->klass != &lm_transformer_class)
    return fail ("not a transformer", NULL);
  g_autoptr (LmConfig) config = lm_config_copy (trained->config);
  for (int i = 3; i < argc; i++)
    if (!lm_config_set_assignment (config, argv[i], "argv", &error))
      return fail ("bad setting", error);
  g_autoptr (LmModel) model = lm_model_new (&lm_transformer_class, config, trained->vocab, &error);
  if (model == NULL)
    return fail ("model", error);
  LmParams *from = trained->klass->parameters (trained), *to = model->klass->parameters (model);
  memcpy (to->data, from->data, from->n_floats * sizeof (float));

  g_autofree char *text = NULL;
  gsize len, n, n_oov, n_chars;
  if (!g_file_get_contents (argv[2], &text, &len, &error))
    return fail ("reading", error);
  g_autofree gint32 *tokens = lm_vocab_encode (model->vocab, text, len, &n, &n_oov, &n_chars);
  g_autofree double *logprob = g_new (double, n);
  LmScoreOutput out = { logprob, NULL, NULL };
  gint64 t0 = g_get_monotonic_time ();
  if (!lm_model_score (model, tokens, n, &out, NULL, NULL, &error))
    return fail ("scoring", error);
  double seconds = (g_get_monotonic_time () - t0) * 1e-6;
  double total = 0.0;
  for (gsize i = 0; i < n; i++)
    total -= logprob[i];
  LmModelInfo info;
  lm_model_describe (model, &info);
  printf ("%s\n%" G_GSIZE_FORMAT " tokens (%" G_GSIZE_FORMAT " OOV): %.4f nats/token, "
          "%.4f bits/char, %.1f s (%.0f tokens/s)\n", info.summary, n, n_oov, total / n,
          total / M_LN2 / n_chars, seconds, n / seconds);
  lm_model_info_clear (&info);
  return 0;
}
