/* lm-transformer.c — the GPT-style decoder behind LmModelClass (see lm-transformer.h).
 *
 * Shape legend: B batch, T time (window, <= context), C model width d, NH heads,
 * HD = C / NH, F = 4C MLP width, V vocabulary, L layers, N = B*T positions.
 *
 * Every product over positions is one GEMM over all N = B*T rows (qkv, proj, fc, fc2,
 * head); only the attention itself runs per (b, head) (transformer-block.c). The
 * activations are carved out of one allocation made in prepare(); forward and backward
 * allocate nothing.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/lm-error.h"
#include "core/lm-ops.h"
#include "core/lm-params.h"
#include "transformer/lm-transformer.h"
#include "transformer/transformer-block.h"

#define SECTION_FINGERPRINT "transformer/fingerprint"
#define SECTION_PARAMS "transformer/params"

static const LmOptionSpec transformer_options[] = {
  { "layers", LM_OPTION_INT, "4", 1, 256, NULL, "transformer blocks (L)" },
  { "heads", LM_OPTION_INT, "4", 1, 1024, NULL, "attention heads per block (NH); must divide d" },
  { "d", LM_OPTION_INT, "128", 1, 65536, NULL, "model width (C); embeddings are d wide" },
  { "dropout", LM_OPTION_DOUBLE, "0", 0, 0.95, NULL,
    "dropout probability on the embeddings and on each residual branch (training only)" },
  { "tied", LM_OPTION_BOOL, "false", 0, -1, NULL, "output layer shares the token embedding" },
  { "bias", LM_OPTION_BOOL, "true", 0, -1, NULL, "biases in the linear layers and layer norms" },
  { "eval_mode", LM_OPTION_STRING, "windows", 0, -1, "windows|sliding",
    "scoring: non-overlapping context windows, or sliding windows (longest history)" },
  { "eval_stride", LM_OPTION_INT, "0", 0, 1e6, NULL,
    "sliding: tokens the window advances (0 = context/4; 1 = exact, context x the cost)" },
  { NULL },
};

/* view indices of one block's parameters; a bias is -1 when bias=false */
typedef struct {
  int ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b;
  int ln2_w, ln2_b, fc_w, fc_b, fc2_w, fc2_b;
} LayerParams;

/* one block's saved activations, each (N, ...) for the prepared capacity */
typedef struct {
  float *ln1, *ln1_mean, *ln1_rstd; /* (N,C) (N) (N) */
  float *qkv;                       /* (N,3C) */
  float *att;                       /* (B,NH,T,T) softmax probabilities */
  float *atty;                      /* (N,C) attention output, heads side by side */
  float *mid;                       /* (N,C) x + attention branch */
  float *ln2, *ln2_mean, *ln2_rstd; /* (N,C) (N) (N) */
  float *pre, *act;                 /* (N,F) before and after GELU */
  float *mask_attn, *mask_mlp;      /* (N,C) dropout masks (NULL without dropout) */
} LayerActs;

typedef struct {
  LmModel base;
  int L, NH, C, F, V, context;
  float dropout;
  gboolean tied, bias, sliding;
  int stride;               /* sliding: window advance */

  LmParams *params;
  int wte, wpe, lnf_w, lnf_b, head; /* head == wte when tied */
  LayerParams *layer;       /* [L] */

  /* activations, for batches up to (cap_B, cap_T) */
  int cap_B, cap_T;
  float *arena;
  float **res;              /* [L+1] (N,C): res[l] enters block l, res[L] leaves the last */
  LayerActs *acts;          /* [L] */
  float *emb_mask;          /* (N,C) or NULL */
  float *lnf, *lnf_mean, *lnf_rstd; /* (N,C) (N) (N) */
  float *logits;            /* (N,V), probabilities / d_logits in place */
  float *d_x, *d_branch, *d_small; /* (N,C) */
  float *d_big;             /* (N,F) */
  float *d_att;             /* (T,T) */
} LmTransformer;

struct _LmState {
  int len;                  /* tokens in the window (and the cache) */
  gint32 *window;           /* [context] */
  float *k, *v;             /* (L, context, C) */
  float *logits;            /* (V) after the last token */
  /* one-position scratch */
  float *x, *ln, *qkv, *y, *h, *pre, *scores; /* (C) (C) (3C) (C) (C) (F) (context) */
  float mean, rstd;
};

static inline LmTransformer *
self_of (LmModel *model)
{
  return (LmTransformer *) model;
}

static inline float *
data_of (const LmTransformer *self, int view)
{
  return view >= 0 ? lm_params_data (self->params, view) : NULL;
}

static inline float *
grad_of (const LmTransformer *self, int view)
{
  return view >= 0 ? lm_params_grad (self->params, view) : NULL;
}

