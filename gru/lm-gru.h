/* lm-gru.h — the GRU language model class (GRU, stacked, with embedding and softmax).
 * The stacked model is rnn/lm-recurrent.h; the cell is gru/lm-gru-cell.h. */
#pragma once

#include "core/lm-model.h"

G_BEGIN_DECLS

extern const LmModelClass lm_gru_class;

G_END_DECLS
