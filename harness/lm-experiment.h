/* lm-experiment.h — an experiment file: one corpus, several runs (model + hyperparameters).
 *
 *   [experiment]
 *   train = ../data/kjv.txt       # paths relative to the file's folder; train omitted: the
 *   level = word                  #   default corpus (lm_default_corpus_path)
 *   valid_fraction = 0.1          # + test_fraction, split, min_count, max_vocab
 *   seed = 1                      # + threads, prompt_tokens, gen_sentences, temperature,
 *   interpolate = all             #   interpolate (run names, "all" or "none")
 *   seconds = 30                  # any other key: a default for every run that accepts it
 *
 *   [run lstm]
 *   model = lstm
 *   hidden = 128
 *
 * Every error names FILE:LINE: GKeyFile gives no line numbers, so the text is scanned once
 * for them (and for syntax GKeyFile would only describe vaguely). Hyperparameters are
 * validated against the model class's and the trainer's tables before any corpus is read.
 */
#pragma once

#include <glib.h>

#include "core/lm-config.h"
#include "core/lm-model.h"
#include "core/lm-vocab.h"

G_BEGIN_DECLS

/* The keys of [experiment] besides the corpus keys (lm_corpus_options). */
extern const LmOptionSpec lm_experiment_options[];

typedef struct {
  char *name;                 /* from [run NAME] */
  const LmModelClass *klass;  /* looked up by the `model` key */
  LmConfig *config;           /* validated: the class's keys, the trainer's, seed, threads */
  char *origin;               /* FILE:LINE of the [run NAME] header */
} LmExperimentRun;

typedef struct {
  char *path;           /* the file as given ("built-in default" for the default) */
  char *name;           /* [experiment] name, or the file's base name without .ini */
  char *train_path;     /* resolved (absolute or relative to the working directory) */
  char *valid_path;     /* NULL: a fraction of train */
  char *test_path;      /* NULL: a fraction of train */
  LmLevel level;
  LmConfig *corpus;     /* lm_corpus_options, validated */
  LmConfig *settings;   /* lm_experiment_options, validated */
  GPtrArray *runs;      /* LmExperimentRun *, in file order */
  GPtrArray *notes;     /* char *: runs skipped (family not built in yet) */
  char **interpolate;   /* run names to interpolate (NULL or empty: none) */
} LmExperiment;

/* Look up a model class by name; lm_registry_lookup by default (tests add their own). */
typedef const LmModelClass *(*LmModelLookupFunc) (const char *name, GError **error);

typedef struct {
  LmModelLookupFunc lookup;   /* NULL: lm_registry_lookup */
  gboolean skip_unknown;      /* unknown models become notes instead of errors (default run) */
} LmExperimentParseOptions;

/* Parse text as the experiment file path (relative paths are resolved against path's
 * folder). Errors are LM_ERROR_INVALID_CONFIG (or LM_ERROR_IO for a missing corpus file)
 * with a message that begins "FILE:LINE: ". */
LmExperiment *lm_experiment_parse (const char *path, const char *text,
                                   const LmExperimentParseOptions *options, GError **error);
LmExperiment *lm_experiment_load (const char *path, const LmExperimentParseOptions *options,
                                  GError **error);
void lm_experiment_free (LmExperiment *experiment);

/* The built-in default experiment (the text of examples/kjv-default.ini). */
const char *lm_experiment_default_text (void);

/* The experiment as run: every key resolved (paths absolute, defaults filled), in a form
 * lm_experiment_parse reads back. */
char *lm_experiment_to_ini (const LmExperiment *experiment);

/* Convenience getters for settings. */
gint64 lm_experiment_int (const LmExperiment *experiment, const char *key);
double lm_experiment_double (const LmExperiment *experiment, const char *key);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmExperiment, lm_experiment_free)

G_END_DECLS
