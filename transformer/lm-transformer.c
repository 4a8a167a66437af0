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

#include "core/lm-blas.h"
#include "core/lm-error.h"
#include "core/lm-memory.h"
#include "core/lm-ops.h"
#include "core/lm-smallgemm.h"
#include "core/lm-parallel.h"
#include "core/lm-params.h"
#include "transformer/lm-transformer.h"
#include "transformer/transformer-block.h"


static const LmOptionSpec transformer_options[] = {
  { "layers", LM_OPTION_INT, "4", 1, 256, NULL, "transformer blocks (L)" },
  { "heads", LM_OPTION_INT, "4", 1, 1024, NULL, "attention heads per block (NH); must divide d" },
  { "d", LM_OPTION_INT, "128", 1, 65536, NULL, "model width (C); embeddings are d wide" },
  { "dropout", LM_OPTION_DOUBLE, "0", 0, 0.95, NULL,
    "dropout probability on the embeddings and on each residual branch (training only)" },
  { "tied", LM_OPTION_BOOL, "false", 0, -1, NULL, "output layer shares the token embedding" },
  { "bias", LM_OPTION_BOOL, "true", 0, -1, NULL, "biases in the linear layers and layer norms" },
  { "eval_mode", LM_OPTION_STRING, "windows", 0, -1, "windows|sliding",
    "scoring: non-overlapping context windows, or sliding windows (longest history)", TRUE },
  { "eval_stride", LM_OPTION_INT, "0", 0, 1e6, NULL,
    "sliding: tokens the window advances, at most context (0 = context/4; 1 = exact, "
    "context x the cost; context = the windows mode)", TRUE },
  { "data_parallel", LM_OPTION_BOOL, "true", 0, -1, NULL,
    "split each batch over `threads` threads, each with a 1-thread BLAS (false: one thread "
    "calling a `threads`-thread BLAS)" },
  { NULL },
};

/* view indices of one block's parameters; a bias is -1 when bias=false */
typedef struct {
  int ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b;
  int ln2_w, ln2_b, fc_w, fc_b, fc2_w, fc2_b;
  /* The block's four weights packed for lm_smallgemm (core/lm-ops.h's
   * lm_matmul_*_packed), made anew before every forward pass and shared by the shards:
   * *_t for the forward's in W^T, the others for the backward's d_out W. */
  float *qkv_t, *qkv, *proj_t, *proj;
  LmMlpPacked mlp;
} LayerParams;

/* one block's saved activations, each (N, ...) for the shard's capacity */
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

/* A slice of the batch (rows b0..b0+B-1) with its own activations and, for every shard
 * but the first, its own gradient buffer: the shards run on separate threads, each
 * calling a single-threaded BLAS, and their gradients are summed at the end. */
typedef struct {
  int cap_B, cap_T;
  float *arena;
  float **res;              /* [L+1] (N,C): res[l] enters block l, res[L] leaves the last */
  LayerActs *acts;          /* [L] */
  float *emb_mask;          /* (N,C) or NULL */
  float *lnf_mean, *lnf_rstd; /* (N) (N) */
  /* the shard's rows of the head's buffers (LmTransformer), from row0 of the batch on */
  gsize row0;
  float *lnf;               /* (N,C) */
  float *logits;            /* (N,V), probabilities / d_logits in place */
  float *d_emb;             /* (N,C) d(loss)/d(x_0), left by backward for the embedding */
  double *row_loss;         /* (N) the training forward's -ln p(target) per position */
  float *d_x, *d_branch, *d_small; /* (N,C) */
  float *d_big;             /* (N,F) */
  float *att_scratch;       /* lm_attention_scratch_floats (T, C, NH) */
  float *grad;              /* params->grad (shard 0) or a private buffer of its layout */
  /* the current job */
  const gint32 *inputs, *targets; /* (B,T) */
  int B, T;
  gboolean training;
  LmRng rng;                /* dropout masks */
  double loss;              /* mean nats over counted targets */
  int count;                /* counted targets */
  float grad_scale;         /* > 0: a training forward, which leaves d_logits scaled by this
                             * (1 / the whole batch's count) in logits for the backward */
  float scale;              /* backward after a forward that did not: count / total count */
} Shard;

/* A training step's jobs, in order: PACK; BODY (embedding to lnf, per shard), HEAD
 * (logits, per vocabulary part), LOSS (per shard); HEAD_BACK (per vocabulary part),
 * BODY_BACK (per shard), REDUCE (per slice of the gradient). */
typedef enum
{
  JOB_NONE, JOB_PACK, JOB_BODY, JOB_HEAD, JOB_LOSS, JOB_CE_BACK, JOB_HEAD_BACK, JOB_BODY_BACK,
  JOB_REDUCE, JOB_SCORE, JOB_QUIT
} JobKind;

/* JOB_SCORE: transformer_score's windows, which each shard scores from its own rows */
typedef struct {
  const gint32 *targets;       /* (nb, Tw) */
  const gsize *first, *start;  /* [nb] the window's first scored target, its first input */
  int nb, Tw, per;             /* windows, their length, windows per shard */
  LmScoreOutput *out;
} ScoreJob;

typedef struct _LmTransformer LmTransformer;


/* A persistent thread running one shard's jobs; it sleeps on a condition variable
 * between jobs (no spinning, so it never competes with the caller for a core). */
typedef struct {
  LmTransformer *self;
  Shard *shard;
  GThread *thread;
  GMutex lock;
  GCond cond;
  JobKind job;              /* posted by the caller, JOB_NONE when done */
} Worker;

struct _LmTransformer {
  LmModel base;
  int L, NH, C, F, V, context;
  float dropout;
  gboolean tied, bias, sliding;
  int stride;               /* sliding: window advance */

  LmParams *params;
  int wte, wpe, lnf_w, lnf_b, head; /* head == wte when tied */
  LayerParams *layer;       /* [L] */

