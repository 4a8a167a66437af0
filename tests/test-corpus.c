/* test-corpus.c — reading, validation, splitting, streams and batches. */
#include "config.h"

#include <string.h>

#include "core/lm-corpus.h"
#include "core/lm-error.h"
#include "lm-test-util.h"

static void
expect_read_error (const char *data, gssize len, int code, const char *fragment)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = lm_test_write (dir, "bad.txt", data, len);
  g_autoptr (GError) error = NULL;
  LmText *text = NULL;
  g_assert_false (lm_text_read (path, &text, &error));
  g_assert_null (text);
  g_assert_error (error, LM_ERROR, code);
  if (strstr (error->message, fragment) == NULL)
    g_error ("'%s' does not mention '%s'", error->message, fragment);
  g_assert_nonnull (strstr (error->message, "bad.txt"));
  lm_test_rmtree (dir);
}

static void
test_corpus_bad_files (void)
{
  expect_read_error ("", 0, LM_ERROR_INVALID_INPUT, "empty");
  expect_read_error ("\xef\xbb\xbf", 3, LM_ERROR_INVALID_INPUT, "empty");
  /* Invalid UTF-8 on line 2 at byte offset 9. */
  expect_read_error ("line one\nab\xff" "cd\n", -1, LM_ERROR_INVALID_INPUT,
                     ":2: invalid UTF-8 at byte offset 11");
  expect_read_error ("ok\nnul\0here\n", 12, LM_ERROR_INVALID_INPUT, "NUL byte");

  g_autoptr (GError) error = NULL;
  LmText *text = NULL;
  g_autofree char *dir = lm_test_tmpdir ();
  g_assert_false (lm_text_read (dir, &text, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "directory"));
  g_clear_error (&error);
  g_autofree char *missing = g_build_filename (dir, "missing.txt", NULL);
  g_assert_false (lm_text_read (missing, &text, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "missing.txt"));
  lm_test_rmtree (dir);
}

static void
test_corpus_normalise (void)
{
  g_autoptr (GError) error = NULL;
  LmText *text = NULL;
  /* BOM dropped, CRLF and CR become LF, final newline added. */
  const char data[] = "\xef\xbb\xbf" "a b\r\nc\rd";
  g_assert_true (lm_text_from_data ("mem", data, sizeof data - 1, &text, &error));
  g_assert_cmpstr (text->data, ==, "a b\nc\nd\n");
  g_assert_cmpuint (text->len, ==, 8);
  g_assert_cmpuint (text->n_lines, ==, 3);
  g_assert_cmpuint (text->n_chars, ==, 8);
  lm_text_free (text);
}

