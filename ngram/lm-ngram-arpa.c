/* lm-ngram-arpa.c — ARPA text files to and from LmNgramTable (see the header). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "core/lm-checkpoint.h"
#include "core/lm-error.h"
#include "ngram/lm-ngram-arpa.h"

#define LN10 2.302585092994045684

/* ---- writing ---------------------------------------------------------------------- */

/* log10 value as text that reads back to the same float: 12 decimals (at least 9
 * significant digits) in the common range, %.9g outside it. */
static int
format_log10 (char *buf, double x)
{
  if (isinf (x) && x < 0)
    return sprintf (buf, "-99");
  double a = fabs (x);
  if (a == 0.0)
    return sprintf (buf, "0");
  if (a < 1e-3 || a >= 1e6)
    {
      g_ascii_formatd (buf, 32, "%.9g", x);
      return (int) strlen (buf);
    }
  gint64 scaled = llround (a * 1e12);
  gint64 ipart = scaled / 1000000000000LL, frac = scaled % 1000000000000LL;
  char *p = buf;
  if (x < 0)
    *p++ = '-';
  char rev[24];
  int n = 0;
  do
    {
      rev[n++] = (char) ('0' + ipart % 10);
      ipart /= 10;
    }
  while (ipart > 0);
  while (n > 0)
    *p++ = rev[--n];
  if (frac)
    {
      char digits[12];
      for (int k = 11; k >= 0; k--)
        {
          digits[k] = (char) ('0' + frac % 10);
          frac /= 10;
        }
      n = 12;
      while (n > 0 && digits[n - 1] == '0')
        n--;
      *p++ = '.';
      memcpy (p, digits, n);
      p += n;
    }
  *p = '\0';
  return (int) (p - buf);
}

/* ARPA words are raw bytes separated by whitespace (KenLM and SRILM read them so), so
 * only whitespace and control bytes, which a word cannot hold, are written as \xNN; a
 * backslash stays as it is (PTB has words such as 1\/2-year). */
static char *
escape_word (const char *s)
{
  GString *out = g_string_new (NULL);
  for (const guint8 *p = (const guint8 *) s; *p; p++)
    {
      if (*p <= 0x20 || *p == 0x7f)
        g_string_append_printf (out, "\\x%02x", *p);
      else
        g_string_append_c (out, (char) *p);
    }
  return g_string_free (out, FALSE);
}

/* A write buffer over a file descriptor: fprintf is far too slow for millions of
 * lines. */
typedef struct {
  int fd;
  char *buf;
  gsize len, cap;
  int error; /* errno of the first failure */
} Out;

static void
out_flush (Out *o)
{
  gsize done = 0;
  while (done < o->len && o->error == 0)
    {
      gssize w = write (o->fd, o->buf + done, o->len - done);
      if (w < 0)
        {
          if (errno != EINTR)
            o->error = errno;
          continue;
        }
      done += (gsize) w;
    }
  o->len = 0;
}

static inline char *
out_reserve (Out *o, gsize n)
{
  if (o->len + n > o->cap)
    out_flush (o);
  return o->buf + o->len;
}

static inline void
out_put (Out *o, const char *s, gsize n)
{
  if (n > o->cap / 2)
    {
      out_flush (o);
      gsize saved_len = o->len;
      char *saved = o->buf;
      o->buf = (char *) s;
      o->len = n;
      out_flush (o);
      o->buf = saved;
      o->len = saved_len;
      return;
    }
  memcpy (out_reserve (o, n), s, n);
  o->len += n;
}

static inline void
out_char (Out *o, char c)
{
  *out_reserve (o, 1) = c;
  o->len++;
}

