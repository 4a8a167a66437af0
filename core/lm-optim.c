/* lm-optim.c — optimizers, clipping and schedules (see lm-optim.h).
 *
 * The update loops run over each view's range of the flat buffer (skipping the
 * alignment padding between views, which therefore stays zero) with the view's weight
 * decay, and are simple enough for the compiler to vectorise. No OpenMP threads: an
 * update is a few million floats, far cheaper than the GEMMs that produced the
 * gradients, and a second thread pool would fight OpenBLAS's for the cores.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-memory.h"
#include "core/lm-ops-simd.h"
#include "core/lm-optim.h"

/* ---- names ---------------------------------------------------------------------------- */

static const char *const optim_names[] = {
  [LM_OPTIM_SGD] = "sgd",         [LM_OPTIM_MOMENTUM] = "momentum", [LM_OPTIM_ADAGRAD] = "adagrad",
  [LM_OPTIM_RMSPROP] = "rmsprop", [LM_OPTIM_ADAM] = "adam",         [LM_OPTIM_ADAMW] = "adamw",
};

static const char *const schedule_names[] = {
  [LM_SCHEDULE_CONSTANT] = "constant",
  [LM_SCHEDULE_STEP] = "step",
  [LM_SCHEDULE_PLATEAU] = "plateau",
  [LM_SCHEDULE_COSINE] = "cosine",
};

static gboolean
kind_from_name (const char *what, const char *const *names, int n, const char *name, int *kind,
                GError **error)
{
  for (int i = 0; i < n; i++)
    if (name && g_ascii_strcasecmp (name, names[i]) == 0)
      {
        *kind = i;
        return TRUE;
      }
  g_autoptr (GString) choices = g_string_new (NULL);
  for (int i = 0; i < n; i++)
    g_string_append_printf (choices, "%s%s", i ? ", " : "", names[i]);
  g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "unknown %s '%s': use one of %s", what,
               name ? name : "", choices->str);
  return FALSE;
}

gboolean
lm_optim_kind_from_name (const char *name, LmOptimKind *kind, GError **error)
{
  int k;
  if (!kind_from_name ("optimizer", optim_names, G_N_ELEMENTS (optim_names), name, &k, error))
    return FALSE;
  *kind = k;
  return TRUE;
}

const char *
lm_optim_kind_name (LmOptimKind kind)
{
  g_return_val_if_fail ((guint)kind < G_N_ELEMENTS (optim_names), "?");
  return optim_names[kind];
}

gboolean
lm_schedule_kind_from_name (const char *name, LmScheduleKind *kind, GError **error)
{
  int k;
  if (!kind_from_name ("schedule", schedule_names, G_N_ELEMENTS (schedule_names), name, &k, error))
    return FALSE;
  *kind = k;
  return TRUE;
}

const char *
lm_schedule_kind_name (LmScheduleKind kind)
{
  g_return_val_if_fail ((guint)kind < G_N_ELEMENTS (schedule_names), "?");
  return schedule_names[kind];
}

/* Parse a whole string as a finite double, naming the key on failure. */
static gboolean
parse_double (const char *key, const char *value, double *out, GError **error)
{
  char *end = NULL;
  errno = 0;
  double x = value ? g_ascii_strtod (value, &end) : 0.0;
  if (value == NULL || end == value || *end != '\0' || errno == ERANGE || !isfinite (x))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "%s: '%s' is not a finite number", key,
                   value ? value : "");
      return FALSE;
    }
  *out = x;
  return TRUE;
}

static gboolean
parse_int (const char *key, const char *value, gint64 *out, GError **error)
{
  gint64 x;
  g_autoptr (GError) local = NULL;
  if (value == NULL || !g_ascii_string_to_signed (value, 10, G_MININT64, G_MAXINT64, &x, &local))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "%s: '%s' is not an integer", key,
                   value ? value : "");
      return FALSE;
    }
  *out = x;
  return TRUE;
}

static gboolean
bad_value (GError **error, const char *key, double value, const char *rule)
{
  g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "%s = %g: %s", key, value, rule);
  return FALSE;
}