/* ---- creation ------------------------------------------------------------------------- */

/* `context` belongs to the trainer's keys; read it from the text so a config that has
 * not been validated against them still gives a clear error. */
static gboolean
read_context (const LmConfig *config, int *context, GError **error)
{
  const char *text = lm_config_get (config, "context");
  gint64 value = 0;
  if (text == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "transformer: context (the window, and the number of learned positions) "
                   "is not set; use --set context=N");
      return FALSE;
    }
  if (!g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &value, NULL)
      || value < 1 || value > 1000000)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "transformer: context=%s (from %s) must be a whole number of tokens from 1 "
                   "to 1000000 (it is the window and the number of learned positions)",
                   text, lm_config_origin (config, "context"));
      return FALSE;
    }
  *context = (int) value;
  return TRUE;
}

static int
add_matrix (LmParams *params, const char *name, int rows, int cols, float std)
{
  return lm_params_add (params, name, 2, (int[]) { rows, cols }, LM_INIT_NORMAL, std, TRUE);
}

static int
add_vector (LmParams *params, const char *name, int n, LmInitKind init)
{
  return lm_params_add (params, name, 1, (int[]) { n }, init, 0.0f, FALSE);
}

/* Declare every tensor in the order of torch_lm.py's GPT.named_parameters(), under its
 * state_dict name, so a flat dump of one maps onto the other. */
static void
declare_parameters (LmTransformer *self)
{
  LmParams *p = self->params;
  int C = self->C, F = self->F;
  float std = 0.02f;
  float proj_std = 0.02f / sqrtf (2.0f * (float) self->L); /* residual projections */
  self->wte = add_matrix (p, "wte.weight", self->V, C, std);
  self->wpe = add_matrix (p, "wpe.weight", self->context, C, std);
  for (int l = 0; l < self->L; l++)
    {
      LayerParams *lp = &self->layer[l];
      char name[64];
#define NAME(suffix) (g_snprintf (name, sizeof name, "blocks.%d." suffix, l), name)
      lp->ln1_w = add_vector (p, NAME ("ln1.weight"), C, LM_INIT_ONES);
      lp->ln1_b = self->bias ? add_vector (p, NAME ("ln1.bias"), C, LM_INIT_ZEROS) : -1;
      lp->qkv_w = add_matrix (p, NAME ("qkv.weight"), 3 * C, C, std);
      lp->qkv_b = self->bias ? add_vector (p, NAME ("qkv.bias"), 3 * C, LM_INIT_ZEROS) : -1;
      lp->proj_w = add_matrix (p, NAME ("proj.weight"), C, C, proj_std);
      lp->proj_b = self->bias ? add_vector (p, NAME ("proj.bias"), C, LM_INIT_ZEROS) : -1;
      lp->ln2_w = add_vector (p, NAME ("ln2.weight"), C, LM_INIT_ONES);
      lp->ln2_b = self->bias ? add_vector (p, NAME ("ln2.bias"), C, LM_INIT_ZEROS) : -1;
      lp->fc_w = add_matrix (p, NAME ("fc.weight"), F, C, std);
      lp->fc_b = self->bias ? add_vector (p, NAME ("fc.bias"), F, LM_INIT_ZEROS) : -1;
      lp->fc2_w = add_matrix (p, NAME ("fc2.weight"), C, F, proj_std);
      lp->fc2_b = self->bias ? add_vector (p, NAME ("fc2.bias"), C, LM_INIT_ZEROS) : -1;
#undef NAME
    }
  self->lnf_w = add_vector (p, "lnf.weight", C, LM_INIT_ONES);
  self->lnf_b = self->bias ? add_vector (p, "lnf.bias", C, LM_INIT_ZEROS) : -1;
  self->head = self->tied ? self->wte : add_matrix (p, "head.weight", self->V, C, std);
}

static void transformer_destroy (LmModel *model);

