/* lm-model.c — checked wrappers around LmModelClass, capability validation, and the
 * whole-model file (class name, config and vocabulary, then the model's own sections). */
#include "config.h"

#include <string.h>

#include "core/lm-error.h"
#include "core/lm-model.h"
#include "core/lm-registry.h"
#include "core/lm-train.h"

/* Keys every model accepts. */
const LmOptionSpec lm_model_common_options[] = {
  { "seed", LM_OPTION_INT, "1", 0, 9.0e15, NULL, "random seed (initialisation, batches, sampling)" },
  { "threads", LM_OPTION_INT, "0", 0, 1024, NULL, "threads (0 = all cores)", TRUE },
  { NULL },
};

void
lm_model_init (LmModel *model, const LmModelClass *klass, const LmConfig *config,
               LmVocab *vocab)
{
  model->klass = klass;
  model->vocab = lm_vocab_ref (vocab);
  model->config = config ? lm_config_copy (config) : lm_config_new ();
}

void
lm_model_clear (LmModel *model)
{
  g_clear_pointer (&model->vocab, lm_vocab_unref);
  g_clear_pointer (&model->config, lm_config_free);
}

LmModel *
lm_model_new (const LmModelClass *klass, LmConfig *config, LmVocab *vocab, GError **error)
{
  const LmOptionSpec *tables[] = { lm_model_common_options, klass->options,
                                   (klass->capabilities & LM_CAP_GRADIENT) ? lm_train_options
                                                                            : NULL,
                                   NULL };
  if (!lm_config_validate (config, tables, error))
    return NULL;
  LmModel *model = klass->create (config, vocab, error);
  if (model != NULL)
    g_assert (model->klass == klass && model->vocab != NULL && model->config != NULL);
  return model;
}

void
lm_model_free (LmModel *model)
{
  if (model != NULL)
    model->klass->destroy (model);
}

gboolean
lm_model_has (const LmModel *model, LmCapability capability)
{
  return (model->klass->capabilities & capability) == (guint) capability;
}

void
lm_model_describe (LmModel *model, LmModelInfo *info)
{
  memset (info, 0, sizeof *info);
  model->klass->describe (model, info);
}

void
lm_model_info_clear (LmModelInfo *info)
{
  g_free (info->summary);
  memset (info, 0, sizeof *info);
}

guint32
lm_model_vocab_size (const LmModel *model)
{
  return lm_vocab_size (model->vocab);
}

static gboolean
require (const LmModel *model, LmCapability capability, const char *what, GError **error)
{
  if (lm_model_has (model, capability))
    return TRUE;
  g_set_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED, "model '%s' cannot %s",
               model->klass->name, what);
  return FALSE;
}

gboolean
lm_model_fit (LmModel *model, const gint32 *tokens, gsize n_tokens, LmProgressFunc progress,
              gpointer user_data, GError **error)
{
  if (!require (model, LM_CAP_FIT, "be fitted by counting (it is trained by gradients)", error))
    return FALSE;
  return model->klass->fit (model, tokens, n_tokens, progress, user_data, error);
}

gboolean
lm_model_score (LmModel *model, const gint32 *tokens, gsize n_tokens, LmScoreOutput *out,
                LmProgressFunc progress, gpointer user_data, GError **error)
{
  if (!require (model, LM_CAP_SCORE, "score a token stream", error))
    return FALSE;
  g_return_val_if_fail (out != NULL && out->logprob != NULL, FALSE);
  return model->klass->score (model, tokens, n_tokens, out, progress, user_data, error);
}

/* ---- capability validation ---------------------------------------------------------- */

#define CHECK(cap, field)                                                                    \
  do                                                                                         \
    {                                                                                        \
      if ((klass->capabilities & (cap)) && klass->field == NULL)                             \
        {                                                                                    \
          g_set_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED,                                \
                       "model class '%s' declares " #cap " but has no " #field "()",         \
                       klass->name);                                                         \
          return FALSE;                                                                      \
        }                                                                                    \
    }                                                                                        \
  while (0)