  int n_shards;             /* data-parallel slices of a batch (threads) */
  Shard *shards;            /* [n_shards] */
  Worker *workers;          /* [n_shards], workers[0] unused (the caller runs shard 0) */
  int reduce_used;          /* JOB_REDUCE: how many shards' gradients to add up */
  const ScoreJob *score;    /* JOB_SCORE's windows */
  int pack_used;            /* JOB_PACK: over how many shards the packing is split */
  int *pack_owner;          /* [4 L] which of them packs each block weight (deal_packing) */
  float *packed;            /* the layers' packed weights (LayerParams) */
  int cap_B, cap_T;         /* what prepare() has been asked for */
  /* The output layer runs over all shards' rows at once, split by vocabulary ids: part p
   * of head_parts multiplies every row by its own columns of W, so a thread packs only the
   * columns of its parts and writes only their gradient, which then needs no sum over
   * threads. The threads take parts as they come free (head_next), so a thread on a
   * slower core takes fewer. The rows of every shard lie side by side: */
  float *lnf_all;           /* (rows, C) the final layer norm's output */
  float *lnf_packed;        /* lnf_all in row panels for lm_smallgemm_wide (head_wide) */
  float *row_max_parts;     /* (parts, rows) each head part's largest logit of every row,
                             * found by head_forward when head_wide */
  float *row_max;           /* (rows) their maximum, for shard_loss */
  gboolean head_wide;       /* the current job's logits on lm_smallgemm_wide */
  float *logits_all;        /* (rows, V) */
  float *head_pack;         /* [n_shards] HEAD_BLOCK columns of W packed for lm_smallgemm
                             * (in the block of `packed`) */
  float *d_ln_parts;        /* [LM_PARALLEL_PARTS_PER_THREAD n_shards] (rows, C):
                             * d_logits[:, p] W[:, p]^T */
  gsize head_cap;           /* rows the three have room for */
  int head_rows, head_used; /* of the current job: rows, shards */
  int head_parts;           /* of the current job: vocabulary parts */
  gint head_next;           /* the next part to take (atomic) */
};

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
grad_of (const LmTransformer *self, const Shard *shard, int view)
{
  return view >= 0 ? shard->grad + lm_params_view (self->params, view)->offset : NULL;
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
  /* untied, head is stored (C,V), the transpose of PyTorch's head.weight (V,C): see
   * head_forward */
  self->head = self->tied ? self->wte : add_matrix (p, "head.weight", C, self->V, std);
}

static void transformer_destroy (LmModel *model);
static void stop_workers (LmTransformer *self);

/* ---- packed weights ------------------------------------------------------------------- */

/* A block's weight w (0 qkv, 1 proj, 2 fc, 3 fc2): its view, its shape (O,C), and where
 * its two packings go (forward: W^T, else W). */
static void
block_weight (const LmTransformer *self, LayerParams *lp, int w, int *view, int *O, int *C,
              float ***forward, float ***backward)
{
  int c = self->C, f = self->F;
  switch (w)
    {
    case 0:
      *view = lp->qkv_w, *O = 3 * c, *C = c, *forward = &lp->qkv_t, *backward = &lp->qkv;
      break;
    case 1:
      *view = lp->proj_w, *O = c, *C = c, *forward = &lp->proj_t, *backward = &lp->proj;
      break;
    case 2:
      *view = lp->fc_w, *O = f, *C = c;
      *forward = (float **) &lp->mlp.fc_t, *backward = (float **) &lp->mlp.fc;
      break;
    default:
      *view = lp->fc2_w, *O = c, *C = f;
      *forward = (float **) &lp->mlp.fc2_t, *backward = (float **) &lp->mlp.fc2;
      break;
    }
}

static gsize
packed_floats (int O, int C, gboolean forward)
{
  /* each packing starts on a 64-byte line */
  gsize n = forward ? lm_smallgemm_packed_floats (C, O) : lm_smallgemm_packed_floats (O, C);
  return (n + 15) / 16 * 16;
}

/* The logits are made HEAD_BLOCK vocabulary ids at a time: W's columns for them packed
 * (C x 256 floats, 200 KiB for C = 200, which stays in L2 while every row passes). */
#define HEAD_BLOCK 256

static gsize
head_pack_floats (const LmTransformer *self)
{
  /* a block of HEAD_BLOCK columns, or lm_smallgemm_wide's scratch; each thread's buffer
   * starts on a 64-byte line */
  gsize floats = MAX (lm_smallgemm_packed_floats (self->C, HEAD_BLOCK),
                      lm_smallgemm_wide_scratch_floats (self->C));
  return (floats + 15) / 16 * 16;
}

/* The floats of the block allocate_packed makes. */
static gsize
all_packed_floats (LmTransformer *self)
{
  int view, O, C;
  float **forward, **backward;
  gsize per_layer = 0;
  for (int w = 0; w < 4; w++)
    {
      block_weight (self, &self->layer[0], w, &view, &O, &C, &forward, &backward);
      per_layer += packed_floats (O, C, TRUE) + packed_floats (O, C, FALSE);
    }
  return per_layer * self->L + (gsize) self->n_shards * head_pack_floats (self);
}

/* One block for the layers' packed weights and, after them, each thread's head_pack. */
static gboolean
allocate_packed (LmTransformer *self, GError **error)
{
  int view, O, C;
  float **forward, **backward;
  gsize floats = all_packed_floats (self);
  void *memory = lm_memory_zeroed (floats * sizeof (float));
  if (memory == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "transformer: no memory for the packed weights (%.1f MiB)",
                   floats * sizeof (float) / 1048576.0);
      return FALSE;
    }
  self->packed = memory;
  float *at = self->packed;
  for (int l = 0; l < self->L; l++)
    for (int w = 0; w < 4; w++)
      {
        block_weight (self, &self->layer[l], w, &view, &O, &C, &forward, &backward);
        *forward = at;
        at += packed_floats (O, C, TRUE);
        *backward = at;
        at += packed_floats (O, C, FALSE);
      }
  self->head_pack = at;
  return TRUE;
}

/* Deal the 4 L block weights (0 qkv 3C^2, 1 proj C^2, 2 fc 4C^2, 3 fc2 4C^2) to `used`
 * threads for packing: biggest first, each to the thread with the least so far (then the
 * lowest index), so the threads finish together. Round robin had given one of two
 * threads qkv and fc (7 C^2 a layer), the other 5 C^2. owner[4 l + w] is the thread. */
static void
deal_packing (int *owner, int L, int used)
{
  static const int size[4] = { 3, 1, 4, 4 };  /* in C^2 */
  static const int order[4] = { 2, 3, 0, 1 }; /* biggest first */
  gint64 load[64] = { 0 };
  g_assert (used >= 1 && used <= 64);
  for (int o = 0; o < 4; o++)
    for (int l = 0; l < L; l++)
      {
        int best = 0;
        for (int t = 1; t < used; t++)
          if (load[t] < load[best])
            best = t;
        load[best] += size[order[o]];
        owner[4 * l + order[o]] = best;
      }
}