gboolean
lm_ngram_table_write_arpa (const LmNgramTable *table, const LmVocab *vocab, const char *path,
                           gboolean replace, GError **error)
{
  const guint32 V = table->vocab_size;
  if (lm_vocab_size (vocab) != V)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
                   "writing %s: the vocabulary has %u ids but the model %u", path,
                   lm_vocab_size (vocab), V);
      return FALSE;
    }
  /* A symbol other than </s> that ends sentences is written as </s>; the unused </s>
   * id then has probability 0 and is left out. */
  gboolean aliased = table->eos >= 0 && table->eos != LM_TOKEN_EOS;
  char **words = g_new0 (char *, V + 1);
  guint32 *word_len = g_new (guint32, V);
  for (guint32 v = 0; v < V; v++)
    {
      words[v] = (gint32) v == table->eos ? g_strdup ("</s>")
                                          : escape_word (lm_vocab_symbol (vocab, (gint32) v));
      word_len[v] = (guint32) strlen (words[v]);
    }

  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.tmp-XXXXXX", dir, base);
  int fd = g_mkstemp (tmp);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot create a temporary file beside %s: %s",
                   path, g_strerror (e));
      g_strfreev (words);
      g_free (word_len);
      return FALSE;
    }
  /* mkstemp creates 0600; give the file the permissions a plain create would. */
  mode_t mask = umask (0);
  umask (mask);
  fchmod (fd, 0666 & ~mask);
  Out o = { fd, g_malloc (1 << 20), 0, 1 << 20, 0 };

  guint32 *parent[LM_NGRAM_MAX_ORDER] = { NULL };
  for (int i = 1; i < table->order; i++)
    parent[i] = lm_ngram_table_parents (table, i);

  /* a blank line, then \data\: KenLM accepts nothing else before it */
  GString *header = g_string_new ("\n\\data\\\n");
  for (int i = 0; i < table->order; i++)
    g_string_append_printf (header, "ngram %d=%u\n", i + 1,
                            table->level[i].n - (i == 0 && aliased ? 1 : 0));
  out_put (&o, header->str, header->len);
  g_string_free (header, TRUE);
  for (int i = 0; i < table->order; i++)
    {
      const LmNgramLevel *lv = &table->level[i];
      char section[32];
      int len = sprintf (section, "\n\\%d-grams:\n", i + 1);
      out_put (&o, section, len);
      for (guint32 g = 0; g < lv->n; g++)
        {
          if (i == 0 && aliased && g == LM_TOKEN_EOS)
            continue;
          char *p = out_reserve (&o, 80);
          len = format_log10 (p, lv->logprob[g] / LN10);
          p[len] = '\t';
          o.len += len + 1;
          guint32 node = g;
          for (int k = i; k >= 0; k--)
            {
              guint32 w = k > 0 ? table->level[k].word[node] : node;
              out_put (&o, words[w], word_len[w]);
              if (k > 0)
                {
                  out_char (&o, ' ');
                  node = parent[k][node];
                }
            }
          if (lv->backoff)
            {
              p = out_reserve (&o, 80);
              *p = '\t';
              len = format_log10 (p + 1, lv->backoff[g] / LN10);
              o.len += len + 1;
            }
          out_char (&o, '\n');
        }
    }
  out_put (&o, "\n\\end\\\n", 7);
  out_flush (&o);
  for (int i = 1; i < table->order; i++)
    g_free (parent[i]);
  g_strfreev (words);
  g_free (word_len);
  g_free (o.buf);

  int e = o.error;
  gboolean ok = e == 0;
  if (ok && fsync (fd) != 0)
    {
      e = errno;
      ok = FALSE;
    }
  if (close (fd) != 0 && ok)
    {
      e = errno;
      ok = FALSE;
    }
  if (!ok)
    {
      g_unlink (tmp);
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "writing %s: %s", path, g_strerror (e));
      return FALSE;
    }
  return lm_file_publish (tmp, path, replace, error);
}

/* ---- reading ---------------------------------------------------------------------- */

typedef struct {
  const char *name;
  const char *p, *end;
  gsize line;      /* number of the line last returned */
  const char *s;   /* that line, without the newline (and a trailing \r) */
  gsize len;
} Reader;

static gboolean
next_line (Reader *r)
{
  if (r->p >= r->end)
    return FALSE;
  const char *nl = memchr (r->p, '\n', r->end - r->p);
  const char *stop = nl ? nl : r->end;
  r->s = r->p;
  r->len = stop - r->p;
  if (r->len > 0 && r->s[r->len - 1] == '\r')
    r->len--;
  r->p = nl ? nl + 1 : r->end;
  r->line++;
  return TRUE;
}

static gboolean
is_blank (const Reader *r)
{
  for (gsize i = 0; i < r->len; i++)
    if (!g_ascii_isspace (r->s[i]))
      return FALSE;
  return TRUE;
}

/* The line without leading/trailing blanks equals text. */
static gboolean
line_is (const Reader *r, const char *text)
{
  gsize a = 0, b = r->len, n = strlen (text);
  while (a < b && g_ascii_isspace (r->s[a]))
    a++;
  while (b > a && g_ascii_isspace (r->s[b - 1]))
    b--;
  return b - a == n && memcmp (r->s + a, text, n) == 0;
}

static gboolean
fail (GError **error, const Reader *r, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
fail (GError **error, const Reader *r, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT, "%s:%" G_GSIZE_FORMAT ": %s", r->name,
               r->line, msg);
  return FALSE;
}

/* Split the line into whitespace-separated fields (at most max). */
static int
split_fields (const Reader *r, const char **start, gsize *len, int max)
{
  int n = 0;
  gsize i = 0;
  while (i < r->len)
    {
      while (i < r->len && (r->s[i] == ' ' || r->s[i] == '\t'))
        i++;
      if (i >= r->len)
        break;
      gsize j = i;
      while (j < r->len && r->s[j] != ' ' && r->s[j] != '\t')
        j++;
      if (n == max)
        return max + 1;
      start[n] = r->s + i;
      len[n++] = j - i;
      i = j;
    }
  return n;
}

