/* lm-test-util.h — helpers shared by the test programs (header only). */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>

#include "core/lm-corpus.h"
#include "core/lm-error.h"
#include "core/lm-eval.h"
#include "core/lm-model.h"
#include "core/lm-params.h"
#include "core/lm-rng.h"

/* Path of a file under ../shared/data, or NULL after marking the test skipped when the
 * shared corpora are absent (tests must skip cleanly then). Free with g_free. */
static inline char *
lm_test_shared_data (const char *relative)
{
  const char *root = g_getenv ("LMLAB_SHARED_DATA");
  char *path = root ? g_build_filename (root, relative, NULL) : NULL;
  if (path == NULL || !g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_autofree char *msg = g_strdup_printf ("shared corpus %s not found (set LMLAB_SHARED_DATA)",
                                              relative);
      g_test_skip (msg);
      g_free (path);
      return NULL;
    }
  return path;
}

/* A fresh temporary directory for one test; remove with lm_test_rmtree. */
static inline char *
lm_test_tmpdir (void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp ("lmlab-test-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static inline void
lm_test_rmtree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      GDir *dir = g_dir_open (path, 0, NULL);
      const char *name;
      while (dir && (name = g_dir_read_name (dir)))
        {
          char *child = g_build_filename (path, name, NULL);
          lm_test_rmtree (child);
          g_free (child);
        }
      if (dir)
        g_dir_close (dir);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

/* Write text to dir/name and return the path (g_free it). */
static inline char *
lm_test_write (const char *dir, const char *name, const char *data, gssize len)
{
  char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;
  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
  return path;
}

/* ---- gradient checks (shared by the layer and model tests) ----------------------------- */

/* n floats uniform in [-scale, scale) (g_free). Not inlined: GCC's size-range warning
 * misfires when an int count is inlined into g_new. */
G_NO_INLINE G_GNUC_UNUSED static float *
lm_test_random_buffer (LmRng *rng, gsize n, float scale)
{
  float *x = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    x[i] = scale * (2.0f * lm_rng_float (rng) - 1.0f);
  return x;
}

/* sum_i w_i out_i in double: a scalar loss whose gradient w.r.t. out is w. */
static inline double
lm_test_dot (const float *w, const float *out, gsize n)
{
  double sum = 0.0;
  for (gsize i = 0; i < n; i++)
    sum += (double) w[i] * out[i];
  return sum;
}

typedef double (*LmTestLossFunc) (gpointer data);

/* Compare analytic (what backward computed) with central differences of loss over x,
 * element by element, and print a one-line report (llm.c's test_gpt2.c style). Passes
 * when every element has |numeric - analytic| <= atol + rtol max(|numeric|, |analytic|). */
static inline void
lm_test_check_gradient (const char *what, float *x, gsize n, const float *analytic,
                        LmTestLossFunc loss, gpointer data, float h, double atol, double rtol)
{
  double max_abs = 0.0, max_rel = 0.0, worst_num = 0.0, worst_ana = 0.0;
  gboolean ok = TRUE;
  for (gsize j = 0; j < n; j++)
    {
      float saved = x[j];
      float plus = saved + h, minus = saved - h;
      x[j] = plus;
      double l_plus = loss (data);
      x[j] = minus;
      double l_minus = loss (data);
      x[j] = saved;
      /* divide by the step actually taken after float rounding */
      double numeric = (l_plus - l_minus) / ((double) plus - (double) minus);
      double diff = fabs (numeric - analytic[j]);
      double scale = MAX (fabs (numeric), fabs ((double) analytic[j]));
      if (diff > max_abs)
        {
          max_abs = diff;
          worst_num = numeric;
          worst_ana = analytic[j];
        }
      if (scale > 1e-6)
        max_rel = MAX (max_rel, diff / scale);
      if (!(diff <= atol + rtol * scale))
        ok = FALSE;
    }
  g_test_message ("%-28s n=%-5" G_GSIZE_FORMAT " max abs diff %.3e (num %.4e ana %.4e)  "
                  "max rel diff %.3e  %s", what, n, max_abs, worst_num, worst_ana, max_rel,
                  ok ? "ok" : "FAIL");
  if (!ok)
    g_error ("%s: gradient differs from finite differences (max abs %.3e)", what, max_abs);
}

/* ---- running the lmlab command ($LMLAB_BIN) ------------------------------------------------ */

typedef struct {
  int status; /* exit status */
  char *out;  /* stdout */
  char *err;  /* stderr */
} LmTestRun;

static inline void
lm_test_run_clear (LmTestRun *run)
{
  g_free (run->out);
  g_free (run->err);
}

G_GNUC_UNUSED static LmTestRun
lm_test_run_va (const char *first, va_list ap)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  const char *bin = g_getenv ("LMLAB_BIN");
  g_assert_nonnull (bin);
  g_ptr_array_add (args, (char *) bin);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (args, (char *) a);
  g_ptr_array_add (args, NULL);
  LmTestRun run = { 0 };
  int wait_status = 0;
  GError *error = NULL;
  g_spawn_sync (NULL, (char **) args->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &run.out,
                &run.err, &wait_status, &error);
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (wait_status));
  run.status = WEXITSTATUS (wait_status);
  return run;
}

/* Run lmlab with a NULL-terminated argument list. */
G_GNUC_UNUSED G_GNUC_NULL_TERMINATED static LmTestRun
lm_test_run (const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  LmTestRun run = lm_test_run_va (first, ap);
  va_end (ap);
  return run;
}

/* A model whose forward makes a NaN must be refused by the evaluation, not scored as
 * p = 1 (perplexity 1, top-1 100%): model (vocabulary of V ids) scores 200 random tokens
 * at a perplexity above 1.5, then with one NaN in the parameter named param the same
 * evaluation fails with LM_ERROR_NUMERIC. */
G_GNUC_UNUSED static void
lm_test_check_nan_refused (LmModel *model, const char *param, int V)
{
  const gsize n = 200;
  LmRng rng;
  lm_rng_seed (&rng, 5);
  g_autofree gint32 *tokens = g_new (gint32, n);
  for (gsize i = 0; i < n; i++) /* never <s>, id 0 */
    tokens[i] = (gint32) (1 + lm_rng_below (&rng, (guint64) V - 1));
  LmTokenStream stream = { tokens, n, 0, n, 1 };
  LmEvalResult result;
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_eval_model (model, &stream, NULL, NULL, &result, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (result.perplexity, >, 1.5);
  LmParams *params = model->klass->parameters (model);
  int index = lm_params_find (params, param);
  g_assert_cmpint (index, >=, 0);
  lm_params_data (params, index)[3] = NAN;
  g_assert_false (lm_eval_model (model, &stream, NULL, NULL, &result, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_NUMERIC);
}

/* Run lmlab (a NULL-terminated argument list), check its exit status and, unless
 * err_fragment is NULL, that stderr holds err_fragment; returns stdout (caller frees). */
G_GNUC_UNUSED G_GNUC_NULL_TERMINATED static char *
lm_test_expect (int status, const char *err_fragment, const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  LmTestRun run = lm_test_run_va (first, ap);
  va_end (ap);
  if (run.status != status || (err_fragment && !strstr (run.err, err_fragment)))
    g_error ("lmlab %s...: exit %d (expected %d), stderr: %s (expected to hold '%s')", first,
             run.status, status, run.err, err_fragment ? err_fragment : "");
  g_free (run.err);
  return run.out;
}

static inline guint
lm_test_count_lines (const char *text)
{
  guint n = 0;
  for (; *text; text++)
    n += *text == '\n';
  return n;
}
