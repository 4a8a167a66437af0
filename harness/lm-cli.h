/* lm-cli.h — shared pieces of the lmlab command (not a library API). */
#pragma once

#include <glib.h>

#include "core/lm-config.h"

G_BEGIN_DECLS

typedef struct {
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv); /* argv[0] is "lmlab NAME" */
} LmCommand;

/* Report error on stderr as one "lmlab: ..." line and return its exit status (1 or 2). */
int   lm_cli_fail (const char *command, GError *error);
/* Parse options; on a bad option print one line naming it and return FALSE. */
gboolean lm_cli_parse (GOptionContext *context, int *argc, char ***argv, const char *command,
                       int *status);
/* Whether path may be written as an output file (0) or not (2, after one line on
 * stderr): an existing path must be a regular file, replaced only with force, and its
 * folder must exist. Checked before the work that makes the file. */
int lm_cli_check_output_file (const char *command, const char *path, gboolean force);
/* Warn once on stderr when OpenBLAS runs a generic fallback kernel, with the fix. */
void  lm_cli_blas_warning (void);
/* 1234567 -> "1,234,567" (caller frees). */
char *lm_cli_thousands (guint64 value);

/* Peak resident memory of this process so far, MiB. */
double lm_cli_peak_rss_mib (void);
/* Read the [group] of an INI file into config (origins FILE:LINE). */
gboolean lm_cli_config_from_ini (LmConfig *config, const char *path, const char *group,
                                 GError **error);

/* Load DIR/model.ckpt with messages that say what to do when it is missing. */
struct _LmModel *lm_cli_load_model_dir (const char *dir, GError **error);
/* The same with --set KEY=VALUE overrides of runtime keys (NULL-terminated, may be NULL). */
struct _LmModel *lm_cli_load_model_dir_with (const char *dir, char **sets, GError **error);

int lm_cmd_corpus (int argc, char **argv);
int lm_cmd_ngram (int argc, char **argv);
int lm_cmd_train (int argc, char **argv);
int lm_cmd_eval (int argc, char **argv);
int lm_cmd_generate (int argc, char **argv);
int lm_cmd_metrics (int argc, char **argv);
int lm_cmd_compare (int argc, char **argv);
int lm_cmd_plot (int argc, char **argv);

G_END_DECLS