static LmModel *
transformer_create (const LmConfig *config, LmVocab *vocab, GError **error)
{
  int context;
  if (!read_context (config, &context, error))
    return NULL;
  gint64 layers = lm_config_get_int (config, "layers");
  gint64 heads = lm_config_get_int (config, "heads");
  gint64 d = lm_config_get_int (config, "d");
  if (heads < 1 || d < 1 || d % heads != 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "transformer: heads=%" G_GINT64_FORMAT " does not divide d=%" G_GINT64_FORMAT
                   " (each head takes d/heads of the width); choose d a multiple of heads",
                   heads, d);
      return NULL;
    }
  if (layers < 1)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "transformer: layers=%" G_GINT64_FORMAT " must be at least 1", layers);
      return NULL;
    }

  LmTransformer *self = g_new0 (LmTransformer, 1);
  lm_model_init (&self->base, &lm_transformer_class, config, vocab);
  self->L = (int) layers;
  self->NH = (int) heads;
  self->C = (int) d;
  self->F = 4 * self->C;
  self->V = (int) lm_vocab_size (vocab);
  self->context = context;
  self->dropout = (float) lm_config_get_double (config, "dropout");
  self->tied = lm_config_get_bool (config, "tied");
  self->bias = lm_config_get_bool (config, "bias");
  self->sliding = g_strcmp0 (lm_config_get_string (config, "eval_mode"), "sliding") == 0;
  gint64 stride = lm_config_get_int (config, "eval_stride");
  self->stride = stride > 0 ? (int) MIN (stride, (gint64) context) : MAX (1, context / 4);
  self->layer = g_new0 (LayerParams, self->L);

  self->params = lm_params_new ();
  declare_parameters (self);
  if (!lm_params_allocate (self->params, error))
    {
      g_prefix_error (error, "transformer (layers=%d d=%d V=%d context=%d): ", self->L,
                      self->C, self->V, self->context);
      transformer_destroy (&self->base);
      return NULL;
    }
  LmRng rng;
  lm_rng_seed (&rng, (guint64) lm_config_get_int (config, "seed"));
  lm_params_init (self->params, &rng);
  return &self->base;
}

static void
transformer_destroy (LmModel *model)
{
  LmTransformer *self = self_of (model);
  g_clear_pointer (&self->params, lm_params_free);
  free (self->arena);
  g_free (self->res);
  g_free (self->acts);
  g_free (self->layer);
  lm_model_clear (&self->base);
  g_free (self);
}

static double
forward_flops (const LmTransformer *self)
{
  /* 2 FLOPs per multiply-add: every matrix product (12 C^2 per block and the C x V
   * head), plus Q K^T and P V over a full window of `context` keys (4 T C per block),
   * as torch_lm.py counts it */
  double C = self->C, L = self->L;
  return 2.0 * (L * 12.0 * C * C + C * self->V) + L * 4.0 * self->context * C;
}

static void
transformer_describe (LmModel *model, LmModelInfo *info)
{
  LmTransformer *self = self_of (model);
  info->n_params = lm_params_count (self->params);
  info->bytes = lm_params_bytes (self->params);
  info->forward_flops = forward_flops (self);
  g_autofree char *stride = self->sliding ? g_strdup_printf (" eval_stride=%d", self->stride)
                                           : g_strdup ("");
  info->summary = g_strdup_printf (
      "transformer layers=%d heads=%d d=%d context=%d V=%d dropout=%g tied=%s bias=%s "
      "eval_mode=%s%s", self->L, self->NH, self->C, self->context, self->V, self->dropout,
      self->tied ? "true" : "false", self->bias ? "true" : "false",
      self->sliding ? "sliding" : "windows", stride);
}

static LmParams *
transformer_parameters (LmModel *model)
{
  return self_of (model)->params;
}

/* ---- activations ---------------------------------------------------------------------- */

/* Hand out n floats from the arena at *cursor, 64-byte aligned; with base NULL only
 * count. */
static float *
carve (float *base, gsize *cursor, gsize n)
{
  gsize at = *cursor;
  *cursor += (n + 15) & ~(gsize) 15;
  return base ? base + at : NULL;
}

static gsize
layout_activations (LmTransformer *self, float *base, int B, int T)
{
  gsize N = (gsize) B * T, C = self->C, F = self->F, cur = 0;
  gboolean drop = self->dropout > 0.0f;
  for (int l = 0; l <= self->L; l++)
    self->res[l] = carve (base, &cur, N * C);
  for (int l = 0; l < self->L; l++)
    {
      LayerActs *a = &self->acts[l];
      a->ln1 = carve (base, &cur, N * C);
      a->ln1_mean = carve (base, &cur, N);
      a->ln1_rstd = carve (base, &cur, N);
      a->qkv = carve (base, &cur, N * 3 * C);
      a->att = carve (base, &cur, (gsize) B * self->NH * T * T);
      a->atty = carve (base, &cur, N * C);
      a->mid = carve (base, &cur, N * C);
      a->ln2 = carve (base, &cur, N * C);
      a->ln2_mean = carve (base, &cur, N);
      a->ln2_rstd = carve (base, &cur, N);
      a->pre = carve (base, &cur, N * F);
      a->act = carve (base, &cur, N * F);
      a->mask_attn = drop ? carve (base, &cur, N * C) : NULL;
      a->mask_mlp = drop ? carve (base, &cur, N * C) : NULL;
    }
  self->emb_mask = drop ? carve (base, &cur, N * C) : NULL;
  self->lnf = carve (base, &cur, N * C);
  self->lnf_mean = carve (base, &cur, N);
  self->lnf_rstd = carve (base, &cur, N);
  self->logits = carve (base, &cur, N * self->V);
  self->d_x = carve (base, &cur, N * C);
  self->d_branch = carve (base, &cur, N * C);
  self->d_small = carve (base, &cur, N * C);
  self->d_big = carve (base, &cur, N * MAX (F, 3 * C));
  self->d_att = carve (base, &cur, (gsize) T * T);
  return cur;
}

