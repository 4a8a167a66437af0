/* lm-train.c — the one training loop for every gradient-trained model.
 *
 * Stages of one step (numbered as in the code below):
 *   1. batch:    the next (B,T) slice of B contiguous rows, or B random windows
 *   2. forward:  mean nats/token, dropout on
 *   3. backward: d(mean loss)/d(params) accumulated into params->grad
 *   4. scale:    with loss_reduction=sum_time, gradients x T (Zaremba et al. sum the loss
 *                over time and average over the batch)
 *   5. clip:     global norm, as torch.nn.utils.clip_grad_norm_
 *   6. guard:    a non-finite loss or norm skips the update and halves the rate
 *   7. update:   the optimizer at the scheduled rate
 * then, on their own schedules, validation, checkpoint, metrics row, progress report.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#include "core/lm-blas.h"
#include "core/lm-error.h"
#include "core/lm-memory.h"
#include "core/lm-optim.h"
#include "core/lm-params.h"
#include "core/lm-train.h"

const LmOptionSpec lm_train_options[] = {
  { "batch", LM_OPTION_INT, "20", 1, 100000, NULL, "sequences per batch (B)" },
  { "context", LM_OPTION_INT, "35", 1, 100000, NULL,
    "tokens of history per step: BPTT length (recurrent) or window (transformer) (T)" },
  { "eval_batch", LM_OPTION_INT, "0", 0, 100000, NULL, "batch for validation (0 = batch)" },
  { "optimizer", LM_OPTION_STRING, "adam", 0, -1, "sgd|momentum|adagrad|rmsprop|adam|adamw",
    "optimizer" },
  { "lr", LM_OPTION_DOUBLE, "0.001", 0, 1000, NULL, "base learning rate" },
  { "momentum", LM_OPTION_DOUBLE, "0.9", 0, 0.999999, NULL, "momentum (optimizer=momentum)" },
  { "beta1", LM_OPTION_DOUBLE, "0.9", 0, 0.999999, NULL, "Adam first-moment decay" },
  { "beta2", LM_OPTION_DOUBLE, "0.999", 0, 0.999999, NULL, "Adam second-moment decay" },
  { "eps", LM_OPTION_DOUBLE, "1e-8", 1e-30, 1, NULL, "Adam/RMSprop/Adagrad epsilon" },
  { "weight_decay", LM_OPTION_DOUBLE, "0", 0, 10, NULL,
    "weight decay on matrices only (adamw: decoupled; others: L2)" },
  { "clip", LM_OPTION_DOUBLE, "5", 0, 1e9, NULL, "global gradient-norm clip (0 = off)" },
  { "loss_reduction", LM_OPTION_STRING, "mean", 0, -1, "mean|sum_time",
    "gradient of the mean loss, or of the loss summed over time (x T, Zaremba's SGD)" },
  { "schedule", LM_OPTION_STRING, "constant", 0, -1, "constant|step|plateau|cosine",
    "learning-rate schedule" },
  { "warmup", LM_OPTION_INT, "0", 0, 1e12, NULL, "steps of linear warmup" },
  { "min_lr", LM_OPTION_DOUBLE, "0", 0, 1000, NULL, "cosine floor / plateau minimum" },
  { "decay_steps", LM_OPTION_INT, "0", 0, 1e12, NULL,
    "cosine: step where min_lr is reached (0 = the step budget)" },
  { "decay_epoch", LM_OPTION_INT, "0", 0, 1e6, NULL,
    "step schedule by epoch: last epoch at full rate, then x gamma per epoch" },
  { "gamma", LM_OPTION_DOUBLE, "0.5", 0, 1, NULL, "step schedule multiplier" },
  { "step_size", LM_OPTION_INT, "0", 0, 1e12, NULL,
    "step schedule: multiply by gamma every step_size steps (0 = by epoch)" },
  { "factor", LM_OPTION_DOUBLE, "0.5", 0, 1, NULL, "plateau: multiplier when validation stalls" },
  { "plateau_patience", LM_OPTION_INT, "0", 0, 1e6, NULL,
    "plateau: evaluations without improvement tolerated" },
  { "steps", LM_OPTION_INT, "0", 0, 1e12, NULL, "budget: optimizer steps (0 = no limit)" },
  { "epochs", LM_OPTION_INT, "0", 0, 1e6, NULL,
    "budget: passes over the training data (0 = no limit; 1 when no budget is set)" },
  { "tokens", LM_OPTION_INT, "0", 0, 1e15, NULL, "budget: training tokens (0 = no limit)" },
  { "seconds", LM_OPTION_DOUBLE, "0", 0, 1e9, NULL, "budget: training wall-clock s (0 = no limit)" },
  { "eval_every", LM_OPTION_INT, "0", 0, 1e12, NULL,
    "validate every N steps (0 = at the end of each epoch) and at the end" },
  { "eval_tokens", LM_OPTION_INT, "0", 0, 1e15, NULL,
    "validate on the first N tokens only (0 = all)" },
  { "early_stop", LM_OPTION_INT, "0", 0, 1e6, NULL,
    "stop after N validations without improvement (0 = off)" },
  { "keep_best", LM_OPTION_BOOL, "false", 0, -1, NULL,
    "end with the parameters of the best validation, not of the last step" },
  { "checkpoint_every", LM_OPTION_INT, "0", 0, 1e12, NULL,
    "checkpoint every N steps (0 = at the end of each epoch) and at the end" },
  { "log_every", LM_OPTION_INT, "10", 1, 1e12, NULL, "metrics TSV row every N steps" },
  { "batching", LM_OPTION_STRING, "auto", 0, -1, "auto|stream|windows",
    "contiguous streams with carried state, or random windows (auto: by model)" },
  { NULL },
};

/* Everything that must be restored for a bit-exact resume, besides parameters,
 * optimizer moments and carried state. Stored as one section, native byte order. */
