/* lm-optim.h — optimizers, gradient clipping and learning-rate schedules over the flat
 * parameter buffer of core/lm-params.h.
 *
 * Optimizer state lives in buffers with the same layout as the parameters, so one loop
 * updates every tensor, and a checkpoint saves `step` plus the state buffers (m, v) to
 * resume bit-exactly. A training step is:
 *
 *   lm_params_zero_grad (params);
 *   loss = forward (...); backward (...);
 *   double norm = lm_clip_grad_norm (params, clip);      // before the step
 *   float lr = lm_schedule_lr (&schedule, optimizer->step, epoch);
 *   lm_optimizer_step (optimizer, params, lr);
 *
 * (core/lm-train.c does the clip in the step: lm_clip_factor, lm_optimizer_step_scaled.)
 *
 * Every formula follows PyTorch's implementation (torch.optim, 1.13), so the same
 * hyperparameters mean the same thing here.
 */
#pragma once

#include <glib.h>

#include "core/lm-parallel.h"
#include "core/lm-params.h"

G_BEGIN_DECLS

/* ---- optimizers --------------------------------------------------------------------- */

typedef enum
{
  LM_OPTIM_SGD,      /* p -= lr g */
  LM_OPTIM_MOMENTUM, /* b = mu b + g;  p -= lr b                      (m holds b) */
  LM_OPTIM_ADAGRAD,  /* s += g^2;  p -= lr g / (sqrt(s) + eps)          (v holds s) */
  LM_OPTIM_RMSPROP,  /* s = a s + (1 - a) g^2;  p -= lr g / (sqrt(s) + eps)  (v holds s) */
  LM_OPTIM_ADAM,     /* see lm-optim.c; weight decay as an L2 term added to g */
  LM_OPTIM_ADAMW,    /* Adam with decoupled weight decay: p -= lr wd p first */
} LmOptimKind;

typedef struct
{
  LmOptimKind kind;
  float lr;           /* base learning rate; the schedule scales it per step */
  float momentum;     /* MOMENTUM: mu (default 0.9) */
  float beta1, beta2; /* ADAM(W): first and second moment decay (0.9, 0.999) */
  float alpha;        /* RMSPROP: square-average decay (0.99) */
  float eps;          /* ADAM(W), RMSPROP 1e-8; ADAGRAD 1e-10 */
  /* Applied only to views marked decay. ADAMW: decoupled, p -= lr wd p (default 0.01,
   * as torch.optim.AdamW). Others: L2, g += wd p (default 0). */
  float weight_decay;
  guint explicit_fields; /* private: which fields lm_optim_config_set has set */
} LmOptimConfig;

/* PyTorch's defaults for kind (lr 1e-3 for the adaptive methods, 0.1 for SGD). */
void lm_optim_config_init (LmOptimConfig *config, LmOptimKind kind);
/* Set one hyperparameter from text: key is one of optimizer, lr, momentum, beta1,
 * beta2, alpha, eps, weight_decay. Setting optimizer gives every field not set
 * explicitly the new kind's default, so the keys may come in any order. Unknown keys,
 * unknown optimizer names and bad values (lr negative or NaN, ...) fail with
 * LM_ERROR_INVALID_CONFIG naming the key. */
gboolean lm_optim_config_set (LmOptimConfig *config, const char *key, const char *value,
                              GError **error);
/* Range checks: lr finite and >= 0, betas and alpha in [0,1), eps > 0, ... */
gboolean lm_optim_config_check (const LmOptimConfig *config, GError **error);
/* "sgd" | "momentum" | "adagrad" | "rmsprop" | "adam" | "adamw" */
gboolean lm_optim_kind_from_name (const char *name, LmOptimKind *kind, GError **error);
const char *lm_optim_kind_name (LmOptimKind kind);
/* How many state buffers (0, 1 or 2) the kind keeps. */
int lm_optim_kind_n_states (LmOptimKind kind);

typedef struct
{
  LmOptimConfig config;
  gint64 step;    /* steps taken; the bias correction of step t+1 uses t+1 */
  gsize n_floats; /* length of each state buffer (= params->n_floats) */
  float *m;       /* first moment / momentum buffer, or NULL */
  float *v;       /* second moment / sum or average of squares, or NULL */
  LmParallel *parallel; /* threads for the step (not owned), or NULL for one */
} LmOptimizer;

/* State buffers zeroed, step 0. Checks the config; fails on a bad one or no memory. */
LmOptimizer *lm_optimizer_new (const LmOptimConfig *config, const LmParams *params, GError **error);
void lm_optimizer_free (LmOptimizer *optimizer);
/* step += 1, then update params->data from params->grad with learning rate lr (the
 * scheduled rate for this step, not config.lr). Gradients are left as they are. */
void lm_optimizer_step (LmOptimizer *optimizer, LmParams *params, float lr);
/* The same step for the gradient grad_scale * g, without writing it: the factor from
 * lm_clip_factor, applied on the way instead of in a pass of its own. */
