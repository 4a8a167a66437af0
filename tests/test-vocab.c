/* test-vocab.c — tokenizers and the vocabulary. */
#include "config.h"

#include <string.h>

#include "core/lm-error.h"
#include "core/lm-vocab.h"
#include "lm-test-util.h"

static void
collect (const char *symbol, gsize len, gpointer user_data)
{
  g_ptr_array_add (user_data, g_strndup (symbol, len));
}

static char *
tokens_joined (LmLevel level, const char *text)
{
  g_autoptr (GPtrArray) tokens = g_ptr_array_new_with_free_func (g_free);
  lm_tokenize (level, text, strlen (text), collect, tokens);
  g_ptr_array_add (tokens, NULL);
  return g_strjoinv ("|", (char **) tokens->pdata);
}

static void
test_vocab_tokenize (void)
{
  g_autofree char *w = tokens_joined (LM_LEVEL_WORD, " the  cat\tsat \n\nend\n");
  g_assert_cmpstr (w, ==, "the|cat|sat|</s>|</s>|end|</s>");
  /* "né" is two code points and three bytes. */
  g_autofree char *c = tokens_joined (LM_LEVEL_CHAR, "n\xc3\xa9 \n");
  g_assert_cmpstr (c, ==, "n|\xc3\xa9| |\n");
  g_autoptr (GPtrArray) bytes = g_ptr_array_new_with_free_func (g_free);
  lm_tokenize (LM_LEVEL_BYTE, "n\xc3\xa9\n", 4, collect, bytes);
  g_assert_cmpuint (bytes->len, ==, 4);
}

static void
test_vocab_build_order (void)
{
  const char *text = "b a c a\nb a <unk> z\n";
  g_autoptr (LmVocab) v = lm_vocab_build (LM_LEVEL_WORD, text, strlen (text), NULL);
  /* specials, then by count (a 3, b 2), ties in byte order (c, z). */
  g_assert_cmpuint (lm_vocab_size (v), ==, 7);
  g_assert_cmpstr (lm_vocab_symbol (v, 0), ==, "<s>");
  g_assert_cmpstr (lm_vocab_symbol (v, 1), ==, "</s>");
  g_assert_cmpstr (lm_vocab_symbol (v, 2), ==, "<unk>");
  g_assert_cmpstr (lm_vocab_symbol (v, 3), ==, "a");
  g_assert_cmpstr (lm_vocab_symbol (v, 4), ==, "b");
  g_assert_cmpstr (lm_vocab_symbol (v, 5), ==, "c");
  g_assert_cmpstr (lm_vocab_symbol (v, 6), ==, "z");
  g_assert_cmpint (lm_vocab_count (v, LM_TOKEN_EOS), ==, 2);
  g_assert_cmpint (lm_vocab_count (v, LM_TOKEN_UNK), ==, 1); /* the literal <unk> */
  g_assert_cmpint (lm_vocab_lookup (v, "a", 1), ==, 3);
  g_assert_cmpint (lm_vocab_lookup (v, "q", 1), ==, -1);
  g_assert_cmpint (lm_vocab_lookup (v, "<unk>", 5), ==, LM_TOKEN_UNK);
}

static void
test_vocab_limits (void)
{
  const char *text = "a a a b b c\n";
  LmVocabLimits min2 = { .min_count = 2 };
  g_autoptr (LmVocab) v = lm_vocab_build (LM_LEVEL_WORD, text, strlen (text), &min2);
  g_assert_cmpuint (lm_vocab_size (v), ==, 5);
  g_assert_cmpint (lm_vocab_lookup (v, "c", 1), ==, -1);
  g_assert_cmpint (lm_vocab_count (v, LM_TOKEN_UNK), ==, 1);
  LmVocabLimits max4 = { .min_count = 1, .max_size = 4 };
  g_autoptr (LmVocab) w = lm_vocab_build (LM_LEVEL_WORD, text, strlen (text), &max4);
  g_assert_cmpuint (lm_vocab_size (w), ==, 4);
  g_assert_cmpstr (lm_vocab_symbol (w, 3), ==, "a");
  g_assert_cmpint (lm_vocab_count (w, LM_TOKEN_UNK), ==, 3);

  gsize n, oov, chars;
  g_autofree gint32 *ids = lm_vocab_encode (w, "a c d\n", 6, &n, &oov, &chars);
  g_assert_cmpuint (n, ==, 4);
  g_assert_cmpuint (oov, ==, 2);
  g_assert_cmpuint (chars, ==, 6);
  g_assert_cmpint (ids[0], ==, 3);
  g_assert_cmpint (ids[1], ==, LM_TOKEN_UNK);
  g_assert_cmpint (ids[3], ==, LM_TOKEN_EOS);
}

