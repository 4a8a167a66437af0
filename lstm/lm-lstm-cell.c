/* lm-lstm-cell.c — the LSTM cell, forward and backward over a sequence (lm-lstm-cell.h). */
#include "config.h"

#include <string.h>

#include "core/lm-ops.h"
#include "lstm/lm-lstm-cell.h"

void
lm_lstm_cell_forward (const LmCellForward *fwd)
{
  const int H = fwd->H, G = 4 * H, M = fwd->b_end - fwd->b_begin;
  const gsize step = (gsize) fwd->B * H, first = (gsize) fwd->b_begin * H;
  for (int t = 0; t < fwd->T; t++)
    {
      float *a = fwd->gates + (t * step + first) * 4;    /* (M,4H) holds x_t W_ih^T + b_ih */
      const float *h_prev = fwd->h + t * step + first;   /* (M,H) */
      /* a += h_{t-1} W_hh^T + b_hh */
      lm_recurrent_step_gemm (fwd->w_hh_packed, TRUE, M, G, H, h_prev, H, fwd->w_hh, H,
                              fwd->b_hh, 1.0f, a, G);
      for (int b = 0; b < M; b++)
        {
          gsize at = t * step + first + (gsize) b * H;
          float *row = a + (gsize) b * G;
          const float *cp = fwd->c + at;
          float *cn = fwd->c + step + at, *hn = fwd->h + step + at, *tc = fwd->aux + at;
          /* i, f = sigmoid; g = tanh; o = sigmoid */
          lm_sigmoid_forward (row, row, 2 * H);
          lm_tanh_forward (row + 2 * H, row + 2 * H, H);
          lm_sigmoid_forward (row + 3 * H, row + 3 * H, H);
          const float *i = row, *f = row + H, *g = row + 2 * H, *o = row + 3 * H;
          /* c_t = f c_{t-1} + i g */
          for (int j = 0; j < H; j++)
            cn[j] = f[j] * cp[j] + i[j] * g[j];
          lm_tanh_forward (tc, cn, H);
          /* h_t = o tanh(c_t) */
          for (int j = 0; j < H; j++)
            hn[j] = o[j] * tc[j];
        }
    }
}

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
      for (int b = 0; b < M; b++)
        {
          gsize at = t * step + first + (gsize) b * H;
          const float *act = fwd->gates + at * 4;
          const float *i = act, *f = act + H, *g = act + 2 * H, *o = act + 3 * H;
          const float *dh = bwd->d_h + at, *tc = fwd->aux + at, *cp = fwd->c + at;
          float *dc_carry = dc_next + (gsize) b * H;
          float *da = bwd->d_xw + at * 4;
          for (int j = 0; j < H; j++)
            {
              /* dc_t = dc_{t+1} f_{t+1} + dh_t o (1 - tanh^2 c_t) */
              float dc = dc_carry[j] + dh[j] * o[j] * (1.0f - tc[j] * tc[j]);
              /* da_i = dc g i (1-i); da_f = dc c_{t-1} f (1-f); da_g = dc i (1-g^2);
               * da_o = dh tanh(c_t) o (1-o) */
              da[j] = dc * g[j] * i[j] * (1.0f - i[j]);
              da[H + j] = dc * cp[j] * f[j] * (1.0f - f[j]);
              da[2 * H + j] = dc * i[j] * (1.0f - g[j] * g[j]);
              da[3 * H + j] = dh[j] * tc[j] * o[j] * (1.0f - o[j]);
              dc_carry[j] = dc * f[j];
            }
        }
      /* dL/dh_{t-1} += da_t W_hh */
      float *dh_prev = t > 0 ? bwd->d_h + (t - 1) * step : bwd->d_h0;
      if (dh_prev)
        lm_recurrent_step_gemm (bwd->w_hh_packed, FALSE, M, H, G,
                                bwd->d_xw + (t * step + first) * 4, G, fwd->w_hh, H, NULL,
                                1.0f, dh_prev + first, H);
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