/* ---- optimizer configuration ------------------------------------------------------- */

void
lm_optim_config_init (LmOptimConfig *config, LmOptimKind kind)
{
  memset (config, 0, sizeof *config);
  config->kind = kind;
  config->lr = kind == LM_OPTIM_SGD || kind == LM_OPTIM_MOMENTUM ? 0.1f
               : kind == LM_OPTIM_ADAGRAD                        ? 0.01f
                                                                 : 1e-3f;
  config->momentum = 0.9f;
  config->beta1 = 0.9f;
  config->beta2 = 0.999f;
  config->alpha = 0.99f;
  config->eps = kind == LM_OPTIM_ADAGRAD ? 1e-10f : 1e-8f;
  config->weight_decay = kind == LM_OPTIM_ADAMW ? 0.01f : 0.0f;
}

gboolean
lm_optim_config_check (const LmOptimConfig *config, GError **error)
{
  if ((guint)config->kind >= G_N_ELEMENTS (optim_names))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "unknown optimizer kind %d",
                   (int)config->kind);
      return FALSE;
    }
  /* written as !(x >= 0) so that NaN fails too */
  if (!(config->lr >= 0.0f) || !isfinite (config->lr))
    return bad_value (error, "lr", config->lr, "the learning rate must be finite and >= 0");
  if (!(config->momentum >= 0.0f && config->momentum < 1.0f))
    return bad_value (error, "momentum", config->momentum, "must be in [0, 1)");
  if (!(config->beta1 >= 0.0f && config->beta1 < 1.0f))
    return bad_value (error, "beta1", config->beta1, "must be in [0, 1)");
  if (!(config->beta2 >= 0.0f && config->beta2 < 1.0f))
    return bad_value (error, "beta2", config->beta2, "must be in [0, 1)");
  if (!(config->alpha >= 0.0f && config->alpha < 1.0f))
    return bad_value (error, "alpha", config->alpha, "must be in [0, 1)");
  if (!(config->eps > 0.0f) || !isfinite (config->eps))
    return bad_value (error, "eps", config->eps, "must be finite and > 0");
  if (!(config->weight_decay >= 0.0f) || !isfinite (config->weight_decay))
    return bad_value (error, "weight_decay", config->weight_decay, "must be finite and >= 0");
  return TRUE;
}

/* The settable fields, by name; bit i of explicit_fields marks optim_fields[i]. */
static const struct
{
  const char *name;
  gsize offset;
} optim_fields[] = {
  { "lr", G_STRUCT_OFFSET (LmOptimConfig, lr) },
  { "momentum", G_STRUCT_OFFSET (LmOptimConfig, momentum) },
  { "beta1", G_STRUCT_OFFSET (LmOptimConfig, beta1) },
  { "beta2", G_STRUCT_OFFSET (LmOptimConfig, beta2) },
  { "alpha", G_STRUCT_OFFSET (LmOptimConfig, alpha) },
  { "eps", G_STRUCT_OFFSET (LmOptimConfig, eps) },
  { "weight_decay", G_STRUCT_OFFSET (LmOptimConfig, weight_decay) },
};

#define FIELD(type, base, offset) ((type *)(gpointer)((char *)(base) + (offset)))

gboolean
lm_optim_config_set (LmOptimConfig *config, const char *key, const char *value, GError **error)
{
  if (g_strcmp0 (key, "optimizer") == 0)
    {
      LmOptimKind kind;
      if (!lm_optim_kind_from_name (value, &kind, error))
        return FALSE;
      /* the new kind's defaults, except for what was set explicitly */
      LmOptimConfig old = *config;
      lm_optim_config_init (config, kind);
      for (guint i = 0; i < G_N_ELEMENTS (optim_fields); i++)
        if (old.explicit_fields & (1u << i))
          *FIELD (float, config, optim_fields[i].offset)
              = *FIELD (float, &old, optim_fields[i].offset);
      config->explicit_fields = old.explicit_fields;
      return TRUE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (optim_fields); i++)
    if (g_strcmp0 (key, optim_fields[i].name) == 0)
      {
        double x;
        if (!parse_double (key, value, &x, error))
          return FALSE;
        LmOptimConfig trial = *config;
        *FIELD (float, &trial, optim_fields[i].offset) = (float)x;
        if (!lm_optim_config_check (&trial, error))
          return FALSE;
        *config = trial;
        config->explicit_fields |= 1u << i;
        return TRUE;
      }
  g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
               "unknown optimizer setting '%s': use optimizer, lr, momentum, beta1, beta2, "
               "alpha, eps or weight_decay",
               key ? key : "");
  return FALSE;
}

