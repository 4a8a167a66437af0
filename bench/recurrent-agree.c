/* recurrent-agree.c — dump a small recurrent model, two batches, its losses and its
 * gradients, for bench/recurrent-agree.py to compare with PyTorch on the same weights.
 *
 *   bench/recurrent-agree MODEL DIR [KEY=VALUE ...]
 *
 * MODEL is rnn, lstm or gru; KEY=VALUE are model settings (hidden, emb, layers, ...)
 * plus `symbols` (vocabulary symbols besides the three specials, default 40) or `words`
 * (a word vocabulary of that many words instead: 1,024 or more puts the output layer on
 * lm_smallgemm_wide, with 24 or more positions), `batch`
 * (B, default 4) and `context` (T, default 9). Writes into DIR (which must exist):
 *   layout.tsv   one line per parameter tensor: name, shape "d0xd1", offset in floats
 *                into params.f32 (tensors packed in order, no padding)
 *   params.f32   the parameters, float32 little-endian
 *   batches.i32  inputs and targets of batch 1, then of batch 2, each (B,T) int32
 *   grads.f32    d(mean loss of batch 2)/d(parameters), batch 2 starting from the state
 *                batch 1 left, same packing as params.f32
 *   result.txt   "B T V", then the loss of batch 1 and of batch 2 (nats/token, %.17g)
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/lm-params.h"
#include "gru/lm-gru.h"
#include "lstm/lm-lstm.h"
#include "rnn/lm-recurrent.h"
#include "rnn/lm-rnn.h"

static gboolean
write_file (const char *dir, const char *name, const void *data, gsize len, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  return g_file_set_contents (path, data, (gssize) len, error);
}

static float *
packed (const LmParams *params, const float *buffer)
{
  float *out = g_new (float, lm_params_count (params));
  gsize at = 0;
  for (int v = 0; v < params->n_views; v++)
    {
      const LmParamView *view = lm_params_view (params, v);
      memcpy (out + at, buffer + view->offset, view->size * sizeof (float));
      at += view->size;
    }
  return out;
}

int
main (int argc, char **argv)
{
  if (argc < 3)
    {
      fprintf (stderr, "usage: %s rnn|lstm|gru DIR [KEY=VALUE ...]\n", argv[0]);
      return 2;
    }
  const LmModelClass *klass = g_str_equal (argv[1], "rnn")    ? &lm_rnn_class
                              : g_str_equal (argv[1], "lstm") ? &lm_lstm_class
                              : g_str_equal (argv[1], "gru")  ? &lm_gru_class
                                                              : NULL;
  if (klass == NULL)
    {
      fprintf (stderr, "%s: unknown model '%s'\n", argv[0], argv[1]);
      return 2;
    }
  const char *dir = argv[2];
  g_autoptr (GError) error = NULL;
  g_autoptr (LmConfig) config = lm_config_new ();
  int symbols = 40, words = 0, B = 4, T = 9;
  for (int i = 3; i < argc; i++)
    {
      if (g_str_has_prefix (argv[i], "symbols="))
        symbols = atoi (argv[i] + 8);
      else if (g_str_has_prefix (argv[i], "words="))
        words = atoi (argv[i] + 6);
      else if (!lm_config_set_assignment (config, argv[i], "command line", &error))
        {
          fprintf (stderr, "%s: %s\n", argv[0], error->message);
          return 2;
        }
    }
  if (lm_config_has (config, "batch"))
    B = atoi (lm_config_get (config, "batch"));
  if (lm_config_has (config, "context"))
    T = atoi (lm_config_get (config, "context"));
  if (symbols < 2 || symbols > 90 || (words != 0 && (words < 2 || words > 1000000)) || B < 1
      || T < 1)
    {
      fprintf (stderr, "%s: symbols must be 2..90, words 2..1000000, batch and context at "
               "least 1\n", argv[0]);
      return 2;
    }

  /* a character vocabulary of `symbols` printable symbols with distinct counts, or a word
   * vocabulary of `words` words */
  GString *text = g_string_new (NULL);
  for (int i = 0; i < (words ? words : symbols); i++)
    if (words)
      g_string_append_printf (text, "w%d ", i);
    else
      for (int k = 0; k <= i; k++)
        g_string_append_c (text, (char) ('!' + i));
  LmVocabLimits limits = { 1, 0 };
  g_autoptr (LmVocab) vocab = lm_vocab_build (words ? LM_LEVEL_WORD : LM_LEVEL_CHAR, text->str,
                                              text->len, &limits);
  g_string_free (text, TRUE);
  g_autoptr (LmModel) model = lm_model_new (klass, config, vocab, &error);
  if (model == NULL || !model->klass->prepare (model, B, T, &error))
    {
      fprintf (stderr, "%s: %s\n", argv[0], error->message);
      return 1;
    }
  const int V = (int) lm_vocab_size (vocab);

  /* two batches of random tokens (never <s>, which is context only) */
  LmRng rng;
  lm_rng_seed (&rng, 2024);
  gsize n = (gsize) B * T;
  g_autofree gint32 *tokens = g_new (gint32, 4 * n);
  for (gsize i = 0; i < 4 * n; i++)
    tokens[i] = 1 + (gint32) lm_rng_below (&rng, (guint64) V - 1);
  /* training batches, as lmlab train makes them (its forward then does the softmax
   * cross-entropy's backward too); no rng, so no dropout */
  LmBatch first = { tokens, tokens + n, B, T, TRUE, NULL };
  LmBatch second = { tokens + 2 * n, tokens + 3 * n, B, T, TRUE, NULL };

  LmParams *params = model->klass->parameters (model);
  model->klass->reset_state (model);
  lm_params_zero_grad (params);
  double loss1 = lm_recurrent_forward_nats (model, &first);
  double loss2 = lm_recurrent_forward_nats (model, &second);
  model->klass->backward (model, &second);

  GString *layout = g_string_new (NULL);
  gsize at = 0;
  for (int v = 0; v < params->n_views; v++)
    {
      const LmParamView *view = lm_params_view (params, v);
      g_string_append_printf (layout, "%s\t", view->name);
      for (int d = 0; d < view->rank; d++)
        g_string_append_printf (layout, "%s%d", d ? "x" : "", view->shape[d]);
      g_string_append_printf (layout, "\t%" G_GSIZE_FORMAT "\n", at);
      at += view->size;
    }
  g_autofree float *data = packed (params, params->data);
  g_autofree float *grad = packed (params, params->grad);
  g_autofree char *result = g_strdup_printf ("%d %d %d\n%.17g\n%.17g\n", B, T, V, loss1, loss2);
  gboolean ok = write_file (dir, "layout.tsv", layout->str, layout->len, &error)
                && write_file (dir, "params.f32", data, at * sizeof (float), &error)
                && write_file (dir, "grads.f32", grad, at * sizeof (float), &error)
                && write_file (dir, "batches.i32", tokens, 4 * n * sizeof (gint32), &error)
                && write_file (dir, "result.txt", result, strlen (result), &error);
  g_string_free (layout, TRUE);
  if (!ok)
    {
      fprintf (stderr, "%s: %s\n", argv[0], error->message);
      return 1;
    }
  return 0;
}
