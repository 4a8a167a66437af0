/* test-cli.c — the lmlab command as a user meets it: help, corpus stats, bad input. */
#include "config.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "core/lm-model.h"
#include "core/lm-registry.h"
#include "core/lm-sample.h"
#include "core/lm-vocab.h"
#include "lm-test-util.h"

static void
test_cli_help (void)
{
  LmTestRun r = lm_test_run ("--help", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "corpus"));
  g_assert_nonnull (strstr (r.out, "Example"));
  lm_test_run_clear (&r);

  r = lm_test_run ("corpus", "stats", "--help", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "[default: word]"));
  g_assert_nonnull (strstr (r.out, "Examples:"));
  lm_test_run_clear (&r);

  r = lm_test_run ("frobnicate", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "unknown command 'frobnicate'"));
  lm_test_run_clear (&r);

  r = lm_test_run ("corpus", "stats", "--level", "syllable", "x", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "unknown level"));
  lm_test_run_clear (&r);

  r = lm_test_run ("corpus", "stats", "--bogus", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_cmpuint (lm_test_count_lines (r.err), ==, 1);
  lm_test_run_clear (&r);
}

static void
test_cli_corpus_stats (void)
{
  g_autofree char *tiny = g_test_build_filename (G_TEST_DIST, "data", "tiny.txt", NULL);
  LmTestRun r = lm_test_run ("corpus", "stats", tiny, "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "\"tokens\": 21"));
  g_assert_nonnull (strstr (r.out, "\"words\": 18"));
  g_assert_nonnull (strstr (r.out, "\"eos_tokens\": 3"));
  g_assert_nonnull (strstr (r.out, "\"types\": 8"));
  g_assert_nonnull (strstr (r.out, "\"duplicate_lines\": 1"));
  g_assert_nonnull (strstr (r.out, "\"characters\": 69"));
  g_assert_nonnull (strstr (r.out, "\"blas_kernel\": "));
  lm_test_run_clear (&r);

  /* Two files: OOV rate of the second against the first's types. */
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *other = lm_test_write (dir, "other.txt", "the cow sat\n", -1);
  r = lm_test_run ("corpus", "stats", tiny, other, "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "\"oov_tokens\": 1"));
  g_assert_nonnull (strstr (r.out, "\"oov_rate\": 0.25"));
  lm_test_run_clear (&r);

  /* A file name that is not UTF-8 still gives valid JSON (U+FFFD in its place). */
  g_autofree char *text = NULL;
  gsize text_len;
  g_assert_true (g_file_get_contents (tiny, &text, &text_len, NULL));
  g_autofree char *latin1 = lm_test_write (dir, "caf\xe9.txt", text, (gssize) text_len);
  r = lm_test_run ("corpus", "stats", latin1, "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_true (g_utf8_validate (r.out, -1, NULL));
  g_assert_nonnull (strstr (r.out, "caf\xef\xbf\xbd.txt"));
  lm_test_run_clear (&r);

  r = lm_test_run ("corpus", "stats", tiny, "--level", "char", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "char level"));
  g_assert_nonnull (strstr (r.out, "BLAS: OpenBLAS"));
  lm_test_run_clear (&r);
  lm_test_rmtree (dir);
}

/* Bad corpus input: one clear line on stderr, exit status 2, nothing on stdout. */
static void
expect_bad_input (const char *path, const char *fragment)
{
  LmTestRun r = lm_test_run ("corpus", "stats", path, "--json", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_cmpstr (r.out, ==, "");
  g_assert_cmpuint (lm_test_count_lines (r.err), ==, 1);
  if (strstr (r.err, fragment) == NULL)
    g_error ("stderr '%s' does not mention '%s'", r.err, fragment);
  lm_test_run_clear (&r);
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
  LmTestRun r = lm_test_run ("corpus", "stats", "--json", NULL);
  g_unsetenv ("LMLAB_DATA_DIR");
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "kjv.txt"));
  g_assert_nonnull (strstr (r.out, "\"tokens\": 4"));
  lm_test_run_clear (&r);
  lm_test_rmtree (dir);
}

