/* test-textmetrics.c — BLEU and ROUGE on hand-computed fixtures, their edge cases, and
 * `lmlab metrics` end to end.
 *
 * The fixture (tests/data/metrics, README there):
 *   hyp 1  the cat sat on a mat          ref 1  the cat sat on the mat
 *   hyp 2  a dog is in the garden        ref 2  there is a dog in the garden
 *   hyp 3  he reads                      ref 3  he reads books
 * Every expected number below is worked out in the comments; the BLEU ones were also
 * checked against NLTK 3.8's corpus_bleu (bench/check-bleu-nltk.py).
 */
#include "config.h"

#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include "core/lm-error.h"
#include "harness/lm-textmetrics.h"
#include "lm-test-util.h"

#define TOL 1e-12

static const char *const fixture_hyp[] = {
  "the cat sat on a mat",
  "a dog is in the garden",
  "he reads",
};
static const char *const fixture_ref[] = {
  "the cat sat on the mat",
  "there is a dog in the garden",
  "he reads books",
};
static const char *const fixture_ref2[] = {
  "the cat sat on a mat",
  "there is a dog in a garden",
  "he reads a book",
};

/* Token ids of n lines through one table; lines[i] views into the returned sets. */
typedef struct {
  LmTokenTable *table;
  GPtrArray *sets; /* LmSentences *, one per line */
} Lines;

static void
lines_init (Lines *l)
{
  l->table = lm_token_table_new ();
  l->sets = g_ptr_array_new_with_free_func ((GDestroyNotify) lm_sentences_free);
}

static LmTokenSeq
lines_add (Lines *l, const char *text)
{
  LmSentences *s = lm_sentences_split (l->table, text, strlen (text));
  g_ptr_array_add (l->sets, s);
  if (s->n_lines == 0) /* "" has no line: an empty sentence */
    return (LmTokenSeq){ s->tokens, 0 };
  g_assert_cmpuint (s->n_lines, ==, 1);
  return s->lines[0];
}

static void
lines_clear (Lines *l)
{
  g_ptr_array_unref (l->sets);
  lm_token_table_free (l->table);
}

static double
bleu_of (const char *const *hyps, const char *const *refs, gsize n, const LmBleuOptions *o,
         LmBleuScore *score)
{
  Lines l;
  lines_init (&l);
  LmTokenSeq *h = g_new (LmTokenSeq, n), *r = g_new (LmTokenSeq, n);
  for (gsize i = 0; i < n; i++)
    {
      h[i] = lines_add (&l, hyps[i]);
      r[i] = lines_add (&l, refs[i]);
    }
  LmBleuScore local;
  if (score == NULL)
    score = &local;
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_corpus_bleu (h, n, r, 1, o, score, &error));
  g_assert_no_error (error);
  g_free (h);
  g_free (r);
  lines_clear (&l);
  return score->bleu;
}

static void
test_split (void)
{
  g_autoptr (LmTokenTable) table = lm_token_table_new ();
  const char *text = "  a b\ta \n\nb  c\r\nlast";
  g_autoptr (LmSentences) s = lm_sentences_split (table, text, strlen (text));
  g_assert_cmpuint (s->n_lines, ==, 4);
  g_assert_cmpuint (s->lines[0].n_tokens, ==, 3);
  g_assert_cmpuint (s->lines[1].n_tokens, ==, 0);
  g_assert_cmpuint (s->lines[2].n_tokens, ==, 2);
  g_assert_cmpuint (s->lines[3].n_tokens, ==, 1);
  /* ids in order of first appearance: a 0, b 1, c 2, last 3 */
  g_assert_cmpint (s->lines[0].tokens[0], ==, 0);
  g_assert_cmpint (s->lines[0].tokens[1], ==, 1);
  g_assert_cmpint (s->lines[0].tokens[2], ==, 0);
  g_assert_cmpint (s->lines[2].tokens[0], ==, 1);
  g_assert_cmpint (s->lines[2].tokens[1], ==, 2);
  g_assert_cmpint (s->lines[3].tokens[0], ==, 3);
  g_assert_cmpuint (lm_token_table_size (table), ==, 4);

  /* A final newline ends the last line; it does not start an empty one. */
  g_autoptr (LmSentences) t = lm_sentences_split (table, "x\n", 2);
  g_assert_cmpuint (t->n_lines, ==, 1);
  g_autoptr (LmSentences) e = lm_sentences_split (table, "\n", 1);
  g_assert_cmpuint (e->n_lines, ==, 1);
  g_assert_cmpuint (e->lines[0].n_tokens, ==, 0);
}

