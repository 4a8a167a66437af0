/* lm-experiment.c — reading and validating an experiment file. */
#include "config.h"

#include <string.h>

#include "core/lm-corpus.h"
#include "core/lm-error.h"
#include "core/lm-registry.h"
#include "core/lm-train.h"
#include "harness/lm-experiment.h"

const LmOptionSpec lm_experiment_options[] = {
  { "name", LM_OPTION_STRING, "", 0, -1, NULL, "name of the comparison (default: file name)" },
  { "train", LM_OPTION_STRING, "", 0, -1, NULL,
    "training text, relative to this file (default: the KJV corpus)" },
  { "valid", LM_OPTION_STRING, "", 0, -1, NULL, "validation text (default: valid_fraction)" },
  { "test", LM_OPTION_STRING, "", 0, -1, NULL, "test text (default: test_fraction)" },
  { "level", LM_OPTION_STRING, "word", 0, -1, "word|char|byte", "tokenization" },
  { "seed", LM_OPTION_INT, "1", 0, 9.0e15, NULL, "random seed of every run" },
  { "threads", LM_OPTION_INT, "0", 0, 1024, NULL, "BLAS threads of every run (0 = all cores)" },
  { "prompt_tokens", LM_OPTION_INT, "4", 1, 1e6, NULL,
    "generation: tokens of a held-out test sentence given as the prompt" },
  { "gen_sentences", LM_OPTION_INT, "200", 0, 1e6, NULL,
    "generation: held-out sentences continued (0 = no generation)" },
  { "temperature", LM_OPTION_DOUBLE, "0", 0, 100, NULL, "generation: temperature (0 = greedy)" },
  { "interpolate", LM_OPTION_STRING, "all", 0, -1, NULL,
    "runs to mix linearly (EM weights on valid): names separated by ';' or ',', all, none" },
  { NULL },
};

/* The keys lm_model_new adds for every class (core/lm-model.c), checked here early. */
static const LmOptionSpec run_common_options[] = {
  { "seed", LM_OPTION_INT, "1", 0, 9.0e15, NULL, "random seed (initialisation, batches, sampling)" },
  { "threads", LM_OPTION_INT, "0", 0, 1024, NULL, "BLAS threads (0 = all cores)" },
  { NULL },
};

/* Trainer keys that set a budget: an explicit 0 trains nothing useful, so it is refused. */
static const char *const budget_keys[] = { "steps", "epochs", "tokens", "seconds", NULL };

/* ---- the text scanned for lines ------------------------------------------------------ */

/* Where each group and key is, and syntax GKeyFile would report without a line number. */
typedef struct {
  GHashTable *lines; /* "group\nkey" or "group\n" -> line (GINT_TO_POINTER) */
} LineIndex;

static char *
line_key (const char *group, const char *key)
{
  return g_strdup_printf ("%s\n%s", group, key ? key : "");
}

static int
line_of (const LineIndex *index, const char *group, const char *key)
{
  g_autofree char *k = line_key (group, key);
  return GPOINTER_TO_INT (g_hash_table_lookup (index->lines, k));
}

static gboolean
scan_lines (const char *path, const char *text, LineIndex *index, GError **error)
{
  index->lines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autofree char *group = NULL;
  for (int i = 0; lines[i]; i++)
    {
      int n = i + 1;
      g_autofree char *line = g_strstrip (g_strdup (lines[i]));
      if (line[0] == '\0' || line[0] == '#' || line[0] == ';')
        continue;
      if (line[0] == '[')
        {
          gsize len = strlen (line);
          if (line[len - 1] != ']' || len < 3)
            {
              g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                           "%s:%d: a group header is written [name], got '%s'", path, n, line);
              return FALSE;
            }
          g_free (group);
          group = g_strndup (line + 1, len - 2);
          g_autofree char *k = line_key (group, NULL);
          if (g_hash_table_contains (index->lines, k))
            {
              g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                           "%s:%d: group [%s] appears twice (first at line %d)", path, n, group,
                           GPOINTER_TO_INT (g_hash_table_lookup (index->lines, k)));
              return FALSE;
            }
          g_hash_table_insert (index->lines, g_steal_pointer (&k), GINT_TO_POINTER (n));
          continue;
        }
      const char *eq = strchr (line, '=');
      if (eq == NULL)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "%s:%d: expected key = value, got '%s'", path, n, line);
          return FALSE;
        }
      if (group == NULL)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "%s:%d: key outside any group; start the file with [experiment]", path,
                       n);
          return FALSE;
        }
      g_autofree char *key = g_strstrip (g_strndup (line, eq - line));
      if (key[0] == '\0')
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "%s:%d: a key is missing before '='",
                       path, n);
          return FALSE;
        }
      g_autofree char *k = line_key (group, key);
      if (g_hash_table_contains (index->lines, k))
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "%s:%d: key '%s' is set twice in [%s] (first at line %d)", path, n, key,
                       group, GPOINTER_TO_INT (g_hash_table_lookup (index->lines, k)));
          return FALSE;
        }
      g_hash_table_insert (index->lines, g_steal_pointer (&k), GINT_TO_POINTER (n));
    }
  return TRUE;
}

