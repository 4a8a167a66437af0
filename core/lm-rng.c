/* lm-rng.c — xoshiro256** seeded by splitmix64. */
#include "config.h"

#include <math.h>

#include "core/lm-rng.h"

static guint64
splitmix64 (guint64 *x)
{
  guint64 z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline guint64
rotl (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

void
lm_rng_seed (LmRng *rng, guint64 seed)
{
  guint64 x = seed;
  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64 (&x);
}

guint64
lm_rng_next (LmRng *rng)
{
  guint64 *s = rng->s;
  guint64 result = rotl (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

float
lm_rng_float (LmRng *rng)
{
  return (float) (lm_rng_next (rng) >> 40) * (1.0f / 16777216.0f);
}

double
lm_rng_double (LmRng *rng)
{
  return (double) (lm_rng_next (rng) >> 11) * (1.0 / 9007199254740992.0);
}

guint64
lm_rng_below (LmRng *rng, guint64 n)
{
  g_return_val_if_fail (n > 0, 0);
  /* Reject the top partial block of the 64-bit range so every residue is equally likely. */
  guint64 limit = G_MAXUINT64 - (G_MAXUINT64 % n);
  guint64 x;
  do
    x = lm_rng_next (rng);
  while (x >= limit);
  return x % n;
}

double
lm_rng_normal (LmRng *rng)
{
  /* Box–Muller: z = sqrt(-2 ln u1) cos(2 pi u2), with u1 in (0, 1]. */
  double u1 = 1.0 - lm_rng_double (rng);
  double u2 = lm_rng_double (rng);
  return sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2);
}
