/* transformer-dump.c — one batch through lmlab's transformer on given weights, for the
 * PyTorch agreement check (bench/transformer-torch-check.py).
 *
 *   bench/transformer-dump WEIGHTS BATCH OUT [KEY=VALUE ...]
 *
 * KEY=VALUE: the model's settings (layers, heads, d, context, bias) and vocab=V.
 * WEIGHTS: every parameter as float32 in the model's view order (the names of
 * torch_lm.py's GPT.named_parameters()), back to back; the names are printed on stdout,
 * one a line, so the caller can check the order. BATCH: int32 B, T, then inputs(B,T)
 * and targets(B,T). OUT: float64 mean loss, then every gradient as float32 in the same
 * order as WEIGHTS.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-model.h"
#include "core/lm-params.h"
#include "transformer/lm-transformer.h"

static int
fail (const char *what, const GError *error)
{
  fprintf (stderr, "transformer-dump: %s%s%s\n", what, error ? ": " : "",
           error ? error->message : "");
  return 1;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  if (argc < 4)
    return fail ("usage: transformer-dump WEIGHTS BATCH OUT [KEY=VALUE ...]", NULL);
  g_autoptr (LmConfig) config = lm_config_new ();
  int V = 65;
  lm_config_set (config, "threads", "1", "default");
  for (int i = 4; i < argc; i++)
    if (g_str_has_prefix (argv[i], "vocab="))
      V = atoi (argv[i] + 6);
    else if (!lm_config_set_assignment (config, argv[i], "argv", &error))
      return fail ("bad setting", error);
  GString *text = g_string_new (NULL);
  for (int v = 0; v < V - LM_N_SPECIAL; v++)
    g_string_append_printf (text, "w%d ", v);
  LmVocabLimits limits = { 1, 0 };
  g_autoptr (LmVocab) vocab = lm_vocab_build (LM_LEVEL_WORD, text->str, text->len, &limits);
  g_string_free (text, TRUE);
  if ((int) lm_vocab_size (vocab) != V)
    return fail ("vocabulary size", NULL);
  g_autoptr (LmModel) model = lm_model_new (&lm_transformer_class, config, vocab, &error);
  if (model == NULL)
    return fail ("model", error);
  LmParams *params = model->klass->parameters (model);

  g_autofree char *weights = NULL;
  gsize len;
  if (!g_file_get_contents (argv[1], &weights, &len, &error))
    return fail ("weights", error);
  if (len != lm_params_count (params) * sizeof (float))
    return fail ("weights file size does not match the model's parameter count", NULL);
  gsize at = 0;
  for (int i = 0; i < params->n_views; i++)
    {
      const LmParamView *view = lm_params_view (params, i);
      memcpy (lm_params_data (params, i), weights + at, view->size * sizeof (float));
      at += view->size * sizeof (float);
      printf ("%s\n", view->name);
    }

  g_autofree char *batch_data = NULL;
  if (!g_file_get_contents (argv[2], &batch_data, &len, &error))
    return fail ("batch", error);
  gint32 B, T;
  memcpy (&B, batch_data, 4);
  memcpy (&T, batch_data + 4, 4);
  if (len != 8 + 2 * (gsize) B * T * 4)
    return fail ("batch file size", NULL);
  const gint32 *inputs = (const gint32 *) (batch_data + 8);
  const gint32 *targets = inputs + (gsize) B * T;
  if (!model->klass->prepare (model, B, T, &error))
    return fail ("prepare", error);
  lm_params_zero_grad (params);
  LmBatch batch = { inputs, targets, B, T, FALSE, NULL };
  double loss = model->klass->forward (model, &batch);
  model->klass->backward (model, &batch);

  FILE *out = fopen (argv[3], "wb");
  if (out == NULL)
    return fail ("cannot write OUT", NULL);
  fwrite (&loss, sizeof loss, 1, out);
  for (int i = 0; i < params->n_views; i++)
    fwrite (lm_params_grad (params, i), sizeof (float), lm_params_view (params, i)->size, out);
  return fclose (out) == 0 ? 0 : fail ("write OUT", NULL);
}
