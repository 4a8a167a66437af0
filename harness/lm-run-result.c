/* lm-run-result.c — a run's result record: JSON out and back, log-probability files. */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/lm-error.h"
#include "harness/lm-json.h"
#include "harness/lm-run-result.h"

typedef enum { F_STRING, F_INT, F_U64, F_U32, F_DOUBLE, F_BOOL } FieldType;

typedef struct {
  const char *key;
  FieldType type;
  gsize offset;
} Field;

#define S(key, member) { key, F_STRING, offsetof (LmRunResult, member) }
#define I(key, member) { key, F_INT, offsetof (LmRunResult, member) }
#define D(key, member) { key, F_DOUBLE, offsetof (LmRunResult, member) }
#define B(key, member) { key, F_BOOL, offsetof (LmRunResult, member) }
#define EVAL(part)                                                                               \
  B (#part "_has_rank", part.has_rank), B (#part "_has_predicted", part.has_predicted),          \
  { #part "_tokens", F_U64, offsetof (LmRunResult, part.tokens) },                               \
  { #part "_oov", F_U64, offsetof (LmRunResult, part.oov) },                                     \
  { #part "_characters", F_U64, offsetof (LmRunResult, part.characters) },                       \
  D (#part "_total_nats", part.total_nats), D (#part "_nats_per_token", part.nats_per_token),     \
  D (#part "_perplexity", part.perplexity), D (#part "_bits_per_token", part.bits_per_token),     \
  D (#part "_bits_per_char", part.bits_per_char), D (#part "_top1_accuracy", part.top1_accuracy), \
  D (#part "_top5_accuracy", part.top5_accuracy),                                                \
  { #part "_classes", F_U32, offsetof (LmRunResult, part.n_classes) },                           \
  D (#part "_macro_precision", part.macro_precision),                                            \
  D (#part "_macro_recall", part.macro_recall), D (#part "_macro_f1", part.macro_f1)

/* The keys of result.json, in the order written. */
static const Field fields[] = {
  S ("name", name),
  S ("model", model),
  S ("summary", summary),
  S ("vocab_fingerprint", vocab_fingerprint),
  S ("corpus_digest", corpus_digest),
  S ("blas_kernel", blas_kernel),
  I ("threads", threads),
  I ("params", params),
  I ("model_bytes", model_bytes),
  I ("model_file_bytes", model_file_bytes),
  D ("forward_flops_per_token", forward_flops),
  I ("steps", steps),
  I ("epochs", epochs),
  I ("train_tokens", train_tokens),
  D ("train_seconds", train_seconds),
  D ("train_tokens_per_s", train_tokens_per_s),
  D ("train_loss", train_loss),
  B ("resumed", resumed),
  B ("stopped_early", stopped_early),
  I ("nonfinite_steps", nonfinite_steps),
  B ("has_valid", has_valid),
  EVAL (valid),
  B ("has_test", has_test),
  EVAL (test),
  D ("eval_seconds", eval_seconds),
  D ("eval_tokens_per_s", eval_tokens_per_s),
  I ("gen_sentences", gen_sentences),
  I ("gen_tokens", gen_tokens),
  D ("gen_seconds", gen_seconds),
  D ("bleu", bleu),
  D ("bleu_brevity_penalty", bleu_brevity_penalty),
  D ("rouge1_f1", rouge1_f1),
  D ("rouge2_f1", rouge2_f1),
  D ("rougeL_f1", rougeL_f1),
  D ("peak_rss_mib", peak_rss_mib),
};

static gint64
field_int (const LmRunResult *r, const Field *f)
{
  const char *p = (const char *) r + f->offset;
  if (f->type == F_U64)
    return (gint64) * (const guint64 *) p;
  if (f->type == F_U32)
    return *(const guint32 *) p;
  return *(const gint64 *) p;
}

static void
field_set_int (LmRunResult *r, const Field *f, gint64 v)
{
  char *p = (char *) r + f->offset;
  if (f->type == F_U64)
    *(guint64 *) p = (guint64) v;
  else if (f->type == F_U32)
    *(guint32 *) p = (guint32) v;
  else
    *(gint64 *) p = v;
}

void
lm_run_result_init (LmRunResult *r)
{
  memset (r, 0, sizeof *r);
  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    if (fields[i].type == F_DOUBLE)
      *(double *) ((char *) r + fields[i].offset) = NAN;
}

void
lm_run_result_clear (LmRunResult *r)
{
  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    if (fields[i].type == F_STRING)
      g_free (*(char **) ((char *) r + fields[i].offset));
  lm_run_result_init (r);
}

char *
lm_run_result_to_json (const LmRunResult *r)
{
  LmJson j;
  lm_json_init (&j, TRUE);
  lm_json_begin_object (&j, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      const Field *f = &fields[i];
      const char *p = (const char *) r + f->offset;
      switch (f->type)
        {
        case F_STRING:
          if (*(char *const *) p)
            lm_json_string (&j, f->key, *(char *const *) p);
          else
            lm_json_null (&j, f->key);
          break;
        case F_INT:
        case F_U64:
        case F_U32:
          lm_json_int (&j, f->key, field_int (r, f));
          break;
        case F_DOUBLE:
          lm_json_double (&j, f->key, *(const double *) p);
          break;
        case F_BOOL:
          lm_json_bool (&j, f->key, *(const gboolean *) p);
          break;
        }
    }
  lm_json_end_object (&j);
  return lm_json_finish (&j);
}

gboolean
lm_run_result_save (const LmRunResult *r, const char *path, GError **error)
{
  g_autofree char *text = lm_run_result_to_json (r);
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents (path, text, -1, &local))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
lm_run_result_load (LmRunResult *r, const char *path, GError **error)
{
  lm_run_result_init (r);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &text, NULL, &local))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  g_autoptr (GHashTable) table = lm_flat_json_parse (text, path, error);
  if (table == NULL)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      const Field *f = &fields[i];
      char *p = (char *) r + f->offset;
      gpointer value = NULL;
      if (!g_hash_table_lookup_extended (table, f->key, NULL, &value))
        {
          g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT,
                       "%s: key '%s' is missing (written by another lmlab version?)", path,
                       f->key);
          lm_run_result_clear (r);
          return FALSE;
        }
      const char *v = value;
      switch (f->type)
        {
        case F_STRING:
          *(char **) p = g_strdup (v);
          break;
        case F_INT:
        case F_U64:
        case F_U32:
          field_set_int (r, f, v ? g_ascii_strtoll (v, NULL, 10) : 0);
          break;
        case F_DOUBLE:
          *(double *) p = v ? g_ascii_strtod (v, NULL) : NAN;
          break;
        case F_BOOL:
          *(gboolean *) p = g_strcmp0 (v, "true") == 0;
          break;
        }
    }
  return TRUE;
}

/* ---- flat JSON ------------------------------------------------------------------------- */

typedef struct {
  const char *p;
  const char *start;
  const char *name;
} Reader;

static void
skip_space (Reader *rd)
{
  while (*rd->p == ' ' || *rd->p == '\n' || *rd->p == '\t' || *rd->p == '\r')
    rd->p++;
}

static gboolean
fail (Reader *rd, GError **error, const char *what)
{
  g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT, "%s: byte %td: %s", rd->name,
               rd->p - rd->start, what);
  return FALSE;
}

static gboolean
read_string (Reader *rd, char **out, GError **error)
{
  if (*rd->p != '"')
    return fail (rd, error, "expected a string");
  rd->p++;
  GString *s = g_string_new (NULL);
  while (*rd->p && *rd->p != '"')
    {
      if (*rd->p != '\\')
        {
          g_string_append_c (s, *rd->p++);
          continue;
        }
      rd->p++;
      char c = *rd->p++;
      switch (c)
        {
        case '"': case '\\': case '/': g_string_append_c (s, c); break;
        case 'b': g_string_append_c (s, '\b'); break;
        case 'f': g_string_append_c (s, '\f'); break;
        case 'n': g_string_append_c (s, '\n'); break;
        case 'r': g_string_append_c (s, '\r'); break;
        case 't': g_string_append_c (s, '\t'); break;
        case 'u':
          {
            gunichar u = 0;
            for (int k = 0; k < 4; k++)
              {
                int d = g_ascii_xdigit_value (rd->p[k]);
                if (d < 0)
                  {
                    g_string_free (s, TRUE);
                    return fail (rd, error, "bad \\u escape");
                  }
                u = u * 16 + d;
              }
            rd->p += 4;
            /* A surrogate pair: combine with the low half that must follow. */
            if (u >= 0xD800 && u < 0xDC00 && rd->p[0] == '\\' && rd->p[1] == 'u')
              {
                gunichar lo = 0;
                for (int k = 2; k < 6; k++)
                  lo = lo * 16 + MAX (g_ascii_xdigit_value (rd->p[k]), 0);
                rd->p += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
              }
            g_string_append_unichar (s, u);
            break;
          }
        default:
          g_string_free (s, TRUE);
          return fail (rd, error, "bad escape");
        }
    }
  if (*rd->p != '"')
    {
      g_string_free (s, TRUE);
      return fail (rd, error, "unterminated string");
    }
  rd->p++;
  *out = g_string_free (s, FALSE);
  return TRUE;
}

GHashTable *
lm_flat_json_parse (const char *text, const char *name, GError **error)
{
  Reader rd = { text, text, name };
  g_autoptr (GHashTable) table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  skip_space (&rd);
  if (*rd.p++ != '{')
    return fail (&rd, error, "expected '{'"), NULL;
  skip_space (&rd);
  if (*rd.p == '}')
    return g_steal_pointer (&table);
  for (;;)
    {
      skip_space (&rd);
      char *key = NULL;
      if (!read_string (&rd, &key, error))
        return NULL;
      skip_space (&rd);
      if (*rd.p++ != ':')
        {
          g_free (key);
          return fail (&rd, error, "expected ':'"), NULL;
        }
      skip_space (&rd);
      char *value = NULL;
      if (*rd.p == '"')
        {
          if (!read_string (&rd, &value, error))
            {
              g_free (key);
              return NULL;
            }
        }
      else
        {
          const char *begin = rd.p;
          while (*rd.p && strchr (",} \n\t\r", *rd.p) == NULL)
            rd.p++;
          if (rd.p == begin)
            {
              g_free (key);
              return fail (&rd, error, "expected a value"), NULL;
            }
          g_autofree char *word = g_strndup (begin, rd.p - begin);
          if (!g_str_equal (word, "null"))
            value = g_steal_pointer (&word);
        }
      g_hash_table_insert (table, key, value);
      skip_space (&rd);
      if (*rd.p == ',')
        {
          rd.p++;
          continue;
        }
      if (*rd.p == '}')
        break;
      return fail (&rd, error, "expected ',' or '}'"), NULL;
    }
  return g_steal_pointer (&table);
}

/* ---- log-probability files -------------------------------------------------------------- */

static const char lnp_magic[8] = { 'L', 'M', 'L', 'N', 'P', '0', '0', '1' };

gboolean
lm_logprobs_save (const char *path, const double *logprobs, gsize n, GError **error)
{
  gsize bytes = sizeof lnp_magic + sizeof (guint64) + n * sizeof (double);
  g_autofree char *buf = g_malloc (bytes);
  guint64 n64 = n;
  memcpy (buf, lnp_magic, sizeof lnp_magic);
  memcpy (buf + sizeof lnp_magic, &n64, sizeof n64);
  if (n)
    memcpy (buf + sizeof lnp_magic + sizeof n64, logprobs, n * sizeof (double));
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents (path, buf, bytes, &local))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  return TRUE;
}

double *
lm_logprobs_load (const char *path, gsize *n, GError **error)
{
  g_autofree char *buf = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &buf, &len, &local))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s", local->message);
      return NULL;
    }
  guint64 n64 = 0;
  if (len < sizeof lnp_magic + sizeof n64 || memcmp (buf, lnp_magic, sizeof lnp_magic) != 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT, "%s is not a log-probability file", path);
      return NULL;
    }
  memcpy (&n64, buf + sizeof lnp_magic, sizeof n64);
  if (len != sizeof lnp_magic + sizeof n64 + n64 * sizeof (double))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT, "%s: truncated (%zu bytes for %" G_GUINT64_FORMAT
                   " values)", path, len, n64);
      return NULL;
    }
  double *out = g_new (double, MAX (n64, 1));
  memcpy (out, buf + sizeof lnp_magic + sizeof n64, n64 * sizeof (double));
  *n = n64;
  return out;
}