/* Plain decimals ("-1.234") with at most 15 significant digits: the mantissa and the
 * power of ten are exact doubles, so one division rounds correctly, as strtod does. */
static gboolean
fast_decimal (const char *s, gsize len, double *out)
{
  static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                                  1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
                                  1e20, 1e21, 1e22 };
  gsize i = 0;
  gboolean neg = FALSE, dot = FALSE, any = FALSE;
  if (i < len && (s[i] == '-' || s[i] == '+'))
    neg = s[i++] == '-';
  guint64 mant = 0;
  int digits = 0, frac = 0;
  for (; i < len; i++)
    {
      char c = s[i];
      if (c >= '0' && c <= '9')
        {
          mant = mant * 10 + (guint64) (c - '0');
          digits += mant != 0;
          frac += dot;
          any = TRUE;
          if (digits > 15 || frac > 22)
            return FALSE;
        }
      else if (c == '.' && !dot)
        dot = TRUE;
      else
        return FALSE;
    }
  if (!any)
    return FALSE;
  double x = (double) mant / pow10[frac];
  *out = neg ? -x : x;
  return TRUE;
}

/* A log10 number field; -99 (or less) is log10(0). */
static gboolean
parse_log10 (const Reader *r, const char *s, gsize len, const char *what, gboolean allow_positive,
             float *out, GError **error)
{
  char buf[64];
  double x;
  if (!fast_decimal (s, len, &x))
    {
      if (len == 0 || len >= sizeof buf)
        return fail (error, r, "the %s '%.*s' is not a number", what, (int) MIN (len, 40), s);
      memcpy (buf, s, len);
      buf[len] = '\0';
      char *endp;
      x = g_ascii_strtod (buf, &endp);
      /* endp must reach the field's end, not only a NUL byte inside it */
      if (endp != buf + len || endp == buf || !isfinite (x))
        return fail (error, r, "the %s '%s' is not a finite number", what, buf);
    }
  else
    {
      memcpy (buf, s, MIN (len, sizeof buf - 1));
      buf[MIN (len, sizeof buf - 1)] = '\0';
    }
  if (!allow_positive && x > 0.0)
    return fail (error, r, "the %s %s is above 0 (a probability above 1)", what, buf);
  *out = x <= -99.0 ? -INFINITY : (float) (x * LN10);
  return TRUE;
}

/* Word strings to vocabulary ids: a small open-addressing table over the unigrams. */
typedef struct {
  guint32 mask;
  gint32 *id;          /* -1 empty */
  const char *data;
  gsize *offset;       /* [V] where each id's word is in the file */
  guint32 *len;        /* [V] its length */
} WordMap;

static guint64
hash_bytes (const char *s, gsize len)
{
  guint64 h = 1469598103934665603ULL; /* FNV-1a */
  for (gsize i = 0; i < len; i++)
    h = (h ^ (guint8) s[i]) * 1099511628211ULL;
  return h ^ (h >> 29);
}

static gint32
wordmap_find (const WordMap *m, const char *s, gsize len, guint32 *slot_out)
{
  guint32 slot = (guint32) hash_bytes (s, len) & m->mask;
  for (;; slot = (slot + 1) & m->mask)
    {
      gint32 id = m->id[slot];
      if (id < 0)
        break;
      if (m->len[id] == len && memcmp (m->data + m->offset[id], s, len) == 0)
        {
          *slot_out = slot;
          return id;
        }
    }
  *slot_out = slot;
  return -1;
}

typedef struct {
  guint32 n, cap;
  guint32 *ids;    /* [n * order_of_level] */
  float *lp, *bo;
  guint32 *line;   /* 0 for an inserted (blank) entry */
} ArpaLevel;

static void
arpa_level_push (ArpaLevel *lv, int width, const guint32 *ids, float lp, float bo, guint32 line)
{
  if (lv->n == lv->cap)
    {
      lv->cap = MAX (16, lv->cap * 2);
      lv->ids = g_renew (guint32, lv->ids, (gsize) lv->cap * width);
      lv->lp = g_renew (float, lv->lp, lv->cap);
      lv->bo = g_renew (float, lv->bo, lv->cap);
      lv->line = g_renew (guint32, lv->line, lv->cap);
    }
  memcpy (lv->ids + (gsize) lv->n * width, ids, width * sizeof (guint32));
  lv->lp[lv->n] = lp;
  lv->bo[lv->n] = bo;
  lv->line[lv->n++] = line;
}

