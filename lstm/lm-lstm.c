/* lm-lstm.c — the LSTM language model class: the shared stacked model with the LSTM cell,
 * and the forget-gate bias. */
#include "config.h"

#include "lstm/lm-lstm-cell.h"
#include "lstm/lm-lstm.h"

static const LmOptionSpec lstm_options[] = {
  LM_RECURRENT_OPTIONS,
  /* Added to the uniform initialisation of the forget gate's b_ih: a forget gate that
   * starts open lets gradients through many steps from the first update (Gers et al.
   * 2000; Jozefowicz et al. 2015). 0 gives Zaremba et al.'s (and PyTorch's) plain init. */
  { "forget_bias", LM_OPTION_DOUBLE, "1", -10, 10, NULL,
    "added to the initial forget-gate bias" },
  { NULL },
};

static LmModel *
lstm_create (const LmConfig *config, LmVocab *vocab, GError **error)
{
  LmModel *model = lm_recurrent_create (&lm_lstm_class, &lm_lstm_cell, config, vocab, error);
  if (model != NULL)
    lm_recurrent_add_gate_bias (model, 1 /* i f g o */,
                                (float) lm_config_get_double (config, "forget_bias"));
  return model;
}

const LmModelClass lm_lstm_class = {
  .name = "lstm",
  .description = "long short-term memory (LSTM): embedding, stacked layers, softmax",
  .options = lstm_options,
  .create = lstm_create,
  LM_RECURRENT_CLASS_FUNCTIONS,
};