gboolean
lm_model_class_validate (const LmModelClass *klass, GError **error)
{
  if (klass->name == NULL || *klass->name == '\0')
    {
      g_set_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED, "a model class has no name");
      return FALSE;
    }
  if (!(klass->capabilities & (LM_CAP_FIT | LM_CAP_GRADIENT)))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED,
                   "model class '%s' can learn neither by counting (LM_CAP_FIT) nor by "
                   "gradients (LM_CAP_GRADIENT)", klass->name);
      return FALSE;
    }
  if (klass->options == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED,
                   "model class '%s' has no options table (an empty one is { NULL })",
                   klass->name);
      return FALSE;
    }
  CHECK (~0u, create);
  CHECK (~0u, destroy);
  CHECK (~0u, describe);
  CHECK (LM_CAP_FIT, fit);
  CHECK (LM_CAP_GRADIENT, parameters);
  CHECK (LM_CAP_GRADIENT, prepare);
  CHECK (LM_CAP_GRADIENT, forward);
  CHECK (LM_CAP_GRADIENT, backward);
  CHECK (LM_CAP_GRADIENT, reset_state);
  CHECK (LM_CAP_SCORE, score);
  CHECK (LM_CAP_STREAM, state_new);
  CHECK (LM_CAP_STREAM, state_free);
  CHECK (LM_CAP_STREAM, state_copy);
  CHECK (LM_CAP_STREAM, state_begin);
  CHECK (LM_CAP_STREAM, state_step);
  CHECK (LM_CAP_STREAM, state_logprobs);
  CHECK (LM_CAP_SAVE, save);
  CHECK (LM_CAP_SAVE, load);
  return TRUE;
}

/* ---- whole-model files ------------------------------------------------------------------ */

#define SECTION_CLASS "lmlab/class"
#define SECTION_CONFIG "lmlab/config"
#define SECTION_VOCAB "lmlab/vocab"

gboolean
lm_model_write_sections (LmModel *model, LmCheckpointWriter *writer, GError **error)
{
  if (!require (model, LM_CAP_SAVE, "be saved", error))
    return FALSE;
  g_autofree char *config_text = lm_config_to_text (model->config);
  gsize vocab_len;
  g_autofree char *vocab_text = lm_vocab_to_text (model->vocab, &vocab_len);
  return lm_checkpoint_writer_add (writer, SECTION_CLASS, model->klass->name,
                                   strlen (model->klass->name), error)
         && lm_checkpoint_writer_add (writer, SECTION_CONFIG, config_text, strlen (config_text),
                                      error)
         && lm_checkpoint_writer_add (writer, SECTION_VOCAB, vocab_text, vocab_len, error)
         && model->klass->save (model, writer, error);
}

gboolean
lm_model_save (LmModel *model, const char *path, GError **error)
{
  if (!require (model, LM_CAP_SAVE, "be saved", error))
    return FALSE;
  g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, error);
  if (writer == NULL)
    return FALSE;
  if (!lm_model_write_sections (model, writer, error)
      || !lm_checkpoint_writer_commit (writer, error))
    {
      g_prefix_error (error, "saving %s: ", path);
      return FALSE;
    }
  return TRUE;
}

