/* test-rng.c — the seeded generator: reproducible, uniform enough, state is all. */
#include "config.h"

#include <math.h>

#include "core/lm-rng.h"

static void
test_rng_reproducible (void)
{
  LmRng a, b;
  lm_rng_seed (&a, 42);
  lm_rng_seed (&b, 42);
  for (int i = 0; i < 1000; i++)
    g_assert_cmpuint (lm_rng_next (&a), ==, lm_rng_next (&b));
  lm_rng_seed (&b, 43);
  g_assert_cmpuint (lm_rng_next (&a), !=, lm_rng_next (&b));
}

static void
test_rng_state_copy (void)
{
  /* Copying the four words continues the same sequence: what a checkpoint relies on. */
  LmRng a, b;
  lm_rng_seed (&a, 7);
  for (int i = 0; i < 10; i++)
    lm_rng_next (&a);
  b = a;
  for (int i = 0; i < 100; i++)
    g_assert_cmpfloat (lm_rng_double (&a), ==, lm_rng_double (&b));
}

static void
test_rng_ranges (void)
{
  LmRng rng;
  lm_rng_seed (&rng, 0);
  double sum = 0, sum_sq = 0;
  guint counts[7] = { 0 };
  const int n = 200000;
  for (int i = 0; i < n; i++)
    {
      float f = lm_rng_float (&rng);
      double d = lm_rng_double (&rng);
      g_assert_cmpfloat (f, >=, 0.0f);
      g_assert_cmpfloat (f, <, 1.0f);
      g_assert_cmpfloat (d, >=, 0.0);
      g_assert_cmpfloat (d, <, 1.0);
      guint64 k = lm_rng_below (&rng, 7);
      g_assert_cmpuint (k, <, 7);
      counts[k]++;
      double z = lm_rng_normal (&rng);
      sum += z;
      sum_sq += z * z;
    }
  for (int k = 0; k < 7; k++)
    g_assert_cmpfloat (fabs (counts[k] / (double) n - 1.0 / 7), <, 0.01);
  g_assert_cmpfloat (fabs (sum / n), <, 0.02);
  g_assert_cmpfloat (fabs (sum_sq / n - 1.0), <, 0.02);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rng/reproducible", test_rng_reproducible);
  g_test_add_func ("/rng/state-copy", test_rng_state_copy);
  g_test_add_func ("/rng/ranges", test_rng_ranges);
  return g_test_run ();
}
