/* lm-gru.c — the GRU language model class: the shared stacked model with the GRU cell. */
#include "config.h"

#include "gru/lm-gru-cell.h"
#include "gru/lm-gru.h"

static const LmOptionSpec gru_options[] = {
  LM_RECURRENT_OPTIONS,
  { NULL },
};

static LmModel *
gru_create (const LmConfig *config, LmVocab *vocab, GError **error)
{
  return lm_recurrent_create (&lm_gru_class, &lm_gru_cell, config, vocab, error);
}

const LmModelClass lm_gru_class = {
  .name = "gru",
  .description = "gated recurrent unit (GRU): embedding, stacked layers, softmax",
  .options = gru_options,
  .create = gru_create,
  LM_RECURRENT_CLASS_FUNCTIONS,
};