typedef struct {
  guint32 magic;          /* TRAIN_STATE_MAGIC */
  guint32 version;
  gint64 step;
  gint64 tokens;
  gint64 batch_index;     /* next batch within the epoch */
  gint64 epoch;           /* 1-based, the epoch in progress */
  gint64 optim_step;
  gint64 nonfinite_steps;
  gint64 rollbacks;
  gint64 evals_without_improvement;
  double seconds;
  double guard_scale;     /* learning-rate multiplier left by the non-finite guard */
  double best_valid_loss;
  double last_valid_loss;
  double plateau_best;
  gint64 plateau_bad_evals;
  double plateau_scale;
  guint64 rng[4];
  guint64 params_fingerprint;
  guint64 n_floats;
  guint64 carried_floats;
  /* version 2: the training loss of the epoch in progress, so that a resumed run reports
   * the same mean as an uninterrupted one (version 1 ends before these) */
  double epoch_loss_sum;
  gint64 epoch_loss_count;
} TrainState;

#define TRAIN_STATE_MAGIC 0x4c4d5452u /* "LMTR" */
#define TRAIN_STATE_VERSION 2u
#define TRAIN_STATE_V1_BYTES offsetof (TrainState, epoch_loss_sum)

typedef struct {
  const LmTrainSetup *setup;
  LmModel *model;
  LmParams *params;
  LmOptimizer *optimizer;
  LmParallel *parallel;    /* `threads` threads for the passes over every parameter */
  LmSchedule schedule;
  TrainState st;
  LmRng rng;
  int B, T, eval_B;
  gboolean stream;              /* contiguous rows with carried state */
  LmStreamBatches batches;
  gsize steps_per_epoch;
  gint64 total_steps;           /* estimate (0 when only seconds bound the run) */
  gint64 max_steps, max_epochs, max_tokens;
  double max_seconds;
  gint32 *inputs, *targets;     /* (B,T) */
  FILE *metrics;
  float *best;                  /* keep_best: the parameters of the best validation */
  gint64 best_step;             /* and its step (-1: none yet) */
  double last_train_loss;
  double last_lr;
  gboolean have_checkpoint;
} Trainer;

/* ---- configuration ------------------------------------------------------------------ */

static gboolean
read_optimizer (Trainer *tr, LmOptimConfig *oc, GError **error)
{
  const LmConfig *config = tr->model->config;
  static const char *const keys[] = { "lr", "momentum", "beta1", "beta2", "eps",
                                      "weight_decay", NULL };
  LmOptimKind kind;
  if (!lm_optim_kind_from_name (lm_config_get_string (config, "optimizer"), &kind, error))
    return FALSE;
  lm_optim_config_init (oc, kind);
  if (!lm_optim_config_set (oc, "optimizer", lm_config_get_string (config, "optimizer"), error))
    return FALSE;
  for (int i = 0; keys[i]; i++)
    if (!lm_optim_config_set (oc, keys[i], lm_config_get (config, keys[i]), error))
      return FALSE;
  return lm_optim_config_check (oc, error);
}

static gboolean
read_schedule (Trainer *tr, GError **error)
{
  const LmConfig *config = tr->model->config;
  static const char *const keys[][2] = {
    { "lr", "lr" }, { "min_lr", "min_lr" }, { "warmup", "warmup" },
    { "decay_epoch", "decay_epoch" }, { "gamma", "gamma" }, { "step_size", "step_size" },
    { "factor", "factor" }, { "plateau_patience", "patience" }, { NULL, NULL },
  };
  LmScheduleKind kind;
  if (!lm_schedule_kind_from_name (lm_config_get_string (config, "schedule"), &kind, error))
    return FALSE;
  lm_schedule_init (&tr->schedule, kind, lm_config_get_double (config, "lr"));
  for (int i = 0; keys[i][0]; i++)
    if (!lm_schedule_set (&tr->schedule, keys[i][1], lm_config_get (config, keys[i][0]), error))
      return FALSE;
  gint64 decay_steps = lm_config_get_int (config, "decay_steps");
  if (decay_steps == 0)
    decay_steps = tr->total_steps;
  if (kind == LM_SCHEDULE_COSINE && decay_steps == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "schedule=cosine needs decay_steps or a step/epoch/token budget to know "
                   "where the decay ends");
      return FALSE;
    }
  g_autofree char *ds = g_strdup_printf ("%" G_GINT64_FORMAT, decay_steps);
  if (!lm_schedule_set (&tr->schedule, "decay_steps", ds, error))
    return FALSE;
  return lm_schedule_check (&tr->schedule, error);
}