/* The block weights dealt to shard k (JOB_PACK), each packed both ways */
static void
pack_part (LmTransformer *self, int k)
{
  for (int j = 0; j < 4 * self->L; j++)
    {
      int view, O, C;
      float **forward, **backward;
      if (self->pack_owner[j] != k)
        continue;
      block_weight (self, &self->layer[j / 4], j % 4, &view, &O, &C, &forward, &backward);
      const float *w = lm_params_data (self->params, view);
      lm_smallgemm_pack (*forward, TRUE, C, O, w, C);   /* for in W^T: K = C, N = O */
      lm_smallgemm_pack (*backward, FALSE, O, C, w, C); /* for d_out W: K = O, N = C */
    }
}

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
  /* A window of `context` inputs that advances further than `context` would skip tokens
   * without scoring them; scoring them anyway would be the windows mode under another name.
   * Only sliding mode reads the stride, so a stored one is not checked otherwise. */
  gboolean sliding = g_strcmp0 (lm_config_get_string (config, "eval_mode"), "sliding") == 0;
  gint64 stride = lm_config_get_int (config, "eval_stride");
  if (sliding && stride > context)
    {
      const char *origin = lm_config_origin (config, "eval_stride");
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "transformer: eval_stride=%" G_GINT64_FORMAT "%s%s%s is longer than "
                   "context=%d: a sliding window of context tokens advances at most context "
                   "tokens (eval_stride=%d scores like eval_mode=windows); use 1 to %d, or 0 "
                   "for context/4",
                   stride, origin ? " (from " : "", origin ? origin : "", origin ? ")" : "",
                   context, context, context);
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
  self->sliding = sliding;
  self->stride = stride > 0 ? (int) MIN (stride, (gint64) context) : MAX (1, context / 4);
  self->layer = g_new0 (LayerParams, self->L);
  self->pack_owner = g_new0 (int, 4 * self->L);
  gint64 threads = lm_config_has (config, "threads") ? lm_config_get_int (config, "threads") : 1;
  if (threads <= 0)
    threads = g_get_num_processors ();
  gboolean parallel = !lm_config_has (config, "data_parallel")
                      || lm_config_get_bool (config, "data_parallel");
  self->n_shards = parallel ? (int) CLAMP (threads, 1, 64) : 1;
  self->shards = g_new0 (Shard, self->n_shards);
  self->workers = g_new0 (Worker, self->n_shards);
  for (int k = 0; k < self->n_shards; k++)
    {
      self->shards[k].res = g_new0 (float *, self->L + 1);
      self->shards[k].acts = g_new0 (LayerActs, self->L);
    }

  self->params = lm_params_new ();
  declare_parameters (self);
  /* What the model holds whatever the batch — values and gradients, the other threads'
   * gradient buffers, the packed weights — checked before any of it is allocated, and
   * before initialising it, which for a billion parameters takes minutes. */
  double held = ((2.0 + self->n_shards - 1) * self->params->n_floats + all_packed_floats (self))
                * sizeof (float);
  gboolean fits = lm_memory_fits (held);
  if (!fits)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "%" G_GUINT64_FORMAT " parameters with their gradients (one buffer per "
                   "thread) and packed weights need %.1f MiB, more than the %.1f MiB of "
                   "memory available: use a smaller model or fewer threads",
                   lm_params_count (self->params), held / 1048576.0,
                   lm_memory_available () / 1048576.0);
    }
  if (!fits || !lm_params_allocate (self->params, error))
    {
      g_prefix_error (error, "transformer (layers=%d d=%d V=%d context=%d): ", self->L,
                      self->C, self->V, self->context);
      transformer_destroy (&self->base);
      return NULL;
    }
  LmRng rng;
  lm_rng_seed (&rng, (guint64) lm_config_get_int (config, "seed"));
  lm_params_init (self->params, &rng);
  /* untied, wte's gradient has rows only for the batch's inputs: zeroing and the norm
   * visit only those (core/lm-params.h); tied, the output layer writes every row */
  if (!self->tied)
    lm_params_set_row_sparse (self->params, self->wte);
  if (!allocate_packed (self, error))
    {
      transformer_destroy (&self->base);
      return NULL;
    }
  return &self->base;
}

static void
transformer_destroy (LmModel *model)
{
  LmTransformer *self = self_of (model);
  stop_workers (self);
  for (int k = 0; self->shards && k < self->n_shards; k++)
    {
      Shard *sh = &self->shards[k];
      free (sh->arena);
      if (k > 0)
        free (sh->grad);
      g_free (sh->res);
      g_free (sh->acts);
    }
  g_free (self->shards);
  g_free (self->workers);
  free (self->lnf_all);
  free (self->lnf_packed);
  free (self->logits_all);
  free (self->d_ln_parts);
  g_clear_pointer (&self->params, lm_params_free);
  free (self->packed);
  g_free (self->layer);
  g_free (self->pack_owner);
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
layout_shard (const LmTransformer *self, Shard *sh, float *base, int B, int T)
{
  gsize N = (gsize) B * T, C = self->C, F = self->F, cur = 0;
  gboolean drop = self->dropout > 0.0f;
  for (int l = 0; l <= self->L; l++)
    sh->res[l] = carve (base, &cur, N * C);
  for (int l = 0; l < self->L; l++)
    {
      LayerActs *a = &sh->acts[l];
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
  sh->emb_mask = drop ? carve (base, &cur, N * C) : NULL;
  sh->lnf_mean = carve (base, &cur, N);
  sh->lnf_rstd = carve (base, &cur, N);
  sh->row_loss = (double *) carve (base, &cur, 2 * N); /* carve keeps 64-byte alignment */
  sh->d_x = carve (base, &cur, N * C);
  sh->d_branch = carve (base, &cur, N * C);
  sh->d_small = carve (base, &cur, N * C);
  sh->d_big = carve (base, &cur, N * MAX (F, 3 * C));
  sh->att_scratch = carve (base, &cur, lm_attention_scratch_floats (T, C, self->NH));
  return cur;
}

/* Grow a shard to hold (B,T) rows; its gradient buffer (shards after the first) is made
 * once. */
static gboolean
prepare_shard (LmTransformer *self, int index, int B, int T, GError **error)
{
  Shard *sh = &self->shards[index];
  if (B <= sh->cap_B && T <= sh->cap_T)
    return TRUE;
  B = MAX (B, sh->cap_B);
  T = MAX (T, sh->cap_T);
  gsize n_floats = layout_shard (self, sh, NULL, B, T);
  double bytes = (double) n_floats * sizeof (float);
  void *arena = lm_memory_fits (bytes) ? lm_memory_zeroed (n_floats * sizeof (float)) : NULL;
  if (arena == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "transformer: the activations of a batch of %d x %d tokens need %.1f MiB "
                   "(layers=%d d=%d heads=%d V=%d; attention grows with the square of the "
                   "window), more than this machine can give; use a smaller batch or context",
                   B * self->n_shards, T, bytes * self->n_shards / 1048576.0, self->L, self->C,
                   self->NH, self->V);
      return FALSE;
    }
  free (sh->arena);
  sh->arena = arena;
  layout_shard (self, sh, sh->arena, B, T);
  sh->cap_B = B;
  sh->cap_T = T;
  if (index > 0 && sh->grad == NULL)
    {
      void *grad = lm_memory_zeroed (self->params->n_floats * sizeof (float));
      if (grad == NULL)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                       "transformer: no memory for a worker's gradient buffer (%.1f MiB)",
                       self->params->n_floats * sizeof (float) / 1048576.0);
          return FALSE;
        }
      sh->grad = grad;
    }
  return TRUE;
}