static void
arpa_level_clear (ArpaLevel *lv)
{
  g_free (lv->ids);
  g_free (lv->lp);
  g_free (lv->bo);
  g_free (lv->line);
  memset (lv, 0, sizeof *lv);
}

/* Room for the entries a section declares, as far as the file can hold them (each
 * line takes at least 2 bytes per word and 2 more), so a lying header cannot make
 * lmlab allocate what the file could not fill. */
static void
arpa_level_reserve (ArpaLevel *lv, int width, guint64 declared, gsize file_len)
{
  guint64 cap = MIN (declared, file_len / (2 * (gsize) width + 2) + 1);
  if (cap <= lv->cap)
    return;
  lv->cap = (guint32) cap;
  lv->ids = g_renew (guint32, lv->ids, (gsize) lv->cap * width);
  lv->lp = g_renew (float, lv->lp, lv->cap);
  lv->bo = g_renew (float, lv->bo, lv->cap);
  lv->line = g_renew (guint32, lv->line, lv->cap);
}

/* The common number form, as fast_decimal reads it, ended by a blank or the line's
 * end: "-1.2345". NULL for anything else. */
static inline const char *
fast_number (const char *p, const char *end, double *out)
{
  static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                                  1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
                                  1e20, 1e21, 1e22 };
  gboolean neg = p < end && *p == '-';
  p += neg;
  guint64 mant = 0;
  int digits = 0, frac = 0, any = 0;
  for (; p < end && *p >= '0' && *p <= '9'; p++, any++)
    {
      mant = mant * 10 + (guint64) (*p - '0');
      digits += mant != 0;
    }
  if (p < end && *p == '.')
    for (p++; p < end && *p >= '0' && *p <= '9'; p++, any++, frac++)
      {
        mant = mant * 10 + (guint64) (*p - '0');
        digits += mant != 0;
      }
  if (!any || digits > 15 || frac > 22 || (p < end && *p != ' ' && *p != '\t' && *p != '\n'))
    return NULL;
  double x = (double) mant / pow10[frac];
  *out = neg ? -x : x;
  return p;
}

/* One n-gram line of width words in the plain form lmlab, KenLM and SRILM write
 * ("lp<TAB>w1 .. wn[<TAB>bo]\n", blanks ' ' or '\t', no '\r'), parsed in one pass:
 * the position after its newline, or NULL when the line needs the general reader
 * (which also words every error). */
static inline const char *
fast_entry (const char *p, const char *end, const WordMap *map, int width, gboolean allow_bo,
            guint32 *ids, float *lp, float *bo)
{
  double x;
  if (!(p = fast_number (p, end, &x)) || x > 0.0)
    return NULL;
  *lp = x <= -99.0 ? -INFINITY : (float) (x * LN10);
  for (int j = 0; j < width; j++)
    {
      if (p == end || (*p != ' ' && *p != '\t'))
        return NULL;
      while (p < end && (*p == ' ' || *p == '\t'))
        p++;
      const char *word = p;
      guint64 h = 1469598103934665603ULL; /* hash_bytes, as the word is scanned */
      for (; p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r'; p++)
        h = (h ^ (guint8) *p) * 1099511628211ULL;
      gsize len = (gsize) (p - word);
      if (len == 0)
        return NULL;
      h ^= h >> 29;
      gint32 id = -1;
      for (guint32 slot = (guint32) h & map->mask;; slot = (slot + 1) & map->mask)
        {
          id = map->id[slot];
          if (id < 0)
            return NULL;
          if (map->len[id] == len && memcmp (map->data + map->offset[id], word, len) == 0)
            break;
        }
      ids[j] = (guint32) id;
    }
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  *bo = 0.0f;
  if (p < end && *p != '\n')
    {
      if (!allow_bo || !(p = fast_number (p, end, &x)))
        return NULL;
      *bo = x <= -99.0 ? -INFINITY : (float) (x * LN10);
      while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    }
  if (p < end && *p != '\n')
    return NULL;
  return p < end ? p + 1 : p;
}

/* Compare two n-grams in suffix order (last word most significant). */
static inline int
cmp_suffix (const guint32 *a, const guint32 *b, int width)
{
  for (int k = width - 1; k >= 0; k--)
    if (a[k] != b[k])
      return a[k] < b[k] ? -1 : 1;
  return 0;
}

/* Sort a level in suffix order (LSD radix on the ids), then merge duplicates: an
 * inserted entry gives way to a read one; two read ones are an error. */
static gboolean
sort_level (ArpaLevel *lv, int width, guint32 V, const char *name, GError **error)
{
  guint32 n = lv->n;
  guint32 *perm = g_new (guint32, MAX (n, 1)), *tmp = g_new (guint32, MAX (n, 1));
  guint32 *bucket = g_new (guint32, (gsize) V + 1);
  for (guint32 j = 0; j < n; j++)
    perm[j] = j;
  for (int k = 0; k < width; k++)
    {
      memset (bucket, 0, ((gsize) V + 1) * sizeof (guint32));
      for (guint32 j = 0; j < n; j++)
        bucket[lv->ids[(gsize) perm[j] * width + k] + 1]++;
      for (guint32 v = 0; v < V; v++)
        bucket[v + 1] += bucket[v];
      for (guint32 j = 0; j < n; j++)
        tmp[bucket[lv->ids[(gsize) perm[j] * width + k]]++] = perm[j];
      guint32 *swap = perm;
      perm = tmp;
      tmp = swap;
    }
  g_free (bucket);
  ArpaLevel out = { 0 };
  out.cap = MAX (n, 1);
  out.ids = g_new (guint32, (gsize) out.cap * width);
  out.lp = g_new (float, out.cap);
  out.bo = g_new (float, out.cap);
  out.line = g_new (guint32, out.cap);
  gboolean ok = TRUE;
  for (guint32 j = 0; j < n && ok; j++)
    {
      guint32 src = perm[j];
      const guint32 *ids = lv->ids + (gsize) src * width;
      if (out.n > 0 && cmp_suffix (out.ids + (gsize) (out.n - 1) * width, ids, width) == 0)
        {
          guint32 last = out.n - 1;
          if (out.line[last] && lv->line[src])
            {
              g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                           "%s:%u: duplicate %d-gram (also on line %u)", name,
                           MAX (out.line[last], lv->line[src]), width,
                           MIN (out.line[last], lv->line[src]));
              ok = FALSE;
            }
          else if (lv->line[src])
            {
              out.lp[last] = lv->lp[src];
              out.bo[last] = lv->bo[src];
              out.line[last] = lv->line[src];
            }
          continue;
        }
      arpa_level_push (&out, width, ids, lv->lp[src], lv->bo[src], lv->line[src]);
    }
  g_free (perm);
  g_free (tmp);
  arpa_level_clear (lv);
  *lv = out;
  return ok;
}

