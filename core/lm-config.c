/* lm-config.c — hyperparameters by name, validated against spec tables. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-config.h"
#include "core/lm-error.h"

typedef struct {
  char *value;
  char *origin;
} Entry;

struct _LmConfig {
  GHashTable *entries; /* key -> Entry */
};

static void
entry_free (gpointer data)
{
  Entry *entry = data;
  g_free (entry->value);
  g_free (entry->origin);
  g_free (entry);
}

LmConfig *
lm_config_new (void)
{
  LmConfig *config = g_new0 (LmConfig, 1);
  config->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, entry_free);
  return config;
}

LmConfig *
lm_config_copy (const LmConfig *config)
{
  LmConfig *copy = lm_config_new ();
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, config->entries);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Entry *entry = value;
      lm_config_set (copy, key, entry->value, entry->origin);
    }
  return copy;
}

void
lm_config_free (LmConfig *config)
{
  if (config == NULL)
    return;
  g_hash_table_unref (config->entries);
  g_free (config);
}

void
lm_config_set (LmConfig *config, const char *key, const char *value, const char *origin)
{
  Entry *entry = g_new0 (Entry, 1);
  entry->value = g_strdup (value);
  entry->origin = g_strdup (origin ? origin : "default");
  g_hash_table_replace (config->entries, g_strdup (key), entry);
}

gboolean
lm_config_set_assignment (LmConfig *config, const char *assignment, const char *origin,
                          GError **error)
{
  const char *eq = strchr (assignment, '=');
  if (eq == NULL || eq == assignment)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_USAGE,
                   "%s: '%s' is not KEY=VALUE (example: --set hidden=200)",
                   origin ? origin : "--set", assignment);
      return FALSE;
    }
  g_autofree char *key = g_strstrip (g_strndup (assignment, eq - assignment));
  g_autofree char *value = g_strstrip (g_strdup (eq + 1));
  if (*key == '\0')
    {
      g_set_error (error, LM_ERROR, LM_ERROR_USAGE, "%s: empty key in '%s'",
                   origin ? origin : "--set", assignment);
      return FALSE;
    }
  lm_config_set (config, key, value, origin);
  return TRUE;
}

void
lm_config_remove (LmConfig *config, const char *key)
{
  g_hash_table_remove (config->entries, key);
}

LmConfig *
lm_config_extract (LmConfig *config, const LmOptionSpec *table)
{
  LmConfig *out = lm_config_new ();
  for (const LmOptionSpec *spec = table; spec->name != NULL; spec++)
    {
      Entry *entry = g_hash_table_lookup (config->entries, spec->name);
      if (entry == NULL)
        continue;
      lm_config_set (out, spec->name, entry->value, entry->origin);
      g_hash_table_remove (config->entries, spec->name);
    }
  return out;
}

gboolean
lm_config_has (const LmConfig *config, const char *key)
{
  return g_hash_table_contains (config->entries, key);
}

const char *
lm_config_get (const LmConfig *config, const char *key)
{
  Entry *entry = g_hash_table_lookup (config->entries, key);
  return entry ? entry->value : NULL;
}

const char *
lm_config_origin (const LmConfig *config, const char *key)
{
  Entry *entry = g_hash_table_lookup (config->entries, key);
  return entry ? entry->origin : NULL;
}

static const LmOptionSpec *
find_spec (const LmOptionSpec *const *tables, const char *key)
{
  for (gsize t = 0; tables[t] != NULL; t++)
    for (const LmOptionSpec *spec = tables[t]; spec->name != NULL; spec++)
      if (strcmp (spec->name, key) == 0)
        return spec;
  return NULL;
}

static gboolean
parse_int (const char *text, gint64 *out)
{
  char *end = NULL;
  errno = 0;
  gint64 value = g_ascii_strtoll (text, &end, 10);
  if (errno != 0 || end == text || *end != '\0')
    {
      /* Accept 1e6-style integers as long as they are exact. */
      double d;
      errno = 0;
      d = g_ascii_strtod (text, &end);
      if (errno != 0 || end == text || *end != '\0' || !isfinite (d) || d != floor (d)
          || fabs (d) > 9.0e15)
        return FALSE;
      value = (gint64) d;
    }
  *out = value;
  return TRUE;
}

