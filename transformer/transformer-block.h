/* transformer-block.h — the layers of a GPT block that core/lm-ops.h does not have:
 * causal multi-head self-attention and the GELU MLP, as paired forward / backward
 * functions over plain float buffers (row-major, no hidden state, nothing allocated).
 *
 * Shape legend: B batch, T time (the current window, T <= context), C model width d,
 * NH heads, HD = C / NH head width, N = B*T positions.
 *
 * Conventions are those of core/lm-ops.h: forward functions WRITE their outputs,
 * backward functions ACCUMULATE (+=) into every gradient they are given (NULL: not
 * computed), and each pair is checked by finite differences in tests/test-transformer.c.
 *
 * Memory of the attention in T: the probabilities P (B,NH,T,T) are kept for the
 * backward pass, B*NH*T^2 floats per layer, and a (T,T) scratch. The scores are
 * computed in blocks of 16 query rows, each against the keys up to its last row only, so
 * at T = 64 the causal products do 5/8 of the full (T,T) work; the entries above the
 * diagonal are set to zero.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Causal self-attention core (the projections around it are lm_matmul_*). qkv(B,T,3C)
 * holds q in columns [0,C), k in [C,2C), v in [2C,3C); head h uses columns
 * [h*HD, (h+1)*HD) of each. Per (b, h), with s = 1/sqrt(HD):
 *   S(T,T) = s Q K^T,   S[t][j] = -inf for j > t (a token sees itself and the past)
 *   P(T,T) = softmax over each row of S      (att, saved; zeros above the diagonal)
 *   Y(T,HD) = P V                             (out(B,T,C), heads side by side) */
void lm_attention_forward  (float *out, float *att, const float *qkv, float *scratch, int B,
                            int T, int C, int NH);
/* With dY the head's slice of d_out:
 *   dV += P^T dY,   dP = dY V^T,   dS = P * (dP - rowsum(dP * P)),
 *   dQ += s dS K,   dK += s dS^T Q                        (into d_qkv(B,T,3C))
 * Both take scratch of lm_attention_scratch_floats (T, C, NH) floats. */
gsize lm_attention_scratch_floats (int T, int C, int NH);
void lm_attention_backward (float *d_qkv, const float *d_out, const float *att,
                            const float *qkv, float *scratch, int B, int T, int C, int NH);

/* The MLP's two weights packed for lm_matmul_*_packed (core/lm-ops.h): fc_t and fc2_t
 * for the forward products, fc and fc2 for the backward's d_in; NULL instead of the
 * struct: cblas_sgemm on the plain weights. */
typedef struct
{
  const float *fc_t, *fc2_t, *fc, *fc2;
} LmMlpPacked;

/* The MLP of a block, 4x wide (F = 4C in GPT, any F here):
 *   pre(N,F) = in(N,C) fc_w(F,C)^T + fc_b(F)
 *   act(N,F) = gelu(pre)                     (exact erf GELU, as F.gelu)
 *   out(N,C) = act fc2_w(C,F)^T + fc2_b(C)   (biases may be NULL)
 * act and pre are saved for the backward pass, pre as gelu'(pre): the forward's erf
 * gives the derivative for a few multiplies. (With act == pre, for inference, pre is
 * overwritten by act and no backward may follow.) */
void lm_mlp_forward  (float *out, float *pre, float *act, const float *in, const float *fc_w,
                      const float *fc_b, const float *fc2_w, const float *fc2_b, int N, int C,
                      int F, const LmMlpPacked *packed);
/*   d_act = d_out fc2_w,  d_pre = d_act * gelu'(pre),  then the two linear layers'
 * gradients; pre is what lm_mlp_forward left there (gelu'(pre)). Accumulates d_in(N,C) and the four parameter gradients (any may be NULL);
 * scratch (N,F) is overwritten. */
void lm_mlp_backward (float *d_in, float *d_fc_w, float *d_fc_b, float *d_fc2_w,
                      float *d_fc2_b, const float *d_out, const float *in, const float *pre,
                      const float *act, const float *fc_w, const float *fc2_w, float *scratch,
                      int N, int C, int F, const LmMlpPacked *packed);

/* GELU by a vectorisable erf (|error| < 2e-7 against libm's erff, held by a test):
 *   out = 0.5 x (1 + erf(x / sqrt 2));   backward  d_in += d_out (Phi(x) + x phi(x)) */
void lm_gelu_fast_forward  (float *out, const float *in, gsize n);
void lm_gelu_fast_backward (float *d_in, const float *d_out, const float *in, gsize n);

G_END_DECLS
