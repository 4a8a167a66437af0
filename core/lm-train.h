/* lm-train.h — the one training loop for every gradient-trained model.
 *
 * Budget in steps, epochs, tokens or wall-clock seconds (the first reached stops);
 * truncated BPTT with state carried across batches (contiguous streams) or random
 * windows for context-window models; validation every N steps and at the end; early
 * stopping; learning-rate schedules and gradient clipping (core/lm-optim.h); dropout on
 * for training and off for evaluation; a guard for a non-finite loss or gradient (skip
 * the update and halve the rate; after repeated failures roll back to the last
 * checkpoint); checkpoints holding parameters, optimizer moments, RNG state, carried
 * state and data position, so a resumed run continues bit-exactly; a metrics TSV.
 *
 * The loop never prints: it reports through a progress callback, and the lmlab command
 * draws the bar or log lines.
 */
#pragma once

#include <glib.h>

#include "core/lm-config.h"
#include "core/lm-corpus.h"
#include "core/lm-model.h"

G_BEGIN_DECLS

/* The keys every gradient-trained model accepts (lm_model_new validates them). */
extern const LmOptionSpec lm_train_options[];

typedef enum {
  LM_TRAIN_EVENT_STEP,       /* a step finished */
  LM_TRAIN_EVENT_EVAL,       /* a validation pass finished (valid_loss is set) */
  LM_TRAIN_EVENT_CHECKPOINT, /* a checkpoint was written */
  LM_TRAIN_EVENT_NONFINITE,  /* a non-finite loss/gradient: update skipped, rate halved */
  LM_TRAIN_EVENT_ROLLBACK,   /* rolled back to the last checkpoint */
  LM_TRAIN_EVENT_RESUMED,    /* continued from a checkpoint */
} LmTrainEvent;

typedef struct {
  LmTrainEvent event;
  gint64 step;           /* optimizer steps done */
  gint64 total_steps;    /* estimate from the budget (0 when only seconds bound it) */
  int epoch;             /* 1-based */
  gint64 tokens;         /* training tokens seen */
  double seconds;        /* training wall-clock so far (evaluation excluded) */
  double tokens_per_s;   /* training throughput over the run */
  double train_loss;     /* nats/token of the last step */
  double valid_loss;     /* last validation loss, NaN before the first */
  double lr;             /* rate of the last step */
  double eta_seconds;    /* estimate, NaN when unknown */
} LmTrainProgress;

typedef void (*LmTrainProgressFunc) (const LmTrainProgress *progress, gpointer user_data);

typedef struct {
  LmModel *model;                /* created with lm_model_new (config validated) */
  const LmTokenStream *train;
  const LmTokenStream *valid;    /* NULL: no validation, no early stopping */
  const char *checkpoint_path;   /* NULL: no checkpoints (and no resume) */
  gboolean resume;               /* continue from checkpoint_path when it exists */
  const char *metrics_path;      /* TSV, one row per logged step; NULL for none */
  LmTrainProgressFunc progress;
  gpointer user_data;
  const gint *cancel;            /* when it becomes non-zero, checkpoint and stop */
} LmTrainSetup;

typedef struct {
  gint64 steps;
  gint64 tokens;
  int epochs;                /* epochs started */
  double seconds;            /* training wall-clock (evaluation excluded) */
  double tokens_per_s;
  double train_loss;         /* mean loss of the steps of the last epoch a step was taken
                              * in (a partial one if the run ends inside it), resumed runs
                              * included; NaN when no step was taken */
  double valid_loss;         /* validation loss of the parameters the run ends with (the
                              * best with keep_best; NaN without validation) */
  double best_valid_loss;
  gint64 nonfinite_steps;    /* updates skipped by the guard */
  gint64 rollbacks;
  gint64 best_step;          /* keep_best: the step whose parameters the model ended with
                              * (its best validation); -1 otherwise */
  gboolean stopped_early;
  gboolean cancelled;
  gboolean resumed;
} LmTrainResult;

gboolean lm_train_run (const LmTrainSetup *setup, LmTrainResult *result, GError **error);
/* What lm_train_run checks before it trains, without training, allocating or touching
 * BLAS threads: the batch shape against the training and validation streams, the budget,
 * the optimizer and the schedule. A comparison calls it for every run before the first one
 * trains, so a mistake in the last run is not found after the others have finished. */
gboolean lm_train_check (const LmTrainSetup *setup, GError **error);

/* Mean nats per token of model over stream, evaluation mode (no dropout), batched as the
 * trainer validates: B contiguous rows with carried state for recurrent models, or
 * non-overlapping windows of T for window models. Tokens that do not fill a row are
 * skipped (fewer than B); *n_scored says how many were scored. */
gboolean lm_train_eval_loss (LmModel *model, const gint32 *tokens, gsize n_tokens, int B,
                             int T, double *loss, gsize *n_scored, GError **error);

G_END_DECLS
