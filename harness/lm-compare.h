/* lm-compare.h — running an experiment: every run on the same corpus, each in its own
 * process, results kept in a run directory so a second invocation reuses and resumes.
 *
 * The corpus is loaded once (one vocabulary, one split, one test token stream for every
 * run). Each run then forks a child that trains (lm_model_fit, or lm_train_run with a
 * checkpoint it resumes from), saves the model, scores the validation and test streams
 * (keeping every token's ln p for interpolation), continues held-out test sentences
 * greedily for BLEU/ROUGE and writes runs/NAME/result.json last. A child that crashes is
 * reported as a failed run; the others go on. The parent reads the results back and
 * interpolates the runs the experiment names (weights by EM on validation).
 *
 * RUN_DIR/
 *   experiment.ini   the experiment as run (every key resolved)
 *   corpus.json      the split's fingerprint: a directory made for another corpus or
 *                    vocabulary is refused (LM_ERROR_MISMATCH), never mixed
 *   runs/NAME/       config.txt, train.ckpt (while training), metrics.tsv, model.ckpt,
 *                    valid.lnp, test.lnp, samples.tsv, error.txt (a failed attempt),
 *                    result.json (written last: the run finished)
 *   interpolation.json
 */
#pragma once

#include <glib.h>

#include "core/lm-corpus.h"
#include "core/lm-train.h"
#include "harness/lm-experiment.h"
#include "harness/lm-run-result.h"

G_BEGIN_DECLS

typedef struct {
  LmLevel level;
  guint32 vocab_size;
  char *vocab_fingerprint;           /* 16 hex digits */
  char *digest;                      /* SHA-256 of the three token streams (hex) */
  guint64 tokens[LM_N_PARTS];
  guint64 oov[LM_N_PARTS];
  guint64 chars[LM_N_PARTS];
  char *paths[LM_N_PARTS];           /* where each part came from ("FILE[valid]" for a split) */
} LmCorpusStamp;

typedef enum {
  LM_RUN_PENDING,   /* not run (the comparison was interrupted first) */
  LM_RUN_FINISHED,  /* ran now */
  LM_RUN_REUSED,    /* result.json from an earlier invocation */
  LM_RUN_FAILED,    /* error or crash; see error */
} LmRunStatus;

typedef struct {
  const LmExperimentRun *run; /* the experiment's */
  LmRunStatus status;
  char *error;                /* LM_RUN_FAILED: what happened */
  LmRunResult result;         /* LM_RUN_FINISHED / LM_RUN_REUSED */
  double wall_seconds;        /* the child process, this invocation */
} LmCompareRun;

typedef struct {
  char **names;               /* the runs mixed */
  guint n;
  double *weights;            /* by EM on validation, sum 1 */
  guint iterations;
  double valid_nats_per_token;
  double test_nats_per_token, test_perplexity, test_bits_per_token, test_bits_per_char;
  guint64 test_tokens;
  char *error;                /* why it could not be computed (then the numbers are NaN) */
} LmInterpolation;

typedef struct {
  const LmExperiment *experiment;
  char *run_dir;
  LmCorpusStamp corpus;
  GPtrArray *runs;            /* LmCompareRun *, in experiment order */
  LmInterpolation *interpolation; /* NULL when the experiment mixes nothing */
  gboolean cancelled;         /* stopped by the cancel flag: results are partial */
  double seconds;             /* wall-clock of this invocation */
} LmComparison;

typedef enum {
  LM_COMPARE_EVENT_CORPUS,    /* parent: the corpus is loaded (comparison->corpus) */
  LM_COMPARE_EVENT_RUN_START, /* parent: run index starts (resuming: resumed is TRUE) */
  LM_COMPARE_EVENT_PHASE,     /* child: entering phase ("fit", "train", "valid", "test",
                               * "generate") */
  LM_COMPARE_EVENT_RUN_END,   /* parent: run index finished, was reused or failed */
} LmCompareEventKind;

typedef struct {
  LmCompareEventKind kind;
  const LmComparison *comparison;
  guint index, n_runs;
  const LmExperimentRun *run;
  const LmCompareRun *outcome; /* RUN_END */
  const char *phase;           /* PHASE */
  gboolean resumed;            /* RUN_START: a checkpoint of an interrupted attempt exists */
} LmCompareEvent;

typedef struct {
  void (*event) (const LmCompareEvent *event, gpointer user_data);
  LmTrainProgressFunc train_progress; /* called in the child while training */
  LmProgressFunc units_progress;      /* called in the child while fitting / scoring */
  gpointer user_data;
  const gint *cancel;         /* non-zero: stop after the current run */
  gboolean in_process;        /* run models in this process (tests: no crash isolation, RSS
                               * is the whole process's) */
} LmCompareHooks;

/* Run (or finish) the experiment into run_dir. A failed run does not fail the call; a
 * corpus that cannot be read, a run directory made for another corpus, vocabulary or
 * configuration (LM_ERROR_MISMATCH) or files that cannot be written do. */
gboolean lm_compare_run (const LmExperiment *experiment, const char *run_dir,
                         const LmCompareHooks *hooks, LmComparison **comparison, GError **error);
void     lm_comparison_free (LmComparison *comparison);

/* A finished or reused run's result, or NULL. */
const LmRunResult *lm_compare_run_result (const LmCompareRun *run);

/* Held-out test sentences continued for BLEU/ROUGE, the same for every run: lines of the
 * test stream (ending in </s> at word level, '\n' otherwise) with more than prompt_tokens
 * tokens, up to max_sentences of them evenly spaced. The continuation (the reference) is
 * the rest of the line without its end, cut at LM_COMPARE_MAX_CONTINUATION tokens.
 * Returns pairs (start, length) into stream->tokens, length including the prompt. */
#define LM_COMPARE_MAX_CONTINUATION 64
GArray *lm_compare_select_sentences (const LmVocab *vocab, const LmTokenStream *stream,
                                     guint prompt_tokens, guint max_sentences);

typedef struct {
  gsize start, length;
} LmSentenceSpan;

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmComparison, lm_comparison_free)

G_END_DECLS