static void
test_corpus_split (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmText) text = NULL;
  /* 10 lines, 20 characters. */
  const char *data = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
  g_assert_true (lm_text_from_data ("mem", data, strlen (data), &text, &error));
  LmText *train, *valid, *test;
  g_assert_true (lm_text_split (text, LM_SPLIT_BY_LINE, 0.2, 0.1, &train, &valid, &test, &error));
  g_assert_cmpstr (train->data, ==, "a\nb\nc\nd\ne\nf\ng\n");
  g_assert_cmpstr (valid->data, ==, "h\ni\n");
  g_assert_cmpstr (test->data, ==, "j\n");
  g_assert_cmpstr (valid->name, ==, "mem[valid]");
  lm_text_free (train), lm_text_free (valid), lm_text_free (test);

  /* By character: first floor(0.9 * 20) = 18 characters train. */
  g_assert_true (lm_text_split (text, LM_SPLIT_BY_CHAR, 0.1, 0, &train, &valid, &test, &error));
  g_assert_null (test);
  g_assert_cmpuint (train->n_chars, ==, 18);
  g_assert_cmpuint (valid->n_chars, ==, 2);
  g_assert_cmpstr (valid->data, ==, "j\n");
  lm_text_free (train), lm_text_free (valid);

  g_assert_false (lm_text_split (text, LM_SPLIT_BY_LINE, 0.6, 0.5, &train, &valid, &test, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_clear_error (&error);
  g_autoptr (LmText) tiny = NULL;
  g_assert_true (lm_text_from_data ("tiny", "x\n", 2, &tiny, &error));
  g_assert_false (lm_text_split (tiny, LM_SPLIT_BY_LINE, 0.1, 0, &train, &valid, &test, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
}

static void
test_corpus_split_multibyte (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmText) text = NULL;
  const char *data = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n"; /* 5 code points, 9 bytes */
  g_assert_true (lm_text_from_data ("mem", data, strlen (data), &text, &error));
  LmText *train, *valid, *test;
  g_assert_true (lm_text_split (text, LM_SPLIT_BY_CHAR, 0.4, 0, &train, &valid, &test, &error));
  g_assert_cmpuint (train->n_chars, ==, 3);
  g_assert_cmpuint (train->len, ==, 6);
  g_assert_cmpstr (valid->data, ==, "\xc3\xa9\n");
  lm_text_free (train), lm_text_free (valid);
}

static void
test_corpus_load (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *train = lm_test_write (dir, "train.txt", "a b c\na b\nb c\nc a\n", -1);
  g_autofree char *valid = lm_test_write (dir, "valid.txt", "a d\n", -1);
  LmCorpusSpec spec;
  lm_corpus_spec_init (&spec, LM_LEVEL_WORD);
  spec.train_path = train;
  spec.valid_path = valid;
  g_autoptr (GError) error = NULL;
  g_autoptr (LmCorpus) corpus = NULL;
  g_assert_true (lm_corpus_load (&spec, &corpus, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (lm_vocab_size (corpus->vocab), ==, 6);
  g_assert_cmpuint (corpus->stream[LM_PART_TRAIN]->n_tokens, ==, 13);
  g_assert_cmpuint (corpus->stream[LM_PART_VALID]->n_tokens, ==, 3);
  g_assert_cmpuint (corpus->stream[LM_PART_VALID]->n_oov, ==, 1);
  g_assert_cmpuint (corpus->stream[LM_PART_VALID]->n_chars, ==, 4);
  g_assert_null (corpus->stream[LM_PART_TEST]);

  /* Default split: 10% of lines for validation -> floor(0.9 * 4) = 3 train lines. */
  spec.valid_path = NULL;
  g_autoptr (LmCorpus) split = NULL;
  g_assert_true (lm_corpus_load (&spec, &split, &error));
  g_assert_cmpuint (split->text[LM_PART_TRAIN]->n_lines, ==, 3);
  g_assert_cmpuint (split->text[LM_PART_VALID]->n_lines, ==, 1);

  /* A literal <s> is not a word: the start-of-sentence mark would become a target. */
  g_autofree char *with_bos = lm_test_write (dir, "bos.txt", "a </s> b c\na b\nb <s> c\nc a\n",
                                                 -1); /* a literal </s> is no line end here */
  spec.train_path = with_bos;
  spec.valid_path = valid;
  g_autoptr (LmCorpus) refused = NULL;
  g_assert_false (lm_corpus_load (&spec, &refused, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "bos.txt:3: the word <s>"));
  g_clear_error (&error);
  /* </s> and <unk> stay what the design says: a line end, the unknown word */
  g_autofree char *specials = lm_test_write (dir, "specials.txt", "a <unk> b </s> c\na b\n", -1);
  spec.train_path = specials;
  g_autoptr (LmCorpus) taken = NULL;
  g_assert_true (lm_corpus_load (&spec, &taken, &error));
  g_assert_no_error (error);
  lm_test_rmtree (dir);
}

static void
test_corpus_stream_batches (void)
{
  gint32 tokens[23];
  for (int i = 0; i < 23; i++)
    tokens[i] = i;
  LmStreamBatches batches;
  g_autoptr (GError) error = NULL;
  /* 3 rows of (23 - 1) / 3 = 7 tokens, T = 3: batches of 3, 3, 1 steps. */
  g_assert_true (lm_stream_batches_init (&batches, tokens, 23, 3, 3, &error));
  g_assert_cmpuint (batches.row_len, ==, 7);
  g_assert_cmpuint (batches.n_batches, ==, 3);
  gint32 in[9], out[9];
  g_assert_cmpint (lm_stream_batch (&batches, 0, in, out), ==, 3);
  gint32 expect_in0[9] = { 0, 1, 2, 7, 8, 9, 14, 15, 16 };
  for (int i = 0; i < 9; i++)
    {
      g_assert_cmpint (in[i], ==, expect_in0[i]);
      g_assert_cmpint (out[i], ==, expect_in0[i] + 1);
    }
  /* Row b of batch 1 continues row b of batch 0. */
  g_assert_cmpint (lm_stream_batch (&batches, 1, in, out), ==, 3);
  g_assert_cmpint (in[0], ==, 3);
  g_assert_cmpint (in[3], ==, 10);
  /* The last batch is short and packed as (B, 1). */
  g_assert_cmpint (lm_stream_batch (&batches, 2, in, out), ==, 1);
  g_assert_cmpint (in[0], ==, 6);
  g_assert_cmpint (in[1], ==, 13);
  g_assert_cmpint (in[2], ==, 20);
  g_assert_cmpint (out[2], ==, 21);

  g_assert_false (lm_stream_batches_init (&batches, tokens, 3, 5, 3, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  g_assert_false (lm_stream_batches_init (&batches, tokens, 23, 0, 3, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
}

static void
test_corpus_random_windows (void)
{
  gint32 tokens[50];
  for (int i = 0; i < 50; i++)
    tokens[i] = i;
  LmRng rng;
  lm_rng_seed (&rng, 3);
  gint32 in[4 * 8], out[4 * 8];
  for (int round = 0; round < 100; round++)
    {
      lm_random_windows (tokens, 50, 4, 8, &rng, in, out);
      for (int b = 0; b < 4; b++)
        for (int t = 0; t < 8; t++)
          {
            g_assert_cmpint (in[b * 8 + t], ==, in[b * 8] + t);
            g_assert_cmpint (out[b * 8 + t], ==, in[b * 8 + t] + 1);
            g_assert_cmpint (out[b * 8 + t], <, 50);
          }
    }
}

static void
test_corpus_b1_split (void)
{
  /* BENCHMARKS.md B1: tinyshakespeare, first 90% of characters train. */
  g_autofree char *path = lm_test_shared_data ("tinyshakespeare/input.txt");
  if (path == NULL)
    return;
  LmCorpusSpec spec;
  lm_corpus_spec_init (&spec, LM_LEVEL_CHAR);
  spec.train_path = path;
  g_autoptr (GError) error = NULL;
  g_autoptr (LmCorpus) corpus = NULL;
  g_assert_true (lm_corpus_load (&spec, &corpus, &error));
  g_assert_cmpuint (corpus->stream[LM_PART_TRAIN]->n_tokens, ==, 1003854);
  g_assert_cmpuint (corpus->stream[LM_PART_VALID]->n_tokens, ==, 111540);
  g_assert_cmpuint (lm_vocab_size (corpus->vocab), ==, 65 + LM_N_SPECIAL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/corpus/bad-files", test_corpus_bad_files);
  g_test_add_func ("/corpus/normalise", test_corpus_normalise);
  g_test_add_func ("/corpus/split", test_corpus_split);
  g_test_add_func ("/corpus/split-multibyte", test_corpus_split_multibyte);
  g_test_add_func ("/corpus/load", test_corpus_load);
  g_test_add_func ("/corpus/stream-batches", test_corpus_stream_batches);
  g_test_add_func ("/corpus/random-windows", test_corpus_random_windows);
  g_test_add_func ("/corpus/b1-split", test_corpus_b1_split);
  return g_test_run ();
}
