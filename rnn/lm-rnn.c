/* lm-rnn.c — the Elman RNN language model class: the shared stacked model with the tanh
 * cell. */
#include "config.h"

#include "rnn/lm-rnn-cell.h"
#include "rnn/lm-rnn.h"

static const LmOptionSpec rnn_options[] = {
  LM_RECURRENT_OPTIONS,
  { NULL },
};

static LmModel *
rnn_create (const LmConfig *config, LmVocab *vocab, GError **error)
{
  return lm_recurrent_create (&lm_rnn_class, &lm_rnn_cell, config, vocab, error);
}

const LmModelClass lm_rnn_class = {
  .name = "rnn",
  .description = "Elman recurrent network (tanh): embedding, stacked layers, softmax",
  .options = rnn_options,
  .create = rnn_create,
  LM_RECURRENT_CLASS_FUNCTIONS,
};
