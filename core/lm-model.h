/* lm-model.h — the interface every language model implements.
 *
 * A model folder exports exactly one `const LmModelClass`: a table of functions
 * registered by name (core/lm-registry.c). The class declares capabilities; the
 * registry checks that every function a capability promises is present, so a missing
 * backward pass is caught at start-up (and in a test), never called.
 *
 * Token streams follow one convention for every model: tokens[i] is scored given
 * <s> followed by tokens[0..i-1]. At word level every line ends in </s>; a count-based
 * model restarts its context at <s> after each </s> (as KenLM's query does), a neural
 * model may carry its state across. Every model scores exactly the same tokens.
 * All log-probabilities are natural logs.
 *
 * Shape legend: B batch, T time, V vocabulary.
 */
#pragma once

#include <glib.h>

#include "core/lm-checkpoint.h"
#include "core/lm-config.h"
#include "core/lm-rng.h"
#include "core/lm-vocab.h"

G_BEGIN_DECLS

typedef struct _LmModel LmModel;
typedef struct _LmModelClass LmModelClass;
typedef struct _LmState LmState;   /* a model's own streaming state, opaque */
typedef struct _LmParams LmParams; /* core/lm-params.h */

typedef enum {
  LM_CAP_FIT = 1 << 0,      /* count-based: one pass over the training stream */
  LM_CAP_GRADIENT = 1 << 1, /* parameters + forward/backward on (B,T) batches */
  LM_CAP_SCORE = 1 << 2,    /* batched scoring of a token stream */
  LM_CAP_STREAM = 1 << 3,   /* state: begin, step, next-token log-probs, copy */
  LM_CAP_SAVE = 1 << 4,     /* save / load through a checkpoint */
} LmCapability;

/* What describe() reports, for the summary and the report. */
typedef struct {
  guint64 n_params;         /* trainable parameters, or stored n-grams for count models */
  guint64 bytes;            /* memory the model's tables / parameters take */
  double forward_flops;     /* per token, forward pass (training ~ 3x) */
  char *summary;            /* one line of hyperparameters; g_free it */
} LmModelInfo;

/* One (B,T) batch for gradient training or loss evaluation. */
typedef struct {
  const gint32 *inputs;  /* (B,T) */
  const gint32 *targets; /* (B,T) */
  int B, T;
  gboolean training;     /* dropout on */
  LmRng *rng;            /* dropout masks (training only) */
} LmBatch;

/* What score() writes per token; logprob is required, the rest may be NULL. */
typedef struct {
  double *logprob;   /* [n] ln p(token_i | history) */
  gint32 *predicted; /* [n] most probable next token (argmax) */
  guint8 *rank;      /* [n] rank of the true token (0 = top-1), saturating at 255 */
} LmScoreOutput;

/* Progress callback for long passes (fit, score): done of total units. */
typedef void (*LmProgressFunc) (guint64 done, guint64 total, gpointer user_data);

struct _LmModel {
  const LmModelClass *klass;
  LmVocab *vocab;    /* a reference held by the model */
  LmConfig *config;  /* validated copy, owned */
};

struct _LmModelClass {
  const char *name;          /* "ngram", "lstm", ... */
  const char *description;   /* one line for --help */
  guint capabilities;        /* LmCapability bits */
  const LmOptionSpec *options; /* the keys this model understands */

  /* lifecycle (always) -------------------------------------------------------- */
  /* config has passed lm_config_validate with options (and the trainer's keys). Must
   * set model->klass/vocab/config via lm_model_init. */
  LmModel *(*create)   (const LmConfig *config, LmVocab *vocab, GError **error);
  void     (*destroy)  (LmModel *model);
  void     (*describe) (LmModel *model, LmModelInfo *info);

  /* LM_CAP_FIT ---------------------------------------------------------------- */
  gboolean (*fit) (LmModel *model, const gint32 *tokens, gsize n_tokens,
                   LmProgressFunc progress, gpointer user_data, GError **error);