/* Grow the head's buffers (LmTransformer) to hold `rows` rows. */
static gboolean
prepare_head (LmTransformer *self, gsize rows, GError **error)
{
  if (rows <= self->head_cap)
    return TRUE;
  gsize C = self->C, V = self->V;
  gsize n_parts = (gsize) LM_PARALLEL_PARTS_PER_THREAD * self->n_shards;
  gsize n_packed = lm_smallgemm_rows_floats ((int) rows, (int) C) + (n_parts + 1) * rows;
  gsize floats = rows * (C + V + n_parts * C) + n_packed;
  void *lnf = NULL, *logits = NULL, *parts = NULL, *packed = NULL;
  if (!lm_memory_fits ((double) floats * sizeof (float))
      || (lnf = lm_memory_zeroed (rows * C * sizeof (float))) == NULL
      || (packed = lm_memory_zeroed (n_packed * sizeof (float))) == NULL
      || (logits = lm_memory_zeroed (rows * V * sizeof (float))) == NULL
      || (parts = lm_memory_zeroed (rows * C * n_parts * sizeof (float))) == NULL)
    {
      free (lnf);
      free (packed);
      free (logits);
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "transformer: the output layer of %" G_GSIZE_FORMAT " positions needs "
                   "%.1f MiB (V=%d d=%d), more than this machine can give; use a smaller "
                   "batch or context", rows, floats * sizeof (float) / 1048576.0, self->V,
                   self->C);
      return FALSE;
    }
  free (self->lnf_all);
  free (self->lnf_packed);
  free (self->logits_all);
  free (self->d_ln_parts);
  self->lnf_all = lnf;
  self->lnf_packed = packed;
  /* after the packed rows, in the same allocation */
  self->row_max_parts = self->lnf_packed + lm_smallgemm_rows_floats ((int) rows, (int) C);
  self->row_max = self->row_max_parts + n_parts * rows;
  self->logits_all = logits;
  self->d_ln_parts = parts;
  self->head_cap = rows;
  return TRUE;
}

/* Point the shard at its rows row0.. of the head's buffers. */
static void
place_shard (LmTransformer *self, Shard *sh, gsize row0)
{
  sh->row0 = row0;
  sh->lnf = self->lnf_all + row0 * self->C;
  sh->logits = self->logits_all + row0 * self->V;
}

static gpointer worker_main (gpointer data);

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
  if (!lm_memory_fits ((double) B * T * ((double) self->V + 20.0 * self->C) * sizeof (float)))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "transformer: the activations of a batch of %d x %d tokens (layers=%d d=%d "
                   "V=%d) need more memory than this machine has; use a smaller batch or "
                   "context", B, T, self->L, self->C, self->V);
      return FALSE;
    }
  /* rows per shard: ceil(B / shards) */
  int per = (B + self->n_shards - 1) / self->n_shards;
  for (int k = 0; k < self->n_shards; k++)
    if (!prepare_shard (self, k, per, T, error))
      return FALSE;
  if (!prepare_head (self, (gsize) per * self->n_shards * T, error))
    return FALSE;
  /* the workers call BLAS at the same time, each with one thread */
  if (self->n_shards > 1)
    {
      lm_blas_set_threads (1);
      for (int k = 1; k < self->n_shards; k++)
        if (self->workers[k].thread == NULL)
          {
            Worker *w = &self->workers[k];
            w->self = self;
            w->shard = &self->shards[k];
            w->job = JOB_NONE;
            g_mutex_init (&w->lock);
            g_cond_init (&w->cond);
            w->thread = g_thread_new ("lm-transformer", worker_main, w);
          }
    }
  self->cap_B = MAX (self->cap_B, B);
  self->cap_T = MAX (self->cap_T, T);
  return TRUE;
}

/* ---- forward / backward --------------------------------------------------------------- */

/* lnf(N,C) of a shard's inputs(B,T), the input of the output layer; saves what backward
 * needs. Dropout only when training. */
static void
shard_body (LmTransformer *self, Shard *sh)
{
  int B = sh->B, T = sh->T, N = B * T, C = self->C, V = self->V;
  gsize NC = (gsize) N * C;
  gboolean drop = sh->training && self->dropout > 0.0f;

  /* x_0[b,t] = wte[token] + wpe[t] */
  float *x = sh->res[0];
  lm_embedding_forward (x, sh->inputs, data_of (self, self->wte), N, V, C);
  const float *wpe = data_of (self, self->wpe);
  for (int b = 0; b < B; b++)
    lm_add_forward (x + (gsize) b * T * C, x + (gsize) b * T * C, wpe, (gsize) T * C);
  if (drop)
    lm_dropout_forward (x, sh->emb_mask, x, NC, self->dropout, &sh->rng);

  for (int l = 0; l < self->L; l++)
    {
      const LayerParams *lp = &self->layer[l];
      LayerActs *a = &sh->acts[l];
      const float *in = sh->res[l];
      float *out = sh->res[l + 1];
      /* m = x + drop(proj(attention(qkv(ln1(x))))) */
      lm_layernorm_forward (a->ln1, a->ln1_mean, a->ln1_rstd, in, data_of (self, lp->ln1_w),
                            data_of (self, lp->ln1_b), N, C);
      lm_matmul_forward_packed (a->qkv, a->ln1, lp->qkv_t, data_of (self, lp->qkv_b), N, C,
                                3 * C);
      lm_attention_forward (a->atty, a->att, a->qkv, sh->att_scratch, B, T, C, self->NH);
      lm_matmul_forward_packed (a->mid, a->atty, lp->proj_t, data_of (self, lp->proj_b), N, C,
                                C);
      if (drop)
        lm_dropout_forward (a->mid, a->mask_attn, a->mid, NC, self->dropout, &sh->rng);
      lm_add_forward (a->mid, a->mid, in, NC);
      /* x' = m + drop(fc2(gelu(fc(ln2(m))))) */
      lm_layernorm_forward (a->ln2, a->ln2_mean, a->ln2_rstd, a->mid, data_of (self, lp->ln2_w),
                            data_of (self, lp->ln2_b), N, C);
      /* without targets no backward can follow (scoring): GELU in place, no derivative */
      lm_mlp_forward (out, a->pre, sh->targets ? a->act : a->pre, a->ln2,
                      data_of (self, lp->fc_w), data_of (self, lp->fc_b),
                      data_of (self, lp->fc2_w), data_of (self, lp->fc2_b), N, C, self->F,
                      &lp->mlp);
      if (drop)
        lm_dropout_forward (out, a->mask_mlp, out, NC, self->dropout, &sh->rng);
      lm_add_forward (out, out, a->mid, NC);
    }

  lm_layernorm_forward (sh->lnf, sh->lnf_mean, sh->lnf_rstd, sh->res[self->L],
                        data_of (self, self->lnf_w), data_of (self, self->lnf_b), N, C);
}