static gint64
min_positive (gint64 a, gint64 b)
{
  if (a <= 0)
    return b;
  if (b <= 0)
    return a;
  return MIN (a, b);
}

/* ---- checkpoints ---------------------------------------------------------------------- */

static void
state_capture (Trainer *tr)
{
  memcpy (tr->st.rng, tr->rng.s, sizeof tr->st.rng);
  tr->st.optim_step = tr->optimizer->step;
  tr->st.plateau_best = tr->schedule.best;
  tr->st.plateau_bad_evals = tr->schedule.bad_evals;
  tr->st.plateau_scale = tr->schedule.scale;
  tr->st.params_fingerprint = lm_params_fingerprint (tr->params);
  tr->st.n_floats = tr->params->n_floats;
}

static gboolean
write_checkpoint (Trainer *tr, GError **error)
{
  const char *path = tr->setup->checkpoint_path;
  if (path == NULL)
    return TRUE;
  state_capture (tr);
  gsize carried_floats = 0;
  float *carried = tr->model->klass->carried_state
                       ? tr->model->klass->carried_state (tr->model, &carried_floats)
                       : NULL;
  tr->st.carried_floats = carried ? carried_floats : 0;
  gsize bytes = tr->params->n_floats * sizeof (float);
  g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, error);
  if (writer == NULL
      || !lm_model_write_sections (tr->model, writer, error)
      || !lm_checkpoint_writer_add (writer, "train/state", &tr->st, sizeof tr->st, error)
      || (tr->optimizer->m
          && !lm_checkpoint_writer_add (writer, "train/optim.m", tr->optimizer->m, bytes, error))
      || (tr->optimizer->v
          && !lm_checkpoint_writer_add (writer, "train/optim.v", tr->optimizer->v, bytes, error))
      || (carried
          && !lm_checkpoint_writer_add (writer, "train/carried", carried,
                                        carried_floats * sizeof (float), error))
      || (tr->best && tr->best_step >= 0
          && (!lm_checkpoint_writer_add (writer, "train/best.step", &tr->best_step,
                                         sizeof tr->best_step, error)
              || !lm_checkpoint_writer_add (writer, "train/best.params", tr->best, bytes,
                                            error)))
      || !lm_checkpoint_writer_commit (writer, error))
    {
      g_prefix_error (error, "writing checkpoint %s: ", path);
      return FALSE;
    }
  tr->have_checkpoint = TRUE;
  return TRUE;
}

/* Restore parameters, optimizer and trainer state from the checkpoint (resume or
 * rollback). The model's own load checks class, vocabulary and parameter layout. */
static gboolean
read_checkpoint (Trainer *tr, GError **error)
{
  const char *path = tr->setup->checkpoint_path;
  g_autoptr (LmCheckpoint) ck = lm_checkpoint_open (path, error);
  if (ck == NULL || !lm_model_read_sections (tr->model, ck, error))
    return FALSE;
  const void *data;
  gsize len;
  if (!lm_checkpoint_get (ck, "train/state", &data, &len, error))
    return FALSE;
  TrainState st = { 0 };
  memcpy (&st, data, MIN (len, sizeof st));
  /* a version 1 state, without the epoch's loss: resumes with the loss mean restarted */
  gboolean known = st.magic == TRAIN_STATE_MAGIC
                   && ((st.version == TRAIN_STATE_VERSION && len == sizeof (TrainState))
                       || (st.version == 1 && len == TRAIN_STATE_V1_BYTES));
  if (!known)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT,
                   "%s: training state of an unknown version", path);
      return FALSE;
    }
  if (st.n_floats != tr->params->n_floats
      || !lm_params_check_fingerprint (tr->params, st.params_fingerprint, error))
    {
      if (error && *error == NULL)
        g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
                     "%s: parameters of another shape", path);
      return FALSE;
    }
  gsize bytes = tr->params->n_floats * sizeof (float);
  if (tr->optimizer->m)
    {
      if (!lm_checkpoint_get_exact (ck, "train/optim.m", &data, bytes, error))
        return FALSE;
      memcpy (tr->optimizer->m, data, bytes);
    }
  if (tr->optimizer->v)
    {
      if (!lm_checkpoint_get_exact (ck, "train/optim.v", &data, bytes, error))
        return FALSE;
      memcpy (tr->optimizer->v, data, bytes);
    }
  gsize carried_floats = 0;
  float *carried = tr->model->klass->carried_state
                       ? tr->model->klass->carried_state (tr->model, &carried_floats)
                       : NULL;
  if (carried && st.carried_floats > 0)
    {
      if (st.carried_floats != carried_floats)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
                       "%s: carried state of %" G_GUINT64_FORMAT " floats, this run has %zu "
                       "(was batch changed?)", path, st.carried_floats, carried_floats);
          return FALSE;
        }
      if (!lm_checkpoint_get_exact (ck, "train/carried", &data,
                                    carried_floats * sizeof (float), error))
        return FALSE;
      memcpy (carried, data, carried_floats * sizeof (float));
    }
  if (tr->best)
    {
      /* keep_best needs the best parameters whenever a best validation is on record; a
       * state written without keep_best has none to give */
      if (lm_checkpoint_has (ck, "train/best.step"))
        {
          if (!lm_checkpoint_get_exact (ck, "train/best.step", &data, sizeof tr->best_step,
                                        error))
            return FALSE;
          memcpy (&tr->best_step, data, sizeof tr->best_step);
          if (!lm_checkpoint_get_exact (ck, "train/best.params", &data, bytes, error))
            return FALSE;
          memcpy (tr->best, data, bytes);
        }
      else if (isfinite (st.best_valid_loss))
        {
          g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
                       "%s was written without keep_best, so the parameters of its best "
                       "validation are not in it: resume without keep_best, or start again",
                       path);
          return FALSE;
        }
      else
        tr->best_step = -1;
    }
  tr->optimizer->step = st.optim_step;
  tr->schedule.best = st.plateau_best;
  tr->schedule.bad_evals = st.plateau_bad_evals;
  tr->schedule.scale = st.plateau_scale;
  memcpy (tr->rng.s, st.rng, sizeof tr->rng.s);
  tr->st = st;
  tr->st.version = TRAIN_STATE_VERSION; /* written back as the current version */
  tr->have_checkpoint = TRUE;
  return TRUE;
}