void lm_optimizer_step_scaled (LmOptimizer *optimizer, LmParams *params, float lr,
                               float grad_scale);
/* Zero the state and the step counter. */
void lm_optimizer_reset (LmOptimizer *optimizer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmOptimizer, lm_optimizer_free)

/* ---- gradient clipping -------------------------------------------------------------- */

/* ||g||_2 over every gradient, accumulated in double. */
double lm_grad_norm (const LmParams *params);
/* As torch.nn.utils.clip_grad_norm_: total = ||g||_2; when max_norm > 0 and
 * c = max_norm / (total + 1e-6) < 1, g *= c. Returns total, the norm BEFORE clipping.
 * A non-finite total leaves the gradients untouched (the training loop's NaN guard
 * decides what to do). */
double lm_clip_grad_norm (LmParams *params, double max_norm);
/* g *= scale, then lm_clip_grad_norm, with one pass over the gradients for both: for a
 * loss summed over time steps (scale = T). Returns ||scale g||_2 before clipping. Split
 * across `parallel`'s threads (may be NULL); the norm's partial sums are added in part
 * order, so the result depends on the number of parts but not on timing. */
double lm_scale_clip_grad_norm (LmParams *params, double scale, double max_norm,
                                LmParallel *parallel);
/* lm_scale_clip_grad_norm without the scaling: returns the same norm and sets *factor to
 * what it would multiply g by (1 when the norm is not finite), for
 * lm_optimizer_step_scaled. */
double lm_clip_factor (LmParams *params, double scale, double max_norm, LmParallel *parallel,
                       float *factor);

/* ---- learning-rate schedules ---------------------------------------------------------- */

typedef enum
{
  LM_SCHEDULE_CONSTANT, /* lr */
  LM_SCHEDULE_STEP,     /* lr gamma^floor(step / step_size), or, with step_size 0,
                         * lr gamma^max(0, epoch - decay_epoch) (Zaremba et al.) */
  LM_SCHEDULE_PLATEAU,  /* lr factor^(times validation loss failed to improve) */
  LM_SCHEDULE_COSINE,   /* linear warmup, then cosine from lr to min_lr at decay_steps */
} LmScheduleKind;

typedef struct
{
  LmScheduleKind kind;
  double lr;          /* the base (peak) learning rate */
  double min_lr;      /* COSINE: the floor reached at decay_steps; PLATEAU: never below */
  gint64 warmup;      /* steps of linear warmup (any kind): lr (step + 1) / (warmup + 1) */
  gint64 decay_steps; /* COSINE: step at which min_lr is reached (nanoGPT lr_decay_iters) */
  double gamma;       /* STEP: multiplier (0.5 halves) */
  gint64 step_size;   /* STEP: multiply every step_size steps; 0 = by epoch instead */
  gint64 decay_epoch; /* STEP by epoch: the last epoch at the full rate */
  double factor;      /* PLATEAU: multiplier on no improvement (0.5) */
  gint64 patience;    /* PLATEAU: evaluations without improvement tolerated (0) */
  /* PLATEAU state, changed only by lm_schedule_plateau_update; checkpoint with the rest */
  double best;           /* best validation loss so far (+inf at first) */
  gint64 bad_evals;      /* evaluations since the last improvement */
  double scale;          /* current multiplier (1 at first) */
  guint explicit_fields; /* private: which fields lm_schedule_set has set */
} LmSchedule;

/* Defaults for kind at base rate lr: warmup 0, gamma 0.5, factor 0.5, patience 0,
 * min_lr 0, decay_epoch 0, step_size 0, decay_steps 0 (set it for COSINE). */
void lm_schedule_init (LmSchedule *schedule, LmScheduleKind kind, double lr);
/* The learning rate of optimizer step `step` (0 for the first), in epoch `epoch`
 * (1 for the first). A pure function of its arguments (and, for PLATEAU, of the state
 * that lm_schedule_plateau_update keeps). */
double lm_schedule_lr (const LmSchedule *schedule, gint64 step, int epoch);
/* PLATEAU: report a validation loss. When it is not below the best so far for more
 * than patience evaluations, multiply the rate by factor and return TRUE. Other kinds:
 * no-op, FALSE. */
gboolean lm_schedule_plateau_update (LmSchedule *schedule, double valid_loss);
/* Keys: schedule ("constant|step|plateau|cosine"), lr, min_lr, warmup, decay_steps,
 * gamma, step_size, decay_epoch, factor, patience, in any order (setting schedule keeps
 * the fields set explicitly). LM_ERROR_INVALID_CONFIG on an unknown key or name, or a
 * negative or non-finite value; lm_schedule_check then checks the whole. */
gboolean lm_schedule_set (LmSchedule *schedule, const char *key, const char *value, GError **error);
gboolean lm_schedule_check (const LmSchedule *schedule, GError **error);
gboolean lm_schedule_kind_from_name (const char *name, LmScheduleKind *kind, GError **error);
const char *lm_schedule_kind_name (LmScheduleKind kind);

G_END_DECLS
