/* lm-progress.c — progress bars and log lines on stderr. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "harness/lm-progress.h"

#define TTY_REDRAW_US 100000     /* 10 redraws a second at most */
#define LOG_LINE_US 10000000     /* a log line every 10 s when not on a terminal */

void
lm_progress_init (LmProgress *progress, const char *label, gboolean quiet)
{
  progress->label = g_strdup (label);
  progress->tty = isatty (STDERR_FILENO);
  progress->quiet = quiet;
  progress->started = g_get_monotonic_time ();
  progress->last_draw = 0;
  progress->drawn = FALSE;
}

void
lm_progress_clear (LmProgress *progress)
{
  lm_progress_done (progress);
  g_clear_pointer (&progress->label, g_free);
}

void
lm_progress_done (LmProgress *progress)
{
  if (progress->drawn)
    fputc ('\n', stderr);
  progress->drawn = FALSE;
}

char *
lm_progress_format_duration (double seconds)
{
  if (!isfinite (seconds) || seconds < 0)
    return g_strdup ("?");
  long s = lround (seconds);
  if (s >= 3600)
    return g_strdup_printf ("%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  if (s >= 60)
    return g_strdup_printf ("%ld:%02ld", s / 60, s % 60);
  return g_strdup_printf ("%lds", s);
}

static gboolean
due (LmProgress *progress, gboolean force)
{
  gint64 now = g_get_monotonic_time ();
  if (progress->quiet)
    return FALSE;
  if (!force && now - progress->last_draw < (progress->tty ? TTY_REDRAW_US : LOG_LINE_US))
    return FALSE;
  progress->last_draw = now;
  return TRUE;
}

static void
emit (LmProgress *progress, double fraction, const char *text)
{
  if (progress->tty)
    {
      char bar[21];
      int filled = (int) (MIN (MAX (fraction, 0), 1) * 20);
      for (int i = 0; i < 20; i++)
        bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
      bar[20] = '\0';
      fprintf (stderr, "\r\033[K%s [%s] %s", progress->label, bar, text);
      progress->drawn = TRUE;
    }
  else
    fprintf (stderr, "%s: %s\n", progress->label, text);
  fflush (stderr);
}

void
lm_progress_units (guint64 done, guint64 total, gpointer user_data)
{
  LmProgress *progress = user_data;
  if (!due (progress, done == total))
    return;
  double elapsed = (g_get_monotonic_time () - progress->started) / 1e6;
  double fraction = total ? (double) done / total : 0;
  g_autofree char *eta = lm_progress_format_duration (
      fraction > 0 ? elapsed * (1 - fraction) / fraction : NAN);
  g_autofree char *text = g_strdup_printf ("%3.0f%%  ETA %s", 100 * fraction, eta);
  emit (progress, fraction, text);
}

void
lm_progress_train (const LmTrainProgress *p, gpointer user_data)
{
  LmProgress *progress = user_data;
  gboolean force = p->event != LM_TRAIN_EVENT_STEP;
  if (!due (progress, force))
    return;
  g_autofree char *eta = lm_progress_format_duration (p->eta_seconds);
  g_autoptr (GString) text = g_string_new (NULL);
  if (p->total_steps > 0)
    g_string_append_printf (text, "step %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT, p->step,
                            p->total_steps);
  else
    g_string_append_printf (text, "step %" G_GINT64_FORMAT, p->step);
  g_string_append_printf (text, "  epoch %d  %.0f tok/s  loss %.4f", p->epoch, p->tokens_per_s,
                          p->train_loss);
  if (isfinite (p->valid_loss))
    g_string_append_printf (text, "  valid %.4f", p->valid_loss);
  g_string_append_printf (text, "  lr %.3g  ETA %s", p->lr, eta);
  switch (p->event)
    {
    case LM_TRAIN_EVENT_NONFINITE:
      g_string_append (text, "  [non-finite loss: update skipped, lr halved]");
      break;
    case LM_TRAIN_EVENT_ROLLBACK:
      g_string_append (text, "  [rolled back to the last checkpoint]");
      break;
    case LM_TRAIN_EVENT_RESUMED:
      g_string_append (text, "  [resumed from checkpoint]");
      break;
    default:
      break;
    }
  double fraction = p->total_steps > 0 ? (double) p->step / p->total_steps : 0;
  emit (progress, fraction, text->str);
  /* Keep notable events on their own line on a terminal too. */
  if (progress->tty && (p->event == LM_TRAIN_EVENT_NONFINITE || p->event == LM_TRAIN_EVENT_ROLLBACK
                        || p->event == LM_TRAIN_EVENT_RESUMED))
    lm_progress_done (progress);
}
