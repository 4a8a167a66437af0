/* lm-recurrent.c — the stacked recurrent language model (see lm-recurrent.h).
 *
 * Where the time goes, and how it is batched (docs/recurrent.md, "How it is computed"):
 *   - the input projection of a layer, x W_ih^T + b_ih, for all T steps: one product of
 *     (T*B, In) x (In, G*H) by lm_smallgemm against W_ih^T packed once (Work.packed);
 *   - the recurrence, h_{t-1} W_hh^T: one (B,H) x (H,G*H) product per step (inside the
 *     cell), by lm_smallgemm against W_hh^T packed once per layer and pass, because
 *     cblas_sgemm would re-pack W_hh on each of the T calls;
 *   - the output layer over all T*B positions: one (T*B, H) x (H, V) GEMM, then the fused
 *     softmax cross-entropy;
 *   - backward mirrors it: d_logits -> d_W_out, d_h in two GEMMs; per step one
 *     (B,G*H) x (G*H,H) product for the recurrent gradient (W_hh packed again, in the
 *     layout that product needs); per layer dW_ih, dW_hh (GEMMs) and d_x (lm_smallgemm
 *     against W_ih packed) over all T*B rows at once.
 * Every activation buffer is carved from one allocation made by prepare() for the
 * largest (B,T); nothing is allocated while training.
 *
 * Cores: the streams of a batch are independent, so the recurrence of a layer (the
 * part bound by latency: T small products in sequence) is split by rows of the batch, one
 * part per thread, each part running all T steps without any synchronisation. Every
 * other product is split by rows of its result the same way (parallel_run), each part
 * calling single-threaded BLAS, so OpenBLAS's own threads, which spin-wait between calls,
 * never run during training. The helpers block on a queue when idle (GThreadPool), so they
 * never spin either.
 */
#include "config.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-memory.h"
#include "core/lm-ops.h"
#include "core/lm-ops-simd.h"
#include "core/lm-parallel.h"
#include "core/lm-params.h"
#include "core/lm-smallgemm.h"
#include "rnn/lm-recurrent.h"

/* Activations for batches up to (B,T), time-major; one allocation. */
typedef struct {
  int B, T;          /* capacity */
  gboolean training; /* has the dropout and backward buffers */
  float *block;      /* the allocation everything below is carved from */
  gint32 *ids;       /* (T,B) inputs */
  gint32 *targets;   /* (T,B) */
  float *emb;        /* (T,B,E) embedding rows */
  float **drop;      /* [L+1] dropout outputs: site 0 (T,B,E), site l>0 (T,B,H); training */
  float **mask;      /* [L+1] dropout masks, same shapes; training */
  float **gates;     /* [L] (T,B,G*H) */
  float **h;         /* [L] (T+1,B,H) */
  float **c;         /* [L] (T+1,B,H) when the cell has one */
  float **aux;       /* [L] (T,B,A*H) when the cell keeps any */
  float *logits;     /* (T*B,V): logits, then probs, then d_logits */
  double *row_loss;  /* (T*B) -ln p(target) per position */
  float *d_xw;       /* (T,B,G*H) training */
  float *d_hw;       /* (T,B,G*H) training, GRU */
  float *d_a, *d_b;  /* (T,B,max(E,H)) training: gradients flowing down, ping-pong */
  float *work;       /* (B,H) training */
  float *d_top_parts; /* (out_parts-1, T*B, H) training: the output layer's d_top, summed
                       * over its vocabulary parts, for every part but the first */
  float *db_out_parts; /* (parts, V) training: db_out's column sums, by part of the rows,
                        * left by a training forward */
  float *top_packed; /* (T*B,H) top packed in row panels for lm_smallgemm_wide */
  float *out_panels; /* [panel_threads] lm_smallgemm_wide's scratch each, for W_out */
  int panel_threads;
  float *row_max_parts; /* (panel_threads * LM_PARALLEL_PARTS_PER_THREAD, T*B) each
                         * vocabulary part's largest logit of every row, found by the
                         * forward's product; then row_max (T*B) their maximum */
  float *row_max;
  int row_max_parts_used; /* by the last forward: 0 when it found none */
  float *packed;     /* a weight of the layer being computed, packed for lm_smallgemm:
                      * forward W_ih^T (In, G*H) then W_hh^T (H, G*H), backward W_hh
                      * (G*H, H) then W_ih (G*H, In); NULL when T = 1 */
  /* what the last forward used, for backward */
  const float **in;  /* [L] the input of each layer: (T,B,In) */
  const float *top;  /* (T,B,H) the input of the output layer */
  int used_B, used_T;
  gboolean used_dropout;
  gboolean have_d_logits; /* forward left d_logits, not probs, in logits, and db_out's
                           * sums in db_out_parts */
  int db_out_parts_used;
  int parts_cap;     /* the threads d_top_parts and db_out_parts were laid out for: a run
                      * with more (BLAS threads raised after prepare()) uses no more */
} Work;

typedef struct _LmRecurrent LmRecurrent;
typedef void (*PartFunc) (LmRecurrent *self, gpointer ctx, int b_begin, int b_end);

/* Runs a function over parts of a batch on a fixed set of threads. */
typedef struct {
  GThreadPool *pool; /* n_parts - 1 helpers; the caller runs part 0 */
  int n_parts;
  GMutex lock;
  GCond done;
  int pending;
  /* the job being run */
  PartFunc func;
  gpointer ctx;
  int B, parts;
} Parallel;

struct _LmRecurrent {
  LmModel parent;
  const LmRecurrentCell *cell;
  int L, H, E, V, G;
  float dropout;
  gboolean tied;
  double init;
  LmParams *params;
  int v_embed, v_out_w, v_out_b; /* view indices (v_out_w == v_embed when tied) */
  gboolean out_hv;               /* out.weight stored (H,V); FALSE when tied: (V,E) */
  int *v_w_ih, *v_w_hh, *v_b_ih, *v_b_hh; /* [L] */
  Work *train;                   /* from prepare() */
  Work *scoring;                 /* B = 1, T = SCORE_CHUNK, made by the first score() */
  Work *stepping;                /* B = 1, T = 1, for the streaming state */
  float *carried;                /* (L,Bmax,H) h, then (L,Bmax,H) c when the cell has one */
  gsize carried_floats;
  gboolean have_forward;         /* backward() may follow */
  Parallel parallel;
};

struct _LmState {
  float *h; /* (L,H) */
  float *c; /* (L,H) or NULL */
};

#define SCORE_CHUNK 512

static inline LmRecurrent *
recurrent (LmModel *model)
{
  return (LmRecurrent *) model;
}