static void
test_cli_ptb_stats (void)
{
  /* Issue 2: PTB train at word level is 887,521 words + 42,068 </s>, 10,000 types. */
  g_autofree char *path = lm_test_shared_data ("ptb/ptb.train.txt");
  if (path == NULL)
    return;
  LmTestRun r = lm_test_run ("corpus", "stats", path, "--level", "word", "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "\"words\": 887521"));
  g_assert_nonnull (strstr (r.out, "\"eos_tokens\": 42068"));
  g_assert_nonnull (strstr (r.out, "\"tokens\": 929589"));
  g_assert_nonnull (strstr (r.out, "\"types\": 10000"));
  lm_test_run_clear (&r);
}

static void
test_cli_shakespeare_stats (void)
{
  g_autofree char *path = lm_test_shared_data ("tinyshakespeare/input.txt");
  if (path == NULL)
    return;
  LmTestRun r = lm_test_run ("corpus", "stats", path, "--level", "char", "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "\"types\": 65,"));
  g_assert_nonnull (strstr (r.out, "\"tokens\": 1115394"));
  lm_test_run_clear (&r);
}

static char *
json_field (const char *json, const char *key)
{
  g_autofree char *needle = g_strdup_printf ("\"%s\": ", key);
  const char *at = strstr (json, needle);
  g_assert_nonnull (at);
  at += strlen (needle);
  return g_strndup (at, strcspn (at, ",\n}"));
}

