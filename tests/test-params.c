/* test-params.c — the flat parameter buffer: layout, alignment, look-ups, init,
 * zeroing and the layout fingerprint; and the allocator under it (core/lm-memory.h). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-error.h"
#include "core/lm-memory.h"
#include "core/lm-params.h"
#include "lm-test-util.h"

/* A small model: an embedding, a linear layer and a norm gain. */
static LmParams *
small_model (int V, int E)
{
  LmParams *params = lm_params_new ();
  g_assert_cmpint (lm_params_add (params, "wte", 2, (int[]){ V, E }, LM_INIT_NORMAL, 0.02f, TRUE),
                   ==, 0);
  g_assert_cmpint (
      lm_params_add (params, "fc.weight", 2, (int[]){ 3, E }, LM_INIT_UNIFORM, 0.1f, TRUE), ==, 1);
  g_assert_cmpint (lm_params_add (params, "fc.bias", 1, (int[]){ 3 }, LM_INIT_ZEROS, 0.0f, FALSE),
                   ==, 2);
  g_assert_cmpint (lm_params_add (params, "ln.weight", 1, (int[]){ E }, LM_INIT_ONES, 0.0f, FALSE),
                   ==, 3);
  return params;
}

static void
test_layout (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmParams) params = small_model (5, 7);
  g_assert_true (lm_params_allocate (params, &error));
  g_assert_no_error (error);

  g_assert_cmpint (params->n_views, ==, 4);
  /* real parameters: 35 + 21 + 3 + 7 */
  g_assert_cmpuint (lm_params_count (params), ==, 66);
  /* each view on a 16-float (64-byte) boundary: 0, 48, 80, 96 -> 103 floats */
  g_assert_cmpuint (params->views[0].offset, ==, 0);
  g_assert_cmpuint (params->views[1].offset, ==, 48);
  g_assert_cmpuint (params->views[2].offset, ==, 80);
  g_assert_cmpuint (params->views[3].offset, ==, 96);
  g_assert_cmpuint (params->n_floats, ==, 103);
  g_assert_cmpuint (lm_params_bytes (params), ==, 103 * sizeof (float));
  for (int i = 0; i < params->n_views; i++)
    {
      g_assert_cmpuint ((guintptr)lm_params_data (params, i) % LM_PARAMS_ALIGN, ==, 0);
      g_assert_cmpuint ((guintptr)lm_params_grad (params, i) % LM_PARAMS_ALIGN, ==, 0);
      g_assert_true (lm_params_grad (params, i) - params->grad
                     == lm_params_data (params, i) - params->data);
    }
  /* shapes, unused dimensions 1, sizes */
  const LmParamView *wte = lm_params_get (params, "wte");
  g_assert_nonnull (wte);
  g_assert_cmpint (wte->rank, ==, 2);
  g_assert_cmpint (wte->shape[0], ==, 5);
  g_assert_cmpint (wte->shape[1], ==, 7);
  g_assert_cmpint (wte->shape[2], ==, 1);
  g_assert_cmpuint (wte->size, ==, 35);
  g_assert_true (wte->decay);
  g_assert_false (lm_params_get (params, "fc.bias")->decay);
  g_assert_cmpint (lm_params_find (params, "ln.weight"), ==, 3);
  g_assert_cmpint (lm_params_find (params, "nope"), ==, -1);
  g_assert_null (lm_params_get (params, "nope"));
  g_assert_true (lm_params_view (params, 1) == lm_params_get (params, "fc.weight"));
  /* everything starts at zero */
  for (gsize i = 0; i < params->n_floats; i++)
    g_assert_cmpfloat (params->data[i] + params->grad[i], ==, 0.0f);
}