/* ---- helpers ------------------------------------------------------------------------- */

static void
run_free (LmExperimentRun *run)
{
  g_free (run->name);
  lm_config_free (run->config);
  g_free (run->origin);
  g_free (run);
}

void
lm_experiment_free (LmExperiment *e)
{
  if (e == NULL)
    return;
  g_free (e->path), g_free (e->name);
  g_free (e->train_path), g_free (e->valid_path), g_free (e->test_path);
  if (e->corpus)
    lm_config_free (e->corpus);
  if (e->settings)
    lm_config_free (e->settings);
  if (e->runs)
    g_ptr_array_unref (e->runs);
  if (e->notes)
    g_ptr_array_unref (e->notes);
  g_strfreev (e->interpolate);
  g_free (e);
}

gint64
lm_experiment_int (const LmExperiment *e, const char *key)
{
  return lm_config_get_int (e->settings, key);
}

double
lm_experiment_double (const LmExperiment *e, const char *key)
{
  return lm_config_get_double (e->settings, key);
}

static gboolean
spec_in_table (const LmOptionSpec *table, const char *key)
{
  for (const LmOptionSpec *s = table; s && s->name; s++)
    if (g_str_equal (s->name, key))
      return TRUE;
  return FALSE;
}

/* Does the class (with the trainer's keys for gradient models) accept key? */
static gboolean
class_accepts (const LmModelClass *klass, const char *key)
{
  return spec_in_table (klass->options, key)
         || ((klass->capabilities & LM_CAP_GRADIENT) && spec_in_table (lm_train_options, key));
}

static gboolean
valid_run_name (const char *name)
{
  if (name[0] == '\0' || name[0] == '.')
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.' && *p != '+')
      return FALSE;
  return TRUE;
}

/* A path from the file, relative to its folder (the working directory for built-in text). */
static char *
resolve_path (const char *experiment_path, gboolean builtin, const char *value)
{
  if (g_path_is_absolute (value) || builtin)
    return g_strdup (value);
  g_autofree char *dir = g_path_get_dirname (experiment_path);
  return g_build_filename (dir, value, NULL);
}

static gboolean
check_corpus_file (const char *path, const char *key, const char *origin, GError **error)
{
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s: %s file '%s' not found (paths are relative to the experiment file's "
                   "folder)",
                   origin, key, path);
      return FALSE;
    }
  return TRUE;
}

/* ---- parsing ------------------------------------------------------------------------- */

static gboolean
parse_experiment_group (LmExperiment *e, GKeyFile *kf, const LineIndex *index,
                        gboolean builtin, LmConfig *defaults, GError **error)
{
  e->corpus = lm_config_new ();
  e->settings = lm_config_new ();
  g_auto (GStrv) keys = g_key_file_get_keys (kf, "experiment", NULL, NULL);
  for (int i = 0; keys && keys[i]; i++)
    {
      g_autofree char *value = g_key_file_get_value (kf, "experiment", keys[i], NULL);
      g_autofree char *origin = g_strdup_printf ("%s:%d", e->path,
                                                 line_of (index, "experiment", keys[i]));
      g_strstrip (value);
      if (spec_in_table (lm_corpus_options, keys[i]))
        lm_config_set (e->corpus, keys[i], value, origin);
      else if (spec_in_table (lm_experiment_options, keys[i]))
        lm_config_set (e->settings, keys[i], value, origin);
      else
        lm_config_set (defaults, keys[i], value, origin);
    }
  const LmOptionSpec *corpus_tables[] = { lm_corpus_options, NULL };
  const LmOptionSpec *settings_tables[] = { lm_experiment_options, NULL };
  if (!lm_config_validate (e->corpus, corpus_tables, error)
      || !lm_config_validate (e->settings, settings_tables, error))
    return FALSE;
  if (!lm_level_parse (lm_config_get_string (e->settings, "level"), &e->level, error))
    return FALSE;

  const char *name = lm_config_get_string (e->settings, "name");
  if (*name)
    e->name = g_strdup (name);
  else
    {
      g_autofree char *base = g_path_get_basename (e->path);
      if (g_str_has_suffix (base, ".ini"))
        base[strlen (base) - 4] = '\0';
      e->name = builtin ? g_strdup ("kjv-default") : g_strdup (base);
    }
  if (!valid_run_name (e->name))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s: name '%s' may hold only letters, digits and - _ . +",
                   lm_config_origin (e->settings, "name"), e->name);
      return FALSE;
    }

  /* The corpus files must exist now, before any run starts. */
  const char *parts[] = { "train", "valid", "test" };
  char **slots[] = { &e->train_path, &e->valid_path, &e->test_path };
  for (int p = 0; p < 3; p++)
    {
      const char *value = lm_config_get_string (e->settings, parts[p]);
      if (*value == '\0')
        continue;
      *slots[p] = resolve_path (e->path, builtin, value);
      if (!check_corpus_file (*slots[p], parts[p], lm_config_origin (e->settings, parts[p]),
                              error))
        return FALSE;
    }
  if (e->train_path == NULL)
    {
      g_autoptr (GError) local = NULL;
      e->train_path = lm_default_corpus_path (&local);
      if (e->train_path == NULL)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "%s:%d: no train file given and %s", e->path,
                       line_of (index, "experiment", NULL), local->message);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