static void
test_cli_train_eval_generate (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  /* A backslash word (as PTB's 1\/2-year) must survive the ARPA round trip. */
  g_autofree char *train = lm_test_write (dir, "train.txt",
                                          "the cat sat on the mat\nthe dog sat on 1\\/2 log\n"
                                          "a cat sat on a mat\nthe cat ate the rat\n", -1);
  g_autofree char *test = lm_test_write (dir, "test.txt", "the cat sat on 1\\/2 mat\n", -1);
  g_autofree char *model = g_build_filename (dir, "m", NULL);
  LmTestRun r = lm_test_run ("train", "--model", "ngram", "--train", train, "--valid", train, "--set",
                     "order=3", "--set", "smoothing=kn", "-o", model, "--json", "-q", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "\"model\": \"ngram\""));
  g_assert_nonnull (strstr (r.out, "\"valid_perplexity\": "));
  g_assert_nonnull (strstr (r.out, "\"peak_rss_mib\": "));
  /* a fitted model had no training loss and no gradient step: one pass (as compare's
   * result.json records it) */
  g_autofree char *train_loss = json_field (r.out, "train_loss");
  g_autofree char *steps = json_field (r.out, "steps");
  g_autofree char *epochs = json_field (r.out, "epochs");
  g_assert_cmpstr (train_loss, ==, "null");
  g_assert_cmpstr (steps, ==, "0");
  g_assert_cmpstr (epochs, ==, "1");
  lm_test_run_clear (&r);

  r = lm_test_run ("eval", model, "--test", test, "--json", "-q", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_autofree char *ppl = json_field (r.out, "perplexity");
  g_autofree char *tokens = json_field (r.out, "tokens");
  g_assert_cmpstr (tokens, ==, "7");
  g_assert_cmpfloat (g_ascii_strtod (ppl, NULL), >, 1.0);
  lm_test_run_clear (&r);

  /* Only runtime keys can change at evaluation. */
  r = lm_test_run ("eval", model, "--test", test, "--set", "order=2", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "cannot change 'order'"));
  lm_test_run_clear (&r);
  r = lm_test_run ("eval", model, "--test", test, "--set", "threads=1", "--no-accuracy", "--json",
                 "-q", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_autofree char *ppl_fast = json_field (r.out, "perplexity");
  g_assert_cmpstr (ppl_fast, ==, ppl);
  lm_test_run_clear (&r);

  /* ARPA out and back in scores the same. */
  g_autofree char *arpa = g_build_filename (dir, "m.arpa", NULL);
  g_autofree char *imported = g_build_filename (dir, "imported", NULL);
  r = lm_test_run ("ngram", "export-arpa", model, arpa, NULL);
  g_assert_cmpint (r.status, ==, 0);
  lm_test_run_clear (&r);
  r = lm_test_run ("ngram", "import-arpa", arpa, "-o", imported, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_null (strstr (r.err, "single character")); /* a word-level file: no warning */
  lm_test_run_clear (&r);
  /* a char-level export reads back as words, which model another text: a warning */
  g_autofree char *char_model = g_build_filename (dir, "chars", NULL);
  g_autofree char *char_arpa = g_build_filename (dir, "chars.arpa", NULL);
  g_autofree char *char_imported = g_build_filename (dir, "chars-imported", NULL);
  g_free (lm_test_expect (0, NULL, "train", "--model", "ngram", "--train", train, "--level",
                          "char", "--set", "order=3", "-o", char_model, "-q", "--arpa",
                          char_arpa, NULL));
  g_free (lm_test_expect (0, "every word of", "ngram", "import-arpa", char_arpa, "-o",
                          char_imported, NULL));
  r = lm_test_run ("eval", imported, "--test", test, "--json", "-q", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_autofree char *ppl2 = json_field (r.out, "perplexity");
  g_autofree char *oov2 = json_field (r.out, "oov");
  g_assert_cmpstr (oov2, ==, "0");
  g_assert_cmpfloat_with_epsilon (g_ascii_strtod (ppl2, NULL), g_ascii_strtod (ppl, NULL), 1e-4);
  lm_test_run_clear (&r);

  /* Generation: the same seed gives the same text; greedy needs no seed. */
  LmTestRun g1 = lm_test_run ("generate", model, "--prompt", "the cat", "--tokens", "12", "--seed", "5",
                      NULL);
  LmTestRun g2 = lm_test_run ("generate", model, "--prompt", "the cat", "--tokens", "12", "--seed", "5",
                      NULL);
  g_assert_cmpint (g1.status, ==, 0);
  g_assert_cmpstr (g1.out, ==, g2.out);
  g_assert_true (g_str_has_prefix (g1.out, "the cat"));
  lm_test_run_clear (&g1);
  lm_test_run_clear (&g2);
  r = lm_test_run ("generate", model, "--temperature", "-1", NULL);
  g_assert_cmpint (r.status, ==, 2);
  lm_test_run_clear (&r);
  /* output that cannot be written (a full disk) is an error: generation stops at once,
   * and any command's report that never reached its file fails */
  if (g_file_test ("/dev/full", G_FILE_TEST_EXISTS))
    {
      const char *runs[][2] = { { "generate '%s' --tokens 100000", "cannot write the generated text" },
                                { "eval '%s' --test '%s' --json", "cannot write the output" } };
      for (int k = 0; k < 2; k++)
        {
          g_autofree char *args = g_strdup_printf (runs[k][0], model, test);
          g_autofree char *cmd = g_strdup_printf ("'%s' %s > /dev/full", g_getenv ("LMLAB_BIN"),
                                                  args);
          const char *sh[] = { "/bin/sh", "-c", cmd, NULL };
          g_autofree char *err = NULL;
          int wait_status;
          g_assert_true (g_spawn_sync (NULL, (char **) sh, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                                       NULL, NULL, NULL, &err, &wait_status, NULL));
          g_assert_true (WIFEXITED (wait_status));
          g_assert_cmpint (WEXITSTATUS (wait_status), ==, 1);
          if (strstr (err, runs[k][1]) == NULL)
            g_error ("'%s' said: %s", cmd, err);
        }
    }
  /* a refused prompt prints nothing, and says why */
  r = lm_test_run ("generate", model, "--prompt", "the <s> cat", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_cmpstr (r.out, ==, "");
  g_assert_nonnull (strstr (r.err, "is <s>"));
  lm_test_run_clear (&r);

  /* Generation is printed as it goes, in blocks: 3,000 words (~10 KB, three blocks)
   * print exactly the text of the ids lm_generate makes with the same sampler, decoded
   * at once (a block boundary must not lose or double the space between two words). */
  r = lm_test_run ("generate", model, "--prompt", "the cat", "--tokens", "3000", "--seed", "5",
                   NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_autofree char *ckpt_path = g_build_filename (model, "model.ckpt", NULL);
  g_autoptr (GError) gen_error = NULL;
  g_autoptr (LmModel) loaded = lm_model_load (ckpt_path, &gen_error);
  g_assert_no_error (gen_error);
  g_autoptr (LmSampler) sampler = lm_sampler_new (1.0, 0, 1.0, 5, &gen_error);
  g_assert_no_error (gen_error);
  gsize n_prompt, n_oov;
  g_autofree gint32 *prompt = lm_vocab_encode (loaded->vocab, "the cat", 7, &n_prompt, &n_oov,
                                               NULL);
  g_autofree gint32 *ids = g_new (gint32, 3000);
  g_assert_true (lm_generate (loaded, sampler, prompt, n_prompt, 3000, ids, &gen_error));
  g_autoptr (GString) expected = g_string_new (NULL);
  lm_vocab_decode (loaded->vocab, prompt, n_prompt, expected);
  lm_vocab_decode (loaded->vocab, ids, 3000, expected);
  if (expected->str[expected->len - 1] != '\n')
    g_string_append_c (expected, '\n');
  g_assert_cmpuint (expected->len, >, 2 * 4096);
  g_assert_cmpstr (r.out, ==, expected->str);
  lm_test_run_clear (&r);

  /* A finished model is not overwritten without --force. */
  g_autofree char *ckpt = g_build_filename (model, "model.ckpt", NULL);
  g_autofree char *before = NULL;
  gsize before_len;
  g_assert_true (g_file_get_contents (ckpt, &before, &before_len, NULL));
  r = lm_test_run ("train", "--model", "ngram", "--train", train, "--set", "order=2", "-o", model,
                 NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "--force"));
  lm_test_run_clear (&r);
  g_autofree char *after = NULL;
  gsize after_len;
  g_assert_true (g_file_get_contents (ckpt, &after, &after_len, NULL));
  g_assert_cmpmem (before, before_len, after, after_len);

  /* A damaged model file is a clear error, exit 2. */
  after[after_len / 2] ^= 0x10;
  g_assert_true (g_file_set_contents (ckpt, after, after_len, NULL));
  r = lm_test_run ("eval", model, "--test", test, NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_cmpuint (lm_test_count_lines (r.err), ==, 1);
  g_assert_nonnull (strstr (r.err, "checksum"));
  lm_test_run_clear (&r);
  lm_test_rmtree (dir);
}

static void
test_cli_train_bad_usage (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *tiny = g_test_build_filename (G_TEST_DIST, "data", "tiny.txt", NULL);
  g_autofree char *out = g_build_filename (dir, "m", NULL);
  struct { const char *set; const char *fragment; } cases[] = {
    { "order=0", "order=0 is out of range" },
    { "ordr=3", "did you mean 'order'" },
    { "smoothing=magic", "not one of" },
    { "valid_fraction=2", "valid_fraction=2 is out of range" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      LmTestRun r = lm_test_run ("train", "--model", "ngram", "--train", tiny, "--set", cases[i].set,
                         "-o", out, NULL);
      g_assert_cmpint (r.status, ==, 2);
      if (strstr (r.err, cases[i].fragment) == NULL)
        g_error ("'%s' does not mention '%s'", r.err, cases[i].fragment);
      lm_test_run_clear (&r);
      g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
    }
  LmTestRun r = lm_test_run ("train", "--model", "markov", "--train", tiny, "-o", out, NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "unknown model 'markov'"));
  lm_test_run_clear (&r);
  r = lm_test_run ("eval", dir, "--test", tiny, NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "no model.ckpt"));
  lm_test_run_clear (&r);
  lm_test_rmtree (dir);
}

/* What --force and a second start must not do: leave the old model loadable beside a
 * new run that failed, overwrite an unfinished training, or replace a symlink (or a
 * device) given as an output file with a regular file. */
static void
test_cli_output_guards (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *tiny = g_test_build_filename (G_TEST_DIST, "data", "tiny.txt", NULL);
  g_autofree char *out = g_build_filename (dir, "rnn", NULL);
  g_autofree char *ini = lm_test_write (dir, "rnn.ini",
                                        "[model]\nhidden = 4\nemb = 4\nlayers = 1\n"
                                        "batch = 2\ncontext = 3\nsteps = 12\n", -1);
  g_autofree char *model_ckpt = g_build_filename (out, "model.ckpt", NULL);
  g_autofree char *train_ckpt = g_build_filename (out, "train.ckpt", NULL);
  g_autofree char *config_txt = g_build_filename (out, "config.txt", NULL);
  g_free (lm_test_expect (0, NULL, "train", "--model", "rnn", "--train", tiny, "--config", ini,
                          "-o", out, "-q", NULL));
  g_assert_true (g_file_test (model_ckpt, G_FILE_TEST_EXISTS));

  /* A --force run that fails (a transformer at lr 1000 without clipping diverges) leaves
   * no model to load, the old rnn or a new one. */
  g_free (lm_test_expect (1, "diverged", "train", "--model", "transformer", "--train", tiny,
                          "--set", "d=8", "--set", "heads=2", "--set", "layers=1", "--set",
                          "context=3", "--set", "batch=2", "--set", "steps=30", "--set",
                          "optimizer=sgd", "--set", "lr=1000", "--set", "clip=0", "-o", out,
                          "-q", "--force", NULL));
  g_assert_false (g_file_test (model_ckpt, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (config_txt, G_FILE_TEST_EXISTS));
  g_free (lm_test_expect (2, "no model.ckpt", "eval", out, "--test", tiny, NULL));

  /* An unfinished training (train.ckpt, no model.ckpt, as an interruption leaves it) is
   * not started again over itself without --resume or --force. */
  g_free (lm_test_expect (0, NULL, "train", "--model", "rnn", "--train", tiny, "--config", ini,
                          "-o", out, "-q", "--force", NULL));
  g_assert_cmpint (g_unlink (model_ckpt), ==, 0);
  g_autofree char *before = NULL;
  gsize before_len;
  g_assert_true (g_file_get_contents (train_ckpt, &before, &before_len, NULL));
  g_free (lm_test_expect (2, "unfinished training (train.ckpt); pass --resume", "train",
                          "--model", "rnn", "--train", tiny, "--config", ini, "-o", out, "-q",
                          NULL));
  /* nor by another model's run, which would share its folder */
  g_free (lm_test_expect (2, "unfinished training", "train", "--model", "ngram", "--train",
                          tiny, "-o", out, "-q", NULL));
  g_autofree char *after = NULL;
  gsize after_len;
  g_assert_true (g_file_get_contents (train_ckpt, &after, &after_len, NULL));
  g_assert_cmpmem (before, before_len, after, after_len);

  /* Output files: a symlink is refused even with --force (its target stays), and so is a
   * path whose folder is not a directory, before any training. */
  g_autofree char *target = lm_test_write (dir, "target.txt", "keep\n", -1);
  g_autofree char *link = g_build_filename (dir, "link.arpa", NULL);
  g_assert_cmpint (symlink (target, link), ==, 0);
  g_autofree char *ngram = g_build_filename (dir, "ngram", NULL);
  g_free (lm_test_expect (2, "not a regular file", "train", "--model", "ngram", "--train", tiny,
                          "-o", ngram, "-q", "--arpa", link, "--force", NULL));
  g_assert_false (g_file_test (ngram, G_FILE_TEST_EXISTS));
  g_autofree char *under_file = g_build_filename (target, "x.arpa", NULL);
  g_free (lm_test_expect (2, "is not a directory", "train", "--model", "ngram", "--train", tiny,
                          "-o", ngram, "-q", "--arpa", under_file, NULL));
  g_autofree char *in_missing = g_build_filename (dir, "missing", "x.arpa", NULL);
  g_free (lm_test_expect (2, "missing does not exist", "train", "--model", "ngram", "--train",
                          tiny, "-o", ngram, "-q", "--arpa", in_missing, NULL));
  g_assert_false (g_file_test (ngram, G_FILE_TEST_EXISTS));
  g_free (lm_test_expect (0, NULL, "train", "--model", "ngram", "--train", tiny, "-o", ngram,
                          "-q", NULL));
  g_free (lm_test_expect (2, "symbolic link", "ngram", "export-arpa", ngram, link, "--force",
                          NULL));
  g_assert_true (g_file_test (link, G_FILE_TEST_IS_SYMLINK));
  g_autofree char *kept = NULL;
  g_assert_true (g_file_get_contents (target, &kept, NULL, NULL));
  g_assert_cmpstr (kept, ==, "keep\n");
  lm_test_rmtree (dir);
}

/* The "training diverged" warning is for trained models that really did: not for an
 * n-gram model whose perplexity is infinite (explained where it is scored). */
static void
test_cli_divergence_warning (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *tiny = g_test_build_filename (G_TEST_DIST, "data", "tiny.txt", NULL);
  g_autofree char *out = g_build_filename (dir, "m", NULL);
  /* the validation part (the last 10%) holds words the training part lacks */
  g_autoptr (GString) text = g_string_new (NULL);
  for (int i = 0; i < 18; i++)
    g_string_append (text, "the cat sat\n");
  g_string_append (text, "the dog ran\nthe dog ran\n");
  g_autofree char *mle = lm_test_write (dir, "mle.txt", text->str, -1);
  LmTestRun r = lm_test_run ("train", "--model", "ngram", "--train", mle, "--set", "order=2",
                             "--set", "smoothing=mle", "-o", out, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "perplexity is infinite"));
  g_assert_null (strstr (r.err, "diverged"));
  lm_test_run_clear (&r);
  g_autofree char *ini = lm_test_write (dir, "rnn.ini",
                                        "[model]\nhidden = 4\nemb = 4\nlayers = 1\n"
                                        "batch = 2\ncontext = 3\nsteps = 40\n", -1);
  g_free (lm_test_expect (0, "training diverged", "train", "--model", "rnn", "--train", tiny,
                          "--config", ini, "--set", "optimizer=sgd", "--set", "lr=1000", "--set",
                          "clip=0", "-o", out, "-q", "--force", NULL));
  lm_test_rmtree (dir);
}

/* keep_best: train says which step's parameters it kept and records it in train.json
 * (-1 when not asked); without a validation text it is refused before training. The
 * parameters themselves are checked in tests/test-train.c (/train/keep-best). */
static void
test_cli_keep_best (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *tiny = g_test_build_filename (G_TEST_DIST, "data", "tiny.txt", NULL);
  g_autofree char *out = g_build_filename (dir, "rnn", NULL);
  g_autofree char *ini = lm_test_write (dir, "rnn.ini",
                                        "[model]\nhidden = 4\nemb = 4\nlayers = 1\n"
                                        "batch = 2\ncontext = 3\nsteps = 12\neval_every = 3\n",
                                        -1);
  g_autofree char *human = lm_test_expect (0, NULL, "train", "--model", "rnn", "--train", tiny,
                                           "--valid", tiny, "--config", ini, "--set",
                                           "keep_best=true", "-o", out, NULL);
  g_assert_nonnull (strstr (human, "kept the parameters of step "));
  g_autofree char *json = lm_test_expect (0, NULL, "train", "--model", "rnn", "--train", tiny,
                                          "--valid", tiny, "--config", ini, "--set",
                                          "keep_best=true", "-o", out, "--force", "--json", "-q",
                                          NULL);
  g_autofree char *best = json_field (json, "best_step");
  gint64 step = g_ascii_strtoll (best, NULL, 10);
  g_assert_true (step == 3 || step == 6 || step == 9 || step == 12); /* a validated step */
  g_autofree char *plain = lm_test_expect (0, NULL, "train", "--model", "rnn", "--train", tiny,
                                           "--valid", tiny, "--config", ini, "-o", out,
                                           "--force", "--json", "-q", NULL);
  g_autofree char *none = json_field (plain, "best_step");
  g_assert_cmpstr (none, ==, "-1");
  g_autofree char *out2 = g_build_filename (dir, "rnn2", NULL);
  g_free (lm_test_expect (2, "keep_best acts on validation losses", "train", "--model", "rnn",
                          "--train", tiny, "--config", ini, "--set", "valid_fraction=0", "--set",
                          "keep_best=true", "-o", out2, NULL));
  g_autofree char *metrics2 = g_build_filename (out2, "metrics.tsv", NULL);
  g_assert_false (g_file_test (metrics2, G_FILE_TEST_EXISTS)); /* refused before training */
  lm_test_rmtree (dir);
}

static void
test_cli_resume_guards (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *tiny = g_test_build_filename (G_TEST_DIST, "data", "tiny.txt", NULL);
  g_autofree char *out = g_build_filename (dir, "rnn", NULL);
  g_autofree char *ngram_out = g_build_filename (dir, "ngram", NULL);
  g_autofree char *ini = lm_test_write (dir, "rnn.ini",
                                        "[model]\nhidden = 4\nemb = 4\nlayers = 1\n"
                                        "batch = 2\ncontext = 3\nsteps = 4\n", -1);

  /* Nothing to resume yet. */
  LmTestRun r = lm_test_run ("train", "--model", "rnn", "--train", tiny, "--valid", tiny, "--config",
                     ini, "-o", out, "--resume", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "nothing to resume"));
  lm_test_run_clear (&r);
  r = lm_test_run ("train", "--model", "rnn", "--train", tiny, "--valid", tiny, "--config", ini,
                 "-o", out, "-q", NULL);
  g_assert_cmpint (r.status, ==, 0);
  lm_test_run_clear (&r);
  g_autofree char *report = g_build_filename (out, "train.json", NULL);
  g_assert_true (g_file_test (report, G_FILE_TEST_EXISTS));

  /* A checkpoint of another model family is refused, and the model stays. */
  r = lm_test_run ("train", "--model", "lstm", "--train", tiny, "--valid", tiny, "--config", ini,
                 "-o", out, "--resume", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "'rnn' model, not 'lstm'"));
  lm_test_run_clear (&r);
  r = lm_test_run ("train", "--model", "rnn", "--train", tiny, "--config", ini, "-o", out,
                 "--resume", "--force", NULL);
  g_assert_cmpint (r.status, ==, 2);
  lm_test_run_clear (&r);
  /* n-gram models have nothing to resume. */
  r = lm_test_run ("train", "--model", "ngram", "--train", tiny, "-o", ngram_out, "--resume", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "one pass"));
  lm_test_run_clear (&r);

  /* A validation text too short for eval_batch is refused before training. */
  g_autofree char *short_valid = lm_test_write (dir, "short.txt", "the cat\n", -1);
  g_autofree char *out2 = g_build_filename (dir, "rnn2", NULL);
  r = lm_test_run ("train", "--model", "rnn", "--train", tiny, "--valid", short_valid, "--config",
                 ini, "--set", "eval_batch=8", "-o", out2, NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "eval_batch"));
  lm_test_run_clear (&r);
  g_autofree char *metrics2 = g_build_filename (out2, "metrics.tsv", NULL);
  g_assert_false (g_file_test (metrics2, G_FILE_TEST_EXISTS));

  /* An INI key set twice names its last line. */
  g_autofree char *dup = lm_test_write (dir, "dup.ini", "[model]\nhidden = 4\n\nhidden = 8\n",
                                        -1);
  r = lm_test_run ("train", "--model", "rnn", "--train", tiny, "--config", dup, "-o", out2, NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "dup.ini:4: hidden is set 2 times"));
  lm_test_run_clear (&r);

  /* A vocabulary of nothing but the specials is refused. */
  r = lm_test_run ("train", "--model", "ngram", "--train", tiny, "--set", "min_count=100", "-o",
                 ngram_out, NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "no symbol"));
  lm_test_run_clear (&r);
  r = lm_test_run ("train", "--model", "ngram", "--train", tiny, "-o", "", NULL);
  g_assert_cmpint (r.status, ==, 2);
  lm_test_run_clear (&r);
  lm_test_rmtree (dir);
}

