/* lm-gru-cell.h — the GRU cell, as torch.nn.GRU (gate order r, z, n):
 *
 *   [x_r x_z x_n] = x_t W_ih^T + b_ih          [u_r u_z u_n] = h_{t-1} W_hh^T + b_hh
 *   r = sigmoid(x_r + u_r)   z = sigmoid(x_z + u_z)   n = tanh(x_n + r * u_n)
 *   h_t = (1 - z) * n + z * h_{t-1}
 *
 * The reset gate multiplies the recurrent term after its product with W_hn (PyTorch's and
 * cuDNN's form), so u_n must be kept beside the gates. Whole sequences of one layer,
 * time-major (shapes in rnn/lm-recurrent.h). G = 3.
 */
#pragma once

#include "rnn/lm-recurrent.h"

G_BEGIN_DECLS

/* gates (T,B,3H) in: x_t W_ih^T + b_ih; out: the activations [r z n].
 * h (T+1,B,H) in: h[0]; out: h[t+1] = h_t.   aux (T,B,3H) out: [u_r u_z u_n]. */
void lm_gru_cell_forward (const LmCellForward *fwd);
/* d_xw (T,B,3H) written = dL/d[x_r x_z x_n]; d_hw (T,B,3H) written = dL/d[u_r u_z u_n]. */
void lm_gru_cell_backward (const LmCellForward *fwd, const LmCellBackward *bwd);

extern const LmRecurrentCell lm_gru_cell;

G_END_DECLS