void
lm_recurrent_gemm (gboolean trans_b, int M, int N, int K, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc)
{
  if (M != 1)
    {
      lm_sgemm (FALSE, trans_b, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
      return;
    }
  /* c(N) = B(N,K) a  or  B(K,N)^T a */
  if (trans_b)
    cblas_sgemv (CblasRowMajor, CblasNoTrans, N, K, 1.0f, B, ldb, A, 1, beta, C, 1);
  else
    cblas_sgemv (CblasRowMajor, CblasTrans, K, N, 1.0f, B, ldb, A, 1, beta, C, 1);
}

void
lm_recurrent_step_gemm (const float *packed, gboolean trans_b, int M, int N, int K,
                        const float *A, int lda, const float *B, int ldb, const float *bias,
                        float beta, float *C, int ldc)
{
  if (packed)
    {
      lm_smallgemm (M, N, K, A, lda, packed, bias, beta, C, ldc);
      return;
    }
  lm_recurrent_gemm (trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
  if (bias)
    for (int i = 0; i < M; i++)
      lm_axpy (C + (gsize) i * ldc, 1.0f, bias, N);
}

/* ---- splitting a batch across cores ------------------------------------------------- */

static void
part_range (int B, int parts, int k, int *b_begin, int *b_end)
{
  *b_begin = (int) ((gint64) B * k / parts);
  *b_end = (int) ((gint64) B * (k + 1) / parts);
}

static void
parallel_worker (gpointer data, gpointer user_data)
{
  LmRecurrent *self = user_data;
  Parallel *par = &self->parallel;
  int k = GPOINTER_TO_INT (data), b_begin, b_end;
  part_range (par->B, par->parts, k, &b_begin, &b_end);
  par->func (self, par->ctx, b_begin, b_end);
  g_mutex_lock (&par->lock);
  if (--par->pending == 0)
    g_cond_signal (&par->done);
  g_mutex_unlock (&par->lock);
}

/* Start helpers for n_parts parts (n_parts - 1 threads); 1 part needs none. */
static void
parallel_setup (LmRecurrent *self, int n_parts)
{
  Parallel *par = &self->parallel;
  if (par->pool || n_parts <= 1)
    return;
  /* exclusive: the threads are made now and kept, so no step waits for one to start */
  par->pool = g_thread_pool_new (parallel_worker, self, n_parts - 1, TRUE, NULL);
  par->n_parts = par->pool ? n_parts : 1;
}

static void
parallel_clear (LmRecurrent *self)
{
  Parallel *par = &self->parallel;
  if (par->pool)
    g_thread_pool_free (par->pool, TRUE, TRUE);
  par->pool = NULL;
}

/* func over rows [0,B), in at most max_parts parts on the helpers and the caller; returns
 * when all are done */
static void
parallel_run_limited (LmRecurrent *self, PartFunc func, gpointer ctx, int B, int max_parts)
{
  Parallel *par = &self->parallel;
  int parts = MIN (MIN (par->n_parts, B), max_parts);
  if (par->pool == NULL || parts <= 1)
    {
      func (self, ctx, 0, B);
      return;
    }
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
  /* each part calls BLAS on its own core */
  int blas_threads = openblas_get_num_threads ();
  openblas_set_num_threads (1);
#endif
  par->func = func;
  par->ctx = ctx;
  par->B = B;
  par->parts = parts;
  par->pending = parts - 1;
  for (int k = 1; k < parts; k++)
    g_thread_pool_push (par->pool, GINT_TO_POINTER (k), NULL);
  int b_begin, b_end;
  part_range (B, parts, 0, &b_begin, &b_end);
  func (self, ctx, b_begin, b_end);
  g_mutex_lock (&par->lock);
  while (par->pending > 0)
    g_cond_wait (&par->done, &par->lock);
  g_mutex_unlock (&par->lock);
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
  openblas_set_num_threads (blas_threads);
#endif
}

/* func over rows [0,B), one part per thread */
static void
parallel_run (LmRecurrent *self, PartFunc func, gpointer ctx, int B)
{
  parallel_run_limited (self, func, ctx, B, G_MAXINT);
}

/* ---- activation buffers ----------------------------------------------------------- */

/* Carving: each piece rounded up to 64 bytes. With base NULL it only counts. */
static float *
carve (float *base, gsize *used, gsize n)
{
  float *p = base ? base + *used : NULL;
  *used += (n + 15) & ~(gsize) 15;
  return p;
}

static void
work_free (Work *w)
{
  if (w == NULL)
    return;
  free (w->block);
  g_free (w->drop);
  g_free (w->mask);
  g_free (w->gates);
  g_free (w->h);
  g_free (w->c);
  g_free (w->aux);
  g_free (w->in);
  g_free (w);
}

static void
work_layout (LmRecurrent *self, Work *w, float *base, gsize *used)
{
  const gsize N = (gsize) w->B * w->T, H = self->H, E = self->E, L = self->L;
  const gsize GH = (gsize) self->G * H;
  *used = 0;
  w->ids = (gint32 *) carve (base, used, N);
  w->targets = (gint32 *) carve (base, used, N);
  w->emb = carve (base, used, N * E);
  for (gsize l = 0; l < L; l++)
    {
      w->gates[l] = carve (base, used, N * GH);
      w->h[l] = carve (base, used, N * H + (gsize) w->B * H);
      w->c[l] = self->cell->has_cell ? carve (base, used, N * H + (gsize) w->B * H) : NULL;
      w->aux[l] = self->cell->aux_gates ? carve (base, used, N * H * self->cell->aux_gates)
                                        : NULL;
    }
  w->logits = carve (base, used, N * self->V);
  w->row_loss = (double *) carve (base, used, 2 * N);
  /* Packing a weight costs about one step's product, so it pays from two steps on. */
  gsize packed = 0;
  for (int k = 0; k < 2; k++)
    {
      int In = k == 0 ? self->E : self->H;
      packed = MAX (packed, lm_smallgemm_packed_floats (In, (int) GH));
      packed = MAX (packed, lm_smallgemm_packed_floats ((int) GH, In));
    }
  w->packed = w->T > 1 ? carve (base, used, packed) : NULL;
  /* the output layer's forward on lm_smallgemm_wide, for the shapes where it pays */
  w->panel_threads = lm_smallgemm_wide_pays ((int) N, self->V, (int) H)
                     ? MAX (self->parallel.n_parts, 1) : 0;
  if (w->panel_threads > 0)
    {
      w->top_packed = carve (base, used, lm_smallgemm_rows_floats ((int) N, (int) H));
      w->out_panels = carve (base, used, (gsize) w->panel_threads
                                         * lm_smallgemm_wide_scratch_floats ((int) H));
      w->row_max_parts = carve (base, used,
                                (gsize) w->panel_threads * LM_PARALLEL_PARTS_PER_THREAD * N);
      w->row_max = carve (base, used, N);
    }
  if (!w->training)
    return;
  for (gsize l = 0; l <= L; l++)
    {
      gsize n = N * (l == 0 ? E : H);
      w->drop[l] = self->dropout > 0 ? carve (base, used, n) : NULL;
      w->mask[l] = self->dropout > 0 ? carve (base, used, n) : NULL;
    }
  w->d_xw = carve (base, used, N * GH);
  w->d_hw = self->cell->has_d_hw ? carve (base, used, N * GH) : NULL;
  w->d_a = carve (base, used, N * MAX (E, H));
  w->d_b = carve (base, used, N * MAX (E, H));
  w->work = carve (base, used, (gsize) w->B * H);
  w->parts_cap = MAX (self->parallel.n_parts, 1);
  w->d_top_parts = carve (base, used,
                         (gsize) (w->parts_cap * LM_PARALLEL_PARTS_PER_THREAD - 1) * N * H);
  w->db_out_parts = carve (base, used, (gsize) w->parts_cap * self->V);
}

static Work *
work_new (LmRecurrent *self, int B, int T, gboolean training, GError **error)
{
  if (B <= 0 || T <= 0 || (gint64) B * T > G_MAXINT / 8)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "batch %d x context %d is not a usable batch shape (each must be at least "
                   "1, and their product at most %d)", B, T, G_MAXINT / 8);
      return NULL;
    }
  Work *w = g_new0 (Work, 1);
  w->B = B;
  w->T = T;
  w->training = training;
  w->drop = g_new0 (float *, self->L + 1);
  w->mask = g_new0 (float *, self->L + 1);
  w->gates = g_new0 (float *, self->L);
  w->h = g_new0 (float *, self->L);
  w->c = g_new0 (float *, self->L);
  w->aux = g_new0 (float *, self->L);
  w->in = g_new0 (const float *, self->L);
  gsize n_floats;
  work_layout (self, w, NULL, &n_floats);
  /* zeroed once so no buffer ever holds garbage (padding included) */
  void *block = NULL;
  if (lm_memory_fits ((double) n_floats * sizeof (float)))
    block = lm_memory_zeroed (n_floats * sizeof (float));
  if (block == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "cannot allocate %.1f MiB of activations for batch %d x context %d "
                   "(lower batch or context)", (double) n_floats * 4 / (1 << 20), B, T);
      work_free (w);
      return NULL;
    }
  w->block = block;
  work_layout (self, w, w->block, &n_floats);
  return w;
}