/* The vocabulary ids of part k of head_parts: whole 64-byte lines of a logits row. */
static void
head_range (const LmTransformer *self, int k, gsize *v0, gsize *v1)
{
  lm_parallel_column_range ((gsize) self->V, self->head_parts, self->head_used, k, v0, v1);
}

/* The parts still untaken, one at a time, to head_forward or head_backward (JOB_HEAD,
 * JOB_HEAD_BACK; the caller sets head_next to 0 first). Which thread takes which part
 * changes nothing in the result: the parts write disjoint columns, and d_lnf adds them
 * up in part order. */
static void head_forward (LmTransformer *self, const Shard *sh, int k);
static void head_backward (LmTransformer *self, int k);

static void
head_parts_run (LmTransformer *self, const Shard *sh, gboolean backward)
{
  for (int p; (p = g_atomic_int_add (&self->head_next, 1)) < self->head_parts;)
    if (backward)
      head_backward (self, p);
    else
      head_forward (self, sh, p);
}

/* logits[:, v0:v1] = lnf W[:, v0:v1] over every shard's rows: part k of the output layer,
 * on the thread of shard sh. W(C,V) is head untied, wte^T tied. Many rows (a training
 * batch) go through lm_smallgemm_wide: lnf_all packed once (head_pack_rows) and W a
 * 16-column panel (two with AVX-512) at a time, so W is read once and every row panel
 * passes over a panel held in L1; ~10% faster than lm_smallgemm on HEAD_BLOCK columns of W packed at a time,
 * which would stream each block once per chunk of 48 rows (docs/benchmarks.md, session
 * 11). Other shapes (a few rows in generation, B1's 65 characters) stay on that path
 * (lm_smallgemm_wide_pays). Neither goes through sgemm: OpenBLAS
 * clears C before a beta = 0 product (sgemm_beta, a pass over the whole 28 MB of B2's
 * logits) and then reads it back, where these write each element once. Every logit is
 * the sum over C in increasing order, whatever the path, part or block
 * (core/lm-smallgemm.h), so the result does not depend on the threads.
 * Untied, head is kept (C,V) because of the gradient's product, dW += lnf^T d_logits:
 * with head (V,C) it reads d_logits(rows,V) transposed, and OpenBLAS copies it so
 * (sgemm_otcopy, 5% of a B2 step); (C,V) reads it as it lies. */
static void
head_forward (LmTransformer *self, const Shard *sh, int k)
{
  gsize v0, v1;
  int C = self->C, V = self->V;
  head_range (self, k, &v0, &v1);
  const float *w = data_of (self, self->head);
  float *pack = self->head_pack + (gsize) (sh - self->shards) * head_pack_floats (self);
  if (self->head_wide)
    {
      float *row_max = self->row_max_parts + (gsize) k * self->head_rows;
      for (int n = 0; n < self->head_rows; n++)
        row_max[n] = -INFINITY;
      lm_smallgemm_wide (self->head_rows, (int) (v1 - v0), C, self->lnf_packed,
                         self->tied ? w + v0 * C : w + v0, self->tied ? C : V, self->tied, pack,
                         NULL, self->logits_all + v0, V, row_max);
      return;
    }
  for (gsize b0 = v0; b0 < v1; b0 += HEAD_BLOCK)
    {
      int n = (int) MIN ((gsize) HEAD_BLOCK, v1 - b0);
      if (self->tied) /* wte (V,C): the block's columns are rows b0.. of it */
        lm_smallgemm_pack (pack, TRUE, C, n, w + b0 * C, C);
      else
        lm_smallgemm_pack (pack, FALSE, C, n, w + b0, V);
      lm_smallgemm (self->head_rows, n, C, self->lnf_all, C, pack, NULL, 0.0f,
                    self->logits_all + b0, V);
    }
}

/* Before the head's parts: lnf_all packed for them when there are enough rows. */
static void
head_pack_rows (LmTransformer *self)
{
  self->head_wide = lm_smallgemm_wide_pays (self->head_rows, self->V, self->C);
  if (self->head_wide)
    lm_smallgemm_pack_rows (self->lnf_packed, self->head_rows, self->C, self->lnf_all,
                            self->C);
}

/* The shard's loss from its rows of logits (after every part of head_forward). */
static void
shard_loss (LmTransformer *self, Shard *sh)
{
  int N = sh->B * sh->T, V = self->V;
  /* mean over positions of -ln softmax(logits)[target]. In training, backward follows,
   * and its first step, d_logits, is done in the same pass over each row while the row is
   * in cache; otherwise the probabilities stay in logits. */
  if (sh->targets && sh->grad_scale > 0.0f)
    {
      /* the rows' maxima, from head_forward's parts when it found them */
      float *row_max = self->head_wide ? self->row_max + sh->row0 : NULL;
      if (row_max)
        lm_smallgemm_row_max_merge (row_max, self->row_max_parts + sh->row0, self->head_parts,
                                    (gsize) self->head_rows, N);
      lm_softmax_cross_entropy_rows (sh->logits, sh->row_loss, NULL, sh->logits, sh->targets,
                                     N, V, sh->grad_scale, row_max);
      double total = 0.0;
      sh->count = 0;
      for (int n = 0; n < N; n++)
        {
          total += sh->row_loss[n];
          sh->count += sh->targets[n] >= 0;
        }
      sh->loss = sh->count > 0 ? total / sh->count : 0.0;
    }
  else if (sh->targets)
    sh->loss = lm_softmax_cross_entropy_forward (sh->logits, sh->logits, sh->targets, N, V,
                                                 &sh->count);
}

/* d_logits = scale (p - onehot) / count over the shard's rows, in place over the
 * probabilities: with scale = count / total count this is the gradient of the whole
 * batch's mean. Only after a forward that was not a training one, which has done it. */
static void
shard_ce_backward (LmTransformer *self, Shard *sh)
{
  lm_softmax_cross_entropy_backward (sh->logits, sh->logits, sh->targets, sh->B * sh->T,
                                     self->V, sh->scale);
}

/* Part k of the output layer's backward over every shard's rows: d_ln_parts[k] =
 * d_logits[:, v0:v1] W[:, v0:v1]^T (written), and dW[:, v0:v1] += lnf^T d_logits[:, v0:v1]
 * straight into params->grad, where no other part writes (W as in head_forward). */