/* ---- metrics TSV ------------------------------------------------------------------------ */

static const char metrics_header[] =
    "step\tepoch\ttokens\tseconds\tlr\ttrain_loss\tgrad_norm\tvalid_loss\ttokens_per_s\tevent\n";

/* Open the metrics file; on resume keep only the rows up to the resumed step. */
static gboolean
open_metrics (Trainer *tr, gboolean resumed, GError **error)
{
  const char *path = tr->setup->metrics_path;
  if (path == NULL)
    return TRUE;
  g_autoptr (GString) kept = g_string_new (metrics_header);
  g_autofree char *old = NULL;
  if (resumed && g_file_get_contents (path, &old, NULL, NULL))
    {
      g_auto (GStrv) lines = g_strsplit (old, "\n", -1);
      for (int i = 1; lines[i] && lines[i][0]; i++)
        if (g_ascii_strtoll (lines[i], NULL, 10) <= tr->st.step)
          g_string_append_printf (kept, "%s\n", lines[i]);
    }
  if (!g_file_set_contents (path, kept->str, kept->len, error))
    {
      g_prefix_error (error, "metrics log: ");
      return FALSE;
    }
  tr->metrics = g_fopen (path, "a");
  if (tr->metrics == NULL)
    {
      int saved = errno;
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s: %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* The epoch the last step belongs to: st.epoch moves on as soon as an epoch's last batch
 * is taken, before any step of the next one runs. */
static gint64
reported_epoch (const Trainer *tr)
{
  return tr->st.batch_index == 0 && tr->st.step > 0 ? tr->st.epoch - 1 : tr->st.epoch;
}

static void
metrics_row (Trainer *tr, double grad_norm, double valid_loss, const char *event)
{
  if (tr->metrics == NULL)
    return;
  fprintf (tr->metrics, "%" G_GINT64_FORMAT "\t%" G_GINT64_FORMAT "\t%" G_GINT64_FORMAT
           "\t%.3f\t%.6g\t%.6f\t%.6g\t%.6f\t%.1f\t%s\n",
           tr->st.step, reported_epoch (tr), tr->st.tokens, tr->st.seconds, tr->last_lr,
           tr->last_train_loss, grad_norm, valid_loss,
           tr->st.seconds > 0 ? tr->st.tokens / tr->st.seconds : 0.0, event);
  fflush (tr->metrics);
}

/* ---- progress ---------------------------------------------------------------------------- */

static void
report (Trainer *tr, LmTrainEvent event)
{
  if (tr->setup->progress == NULL)
    return;
  LmTrainProgress p = {
    .event = event,
    .step = tr->st.step,
    .total_steps = tr->total_steps,
    .epoch = (int) reported_epoch (tr),
    .tokens = tr->st.tokens,
    .seconds = tr->st.seconds,
    .tokens_per_s = tr->st.seconds > 0 ? tr->st.tokens / tr->st.seconds : 0,
    .train_loss = tr->last_train_loss,
    .valid_loss = tr->st.last_valid_loss,
    .lr = tr->last_lr,
    .eta_seconds = NAN,
  };
  double fraction = 0;
  if (tr->total_steps > 0)
    fraction = (double) tr->st.step / tr->total_steps;
  if (tr->max_seconds > 0)
    fraction = MAX (fraction, tr->st.seconds / tr->max_seconds);
  if (fraction > 0 && fraction <= 1)
    p.eta_seconds = tr->st.seconds * (1 - fraction) / fraction;
  tr->setup->progress (&p, tr->setup->user_data);
}

/* ---- validation ------------------------------------------------------------------------- */

gboolean
lm_train_eval_loss (LmModel *model, const gint32 *tokens, gsize n_tokens, int B, int T,
                    double *loss, gsize *n_scored, GError **error)
{
  g_autofree gint32 *inputs = g_new (gint32, (gsize) B * T);
  g_autofree gint32 *targets = g_new (gint32, (gsize) B * T);
  double total = 0;
  gsize count = 0;
  if (model->klass->carried_state != NULL)
    {
      /* Recurrent: B contiguous rows, state carried from batch to batch. */
      LmStreamBatches batches;
      if (!lm_stream_batches_init (&batches, tokens, n_tokens, B, T, error))
        return FALSE;
      model->klass->reset_state (model);
      for (gsize k = 0; k < batches.n_batches; k++)
        {
          int steps = lm_stream_batch (&batches, k, inputs, targets);
          LmBatch batch = { inputs, targets, B, steps, FALSE, NULL };
          total += (double) model->klass->forward (model, &batch) * B * steps;
          count += (gsize) B * steps;
        }
    }
  else
    {
      /* Window models: non-overlapping windows of T, B at a time. */
      gsize n_windows = (n_tokens - 1) / T;
      if (n_windows == 0)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                       "%zu tokens are fewer than one context window of %d", n_tokens, T);
          return FALSE;
        }
      for (gsize w = 0; w < n_windows; w += B)
        {
          int rows = (int) MIN ((gsize) B, n_windows - w);
          for (int b = 0; b < rows; b++)
            {
              const gint32 *start = tokens + (w + b) * T;
              memcpy (inputs + (gsize) b * T, start, T * sizeof (gint32));
              memcpy (targets + (gsize) b * T, start + 1, T * sizeof (gint32));
            }
          LmBatch batch = { inputs, targets, rows, T, FALSE, NULL };
          total += (double) model->klass->forward (model, &batch) * rows * T;
          count += (gsize) rows * T;
        }
    }
  *loss = total / MAX (count, 1);
  if (n_scored)
    *n_scored = count;
  if (!isfinite (*loss))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NUMERIC, "validation loss is not finite");
      return FALSE;
    }
  return TRUE;
}

