/* lm-gru-cell.c — the GRU cell, forward and backward over a sequence (lm-gru-cell.h). */
#include "config.h"

#include "core/lm-ops.h"
#include "gru/lm-gru-cell.h"

void
lm_gru_cell_forward (const LmCellForward *fwd)
{
  const int H = fwd->H, G = 3 * H, M = fwd->b_end - fwd->b_begin;
  const gsize step = (gsize) fwd->B * H, first = (gsize) fwd->b_begin * H;
  for (int t = 0; t < fwd->T; t++)
    {
      float *a = fwd->gates + (t * step + first) * 3;    /* (M,3H) holds x_t W_ih^T + b_ih */
      float *u = fwd->aux + (t * step + first) * 3;      /* (M,3H) */
      const float *h_prev = fwd->h + t * step + first;   /* (M,H) */
      float *h_out = fwd->h + (t + 1) * step + first;    /* (M,H) */
      /* u = h_{t-1} W_hh^T + b_hh */
      lm_recurrent_step_gemm (fwd->w_hh_packed, TRUE, M, G, H, h_prev, H, fwd->w_hh, H,
                              fwd->b_hh, 0.0f, u, G);
      for (int b = 0; b < M; b++)
        {
          float *row = a + (gsize) b * G, *urow = u + (gsize) b * G;
          const float *hp = h_prev + (gsize) b * H;
          float *hn = h_out + (gsize) b * H;
          /* r, z = sigmoid(x + u) */
          lm_axpy (row, 1.0f, urow, 2 * H);
          lm_sigmoid_forward (row, row, 2 * H);
          const float *r = row, *z = row + H;
          float *n = row + 2 * H;
          /* n = tanh(x_n + r u_n) */
          for (int j = 0; j < H; j++)
            n[j] += r[j] * urow[2 * H + j];
          lm_tanh_forward (n, n, H);
          /* h_t = (1 - z) n + z h_{t-1} = n + z (h_{t-1} - n) */
          for (int j = 0; j < H; j++)
            hn[j] = n[j] + z[j] * (hp[j] - n[j]);
        }
    }
}

void
lm_gru_cell_backward (const LmCellForward *fwd, const LmCellBackward *bwd)
{
  const int H = fwd->H, G = 3 * H, M = fwd->b_end - fwd->b_begin;
  const gsize step = (gsize) fwd->B * H, first = (gsize) fwd->b_begin * H;
  for (int t = fwd->T - 1; t >= 0; t--)
    {
      /* d_h[t] already holds dL/dh_t: from above plus, from step t+1, z dh_{t+1} and
       * du_{t+1} W_hh */
      float *dh_prev = t > 0 ? bwd->d_h + (t - 1) * step : bwd->d_h0;
      for (int b = 0; b < M; b++)
        {
          gsize at = t * step + first + (gsize) b * H;
          const float *r = fwd->gates + at * 3, *z = r + H, *n = r + 2 * H;
          const float *u_n = fwd->aux + at * 3 + 2 * H;
          const float *hp = fwd->h + at, *dh = bwd->d_h + at;
          float *dx = bwd->d_xw + at * 3, *du = bwd->d_hw + at * 3;
          for (int j = 0; j < H; j++)
            {
              /* dn_pre = dh (1 - z) (1 - n^2);  dz_pre = dh (h_{t-1} - n) z (1 - z);
               * dr_pre = dn_pre u_n r (1 - r) */
              float dn = dh[j] * (1.0f - z[j]) * (1.0f - n[j] * n[j]);
              float dz = dh[j] * (hp[j] - n[j]) * z[j] * (1.0f - z[j]);
              float dr = dn * u_n[j] * r[j] * (1.0f - r[j]);
              dx[j] = dr;
              dx[H + j] = dz;
              dx[2 * H + j] = dn;
              /* through u: du_r = dr_pre, du_z = dz_pre, du_n = dn_pre r */
              du[j] = dr;
              du[H + j] = dz;
              du[2 * H + j] = dn * r[j];
            }
          /* dL/dh_{t-1} += dh z (the direct path) */
          if (dh_prev)
            {
              float *dhp = dh_prev + first + (gsize) b * H;
              for (int j = 0; j < H; j++)
                dhp[j] += dh[j] * z[j];
            }
        }
      /* dL/dh_{t-1} += du_t W_hh */
      if (dh_prev)
        lm_recurrent_step_gemm (bwd->w_hh_packed, FALSE, M, H, G,
                                bwd->d_hw + (t * step + first) * 3, G, fwd->w_hh, H, NULL,
                                1.0f, dh_prev + first, H);
    }
}

const LmRecurrentCell lm_gru_cell = {
  .name = "gru",
  .gates = 3,
  .has_cell = FALSE,
  .aux_gates = 3,
  .has_d_hw = TRUE,
  .forward = lm_gru_cell_forward,
  .backward = lm_gru_cell_backward,
};
