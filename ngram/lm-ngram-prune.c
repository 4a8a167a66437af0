/* lm-ngram-prune.c — relative-entropy pruning (equations in the header). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-error.h"
#include "ngram/lm-ngram-prune.h"

LmNgramTable *
lm_ngram_table_prune (const LmNgramTable *table, double threshold, GError **error)
{
  const int N = table->order;
  guint32 *parent[LM_NGRAM_MAX_ORDER] = { NULL }, *prefix[LM_NGRAM_MAX_ORDER] = { NULL };
  double *ctx_prob[LM_NGRAM_MAX_ORDER] = { NULL }; /* P(h) of every node as a context */
  guint8 *keep[LM_NGRAM_MAX_ORDER] = { NULL };
  guint8 *needed[LM_NGRAM_MAX_ORDER] = { NULL };   /* suffix or context of a kept n-gram */

  for (int i = 0; i < N; i++)
    {
      guint32 n = table->level[i].n;
      keep[i] = g_malloc (MAX (n, 1));
      memset (keep[i], 1, MAX (n, 1));
      needed[i] = g_malloc0 (MAX (n, 1));
      ctx_prob[i] = g_new (double, MAX (n, 1));
      if (i > 0)
        {
          parent[i] = lm_ngram_table_parents (table, i);
          prefix[i] = lm_ngram_table_prefixes (table, i);
          for (guint32 g = 0; g < n; g++)
            if (prefix[i][g] == G_MAXUINT32)
              {
                g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                             "cannot prune: an order-%d n-gram has no stored context", i + 1);
                goto out;
              }
        }
      /* P(h) = P(prefix(h)) p(last | prefix); P(<s>) = 1. */
      for (guint32 g = 0; g < n; g++)
        {
          double p = exp (table->level[i].logprob[g]);
          if (i == 0)
            ctx_prob[0][g] = g == (guint32) table->bos ? 1.0 : p;
          else
            ctx_prob[i][g] = ctx_prob[i - 1][prefix[i][g]] * p;
        }
    }

  for (int i = N - 1; i >= 1; i--)
    {
      const LmNgramLevel *lv = &table->level[i], *below = &table->level[i - 1];
      guint32 n_ctx = below->n;
      double *num = g_new (double, MAX (n_ctx, 1)), *den = g_new (double, MAX (n_ctx, 1));
      for (guint32 c = 0; c < n_ctx; c++)
        num[c] = den[c] = 1.0;
      for (guint32 g = 0; g < lv->n; g++)
        {
          num[prefix[i][g]] -= exp (lv->logprob[g]);
          den[prefix[i][g]] -= exp (below->logprob[parent[i][g]]);
        }
      for (guint32 g = 0; g < lv->n; g++)
        {
          if (needed[i][g])
            continue;
          guint32 c = prefix[i][g];
          double p = exp (lv->logprob[g]), pl = exp (below->logprob[parent[i][g]]);
          if (num[c] <= 1e-12 || den[c] <= 1e-12 || p <= 0.0 || pl <= 0.0)
            continue; /* no backoff mass to compare with (e.g. maximum likelihood) */
          double bo = num[c] / den[c];
          double bo_new = (num[c] + p) / (den[c] + pl);
          double dH = -ctx_prob[i - 1][c]
                      * (p * (log (bo_new * pl) - log (p)) + num[c] * (log (bo_new) - log (bo)));
          if (dH < threshold)
            keep[i][g] = 0;
        }
      /* What stays keeps its suffix and its context. */
      for (guint32 g = 0; g < lv->n; g++)
        if (keep[i][g])
          {
            needed[i - 1][parent[i][g]] = 1;
            needed[i - 1][prefix[i][g]] = 1;
          }
      g_free (num);
      g_free (den);
    }

  /* Rebuild with what stays. */
  guint32 counts[LM_NGRAM_MAX_ORDER];
  guint32 *newidx[LM_NGRAM_MAX_ORDER] = { NULL };
  counts[0] = table->vocab_size;
  for (int i = 1; i < N; i++)
    {
      guint32 k = 0;
      newidx[i] = g_new (guint32, MAX (table->level[i].n, 1));
      for (guint32 g = 0; g < table->level[i].n; g++)
        newidx[i][g] = keep[i][g] ? k++ : G_MAXUINT32;
      counts[i] = k;
    }
  LmNgramTable *out = lm_ngram_table_new (N, table->vocab_size, table->eos, counts);
  memcpy (out->level[0].logprob, table->level[0].logprob, table->vocab_size * sizeof (float));
  if (N > 1)
    memcpy (out->level[0].backoff, table->level[0].backoff, table->vocab_size * sizeof (float));
  for (int i = 1; i < N; i++)
    {
      const LmNgramLevel *lv = &table->level[i];
      LmNgramLevel *ol = &out->level[i];
      for (guint32 g = 0; g < lv->n; g++)
        {
          guint32 at = newidx[i][g];
          if (at == G_MAXUINT32)
            continue;
          ol->word[at] = lv->word[g];
          ol->logprob[at] = lv->logprob[g];
          if (ol->backoff)
            ol->backoff[at] = lv->backoff[g];
          guint32 p = i == 1 ? parent[i][g] : newidx[i - 1][parent[i][g]];
          out->level[i - 1].child[p + 1]++;
        }
      for (guint32 c = 0; c < counts[i - 1]; c++)
        out->level[i - 1].child[c + 1] += out->level[i - 1].child[c];
    }
  /* Backoff weights of contexts that lost an extension: num/den over what stays. */
  for (int i = 1; i < N; i++)
    {
      const LmNgramLevel *lv = &table->level[i], *below = &table->level[i - 1];
      guint32 n_ctx = below->n;
      double *num = g_new (double, MAX (n_ctx, 1)), *den = g_new (double, MAX (n_ctx, 1));
      guint8 *lost = g_malloc0 (MAX (n_ctx, 1));
      for (guint32 c = 0; c < n_ctx; c++)
        num[c] = den[c] = 1.0;
      for (guint32 g = 0; g < lv->n; g++)
        {
          guint32 c = prefix[i][g];
          if (!keep[i][g])
            {
              lost[c] = 1;
              continue;
            }
          num[c] -= exp (lv->logprob[g]);
          den[c] -= exp (below->logprob[parent[i][g]]);
        }
      for (guint32 c = 0; c < n_ctx; c++)
        {
          guint32 at = i == 1 ? c : newidx[i - 1][c];
          if (!lost[c] || at == G_MAXUINT32)
            continue;
          float bo;
          if (num[c] <= 0.0)
            bo = -INFINITY;
          else if (den[c] <= 1e-12)
            bo = below->backoff[c];
          else
            bo = (float) log (num[c] / den[c]);
          out->level[i - 1].backoff[at] = bo;
        }
      g_free (num);
      g_free (den);
      g_free (lost);
    }
  for (int i = 0; i < N; i++)
    g_free (newidx[i]);
  for (int i = 0; i < N; i++)
    {
      g_free (parent[i]);
      g_free (prefix[i]);
      g_free (ctx_prob[i]);
      g_free (keep[i]);
      g_free (needed[i]);
    }
  return out;

out:
  for (int i = 0; i < N; i++)
    {
      g_free (parent[i]);
      g_free (prefix[i]);
      g_free (ctx_prob[i]);
      g_free (keep[i]);
      g_free (needed[i]);
    }
  return NULL;
}
