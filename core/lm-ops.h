/* lm-ops.h — the layers every neural model is built from, as paired forward /
 * backward functions over plain float buffers (row-major, no hidden state).
 *
 * Shape legend: N rows (usually B*T positions flattened), C input features, O output
 * features, V vocabulary, E embedding / model width, B batch, T time, H hidden.
 * A comment on every buffer gives its shape.
 *
 * Conventions
 * - Forward functions WRITE their outputs.
 * - Backward functions ACCUMULATE (+=) into every gradient buffer they are given, so a
 *   buffer used twice (a shared weight, a residual branch) simply receives both
 *   contributions; zero gradients before the backward pass. A gradient pointer that
 *   is NULL is not computed. The one exception is the fused softmax + cross-entropy,
 *   the start of every backward chain, which writes d_logits (and may do so in place
 *   over probs, saving an (N,V) buffer).
 * - Elementwise functions allow out == in (in place) unless noted.
 * - Nothing here allocates, prints or fails; the callers own every buffer.
 * - Each pair is checked against central finite differences in tests/test-ops.c.
 */
#pragma once

#include <glib.h>

#include "core/lm-rng.h"

G_BEGIN_DECLS

/* ---- matrix products --------------------------------------------------------------- */

/* General row-major GEMM, BLAS semantics (a thin wrapper over cblas_sgemm):
 *   C(M,N) = alpha * op(A)(M,K) · op(B)(K,N) + beta * C
 * op(X) = X^T when trans is TRUE. A is stored (M,K) with row stride lda, or (K,M) when
 * transposed; likewise B (K,N) or (N,K) with ldb; C (M,N) with ldc. When beta == 0, C
 * is overwritten and need not be initialised. */