/* ---- optimizer -------------------------------------------------------------------- */

int
lm_optim_kind_n_states (LmOptimKind kind)
{
  switch (kind)
    {
    case LM_OPTIM_SGD:
      return 0;
    case LM_OPTIM_MOMENTUM:
    case LM_OPTIM_ADAGRAD:
    case LM_OPTIM_RMSPROP:
      return 1;
    case LM_OPTIM_ADAM:
    case LM_OPTIM_ADAMW:
      return 2;
    default:
      g_return_val_if_reached (0);
    }
}

static float *
state_buffer (gsize n)
{
  return lm_memory_zeroed (n * sizeof (float));
}

LmOptimizer *
lm_optimizer_new (const LmOptimConfig *config, const LmParams *params, GError **error)
{
  g_return_val_if_fail (config != NULL && params != NULL, NULL);
  if (!lm_optim_config_check (config, error))
    {
      g_prefix_error (error, "optimizer %s: ", lm_optim_kind_name (config->kind));
      return NULL;
    }
  g_autoptr (LmOptimizer) optimizer = g_new0 (LmOptimizer, 1);
  optimizer->config = *config;
  optimizer->n_floats = params->n_floats;
  /* m is the momentum buffer or Adam's first moment; v the squares (Adagrad, RMSprop
   * and Adam keep theirs in v so "v" always means a second moment) */
  int n_states = lm_optim_kind_n_states (config->kind);
  double bytes = (double) n_states * params->n_floats * sizeof (float);
  if (!lm_memory_fits (bytes))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "the %s optimizer's state needs %.1f MiB, more than the %.1f MiB of "
                   "memory available: use a smaller model or optimizer=sgd",
                   lm_optim_kind_name (config->kind), bytes / 1048576.0,
                   lm_memory_available () / 1048576.0);
      return NULL;
    }
  gboolean wants_m = config->kind == LM_OPTIM_MOMENTUM || n_states == 2;
  gboolean wants_v
      = n_states == 2 || config->kind == LM_OPTIM_ADAGRAD || config->kind == LM_OPTIM_RMSPROP;
  if ((wants_m && !(optimizer->m = state_buffer (params->n_floats)))
      || (wants_v && !(optimizer->v = state_buffer (params->n_floats))))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_NO_MEMORY,
                   "cannot allocate %.1f MiB of %s optimizer state",
                   n_states * params->n_floats * sizeof (float) / (1024.0 * 1024.0),
                   lm_optim_kind_name (config->kind));
      return NULL;
    }
  return g_steal_pointer (&optimizer);
}

void
lm_optimizer_free (LmOptimizer *optimizer)
{
  if (optimizer == NULL)
    return;
  free (optimizer->m);
  free (optimizer->v);
  g_free (optimizer);
}

void
lm_optimizer_reset (LmOptimizer *optimizer)
{
  optimizer->step = 0;
  if (optimizer->m)
    memset (optimizer->m, 0, optimizer->n_floats * sizeof (float));
  if (optimizer->v)
    memset (optimizer->v, 0, optimizer->n_floats * sizeof (float));
}

/* One tensor's update; p, g, m, v point at the view's first float, n its size, wd the
 * weight decay that applies to it (0 for biases and norm gains). Instantiated for AVX2
 * and the baseline (LM_SIMD_DISPATCH): the baseline's SSE2 leaves Adam's square root
 * and division scalar, and the step took a tenth of a B1 transformer step. */