static void
head_backward (LmTransformer *self, int k)
{
  gsize v0, v1;
  int C = self->C, V = self->V, rows = self->head_rows, n;
  head_range (self, k, &v0, &v1);
  n = (int) (v1 - v0);
  float *part = self->d_ln_parts + (gsize) k * self->head_cap * C;
  if (n == 0)
    {
      memset (part, 0, (gsize) rows * C * sizeof (float));
      return;
    }
  const float *d_logits = self->logits_all + v0;
  const float *w = data_of (self, self->head);
  float *dw = lm_params_grad (self->params, self->head);
  if (self->tied)
    {
      lm_sgemm (FALSE, FALSE, rows, C, n, 1.0f, d_logits, V, w + v0 * C, C, 0.0f, part, C);
      lm_sgemm (TRUE, FALSE, n, C, rows, 1.0f, d_logits, V, self->lnf_all, C, 1.0f,
                dw + v0 * C, C);
    }
  else
    {
      lm_sgemm (FALSE, TRUE, rows, C, n, 1.0f, d_logits, V, w + v0, V, 0.0f, part, C);
      lm_sgemm (TRUE, FALSE, C, n, rows, 1.0f, self->lnf_all, C, d_logits, V, 1.0f, dw + v0,
                V);
    }
}

/* Accumulate the shard's gradient into sh->grad, after every part of head_backward. The
 * token embedding's gradient is left to reduce_slice for every shard but the first
 * (sh->d_emb). */
static void
shard_backward (LmTransformer *self, Shard *sh)
{
  int B = sh->B, T = sh->T, N = B * T, C = self->C, V = self->V;
  gsize NC = (gsize) N * C;
  gboolean drop = sh->training && self->dropout > 0.0f;

  /* d_lnf = the sum of the head's parts, over the shard's rows */
  float *d_ln = sh->d_small;
  gsize stride = self->head_cap * C;
  memcpy (d_ln, self->d_ln_parts + sh->row0 * C, NC * sizeof (float));
  for (int k = 1; k < self->head_parts; k++)
    lm_axpy (d_ln, 1.0f, self->d_ln_parts + k * stride + sh->row0 * C, NC);
  float *d_x = sh->d_x;
  memset (d_x, 0, NC * sizeof (float));
  lm_layernorm_backward (d_x, grad_of (self, sh, self->lnf_w), grad_of (self, sh, self->lnf_b),
                         d_ln, sh->res[self->L], data_of (self, self->lnf_w), sh->lnf_mean,
                         sh->lnf_rstd, N, C);

  for (int l = self->L - 1; l >= 0; l--)
    {
      const LayerParams *lp = &self->layer[l];
      LayerActs *a = &sh->acts[l];
      /* d_x is d(loss)/d(x'); x' = m + drop(mlp(ln2(m))): the branch gets d_x (masked),
       * and d_x itself becomes d(m) once ln2's gradient is added to it */
      float *d_branch = d_x;
      if (drop)
        {
          d_branch = sh->d_branch;
          memset (d_branch, 0, NC * sizeof (float));
          lm_dropout_backward (d_branch, d_x, a->mask_mlp, NC);
        }
      memset (d_ln, 0, NC * sizeof (float));
      lm_mlp_backward (d_ln, grad_of (self, sh, lp->fc_w), grad_of (self, sh, lp->fc_b),
                       grad_of (self, sh, lp->fc2_w), grad_of (self, sh, lp->fc2_b), d_branch,
                       a->ln2, a->pre, a->act, data_of (self, lp->fc_w),
                       data_of (self, lp->fc2_w), sh->d_big, N, C, self->F, &lp->mlp);
      lm_layernorm_backward (d_x, grad_of (self, sh, lp->ln2_w), grad_of (self, sh, lp->ln2_b),
                             d_ln, a->mid, data_of (self, lp->ln2_w), a->ln2_mean, a->ln2_rstd,
                             N, C);

      /* m = x + drop(proj(attention(qkv(ln1(x))))) */
      d_branch = d_x;
      if (drop)
        {
          d_branch = sh->d_branch;
          memset (d_branch, 0, NC * sizeof (float));
          lm_dropout_backward (d_branch, d_x, a->mask_attn, NC);
        }
      /* d_atty = d_branch proj_w (written into d_ln's buffer) */
      float *d_atty = d_ln;
      lm_matmul_backward_input_packed (d_atty, d_branch, lp->proj, 0.0f, N, C, C);
      lm_matmul_backward (NULL, grad_of (self, sh, lp->proj_w), grad_of (self, sh, lp->proj_b),
                          d_branch, a->atty, data_of (self, lp->proj_w), N, C, C);
      float *d_qkv = sh->d_big;
      memset (d_qkv, 0, NC * 3 * sizeof (float));
      lm_attention_backward (d_qkv, d_atty, a->att, a->qkv, sh->att_scratch, B, T, C,
                             self->NH);
      /* d_ln1 = d_qkv qkv_w (written), then the qkv weights' gradients */
      lm_matmul_backward_input_packed (d_ln, d_qkv, lp->qkv, 0.0f, N, C, 3 * C);
      lm_matmul_backward (NULL, grad_of (self, sh, lp->qkv_w), grad_of (self, sh, lp->qkv_b),
                          d_qkv, a->ln1, data_of (self, lp->qkv_w), N, C, 3 * C);
      lm_layernorm_backward (d_x, grad_of (self, sh, lp->ln1_w), grad_of (self, sh, lp->ln1_b),
                             d_ln, sh->res[l], data_of (self, lp->ln1_w), a->ln1_mean,
                             a->ln1_rstd, N, C);
    }

  /* x_0 = drop(wte[token] + wpe[t]) */
  if (drop)
    {
      memset (sh->d_branch, 0, NC * sizeof (float));
      lm_dropout_backward (sh->d_branch, d_x, sh->emb_mask, NC);
      d_x = sh->d_branch;
    }
  sh->d_emb = d_x;
  if (sh == &self->shards[0])
    lm_embedding_backward (grad_of (self, sh, self->wte), d_x, sh->inputs, N, V, C);
  float *d_wpe = grad_of (self, sh, self->wpe);
  for (int b = 0; b < B; b++)
    lm_axpy (d_wpe, 1.0f, d_x + (gsize) b * T * C, (gsize) T * C);
}

/* ---- the workers ---------------------------------------------------------------------- */

/* The k-th of `used` slices of the flat gradient: params->grad (shard 0's) += every other
 * shard's gradient there, which is zeroed once read (in cache), ready for the next
 * backward: a shard's buffer is zero whenever no backward is under way. Slices are whole
 * 64-byte lines (core/lm-parallel.h). Neither the head, which head_backward wrote into
 * params->grad, nor the token embedding, whose few rows the first slice adds from the
 * other shards' d_emb, is in a shard's buffer: the slices cover the views between them
 * (wte is declared first, head last). */