parse_run_group (LmExperiment *e, GKeyFile *kf, const LineIndex *index, const char *group,
                 const LmConfig *defaults, GHashTable *used_defaults,
                 const LmExperimentParseOptions *options, GError **error)
{
  const char *name = group + 4;
  int header_line = line_of (index, group, NULL);
  g_autofree char *origin = g_strdup_printf ("%s:%d", e->path, header_line);
  while (*name == ' ' || *name == '\t')
    name++;
  if (!valid_run_name (name))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s: run name '%s' may hold only letters, digits and - _ . +", origin, name);
      return FALSE;
    }
  /* the summary, the report and the figures name the mixture of the runs so */
  if (g_str_equal (name, "interpolated"))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s: the run name 'interpolated' is taken by the mixture of the runs; "
                   "choose another", origin);
      return FALSE;
    }
  for (guint i = 0; i < e->runs->len; i++)
    if (g_str_equal (((LmExperimentRun *) e->runs->pdata[i])->name, name))
      {
        g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "%s: run '%s' is defined twice",
                     origin, name);
        return FALSE;
      }

  g_autofree char *model = g_key_file_get_value (kf, group, "model", NULL);
  if (model == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s: [%s] needs a model = ... line (one of %s)", origin, group,
                   lm_registry_names ());
      return FALSE;
    }
  g_strstrip (model);
  g_autofree char *model_origin = g_strdup_printf ("%s:%d", e->path,
                                                   line_of (index, group, "model"));
  LmModelLookupFunc lookup = options && options->lookup ? options->lookup : lm_registry_lookup;
  g_autoptr (GError) lookup_error = NULL;
  const LmModelClass *klass = lookup (model, &lookup_error);
  if (klass == NULL)
    {
      if (options && options->skip_unknown)
        {
          g_ptr_array_add (e->notes,
                           g_strdup_printf ("run '%s' skipped: model family '%s' is not built "
                                            "into this lmlab yet",
                                            name, model));
          return TRUE;
        }
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "%s: %s", model_origin,
                   lookup_error->message);
      return FALSE;
    }

  g_autoptr (LmConfig) config = lm_config_new ();
  lm_config_set (config, "seed", lm_config_get (e->settings, "seed"),
                 lm_config_origin (e->settings, "seed"));
  lm_config_set (config, "threads", lm_config_get (e->settings, "threads"),
                 lm_config_origin (e->settings, "threads"));
  g_auto (GStrv) dkeys = lm_config_keys (defaults);
  for (int i = 0; dkeys[i]; i++)
    if (class_accepts (klass, dkeys[i]))
      {
        lm_config_set (config, dkeys[i], lm_config_get (defaults, dkeys[i]),
                       lm_config_origin (defaults, dkeys[i]));
        g_hash_table_add (used_defaults, g_strdup (dkeys[i]));
      }
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (int i = 0; keys && keys[i]; i++)
    {
      if (g_str_equal (keys[i], "model"))
        continue;
      g_autofree char *value = g_key_file_get_value (kf, group, keys[i], NULL);
      g_autofree char *key_origin = g_strdup_printf ("%s:%d", e->path,
                                                     line_of (index, group, keys[i]));
      lm_config_set (config, keys[i], g_strstrip (value), key_origin);
    }
  for (int b = 0; budget_keys[b]; b++)
    {
      const char *v = lm_config_get (config, budget_keys[b]);
      if (v && g_ascii_strtod (v, NULL) == 0 && class_accepts (klass, budget_keys[b]))
        {
          char *end = NULL;
          g_ascii_strtod (v, &end);
          if (end && *end == '\0' && end != v)
            {
              g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                           "%s: %s = 0 is a budget of nothing; give a positive budget, or "
                           "remove the key",
                           lm_config_origin (config, budget_keys[b]), budget_keys[b]);
              return FALSE;
            }
        }
    }

  /* Validate now, against the same tables lm_model_new uses, so a mistake is reported
   * before the corpus is read; the validated copy keeps every default filled in, so the
   * run directory records the configuration as run. */
  g_autoptr (LmConfig) check = lm_config_copy (config);
  const LmOptionSpec *tables[] = {
    run_common_options, klass->options,
    (klass->capabilities & LM_CAP_GRADIENT) ? lm_train_options : NULL, NULL
  };
  if (!lm_config_validate (check, tables, error))
    {
      g_prefix_error (error, "run '%s': ", name);
      return FALSE;
    }

  LmExperimentRun *run = g_new0 (LmExperimentRun, 1);
  run->name = g_strdup (name);
  run->klass = klass;
  run->config = g_steal_pointer (&check);
  run->origin = g_steal_pointer (&origin);
  g_ptr_array_add (e->runs, run);
  return TRUE;
}

