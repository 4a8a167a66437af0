/* lm-lstm-cell.c — the LSTM cell, forward and backward over a sequence (lm-lstm-cell.h).
 *
 * Each step is the recurrent product (lm_recurrent_step_gemm, b_hh added in it) and then
 * ONE pass over each row doing all the gate arithmetic, vectorised (compiled for AVX2+FMA
 * and for the baseline, picked at run time: core/lm-ops-simd.h).
 */
#include "config.h"

#include <string.h>

#include "core/lm-ops.h"
#include "core/lm-ops-simd.h"
#include "lstm/lm-lstm-cell.h"

/* One step of M rows after the product: a (M,4H) holds the pre-activations and receives
 * the activations [i f g o]; c_prev, c, h, tanh_c are (M,H). */
static LM_ALWAYS_INLINE void
gates_forward_body (int M, int H, float *a, const float *c_prev, float *c, float *h,
                    float *tanh_c)
{
  for (int b = 0; b < M; b++)
    {
      float *i = a + (gsize) b * 4 * H, *f = i + H, *g = i + 2 * H, *o = i + 3 * H;
      const float *cp = c_prev + (gsize) b * H;
      float *cn = c + (gsize) b * H, *hn = h + (gsize) b * H, *tc = tanh_c + (gsize) b * H;
      LM_SIMD
      for (int j = 0; j < H; j++)
        {
          /* i, f, o = sigmoid(a_i, a_f, a_o); g = tanh(a_g) */
          float ij = lm_fast_sigmoid (i[j]), fj = lm_fast_sigmoid (f[j]);
          float gj = lm_fast_tanh (g[j]), oj = lm_fast_sigmoid (o[j]);
          i[j] = ij;
          f[j] = fj;
          g[j] = gj;
          o[j] = oj;
          /* c_t = f c_{t-1} + i g;  h_t = o tanh(c_t) */
          float ct = fj * cp[j] + ij * gj;
          float t = lm_fast_tanh (ct);
          cn[j] = ct;
          tc[j] = t;
          hn[j] = oj * t;
        }
    }
}

LM_SIMD_DISPATCH (gates_forward, gates_forward_body,
                  (int M, int H, float *a, const float *c_prev, float *c, float *h,
                   float *tanh_c),
                  (M, H, a, c_prev, c, h, tanh_c))

void
lm_lstm_cell_forward (const LmCellForward *fwd)
{
  const int H = fwd->H, G = 4 * H, M = fwd->b_end - fwd->b_begin;
  const gsize step = (gsize) fwd->B * H, first = (gsize) fwd->b_begin * H;
  for (int t = 0; t < fwd->T; t++)
    {
      float *a = fwd->gates + (t * step + first) * 4;    /* (M,4H) holds x_t W_ih^T + b_ih */
      const float *h_prev = fwd->h + t * step + first;   /* (M,H) */
      const gsize at = t * step + first;
      /* a += h_{t-1} W_hh^T + b_hh */
      lm_recurrent_step_gemm (fwd->w_hh_packed, TRUE, M, G, H, h_prev, H, fwd->w_hh, H,
                              fwd->b_hh, 1.0f, a, G);
      gates_forward (M, H, a, fwd->c + at, fwd->c + step + at, fwd->h + step + at,
                     fwd->aux + at);
    }
}

/* One step of M rows backward: act (M,4H) the activations [i f g o]; dh, tanh_c, c_prev
 * (M,H); dc_carry (M,H) in: dL/dc_t through c_{t+1}, out: the same for c_{t-1}; da (M,4H)
 * written. */
static LM_ALWAYS_INLINE void
gates_backward_body (int M, int H, const float *act, const float *dh, const float *tanh_c,
                     const float *c_prev, float *dc_carry, float *da)
{
  for (int b = 0; b < M; b++)
    {
      const float *i = act + (gsize) b * 4 * H, *f = i + H, *g = i + 2 * H, *o = i + 3 * H;
      const float *dhb = dh + (gsize) b * H, *tc = tanh_c + (gsize) b * H;
      const float *cp = c_prev + (gsize) b * H;
      float *dcb = dc_carry + (gsize) b * H, *dab = da + (gsize) b * 4 * H;
      LM_SIMD
      for (int j = 0; j < H; j++)
        {
          /* dc_t = dc_{t+1} f_{t+1} + dh_t o (1 - tanh^2 c_t) */
          float dc = dcb[j] + dhb[j] * o[j] * (1.0f - tc[j] * tc[j]);
          /* da_i = dc g i (1-i); da_f = dc c_{t-1} f (1-f); da_g = dc i (1-g^2);
           * da_o = dh tanh(c_t) o (1-o) */
          dab[j] = dc * g[j] * i[j] * (1.0f - i[j]);
          dab[H + j] = dc * cp[j] * f[j] * (1.0f - f[j]);
          dab[2 * H + j] = dc * i[j] * (1.0f - g[j] * g[j]);
          dab[3 * H + j] = dhb[j] * tc[j] * o[j] * (1.0f - o[j]);
          dcb[j] = dc * f[j];
        }
    }
}

LM_SIMD_DISPATCH (gates_backward, gates_backward_body,
                  (int M, int H, const float *act, const float *dh, const float *tanh_c,
                   const float *c_prev, float *dc_carry, float *da),
                  (M, H, act, dh, tanh_c, c_prev, dc_carry, da))

void
lm_lstm_cell_backward (const LmCellForward *fwd, const LmCellBackward *bwd)
{
  const int H = fwd->H, G = 4 * H, M = fwd->b_end - fwd->b_begin;
  const gsize step = (gsize) fwd->B * H, first = (gsize) fwd->b_begin * H;
  float *dc_next = bwd->work + first; /* (M,H) dL/dc_t through c_{t+1} = f c_t + ... */
  memset (dc_next, 0, (gsize) M * H * sizeof (float));
  for (int t = fwd->T - 1; t >= 0; t--)
    {
      /* d_h[t] already holds dL/dh_t: from above plus, from step t+1, d_a_{t+1} W_hh */
      const gsize at = t * step + first;
      gates_backward (M, H, fwd->gates + at * 4, bwd->d_h + at, fwd->aux + at, fwd->c + at,
                      dc_next, bwd->d_xw + at * 4);
      /* dL/dh_{t-1} += da_t W_hh */
      float *dh_prev = t > 0 ? bwd->d_h + (t - 1) * step : bwd->d_h0;
      if (dh_prev)
        lm_recurrent_step_gemm (bwd->w_hh_packed, FALSE, M, H, G, bwd->d_xw + at * 4, G,
                                fwd->w_hh, H, NULL, 1.0f, dh_prev + first, H);
    }
  if (bwd->d_c0)
    lm_axpy (bwd->d_c0 + first, 1.0f, dc_next, (gsize) M * H);
}

const LmRecurrentCell lm_lstm_cell = {
  .name = "lstm",
  .gates = 4,
  .has_cell = TRUE,
  .aux_gates = 1,
  .has_d_hw = FALSE,
  .forward = lm_lstm_cell_forward,
  .backward = lm_lstm_cell_backward,
};