static gboolean
transformer_prepare (LmModel *model, int B, int T, GError **error)
{
  LmTransformer *self = self_of (model);
  if (B < 1 || T < 1)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "transformer: batch %d x window %d: both must be at least 1", B, T);
      return FALSE;
    }
  if (T > self->context)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "transformer: a window of %d tokens is longer than context=%d (the number "
                   "of learned positions); use windows of at most %d", T, self->context,
                   self->context);
      return FALSE;
    }
  if (B <= self->cap_B && T <= self->cap_T)
    return TRUE;
  B = MAX (B, self->cap_B);
  T = MAX (T, self->cap_T);
  if (self->res == NULL)
    {
      self->res = g_new0 (float *, self->L + 1);
      self->acts = g_new0 (LayerActs, self->L);
    }
  gsize n_floats = layout_activations (self, NULL, B, T);
  double bytes = (double) n_floats * sizeof (float);
  double physical = (double) sysconf (_SC_PHYS_PAGES) * (double) sysconf (_SC_PAGESIZE);
  void *arena = NULL;
  if ((physical > 0 && bytes > physical) || bytes > (double) G_MAXSIZE / 2
      || posix_memalign (&arena, 64, n_floats * sizeof (float)) != 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "transformer: the activations of a batch of %d x %d tokens need %.1f MiB "
                   "(layers=%d d=%d heads=%d V=%d; attention grows with the square of the "
                   "window), more than this machine can give; use a smaller batch or context",
                   B, T, bytes / 1048576.0, self->L, self->C, self->NH, self->V);
      return FALSE;
    }
  free (self->arena);
  self->arena = arena;
  memset (self->arena, 0, n_floats * sizeof (float));
  layout_activations (self, self->arena, B, T);
  self->cap_B = B;
  self->cap_T = T;
  return TRUE;
}

/* ---- forward / backward --------------------------------------------------------------- */

/* logits(N,V) for inputs(B,T); saves what backward needs. Dropout only when training. */
static void
forward_logits (LmTransformer *self, const gint32 *inputs, int B, int T, gboolean training,
                LmRng *rng)
{
  int N = B * T, C = self->C, V = self->V;
  gsize NC = (gsize) N * C;
  gboolean drop = training && self->dropout > 0.0f;

  /* x_0[b,t] = wte[token] + wpe[t] */
  float *x = self->res[0];
  lm_embedding_forward (x, inputs, data_of (self, self->wte), N, V, C);
  const float *wpe = data_of (self, self->wpe);
  for (int b = 0; b < B; b++)
    lm_add_forward (x + (gsize) b * T * C, x + (gsize) b * T * C, wpe, (gsize) T * C);
  if (drop)
    lm_dropout_forward (x, self->emb_mask, x, NC, self->dropout, rng);

  for (int l = 0; l < self->L; l++)
    {
      const LayerParams *lp = &self->layer[l];
      LayerActs *a = &self->acts[l];
      const float *in = self->res[l];
      float *out = self->res[l + 1];
      /* m = x + drop(proj(attention(qkv(ln1(x))))) */
      lm_layernorm_forward (a->ln1, a->ln1_mean, a->ln1_rstd, in, data_of (self, lp->ln1_w),
                            data_of (self, lp->ln1_b), N, C);
      lm_matmul_forward (a->qkv, a->ln1, data_of (self, lp->qkv_w), data_of (self, lp->qkv_b),
                         N, C, 3 * C);
      lm_attention_forward (a->atty, a->att, a->qkv, B, T, C, self->NH);
      lm_matmul_forward (a->mid, a->atty, data_of (self, lp->proj_w),
                         data_of (self, lp->proj_b), N, C, C);
      if (drop)
        lm_dropout_forward (a->mid, a->mask_attn, a->mid, NC, self->dropout, rng);
      lm_add_forward (a->mid, a->mid, in, NC);
      /* x' = m + drop(fc2(gelu(fc(ln2(m))))) */
      lm_layernorm_forward (a->ln2, a->ln2_mean, a->ln2_rstd, a->mid, data_of (self, lp->ln2_w),
                            data_of (self, lp->ln2_b), N, C);
      lm_mlp_forward (out, a->pre, a->act, a->ln2, data_of (self, lp->fc_w),
                      data_of (self, lp->fc_b), data_of (self, lp->fc2_w),
                      data_of (self, lp->fc2_b), N, C, self->F);
      if (drop)
        lm_dropout_forward (out, a->mask_mlp, out, NC, self->dropout, rng);
      lm_add_forward (out, out, a->mid, NC);
    }

  /* logits = lnf(x_L) head^T */
  lm_layernorm_forward (self->lnf, self->lnf_mean, self->lnf_rstd, self->res[self->L],
                        data_of (self, self->lnf_w), data_of (self, self->lnf_b), N, C);
  lm_matmul_forward (self->logits, self->lnf, data_of (self, self->head), NULL, N, C, V);
}