/* ---- the passes --------------------------------------------------------------------- */

/* C(M,N) = A(M,K) B + beta C + bias over many rows (all T*B positions), B packed: split
 * by rows across the model's threads, as the recurrence is. */
typedef struct {
  int N, K;
  const float *A;      /* (M,K), row stride lda */
  int lda;
  const float *packed; /* B (K,N), see core/lm-smallgemm.h */
  const float *bias;   /* (N) or NULL */
  float beta;
  float *C;            /* (M,N), row stride ldc */
  int ldc;
} RowsProduct;

static void
rows_product_part (LmRecurrent *self, gpointer ctx, int begin, int end)
{
  const RowsProduct *p = ctx;
  lm_smallgemm (end - begin, p->N, p->K, p->A + (gsize) begin * p->lda, p->lda, p->packed,
                p->bias, p->beta, p->C + (gsize) begin * p->ldc, p->ldc);
}

/* s = sum_n x[n,c] over the columns [begin,end) of x (N,C), in blocks of 256 columns whose
 * sums stay in registers; out_a[c] += s[c] and, unless NULL, out_b[c] += s[c] (the two
 * biases of a cell whose pre-activation gradient is the same for both). */
static LM_ALWAYS_INLINE void
column_sums_body (float *out_a, float *out_b, const float *x, int N, int C, int begin,
                  int end)
{
  float s[256];
  for (int c0 = begin; c0 < end; c0 += 256)
    {
      const int width = MIN (256, end - c0);
      memset (s, 0, sizeof s);
      for (int n = 0; n < N; n++)
        {
          const float *row = x + (gsize) n * C + c0;
          LM_SIMD
          for (int c = 0; c < width; c++)
            s[c] += row[c];
        }
      for (int c = 0; c < width; c++)
        {
          out_a[c0 + c] += s[c];
          if (out_b)
            out_b[c0 + c] += s[c];
        }
    }
}

LM_SIMD_DISPATCH (column_sums, column_sums_body,
                  (float *out_a, float *out_b, const float *x, int N, int C, int begin,
                   int end),
                  (out_a, out_b, x, N, C, begin, end))

static void
cell_forward_part (LmRecurrent *self, gpointer ctx, int b_begin, int b_end)
{
  LmCellForward fwd = *(const LmCellForward *) ctx;
  fwd.b_begin = b_begin;
  fwd.b_end = b_end;
  self->cell->forward (&fwd);
}

typedef struct {
  const LmCellForward *fwd;
  const LmCellBackward *bwd;
} CellPass;

static void
cell_backward_part (LmRecurrent *self, gpointer ctx, int b_begin, int b_end)
{
  const CellPass *pass = ctx;
  LmCellForward fwd = *pass->fwd;
  fwd.b_begin = b_begin;
  fwd.b_end = b_end;
  self->cell->backward (&fwd, pass->bwd);
}

/* The rows [begin,end) of dW_hh and entries of db_hh (lm_recurrent_cell_weight_gradients) */
static void
weight_gradients_rows (const LmRecurrentCell *cell, const LmCellForward *fwd,
                       const LmCellBackward *bwd, int begin, int end)
{
  const int GH = cell->gates * fwd->H, N = fwd->T * fwd->B, H = fwd->H;
  const float *du = cell->has_d_hw ? bwd->d_hw : bwd->d_xw; /* (T*B, G*H) */
  /* dW_hh += sum_t du_t^T h_{t-1}: h[0..T-1] is (T*B, H) */
  lm_sgemm (TRUE, FALSE, end - begin, H, N, 1.0f, du + begin, GH, fwd->h, H, 1.0f,
            bwd->d_w_hh + (gsize) begin * H, H);
}

void
lm_recurrent_cell_weight_gradients (const LmRecurrentCell *cell, const LmCellForward *fwd,
                                    const LmCellBackward *bwd)
{
  const int GH = cell->gates * fwd->H;
  weight_gradients_rows (cell, fwd, bwd, 0, GH);
  column_sums (bwd->d_b_hh, NULL, cell->has_d_hw ? bwd->d_hw : bwd->d_xw, fwd->T * fwd->B, GH,
               0, GH);
}

/* After a layer's cell backward, every gradient of its weights, for the rows [begin,end)
 * of the G*H gate rows (a part on one thread):
 *   dW_hh += du^T h_prev, db_hh += sum_n du, dW_ih += d_xw^T x, db_ih += sum_n d_xw */
typedef struct {
  const LmCellForward *fwd;
  const LmCellBackward *bwd;
  const float *x; /* (T*B, In) the layer's input */
  int In;
  float *d_w_ih, *d_b_ih;
} LayerGradients;

static void
layer_gradients_part (LmRecurrent *self, gpointer ctx, int begin, int end)
{
  const LayerGradients *g = ctx;
  const int GH = self->G * self->H, N = g->fwd->T * g->fwd->B;
  weight_gradients_rows (self->cell, g->fwd, g->bwd, begin, end);
  lm_sgemm (TRUE, FALSE, end - begin, g->In, N, 1.0f, g->bwd->d_xw + begin, GH, g->x, g->In,
            1.0f, g->d_w_ih + (gsize) begin * g->In, g->In);
  /* db_ih += sum_n d_xw; db_hh += sum_n du, the same sums unless the cell has d_hw */
  if (self->cell->has_d_hw)
    {
      column_sums (g->d_b_ih, NULL, g->bwd->d_xw, N, GH, begin, end);
      column_sums (g->bwd->d_b_hh, NULL, g->bwd->d_hw, N, GH, begin, end);
    }
  else
    column_sums (g->d_b_ih, g->bwd->d_b_hh, g->bwd->d_xw, N, GH, begin, end);
}

