/* lm-gru-cell.c — the GRU cell, forward and backward over a sequence (lm-gru-cell.h).
 *
 * Each step is the recurrent product u = h_{t-1} W_hh^T + b_hh (lm_recurrent_step_gemm)
 * and then ONE pass over each row doing all the gate arithmetic, vectorised (compiled for
 * AVX2+FMA and for the baseline, picked at run time: core/lm-ops-simd.h).
 */
#include "config.h"

#include "core/lm-ops.h"
#include "core/lm-ops-simd.h"
#include "gru/lm-gru-cell.h"

/* One step of M rows after the product: x (M,3H) holds x_t W_ih^T + b_ih and receives
 * [r z n]; u (M,3H) = h_{t-1} W_hh^T + b_hh; h_prev, h (M,H). */
static LM_ALWAYS_INLINE void
gates_forward_body (int M, int H, float *x, const float *u, const float *h_prev, float *h)
{
  for (int b = 0; b < M; b++)
    {
      float *xr = x + (gsize) b * 3 * H, *xz = xr + H, *xn = xr + 2 * H;
      const float *ur = u + (gsize) b * 3 * H, *uz = ur + H, *un = ur + 2 * H;
      const float *hp = h_prev + (gsize) b * H;
      float *hn = h + (gsize) b * H;
      LM_SIMD
      for (int j = 0; j < H; j++)
        {
          /* r, z = sigmoid(x + u);  n = tanh(x_n + r u_n) */
          float r = lm_fast_sigmoid (xr[j] + ur[j]);
          float z = lm_fast_sigmoid (xz[j] + uz[j]);
          float n = lm_fast_tanh (xn[j] + r * un[j]);
          xr[j] = r;
          xz[j] = z;
          xn[j] = n;
          /* h_t = (1 - z) n + z h_{t-1} = n + z (h_{t-1} - n) */
          hn[j] = n + z * (hp[j] - n);
        }
    }
}

LM_SIMD_DISPATCH (gates_forward, gates_forward_body,
                  (int M, int H, float *x, const float *u, const float *h_prev, float *h),
                  (M, H, x, u, h_prev, h))

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
      gates_forward (M, H, a, u, h_prev, h_out);
    }
}

/* One step of M rows backward: act (M,3H) = [r z n]; u (M,3H) as saved; h_prev, dh (M,H);
 * dx, du (M,3H) written; dh_prev (M,H) += the direct path dh z, or NULL. */
static LM_ALWAYS_INLINE void
gates_backward_body (int M, int H, const float *act, const float *u, const float *h_prev,
                     const float *dh, float *dx, float *du, float *dh_prev)
{
  for (int b = 0; b < M; b++)
    {
      const float *r = act + (gsize) b * 3 * H, *z = r + H, *n = r + 2 * H;
      const float *u_n = u + (gsize) b * 3 * H + 2 * H;
      const float *hp = h_prev + (gsize) b * H, *dhb = dh + (gsize) b * H;
      float *dxb = dx + (gsize) b * 3 * H, *dub = du + (gsize) b * 3 * H;
      LM_SIMD
      for (int j = 0; j < H; j++)
        {
          /* dn_pre = dh (1 - z) (1 - n^2);  dz_pre = dh (h_{t-1} - n) z (1 - z);
           * dr_pre = dn_pre u_n r (1 - r) */
          float dn = dhb[j] * (1.0f - z[j]) * (1.0f - n[j] * n[j]);
          float dz = dhb[j] * (hp[j] - n[j]) * z[j] * (1.0f - z[j]);
          float dr = dn * u_n[j] * r[j] * (1.0f - r[j]);
          dxb[j] = dr;
          dxb[H + j] = dz;
          dxb[2 * H + j] = dn;
          /* through u: du_r = dr_pre, du_z = dz_pre, du_n = dn_pre r */
          dub[j] = dr;
          dub[H + j] = dz;
          dub[2 * H + j] = dn * r[j];
        }
      /* dL/dh_{t-1} += dh z (the direct path) */
      if (dh_prev)
        {
          float *dhp = dh_prev + (gsize) b * H;
          LM_SIMD
          for (int j = 0; j < H; j++)
            dhp[j] += dhb[j] * z[j];
        }
    }
}

LM_SIMD_DISPATCH (gates_backward, gates_backward_body,
                  (int M, int H, const float *act, const float *u, const float *h_prev,
                   const float *dh, float *dx, float *du, float *dh_prev),
                  (M, H, act, u, h_prev, dh, dx, du, dh_prev))

void
lm_gru_cell_backward (const LmCellForward *fwd, const LmCellBackward *bwd)
{
  const int H = fwd->H, G = 3 * H, M = fwd->b_end - fwd->b_begin;
  const gsize step = (gsize) fwd->B * H, first = (gsize) fwd->b_begin * H;
  for (int t = fwd->T - 1; t >= 0; t--)
    {
      /* d_h[t] already holds dL/dh_t: from above plus, from step t+1, z dh_{t+1} and
       * du_{t+1} W_hh */
      const gsize at = t * step + first;
      float *dh_prev = t > 0 ? bwd->d_h + (t - 1) * step : bwd->d_h0;
      gates_backward (M, H, fwd->gates + at * 3, fwd->aux + at * 3, fwd->h + at, bwd->d_h + at,
                      bwd->d_xw + at * 3, bwd->d_hw + at * 3, dh_prev ? dh_prev + first : NULL);
      /* dL/dh_{t-1} += du_t W_hh */
      if (dh_prev)
        lm_recurrent_step_gemm (bwd->w_hh_packed, FALSE, M, H, G, bwd->d_hw + at * 3, G,
                                fwd->w_hh, H, NULL, 1.0f, dh_prev + first, H);
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
