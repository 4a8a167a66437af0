/* lm-lstm-cell.c — the LSTM cell, forward and backward over a sequence (lm-lstm-cell.h). */
#include "config.h"

#include <string.h>

#include "core/lm-ops.h"
#include "lstm/lm-lstm-cell.h"

void
lm_lstm_cell_forward (const LmCellForward *fwd)
{
  const int B = fwd->B, H = fwd->H, G = 4 * H;
  const gsize step = (gsize) B * H;
  for (int t = 0; t < fwd->T; t++)
    {
      float *a = fwd->gates + t * step * 4;     /* (B,4H) holds x_t W_ih^T + b_ih */
      const float *h_prev = fwd->h + t * step;  /* (B,H) */
      const float *c_prev = fwd->c + t * step;  /* (B,H) */
      float *h_out = fwd->h + (t + 1) * step;   /* (B,H) */
      float *c_out = fwd->c + (t + 1) * step;   /* (B,H) */
      float *tanh_c = fwd->aux + t * step;      /* (B,H) */
      /* a += h_{t-1} W_hh^T */
      lm_sgemm (FALSE, TRUE, B, G, H, 1.0f, h_prev, H, fwd->w_hh, H, 1.0f, a, G);
      for (int b = 0; b < B; b++)
        {
          float *row = a + (gsize) b * G;
          const float *cp = c_prev + (gsize) b * H;
          float *cn = c_out + (gsize) b * H, *tc = tanh_c + (gsize) b * H;
          float *hn = h_out + (gsize) b * H;
          /* a += b_hh; i, f = sigmoid; g = tanh; o = sigmoid */
          lm_axpy (row, 1.0f, fwd->b_hh, G);
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
  const int B = fwd->B, H = fwd->H, T = fwd->T, G = 4 * H;
  const gsize step = (gsize) B * H;
  float *dc_next = bwd->work; /* (B,H) dL/dc_t through c_{t+1} = f c_t + ... */
  memset (dc_next, 0, step * sizeof (float));
  for (int t = T - 1; t >= 0; t--)
    {
      /* d_h[t] already holds dL/dh_t: from above plus, from step t+1, d_a_{t+1} W_hh */
      for (int b = 0; b < B; b++)
        {
          const float *act = fwd->gates + (t * step + (gsize) b * H) * 4;
          const float *i = act, *f = act + H, *g = act + 2 * H, *o = act + 3 * H;
          const float *dh = bwd->d_h + t * step + (gsize) b * H;
          const float *tc = fwd->aux + t * step + (gsize) b * H;
          const float *cp = fwd->c + t * step + (gsize) b * H;
          float *dc_carry = dc_next + (gsize) b * H;
          float *da = bwd->d_xw + (t * step + (gsize) b * H) * 4;
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
        lm_sgemm (FALSE, FALSE, B, H, G, 1.0f, bwd->d_xw + t * step * 4, G, fwd->w_hh, H, 1.0f,
                  dh_prev, H);
    }
  if (bwd->d_c0)
    lm_axpy (bwd->d_c0, 1.0f, dc_next, step);
  /* dW_hh += sum_t da_t^T h_{t-1}; db_hh += sum_t da_t */
  lm_sgemm (TRUE, FALSE, G, H, T * B, 1.0f, bwd->d_xw, G, fwd->h, H, 1.0f, bwd->d_w_hh, H);
  lm_recurrent_column_sum (bwd->d_b_hh, bwd->d_xw, T * B, G);
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
