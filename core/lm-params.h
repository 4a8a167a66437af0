/* lm-params.h — all parameters of a model in one flat float buffer, with named views.
 *
 * A model declares its tensors once, in a fixed order, then allocates:
 *
 *   g_autoptr (LmParams) params = lm_params_new ();
 *   int wte = lm_params_add (params, "wte", 2, (int[]) { V, E }, LM_INIT_NORMAL, 0.02f, TRUE);
 *   int ln_w = lm_params_add (params, "ln.weight", 1, (int[]) { E }, LM_INIT_ONES, 0, FALSE);
 *   if (!lm_params_allocate (params, error)) ...
 *   lm_params_init (params, &rng);
 *   float *w = lm_params_data (params, wte);   // (V,E)
 *   float *dw = lm_params_grad (params, wte);  // (V,E), same offset in grad
 *
 * data and grad are each ONE 64-byte-aligned allocation with the same layout, and every
 * view starts on a 64-byte boundary (the floats between views are padding, always zero).
 * The optimizer state, gradient clipping, zeroing and checkpoints are then single loops
 * over n_floats, written once for every model (llm.c's ParameterTensors, KANN).
 *
 * The fingerprint hashes the layout (names, shapes, offsets, order), so a checkpoint
 * written by a model of another shape is refused instead of loaded into the wrong place.
 */
#pragma once

#include <glib.h>

#include "core/lm-checkpoint.h"
#include "core/lm-parallel.h"
#include "core/lm-rng.h"

G_BEGIN_DECLS

#define LM_PARAMS_MAX_RANK 4
#define LM_PARAMS_ALIGN    64 /* bytes, for data, grad and every view */

typedef enum
{
  LM_INIT_ZEROS,    /* 0 (biases) */
  LM_INIT_ONES,     /* 1 (norm gains) */
  LM_INIT_CONSTANT, /* scale */
  LM_INIT_UNIFORM,  /* U(-scale, scale) */
  LM_INIT_NORMAL,   /* N(0, scale^2): scale is the standard deviation */
} LmInitKind;

typedef struct
{
  char *name;                    /* unique, e.g. "h0.attn.qkv.weight" */
  int rank;                      /* 1..LM_PARAMS_MAX_RANK */
  int shape[LM_PARAMS_MAX_RANK]; /* row-major; unused dimensions are 1 */
  gsize offset;                  /* in floats from data (and from grad) */
  gsize size;                    /* product of the shape */
  LmInitKind init;
  float init_scale;
  gboolean decay; /* weight decay applies (matrices yes, biases/gains no) */
  gboolean row_sparse; /* its gradient has only the rows lm_params_touch_rows named */
} LmParamView;

struct _LmParams
{
  LmParamView *views; /* [n_views], in the order they were added */
  int n_views;
  gsize n_floats; /* length of data and grad, padding included */
  float *data;    /* [n_floats], NULL until lm_params_allocate */
  float *grad;    /* [n_floats], same layout */
  /* private */
  int views_allocated;
  guint8 **touched;  /* [n_views]: of a row-sparse view, a flag per row; else NULL */
  GArray *spans;     /* of LmGradSpan, rebuilt when spans_dirty */
  gboolean spans_dirty;
};

typedef struct _LmParams LmParams;

LmParams *lm_params_new (void);
void lm_params_free (LmParams *params);

/* Declare a tensor (before lm_params_allocate). shape holds rank dimensions, each > 0.
 * Returns the view index; the name must be new. */
int lm_params_add (LmParams *params, const char *name, int rank, const int *shape, LmInitKind init,
                   float init_scale, gboolean decay);
/* Allocate data and grad (both zeroed). Fails with LM_ERROR_NO_MEMORY when the memory
 * is not available, with LM_ERROR_INVALID_CONFIG when nothing was declared. */
gboolean lm_params_allocate (LmParams *params, GError **error);

/* Look-ups. lm_params_find returns -1 for an unknown name; lm_params_get NULL. */
int lm_params_find (const LmParams *params, const char *name);
const LmParamView *lm_params_get (const LmParams *params, const char *name);
const LmParamView *lm_params_view (const LmParams *params, int index);
/* The view's first float in data / grad (after allocation). */
float *lm_params_data (const LmParams *params, int index);
float *lm_params_grad (const LmParams *params, int index);