/* A hash set of a level's n-grams (entry numbers, + 1; 0 is empty). */
typedef struct {
  guint32 mask;
  guint32 *slot;
} GramSet;

static inline guint64
hash_ids (const guint32 *ids, int width)
{
  guint64 h = 0x9E3779B97F4A7C15ULL;
  for (int k = 0; k < width; k++)
    h = (h ^ ids[k]) * 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 31);
}

static void
gramset_insert (GramSet *set, const ArpaLevel *lv, int width, guint32 entry)
{
  guint32 at = (guint32) hash_ids (lv->ids + (gsize) entry * width, width) & set->mask;
  while (set->slot[at])
    at = (at + 1) & set->mask;
  set->slot[at] = entry + 1;
}

static gboolean
gramset_has (const GramSet *set, const ArpaLevel *lv, int width, const guint32 *ids)
{
  guint32 at = (guint32) hash_ids (ids, width) & set->mask;
  for (; set->slot[at]; at = (at + 1) & set->mask)
    if (memcmp (lv->ids + (gsize) (set->slot[at] - 1) * width, ids, width * sizeof (guint32)) == 0)
      return TRUE;
  return FALSE;
}

/* Whether a level is already in strict suffix order (files written by lmlab are). */
static gboolean
level_sorted (const ArpaLevel *lv, int width)
{
  for (guint32 g = 1; g < lv->n; g++)
    if (cmp_suffix (lv->ids + (gsize) (g - 1) * width, lv->ids + (gsize) g * width, width) >= 0)
      return FALSE;
  return TRUE;
}

/* Close the levels under suffixes and contexts: add each missing one as an entry with
 * no line (its probability is filled in once the table exists). */
static void
close_levels (ArpaLevel *lv, int order)
{
  for (int i = order - 1; i >= 2; i--)
    {
      int w = i + 1;
      guint32 size = 16;
      while (size < 2 * (lv[i - 1].n + 2 * lv[i].n))
        size *= 2;
      GramSet set = { size - 1, g_new0 (guint32, size) };
      for (guint32 g = 0; g < lv[i - 1].n; g++)
        gramset_insert (&set, &lv[i - 1], w - 1, g);
      guint32 tmp[LM_NGRAM_MAX_ORDER];
      for (guint32 g = 0; g < lv[i].n; g++)
        for (int part = 0; part < 2; part++)
          {
            /* part 0: the suffix w_2..w_n; part 1: the context w_1..w_{n-1} */
            memcpy (tmp, lv[i].ids + (gsize) g * w + (part == 0), (w - 1) * sizeof (guint32));
            if (!gramset_has (&set, &lv[i - 1], w - 1, tmp))
              {
                arpa_level_push (&lv[i - 1], w - 1, tmp, NAN, 0.0f, 0);
                gramset_insert (&set, &lv[i - 1], w - 1, lv[i - 1].n - 1);
              }
          }
      g_free (set.slot);
    }
}