static float
transformer_forward (LmModel *model, const LmBatch *batch)
{
  LmTransformer *self = self_of (model);
  g_return_val_if_fail (batch->B <= self->cap_B && batch->T <= self->cap_T, NAN);
  int N = batch->B * batch->T;
  forward_logits (self, batch->inputs, batch->B, batch->T, batch->training, batch->rng);
  /* mean over positions of -ln softmax(logits)[target]; probabilities stay in logits */
  return (float) lm_softmax_cross_entropy_forward (self->logits, self->logits, batch->targets, N,
                                                   self->V, NULL);
}

static void
transformer_backward (LmModel *model, const LmBatch *batch)
{
  LmTransformer *self = self_of (model);
  int B = batch->B, T = batch->T, N = B * T, C = self->C, V = self->V;
  gsize NC = (gsize) N * C;
  gboolean drop = batch->training && self->dropout > 0.0f;
  g_return_if_fail (B <= self->cap_B && T <= self->cap_T);

  /* d_logits = (p - onehot) / N, in place over the probabilities */
  lm_softmax_cross_entropy_backward (self->logits, self->logits, batch->targets, N, V, 1.0f);
  /* d_lnf = d_logits head (written), d_head += d_logits^T lnf */
  float *d_ln = self->d_small;
  lm_sgemm (FALSE, FALSE, N, C, V, 1.0f, self->logits, V, data_of (self, self->head), C, 0.0f,
            d_ln, C);
  lm_matmul_backward (NULL, grad_of (self, self->head), NULL, self->logits, self->lnf,
                      data_of (self, self->head), N, C, V);
  float *d_x = self->d_x;
  memset (d_x, 0, NC * sizeof (float));
  lm_layernorm_backward (d_x, grad_of (self, self->lnf_w), grad_of (self, self->lnf_b), d_ln,
                         self->res[self->L], data_of (self, self->lnf_w), self->lnf_mean,
                         self->lnf_rstd, N, C);

  for (int l = self->L - 1; l >= 0; l--)
    {
      const LayerParams *lp = &self->layer[l];
      LayerActs *a = &self->acts[l];
      /* d_x is d(loss)/d(x'); x' = m + drop(mlp(ln2(m))): the branch gets d_x (masked),
       * and d_x itself becomes d(m) once ln2's gradient is added to it */
      float *d_branch = d_x;
      if (drop)
        {
          d_branch = self->d_branch;
          memset (d_branch, 0, NC * sizeof (float));
          lm_dropout_backward (d_branch, d_x, a->mask_mlp, NC);
        }
      memset (d_ln, 0, NC * sizeof (float));
      lm_mlp_backward (d_ln, grad_of (self, lp->fc_w), grad_of (self, lp->fc_b),
                       grad_of (self, lp->fc2_w), grad_of (self, lp->fc2_b), d_branch, a->ln2,
                       a->pre, a->act, data_of (self, lp->fc_w), data_of (self, lp->fc2_w),
                       self->d_big, N, C, self->F);
      lm_layernorm_backward (d_x, grad_of (self, lp->ln2_w), grad_of (self, lp->ln2_b), d_ln,
                             a->mid, data_of (self, lp->ln2_w), a->ln2_mean, a->ln2_rstd, N, C);

      /* m = x + drop(proj(attention(qkv(ln1(x))))) */
      d_branch = d_x;
      if (drop)
        {
          d_branch = self->d_branch;
          memset (d_branch, 0, NC * sizeof (float));
          lm_dropout_backward (d_branch, d_x, a->mask_attn, NC);
        }
      /* d_atty = d_branch proj_w (written into d_ln's buffer) */
      float *d_atty = d_ln;
      lm_sgemm (FALSE, FALSE, N, C, C, 1.0f, d_branch, C, data_of (self, lp->proj_w), C, 0.0f,
                d_atty, C);
      lm_matmul_backward (NULL, grad_of (self, lp->proj_w), grad_of (self, lp->proj_b), d_branch,
                          a->atty, data_of (self, lp->proj_w), N, C, C);
      float *d_qkv = self->d_big;
      memset (d_qkv, 0, NC * 3 * sizeof (float));
      lm_attention_backward (d_qkv, d_atty, a->att, a->qkv, self->d_att, B, T, C, self->NH);
      /* d_ln1 = d_qkv qkv_w (written), then the qkv weights' gradients */
      lm_sgemm (FALSE, FALSE, N, C, 3 * C, 1.0f, d_qkv, 3 * C, data_of (self, lp->qkv_w), C, 0.0f,
                d_ln, C);
      lm_matmul_backward (NULL, grad_of (self, lp->qkv_w), grad_of (self, lp->qkv_b), d_qkv,
                          a->ln1, data_of (self, lp->qkv_w), N, C, 3 * C);
      lm_layernorm_backward (d_x, grad_of (self, lp->ln1_w), grad_of (self, lp->ln1_b), d_ln,
                             self->res[l], data_of (self, lp->ln1_w), a->ln1_mean, a->ln1_rstd,
                             N, C);
    }

  /* x_0 = drop(wte[token] + wpe[t]) */
  if (drop)
    {
      memset (self->d_branch, 0, NC * sizeof (float));
      lm_dropout_backward (self->d_branch, d_x, self->emb_mask, NC);
      d_x = self->d_branch;
    }
  lm_embedding_backward (grad_of (self, self->wte), d_x, batch->inputs, N, V, C);
  float *d_wpe = grad_of (self, self->wpe);
  for (int b = 0; b < B; b++)
    lm_axpy (d_wpe, 1.0f, d_x + (gsize) b * T * C, (gsize) T * C);
}