/* At char level <unk> (characters the vocabulary left out) is never generated, even when
 * it is the most probable token, and a prompt prints as given: no U+FFFD in the output. */
static void
test_cli_generate_char_unk (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  /* 300 distinct characters seen once each (all <unk> with min_count=2) outweigh the 100
   * a's, b's and newlines, so <unk> is the unigram's most probable token. */
  g_autoptr (GString) text = g_string_new (NULL);
  for (int i = 0; i < 100; i++)
    g_string_append (text, "ab\n");
  for (gunichar c = 0x4e00; c < 0x4e00 + 300; c++)
    g_string_append_unichar (text, c);
  g_string_append_c (text, '\n');
  g_autofree char *train = lm_test_write (dir, "train.txt", text->str, -1);
  g_autofree char *model = g_build_filename (dir, "m", NULL);
  LmTestRun r = lm_test_run ("train", "--model", "ngram", "--train", train, "--level", "char",
                             "--set", "order=1", "--set", "smoothing=mle", "--set",
                             "min_count=2", "--set", "valid_fraction=0", "-o", model, "-q",
                             "--no-eval", NULL);
  g_assert_cmpint (r.status, ==, 0);
  lm_test_run_clear (&r);

  r = lm_test_run ("generate", model, "--temperature", "0", "--tokens", "8", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_null (strstr (r.out, "\xef\xbf\xbd"));
  g_assert_cmpuint (strlen (r.out), >=, 8);
  lm_test_run_clear (&r);
  r = lm_test_run ("generate", model, "--prompt", "a\xe4\xb8\x80z", "--tokens", "50", "--seed",
                   "3", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_true (g_str_has_prefix (r.out, "a\xe4\xb8\x80z"));
  g_assert_null (strstr (r.out, "\xef\xbf\xbd"));
  g_assert_nonnull (strstr (r.err, "2 prompt token(s) are not in the vocabulary"));
  lm_test_run_clear (&r);
  lm_test_rmtree (dir);
}

static guint
count_occurrences (const char *haystack, const char *needle)
{
  guint n = 0;
  for (const char *p = strstr (haystack, needle); p; p = strstr (p + 1, needle))
    n++;
  return n;
}

/* train --help documents every option of every model with its default, and each exactly
 * once: the options rnn, lstm and gru share are one group, not three copies. */
static void
test_cli_help_train (void)
{
  LmTestRun r = lm_test_run ("train", "--help", NULL);
  g_assert_cmpint (r.status, ==, 0);
  for (const LmModelClass *const *k = lm_registry_classes (); *k; k++)
    {
      g_autofree char *header = g_strdup_printf ("\n %s (%s):", (*k)->name, (*k)->description);
      g_assert_cmpuint (count_occurrences (r.out, header), ==, 1);
      for (const LmOptionSpec *spec = (*k)->options; spec->name; spec++)
        {
          LmOptionSpec one[2] = { *spec, { NULL } };
          g_autoptr (GString) line = g_string_new ("\n");
          lm_option_specs_describe (one, line);
          if (count_occurrences (r.out, line->str) != 1)
            g_error ("%s's option line%s is listed %u times in train --help", (*k)->name,
                     line->str, count_occurrences (r.out, line->str));
        }
    }
  g_assert_cmpuint (count_occurrences (r.out, "rnn, lstm, gru (the options they share):"), ==, 1);
  lm_test_run_clear (&r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/help", test_cli_help);
  g_test_add_func ("/cli/help-train", test_cli_help_train);
  g_test_add_func ("/cli/corpus-stats", test_cli_corpus_stats);
  g_test_add_func ("/cli/bad-input", test_cli_bad_input);
  g_test_add_func ("/cli/train-eval-generate", test_cli_train_eval_generate);
  g_test_add_func ("/cli/generate-char-unk", test_cli_generate_char_unk);
  g_test_add_func ("/cli/train-bad-usage", test_cli_train_bad_usage);
  g_test_add_func ("/cli/resume-guards", test_cli_resume_guards);
  g_test_add_func ("/cli/keep-best", test_cli_keep_best);
  g_test_add_func ("/cli/output-guards", test_cli_output_guards);
  g_test_add_func ("/cli/divergence-warning", test_cli_divergence_warning);
  g_test_add_func ("/cli/default-corpus", test_cli_default_corpus);
  g_test_add_func ("/cli/ptb-stats", test_cli_ptb_stats);
  g_test_add_func ("/cli/shakespeare-stats", test_cli_shakespeare_stats);
  return g_test_run ();
}
