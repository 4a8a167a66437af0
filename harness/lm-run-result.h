/* lm-run-result.h — what one run of a comparison measured, and its files.
 *
 * A run writes runs/NAME/result.json LAST, atomically: its presence means the run
 * finished, so a comparison run again reuses it. The same file is read back here (a flat
 * JSON object: strings, numbers, booleans, null). Per-token natural log-probabilities of
 * the validation and test streams are kept in binary files for interpolation:
 *   "LMLNP001" (8 bytes), n (guint64, native order), n doubles.
 */
#pragma once

#include <glib.h>

#include "core/lm-eval.h"

G_BEGIN_DECLS

typedef struct {
  char *name;              /* the run's name */
  char *model;             /* class name */
  char *summary;           /* one line of hyperparameters (describe) */
  char *vocab_fingerprint; /* 16 hex digits */
  char *corpus_digest;     /* SHA-256 of the split's token streams (hex) */
  char *blas_kernel;
  gint64 threads;

  gint64 params;           /* trainable parameters (or stored n-grams) */
  gint64 model_bytes;      /* memory of the tables / parameters */
  gint64 model_file_bytes; /* size of model.ckpt (0 when the model cannot be saved) */
  double forward_flops;    /* per token */

  gint64 steps, epochs, train_tokens;
  double train_seconds, train_tokens_per_s, train_loss;
  gboolean resumed, stopped_early;
  gint64 nonfinite_steps;

  gboolean has_valid, has_test;
  LmEvalResult valid, test;
  double eval_seconds;     /* scoring the test stream */
  double eval_tokens_per_s;

  gint64 gen_sentences;    /* continuations generated (0: none) */
  gint64 gen_tokens;       /* tokens generated */
  double gen_seconds;
  double bleu;             /* corpus BLEU-4 in [0, 1]; NaN without generation */
  double bleu_brevity_penalty;
  double rouge1_f1, rouge2_f1, rougeL_f1; /* macro-averaged, in [0, 1] */

  double peak_rss_mib;     /* the run's process, corpus included */
} LmRunResult;

void     lm_run_result_init  (LmRunResult *result);  /* numbers NaN / 0, strings NULL */
void     lm_run_result_clear (LmRunResult *result);
char    *lm_run_result_to_json (const LmRunResult *result);
/* Write atomically to path. */
gboolean lm_run_result_save (const LmRunResult *result, const char *path, GError **error);
gboolean lm_run_result_load (LmRunResult *result, const char *path, GError **error);

/* ---- a flat JSON object ---------------------------------------------------------- */

/* Parse {"key": value, ...} with string, number, true/false and null values into a
 * table of key -> text (strings unescaped, numbers as written, null as NULL value). */
GHashTable *lm_flat_json_parse (const char *text, const char *name, GError **error);

/* ---- per-token log-probabilities --------------------------------------------------- */

gboolean lm_logprobs_save (const char *path, const double *logprobs, gsize n, GError **error);
/* Returns a new array of *n doubles. */
double  *lm_logprobs_load (const char *path, gsize *n, GError **error);

G_END_DECLS
