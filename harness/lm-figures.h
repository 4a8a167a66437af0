/* lm-figures.h — a comparison's figures as gnuplot scripts with their data files.
 *
 * Every figure is RUN_DIR/figures/NAME.gp next to NAME.dat (tab-separated, a header
 * line, one block per model where it draws lines); rendering runs gnuplot in the figures
 * folder and writes NAME.png and NAME.svg beside them. A user restyles a figure by
 * editing its .gp and running `gnuplot NAME.gp` there, or `lmlab plot RUN_DIR`.
 */
#pragma once

#include <glib.h>

#include "harness/lm-compare.h"

G_BEGIN_DECLS

/* The figures, in report order: file name and caption. */
typedef struct {
  const char *name;
  const char *caption;
} LmFigure;

/* Write every figure's .gp and .dat; *figures (optional) receives the ones written (an
 * array of LmFigure, static strings; free the array). */
gboolean lm_figures_write (const LmComparison *comparison, GArray **figures, GError **error);

/* The gnuplot program ($LMLAB_GNUPLOT, else gnuplot on PATH), or NULL. */
char *lm_figures_gnuplot (void);

/* Render every figures/ *.gp of run_dir (PNG + SVG). No gnuplot: LM_ERROR_UNSUPPORTED
 * saying how to install it. A script gnuplot rejects: LM_ERROR_FAILED with its message. */
gboolean lm_figures_render (const char *run_dir, guint *n_rendered, GError **error);

G_END_DECLS
