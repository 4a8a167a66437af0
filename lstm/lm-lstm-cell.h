/* lm-lstm-cell.h — the LSTM cell, as torch.nn.LSTM (gate order i, f, g, o):
 *
 *   [a_i a_f a_g a_o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh      (B, 4H)
 *   i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
 *   c_t = f * c_{t-1} + i * g
 *   h_t = o * tanh(c_t)
 *
 * over whole sequences of one layer, time-major (shapes in rnn/lm-recurrent.h). G = 4.
 */
#pragma once

#include "rnn/lm-recurrent.h"

G_BEGIN_DECLS

/* gates (T,B,4H) in: x_t W_ih^T + b_ih; out: the activations [i f g o].
 * h, c (T+1,B,H) in: h[0], c[0]; out: h[t+1] = h_t, c[t+1] = c_t.
 * aux (T,B,H) out: tanh(c_t). */
void lm_lstm_cell_forward (const LmCellForward *fwd);
/* d_xw (T,B,4H) written = dL/d[a_i a_f a_g a_o]; d_c0 receives dL/dc_0. */
void lm_lstm_cell_backward (const LmCellForward *fwd, const LmCellBackward *bwd);

extern const LmRecurrentCell lm_lstm_cell;

G_END_DECLS