static gboolean
parse_interpolate (LmExperiment *e, GError **error)
{
  const char *value = lm_config_get_string (e->settings, "interpolate");
  const char *origin = lm_config_origin (e->settings, "interpolate");
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  if (g_str_equal (value, "all"))
    {
      for (guint i = 0; i < e->runs->len; i++)
        {
          LmExperimentRun *run = e->runs->pdata[i];
          if (run->klass->capabilities & LM_CAP_SCORE)
            g_ptr_array_add (names, g_strdup (run->name));
        }
      if (names->len < 2)
        g_ptr_array_set_size (names, 0);
    }
  else if (!g_str_equal (value, "none") && *value)
    {
      g_auto (GStrv) parts = g_strsplit_set (value, ";, ", -1);
      for (int i = 0; parts[i]; i++)
        {
          if (parts[i][0] == '\0')
            continue;
          gboolean found = FALSE;
          for (guint r = 0; r < e->runs->len; r++)
            found |= g_str_equal (((LmExperimentRun *) e->runs->pdata[r])->name, parts[i]);
          if (!found)
            {
              g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                           "%s: interpolate names run '%s', which is not defined", origin,
                           parts[i]);
              return FALSE;
            }
          g_ptr_array_add (names, g_strdup (parts[i]));
        }
      if (names->len == 1)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "%s: interpolate needs two or more runs", origin);
          return FALSE;
        }
    }
  g_ptr_array_add (names, NULL);
  e->interpolate = (char **) g_ptr_array_steal (names, NULL);
  return TRUE;
}

LmExperiment *
lm_experiment_parse (const char *path, const char *text, const LmExperimentParseOptions *options,
                     GError **error)
{
  gboolean builtin = path == NULL;
  g_autoptr (LmExperiment) e = g_new0 (LmExperiment, 1);
  e->path = g_strdup (builtin ? "built-in default" : path);
  e->runs = g_ptr_array_new_with_free_func ((GDestroyNotify) run_free);
  e->notes = g_ptr_array_new_with_free_func (g_free);

  LineIndex index = { 0 };
  gboolean ok = scan_lines (e->path, text, &index, error);
  g_autoptr (GHashTable) lines = index.lines;
  if (!ok)
    return NULL;
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) kf_error = NULL;
  if (!g_key_file_load_from_data (kf, text, -1, G_KEY_FILE_NONE, &kf_error))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "%s: %s", e->path,
                   kf_error->message);
      return NULL;
    }
  if (!g_key_file_has_group (kf, "experiment"))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s:1: no [experiment] group (it names the corpus and the settings)",
                   e->path);
      return NULL;
    }
  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
  for (int g = 0; groups[g]; g++)
    if (!g_str_equal (groups[g], "experiment") && !g_str_has_prefix (groups[g], "run ")
        && !g_str_has_prefix (groups[g], "run\t"))
      {
        g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                     "%s:%d: unknown group [%s]; groups are [experiment] and [run NAME]",
                     e->path, line_of (&index, groups[g], NULL), groups[g]);
        return NULL;
      }

  g_autoptr (LmConfig) defaults = lm_config_new ();
  if (!parse_experiment_group (e, kf, &index, builtin, defaults, error))
    return NULL;
  g_autoptr (GHashTable) used = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (int g = 0; groups[g]; g++)
    if (!g_str_equal (groups[g], "experiment")
        && !parse_run_group (e, kf, &index, groups[g], defaults, used, options, error))
      return NULL;
  if (e->runs->len == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s: no runs: add a [run NAME] group with model = %s", e->path,
                   lm_registry_names ());
      return NULL;
    }
  /* A key of [experiment] that no run takes is a typo or a mistake: say so (unless it
   * may belong to a run skipped because its family is not built in). */
  g_auto (GStrv) dkeys = lm_config_keys (defaults);
  for (int i = 0; dkeys[i]; i++)
    if (!g_hash_table_contains (used, dkeys[i]) && e->notes->len == 0)
      {
        g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                     "%s: unknown key '%s' in [experiment]: neither an experiment setting nor a "
                     "hyperparameter of any run",
                     lm_config_origin (defaults, dkeys[i]), dkeys[i]);
        return NULL;
      }
  if (!parse_interpolate (e, error))
    return NULL;
  return g_steal_pointer (&e);
}