static LM_ALWAYS_INLINE void
update_view_body (const LmOptimConfig *c, LmOptimKind kind, float lr, float wd, gint64 t,
                  float *restrict p, const float *restrict g, float gs, float *restrict m,
                  float *restrict v, gsize n)
{
  /* g[i] * gs is the gradient: the clip's factor, applied here rather than in a pass of
   * its own over every gradient (x * 1 == x, so gs = 1 changes nothing) */
  switch (kind)
    {
    case LM_OPTIM_SGD:
      /* p -= lr (g + wd p) */
      LM_SIMD
      for (gsize i = 0; i < n; i++)
        p[i] -= lr * (g[i] * gs + wd * p[i]);
      break;

    case LM_OPTIM_MOMENTUM:
      {
        /* b = mu b + (g + wd p);  p -= lr b   (PyTorch's SGD, dampening 0: the first
         * step gives b = g, the same as starting from b = 0) */
        float mu = c->momentum;
        LM_SIMD
        for (gsize i = 0; i < n; i++)
          {
            m[i] = mu * m[i] + (g[i] * gs + wd * p[i]);
            p[i] -= lr * m[i];
          }
        break;
      }

    case LM_OPTIM_ADAGRAD:
      {
        /* s += g^2;  p -= lr g / (sqrt(s) + eps) */
        float eps = c->eps;
        LM_SIMD
        for (gsize i = 0; i < n; i++)
          {
            float gi = g[i] * gs + wd * p[i];
            v[i] += gi * gi;
            p[i] -= lr * gi / (sqrtf (v[i]) + eps);
          }
        break;
      }

    case LM_OPTIM_RMSPROP:
      {
        /* s = a s + (1 - a) g^2;  p -= lr g / (sqrt(s) + eps) */
        float a = c->alpha, eps = c->eps;
        LM_SIMD
        for (gsize i = 0; i < n; i++)
          {
            float gi = g[i] * gs + wd * p[i];
            v[i] = a * v[i] + (1.0f - a) * gi * gi;
            p[i] -= lr * gi / (sqrtf (v[i]) + eps);
          }
        break;
      }

    case LM_OPTIM_ADAM:
    case LM_OPTIM_ADAMW:
      {
        /* m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
         * p -= lr/(1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
         * which is lr m_hat / (sqrt(v_hat) + eps) arranged as torch.optim.Adam does.
         * Adam folds weight decay into g (L2); AdamW first shrinks the weights
         * p -= lr wd p, decoupled from the adaptive scaling (Loshchilov & Hutter). */
        float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
        double bias1 = 1.0 - pow (b1, (double)t);
        double bias2 = 1.0 - pow (b2, (double)t);
        float step_size = (float)(lr / bias1);
        float inv_sqrt_bias2 = (float)(1.0 / sqrt (bias2));
        float l2 = kind == LM_OPTIM_ADAM ? wd : 0.0f;
        float shrink = kind == LM_OPTIM_ADAMW ? 1.0f - lr * wd : 1.0f;
        LM_SIMD
        for (gsize i = 0; i < n; i++)
          {
            float pi = p[i] * shrink;
            float gi = g[i] * gs + l2 * p[i];
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            p[i] = pi - step_size * m[i] / (sqrtf (v[i]) * inv_sqrt_bias2 + eps);
          }
        break;
      }

    default:
      g_return_if_reached ();
    }
}

LM_SIMD_DISPATCH (update_view, update_view_body,
                  (const LmOptimConfig *c, LmOptimKind kind, float lr, float wd, gint64 t,
                   float *restrict p, const float *restrict g, float gs, float *restrict m,
                   float *restrict v, gsize n),
                  (c, kind, lr, wd, t, p, g, gs, m, v, n))

typedef struct {
  const LmOptimizer *optimizer;
  LmParams *params;
  float lr;
  float grad_scale;
} StepJob;