static gboolean
parse_double (const char *text, double *out)
{
  char *end = NULL;
  errno = 0;
  double value = g_ascii_strtod (text, &end);
  if (errno != 0 || end == text || *end != '\0' || !isfinite (value))
    return FALSE;
  *out = value;
  return TRUE;
}

static gboolean
parse_bool (const char *text, gboolean *out)
{
  static const char *const yes[] = { "true", "yes", "on", "1", NULL };
  static const char *const no[] = { "false", "no", "off", "0", NULL };
  for (int i = 0; yes[i]; i++)
    if (g_ascii_strcasecmp (text, yes[i]) == 0)
      return (*out = TRUE, TRUE);
  for (int i = 0; no[i]; i++)
    if (g_ascii_strcasecmp (text, no[i]) == 0)
      return (*out = FALSE, TRUE);
  return FALSE;
}

static gboolean
is_choice (const char *choices, const char *value)
{
  g_auto (GStrv) list = g_strsplit (choices, "|", -1);
  return g_strv_contains ((const char *const *) list, value);
}

static gboolean
check_value (const LmOptionSpec *spec, const char *value, const char *origin, GError **error)
{
  gboolean bounded = spec->min <= spec->max;
  switch (spec->type)
    {
    case LM_OPTION_INT:
      {
        gint64 v;
        if (!parse_int (value, &v))
          goto not_type;
        if (bounded && (v < spec->min || v > spec->max))
          goto out_of_range;
        return TRUE;
      }
    case LM_OPTION_DOUBLE:
      {
        double v;
        if (!parse_double (value, &v))
          goto not_type;
        if (bounded && (v < spec->min || v > spec->max))
          goto out_of_range;
        return TRUE;
      }
    case LM_OPTION_BOOL:
      {
        gboolean v;
        if (!parse_bool (value, &v))
          goto not_type;
        return TRUE;
      }
    case LM_OPTION_STRING:
      if (spec->choices && !is_choice (spec->choices, value))
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "%s: %s=%s is not one of %s", origin, spec->name, value,
                       spec->choices);
          return FALSE;
        }
      return TRUE;
    }
  g_assert_not_reached ();

not_type:
  {
    static const char *const type_names[] = { "an integer", "a number", "text",
                                              "true or false" };
    g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "%s: %s=%s is not %s (%s)",
                 origin, spec->name, value, type_names[spec->type], spec->help);
    return FALSE;
  }
out_of_range:
  g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
               "%s: %s=%s is out of range [%g, %g] (%s)", origin, spec->name, value,
               spec->min, spec->max, spec->help);
  return FALSE;
}

/* Edit distance, to suggest the key a user probably meant. */
static guint
edit_distance (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  g_autofree guint *row = g_new (guint, lb + 1);
  for (gsize j = 0; j <= lb; j++)
    row[j] = j;
  for (gsize i = 1; i <= la; i++)
    {
      guint diag = row[0];
      row[0] = i;
      for (gsize j = 1; j <= lb; j++)
        {
          guint up = row[j];
          guint cost = a[i - 1] == b[j - 1] ? 0 : 1;
          row[j] = MIN (MIN (row[j] + 1, row[j - 1] + 1), diag + cost);
          diag = up;
        }
    }
  return row[lb];
}