static void
test_bleu_fixture (void)
{
  /* Clipped n-gram matches / hypothesis n-grams per pair:
   *          pair 1                pair 2                 pair 3     corpus
   *   n=1    5/6 (a)               6/6                    2/2        13/14
   *   n=2    3/5 (on a, a mat)     3/5 (a dog, in the,    1/1         7/11
   *                                     the garden)
   *   n=3    2/4 (the cat sat,     1/4 (in the garden)    0/0         3/8
   *               cat sat on)
   *   n=4    1/3 (the cat sat on)  0/3                    0/0         1/6
   * c = 6+6+2 = 14, r = 6+7+3 = 16,
   * BP = exp(1 - 16/14) = exp(-1/7) = 0.8668778997501817.
   * NLTK gives "he reads" a denominator of max(1, 0) = 1 at n = 3 and 4:
   *   p3 = 3/9, p4 = 1/7, BLEU = BP (13/14 * 7/11 * 1/3 * 1/7)^(1/4)
   *      = BP (13/462)^(1/4) = 0.3550448972906761
   * sacreBLEU counts 0 there: BLEU = BP (13/14 * 7/11 * 3/8 * 1/6)^(1/4)
   *      = BP (273/7392)^(1/4) = 0.38002144357577333 */
  LmBleuOptions o;
  lm_bleu_options_init (&o);
  LmBleuScore s;
  bleu_of (fixture_hyp, fixture_ref, 3, &o, &s);
  g_assert_cmpfloat_with_epsilon (s.bleu, 0.3550448972906761, TOL);
  g_assert_cmpfloat_with_epsilon (s.brevity_penalty, exp (-1.0 / 7), TOL);
  g_assert_cmpuint (s.hyp_length, ==, 14);
  g_assert_cmpuint (s.ref_length, ==, 16);
  g_assert_cmpuint (s.n_sentences, ==, 3);
  const guint64 matches[] = { 13, 7, 3, 1 }, nltk_totals[] = { 14, 11, 9, 7 };
  for (int n = 0; n < 4; n++)
    {
      g_assert_cmpuint (s.matches[n], ==, matches[n]);
      g_assert_cmpuint (s.totals[n], ==, nltk_totals[n]);
      g_assert_cmpfloat_with_epsilon (s.precisions[n], (double) matches[n] / nltk_totals[n],
                                      TOL);
    }

  o.flavour = LM_BLEU_FLAVOUR_SACREBLEU;
  bleu_of (fixture_hyp, fixture_ref, 3, &o, &s);
  g_assert_cmpfloat_with_epsilon (s.bleu, 0.38002144357577333, TOL);
  g_assert_cmpuint (s.totals[2], ==, 8);
  g_assert_cmpuint (s.totals[3], ==, 6);

  /* BLEU-2: BP (13/14 * 7/11)^(1/2); both flavours agree (every line has 2 tokens). */
  o.max_order = 2;
  double want = exp (-1.0 / 7) * sqrt (13.0 / 14 * 7.0 / 11);
  g_assert_cmpfloat_with_epsilon (bleu_of (fixture_hyp, fixture_ref, 3, &o, NULL), want, TOL);
  o.flavour = LM_BLEU_FLAVOUR_NLTK;
  g_assert_cmpfloat_with_epsilon (bleu_of (fixture_hyp, fixture_ref, 3, &o, NULL), want, TOL);
}