static gboolean
validate (Trainer *tr, gboolean *improved, GError **error)
{
  const LmTokenStream *valid = tr->setup->valid;
  *improved = FALSE;
  if (valid == NULL)
    return TRUE;
  gsize n = valid->n_tokens;
  gint64 eval_tokens = lm_config_get_int (tr->model->config, "eval_tokens");
  if (eval_tokens > 0 && (gsize) eval_tokens + 1 < n)
    n = eval_tokens + 1;
  /* Validation must not disturb the training stream's carried state. */
  gsize carried_floats = 0;
  float *carried = tr->model->klass->carried_state
                       ? tr->model->klass->carried_state (tr->model, &carried_floats)
                       : NULL;
  g_autofree float *saved = carried ? g_memdup2 (carried, carried_floats * sizeof (float)) : NULL;
  double loss;
  gboolean ok = lm_train_eval_loss (tr->model, valid->tokens, n, tr->eval_B, tr->T, &loss,
                                    NULL, error);
  if (carried)
    memcpy (carried, saved, carried_floats * sizeof (float));
  if (!ok)
    {
      g_prefix_error (error, "validation at step %" G_GINT64_FORMAT ": ", tr->st.step);
      return FALSE;
    }
  tr->st.last_valid_loss = loss;
  if (loss < tr->st.best_valid_loss)
    {
      tr->st.best_valid_loss = loss;
      tr->st.evals_without_improvement = 0;
      *improved = TRUE;
      if (tr->best)
        {
          memcpy (tr->best, tr->params->data, tr->params->n_floats * sizeof (float));
          tr->best_step = tr->st.step;
        }
    }
  else
    tr->st.evals_without_improvement++;
  lm_schedule_plateau_update (&tr->schedule, loss);
  metrics_row (tr, NAN, loss, "eval");
  report (tr, LM_TRAIN_EVENT_EVAL);
  return TRUE;
}

/* ---- the loop ------------------------------------------------------------------------------ */


static gboolean
budget_left (Trainer *tr)
{
  if (tr->max_steps > 0 && tr->st.step >= tr->max_steps)
    return FALSE;
  if (tr->max_tokens > 0 && tr->st.tokens >= tr->max_tokens)
    return FALSE;
  if (tr->max_seconds > 0 && tr->st.seconds >= tr->max_seconds)
    return FALSE;
  if (tr->max_epochs > 0 && tr->st.epoch > tr->max_epochs)
    return FALSE;
  return TRUE;
}

/* Stage 1: the next batch; returns its T'. Advances the data position. */
static int
next_batch (Trainer *tr)
{
  int steps;
  if (tr->stream)
    {
      if (tr->st.batch_index == 0)
        tr->model->klass->reset_state (tr->model);
      steps = lm_stream_batch (&tr->batches, tr->st.batch_index, tr->inputs, tr->targets);
    }
  else
    {
      lm_random_windows (tr->setup->train->tokens, tr->setup->train->n_tokens, tr->B, tr->T,
                         &tr->rng, tr->inputs, tr->targets);
      steps = tr->T;
    }
  return steps;
}

