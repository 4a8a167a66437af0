/* test-cli.c — the lmlab command as a user meets it: help, corpus stats, bad input. */
#include "config.h"

#include <string.h>
#include <sys/wait.h>

#include "lm-test-util.h"

typedef struct {
  int status;
  char *out;
  char *err;
} Run;

static void
run_clear (Run *run)
{
  g_free (run->out);
  g_free (run->err);
}

/* Run lmlab with a NULL-terminated argument list. */
static Run
run_lmlab (const char *first, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  const char *bin = g_getenv ("LMLAB_BIN");
  g_assert_nonnull (bin);
  g_ptr_array_add (args, (char *) bin);
  va_list ap;
  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (args, (char *) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  Run run = { 0 };
  int wait_status = 0;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (NULL, (char **) args->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &run.out,
                &run.err, &wait_status, &error);
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (wait_status));
  run.status = WEXITSTATUS (wait_status);
  return run;
}

static guint
count_lines (const char *text)
{
  guint n = 0;
  for (; *text; text++)
    n += *text == '\n';
  return n;
}

static void
test_cli_help (void)
{
  Run r = run_lmlab ("--help", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "corpus"));
  g_assert_nonnull (strstr (r.out, "Example"));
  run_clear (&r);

  r = run_lmlab ("corpus", "stats", "--help", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "[default: word]"));
  g_assert_nonnull (strstr (r.out, "Examples:"));
  run_clear (&r);

  r = run_lmlab ("frobnicate", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "unknown command 'frobnicate'"));
  run_clear (&r);

  r = run_lmlab ("corpus", "stats", "--level", "syllable", "x", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "unknown level"));
  run_clear (&r);

  r = run_lmlab ("corpus", "stats", "--bogus", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_cmpuint (count_lines (r.err), ==, 1);
  run_clear (&r);
}

static void
test_cli_corpus_stats (void)
{
  g_autofree char *tiny = g_test_build_filename (G_TEST_DIST, "data", "tiny.txt", NULL);
  Run r = run_lmlab ("corpus", "stats", tiny, "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "\"tokens\": 21"));
  g_assert_nonnull (strstr (r.out, "\"words\": 18"));
  g_assert_nonnull (strstr (r.out, "\"eos_tokens\": 3"));
  g_assert_nonnull (strstr (r.out, "\"types\": 8"));
  g_assert_nonnull (strstr (r.out, "\"duplicate_lines\": 1"));
  g_assert_nonnull (strstr (r.out, "\"characters\": 69"));
  g_assert_nonnull (strstr (r.out, "\"blas_kernel\": "));
  run_clear (&r);

  /* Two files: OOV rate of the second against the first's types. */
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *other = lm_test_write (dir, "other.txt", "the cow sat\n", -1);
  r = run_lmlab ("corpus", "stats", tiny, other, "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "\"oov_tokens\": 1"));
  g_assert_nonnull (strstr (r.out, "\"oov_rate\": 0.25"));
  run_clear (&r);

  r = run_lmlab ("corpus", "stats", tiny, "--level", "char", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "char level"));
  g_assert_nonnull (strstr (r.out, "BLAS: OpenBLAS"));
  run_clear (&r);
  lm_test_rmtree (dir);
}

/* Bad corpus input: one clear line on stderr, exit status 2, nothing on stdout. */
static void
expect_bad_input (const char *path, const char *fragment)
{
  Run r = run_lmlab ("corpus", "stats", path, "--json", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_cmpstr (r.out, ==, "");
  g_assert_cmpuint (count_lines (r.err), ==, 1);
  if (strstr (r.err, fragment) == NULL)
    g_error ("stderr '%s' does not mention '%s'", r.err, fragment);
  run_clear (&r);
}

static void
test_cli_bad_input (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *invalid = lm_test_write (dir, "latin1.txt", "caf\xe9 au lait\n", -1);
  g_autofree char *empty = lm_test_write (dir, "empty.txt", "", 0);
  g_autofree char *missing = g_build_filename (dir, "missing.txt", NULL);
  expect_bad_input (invalid, "latin1.txt:1: invalid UTF-8 at byte offset 3");
  expect_bad_input (empty, "empty");
  expect_bad_input (missing, "missing.txt");
  expect_bad_input (dir, "is a directory");
  lm_test_rmtree (dir);
}

static void
test_cli_default_corpus (void)
{
  /* Without FILE, corpus stats reads the default corpus, found through LMLAB_DATA_DIR. */
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *kjv = lm_test_write (dir, "kjv.txt", "In the beginning\n", -1);
  g_setenv ("LMLAB_DATA_DIR", dir, TRUE);
  Run r = run_lmlab ("corpus", "stats", "--json", NULL);
  g_unsetenv ("LMLAB_DATA_DIR");
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "kjv.txt"));
  g_assert_nonnull (strstr (r.out, "\"tokens\": 4"));
  run_clear (&r);
  lm_test_rmtree (dir);
}

static void
test_cli_ptb_stats (void)
{
  /* Issue 2: PTB train at word level is 887,521 words + 42,068 </s>, 10,000 types. */
  g_autofree char *path = lm_test_shared_data ("ptb/ptb.train.txt");
  if (path == NULL)
    return;
  Run r = run_lmlab ("corpus", "stats", path, "--level", "word", "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "\"words\": 887521"));
  g_assert_nonnull (strstr (r.out, "\"eos_tokens\": 42068"));
  g_assert_nonnull (strstr (r.out, "\"tokens\": 929589"));
  g_assert_nonnull (strstr (r.out, "\"types\": 10000"));
  run_clear (&r);
}

static void
test_cli_shakespeare_stats (void)
{
  g_autofree char *path = lm_test_shared_data ("tinyshakespeare/input.txt");
  if (path == NULL)
    return;
  Run r = run_lmlab ("corpus", "stats", path, "--level", "char", "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "\"types\": 65,"));
  g_assert_nonnull (strstr (r.out, "\"tokens\": 1115394"));
  run_clear (&r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/help", test_cli_help);
  g_test_add_func ("/cli/corpus-stats", test_cli_corpus_stats);
  g_test_add_func ("/cli/bad-input", test_cli_bad_input);
  g_test_add_func ("/cli/default-corpus", test_cli_default_corpus);
  g_test_add_func ("/cli/ptb-stats", test_cli_ptb_stats);
  g_test_add_func ("/cli/shakespeare-stats", test_cli_shakespeare_stats);
  return g_test_run ();
}
