/* lm-report.h — what a comparison leaves for people: summaries, samples, the report.
 *
 * Written into the run directory:
 *   environment.json  lmlab version and commit, compiler, BLAS kernel and threads, CPU, date
 *   summary.tsv       one row per run (and one for the interpolated mixture), units in the
 *                     column names; summary.json the same as JSON; summary.md as tables
 *   samples.md        held-out prompts, the true continuation and every model's
 *   report.md, report.html   setup, tables, figures, samples: a report to paste
 * Every number carries its unit.
 */
#pragma once

#include <glib.h>

#include "harness/lm-compare.h"

G_BEGIN_DECLS

typedef struct {
  const char *command;   /* the command line that made the comparison (for the report) */
  GArray *figures;       /* LmFigure written by lm_figures_write (NULL: none) */
  gboolean rendered;     /* the PNGs exist (else the report links the scripts) */
} LmReportOptions;

gboolean lm_report_write (const LmComparison *comparison, const LmReportOptions *options,
                          GError **error);

/* The environment stamp as JSON (caller frees). */
char *lm_report_environment_json (const char *command);

/* A plain-text table of the results for a terminal (caller frees). */
char *lm_report_text_table (const LmComparison *comparison);

G_END_DECLS