/* Embedding and every layer for w->ids (T,B), starting each layer from its state rows in
 * state_h (and state_c) at stride `stride` floats per layer and leaving the final state
 * there. Sets w->in and w->top. */
static void
layers_forward (LmRecurrent *self, Work *w, int B, int T, gboolean dropout, LmRng *rng,
                float *state_h, float *state_c, gsize stride)
{
  const int N = B * T, H = self->H, E = self->E, G = self->G;
  const gsize BH = (gsize) B * H;
  lm_embedding_forward (w->emb, w->ids, lm_params_data (self->params, self->v_embed), N,
                        self->V, E);
  const float *in = w->emb;
  if (dropout)
    {
      lm_dropout_forward (w->drop[0], w->mask[0], in, (gsize) N * E, self->dropout, rng);
      in = w->drop[0];
    }
  for (int l = 0; l < self->L; l++)
    {
      const int In = l == 0 ? E : H;
      const float *w_ih = lm_params_data (self->params, self->v_w_ih[l]);
      const float *b_ih = lm_params_data (self->params, self->v_b_ih[l]);
      float *gates = w->gates[l];
      w->in[l] = in;
      /* gates(T*B, G*H) = x W_ih^T + b_ih for all T steps at once */
      if (w->packed && T > 1)
        {
          lm_smallgemm_pack (w->packed, TRUE, In, G * H, w_ih, In);
          RowsProduct xw = { .N = G * H, .K = In, .A = in, .lda = In, .packed = w->packed,
                             .bias = b_ih, .beta = 0.0f, .C = gates, .ldc = G * H };
          parallel_run (self, rows_product_part, &xw, N);
        }
      else
        {
          for (int n = 0; n < N; n++)
            memcpy (gates + (gsize) n * G * H, b_ih, (gsize) G * H * sizeof (float));
          lm_sgemm (FALSE, TRUE, N, G * H, In, 1.0f, in, In, w_ih, In, 1.0f, gates, G * H);
        }
      memcpy (w->h[l], state_h + l * stride, BH * sizeof (float));
      if (w->c[l])
        memcpy (w->c[l], state_c + l * stride, BH * sizeof (float));
      LmCellForward fwd = {
        .T = T, .B = B, .H = H, .b_begin = 0, .b_end = B,
        .w_hh = lm_params_data (self->params, self->v_w_hh[l]),
        .b_hh = lm_params_data (self->params, self->v_b_hh[l]),
        .gates = gates, .h = w->h[l], .c = w->c[l], .aux = w->aux[l],
      };
      /* once per layer and pass, not once per step: h_{t-1} W_hh^T needs W_hh^T (H, G*H) */
      if (w->packed && T > 1)
        {
          lm_smallgemm_pack (w->packed, TRUE, H, G * H, fwd.w_hh, H);
          fwd.w_hh_packed = w->packed;
        }
      parallel_run (self, cell_forward_part, &fwd, B);
      memcpy (state_h + l * stride, w->h[l] + (gsize) T * BH, BH * sizeof (float));
      if (w->c[l])
        memcpy (state_c + l * stride, w->c[l] + (gsize) T * BH, BH * sizeof (float));
      in = w->h[l] + BH; /* h_1 .. h_T */
      if (dropout)
        {
          lm_dropout_forward (w->drop[l + 1], w->mask[l + 1], in, (gsize) N * H, self->dropout,
                              rng);
          in = w->drop[l + 1];
        }
    }
  w->top = in;
}

/* Which part of a parallel_run over [0,n) starts at begin (0 for the first, or when the
 * run was not split) */
static int
part_index (LmRecurrent *self, int n, int begin)
{
  for (int part = 1; begin > 0 && part < self->parallel.parts; part++)
    {
      int b, e;
      part_range (n, self->parallel.parts, part, &b, &e);
      if (b == begin)
        return part;
    }
  return 0;
}

/* The output layer over all positions at once, split by vocabulary ids rather than by
 * rows: each thread then packs only its share of W_out, the largest operand, instead of
 * all of it.
 *
 * W_out is stored (H,V), the transpose of PyTorch's nn.Linear weight, unless it is the
 * tied embedding (V,E). Both layouts give the same three products; they differ in the
 * weight gradient, dW_out = d_logits^T top, whose (N,V) operand OpenBLAS has to copy
 * transposed into its panels for a (V,H) result but not for an (H,V) one: that copy was
 * 6% of a B2 rnn training run, and the (H,V) product runs ~20% faster alone
 * (docs/benchmarks.md, "The output layer's layout"). */
typedef struct {
  Work *w;
  int N;
  int parts;   /* of the vocabulary */
  gint next;   /* the next part to take (atomic) */
  int threads; /* that take them */
  gboolean wide; /* the forward on lm_smallgemm_wide */
} OutputPass;

/* The vocabulary is cut into parts that the threads take as they come free
 * (lm_parallel_column_parts, core/lm-parallel.h), each a whole number of 64-byte lines of
 * a logits row. Who takes which part changes nothing in the result: parts write disjoint
 * columns, and d_top adds them up in part order. */
static int
out_threads (const LmRecurrent *self)
{
  return self->parallel.pool ? self->parallel.n_parts : 1;
}

static int
out_parts (const LmRecurrent *self)
{
  return lm_parallel_column_parts ((gsize) self->V, out_threads (self));
}

static void
out_part_range (const LmRecurrent *self, const OutputPass *o, int part, int *v0, int *v1)
{
  gsize b, e;
  lm_parallel_column_range ((gsize) self->V, o->parts, o->threads, part, &b, &e);
  *v0 = (int) b;
  *v1 = (int) e;
}

/* W_out's columns for ids [v0, v1) as a (H, v1-v0) matrix: *ld and *trans describe it as
 * the B of a product top(N,H) B */
static float *
out_weight_part (LmRecurrent *self, float *w_out, int v0, int *ld, gboolean *trans)
{
  *ld = self->out_hv ? self->V : self->H;
  *trans = !self->out_hv;
  return w_out + (self->out_hv ? (gsize) v0 : (gsize) v0 * self->H);
}

/* logits[:, v0:v1] = top W_out[:, v0:v1] + b_out[v0:v1], on the thread `thread`.
 * Many rows (a training batch, a scoring chunk) go through lm_smallgemm_wide, top packed
 * once by output_forward and W_out a 16-column panel (two with AVX-512) at a time: each
 * logit is written once, bias included, and the product runs ~10% faster than sgemm's
 * (docs/benchmarks.md, session 11). Other shapes (a few rows when streaming, B1's 65 characters) stay on
 * sgemm, with the bias copied in first (lm_smallgemm_wide_pays). */
