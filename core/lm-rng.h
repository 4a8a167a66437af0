/* lm-rng.h — a small seeded random number generator whose whole state is four
 * 64-bit words, so a checkpoint can save it and a resumed run continues bit-exactly
 * (GRand's state cannot be saved). Algorithm: xoshiro256** (Blackman & Vigna 2018),
 * seeded through splitmix64 so that any 64-bit seed, 0 included, gives a good state.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint64 s[4];
} LmRng;

void    lm_rng_seed    (LmRng *rng, guint64 seed);
guint64 lm_rng_next    (LmRng *rng);
/* Uniform in [0, 1) with 24 (float) or 53 (double) random bits. */
float   lm_rng_float   (LmRng *rng);
double  lm_rng_double  (LmRng *rng);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
guint64 lm_rng_below   (LmRng *rng, guint64 n);
/* Standard normal N(0, 1) (Box–Muller; one value per call, nothing cached so the
 * state stays the four words above). */
double  lm_rng_normal  (LmRng *rng);

G_END_DECLS