static void
test_bleu_no_4gram_match (void)
{
  /* Pair 2 alone: p = 6/6, 3/5, 1/4, 0/3; c = 6, r = 7, BP = exp(1 - 7/6). */
  const char *const *h = fixture_hyp + 1, *const *r = fixture_ref + 1;
  LmBleuOptions o;
  lm_bleu_options_init (&o);
  LmBleuScore s;
  g_assert_cmpfloat (bleu_of (h, r, 1, &o, &s), ==, 0.0); /* no smoothing: exactly 0 */
  g_assert_cmpfloat (s.precisions[3], ==, 0.0);
  g_assert_cmpfloat_with_epsilon (s.precisions[2], 0.25, TOL);
  o.flavour = LM_BLEU_FLAVOUR_SACREBLEU;
  g_assert_cmpfloat (bleu_of (h, r, 1, &o, NULL), ==, 0.0);

  /* exp: the first order without a match gets 1 / (2 * 3):
   *   BP (1 * 3/5 * 1/4 * 1/6)^(1/4) = 0.3365910691208744 (NLTK method3 agrees) */
  o.smooth = LM_BLEU_SMOOTH_EXP;
  g_assert_cmpfloat_with_epsilon (bleu_of (h, r, 1, &o, &s), 0.3365910691208744, TOL);
  g_assert_cmpfloat_with_epsilon (s.precisions[3], 1.0 / 6, TOL);
  /* floor, epsilon 0.1: p4 = 0.1 / 3: BP (3/5 * 1/4 * 0.1/3)^(1/4) = 0.2250920142162335
   * (NLTK method1 agrees) */
  o.smooth = LM_BLEU_SMOOTH_FLOOR;
  o.flavour = LM_BLEU_FLAVOUR_NLTK;
  g_assert_cmpfloat_with_epsilon (bleu_of (h, r, 1, &o, NULL), 0.2250920142162335, TOL);

  /* A second order without a match doubles the exp denominator again:
   * hyp "x y z w" vs ref "x y q r": p = 2/4, 1/3, 0/2 -> 1/(2*2), 0/1 -> 1/(4*1);
   * c = r = 4, BP = 1: BLEU = (1/2 * 1/3 * 1/4 * 1/4)^(1/4) */
  const char *h2[] = { "x y z w" }, *r2[] = { "x y q r" };
  o.smooth = LM_BLEU_SMOOTH_EXP;
  g_assert_cmpfloat_with_epsilon (bleu_of (h2, r2, 1, &o, NULL),
                                  pow (1.0 / 2 * 1.0 / 3 * 1.0 / 4 * 1.0 / 4, 0.25), TOL);
}

static void
test_bleu_empty_hypothesis (void)
{
  /* Only an empty hypothesis: c = 0, BP = 0, no unigram matches: 0 everywhere. */
  const char *h[] = { "" }, *r[] = { "a b" };
  LmBleuOptions o;
  lm_bleu_options_init (&o);
  LmBleuScore s;
  g_assert_cmpfloat (bleu_of (h, r, 1, &o, &s), ==, 0.0);
  g_assert_cmpfloat (s.brevity_penalty, ==, 0.0);
  g_assert_cmpuint (s.ref_length, ==, 2);
  o.smooth = LM_BLEU_SMOOTH_EXP;
  o.flavour = LM_BLEU_FLAVOUR_SACREBLEU;
  g_assert_cmpfloat (bleu_of (h, r, 1, &o, NULL), ==, 0.0);

  /* Pair 1 plus an empty hypothesis against "he reads books": c = 6, r = 6 + 3 = 9,
   * BP = exp(1 - 9/6) = exp(-1/2). NLTK's denominators grow by one each:
   *   BP (5/7 * 3/6 * 2/5 * 1/4)^(1/4) = 0.2636715372516468
   * sacreBLEU's do not: BP (5/6 * 3/5 * 2/4 * 1/3)^(1/4) = 0.3258798048281462 */
  const char *h3[] = { fixture_hyp[0], "" }, *r3[] = { fixture_ref[0], fixture_ref[2] };
  o.smooth = LM_BLEU_SMOOTH_NONE;
  o.flavour = LM_BLEU_FLAVOUR_NLTK;
  g_assert_cmpfloat_with_epsilon (bleu_of (h3, r3, 2, &o, &s), 0.2636715372516468, TOL);
  g_assert_cmpfloat_with_epsilon (s.brevity_penalty, exp (-0.5), TOL);
  o.flavour = LM_BLEU_FLAVOUR_SACREBLEU;
  g_assert_cmpfloat_with_epsilon (bleu_of (h3, r3, 2, &o, NULL), 0.3258798048281462, TOL);
}

static void
test_bleu_longer_hypothesis (void)
{
  /* hyp "the cat sat on the mat today" (7) vs ref "the cat sat on the mat" (6):
   * c > r so BP = 1; p = 6/7, 5/6, 4/5, 3/4; BLEU = (3/7)^(1/4) = 0.8091067115702212 */
  const char *h[] = { "the cat sat on the mat today" }, *r[] = { fixture_ref[0] };
  LmBleuOptions o;
  lm_bleu_options_init (&o);
  LmBleuScore s;
  g_assert_cmpfloat_with_epsilon (bleu_of (h, r, 1, &o, &s), 0.8091067115702212, TOL);
  g_assert_cmpfloat (s.brevity_penalty, ==, 1.0);

  /* Identical: BLEU 1. c = r gives BP = exp(0) = 1. */
  g_assert_cmpfloat_with_epsilon (bleu_of (r, r, 1, &o, NULL), 1.0, TOL);
}