const float *
lm_transformer_forward_logits (LmModel *model, const gint32 *inputs, int B, int T)
{
  g_return_val_if_fail (model != NULL && model->klass == &lm_transformer_class, NULL);
  LmTransformer *self = self_of (model);
  g_autoptr (GError) error = NULL;
  if (!transformer_prepare (model, B, T, &error))
    {
      g_critical ("%s", error->message);
      return NULL;
    }
  forward_logits (self, inputs, B, T, FALSE, NULL);
  return self->logits;
}

static void
transformer_reset_state (LmModel *model)
{
  (void) model; /* nothing is carried between batches */
}

/* ---- scoring -------------------------------------------------------------------------- */

/* Score the targets tokens[first..end-1] of windows whose inputs are
 * [<s>, tokens...][start..end-1] (the <s>-prefixed stream is s, s[i+1] = tokens[i]):
 * windows mode advances start = first; sliding mode ends each window at the last
 * target it scores and reaches back context inputs. Windows of equal length are run
 * B at a time. */
static gboolean
transformer_score (LmModel *model, const gint32 *tokens, gsize n_tokens, LmScoreOutput *out,
                   LmProgressFunc progress, gpointer user_data, GError **error)
{
  LmTransformer *self = self_of (model);
  int T = self->context;
  if (n_tokens == 0)
    return TRUE;
  int B = self->cap_B > 0 && self->cap_T >= T ? self->cap_B : MAX (1, 1024 / T);
  if (!transformer_prepare (model, B, MIN ((gsize) T, n_tokens), error))
    {
      g_prefix_error (error, "scoring: ");
      return FALSE;
    }
  B = self->cap_B;
  g_autofree gint32 *inputs = g_new (gint32, (gsize) B * T);
  g_autofree gint32 *targets = g_new (gint32, (gsize) B * T);
  g_autofree gsize *win_first = g_new (gsize, B);
  g_autofree gsize *win_start = g_new (gsize, B);
  int stride = self->sliding ? self->stride : T;

  gsize next = 0; /* first target not scored yet */
  while (next < n_tokens)
    {
      /* gather up to B windows of one length */
      int nb = 0, Tw = 0;
      while (nb < B && next < n_tokens)
        {
          gsize end = MIN (n_tokens, next + (next == 0 ? (gsize) T : (gsize) stride));
          gsize start = self->sliding ? (end > (gsize) T ? end - T : 0) : next;
          int len = (int) (end - start);
          if (nb > 0 && len != Tw)
            break;
          Tw = len;
          for (int j = 0; j < len; j++)
            {
              gsize i = start + j; /* input s[i] = i ? tokens[i-1] : <s>; target tokens[i] */
              inputs[nb * len + j] = i == 0 ? LM_TOKEN_BOS : tokens[i - 1];
              targets[nb * len + j] = i >= next ? tokens[i] : -1;
            }
          win_first[nb] = next;
          win_start[nb] = start;
          nb++;
          next = end;
        }
      for (int j = 0; j < nb * Tw; j++)
        if (inputs[j] < 0 || inputs[j] >= self->V || targets[j] >= self->V)
          {
            g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                         "scoring: token id out of range for a vocabulary of %d", self->V);
            return FALSE;
          }
      forward_logits (self, inputs, nb, Tw, FALSE, NULL);
      for (int w = 0; w < nb; w++)
        {
          int skip = (int) (win_first[w] - win_start[w]);
          int count = Tw - skip;
          gsize at = win_first[w];
          gsize row = (gsize) w * Tw + skip;
          lm_log_softmax_score (self->logits + row * self->V, targets + row, count, self->V,
                                out->logprob + at, out->predicted ? out->predicted + at : NULL,
                                out->rank ? out->rank + at : NULL);
          for (int j = 0; j < count; j++)
            out->logprob[at + j] = MIN (out->logprob[at + j], 0.0);
        }
      if (progress)
        progress (next, n_tokens, user_data);
    }
  return TRUE;
}

