/* lm-config.h — hyperparameters by name.
 *
 * A model class declares the keys it understands as a table of LmOptionSpec (name,
 * type, default, range, help). Values arrive as text from `--set key=value`, an
 * experiment file or a checkpoint, each remembering where it came from so an error can
 * name the file and line. lm_config_validate() checks every key against the tables
 * (unknown key, wrong type, out of range, not one of the choices) and fills in the
 * defaults; after it succeeds the typed getters cannot fail.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  LM_OPTION_INT,    /* gint64 */
  LM_OPTION_DOUBLE, /* double */
  LM_OPTION_STRING, /* one of `choices` when choices is not NULL */
  LM_OPTION_BOOL,   /* true/false, yes/no, 1/0 */
} LmOptionType;

typedef struct {
  const char *name;          /* NULL ends a table */
  LmOptionType type;
  const char *default_value; /* as text; NULL means "required" */
  double min, max;           /* inclusive bounds for INT and DOUBLE (min > max: unbounded) */
  const char *choices;       /* "a|b|c" for STRING, or NULL for free text */
  const char *help;          /* one line, with the unit */
  gboolean runtime;          /* may change after training: how to evaluate, threads */
} LmOptionSpec;

typedef struct _LmConfig LmConfig;

LmConfig   *lm_config_new      (void);
LmConfig   *lm_config_copy     (const LmConfig *config);
void        lm_config_free     (LmConfig *config);

/* Set key to value. origin says where it came from ("--set", "exp.ini:12") and is
 * copied. Later sets replace earlier ones. */
void        lm_config_set      (LmConfig *config, const char *key, const char *value,
                                const char *origin);
/* Parse "key=value" (from --set). */
gboolean    lm_config_set_assignment (LmConfig *config, const char *assignment,
                                      const char *origin, GError **error);
gboolean    lm_config_has      (const LmConfig *config, const char *key);
const char *lm_config_get      (const LmConfig *config, const char *key); /* NULL if unset */
const char *lm_config_origin   (const LmConfig *config, const char *key);

/* Check every key against the NULL-terminated list of spec tables and fill in the
 * defaults of keys not set. Fails with LM_ERROR_INVALID_CONFIG naming the key and its
 * origin. */
gboolean    lm_config_validate (LmConfig *config, const LmOptionSpec *const *tables,
                                GError **error);

/* Typed getters: the key must have passed lm_config_validate with that type. */
gint64      lm_config_get_int    (const LmConfig *config, const char *key);
double      lm_config_get_double (const LmConfig *config, const char *key);
gboolean    lm_config_get_bool   (const LmConfig *config, const char *key);
const char *lm_config_get_string (const LmConfig *config, const char *key);

/* Move the keys that table declares out of config into a new config (origins kept). */
LmConfig   *lm_config_extract  (LmConfig *config, const LmOptionSpec *table);
void        lm_config_remove   (LmConfig *config, const char *key);

/* Keys in sorted order (for describe, reports and checkpoints); free with g_strfreev. */
char      **lm_config_keys     (const LmConfig *config);
/* "key=value" lines in sorted key order; round-trips through lm_config_from_text. */
char       *lm_config_to_text  (const LmConfig *config);
gboolean    lm_config_from_text (LmConfig *config, const char *text, const char *origin,
                                 GError **error);

/* Append a help listing of a spec table ("  name  default  help") to out. */
void        lm_option_specs_describe (const LmOptionSpec *table, GString *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmConfig, lm_config_free)

G_END_DECLS