/* the floats [begin,end) of the step: the part of every view that falls in them */
static void
step_part (gpointer ctx, int part, gsize begin, gsize end)
{
  (void)part;
  const StepJob *job = ctx;
  const LmOptimizer *opt = job->optimizer;
  const LmOptimConfig *c = &opt->config;
  LmParams *params = job->params;
  for (int i = 0; i < params->n_views; i++)
    {
      const LmParamView *view = &params->views[i];
      gsize lo = MAX (begin, view->offset), hi = MIN (end, view->offset + view->size);
      if (lo >= hi)
        continue;
      update_view (c, c->kind, job->lr, view->decay ? c->weight_decay : 0.0f, opt->step,
                   params->data + lo, params->grad + lo, job->grad_scale,
                   opt->m ? opt->m + lo : NULL,
                   opt->v ? opt->v + lo : NULL, hi - lo);
    }
}

/* a piece of the gradient's spans, which lies in one view: the same update, for SGD
 * without weight decay only */
static void
step_piece (gpointer ctx, int part, const LmGradSpan *piece)
{
  (void)part;
  const StepJob *job = ctx;
  const LmOptimizer *opt = job->optimizer;
  const LmOptimConfig *c = &opt->config;
  const gsize at = piece->offset;
  const float wd = job->params->views[piece->view].decay ? c->weight_decay : 0.0f;
  update_view (c, c->kind, job->lr, wd, opt->step, job->params->data + at,
               job->params->grad + at, job->grad_scale, opt->m ? opt->m + at : NULL,
               opt->v ? opt->v + at : NULL, piece->size);
}

void
lm_optimizer_step (LmOptimizer *optimizer, LmParams *params, float lr)
{
  lm_optimizer_step_scaled (optimizer, params, lr, 1.0f);
}

void
lm_optimizer_step_scaled (LmOptimizer *optimizer, LmParams *params, float lr, float grad_scale)
{
  g_return_if_fail (optimizer != NULL && params != NULL && params->data != NULL);
  g_return_if_fail (optimizer->n_floats == params->n_floats);
  optimizer->step++;
  StepJob job = { optimizer, params, lr, grad_scale };
  const LmOptimConfig *c = &optimizer->config;
  /* p -= lr g leaves p alone where g is zero: then only the spans need the pass */
  if (c->kind == LM_OPTIM_SGD && c->weight_decay == 0.0f)
    lm_params_run_spans (params, optimizer->parallel, step_piece, &job);
  else
    lm_parallel_run (optimizer->parallel, step_part, &job, params->n_floats);
}

/* ---- clipping ---------------------------------------------------------------------- */

static double
sum_of_squares (const float *g, gsize n)
{
  double sum = 0.0;
  LM_SIMD_SUM (sum)
  for (gsize i = 0; i < n; i++)
    sum += (double)g[i] * g[i];
  return sum;
}

double
lm_grad_norm (const LmParams *params)
{
  /* padding is zero, so the whole buffer can be summed in one loop */
  return sqrt (sum_of_squares (params->grad, params->n_floats));
}

#define MAX_PARTS 64

typedef struct {
  float *g;
  float factor;
  double sums[MAX_PARTS];
} GradJob;

static void
sum_of_squares_piece (gpointer ctx, int part, const LmGradSpan *piece)
{
  GradJob *job = ctx;
  job->sums[part] += sum_of_squares (job->g + piece->offset, piece->size);
}

static void
scale_piece (gpointer ctx, int part, const LmGradSpan *piece)
{
  (void)part;
  const GradJob *job = ctx;
  float *g = job->g + piece->offset;
  const float c = job->factor;
  LM_SIMD
  for (gsize i = 0; i < piece->size; i++)
    g[i] *= c;
}

double
lm_clip_factor (LmParams *params, double scale, double max_norm, LmParallel *parallel,
                float *factor)
{
  *factor = 1.0f;
  if (lm_parallel_parts (parallel) > MAX_PARTS)
    parallel = NULL;
  GradJob job = { .g = params->grad };
  lm_params_run_spans (params, parallel, sum_of_squares_piece, &job);
  double sum = 0.0;
  for (int k = 0; k < lm_parallel_parts (parallel); k++)
    sum += job.sums[k];
  /* c = max_norm / (||g|| + 1e-6); g *= c when c < 1 (torch.nn.utils.clip_grad_norm_) */
  double total = fabs (scale) * sqrt (sum);
  if (!isfinite (total))
    return total;
  double coef = max_norm > 0.0 ? max_norm / (total + 1e-6) : 1.0;
  *factor = (float)(scale * MIN (coef, 1.0));
  return total;
}