/* ---- streaming with a KV cache -------------------------------------------------------- */

static LmState *
transformer_state_new (LmModel *model)
{
  LmTransformer *self = self_of (model);
  gsize C = self->C, kv = (gsize) self->L * self->context * C;
  LmState *state = g_new0 (LmState, 1);
  state->window = g_new0 (gint32, self->context);
  state->k = g_new0 (float, kv);
  state->v = g_new0 (float, kv);
  state->logits = g_new0 (float, self->V);
  state->x = g_new0 (float, C);
  state->ln = g_new0 (float, C);
  state->qkv = g_new0 (float, 3 * C);
  state->y = g_new0 (float, C);
  state->h = g_new0 (float, C);
  state->pre = g_new0 (float, self->F);
  state->scores = g_new0 (float, self->context);
  return state;
}

static void
transformer_state_free (LmModel *model, LmState *state)
{
  (void) model;
  if (state == NULL)
    return;
  g_free (state->window);
  g_free (state->k);
  g_free (state->v);
  g_free (state->logits);
  g_free (state->x);
  g_free (state->ln);
  g_free (state->qkv);
  g_free (state->y);
  g_free (state->h);
  g_free (state->pre);
  g_free (state->scores);
  g_free (state);
}

static void
transformer_state_copy (LmModel *model, LmState *dst, const LmState *src)
{
  LmTransformer *self = self_of (model);
  gsize kv = (gsize) self->L * self->context * self->C;
  dst->len = src->len;
  memcpy (dst->window, src->window, (gsize) self->context * sizeof (gint32));
  memcpy (dst->k, src->k, kv * sizeof (float));
  memcpy (dst->v, src->v, kv * sizeof (float));
  memcpy (dst->logits, src->logits, (gsize) self->V * sizeof (float));
}

/* Append token at position p = state->len, attending to the cached positions 0..p:
 * the one-row version of forward_logits. */
static void
state_push (LmTransformer *self, LmState *state, gint32 token)
{
  int C = self->C, NH = self->NH, HD = C / NH, p = state->len;
  float scale = 1.0f / sqrtf ((float) HD);
  float *x = state->x;
  const float *wte = data_of (self, self->wte), *wpe = data_of (self, self->wpe);
  lm_add_forward (x, wte + (gsize) token * C, wpe + (gsize) p * C, C);
  for (int l = 0; l < self->L; l++)
    {
      const LayerParams *lp = &self->layer[l];
      float *kc = state->k + (gsize) l * self->context * C;
      float *vc = state->v + (gsize) l * self->context * C;
      lm_layernorm_forward (state->ln, &state->mean, &state->rstd, x, data_of (self, lp->ln1_w),
                            data_of (self, lp->ln1_b), 1, C);
      lm_matmul_forward (state->qkv, state->ln, data_of (self, lp->qkv_w),
                         data_of (self, lp->qkv_b), 1, C, 3 * C);
      memcpy (kc + (gsize) p * C, state->qkv + C, C * sizeof (float));
      memcpy (vc + (gsize) p * C, state->qkv + 2 * C, C * sizeof (float));
      for (int h = 0; h < NH; h++)
        {
          /* s_j = q . k_j / sqrt(HD), j <= p;  y = sum_j softmax(s)_j v_j */
          const float *q = state->qkv + h * HD;
          float *s = state->scores;
          for (int j = 0; j <= p; j++)
            {
              const float *k = kc + (gsize) j * C + h * HD;
              float dot = 0.0f;
              for (int i = 0; i < HD; i++)
                dot += q[i] * k[i];
              s[j] = dot * scale;
            }
          lm_softmax_forward (s, s, 1, p + 1);
          float *y = state->y + h * HD;
          memset (y, 0, HD * sizeof (float));
          for (int j = 0; j <= p; j++)
            lm_axpy (y, s[j], vc + (gsize) j * C + h * HD, HD);
        }
      lm_matmul_forward (state->h, state->y, data_of (self, lp->proj_w),
                         data_of (self, lp->proj_b), 1, C, C);
      lm_add_forward (x, x, state->h, C);
      lm_layernorm_forward (state->ln, &state->mean, &state->rstd, x, data_of (self, lp->ln2_w),
                            data_of (self, lp->ln2_b), 1, C);
      lm_mlp_forward (state->h, state->pre, state->pre, state->ln, data_of (self, lp->fc_w),
                      data_of (self, lp->fc_b), data_of (self, lp->fc2_w),
                      data_of (self, lp->fc2_b), 1, C, self->F);
      lm_add_forward (x, x, state->h, C);
    }
  lm_layernorm_forward (state->ln, &state->mean, &state->rstd, x, data_of (self, self->lnf_w),
                        data_of (self, self->lnf_b), 1, C);
  lm_matmul_forward (state->logits, state->ln, data_of (self, self->head), NULL, 1, C, self->V);
  state->window[p] = token;
  state->len = p + 1;
}

