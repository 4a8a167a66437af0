/* lm-ops-simd.h — what lmlab's hand-vectorised loops share (internal to the library).
 *
 * - LM_SIMD, LM_SIMD_SUM, LM_SIMD_MAX: mark a loop free of cross-iteration dependences
 *   so the compiler vectorises it even where it cannot prove two pointers apart
 *   (`omp simd`, which needs only -fopenmp at compile time and starts no threads).
 * - lm_fast_exp, lm_fast_sigmoid, lm_fast_tanh: elementary functions built from
 *   arithmetic the compiler can vectorise (glibc's expf/tanhf are scalar calls); they agree
 *   with libm to a few 1e-7 relative (tests/test-ops.c holds them to it).
 * - The run-time choice of path: the build has no -march flag, so code for AVX2+FMA is
 *   compiled into functions marked LM_TARGET_AVX2 and called only when lm_simd_avx2 ()
 *   says the CPU has both. Loop bodies written once as LM_ALWAYS_INLINE functions are
 *   instantiated in an AVX2 wrapper and a portable one, which differ only in rounding.
 *   The matrix kernels of core/lm-smallgemm.c have a third path, AVX-512 (LM_TARGET_AVX512,
 *   lm_simd_avx512 ()), which gives the AVX2 path's bits twice as wide.
 */
#pragma once

#include <glib.h>
#include <math.h>

G_BEGIN_DECLS

#ifdef _OPENMP
#define LM_SIMD          _Pragma ("omp simd")
#define LM_SIMD_SUM(var) _Pragma (G_STRINGIFY (omp simd reduction (+ : var)))
#define LM_SIMD_MAX(var) _Pragma (G_STRINGIFY (omp simd reduction (max : var)))
#else
#define LM_SIMD
#define LM_SIMD_SUM(var)
#define LM_SIMD_MAX(var)
#endif

/* ---- vectorisable elementary functions ------------------------------------------- */

typedef union
{
  guint32 bits;
  float value;
} LmFloatBits;

/* cond ? a : b, done on the bits. A plain `x < lo ? lo : x` followed by arithmetic
 * lets GCC's partial-redundancy pass (on at -O2) fold the arithmetic into the
 * constant arm, leaving a branch that -ftrapping-math then forbids it to vectorise. */
static inline float
lm_select_float (gboolean cond, float a, float b)
{
  LmFloatBits ua = { .value = a }, ub = { .value = b };
  guint32 mask = -(guint32)(cond != 0);
  ub.bits = (ua.bits & mask) | (ub.bits & ~mask);
  return ub.value;
}

/* exp(x) = 2^k * exp(r) with k = round(x / ln 2) and |r| <= ln(2)/2, where exp(r) is its
 * Taylor series to r^7 (truncation error below 6e-9 relative on that interval). x is
 * clamped to [-87, 88] so that 2^k stays a normal float: exp(-87) = 1.6e-38 stands in
 * for anything smaller (-inf included), which is zero for every purpose here; NaN
 * stays NaN. */
static inline float
lm_fast_exp (float x)
{
  x = lm_select_float (x < -87.0f, -87.0f, x);
  x = lm_select_float (x > 88.0f, 88.0f, x);
  /* Adding 1.5 * 2^23 pushes the fraction bits out of the float: round to nearest. */
  const float shifter = 12582912.0f;
  float k = (x * 1.44269504088896341f + shifter) - shifter;
  /* r = x - k ln2 with ln2 split in a high part exact in float and a low correction. */
  float r = x - k * 0.693145751953125f - k * 1.42860682030941723e-6f;
  /* exp(r) = 1 + r + r^2/2! + ... + r^7/7!, by Horner's rule from the top term */
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 1.0f / 2;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  /* 2^k: place the biased exponent k + 127 in the exponent field of a float (k = 0 for
   * a NaN x, whose conversion to an integer would be undefined; p is NaN anyway). */
  k = lm_select_float (k == k, k, 0.0f);
  LmFloatBits scale = { .bits = (guint32)((gint32)k + 127) << 23 };
  return p * scale.value;
}

/* sigmoid(x) = 1 / (1 + exp(-x)): no cancellation anywhere, so fast_exp is enough. */
static inline float
lm_fast_sigmoid (float x)
{
  return 1.0f / (1.0f + lm_fast_exp (-x));
}

/* tanh(x) = sign(x) (1 - e) / (1 + e) with e = exp(-2|x|). Near zero 1 - e cancels, so
 * for |x| < 1/4 the odd Taylor series x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835 is
 * used instead (its truncation error there is below 1e-8). */
static inline float
lm_fast_tanh (float x)
{
  float ax = fabsf (x);
  float e = lm_fast_exp (-2.0f * ax);
  float big = copysignf ((1.0f - e) / (1.0f + e), x);
  float x2 = x * x;
  float small = 62.0f / 2835;
  small = small * x2 - 17.0f / 315;
  small = small * x2 + 2.0f / 15;
  small = small * x2 - 1.0f / 3;
  small = small * x2 + 1.0f;
  small *= x;
  return lm_select_float (ax < 0.25f, small, big);
}


/* ---- run-time choice of the SIMD path --------------------------------------------- */

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define LM_HAVE_AVX2_PATH 1
#define LM_TARGET_AVX2 __attribute__ ((target ("avx2,fma")))
#define LM_TARGET_AVX512 __attribute__ ((target ("avx512f,avx2,fma")))
#else
#define LM_HAVE_AVX2_PATH 0
#define LM_TARGET_AVX2
#define LM_TARGET_AVX512
#endif
#define LM_ALWAYS_INLINE inline __attribute__ ((always_inline))

/* Instantiate the LM_ALWAYS_INLINE function `body` (returning void) twice, as body_avx2
 * compiled for AVX2+FMA and body_portable for the build's baseline, and define the static
 * function `name` that calls the one lm_simd_avx2 () picks. params is the parenthesised
 * parameter list, args the parenthesised argument names:
 *   LM_SIMD_DISPATCH (scale, scale_body, (float *x, int n), (x, n))                    */
#define LM_SIMD_DISPATCH(name, body, params, args)                                         \
  static LM_TARGET_AVX2 void body##_avx2 params { body args; }                              \
  static void body##_portable params { body args; }                                        \
  static void name params                                                                  \
  {                                                                                         \
    if (lm_simd_avx2 ())                                                                    \
      body##_avx2 args;                                                                     \
    else                                                                                    \
      body##_portable args;                                                                 \
  }

/* TRUE when the AVX2+FMA paths are in use: the CPU has both and LMLAB_NO_SIMD is unset
 * (or "0") in the environment. Decided on the first call; cheap afterwards. */
gboolean lm_simd_avx2 (void);
/* TRUE when, on top of that, the matrix kernels use AVX-512: the CPU has AVX-512F and
 * LMLAB_NO_AVX512 is unset (or "0"). Same bits as the AVX2 kernels, twice the width. */
gboolean lm_simd_avx512 (void);
/* Choose the path from now on (tests run both): FALSE forces the portable one, TRUE asks
 * for AVX2+FMA (and AVX-512 where the CPU has it and the environment allows it), granted
 * only when the CPU has them. Returns lm_simd_avx2 (). Not for use while another thread
 * is computing. */
gboolean lm_simd_set_avx2 (gboolean use_avx2);
/* With AVX2+FMA available: TRUE takes AVX-512 where the CPU has it, FALSE keeps to AVX2
 * (tests compare the two). Returns lm_simd_avx512 (). Not for use while another thread
 * is computing. */
gboolean lm_simd_set_avx512 (gboolean use_avx512);

G_END_DECLS