double
lm_scale_clip_grad_norm (LmParams *params, double scale, double max_norm, LmParallel *parallel)
{
  GradJob job = { .g = params->grad };
  double total = lm_clip_factor (params, scale, max_norm, parallel, &job.factor);
  if (job.factor != 1.0f)
    lm_params_run_spans (params, parallel, scale_piece, &job);
  return total;
}

double
lm_clip_grad_norm (LmParams *params, double max_norm)
{
  return lm_scale_clip_grad_norm (params, 1.0, max_norm, NULL);
}

/* ---- schedules --------------------------------------------------------------------- */

void
lm_schedule_init (LmSchedule *schedule, LmScheduleKind kind, double lr)
{
  memset (schedule, 0, sizeof *schedule);
  schedule->kind = kind;
  schedule->lr = lr;
  schedule->gamma = 0.5;
  schedule->factor = 0.5;
  schedule->best = INFINITY;
  schedule->scale = 1.0;
}

double
lm_schedule_lr (const LmSchedule *s, gint64 step, int epoch)
{
  /* Linear warmup for every kind: lr (step + 1) / (warmup + 1), so step 0 already
   * moves and step warmup reaches the full rate (nanoGPT's get_lr). */
  if (step < s->warmup)
    return s->lr * (double)(step + 1) / (double)(s->warmup + 1);

  switch (s->kind)
    {
    case LM_SCHEDULE_CONSTANT:
      return s->lr;

    case LM_SCHEDULE_STEP:
      if (s->step_size > 0)
        /* lr gamma^floor(step / step_size) */
        return s->lr * pow (s->gamma, (double)(step / s->step_size));
      /* lr gamma^max(0, epoch - k): Zaremba et al. keep the rate for the first k epochs
       * and multiply by gamma after each later one */
      return s->lr * pow (s->gamma, (double)MAX (0, (gint64)epoch - s->decay_epoch));

    case LM_SCHEDULE_PLATEAU:
      return MAX (s->lr * s->scale, s->min_lr);

    case LM_SCHEDULE_COSINE:
      {
        /* after decay_steps: min_lr; in between, half a cosine from lr down to min_lr:
         *   r = (step - warmup) / (decay_steps - warmup)
         *   lr(step) = min_lr + (lr - min_lr) (1 + cos(pi r)) / 2 */
        if (step >= s->decay_steps)
          return s->min_lr;
        double ratio = (double)(step - s->warmup) / (double)(s->decay_steps - s->warmup);
        double coeff = 0.5 * (1.0 + cos (G_PI * ratio));
        return s->min_lr + coeff * (s->lr - s->min_lr);
      }

    default:
      g_return_val_if_reached (s->lr);
    }
}

gboolean
lm_schedule_plateau_update (LmSchedule *s, double valid_loss)
{
  if (s->kind != LM_SCHEDULE_PLATEAU)
    return FALSE;
  if (valid_loss < s->best)
    {
      s->best = valid_loss;
      s->bad_evals = 0;
      return FALSE;
    }
  /* not an improvement (NaN included) */
  if (++s->bad_evals <= s->patience)
    return FALSE;
  s->bad_evals = 0;
  s->scale *= s->factor;
  return TRUE;
}

