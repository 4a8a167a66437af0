/* lm-params.c — one flat buffer of parameters with named views (see lm-params.h). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-memory.h"
#include "core/lm-params.h"

#define FLOATS_PER_ALIGN (LM_PARAMS_ALIGN / sizeof (float))

LmParams *
lm_params_new (void)
{
  return g_new0 (LmParams, 1);
}

void
lm_params_free (LmParams *params)
{
  if (params == NULL)
    return;
  for (int i = 0; i < params->n_views; i++)
    g_free (params->views[i].name);
  g_free (params->views);
  free (params->data);
  free (params->grad);
  for (int i = 0; params->touched && i < params->n_views; i++)
    g_free (params->touched[i]);
  g_free (params->touched);
  if (params->spans)
    g_array_unref (params->spans);
  g_free (params);
}

int
lm_params_add (LmParams *params, const char *name, int rank, const int *shape, LmInitKind init,
               float init_scale, gboolean decay)
{
  g_return_val_if_fail (params != NULL && name != NULL && shape != NULL, -1);
  g_return_val_if_fail (params->data == NULL, -1); /* the layout is fixed once allocated */
  g_return_val_if_fail (rank >= 1 && rank <= LM_PARAMS_MAX_RANK, -1);
  g_return_val_if_fail (lm_params_find (params, name) < 0, -1);

  gsize size = 1;
  for (int d = 0; d < rank; d++)
    {
      g_return_val_if_fail (shape[d] > 0, -1);
      size *= (gsize)shape[d];
    }

  if (params->n_views == params->views_allocated)
    {
      params->views_allocated = MAX (16, 2 * params->views_allocated);
      params->views = g_renew (LmParamView, params->views, params->views_allocated);
    }
  LmParamView *view = &params->views[params->n_views];
  memset (view, 0, sizeof *view);
  view->name = g_strdup (name);
  view->rank = rank;
  for (int d = 0; d < LM_PARAMS_MAX_RANK; d++)
    view->shape[d] = d < rank ? shape[d] : 1;
  /* every view starts on a 64-byte boundary: the previous end rounded up */
  view->offset = (params->n_floats + FLOATS_PER_ALIGN - 1) / FLOATS_PER_ALIGN * FLOATS_PER_ALIGN;
  view->size = size;
  view->init = init;
  view->init_scale = init_scale;
  view->decay = decay;
  params->n_floats = view->offset + size;
  return params->n_views++;
}

static float *
aligned_zeros (gsize n_floats)
{
  G_STATIC_ASSERT (LM_MEMORY_ALIGN % LM_PARAMS_ALIGN == 0);
  return lm_memory_zeroed (n_floats * sizeof (float));
}

gboolean
lm_params_allocate (LmParams *params, GError **error)
{
  g_return_val_if_fail (params != NULL && params->data == NULL, FALSE);
  if (params->n_views == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "the model declared no parameters");
      return FALSE;
    }
  double bytes = 2.0 * (double) params->n_floats * sizeof (float);
  if (!lm_memory_fits (bytes)) /* also bounds bytes far below G_MAXSIZE */
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "%" G_GUINT64_FORMAT " parameters and their gradients need %.1f MiB, more "
                   "than the %.1f MiB of memory available: use a smaller model",
                   lm_params_count (params), bytes / 1048576.0,
                   lm_memory_available () / 1048576.0);
      return FALSE;
    }
  params->data = aligned_zeros (params->n_floats);
  params->grad = params->data ? aligned_zeros (params->n_floats) : NULL;
  if (params->grad == NULL)
    {
      free (params->data);
      params->data = NULL;
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "cannot allocate %.1f MiB for %" G_GUINT64_FORMAT
                   " parameters and their gradients: use a smaller model",
                   2.0 * params->n_floats * sizeof (float) / (1024.0 * 1024.0),
                   lm_params_count (params));
      return FALSE;
    }
  return TRUE;
}

int
lm_params_find (const LmParams *params, const char *name)
{
  for (int i = 0; i < params->n_views; i++)
    if (strcmp (params->views[i].name, name) == 0)
      return i;
  return -1;
}

const LmParamView *
lm_params_get (const LmParams *params, const char *name)
{
  int i = lm_params_find (params, name);
  return i >= 0 ? &params->views[i] : NULL;
}

const LmParamView *
lm_params_view (const LmParams *params, int index)
{
  g_return_val_if_fail (index >= 0 && index < params->n_views, NULL);
  return &params->views[index];
}

float *
lm_params_data (const LmParams *params, int index)
{
  g_return_val_if_fail (index >= 0 && index < params->n_views && params->data, NULL);
  return params->data + params->views[index].offset;
}

float *
lm_params_grad (const LmParams *params, int index)
{
  g_return_val_if_fail (index >= 0 && index < params->n_views && params->grad, NULL);
  return params->grad + params->views[index].offset;
}

guint64
lm_params_count (const LmParams *params)
{
  guint64 count = 0;
  for (int i = 0; i < params->n_views; i++)
    count += params->views[i].size;
  return count;
}

guint64
lm_params_bytes (const LmParams *params)
{
  return (guint64)params->n_floats * sizeof (float);
}

