/* lm-recurrent.h — the stacked recurrent language model shared by rnn/, lstm/ and gru/.
 *
 *   tokens ─► embedding (V,E) ─► dropout ─► cell layer 0 ─► dropout ─► ... ─► cell layer L-1
 *          ─► dropout ─► output layer (H,V) ─► softmax
 *
 * Dropout sits on every non-recurrent connection (Zaremba et al. 2014): the embedding
 * output, between layers and before the softmax; never on the recurrence. With `tied`
 * the output layer reuses the embedding table (needs E == H). Every parameter lives in
 * ONE LmParams buffer, named and laid out as PyTorch's RecurrentLM (torch.nn.Embedding,
 * nn.RNN/LSTM/GRU, nn.Linear) so weights map one to one, with one exception: out.weight
 * is stored as the transpose of nn.Linear's (V,H) weight, which makes its gradient's
 * product faster (lm-recurrent.c, "The output layer"):
 *
 *   embed.weight (V,E)
 *   rnn.weight_ih_l{k} (G*H, In)   rnn.weight_hh_l{k} (G*H, H)
 *   rnn.bias_ih_l{k} (G*H)         rnn.bias_hh_l{k} (G*H)        k = 0..L-1
 *   out.weight (H,V)   (absent when tied: the output layer is embed.weight (V,E))
 *   out.bias (V)
 *
 * G is the number of gates of the cell (rnn 1, gru 3, lstm 4) in PyTorch's order.
 *
 * Inside, activations are time-major: row t*B + b holds stream b at step t, so that
 * one time step of a batch is a contiguous (B, ·) block for the recurrent GEMM.
 *
 * A cell is a small table of two functions over whole sequences of one layer
 * (LmRecurrentCell); each cell file documents its equations. The model's class
 * functions (lm_recurrent_*) are shared; each folder's class only names its cell.
 *
 * Shape legend: B batch, T time, E embedding, H hidden, V vocabulary, G gates, L layers.
 */
#pragma once

#include <glib.h>

#include "core/lm-model.h"

G_BEGIN_DECLS

/* What a cell's forward pass reads and writes for one layer over T steps. The streams of
 * a batch are independent, so a pass may cover only the rows [b_begin, b_end) of every
 * step (the model splits a batch across cores this way); the buffers keep the full
 * batch's shape. */
typedef struct {
  int T, B, H;
  int b_begin, b_end; /* the streams this pass computes, 0 <= b_begin < b_end <= B */
  const float *w_hh; /* (G*H, H) recurrent weights, PyTorch layout */
  const float *b_hh; /* (G*H) recurrent bias */
  float *gates;      /* (T,B,G*H) in: x_t W_ih^T + b_ih; out: what backward needs (see cell) */
  float *h;          /* (T+1,B,H) in: h[0] = initial state; out: h[t+1] = output of step t */
  float *c;          /* (T+1,B,H) LSTM cell state, c[0] initial; NULL for other cells */
  float *aux;        /* (T,B,A*H) cell-specific saved values (A = aux_gates); NULL if A = 0 */
  const float *w_hh_packed; /* W_hh^T as lm_smallgemm's B (K = H, N = G*H), packed by the
                             * model before the pass; NULL: use w_hh with BLAS */
} LmCellForward;

/* What a cell's backward pass reads and writes, beside the forward buffers. */
typedef struct {
  float *d_h;    /* (T,B,H) in: dL/dh_t from above; clobbered (carries the recurrence) */
  float *d_xw;   /* (T,B,G*H) WRITTEN: dL/d(x_t W_ih^T + b_ih), the start of the layer's
                  * chain (as the fused softmax cross-entropy writes d_logits) */
  float *d_hw;   /* (T,B,G*H) scratch for cells whose recurrent pre-activation gradient
                  * differs from d_xw (GRU); NULL for the others */
  float *d_w_hh; /* (G*H, H) += (lm_recurrent_cell_weight_gradients) */
  float *d_b_hh; /* (G*H) += (lm_recurrent_cell_weight_gradients) */
  float *d_h0;   /* (B,H) += dL/dh[0], or NULL */
  float *d_c0;   /* (B,H) += dL/dc[0] (LSTM), or NULL */
  float *work;   /* (B,H) scratch */
  const float *w_hh_packed; /* W_hh as lm_smallgemm's B (K = G*H, N = H), packed by the
                             * model before the pass; NULL: use LmCellForward.w_hh with BLAS */
} LmCellBackward;

typedef struct {
  const char *name;  /* "rnn", "lstm", "gru" */
  int gates;         /* G */
  gboolean has_cell; /* carries c beside h (LSTM) */
  int aux_gates;     /* A: LmCellForward.aux holds A*H floats per position (0: none) */
  gboolean has_d_hw; /* needs LmCellBackward.d_hw */
  /* Forward over rows [b_begin, b_end) of every step. */
  void (*forward) (const LmCellForward *fwd);
  /* Backward through time over rows [b_begin, b_end): writes d_xw (and d_hw), and adds
   * to d_h0, d_c0; the weight gradients follow, over all rows at once, from
   * lm_recurrent_cell_weight_gradients. */
  void (*backward) (const LmCellForward *fwd, const LmCellBackward *bwd);
} LmRecurrentCell;

/* After backward over every row: d_W_hh += sum_t du_t^T h_{t-1} and d_b_hh += sum_t du_t
 * in one GEMM over all T*B rows, du being d_hw for cells that have it, else d_xw. */
