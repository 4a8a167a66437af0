/* lm-lstm.h — the LSTM language model class (LSTM, stacked, with embedding, softmax and a forget-gate bias).
 * The stacked model is rnn/lm-recurrent.h; the cell is lstm/lm-lstm-cell.h. */
#pragma once

#include "core/lm-model.h"

G_BEGIN_DECLS

extern const LmModelClass lm_lstm_class;

G_END_DECLS