void
lm_params_zero_grad (LmParams *params)
{
  if (params->grad)
    memset (params->grad, 0, params->n_floats * sizeof (float));
  lm_params_clear_touched (params);
}

/* ---- row-sparse gradients ---------------------------------------------------------- */

void
lm_params_set_row_sparse (LmParams *params, int index)
{
  g_return_if_fail (params != NULL && params->grad != NULL);
  g_return_if_fail (index >= 0 && index < params->n_views);
  LmParamView *view = &params->views[index];
  g_return_if_fail (view->rank == 2);
  if (params->touched == NULL)
    params->touched = g_new0 (guint8 *, params->n_views);
  if (params->touched[index] == NULL)
    params->touched[index] = g_new0 (guint8, view->shape[0]);
  view->row_sparse = TRUE;
  params->spans_dirty = TRUE;
  /* the gradient may hold anything written before: start from zero */
  memset (lm_params_grad (params, index), 0, view->size * sizeof (float));
}

void
lm_params_touch_rows (LmParams *params, int index, const gint32 *rows, gsize n)
{
  g_return_if_fail (index >= 0 && index < params->n_views && params->views[index].row_sparse);
  const LmParamView *view = &params->views[index];
  guint8 *touched = params->touched[index];
  params->spans_dirty = TRUE;
  for (gsize i = 0; i < n; i++)
    if (rows[i] >= 0)
      {
        g_return_if_fail (rows[i] < view->shape[0]);
        touched[rows[i]] = 1;
      }
}

static void
add_span (GArray *spans, int view, gsize offset, gsize size)
{
  LmGradSpan span = { view, offset, size };
  g_array_append_val (spans, span);
}

const LmGradSpan *
lm_params_grad_spans (LmParams *params, int *n_spans, gsize *total)
{
  if (params->spans == NULL)
    {
      params->spans = g_array_new (FALSE, FALSE, sizeof (LmGradSpan));
      params->spans_dirty = TRUE;
    }
  if (params->spans_dirty)
    {
      g_array_set_size (params->spans, 0);
      for (int i = 0; i < params->n_views; i++)
        {
          const LmParamView *view = &params->views[i];
          if (!view->row_sparse)
            {
              add_span (params->spans, i, view->offset, view->size);
              continue;
            }
          const guint8 *touched = params->touched[i];
          const gsize row = (gsize) view->shape[1];
          for (int r = 0; r < view->shape[0];)
            {
              if (!touched[r])
                {
                  r++;
                  continue;
                }
              int end = r + 1;
              while (end < view->shape[0] && touched[end])
                end++;
              add_span (params->spans, i, view->offset + r * row, (gsize) (end - r) * row);
              r = end;
            }
        }
      params->spans_dirty = FALSE;
    }
  gsize sum = 0;
  for (guint k = 0; k < params->spans->len; k++)
    sum += g_array_index (params->spans, LmGradSpan, k).size;
  *n_spans = (int) params->spans->len;
  *total = sum;
  return (const LmGradSpan *) params->spans->data;
}

void
lm_params_clear_touched (LmParams *params)
{
  for (int i = 0; i < params->n_views; i++)
    if (params->views[i].row_sparse)
      memset (params->touched[i], 0, params->views[i].shape[0]);
  params->spans_dirty = TRUE;
}

typedef struct {
  const LmGradSpan *spans;
  int n_spans;
  LmSpanFunc func;
  gpointer ctx;
} SpansJob;

/* the pieces of the spans that fall in [begin,end) of their concatenation */
static void
spans_part (gpointer ctx, int part, gsize begin, gsize end)
{
  const SpansJob *job = ctx;
  gsize start = 0; /* of span k in the concatenation */
  for (int k = 0; k < job->n_spans && start < end; k++)
    {
      const LmGradSpan *span = &job->spans[k];
      gsize lo = MAX (begin, start), hi = MIN (end, start + span->size);
      if (lo < hi)
        {
          LmGradSpan piece = { span->view, span->offset + (lo - start), hi - lo };
          job->func (job->ctx, part, &piece);
        }
      start += span->size;
    }
}

void
lm_params_run_spans (LmParams *params, LmParallel *parallel, LmSpanFunc func, gpointer ctx)
{
  gsize total;
  SpansJob job = { .func = func, .ctx = ctx };
  job.spans = lm_params_grad_spans (params, &job.n_spans, &total);
  lm_parallel_run (parallel, spans_part, &job, total);
}

static void
zero_piece (gpointer ctx, int part, const LmGradSpan *piece)
{
  (void) part;
  LmParams *params = ctx;
  memset (params->grad + piece->offset, 0, piece->size * sizeof (float));
}

void
lm_params_zero_grad_spans (LmParams *params, LmParallel *parallel)
{
  if (params->grad == NULL)
    return;
  lm_params_run_spans (params, parallel, zero_piece, params);
  lm_params_clear_touched (params);
}