static void
reduce_slice (LmTransformer *self, int k, int used)
{
  const LmParamView *wpe = lm_params_view (self->params, self->wpe);
  gsize lo = wpe->offset;
  gsize hi = self->tied ? self->params->n_floats
                        : lm_params_view (self->params, self->head)->offset;
  gsize begin, end;
  lm_parallel_part_range (hi - lo, used, k, &begin, &end);
  begin += lo;
  end += lo;
  if (k == 0)
    for (int j = 1; j < used; j++)
      {
        const Shard *sh = &self->shards[j];
        lm_embedding_backward (lm_params_grad (self->params, self->wte), sh->d_emb, sh->inputs,
                               sh->B * sh->T, self->V, self->C);
      }
  for (int j = 1; j < used; j++)
    {
      lm_axpy (self->params->grad + begin, 1.0f, self->shards[j].grad + begin, end - begin);
      memset (self->shards[j].grad + begin, 0, (end - begin) * sizeof (float));
    }
}

static void score_windows (LmTransformer *self, Shard *sh, const ScoreJob *job);

static void
run_job (LmTransformer *self, Shard *sh, JobKind job)
{
  int k = (int) (sh - self->shards);
  switch (job)
    {
    case JOB_PACK:
      pack_part (self, k);
      break;
    case JOB_BODY:
      shard_body (self, sh);
      break;
    case JOB_HEAD:
      head_parts_run (self, sh, FALSE);
      break;
    case JOB_LOSS:
      shard_loss (self, sh);
      break;
    case JOB_CE_BACK:
      shard_ce_backward (self, sh);
      break;
    case JOB_HEAD_BACK:
      head_parts_run (self, sh, TRUE);
      break;
    case JOB_BODY_BACK:
      shard_backward (self, sh); /* into a zero buffer, or params->grad for shard 0 */
      break;
    case JOB_REDUCE:
      reduce_slice (self, k, self->reduce_used);
      break;
    case JOB_SCORE:
      score_windows (self, sh, self->score);
      break;
    default:
      break;
    }
}

static gpointer
worker_main (gpointer data)
{
  Worker *w = data;
  for (;;)
    {
      g_mutex_lock (&w->lock);
      while (w->job == JOB_NONE)
        g_cond_wait (&w->cond, &w->lock);
      JobKind job = w->job;
      g_mutex_unlock (&w->lock);
      if (job == JOB_QUIT)
        return NULL;
      run_job (w->self, w->shard, job);
      g_mutex_lock (&w->lock);
      w->job = JOB_NONE;
      g_cond_broadcast (&w->cond);
      g_mutex_unlock (&w->lock);
    }
}

static void
worker_post (Worker *w, JobKind job)
{
  g_mutex_lock (&w->lock);
  w->job = job;
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
}

static void
worker_wait (Worker *w)
{
  g_mutex_lock (&w->lock);
  while (w->job != JOB_NONE)
    g_cond_wait (&w->cond, &w->lock);
  g_mutex_unlock (&w->lock);
}

/* Run job on the first `used` shards: the caller takes shard 0, the workers the rest. */
static void
run_shards (LmTransformer *self, int used, JobKind job)
{
  for (int k = 1; k < used; k++)
    worker_post (&self->workers[k], job);
  run_job (self, &self->shards[0], job);
  for (int k = 1; k < used; k++)
    worker_wait (&self->workers[k]);
}

static void
stop_workers (LmTransformer *self)
{
  for (int k = 1; self->workers && k < self->n_shards; k++)
    {
      Worker *w = &self->workers[k];
      if (w->thread == NULL)
        continue;
      worker_post (w, JOB_QUIT);
      g_thread_join (w->thread);
      w->thread = NULL;
      g_mutex_clear (&w->lock);
      g_cond_clear (&w->cond);
    }
}

/* Pack every block's weights for the forward and backward passes that follow (they may
 * have changed since the last), split over the first `used` shards' threads. */
static void
pack_weights (LmTransformer *self, int used)
{
  used = MAX (used, 1);
  if (used != self->pack_used)
    deal_packing (self->pack_owner, self->L, used);
  self->pack_used = used;
  run_shards (self, used, JOB_PACK);
}

/* Split rows 0..B-1 of inputs/targets over the shards (ceil(B / shards) each); returns
 * how many shards got rows. Shard k > 0 draws its dropout masks from a generator seeded
 * from rng, so a run is reproducible for a given number of threads. */
static int
split_batch (LmTransformer *self, const gint32 *inputs, const gint32 *targets, int B, int T,
             gboolean training, LmRng *rng)
{
  int per = (B + self->n_shards - 1) / self->n_shards;
  int used = 0;
  int counted = 0;
  if (training && targets)
    for (gsize i = 0; i < (gsize) B * T; i++)
      counted += targets[i] >= 0;
  for (int b0 = 0; b0 < B; b0 += per, used++)
    {
      Shard *sh = &self->shards[used];
      sh->B = MIN (per, B - b0);
      sh->T = T;
      sh->inputs = inputs + (gsize) b0 * T;
      sh->targets = targets ? targets + (gsize) b0 * T : NULL;
      sh->training = training;
      sh->grad_scale = counted > 0 ? 1.0f / (float) counted : 0.0f;
      place_shard (self, sh, (gsize) b0 * T);
      if (training && self->dropout > 0.0f && used > 0)
        lm_rng_seed (&sh->rng, lm_rng_next (rng));
    }
  /* shard 0 continues the caller's generator (after the seeds drawn above) */
  if (training && self->dropout > 0.0f)
    self->shards[0].rng = *rng;
  self->head_rows = B * T;
  self->head_used = used;
  self->head_parts = lm_parallel_column_parts ((gsize) self->V, used);
  return used;
}

/* The forward pass of the batch split_batch has laid out over `used` shards, with the
 * weights packed: the blocks per shard, the output layer per vocabulary part, the loss per
 * shard. */
static void
run_forward (LmTransformer *self, int used)
{
  run_shards (self, used, JOB_BODY);
  head_pack_rows (self);
  g_atomic_int_set (&self->head_next, 0);
  run_shards (self, used, JOB_HEAD);
  run_shards (self, used, JOB_LOSS);
}

static float
transformer_forward (LmModel *model, const LmBatch *batch)
{
  LmTransformer *self = self_of (model);
  g_return_val_if_fail (batch->B <= self->cap_B && batch->T <= self->cap_T, NAN);
  gboolean drop = batch->training && self->dropout > 0.0f;
  g_return_val_if_fail (!drop || batch->rng != NULL, NAN);
  int used = split_batch (self, batch->inputs, batch->targets, batch->B, batch->T,
                          batch->training, batch->rng);
  pack_weights (self, used);
  run_forward (self, used);
  if (drop)
    *batch->rng = self->shards[0].rng; /* the caller's generator moves on */
  double total = 0.0;
  int count = 0;
  for (int k = 0; k < used; k++)
    {
      total += self->shards[k].loss * self->shards[k].count;
      count += self->shards[k].count;
    }
  for (int k = 0; k < used; k++)
    self->shards[k].scale = count > 0 ? (float) self->shards[k].count / (float) count : 0.0f;
  return count > 0 ? (float) (total / count) : 0.0f;
}