static void
test_bleu_clipping_and_references (void)
{
  /* Papineni et al.'s example: "the" x7 against two references; "the" occurs at most
   * twice in one reference, so the clipped unigram precision is 2/7. The closest
   * reference length to 7 is 7 (the second). */
  Lines l;
  lines_init (&l);
  LmTokenSeq hyp = lines_add (&l, "the the the the the the the");
  LmTokenSeq refs[] = {
    lines_add (&l, "the cat is on the mat"),
    lines_add (&l, "there is a cat on the mat"),
  };
  LmBleuStats stats;
  lm_bleu_stats_init (&stats, 4);
  lm_bleu_stats_add (&stats, &hyp, refs, 2);
  g_assert_cmpuint (stats.matches[0], ==, 2);
  g_assert_cmpuint (stats.totals[0], ==, 7);
  g_assert_cmpuint (stats.matches[1], ==, 0);
  g_assert_cmpuint (stats.ref_length, ==, 7);

  /* Closest length with a tie: hyp of 5 tokens, references of 6 and 4: the shorter. */
  LmTokenSeq h5 = lines_add (&l, "a b c d e");
  LmTokenSeq tie[] = { lines_add (&l, "a b c d e f"), lines_add (&l, "a b c d") };
  lm_bleu_stats_init (&stats, 4);
  lm_bleu_stats_add (&stats, &h5, tie, 2);
  g_assert_cmpuint (stats.ref_length, ==, 4);
  g_assert_cmpuint (stats.matches[3], ==, 2); /* a b c d, b c d e from the first */
  lines_clear (&l);
}

static void
test_bleu_two_references (void)
{
  /* The fixture with ref2.txt as a second reference: pair 1 equals its second
   * reference (6/6, 5/5, 4/4, 3/3, r = 6); pair 2 gains nothing (6/6, 3/5, 1/4, 0/3,
   * r = 7); pair 3's closest reference is still 3 tokens (2/2, 1/1, 0/0, 0/0).
   * NLTK: p = 14/14, 9/11, 5/9, 3/7; c = 14, r = 16;
   *   BLEU = exp(-1/7) (15/77)^(1/4) = 0.5759145683951324 (NLTK agrees) */
  Lines l;
  lines_init (&l);
  LmTokenSeq hyps[3], refs[6];
  for (int i = 0; i < 3; i++)
    {
      hyps[i] = lines_add (&l, fixture_hyp[i]);
      refs[2 * i] = lines_add (&l, fixture_ref[i]);
      refs[2 * i + 1] = lines_add (&l, fixture_ref2[i]);
    }
  LmBleuOptions o;
  lm_bleu_options_init (&o);
  LmBleuScore s;
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_corpus_bleu (hyps, 3, refs, 2, &o, &s, &error));
  g_assert_cmpfloat_with_epsilon (s.bleu, 0.5759145683951324, TOL);
  g_assert_cmpuint (s.matches[0], ==, 14);
  g_assert_cmpuint (s.matches[1], ==, 9);
  g_assert_cmpuint (s.ref_length, ==, 16);
  lines_clear (&l);
}

static void
test_bleu_stats_accumulate (void)
{
  /* Adding sentences one at a time gives the corpus score, not a mean of sentence
   * scores; and effective order drops the orders no hypothesis reaches. */
  Lines l;
  lines_init (&l);
  LmBleuStats stats;
  lm_bleu_stats_init (&stats, 4);
  for (int i = 0; i < 3; i++)
    {
      LmTokenSeq h = lines_add (&l, fixture_hyp[i]), r = lines_add (&l, fixture_ref[i]);
      lm_bleu_stats_add (&stats, &h, &r, 1);
    }
  LmBleuOptions o;
  lm_bleu_options_init (&o);
  LmBleuScore s;
  g_assert_true (lm_bleu_score (&stats, &o, &s, NULL));
  g_assert_cmpfloat_with_epsilon (s.bleu, 0.3550448972906761, TOL);

  /* "he reads" alone, sacreBLEU with effective order: only n = 1, 2 have n-grams,
   * p = 2/2, 1/1, c = 2, r = 3: BLEU = exp(1 - 3/2) * 1 = exp(-1/2). Without
   * effective order the empty orders make it 0. */
  lm_bleu_stats_init (&stats, 4);
  LmTokenSeq h = lines_add (&l, fixture_hyp[2]), r = lines_add (&l, fixture_ref[2]);
  lm_bleu_stats_add (&stats, &h, &r, 1);
  o.flavour = LM_BLEU_FLAVOUR_SACREBLEU;
  g_assert_true (lm_bleu_score (&stats, &o, &s, NULL));
  g_assert_cmpfloat (s.bleu, ==, 0.0);
  o.effective_order = TRUE;
  g_assert_true (lm_bleu_score (&stats, &o, &s, NULL));
  g_assert_cmpint (s.effective_order, ==, 2);
  g_assert_cmpfloat_with_epsilon (s.bleu, exp (-0.5), TOL);
  lines_clear (&l);
}