void
lm_params_init_view (LmParams *params, int index, LmInitKind init, float scale, LmRng *rng)
{
  float *w = lm_params_data (params, index);
  gsize n = params->views[index].size;
  g_return_if_fail (w != NULL);
  switch (init)
    {
    case LM_INIT_ZEROS:
      memset (w, 0, n * sizeof (float));
      break;
    case LM_INIT_ONES:
      for (gsize i = 0; i < n; i++)
        w[i] = 1.0f;
      break;
    case LM_INIT_CONSTANT:
      for (gsize i = 0; i < n; i++)
        w[i] = scale;
      break;
    case LM_INIT_UNIFORM:
      /* U(-a, a) = a (2u - 1), u ~ U[0, 1) */
      for (gsize i = 0; i < n; i++)
        w[i] = scale * (2.0f * lm_rng_float (rng) - 1.0f);
      break;
    case LM_INIT_NORMAL:
      for (gsize i = 0; i < n; i++)
        w[i] = (float)(scale * lm_rng_normal (rng));
      break;
    default:
      g_return_if_reached ();
    }
}

void
lm_params_init (LmParams *params, LmRng *rng)
{
  for (int i = 0; i < params->n_views; i++)
    lm_params_init_view (params, i, params->views[i].init, params->views[i].init_scale, rng);
}

/* FNV-1a, 64-bit: h = (h ^ byte) * 1099511628211 over every byte. */
static guint64
fnv1a (guint64 h, const void *data, gsize len)
{
  const guint8 *p = data;
  for (gsize i = 0; i < len; i++)
    h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

guint64
lm_params_fingerprint (const LmParams *params)
{
  guint64 h = 14695981039346656037ULL;
  for (int i = 0; i < params->n_views; i++)
    {
      const LmParamView *v = &params->views[i];
      /* the terminating NUL separates "ab"+"c" from "a"+"bc" */
      h = fnv1a (h, v->name, strlen (v->name) + 1);
      /* fixed-width little-endian fields, the same on every platform we target */
      gint32 dims[1 + LM_PARAMS_MAX_RANK] = { v->rank };
      for (int d = 0; d < LM_PARAMS_MAX_RANK; d++)
        dims[1 + d] = GINT32_TO_LE (v->shape[d]);
      dims[0] = GINT32_TO_LE (dims[0]);
      h = fnv1a (h, dims, sizeof dims);
      guint64 offset = GUINT64_TO_LE ((guint64)v->offset);
      h = fnv1a (h, &offset, sizeof offset);
    }
  return h;
}

gboolean
lm_params_check_fingerprint (const LmParams *params, guint64 fingerprint, GError **error)
{
  guint64 mine = lm_params_fingerprint (params);
  if (mine == fingerprint)
    return TRUE;
  g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
               "the saved parameters have another layout (fingerprint %016" G_GINT64_MODIFIER
               "x, this model %016" G_GINT64_MODIFIER "x, %" G_GUINT64_FORMAT
               " parameters): the checkpoint was written by a model of another shape; "
               "use the same hyperparameters it was trained with",
               fingerprint, mine, lm_params_count (params));
  return FALSE;
}

void
lm_params_describe (const LmParams *params, GString *out)
{
  for (int i = 0; i < params->n_views; i++)
    {
      const LmParamView *v = &params->views[i];
      g_string_append_printf (out, "%s (", v->name);
      for (int d = 0; d < v->rank; d++)
        g_string_append_printf (out, "%s%d", d ? "," : "", v->shape[d]);
      g_string_append_printf (out, ") %" G_GSIZE_FORMAT "%s\n", v->size, v->decay ? " decay" : "");
    }
}

gboolean
lm_params_save (const LmParams *params, LmCheckpointWriter *writer, const char *prefix,
                GError **error)
{
  g_autofree char *fp_name = g_strdup_printf ("%s/fingerprint", prefix);
  g_autofree char *data_name = g_strdup_printf ("%s/params", prefix);
  guint64 fingerprint = GUINT64_TO_LE (lm_params_fingerprint (params));
  return lm_checkpoint_writer_add (writer, fp_name, &fingerprint, sizeof fingerprint, error)
         && lm_checkpoint_writer_add (writer, data_name, params->data,
                                      params->n_floats * sizeof (float), error);
}

gboolean
lm_params_load (LmParams *params, const LmCheckpoint *checkpoint, const char *prefix,
                GError **error)
{
  g_autofree char *fp_name = g_strdup_printf ("%s/fingerprint", prefix);
  g_autofree char *data_name = g_strdup_printf ("%s/params", prefix);
  const void *data;
  guint64 fingerprint;
  if (!lm_checkpoint_get_exact (checkpoint, fp_name, &data, sizeof fingerprint, error))
    return FALSE;
  memcpy (&fingerprint, data, sizeof fingerprint);
  if (!lm_params_check_fingerprint (params, GUINT64_FROM_LE (fingerprint), error))
    {
      g_prefix_error (error, "%s parameters: ", prefix);
      return FALSE;
    }
  if (!lm_checkpoint_get_exact (checkpoint, data_name, &data,
                                params->n_floats * sizeof (float), error))
    return FALSE;
  memcpy (params->data, data, params->n_floats * sizeof (float));
  return TRUE;
}
