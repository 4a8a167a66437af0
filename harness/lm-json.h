/* lm-json.h — a small JSON writer for --json output and summary.json (stable keys in
 * the order written, strings escaped per RFC 8259, non-finite numbers as null). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  GString *out;
  int depth;
  gboolean need_comma[32];
  gboolean pretty;
} LmJson;

void  lm_json_init         (LmJson *json, gboolean pretty);
/* Returns the text (caller frees) and resets the writer. */
char *lm_json_finish       (LmJson *json);
void  lm_json_begin_object (LmJson *json, const char *key); /* key NULL at top level / in arrays */
void  lm_json_end_object   (LmJson *json);
void  lm_json_begin_array  (LmJson *json, const char *key);
void  lm_json_end_array    (LmJson *json);
void  lm_json_string       (LmJson *json, const char *key, const char *value);
void  lm_json_int          (LmJson *json, const char *key, gint64 value);
void  lm_json_double       (LmJson *json, const char *key, double value);
void  lm_json_bool         (LmJson *json, const char *key, gboolean value);
void  lm_json_null         (LmJson *json, const char *key);

G_END_DECLS
