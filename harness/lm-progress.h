/* lm-progress.h — progress on stderr: a redrawn bar on a terminal, plain log lines
 * (at most one every few seconds) otherwise. */
#pragma once

#include <glib.h>

#include "core/lm-train.h"

G_BEGIN_DECLS

typedef struct {
  char *label;        /* "lstm", "ngram fit", ... */
  gboolean tty;       /* stderr is a terminal */
  gboolean quiet;
  gint64 started;     /* monotonic microseconds */
  gint64 last_draw;
  gboolean drawn;     /* a bar is on the current line */
} LmProgress;

void lm_progress_init   (LmProgress *progress, const char *label, gboolean quiet);
void lm_progress_clear  (LmProgress *progress);
/* Finish the current bar line (before printing anything else on stderr). */
void lm_progress_done   (LmProgress *progress);
/* For LmProgressFunc (fit, score): user_data is an LmProgress. */
void lm_progress_units  (guint64 done, guint64 total, gpointer user_data);
/* For LmTrainProgressFunc: user_data is an LmProgress. */
void lm_progress_train  (const LmTrainProgress *p, gpointer user_data);
/* "1:23:45" / "4:05" / "12s" (caller frees). */
char *lm_progress_format_duration (double seconds);

G_END_DECLS