  /* LM_CAP_GRADIENT ------------------------------------------------------------ */
  LmParams *(*parameters) (LmModel *model);
  /* Allocate activations for batches up to (B,T); fails cleanly when too large. */
  gboolean (*prepare)     (LmModel *model, int B, int T, GError **error);
  /* Mean nats per target token of the batch; keeps what backward needs. A recurrent
   * model starts from its carried state and leaves the final state carried. */
  float    (*forward)     (LmModel *model, const LmBatch *batch);
  /* Accumulate d(mean loss)/d(parameters) into the parameters' gradient. */
  void     (*backward)    (LmModel *model, const LmBatch *batch);
  /* Forget the carried state (start of an epoch or of a new stream). */
  void     (*reset_state) (LmModel *model);
  /* Optional: the state carried between batches as one float buffer (NULL when the model
   * carries none, e.g. a transformer). The trainer saves and restores it so a resumed run
   * continues bit-exactly, and picks contiguous-stream batching when it is present. */
  float   *(*carried_state) (LmModel *model, gsize *n_floats);

  /* LM_CAP_SCORE ---------------------------------------------------------------- */
  gboolean (*score) (LmModel *model, const gint32 *tokens, gsize n_tokens,
                     LmScoreOutput *out, LmProgressFunc progress, gpointer user_data,
                     GError **error);

  /* LM_CAP_STREAM --------------------------------------------------------------- */
  LmState *(*state_new)  (LmModel *model);
  void     (*state_free) (LmModel *model, LmState *state);
  void     (*state_copy) (LmModel *model, LmState *dst, const LmState *src);
  void     (*state_begin)(LmModel *model, LmState *state);              /* history = <s> */
  void     (*state_step) (LmModel *model, LmState *state, gint32 token); /* append token */
  /* ln p(next = v | history) for all V ids (sums to one over v). */
  void     (*state_logprobs) (LmModel *model, LmState *state, float *logprobs);

  /* LM_CAP_SAVE ----------------------------------------------------------------- */
  gboolean (*save) (LmModel *model, LmCheckpointWriter *writer, GError **error);
  /* Fill a freshly created model from a checkpoint it wrote. */
  gboolean (*load) (LmModel *model, const LmCheckpoint *checkpoint, GError **error);
};

/* Keys every model accepts: seed, threads. */
extern const LmOptionSpec lm_model_common_options[];

/* For create(): set the base fields (takes a vocab reference, copies the config). */
void      lm_model_init   (LmModel *model, const LmModelClass *klass, const LmConfig *config,
                           LmVocab *vocab);
/* For destroy(): release the base fields. */
void      lm_model_clear  (LmModel *model);

/* Validate config against the class's options (and, for gradient models, the trainer's)
 * then create. */
LmModel  *lm_model_new    (const LmModelClass *klass, LmConfig *config, LmVocab *vocab,
                           GError **error);
void      lm_model_free   (LmModel *model);
gboolean  lm_model_has    (const LmModel *model, LmCapability capability);
void      lm_model_describe (LmModel *model, LmModelInfo *info);
void      lm_model_info_clear (LmModelInfo *info);
guint32   lm_model_vocab_size (const LmModel *model);

/* Checked wrappers: fail with LM_ERROR_UNSUPPORTED when the capability is absent. */
gboolean  lm_model_fit    (LmModel *model, const gint32 *tokens, gsize n_tokens,
                           LmProgressFunc progress, gpointer user_data, GError **error);
gboolean  lm_model_score  (LmModel *model, const gint32 *tokens, gsize n_tokens,
                           LmScoreOutput *out, LmProgressFunc progress, gpointer user_data,
                           GError **error);

/* Save a whole model (class name, config, vocabulary and the model's own sections) to
 * path atomically; load it back, checking everything. */
gboolean  lm_model_save   (LmModel *model, const char *path, GError **error);
LmModel  *lm_model_load   (const char *path, GError **error);
/* Load with some keys changed: only keys whose spec is marked runtime (how to evaluate,
 * threads); any other is LM_ERROR_INVALID_CONFIG listing what may change. */
LmModel  *lm_model_load_with (const char *path, const LmConfig *overrides, GError **error);

/* The pieces of save/load, for files that hold more than a model (the trainer adds its
 * state to the same checkpoint). write: class name, config, vocabulary and the model's
 * own sections, not committed. read: into an existing model; the checkpoint's class must
 * be the model's (LM_ERROR_MISMATCH) and its vocabulary equal (LM_ERROR_MISMATCH). */
gboolean  lm_model_write_sections (LmModel *model, LmCheckpointWriter *writer, GError **error);
gboolean  lm_model_read_sections  (LmModel *model, const LmCheckpoint *checkpoint,
                                   GError **error);

/* Check that a class provides every function its capabilities promise. */
gboolean  lm_model_class_validate (const LmModelClass *klass, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmModel, lm_model_free)

G_END_DECLS