static void
test_rank4 (void)
{
  g_autoptr (LmParams) params = lm_params_new ();
  int index
      = lm_params_add (params, "conv", 4, (int[]){ 2, 3, 4, 5 }, LM_INIT_CONSTANT, 0.25f, TRUE);
  g_assert_cmpint (index, ==, 0);
  g_assert_true (lm_params_allocate (params, NULL));
  g_assert_cmpuint (lm_params_count (params), ==, 120);
  lm_params_init (params, NULL); /* constant needs no rng */
  for (int i = 0; i < 120; i++)
    g_assert_cmpfloat (lm_params_data (params, 0)[i], ==, 0.25f);
}

static void
test_empty (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmParams) params = lm_params_new ();
  g_assert_false (lm_params_allocate (params, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
}

static void
test_bad_add (void)
{
  /* programmer errors are refused (with a critical) and return -1 */
  if (g_test_subprocess ())
    {
      g_autoptr (LmParams) params = lm_params_new ();
      lm_params_add (params, "a", 1, (int[]){ 3 }, LM_INIT_ZEROS, 0, FALSE);
      g_assert_cmpint (lm_params_add (params, "a", 1, (int[]){ 3 }, LM_INIT_ZEROS, 0, FALSE), ==,
                       -1);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*");
}

static void
test_init (void)
{
  g_autoptr (LmParams) params = lm_params_new ();
  lm_params_add (params, "u", 1, (int[]){ 20000 }, LM_INIT_UNIFORM, 0.1f, TRUE);
  lm_params_add (params, "n", 2, (int[]){ 100, 200 }, LM_INIT_NORMAL, 0.02f, TRUE);
  lm_params_add (params, "z", 1, (int[]){ 9 }, LM_INIT_ZEROS, 0, FALSE);
  lm_params_add (params, "o", 1, (int[]){ 9 }, LM_INIT_ONES, 0, FALSE);
  g_assert_true (lm_params_allocate (params, NULL));
  LmRng rng;
  lm_rng_seed (&rng, 42);
  lm_params_init (params, &rng);

  const float *u = lm_params_data (params, 0);
  double sum = 0.0;
  for (int i = 0; i < 20000; i++)
    {
      g_assert_cmpfloat (u[i], >=, -0.1f);
      g_assert_cmpfloat (u[i], <, 0.1f);
      sum += u[i];
    }
  /* mean of U(-0.1,0.1) over 20000: sd 0.1/sqrt(3)/sqrt(20000) = 4.1e-4 */
  g_assert_cmpfloat (fabs (sum / 20000), <, 2e-3);

  const float *n = lm_params_data (params, 1);
  double s1 = 0.0, s2 = 0.0;
  for (int i = 0; i < 20000; i++)
    {
      s1 += n[i];
      s2 += (double)n[i] * n[i];
    }
  double mean = s1 / 20000, sd = sqrt (s2 / 20000 - mean * mean);
  g_assert_cmpfloat (fabs (mean), <, 1e-3);
  g_assert_cmpfloat (fabs (sd - 0.02), <, 1e-3);

  for (int i = 0; i < 9; i++)
    {
      g_assert_cmpfloat (lm_params_data (params, 2)[i], ==, 0.0f);
      g_assert_cmpfloat (lm_params_data (params, 3)[i], ==, 1.0f);
    }
  /* padding between views stays zero */
  for (int v = 0; v + 1 < params->n_views; v++)
    for (gsize i = params->views[v].offset + params->views[v].size; i < params->views[v + 1].offset;
         i++)
      g_assert_cmpfloat (params->data[i], ==, 0.0f);

  /* the same seed gives the same parameters, bit for bit */
  g_autoptr (LmParams) again = lm_params_new ();
  lm_params_add (again, "u", 1, (int[]){ 20000 }, LM_INIT_UNIFORM, 0.1f, TRUE);
  lm_params_add (again, "n", 2, (int[]){ 100, 200 }, LM_INIT_NORMAL, 0.02f, TRUE);
  lm_params_add (again, "z", 1, (int[]){ 9 }, LM_INIT_ZEROS, 0, FALSE);
  lm_params_add (again, "o", 1, (int[]){ 9 }, LM_INIT_ONES, 0, FALSE);
  g_assert_true (lm_params_allocate (again, NULL));
  lm_rng_seed (&rng, 42);
  lm_params_init (again, &rng);
  g_assert_cmpmem (again->data, lm_params_bytes (again), params->data, lm_params_bytes (params));

  /* re-initialising one view touches only that view */
  lm_params_init_view (params, 3, LM_INIT_CONSTANT, 2.5f, &rng);
  g_assert_cmpfloat (lm_params_data (params, 3)[8], ==, 2.5f);
  g_assert_cmpmem (params->data, params->views[3].offset * sizeof (float), again->data,
                   params->views[3].offset * sizeof (float));
}

static void
test_zero_grad (void)
{
  g_autoptr (LmParams) params = small_model (4, 4);
  g_assert_true (lm_params_allocate (params, NULL));
  for (gsize i = 0; i < params->n_floats; i++)
    params->grad[i] = 1.0f;
  lm_params_zero_grad (params);
  for (gsize i = 0; i < params->n_floats; i++)
    g_assert_cmpfloat (params->grad[i], ==, 0.0f);
}

/* A row-sparse view's spans are its touched rows, in runs; zeroing them clears them. */
static void
test_row_sparse (void)
{
  g_autoptr (LmParams) params = small_model (9, 5);
  g_assert_true (lm_params_allocate (params, NULL));
  int n;
  gsize total;
  const LmGradSpan *spans = lm_params_grad_spans (params, &n, &total);
  g_assert_cmpint (n, ==, 4); /* every view whole */
  g_assert_cmpuint (total, ==, lm_params_count (params));

  lm_params_set_row_sparse (params, 0);
  spans = lm_params_grad_spans (params, &n, &total);
  g_assert_cmpint (n, ==, 3); /* wte has no row yet */
  g_assert_cmpint (spans[0].view, ==, 1);
  lm_params_touch_rows (params, 0, (gint32[]){ 4, 8, -1, 3, 4 }, 5);
  spans = lm_params_grad_spans (params, &n, &total);
  g_assert_cmpint (n, ==, 5);
  const LmParamView *wte = lm_params_view (params, 0);
  g_assert_cmpint (spans[0].view, ==, 0);
  g_assert_cmpuint (spans[0].offset, ==, wte->offset + 3 * 5); /* rows 3 and 4 in one run */
  g_assert_cmpuint (spans[0].size, ==, 2 * 5);
  g_assert_cmpuint (spans[1].offset, ==, wte->offset + 8 * 5);
  g_assert_cmpuint (spans[1].size, ==, 5);
  g_assert_cmpint (spans[2].view, ==, 1);
  g_assert_cmpuint (total, ==, lm_params_count (params) - 6 * 5);

  /* what the spans cover is zeroed, and the touched rows are forgotten */
  for (int k = 0; k < n; k++)
    for (gsize i = 0; i < spans[k].size; i++)
      params->grad[spans[k].offset + i] = 1.0f;
  g_autoptr (LmParallel) par = lm_parallel_new (2);
  lm_params_zero_grad_spans (params, par);
  for (gsize i = 0; i < params->n_floats; i++)
    g_assert_cmpfloat (params->grad[i], ==, 0.0f);
  lm_params_grad_spans (params, &n, &total);
  g_assert_cmpint (n, ==, 3);
}

static void
test_fingerprint (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmParams) a = small_model (5, 7);
  g_autoptr (LmParams) b = small_model (5, 7);
  g_autoptr (LmParams) wider = small_model (5, 8);
  g_autoptr (LmParams) taller = small_model (6, 7);
  /* the same layout hashes the same, before and after allocation */
  guint64 fa = lm_params_fingerprint (a);
  g_assert_true (lm_params_allocate (a, NULL));
  g_assert_cmpuint (lm_params_fingerprint (a), ==, fa);
  g_assert_cmpuint (lm_params_fingerprint (b), ==, fa);
  g_assert_cmpuint (lm_params_fingerprint (wider), !=, fa);
  g_assert_cmpuint (lm_params_fingerprint (taller), !=, fa);
  /* a renamed view, or the same views in another order, is another layout */
  g_autoptr (LmParams) renamed = lm_params_new ();
  g_autoptr (LmParams) swapped = lm_params_new ();
  lm_params_add (renamed, "x", 1, (int[]){ 4 }, LM_INIT_ZEROS, 0, FALSE);
  lm_params_add (renamed, "y", 1, (int[]){ 4 }, LM_INIT_ZEROS, 0, FALSE);
  lm_params_add (swapped, "y", 1, (int[]){ 4 }, LM_INIT_ZEROS, 0, FALSE);
  lm_params_add (swapped, "x", 1, (int[]){ 4 }, LM_INIT_ZEROS, 0, FALSE);
  g_assert_cmpuint (lm_params_fingerprint (renamed), !=, lm_params_fingerprint (swapped));
  /* a (2,3) matrix is not a (3,2) one */
  g_autoptr (LmParams) m23 = lm_params_new ();
  g_autoptr (LmParams) m32 = lm_params_new ();
  lm_params_add (m23, "w", 2, (int[]){ 2, 3 }, LM_INIT_ZEROS, 0, TRUE);
  lm_params_add (m32, "w", 2, (int[]){ 3, 2 }, LM_INIT_ZEROS, 0, TRUE);
  g_assert_cmpuint (lm_params_fingerprint (m23), !=, lm_params_fingerprint (m32));

  g_assert_true (lm_params_check_fingerprint (b, fa, &error));
  g_assert_no_error (error);
  g_assert_false (lm_params_check_fingerprint (wider, fa, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_MISMATCH);
  g_assert_nonnull (strstr (error->message, "another shape"));
}

static void
test_describe (void)
{
  g_autoptr (LmParams) params = small_model (5, 7);
  g_autoptr (GString) out = g_string_new (NULL);
  lm_params_describe (params, out);
  g_assert_cmpstr (out->str, ==,
                   "wte (5,7) 35 decay\n"
                   "fc.weight (3,7) 21 decay\n"
                   "fc.bias (3) 3\n"
                   "ln.weight (7) 7\n");
}

static LmParams *
two_views (int rows)
{
  LmParams *p = lm_params_new ();
  lm_params_add (p, "w", 2, (int[]) { rows, 3 }, LM_INIT_UNIFORM, 0.5f, TRUE);
  lm_params_add (p, "b", 1, (int[]) { 3 }, LM_INIT_ZEROS, 0, FALSE);
  g_assert_true (lm_params_allocate (p, NULL));
  LmRng rng;
  lm_rng_seed (&rng, 4);
  lm_params_init (p, &rng);
  return p;
}

static void
test_save_load (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "p.ckpt", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmParams) a = two_views (2);
  g_autoptr (LmCheckpointWriter) w = lm_checkpoint_writer_new (path, &error);
  g_assert_true (lm_params_save (a, w, "m", &error));
  g_assert_true (lm_checkpoint_writer_commit (w, &error));
  g_autoptr (LmCheckpoint) ck = lm_checkpoint_open (path, &error);
  g_assert_no_error (error);

  g_autoptr (LmParams) b = two_views (2);
  memset (b->data, 0, b->n_floats * sizeof (float));
  g_assert_true (lm_params_load (b, ck, "m", &error));
  g_assert_cmpmem (a->data, a->n_floats * sizeof (float), b->data, b->n_floats * sizeof (float));

  /* Another shape is refused, and the parameters are left as they were. */
  g_autoptr (LmParams) c = two_views (5);
  float first = c->data[0];
  g_assert_false (lm_params_load (c, ck, "m", &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_MISMATCH);
  g_assert_cmpfloat (c->data[0], ==, first);
  g_clear_error (&error);
  g_assert_false (lm_params_load (b, ck, "other", &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_CORRUPT);
  lm_test_rmtree (dir);
}

/* The THP mode the kernel is in ("always", "madvise", "never"), or NULL when it has none. */
static gchar *
thp_mode (void)
{
  g_autofree gchar *text = NULL;
  if (!g_file_get_contents ("/sys/kernel/mm/transparent_hugepage/enabled", &text, NULL, NULL))
    return NULL;
  const char *open = strchr (text, '['), *close = open ? strchr (open, ']') : NULL;
  return close ? g_strndup (open + 1, close - open - 1) : NULL;
}

/* The THPeligible flag /proc/self/smaps shows for the mapping holding address, or -1. */
static int
thp_eligible (const void *address)
{
  g_autofree gchar *text = NULL;
  if (!g_file_get_contents ("/proc/self/smaps", &text, NULL, NULL))
    return -1;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  gboolean inside = FALSE;
  for (char **line = lines; *line; line++)
    {
      guint64 begin, end;
      char perms[5];
      /* a mapping's first line: "begin-end perms offset device inode [path]" */
      if (sscanf (*line, "%" G_GINT64_MODIFIER "x-%" G_GINT64_MODIFIER "x %4s", &begin, &end,
                  perms) == 3)
        inside = begin <= (guintptr) address && (guintptr) address < end;
      else if (inside && g_str_has_prefix (*line, "THPeligible:"))
        return atoi (*line + strlen ("THPeligible:"));
    }
  return -1;
}

static void
test_memory (void)
{
  /* small buffers: a cache line of alignment, zeroed, at least one line */
  for (gsize bytes = 0; bytes < 300; bytes += 37)
    {
      guint8 *p = lm_memory_zeroed (bytes);
      g_assert_nonnull (p);
      g_assert_cmpuint ((guintptr) p % LM_MEMORY_ALIGN, ==, 0);
      for (gsize i = 0; i < MAX (bytes, 1); i++)
        g_assert_cmpuint (p[i], ==, 0);
      memset (p, 0xff, MAX (bytes, 1)); /* writable to the end (ASan checks the bound) */
      free (p);
    }
  /* a big one: on a 2 MiB boundary, zeroed, and offered for huge pages */
  gsize bytes = LM_MEMORY_HUGE + LM_MEMORY_HUGE / 2 + 3;
  guint8 *big = lm_memory_zeroed (bytes);
  g_assert_nonnull (big);
  g_assert_cmpuint ((guintptr) big % LM_MEMORY_HUGE, ==, 0);
  for (gsize i = 0; i < bytes; i += 4093)
    g_assert_cmpuint (big[i], ==, 0);
  g_assert_cmpuint (big[bytes - 1], ==, 0);
  big[bytes - 1] = 1;
  g_autofree gchar *mode = thp_mode ();
  int eligible = thp_eligible (big);
  if (mode && (g_str_equal (mode, "madvise") || g_str_equal (mode, "always")) && eligible >= 0)
    g_assert_cmpint (eligible, ==, 1);
  else
    g_test_message ("THP mode %s, THPeligible %d: huge pages not checked",
                    mode ? mode : "(none)", eligible);
  free (big);
  /* a size that cannot be allocated is NULL, not a crash */
  g_assert_null (lm_memory_zeroed (G_MAXSIZE - 16));
}

/* A model larger than the machine is refused before anything is allocated. */
static void
test_too_big (void)
{
  g_assert_true (lm_memory_fits (0));
  g_assert_false (lm_memory_fits ((double) G_MAXSIZE));
  double available = lm_memory_available ();
  if (available <= 0)
    {
      g_test_skip ("the memory available is unknown");
      return;
    }
  /* (margins for what other processes take meanwhile) */
  g_assert_true (lm_memory_fits (available / 2));
  g_assert_false (lm_memory_fits (available * 1.5));
  /* refused, not handed out by an overcommitting kernel to be touched by the memset */
  g_assert_null (lm_memory_zeroed ((gsize) (available * 1.5)));
  /* values and gradients of rows x 4096 floats: 1.5 times the memory available */
  int rows = (int) (available * 1.5 / 8 / 4096);
  g_autoptr (LmParams) params = lm_params_new ();
  lm_params_add (params, "huge", 2, (int[]){ rows, 4096 }, LM_INIT_ZEROS, 0.0f, TRUE);
  g_autoptr (GError) error = NULL;
  g_assert_false (lm_params_allocate (params, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_NO_MEMORY);
  g_assert_nonnull (strstr (error->message, "of memory available"));
  g_assert_null (params->data);
  g_assert_null (params->grad);
}

/* LMLAB_MEMORY_LIMIT: sizes as people write them, and a cap on what the process may grow
 * to, which a container's limit needs since /proc/meminfo does not show it. */
static void
test_memory_limit (void)
{
  const double G = 1073741824.0, M = 1048576.0;
  g_assert_cmpfloat (lm_memory_parse_size ("4G"), ==, 4 * G);
  g_assert_cmpfloat (lm_memory_parse_size ("512M"), ==, 512 * M);
  g_assert_cmpfloat (lm_memory_parse_size ("64k"), ==, 65536.0);
  g_assert_cmpfloat (lm_memory_parse_size ("2GiB"), ==, 2 * G);
  g_assert_cmpfloat (lm_memory_parse_size ("1.5G"), ==, 1.5 * G);
  g_assert_cmpfloat (lm_memory_parse_size ("1073741824"), ==, G);
  const char *bad[] = { "", "abc", "12x", "-1G", "0", "4G ", "G", "1GB2", "nan", "inf" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_cmpfloat (lm_memory_parse_size (bad[i]), <, 0);
  g_assert_cmpfloat (lm_memory_parse_size (NULL), <, 0);

  double before = lm_memory_available ();
  double held = lm_memory_resident ();
  g_assert_cmpfloat (held, >, 0);
  /* 64 MiB above what the process holds: at most that much is available, and 128 MiB
   * neither fits nor is handed out */
  g_autofree gchar *limit = g_strdup_printf ("%.0f", held + 64 * M);
  g_setenv ("LMLAB_MEMORY_LIMIT", limit, TRUE);
  double capped = lm_memory_available ();
  g_assert_cmpfloat (capped, >, 0);
  g_assert_cmpfloat (capped, <=, 64 * M + 1);
  g_assert_false (lm_memory_fits (128 * M));
  g_assert_null (lm_memory_zeroed ((gsize) (128 * M)));
  /* a limit below what the process holds leaves no room, which is not "unknown" (0) */
  g_setenv ("LMLAB_MEMORY_LIMIT", "1k", TRUE);
  g_assert_cmpfloat (lm_memory_available (), ==, 1.0);
  g_assert_false (lm_memory_fits (2.0));
  /* a value that is not a size is ignored (and said on stderr) */
  g_setenv ("LMLAB_MEMORY_LIMIT", "lots", TRUE);
  if (before > 256 * M)
    g_assert_cmpfloat (lm_memory_available (), >, 128 * M);
  g_unsetenv ("LMLAB_MEMORY_LIMIT");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/params/layout", test_layout);
  g_test_add_func ("/params/rank4", test_rank4);
  g_test_add_func ("/params/empty", test_empty);
  g_test_add_func ("/params/bad-add", test_bad_add);
  g_test_add_func ("/params/init", test_init);
  g_test_add_func ("/params/zero-grad", test_zero_grad);
  g_test_add_func ("/params/row-sparse", test_row_sparse);
  g_test_add_func ("/params/fingerprint", test_fingerprint);
  g_test_add_func ("/params/describe", test_describe);
  g_test_add_func ("/params/save-load", test_save_load);
  g_test_add_func ("/params/memory", test_memory);
  g_test_add_func ("/params/too-big", test_too_big);
  g_test_add_func ("/params/memory-limit", test_memory_limit);
  return g_test_run ();
}
