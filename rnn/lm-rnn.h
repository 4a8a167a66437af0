/* lm-rnn.h — the RNN language model class (Elman recurrent network (tanh), stacked, with embedding and softmax).
 * The stacked model is rnn/lm-recurrent.h; the cell is rnn/lm-rnn-cell.h. */
#pragma once

#include "core/lm-model.h"

G_BEGIN_DECLS

extern const LmModelClass lm_rnn_class;

G_END_DECLS