/* The table of sorted levels, or NULL when a suffix or a context of some n-gram is
 * missing (the levels are not closed). */
static LmNgramTable *
table_from_sorted (ArpaLevel *lv, int order, guint32 V, const float *uni_lp,
                   const float *uni_bo)
{
  guint32 counts[LM_NGRAM_MAX_ORDER];
  counts[0] = V;
  for (int i = 1; i < order; i++)
    counts[i] = lv[i].n;
  LmNgramTable *table = lm_ngram_table_new (order, V, LM_TOKEN_EOS, counts);
  memcpy (table->level[0].logprob, uni_lp, V * sizeof (float));
  if (order > 1)
    memcpy (table->level[0].backoff, uni_bo, V * sizeof (float));
  for (int i = 1; i < order; i++)
    {
      int w = i + 1;
      LmNgramLevel *tl = &table->level[i];
      guint32 *child = table->level[i - 1].child;
      guint32 parent = 0;
      for (guint32 g = 0; g < lv[i].n; g++)
        {
          const guint32 *ids = lv[i].ids + (gsize) g * w;
          /* Suffixes come in suffix order too: walk the level below alongside. */
          if (i == 1)
            parent = ids[1];
          else
            {
              int c = -1;
              while (parent < lv[i - 1].n
                     && (c = cmp_suffix (lv[i - 1].ids + (gsize) parent * (w - 1), ids + 1,
                                         w - 1)) < 0)
                parent++;
              if (c != 0)
                {
                  lm_ngram_table_free (table);
                  return NULL;
                }
            }
          child[parent + 1]++;
          tl->word[g] = ids[0];
          tl->logprob[g] = lv[i].lp[g];
          if (tl->backoff)
            tl->backoff[g] = lv[i].bo[g];
        }
      for (guint32 c = 0; c < table->level[i - 1].n; c++)
        child[c + 1] += child[c];
    }
  if (!lm_ngram_table_contexts_stored (table))
    {
      lm_ngram_table_free (table);
      return NULL;
    }
  return table;
}

/* Sort the levels, close them under suffixes and contexts and build the table. A file
 * that is closed already (every one KenLM, SRILM or lmlab writes without pruning) and
 * sorted (lmlab's) skips the hash sets and the sort. */
static LmNgramTable *
build_table (ArpaLevel *lv, int order, guint32 V, const float *uni_lp, const float *uni_bo,
             const char *name, GError **error)
{
  for (int i = 1; i < order; i++)
    if (!level_sorted (&lv[i], i + 1) && !sort_level (&lv[i], i + 1, V, name, error))
      return NULL;
  LmNgramTable *table = table_from_sorted (lv, order, V, uni_lp, uni_bo);
  if (table)
    return table;
  close_levels (lv, order);
  for (int i = 1; i < order; i++)
    if (!sort_level (&lv[i], i + 1, V, name, error))
      return NULL;
  table = table_from_sorted (lv, order, V, uni_lp, uni_bo);
  g_assert (table != NULL);
  /* Inserted n-grams: the probability backing off gives, ln bo(context) + ln p(parent). */
  for (int i = 1; i < order; i++)
    {
      int w = i + 1;
      LmNgramLevel *tl = &table->level[i];
      g_autofree guint32 *parent = lm_ngram_table_parents (table, i);
      for (guint32 g = 0; g < tl->n; g++)
        if (lv[i].line[g] == 0)
          {
            guint32 ctx;
            float bo = 0.0f;
            if (lm_ngram_table_find (table, (const gint32 *) (lv[i].ids + (gsize) g * w), w - 1,
                                     &ctx))
              bo = table->level[i - 1].backoff[ctx];
            tl->logprob[g] = bo + table->level[i - 1].logprob[parent[g]];
          }
    }
  return table;
}

