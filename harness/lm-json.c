/* lm-json.c — a small JSON writer. */
#include "config.h"

#include <math.h>

#include "harness/lm-json.h"

void
lm_json_init (LmJson *json, gboolean pretty)
{
  json->out = g_string_new (NULL);
  json->depth = 0;
  json->need_comma[0] = FALSE;
  json->pretty = pretty;
}

char *
lm_json_finish (LmJson *json)
{
  g_string_append_c (json->out, '\n');
  char *text = g_string_free (json->out, FALSE);
  json->out = NULL;
  return text;
}

static void
append_escaped (GString *out, const char *s)
{
  /* JSON is UTF-8: bytes that are not (a file name in another encoding) become U+FFFD */
  g_autofree char *valid = g_utf8_validate (s, -1, NULL) ? NULL : g_utf8_make_valid (s, -1);
  if (valid)
    s = valid;
  g_string_append_c (out, '"');
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    switch (*p)
      {
      case '"': g_string_append (out, "\\\""); break;
      case '\\': g_string_append (out, "\\\\"); break;
      case '\n': g_string_append (out, "\\n"); break;
      case '\r': g_string_append (out, "\\r"); break;
      case '\t': g_string_append (out, "\\t"); break;
      default:
        if (*p < 0x20)
          g_string_append_printf (out, "\\u%04x", *p);
        else
          g_string_append_c (out, *p);
      }
  g_string_append_c (out, '"');
}

static void
prefix (LmJson *json, const char *key)
{
  if (json->need_comma[json->depth])
    g_string_append_c (json->out, ',');
  json->need_comma[json->depth] = TRUE;
  if (json->pretty && json->depth > 0)
    {
      g_string_append_c (json->out, '\n');
      for (int i = 0; i < json->depth; i++)
        g_string_append (json->out, "  ");
    }
  if (key)
    {
      append_escaped (json->out, key);
      g_string_append (json->out, json->pretty ? ": " : ":");
    }
}

static void
open_scope (LmJson *json, const char *key, char c)
{
  prefix (json, key);
  g_string_append_c (json->out, c);
  g_assert (json->depth + 1 < (int) G_N_ELEMENTS (json->need_comma));
  json->need_comma[++json->depth] = FALSE;
}

static void
close_scope (LmJson *json, char c)
{
  gboolean had_items = json->need_comma[json->depth];
  json->depth--;
  if (json->pretty && had_items)
    {
      g_string_append_c (json->out, '\n');
      for (int i = 0; i < json->depth; i++)
        g_string_append (json->out, "  ");
    }
  g_string_append_c (json->out, c);
}

void lm_json_begin_object (LmJson *json, const char *key) { open_scope (json, key, '{'); }
void lm_json_end_object (LmJson *json) { close_scope (json, '}'); }
void lm_json_begin_array (LmJson *json, const char *key) { open_scope (json, key, '['); }
void lm_json_end_array (LmJson *json) { close_scope (json, ']'); }

void
lm_json_string (LmJson *json, const char *key, const char *value)
{
  prefix (json, key);
  if (value)
    append_escaped (json->out, value);
  else
    g_string_append (json->out, "null");
}

void
lm_json_int (LmJson *json, const char *key, gint64 value)
{
  prefix (json, key);
  g_string_append_printf (json->out, "%" G_GINT64_FORMAT, value);
}

void
lm_json_double (LmJson *json, const char *key, double value)
{
  prefix (json, key);
  if (!isfinite (value))
    {
      g_string_append (json->out, "null");
      return;
    }
  /* The shortest text that reads back to the same double. */
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  for (int digits = 1; digits <= 17; digits++)
    {
      char format[8];
      g_snprintf (format, sizeof format, "%%.%dg", digits);
      g_ascii_formatd (buf, sizeof buf, format, value);
      if (g_ascii_strtod (buf, NULL) == value)
        break;
    }
  g_string_append (json->out, buf);
}

void
lm_json_bool (LmJson *json, const char *key, gboolean value)
{
  prefix (json, key);
  g_string_append (json->out, value ? "true" : "false");
}

void
lm_json_null (LmJson *json, const char *key)
{
  prefix (json, key);
  g_string_append (json->out, "null");
}