static void
transformer_state_begin (LmModel *model, LmState *state)
{
  state->len = 0;
  state_push (self_of (model), state, LM_TOKEN_BOS);
}

static void
transformer_state_step (LmModel *model, LmState *state, gint32 token)
{
  LmTransformer *self = self_of (model);
  g_return_if_fail (token >= 0 && token < self->V);
  if (state->len < self->context)
    {
      state_push (self, state, token);
      return;
    }
  /* The window is full: drop the oldest token and rebuild the cache of the other
   * context - 1 at their new positions 0..context-2 (positions are absolute within a
   * window), then append the new token. */
  int keep = self->context - 1;
  g_autofree gint32 *tokens = g_new (gint32, keep);
  memcpy (tokens, state->window + 1, (gsize) keep * sizeof (gint32));
  state->len = 0;
  for (int i = 0; i < keep; i++)
    state_push (self, state, tokens[i]);
  state_push (self, state, token);
}

static void
transformer_state_logprobs (LmModel *model, LmState *state, float *logprobs)
{
  lm_log_softmax_forward (logprobs, state->logits, 1, self_of (model)->V);
}

/* ---- save / load ---------------------------------------------------------------------- */

static gboolean
transformer_save (LmModel *model, LmCheckpointWriter *writer, GError **error)
{
  LmTransformer *self = self_of (model);
  guint64 fingerprint = GUINT64_TO_LE (lm_params_fingerprint (self->params));
  /* floats in the machine's byte order, which lmlab requires to be little-endian */
  return lm_checkpoint_writer_add (writer, SECTION_FINGERPRINT, &fingerprint, sizeof fingerprint,
                                   error)
         && lm_checkpoint_writer_add (writer, SECTION_PARAMS, self->params->data,
                                      self->params->n_floats * sizeof (float), error);
}

static gboolean
transformer_load (LmModel *model, const LmCheckpoint *checkpoint, GError **error)
{
  LmTransformer *self = self_of (model);
  const void *data;
  guint64 fingerprint;
  if (!lm_checkpoint_get_exact (checkpoint, SECTION_FINGERPRINT, &data, sizeof fingerprint,
                                error))
    return FALSE;
  memcpy (&fingerprint, data, sizeof fingerprint);
  if (!lm_params_check_fingerprint (self->params, GUINT64_FROM_LE (fingerprint), error))
    return FALSE;
  if (!lm_checkpoint_get_exact (checkpoint, SECTION_PARAMS, &data,
                                self->params->n_floats * sizeof (float), error))
    return FALSE;
  memcpy (self->params->data, data, self->params->n_floats * sizeof (float));
  return TRUE;
}

const LmModelClass lm_transformer_class = {
  .name = "transformer",
  .description = "GPT-style decoder: causal multi-head self-attention, pre-LayerNorm, GELU MLP",
  .capabilities = LM_CAP_GRADIENT | LM_CAP_SCORE | LM_CAP_STREAM | LM_CAP_SAVE,
  .options = transformer_options,
  .create = transformer_create,
  .destroy = transformer_destroy,
  .describe = transformer_describe,
  .parameters = transformer_parameters,
  .prepare = transformer_prepare,
  .forward = transformer_forward,
  .backward = transformer_backward,
  .reset_state = transformer_reset_state,
  .carried_state = NULL,
  .score = transformer_score,
  .state_new = transformer_state_new,
  .state_free = transformer_state_free,
  .state_copy = transformer_state_copy,
  .state_begin = transformer_state_begin,
  .state_step = transformer_state_step,
  .state_logprobs = transformer_state_logprobs,
  .save = transformer_save,
  .load = transformer_load,
};