static void
output_forward_part (LmRecurrent *self, const OutputPass *o, int thread, int part, int v0,
                     int v1)
{
  const float *b_out = lm_params_data (self->params, self->v_out_b);
  float *logits = o->w->logits + v0;
  int ld;
  gboolean trans;
  const float *w = out_weight_part (self, lm_params_data (self->params, self->v_out_w), v0, &ld,
                                    &trans);
  if (o->wide)
    {
      float *panel = o->w->out_panels
                     + (gsize) thread * lm_smallgemm_wide_scratch_floats (self->H);
      float *row_max = o->w->row_max_parts + (gsize) part * o->N;
      for (int n = 0; n < o->N; n++)
        row_max[n] = -INFINITY;
      lm_smallgemm_wide (o->N, v1 - v0, self->H, o->w->top_packed, w, ld, trans, panel,
                         b_out + v0, logits, self->V, row_max);
      return;
    }
  for (int n = 0; n < o->N; n++)
    memcpy (logits + (gsize) n * self->V, b_out + v0, (gsize) (v1 - v0) * sizeof (float));
  lm_sgemm (FALSE, trans, o->N, v1 - v0, self->H, 1.0f, o->w->top, self->H, w, ld, 1.0f,
            logits, self->V);
}

/* a thread's share of output_forward: the parts it takes */
static void
output_forward_parts (LmRecurrent *self, gpointer ctx, int begin, int end)
{
  OutputPass *o = ctx;
  (void) end;
  for (int p, v0, v1; (p = g_atomic_int_add (&o->next, 1)) < o->parts;)
    {
      out_part_range (self, o, p, &v0, &v1);
      if (v1 > v0)
        output_forward_part (self, o, begin, p, v0, v1);
      else if (o->wide) /* adds nothing to the maxima */
        for (int n = 0; n < o->N; n++)
          o->w->row_max_parts[(gsize) p * o->N + n] = -INFINITY;
    }
}

/* logits(N,V) = top(N,H) W_out + b_out */
static void
output_forward (LmRecurrent *self, Work *w, int N)
{
  OutputPass o = { w, N, out_parts (self), 0, out_threads (self), FALSE };
  o.wide = lm_smallgemm_wide_pays (N, self->V, self->H) && o.threads <= w->panel_threads
           && o.parts <= w->panel_threads * LM_PARALLEL_PARTS_PER_THREAD;
  if (o.wide)
    lm_smallgemm_pack_rows (w->top_packed, N, self->H, w->top, self->H);
  parallel_run (self, output_forward_parts, &o, o.threads);
  w->row_max_parts_used = o.wide ? o.parts : 0;
}

/* For ids [v0,v1) of d_logits (N,V): dW_out[v0:v1] += d_logits[:, v0:v1]^T top,
 * db_out[v0:v1] += its column sums, and this part's share of d_top = d_logits W_out,
 * d_logits[:, v0:v1] W_out[v0:v1], which output_backward adds up. */
/* Part k's share of d_top (N,H): the first in d_top itself (w->d_a), the others apart */
static float *
d_top_part (const OutputPass *o, int k, int H)
{
  return k == 0 ? o->w->d_a : o->w->d_top_parts + (gsize) (k - 1) * o->N * H;
}

static void
output_backward_part (LmRecurrent *self, const OutputPass *o, int k, int v0, int v1)
{
  Work *w = o->w;
  LmParams *p = self->params;
  const int N = o->N, H = self->H, V = self->V;
  float *d_top = d_top_part (o, k, H);
  const float *d_logits = w->logits + v0;
  int ld;
  gboolean trans;
  const float *w_out = out_weight_part (self, lm_params_data (p, self->v_out_w), v0, &ld, &trans);
  float *dw_out = out_weight_part (self, lm_params_grad (p, self->v_out_w), v0, &ld, &trans);
  /* d_top = d_logits W_out[:, v0:v1]^T */
  lm_sgemm (FALSE, !trans, N, H, v1 - v0, 1.0f, d_logits, V, w_out, ld, 0.0f, d_top, H);
  if (self->out_hv) /* dW_out(H, v0:v1) += top^T d_logits */
    lm_sgemm (TRUE, FALSE, H, v1 - v0, N, 1.0f, w->top, H, d_logits, V, 1.0f, dw_out, ld);
  else /* dW_out(v0:v1, H) += d_logits^T top */
    lm_sgemm (TRUE, FALSE, v1 - v0, H, N, 1.0f, d_logits, V, w->top, H, 1.0f, dw_out, ld);
  if (!w->have_d_logits) /* else the forward has summed them */
    column_sums (lm_params_grad (p, self->v_out_b), NULL, w->logits, N, V, v0, v1);
}

/* a thread's share of output_backward: the parts it takes */
static void
output_backward_parts (LmRecurrent *self, gpointer ctx, int begin, int end)
{
  OutputPass *o = ctx;
  const int N = o->N, H = self->H;
  (void) begin, (void) end;
  for (int p, v0, v1; (p = g_atomic_int_add (&o->next, 1)) < o->parts;)
    {
      out_part_range (self, o, p, &v0, &v1);
      if (v1 > v0)
        output_backward_part (self, o, p, v0, v1);
      else /* an empty part adds nothing to d_top */
        memset (d_top_part (o, p, H), 0, (gsize) N * H * sizeof (float));
    }
}

/* rows [begin,end) of d_top += every other part's share, in part order */
static void
d_top_sum_rows (LmRecurrent *self, gpointer ctx, int begin, int end)
{
  const OutputPass *o = ctx;
  const gsize H = self->H, n = (gsize) o->N * H;
  float *d_top = o->w->d_a + begin * H;
  for (int k = 1; k < o->parts; k++)
    {
      const float *part = o->w->d_top_parts + (gsize) (k - 1) * n + begin * H;
      LM_SIMD
      for (gsize i = 0; i < (gsize) (end - begin) * H; i++)
        d_top[i] += part[i];
    }
}

/* d_top(N,H) = d_logits W_out into w->d_a, dW_out and db_out, from d_logits in w->logits */
static void
output_backward (LmRecurrent *self, Work *w, int N)
{
  OutputPass o = { w, N, MIN (out_parts (self), w->parts_cap * LM_PARALLEL_PARTS_PER_THREAD),
                   0, out_threads (self), FALSE };
  parallel_run (self, output_backward_parts, &o, o.threads);
  if (w->have_d_logits)
    {
      float *db_out = lm_params_grad (self->params, self->v_out_b);
      for (int k = 0; k < w->db_out_parts_used; k++)
        {
          const float *part = w->db_out_parts + (gsize) k * self->V;
          LM_SIMD
          for (int v = 0; v < self->V; v++)
            db_out[v] += part[v];
        }
    }
  if (o.parts > 1)
    parallel_run (self, d_top_sum_rows, &o, N);
}

static gboolean
batch_fits (LmRecurrent *self, const LmBatch *batch)
{
  return self->train != NULL && batch->B >= 1 && batch->T >= 1 && batch->B <= self->train->B
         && batch->T <= self->train->T;
}

typedef struct {
  const gint32 *targets;
  float grad_scale;
  int N;
} CrossEntropyRows;

/* rows [begin,end) of the training forward's softmax cross-entropy (and its backward) */
static void
cross_entropy_rows_part (LmRecurrent *self, gpointer ctx, int begin, int end)
{
  const CrossEntropyRows *ce = ctx;
  Work *w = self->train;
  float *rows = w->logits + (gsize) begin * self->V;
  float *db_out = w->db_out_parts + (gsize) part_index (self, ce->N, begin) * self->V;
  memset (db_out, 0, (gsize) self->V * sizeof (float));
  /* the rows' maxima from the forward's parts, when it found them */
  if (w->row_max_parts_used > 0)
    lm_smallgemm_row_max_merge (w->row_max + begin, w->row_max_parts + begin,
                                w->row_max_parts_used, (gsize) ce->N, end - begin);
  lm_softmax_cross_entropy_rows (rows, w->row_loss + begin, db_out, rows, ce->targets + begin,
                                 end - begin, self->V, ce->grad_scale,
                                 w->row_max_parts_used > 0 ? w->row_max + begin : NULL);
}