static void
advance_position (Trainer *tr, gboolean *epoch_ended)
{
  *epoch_ended = FALSE;
  tr->st.batch_index++;
  if ((gsize) tr->st.batch_index >= tr->steps_per_epoch)
    {
      tr->st.batch_index = 0;
      tr->st.epoch++;
      *epoch_ended = TRUE;
    }
}

static void
trainer_clear (Trainer *tr)
{
  g_clear_pointer (&tr->optimizer, lm_optimizer_free);
  g_clear_pointer (&tr->parallel, lm_parallel_free);
  g_clear_pointer (&tr->inputs, g_free);
  g_clear_pointer (&tr->targets, g_free);
  g_clear_pointer (&tr->best, free);
  if (tr->metrics)
    fclose (tr->metrics);
  tr->metrics = NULL;
}

/* Read the batch shape, budgets, optimizer and schedule from the model's config and check
 * that the data can feed them: everything lm_train_run needs before it allocates or
 * trains, with no side effect on the model, BLAS or the RNG. */
static gboolean
configure (Trainer *tr, LmOptimConfig *oc, GError **error)
{
  const LmTrainSetup *setup = tr->setup;
  LmModel *model = tr->model;
  const LmConfig *config = model->config;
  tr->B = (int) lm_config_get_int (config, "batch");
  tr->T = (int) lm_config_get_int (config, "context");
  tr->eval_B = (int) lm_config_get_int (config, "eval_batch");
  if (tr->eval_B == 0)
    tr->eval_B = tr->B;
  const char *batching = lm_config_get_string (config, "batching");
  tr->stream = g_str_equal (batching, "stream")
               || (g_str_equal (batching, "auto") && model->klass->carried_state != NULL);

  const LmTokenStream *train = setup->train;
  if (tr->stream)
    {
      if (!lm_stream_batches_init (&tr->batches, train->tokens, train->n_tokens, tr->B, tr->T,
                                   error))
        {
          g_prefix_error (error, "training data: ");
          return FALSE;
        }
      tr->steps_per_epoch = tr->batches.n_batches;
    }
  else
    {
      if (train->n_tokens <= (gsize) tr->T + 1)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                       "training data: %zu tokens are too few for a context of %d",
                       train->n_tokens, tr->T);
          return FALSE;
        }
      tr->steps_per_epoch = MAX (1, (train->n_tokens - 1) / tr->T / tr->B);
    }

  tr->max_steps = lm_config_get_int (config, "steps");
  tr->max_epochs = lm_config_get_int (config, "epochs");
  tr->max_tokens = lm_config_get_int (config, "tokens");
  tr->max_seconds = lm_config_get_double (config, "seconds");
  if (tr->max_steps == 0 && tr->max_epochs == 0 && tr->max_tokens == 0 && tr->max_seconds == 0)
    tr->max_epochs = 1;
  tr->total_steps = min_positive (tr->max_steps, tr->max_epochs * (gint64) tr->steps_per_epoch);
  if (tr->max_tokens > 0)
    tr->total_steps = min_positive (tr->total_steps,
                                    (tr->max_tokens + (gint64) tr->B * tr->T - 1)
                                        / ((gint64) tr->B * tr->T));

  /* Check now that validation can run, rather than after the training it would end. */
  if (setup->valid != NULL)
    {
      gsize n = setup->valid->n_tokens;
      gint64 eval_tokens = lm_config_get_int (config, "eval_tokens");
      if (eval_tokens > 0 && (gsize) eval_tokens + 1 < n)
        n = eval_tokens + 1;
      if (model->klass->carried_state != NULL && (n < 2 || (n - 1) / (gsize) tr->eval_B < 1))
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                       "the validation text has %zu tokens to score, fewer than eval_batch=%d "
                       "rows need (%d + 1); give a longer validation text or lower eval_batch",
                       n, tr->eval_B, tr->eval_B);
          return FALSE;
        }
      if (model->klass->carried_state == NULL && n <= (gsize) tr->T)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                       "the validation text has %zu tokens to score, fewer than one window of "
                       "context=%d + 1; give a longer validation text (or raise eval_tokens)",
                       n, tr->T);
          return FALSE;
        }
    }
  else
    {
      /* Both act on validation losses: without a validation text they would do nothing,
       * silently. */
      const char *needs = lm_config_get_int (config, "early_stop") > 0 ? "early_stop"
                          : lm_config_get_bool (config, "keep_best") ? "keep_best"
                          : g_str_equal (lm_config_get_string (config, "schedule"), "plateau")
                              ? "schedule=plateau"
                              : NULL;
      if (needs)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                       "%s acts on validation losses, and this training has no validation "
                       "text: give one (or a valid_fraction above 0)", needs);
          return FALSE;
        }
    }

  return read_optimizer (tr, oc, error) && read_schedule (tr, error);
}

gboolean
lm_train_check (const LmTrainSetup *setup, GError **error)
{
  if (!lm_model_has (setup->model, LM_CAP_GRADIENT))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED,
                   "model '%s' is not trained by gradients", setup->model->klass->name);
      return FALSE;
    }
  Trainer tr = { 0 };
  tr.setup = setup;
  tr.model = setup->model;
  LmOptimConfig oc;
  return configure (&tr, &oc, error);
}