void lm_sgemm (gboolean trans_a, gboolean trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* The same product by the textbook triple loop (double accumulator): the reference. */
void lm_sgemm_naive (gboolean trans_a, gboolean trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int ldc);

/* Linear layer, PyTorch layout (weight is (O,C)):
 *   out(N,O) = in(N,C) · weight(O,C)^T + bias(O)          bias may be NULL */
void lm_matmul_forward (float *out, const float *in, const float *weight, const float *bias, int N,
                        int C, int O);
/*   d_in(N,C)   += d_out(N,O) · weight(O,C)
 *   d_weight(O,C) += d_out(N,O)^T · in(N,C)
 *   d_bias(O)   += sum over rows of d_out                  each gradient may be NULL */
void lm_matmul_backward (float *d_in, float *d_weight, float *d_bias, const float *d_out,
                         const float *in, const float *weight, int N, int C, int O);
/* The same products with the weight packed for core/lm-smallgemm.h, for a weight used
 * many times between two changes (by every shard of a batch, forward and backward):
 *   wt_packed: lm_smallgemm_pack (wt_packed, TRUE, C, O, weight, C)   out = in W^T + b
 *   w_packed:  lm_smallgemm_pack (w_packed, FALSE, O, C, weight, C)   d_in = beta d_in + d_out W
 * On the few hundred rows of a transformer block's products they run 10-20% faster than
 * cblas_sgemm, which copies W into its own panels on every call and first fills out
 * with the bias. */
void lm_matmul_forward_packed (float *out, const float *in, const float *wt_packed,
                               const float *bias, int N, int C, int O);
void lm_matmul_backward_input_packed (float *d_in, const float *d_out, const float *w_packed,
                                      float beta, int N, int C, int O);
/* Triple-loop references of the two above (same arguments, same results up to rounding). */
void lm_matmul_forward_naive (float *out, const float *in, const float *weight, const float *bias,
                              int N, int C, int O);
void lm_matmul_backward_naive (float *d_in, float *d_weight, float *d_bias, const float *d_out,
                               const float *in, const float *weight, int N, int C, int O);

/* ---- softmax, log-softmax, cross-entropy ------------------------------------------- */

/* probs(N,V) = softmax(logits(N,V)) over each row:
 *   p_v = exp(x_v - m) / sum_u exp(x_u - m),  m = max_u x_u   (probs may equal logits) */
void lm_softmax_forward (float *probs, const float *logits, int N, int V);
/*   d_logits_v += p_v * (d_probs_v - sum_u d_probs_u p_u) */
void lm_softmax_backward (float *d_logits, const float *d_probs, const float *probs, int N, int V);

/* logp(N,V) = log_softmax(logits(N,V)):  y_v = x_v - m - ln sum_u exp(x_u - m) */
void lm_log_softmax_forward (float *logp, const float *logits, int N, int V);
/*   d_logits_v += d_logp_v - exp(y_v) * sum_u d_logp_u */
void lm_log_softmax_backward (float *d_logits, const float *d_logp, const float *logp, int N,
                              int V);

/* Fused softmax + cross-entropy over N positions. targets(N) in [0,V); a target < 0
 * marks a position that is not scored (padding). Writes probs(N,V) (may equal logits)
 * and returns the mean over counted positions of -ln p(target), in nats (0 when no
 * position counts); *count (may be NULL) receives the number of counted positions. */
double lm_softmax_cross_entropy_forward (float *probs, const float *logits, const gint32 *targets,
                                         int N, int V, int *count);
/* WRITES d_logits(N,V) = scale * (probs - onehot(target)) / count, the gradient of
 * scale * mean loss; rows with target < 0 get zeros. d_logits may equal probs (in place).
 * scale is the upstream factor: 1 for the mean loss, T for "summed over time, averaged
 * over the batch" (Zaremba et al.). */
void lm_softmax_cross_entropy_backward (float *d_logits, const float *probs, const gint32 *targets,
                                        int N, int V, float scale);

/* Forward and backward of the softmax cross-entropy in one pass over rows [0,N), for a
 * training step that is sure to call backward (and for splitting rows across threads):
 *   row_loss[n] = -ln p(target_n)                                  (0 when target_n < 0)
 *   out(N,V)    = grad_scale * (probs - onehot(target))            (0 when target_n < 0)
 *   col_sums(V) += sum_n out[n,:]     (the output bias's gradient; skipped when NULL)
 * grad_scale is the caller's 1/count (times any upstream factor); out may equal logits.
 * row_maxima, unless NULL, holds each row's largest logit, as the product that wrote them
 * can find it (lm_smallgemm_wide), saving the pass that reads a row only to find it; the
 * result is the same bits either way. The numbers of lm_softmax_cross_entropy_forward
 * then _backward, to rounding. */
void lm_softmax_cross_entropy_rows (float *out, double *row_loss, float *col_sums,
                                    const float *logits, const gint32 *targets, int N, int V,
                                    float grad_scale, const float *row_maxima);

/* For evaluation: for each row n of logits(N,V) and its target, write
 *   logprob[n]   = ln p(target) = x_t - m - ln sum_u exp(x_u - m)      (natural log)
 *   predicted[n] = argmax_v x_v (the first of equal maxima)
 *   rank[n]      = how many ids rank before the target (0 = the target is the argmax),
 *                  ties broken by id as in argmax, saturating at 255.
 * predicted and rank may be NULL. A row with target < 0 gets logprob 0 and rank 255. */
void lm_log_softmax_score (const float *logits, const gint32 *targets, int N, int V,
                           double *logprob, gint32 *predicted, guint8 *rank);

/* ---- elementwise activations, n = number of elements ------------------------------ */

/* out(n) = tanh(in) */
void lm_tanh_forward (float *out, const float *in, gsize n);
/* d_in += d_out * (1 - out^2)                   (uses the forward OUTPUT) */
void lm_tanh_backward (float *d_in, const float *d_out, const float *out, gsize n);

/* out(n) = sigmoid(in) = 1 / (1 + exp(-in)) */
void lm_sigmoid_forward (float *out, const float *in, gsize n);
/* d_in += d_out * out * (1 - out)               (uses the forward OUTPUT) */
void lm_sigmoid_backward (float *d_in, const float *d_out, const float *out, gsize n);

/* out(n) = gelu(in) = in * Phi(in) = 0.5 in (1 + erf(in / sqrt 2))  (exact, as F.gelu) */
void lm_gelu_forward (float *out, const float *in, gsize n);
/* d_in += d_out * (Phi(in) + in * phi(in)),  phi(x) = exp(-x^2/2) / sqrt(2 pi)
 *                                               (uses the forward INPUT) */
void lm_gelu_backward (float *d_in, const float *d_out, const float *in, gsize n);

/* ---- residuals and gates ----------------------------------------------------------- */

/* out(n) = a + b   (out may equal a or b) */
void lm_add_forward (float *out, const float *a, const float *b, gsize n);
/* d_a += d_out, d_b += d_out   (either may be NULL) */
void lm_add_backward (float *d_a, float *d_b, const float *d_out, gsize n);
/* out(n) = a * b elementwise (a gate) */
void lm_mul_forward (float *out, const float *a, const float *b, gsize n);
/* d_a += d_out * b, d_b += d_out * a   (either may be NULL) */
void lm_mul_backward (float *d_a, float *d_b, const float *d_out, const float *a, const float *b,
                      gsize n);
/* y(n) += alpha * x  (axpy: accumulating one buffer into another) */
void lm_axpy (float *y, float alpha, const float *x, gsize n);

/* ---- embedding ---------------------------------------------------------------------- */

/* out(N,E) = table(V,E)[ids(N)]: row n of out is row ids[n] of the table; ids in [0,V). */
void lm_embedding_forward (float *out, const gint32 *ids, const float *table, int N, int V, int E);
/* d_table[ids[n]] += d_out[n] for every n (an id repeated accumulates). */
void lm_embedding_backward (float *d_table, const float *d_out, const gint32 *ids, int N, int V,
                            int E);

/* ---- layer normalisation ------------------------------------------------------------ */

#define LM_LAYERNORM_EPS 1e-5f

/* Per row of in(N,E), as torch.nn.LayerNorm(E) (biased variance, eps 1e-5):
 *   mu = mean(x),  rstd = 1 / sqrt(mean((x - mu)^2) + eps),  xhat = (x - mu) * rstd
 *   out(N,E) = xhat * weight(E) + bias(E)                      (bias may be NULL)
 * mean(N) and rstd(N) are saved for the backward pass. out must not equal in. */
void lm_layernorm_forward (float *out, float *mean, float *rstd, const float *in,
                           const float *weight, const float *bias, int N, int E);
/*   d_bias += sum_n dy,  d_weight += sum_n dy * xhat,  with g = dy * weight:
 *   d_in += rstd * (g - mean(g) - xhat * mean(g * xhat))        (any gradient may be NULL) */
void lm_layernorm_backward (float *d_in, float *d_weight, float *d_bias, const float *d_out,
                            const float *in, const float *weight, const float *mean,
                            const float *rstd, int N, int E);

/* ---- dropout ------------------------------------------------------------------------ */

/* Inverted dropout with probability p in [0,1]: each element is kept with probability
 * 1 - p and scaled so the expectation is unchanged:
 *   mask(n) = (u >= p) ? 1 / (1 - p) : 0,  u ~ U[0,1) from rng;  out = in * mask
 * The mask is written for the backward pass (p == 0 gives a mask of ones and draws
 * nothing from rng; p == 1 gives zeros). */
void lm_dropout_forward (float *out, float *mask, const float *in, gsize n, float p, LmRng *rng);
/*   d_in += d_out * mask */
void lm_dropout_backward (float *d_in, const float *d_out, const float *mask, gsize n);

G_END_DECLS