LmExperiment *
lm_experiment_load (const char *path, const LmExperimentParseOptions *options, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &text, NULL, &local))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot read experiment file: %s",
                   local->message);
      return NULL;
    }
  if (!g_utf8_validate (text, -1, NULL))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "%s: not valid UTF-8 text", path);
      return NULL;
    }
  return lm_experiment_parse (path, text, options, error);
}

/* ---- writing back -------------------------------------------------------------------- */

static void
append_key (GString *out, const char *key, const char *value)
{
  /* Values are single lines (they came from an INI file or a table of defaults). */
  g_string_append_printf (out, "%s = %s\n", key, value);
}

char *
lm_experiment_to_ini (const LmExperiment *e)
{
  GString *out = g_string_new (NULL);
  g_string_append_printf (out, "# The experiment as run by lmlab %s (from %s), every key "
                               "resolved.\n[experiment]\n",
                          PACKAGE_VERSION, e->path);
  g_autofree char *train = g_canonicalize_filename (e->train_path, NULL);
  g_string_append_printf (out, "name = %s\n", e->name);
  append_key (out, "train", train);
  if (e->valid_path)
    {
      g_autofree char *p = g_canonicalize_filename (e->valid_path, NULL);
      append_key (out, "valid", p);
    }
  if (e->test_path)
    {
      g_autofree char *p = g_canonicalize_filename (e->test_path, NULL);
      append_key (out, "test", p);
    }
  g_auto (GStrv) skeys = lm_config_keys (e->settings);
  for (int i = 0; skeys[i]; i++)
    if (!g_str_equal (skeys[i], "name") && !g_str_equal (skeys[i], "train")
        && !g_str_equal (skeys[i], "valid") && !g_str_equal (skeys[i], "test"))
      append_key (out, skeys[i], lm_config_get (e->settings, skeys[i]));
  g_auto (GStrv) ckeys = lm_config_keys (e->corpus);
  for (int i = 0; ckeys[i]; i++)
    append_key (out, ckeys[i], lm_config_get (e->corpus, ckeys[i]));
  for (guint r = 0; r < e->runs->len; r++)
    {
      LmExperimentRun *run = e->runs->pdata[r];
      g_string_append_printf (out, "\n[run %s]\nmodel = %s\n", run->name, run->klass->name);
      g_auto (GStrv) keys = lm_config_keys (run->config);
      for (int i = 0; keys[i]; i++)
        {
          /* A budget of 0 is the trainer's "no limit" default; written out it would read
           * back as the explicit budget of nothing that parsing refuses. */
          gboolean budget = FALSE;
          for (int b = 0; budget_keys[b]; b++)
            budget |= g_str_equal (keys[i], budget_keys[b]);
          if (budget && g_ascii_strtod (lm_config_get (run->config, keys[i]), NULL) == 0)
            continue;
          append_key (out, keys[i], lm_config_get (run->config, keys[i]));
        }
    }
  return g_string_free (out, FALSE);
}

/* ---- the built-in default ---------------------------------------------------------------- */

static const char default_text[] =
#include "harness/lm-default-experiment.h"
    ;

const char *
lm_experiment_default_text (void)
{
  return default_text;
}
