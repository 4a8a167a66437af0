/* lm-registry.c — the built-in model table. One line per model. */
#include "config.h"

#include <string.h>

#include "core/lm-error.h"
#include "core/lm-registry.h"
#include "gru/lm-gru.h"
#include "lstm/lm-lstm.h"
#include "ngram/lm-ngram.h"
#include "rnn/lm-rnn.h"
#include "transformer/lm-transformer.h"

static const LmModelClass *const builtin_classes[] = {
  &lm_ngram_class,
  &lm_rnn_class,
  &lm_lstm_class,
  &lm_gru_class,
  &lm_transformer_class,
  NULL,
};

const LmModelClass *const *
lm_registry_classes (void)
{
  return builtin_classes;
}

const char *
lm_registry_names (void)
{
  static gsize once = 0;
  static char *names = NULL;
  if (g_once_init_enter (&once))
    {
      GString *out = g_string_new (NULL);
      for (int i = 0; builtin_classes[i]; i++)
        g_string_append_printf (out, "%s%s", i ? "|" : "", builtin_classes[i]->name);
      names = g_string_free (out, FALSE);
      g_once_init_leave (&once, 1);
    }
  return names;
}

const LmModelClass *
lm_registry_lookup (const char *name, GError **error)
{
  for (int i = 0; builtin_classes[i]; i++)
    if (g_strcmp0 (builtin_classes[i]->name, name) == 0)
      return builtin_classes[i];
  g_set_error (error, LM_ERROR, LM_ERROR_USAGE, "unknown model '%s' (known: %s)",
               name ? name : "", *lm_registry_names () ? lm_registry_names () : "none");
  return NULL;
}

gboolean
lm_registry_check (GError **error)
{
  for (int i = 0; builtin_classes[i]; i++)
    if (!lm_model_class_validate (builtin_classes[i], error))
      return FALSE;
  return TRUE;
}