gboolean
lm_model_read_sections (LmModel *model, const LmCheckpoint *checkpoint, GError **error)
{
  const char *path = lm_checkpoint_path (checkpoint);
  const void *data;
  gsize len;
  if (!require (model, LM_CAP_SAVE, "be loaded", error)
      || !lm_checkpoint_get (checkpoint, SECTION_CLASS, &data, &len, error))
    return FALSE;
  if (len != strlen (model->klass->name) || memcmp (data, model->klass->name, len) != 0)
    {
      g_autofree char *name = g_strndup (data, len);
      g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
                   "%s holds a '%s' model, not '%s'", path, name, model->klass->name);
      return FALSE;
    }
  if (!lm_checkpoint_get (checkpoint, SECTION_VOCAB, &data, &len, error))
    return FALSE;
  g_autoptr (LmVocab) vocab = lm_vocab_from_text (data, len, error);
  if (vocab == NULL)
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  if (!lm_vocab_equal (vocab, model->vocab))
    {
      /* Say where they part: the first id whose symbol differs. */
      guint32 n = MIN (lm_vocab_size (vocab), lm_vocab_size (model->vocab)), id = 0;
      while (id < n
             && g_str_equal (lm_vocab_symbol (vocab, id), lm_vocab_symbol (model->vocab, id)))
        id++;
      g_autofree char *where
          = id < n ? g_strdup_printf ("id %u is '%s' there and '%s' here", id,
                                      lm_vocab_symbol (vocab, id),
                                      lm_vocab_symbol (model->vocab, id))
                   : g_strdup ("one is a prefix of the other");
      g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
                   "%s was trained with another vocabulary (%u %s-level symbols) than this "
                   "corpus gives (%u %s-level symbols; %s): use the same training text, "
                   "level and vocabulary settings", path, lm_vocab_size (vocab),
                   lm_level_name (lm_vocab_level (vocab)), lm_vocab_size (model->vocab),
                   lm_level_name (lm_vocab_level (model->vocab)), where);
      return FALSE;
    }
  if (!model->klass->load (model, checkpoint, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

LmModel *
lm_model_load (const char *path, GError **error)
{
  return lm_model_load_with (path, NULL, error);
}

/* Apply overrides to a trained model's config: only keys marked runtime may change. */
static gboolean
apply_overrides (const LmModelClass *klass, LmConfig *config, const LmConfig *overrides,
                 GError **error)
{
  const LmOptionSpec *tables[] = { lm_model_common_options, klass->options,
                                   (klass->capabilities & LM_CAP_GRADIENT) ? lm_train_options
                                                                            : NULL,
                                   NULL };
  g_auto (GStrv) keys = lm_config_keys (overrides);
  for (int i = 0; keys[i]; i++)
    {
      const LmOptionSpec *spec = NULL;
      for (int t = 0; tables[t] && spec == NULL; t++)
        for (const LmOptionSpec *s = tables[t]; s->name; s++)
          if (g_str_equal (s->name, keys[i]))
            {
              spec = s;
              break;
            }
      if (spec == NULL || !spec->runtime)
        {
          g_autoptr (GString) allowed = g_string_new (NULL);
          for (int t = 0; tables[t]; t++)
            for (const LmOptionSpec *s = tables[t]; s->name; s++)
              if (s->runtime)
                g_string_append_printf (allowed, "%s%s", allowed->len ? ", " : "", s->name);
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "%s: %s '%s' of a trained %s model; what can change now: %s",
                       lm_config_origin (overrides, keys[i]),
                       spec ? "cannot change" : "unknown key", keys[i], klass->name,
                       allowed->str);
          return FALSE;
        }
      lm_config_set (config, keys[i], lm_config_get (overrides, keys[i]),
                     lm_config_origin (overrides, keys[i]));
    }
  return TRUE;
}

LmModel *
lm_model_load_with (const char *path, const LmConfig *overrides, GError **error)
{
  g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (path, error);
  if (checkpoint == NULL)
    return NULL;
  const void *data;
  gsize len;
  if (!lm_checkpoint_get (checkpoint, SECTION_CLASS, &data, &len, error))
    return NULL;
  g_autofree char *class_name = g_strndup (data, len);
  const LmModelClass *klass = lm_registry_lookup (class_name, error);
  if (klass == NULL)
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  if (!lm_checkpoint_get (checkpoint, SECTION_CONFIG, &data, &len, error))
    return NULL;
  g_autofree char *config_text = g_strndup (data, len);
  g_autoptr (LmConfig) config = lm_config_new ();
  if (!lm_config_from_text (config, config_text, path, error))
    return NULL;
  if (overrides && !apply_overrides (klass, config, overrides, error))
    return NULL;
  if (!lm_checkpoint_get (checkpoint, SECTION_VOCAB, &data, &len, error))
    return NULL;
  g_autoptr (LmVocab) vocab = lm_vocab_from_text (data, len, error);
  if (vocab == NULL)
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  g_autoptr (LmModel) model = lm_model_new (klass, config, vocab, error);
  if (model == NULL)
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  if (!lm_model_has (model, LM_CAP_SAVE))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT, "%s: model '%s' cannot be loaded", path,
                   klass->name);
      return NULL;
    }
  if (!klass->load (model, checkpoint, error))
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  return g_steal_pointer (&model);
}