double
lm_recurrent_forward_nats (LmModel *model, const LmBatch *batch)
{
  LmRecurrent *self = recurrent (model);
  g_return_val_if_fail (batch_fits (self, batch), NAN);
  Work *w = self->train;
  const int B = batch->B, T = batch->T, N = B * T;
  /* time-major: row t*B + b is stream b at step t */
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      {
        w->ids[t * B + b] = batch->inputs[b * T + t];
        w->targets[t * B + b] = batch->targets[b * T + t];
      }
  gboolean dropout = batch->training && self->dropout > 0 && batch->rng != NULL;
  const gsize stride = (gsize) w->B * self->H;
  layers_forward (self, w, B, T, dropout, batch->rng, self->carried,
                  self->cell->has_cell ? self->carried + self->L * stride : NULL, stride);
  output_forward (self, w, N);
  /* In training, backward follows: the softmax cross-entropy's backward is done in the
   * same pass, split by rows; the loss is summed in row order, whatever the threads. */
  int counted = 0;
  for (int n = 0; n < N; n++)
    counted += w->targets[n] >= 0;
  CrossEntropyRows ce = { w->targets, batch->training && counted > 0 ? 1.0f / counted : 0.0f,
                          N };
  double loss = 0.0;
  if (ce.grad_scale > 0.0f)
    {
      parallel_run_limited (self, cross_entropy_rows_part, &ce, N, w->parts_cap);
      w->db_out_parts_used = self->parallel.pool ? MIN (MIN (self->parallel.n_parts, N),
                                                        w->parts_cap) : 1;
      for (int n = 0; n < N; n++)
        loss += w->row_loss[n];
      loss = loss / counted;
    }
  else
    loss = lm_softmax_cross_entropy_forward (w->logits, w->logits, w->targets, N, self->V,
                                             NULL);
  w->have_d_logits = ce.grad_scale > 0.0f;
  w->used_B = B;
  w->used_T = T;
  w->used_dropout = dropout;
  self->have_forward = TRUE;
  return loss;
}

float
lm_recurrent_forward (LmModel *model, const LmBatch *batch)
{
  return (float) lm_recurrent_forward_nats (model, batch);
}

void
lm_recurrent_backward (LmModel *model, const LmBatch *batch)
{
  LmRecurrent *self = recurrent (model);
  Work *w = self->train;
  g_return_if_fail (self->have_forward && w != NULL);
  g_return_if_fail (batch->B == w->used_B && batch->T == w->used_T);
  self->have_forward = FALSE; /* the probabilities are overwritten below */
  LmParams *p = self->params;
  const int B = w->used_B, T = w->used_T, N = B * T;
  const int H = self->H, E = self->E, V = self->V, GH = self->G * H;

  /* d_logits = (probs - onehot(target)) / N, in place over the probabilities (a training
   * forward has done this already) */
  if (!w->have_d_logits)
    lm_softmax_cross_entropy_backward (w->logits, w->logits, w->targets, N, V, 1.0f);
  /* d_top(N,H) = d_logits W_out;  dW_out += d_logits^T top;  db_out += sum_n d_logits */
  float *d_cur = w->d_a, *d_other = w->d_b;
  output_backward (self, w, N);
  if (w->used_dropout)
    lm_mul_forward (d_cur, d_cur, w->mask[self->L], (gsize) N * H);

  for (int l = self->L - 1; l >= 0; l--)
    {
      const int In = l == 0 ? E : H;
      LmCellForward fwd = {
        .T = T, .B = B, .H = H, .b_begin = 0, .b_end = B,
        .w_hh = lm_params_data (p, self->v_w_hh[l]),
        .b_hh = lm_params_data (p, self->v_b_hh[l]),
        .gates = w->gates[l], .h = w->h[l], .c = w->c[l], .aux = w->aux[l],
      };
      LmCellBackward bwd = {
        .d_h = d_cur, .d_xw = w->d_xw, .d_hw = w->d_hw,
        .d_w_hh = lm_params_grad (p, self->v_w_hh[l]),
        .d_b_hh = lm_params_grad (p, self->v_b_hh[l]),
        .work = w->work,
      };
      /* da_t W_hh needs W_hh itself (G*H, H) as the product's B */
      if (w->packed && T > 1)
        {
          lm_smallgemm_pack (w->packed, FALSE, GH, H, fwd.w_hh, H);
          bwd.w_hh_packed = w->packed;
        }
      CellPass pass = { &fwd, &bwd };
      parallel_run (self, cell_backward_part, &pass, B);
      /* dW_hh, db_hh, dW_ih, db_ih over all T*B rows at once, split by gate rows */
      LayerGradients grads = { &fwd, &bwd, w->in[l], In, lm_params_grad (p, self->v_w_ih[l]),
                               lm_params_grad (p, self->v_b_ih[l]) };
      parallel_run (self, layer_gradients_part, &grads, GH);
      /* d_x(N,In) = d_xw W_ih */
      if (w->packed && T > 1)
        {
          /* W_hh's packing has served; d_x = d_xw W_ih needs W_ih (G*H, In) as B */
          lm_smallgemm_pack (w->packed, FALSE, GH, In, lm_params_data (p, self->v_w_ih[l]), In);
          RowsProduct dx = { .N = In, .K = GH, .A = w->d_xw, .lda = GH, .packed = w->packed,
                             .bias = NULL, .beta = 0.0f, .C = d_other, .ldc = In };
          parallel_run (self, rows_product_part, &dx, N);
        }
      else
        lm_sgemm (FALSE, FALSE, N, In, GH, 1.0f, w->d_xw, GH,
                  lm_params_data (p, self->v_w_ih[l]), In, 0.0f, d_other, In);
      if (w->used_dropout)
        lm_mul_forward (d_other, d_other, w->mask[l], (gsize) N * In);
      float *swap = d_cur;
      d_cur = d_other;
      d_other = swap;
    }
  /* the embedding rows of the inputs receive d_x of layer 0 */
  lm_embedding_backward (lm_params_grad (p, self->v_embed), d_cur, w->ids, N, V, E);
  if (!self->tied)
    lm_params_touch_rows (p, self->v_embed, w->ids, N);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

LmModel *
lm_recurrent_create (const LmModelClass *klass, const LmRecurrentCell *cell,
                     const LmConfig *config, LmVocab *vocab, GError **error)
{
  gint64 layers = lm_config_get_int (config, "layers");
  gint64 hidden = lm_config_get_int (config, "hidden");
  gint64 emb = lm_config_get_int (config, "emb");
  if (emb == 0)
    emb = hidden;
  gboolean tied = lm_config_get_bool (config, "tied");
  if (layers < 1 || hidden < 1 || emb < 1)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s: layers (%" G_GINT64_FORMAT ") and hidden (%" G_GINT64_FORMAT
                   ") must be at least 1", klass->name, layers, hidden);
      return NULL;
    }
  if (tied && emb != hidden)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s: tied=true shares the embedding with the output layer, so emb (%"
                   G_GINT64_FORMAT ") must equal hidden (%" G_GINT64_FORMAT
                   "); set emb=%" G_GINT64_FORMAT " or tied=false", klass->name, emb, hidden,
                   hidden);
      return NULL;
    }
  guint32 V = lm_vocab_size (vocab);
  if ((guint64) V * MAX (emb, hidden) > G_MAXINT || (guint64) 4 * hidden * MAX (emb, hidden)
      > G_MAXINT)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s: vocabulary %u with hidden %" G_GINT64_FORMAT " and emb %" G_GINT64_FORMAT
                   " is too large", klass->name, V, hidden, emb);
      return NULL;
    }

  LmRecurrent *self = g_new0 (LmRecurrent, 1);
  lm_model_init (&self->parent, klass, config, vocab);
  g_mutex_init (&self->parallel.lock);
  g_cond_init (&self->parallel.done);
  self->parallel.n_parts = 1;
  self->cell = cell;
  self->L = (int) layers;
  self->H = (int) hidden;
  self->E = (int) emb;
  self->V = (int) V;
  self->G = cell->gates;
  self->dropout = (float) lm_config_get_double (config, "dropout");
  self->tied = tied;
  self->init = lm_config_get_double (config, "init");
  self->v_w_ih = g_new (int, self->L);
  self->v_w_hh = g_new (int, self->L);
  self->v_b_ih = g_new (int, self->L);
  self->v_b_hh = g_new (int, self->L);

  /* PyTorch's RecurrentLM order and names; everything U(-init, init) as Zaremba et al. */
  const float a = (float) self->init;
  const int GH = self->G * self->H;
  self->params = lm_params_new ();
  self->v_embed = lm_params_add (self->params, "embed.weight", 2, (int[]) { self->V, self->E },
                                 LM_INIT_UNIFORM, a, TRUE);
  for (int l = 0; l < self->L; l++)
    {
      char name[64];
      int in = l == 0 ? self->E : self->H;
      g_snprintf (name, sizeof name, "rnn.weight_ih_l%d", l);
      self->v_w_ih[l] = lm_params_add (self->params, name, 2, (int[]) { GH, in },
                                       LM_INIT_UNIFORM, a, TRUE);
      g_snprintf (name, sizeof name, "rnn.weight_hh_l%d", l);
      self->v_w_hh[l] = lm_params_add (self->params, name, 2, (int[]) { GH, self->H },
                                       LM_INIT_UNIFORM, a, TRUE);
      g_snprintf (name, sizeof name, "rnn.bias_ih_l%d", l);
      self->v_b_ih[l] = lm_params_add (self->params, name, 1, (int[]) { GH }, LM_INIT_UNIFORM,
                                       a, FALSE);
      g_snprintf (name, sizeof name, "rnn.bias_hh_l%d", l);
      self->v_b_hh[l] = lm_params_add (self->params, name, 1, (int[]) { GH }, LM_INIT_UNIFORM,
                                       a, FALSE);
    }
  self->out_hv = !tied;
  self->v_out_w = tied ? self->v_embed
                       : lm_params_add (self->params, "out.weight", 2,
                                        (int[]) { self->H, self->V }, LM_INIT_UNIFORM, a, TRUE);
  self->v_out_b = lm_params_add (self->params, "out.bias", 1, (int[]) { self->V },
                                 LM_INIT_UNIFORM, a, FALSE);
  if (!lm_params_allocate (self->params, error))
    {
      g_prefix_error (error, "%s: ", klass->name);
      lm_recurrent_destroy (&self->parent);
      return NULL;
    }
  /* untied, the embedding's gradient has only the rows of the batch's ids */
  if (!tied)
    lm_params_set_row_sparse (self->params, self->v_embed);
  LmRng rng;
  lm_rng_seed (&rng, (guint64) lm_config_get_int (config, "seed"));
  lm_params_init (self->params, &rng);

  self->stepping = work_new (self, 1, 1, FALSE, error);
  if (self->stepping == NULL)
    {
      lm_recurrent_destroy (&self->parent);
      return NULL;
    }
  return &self->parent;
}