static void
transformer_backward (LmModel *model, const LmBatch *batch)
{
  LmTransformer *self = self_of (model);
  g_return_if_fail (batch->B <= self->cap_B && batch->T <= self->cap_T);
  int per = (batch->B + self->n_shards - 1) / self->n_shards;
  int used = (batch->B + per - 1) / per;
  g_return_if_fail (used == self->head_used && batch->B * batch->T == self->head_rows);
  self->shards[0].grad = self->params->grad;
  if (self->shards[0].grad_scale == 0.0f)
    run_shards (self, used, JOB_CE_BACK);
  g_atomic_int_set (&self->head_next, 0);
  run_shards (self, used, JOB_HEAD_BACK);
  run_shards (self, used, JOB_BODY_BACK);
  /* params->grad (shard 0's) += every other shard's gradient, each thread a slice */
  self->reduce_used = used;
  if (used > 1)
    run_shards (self, used, JOB_REDUCE);
  /* an untied wte's gradient has rows only for the batch's inputs (row-sparse) */
  if (!self->tied)
    lm_params_touch_rows (self->params, self->wte, batch->inputs, (gsize) batch->B * batch->T);
}

const float *
lm_transformer_forward_logits (LmModel *model, const gint32 *inputs, int B, int T)
{
  g_return_val_if_fail (model != NULL && model->klass == &lm_transformer_class, NULL);
  LmTransformer *self = self_of (model);
  g_autoptr (GError) error = NULL;
  if (!transformer_prepare (model, 1, T, &error) || !prepare_shard (self, 0, B, T, &error)
      || !prepare_head (self, (gsize) B * T, &error))
    {
      g_critical ("%s", error->message);
      return NULL;
    }
  Shard *sh = &self->shards[0];
  sh->B = B;
  sh->T = T;
  sh->inputs = inputs;
  sh->targets = NULL;
  sh->training = FALSE;
  sh->grad_scale = 0.0f;
  place_shard (self, sh, 0);
  self->head_rows = B * T;
  self->head_used = 1;
  self->head_parts = 1;
  pack_weights (self, 1);
  shard_body (self, sh);
  head_pack_rows (self);
  head_forward (self, sh, 0);
  return sh->logits;
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
 * B at a time, split over the shards like a training batch. */
static gboolean
transformer_score (LmModel *model, const gint32 *tokens, gsize n_tokens, LmScoreOutput *out,
                   LmProgressFunc progress, gpointer user_data, GError **error)
{
  LmTransformer *self = self_of (model);
  int T = self->context;
  if (n_tokens == 0)
    return TRUE;
  for (gsize i = 0; i < n_tokens; i++)
    if (tokens[i] < 0 || tokens[i] >= self->V)
      {
        g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                     "scoring: token %" G_GSIZE_FORMAT " has id %d, outside the vocabulary "
                     "of %d", i, tokens[i], self->V);
        return FALSE;
      }
  int B = self->cap_B > 0 && self->cap_T >= T ? self->cap_B : MAX (self->n_shards, 1024 / T);
  if (!transformer_prepare (model, B, MIN ((gsize) T, n_tokens), error))
    {
      g_prefix_error (error, "scoring: ");
      return FALSE;
    }
  g_autofree gint32 *inputs = g_new (gint32, (gsize) B * T);
  g_autofree gint32 *targets = g_new (gint32, (gsize) B * T);
  g_autofree gsize *win_first = g_new (gsize, B);
  g_autofree gsize *win_start = g_new (gsize, B);
  int stride = self->sliding ? self->stride : T;
  pack_weights (self, self->n_shards);

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
      int used = split_batch (self, inputs, NULL, nb, Tw, FALSE, NULL);
      run_forward (self, used);
      ScoreJob job = { targets, win_first, win_start, nb, Tw,
                       (nb + self->n_shards - 1) / self->n_shards, out };
      self->score = &job;
      run_shards (self, used, JOB_SCORE);
      self->score = NULL;
      if (progress)
        progress (next, n_tokens, user_data);
    }
  return TRUE;
}

/* The windows in the shard's rows (JOB_SCORE): each window's targets from its first
 * unscored one on, into out at the targets' positions (no two windows share one). */
static void
score_windows (LmTransformer *self, Shard *sh, const ScoreJob *job)
{
  int k = (int) (sh - self->shards);
  LmScoreOutput *out = job->out;
  for (int w = k * job->per; w < MIN (job->nb, (k + 1) * job->per); w++)
    {
      int skip = (int) (job->first[w] - job->start[w]);
      int count = job->Tw - skip;
      gsize at = job->first[w];
      gsize row = (gsize) (w - k * job->per) * job->Tw + skip;
      lm_log_softmax_score (sh->logits + row * self->V, job->targets + (gsize) w * job->Tw + skip,
                            count, self->V, out->logprob + at,
                            out->predicted ? out->predicted + at : NULL,
                            out->rank ? out->rank + at : NULL);
      /* ln p <= 0 up to rounding; a NaN stays NaN for the evaluation to refuse (MIN would
       * make it p = 1) */
      for (int j = 0; j < count; j++)
        if (out->logprob[at + j] > 0.0)
          out->logprob[at + j] = 0.0;
    }
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
                      data_of (self, lp->fc2_b), 1, C, self->F, NULL);
      lm_add_forward (x, x, state->h, C);
    }
  lm_layernorm_forward (state->ln, &state->mean, &state->rstd, x, data_of (self, self->lnf_w),
                        data_of (self, self->lnf_b), 1, C);
  if (self->tied)
    lm_matmul_forward (state->logits, state->ln, data_of (self, self->head), NULL, 1, C,
                       self->V);
  else
    lm_sgemm (FALSE, FALSE, 1, self->V, C, 1.0f, state->ln, C, data_of (self, self->head),
              self->V, 0.0f, state->logits, self->V);
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
  memmove (state->window, state->window + 1, (gsize) keep * sizeof (gint32));
  state->len = 0;
  for (int i = 0; i < keep; i++) /* state_push writes window[i] back unchanged */
    state_push (self, state, state->window[i]);
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
  return lm_params_save (self_of (model)->params, writer, "transformer", error);
}

static gboolean
transformer_load (LmModel *model, const LmCheckpoint *checkpoint, GError **error)
{
  return lm_params_load (self_of (model)->params, checkpoint, "transformer", error);
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