gboolean
lm_train_run (const LmTrainSetup *setup, LmTrainResult *result, GError **error)
{
  LmModel *model = setup->model;
  memset (result, 0, sizeof *result);
  result->best_step = -1;
  result->valid_loss = result->best_valid_loss = result->train_loss = NAN;
  if (!lm_model_has (model, LM_CAP_GRADIENT))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_UNSUPPORTED,
                   "model '%s' is not trained by gradients", model->klass->name);
      return FALSE;
    }
  const LmConfig *config = model->config;
  Trainer tr_storage = { 0 }, *tr = &tr_storage;
  tr->setup = setup;
  tr->model = model;
  tr->params = model->klass->parameters (model);
  LmOptimConfig oc;
  if (!configure (tr, &oc, error))
    return FALSE;
  lm_blas_set_threads ((int) lm_config_get_int (config, "threads"));
  /* the clip and the optimizer step are memory-bound passes over every parameter: split
   * them across the cores the model computes on, which would otherwise wait (asked now:
   * a model may set the BLAS to one thread of its own) */
  tr->parallel = lm_parallel_new (lm_blas_threads ());
  lm_rng_seed (&tr->rng, (guint64) lm_config_get_int (config, "seed") ^ 0x747261696eULL);
  if (!model->klass->prepare (model, MAX (tr->B, tr->eval_B), tr->T, error)
      || (tr->optimizer = lm_optimizer_new (&oc, tr->params, error)) == NULL)
    {
      trainer_clear (tr);
      return FALSE;
    }
  tr->optimizer->parallel = tr->parallel;
  tr->best_step = -1;
  if (lm_config_get_bool (config, "keep_best"))
    {
      double bytes = (double) tr->params->n_floats * sizeof (float);
      if (!lm_memory_fits (bytes) || (tr->best = lm_memory_zeroed ((gsize) bytes)) == NULL)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                       "keep_best needs a second copy of the parameters, %.1f MiB, and only "
                       "%.1f MiB are available", bytes / 1048576.0,
                       lm_memory_available () / 1048576.0);
          trainer_clear (tr);
          return FALSE;
        }
    }
  tr->inputs = g_new (gint32, (gsize) tr->B * tr->T);
  tr->targets = g_new (gint32, (gsize) tr->B * tr->T);

  tr->st.magic = TRAIN_STATE_MAGIC;
  tr->st.version = TRAIN_STATE_VERSION;
  tr->st.epoch = 1;
  tr->st.guard_scale = 1.0;
  tr->st.best_valid_loss = INFINITY;
  tr->st.last_valid_loss = NAN;
  tr->last_train_loss = NAN;
  model->klass->reset_state (model);

  gboolean resumed = FALSE;
  if (setup->resume && setup->checkpoint_path
      && g_file_test (setup->checkpoint_path, G_FILE_TEST_EXISTS))
    {
      if (!read_checkpoint (tr, error))
        {
          g_prefix_error (error, "cannot resume: ");
          trainer_clear (tr);
          return FALSE;
        }
      resumed = TRUE;
    }
  if (!open_metrics (tr, resumed, error))
    {
      trainer_clear (tr);
      return FALSE;
    }
  if (resumed)
    report (tr, LM_TRAIN_EVENT_RESUMED);

  const float clip = (float) lm_config_get_double (config, "clip");
  const gboolean sum_time = g_str_equal (lm_config_get_string (config, "loss_reduction"),
                                         "sum_time");
  const gint64 eval_every = lm_config_get_int (config, "eval_every");
  const gint64 checkpoint_every = lm_config_get_int (config, "checkpoint_every");
  const gint64 log_every = lm_config_get_int (config, "log_every");
  const gint64 early_stop = lm_config_get_int (config, "early_stop");
  int consecutive_nonfinite = 0;
  gboolean ok = TRUE;
  /* A run resumed from its final checkpoint was validated before that checkpoint. */
  gboolean validated_at_end = resumed && !budget_left (tr) && isfinite (tr->st.last_valid_loss);

  while (ok && budget_left (tr))
    {
      if (setup->cancel && g_atomic_int_get (setup->cancel))
        {
          result->cancelled = TRUE;
          break;
        }
      gint64 t0 = g_get_monotonic_time ();
      if (tr->st.batch_index == 0) /* a new epoch: its own mean */
        {
          tr->st.epoch_loss_sum = 0;
          tr->st.epoch_loss_count = 0;
        }
      int steps = next_batch (tr);                                       /* 1 */
      LmBatch batch = { tr->inputs, tr->targets, tr->B, steps, TRUE, &tr->rng };
      lm_params_zero_grad_spans (tr->params, tr->parallel);
      float loss = model->klass->forward (model, &batch);                /* 2 */
      double norm = NAN;
      float grad_scale = 1.0f;
      gboolean finite = isfinite (loss);
      if (finite)
        {
          model->klass->backward (model, &batch);                        /* 3 */
          /* 4, 5: the summed-over-time scale and the clip: a factor the step applies */
          norm = lm_clip_factor (tr->params, sum_time ? steps : 1, clip, tr->parallel,
                                 &grad_scale);
          finite = isfinite (norm);
        }
      tr->last_lr = lm_schedule_lr (&tr->schedule, tr->optimizer->step, (int) tr->st.epoch)
                    * tr->st.guard_scale;
      if (finite)
        {
          lm_optimizer_step_scaled (tr->optimizer, tr->params, (float) tr->last_lr,  /* 7 */
                                    grad_scale);
          consecutive_nonfinite = 0;
          tr->last_train_loss = loss;
          tr->st.epoch_loss_sum += loss;
          tr->st.epoch_loss_count++;
        }
      tr->st.step++;
      tr->st.tokens += (gint64) tr->B * steps;
      tr->st.seconds += (g_get_monotonic_time () - t0) / 1e6;
      gboolean epoch_ended;
      advance_position (tr, &epoch_ended);

      if (!finite)                                                        /* 6 */
        {
          tr->st.nonfinite_steps++;
          tr->st.guard_scale *= 0.5;
          consecutive_nonfinite++;
          metrics_row (tr, norm, NAN, "nonfinite");
          report (tr, LM_TRAIN_EVENT_NONFINITE);
          if (consecutive_nonfinite >= 3 && tr->have_checkpoint && tr->st.rollbacks < 5)
            {
              double guard = tr->st.guard_scale;
              gint64 nonfinite = tr->st.nonfinite_steps, rollbacks = tr->st.rollbacks + 1;
              if (!read_checkpoint (tr, error))
                {
                  g_prefix_error (error, "rolling back after non-finite losses: ");
                  ok = FALSE;
                  break;
                }
              tr->st.guard_scale = guard;
              tr->st.nonfinite_steps = nonfinite;
              tr->st.rollbacks = rollbacks;
              consecutive_nonfinite = 0;
              metrics_row (tr, NAN, NAN, "rollback");
              report (tr, LM_TRAIN_EVENT_ROLLBACK);
            }
          else if (consecutive_nonfinite >= 10)
            {
              g_set_error (error, LM_ERROR, LM_ERROR_NUMERIC,
                           "training diverged: %d non-finite losses or gradients in a row at "
                           "step %" G_GINT64_FORMAT " (learning rate now %g); lower lr or set "
                           "clip", consecutive_nonfinite, tr->st.step, tr->last_lr);
              ok = FALSE;
              break;
            }
          continue;
        }

      if (tr->st.step % log_every == 0)
        metrics_row (tr, norm, NAN, "step");
      report (tr, LM_TRAIN_EVENT_STEP);

      gboolean last = !budget_left (tr);
      gboolean do_eval = eval_every > 0 ? tr->st.step % eval_every == 0 : epoch_ended;
      if (do_eval || last)
        {
          gboolean improved;
          if (!validate (tr, &improved, error))
            {
              ok = FALSE;
              break;
            }
          validated_at_end = last;
          /* not "early" when the budget ends here anyway */
          if (!last && early_stop > 0 && tr->st.evals_without_improvement >= early_stop)
            {
              result->stopped_early = TRUE;
              last = TRUE;
            }
        }
      gboolean do_checkpoint = checkpoint_every > 0 ? tr->st.step % checkpoint_every == 0
                                                    : epoch_ended;
      if ((do_checkpoint || last) && setup->checkpoint_path)
        {
          if (!write_checkpoint (tr, error))
            {
              ok = FALSE;
              break;
            }
          report (tr, LM_TRAIN_EVENT_CHECKPOINT);
        }
      if (result->stopped_early)
        break;
    }

  if (ok && !validated_at_end && !result->cancelled && setup->valid && tr->st.step > 0)
    {
      gboolean improved;
      ok = validate (tr, &improved, error);
    }
  if (ok && (result->cancelled || !budget_left (tr) || result->stopped_early)
      && setup->checkpoint_path && tr->st.step > 0)
    ok = write_checkpoint (tr, error);

  /* keep_best: the model ends with the best validation's parameters. The checkpoint just
   * written keeps the last step's, so that --resume continues the run itself. */
  if (ok && tr->best && tr->best_step >= 0 && !result->cancelled)
    {
      if (tr->best_step != tr->st.step)
        memcpy (tr->params->data, tr->best, tr->params->n_floats * sizeof (float));
      result->best_step = tr->best_step;
    }
  result->steps = tr->st.step;
  result->tokens = tr->st.tokens;
  result->epochs = (int) reported_epoch (tr);
  result->seconds = tr->st.seconds;
  result->tokens_per_s = tr->st.seconds > 0 ? tr->st.tokens / tr->st.seconds : 0;
  if (tr->st.epoch_loss_count > 0)
    result->train_loss = tr->st.epoch_loss_sum / tr->st.epoch_loss_count;
  result->valid_loss = result->best_step >= 0 ? tr->st.best_valid_loss : tr->st.last_valid_loss;
  result->best_valid_loss = isfinite (tr->st.best_valid_loss) ? tr->st.best_valid_loss : NAN;
  result->nonfinite_steps = tr->st.nonfinite_steps;
  result->rollbacks = tr->st.rollbacks;
  result->resumed = resumed;
  trainer_clear (tr);
  return ok;
}
