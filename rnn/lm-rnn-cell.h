/* lm-rnn-cell.h — the Elman cell (tanh), as torch.nn.RNN(nonlinearity="tanh"):
 *
 *   h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
 *
 * over whole sequences of one layer, time-major (see rnn/lm-recurrent.h for the buffer
 * shapes). G = 1. The input projection x_t W_ih^T + b_ih of every step arrives
 * precomputed (one GEMM over all T steps); here are the recurrence and its gradient.
 */
#pragma once

#include "rnn/lm-recurrent.h"

G_BEGIN_DECLS

/* gates (T,B,H) in: x_t W_ih^T + b_ih; out: the pre-activations a_t.
 * h (T+1,B,H) in: h[0]; out: h[t+1] = h_t. */
void lm_rnn_cell_forward (const LmCellForward *fwd);
/* d_xw (T,B,H) written = dL/da_t (= dL/d(x_t W_ih^T + b_ih) = dL/d(h_{t-1} W_hh^T + b_hh)). */
void lm_rnn_cell_backward (const LmCellForward *fwd, const LmCellBackward *bwd);

extern const LmRecurrentCell lm_rnn_cell;

G_END_DECLS
