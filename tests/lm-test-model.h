/* lm-test-model.h — a tiny gradient model shared by the tests of the trainer
 * (test-train) and of the comparison (test-compare); test code, not part of the library.
 *
 * A softmax bigram: logits = W[previous token], W (V,V), in two variants that differ only
 * in what the trainer sees:
 *   "test-grad"        no carried state: trained on random windows and validated on
 *                      non-overlapping windows, as a transformer is
 *   "test-grad-carry"  carries a little state between batches (a running checksum of each
 *                      row's inputs that nothing reads) so that a resumed run must restore
 *                      it; trained on contiguous streams, as a recurrent model is
 * Both stream (state = the previous token) and so score and generate as any model does.
 * Options, for driving the trainer into its corners:
 *   nan_at, nan_count  training forward calls nan_at .. nan_at + nan_count - 1 (0-based)
 *                      return NaN (the non-finite guard)
 *   crash              abort() in the first training forward (a run that crashes)
 * and with the environment variable LM_TEST_INTERRUPT_AT=N the N-th training forward
 * call (1-based) raises SIGINT, as Ctrl-C would.
 */
#pragma once

#include <glib.h>

#include "core/lm-model.h"

G_BEGIN_DECLS

extern const LmModelClass lm_test_grad_class;
extern const LmModelClass lm_test_grad_carry_class;

/* score() for test classes: every token's ln p through the class's streaming functions
 * (state_begin, state_logprobs, state_step), with rank and argmax when asked. */
gboolean lm_test_stream_score (LmModel *model, const gint32 *tokens, gsize n,
                               LmScoreOutput *out, LmProgressFunc progress, gpointer user_data,
                               GError **error);

G_END_DECLS
