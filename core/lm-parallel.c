/* lm-parallel.c — split a loop across a fixed set of threads (see lm-parallel.h). */

#include "config.h"

#include "core/lm-parallel.h"

struct _LmParallel {
  GThreadPool *pool; /* n_parts - 1 exclusive helpers */
  int n_parts;
  GMutex lock;
  GCond done;
  int pending;
  /* the job being run */
  LmPartFunc func;
  gpointer ctx;
  gsize n;
};

void
lm_parallel_part_range (gsize n, int parts, int k, gsize *begin, gsize *end)
{
  /* split in lines of 16 floats; the last part takes the remainder */
  gsize lines = (n + 15) / 16;
  *begin = MIN (n, lines * (gsize) k / (gsize) parts * 16);
  *end = k + 1 == parts ? n : MIN (n, lines * (gsize) (k + 1) / (gsize) parts * 16);
}

int
lm_parallel_column_parts (gsize n, int threads)
{
  if (threads <= 1)
    return 1;
  gsize wide = n / LM_PARALLEL_PART_MIN;
  return (int) CLAMP (wide, (gsize) threads, (gsize) LM_PARALLEL_PARTS_PER_THREAD * threads);
}

/* the total weight of parts [0, k) (see lm-parallel.h) */
static gsize
column_weight_before (int parts, int threads, int k)
{
  gsize total = 0;
  for (int j = 0; j < k; j++)
    total += (gsize) ((parts - j + threads - 1) / threads);
  return total;
}

void
lm_parallel_column_range (gsize n, int parts, int threads, int k, gsize *begin, gsize *end)
{
  g_assert (parts >= 1 && threads >= 1 && k >= 0 && k < parts);
  gsize lines = (n + 15) / 16, total = column_weight_before (parts, threads, parts);
  *begin = MIN (n, lines * column_weight_before (parts, threads, k) / total * 16);
  *end = k + 1 == parts
             ? n
             : MIN (n, lines * column_weight_before (parts, threads, k + 1) / total * 16);
}

static void
worker (gpointer data, gpointer user_data)
{
  LmParallel *par = user_data;
  int k = GPOINTER_TO_INT (data); /* 1.. (the caller runs part 0) */
  gsize begin, end;
  lm_parallel_part_range (par->n, par->n_parts, k, &begin, &end);
  if (begin < end)
    par->func (par->ctx, k, begin, end);
  g_mutex_lock (&par->lock);
  if (--par->pending == 0)
    g_cond_signal (&par->done);
  g_mutex_unlock (&par->lock);
}

LmParallel *
lm_parallel_new (int n_parts)
{
  LmParallel *par = g_new0 (LmParallel, 1);
  g_mutex_init (&par->lock);
  g_cond_init (&par->done);
  par->n_parts = 1;
  if (n_parts > 1)
    {
      /* exclusive: the threads are made now and kept, so no job waits for one to start */
      par->pool = g_thread_pool_new (worker, par, n_parts - 1, TRUE, NULL);
      if (par->pool)
        par->n_parts = n_parts;
    }
  return par;
}

void
lm_parallel_free (LmParallel *par)
{
  if (par == NULL)
    return;
  if (par->pool)
    g_thread_pool_free (par->pool, TRUE, TRUE);
  g_mutex_clear (&par->lock);
  g_cond_clear (&par->done);
  g_free (par);
}

int
lm_parallel_parts (const LmParallel *par)
{
  return par ? par->n_parts : 1;
}

void
lm_parallel_run (LmParallel *par, LmPartFunc func, gpointer ctx, gsize n)
{
  if (par == NULL || par->n_parts <= 1 || n < 16 * (gsize) par->n_parts)
    {
      /* one part; the part index still says which of the caller's slots to use */
      func (ctx, 0, 0, n);
      return;
    }
  par->func = func;
  par->ctx = ctx;
  par->n = n;
  par->pending = par->n_parts - 1;
  for (int k = 1; k < par->n_parts; k++)
    g_thread_pool_push (par->pool, GINT_TO_POINTER (k), NULL);
  gsize begin, end;
  lm_parallel_part_range (n, par->n_parts, 0, &begin, &end);
  func (ctx, 0, begin, end);
  g_mutex_lock (&par->lock);
  while (par->pending > 0)
    g_cond_wait (&par->done, &par->lock);
  g_mutex_unlock (&par->lock);
}