void
lm_recurrent_add_gate_bias (LmModel *model, int gate, float value)
{
  LmRecurrent *self = recurrent (model);
  g_return_if_fail (gate >= 0 && gate < self->G);
  for (int l = 0; l < self->L; l++)
    {
      float *b = lm_params_data (self->params, self->v_b_ih[l]) + (gsize) gate * self->H;
      for (int j = 0; j < self->H; j++)
        b[j] += value;
    }
}

void
lm_recurrent_destroy (LmModel *model)
{
  LmRecurrent *self = recurrent (model);
  parallel_clear (self);
  g_mutex_clear (&self->parallel.lock);
  g_cond_clear (&self->parallel.done);
  work_free (self->train);
  work_free (self->scoring);
  work_free (self->stepping);
  g_free (self->carried);
  g_clear_pointer (&self->params, lm_params_free);
  g_free (self->v_w_ih);
  g_free (self->v_w_hh);
  g_free (self->v_b_ih);
  g_free (self->v_b_hh);
  lm_model_clear (model);
  g_free (self);
}

void
lm_recurrent_describe (LmModel *model, LmModelInfo *info)
{
  LmRecurrent *self = recurrent (model);
  info->n_params = lm_params_count (self->params);
  info->bytes = lm_params_bytes (self->params);
  /* 2 FLOPs per multiply-add of every matrix product, per token */
  double mm = (double) self->H * self->V;
  for (int l = 0; l < self->L; l++)
    mm += (double) self->G * self->H * ((l == 0 ? self->E : self->H) + self->H);
  info->forward_flops = 2.0 * mm;
  info->summary = g_strdup_printf ("%s: %d layers, hidden %d, emb %d, dropout %g, %s",
                                   self->cell->name, self->L, self->H, self->E,
                                   (double) self->dropout, self->tied ? "tied" : "untied");
}

LmParams *
lm_recurrent_parameters (LmModel *model)
{
  return recurrent (model)->params;
}

gboolean
lm_recurrent_prepare (LmModel *model, int B, int T, GError **error)
{
  LmRecurrent *self = recurrent (model);
  Work *old = self->train;
  if (old && B <= old->B && T <= old->T)
    return TRUE;
  int new_B = old ? MAX (B, old->B) : B, new_T = old ? MAX (T, old->T) : T;
#ifdef HAVE_OPENBLAS_GET_NUM_THREADS
  /* one part of the batch per BLAS thread (lmlab's `threads`); the buffers depend on it */
  parallel_setup (self, MIN (openblas_get_num_threads (), 16));
#endif
  Work *w = work_new (self, new_B, new_T, TRUE, error);
  if (w == NULL)
    {
      g_prefix_error (error, "%s: ", model->klass->name);
      return FALSE;
    }
  /* the carried state (L,B,H) [+ (L,B,H)] keeps what it held for the first streams */
  int n_parts = self->cell->has_cell ? 2 : 1;
  gsize n = (gsize) n_parts * self->L * new_B * self->H;
  float *carried = g_try_new0 (float, n);
  if (carried == NULL)
    {
      work_free (w);
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY, "%s: cannot allocate the state",
                   model->klass->name);
      return FALSE;
    }
  if (old)
    for (int part = 0; part < n_parts; part++)
      for (int l = 0; l < self->L; l++)
        memcpy (carried + ((gsize) part * self->L + l) * new_B * self->H,
                self->carried + ((gsize) part * self->L + l) * old->B * self->H,
                (gsize) old->B * self->H * sizeof (float));
  work_free (old);
  g_free (self->carried);
  self->train = w;
  self->carried = carried;
  self->carried_floats = n;
  self->have_forward = FALSE;
  return TRUE;
}