gboolean
lm_schedule_check (const LmSchedule *s, GError **error)
{
  if ((guint)s->kind >= G_N_ELEMENTS (schedule_names))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG, "unknown schedule kind %d",
                   (int)s->kind);
      return FALSE;
    }
  if (!(s->lr >= 0.0) || !isfinite (s->lr))
    return bad_value (error, "lr", s->lr, "the learning rate must be finite and >= 0");
  if (!(s->min_lr >= 0.0) || !isfinite (s->min_lr))
    return bad_value (error, "min_lr", s->min_lr, "must be finite and >= 0");
  if (s->min_lr > s->lr)
    return bad_value (error, "min_lr", s->min_lr, "must not exceed lr");
  if (s->warmup < 0)
    return bad_value (error, "warmup", (double)s->warmup, "must be >= 0");
  if (!(s->gamma > 0.0 && s->gamma <= 1.0))
    return bad_value (error, "gamma", s->gamma, "must be in (0, 1]");
  if (s->step_size < 0)
    return bad_value (error, "step_size", (double)s->step_size, "must be >= 0");
  if (s->decay_epoch < 0)
    return bad_value (error, "decay_epoch", (double)s->decay_epoch, "must be >= 0");
  if (!(s->factor > 0.0 && s->factor <= 1.0))
    return bad_value (error, "factor", s->factor, "must be in (0, 1]");
  if (s->patience < 0)
    return bad_value (error, "patience", (double)s->patience, "must be >= 0");
  if (s->kind == LM_SCHEDULE_COSINE && s->decay_steps <= s->warmup)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "decay_steps = %" G_GINT64_FORMAT ": the cosine schedule needs more "
                   "steps than its warmup (%" G_GINT64_FORMAT ")",
                   s->decay_steps, s->warmup);
      return FALSE;
    }
  return TRUE;
}

static const struct
{
  const char *name;
  gsize offset;
  gboolean integer; /* gint64 when TRUE, double otherwise */
} schedule_fields[] = {
  { "lr", G_STRUCT_OFFSET (LmSchedule, lr), FALSE },
  { "min_lr", G_STRUCT_OFFSET (LmSchedule, min_lr), FALSE },
  { "warmup", G_STRUCT_OFFSET (LmSchedule, warmup), TRUE },
  { "decay_steps", G_STRUCT_OFFSET (LmSchedule, decay_steps), TRUE },
  { "gamma", G_STRUCT_OFFSET (LmSchedule, gamma), FALSE },
  { "step_size", G_STRUCT_OFFSET (LmSchedule, step_size), TRUE },
  { "decay_epoch", G_STRUCT_OFFSET (LmSchedule, decay_epoch), TRUE },
  { "factor", G_STRUCT_OFFSET (LmSchedule, factor), FALSE },
  { "patience", G_STRUCT_OFFSET (LmSchedule, patience), TRUE },
};

gboolean
lm_schedule_set (LmSchedule *s, const char *key, const char *value, GError **error)
{
  if (g_strcmp0 (key, "schedule") == 0)
    {
      LmScheduleKind kind;
      if (!lm_schedule_kind_from_name (value, &kind, error))
        return FALSE;
      LmSchedule old = *s;
      lm_schedule_init (s, kind, old.lr);
      for (guint i = 0; i < G_N_ELEMENTS (schedule_fields); i++)
        if (old.explicit_fields & (1u << i))
          memcpy ((char *)s + schedule_fields[i].offset,
                  (const char *)&old + schedule_fields[i].offset, 8);
      s->explicit_fields = old.explicit_fields;
      return TRUE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (schedule_fields); i++)
    {
      if (g_strcmp0 (key, schedule_fields[i].name) != 0)
        continue;
      if (schedule_fields[i].integer)
        {
          gint64 n;
          if (!parse_int (key, value, &n, error))
            return FALSE;
          if (n < 0)
            return bad_value (error, key, (double)n, "must be >= 0");
          *FIELD (gint64, s, schedule_fields[i].offset) = n;
        }
      else
        {
          double x;
          if (!parse_double (key, value, &x, error))
            return FALSE;
          if (x < 0.0)
            return bad_value (error, key, x, "must be >= 0");
          *FIELD (double, s, schedule_fields[i].offset) = x;
        }
      s->explicit_fields |= 1u << i;
      return TRUE;
    }
  g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
               "unknown schedule setting '%s': use schedule, lr, min_lr, warmup, "
               "decay_steps, gamma, step_size, decay_epoch, factor or patience",
               key ? key : "");
  return FALSE;
}