/* Number of trainable parameters (padding excluded), and bytes of ONE buffer (data). */
guint64 lm_params_count (const LmParams *params);
guint64 lm_params_bytes (const LmParams *params);

/* grad = 0, every float, and no row of a row-sparse view touched */
void lm_params_zero_grad (LmParams *params);

/* ---- row-sparse gradients ----------------------------------------------------------
 *
 * An embedding table's gradient has rows only for the ids of the batch: 400 of PTB's
 * 10,000 in a B2 step, yet zeroing, the norm, the clip and the optimizer step each made
 * a pass over all of it. A model declares such a 2-D view row-sparse (after
 * lm_params_allocate) and, in its backward, names every row it writes; the training
 * loop's passes then visit only the spans of the gradient that may be non-zero:
 *
 *   lm_params_set_row_sparse (params, embed);            // when building the model
 *   lm_embedding_backward (d_embed, d_x, ids, N, V, E);  // in backward ...
 *   lm_params_touch_rows (params, embed, ids, N);        // ... and the rows it wrote
 *
 * A view written by anything else (an output layer tied to the embedding) must not be
 * declared row-sparse: a row written without being named would never be zeroed. */
typedef struct
{
  int view;     /* index of the view the span lies in */
  gsize offset; /* in floats from grad */
  gsize size;
} LmGradSpan;

void lm_params_set_row_sparse (LmParams *params, int index);
/* Rows (ids in [0, shape[0]); negative ids are skipped) written in the view's gradient. */
void lm_params_touch_rows (LmParams *params, int index, const gint32 *rows, gsize n);
/* The parts of grad that may be non-zero, in buffer order: every other view whole, and
 * the touched rows of row-sparse views in runs of consecutive rows. *total is the sum of
 * their sizes. Owned by params, valid until the next call that changes the touched rows. */
const LmGradSpan *lm_params_grad_spans (LmParams *params, int *n_spans, gsize *total);
/* Forget the touched rows: their gradient is zero again (the caller has zeroed the
 * spans). */
void lm_params_clear_touched (LmParams *params);
/* func on the spans, their total split into `parallel`'s parts (NULL: one): each part
 * gets the pieces of the spans that fall in it, in buffer order. */
typedef void (*LmSpanFunc) (gpointer ctx, int part, const LmGradSpan *piece);
void lm_params_run_spans (LmParams *params, LmParallel *parallel, LmSpanFunc func, gpointer ctx);
/* Zero the spans, then clear the touched rows: lm_params_zero_grad for a gradient that
 * only the spans can have made non-zero, on `parallel`'s threads. */
void lm_params_zero_grad_spans (LmParams *params, LmParallel *parallel);
/* Fill every view by its init kind, in declaration order (deterministic for a seed). */
void lm_params_init (LmParams *params, LmRng *rng);
/* Re-initialise one view with another rule (e.g. a scaled projection). */
void lm_params_init_view (LmParams *params, int index, LmInitKind init, float scale, LmRng *rng);

/* 64-bit FNV-1a hash of the layout: for every view its name, rank, shape and offset. */
guint64 lm_params_fingerprint (const LmParams *params);
/* TRUE when fingerprint matches this layout; otherwise LM_ERROR_MISMATCH saying so. */
gboolean lm_params_check_fingerprint (const LmParams *params, guint64 fingerprint, GError **error);
/* Save data and its layout fingerprint as sections PREFIX/fingerprint and PREFIX/params
 * (floats in the machine's byte order, little-endian on every machine lmlab supports);
 * load refuses another layout (LM_ERROR_MISMATCH) or a section of the wrong size
 * (LM_ERROR_CORRUPT). The gradient is not saved. */
gboolean  lm_params_save (const LmParams *params, LmCheckpointWriter *writer, const char *prefix,
                          GError **error);
gboolean  lm_params_load (LmParams *params, const LmCheckpoint *checkpoint, const char *prefix,
                          GError **error);
/* One line per view: "name (d0,d1) size [decay]", for describe() and error messages. */
void lm_params_describe (const LmParams *params, GString *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmParams, lm_params_free)

G_END_DECLS