static void
test_vocab_encode_decode (void)
{
  const char *text = "the cat\nthe dog\n";
  g_autoptr (LmVocab) v = lm_vocab_build (LM_LEVEL_WORD, text, strlen (text), NULL);
  gsize n;
  g_autofree gint32 *ids = lm_vocab_encode (v, text, strlen (text), &n, NULL, NULL);
  g_assert_cmpuint (n, ==, 6);
  g_autoptr (GString) out = g_string_new (NULL);
  lm_vocab_decode (v, ids, n, out);
  g_assert_cmpstr (out->str, ==, text);

  const char *chars = "h\xc3\xa9h\n";
  g_autoptr (LmVocab) c = lm_vocab_build (LM_LEVEL_CHAR, chars, strlen (chars), NULL);
  g_autofree gint32 *cids = lm_vocab_encode (c, chars, strlen (chars), &n, NULL, NULL);
  g_assert_cmpuint (n, ==, 4);
  g_string_truncate (out, 0);
  lm_vocab_decode (c, cids, n, out);
  g_assert_cmpstr (out->str, ==, chars);
}

static void
test_vocab_serialise (void)
{
  /* Symbols that need escaping: tab, newline, backslash, a lone high byte (byte level). */
  const char *text = "a\tb\\c\n\xe2\x82\xac\n";
  for (LmLevel level = LM_LEVEL_WORD; level <= LM_LEVEL_BYTE; level++)
    {
      g_autoptr (LmVocab) v = lm_vocab_build (level, text, strlen (text), NULL);
      gsize len;
      g_autofree char *data = lm_vocab_to_text (v, &len);
      g_autoptr (GError) error = NULL;
      g_autoptr (LmVocab) back = lm_vocab_from_text (data, len, &error);
      g_assert_no_error (error);
      g_assert_true (lm_vocab_equal (v, back));
      g_assert_cmpuint (lm_vocab_fingerprint (v), ==, lm_vocab_fingerprint (back));
      for (guint32 id = 0; id < lm_vocab_size (v); id++)
        g_assert_cmpint (lm_vocab_count (v, id), ==, lm_vocab_count (back, id));
    }
  g_autoptr (LmVocab) w = lm_vocab_build (LM_LEVEL_WORD, text, strlen (text), NULL);
  g_autoptr (LmVocab) c = lm_vocab_build (LM_LEVEL_CHAR, text, strlen (text), NULL);
  g_assert_false (lm_vocab_equal (w, c));
  g_assert_cmpuint (lm_vocab_fingerprint (w), !=, lm_vocab_fingerprint (c));

  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "vocab.txt", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_vocab_save (w, path, &error));
  g_autoptr (LmVocab) loaded = lm_vocab_load (path, &error);
  g_assert_no_error (error);
  g_assert_true (lm_vocab_equal (w, loaded));
  lm_test_rmtree (dir);
}

static void
expect_corrupt (const char *data, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmVocab) v = lm_vocab_from_text (data, strlen (data), &error);
  g_assert_null (v);
  g_assert_error (error, LM_ERROR, LM_ERROR_CORRUPT);
  if (strstr (error->message, fragment) == NULL)
    g_error ("'%s' does not mention '%s'", error->message, fragment);
}

static void
test_vocab_bad_input (void)
{
  expect_corrupt ("", "header");
  expect_corrupt ("hello\n", "line 1");
  expect_corrupt ("lmlab-vocab 9 level=word size=3\n", "version");
  expect_corrupt ("lmlab-vocab 1 level=poem size=3\n", "unknown level");
  expect_corrupt ("lmlab-vocab 1 level=word size=3\n0\t<s>\n0\t</s>\n", "header says 3");
  expect_corrupt ("lmlab-vocab 1 level=word size=3\n0\t<s>\nx\t</s>\n0\t<unk>\n", "line 3");
  expect_corrupt ("lmlab-vocab 1 level=word size=3\n0\t<s>\n0\t<unk>\n0\t</s>\n", "must be");
  expect_corrupt ("lmlab-vocab 1 level=word size=4\n0\t<s>\n0\t</s>\n0\t<unk>\n1\ta\\q\n",
                  "line 5");
  expect_corrupt ("lmlab-vocab 1 level=word size=5\n0\t<s>\n0\t</s>\n0\t<unk>\n1\ta\n1\ta\n",
                  "repeats");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vocab/tokenize", test_vocab_tokenize);
  g_test_add_func ("/vocab/build-order", test_vocab_build_order);
  g_test_add_func ("/vocab/limits", test_vocab_limits);
  g_test_add_func ("/vocab/encode-decode", test_vocab_encode_decode);
  g_test_add_func ("/vocab/serialise", test_vocab_serialise);
  g_test_add_func ("/vocab/bad-input", test_vocab_bad_input);
  return g_test_run ();
}
