/* lm-rnn-cell.c — the Elman cell, forward and backward over a sequence (lm-rnn-cell.h).
 *
 * Each step is the recurrent product (lm_recurrent_step_gemm, b_hh added in it) and one
 * vectorised pass for the activation (compiled for AVX2+FMA and for the baseline, picked
 * at run time: core/lm-ops-simd.h).
 */
#include "config.h"

#include "core/lm-ops.h"
#include "core/lm-ops-simd.h"
#include "rnn/lm-rnn-cell.h"

/* h(n) = tanh(a) */
static LM_ALWAYS_INLINE void
activation_forward_body (gsize n, const float *a, float *h)
{
  LM_SIMD
  for (gsize i = 0; i < n; i++)
    h[i] = lm_fast_tanh (a[i]);
}

LM_SIMD_DISPATCH (activation_forward, activation_forward_body,
                  (gsize n, const float *a, float *h), (n, a, h))

/* da(n) = dh (1 - h^2) */
static LM_ALWAYS_INLINE void
activation_backward_body (gsize n, const float *dh, const float *h, float *da)
{
  LM_SIMD
  for (gsize i = 0; i < n; i++)
    da[i] = dh[i] * (1.0f - h[i] * h[i]);
}

LM_SIMD_DISPATCH (activation_backward, activation_backward_body,
                  (gsize n, const float *dh, const float *h, float *da), (n, dh, h, da))

void
lm_rnn_cell_forward (const LmCellForward *fwd)
{
  const int H = fwd->H, M = fwd->b_end - fwd->b_begin;
  const gsize step = (gsize) fwd->B * H, first = (gsize) fwd->b_begin * H;
  for (int t = 0; t < fwd->T; t++)
    {
      float *a = fwd->gates + t * step + first;          /* (M,H) holds x_t W_ih^T + b_ih */
      const float *h_prev = fwd->h + t * step + first;   /* (M,H) */
      float *h_out = fwd->h + (t + 1) * step + first;    /* (M,H) */
      /* a_t += h_{t-1} W_hh^T + b_hh */
      lm_recurrent_step_gemm (fwd->w_hh_packed, TRUE, M, H, H, h_prev, H, fwd->w_hh, H,
                              fwd->b_hh, 1.0f, a, H);
      /* h_t = tanh(a_t) */
      activation_forward ((gsize) M * H, a, h_out);
    }
}

void
lm_rnn_cell_backward (const LmCellForward *fwd, const LmCellBackward *bwd)
{
  const int H = fwd->H, M = fwd->b_end - fwd->b_begin;
  const gsize step = (gsize) fwd->B * H, first = (gsize) fwd->b_begin * H, n = (gsize) M * H;
  for (int t = fwd->T - 1; t >= 0; t--)
    {
      /* d_h[t] already holds dL/dh_t: from above plus, from step t+1, d_a_{t+1} W_hh */
      const float *dh = bwd->d_h + t * step + first;
      const float *h_out = fwd->h + (t + 1) * step + first;
      float *da = bwd->d_xw + t * step + first;
      /* dL/da_t = dL/dh_t (1 - h_t^2) */
      activation_backward (n, dh, h_out, da);
      /* dL/dh_{t-1} += dL/da_t W_hh */
      float *dh_prev = t > 0 ? bwd->d_h + (t - 1) * step : bwd->d_h0;
      if (dh_prev)
        lm_recurrent_step_gemm (bwd->w_hh_packed, FALSE, M, H, H, da, H, fwd->w_hh, H, NULL,
                                1.0f, dh_prev + first, H);
    }
}

const LmRecurrentCell lm_rnn_cell = {
  .name = "rnn",
  .gates = 1,
  .has_cell = FALSE,
  .aux_gates = 0,
  .has_d_hw = FALSE,
  .forward = lm_rnn_cell_forward,
  .backward = lm_rnn_cell_backward,
};