static void
test_bleu_errors (void)
{
  LmBleuOptions o;
  lm_bleu_options_init (&o);
  LmBleuScore s;
  GError *error = NULL;
  g_assert_false (lm_corpus_bleu (NULL, 0, NULL, 1, &o, &s, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  o.max_order = 9;
  g_assert_false (lm_corpus_bleu (NULL, 0, NULL, 1, &o, &s, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_clear_error (&error);
  o.max_order = 4;
  o.smooth = LM_BLEU_SMOOTH_FLOOR;
  o.epsilon = 0;
  LmBleuStats stats;
  lm_bleu_stats_init (&stats, 4);
  stats.n_sentences = 1;
  g_assert_false (lm_bleu_score (&stats, &o, &s, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_clear_error (&error);
  LmBleuSmooth smooth;
  LmBleuFlavour flavour;
  g_assert_true (lm_bleu_smooth_parse ("exp", &smooth, NULL));
  g_assert_cmpint (smooth, ==, LM_BLEU_SMOOTH_EXP);
  g_assert_false (lm_bleu_smooth_parse ("add-k", &smooth, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_clear_error (&error);
  g_assert_true (lm_bleu_flavour_parse ("sacrebleu", &flavour, NULL));
  g_assert_cmpint (flavour, ==, LM_BLEU_FLAVOUR_SACREBLEU);
  g_assert_false (lm_bleu_flavour_parse ("moses", &flavour, &error));
  g_clear_error (&error);
}

static void
assert_prf (const LmPrf *s, double p, double r, double f)
{
  g_assert_cmpfloat_with_epsilon (s->precision, p, TOL);
  g_assert_cmpfloat_with_epsilon (s->recall, r, TOL);
  g_assert_cmpfloat_with_epsilon (s->f1, f, TOL);
}

static void
test_rouge_pairs (void)
{
  Lines l;
  lines_init (&l);
  LmTokenSeq h[3], r[3];
  for (int i = 0; i < 3; i++)
    {
      h[i] = lines_add (&l, fixture_hyp[i]);
      r[i] = lines_add (&l, fixture_ref[i]);
    }
  /* Pair 1: unigram overlap the(min 1,2) cat sat on mat = 5 of 6 and 6;
   * bigrams the cat, cat sat, sat on = 3 of 5 and 5; LCS "the cat sat on mat" = 5. */
  LmPrf s = lm_rouge_n (&h[0], &r[0], 1);
  assert_prf (&s, 5.0 / 6, 5.0 / 6, 5.0 / 6);
  s = lm_rouge_n (&h[0], &r[0], 2);
  assert_prf (&s, 3.0 / 5, 3.0 / 5, 3.0 / 5);
  s = lm_rouge_l (&h[0], &r[0]);
  assert_prf (&s, 5.0 / 6, 5.0 / 6, 5.0 / 6);
  /* Pair 2: unigrams 6 of 6 and 7: P 1, R 6/7, F = 2(6/7)/(13/7) = 12/13;
   * bigrams a dog, in the, the garden = 3 of 5 and 6: F = (3/5)/(11/10) = 6/11;
   * LCS "a dog in the garden" = 5: P 5/6, R 5/7, F = (50/42)/(65/42) = 10/13. */
  s = lm_rouge_n (&h[1], &r[1], 1);
  assert_prf (&s, 1, 6.0 / 7, 12.0 / 13);
  s = lm_rouge_n (&h[1], &r[1], 2);
  assert_prf (&s, 3.0 / 5, 1.0 / 2, 6.0 / 11);
  s = lm_rouge_l (&h[1], &r[1]);
  assert_prf (&s, 5.0 / 6, 5.0 / 7, 10.0 / 13);
  /* Pair 3: unigrams 2 of 2 and 3: F = (4/3)/(5/3) = 4/5; bigram 1 of 1 and 2: F 2/3. */
  s = lm_rouge_n (&h[2], &r[2], 1);
  assert_prf (&s, 1, 2.0 / 3, 4.0 / 5);
  s = lm_rouge_n (&h[2], &r[2], 2);
  assert_prf (&s, 1, 1.0 / 2, 2.0 / 3);
  s = lm_rouge_l (&h[2], &r[2]);
  assert_prf (&s, 1, 2.0 / 3, 4.0 / 5);

  /* Macro averages: the mean of each column over the three pairs.
   *   ROUGE-1 P (5/6+1+1)/3 = 17/18, R (5/6+6/7+2/3)/3 = 11/14,
   *           F (5/6+12/13+4/5)/3 = 997/1170
   *   ROUGE-2 P (3/5+3/5+1)/3 = 11/15, R (3/5+1/2+1/2)/3 = 8/15,
   *           F (3/5+6/11+2/3)/3 = 299/495
   *   ROUGE-L P (5/6+5/6+1)/3 = 8/9, R (5/6+5/7+2/3)/3 = 31/42,
   *           F (5/6+10/13+4/5)/3 = 937/1170 */
  LmRougeScore score;
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_corpus_rouge (h, 3, r, 1, &score, &error));
  g_assert_cmpuint (score.n_pairs, ==, 3);
  assert_prf (&score.rouge1, 17.0 / 18, 11.0 / 14, 997.0 / 1170);
  assert_prf (&score.rouge2, 11.0 / 15, 8.0 / 15, 299.0 / 495);
  assert_prf (&score.rougeL, 8.0 / 9, 31.0 / 42, 937.0 / 1170);
  /* Macro F1 is not the F1 of the mean P and R. */
  g_assert_cmpfloat (fabs (score.rouge1.f1 - 2 * (17.0 / 18) * (11.0 / 14)
                                                 / (17.0 / 18 + 11.0 / 14)), >, 1e-3);
  lines_clear (&l);
}

static void
test_rouge_edges (void)
{
  Lines l;
  lines_init (&l);
  LmTokenSeq empty = lines_add (&l, ""), one = lines_add (&l, "a"), ab = lines_add (&l, "a b");
  LmPrf s = lm_rouge_n (&empty, &ab, 1);
  assert_prf (&s, 0, 0, 0);
  s = lm_rouge_l (&empty, &ab);
  assert_prf (&s, 0, 0, 0);
  s = lm_rouge_n (&empty, &empty, 1);
  assert_prf (&s, 0, 0, 0);
  s = lm_rouge_l (&empty, &empty);
  assert_prf (&s, 0, 0, 0);
  /* One token has no bigram: P = 0 / max(1, 0) = 0, R = 0 / 1. */
  s = lm_rouge_n (&one, &ab, 2);
  assert_prf (&s, 0, 0, 0);
  s = lm_rouge_n (&one, &ab, 1);
  assert_prf (&s, 1, 0.5, 2.0 / 3);
  /* Hypothesis longer than the reference: "a b a b" vs "a b": unigram overlap
   * min(2,1) + min(2,1) = 2: P 2/4, R 2/2; LCS 2. */
  LmTokenSeq abab = lines_add (&l, "a b a b");
  s = lm_rouge_n (&abab, &ab, 1);
  assert_prf (&s, 0.5, 1, 2.0 / 3);
  s = lm_rouge_l (&abab, &ab);
  assert_prf (&s, 0.5, 1, 2.0 / 3);

  /* The classic LCS example: ABCBDAB and BDCABA share 4 (BCBA). */
  LmTokenSeq x = lines_add (&l, "A B C B D A B"), y = lines_add (&l, "B D C A B A");
  g_assert_cmpuint (lm_lcs_length (&x, &y), ==, 4);
  g_assert_cmpuint (lm_lcs_length (&y, &x), ==, 4);
  g_assert_cmpuint (lm_lcs_length (&x, &empty), ==, 0);

  GError *error = NULL;
  LmRougeScore score;
  g_assert_false (lm_corpus_rouge (NULL, 0, NULL, 1, &score, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  lines_clear (&l);
}

static void
test_rouge_two_references (void)
{
  /* With ref2.txt as a second reference each type takes the reference with the best
   * F1: pair 1 matches its second reference exactly (all 1); pairs 2 and 3 keep their
   * first (second: pair 2 R1 F 10/13 < 12/13, R2 P 1/5, LCS 4 < 5; pair 3 F 2/3 < 4/5,
   * 1/2 < 2/3). Means:
   *   ROUGE-1 P 1, R (1+6/7+2/3)/3 = 53/63, F (1+12/13+4/5)/3 = 59/65
   *   ROUGE-2 P (1+3/5+1)/3 = 13/15, R (1+1/2+1/2)/3 = 2/3, F (1+6/11+2/3)/3 = 73/99
   *   ROUGE-L P (1+5/6+1)/3 = 17/18, R (1+5/7+2/3)/3 = 50/63, F (1+10/13+4/5)/3 = 167/195 */
  Lines l;
  lines_init (&l);
  LmTokenSeq hyps[3], refs[6];
  for (int i = 0; i < 3; i++)
    {
      hyps[i] = lines_add (&l, fixture_hyp[i]);
      refs[2 * i] = lines_add (&l, fixture_ref[i]);
      refs[2 * i + 1] = lines_add (&l, fixture_ref2[i]);
    }
  LmRougeScore score;
  g_assert_true (lm_corpus_rouge (hyps, 3, refs, 2, &score, NULL));
  assert_prf (&score.rouge1, 1, 53.0 / 63, 59.0 / 65);
  assert_prf (&score.rouge2, 13.0 / 15, 2.0 / 3, 73.0 / 99);
  assert_prf (&score.rougeL, 17.0 / 18, 50.0 / 63, 167.0 / 195);
  lines_clear (&l);
}

/* ---- the command end to end ----------------------------------------------------------- */

/* The number after "key": in JSON text (the first occurrence). */
static double
json_number (const char *json, const char *key)
{
  g_autofree char *quoted = g_strdup_printf ("\"%s\": ", key);
  const char *at = strstr (json, quoted);
  if (at == NULL)
    g_error ("no key %s in %s", key, json);
  return g_ascii_strtod (at + strlen (quoted), NULL);
}

static char *
fixture (const char *name)
{
  return g_test_build_filename (G_TEST_DIST, "data", "metrics", name, NULL);
}

static void
test_cli_bleu (void)
{
  g_autofree char *hyp = fixture ("hyp.txt");
  g_autofree char *ref = fixture ("ref.txt");
  g_autofree char *ref2 = fixture ("ref2.txt");
  LmTestRun r = lm_test_run ("metrics", "bleu", "--ref", ref, "--hyp", hyp, "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpstr (r.err, ==, "");
  g_assert_cmpfloat_with_epsilon (json_number (r.out, "bleu"), 0.3550448972906761, 1e-15);
  g_assert_cmpfloat_with_epsilon (json_number (r.out, "brevity_penalty"), exp (-1.0 / 7),
                                  1e-15);
  g_assert_cmpfloat (json_number (r.out, "hyp_length"), ==, 14);
  g_assert_cmpfloat (json_number (r.out, "ref_length"), ==, 16);
  g_assert_nonnull (strstr (r.out, "\"precisions\": ["));
  g_assert_nonnull (strstr (r.out, "\"flavour\": \"nltk\""));
  lm_test_run_clear (&r);

  r = lm_test_run ("metrics", "bleu", "--ref", ref, "--hyp", hyp, "--flavour", "sacrebleu",
                 "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpfloat_with_epsilon (json_number (r.out, "bleu"), 0.38002144357577333, 1e-15);
  lm_test_run_clear (&r);

  r = lm_test_run ("metrics", "bleu", "--ref", ref, "--ref", ref2, "--hyp", hyp, "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpfloat_with_epsilon (json_number (r.out, "bleu"), 0.5759145683951324, 1e-15);
  g_assert_cmpfloat (json_number (r.out, "references"), ==, 2);
  lm_test_run_clear (&r);

  r = lm_test_run ("metrics", "bleu", "--ref", ref, "--hyp", hyp, "--max-n", "2", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "BLEU-2 = 0.6664")); /* exp(-1/7) sqrt(13/14 * 7/11) */
  g_assert_nonnull (strstr (r.out, "brevity penalty"));
  lm_test_run_clear (&r);

  r = lm_test_run ("metrics", "bleu", "--help", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "[default: 4]"));
  g_assert_nonnull (strstr (r.out, "Examples:"));
  lm_test_run_clear (&r);
}

static void
test_cli_rouge (void)
{
  g_autofree char *hyp = fixture ("hyp.txt");
  g_autofree char *ref = fixture ("ref.txt");
  LmTestRun r = lm_test_run ("metrics", "rouge", "--ref", ref, "--hyp", hyp, "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  const char *r1 = strstr (r.out, "\"rouge1\""), *r2 = strstr (r.out, "\"rouge2\""),
             *rl = strstr (r.out, "\"rougeL\"");
  g_assert_nonnull (r1);
  g_assert_nonnull (r2);
  g_assert_nonnull (rl);
  g_assert_cmpfloat_with_epsilon (json_number (r1, "f1"), 997.0 / 1170, 1e-15);
  g_assert_cmpfloat_with_epsilon (json_number (r2, "precision"), 11.0 / 15, 1e-15);
  g_assert_cmpfloat_with_epsilon (json_number (r2, "recall"), 8.0 / 15, 1e-15);
  g_assert_cmpfloat_with_epsilon (json_number (rl, "f1"), 937.0 / 1170, 1e-15);
  lm_test_run_clear (&r);

  r = lm_test_run ("metrics", "rouge", "--ref", ref, "--hyp", hyp, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "ROUGE-L"));
  g_assert_nonnull (strstr (r.out, "0.8521")); /* ROUGE-1 F1 = 997/1170 */
  lm_test_run_clear (&r);
}

/* Bad input: one clear line on stderr, exit status 2, nothing on stdout. */
static void
expect_refusal (const char *fragment, const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  LmTestRun r = lm_test_run_va (first, ap);
  va_end (ap);
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
  g_autofree char *hyp = fixture ("hyp.txt");
  g_autofree char *ref = fixture ("ref.txt");
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *short_ref = lm_test_write (dir, "short.txt", "a b\nc d\n", -1);
  g_autofree char *empty = lm_test_write (dir, "empty.txt", "", 0);
  g_autofree char *bom = lm_test_write (dir, "bom.txt", "\xef\xbb\xbf", 3);
  g_autofree char *latin1 = lm_test_write (dir, "latin1.txt", "a\nb\ncaf\xe9\n", -1);
  g_autofree char *missing = g_build_filename (dir, "missing.txt", NULL);

  expect_refusal ("has 3 lines but", "metrics", "bleu", "--ref", short_ref, "--hyp", hyp, NULL);
  expect_refusal ("short.txt has 2", "metrics", "rouge", "--ref", ref, "--hyp", short_ref,
                  NULL);
  /* An empty file is named as the hypothesis or reference file it is, not as a corpus;
   * a byte-order mark alone is empty too. */
  expect_refusal ("empty.txt: the reference file is empty", "metrics", "bleu", "--ref", empty,
                  "--hyp", hyp, NULL);
  expect_refusal ("empty.txt: the hypothesis file is empty", "metrics", "rouge", "--ref", ref,
                  "--hyp", empty, NULL);
  expect_refusal ("bom.txt: the hypothesis file is empty", "metrics", "bleu", "--ref", ref,
                  "--hyp", bom, NULL);
  expect_refusal ("latin1.txt:3: invalid UTF-8", "metrics", "rouge", "--ref", latin1, "--hyp",
                  hyp, NULL);
  expect_refusal ("missing.txt", "metrics", "bleu", "--ref", ref, "--hyp", missing, NULL);
  expect_refusal ("no reference file", "metrics", "bleu", "--hyp", hyp, NULL);
  expect_refusal ("no hypothesis file", "metrics", "rouge", "--ref", ref, NULL);
  expect_refusal ("--max-n 0 is out of range", "metrics", "bleu", "--ref", ref, "--hyp", hyp,
                  "--max-n", "0", NULL);
  expect_refusal ("unknown BLEU smoothing", "metrics", "bleu", "--ref", ref, "--hyp", hyp,
                  "--smooth", "add-one", NULL);
  expect_refusal ("unexpected argument", "metrics", "bleu", "--ref", ref, "--hyp", hyp,
                  "extra.txt", NULL);
  expect_refusal ("max-n", "metrics", "rouge", "--ref", ref, "--hyp", hyp, "--max-n", "2",
                  NULL);
  expect_refusal ("unknown metric 'meteor'", "metrics", "meteor", NULL);
  lm_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/textmetrics/split", test_split);
  g_test_add_func ("/textmetrics/bleu-fixture", test_bleu_fixture);
  g_test_add_func ("/textmetrics/bleu-no-4gram-match", test_bleu_no_4gram_match);
  g_test_add_func ("/textmetrics/bleu-empty-hypothesis", test_bleu_empty_hypothesis);
  g_test_add_func ("/textmetrics/bleu-longer-hypothesis", test_bleu_longer_hypothesis);
  g_test_add_func ("/textmetrics/bleu-clipping", test_bleu_clipping_and_references);
  g_test_add_func ("/textmetrics/bleu-two-references", test_bleu_two_references);
  g_test_add_func ("/textmetrics/bleu-accumulate", test_bleu_stats_accumulate);
  g_test_add_func ("/textmetrics/bleu-errors", test_bleu_errors);
  g_test_add_func ("/textmetrics/rouge-pairs", test_rouge_pairs);
  g_test_add_func ("/textmetrics/rouge-edges", test_rouge_edges);
  g_test_add_func ("/textmetrics/rouge-two-references", test_rouge_two_references);
  g_test_add_func ("/textmetrics/cli-bleu", test_cli_bleu);
  g_test_add_func ("/textmetrics/cli-rouge", test_cli_rouge);
  g_test_add_func ("/textmetrics/cli-bad-input", test_cli_bad_input);
  return g_test_run ();
}