gboolean
lm_config_validate (LmConfig *config, const LmOptionSpec *const *tables, GError **error)
{
  g_auto (GStrv) keys = lm_config_keys (config);
  for (gsize i = 0; keys[i] != NULL; i++)
    {
      const char *key = keys[i];
      const char *origin = lm_config_origin (config, key);
      const LmOptionSpec *spec = find_spec (tables, key);
      if (spec == NULL)
        {
          const char *best = NULL;
          guint best_distance = 3;
          for (gsize t = 0; tables[t] != NULL; t++)
            for (const LmOptionSpec *s = tables[t]; s->name != NULL; s++)
              {
                guint d = edit_distance (key, s->name);
                if (d < best_distance)
                  best_distance = d, best = s->name;
              }
          g_autoptr (GString) known = g_string_new (NULL);
          for (gsize t = 0; tables[t] != NULL; t++)
            for (const LmOptionSpec *s = tables[t]; s->name != NULL; s++)
              g_string_append_printf (known, "%s%s", known->len ? ", " : "", s->name);
          if (best)
            g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                         "%s: unknown key '%s' (did you mean '%s'?)", origin, key, best);
          else
            g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                         "%s: unknown key '%s' (known keys: %s)", origin, key, known->str);
          return FALSE;
        }
      if (!check_value (spec, lm_config_get (config, key), origin, error))
        return FALSE;
    }
  for (gsize t = 0; tables[t] != NULL; t++)
    for (const LmOptionSpec *s = tables[t]; s->name != NULL; s++)
      if (!lm_config_has (config, s->name))
        {
          if (s->default_value == NULL)
            {
              g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                           "missing required key '%s' (%s)", s->name, s->help);
              return FALSE;
            }
          lm_config_set (config, s->name, s->default_value, "default");
        }
  return TRUE;
}

gint64
lm_config_get_int (const LmConfig *config, const char *key)
{
  const char *text = lm_config_get (config, key);
  gint64 value = 0;
  g_return_val_if_fail (text != NULL, 0);
  if (!parse_int (text, &value))
    g_critical ("config key %s=%s is not an integer (not validated?)", key, text);
  return value;
}

double
lm_config_get_double (const LmConfig *config, const char *key)
{
  const char *text = lm_config_get (config, key);
  double value = 0;
  g_return_val_if_fail (text != NULL, 0);
  if (!parse_double (text, &value))
    g_critical ("config key %s=%s is not a number (not validated?)", key, text);
  return value;
}

gboolean
lm_config_get_bool (const LmConfig *config, const char *key)
{
  const char *text = lm_config_get (config, key);
  gboolean value = FALSE;
  g_return_val_if_fail (text != NULL, FALSE);
  if (!parse_bool (text, &value))
    g_critical ("config key %s=%s is not a boolean (not validated?)", key, text);
  return value;
}

const char *
lm_config_get_string (const LmConfig *config, const char *key)
{
  const char *text = lm_config_get (config, key);
  g_return_val_if_fail (text != NULL, "");
  return text;
}

static int
compare_strings (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

char **
lm_config_keys (const LmConfig *config)
{
  guint n = 0;
  char **keys = (char **) g_hash_table_get_keys_as_array (config->entries, &n);
  char **copy = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    copy[i] = g_strdup (keys[i]);
  g_free (keys);
  qsort (copy, n, sizeof (char *), compare_strings);
  return copy;
}

char *
lm_config_to_text (const LmConfig *config)
{
  g_auto (GStrv) keys = lm_config_keys (config);
  GString *out = g_string_new (NULL);
  for (gsize i = 0; keys[i] != NULL; i++)
    g_string_append_printf (out, "%s=%s\n", keys[i], lm_config_get (config, keys[i]));
  return g_string_free (out, FALSE);
}

gboolean
lm_config_from_text (LmConfig *config, const char *text, const char *origin, GError **error)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (gsize i = 0; lines[i] != NULL; i++)
    {
      if (lines[i][0] == '\0' || lines[i][0] == '#')
        continue;
      g_autofree char *where = g_strdup_printf ("%s:%zu", origin, i + 1);
      if (!lm_config_set_assignment (config, lines[i], where, error))
        return FALSE;
    }
  return TRUE;
}

void
lm_option_specs_describe (const LmOptionSpec *table, GString *out)
{
  /* names up to 18 characters (discount_fallback is the longest) stay in one column;
   * the width is fixed, not per table, so every table lines up with every other */
  const int name_width = 18;
  for (const LmOptionSpec *s = table; s->name != NULL; s++)
    {
      g_autofree char *def = g_strdup_printf ("[%s]", s->default_value ? s->default_value
                                                                      : "required");
      g_string_append_printf (out, "  %-*s %-12s %s", name_width, s->name, def, s->help);
      if (s->choices)
        g_string_append_printf (out, " (%s)", s->choices);
      g_string_append_c (out, '\n');
    }
}