LmNgramTable *
lm_ngram_table_read_arpa_data (const char *name, const char *data, gsize len,
                               LmVocab **vocab_out, GError **error)
{
  Reader r = { .name = name, .p = data, .end = data + len };
  gboolean found = FALSE;
  while (next_line (&r))
    if (line_is (&r, "\\data\\"))
      {
        found = TRUE;
        break;
      }
  if (!found)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "%s: no \\data\\ line: this is not an ARPA language model", name);
      return NULL;
    }
  /* "ngram N=count" lines. */
  guint64 declared[LM_NGRAM_MAX_ORDER] = { 0 };
  int order = 0;
  gboolean more;
  while ((more = next_line (&r)) && is_blank (&r))
    ;
  for (; more && !is_blank (&r) && !(r.len > 0 && r.s[0] == '\\'); more = next_line (&r))
    {
      g_autofree char *line = g_strndup (r.s, r.len);
      int n;
      guint64 count;
      char tail;
      if (sscanf (line, " ngram %d = %" G_GUINT64_FORMAT " %c", &n, &count, &tail) != 2)
        {
          fail (error, &r, "expected 'ngram N=count' in the \\data\\ header, found '%.60s'", line);
          return NULL;
        }
      if (n > LM_NGRAM_MAX_ORDER)
        {
          fail (error, &r, "order %d is above lmlab's limit of %d", n, LM_NGRAM_MAX_ORDER);
          return NULL;
        }
      if (n != order + 1)
        {
          fail (error, &r, "expected the count of order %d, found order %d", order + 1, n);
          return NULL;
        }
      if (count > G_MAXUINT32 / 2)
        {
          fail (error, &r, "%" G_GUINT64_FORMAT " %d-grams is more than lmlab can hold", count, n);
          return NULL;
        }
      declared[order++] = count;
    }
  if (order == 0 || declared[0] == 0)
    {
      fail (error, &r, "the \\data\\ header declares no %s", order ? "unigrams" : "n-gram counts");
      return NULL;
    }

  ArpaLevel lv[LM_NGRAM_MAX_ORDER] = { { 0 } };
  g_autoptr (LmVocab) vocab = NULL;
  WordMap map = { 0 };
  float *uni_lp = NULL, *uni_bo = NULL;
  LmNgramTable *table = NULL;
  const char *field[LM_NGRAM_MAX_ORDER + 2];
  gsize flen[LM_NGRAM_MAX_ORDER + 2];
  /* Unigram strings and values, kept until the vocabulary exists. */
  GArray *uni_fields = NULL;

  for (int i = 0; i < order; i++)
    {
      int w = i + 1;
      while ((more = next_line (&r)) && is_blank (&r))
        ;
      g_autofree char *header = g_strdup_printf ("\\%d-grams:", w);
      if (!more)
        {
          fail (error, &r, "the file ends before the \\%d-grams: section (truncated?)", w);
          goto out;
        }
      if (!line_is (&r, header))
        {
          fail (error, &r, "expected '%s', found '%.*s'", header, (int) MIN (r.len, 60), r.s);
          goto out;
        }
      if (i == 0)
        uni_fields = g_array_new (FALSE, FALSE, sizeof (gsize) * 2);
      guint32 ids[LM_NGRAM_MAX_ORDER];
      if (i > 0)
        arpa_level_reserve (&lv[i], w, declared[i], len);
      for (guint64 k = 0; k < declared[i]; k++)
        {
          float lp, bo;
          const char *after;
          if (i > 0 && r.p < r.end
              && (after = fast_entry (r.p, r.end, &map, w, i + 1 < order, ids, &lp, &bo)))
            {
              r.s = r.p;
              r.len = (gsize) (after - r.p) - (after[-1] == '\n');
              r.p = after;
              r.line++;
              arpa_level_push (&lv[i], w, ids, lp, bo, (guint32) r.line);
              continue;
            }
          if (!next_line (&r))
            {
              fail (error, &r, "the file ends inside the \\%d-grams: section after %" G_GUINT64_FORMAT
                    " of the %" G_GUINT64_FORMAT " entries \\data\\ declares (truncated?)", w, k,
                    declared[i]);
              goto out;
            }
          if (is_blank (&r) || r.s[0] == '\\')
            {
              fail (error, &r, "the \\%d-grams: section ends after %" G_GUINT64_FORMAT
                    " entries but \\data\\ declares %" G_GUINT64_FORMAT, w, k, declared[i]);
              goto out;
            }
          int nf = split_fields (&r, field, flen, w + 2);
          gboolean has_bo = nf == w + 2;
          if (nf != w + 1 && !(has_bo && i + 1 < order))
            {
              fail (error, &r, "expected a log10 probability, %d word%s%s; found %d field%s", w,
                    w > 1 ? "s" : "", i + 1 < order ? " and an optional backoff" : "",
                    nf > w + 2 ? nf - 1 : nf, nf == 1 ? "" : "s");
              goto out;
            }
          bo = 0.0f;
          if (!parse_log10 (&r, field[0], flen[0], "log10 probability", FALSE, &lp, error)
              || (has_bo && !parse_log10 (&r, field[w + 1], flen[w + 1], "log10 backoff", TRUE,
                                          &bo, error)))
            goto out;
          if (i == 0)
            {
              if (!g_utf8_validate (field[1], flen[1], NULL))
                {
                  fail (error, &r, "the word is not valid UTF-8");
                  goto out;
                }
              gsize span[2] = { field[1] - data, flen[1] };
              g_array_append_vals (uni_fields, span, 1);
              ids[0] = (guint32) r.line;
              arpa_level_push (&lv[0], 1, ids, lp, bo, (guint32) r.line);
              continue;
            }
          for (int j = 0; j < w; j++)
            {
              guint32 slot;
              gint32 id = wordmap_find (&map, field[1 + j], flen[1 + j], &slot);
              if (id < 0)
                {
                  fail (error, &r, "the word '%.*s' is not among the unigrams", (int) MIN (flen[1 + j], 60),
                        field[1 + j]);
                  goto out;
                }
              ids[j] = (guint32) id;
            }
          arpa_level_push (&lv[i], w, ids, lp, bo, (guint32) r.line);
        }
      if (i == 0)
        {
          /* The vocabulary: every unigram word, specials included, with ids in the
           * file's order (lmlab writes them in id order: a round trip keeps the ids, and
           * so the order in which equal probabilities rank) */
          g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
          for (guint k = 0; k < uni_fields->len; k++)
            {
              const gsize *span = &g_array_index (uni_fields, gsize, 2 * k);
              g_ptr_array_add (words, g_strndup (data + span[0], span[1]));
            }
          vocab = lm_vocab_from_symbols (LM_LEVEL_WORD, (const char *const *) words->pdata,
                                         words->len);
          guint32 V = lm_vocab_size (vocab);
          guint32 size = 16;
          while (size < 2 * V)
            size *= 2;
          map.mask = size - 1;
          map.id = g_new (gint32, size);
          map.data = data;
          map.offset = g_new0 (gsize, V);
          map.len = g_new0 (guint32, V);
          for (guint32 s = 0; s < size; s++)
            map.id[s] = -1;
          uni_lp = g_new (float, V);
          uni_bo = g_new0 (float, V);
          for (guint32 v = 0; v < V; v++)
            uni_lp[v] = NAN;
          for (guint k = 0; k < uni_fields->len; k++)
            {
              const gsize *span = &g_array_index (uni_fields, gsize, 2 * k);
              r.line = lv[0].line[k];
              gint32 id = lm_vocab_lookup (vocab, data + span[0], span[1]);
              if (id < 0)
                {
                  fail (error, &r, "the word '%.*s' cannot be a vocabulary symbol", (int) MIN (span[1], 60),
                        data + span[0]);
                  goto out;
                }
              if (!isnan (uni_lp[id]))
                {
                  fail (error, &r, "duplicate unigram '%.*s'", (int) MIN (span[1], 60), data + span[0]);
                  goto out;
                }
              guint32 slot;
              if (wordmap_find (&map, data + span[0], span[1], &slot) < 0)
                {
                  map.id[slot] = id;
                  map.offset[id] = span[0];
                  map.len[id] = (guint32) span[1];
                }
              uni_lp[id] = lv[0].lp[k];
              uni_bo[id] = lv[0].bo[k];
            }
          /* What a file may leave out: <s> is context only; </s> and <unk> get KenLM's
           * substitute log10 p = -100. */
          for (guint32 v = 0; v < V; v++)
            if (isnan (uni_lp[v]))
              uni_lp[v] = v == LM_TOKEN_BOS ? -INFINITY : (float) (-100.0 * LN10);
          g_array_free (uni_fields, TRUE);
          uni_fields = NULL;
          r.line = lv[0].line[lv[0].n - 1];
        }
    }
  while ((more = next_line (&r)) && is_blank (&r))
    ;
  if (!more)
    {
      fail (error, &r, "the file ends without \\end\\ (truncated?)");
      goto out;
    }
  if (!line_is (&r, "\\end\\"))
    {
      fail (error, &r, "expected \\end\\ after the last section, found '%.*s' (more entries than "
            "\\data\\ declares?)", (int) MIN (r.len, 60), r.s);
      goto out;
    }
  table = build_table (lv, order, lm_vocab_size (vocab), uni_lp, uni_bo, name, error);
  if (table && vocab_out)
    *vocab_out = g_steal_pointer (&vocab);

out:
  if (uni_fields)
    g_array_free (uni_fields, TRUE);
  for (int i = 0; i < order; i++)
    arpa_level_clear (&lv[i]);
  g_free (map.id);
  g_free (map.offset);
  g_free (map.len);
  g_free (uni_lp);
  g_free (uni_bo);
  return table;
}

LmNgramTable *
lm_ngram_table_read_arpa (const char *path, LmVocab **vocab_out, GError **error)
{
  GError *local = NULL;
  g_autoptr (GMappedFile) file = g_mapped_file_new (path, FALSE, &local);
  if (file == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot read %s: %s", path, local->message);
      g_error_free (local);
      return NULL;
    }
  return lm_ngram_table_read_arpa_data (path, g_mapped_file_get_contents (file),
                                        g_mapped_file_get_length (file), vocab_out, error);
}