void lm_recurrent_cell_weight_gradients (const LmRecurrentCell *cell, const LmCellForward *fwd,
                                         const LmCellBackward *bwd);

/* Options every recurrent model understands (the LSTM adds forget_bias). */
#define LM_RECURRENT_OPTIONS                                                                  \
  { "layers", LM_OPTION_INT, "2", 1, 64, NULL, "stacked recurrent layers" },                  \
  { "hidden", LM_OPTION_INT, "128", 1, 65536, NULL, "hidden units per layer (H)" },          \
  { "emb", LM_OPTION_INT, "0", 0, 65536, NULL, "embedding size E (0 = same as hidden)" },    \
  { "dropout", LM_OPTION_DOUBLE, "0", 0, 0.95, NULL,                                          \
    "dropout probability on the embedding, between layers and before the softmax" },          \
  { "tied", LM_OPTION_BOOL, "false", 0, 0, NULL,                                              \
    "share the embedding table with the output layer (needs emb == hidden)" },                \
  { "init", LM_OPTION_DOUBLE, "0.1", 0, 10, NULL, "parameters start uniform in (-init, init)" }

/* The shared class functions; cell is the folder's cell, klass its class. */
LmModel *lm_recurrent_create (const LmModelClass *klass, const LmRecurrentCell *cell,
                              const LmConfig *config, LmVocab *vocab, GError **error);
void     lm_recurrent_destroy (LmModel *model);
void     lm_recurrent_describe (LmModel *model, LmModelInfo *info);
LmParams *lm_recurrent_parameters (LmModel *model);
gboolean lm_recurrent_prepare (LmModel *model, int B, int T, GError **error);
float    lm_recurrent_forward (LmModel *model, const LmBatch *batch);
void     lm_recurrent_backward (LmModel *model, const LmBatch *batch);
void     lm_recurrent_reset_state (LmModel *model);
float   *lm_recurrent_carried_state (LmModel *model, gsize *n_floats);
gboolean lm_recurrent_score (LmModel *model, const gint32 *tokens, gsize n_tokens,
                             LmScoreOutput *out, LmProgressFunc progress, gpointer user_data,
                             GError **error);
LmState *lm_recurrent_state_new (LmModel *model);
void     lm_recurrent_state_free (LmModel *model, LmState *state);
void     lm_recurrent_state_copy (LmModel *model, LmState *dst, const LmState *src);
void     lm_recurrent_state_begin (LmModel *model, LmState *state);
void     lm_recurrent_state_step (LmModel *model, LmState *state, gint32 token);
void     lm_recurrent_state_logprobs (LmModel *model, LmState *state, float *logprobs);
gboolean lm_recurrent_save (LmModel *model, LmCheckpointWriter *writer, GError **error);
gboolean lm_recurrent_load (LmModel *model, const LmCheckpoint *checkpoint, GError **error);

/* Add value to gate `gate` (PyTorch order) of b_ih in every layer, after the uniform
 * initialisation: the LSTM's forget-gate bias. */
void     lm_recurrent_add_gate_bias (LmModel *model, int gate, float value);

/* The mean loss of forward() in double precision (forward() rounds it to float), for
 * finite-difference checks. Same effects as forward(). */
double   lm_recurrent_forward_nats (LmModel *model, const LmBatch *batch);

/* The class table entries every recurrent class shares (create is the class's own). */
#define LM_RECURRENT_CLASS_FUNCTIONS                                                          \
  .capabilities = LM_CAP_GRADIENT | LM_CAP_SCORE | LM_CAP_STREAM | LM_CAP_SAVE,               \
  .destroy = lm_recurrent_destroy, .describe = lm_recurrent_describe,                         \
  .parameters = lm_recurrent_parameters, .prepare = lm_recurrent_prepare,                     \
  .forward = lm_recurrent_forward, .backward = lm_recurrent_backward,                         \
  .reset_state = lm_recurrent_reset_state, .carried_state = lm_recurrent_carried_state,       \
  .score = lm_recurrent_score, .state_new = lm_recurrent_state_new,                           \
  .state_free = lm_recurrent_state_free, .state_copy = lm_recurrent_state_copy,               \
  .state_begin = lm_recurrent_state_begin, .state_step = lm_recurrent_state_step,             \
  .state_logprobs = lm_recurrent_state_logprobs, .save = lm_recurrent_save,                   \
  .load = lm_recurrent_load

/* Helpers for the cells. The per-step product C(M,N) = A(M,K) op(B) + beta C, as
 * lm_sgemm (trans_b: B is stored (N,K)); one row (M = 1: scoring, streaming) goes to
 * a matrix-vector product, which unlike GEMM does not repack B on every call. */
void     lm_recurrent_gemm (gboolean trans_b, int M, int N, int K, const float *A, int lda,
                            const float *B, int ldb, float beta, float *C, int ldc);
/* The per-step recurrent product C(M,N) = A(M,K) op(B) + beta C + bias(N) (bias may be
 * NULL): with lm_smallgemm on `packed` (op(B) packed, see core/lm-smallgemm.h) when it is
 * not NULL, otherwise with lm_recurrent_gemm on B. */
void     lm_recurrent_step_gemm (const float *packed, gboolean trans_b, int M, int N, int K,
                                 const float *A, int lda, const float *B, int ldb,
                                 const float *bias, float beta, float *C, int ldc);

G_END_DECLS