void
lm_recurrent_reset_state (LmModel *model)
{
  LmRecurrent *self = recurrent (model);
  if (self->carried)
    memset (self->carried, 0, self->carried_floats * sizeof (float));
}

float *
lm_recurrent_carried_state (LmModel *model, gsize *n_floats)
{
  LmRecurrent *self = recurrent (model);
  *n_floats = self->carried_floats;
  return self->carried;
}

/* ---- scoring -------------------------------------------------------------------------- */

typedef struct {
  const float *logits;
  const gint32 *targets;
  double *logprob;
  gint32 *predicted;
  guint8 *rank;
} ScoreRows;

static void
score_rows_part (LmRecurrent *self, gpointer ctx, int begin, int end)
{
  const ScoreRows *s = ctx;
  lm_log_softmax_score (s->logits + (gsize) begin * self->V, s->targets + begin, end - begin,
                        self->V, s->logprob + begin, s->predicted ? s->predicted + begin : NULL,
                        s->rank ? s->rank + begin : NULL);
}

gboolean
lm_recurrent_score (LmModel *model, const gint32 *tokens, gsize n_tokens, LmScoreOutput *out,
                    LmProgressFunc progress, gpointer user_data, GError **error)
{
  LmRecurrent *self = recurrent (model);
  for (gsize i = 0; i < n_tokens; i++)
    if (tokens[i] < 0 || tokens[i] >= self->V)
      {
        g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                     "%s: token %" G_GSIZE_FORMAT " has id %d, outside the vocabulary of %d",
                     model->klass->name, i, tokens[i], self->V);
        return FALSE;
      }
  if (self->scoring == NULL)
    {
      self->scoring = work_new (self, 1, SCORE_CHUNK, FALSE, error);
      if (self->scoring == NULL)
        return FALSE;
    }
#ifdef HAVE_OPENBLAS_GET_NUM_THREADS
  /* the recurrence is one stream; the output layer and the scoring rows are split */
  parallel_setup (self, MIN (openblas_get_num_threads (), 16));
#endif
  Work *w = self->scoring;
  int n_parts = self->cell->has_cell ? 2 : 1;
  g_autofree float *state = g_new0 (float, (gsize) n_parts * self->L * self->H);
  float *state_c = self->cell->has_cell ? state + (gsize) self->L * self->H : NULL;
  /* tokens[i] given <s>, tokens[0..i-1]: inputs are the stream shifted right by one */
  gint32 previous = LM_TOKEN_BOS;
  for (gsize pos = 0; pos < n_tokens;)
    {
      int T = (int) MIN ((gsize) SCORE_CHUNK, n_tokens - pos);
      for (int t = 0; t < T; t++)
        {
          w->ids[t] = t == 0 ? previous : tokens[pos + t - 1];
          w->targets[t] = tokens[pos + t];
        }
      layers_forward (self, w, 1, T, FALSE, NULL, state, state_c, self->H);
      output_forward (self, w, T);
      ScoreRows rows = { w->logits, w->targets, out->logprob + pos,
                         out->predicted ? out->predicted + pos : NULL,
                         out->rank ? out->rank + pos : NULL };
      parallel_run (self, score_rows_part, &rows, T);
      /* ln p <= 0 up to rounding; not MIN (lp, 0.0), which would turn the NaN of a broken
       * model into p = 1: a NaN stays, and the evaluation refuses it */
      for (int t = 0; t < T; t++)
        if (out->logprob[pos + t] > 0.0)
          out->logprob[pos + t] = 0.0;
      previous = tokens[pos + T - 1];
      pos += T;
      if (progress)
        progress (pos, n_tokens, user_data);
    }
  return TRUE;
}

/* ---- streaming ------------------------------------------------------------------------ */

LmState *
lm_recurrent_state_new (LmModel *model)
{
  LmRecurrent *self = recurrent (model);
  LmState *state = g_new0 (LmState, 1);
  state->h = g_new0 (float, (gsize) self->L * self->H);
  state->c = self->cell->has_cell ? g_new0 (float, (gsize) self->L * self->H) : NULL;
  return state;
}

void
lm_recurrent_state_free (LmModel *model, LmState *state)
{
  if (state == NULL)
    return;
  g_free (state->h);
  g_free (state->c);
  g_free (state);
}

void
lm_recurrent_state_copy (LmModel *model, LmState *dst, const LmState *src)
{
  LmRecurrent *self = recurrent (model);
  gsize n = (gsize) self->L * self->H * sizeof (float);
  memcpy (dst->h, src->h, n);
  if (src->c)
    memcpy (dst->c, src->c, n);
}

void
lm_recurrent_state_step (LmModel *model, LmState *state, gint32 token)
{
  LmRecurrent *self = recurrent (model);
  g_return_if_fail (token >= 0 && token < self->V);
  self->stepping->ids[0] = token;
  layers_forward (self, self->stepping, 1, 1, FALSE, NULL, state->h, state->c, self->H);
}

void
lm_recurrent_state_begin (LmModel *model, LmState *state)
{
  LmRecurrent *self = recurrent (model);
  gsize n = (gsize) self->L * self->H * sizeof (float);
  memset (state->h, 0, n);
  if (state->c)
    memset (state->c, 0, n);
  lm_recurrent_state_step (model, state, LM_TOKEN_BOS);
}

void
lm_recurrent_state_logprobs (LmModel *model, LmState *state, float *logprobs)
{
  LmRecurrent *self = recurrent (model);
  /* ln softmax(h_top W_out + b_out), h_top the last layer's state */
  const float *top = state->h + (gsize) (self->L - 1) * self->H;
  memcpy (logprobs, lm_params_data (self->params, self->v_out_b),
          (gsize) self->V * sizeof (float));
  int ld;
  gboolean trans;
  const float *w_out = out_weight_part (self, lm_params_data (self->params, self->v_out_w), 0,
                                        &ld, &trans);
  lm_recurrent_gemm (trans, 1, self->V, self->H, top, self->H, w_out, ld, 1.0f, logprobs,
                     self->V);
  lm_log_softmax_forward (logprobs, logprobs, 1, self->V);
}

/* ---- save / load ------------------------------------------------------------------------ */

gboolean
lm_recurrent_save (LmModel *model, LmCheckpointWriter *writer, GError **error)
{
  return lm_params_save (recurrent (model)->params, writer, "recurrent", error);
}

gboolean
lm_recurrent_load (LmModel *model, const LmCheckpoint *checkpoint, GError **error)
{
  return lm_params_load (recurrent (model)->params, checkpoint, "recurrent", error);
}
